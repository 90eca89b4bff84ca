-- The ledger: currencies, account balances, immutable journal entries and their
-- per-account lines, and two-phase holds. DESIGN.md §2–3.

-- Currencies are reference data shared by every tenant (replicated under Citus).
CREATE TABLE currencies (
	code                  text PRIMARY KEY,
	name                  text NOT NULL,
	type                  text NOT NULL CHECK (type IN ('fiat', 'crypto')),
	scale                 int NOT NULL CHECK (scale BETWEEN 0 AND 18),
	travel_rule_threshold numeric NOT NULL CHECK (travel_rule_threshold > 0)
);

CREATE TABLE currency_networks (
	currency      text NOT NULL REFERENCES currencies (code),
	network       text NOT NULL,
	confirmations int NOT NULL CHECK (confirmations >= 0),
	min_payout    numeric NOT NULL CHECK (min_payout >= 0),
	PRIMARY KEY (currency, network)
);

INSERT INTO currencies (code, name, type, scale, travel_rule_threshold) VALUES
	('NGN', 'Nigerian Naira', 'fiat', 2, 1500000),
	('USD', 'US Dollar', 'fiat', 2, 1000),
	('EUR', 'Euro', 'fiat', 2, 1000),
	('GBP', 'Pound Sterling', 'fiat', 2, 1000),
	('KES', 'Kenyan Shilling', 'fiat', 2, 130000),
	('BTC', 'Bitcoin', 'crypto', 8, 0.015),
	('ETH', 'Ether', 'crypto', 18, 0.3),
	('USDT', 'Tether USD', 'crypto', 6, 1000),
	('USDC', 'USD Coin', 'crypto', 6, 1000);

INSERT INTO currency_networks (currency, network, confirmations, min_payout) VALUES
	('NGN', 'bank', 0, 100),
	('USD', 'bank', 0, 1),
	('EUR', 'bank', 0, 1),
	('GBP', 'bank', 0, 1),
	('KES', 'bank', 0, 50),
	('BTC', 'bitcoin', 2, 0.0001),
	('ETH', 'ethereum', 12, 0.001),
	('USDT', 'ethereum', 12, 5),
	('USDT', 'tron', 20, 1),
	('USDC', 'ethereum', 12, 5),
	('USDC', 'base', 10, 1),
	('USDC', 'polygon', 64, 1),
	('USDC', 'solana', 32, 1);

-- One row per account shard. An account is (business, owner, purpose, currency);
-- guarded accounts (what a profile owns, purpose 'main') have one row, shard 0,
-- debited only by a conditional UPDATE. Hot accounts (fees, settlement, fx,
-- suspense) are spread over several shard rows picked by a hash of the entry id,
-- so thousands of concurrent payouts never queue on one row; their balance is the
-- sum of their shards. Amounts are TigerBeetle-style: four non-negative running
-- sums, so every balance is explained by its lines.
CREATE TABLE ledger_balances (
	business_id     text NOT NULL REFERENCES businesses (id),
	owner_id        text NOT NULL,
	purpose         text NOT NULL,
	currency        text NOT NULL REFERENCES currencies (code),
	shard           smallint NOT NULL DEFAULT 0,
	normal_side     text NOT NULL CHECK (normal_side IN ('debit', 'credit')),
	may_go_negative boolean NOT NULL,
	debits_posted   numeric NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
	credits_posted  numeric NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
	debits_pending  numeric NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
	credits_pending numeric NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
	created_at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (business_id, owner_id, purpose, currency, shard),
	-- The last wall: even a bug in the application cannot overdraw a guarded account.
	CONSTRAINT ledger_balances_guarded CHECK (may_go_negative OR credits_posted - debits_posted - debits_pending >= 0)
);

-- A journal entry: an atomic, immutable set of postings. Posting or voiding a hold
-- is a new entry that names the hold in pending_id.
CREATE TABLE ledger_entries (
	business_id text NOT NULL REFERENCES businesses (id),
	id          text NOT NULL,
	kind        text NOT NULL,
	phase       text NOT NULL CHECK (phase IN ('posted', 'pending', 'post_pending', 'void_pending')),
	pending_id  text,
	resource_id text NOT NULL DEFAULT '',
	description text NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL,
	PRIMARY KEY (business_id, id)
);

-- One line per account side of each posting. A line is visible in a profile's
-- history when it changes that profile's available balance; available_after is
-- that balance right after the line (guarded accounts only).
CREATE TABLE ledger_lines (
	business_id     text NOT NULL REFERENCES businesses (id),
	id              text NOT NULL,
	entry_id        text NOT NULL,
	posting         smallint NOT NULL,
	owner_id        text NOT NULL,
	purpose         text NOT NULL,
	currency        text NOT NULL,
	shard           smallint NOT NULL,
	type            text NOT NULL,
	direction       text NOT NULL CHECK (direction IN ('debit', 'credit')),
	phase           text NOT NULL CHECK (phase IN ('posted', 'pending', 'post_pending', 'void_pending')),
	amount          numeric NOT NULL CHECK (amount > 0),
	available_after numeric,
	visible         boolean NOT NULL,
	resource_id     text NOT NULL DEFAULT '',
	description     text NOT NULL DEFAULT '',
	created_at      timestamptz NOT NULL,
	PRIMARY KEY (business_id, id)
);
CREATE INDEX ledger_lines_entry ON ledger_lines (business_id, entry_id);
CREATE INDEX ledger_lines_account ON ledger_lines (business_id, owner_id, purpose, currency, created_at);
CREATE INDEX ledger_lines_history ON ledger_lines (business_id, owner_id, created_at DESC, id DESC) WHERE visible;

-- Two-phase holds: status changes exactly once, from pending, under the row lock
-- of a conditional UPDATE, so a hold can never be both posted and voided.
CREATE TABLE ledger_holds (
	business_id text NOT NULL REFERENCES businesses (id),
	entry_id    text NOT NULL,
	status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'posted', 'voided')),
	ended_by    text,
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (business_id, entry_id)
);

-- Entries and lines are immutable: corrections are new, reversing entries.
CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'ledger rows are immutable: % on % refused', TG_OP, TG_TABLE_NAME
		USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
	FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_lines_immutable BEFORE UPDATE OR DELETE ON ledger_lines
	FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_lines_no_truncate BEFORE TRUNCATE ON ledger_lines
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();
