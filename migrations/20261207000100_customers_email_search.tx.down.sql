DROP FUNCTION IF EXISTS tally_email_search(text, text[], text, timestamptz, text, int);
