-- Row-level security as one line per table: every later migration secures a new table with
--
--     SELECT keel.enable_rls('keel.my_table', 'org');     -- members of its org_id may read it
--     SELECT keel.enable_rls('keel.my_table', 'system');  -- the service role only
--
-- instead of copying the block below. Both kinds revoke everything from PUBLIC, anon and
-- authenticated, give the service role full access through a policy, and (for 'org') let
-- authenticated users read the rows of orgs they belong to, as keel.is_org_member decides.
-- Calling it again on a table replaces its Keel policies, so it is safe to repeat.

CREATE OR REPLACE FUNCTION keel.enable_rls(target regclass, access text)
RETURNS void
LANGUAGE plpgsql
SET search_path = keel, pg_catalog
AS $$
BEGIN
    IF access NOT IN ('org', 'system') THEN
        RAISE EXCEPTION 'keel.enable_rls: access must be org or system, got %', access;
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, anon, authenticated', target);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO service_role', target);
    EXECUTE format('DROP POLICY IF EXISTS service_role_all ON %s', target);
    EXECUTE format('CREATE POLICY service_role_all ON %s TO service_role USING (true) WITH CHECK (true)', target);
    EXECUTE format('DROP POLICY IF EXISTS org_members_read ON %s', target);
    IF access = 'org' THEN
        EXECUTE format('GRANT SELECT ON %s TO authenticated', target);
        EXECUTE format('CREATE POLICY org_members_read ON %s FOR SELECT TO authenticated '
                       'USING (keel.is_org_member(org_id))', target);
    END IF;
END
$$;

REVOKE ALL ON FUNCTION keel.enable_rls(regclass, text) FROM PUBLIC, anon, authenticated;
