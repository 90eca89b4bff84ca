-- Email fragments (a `q` containing "@") search the email column alone, through
-- its own trigram index (internal/postgres/customers.go, customerQuery). In the
-- combined index of migration 0400 an email fragment's trigrams share posting
-- lists with every name, phone and external id; alone, at 1,000,000 customers the
-- first page of a realistic fragment ("daniel.brown3461@") is two to three times
-- faster (docs/customers.md, "How search stays fast"). Emails are stored
-- lowercased, so the column is indexed as it is.
--
-- fastupdate = off on both search indexes: with it on, inserts queue in a pending
-- list (up to gin_pending_list_limit, 4 MB) that every search scans linearly
-- until a vacuum merges it. Measured after loading a million customers: p50 300 ms
-- with the list, 4–10 ms without. Customers are created far less often than they
-- are searched, so each insert pays for its own index entries instead.
CREATE INDEX customers_email_trgm ON customers USING gin (email gin_trgm_ops) WITH (fastupdate = off);
ALTER INDEX customers_search_trgm SET (fastupdate = off);
SELECT gin_clean_pending_list('customers_search_trgm'::regclass);
