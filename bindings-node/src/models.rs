//! `Keel.modelRouter`, `ModelRouter`, and the original module functions `resolveModel`,
//! `recordSuccess`, `recordFailure`, `checkBudget`, `deductCredits`, `checkAgentBudget`
//! (core: `keel::models`), with the router handle passed where the Supabase client was.

use napi::bindgen_prelude::{AsyncBlock, ToNapiValue, Unknown};
use napi::{Env, sys};
use napi_derive::napi;
use serde_json::Value;

use keel::memory::CompactionThreshold;
use keel::models::{self, ChargeRequest, ModelRequest, ModelRow, require_uuid};
use keel::options::Case::Camel;

use crate::error::{Arg, Outcome, Ref, run, spawn};
use crate::json::Json;
use crate::options::{object, options, record, shallow};

/// A resolution on its way to JavaScript, built by [`crate::literal`].
pub struct FastResolution(models::Resolution);

impl ToNapiValue for FastResolution {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY: napi calls this on the JavaScript thread with the live env.
        unsafe { crate::literal::resolution(env, &val.0, None) }
    }
}

/// An org's balance and whether it may proceed, spelt as the original `checkBudget` returned
/// it (`can_proceed`): callers of the original read that key.
#[napi(object)]
pub struct BudgetStatus {
    pub remaining: f64,
    #[napi(js_name = "can_proceed")]
    pub can_proceed: bool,
}

impl From<models::BudgetStatus> for BudgetStatus {
    fn from(b: models::BudgetStatus) -> Self {
        Self {
            remaining: b.remaining,
            can_proceed: b.can_proceed,
        }
    }
}

/// The `orgId` argument.
pub(crate) fn org(raw: &str) -> keel::Result<uuid::Uuid> {
    require_uuid("orgId", raw)
}

fn reservation(raw: &str) -> keel::Result<uuid::Uuid> {
    require_uuid("reservationId", raw)
}

/// The model router; make it with `await db.modelRouter()`.
#[napi]
#[derive(Clone)]
pub struct ModelRouter {
    inner: models::ModelRouter,
}

#[napi]
impl ModelRouter {
    /// A client for model calls through this router (`providers`, `attemptTimeout`,
    /// `deadline`, `maxAttempts`, `credits`, `fallbackOnRefusal`, `transports`: `init.js`
    /// passes the transports' names and functions apart from the options).
    #[napi(ts_args_type = "options?: LlmOptions", ts_return_type = "Llm")]
    pub fn llm(
        &self,
        options: Option<Json>,
        names: Option<Vec<String>>,
        sends: Option<Vec<Option<crate::transport::SendFn>>>,
    ) -> Outcome<crate::llm::Llm> {
        let transports = (names.unwrap_or_default(), sends.unwrap_or_default());
        crate::llm::open(&self.inner, options, transports)
    }

    /// Reports a successful call; resolves to what happened to the circuit.
    #[napi(
        ts_args_type = "modelId: string, provider?: string | null, call?: CallOptions",
        ts_return_type = "Promise<string>"
    )]
    pub async fn record_success(
        &self,
        Arg(model_id): Arg<String>,
        provider: Option<Arg<String>>,
    ) -> napi::Result<Outcome<&'static str>> {
        let provider = provider.map(|v| v.0);
        run!(self.inner, |r| Ok(r
            .record_model_success(&model_id, provider.as_deref())
            .await
            .as_str()))
    }

    /// Reports a failed call. `err` is an HTTP status, a kind name (`timeout`, `server_error`,
    /// `rate_limited`, `overloaded`, `client_error`, `context_too_long`) or an error object with
    /// `kind`, `status` or `statusCode`; only the provider's faults count.
    #[napi(
        ts_args_type = "modelId: string, err?: unknown, provider?: string, call?: CallOptions",
        ts_return_type = "Promise<string>"
    )]
    pub fn record_failure(
        &self,
        env: Env,
        model_id: Arg<String>,
        err: Option<Unknown<'_>>,
        provider: Option<Arg<String>>,
    ) -> Outcome<AsyncBlock<Outcome<&'static str>>> {
        let provider = provider.map(|v| v.0);
        let report = shallow(err.as_ref());
        let (r, model_id) = (self.inner.clone(), model_id.0);
        Outcome(spawn(&env, async move {
            let t = r.record_failure_report(&model_id, provider.as_deref(), Some(&report));
            Ok(t.await?.as_str())
        }))
    }

    /// The org's balance and whether it may proceed.
    #[napi(
        ts_args_type = "orgId: string, call?: CallOptions",
        ts_return_type = "Promise<BudgetStatus>"
    )]
    pub async fn check_budget(
        &self,
        Arg(org_id): Arg<String>,
    ) -> napi::Result<Outcome<BudgetStatus>> {
        run!(self.inner, |r| Ok(r
            .check_budget(org(&org_id)?)
            .await?
            .into()))
    }

    /// Charges a call: `amount` as given, or the cost of `resolution`'s model (metered from
    /// `inputTokens`/`outputTokens` when it has token prices). Rejects with
    /// `code: "budget_exceeded"` below the grace threshold.
    #[napi(
        ts_args_type = "options: DeductOptions, call?: CallOptions",
        ts_return_type = "Promise<CreditMovement>"
    )]
    pub async fn deduct_credits(&self, options: Json) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |r| {
            let charge = r.charge_for(self::options(Some(options), "")?)?;
            Ok(record(&r.deduct(&charge).await?))
        })
    }

    /// Holds `estimate` credits for a call; commit or release it afterwards.
    #[napi(
        ts_args_type = "orgId: string, estimate: number, idempotencyKey: string, call?: CallOptions",
        ts_return_type = "Promise<CreditReservation>"
    )]
    pub async fn reserve_credits(
        &self,
        Arg(org_id): Arg<String>,
        Arg(estimate): Arg<f64>,
        Arg(idempotency_key): Arg<String>,
    ) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |r| Ok(record(
            &r.reserve(org(&org_id)?, estimate, &idempotency_key).await?
        )))
    }

    /// Settles a reservation at the actual cost.
    #[napi(
        ts_args_type = "reservationId: string, actual: number, call?: CallOptions",
        ts_return_type = "Promise<CreditMovement>"
    )]
    pub async fn commit_credits(
        &self,
        Arg(reservation_id): Arg<String>,
        Arg(actual): Arg<f64>,
    ) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |r| Ok(record(
            &r.commit(reservation(&reservation_id)?, actual).await?
        )))
    }

    /// Releases a reservation unused.
    #[napi(
        ts_args_type = "reservationId: string, call?: CallOptions",
        ts_return_type = "Promise<CreditMovement>"
    )]
    pub async fn release_credits(
        &self,
        Arg(reservation_id): Arg<String>,
    ) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |r| Ok(record(
            &r.release(reservation(&reservation_id)?).await?
        )))
    }

    /// Adds credits to an org (`kind`: purchase (default), bonus, refund, adjustment).
    #[napi(
        ts_args_type = "orgId: string, amount: number, kind?: string | null, idempotencyKey?: string | null, call?: CallOptions",
        ts_return_type = "Promise<CreditMovement>"
    )]
    pub async fn grant_credits(
        &self,
        Arg(org_id): Arg<String>,
        Arg(amount): Arg<f64>,
        kind: Option<Arg<String>>,
        idempotency_key: Option<Arg<String>>,
    ) -> napi::Result<Outcome<Value>> {
        let kind = kind.map(|v| v.0);
        let idempotency_key = idempotency_key.map(|v| v.0);
        run!(self.inner, |r| {
            let org = org(&org_id)?;
            let kind = kind.as_deref().unwrap_or(models::DEFAULT_GRANT_KIND);
            let moved = r.grant_credits(org, amount, kind, idempotency_key.as_deref());
            Ok(record(&moved.await?))
        })
    }

    /// Adds or changes one matrix row, validated with the whole matrix first.
    #[napi(
        ts_args_type = "row: ModelRow, call?: CallOptions",
        ts_return_type = "Promise<void>"
    )]
    pub async fn set_model(&self, row: Json) -> napi::Result<Outcome<()>> {
        run!(self.inner, |r| {
            let row: ModelRow = options(Some(row), "")?;
            r.set_model(row.into()).await
        })
    }

    /// Sets the tier an org uses for a feature when a request names none.
    #[napi(
        ts_args_type = "orgId: string, feature: string, tier: string, call?: CallOptions",
        ts_return_type = "Promise<void>"
    )]
    pub async fn set_org_tier(
        &self,
        Arg(org_id): Arg<String>,
        Arg(feature): Arg<String>,
        Arg(tier): Arg<String>,
    ) -> napi::Result<Outcome<()>> {
        run!(self.inner, |r| {
            r.set_org_tier(org(&org_id)?, feature.parse()?, tier.parse()?)
                .await
        })
    }

    /// Re-reads the matrix now.
    #[napi(ts_args_type = "call?: CallOptions", ts_return_type = "Promise<void>")]
    pub async fn reload(&self) -> napi::Result<Outcome<()>> {
        run!(self.inner, |r| r.reload().await)
    }

    /// When a conversation must be compacted for `model` (any spelling of an id the matrix
    /// knows: dated, versioned, prefixed), with `systemPromptTokens`, `outputTokens`,
    /// `toolsTokens` and `ratio` reserved (defaults in `keel::memory`).
    #[napi(
        ts_args_type = "model: string, options?: ThresholdOptions | null",
        ts_return_type = "CompactionThreshold"
    )]
    pub fn compaction_threshold(
        &self,
        Arg(model): Arg<String>,
        options: Option<Json>,
    ) -> Outcome<Value> {
        crate::error::guard(|| {
            let options = options.map(|o| o.0);
            let found =
                CompactionThreshold::of_value(&self.inner, &model, options, Camel, "options");
            Ok(record(&found?))
        })
    }

    /// The circuits that are not closed, as this instance last read them (no I/O).
    #[napi(ts_return_type = "OpenBreaker[]")]
    pub fn open_breakers(&self) -> Vec<Value> {
        self.inner
            .open_breakers()
            .into_iter()
            .map(|b| {
                let state = b.row.state.as_str().into();
                object([
                    ("provider", b.provider.into()),
                    ("modelId", b.model_id.into()),
                    ("state", state),
                ])
            })
            .collect()
    }
}

/// Opens a router on `keel` (behind `Keel.modelRouter`).
pub async fn open_router(
    keel: keel::Keel,
    options: Option<Json>,
) -> napi::Result<Outcome<NewRouter>> {
    run!(keel, |keel| {
        let options = self::options(options, "options")?;
        let inner = models::ModelRouter::open(&keel, options).await?;
        Ok(NewRouter(ModelRouter { inner }))
    })
}

/// A router on its way to JavaScript, given its fast `resolve` ([`crate::fast`]).
pub struct NewRouter(ModelRouter);

impl ToNapiValue for NewRouter {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let core = val.0.inner.clone();
        // SAFETY: napi calls this on the JavaScript thread with the live env.
        unsafe { crate::fast::router(env, ModelRouter::to_napi_value(env, val.0)?, core) }
    }
}

/// The original `resolveModel(client, request)`, with the router in place of the client:
/// claims a due probe before answering, and rejects with `code: "no_model_available"`.
#[napi(
    ts_args_type = "router: ModelRouter, request: ModelRequest, call?: CallOptions",
    ts_return_type = "Promise<ModelResolution>"
)]
pub async fn resolve_model(
    Ref(router): Ref<ModelRouter>,
    request: Json,
) -> napi::Result<Outcome<FastResolution>> {
    run!(router.inner, |r| {
        let request: ModelRequest = options(Some(request), "request")?;
        Ok(FastResolution(r.resolve(&request).await?))
    })
}

/// The original `recordSuccess(client, modelId)`; never rejects.
#[napi(ts_args_type = "router: ModelRouter, modelId: string")]
pub async fn record_success(Ref(router): Ref<ModelRouter>, Arg(model_id): Arg<String>) {
    let r = router.inner.clone();
    let _ =
        crate::error::guard_async(async move { Ok(r.record_model_success(&model_id, None).await) })
            .await;
}

/// The original `recordFailure(client, modelId)`, plus the error (an HTTP status, a kind, or
/// an error object with `status`) so caller errors do not count. Never rejects, as the
/// original did: a report core cannot read is not counted.
#[napi(
    ts_args_type = "router: ModelRouter, modelId: string, err?: unknown, call?: CallOptions",
    ts_return_type = "Promise<void>"
)]
pub fn record_failure(
    env: Env,
    Ref(router): Ref<ModelRouter>,
    Arg(model_id): Arg<String>,
    err: Option<Unknown<'_>>,
) -> Outcome<AsyncBlock<Outcome<()>>> {
    let report = shallow(err.as_ref());
    let r = router.inner.clone();
    Outcome(spawn(&env, async move {
        let _ = r
            .record_failure_report(&model_id, None, Some(&report))
            .await;
        Ok(())
    }))
}

/// The original `checkBudget(client, userId, orgId)`. Unlike the original it does not fail
/// open: a storage error rejects.
#[napi(
    ts_args_type = "router: ModelRouter, userId: string | null | undefined, orgId: string, call?: CallOptions",
    ts_return_type = "Promise<BudgetStatus>"
)]
pub async fn check_budget(
    Ref(router): Ref<ModelRouter>,
    user_id: Option<Arg<String>>,
    Arg(org_id): Arg<String>,
) -> napi::Result<Outcome<BudgetStatus>> {
    let user_id = user_id.map(|v| v.0);
    let _ = user_id;
    run!(router.inner, |r| Ok(r
        .check_budget(org(&org_id)?)
        .await?
        .into()))
}

/// The original `deductCredits(client, userId, orgId, resolution, actualTokens, agentName?)`:
/// resolves to the balance after the charge. `actualTokens` is a total (charged per request,
/// as the original did) or `{ inputTokens, outputTokens }` (metered when the model has token
/// prices). Rejects with `code: "budget_exceeded"` instead of returning −1.
#[napi(
    ts_args_type = "router: ModelRouter, userId: string | null, orgId: string, resolution: ModelResolution, actualTokens?: number | { inputTokens?: number, outputTokens?: number }, agentName?: string, idempotencyKey?: string, call?: CallOptions",
    ts_return_type = "Promise<number>"
)]
#[allow(clippy::too_many_arguments)] // the original's positional shape
pub async fn deduct_credits(
    Ref(router): Ref<ModelRouter>,
    user_id: Option<Arg<String>>,
    org_id: Arg<String>,
    resolution: Json,
    actual_tokens: Option<Json>,
    agent_name: Option<Arg<String>>,
    idempotency_key: Option<Arg<String>>,
) -> napi::Result<Outcome<f64>> {
    let (agent_name, idempotency_key) = (agent_name.map(|a| a.0), idempotency_key.map(|k| k.0));
    let request = object([
        ("userId", user_id.map(|u| u.0).into()),
        ("orgId", org_id.0.into()),
        ("resolution", resolution.0),
        ("actualTokens", actual_tokens.map_or(Value::Null, |t| t.0)),
        ("agentName", agent_name.into()),
        ("idempotencyKey", idempotency_key.into()),
    ]);
    run!(router.inner, |r| {
        let charge = r.charge_for(options::<ChargeRequest>(Some(Json(request)), "")?)?;
        Ok(r.deduct(&charge).await?.balance_after)
    })
}

/// The original `checkAgentBudget(agentName, creditsUsed)`.
#[napi(
    ts_args_type = "agentName: string, used: number",
    ts_return_type = "AgentBudget"
)]
pub fn check_agent_budget(Arg(agent_name): Arg<String>, Arg(used): Arg<f64>) -> Value {
    record(&models::check_agent_budget(&agent_name, used))
}

/// The per-run budgets by agent name (the original `FLEET_AGENT_BUDGETS`, with `default`).
#[napi(ts_return_type = "Record<string, number>")]
pub fn fleet_agent_budgets() -> std::collections::HashMap<&'static str, f64> {
    models::fleet_agent_budgets().into_iter().collect()
}
