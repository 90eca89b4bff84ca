-- The search for an email fragment with a local part ("user123456@", the search an
-- integrator types most) as a function, so its plan is made once per connection:
-- internal/postgres/customers.go (FindCustomers) calls it when q is the only
-- filter. Planning the statement cost about as much as running it (0.07 ms against
-- 0.09 ms at a million customers); PL/pgSQL keeps the statement's plan for the
-- session, and plan_cache_mode makes that plan the generic one, which for this
-- statement is the same as every custom plan: a Bitmap Index Scan on
-- customers_email_grams (migration 20261122001500), the LIKE rechecking on an
-- expression no index has (see customerQuery), a sort of the few matches.
-- Without the setting PostgreSQL would go on planning each call, its generic
-- estimate for the grams being worse than the custom ones.
-- $1 business, $2 the fragment's 5-grams, $3 the LIKE pattern, $4/$5 the cursor
-- (created_at, id) or NULL, $6 the limit. internal/postgres/customers_test.go
-- (TestEmailSearchFunction) explains the statement between RETURN QUERY and its
-- semicolon with a generic plan, and compares its answers with the list query's.
CREATE FUNCTION tally_email_search(text, text[], text, timestamptz, text, int) RETURNS SETOF customers
	LANGUAGE plpgsql STABLE
	SET plan_cache_mode = force_generic_plan
	AS $$
BEGIN
	RETURN QUERY SELECT * FROM customers
		WHERE business_id = $1 AND tally_grams(email, 5) @> $2 AND (email || '') LIKE $3
			AND ($4 IS NULL OR (created_at, id) < ($4, $5))
		ORDER BY created_at DESC, id DESC LIMIT $6;
END
$$;
