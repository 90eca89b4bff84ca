-- A profile's transfers are listed through the ledger lines that moved them
-- (issue 8). Every transfer is one posted entry with exactly two lines: a debit
-- line owned by the sender and a credit line owned by the recipient, both visible,
-- of type 'transfer', naming the transfer as resource_id and dated with the
-- transfer's created_at (postgres.TransferEntry; `tally verify` checks it,
-- invariant 9). The lines' history index already held an entry for each side of
-- each transfer, so transfers_from and transfers_to indexed the same thing a
-- second time, and transfers_to was the one index a batch writes at hundreds of
-- scattered places: dropping both took PostgreSQL's CPU per batch transfer from
-- ~87 to ~71 µs (docs/scaling.md §7).
--
-- The history index is split in two by the same predicate, so a transfer list
-- reads only transfer lines: ledger_lines_transfers for a profile's transfers,
-- ledger_lines_history for everything else. The full history is the merge of the
-- two (Store.History: UNION ALL of the two ranges, a Merge Append in the plan).
-- Each visible line still has exactly one index entry.
DROP INDEX transfers_from;
DROP INDEX transfers_to;
DROP INDEX ledger_lines_history;
CREATE INDEX ledger_lines_history ON ledger_lines (business_id, owner_id, created_at, id)
	WHERE visible AND type <> 'transfer';
CREATE INDEX ledger_lines_transfers ON ledger_lines (business_id, owner_id, created_at, id)
	WHERE visible AND type = 'transfer';
