//! [`SkillRegistry`]: the skills handle. Syncs a folder into the database, manages versions and
//! org overrides, and answers `resolve_skills(org, channel)` from a per-process cache.
//!
//! The cache holds one compiled view per (org, channel). It is dropped for the whole library
//! when a sync changes anything and for one org when its overrides or context change: at once in
//! the process that made the change, and within `staleness` in every other process, which polls
//! the generation counters each change bumps in its own transaction.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde::Serialize;
use uuid::Uuid;

use super::channel::Channel;
use super::compile::context_hash;
use super::format::{Diagnostic, Namespace, Severity, parse};
use super::library::{Library, LibrarySkill, load_library};
use super::org_store::{self, CompiledRow, OverrideChange};
use super::resolve::{OrgSkills, ResolvedSkills, resolve_org};
use super::store::{
    self, LIBRARY_SCOPE, SkillSummary, StoredVersion, SyncAction, SyncItem, VersionInfo,
};
use super::view_cache::{Loads, Views};
use crate::Keel;
use crate::error::{Error, Result};
use crate::refresher::Refresher;

/// Registry tuning.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryOptions {
    /// Longest a change made by another instance goes unseen by this one's cache (default 1 s).
    #[serde(deserialize_with = "crate::options::de::secs")]
    pub staleness: Duration,
    /// How many orgs' views the cache holds (default 1,024); past it, the org cached longest
    /// ago is dropped first. A view shares its compiled skills with the org's other channels.
    pub max_cached_orgs: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            staleness: Duration::from_secs(1),
            max_cached_orgs: 1024,
        }
    }
}

/// The reason stored by [`SkillRegistry::deprecate`] when the caller gives none.
pub const DEFAULT_DEPRECATION_REASON: &str = "deprecated";

/// How [`SkillRegistry::sync`] runs; deserializes from the bindings' options object.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncOptions {
    /// Report what would change, change nothing.
    pub dry_run: bool,
    /// Deprecate platform skills that are no longer in the folder.
    pub prune: bool,
    /// Sync the skills that validate even when others do not: those are skipped and their
    /// findings listed in [`SyncReport::skipped`]. Without it, one error refuses the sync.
    pub force: bool,
}

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// One entry per skill in the folder (and per pruned skill), in library order.
    pub items: Vec<SyncItem>,
    /// The library's warnings (unknown keys, empty bodies); errors refuse the sync.
    pub warnings: Vec<Diagnostic>,
    /// With `force`: the error findings of the files that were not synced.
    pub skipped: Vec<Diagnostic>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl SyncReport {
    /// How many entries had `action`.
    pub fn count(&self, action: SyncAction) -> usize {
        self.items.iter().filter(|i| i.action == action).count()
    }

    /// True when the sync changed (or, dry, would change) something.
    pub fn changed(&self) -> bool {
        self.items.iter().any(|i| i.action != SyncAction::Unchanged)
    }
}

struct Inner {
    keel: Keel,
    /// The current platform versions; `None` after a library change, until the next load.
    platform: ArcSwapOption<Vec<StoredVersion>>,
    max_cached_orgs: usize,
    views: RwLock<Views>,
    /// Bumped by every invalidation, so a load that started before one is not cached after it.
    epoch: AtomicU64,
    /// The generation of each scope when last seen.
    seen: Mutex<HashMap<String, i64>>,
    /// One load of an org's views at a time.
    loads: Loads,
    refresher: Refresher,
}

/// The skills handle. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct SkillRegistry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SkillRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkillRegistry")
            .field("cached_views", &read(&self.inner.views).by_key.len())
            .finish()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks a skill key as a `name` would be checked.
fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= super::format::MAX_NAME
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "key",
            format!("`{key}` is not a skill name (1-64 lowercase letters, digits and hyphens)"),
        ))
    }
}

impl SkillRegistry {
    /// Opens the registry and starts the task that polls generation counters every
    /// `staleness`.
    ///
    /// # Errors
    /// [`Error::Storage`] when the tables cannot be read.
    pub async fn open(keel: &Keel, options: RegistryOptions) -> Result<Self> {
        let seen = org_store::generations(keel.pool()?, &[]).await?;
        let inner = Arc::new(Inner {
            keel: keel.clone(),
            platform: ArcSwapOption::empty(),
            max_cached_orgs: options.max_cached_orgs,
            views: RwLock::new(Views::default()),
            epoch: AtomicU64::new(0),
            loads: Loads::default(),
            seen: Mutex::new(seen.into_iter().collect()),
            refresher: Refresher::default(),
        });
        inner
            .refresher
            .start(&inner, options.staleness, |inner| async move {
                // An org that is not cached needs no invalidation: its next resolve reads fresh.
                let cached: Vec<Uuid> = read(&inner.views).orgs.iter().copied().collect();
                let fresh = match inner.keel.pool() {
                    Ok(pool) => org_store::generations(pool, &cached).await,
                    Err(err) => Err(err),
                };
                match fresh {
                    Ok(fresh) => SkillRegistry { inner }.apply_generations(fresh),
                    Err(Error::Closed) | Err(Error::Forked { .. }) => return false,
                    Err(err) => tracing::warn!(error = %err, "keel skills: generation poll failed"),
                }
                true
            });
        Ok(Self { inner })
    }

    /// Drops what changed since the last poll. An org seen for the first time is dropped too:
    /// its view may have been filled before a change this process never saw.
    fn apply_generations(&self, fresh: Vec<(String, i64)>) {
        let mut changed = Vec::new();
        {
            let mut seen = lock(&self.inner.seen);
            for (scope, generation) in fresh {
                if seen.get(&scope) != Some(&generation) {
                    seen.insert(scope.clone(), generation);
                    changed.push(scope);
                }
            }
        }
        for scope in changed {
            if scope == LIBRARY_SCOPE {
                self.invalidate();
            } else if let Ok(org) = Uuid::parse_str(&scope) {
                self.invalidate_org(org);
            }
        }
    }

    /// After a change this process made to `scope`: records the scope's generation as seen,
    /// then drops what it cached, so the poll does not drop it a second time. The order
    /// matters: whatever the generation read covers committed before the caches are dropped.
    async fn changed(&self, scope: &str) {
        if let Ok(pool) = self.inner.keel.pool()
            && let Ok(Some(generation)) = org_store::generation(pool, scope).await
        {
            lock(&self.inner.seen).insert(scope.to_owned(), generation);
        }
        match Uuid::parse_str(scope) {
            Ok(org) => self.invalidate_org(org),
            Err(_) => self.invalidate(),
        }
    }

    /// The handle the registry reads through.
    pub fn keel(&self) -> &Keel {
        &self.inner.keel
    }

    /// Drops every cached view and the cached platform versions.
    pub fn invalidate(&self) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        self.inner.platform.store(None);
        write(&self.inner.views).clear();
    }

    /// Drops the cached views of one org.
    pub fn invalidate_org(&self, org: Uuid) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        write(&self.inner.views).remove(org);
    }

    /// Reads and validates a folder (see [`load_library`]); nothing is written.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `root` cannot be read.
    pub fn validate(root: &Path) -> Result<Library> {
        load_library(root)
    }

    /// Syncs the library at `root` into the database: each skill whose content is new becomes
    /// version N+1 (or an earlier version with that content becomes current again), one
    /// transaction per skill. Running it twice changes nothing the second time. `progress` is
    /// called after each skill with (done, total, item).
    ///
    /// # Errors
    /// [`Error::InvalidSkill`] with every error finding when the library does not validate
    /// and `force` is off (nothing is written); [`Error::InvalidInput`] (field `prune`) for
    /// `force` with `prune` while files fail; [`Error::Storage`] when a write fails (skills
    /// synced before it stay synced, each one whole).
    pub async fn sync(
        &self,
        root: &Path,
        options: SyncOptions,
        progress: impl FnMut(usize, usize, &SyncItem),
    ) -> Result<SyncReport> {
        let library = load_library(root)?;
        self.sync_library(&library, options, progress).await
    }

    /// [`SkillRegistry::sync`] of a library already loaded.
    ///
    /// # Errors
    /// As [`SkillRegistry::sync`].
    pub async fn sync_library(
        &self,
        library: &Library,
        options: SyncOptions,
        mut progress: impl FnMut(usize, usize, &SyncItem),
    ) -> Result<SyncReport> {
        let (errors, warnings): (Vec<_>, Vec<_>) = library
            .diagnostics
            .iter()
            .cloned()
            .partition(|d| d.severity == Severity::Error);
        if !errors.is_empty() && !options.force {
            return Err(Error::InvalidSkill {
                diagnostics: errors,
            });
        }
        if !errors.is_empty() && options.prune {
            // A skill whose file failed is still in the folder: pruning would deprecate it.
            return Err(Error::invalid_input(
                "prune",
                "cannot prune while files fail to validate (they would be deprecated)",
            ));
        }
        let pool = self.inner.keel.pool()?;
        let mut report = SyncReport {
            warnings,
            skipped: errors,
            dry_run: options.dry_run,
            ..SyncReport::default()
        };
        let synced: Vec<&LibrarySkill> = library.error_free().collect();
        let total = synced.len();
        for (done, skill) in synced.into_iter().enumerate() {
            let item = store::sync_skill(pool, skill, options.dry_run).await?;
            progress(done + 1, total, &item);
            report.items.push(item);
        }
        if options.prune {
            let keep: Vec<&str> = library.skills.iter().map(|s| s.doc.name.as_str()).collect();
            report
                .items
                .extend(store::prune(pool, &keep, options.dry_run).await?);
        }
        if report.changed() && !options.dry_run {
            self.changed(LIBRARY_SCOPE).await;
        }
        Ok(report)
    }

    /// Every skill with a current version, by namespace then key.
    ///
    /// # Errors
    /// [`Error::Storage`] when the read fails.
    pub async fn list(&self) -> Result<Vec<SkillSummary>> {
        store::list(self.inner.keel.pool()?).await
    }

    /// Every version of `key`, oldest first (empty for an unknown key).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed key; [`Error::Storage`] when the read fails.
    pub async fn history(&self, key: &str) -> Result<Vec<VersionInfo>> {
        check_key(key)?;
        store::history(self.inner.keel.pool()?, key).await
    }

    /// Deprecates the current version of `key`: no org is served it any more (each sees a
    /// `deprecated` shadow entry) until new content is synced or [`SkillRegistry::restore`].
    /// Returns the version deprecated. Without a reason, the reason stored is
    /// [`DEFAULT_DEPRECATION_REASON`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `key` when it has no current version.
    pub async fn deprecate(&self, key: &str, reason: Option<&str>) -> Result<u32> {
        let reason = reason.unwrap_or(DEFAULT_DEPRECATION_REASON);
        self.set_deprecated(key, Some(reason)).await
    }

    /// Undoes [`SkillRegistry::deprecate`]. Returns the version restored.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `key` when it has no current version.
    pub async fn restore(&self, key: &str) -> Result<u32> {
        self.set_deprecated(key, None).await
    }

    async fn set_deprecated(&self, key: &str, reason: Option<&str>) -> Result<u32> {
        check_key(key)?;
        let version = store::set_deprecated(self.inner.keel.pool()?, key, reason)
            .await?
            .ok_or_else(|| Error::invalid_input("key", format!("`{key}` is not a synced skill")))?;
        self.changed(LIBRARY_SCOPE).await;
        Ok(version)
    }

    /// Changes `org`'s override of `key` (see [`OverrideChange`]). A replacement is validated
    /// as a SKILL.md whose name is `key` before it is stored; a pin must name a stored version.
    ///
    /// # Errors
    /// [`Error::InvalidSkill`] for a replacement that does not validate; [`Error::InvalidInput`]
    /// for a malformed key or a version that does not exist.
    pub async fn set_override(&self, org: Uuid, key: &str, change: OverrideChange) -> Result<()> {
        check_key(key)?;
        if let OverrideChange::Replace(Some(text)) = &change {
            self.check_replacement(org, key, text).await?;
        }
        org_store::set_override(self.inner.keel.pool()?, org, key, &change).await?;
        self.changed(&org.to_string()).await;
        Ok(())
    }

    /// A replacement must parse as a SKILL.md named `key` and compile with the org's context
    /// and the platform's documents as they are now.
    async fn check_replacement(&self, org: Uuid, key: &str, text: &str) -> Result<()> {
        let label = format!("{org}/{key}/SKILL.md");
        let parsed = parse(&label, Some(key), text.as_bytes());
        let Some(doc) = parsed.skill else {
            return Err(Error::InvalidSkill {
                diagnostics: parsed
                    .diagnostics
                    .into_iter()
                    .filter(|d| d.severity == Severity::Error)
                    .collect(),
            });
        };
        let platform = self.platform().await?;
        let context = org_store::load_context(self.inner.keel.pool()?, org).await?;
        let lookup = |skill: &str, doc: &str| {
            let version = platform.iter().find(|v| v.key == skill)?;
            version.documents.get(doc).cloned()
        };
        let Err(err) = super::compile::compile(&doc, &context, &lookup) else {
            return Ok(());
        };
        // The template fault's place and code, when it is one (a limit has neither).
        let (line, column, detail) = match err.diagnostics() {
            [fault, ..] => (
                fault.line,
                fault.column,
                format!("{} [{}]", fault.message, fault.code),
            ),
            [] => (0, 0, err.message()),
        };
        Err(Error::InvalidSkill {
            diagnostics: vec![Diagnostic {
                code: "compile_failed",
                severity: Severity::Error,
                file: label,
                line,
                column,
                field: Some("body".into()),
                message: format!("does not compile with the org's context: {detail}"),
            }],
        })
    }

    /// Turns `key` off (`false`) or on again for `org`.
    ///
    /// # Errors
    /// As [`SkillRegistry::set_override`].
    pub async fn set_enabled(&self, org: Uuid, key: &str, enabled: bool) -> Result<()> {
        self.set_override(org, key, OverrideChange::Enabled(enabled))
            .await
    }

    /// Serves `version` of `key` to `org` (`None` follows the current version again).
    ///
    /// # Errors
    /// As [`SkillRegistry::set_override`].
    pub async fn pin(&self, org: Uuid, key: &str, version: Option<u32>) -> Result<()> {
        self.set_override(org, key, OverrideChange::Pin(version))
            .await
    }

    /// Shows `key` in `namespace` for `org` (`None` uses the skill's own).
    ///
    /// # Errors
    /// As [`SkillRegistry::set_override`].
    pub async fn move_to(&self, org: Uuid, key: &str, namespace: Option<Namespace>) -> Result<()> {
        self.set_override(org, key, OverrideChange::Namespace(namespace))
            .await
    }

    /// Serves the org's own SKILL.md for `key` (`None` removes the replacement).
    ///
    /// # Errors
    /// As [`SkillRegistry::set_override`].
    pub async fn replace(&self, org: Uuid, key: &str, skill_md: Option<String>) -> Result<()> {
        self.set_override(org, key, OverrideChange::Replace(skill_md))
            .await
    }

    /// Stores the context `org`'s skills compile with (a JSON object).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `context` when it is not an object.
    pub async fn set_org_context(&self, org: Uuid, context: serde_json::Value) -> Result<()> {
        if !context.is_object() {
            return Err(Error::invalid_input("context", "must be a JSON object"));
        }
        // Stored and compiled with NUL as U+FFFD (PostgreSQL's jsonb and text cannot hold it).
        let context = crate::store::storable_value(context);
        let hash = context_hash(&context);
        org_store::set_context(self.inner.keel.pool()?, org, &context, &hash).await?;
        self.changed(&org.to_string()).await;
        Ok(())
    }

    /// The context `org`'s skills compile with (an empty object when none is stored).
    ///
    /// # Errors
    /// [`Error::Storage`] when the read fails.
    pub async fn org_context(&self, org: Uuid) -> Result<serde_json::Value> {
        org_store::load_context(self.inner.keel.pool()?, org).await
    }

    /// The cached view of (`org`, `channel`), if there is one. Never waits.
    pub fn cached(&self, org: Uuid, channel: Channel) -> Option<Arc<ResolvedSkills>> {
        read(&self.inner.views).by_key.get(&(org, channel)).cloned()
    }

    /// The skills `org` sees on `channel`, compiled, with what was shadowed and why (see
    /// [`ShadowReason`](super::ShadowReason) for the order overrides apply in). Served from the
    /// cache when present; otherwise the org's skills are compiled once for every channel, the
    /// compiled text is recorded on the org's rows, and the views are cached.
    ///
    /// # Errors
    /// [`Error::Storage`] when a read or the record of compiled skills fails.
    pub async fn resolve_skills(&self, org: Uuid, channel: Channel) -> Result<Arc<ResolvedSkills>> {
        if let Some(view) = self.cached(org, channel) {
            return Ok(view);
        }
        // Concurrent misses for one org wait for the first load and read what it cached.
        let _turn = self.inner.loads.turn(org).await;
        if let Some(view) = self.cached(org, channel) {
            return Ok(view);
        }
        let epoch = self.inner.epoch.load(Ordering::Acquire);
        let org_skills = self.compile_org(org).await?;
        let views: Vec<(Channel, Arc<ResolvedSkills>)> = Channel::ALL
            .iter()
            .map(|&c| (c, Arc::new(org_skills.view(org, c))))
            .collect();
        let wanted = views
            .iter()
            .find(|(c, _)| *c == channel)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| Error::Internal("channel view missing".into()))?;
        let mut cache = write(&self.inner.views);
        if self.inner.epoch.load(Ordering::Acquire) == epoch {
            cache.insert(org, views, self.inner.max_cached_orgs);
        }
        Ok(wanted)
    }

    async fn platform(&self) -> Result<Arc<Vec<StoredVersion>>> {
        if let Some(platform) = self.inner.platform.load_full() {
            return Ok(platform);
        }
        let epoch = self.inner.epoch.load(Ordering::Acquire);
        let loaded = Arc::new(store::load_current(self.inner.keel.pool()?).await?);
        if self.inner.epoch.load(Ordering::Acquire) == epoch {
            self.inner.platform.store(Some(loaded.clone()));
        }
        Ok(loaded)
    }

    async fn compile_org(&self, org: Uuid) -> Result<OrgSkills> {
        let platform = self.platform().await?;
        let pool = self.inner.keel.pool()?;
        let overrides = org_store::load_overrides(pool, org).await?;
        let pinned = store::load_pinned(pool, org).await?;
        let context = org_store::load_context(pool, org).await?;
        let skills = resolve_org(&platform, &pinned, &overrides, &context);
        // Record what changed since the org's rows were last compiled.
        let stored: HashMap<&str, _> = overrides.iter().map(|o| (o.key.as_str(), o)).collect();
        let rows: Vec<CompiledRow<'_>> = skills
            .skills
            .iter()
            .filter(|s| {
                stored.get(s.key.as_str()).is_none_or(|o| {
                    o.compiled_content.as_deref() != Some(s.content.as_str())
                        || o.compiled_version != s.version
                        || o.context_hash.as_deref() != Some(s.context_hash.as_str())
                })
            })
            .map(|s| CompiledRow {
                key: &s.key,
                version: s.version,
                content: &s.content,
                frontmatter: store::frontmatter_json(&s.doc),
                context_hash: &s.context_hash,
            })
            .collect();
        org_store::store_compiled(pool, org, &rows).await?;
        Ok(skills)
    }
}
