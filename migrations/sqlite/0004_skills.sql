-- Skills: content-hash versions per skill key, reference documents, org replacements, the org
-- context skills compile with, and generation counters (see the PostgreSQL migration).

DROP INDEX platform_skills_current_idx;
CREATE UNIQUE INDEX platform_skills_one_current_idx ON platform_skills (skill_key) WHERE is_current;
CREATE UNIQUE INDEX platform_skills_key_version_idx ON platform_skills (skill_key, version);
ALTER TABLE platform_skills ADD COLUMN source_text TEXT;
ALTER TABLE platform_skills ADD COLUMN documents TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(documents));
ALTER TABLE platform_skills ADD COLUMN deprecation_reason TEXT;
CREATE INDEX platform_skills_deprecated_idx ON platform_skills (deprecated_at) WHERE deprecated_at IS NOT NULL;

ALTER TABLE organization_skills ADD COLUMN override_source TEXT;

CREATE TABLE org_skill_context (
    org_id        TEXT PRIMARY KEY NOT NULL,
    context       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(context) AND json_type(context) = 'object'),
    context_hash  TEXT NOT NULL,
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE skill_generations (
    scope       TEXT PRIMARY KEY NOT NULL,
    generation  INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
