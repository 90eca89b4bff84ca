DROP INDEX IF EXISTS customers_email_trgm;
ALTER INDEX customers_search_trgm RESET (fastupdate);
