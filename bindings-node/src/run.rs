//! `Keel.runAgent`, `Keel.runs`, `AgentContext` and `Runs` (core: `keel::runner::run`,
//! `keel::runner::context` and `keel::runner::runs`, whose `*_value` calls read the config and
//! own every decision). `init.js` hands the executor and each step's work over as transports
//! (`{ reply }` or `{ failure }`) and re-throws what a step's own work threw.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncBlock, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, Status};
use napi_derive::napi;
use serde_json::Value;

use keel::options::Case::Camel;
use keel::runner::{self, AgentContext as CoreContext, Cancel, Failure, HostExecutor, HostFuture};

use crate::error::{Arg, Outcome, Ref, guard, run, spawn};
use crate::json::Json;
use crate::llm::{CancelToken, Llm};
use crate::telemetry::Logger;
use crate::transport::{JsTransport, SendFn, failed};

/// What an executor gets on each attempt: the run's logger, trace and credit tracker, the
/// bound model client (`complete`) and `step`.
#[napi]
pub struct AgentContext {
    inner: CoreContext,
}

#[napi]
impl AgentContext {
    /// The run's logger (service `agent-runner`).
    #[napi(getter)]
    pub fn logger(&self) -> Logger {
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

/// An executor as `init.js` hands it over: called with the attempt's `AgentContext`, resolving
/// to `{ reply }` or `{ failure }`. Weak: it does not keep the process alive.
pub type ExecutorFn =
    ThreadsafeFunction<AgentContext, Promise<Value>, AgentContext, Status, false, true>;

struct JsExecutor(Arc<ExecutorFn>);

impl HostExecutor for JsExecutor {
    fn call(&self, ctx: CoreContext) -> HostFuture {
        let executor = self.0.clone();
        Box::pin(async move {
            let answer: Result<Value, keel::llm::TransportFailure> = async {
                let promise = executor
                    .call_async_catch(AgentContext { inner: ctx })
                    .await
                    .map_err(failed)?;
                JsTransport::answer(promise.await.map_err(failed)?)
            }
            .await;
            answer.map_err(Failure::from)
        })
    }
}

/// `db.runAgent(config, executor, { llm, signal })` (`init.js` splits the options).
pub fn run_agent(
    keel: &keel::Keel,
    env: &Env,
    config: Option<Value>,
    executor: Option<ExecutorFn>,
    llm: Option<Ref<Llm>>,
    token: Option<Ref<CancelToken>>,
) -> Outcome<AsyncBlock<Outcome<Value>>> {
    let options = runner::RunOptions {
        llm: llm.map(|l| l.0.core().clone()),
        cancel: token.map(|t| Cancel::following(t.0.subscribe())),
    };
    let executor = executor.map(|e| Arc::new(JsExecutor(Arc::new(e))) as Arc<dyn HostExecutor>);
    let keel = keel.clone();
    Outcome(spawn(env, async move {
        let executor =
            executor.ok_or_else(|| keel::Error::invalid_input("executor", "must be a function"))?;
        runner::run_value(&keel, config, options, executor, Camel).await
    }))
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

/// The runs on `keel` (behind `Keel.runs`).
pub fn open_runs(keel: &keel::Keel) -> Runs {
    Runs {
        inner: runner::Runs::open(keel),
    }
}
