-- Two small costs of every batch of transfers, found by `perf` on the batch load
-- (issue 8; docs/scaling.md §7):
--
-- 1. The webhook fan-out (migration 20261122001600) was planned as a nested loop
--    over the statement's transition table that scanned webhook_endpoints once per
--    new event: 1,000 scans for a batch, each asking the kernel for the table's
--    size (lseek), ~2.5% of PostgreSQL's CPU, with no endpoint at all. Now the
--    endpoints of the statement's businesses are read once, by index, and the
--    events joined to that small set. Same rows as before.
-- 2. Stored responses (idempotency_keys.response, ~400 kB for a batch of 1,000)
--    were compressed with pglz, ~2% of PostgreSQL's CPU; lz4 compresses them
--    several times faster. Only where the server was built with lz4 (PostgreSQL's
--    default builds are); elsewhere pglz stays.
CREATE OR REPLACE FUNCTION webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO webhook_deliveries (business_id, id, event_id, endpoint_id, next_attempt_at, created_at, updated_at)
	WITH e AS MATERIALIZED (
		SELECT id, business_id, events FROM webhook_endpoints
		WHERE deleted_at IS NULL AND business_id IN (SELECT DISTINCT business_id FROM new_events))
	SELECT n.business_id, 'dlv_' || replace(gen_random_uuid()::text, '-', ''), n.id, e.id, now(), now(), now()
	FROM e JOIN new_events n ON n.business_id = e.business_id
	WHERE cardinality(e.events) = 0 OR n.type = ANY (e.events);
	RETURN NULL;
END;
$$;

DO $$
BEGIN
	IF 'lz4' = ANY (SELECT unnest(enumvals) FROM pg_settings WHERE name = 'default_toast_compression') THEN
		ALTER TABLE idempotency_keys ALTER COLUMN response SET COMPRESSION lz4;
	END IF;
END
$$;
