-- Email fragments with a local part (q = "daniel.brown3461@", "user123456@") are
-- matched first through the five-character substrings of the email: every 5-gram
-- of a fragment is a 5-gram of any email containing it, so
-- tally_grams(email, 5) @> tally_grams(q, 5) is a necessary condition and LIKE
-- rechecks it exactly. Trigrams are too short to be rare: "use" and "ser" are in
-- every one of a million "user<n>@" emails, and GIN intersects them for every
-- search (p50 18 ms); a 5-gram such as "r1234" is in a handful (p50 0.3 ms).
-- internal/postgres/customers.go (customerQuery) decides when to use it.
CREATE FUNCTION tally_grams(s text, n int) RETURNS text[]
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT coalesce(array_agg(DISTINCT substr(s, i, n)), '{}') FROM generate_series(1, length(s) - n + 1) i $$;
CREATE INDEX customers_email_grams ON customers USING gin (tally_grams(email, 5)) WITH (fastupdate = off);
