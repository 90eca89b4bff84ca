DROP TRIGGER ledger_balances_guard ON ledger_balances;
DROP FUNCTION ledger_balances_guard();

CREATE FUNCTION ledger_balances_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r ledger_balances%ROWTYPE;
BEGIN
	SELECT * INTO r FROM ledger_balances
		WHERE business_id = NEW.business_id AND owner_id = NEW.owner_id AND purpose = NEW.purpose
			AND currency = NEW.currency AND shard = NEW.shard;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF r.debits_posted < 0 OR r.credits_posted < 0 OR r.debits_pending < 0 OR r.credits_pending < 0 THEN
		RAISE EXCEPTION 'ledger balance %/%/% shard % has a negative sum', r.owner_id, r.purpose, r.currency, r.shard
			USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_balances_sums';
	END IF;
	IF NOT r.may_go_negative AND r.credits_posted - r.debits_posted - r.debits_pending < 0 THEN
		RAISE EXCEPTION 'ledger account %/%/% would be overdrawn', r.owner_id, r.purpose, r.currency
			USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_balances_guarded';
	END IF;
	RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER ledger_balances_guard AFTER INSERT OR UPDATE ON ledger_balances
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_balances_guard();
