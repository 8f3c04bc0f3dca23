//! `SkillRegistry.messageRouter` and `MessageRouter` (core: `keel::routing`). Decisions,
//! log rows and evaluations are plain objects with camelCase keys (`types.d.ts`).

use napi::bindgen_prelude::{ClassInstance, ToNapiValue};
use napi::{Env, sys};
use napi_derive::napi;
use serde_json::Value;

use keel::options::Case;
use keel::routing::{self, LogQuery, RouteRequest, Routed};

use crate::error::{Answer, Arg, Outcome, guard, run, spawn};
use crate::json::{Json, Text};
use crate::llm::Llm;
use crate::options::{options, record};
use crate::shared::Shared;
use crate::transport::{SendFn, task_model};

/// A routing decision. Its fields (`route`, `skillKey`, `confidence`, …) are getters that
/// convert the one field read (installed by `init.js` over `_field`); `toJSON()` gives them all.
/// A cache hit answers with an object whose prototype is the cached decision's
/// `RouteDecision` (see [`Decided`]), so `instanceof RouteDecision` holds and the getters read
/// through it.
#[napi]
pub struct RouteDecision {
    inner: routing::Routed,
}

#[napi]
impl RouteDecision {
    /// One field by its camelCase name (what the getters call).
    #[napi(js_name = "_field", skip_typescript)]
    pub fn field(&self, name: Text) -> Value {
        self.inner
            .field(name.as_str(), Case::Camel)
            .unwrap_or(Value::Null)
    }

    /// The field names, camelCase (for `init.js`).
    #[napi(js_name = "_fields", skip_typescript)]
    pub fn fields() -> Vec<String> {
        routing::Routed::FIELDS
            .iter()
            .map(|f| Case::Camel.spell(f))
            .collect()
    }

    /// Every field as a plain object (what `JSON.stringify` writes).
    #[napi(js_name = "toJSON", ts_return_type = "RouteDecisionFields")]
    pub fn to_json(&self) -> Value {
        record(&self.inner)
    }
}

/// Routes messages to an org's skills; make it with `await skills.messageRouter()`.
#[napi]
pub struct MessageRouter {
    inner: routing::MessageRouter,
}

#[napi]
impl MessageRouter {
    /// Routes `message`: the decision (`RouteDecision`, its fields read lazily). When the
    /// org's skills are cached and no model stage runs, the Promise is already resolved.
    #[napi(
        ts_args_type = "message: string, channel: string, orgId: string, userId?: string | null, options?: RouteOptions | null",
        ts_return_type = "Promise<RouteDecision>"
    )]
    pub fn route(
        &self,
        env: Env,
        message: Text,
        channel: Text,
        org_id: Text,
        user_id: Option<Text>,
        options: Option<Json>,
    ) -> Outcome<Answer<Decided>> {
        let request = request(message, channel, org_id, user_id, options);
        if let Ok(request) = &request
            && let Some(Ok(routed)) = self.inner.try_route(request)
        {
            return Outcome(Ok(Answer::Ready(Decided(routed))));
        }
        let router = self.inner.clone();
        // Bad arguments reject the Promise, as every other error of this method does.
        Outcome(
            spawn(
                &env,
                async move { Ok(Decided(router.route(&request?).await?)) },
            )
            .map(Answer::Later),
        )
    }

    /// Evaluates a labelled `.jsonl` text for `orgId`: accuracy, per-label precision and
    /// recall, confusion pairs, out-of-scope false accepts, stages, latency.
    #[napi(
        ts_args_type = "labelled: string, orgId: string, options?: { allowLlm?: boolean } | null",
        ts_return_type = "Promise<RouteEvaluation>"
    )]
    pub async fn evaluate(
        &self,
        Arg(labelled): Arg<String>,
        Arg(org_id): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |r| {
            let EvaluateOptions { allow_llm } = self::options(options, "options")?;
            Ok(record(
                &routing::evaluate_jsonl(&r, &org_id, &labelled, allow_llm).await?,
            ))
        })
    }

    /// The routing log of `orgId`, newest first: `since` seconds back (default 3,600), at
    /// most `limit` rows (default 100).
    #[napi(
        ts_args_type = "orgId: string, query?: { since?: number, limit?: number } | null",
        ts_return_type = "Promise<RoutingLogRow[]>"
    )]
    pub async fn log(
        &self,
        Arg(org_id): Arg<String>,
        query: Option<Json>,
    ) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |r| {
            let query: LogQuery = self::options(query, "query")?;
            Ok(record(&r.recent_log(&org_id, &query).await?))
        })
    }

    /// Resolves when every decision made so far is in `routing_logs`.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn flush(&self) -> napi::Result<Outcome<()>> {
        run!(self.inner, |r| {
            r.flush().await;
            Ok(())
        })
    }

    /// Counters since the router opened.
    #[napi(ts_return_type = "RouterStats")]
    pub fn stats(&self) -> Value {
        record(&self.inner.stats())
    }

    /// Drops every cached decision and index.
    #[napi]
    pub fn invalidate(&self) {
        self.inner.invalidate();
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct EvaluateOptions {
    allow_llm: bool,
}

/// An `Llm` argument, as napi hands it over.
type LlmArg<'a> = Option<Arg<ClassInstance<'a, Llm>>>;

/// Opens a message router over `registry` (behind `SkillRegistry.messageRouter`): each model
/// stage's `Llm`, else the host's function.
pub fn open_router(
    registry: &keel::skills::SkillRegistry,
    options: Option<Json>,
    (classifier, embedder): (LlmArg<'_>, LlmArg<'_>),
    (classify, embed): (Option<SendFn>, Option<SendFn>),
) -> Outcome<NewRouter> {
    let classifier = task_model(classifier.map(|l| l.0.core().clone()), classify);
    let embedder = task_model(embedder.map(|l| l.0.core().clone()), embed);
    guard(|| {
        let options = self::options(options, "options")?;
        // The log writer starts on the runtime the router's routes run on.
        let inner = napi::bindgen_prelude::within_runtime_if_available(|| {
            routing::MessageRouter::open(registry, options)
        })?
        .with_models(classifier, embedder);
        Ok(NewRouter(MessageRouter { inner }))
    })
}

/// A router on its way to JavaScript, given its fast `tryRoute` ([`crate::fast`]).
pub struct NewRouter(MessageRouter);

impl napi::bindgen_prelude::ToNapiValue for NewRouter {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        val: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        let core = val.0.inner.clone();
        // SAFETY: napi calls this on the JavaScript thread with the live env.
        unsafe { crate::fast::message_router(env, MessageRouter::to_napi_value(env, val.0)?, core) }
    }
}

/// A route's answer on its way to JavaScript. A decision computed now is its own
/// `RouteDecision`. A cache hit is a plain object holding this call's `traceId`, `durationMs`
/// and `cached` over the `RouteDecision` of the cached decision, made once and shared by every
/// hit that returns it ([`crate::shared`]): a hit creates one plain object instead of a class
/// instance.
pub struct Decided(pub routing::Routed);

thread_local! {
    static DECISIONS: std::cell::RefCell<Option<Shared<routing::Decision>>> =
        const { std::cell::RefCell::new(None) };
}

impl ToNapiValue for Decided {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let routed = val.0;
        let make = |routed: Routed| {
            // SAFETY: napi calls this on the JavaScript thread with the live env.
            unsafe { RouteDecision::to_napi_value(env, RouteDecision { inner: routed }) }
        };
        if !routed.cached {
            // A decision computed now may never be returned again: its own object, whose
            // getters read this call's fields too. (Making each one a prototype would cost
            // the engine a new shape per route.)
            return make(routed);
        }
        // SAFETY: napi calls this on the JavaScript thread with the live env.
        unsafe {
            let decision = Shared::object(&DECISIONS, env, routed.decision.clone(), |_| {
                make(routed.clone())
            })?;
            crate::literal::answer(env, decision, &routed)
        }
    }
}

/// The core request of `route`'s and `tryRoute`'s arguments.
pub fn request(
    message: Text,
    channel: Text,
    org_id: Text,
    user_id: Option<Text>,
    options: Option<Json>,
) -> keel::Result<RouteRequest> {
    RouteRequest::from_parts(
        message.as_str().to_owned(),
        channel.as_str(),
        org_id.as_str(),
        user_id.map(|u| u.as_str().to_owned()),
        options.map(|o| o.0),
        Case::Camel,
        "options",
    )
}
