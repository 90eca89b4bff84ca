DROP TRIGGER events_webhook_fan_out ON events;
DROP FUNCTION webhook_fan_out();

CREATE FUNCTION webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO webhook_deliveries (business_id, id, event_id, endpoint_id, next_attempt_at, created_at, updated_at)
	SELECT NEW.business_id, 'dlv_' || replace(gen_random_uuid()::text, '-', ''), NEW.id, e.id, now(), now(), now()
	FROM webhook_endpoints e
	WHERE e.business_id = NEW.business_id
		AND e.deleted_at IS NULL
		AND (cardinality(e.events) = 0 OR NEW.type = ANY (e.events));
	RETURN NULL;
END;
$$;

CREATE TRIGGER events_webhook_fan_out AFTER INSERT ON events
	FOR EACH ROW EXECUTE FUNCTION webhook_fan_out();
