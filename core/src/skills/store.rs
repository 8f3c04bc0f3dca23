//! Storage of skill versions, on both backends (an org's overrides, context and compiled
//! rows are in `org_store`).
//!
//! A sync of one skill is one transaction: it reads the current version, and when the content is
//! new it clears the current flag and inserts version N+1 as current (or makes an earlier
//! version with the same content current again). Readers see the old current version or the new
//! one, never none or two: the flip is two statements inside one transaction because the
//! one-current-per-key index is checked row by row. Syncs of the same key are serialized by a
//! transaction-scoped advisory lock on PostgreSQL and by `BEGIN IMMEDIATE` on SQLite, so two
//! concurrent syncs cannot both pick N+1. Every change bumps a generation counter in the same
//! transaction, which is how other instances learn that their caches are stale.

use std::collections::BTreeMap;

use serde::Serialize;
use uuid::Uuid;

use super::format::{Namespace, SkillDoc, parse};
use super::library::LibrarySkill;
use crate::error::{Error, Result};
use crate::store::{Dialect, Pool, in_transaction, on_pool};

/// The generation scope of the platform library; org scopes are the org id.
pub(crate) const LIBRARY_SCOPE: &str = "*";

pub(super) const BUMP: &str = "INSERT INTO skill_generations (scope, generation) VALUES ($1, 1)
     ON CONFLICT (scope) DO UPDATE SET generation = skill_generations.generation + 1, updated_at = now()";

/// What a sync did to one skill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncAction {
    /// The first version of a new skill.
    Created,
    /// New content: version N+1 is current.
    Updated,
    /// The content of an earlier version is back: that version is current again.
    Restored,
    /// The current version already has this content.
    Unchanged,
    /// Not in the folder any more; the current version is deprecated (with `prune`).
    Pruned,
}

impl SyncAction {
    /// Every action, in the order reports list them.
    pub const ALL: [SyncAction; 5] = [
        SyncAction::Created,
        SyncAction::Updated,
        SyncAction::Restored,
        SyncAction::Unchanged,
        SyncAction::Pruned,
    ];

    /// The spelling in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncAction::Created => "created",
            SyncAction::Updated => "updated",
            SyncAction::Restored => "restored",
            SyncAction::Unchanged => "unchanged",
            SyncAction::Pruned => "pruned",
        }
    }
}

/// The outcome of syncing one skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncItem {
    /// The skill key.
    pub key: String,
    /// Its namespace.
    pub namespace: Namespace,
    /// The current version after the sync.
    pub version: u32,
    /// The current version before it, if there was one.
    pub previous: Option<u32>,
    /// What happened.
    pub action: SyncAction,
}

/// The `frontmatter` column: every field of the skill but its body (kept in
/// `content_template`).
pub(crate) fn frontmatter_json(doc: &SkillDoc) -> String {
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("body");
    }
    value.to_string()
}

pub(super) fn version_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// Makes `skill`'s content the current version of its key (see the module docs).
pub(crate) async fn sync_skill(
    pool: &Pool,
    skill: &LibrarySkill,
    dry_run: bool,
) -> Result<SyncItem> {
    let key = skill.doc.name.as_str();
    let namespace = skill.namespace.as_str();
    let hash = skill.content_hash();
    let frontmatter = frontmatter_json(&skill.doc);
    let documents =
        serde_json::to_string(&skill.documents).map_err(|e| Error::Internal(e.to_string()))?;
    let source_text = String::from_utf8_lossy(&skill.content);
    let path = skill.path.display().to_string();
    let item = |version: i64, previous: Option<i64>, action| SyncItem {
        key: key.to_owned(),
        namespace: skill.namespace,
        version: version_of(version),
        previous: previous.map(version_of),
        action,
    };
    let synced = in_transaction!(pool, Some(format!("keel.skills:{key}")), |tx, sql| {
        let current: Option<(String, i64, String)> = sqlx::query_as(&sql(
            "SELECT namespace, version::int8, content_hash FROM platform_skills
             WHERE skill_key = $1 AND is_current",
        ))
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let previous = current.as_ref().map(|c| c.1);
        match &current {
            Some((ns, version, h)) if *h == hash && ns == namespace => {
                item(*version, previous, SyncAction::Unchanged)
            }
            _ => {
                let earlier: Option<i64> =
                    sqlx::query_scalar(&sql("SELECT version::int8 FROM platform_skills
                     WHERE skill_key = $1 AND namespace = $2 AND content_hash = $3"))
                    .bind(key)
                    .bind(namespace)
                    .bind(&hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                let fresh = if current.is_none() {
                    SyncAction::Created
                } else {
                    SyncAction::Updated
                };
                if dry_run {
                    let next: Option<i64> = sqlx::query_scalar(&sql(
                        "SELECT max(version)::int8 FROM platform_skills WHERE skill_key = $1",
                    ))
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                    // Returning drops the transaction: a dry run reads and rolls back.
                    return Ok(match earlier {
                        Some(version) => item(version, previous, SyncAction::Restored),
                        None => item(next.unwrap_or(0) + 1, previous, fresh),
                    });
                }
                sqlx::query(&sql(
                    "UPDATE platform_skills SET is_current = false WHERE skill_key = $1 AND is_current",
                ))
                .bind(key)
                .execute(&mut *tx)
                .await?;
                let (version, action) = if let Some(version) = earlier {
                    sqlx::query(&sql(
                        "UPDATE platform_skills SET is_current = true WHERE skill_key = $1 AND version = $2",
                    ))
                    .bind(key)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                    (version, SyncAction::Restored)
                } else {
                    let version: i64 = sqlx::query_scalar(&sql(
                        "INSERT INTO platform_skills (id, skill_key, namespace, source, version, is_current,
                             category, frontmatter, content_template, content_hash, source_path,
                             source_text, documents)
                         SELECT $1::uuid, $2, $3, $4, coalesce(max(version), 0) + 1, true, $5, $6::jsonb,
                             $7, $8, $9, $10, $11::jsonb
                         FROM platform_skills WHERE skill_key = $2
                         RETURNING version::int8",
                    ))
                    .bind(Uuid::new_v4().to_string())
                    .bind(key)
                    .bind(namespace)
                    .bind(skill.doc.source.as_str())
                    .bind(skill.doc.category.as_deref())
                    .bind(&frontmatter)
                    .bind(&skill.doc.body)
                    .bind(&hash)
                    .bind(&path)
                    .bind(&*source_text)
                    .bind(&documents)
                    .fetch_one(&mut *tx)
                    .await?;
                    (version, fresh)
                };
                sqlx::query(&sql(BUMP))
                    .bind(LIBRARY_SCOPE)
                    .execute(&mut *tx)
                    .await?;
                item(version, previous, action)
            }
        }
    });
    Ok(synced)
}

/// Deprecates the current version of every platform skill whose key is not in `keep`.
pub(crate) async fn prune(pool: &Pool, keep: &[&str], dry_run: bool) -> Result<Vec<SyncItem>> {
    let keep = serde_json::to_string(keep).map_err(|e| Error::Internal(e.to_string()))?;
    let stale = format!(
        "is_current AND source = 'platform' AND deprecated_at IS NULL
         AND skill_key NOT IN ({})",
        Dialect::of(pool).json_strings("$1")
    );
    let rows: Vec<(String, String, i64)> = if dry_run {
        let select = format!(
            "SELECT skill_key, namespace, version::int8 FROM platform_skills WHERE {stale}"
        );
        on_pool!(pool, |conn, spell| {
            sqlx::query_as(&spell(&select))
                .bind(&keep)
                .fetch_all(conn)
                .await?
        })
    } else {
        let update = format!(
            "UPDATE platform_skills SET deprecated_at = now(),
                 deprecation_reason = 'removed from the library'
             WHERE {stale} RETURNING skill_key, namespace, version::int8"
        );
        in_transaction!(pool, None::<&str>, |tx, spell| {
            let rows = sqlx::query_as(&spell(&update))
                .bind(&keep)
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query(&spell(BUMP))
                .bind(LIBRARY_SCOPE)
                .execute(&mut *tx)
                .await?;
            rows
        })
    };
    rows.into_iter()
        .map(|(key, ns, version)| {
            Ok(SyncItem {
                namespace: parse_namespace(&ns)?,
                key,
                version: version_of(version),
                previous: Some(version_of(version)),
                action: SyncAction::Pruned,
            })
        })
        .collect()
}

pub(super) fn parse_namespace(text: &str) -> Result<Namespace> {
    Namespace::from_name(text)
        .ok_or_else(|| Error::Internal(format!("platform_skills.namespace `{text}`")))
}

/// Deprecates (`reason` is `Some`) or restores (`None`) the current version of `key`. Returns
/// the version changed, or `None` when the key has no current version.
pub(crate) async fn set_deprecated(
    pool: &Pool,
    key: &str,
    reason: Option<&str>,
) -> Result<Option<u32>> {
    let version: Option<i64> =
        in_transaction!(pool, Some(format!("keel.skills:{key}")), |tx, sql| {
            let version: Option<i64> = sqlx::query_scalar(&sql("UPDATE platform_skills
             SET deprecated_at = CASE WHEN $2 THEN coalesce(deprecated_at, now()) END,
                 deprecation_reason = $3
             WHERE skill_key = $1 AND is_current RETURNING version::int8"))
            .bind(key)
            .bind(reason.is_some())
            .bind(reason.map(crate::store::storable_text))
            .fetch_optional(&mut *tx)
            .await?;
            if version.is_some() {
                sqlx::query(&sql(BUMP))
                    .bind(LIBRARY_SCOPE)
                    .execute(&mut *tx)
                    .await?;
            }
            version
        });
    Ok(version.map(version_of))
}

/// One stored version of a platform skill.
#[derive(Debug, Clone)]
pub(crate) struct StoredVersion {
    pub key: String,
    pub namespace: Namespace,
    pub version: u32,
    pub content_hash: String,
    pub doc: SkillDoc,
    pub documents: BTreeMap<String, String>,
    pub deprecated: bool,
}

type VersionRow = (
    String,
    String,
    i64,
    String,
    Option<String>,
    String,
    String,
    String,
    bool,
);

const VERSION_COLUMNS: &str =
    "p.skill_key, p.namespace, p.version::int8, p.content_hash, p.source_text,
     p.content_template, p.frontmatter::text, p.documents::text, p.deprecated_at IS NOT NULL";

fn decode_version(row: VersionRow) -> Result<StoredVersion> {
    let (key, ns, version, content_hash, source_text, template, frontmatter, documents, deprecated) =
        row;
    // Rows written by Keel keep the whole file; a row written by hand gets a minimal skill from
    // its columns rather than vanishing.
    let doc = source_text
        .and_then(|text| parse(&key, Some(&key), text.as_bytes()).skill)
        .unwrap_or_else(|| {
            let description = serde_json::from_str::<serde_json::Value>(&frontmatter)
                .ok()
                .and_then(|f| f.get("description")?.as_str().map(str::to_owned))
                .unwrap_or_default();
            SkillDoc::minimal(&key, &description, &template)
        });
    Ok(StoredVersion {
        namespace: parse_namespace(&ns)?,
        version: version_of(version),
        content_hash,
        doc,
        documents: serde_json::from_str(&documents).unwrap_or_default(),
        deprecated,
        key,
    })
}

/// The current version of every active platform skill.
pub(crate) async fn load_current(pool: &Pool) -> Result<Vec<StoredVersion>> {
    let text = format!(
        "SELECT {VERSION_COLUMNS} FROM platform_skills p WHERE p.is_current AND p.is_active"
    );
    let rows: Vec<VersionRow> = on_pool!(pool, |conn, sql| sqlx::query_as(&sql(&text))
        .fetch_all(conn)
        .await?);
    rows.into_iter().map(decode_version).collect()
}

/// The versions `org` pins.
pub(crate) async fn load_pinned(pool: &Pool, org: Uuid) -> Result<Vec<StoredVersion>> {
    let text = format!(
        "SELECT {VERSION_COLUMNS} FROM platform_skills p JOIN organization_skills o
             ON o.skill_key = p.skill_key AND o.pinned_version = p.version
         WHERE o.org_id = $1::uuid"
    );
    let rows: Vec<VersionRow> = on_pool!(pool, |conn, sql| sqlx::query_as(&sql(&text))
        .bind(org.to_string())
        .fetch_all(conn)
        .await?);
    rows.into_iter().map(decode_version).collect()
}

/// One version in a skill's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    /// The version number.
    pub version: u32,
    /// The namespace it was published in.
    pub namespace: Namespace,
    /// Its content hash (the version's identity).
    pub content_hash: String,
    /// Whether it is the current version.
    pub is_current: bool,
    /// When it was deprecated, if it was.
    pub deprecated_at: Option<String>,
    /// Why, if it was.
    pub deprecation_reason: Option<String>,
    /// When it was published.
    pub created_at: String,
}

/// Every version of `key`, oldest first.
pub(crate) async fn history(pool: &Pool, key: &str) -> Result<Vec<VersionInfo>> {
    type Row = (
        i64,
        String,
        String,
        bool,
        Option<String>,
        Option<String>,
        String,
    );
    let rows: Vec<Row> = on_pool!(pool, |conn, sql| sqlx::query_as(&sql(
        "SELECT version::int8, namespace, content_hash, is_current, deprecated_at::text,
                deprecation_reason, created_at::text
         FROM platform_skills WHERE skill_key = $1 ORDER BY version"
    ))
    .bind(key)
    .fetch_all(conn)
    .await?);
    rows.into_iter()
        .map(|r| {
            Ok(VersionInfo {
                version: version_of(r.0),
                namespace: parse_namespace(&r.1)?,
                content_hash: r.2,
                is_current: r.3,
                deprecated_at: r.4,
                deprecation_reason: r.5,
                created_at: r.6,
            })
        })
        .collect()
}

/// A skill as `list` shows it: its current version and how many versions it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkillSummary {
    /// The skill key.
    pub key: String,
    /// Its namespace.
    pub namespace: Namespace,
    /// The current version.
    pub version: u32,
    /// How many versions are stored.
    pub versions: u32,
    /// The current version's content hash.
    pub content_hash: String,
    /// Whether the current version is deprecated.
    pub deprecated: bool,
}

/// Every skill with a current version, by namespace then key.
pub(crate) async fn list(pool: &Pool) -> Result<Vec<SkillSummary>> {
    type Row = (String, String, i64, i64, String, bool);
    let rows: Vec<Row> = on_pool!(pool, |conn, sql| sqlx::query_as(&sql(
        "SELECT p.skill_key, p.namespace, p.version::int8,
                (SELECT count(*) FROM platform_skills h WHERE h.skill_key = p.skill_key)::int8,
                p.content_hash, p.deprecated_at IS NOT NULL
         FROM platform_skills p WHERE p.is_current ORDER BY p.namespace, p.skill_key"
    ))
    .fetch_all(conn)
    .await?);
    rows.into_iter()
        .map(|r| {
            Ok(SkillSummary {
                key: r.0,
                namespace: parse_namespace(&r.1)?,
                version: version_of(r.2),
                versions: version_of(r.3),
                content_hash: r.4,
                deprecated: r.5,
            })
        })
        .collect()
}
