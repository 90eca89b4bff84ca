-- Webhooks: endpoints, a delivery queue and an attempt log (API.md §8).
--
-- Crash safety. An event must never be committed without the deliveries it owes, and
-- a delivery must survive any crash until an endpoint has answered 2xx or the retry
-- window (3 days) is over. So the fan-out happens in the database, not in Go: an
-- AFTER INSERT trigger on events inserts one pending delivery per matching live
-- endpoint in the same transaction that writes the event (which is the transaction
-- of the change it reports). There is no window in which an event exists but its
-- deliveries do not, and no cursor over events to lose or to replay.
--
-- Claiming. Workers on any number of replicas claim due deliveries with
-- SELECT … FOR UPDATE SKIP LOCKED in one short statement that also increments
-- attempts, moves next_attempt_at forward by a lease (60 s, longer than the 10 s
-- request timeout) and stamps a fresh claim_token. next_attempt_at is therefore the
-- lease as well: if the worker dies mid-delivery, the row becomes due again when the
-- lease runs out and another worker takes attempt n+1. The result is recorded only
-- while claim_token still matches (fencing), so a worker that lost its lease cannot
-- overwrite the newer state. Delivery is at least once; receivers dedupe on event id.

CREATE TABLE webhook_endpoints (
	business_id text NOT NULL REFERENCES businesses (id),
	id          text NOT NULL,
	url         text NOT NULL CHECK (length(url) <= 2048),
	-- Event types this endpoint receives; empty means every type.
	events      text[] NOT NULL DEFAULT '{}',
	-- The signing secret, AES-256-GCM sealed with TALLY_WEBHOOK_KEY (nonce ‖ ciphertext);
	-- the server needs the plain secret to sign, so a hash would not do.
	secret      bytea NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	-- Deleted endpoints are kept (soft delete) so past attempts still name them.
	deleted_at  timestamptz,
	PRIMARY KEY (business_id, id)
);
CREATE INDEX webhook_endpoints_business_created ON webhook_endpoints (business_id, created_at DESC, id DESC)
	WHERE deleted_at IS NULL;

-- One row per (event, endpoint) delivery, plus one per redelivery request.
CREATE TABLE webhook_deliveries (
	business_id      text NOT NULL REFERENCES businesses (id),
	id               text NOT NULL,
	event_id         text NOT NULL,
	endpoint_id      text NOT NULL,
	status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
	-- Attempts claimed so far; the attempt being made is number attempts.
	attempts         int NOT NULL DEFAULT 0,
	-- When the next attempt is due; while claimed, when the claim's lease ends.
	next_attempt_at  timestamptz NOT NULL DEFAULT now(),
	claim_token      text,
	last_status_code int,
	last_error       text,
	created_at       timestamptz NOT NULL DEFAULT now(),
	updated_at       timestamptz NOT NULL DEFAULT now(),
	delivered_at     timestamptz,
	PRIMARY KEY (business_id, id),
	FOREIGN KEY (business_id, event_id) REFERENCES events (business_id, id),
	FOREIGN KEY (business_id, endpoint_id) REFERENCES webhook_endpoints (business_id, id)
);
-- The queue: only pending rows, ordered by due time, so claiming stays an index scan
-- however many delivered rows accumulate.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (business_id, event_id);
CREATE INDEX webhook_deliveries_endpoint_pending ON webhook_deliveries (business_id, endpoint_id) WHERE status = 'pending';

-- Every HTTP attempt, for GET /v1/events/{id}/deliveries. (delivery, attempt) is
-- unique: two workers can never both record the same attempt.
CREATE TABLE webhook_attempts (
	business_id text NOT NULL REFERENCES businesses (id),
	id          text NOT NULL DEFAULT 'dla_' || replace(gen_random_uuid()::text, '-', ''),
	delivery_id text NOT NULL,
	event_id    text NOT NULL,
	endpoint_id text NOT NULL,
	attempt     int NOT NULL,
	url         text NOT NULL,
	status_code int,
	latency_ms  int NOT NULL,
	error       text,
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (business_id, id),
	FOREIGN KEY (business_id, delivery_id) REFERENCES webhook_deliveries (business_id, id)
);
CREATE UNIQUE INDEX webhook_attempts_delivery_attempt ON webhook_attempts (business_id, delivery_id, attempt);
CREATE INDEX webhook_attempts_event_created ON webhook_attempts (business_id, event_id, created_at DESC, id DESC);

-- Fan-out in the event's own transaction (see the top of this file). An endpoint
-- created after the event committed does not receive it, like any subscription.
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
