-- The guard on ledger balances runs as a plain AFTER ROW trigger on the row
-- version the statement wrote (NEW), instead of a deferred trigger that re-read
-- every touched row at commit: Record changes each balance row once per
-- statement, so NEW is that statement's final state, and the check costs no
-- lookup. A violation now fails the statement itself (mapped to
-- insufficient_funds by the constraint name) rather than the commit.
DROP TRIGGER ledger_balances_guard ON ledger_balances;
DROP FUNCTION ledger_balances_guard();

CREATE FUNCTION ledger_balances_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.debits_posted < 0 OR NEW.credits_posted < 0 OR NEW.debits_pending < 0 OR NEW.credits_pending < 0 THEN
		RAISE EXCEPTION 'ledger balance %/%/% shard % has a negative sum', NEW.owner_id, NEW.purpose, NEW.currency, NEW.shard
			USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_balances_sums';
	END IF;
	IF NOT NEW.may_go_negative AND NEW.credits_posted - NEW.debits_posted - NEW.debits_pending < 0 THEN
		RAISE EXCEPTION 'ledger account %/%/% would be overdrawn', NEW.owner_id, NEW.purpose, NEW.currency
			USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_balances_guarded';
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER ledger_balances_guard AFTER INSERT OR UPDATE ON ledger_balances
	FOR EACH ROW EXECUTE FUNCTION ledger_balances_guard();
