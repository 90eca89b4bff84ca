DROP TRIGGER customers_notify ON customers;
DROP FUNCTION customers_notify();
