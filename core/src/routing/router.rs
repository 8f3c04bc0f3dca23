//! [`MessageRouter`]: one `route` for every channel, stage by stage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use uuid::Uuid;

use super::cache::{CacheKey, ProcessCache};
use super::calibrate::Calibration;
use super::decision::{Decision, MatchedBy, Routed, Stage};
use super::entities::extract;
use super::index::{Candidate, Evidence, SkillIndex};
use super::options::{LogQuery, RouterOptions};
use super::request::RouteRequest;
use super::rules::general_intent;
use super::store::{CacheEntry, LogEntry, LogRow, read_logs};
use super::text::{canonical, check_message, name_terms, terms};
use super::writer::{Job, Writer};
use crate::error::Result;
use crate::llm::{CallRequest, Classifier, EmbedRequest, Embedder};
use crate::skills::{Channel, ResolvedSkills, SkillRegistry};

/// The index of one view, and the view it was built from.
pub(super) struct Indexed {
    pub(super) view: Arc<ResolvedSkills>,
    pub(super) index: Arc<SkillIndex>,
    pub(super) version: Arc<str>,
}

/// Counters since the router opened.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RouterStats {
    /// Routes decided.
    pub routes: u64,
    /// Of which from the cache.
    pub cache_hits: u64,
    /// Index builds (one per view change).
    pub index_builds: u64,
    /// Decisions written to `routing_logs`.
    pub logged: u64,
    /// Decisions whose log write failed twice.
    pub log_failures: u64,
}

pub(super) struct Inner {
    pub(super) registry: SkillRegistry,
    pub(super) options: RouterOptions,
    pub(super) cache: Option<ProcessCache>,
    pub(super) indices: RwLock<HashMap<(Uuid, Channel), Arc<Indexed>>>,
    pub(super) writer: Option<Writer>,
    pub(super) embedder: Option<(Arc<dyn Embedder>, EmbedRequest)>,
    pub(super) classifier: Option<(Arc<dyn Classifier>, CallRequest)>,
    pub(super) vectors: Mutex<HashMap<String, Arc<Vec<f32>>>>,
    pub(super) routes: AtomicU64,
    pub(super) hits: AtomicU64,
    pub(super) builds: AtomicU64,
}

/// Routes messages to an org's skills. Cheap to clone; clones share the cache and indexes.
#[derive(Clone)]
pub struct MessageRouter {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for MessageRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageRouter").finish_non_exhaustive()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

/// Confidences for raw candidates (best first). The best single skill is scored with its
/// margin over the next single skill; the best sequence with its margin over the next
/// candidate of either kind, since a sequence runs single skills and must beat them to be
/// chosen ("my meetings tomorrow" shares "meeting" with the prep sequence and with two single
/// skills, so the sequence leads nothing). Every other candidate is scored from its score
/// alone (it leads nothing): confidence falls with score within a kind, as the curve was fitted.
fn calibrate(calibration: &Calibration, candidates: &mut [(usize, Candidate)]) {
    for kind in [true, false] {
        let Some(leader) = candidates.iter().position(|c| c.1.sequence == kind) else {
            continue;
        };
        let next = candidates
            .iter()
            .enumerate()
            .filter(|(i, c)| *i != leader && (kind || !c.1.sequence))
            .map(|(_, c)| c.1.score)
            .fold(0.0, f64::max);
        for (i, c) in candidates.iter_mut().enumerate() {
            if c.1.sequence == kind {
                c.1.margin = if i == leader {
                    (c.1.score - next).max(0.0)
                } else {
                    0.0
                };
                c.1.confidence = calibration.confidence(c.1.score, c.1.margin, c.1.cover);
            }
        }
    }
}

impl MessageRouter {
    /// A router over `registry`'s resolved views; starts the log writer when
    /// [`RouterOptions::log`].
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] for an option out of range.
    pub fn open(registry: &SkillRegistry, options: RouterOptions) -> Result<Self> {
        options.check()?;
        let cache = (options.cache_capacity > 0 && !options.cache_ttl.is_zero())
            .then(|| quick_cache::sync::Cache::new(options.cache_capacity));
        let writer = options.log.then(|| Writer::start(registry.keel().clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                registry: registry.clone(),
                options,
                cache,
                indices: RwLock::new(HashMap::new()),
                writer,
                embedder: None,
                classifier: None,
                vectors: Mutex::new(HashMap::new()),
                routes: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                builds: AtomicU64::new(0),
            }),
        })
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::get_mut(&mut self.inner).expect("set stages before cloning the router")
    }

    /// Adds the embedding stage: skills and messages embedded by `embedder` with `template`'s
    /// provider and model. Call before cloning the router.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>, template: EmbedRequest) -> Self {
        self.inner_mut().embedder = Some((embedder, template));
        self
    }

    /// Adds the LLM stage: `classifier` chooses among the top candidates, with `template`'s
    /// feature or model and limits. Call before cloning the router.
    pub fn with_classifier(
        mut self,
        classifier: Arc<dyn Classifier>,
        template: CallRequest,
    ) -> Self {
        self.inner_mut().classifier = Some((classifier, template));
        self
    }

    /// The options.
    pub fn options(&self) -> &RouterOptions {
        &self.inner.options
    }

    /// Counters since the router opened.
    pub fn stats(&self) -> RouterStats {
        let counters = self.inner.writer.as_ref().map(|w| w.counters.clone());
        RouterStats {
            routes: self.inner.routes.load(Ordering::Relaxed),
            cache_hits: self.inner.hits.load(Ordering::Relaxed),
            index_builds: self.inner.builds.load(Ordering::Relaxed),
            logged: counters
                .as_ref()
                .map_or(0, |c| c.logged.load(Ordering::Relaxed)),
            log_failures: counters.map_or(0, |c| c.log_failures.load(Ordering::Relaxed)),
        }
    }

    /// Waits until every decision made so far is written to `routing_logs`.
    pub async fn flush(&self) {
        if let Some(writer) = &self.inner.writer {
            writer.flush().await;
        }
    }

    /// The index of `view`, built when the view changed since the last one.
    fn indexed(&self, org: Uuid, channel: Channel, view: Arc<ResolvedSkills>) -> Arc<Indexed> {
        if let Some(found) = read(&self.inner.indices).get(&(org, channel))
            && Arc::ptr_eq(&found.view, &view)
        {
            return found.clone();
        }
        let index = SkillIndex::build(&view);
        self.inner.builds.fetch_add(1, Ordering::Relaxed);
        let built = Arc::new(Indexed {
            version: Arc::from(self.version(org, index.version())),
            index: Arc::new(index),
            view,
        });
        let mut indices = self
            .inner
            .indices
            .write()
            .unwrap_or_else(|e| e.into_inner());
        indices.insert((org, channel), built.clone());
        // The registry evicts views (its `max_cached_orgs`); an index whose view it no longer
        // holds is dropped here too, so the indexes stay as many as the views.
        if indices.len() > PRUNE_AT {
            let registry = &self.inner.registry;
            indices.retain(|&(org, channel), indexed| {
                registry
                    .cached(org, channel)
                    .is_some_and(|view| Arc::ptr_eq(&view, &indexed.view))
            });
        }
        built
    }

    /// The version decisions are cached under: the view's, this code's and the options that
    /// shape a decision, so neither a sync nor an upgrade serves a decision made otherwise.
    pub(super) fn version(&self, org: Uuid, view_version: &str) -> String {
        let o = &self.inner.options;
        let shape = format!(
            "{ROUTING_VERSION}|{view_version}|{:?}|{:?}|{}",
            o.calibration,
            o.thresholds_of(org),
            o.candidates
        );
        super::text::message_hash(&shape)[..16].to_owned()
    }

    /// Routes `request` when that needs no waiting: its view is cached and no model stage
    /// would run. `None` otherwise (call [`MessageRouter::route`]).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming `message` for an empty or oversized message.
    pub fn try_route(&self, request: &RouteRequest) -> Option<Result<Routed>> {
        if let Err(err) = check_message(&request.message) {
            return Some(Err(err));
        }
        let view = self.inner.registry.cached(request.org, request.channel)?;
        let indexed = self.indexed(request.org, request.channel, view);
        let start = Instant::now();
        match self.lexical(request, &indexed, start) {
            Step::Done(routed) => Some(Ok(routed)),
            Step::Undecided(..) => None,
        }
    }

    /// Routes `request` through every stage: cache, rules, skill index, embeddings, the LLM
    /// (when allowed), else general and out of scope.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming `message` for an empty or oversized message;
    /// [`crate::Error::Storage`] when the org's skills cannot be read.
    pub async fn route(&self, request: &RouteRequest) -> Result<Routed> {
        check_message(&request.message)?;
        let start = Instant::now();
        let registry = &self.inner.registry;
        let cached = registry.cached(request.org, request.channel);
        let loaded = cached.is_none();
        let view = match cached {
            Some(view) => view,
            None => {
                registry
                    .resolve_skills(request.org, request.channel)
                    .await?
            }
        };
        let indexed = self.indexed(request.org, request.channel, view);
        // A view just loaded: its decisions other instances shared join the process cache.
        if loaded {
            self.warm(request.org, request.channel, &indexed.version)
                .await;
        }
        let (canonical, candidates) = match self.lexical(request, &indexed, start) {
            Step::Done(routed) => return Ok(routed),
            Step::Undecided(canonical, candidates) => (canonical, candidates),
        };
        let thresholds = *self.inner.options.thresholds_of(request.org);
        let mut failed = false;
        if let Some(decision) = self
            .semantic(request, &indexed, &thresholds, &mut failed)
            .await
        {
            return Ok(self.finish(request, &indexed, canonical, decision, start, !failed));
        }
        if request.options.allow_llm
            && let Some(decision) = self.llm(request, &indexed, &candidates, &mut failed).await
        {
            return Ok(self.finish(request, &indexed, canonical, decision, start, !failed));
        }
        let decision = self.fallback(request, &indexed, candidates);
        Ok(self.finish(request, &indexed, canonical, decision, start, !failed))
    }

    /// Cache, rules and the skill index: everything that needs no waiting.
    fn lexical(&self, request: &RouteRequest, indexed: &Arc<Indexed>, start: Instant) -> Step {
        let canonical: Arc<str> = Arc::from(canonical(&request.message));
        let key = CacheKey {
            org: request.org,
            channel: request.channel,
            version: indexed.version.clone(),
            canonical: canonical.clone(),
        };
        if !request.options.skip_cache
            && let Some(cache) = &self.inner.cache
            && let Some((decision, expires)) = cache.get(&key)
        {
            if expires > Instant::now() {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                let routed = Routed {
                    decision,
                    trace_id: request.options.trace_id.unwrap_or_else(Uuid::now_v7),
                    duration: start.elapsed(),
                    cached: true,
                };
                self.record(request, canonical, &routed, false);
                return Step::Done(routed);
            }
            cache.remove(&key);
        }
        let base = |skill: Option<String>, confidence: f64, matched, stage| {
            let version = indexed.version.to_string();
            Decision::new(
                skill,
                confidence,
                matched,
                stage,
                version,
                extract(&request.message),
            )
        };
        if let Some(intent) = general_intent(&canonical) {
            let mut decision = base(None, 1.0, MatchedBy::General, Stage::Rules);
            decision.general_intent = Some(intent);
            decision.intent = Some(intent.as_str().to_owned());
            return Step::Done(self.finish(request, indexed, canonical, decision, start, true));
        }
        let message_terms = terms(&canonical);
        // One more than listed, so the last listed has a margin to its next.
        let names = name_terms(&request.message);
        let mut scored =
            indexed
                .index
                .score(&message_terms, &names, self.inner.options.candidates + 1);
        calibrate(&self.inner.options.calibration, &mut scored);
        let thresholds = self.inner.options.thresholds_of(request.org);
        let ambiguous = scored.len() > 1
            && scored[0].1.confidence - scored[1].1.confidence < thresholds.ambiguity_margin;
        let single = scored
            .iter()
            .find(|c| !c.1.sequence && c.1.confidence >= thresholds.skill);
        // A sequence goes first when it clears its higher threshold and scores clearly better
        // than the best single skill: it runs several skills, so "prep me for Initech" is the
        // single prep skill, and "a full prep for Initech" the sequence that contains it.
        let best_single = scored.iter().find(|c| !c.1.sequence).map(|c| c.1.score);
        let sequence = scored.iter().find(|c| {
            c.1.sequence
                && c.1.confidence >= thresholds.sequence
                && best_single.is_none_or(|s| c.1.score >= s + SEQUENCE_LEAD)
        });
        let chosen = sequence
            .map(|c| (c, MatchedBy::SequenceTrigger))
            .or_else(|| single.map(|c| (c, MatchedBy::SkillTrigger)));
        // An ambiguous pair goes to the LLM when the route allows it and there is one.
        let ask_llm = ambiguous && request.options.allow_llm && self.inner.classifier.is_some();
        match chosen {
            Some(((id, candidate), matched)) if !ask_llm => {
                let skill = Some(candidate.skill_key.clone());
                let mut decision = base(skill, candidate.confidence, matched, Stage::Index);
                decision.intent = intent_of(&indexed.index, *id, &candidate.evidence);
                decision.evidence = candidate.evidence.clone();
                decision.ambiguous = ambiguous;
                decision.candidates = take(scored, self.inner.options.candidates);
                Step::Done(self.finish(request, indexed, canonical, decision, start, true))
            }
            _ if self.inner.embedder.is_none()
                && !(request.options.allow_llm && self.inner.classifier.is_some()) =>
            {
                let decision = self.fallback(request, indexed, scored);
                Step::Done(self.finish(request, indexed, canonical, decision, start, true))
            }
            _ => Step::Undecided(canonical, scored),
        }
    }

    /// A decision for skill `key` reached by a model stage.
    pub(super) fn decision(
        &self,
        request: &RouteRequest,
        indexed: &Indexed,
        key: &str,
        confidence: f64,
        matched_by: MatchedBy,
        stage: Stage,
    ) -> Decision {
        let mut decision = Decision::new(
            Some(key.to_owned()),
            confidence,
            matched_by,
            stage,
            indexed.version.to_string(),
            extract(&request.message),
        );
        decision.intent = indexed
            .view
            .get(key)
            .and_then(|s| s.doc.triggers.iter().find_map(|t| t.intent.clone()));
        decision
    }

    /// Nothing was confident: general and out of scope, with the candidates that were not.
    fn fallback(
        &self,
        request: &RouteRequest,
        indexed: &Indexed,
        candidates: Vec<(usize, Candidate)>,
    ) -> Decision {
        let best = candidates.first().map_or(0.0, |c| c.1.confidence);
        let mut decision = Decision::new(
            None,
            1.0 - best,
            MatchedBy::General,
            Stage::Fallback,
            indexed.version.to_string(),
            extract(&request.message),
        );
        decision.out_of_scope = true;
        decision.candidates = take(candidates, self.inner.options.candidates);
        decision
    }

    /// Caches (unless a stage failed), logs and returns `decision`.
    fn finish(
        &self,
        request: &RouteRequest,
        indexed: &Indexed,
        canonical: Arc<str>,
        decision: Decision,
        start: Instant,
        cacheable: bool,
    ) -> Routed {
        let decision = Arc::new(decision);
        if cacheable && let Some(cache) = &self.inner.cache {
            let key = CacheKey {
                org: request.org,
                channel: request.channel,
                version: indexed.version.clone(),
                canonical: canonical.clone(),
            };
            cache.insert(
                key,
                (
                    decision.clone(),
                    Instant::now() + self.inner.options.cache_ttl,
                ),
            );
        }
        let routed = Routed {
            decision,
            trace_id: request.options.trace_id.unwrap_or_else(Uuid::now_v7),
            duration: start.elapsed(),
            cached: false,
        };
        self.record(request, canonical, &routed, cacheable);
        routed
    }

    /// Counts the route and queues its log row (and cache row).
    fn record(&self, request: &RouteRequest, canonical: Arc<str>, routed: &Routed, share: bool) {
        self.inner.routes.fetch_add(1, Ordering::Relaxed);
        let Some(writer) = &self.inner.writer else {
            return;
        };
        let at = SystemTime::now();
        if share && self.inner.cache.is_some() {
            writer.send(Job::Cache(CacheEntry {
                org: request.org,
                channel: request.channel,
                canonical: canonical.clone(),
                decision: routed.decision.clone(),
                expires: at + self.inner.options.cache_ttl,
            }));
        }
        writer.send(Job::Log(LogEntry {
            org: request.org,
            user: request.user.clone(),
            channel: request.channel,
            canonical,
            message: Arc::from(request.message.as_str()),
            routed: routed.clone(),
            at,
        }));
    }

    /// The routing log of `org` since `since` (newest first, at most `limit` rows).
    ///
    /// # Errors
    /// [`crate::Error::Storage`] when the read fails.
    pub async fn log(&self, org: Uuid, since: SystemTime, limit: u32) -> Result<Vec<LogRow>> {
        let since_ms = since
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        read_logs(
            self.inner.registry.keel().pool()?,
            org,
            since_ms,
            i64::from(limit),
        )
        .await
    }

    /// The routing log of the org id `org_id` as `query` asks (what the bindings call).
    ///
    /// # Errors
    /// `invalid_input` naming `org_id`; [`crate::Error::Storage`] when the read fails.
    pub async fn recent_log(&self, org_id: &str, query: &LogQuery) -> Result<Vec<LogRow>> {
        let org = crate::options::require_uuid("org_id", org_id)?;
        let since = SystemTime::now()
            .checked_sub(query.since)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.log(org, since, query.limit).await
    }

    /// Drops every cached decision and index.
    pub fn invalidate(&self) {
        if let Some(cache) = &self.inner.cache {
            cache.clear();
        }
        self.inner
            .indices
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// How many indexes the router holds before it drops those of evicted views.
const PRUNE_AT: usize = 256;

/// How far a sequence's raw score must lead the best single skill's to be chosen over it.
const SEQUENCE_LEAD: f64 = 0.05;

/// Bumped whenever a change to routing's code changes decisions: cached decisions of another
/// version are never served.
const ROUTING_VERSION: &str = "keel-routing-3";

pub(super) enum Step {
    Done(Routed),
    Undecided(Arc<str>, Vec<(usize, Candidate)>),
}

/// The first `n` candidates, moved out of the scored list.
pub(super) fn take(candidates: Vec<(usize, Candidate)>, n: usize) -> Vec<Candidate> {
    candidates.into_iter().take(n).map(|c| c.1).collect()
}

/// The intent of the matched trigger, else the skill's first.
fn intent_of(index: &SkillIndex, id: usize, evidence: &[Evidence]) -> Option<String> {
    evidence
        .iter()
        .find_map(|e| match e {
            Evidence::Trigger { intent, .. } => intent.clone(),
            _ => None,
        })
        .or_else(|| index.intent(id).map(str::to_owned))
}
