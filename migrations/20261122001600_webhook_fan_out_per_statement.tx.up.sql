-- Webhook fan-out once per statement instead of once per event row: the trigger
-- reads the statement's new events from its transition table, so a flush that
-- writes a 1,000-transfer batch's 1,000 events runs one INSERT … SELECT, not 1,000
-- PL/pgSQL calls (issue 8). Same rows, same transaction, same rules as before
-- (migration 20261122000600).
DROP TRIGGER events_webhook_fan_out ON events;
DROP FUNCTION webhook_fan_out();

CREATE FUNCTION webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO webhook_deliveries (business_id, id, event_id, endpoint_id, next_attempt_at, created_at, updated_at)
	SELECT n.business_id, 'dlv_' || replace(gen_random_uuid()::text, '-', ''), n.id, e.id, now(), now(), now()
	FROM new_events n
	JOIN webhook_endpoints e ON e.business_id = n.business_id
	WHERE e.deleted_at IS NULL
		AND (cardinality(e.events) = 0 OR n.type = ANY (e.events));
	RETURN NULL;
END;
$$;

CREATE TRIGGER events_webhook_fan_out AFTER INSERT ON events
	REFERENCING NEW TABLE AS new_events
	FOR EACH STATEMENT EXECUTE FUNCTION webhook_fan_out();
