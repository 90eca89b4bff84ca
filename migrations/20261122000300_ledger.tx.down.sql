DROP TABLE IF EXISTS ledger_holds, ledger_lines, ledger_entries, ledger_balances, currency_networks, currencies;
DROP FUNCTION IF EXISTS ledger_immutable();
