DROP INDEX IF EXISTS customers_email_grams;
DROP FUNCTION IF EXISTS tally_grams(text, int);
