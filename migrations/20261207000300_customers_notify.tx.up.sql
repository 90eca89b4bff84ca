-- Every committed change to a customer is announced on the channel
-- tally_customer_changed as '<business_id> <customer_id>', so that each tally
-- process can forget its cached copy at once (internal/postgres/profilewatch.go)
-- instead of re-reading every customer X-BU-PROFILE-ID names once a second.
-- NOTIFY is delivered at commit, once per distinct payload per transaction.
CREATE FUNCTION customers_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('tally_customer_changed', OLD.business_id || ' ' || OLD.id);
	RETURN NULL;
END $$;

CREATE TRIGGER customers_notify AFTER UPDATE OR DELETE ON customers
	FOR EACH ROW EXECUTE FUNCTION customers_notify();
