-- Undo the policies and grants. The role stays: roles are global to the cluster
-- and other databases of it may still use tally_app.
DO $$
DECLARE
	t text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tally_app') THEN
		RETURN;
	END IF;
	FOR t IN SELECT tablename FROM pg_policies WHERE schemaname = current_schema() AND policyname = 'tenant_isolation' LOOP
		EXECUTE format('DROP POLICY tenant_isolation ON %I', t);
		EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
	END LOOP;
	BEGIN
		EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON TABLES FROM tally_app', current_schema());
		EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON SEQUENCES FROM tally_app', current_schema());
		EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM tally_app', current_schema());
		EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM tally_app', current_schema());
		EXECUTE format('REVOKE ALL ON SCHEMA %I FROM tally_app', current_schema());
	EXCEPTION WHEN insufficient_privilege THEN NULL;
	END;
END
$$;
