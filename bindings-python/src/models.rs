//! `Keel.model_router`, `ModelRouter` and `check_agent_budget` (core: `keel::models`).
//!
//! Resolution is synchronous (it never waits: probes are claimed in the background); breaker
//! reports, credits and matrix changes return awaitables.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use uuid::Uuid;

use keel::models::{
    self, BreakerConfig, Charge, FailureKind, ModelEntry, ModelRequest, Pricing, Role, Scope,
    Usage, parse_uuid, require_uuid, seconds,
};

use crate::runtime::{future_into_py, guard};

/// The model chosen for a request (the original `ModelResolution`).
#[pyclass(frozen, name = "ModelResolution", module = "keel._native")]
pub struct PyModelResolution {
    inner: models::Resolution,
}

#[pymethods]
impl PyModelResolution {
    #[getter]
    fn provider(&self) -> &str {
        &self.inner.provider
    }

    #[getter]
    fn model_id(&self) -> &str {
        &self.inner.model_id
    }

    #[getter]
    fn credit_cost(&self) -> f64 {
        self.inner.credit_cost
    }

    #[getter]
    fn max_tokens(&self) -> u32 {
        self.inner.max_tokens
    }

    #[getter]
    fn context_window(&self) -> u32 {
        self.inner.context_window
    }

    #[getter]
    fn was_fallback(&self) -> bool {
        self.inner.was_fallback
    }

    #[getter]
    fn tier(&self) -> &'static str {
        self.inner.tier.as_str()
    }

    /// The trace id (formatted when read, not on every resolution).
    #[getter]
    fn trace_id(&self) -> String {
        self.inner.trace_id.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "ModelResolution(provider={:?}, model_id={:?}, tier={:?}, was_fallback={})",
            &*self.inner.provider,
            &*self.inner.model_id,
            self.inner.tier.as_str(),
            if self.inner.was_fallback {
                "True"
            } else {
                "False"
            }
        )
    }
}

impl From<models::Resolution> for PyModelResolution {
    fn from(inner: models::Resolution) -> Self {
        Self { inner }
    }
}

/// The balance of an org and whether it may proceed (the original `checkBudget` result).
#[pyclass(frozen, name = "BudgetStatus", module = "keel._native")]
pub struct PyBudgetStatus {
    #[pyo3(get)]
    remaining: f64,
    #[pyo3(get)]
    can_proceed: bool,
}

/// A ledger movement.
#[pyclass(frozen, name = "CreditMovement", module = "keel._native")]
pub struct PyMovement {
    #[pyo3(get)]
    ledger_id: String,
    #[pyo3(get)]
    balance_after: f64,
    #[pyo3(get)]
    duplicate: bool,
}

impl From<models::Movement> for PyMovement {
    fn from(m: models::Movement) -> Self {
        Self {
            ledger_id: m.ledger_id.to_string(),
            balance_after: m.balance_after,
            duplicate: m.duplicate,
        }
    }
}

/// Credits held for a call.
#[pyclass(frozen, name = "CreditReservation", module = "keel._native")]
pub struct PyReservation {
    #[pyo3(get)]
    id: String,
    #[pyo3(get)]
    amount: f64,
    #[pyo3(get)]
    balance_after: f64,
    #[pyo3(get)]
    duplicate: bool,
}

/// A fleet agent's per-run budget check.
#[pyclass(frozen, name = "AgentBudget", module = "keel._native")]
pub struct PyAgentBudget {
    #[pyo3(get)]
    exceeded: bool,
    #[pyo3(get)]
    limit: f64,
    #[pyo3(get)]
    used: f64,
}

/// The model router; make it with `await db.model_router()`.
#[pyclass(frozen, name = "ModelRouter", module = "keel._native")]
pub struct PyModelRouter {
    inner: models::ModelRouter,
}

/// The `org_id` argument.
pub(crate) fn org(raw: &str) -> keel::Result<Uuid> {
    require_uuid("org_id", raw)
}

fn failure_kind(kind: Option<&str>, status: Option<u16>) -> keel::Result<FailureKind> {
    match kind {
        Some(kind) => kind.parse(),
        None => Ok(FailureKind::from_status(status)),
    }
}

#[pymethods]
impl PyModelRouter {
    /// Resolves a request without waiting; raises `NoModelAvailableError` or
    /// `InvalidInputError`.
    #[pyo3(signature = (feature, tier = None, org_id = None, trace_id = None, *, user_id = None))]
    fn resolve_model(
        &self,
        feature: &str,
        tier: Option<&str>,
        org_id: Option<&str>,
        trace_id: Option<&str>,
        user_id: Option<&str>,
    ) -> PyResult<PyModelResolution> {
        let _ = user_id;
        guard(|| {
            let request = ModelRequest::from_parts(feature, tier, org_id, trace_id)?;
            self.inner.resolve_now(&request).map(Into::into)
        })
    }

    /// Reports a successful call; returns what happened to the circuit. Never raises.
    #[pyo3(signature = (model_id, provider = None))]
    fn record_success<'py>(
        &self,
        py: Python<'py>,
        model_id: String,
        provider: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let router = self.inner.clone();
        future_into_py(py, async move {
            let t = router
                .record_model_success(&model_id, provider.as_deref())
                .await;
            Ok(t.as_str())
        })
    }

    /// Reports a failed call: `kind` (timeout, server_error, rate_limited, overloaded,
    /// client_error, context_too_long) or an HTTP `status`. Only the provider's faults count.
    #[pyo3(signature = (model_id, provider = None, *, kind = None, status = None))]
    fn record_failure<'py>(
        &self,
        py: Python<'py>,
        model_id: String,
        provider: Option<String>,
        kind: Option<&str>,
        status: Option<u16>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind = guard(|| failure_kind(kind, status))?;
        let router = self.inner.clone();
        future_into_py(py, async move {
            let t = router
                .record_model_failure(&model_id, provider.as_deref(), kind)
                .await;
            Ok(t.as_str())
        })
    }

    /// The org's balance and whether it may proceed.
    fn check_budget<'py>(&self, py: Python<'py>, org_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let org = guard(|| org(org_id))?;
        let router = self.inner.clone();
        future_into_py(py, async move {
            let status = router.check_budget(org).await?;
            Ok(PyBudgetStatus {
                remaining: status.remaining,
                can_proceed: status.can_proceed,
            })
        })
    }

    /// Charges a call: `amount` as given, or the cost of `resolution`'s model (metered from
    /// the token counts when it has token prices). Raises `BudgetExceededError` below the grace.
    #[pyo3(signature = (org_id, amount = None, *, resolution = None, input_tokens = None,
                        output_tokens = None, user_id = None, agent_name = None,
                        idempotency_key = None, feature = None, trace_id = None))]
    #[allow(clippy::too_many_arguments)]
    fn deduct_credits<'py>(
        &self,
        py: Python<'py>,
        org_id: &str,
        amount: Option<f64>,
        resolution: Option<PyRef<'py, PyModelResolution>>,
        input_tokens: Option<f64>,
        output_tokens: Option<f64>,
        user_id: Option<&str>,
        agent_name: Option<String>,
        idempotency_key: Option<String>,
        feature: Option<String>,
        trace_id: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let charge = guard(|| {
            let usage = match (input_tokens, output_tokens) {
                (None, None) => None,
                (i, o) => Some(Usage::new(i.unwrap_or(0.0), o.unwrap_or(0.0))?),
            };
            let resolution = resolution.as_deref().map(|r| r.inner.clone());
            let amount = match (amount, &resolution) {
                (Some(amount), _) => amount,
                (None, Some(r)) => self.inner.call_cost(r, usage),
                (None, None) => {
                    return Err(keel::Error::invalid_input(
                        "amount",
                        "give an amount or a resolution",
                    ));
                }
            };
            Ok(Charge {
                org_id: org(org_id)?,
                amount,
                idempotency_key,
                description: resolution
                    .as_ref()
                    .map(|r| format!("AI usage: {}", r.model_id)),
                feature_key: feature,
                model_id: resolution.as_ref().map(|r| r.model_id.to_string()),
                tokens_used: usage.map(|u| (u.input_tokens + u.output_tokens) as i64),
                agent_name,
                trace_id: parse_uuid("trace_id", trace_id)?
                    .or_else(|| resolution.as_ref().map(|r| r.trace_id)),
                created_by: parse_uuid("user_id", user_id)?,
            })
        })?;
        let router = self.inner.clone();
        future_into_py(py, async move {
            Ok(PyMovement::from(router.deduct(&charge).await?))
        })
    }

    /// Holds `estimate` credits for a call; `commit_credits` or `release_credits` it after.
    fn reserve_credits<'py>(
        &self,
        py: Python<'py>,
        org_id: &str,
        estimate: f64,
        idempotency_key: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let org = guard(|| org(org_id))?;
        let router = self.inner.clone();
        future_into_py(py, async move {
            let r = router.reserve(org, estimate, &idempotency_key).await?;
            Ok(PyReservation {
                id: r.id.to_string(),
                amount: r.amount,
                balance_after: r.balance_after,
                duplicate: r.duplicate,
            })
        })
    }

    /// Settles a reservation at the actual cost.
    fn commit_credits<'py>(
        &self,
        py: Python<'py>,
        reservation_id: &str,
        actual: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = guard(|| reservation(reservation_id))?;
        let router = self.inner.clone();
        future_into_py(py, async move {
            Ok(PyMovement::from(router.commit(id, actual).await?))
        })
    }

    /// Releases a reservation unused.
    fn release_credits<'py>(
        &self,
        py: Python<'py>,
        reservation_id: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = guard(|| reservation(reservation_id))?;
        let router = self.inner.clone();
        future_into_py(py, async move {
            Ok(PyMovement::from(router.release(id).await?))
        })
    }

    /// Adds credits to an org (`kind`: purchase, bonus, refund, adjustment).
    #[pyo3(signature = (org_id, amount, kind = "purchase", idempotency_key = None))]
    fn grant_credits<'py>(
        &self,
        py: Python<'py>,
        org_id: &str,
        amount: f64,
        kind: &str,
        idempotency_key: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let org = guard(|| org(org_id))?;
        let kind = kind.to_owned();
        let router = self.inner.clone();
        future_into_py(py, async move {
            let moved = router
                .grant_credits(org, amount, &kind, idempotency_key.as_deref())
                .await?;
            Ok(PyMovement::from(moved))
        })
    }

    /// Adds or changes one matrix row (validated with the whole matrix first).
    #[pyo3(signature = (feature, tier, provider, model_id, *, fallback_order = None, org_id = None,
                        context_window = 128_000, max_tokens = 4096, credit_cost = 0.0,
                        input_cost_per_mtok = None, output_cost_per_mtok = None))]
    #[allow(clippy::too_many_arguments)]
    fn set_model<'py>(
        &self,
        py: Python<'py>,
        feature: &str,
        tier: &str,
        provider: String,
        model_id: String,
        fallback_order: Option<u32>,
        org_id: Option<&str>,
        context_window: u32,
        max_tokens: u32,
        credit_cost: f64,
        input_cost_per_mtok: Option<f64>,
        output_cost_per_mtok: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let row = guard(|| {
            Ok(ModelEntry {
                scope: parse_uuid("org_id", org_id)?.map_or(Scope::Platform, Scope::Org),
                feature: feature.parse()?,
                tier: tier.parse()?,
                provider: provider.into(),
                model_id: model_id.into(),
                role: fallback_order.map_or(Role::Primary, Role::Fallback),
                context_window,
                max_tokens,
                pricing: Pricing {
                    per_request: credit_cost,
                    input_per_mtok: input_cost_per_mtok,
                    output_per_mtok: output_cost_per_mtok,
                },
            })
        })?;
        let router = self.inner.clone();
        future_into_py(py, async move { router.set_model(row).await })
    }

    /// Sets the tier `org_id` uses for `feature` when a request names none.
    fn set_org_tier<'py>(
        &self,
        py: Python<'py>,
        org_id: &str,
        feature: &str,
        tier: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, feature, tier) = guard(|| Ok((org(org_id)?, feature.parse()?, tier.parse()?)))?;
        let router = self.inner.clone();
        future_into_py(
            py,
            async move { router.set_org_tier(org, feature, tier).await },
        )
    }

    /// Re-reads the matrix now.
    fn reload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let router = self.inner.clone();
        future_into_py(py, async move { router.reload().await })
    }

    /// The breakers this process sees as not closed: (provider, model_id, state) tuples.
    fn open_breakers(&self) -> Vec<(String, String, &'static str)> {
        self.inner
            .open_breakers()
            .into_iter()
            .map(|b| (b.provider, b.model_id, b.row.state.as_str()))
            .collect()
    }
}

fn reservation(raw: &str) -> keel::Result<Uuid> {
    require_uuid("reservation_id", raw)
}

/// Router options from `Keel.model_router`'s keyword arguments.
#[allow(clippy::too_many_arguments)]
pub fn router_options(
    staleness: f64,
    matrix_ttl: f64,
    default_tier: &str,
    seed_defaults: bool,
    failure_threshold: u32,
    provider_failure_threshold: u32,
    window: f64,
    cooldown: f64,
    max_cooldown: f64,
    probe_timeout: f64,
) -> PyResult<models::RouterOptions> {
    guard(|| {
        Ok(models::RouterOptions {
            breaker: BreakerConfig {
                failure_threshold,
                provider_failure_threshold,
                window: seconds("window", window)?,
                cooldown: seconds("cooldown", cooldown)?,
                max_cooldown: seconds("max_cooldown", max_cooldown)?,
                probe_timeout: seconds("probe_timeout", probe_timeout)?,
            },
            staleness: seconds("staleness", staleness)?,
            matrix_ttl: seconds("matrix_ttl", matrix_ttl)?,
            default_tier: default_tier.parse()?,
            seed_defaults,
        })
    })
}

/// Opens a router on `keel` (the awaitable behind `Keel.model_router`).
pub fn open_router<'py>(
    py: Python<'py>,
    keel: keel::Keel,
    options: models::RouterOptions,
) -> PyResult<Bound<'py, PyAny>> {
    future_into_py(py, async move {
        let inner = models::ModelRouter::open(&keel, options).await?;
        Ok(PyModelRouter { inner })
    })
}

/// A fleet agent's per-run budget (the original `checkAgentBudget`).
#[pyfunction]
pub fn check_agent_budget(agent_name: &str, used: f64) -> PyAgentBudget {
    let b = models::check_agent_budget(agent_name, used);
    PyAgentBudget {
        exceeded: b.exceeded,
        limit: b.limit,
        used: b.used,
    }
}

/// The per-run budgets by agent name (the original `FLEET_AGENT_BUDGETS`, with `default`).
pub fn fleet_agent_budgets(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let budgets = PyDict::new(py);
    for (name, limit) in models::FLEET_AGENT_BUDGETS {
        budgets.set_item(name, limit)?;
    }
    budgets.set_item("default", models::DEFAULT_AGENT_BUDGET)?;
    Ok(budgets)
}
