//! `Keel.modelRouter`, `ModelRouter`, and the original module functions `resolveModel`,
//! `recordSuccess`, `recordFailure`, `checkBudget`, `deductCredits`, `checkAgentBudget`
//! (core: `keel::models`), with the router handle passed where the Supabase client was.

use napi::bindgen_prelude::{AsyncBlock, Object, ToNapiValue, Unknown};
use napi::{Env, ValueType, sys};
use napi_derive::napi;

use keel::models::{
    self, BreakerConfig, Charge, FailureKind, ModelEntry, ModelRequest, Pricing, Role, Scope,
    Usage, parse_uuid, require_uuid, seconds,
};

use crate::error::{Arg, Outcome, guard, guard_async, spawn};

/// The model chosen for a request (the original `ModelResolution`, plus `contextWindow` and
/// `tier`).
#[napi(object)]
pub struct ModelResolution {
    pub provider: String,
    pub model_id: String,
    pub credit_cost: f64,
    pub max_tokens: u32,
    pub context_window: u32,
    pub was_fallback: bool,
    pub trace_id: String,
    pub tier: String,
}

impl From<models::Resolution> for ModelResolution {
    fn from(r: models::Resolution) -> Self {
        Self {
            provider: r.provider.to_string(),
            model_id: r.model_id.to_string(),
            credit_cost: r.credit_cost,
            max_tokens: r.max_tokens,
            context_window: r.context_window,
            was_fallback: r.was_fallback,
            trace_id: r.trace_id.to_string(),
            tier: r.tier.as_str().to_owned(),
        }
    }
}

impl ModelResolution {
    fn to_core(&self) -> keel::Result<models::Resolution> {
        Ok(models::Resolution {
            provider: self.provider.as_str().into(),
            model_id: self.model_id.as_str().into(),
            credit_cost: self.credit_cost,
            max_tokens: self.max_tokens,
            context_window: self.context_window,
            was_fallback: self.was_fallback,
            tier: self.tier.parse()?,
            trace_id: parse_uuid("traceId", Some(&self.trace_id))?.unwrap_or_default(),
        })
    }
}

/// A resolution on the hot path: the same object as [`ModelResolution`], made by an object
/// literal in the engine (a cached JavaScript function), which V8 builds from one boilerplate
/// shape, instead of adding eight properties one napi call at a time.
pub struct FastResolution(models::Resolution);

/// Makes the resolution object; compiled once per env.
const RESOLUTION_LITERAL: &std::ffi::CStr = c"(function (provider, modelId, creditCost, maxTokens, contextWindow, wasFallback, traceId, tier) { return { provider, modelId, creditCost, maxTokens, contextWindow, wasFallback, traceId, tier } })";

thread_local! {
    /// The literal's function for one env. Leaked on purpose: it lives as long as the env, and
    /// deleting it at thread exit could outlive it.
    static LITERAL: std::cell::Cell<(sys::napi_env, sys::napi_ref)> =
        const { std::cell::Cell::new((std::ptr::null_mut(), std::ptr::null_mut())) };
}

/// The literal's function of `env`, compiled on first use.
unsafe fn resolution_literal(env: sys::napi_env) -> Option<sys::napi_value> {
    let (cached_env, reference) = LITERAL.get();
    let mut func = std::ptr::null_mut();
    // SAFETY: `env` is the live env of the current call; the reference belongs to it.
    unsafe {
        if cached_env == env
            && sys::napi_get_reference_value(env, reference, &mut func) == sys::Status::napi_ok
            && !func.is_null()
        {
            return Some(func);
        }
        let mut source = std::ptr::null_mut();
        let mut reference = std::ptr::null_mut();
        let made = sys::napi_create_string_utf8(env, RESOLUTION_LITERAL.as_ptr(), -1, &mut source)
            == sys::Status::napi_ok
            && sys::napi_run_script(env, source, &mut func) == sys::Status::napi_ok
            && sys::napi_create_reference(env, func, 1, &mut reference) == sys::Status::napi_ok;
        if !made {
            return None;
        }
        LITERAL.set((env, reference));
        Some(func)
    }
}

impl ToNapiValue for FastResolution {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let r = val.0;
        // SAFETY: `env` is the live env of the current call; every value made here belongs to it.
        unsafe {
            let Some(literal) = resolution_literal(env) else {
                return ModelResolution::to_napi_value(env, r.into());
            };
            let args = [
                <&str>::to_napi_value(env, &r.provider)?,
                <&str>::to_napi_value(env, &r.model_id)?,
                f64::to_napi_value(env, r.credit_cost)?,
                u32::to_napi_value(env, r.max_tokens)?,
                u32::to_napi_value(env, r.context_window)?,
                bool::to_napi_value(env, r.was_fallback)?,
                String::to_napi_value(env, r.trace_id.to_string())?,
                <&str>::to_napi_value(env, r.tier.as_str())?,
            ];
            let mut undefined = std::ptr::null_mut();
            let mut object = std::ptr::null_mut();
            sys::napi_get_undefined(env, &mut undefined);
            if sys::napi_call_function(env, undefined, literal, 8, args.as_ptr(), &mut object)
                != sys::Status::napi_ok
            {
                return Err(napi::Error::new(
                    napi::Status::GenericFailure,
                    "cannot build the resolution object",
                ));
            }
            Ok(object)
        }
    }
}

/// What a caller asks for (the original `ModelRequest`).
#[napi(object)]
pub struct ModelRequestInput {
    pub feature: String,
    pub intelligence_tier: Option<String>,
    pub user_id: Option<String>,
    pub org_id: Option<String>,
    pub trace_id: Option<String>,
}

impl ModelRequestInput {
    fn to_core(&self) -> keel::Result<ModelRequest> {
        ModelRequest::from_parts(
            &self.feature,
            self.intelligence_tier.as_deref(),
            self.org_id.as_deref(),
            self.trace_id.as_deref(),
        )
    }
}

/// An org's balance and whether it may proceed (the original `checkBudget` result).
#[napi(object)]
pub struct BudgetStatus {
    pub remaining: f64,
    /// Spelled as the original returned it.
    #[napi(js_name = "can_proceed")]
    pub can_proceed: bool,
}

/// A ledger movement.
#[napi(object)]
pub struct CreditMovement {
    pub ledger_id: String,
    pub balance_after: f64,
    pub duplicate: bool,
}

impl From<models::Movement> for CreditMovement {
    fn from(m: models::Movement) -> Self {
        Self {
            ledger_id: m.ledger_id.to_string(),
            balance_after: m.balance_after,
            duplicate: m.duplicate,
        }
    }
}

/// Credits held for a call.
#[napi(object)]
pub struct CreditReservation {
    pub id: String,
    pub amount: f64,
    pub balance_after: f64,
    pub duplicate: bool,
}

/// A fleet agent's per-run budget check (the original `checkAgentBudget` result).
#[napi(object)]
pub struct AgentBudget {
    pub exceeded: bool,
    pub limit: f64,
    pub used: f64,
}

/// Options of `Keel.modelRouter`; durations in seconds.
#[napi(object)]
#[derive(Default)]
pub struct RouterOptions {
    pub staleness: Option<f64>,
    pub matrix_ttl: Option<f64>,
    pub default_tier: Option<String>,
    pub seed_defaults: Option<bool>,
    pub failure_threshold: Option<u32>,
    pub provider_failure_threshold: Option<u32>,
    pub window: Option<f64>,
    pub cooldown: Option<f64>,
    pub max_cooldown: Option<f64>,
    pub probe_timeout: Option<f64>,
}

impl RouterOptions {
    fn into_core(self) -> keel::Result<models::RouterOptions> {
        let d = models::RouterOptions::default();
        let secs = |field: &str, value: Option<f64>, default: std::time::Duration| match value {
            Some(v) => seconds(field, v),
            None => Ok(default),
        };
        Ok(models::RouterOptions {
            breaker: BreakerConfig {
                failure_threshold: self
                    .failure_threshold
                    .unwrap_or(d.breaker.failure_threshold),
                provider_failure_threshold: self
                    .provider_failure_threshold
                    .unwrap_or(d.breaker.provider_failure_threshold),
                window: secs("window", self.window, d.breaker.window)?,
                cooldown: secs("cooldown", self.cooldown, d.breaker.cooldown)?,
                max_cooldown: secs("maxCooldown", self.max_cooldown, d.breaker.max_cooldown)?,
                probe_timeout: secs("probeTimeout", self.probe_timeout, d.breaker.probe_timeout)?,
            },
            staleness: secs("staleness", self.staleness, d.staleness)?,
            matrix_ttl: secs("matrixTtl", self.matrix_ttl, d.matrix_ttl)?,
            default_tier: match self.default_tier {
                Some(t) => t.parse()?,
                None => d.default_tier,
            },
            seed_defaults: self.seed_defaults.unwrap_or(d.seed_defaults),
        })
    }
}

/// One matrix row for `setModel`. Without `fallbackOrder` the row is the primary.
#[napi(object)]
pub struct ModelRow {
    pub feature: String,
    pub tier: String,
    pub provider: String,
    pub model_id: String,
    pub fallback_order: Option<u32>,
    pub org_id: Option<String>,
    pub context_window: Option<u32>,
    pub max_tokens: Option<u32>,
    pub credit_cost: Option<f64>,
    pub input_cost_per_mtok: Option<f64>,
    pub output_cost_per_mtok: Option<f64>,
}

impl ModelRow {
    fn into_core(self) -> keel::Result<ModelEntry> {
        Ok(ModelEntry {
            scope: parse_uuid("orgId", self.org_id.as_deref())?.map_or(Scope::Platform, Scope::Org),
            feature: self.feature.parse()?,
            tier: self.tier.parse()?,
            provider: self.provider.into(),
            model_id: self.model_id.into(),
            role: self.fallback_order.map_or(Role::Primary, Role::Fallback),
            context_window: self.context_window.unwrap_or(128_000),
            max_tokens: self.max_tokens.unwrap_or(4096),
            pricing: Pricing {
                per_request: self.credit_cost.unwrap_or(0.0),
                input_per_mtok: self.input_cost_per_mtok,
                output_per_mtok: self.output_cost_per_mtok,
            },
        })
    }
}

/// A deduction for `deductCredits`: `amount` as given, or the cost of `resolution`'s model
/// (metered from `inputTokens`/`outputTokens` when it has token prices).
#[napi(object)]
pub struct DeductOptions {
    pub org_id: String,
    pub amount: Option<f64>,
    pub resolution: Option<ModelResolution>,
    pub input_tokens: Option<f64>,
    pub output_tokens: Option<f64>,
    pub user_id: Option<String>,
    pub agent_name: Option<String>,
    pub idempotency_key: Option<String>,
    pub feature: Option<String>,
    pub trace_id: Option<String>,
}

/// The `orgId` argument.
pub(crate) fn org(raw: &str) -> keel::Result<uuid::Uuid> {
    require_uuid("orgId", raw)
}

/// The failure kind of whatever a caller passes as the error: an HTTP status, a kind name, or
/// an object with `status`/`statusCode`/`kind`. Nothing (or anything else) counts as the
/// provider not answering.
fn failure_kind(err: Option<&Unknown<'_>>) -> keel::Result<FailureKind> {
    let Some(err) = err else {
        return Ok(FailureKind::from_status(None));
    };
    match err.get_type() {
        // SAFETY: each cast matches the type just read.
        Ok(ValueType::Number) => {
            let status = unsafe { err.cast::<f64>() }.unwrap_or(0.0);
            Ok(FailureKind::from_status(u16::try_from(status as i64).ok()))
        }
        Ok(ValueType::String) => unsafe { err.cast::<String>() }
            .map_err(|e| keel::Error::invalid_input("kind", e.reason))?
            .parse(),
        Ok(ValueType::Object) => {
            let object: Object<'_> =
                unsafe { err.cast() }.map_err(|e| keel::Error::invalid_input("err", e.reason))?;
            if let Ok(Some(kind)) = object.get::<String>("kind") {
                return kind.parse();
            }
            let status = ["status", "statusCode"]
                .iter()
                .find_map(|name| object.get::<f64>(name).ok().flatten());
            Ok(FailureKind::from_status(
                status.and_then(|s| u16::try_from(s as i64).ok()),
            ))
        }
        _ => Ok(FailureKind::from_status(None)),
    }
}

fn charge(router: &models::ModelRouter, options: DeductOptions) -> keel::Result<Charge> {
    let usage = match (options.input_tokens, options.output_tokens) {
        (None, None) => None,
        (i, o) => Some(Usage::new(i.unwrap_or(0.0), o.unwrap_or(0.0))?),
    };
    let resolution = options
        .resolution
        .as_ref()
        .map(ModelResolution::to_core)
        .transpose()?;
    let amount = match (options.amount, &resolution) {
        (Some(amount), _) => amount,
        (None, Some(r)) => router.call_cost(r, usage),
        (None, None) => {
            return Err(keel::Error::invalid_input(
                "amount",
                "give an amount or a resolution",
            ));
        }
    };
    Ok(Charge {
        org_id: org(&options.org_id)?,
        amount,
        idempotency_key: options.idempotency_key,
        description: resolution.as_ref().map(|r| match &options.agent_name {
            Some(agent) => format!("AI usage: {} via {agent}", r.model_id),
            None => format!("AI usage: {}", r.model_id),
        }),
        feature_key: options.feature,
        model_id: resolution.as_ref().map(|r| r.model_id.to_string()),
        tokens_used: usage.map(|u| (u.input_tokens + u.output_tokens) as i64),
        agent_name: options.agent_name,
        trace_id: parse_uuid("traceId", options.trace_id.as_deref())?
            .or_else(|| resolution.as_ref().map(|r| r.trace_id)),
        created_by: parse_uuid("userId", options.user_id.as_deref())?,
    })
}

/// The model router; make it with `await db.modelRouter()`.
#[napi]
pub struct ModelRouter {
    inner: models::ModelRouter,
}

#[napi]
impl ModelRouter {
    /// Resolves without waiting for anything (probes are claimed in the background). Throws
    /// `code: "no_model_available"` or `"invalid_input"`.
    #[napi(
        ts_args_type = "feature: string, tier?: string | null, orgId?: string | null, traceId?: string | null",
        ts_return_type = "ModelResolution"
    )]
    pub fn resolve(
        &self,
        feature: Arg<String>,
        tier: Option<String>,
        org_id: Option<String>,
        trace_id: Option<String>,
    ) -> Outcome<FastResolution> {
        guard(|| {
            let request = ModelRequest::from_parts(
                &feature.0,
                tier.as_deref(),
                org_id.as_deref(),
                trace_id.as_deref(),
            )?;
            self.inner.resolve_now(&request).map(FastResolution)
        })
    }

    /// Reports a successful call; resolves to what happened to the circuit.
    #[napi(
        ts_args_type = "modelId: string, provider?: string",
        ts_return_type = "Promise<string>"
    )]
    pub async fn record_success(
        &self,
        model_id: String,
        provider: Option<String>,
    ) -> napi::Result<Outcome<&'static str>> {
        let router = self.inner.clone();
        guard_async(async move {
            Ok(router
                .record_model_success(&model_id, provider.as_deref())
                .await
                .as_str())
        })
        .await
    }

    /// Reports a failed call. `err` is an HTTP status, a kind name (`timeout`, `server_error`,
    /// `rate_limited`, `overloaded`, `client_error`, `context_too_long`) or an error object with
    /// `status`; only the provider's faults count.
    #[napi(
        ts_args_type = "modelId: string, err?: unknown, provider?: string",
        ts_return_type = "Promise<string>"
    )]
    pub fn record_failure(
        &self,
        env: Env,
        model_id: Arg<String>,
        err: Option<Unknown<'_>>,
        provider: Option<String>,
    ) -> Outcome<AsyncBlock<Outcome<&'static str>>> {
        // A bad kind rejects the Promise, as every other error of this method does.
        let kind = failure_kind(err.as_ref());
        let router = self.inner.clone();
        let model_id = model_id.0;
        Outcome(spawn(&env, async move {
            Ok(router
                .record_model_failure(&model_id, provider.as_deref(), kind?)
                .await
                .as_str())
        }))
    }

    /// The org's balance and whether it may proceed.
    #[napi(ts_return_type = "Promise<BudgetStatus>")]
    pub async fn check_budget(&self, org_id: String) -> napi::Result<Outcome<BudgetStatus>> {
        let router = self.inner.clone();
        guard_async(async move { budget(&router, &org_id).await }).await
    }

    /// Charges a call; rejects with `code: "budget_exceeded"` below the grace threshold.
    #[napi(ts_return_type = "Promise<CreditMovement>")]
    pub async fn deduct_credits(
        &self,
        options: DeductOptions,
    ) -> napi::Result<Outcome<CreditMovement>> {
        let router = self.inner.clone();
        guard_async(async move {
            let charge = charge(&router, options)?;
            Ok(router.deduct(&charge).await?.into())
        })
        .await
    }

    /// Holds `estimate` credits for a call; commit or release it afterwards.
    #[napi(ts_return_type = "Promise<CreditReservation>")]
    pub async fn reserve_credits(
        &self,
        org_id: String,
        estimate: f64,
        idempotency_key: String,
    ) -> napi::Result<Outcome<CreditReservation>> {
        let router = self.inner.clone();
        guard_async(async move {
            let r = router
                .reserve(org(&org_id)?, estimate, &idempotency_key)
                .await?;
            Ok(CreditReservation {
                id: r.id.to_string(),
                amount: r.amount,
                balance_after: r.balance_after,
                duplicate: r.duplicate,
            })
        })
        .await
    }

    /// Settles a reservation at the actual cost.
    #[napi(ts_return_type = "Promise<CreditMovement>")]
    pub async fn commit_credits(
        &self,
        reservation_id: String,
        actual: f64,
    ) -> napi::Result<Outcome<CreditMovement>> {
        let router = self.inner.clone();
        guard_async(async move {
            Ok(router
                .commit(reservation(&reservation_id)?, actual)
                .await?
                .into())
        })
        .await
    }

    /// Releases a reservation unused.
    #[napi(ts_return_type = "Promise<CreditMovement>")]
    pub async fn release_credits(
        &self,
        reservation_id: String,
    ) -> napi::Result<Outcome<CreditMovement>> {
        let router = self.inner.clone();
        guard_async(async move { Ok(router.release(reservation(&reservation_id)?).await?.into()) })
            .await
    }

    /// Adds credits to an org (`kind`: purchase, bonus, refund, adjustment).
    #[napi(ts_return_type = "Promise<CreditMovement>")]
    pub async fn grant_credits(
        &self,
        org_id: String,
        amount: f64,
        kind: Option<String>,
        idempotency_key: Option<String>,
    ) -> napi::Result<Outcome<CreditMovement>> {
        let router = self.inner.clone();
        guard_async(async move {
            let kind = kind.unwrap_or_else(|| "purchase".into());
            Ok(router
                .grant_credits(org(&org_id)?, amount, &kind, idempotency_key.as_deref())
                .await?
                .into())
        })
        .await
    }

    /// Adds or changes one matrix row, validated with the whole matrix first.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn set_model(&self, row: ModelRow) -> napi::Result<Outcome<()>> {
        let router = self.inner.clone();
        guard_async(async move { router.set_model(row.into_core()?).await }).await
    }

    /// Sets the tier an org uses for a feature when a request names none.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn set_org_tier(
        &self,
        org_id: String,
        feature: String,
        tier: String,
    ) -> napi::Result<Outcome<()>> {
        let router = self.inner.clone();
        guard_async(async move {
            router
                .set_org_tier(org(&org_id)?, feature.parse()?, tier.parse()?)
                .await
        })
        .await
    }

    /// Re-reads the matrix now.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn reload(&self) -> napi::Result<Outcome<()>> {
        let router = self.inner.clone();
        guard_async(async move { router.reload().await }).await
    }
}

fn reservation(raw: &str) -> keel::Result<uuid::Uuid> {
    require_uuid("reservationId", raw)
}

async fn budget(router: &models::ModelRouter, org_id: &str) -> keel::Result<BudgetStatus> {
    let status = router.check_budget(org(org_id)?).await?;
    Ok(BudgetStatus {
        remaining: status.remaining,
        can_proceed: status.can_proceed,
    })
}

/// Opens a router on `keel` (behind `Keel.modelRouter`).
pub async fn open_router(
    keel: keel::Keel,
    options: Option<RouterOptions>,
) -> napi::Result<Outcome<ModelRouter>> {
    guard_async(async move {
        let options = options.unwrap_or_default().into_core()?;
        Ok(ModelRouter {
            inner: models::ModelRouter::open(&keel, options).await?,
        })
    })
    .await
}

/// The original `resolveModel(client, request)`, with the router in place of the client:
/// claims a due probe before answering, and rejects with `code: "no_model_available"`.
#[napi(ts_return_type = "Promise<ModelResolution>")]
pub async fn resolve_model(
    router: &ModelRouter,
    request: ModelRequestInput,
) -> napi::Result<Outcome<ModelResolution>> {
    let router = router.inner.clone();
    guard_async(async move { Ok(router.resolve(&request.to_core()?).await?.into()) }).await
}

/// The original `recordSuccess(client, modelId)`; never rejects.
#[napi(ts_return_type = "Promise<void>")]
pub async fn record_success(router: &ModelRouter, model_id: String) {
    let router = router.inner.clone();
    let _ =
        guard_async(async move { Ok(router.record_model_success(&model_id, None).await) }).await;
}

/// The original `recordFailure(client, modelId)`, plus the error (an HTTP status, a kind, or
/// an error object with `status`) so caller errors do not count; never rejects.
#[napi(
    ts_args_type = "router: ModelRouter, modelId: string, err?: unknown",
    ts_return_type = "Promise<void>"
)]
pub fn record_failure(
    env: Env,
    router: &ModelRouter,
    model_id: String,
    err: Option<Unknown<'_>>,
) -> Outcome<AsyncBlock<Outcome<()>>> {
    // An unreadable error still counts as the provider not answering: this never throws.
    let kind = failure_kind(err.as_ref()).unwrap_or(FailureKind::Timeout);
    let router = router.inner.clone();
    Outcome(spawn(&env, async move {
        router.record_model_failure(&model_id, None, kind).await;
        Ok(())
    }))
}

/// The original `checkBudget(client, userId, orgId)`. Unlike the original it does not fail
/// open: a storage error rejects.
#[napi(ts_return_type = "Promise<BudgetStatus>")]
pub async fn check_budget(
    router: &ModelRouter,
    user_id: Option<String>,
    org_id: String,
) -> napi::Result<Outcome<BudgetStatus>> {
    let _ = user_id;
    let router = router.inner.clone();
    guard_async(async move { budget(&router, &org_id).await }).await
}

/// The original `deductCredits(client, userId, orgId, resolution, actualTokens, agentName?)`:
/// resolves to the balance after the charge. `actualTokens` is a total (charged per request,
/// as the original did) or `{ inputTokens, outputTokens }` (metered when the model has token
/// prices). Rejects with `code: "budget_exceeded"` instead of returning −1.
#[napi(
    ts_args_type = "router: ModelRouter, userId: string | null, orgId: string, resolution: ModelResolution, actualTokens?: number | { inputTokens?: number, outputTokens?: number }, agentName?: string, idempotencyKey?: string",
    ts_return_type = "Promise<number>"
)]
#[allow(clippy::too_many_arguments)]
pub fn deduct_credits(
    env: Env,
    router: &ModelRouter,
    user_id: Option<String>,
    org_id: String,
    resolution: ModelResolution,
    actual_tokens: Option<Unknown<'_>>,
    agent_name: Option<String>,
    idempotency_key: Option<String>,
) -> Outcome<AsyncBlock<Outcome<f64>>> {
    // Bad arguments reject the Promise rather than throw.
    let prepared = guard(|| {
        let (input_tokens, output_tokens, total) = tokens(actual_tokens.as_ref())?;
        let mut charge = charge(
            &router.inner,
            DeductOptions {
                org_id,
                amount: None,
                resolution: Some(resolution),
                input_tokens,
                output_tokens,
                user_id,
                agent_name,
                idempotency_key,
                feature: None,
                trace_id: None,
            },
        )?;
        if let Some(total) = total {
            charge.tokens_used = Some(total as i64);
        }
        Ok(charge)
    });
    let router = router.inner.clone();
    Outcome(spawn(&env, async move {
        Ok(router.deduct(&prepared.0?).await?.balance_after)
    }))
}

/// `(input, output, total)` from a token count or a `{ inputTokens, outputTokens }` object.
fn tokens(value: Option<&Unknown<'_>>) -> keel::Result<(Option<f64>, Option<f64>, Option<f64>)> {
    let Some(value) = value else {
        return Ok((None, None, None));
    };
    match value.get_type() {
        // SAFETY: each cast matches the type just read.
        Ok(ValueType::Number) => {
            let total = unsafe { value.cast::<f64>() }.unwrap_or(f64::NAN);
            Usage::new(total, 0.0).map_err(|_| {
                keel::Error::invalid_input(
                    "actualTokens",
                    format!("must be a finite number ≥ 0, got {total}"),
                )
            })?;
            Ok((None, None, Some(total)))
        }
        Ok(ValueType::Object) => {
            let object: Object<'_> = unsafe { value.cast() }
                .map_err(|e| keel::Error::invalid_input("actualTokens", e.reason))?;
            let get = |name: &str| object.get::<f64>(name).ok().flatten();
            Ok((get("inputTokens"), get("outputTokens"), None))
        }
        Ok(ValueType::Undefined) | Ok(ValueType::Null) => Ok((None, None, None)),
        _ => Err(keel::Error::invalid_input(
            "actualTokens",
            "must be a number or an object",
        )),
    }
}

/// The original `checkAgentBudget(agentName, creditsUsed)`.
#[napi]
pub fn check_agent_budget(agent_name: String, used: f64) -> AgentBudget {
    let b = models::check_agent_budget(&agent_name, used);
    AgentBudget {
        exceeded: b.exceeded,
        limit: b.limit,
        used: b.used,
    }
}

/// The per-run budgets by agent name (the original `FLEET_AGENT_BUDGETS`, with `default`).
#[napi(ts_return_type = "Record<string, number>")]
pub fn fleet_agent_budgets() -> std::collections::HashMap<String, f64> {
    models::FLEET_AGENT_BUDGETS
        .iter()
        .map(|(name, limit)| ((*name).to_owned(), *limit))
        .chain([("default".to_owned(), models::DEFAULT_AGENT_BUDGET)])
        .collect()
}
