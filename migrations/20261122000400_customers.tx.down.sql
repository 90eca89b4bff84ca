-- Undo the customers API objects. pg_trgm stays installed: extensions are
-- database-wide and other objects may use it; creating it again is a no-op.
DROP TABLE IF EXISTS wallets;
DROP INDEX IF EXISTS customers_business_email;
DROP INDEX IF EXISTS customers_search_trgm;
