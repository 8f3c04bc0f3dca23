//! The model router handle: the matrix and the breakers' state cached in process, resolution
//! without I/O on the hot path, breaker reports and credits through the database.
//!
//! Instances agree through the database: breaker state changes are written atomically and every
//! instance re-reads the breakers every `staleness` (default 1 s), so a change is seen within that
//! bound. The matrix is re-read after `matrix_ttl` (default 60 s) or at once with
//! [`ModelRouter::reload`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use uuid::Uuid;

use super::breaker::{BreakerRow, CircuitState};
use super::matrix::{Feature, Matrix, ModelEntry, Tier, default_rows};
use super::options::{ModelRequest, RouterOptions};
use super::resolve::{Resolution, resolve};
use super::store::{self, PROVIDER_WIDE, now_ms};
use crate::Keel;
use crate::error::{Error, Result};
use crate::refresher::Refresher;
use crate::telemetry::{Logger, LoggerOptions};

mod listing;
mod probe;
mod reports;

struct Cached {
    matrix: Matrix,
    org_tiers: HashMap<(Uuid, Feature), Tier>,
    loaded: Instant,
}

type BreakerKey = (String, String);

/// The breakers that are not closed, by provider then model, so a lookup borrows its key.
#[derive(Clone, Default)]
struct Breakers {
    rows: HashMap<String, HashMap<String, BreakerRow>>,
}

impl Breakers {
    fn get(&self, provider: &str, model: &str) -> Option<&BreakerRow> {
        self.rows.get(provider)?.get(model)
    }

    fn set(&mut self, (provider, model): &BreakerKey, row: BreakerRow) {
        if row.state == CircuitState::Closed {
            if let Some(models) = self.rows.get_mut(provider) {
                models.remove(model);
                if models.is_empty() {
                    self.rows.remove(provider);
                }
            }
        } else {
            self.rows
                .entry(provider.clone())
                .or_default()
                .insert(model.clone(), row);
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &String, &BreakerRow)> {
        self.rows.iter().flat_map(|(provider, models)| {
            models
                .iter()
                .map(move |(model, row)| (provider, model, row))
        })
    }
}

/// Whether a candidate may serve now, as far as this process knows.
enum Usability {
    Usable,
    Blocked,
    /// Open with the cooldown over: whoever claims the probe serves it.
    ProbeDue {
        provider_wide: bool,
    },
}

pub(super) struct RouterInner {
    pub(super) keel: Keel,
    pub(super) options: RouterOptions,
    cached: ArcSwap<Cached>,
    breakers: ArcSwap<Breakers>,
    /// Probes this process is claiming right now, so one caller per process asks the database.
    claiming: Mutex<HashSet<BreakerKey>>,
    /// Probes won in the background and not yet served ([`ModelRouter::resolve_now`]).
    won: Mutex<HashSet<BreakerKey>>,
    /// Where background work runs.
    runtime: tokio::runtime::Handle,
    logger: Logger,
    refresher: Refresher,
    /// Bumped before every local breaker change, so a refresh that read the database before
    /// the change does not put the older rows back over it.
    local_changes: AtomicU64,
}

/// The model router. Cheap to clone; clones share the caches.
#[derive(Clone)]
pub struct ModelRouter {
    pub(super) inner: Arc<RouterInner>,
}

impl std::fmt::Debug for ModelRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRouter")
            .field("rows", &self.inner.cached.load().matrix.len())
            .finish()
    }
}

impl ModelRouter {
    /// Loads the matrix (seeding the default one into an empty table) and the breakers, and
    /// starts the task that re-reads the breakers every `staleness`.
    ///
    /// # Errors
    /// [`Error::Storage`] when the tables cannot be read; [`Error::InvalidInput`] when the
    /// stored matrix is invalid.
    pub async fn open(keel: &Keel, options: RouterOptions) -> Result<Self> {
        let pool = keel.pool()?;
        if options.seed_defaults && store::load_rows(pool).await?.is_empty() {
            for row in default_rows() {
                store::upsert_row(pool, &row).await?;
            }
        }
        let cached = load_cached(keel).await?;
        let breakers = load_breakers(keel).await?;
        let inner = Arc::new(RouterInner {
            keel: keel.clone(),
            logger: keel.logger("model-router", LoggerOptions::default()),
            options,
            cached: ArcSwap::from_pointee(cached),
            breakers: ArcSwap::from_pointee(breakers),
            claiming: Mutex::new(HashSet::new()),
            won: Mutex::new(HashSet::new()),
            runtime: tokio::runtime::Handle::current(),
            refresher: Refresher::default(),
            local_changes: AtomicU64::new(0),
        });
        let staleness = inner.options.staleness;
        inner
            .refresher
            .start(&inner, staleness, |inner| async move {
                let before = inner.local_changes.load(Ordering::Acquire);
                match load_breakers(&inner.keel).await {
                    Ok(fresh) => {
                        let fresh = Arc::new(fresh);
                        // A change made here while the rows were read is newer than they are:
                        // keep it, and take the database's view on the next tick.
                        inner.breakers.rcu(|current| {
                            if inner.local_changes.load(Ordering::Acquire) == before {
                                Arc::clone(&fresh)
                            } else {
                                Arc::clone(current)
                            }
                        });
                    }
                    Err(Error::Closed) | Err(Error::Forked { .. }) => return false,
                    Err(err) => {
                        tracing::warn!(error = %err, "keel model router: breaker refresh failed")
                    }
                }
                // The matrix's TTL is checked here, not on every resolution.
                if inner.cached.load().loaded.elapsed() >= inner.options.matrix_ttl {
                    match load_cached(&inner.keel).await {
                        Ok(fresh) => inner.cached.store(Arc::new(fresh)),
                        Err(err) => {
                            tracing::warn!(error = %err, "keel model router: matrix reload failed")
                        }
                    }
                }
                true
            });
        Ok(Self { inner })
    }

    /// Runs `f` on the matrix in use.
    pub fn with_matrix<R>(&self, f: impl FnOnce(&Matrix) -> R) -> R {
        f(&self.inner.cached.load().matrix)
    }

    /// Re-reads the matrix and the org tiers now.
    ///
    /// # Errors
    /// As [`ModelRouter::open`].
    pub async fn reload(&self) -> Result<()> {
        let cached = load_cached(&self.inner.keel).await?;
        self.inner.cached.store(Arc::new(cached));
        Ok(())
    }

    /// Adds or changes one matrix row. The whole matrix with the change is validated first, so
    /// a change that would leave two primaries (or any invalid row) is rejected and nothing is
    /// written.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field; [`Error::Storage`] on a write failure.
    pub async fn set_model(&self, row: ModelEntry) -> Result<()> {
        let row = row.validated()?;
        let pool = self.inner.keel.pool()?;
        let mut rows = store::load_rows(pool).await?;
        rows.retain(|r| {
            !(r.scope == row.scope
                && r.feature == row.feature
                && r.tier == row.tier
                && r.provider == row.provider
                && r.model_id == row.model_id)
        });
        rows.push(row.clone());
        Matrix::new(rows)?;
        store::upsert_row(pool, &row)
            .await
            .map_err(|err| match err {
                Error::Storage(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    Error::invalid_input(
                        "primary",
                        format!("conflicts with a concurrent change: {db}"),
                    )
                }
                other => other,
            })?;
        self.reload().await
    }

    /// Sets the tier `org` uses for `feature` when a request names none.
    ///
    /// # Errors
    /// [`Error::Storage`] on a write failure.
    pub async fn set_org_tier(&self, org: Uuid, feature: Feature, tier: Tier) -> Result<()> {
        store::set_org_tier(self.inner.keel.pool()?, org, feature, tier).await?;
        self.reload().await
    }

    /// The tier a request resolves at.
    fn tier_for(&self, cached: &Cached, request: &ModelRequest, feature: Feature) -> Tier {
        request.tier.unwrap_or_else(|| {
            request
                .org_id
                .and_then(|org| cached.org_tiers.get(&(org, feature)).copied())
                .unwrap_or(self.inner.options.default_tier)
        })
    }

    fn usability(&self, breakers: &Breakers, entry: &ModelEntry, now: i64) -> Usability {
        let config = &self.inner.options.breaker;
        let mut due = None;
        for (model, provider_wide) in [(PROVIDER_WIDE, true), (&*entry.model_id, false)] {
            if let Some(row) = breakers.get(&entry.provider, model) {
                if row.state == CircuitState::Closed {
                    continue;
                }
                // A probe this process won but has not served yet is still its to serve, even
                // once a refresh shows the row as claimed (half-open, not due).
                if row.probe_due(now, config) || self.holds_probe(&entry.provider, model) {
                    due.get_or_insert(provider_wide);
                } else {
                    return Usability::Blocked;
                }
            }
        }
        match due {
            None => Usability::Usable,
            Some(provider_wide) => Usability::ProbeDue { provider_wide },
        }
    }

    /// Resolves without waiting for anything, for synchronous callers (the Python and Node
    /// bindings' hot path). A candidate whose cooldown is over is claimed in the background:
    /// this call moves on to the next candidate, and once this process has won the probe, the
    /// next resolution here serves it (exactly one caller across all instances).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] without a feature; [`Error::NoModelAvailable`].
    pub fn resolve_now(&self, request: &ModelRequest) -> Result<Resolution> {
        self.resolve_after(request, &[])
    }

    /// The next candidate of a call that fell back: resolves as [`ModelRouter::resolve_now`]
    /// does, skipping the (provider, model) pairs already tried.
    ///
    /// # Errors
    /// As [`ModelRouter::resolve_now`].
    pub fn resolve_after(
        &self,
        request: &ModelRequest,
        tried: &[(Arc<str>, Arc<str>)],
    ) -> Result<Resolution> {
        self.decide_skipping(request, tried, |candidate, provider_wide| {
            let key = breaker_key(candidate, provider_wide);
            if self.serve_won(&key) {
                return true;
            }
            self.claim_in_background(key);
            false
        })
    }

    /// The handle the router reads and writes through.
    pub fn keel(&self) -> &Keel {
        &self.inner.keel
    }

    fn resolve_cached(&self, request: &ModelRequest) -> Result<Resolution> {
        self.decide(request, |_, _| false)
    }

    fn decide(
        &self,
        request: &ModelRequest,
        probe: impl FnMut(&ModelEntry, bool) -> bool,
    ) -> Result<Resolution> {
        self.decide_skipping(request, &[], probe)
    }

    fn decide_skipping(
        &self,
        request: &ModelRequest,
        skip: &[(Arc<str>, Arc<str>)],
        mut probe: impl FnMut(&ModelEntry, bool) -> bool,
    ) -> Result<Resolution> {
        let feature = request
            .feature
            .ok_or_else(|| Error::invalid_input("feature", "is required"))?;
        let cached = self.inner.cached.load();
        let tier = self.tier_for(&cached, request, feature);
        let breakers = self.inner.breakers.load();
        let now = if breakers.rows.is_empty() {
            0
        } else {
            now_ms()
        };
        let trace_id = request.trace_id.unwrap_or_else(Uuid::new_v4);
        resolve(
            &cached.matrix,
            feature,
            tier,
            request.org_id,
            trace_id,
            |candidate| {
                let tried = skip
                    .iter()
                    .any(|(p, m)| *p == candidate.provider && *m == candidate.model_id);
                !tried
                    && match self.usability(&breakers, candidate, now) {
                        Usability::Usable => true,
                        Usability::Blocked => false,
                        Usability::ProbeDue { provider_wide } => probe(candidate, provider_wide),
                    }
            },
        )
    }

    /// Resolves a request: the primary, or the tier's first usable fallback. A candidate whose
    /// cooldown is over is served to exactly one caller across all instances (the probe),
    /// claimed atomically in the database; everyone else moves on to the next candidate. Only
    /// that claim does I/O; a request with every circuit closed does none.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] without a feature; [`Error::NoModelAvailable`] saying why.
    pub async fn resolve(&self, request: &ModelRequest) -> Result<Resolution> {
        let mut due: Option<BreakerKey> = None;
        let cached = self.decide(request, |candidate, provider_wide| {
            let key = breaker_key(candidate, provider_wide);
            // A probe this process already won (in the background) is served here too.
            if self.serve_won(&key) {
                return true;
            }
            due.get_or_insert(key);
            false
        });
        // No probe is due ahead of the first usable candidate: nothing to claim.
        let Some(key) = due else { return cached };
        if !self.start_claim(&key) {
            // Another caller of this process is claiming it: for us it is still open.
            return cached;
        }
        let claimed = match self.inner.keel.pool() {
            Ok(pool) => store::claim_probe(pool, &key.0, &key.1, &self.inner.options.breaker).await,
            Err(err) => Err(err),
        };
        let outcome = match claimed {
            Ok(true) => {
                self.inner
                    .logger
                    .info("model_router.probe_claimed", probe_metadata(&key.0, &key.1));
                self.won().insert(key.clone());
                Some(self.decide(request, |candidate, provider_wide| {
                    breaker_key(candidate, provider_wide) == key && self.won().remove(&key)
                }))
            }
            Ok(false) => None,
            Err(err) => {
                self.end_claim(&key);
                return Err(err);
            }
        };
        // Won or lost, the probe is out.
        self.mark_probe_out(&key);
        self.end_claim(&key);
        match outcome {
            Some(resolution) => resolution,
            None => self.resolve_cached(request),
        }
    }

    fn mark_local(&self, key: &BreakerKey, change: impl Fn(&BreakerRow) -> BreakerRow) {
        self.inner.local_changes.fetch_add(1, Ordering::AcqRel);
        self.inner.breakers.rcu(|current| {
            let mut next = Breakers::clone(current);
            let row = current.get(&key.0, &key.1).cloned().unwrap_or_default();
            next.set(key, change(&row));
            next
        });
    }

    /// When a conversation must be compacted for `model` (a dated, versioned or prefixed id
    /// finds its row; see [`crate::memory::canonical_model_id`]), from the context window of
    /// the matrix this process holds.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`]: a model the matrix does not know (field `model`), a
    /// ratio outside (0, 1], or reservations that leave nothing of the window.
    pub fn compaction_threshold(
        &self,
        model: &str,
        options: &crate::memory::ThresholdOptions,
    ) -> Result<crate::memory::CompactionThreshold> {
        self.with_matrix(|m| crate::memory::CompactionThreshold::of(m, model, options))
    }

    /// Whether (provider, model) is a row of the matrix this process holds.
    pub fn knows(&self, provider: &str, model_id: &str) -> bool {
        self.with_matrix(|m| m.find(provider, model_id).is_some())
    }
}

fn breaker_key(candidate: &ModelEntry, provider_wide: bool) -> BreakerKey {
    let model = if provider_wide {
        PROVIDER_WIDE
    } else {
        &candidate.model_id
    };
    (candidate.provider.to_string(), model.to_owned())
}

fn probe_metadata(provider: &str, model: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut metadata = serde_json::Map::new();
    metadata.insert("gen_ai.provider.name".into(), provider.into());
    metadata.insert("gen_ai.request.model".into(), model.into());
    metadata
}

async fn load_cached(keel: &Keel) -> Result<Cached> {
    let pool = keel.pool()?;
    let matrix = Matrix::new(store::load_rows(pool).await?)?;
    let org_tiers = store::load_org_tiers(pool)
        .await?
        .into_iter()
        .map(|(org, feature, tier)| ((org, feature), tier))
        .collect();
    Ok(Cached {
        matrix,
        org_tiers,
        loaded: Instant::now(),
    })
}

async fn load_breakers(keel: &Keel) -> Result<Breakers> {
    let mut breakers = Breakers::default();
    for b in store::load_breakers(keel.pool()?).await? {
        breakers.set(&(b.provider, b.model_id), b.row);
    }
    Ok(breakers)
}
