DROP TRIGGER IF EXISTS ledger_balances_guard ON ledger_balances;
DROP FUNCTION IF EXISTS ledger_balances_guard();
ALTER TABLE ledger_balances ADD CONSTRAINT ledger_balances_debits_posted_check CHECK (debits_posted >= 0);
ALTER TABLE ledger_balances ADD CONSTRAINT ledger_balances_credits_posted_check CHECK (credits_posted >= 0);
ALTER TABLE ledger_balances ADD CONSTRAINT ledger_balances_debits_pending_check CHECK (debits_pending >= 0);
ALTER TABLE ledger_balances ADD CONSTRAINT ledger_balances_credits_pending_check CHECK (credits_pending >= 0);
ALTER TABLE ledger_balances ADD CONSTRAINT ledger_balances_guarded CHECK (may_go_negative OR credits_posted - debits_posted - debits_pending >= 0);
