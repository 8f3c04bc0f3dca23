//! The process cache of decisions, and its warm-up from `routing_cache`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use uuid::Uuid;

use super::decision::Decision;
use super::router::MessageRouter;
use super::store::load_cache;
use crate::skills::Channel;

/// What a decision is cached under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    pub(super) org: Uuid,
    pub(super) channel: Channel,
    pub(super) version: Arc<str>,
    pub(super) canonical: Arc<str>,
}

/// Decisions by key, each with its expiry.
pub(super) type ProcessCache = quick_cache::sync::Cache<CacheKey, (Arc<Decision>, Instant)>;

impl MessageRouter {
    /// Loads the unexpired decisions of `version` (a view's, as [`MessageRouter::version`]
    /// makes it) from `routing_cache` into the process cache.
    pub(super) async fn warm(&self, org: Uuid, channel: Channel, version: &Arc<str>) {
        let (Some(cache), Ok(pool)) = (&self.inner.cache, self.inner.registry.keel().pool()) else {
            return;
        };
        let Ok(rows) = load_cache(pool, org, channel, version).await else {
            return;
        };
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        for (response, expires_ms) in rows {
            #[derive(serde::Deserialize)]
            struct Stored {
                canonical: String,
                decision: Decision,
            }
            let Ok(stored) = serde_json::from_str::<Stored>(&response) else {
                continue;
            };
            let left = Duration::from_millis(expires_ms.saturating_sub(now_ms).max(0) as u64);
            let key = CacheKey {
                org,
                channel,
                version: version.clone(),
                canonical: Arc::from(stored.canonical),
            };
            cache.insert(key, (Arc::new(stored.decision), Instant::now() + left));
        }
    }
}
