//! Breaker reports: a call's success or failure as it changes the model's and the provider's
//! circuits. Each change is one atomic write (`store::apply_breaker`); this process marks the
//! new state locally at once and logs every opening and closing.

use super::{BreakerKey, ModelRouter, probe_metadata};
use crate::models::breaker::{BreakerRow, CircuitState, FailureKind, Transition};
use crate::models::store::{self, PROVIDER_WIDE, StoredBreaker};

impl ModelRouter {
    /// Reports a successful call. Writes only when it closes a circuit (a successful probe);
    /// never fails: a storage error is logged.
    pub async fn record_success(&self, provider: &str, model_id: &str) -> Transition {
        let mut result = Transition::Unchanged;
        for model in [model_id, PROVIDER_WIDE] {
            if !self.half_open(provider, model) {
                continue;
            }
            let key = (provider.to_owned(), model.to_owned());
            if let Some(t) = self.apply(&key, |row, _| row.on_success()).await
                && t == Transition::Closed
                && model == model_id
            {
                result = t;
            }
        }
        result
    }

    /// True when a success of `provider`'s `model_id` would change a circuit (the model's or
    /// the provider's is half open), so [`ModelRouter::record_success`] has something to write.
    pub fn success_matters(&self, provider: &str, model_id: &str) -> bool {
        self.half_open(provider, model_id) || self.half_open(provider, PROVIDER_WIDE)
    }

    fn half_open(&self, provider: &str, model: &str) -> bool {
        self.inner
            .breakers
            .load()
            .get(provider, model)
            .is_some_and(|row| row.state == CircuitState::HalfOpen)
    }

    /// Runs a report on the router's runtime, for callers that cannot wait for it.
    pub(crate) fn report_in_background(
        &self,
        report: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.inner.runtime.spawn(report);
    }

    /// Reports a failed call of kind `kind`. Caller errors (4xx, context too long) change
    /// nothing; the provider's faults count toward the model's breaker and, while that one
    /// takes them in, toward the provider's.
    /// Never fails: a storage error is logged. Returns what happened to the model's circuit.
    pub async fn record_failure(
        &self,
        provider: &str,
        model_id: &str,
        kind: FailureKind,
    ) -> Transition {
        if !kind.counts() {
            return Transition::Unchanged;
        }
        // Breaker state exists only for models of the matrix: a report naming anything else
        // must not grow `model_health` (the bindings refuse it with `invalid_input`).
        if !self.knows(provider, model_id) {
            return Transition::Unchanged;
        }
        let config = self.inner.options.breaker;
        let model_key = (provider.to_owned(), model_id.to_owned());
        let model = self
            .apply(&model_key, |row, now| {
                row.on_failure(now, config.failure_threshold, &config)
            })
            .await
            .unwrap_or(Transition::Unchanged);
        // Only failures the model's own circuit took in count toward the provider: late
        // failures of a model already open are one outage, not many models failing.
        if model != Transition::Unchanged {
            let provider_key = (provider.to_owned(), PROVIDER_WIDE.to_owned());
            self.apply(&provider_key, |row, now| {
                row.on_failure(now, config.provider_failure_threshold, &config)
            })
            .await;
        }
        model
    }

    /// Closes the circuit of (`provider`, `model_id`) by hand (`model_id` `*` for the
    /// provider's), clearing its failures and cooldown in one locked write: an operator's
    /// reset once an outage is known to be over. Other instances see it within the
    /// router's staleness. `Closed`, or `Unchanged` when the circuit was closed with no
    /// failure counted.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming `model_id` when the matrix has no such model (or,
    /// for `*`, no such provider); storage errors.
    pub async fn reset_breaker(&self, provider: &str, model_id: &str) -> crate::Result<Transition> {
        let known = if model_id == PROVIDER_WIDE {
            self.with_matrix(|m| m.rows().any(|r| &*r.provider == provider))
        } else {
            self.knows(provider, model_id)
        };
        if !known {
            return Err(crate::Error::invalid_input(
                "model_id",
                format!("{provider}/{model_id} is not in the model matrix"),
            ));
        }
        let pool = self.inner.keel.pool()?;
        let (transition, row) = store::apply_breaker(pool, provider, model_id, |row, _| {
            if row.state == CircuitState::Closed && row.recent_failures.is_empty() {
                (row.clone(), Transition::Unchanged)
            } else {
                (BreakerRow::default(), Transition::Closed)
            }
        })
        .await?;
        if transition == Transition::Closed {
            self.mark_local(&(provider.to_owned(), model_id.to_owned()), |_| row.clone());
            let mut metadata = probe_metadata(provider, model_id);
            metadata.insert("transition".into(), "Reset".into());
            self.inner
                .logger
                .warn("model_router.circuit_changed", metadata);
        }
        Ok(transition)
    }

    async fn apply(
        &self,
        key: &BreakerKey,
        change: impl FnOnce(&BreakerRow, i64) -> (BreakerRow, Transition),
    ) -> Option<Transition> {
        let pool = match self.inner.keel.pool() {
            Ok(pool) => pool,
            Err(err) => {
                tracing::warn!(error = %err, "keel model router: cannot record a breaker report");
                return None;
            }
        };
        match store::apply_breaker(pool, &key.0, &key.1, change).await {
            Ok((transition, row)) => {
                // Only a change of state matters to resolution. A counted failure leaves the
                // circuit closed, and marking it could land after (and undo) the mark of a
                // concurrent report that opened the circuit: marks are not ordered as commits.
                if !matches!(transition, Transition::Unchanged | Transition::Counted) {
                    self.mark_local(key, |_| row.clone());
                }
                if matches!(
                    transition,
                    Transition::Opened | Transition::Reopened | Transition::Closed
                ) {
                    let mut metadata = probe_metadata(&key.0, &key.1);
                    metadata.insert("transition".into(), format!("{transition:?}").into());
                    self.inner
                        .logger
                        .warn("model_router.circuit_changed", metadata);
                }
                Some(transition)
            }
            Err(err) => {
                self.inner.logger.error(
                    "model_router.breaker_write_failed",
                    Some(&err.to_string()),
                    probe_metadata(&key.0, &key.1),
                );
                None
            }
        }
    }

    /// The provider of `model_id` in the matrix (for callers of the original API, which named
    /// the model only).
    pub fn provider_of(&self, model_id: &str) -> Option<String> {
        self.with_matrix(|matrix| {
            matrix
                .rows()
                .find(|e| &*e.model_id == model_id)
                .map(|e| e.provider.to_string())
        })
    }

    /// [`ModelRouter::record_success`] for callers that name only the model (the original API):
    /// the provider is looked up in the matrix; an unknown model changes nothing.
    pub async fn record_model_success(&self, model_id: &str, provider: Option<&str>) -> Transition {
        match provider
            .map(str::to_owned)
            .or_else(|| self.provider_of(model_id))
        {
            Some(provider) => self.record_success(&provider, model_id).await,
            None => Transition::Unchanged,
        }
    }

    /// [`ModelRouter::record_failure`] for callers that name only the model.
    pub async fn record_model_failure(
        &self,
        model_id: &str,
        provider: Option<&str>,
        kind: FailureKind,
    ) -> Transition {
        match provider
            .map(str::to_owned)
            .or_else(|| self.provider_of(model_id))
        {
            Some(provider) => self.record_failure(&provider, model_id, kind).await,
            None => Transition::Unchanged,
        }
    }

    /// The breakers this process sees as not closed.
    pub fn open_breakers(&self) -> Vec<StoredBreaker> {
        self.inner
            .breakers
            .load()
            .iter()
            .map(|(provider, model_id, row)| StoredBreaker {
                provider: provider.clone(),
                model_id: model_id.clone(),
                row: row.clone(),
            })
            .collect()
    }
}
