DROP INDEX ledger_entries_pending;
