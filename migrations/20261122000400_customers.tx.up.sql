-- Customers API: search, filters and wallets (API.md §4).

-- pg_trgm indexes text by its three-character substrings, which is what makes the
-- list's `q` (a case-insensitive substring search, LIKE '%…%') use an index instead
-- of scanning every customer of the business: a B-tree can only serve prefixes.
-- Extensions are database-wide; IF NOT EXISTS keeps this safe to run next to other
-- users of pg_trgm, and CREATE EXTENSION is transactional in PostgreSQL.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One trigram index over everything `q` searches, lowercased. The expression must
-- be IMMUTABLE to be indexable, so it is spelled with || and coalesce rather than
-- concat_ws (which PostgreSQL marks STABLE); internal/postgres/customers.go
-- (customerSearchExpr) queries with the very same expression, or the planner
-- cannot match it to this index. It is not led by business_id (GIN cannot do that
-- without btree_gin); the tenant condition is applied to the few matching rows,
-- and every query still says business_id = ?.
CREATE INDEX customers_search_trgm ON customers USING gin (
	lower(coalesce(email, '') || ' ' || coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' ||
		coalesce(business_name, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(external_id, ''))
	gin_trgm_ops
);

-- The `email` filter is an exact match; emails are stored lowercased, so a plain
-- B-tree answers it without scanning. `external_id` already has its unique index
-- (customers_business_external_id); type, status and kyc_status are low-cardinality
-- and ride customers_business_created (newest first, stop after one page).
CREATE INDEX customers_business_email ON customers (business_id, email);

-- Wallets: addresses a customer owns on a network, for attribution and as payout or
-- refund destinations. business_id leads the primary key like every tenant table.
-- The unique constraint makes "one address belongs to one customer of a business"
-- hold under concurrent requests (the API answers 409 wallet_exists by its name).
-- Addresses are stored normalised (EVM and bech32 lowercased) so that spellings of
-- one address collide here.
CREATE TABLE wallets (
	business_id text NOT NULL REFERENCES businesses (id),
	id          text NOT NULL,
	customer_id text NOT NULL,
	network     text NOT NULL,
	address     text NOT NULL,
	label       text NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (business_id, id),
	FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id),
	CONSTRAINT wallets_business_network_address UNIQUE (business_id, network, address)
);
-- A customer's wallets are listed newest first with keyset pagination.
CREATE INDEX wallets_customer_created ON wallets (business_id, customer_id, created_at DESC, id DESC);
