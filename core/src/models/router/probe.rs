//! The probe bookkeeping of one process: claims under way, probes won but not yet served, and
//! the local mark that a probe is out. The claim itself is one conditional `UPDATE` in the
//! database (`store::claim_probe`), so exactly one caller across all instances wins it.

use std::collections::HashSet;

use super::{BreakerKey, ModelRouter, probe_metadata};
use crate::models::breaker::{BreakerRow, CircuitState};
use crate::models::store::{self, now_ms};

impl ModelRouter {
    /// The probes this process won and has not served yet.
    pub(super) fn won(&self) -> std::sync::MutexGuard<'_, HashSet<BreakerKey>> {
        self.inner.won.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this process won the probe of (`provider`, `model`) and has not served it.
    pub(super) fn holds_probe(&self, provider: &str, model: &str) -> bool {
        self.won().iter().any(|(p, m)| p == provider && m == model)
    }

    /// Serves the probe of `key` if this process won it: true once, then it is out.
    pub(super) fn serve_won(&self, key: &BreakerKey) -> bool {
        let won = self.won().remove(key);
        if won {
            self.mark_probe_out(key);
        }
        won
    }

    /// Starts a probe claim on the router's runtime unless one of this process is under way.
    pub(super) fn claim_in_background(&self, key: BreakerKey) {
        if !self.start_claim(&key) {
            return;
        }
        let router = self.clone();
        self.inner.runtime.spawn(async move {
            let claimed = match router.inner.keel.pool() {
                Ok(pool) => {
                    store::claim_probe(pool, &key.0, &key.1, &router.inner.options.breaker).await
                }
                Err(err) => Err(err),
            };
            match claimed {
                Ok(true) => {
                    router
                        .inner
                        .logger
                        .info("model_router.probe_claimed", probe_metadata(&key.0, &key.1));
                    router.won().insert(key.clone());
                }
                Ok(false) => router.mark_probe_out(&key),
                Err(err) => tracing::warn!(error = %err, "keel model router: probe claim failed"),
            }
            router.end_claim(&key);
        });
    }

    pub(super) fn start_claim(&self, key: &BreakerKey) -> bool {
        self.inner
            .claiming
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone())
    }

    pub(super) fn end_claim(&self, key: &BreakerKey) {
        self.inner
            .claiming
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// This process sees the probe of `key` as out (half-open) until the next refresh.
    pub(super) fn mark_probe_out(&self, key: &BreakerKey) {
        self.mark_local(key, |row| BreakerRow {
            state: CircuitState::HalfOpen,
            probe_claimed_at: Some(now_ms()),
            ..row.clone()
        });
    }
}
