-- Skills: content-hash versions per skill key, reference documents, org replacements, the org
-- context skills compile with, and generation counters that tell every instance to drop its
-- cached resolutions.

-- Versions count per skill key (a skill that moves namespace keeps its history and its pins),
-- and a key has at most one current version, whatever its namespace.
DROP INDEX keel.platform_skills_current_idx;
CREATE UNIQUE INDEX platform_skills_one_current_idx ON keel.platform_skills (skill_key) WHERE is_current;
CREATE UNIQUE INDEX platform_skills_key_version_idx ON keel.platform_skills (skill_key, version);
ALTER TABLE keel.platform_skills
    ADD COLUMN source_text        text,
    ADD COLUMN documents          jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN deprecation_reason text;
CREATE INDEX platform_skills_deprecated_idx ON keel.platform_skills (deprecated_at) WHERE deprecated_at IS NOT NULL;

-- An org's replacement of a skill: a whole SKILL.md, validated before it is stored.
ALTER TABLE keel.organization_skills ADD COLUMN override_source text;

-- The context an org's skills compile with (`${path}` substitution and the org-context block).
CREATE TABLE keel.org_skill_context (
    org_id        uuid PRIMARY KEY,
    context       jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(context) = 'object'),
    context_hash  text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Bumped in the transaction of every change: scope '*' for the platform library, an org id for
-- that org's overrides and context. Instances compare generations to drop stale caches.
CREATE TABLE keel.skill_generations (
    scope       text PRIMARY KEY,
    generation  bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

DO $$
BEGIN
    ALTER TABLE keel.skill_generations ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON keel.skill_generations FROM PUBLIC, anon, authenticated;
    GRANT SELECT, INSERT, UPDATE, DELETE ON keel.skill_generations TO service_role;
    CREATE POLICY service_role_all ON keel.skill_generations TO service_role USING (true) WITH CHECK (true);

    ALTER TABLE keel.org_skill_context ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON keel.org_skill_context FROM PUBLIC, anon, authenticated;
    GRANT SELECT ON keel.org_skill_context TO authenticated;
    GRANT SELECT, INSERT, UPDATE, DELETE ON keel.org_skill_context TO service_role;
    CREATE POLICY service_role_all ON keel.org_skill_context TO service_role USING (true) WITH CHECK (true);
    CREATE POLICY org_members_read ON keel.org_skill_context FOR SELECT TO authenticated
        USING (keel.is_org_member(org_id));
END
$$;
