DROP TRIGGER customers_notify_update ON customers;
DROP TRIGGER customers_notify_delete ON customers;

CREATE OR REPLACE FUNCTION customers_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('tally_customer_changed', OLD.business_id || ' ' || OLD.id);
	RETURN NULL;
END $$;

CREATE TRIGGER customers_notify AFTER UPDATE OR DELETE ON customers
	FOR EACH ROW EXECUTE FUNCTION customers_notify();
