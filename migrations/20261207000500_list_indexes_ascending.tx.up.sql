-- List indexes ascending (issue 8). Every list of the API reads newest first through
-- an index on (business_id[, profile], created_at, id); PostgreSQL walks a B-tree
-- backward as cheaply as forward, so the order of the index is free for reads but
-- not for writes. Rows arrive in time order, so a descending index takes each new
-- row at the *left* end of its range: when that page fills, PostgreSQL splits it in
-- half and never writes the right half again, and the index settles at half full
-- (pgstatindex: avg_leaf_density 51% for events_business_created and the
-- transfers/lines/events-by-profile indexes after a batch load). Ascending, the new
-- row lands at the right end of its range, where PostgreSQL's split keeps the left
-- page full (89% for a business-wide range, the same 51–53% as before for ranges
-- that interleave, such as the recipients of many transfers). Measured on the batch
-- load (docs/scaling.md §7): 5–6% less PostgreSQL CPU per transfer,
-- and business-wide indexes half the size. Each index keeps its name and columns;
-- only the direction changes. schema_test.go keeps new indexes ascending.
DROP INDEX audit_log_customer;
CREATE INDEX audit_log_customer ON audit_log (business_id, customer_id, created_at, id);
DROP INDEX conversions_profile;
CREATE INDEX conversions_profile ON conversions (business_id, profile_id, created_at, id);
DROP INDEX customers_business_created;
CREATE INDEX customers_business_created ON customers (business_id, created_at, id);
DROP INDEX deposit_addresses_profile;
CREATE INDEX deposit_addresses_profile ON deposit_addresses (business_id, profile_id, created_at, id);
DROP INDEX deposits_profile;
CREATE INDEX deposits_profile ON deposits (business_id, profile_id, created_at, id);
DROP INDEX events_business_created;
CREATE INDEX events_business_created ON events (business_id, created_at, id);
DROP INDEX events_business_profile_created;
CREATE INDEX events_business_profile_created ON events (business_id, profile_id, created_at, id);
DROP INDEX ledger_lines_history;
CREATE INDEX ledger_lines_history ON ledger_lines (business_id, owner_id, created_at, id) WHERE visible;
DROP INDEX payouts_profile;
CREATE INDEX payouts_profile ON payouts (business_id, profile_id, created_at, id);
DROP INDEX transfers_from;
CREATE INDEX transfers_from ON transfers (business_id, from_profile_id, created_at, id);
DROP INDEX transfers_to;
CREATE INDEX transfers_to ON transfers (business_id, to_profile_id, created_at, id);
DROP INDEX wallets_customer_created;
CREATE INDEX wallets_customer_created ON wallets (business_id, customer_id, created_at, id);
DROP INDEX webhook_attempts_event_created;
CREATE INDEX webhook_attempts_event_created ON webhook_attempts (business_id, event_id, created_at, id);
DROP INDEX webhook_endpoints_business_created;
CREATE INDEX webhook_endpoints_business_created ON webhook_endpoints (business_id, created_at, id) WHERE (deleted_at IS NULL);
