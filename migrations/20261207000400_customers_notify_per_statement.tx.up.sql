-- customers_notify once per statement instead of once per row: a statement that
-- changes more than 100 customers (an operator's bulk UPDATE) announces '*',
-- "forget every cached customer", instead of one notification per row, which
-- PostgreSQL would hold in memory until commit and every listener would then
-- read one by one. Fewer rows are still announced one by one, as
-- '<business_id> <customer_id>' (internal/postgres/profilewatch.go).
DROP TRIGGER customers_notify ON customers;

CREATE OR REPLACE FUNCTION customers_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT count(*) FROM old_rows) > 100 THEN
		PERFORM pg_notify('tally_customer_changed', '*');
	ELSE
		PERFORM pg_notify('tally_customer_changed', business_id || ' ' || id) FROM old_rows;
	END IF;
	RETURN NULL;
END $$;

-- A trigger with transition tables fires on one event only.
CREATE TRIGGER customers_notify_update AFTER UPDATE ON customers
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION customers_notify();
CREATE TRIGGER customers_notify_delete AFTER DELETE ON customers
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION customers_notify();
