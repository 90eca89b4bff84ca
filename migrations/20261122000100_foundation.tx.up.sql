-- Foundation: tenants, their credentials and their customers. Every tenant table has
-- business_id leading its primary key, so the schema can be distributed by business
-- (DESIGN.md §5) and every lookup is scoped by the tenant first.

CREATE TABLE businesses (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	mode       text NOT NULL CHECK (mode IN ('sandbox', 'live')),
	created_at timestamptz NOT NULL DEFAULT now()
);

-- Secret keys are stored only as SHA-256 hashes; the secret is shown once.
CREATE TABLE api_keys (
	business_id  text NOT NULL REFERENCES businesses (id),
	id           text NOT NULL,
	name         text NOT NULL DEFAULT '',
	mode         text NOT NULL DEFAULT 'full' CHECK (mode IN ('full', 'read_only')),
	hash         bytea NOT NULL,
	hint         text NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz,
	revoked_at   timestamptz,
	PRIMARY KEY (business_id, id)
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);

CREATE TABLE customers (
	business_id   text NOT NULL REFERENCES businesses (id),
	id            text NOT NULL,
	type          text NOT NULL CHECK (type IN ('individual', 'business')),
	status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
	kyc_status    text NOT NULL DEFAULT 'unverified' CHECK (kyc_status IN ('unverified', 'pending', 'verified', 'rejected')),
	external_id   text,
	email         text NOT NULL,
	first_name    text,
	last_name     text,
	business_name text,
	phone         text,
	birth_date    text,
	tax_id        text,
	address       jsonb,
	country       text,
	note          text,
	metadata      jsonb NOT NULL DEFAULT '{}',
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (business_id, id)
);
CREATE UNIQUE INDEX customers_business_external_id ON customers (business_id, external_id) WHERE external_id IS NOT NULL;
-- Lists are newest first with keyset pagination on (created_at, id).
CREATE INDEX customers_business_created ON customers (business_id, created_at DESC, id DESC);

-- Outbox: every event is written in the same transaction as the change it reports;
-- the webhook worker delivers from here.
CREATE TABLE events (
	business_id text NOT NULL REFERENCES businesses (id),
	id          text NOT NULL,
	type        text NOT NULL,
	profile_id  text NOT NULL,
	data        jsonb NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (business_id, id)
);
CREATE INDEX events_business_created ON events (business_id, created_at DESC, id DESC);
CREATE INDEX events_business_profile_created ON events (business_id, profile_id, created_at DESC, id DESC);

-- Audit log of every mutating request that touched a customer, written in the same
-- transaction as the change.
CREATE TABLE audit_log (
	business_id text NOT NULL REFERENCES businesses (id),
	id          bigint GENERATED ALWAYS AS IDENTITY,
	customer_id text NOT NULL,
	request_id  text NOT NULL,
	method      text NOT NULL,
	path        text NOT NULL,
	key_id      text NOT NULL,
	status_code int NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (business_id, id)
);
CREATE INDEX audit_log_customer ON audit_log (business_id, customer_id, created_at DESC, id DESC);

-- Idempotency keys: the stored response is committed in the same transaction as the
-- effect, so a crash leaves either both or neither.
CREATE TABLE idempotency_keys (
	business_id  text NOT NULL REFERENCES businesses (id),
	key          text NOT NULL,
	request_hash bytea NOT NULL,
	status_code  int NOT NULL,
	response     bytea NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (business_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
