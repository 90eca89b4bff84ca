-- Money movement: deposit addresses, deposits, payouts, transfers, quotes and
-- conversions, plus the operator's configuration (rail keys, risk list, fees,
-- rates). Every resource row is written in the same transaction as its ledger
-- entry, its outbox event and its idempotency record.

-- Operator-level tables (not tenant data; replicated reference tables under Citus).
CREATE TABLE rail_keys (
	id         text PRIMARY KEY,
	hash       bytea NOT NULL UNIQUE,
	created_at timestamptz NOT NULL DEFAULT now(),
	revoked_at timestamptz
);

CREATE TABLE risk_addresses (
	network    text NOT NULL,
	address    text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (network, address)
);

CREATE TABLE fx_rates (
	base           text NOT NULL REFERENCES currencies (code),
	quote          text NOT NULL REFERENCES currencies (code),
	rate           numeric NOT NULL CHECK (rate > 0),
	spread_percent numeric NOT NULL DEFAULT 0 CHECK (spread_percent >= 0 AND spread_percent < 100),
	updated_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (base, quote)
);

-- Unmatched deposits: money reported to an address nobody owns; operator only.
CREATE TABLE unmatched_deposits (
	network       text NOT NULL,
	tx_hash       text NOT NULL,
	output_index  int NOT NULL,
	id            text NOT NULL UNIQUE,
	currency      text NOT NULL,
	amount        numeric NOT NULL,
	to_address    text NOT NULL,
	from_address  text NOT NULL DEFAULT '',
	confirmations int NOT NULL,
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (network, tx_hash, output_index)
);

-- Tenant tables: business_id leads every primary key.
CREATE TABLE payout_fees (
	business_id text NOT NULL REFERENCES businesses (id),
	currency    text NOT NULL REFERENCES currencies (code),
	fixed       numeric NOT NULL DEFAULT 0 CHECK (fixed >= 0),
	percent     numeric NOT NULL DEFAULT 0 CHECK (percent >= 0 AND percent <= 100),
	PRIMARY KEY (business_id, currency)
);

CREATE TABLE deposit_addresses (
	business_id text NOT NULL REFERENCES businesses (id),
	id          text NOT NULL,
	profile_id  text NOT NULL,
	currency    text NOT NULL REFERENCES currencies (code),
	network     text NOT NULL,
	address     text NOT NULL,
	created_at  timestamptz NOT NULL,
	PRIMARY KEY (business_id, id)
);
-- The rail reports deposits by address alone: this index routes them to their
-- business and profile, and makes every address unique across tenants.
CREATE UNIQUE INDEX deposit_addresses_route ON deposit_addresses (network, address);
CREATE INDEX deposit_addresses_profile ON deposit_addresses (business_id, profile_id, created_at DESC, id DESC);

CREATE TABLE deposits (
	business_id            text NOT NULL REFERENCES businesses (id),
	id                     text NOT NULL,
	profile_id             text NOT NULL,
	status                 text NOT NULL CHECK (status IN ('pending', 'completed', 'rejected')),
	currency               text NOT NULL,
	network                text NOT NULL,
	amount                 numeric NOT NULL CHECK (amount > 0),
	to_address             text NOT NULL,
	from_address           text NOT NULL DEFAULT '',
	tx_hash                text NOT NULL,
	output_index           int NOT NULL,
	confirmations          int NOT NULL,
	required_confirmations int NOT NULL,
	entry_id               text NOT NULL,
	created_at             timestamptz NOT NULL,
	updated_at             timestamptz NOT NULL,
	completed_at           timestamptz,
	PRIMARY KEY (business_id, id)
);
-- A deposit is credited once however often the rail reports it.
CREATE UNIQUE INDEX deposits_chain_output ON deposits (network, tx_hash, output_index);
CREATE INDEX deposits_profile ON deposits (business_id, profile_id, created_at DESC, id DESC);

CREATE TABLE payouts (
	business_id    text NOT NULL REFERENCES businesses (id),
	id             text NOT NULL,
	profile_id     text NOT NULL,
	status         text NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
	currency       text NOT NULL,
	network        text NOT NULL,
	amount         numeric NOT NULL CHECK (amount > 0),
	fee            numeric NOT NULL CHECK (fee >= 0),
	address        text NOT NULL,
	wallet_id      text,
	beneficiary    jsonb,
	tx_hash        text,
	failure_reason text,
	reference      text,
	description    text,
	metadata       jsonb NOT NULL DEFAULT '{}',
	hold_id        text NOT NULL,
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL,
	PRIMARY KEY (business_id, id)
);
CREATE INDEX payouts_profile ON payouts (business_id, profile_id, created_at DESC, id DESC);
-- Rails address payouts by id alone.
CREATE UNIQUE INDEX payouts_id ON payouts (id);
-- Rails and the sandbox worker look for payouts by state.
CREATE INDEX payouts_open ON payouts (status, updated_at) WHERE status IN ('pending', 'processing');

CREATE TABLE transfers (
	business_id     text NOT NULL REFERENCES businesses (id),
	id              text NOT NULL,
	from_profile_id text NOT NULL,
	to_profile_id   text NOT NULL,
	status          text NOT NULL DEFAULT 'completed',
	currency        text NOT NULL,
	amount          numeric NOT NULL CHECK (amount > 0),
	description     text,
	metadata        jsonb NOT NULL DEFAULT '{}',
	entry_id        text NOT NULL,
	created_at      timestamptz NOT NULL,
	PRIMARY KEY (business_id, id)
);
CREATE INDEX transfers_from ON transfers (business_id, from_profile_id, created_at DESC, id DESC);
CREATE INDEX transfers_to ON transfers (business_id, to_profile_id, created_at DESC, id DESC);

CREATE TABLE quotes (
	business_id     text NOT NULL REFERENCES businesses (id),
	id              text NOT NULL,
	profile_id      text NOT NULL,
	source_currency text NOT NULL,
	target_currency text NOT NULL,
	source_amount   numeric NOT NULL CHECK (source_amount > 0),
	target_amount   numeric NOT NULL CHECK (target_amount > 0),
	rate            numeric NOT NULL,
	fee             numeric NOT NULL,
	expires_at      timestamptz NOT NULL,
	used_at         timestamptz,
	created_at      timestamptz NOT NULL,
	PRIMARY KEY (business_id, id)
);

CREATE TABLE conversions (
	business_id     text NOT NULL REFERENCES businesses (id),
	id              text NOT NULL,
	profile_id      text NOT NULL,
	quote_id        text NOT NULL,
	status          text NOT NULL DEFAULT 'completed',
	source_currency text NOT NULL,
	target_currency text NOT NULL,
	source_amount   numeric NOT NULL,
	target_amount   numeric NOT NULL,
	rate            numeric NOT NULL,
	fee             numeric NOT NULL,
	entry_id        text NOT NULL,
	created_at      timestamptz NOT NULL,
	PRIMARY KEY (business_id, id)
);
CREATE UNIQUE INDEX conversions_quote ON conversions (business_id, quote_id);
CREATE INDEX conversions_profile ON conversions (business_id, profile_id, created_at DESC, id DESC);
