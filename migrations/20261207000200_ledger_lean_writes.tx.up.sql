-- Fewer writes per money movement (issue 8). A transfer booked through the API
-- wrote 19 index entries and ran 7 foreign-key checks; B-tree inserts and the
-- checks (each an SPI query plus a KEY SHARE lock on the business's one row) were
-- the largest items of PostgreSQL's profile. This removes 4 index entries and all 7
-- checks from every transfer:
--
-- 1. ledger_lines is keyed by what a line is — its entry, posting and side — not
--    by its own id: the primary key (business_id, entry_id, posting, direction)
--    also serves an entry's lines in order (loadEntry), so ledger_lines_entry goes.
--    A line's id (TXN_…, the ledger history's item id) is unique by construction
--    (ledger.NewID: a millisecond clock and 80 random bits, incremented within a
--    process), and `tally verify` checks it (invariant 7).
-- 2. ledger_lines_account served no query but Store.BalanceAt, which nothing
--    called; both go (verify's per-account sums scan the table anyway).
-- 3. The append-only tables written by every money movement — ledger entries,
--    lines and holds, transfers, payouts, events, audit entries, idempotency
--    records — no longer carry a foreign key to businesses. What the key
--    guaranteed still holds: a tenant writes them acting as its business
--    (row-level security's WITH CHECK refuses any other business_id), a business
--    is never deleted (the trigger below refuses it, and no code path deletes
--    one), and `tally verify` checks that every row of these tables belongs to a
--    business (invariant 8). Tables written rarely (balances, customers, keys,
--    wallets, deposits, conversions, …) keep theirs.
ALTER TABLE ledger_lines DROP CONSTRAINT ledger_lines_pkey;
ALTER TABLE ledger_lines ADD PRIMARY KEY (business_id, entry_id, posting, direction);
DROP INDEX ledger_lines_entry;
DROP INDEX ledger_lines_account;

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_business_id_fkey;
ALTER TABLE ledger_lines DROP CONSTRAINT ledger_lines_business_id_fkey;
ALTER TABLE ledger_holds DROP CONSTRAINT ledger_holds_business_id_fkey;
ALTER TABLE transfers DROP CONSTRAINT transfers_business_id_fkey;
ALTER TABLE payouts DROP CONSTRAINT payouts_business_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_business_id_fkey;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_business_id_fkey;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_business_id_fkey;

-- A business is permanent: no code path deletes one (its rows are its ledger's
-- history), and the database now refuses it too.
CREATE FUNCTION businesses_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'businesses are never deleted: % on % refused', TG_OP, TG_TABLE_NAME
		USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER businesses_permanent BEFORE DELETE ON businesses
	FOR EACH ROW EXECUTE FUNCTION businesses_permanent();
CREATE TRIGGER businesses_no_truncate BEFORE TRUNCATE ON businesses
	FOR EACH STATEMENT EXECUTE FUNCTION businesses_permanent();
