-- Back to one history index and the transfers' own profile indexes.
DROP INDEX ledger_lines_transfers;
DROP INDEX ledger_lines_history;
CREATE INDEX ledger_lines_history ON ledger_lines (business_id, owner_id, created_at, id) WHERE visible;
CREATE INDEX transfers_from ON transfers (business_id, from_profile_id, created_at, id);
CREATE INDEX transfers_to ON transfers (business_id, to_profile_id, created_at, id);
