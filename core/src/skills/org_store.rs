//! Storage of what an org changes about the library: overrides (disable, replace, pin, move),
//! the context its skills compile with, the compiled rows, and the generation counters that
//! tell other instances a cache is stale. Each change bumps its org's generation in the same
//! transaction.

use uuid::Uuid;

use super::format::Namespace;
use super::store::{BUMP, parse_namespace, version_of};
use crate::error::{Error, Result};
use crate::store::{Dialect, Pool, in_transaction, on_pool};

/// One org's override of one skill, as stored.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredOverride {
    pub key: String,
    pub enabled: bool,
    pub pinned_version: Option<u32>,
    pub namespace: Option<Namespace>,
    pub replacement: Option<String>,
    pub compiled_content: Option<String>,
    pub compiled_version: Option<u32>,
    pub context_hash: Option<String>,
}

/// Every `organization_skills` row of `org`.
pub(crate) async fn load_overrides(pool: &Pool, org: Uuid) -> Result<Vec<StoredOverride>> {
    type Row = (
        String,
        bool,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = on_pool!(pool, |conn, sql| {
        sqlx::query_as(&sql(
        "SELECT skill_key, is_enabled, pinned_version::int8, namespace_override, override_source,
                compiled_content, compiled_version::int8, context_hash
         FROM organization_skills WHERE org_id = $1::uuid"
    ))
    .bind(org.to_string())
    .fetch_all(conn)
    .await?
    });
    rows.into_iter()
        .map(|r| {
            Ok(StoredOverride {
                key: r.0,
                enabled: r.1,
                pinned_version: r.2.map(version_of),
                namespace: r.3.as_deref().map(parse_namespace).transpose()?,
                replacement: r.4,
                compiled_content: r.5,
                compiled_version: r.6.map(version_of),
                context_hash: r.7,
            })
        })
        .collect()
}

/// A change to one org's override of one skill.
#[derive(Debug, Clone, PartialEq)]
pub enum OverrideChange {
    /// Show (`true`) or hide (`false`) the skill for the org.
    Enabled(bool),
    /// Serve this version instead of the current one (`None` follows current again).
    Pin(Option<u32>),
    /// Show the skill in another namespace for the org (`None` uses the skill's own).
    Namespace(Option<Namespace>),
    /// Replace the skill with the org's own SKILL.md (`None` removes the replacement).
    Replace(Option<String>),
}

/// Applies `change` to `org`'s row for `key` and bumps the org's generation, in one transaction.
pub(crate) async fn set_override(
    pool: &Pool,
    org: Uuid,
    key: &str,
    change: &OverrideChange,
) -> Result<()> {
    let (columns, values) = match change {
        OverrideChange::Enabled(_) => ("is_enabled", "$4"),
        OverrideChange::Pin(_) => ("pinned_version", "$4"),
        OverrideChange::Namespace(_) => ("namespace_override", "$4"),
        OverrideChange::Replace(_) => ("override_source, source", "$4, $5"),
    };
    let assignments = columns
        .split(", ")
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let upsert = format!(
        "INSERT INTO organization_skills (id, org_id, skill_key, {columns}) VALUES ($1::uuid, $2::uuid, $3, {values})
         ON CONFLICT (org_id, skill_key) DO UPDATE SET {assignments}, updated_at = now()"
    );
    let scope = org.to_string();
    in_transaction!(pool, None::<String>, |tx, sql| {
        if let OverrideChange::Pin(Some(version)) = change {
            let exists: Option<i64> = sqlx::query_scalar(&sql(
                "SELECT version::int8 FROM platform_skills WHERE skill_key = $1 AND version = $2",
            ))
            .bind(key)
            .bind(i64::from(*version))
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                return Err(Error::invalid_input(
                    "version",
                    format!("`{key}` has no version {version}"),
                ));
            }
        }
        let upsert = sql(&upsert);
        let query = sqlx::query(&upsert)
            .bind(Uuid::new_v4().to_string())
            .bind(&scope)
            .bind(key);
        let query =
            match change {
                OverrideChange::Enabled(on) => query.bind(*on),
                OverrideChange::Pin(version) => query.bind(version.map(i64::from)),
                OverrideChange::Namespace(ns) => query.bind(ns.map(Namespace::as_str)),
                OverrideChange::Replace(text) => query
                    .bind(text.as_deref())
                    .bind(if text.is_some() { "org" } else { "platform" }),
            };
        query.execute(&mut *tx).await?;
        sqlx::query(&sql(BUMP))
            .bind(&scope)
            .execute(&mut *tx)
            .await?;
    });
    Ok(())
}

/// Stores `org`'s compile context (a JSON object) and bumps the org's generation.
pub(crate) async fn set_context(
    pool: &Pool,
    org: Uuid,
    context: &serde_json::Value,
    hash: &str,
) -> Result<()> {
    let text = context.to_string();
    let scope = org.to_string();
    in_transaction!(pool, None::<String>, |tx, sql| {
        sqlx::query(&sql(
            "INSERT INTO org_skill_context (org_id, context, context_hash) VALUES ($1::uuid, $2::jsonb, $3)
             ON CONFLICT (org_id) DO UPDATE SET context = EXCLUDED.context,
                 context_hash = EXCLUDED.context_hash, updated_at = now()",
        ))
        .bind(&scope)
        .bind(&text)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&sql(BUMP))
            .bind(&scope)
            .execute(&mut *tx)
            .await?;
    });
    Ok(())
}

/// `org`'s compile context (an empty object when none is stored).
pub(crate) async fn load_context(pool: &Pool, org: Uuid) -> Result<serde_json::Value> {
    let text: Option<String> = on_pool!(pool, |conn, sql| sqlx::query_scalar(&sql(
        "SELECT context::text FROM org_skill_context WHERE org_id = $1::uuid"
    ))
    .bind(org.to_string())
    .fetch_optional(conn)
    .await?);
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| serde_json::Value::Object(Default::default())))
}

/// One compiled skill to record for an org.
pub(crate) struct CompiledRow<'a> {
    pub key: &'a str,
    pub version: Option<u32>,
    pub content: &'a str,
    pub frontmatter: String,
    pub context_hash: &'a str,
}

/// Records compiled skills on the org's rows (creating rows that do not exist) in one
/// statement: an `UNNEST` of arrays on PostgreSQL, a `json_each` of one array on SQLite.
pub(crate) async fn store_compiled(pool: &Pool, org: Uuid, rows: &[CompiledRow<'_>]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    const UPDATE: &str = "ON CONFLICT (org_id, skill_key) DO UPDATE SET
             compiled_frontmatter = EXCLUDED.compiled_frontmatter,
             compiled_content = EXCLUDED.compiled_content,
             compiled_version = EXCLUDED.compiled_version, context_hash = EXCLUDED.context_hash,
             needs_recompile = false, last_compiled_at = EXCLUDED.last_compiled_at";
    match pool {
        Pool::Postgres(pg) => {
            let keys: Vec<&str> = rows.iter().map(|r| r.key).collect();
            let frontmatter: Vec<&str> = rows.iter().map(|r| r.frontmatter.as_str()).collect();
            let content: Vec<&str> = rows.iter().map(|r| r.content).collect();
            let versions: Vec<Option<i32>> = rows
                .iter()
                .map(|r| r.version.and_then(|v| i32::try_from(v).ok()))
                .collect();
            let hashes: Vec<&str> = rows.iter().map(|r| r.context_hash).collect();
            sqlx::query(&format!(
                "INSERT INTO organization_skills (org_id, skill_key, compiled_frontmatter, compiled_content,
                     compiled_version, context_hash, needs_recompile, last_compiled_at)
                 SELECT $1::uuid, k, f::jsonb, c, v, h, false, now()
                 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int4[], $6::text[]) AS t(k, f, c, v, h)
                 {UPDATE}"
            ))
            .bind(org)
            .bind(&keys)
            .bind(&frontmatter)
            .bind(&content)
            .bind(&versions)
            .bind(&hashes)
            .execute(pg)
            .await?;
        }
        Pool::Sqlite(lite) => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": Uuid::new_v4().to_string(), "key": r.key, "frontmatter": r.frontmatter,
                        "content": r.content, "version": r.version, "hash": r.context_hash,
                    })
                })
                .collect();
            sqlx::query(&Dialect::SQLITE.spell(&format!(
                "INSERT INTO organization_skills (id, org_id, skill_key, compiled_frontmatter,
                     compiled_content, compiled_version, context_hash, needs_recompile, last_compiled_at)
                 SELECT value ->> 'id', $1, value ->> 'key', value ->> 'frontmatter',
                     value ->> 'content', value ->> 'version', value ->> 'hash', false, now()
                 FROM json_each($2) WHERE true
                 {UPDATE}"
            )))
            .bind(org.to_string())
            .bind(serde_json::Value::Array(items).to_string())
            .execute(lite)
            .await?;
        }
    }
    Ok(())
}

/// The generation counters of the library and of `orgs` (the orgs a process has cached: the
/// poll reads at most that many rows, however many orgs the platform has).
pub(crate) async fn generations(pool: &Pool, orgs: &[Uuid]) -> Result<Vec<(String, i64)>> {
    let scopes: Vec<String> = orgs.iter().map(Uuid::to_string).collect();
    let scopes = serde_json::to_string(&scopes).map_err(|e| Error::Internal(e.to_string()))?;
    let sql = format!(
        "SELECT scope, generation FROM skill_generations WHERE scope = '*' OR scope IN ({})",
        Dialect::of(pool).json_strings("$1")
    );
    Ok(on_pool!(pool, |conn, spell| {
        sqlx::query_as(&spell(&sql))
            .bind(&scopes)
            .fetch_all(conn)
            .await?
    }))
}

/// The generation counter of one scope, if it was ever bumped.
pub(crate) async fn generation(pool: &Pool, scope: &str) -> Result<Option<i64>> {
    Ok(on_pool!(pool, |conn, sql| sqlx::query_scalar(&sql(
        "SELECT generation FROM skill_generations WHERE scope = $1"
    ))
    .bind(scope)
    .fetch_optional(conn)
    .await?))
}
