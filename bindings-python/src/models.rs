//! `Keel.model_router`, `ModelRouter` and `check_agent_budget` (core: `keel::models`).
//!
//! Resolution is synchronous (it never waits: probes are claimed in the background); breaker
//! reports, credits and matrix changes return awaitables. Keyword arguments go to core as they
//! are: defaults and checks live in `keel::models`.

use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyDict};
use serde_json::Value;
use uuid::Uuid;

use keel::models::{self, ChargeRequest, FailureKind, ModelRequest, ModelRow, require_uuid};

use crate::error::Arg;
use crate::record::{options, options_with, record};
use crate::runtime::{awaitable, guard};

record! {
    /// The model chosen for a request (the original `ModelResolution`).
    PyModelResolution(models::Resolution) as "ModelResolution" {
        provider: String => "The provider to call (`anthropic`, `google`, …).",
        model_id: String => "The provider's model id, e.g. `claude-sonnet-4-6`.",
        credit_cost: f64 => "Credits one request costs at the model's per-request price.",
        max_tokens: u32 => "Most tokens a reply may have.",
        context_window: u32 => "Tokens the model accepts.",
        was_fallback: bool => "True when a fallback was served because the primary's circuit is open.",
        trace_id: String => "The request's trace id (32 hex digits).",
    } {
        /// The tier asked for: `low`, `medium` or `high`.
        #[getter]
        fn tier(&self) -> &'static str {
            self.0.tier.as_str()
        }
    }
}

record! {
    /// The balance of an org and whether it may proceed (the original `checkBudget` result).
    PyBudgetStatus(models::BudgetStatus) as "BudgetStatus" {
        remaining: f64 => "The balance in credits (negative inside the grace).",
        can_proceed: bool => "False once the balance is at or below minus the grace.",
    }
}

record! {
    /// A ledger movement.
    PyMovement(models::Movement) as "CreditMovement" {
        ledger_id: String => "The ledger row written (or found, for a repeated idempotency key).",
        balance_after: f64 => "The balance after this movement.",
        duplicate: bool => "True when the idempotency key had already moved credits: nothing moved now.",
    }
}

record! {
    /// Credits held for a call.
    PyReservation(models::Reservation) as "CreditReservation" {
        id: String => "The reservation, for `commit_credits` or `release_credits`.",
        amount: f64 => "Credits held.",
        balance_after: f64 => "The balance with the credits held.",
        duplicate: bool => "True when the idempotency key had already reserved: nothing moved now.",
    }
}

record! {
    /// A fleet agent's per-run budget check.
    PyAgentBudget(models::AgentBudget) as "AgentBudget" {
        exceeded: bool => "True once `used` reaches `limit`.",
        limit: f64 => "The agent's per-run limit in credits (`default` for an unknown agent).",
        used: f64 => "Credits used so far in the run.",
    }
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

fn reservation(raw: &str) -> keel::Result<Uuid> {
    require_uuid("reservation_id", raw)
}

#[pymethods]
impl PyModelRouter {
    /// Resolves a request without waiting; raises `NoModelAvailableError` or
    /// `InvalidInputError`.
    #[pyo3(signature = (feature, tier = None, org_id = None, trace_id = None, *, user_id = None))]
    fn resolve_model(
        &self,
        feature: Arg<&str>,
        tier: Option<Arg<&str>>,
        org_id: Option<Arg<&str>>,
        trace_id: Option<Arg<&str>>,
        user_id: Option<Arg<&str>>,
    ) -> PyResult<PyModelResolution> {
        let _ = Arg::opt(user_id);
        guard(|| {
            let request = ModelRequest::from_parts(
                feature.0,
                Arg::opt(tier),
                Arg::opt(org_id),
                Arg::opt(trace_id),
            )?;
            self.inner.resolve_now(&request).map(Into::into)
        })
    }

    /// Reports a successful call; returns what happened to the circuit. Never raises.
    #[pyo3(signature = (model_id, provider = None))]
    fn record_success<'py>(
        &self,
        py: Python<'py>,
        model_id: Arg<String>,
        provider: Option<Arg<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |r| Ok(r
            .record_model_success(&model_id.0, Arg::opt_str(&provider))
            .await
            .as_str()))
    }

    /// Reports a failed call: `kind` (timeout, server_error, rate_limited, overloaded,
    /// client_error, context_too_long) or an HTTP `status`. Only the provider's faults count.
    #[pyo3(signature = (model_id, provider = None, *, kind = None, status = None))]
    fn record_failure<'py>(
        &self,
        py: Python<'py>,
        model_id: Arg<String>,
        provider: Option<Arg<String>>,
        kind: Option<Arg<String>>,
        status: Option<Arg<f64>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind = guard(|| FailureKind::from_parts(Arg::opt_str(&kind), Arg::opt(status)))?;
        awaitable!(py, self.inner, |r| {
            let t = r.record_failure_kind(&model_id.0, Arg::opt_str(&provider), kind);
            Ok(t.await?.as_str())
        })
    }

    /// The org's balance and whether it may proceed.
    fn check_budget<'py>(&self, py: Python<'py>, org_id: Arg<&str>) -> PyResult<Bound<'py, PyAny>> {
        let org = guard(|| org(org_id.0))?;
        awaitable!(py, self.inner, |r| Ok(PyBudgetStatus(
            r.check_budget(org).await?
        )))
    }

    /// Charges a call: `amount` as given, or the cost of `resolution`'s model (metered from
    /// the token counts when it has token prices). Raises `BudgetExceededError` below the grace.
    #[pyo3(signature = (org_id, amount = None, *, resolution = None, **charge))]
    fn deduct_credits<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<&str>,
        amount: Option<Arg<f64>>,
        resolution: Option<Arg<PyRef<'py, PyModelResolution>>>,
        charge: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let charge = guard(|| {
            let fields = [
                ("org_id", org_id.0.into()),
                ("amount", Arg::opt(amount).into()),
            ];
            let mut request: ChargeRequest = options_with(charge, fields)?;
            request.resolution = Arg::opt(resolution).map(|r| r.0.clone());
            self.inner.charge_for(request)
        })?;
        awaitable!(py, self.inner, |r| Ok(PyMovement(r.deduct(&charge).await?)))
    }

    /// Holds `estimate` credits for a call; `commit_credits` or `release_credits` it after.
    fn reserve_credits<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<&str>,
        estimate: Arg<f64>,
        idempotency_key: Arg<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let org = guard(|| org(org_id.0))?;
        awaitable!(py, self.inner, |r| Ok(PyReservation(
            r.reserve(org, estimate.0, &idempotency_key.0).await?
        )))
    }

    /// Settles a reservation at the actual cost.
    fn commit_credits<'py>(
        &self,
        py: Python<'py>,
        reservation_id: Arg<&str>,
        actual: Arg<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = guard(|| reservation(reservation_id.0))?;
        awaitable!(py, self.inner, |r| Ok(PyMovement(
            r.commit(id, actual.0).await?
        )))
    }

    /// Releases a reservation unused.
    fn release_credits<'py>(
        &self,
        py: Python<'py>,
        reservation_id: Arg<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = guard(|| reservation(reservation_id.0))?;
        awaitable!(py, self.inner, |r| Ok(PyMovement(r.release(id).await?)))
    }

    /// Adds credits to an org (`kind`: purchase (default), bonus, refund, adjustment).
    #[pyo3(signature = (org_id, amount, kind = None, idempotency_key = None))]
    fn grant_credits<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<&str>,
        amount: Arg<f64>,
        kind: Option<Arg<String>>,
        idempotency_key: Option<Arg<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let org = guard(|| org(org_id.0))?;
        awaitable!(py, self.inner, |r| {
            let kind = kind.map_or(models::DEFAULT_GRANT_KIND.to_owned(), |k| k.0);
            let moved = r.grant_credits(org, amount.0, &kind, Arg::opt_str(&idempotency_key));
            Ok(PyMovement(moved.await?))
        })
    }

    /// Adds or changes one matrix row (validated with the whole matrix first).
    #[pyo3(signature = (feature, tier, provider, model_id, **row))]
    fn set_model<'py>(
        &self,
        py: Python<'py>,
        feature: Arg<&str>,
        tier: Arg<&str>,
        provider: Arg<&str>,
        model_id: Arg<&str>,
        row: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let [feature, tier, provider, model_id] =
            [feature.0, tier.0, provider.0, model_id.0].map(Value::from);
        let named = [
            ("feature", feature),
            ("tier", tier),
            ("provider", provider),
            ("model_id", model_id),
        ];
        let row: ModelRow = guard(|| options_with(row, named))?;
        awaitable!(py, self.inner, |r| r.set_model(row.into()).await)
    }

    /// Sets the tier `org_id` uses for `feature` when a request names none.
    fn set_org_tier<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<&str>,
        feature: Arg<&str>,
        tier: Arg<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, feature, tier) =
            guard(|| Ok((org(org_id.0)?, feature.0.parse()?, tier.0.parse()?)))?;
        awaitable!(py, self.inner, |r| r.set_org_tier(org, feature, tier).await)
    }

    /// Re-reads the matrix now.
    fn reload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |r| r.reload().await)
    }

    /// A client for model calls through this router (`providers`, `attempt_timeout`,
    /// `deadline`, `max_attempts`, `credits`, `fallback_on_refusal`).
    #[pyo3(signature = (**options))]
    fn llm(&self, options: Option<&Bound<'_, PyDict>>) -> PyResult<crate::llm::PyLlm> {
        crate::llm::open_llm(&self.inner, options)
    }

    /// When a conversation must be compacted for `model` (any spelling of an id the matrix
    /// knows: dated, versioned, prefixed): `{"model_id", "canonical_id", "context_window",
    /// "reserved_tokens", "threshold"}`. Keywords: `system_prompt_tokens`, `output_tokens`,
    /// `tools_tokens`, `ratio` (defaults in `keel::memory`).
    #[pyo3(signature = (model, **options))]
    fn compaction_threshold(
        &self,
        model: Arg<&str>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<crate::json::Json> {
        let options = crate::json::kwargs(options);
        guard(|| {
            Ok(crate::json::Json::of(
                &keel::memory::CompactionThreshold::of_value(
                    &self.inner,
                    model.0,
                    options,
                    keel::options::Case::Snake,
                    "",
                )?,
            ))
        })
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

/// Opens a router on `keel` (the awaitable behind `Keel.model_router`).
pub fn open_router<'py>(
    py: Python<'py>,
    keel: &keel::Keel,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let options: models::RouterOptions = guard(|| options(kwargs))?;
    awaitable!(py, keel, |keel| Ok(PyModelRouter {
        inner: models::ModelRouter::open(&keel, options).await?,
    }))
}

/// A fleet agent's per-run budget (the original `checkAgentBudget`).
#[pyfunction]
pub fn check_agent_budget(agent_name: Arg<&str>, used: Arg<f64>) -> PyAgentBudget {
    PyAgentBudget(models::check_agent_budget(agent_name.0, used.0))
}

/// Adds this module's classes and functions to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModelRouter>()?;
    m.add_class::<PyModelResolution>()?;
    m.add_class::<PyBudgetStatus>()?;
    m.add_class::<PyMovement>()?;
    m.add_class::<PyReservation>()?;
    m.add_class::<PyAgentBudget>()?;
    m.add_function(wrap_pyfunction!(check_agent_budget, m)?)?;
    m.add(
        "FLEET_AGENT_BUDGETS",
        models::fleet_agent_budgets().into_py_dict(m.py())?,
    )
}
