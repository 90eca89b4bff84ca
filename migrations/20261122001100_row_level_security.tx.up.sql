-- Row-level security (DESIGN.md §4): a second wall behind the business_id filter
-- that every query already carries. Write transactions of business requests switch
-- to the role tally_app (SET LOCAL role, see postgres.Tx.ActAs) after setting
-- app.business_id; tally_app owns nothing and has no BYPASSRLS, and the policy on
-- every tenant table shows it exactly the rows of that one business, so a query
-- that forgot its filter still cannot read or write another tenant. With the
-- setting unset, current_setting(…, true) is NULL and the policy matches nothing:
-- it fails closed. The table owner (the role that migrates and serves today)
-- still bypasses RLS; operator paths (rails, workers, tally verify) run as it.
--
-- Roles are global to the cluster, so the role may already exist (another database
-- of the cluster, or a concurrent migration). When the migrating role may not
-- create roles, RLS is skipped with a notice and ActAs finds no role to switch to:
-- nothing breaks, and docs/scaling.md §6 says what an operator must grant.
DO $$
DECLARE
	t text;
BEGIN
	BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tally_app') THEN
			CREATE ROLE tally_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
		END IF;
	EXCEPTION
		WHEN duplicate_object OR unique_violation THEN NULL;
		WHEN insufficient_privilege THEN
			RAISE NOTICE 'row-level security skipped: % may not create the role tally_app', current_user;
			RETURN;
	END;
	IF NOT pg_has_role(current_user, 'tally_app', 'MEMBER') THEN
		BEGIN
			EXECUTE format('GRANT tally_app TO %I', current_user);
		EXCEPTION WHEN insufficient_privilege THEN
			RAISE NOTICE 'row-level security skipped: % may not become tally_app', current_user;
			RETURN;
		END;
	END IF;
	EXECUTE format('GRANT USAGE ON SCHEMA %I TO tally_app', current_schema());
	EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO tally_app', current_schema());
	EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO tally_app', current_schema());
	-- Tables of later migrations get the same grants; their policies are theirs to
	-- add (internal/postgres/rls_test.go fails until they do).
	EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tally_app', current_schema());
	EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO tally_app', current_schema());
	FOR t IN
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
		  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'business_id' AND NOT a.attisdropped)
	LOOP
		EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format($p$CREATE POLICY tenant_isolation ON %I TO tally_app
			USING (business_id = current_setting('app.business_id', true))
			WITH CHECK (business_id = current_setting('app.business_id', true))$p$, t);
	END LOOP;
END
$$;
