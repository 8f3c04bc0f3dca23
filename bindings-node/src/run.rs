//! `Keel.runAgent`, `Keel.runs`, `AgentContext` and `Runs` (core: `keel::runner::driver`,
//! `keel::runner::context` and `keel::runner::runs`, whose `*_value` calls read the config and
//! own every decision). The run is core's `HostRun` (a `RunDriver` behind a lock), which `init.js` drives on the event
//! loop: the executor is awaited there, with no thread hop. Each step's work goes over as a
//! transport (`{ reply }` or `{ failure }`); `init.js` re-throws what the work itself threw.

use napi::Env;
use napi::bindgen_prelude::AsyncBlock;
use napi_derive::napi;
use serde_json::Value;

use keel::options::Case::Camel;
use keel::runner::{self, AgentContext as CoreContext, Cancel, Failure, HostFuture, HostRun};

use crate::error::{Arg, Outcome, Ref, guard, run, spawn};
use crate::json::Json;
use crate::llm::{CancelToken, Llm};
use crate::telemetry::{Logger, NewLogger};
use crate::transport::{JsTransport, SendFn};

/// What an executor gets on each attempt: the run's logger, trace and credit tracker, the
/// bound model client (`complete`) and `step`.
#[napi]
pub struct AgentContext {
    inner: CoreContext,
}

#[napi]
impl AgentContext {
    /// The run's logger (service `agent-runner`).
    #[napi(getter, ts_return_type = "Logger")]
    pub fn logger(&self) -> NewLogger {
        Logger::of(self.inner.logger().clone())
    }

    /// The run's trace id.
    #[napi(getter)]
    pub fn trace_id(&self) -> String {
        self.inner.trace_id().to_string()
    }

    /// The run's `agent_executions` row id.
    #[napi(getter)]
    pub fn execution_id(&self) -> String {
        self.inner.execution_id().to_string()
    }

    /// This attempt, counted from 1.
    #[napi(getter)]
    pub fn attempt(&self) -> u32 {
        self.inner.attempt()
    }

    /// Credits the run has spent.
    #[napi(getter)]
    pub fn credits_used(&self) -> f64 {
        self.inner.credits_used()
    }

    /// True once the run is cancelled.
    #[napi(getter)]
    pub fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// The W3C `traceparent` of this attempt's span.
    #[napi(getter)]
    pub fn traceparent(&self) -> String {
        self.inner.traceparent()
    }

    /// Counts credits spent outside the bound client (an amount ≤ 0 is ignored).
    #[napi(ts_args_type = "amount: number")]
    pub fn add_credits(&self, Arg(amount): Arg<f64>) {
        self.inner.add_credits(amount);
    }

    /// Counts items produced and consumed (the row's `itemsEmitted`, `itemsProcessed`).
    #[napi(
        ts_args_type = "emitted?: number, processed?: number",
        ts_return_type = "void"
    )]
    pub fn add_items(&self, emitted: Option<Arg<f64>>, processed: Option<Arg<f64>>) -> Outcome<()> {
        let (emitted, processed) = (emitted.map(|a| a.0), processed.map(|a| a.0));
        guard(|| self.inner.add_items_value(emitted, processed))
    }

    /// The run's budget: its limit, what it used, whether it is spent.
    #[napi(ts_return_type = "AgentBudget")]
    pub fn check_budget(&self) -> Value {
        self.inner.budget_value()
    }

    /// Runs step `name` once per run (`init.js` passes `work` as a transport and re-throws
    /// what it threw).
    #[napi(
        ts_args_type = "name: string, work: () => unknown",
        ts_return_type = "Promise<unknown>"
    )]
    pub fn step(
        &self,
        env: Env,
        Arg(name): Arg<String>,
        work: Option<SendFn>,
    ) -> Outcome<AsyncBlock<Outcome<Value>>> {
        let ctx = self.inner.clone();
        Outcome(spawn(&env, async move {
            let work = work.map(JsTransport::new);
            ctx.step_value(&name, move || match work {
                Some(work) => {
                    let call = work.call(Value::Null);
                    Box::pin(async move { call.await.map_err(Failure::from) }) as HostFuture
                }
                None => Box::pin(async {
                    Err(Failure {
                        message: "work must be a function".into(),
                        kind: Some("validation".into()),
                        ..Failure::default()
                    })
                }),
            })
            .await
            .map_err(Failure::into_error)
        }))
    }

    /// Makes a model call with the client bound to the run: its model, tokens and credits
    /// count towards the run.
    #[napi(
        ts_args_type = "request: CallRequest",
        ts_return_type = "Promise<Completion>"
    )]
    pub async fn complete(&self, request: Option<Json>) -> napi::Result<Outcome<Value>> {
        let request = request.map(|r| r.0);
        run!(self.inner, |ctx| ctx.complete_value(request, Camel).await)
    }
}

/// One run as core drives it, for `init.js` to drive on the event loop (not part of the API):
/// `next()` says what to do (`attempt`, `wait`, `claim`, `finish`, `done`), `context()` and
/// `ms()` carry what it needs, the other methods report or await what it asked (core's
/// `HostRun`).
#[napi(js_name = "_AgentRun")]
pub struct AgentRun {
    inner: HostRun,
}

#[napi]
impl AgentRun {
    /// What to do next: `attempt`, `wait`, `claim`, `finish` or `done`.
    #[napi(ts_return_type = "'attempt' | 'wait' | 'claim' | 'finish' | 'done'")]
    pub fn next(&self) -> Outcome<&'static str> {
        Outcome(self.inner.next())
    }

    /// The context of the attempt `next()` asked for.
    #[napi]
    pub fn context(&self) -> Option<AgentContext> {
        self.inner.context().map(|inner| AgentContext { inner })
    }

    /// The attempt's time limit, or the wait, in milliseconds.
    #[napi]
    pub fn ms(&self) -> f64 {
        self.inner.ms()
    }

    /// The attempt resolved to `value`.
    #[napi(ts_args_type = "value: unknown", ts_return_type = "void")]
    pub fn succeeded(&self, value: Option<Json>) -> Outcome<()> {
        Outcome(self.inner.succeeded(value.map(|v| v.0).unwrap_or_default()))
    }

    /// The attempt threw (`init.js` reads the error into `{ status, body, message, ... }`).
    #[napi(ts_args_type = "failure: object", ts_return_type = "void")]
    pub fn failed(&self, failure: Option<Json>) -> Outcome<()> {
        let failure = keel::llm::TransportFailure::from_value(
            failure.map(|f| f.0).unwrap_or_default(),
            Camel,
        );
        Outcome(self.inner.failed(Failure::from(failure)))
    }

    /// The attempt ran out of its time.
    #[napi(ts_return_type = "void")]
    pub fn timed_out(&self) -> Outcome<()> {
        Outcome(self.inner.timed_out())
    }

    /// The run was aborted. While `claim` or `finish` holds the run, nothing: the loop asks
    /// again once it is back, and sees the signal.
    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Claims the run's idempotency key.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn claim(&self, env: Env) -> Outcome<AsyncBlock<Outcome<()>>> {
        let run = self.inner.clone();
        Outcome(spawn(&env, async move { run.claim().await }))
    }

    /// Writes what the run's end owes.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn finish(&self, env: Env) -> Outcome<AsyncBlock<Outcome<()>>> {
        let run = self.inner.clone();
        Outcome(spawn(&env, async move { run.finish().await }))
    }

    /// The result, once `next()` said `done`.
    #[napi(ts_return_type = "AgentResult")]
    pub fn result(&self) -> Outcome<Value> {
        Outcome(self.inner.result())
    }
}

/// `db._startRun(config, isFunction, llm, token)`: checks the config and that the executor is
/// a function, starts the run.
pub fn start_run(
    keel: &keel::Keel,
    config: Option<Value>,
    is_function: bool,
    llm: Option<Ref<Llm>>,
    token: Option<Ref<CancelToken>>,
) -> Outcome<AgentRun> {
    if !is_function {
        return Outcome(Err(keel::Error::invalid_input(
            "executor",
            "must be an async function taking the run's AgentContext",
        )));
    }
    let options = runner::RunOptions {
        llm: llm.map(|l| l.0.core().clone()),
        cancel: token.map(|t| Cancel::following(t.0.subscribe())),
    };
    guard(|| {
        let inner = HostRun::start_value(keel, config, options, Camel)?;
        Ok(AgentRun { inner })
    })
}

/// The agent runs (`agent_executions`); make it with `db.runs()`.
#[napi]
pub struct Runs {
    inner: runner::Runs,
}

#[napi]
impl Runs {
    /// The runs a query selects, newest first.
    #[napi(
        ts_args_type = "query?: (RunQuery & CallOptions) | null",
        ts_return_type = "Promise<Execution[]>"
    )]
    pub async fn list(&self, query: Option<Json>) -> napi::Result<Outcome<Value>> {
        let query = query.map(|q| q.0);
        run!(self.inner, |r| r.list_value(query, Camel).await)
    }

    /// The run.
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<Execution>")]
    pub async fn get(&self, Arg(id): Arg<String>) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |r| r.get_value(&id, Camel).await)
    }

    /// Fails runs still running past their deadline: how many.
    #[napi(
        ts_args_type = "options?: (SweepOptions & CallOptions) | null",
        ts_return_type = "Promise<number>"
    )]
    pub async fn sweep(&self, options: Option<Json>) -> napi::Result<Outcome<u32>> {
        let options = options.map(|o| o.0);
        run!(self.inner, |r| Ok(u32::try_from(
            r.sweep_value(options, Camel).await?
        )
        .unwrap_or(u32::MAX)))
    }

    /// Waits until every run row enqueued so far is written.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn flush(&self) -> napi::Result<Outcome<()>> {
        run!(self.inner, |r| {
            r.flush().await;
            Ok(())
        })
    }
}

/// A config as a run reads it: every default, the agent's budget and the attempts of each
/// kind of failure. Pure.
#[napi(
    ts_args_type = "config: AgentConfig",
    ts_return_type = "ResolvedConfig"
)]
pub fn agent_config(config: Option<Json>) -> Outcome<Value> {
    let config = config.map(|c| c.0);
    guard(|| {
        Ok(keel::record::to_value(
            &runner::agent_config_value(config, Camel)?,
            Camel,
        ))
    })
}

/// The runs on `keel` (behind `Keel.runs`).
pub fn open_runs(keel: &keel::Keel) -> Runs {
    Runs {
        inner: runner::Runs::open(keel),
    }
}
