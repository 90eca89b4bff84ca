-- Fills the bench business up to :n customers for scenario (4), the way
-- internal/postgres/customers_test.go does: emails user<g>@<domain>, so a search
-- for "user<g>@" matches exactly one customer. Run by bench/run.sh:
--   psql "$DATABASE_URL" -v business=BUS_… -v n=1000000 -f bench/sql/customers.sql
SET statement_timeout = 0;
-- Bulk-load mode for the search indexes (fastupdate = off in production, see
-- migration 20261122001400): queue the inserts in GIN's pending lists and merge
-- them once at the end, so the searches run on the same index either way.
ALTER INDEX customers_search_trgm SET (fastupdate = on);
ALTER INDEX customers_email_trgm SET (fastupdate = on);
ALTER INDEX customers_email_grams SET (fastupdate = on);
INSERT INTO customers (business_id, id, type, email, first_name, last_name, phone, external_id, created_at, updated_at)
SELECT :'business', 'CUS_' || lpad(upper(to_hex(g)), 26, '0'), 'individual',
	'user' || g || '@' || (ARRAY['gmail.com', 'yahoo.com', 'corp.example', 'mail.ng'])[g % 4 + 1],
	(ARRAY['Ada', 'Grace', 'Linus', 'Chidi', 'Amara', 'Tunde', 'Zainab', 'Kofi'])[g % 8 + 1],
	initcap(substr(md5(g::text), 1, 8)),
	'+234' || (8000000000 + g), 'ext-' || g,
	timestamptz '2026-01-01' - g * interval '1 second', now()
FROM generate_series(1, greatest(0, :n - (SELECT count(*) FROM customers WHERE business_id = :'business'))) g;
SELECT gin_clean_pending_list('customers_search_trgm'::regclass), gin_clean_pending_list('customers_email_trgm'::regclass),
	gin_clean_pending_list('customers_email_grams'::regclass);
ALTER INDEX customers_search_trgm SET (fastupdate = off);
ALTER INDEX customers_email_trgm SET (fastupdate = off);
ALTER INDEX customers_email_grams SET (fastupdate = off);
ANALYZE customers;
