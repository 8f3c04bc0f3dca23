-- PostgreSQL's 0005 adds keel.enable_rls, the one-line RLS helper. SQLite has no row-level
-- security; this file keeps the two chains numbered alike.
SELECT 1;
