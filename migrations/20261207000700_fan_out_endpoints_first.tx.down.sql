-- Back to the fan-out of migration 20261122001600 and the default compression.
CREATE OR REPLACE FUNCTION webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
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
ALTER TABLE idempotency_keys ALTER COLUMN response SET COMPRESSION default;
