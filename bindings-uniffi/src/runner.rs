//! Agent runs and dead letters: `Keel.startRun` and `AgentRun` (core's `RunDriver`, which the
//! hand-written Kotlin `Keel.runAgent` in Runs.kt drives on coroutines), `AgentContext`,
//! `Keel.runs` and `Runs`, `Keel.deadLetters` and `DeadLetters`, and the pure `agentConfig`,
//! `classifyFailure` and `retryDelays` (core: `keel::runner`, whose `*_value` calls read the
//! config and JSON and own every decision). Records are JSON text in Node's camelCase shapes
//! (`AgentConfig`, `AgentResult`, `Execution`, `DeadLetter`, `WorkReport`).

use std::sync::Arc;

use keel::options::Case::Camel;
use keel::runner::{self, Failure};

use crate::error::KeelError;
use crate::json::{record, value};
use crate::llm::Llm;
use crate::runtime::{run, within};
use crate::store::Keel;
use crate::telemetry::Logger;

/// What an executor gets on each attempt: the run's logger, trace and credit tracker, and the
/// model client bound to the run (`complete`).
#[derive(uniffi::Object)]
pub struct AgentContext {
    inner: runner::AgentContext,
}

#[uniffi::export]
impl AgentContext {
    /// The run's logger (service `agent-runner`).
    pub fn logger(&self) -> Arc<Logger> {
        Logger::of(self.inner.logger().clone())
    }

    /// The run's trace id.
    pub fn trace_id(&self) -> String {
        self.inner.trace_id().to_string()
    }

    /// The run's `agent_executions` row id.
    pub fn execution_id(&self) -> String {
        self.inner.execution_id().to_string()
    }

    /// This attempt, counted from 1.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt()
    }

    /// Credits the run has spent.
    pub fn credits_used(&self) -> f64 {
        self.inner.credits_used()
    }

    /// True once the run is cancelled.
    pub fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// The W3C `traceparent` of this attempt's span.
    pub fn traceparent(&self) -> String {
        self.inner.traceparent()
    }

    /// Counts credits spent outside the bound client (an amount ≤ 0 is ignored).
    pub fn add_credits(&self, amount: f64) {
        self.inner.add_credits(amount);
    }

    /// Counts items produced and consumed (the row's `itemsEmitted`, `itemsProcessed`).
    ///
    /// # Errors
    /// `invalid_input` for a negative or fractional count.
    #[uniffi::method(default(emitted = None, processed = None))]
    pub fn add_items(&self, emitted: Option<f64>, processed: Option<f64>) -> Result<(), KeelError> {
        Ok(self.inner.add_items_value(emitted, processed)?)
    }

    /// The run's budget (`AgentBudget`: its limit, what it used, whether it is spent), as JSON.
    pub fn check_budget(&self) -> String {
        self.inner.budget_value().to_string()
    }

    /// Starts step `name`, once per run (what the Kotlin `AgentContext.step` drives): core
    /// decides whether the host runs its work (`StepCall.started`), then records its value.
    pub fn begin_step(&self, name: String) -> Arc<StepCall> {
        let _entered = crate::runtime::runtime().enter();
        Arc::new(StepCall {
            inner: Arc::new(self.inner.begin_step(name)),
        })
    }

    /// Makes a model call (`requestJson`, a `CallRequest`) with the client bound to the run:
    /// its model, tokens and credits count towards the run. The `Completion` as JSON.
    ///
    /// # Errors
    /// As `Llm.complete`; `invalid_input` when the run has no model client.
    pub async fn complete(&self, request_json: String) -> Result<String, KeelError> {
        let ctx = self.inner.clone();
        run(async move {
            let request = value(Some(&request_json), "request")?;
            Ok(ctx.complete_value(request, Camel).await?.to_string())
        })
        .await
    }
}

/// A step under way (`AgentContext.beginStep`): `started()` says whether the host runs the
/// work (false: core answered from the run's record, or refused), `succeed` or `fail` tells
/// core how the work ended, `result()` is the step's value.
#[derive(uniffi::Object)]
pub struct StepCall {
    inner: Arc<runner::HostStep>,
}

#[uniffi::export]
impl StepCall {
    /// True when the host is to run the step's work now.
    pub async fn started(&self) -> bool {
        let step = self.inner.clone();
        run(async move { Ok(step.started().await) })
            .await
            .unwrap_or(false)
    }

    /// The work returned `valueJson` (null: nothing).
    ///
    /// # Errors
    /// `invalid_input` for a value that is not JSON (the step then fails with that).
    #[uniffi::method(default(value_json = None))]
    pub fn succeed(&self, value_json: Option<String>) -> Result<(), KeelError> {
        let parsed = value(value_json.as_deref(), "value");
        self.inner.tell(match &parsed {
            Ok(v) => Ok(v.clone().unwrap_or_default()),
            Err(err) => Err(Failure::from(err)),
        });
        parsed.map(drop).map_err(KeelError::from)
    }

    /// The work threw `failure`.
    pub fn fail(&self, failure: FailureInfo) {
        self.inner.tell(Err(failure.into()));
    }

    /// The step's value as JSON (null: none).
    ///
    /// # Errors
    /// `budget_exceeded` when the run's budget is spent before the step; `invalid_input`
    /// for a bad name or a failed work (`step`).
    pub async fn result(&self) -> Result<Option<String>, KeelError> {
        let step = self.inner.clone();
        let value = run(async move { step.result().await }).await?;
        Ok((!value.is_null()).then(|| value.to_string()))
    }
}

/// What a host exception says of itself, for core to classify: its message, a Keel error's
/// `code` and `retryAfterMs`, an `AgentFailure`'s `kind` and `status`.
#[derive(uniffi::Record)]
pub struct FailureInfo {
    /// What went wrong, in words.
    pub message: String,
    /// Keel's error code, when the exception is a `KeelException`.
    #[uniffi(default = None)]
    pub code: Option<String>,
    /// The kind the thrower chose (`transient`, `rate_limited`, `timeout`, …); wins.
    #[uniffi(default = None)]
    pub kind: Option<String>,
    /// The HTTP status it came with.
    #[uniffi(default = None)]
    pub status: Option<u16>,
    /// The wait it asked for, in milliseconds.
    #[uniffi(default = None)]
    pub retry_after_ms: Option<u64>,
}

impl FailureInfo {
    /// The wait as a `Retry-After` value (seconds).
    fn retry_after(&self) -> Option<String> {
        self.retry_after_ms
            .map(|ms| format!("{}", ms as f64 / 1000.0))
    }
}

impl From<FailureInfo> for Failure {
    fn from(f: FailureInfo) -> Self {
        Failure {
            retry_after: f.retry_after(),
            message: f.message,
            code: f.code,
            kind: f.kind,
            status: f.status,
            ..Failure::default()
        }
    }
}

/// A host model task's throw as a transport's failure (core reads its status and wait).
impl From<FailureInfo> for keel::llm::TransportFailure {
    fn from(f: FailureInfo) -> Self {
        keel::llm::TransportFailure {
            retry_after: f.retry_after(),
            status: f.status,
            message: f.message,
            kind: f.kind,
            ..keel::llm::TransportFailure::default()
        }
    }
}

/// One run as core drives it, for `Keel.runAgent` (Runs.kt) to drive: `next()` says what to
/// do (`attempt`, `wait`, `claim`, `finish`, `done`), `context()` and `ms()` carry what it
/// needs, the other methods report or await what it asked.
#[derive(uniffi::Object)]
pub struct AgentRun {
    inner: runner::HostRun,
}

#[uniffi::export]
impl AgentRun {
    /// What to do next: `attempt`, `wait`, `claim`, `finish` or `done`.
    ///
    /// # Errors
    /// `invalid_input` while `claim` or `finish` holds the run.
    pub fn next(&self) -> Result<String, KeelError> {
        Ok(self.inner.next()?.to_owned())
    }

    /// The context of the attempt `next()` asked for.
    pub fn context(&self) -> Option<Arc<AgentContext>> {
        let inner = self.inner.context()?;
        Some(Arc::new(AgentContext { inner }))
    }

    /// The attempt's time limit, or the wait, in milliseconds.
    pub fn ms(&self) -> f64 {
        self.inner.ms()
    }

    /// The attempt returned `valueJson` (null: nothing).
    ///
    /// # Errors
    /// `invalid_input` for a value that is not JSON.
    #[uniffi::method(default(value_json = None))]
    pub fn succeeded(&self, value_json: Option<String>) -> Result<(), KeelError> {
        let value = value(value_json.as_deref(), "value")?.unwrap_or_default();
        Ok(self.inner.succeeded(value)?)
    }

    /// The attempt threw `failure`; core classifies it.
    ///
    /// # Errors
    /// `invalid_input` while `claim` or `finish` holds the run.
    pub fn failed(&self, failure: FailureInfo) -> Result<(), KeelError> {
        Ok(self.inner.failed(failure.into())?)
    }

    /// The attempt ran out of its time.
    ///
    /// # Errors
    /// `invalid_input` while `claim` or `finish` holds the run.
    pub fn timed_out(&self) -> Result<(), KeelError> {
        Ok(self.inner.timed_out()?)
    }

    /// Cancels the run: the attempt in flight ends as cancelled and `next()` goes on to the
    /// run's end.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Claims the run's idempotency key.
    ///
    /// # Errors
    /// Storage errors; `invalid_input` when the run is busy.
    pub async fn claim(&self) -> Result<(), KeelError> {
        let run_ = self.inner.clone();
        run(async move { run_.claim().await }).await
    }

    /// Writes what the run's end owes.
    ///
    /// # Errors
    /// `invalid_input` when the run is busy.
    pub async fn finish(&self) -> Result<(), KeelError> {
        let run_ = self.inner.clone();
        run(async move { run_.finish().await }).await
    }

    /// The result (`AgentResult`) as JSON, once `next()` said `done`.
    ///
    /// # Errors
    /// `internal` before the run has finished.
    pub fn result(&self) -> Result<String, KeelError> {
        Ok(self.inner.result()?.to_string())
    }
}

#[uniffi::export]
impl Keel {
    /// Starts a run of `configJson` (an `AgentConfig`), its model calls through `llm`; what
    /// `Keel.runAgent` drives.
    ///
    /// # Errors
    /// `invalid_input` naming the config field (`config.maxAttempts`).
    #[uniffi::method(default(llm = None))]
    pub fn start_run(
        &self,
        config_json: String,
        llm: Option<Arc<Llm>>,
    ) -> Result<Arc<AgentRun>, KeelError> {
        let config = value(Some(&config_json), "config")?;
        let options = runner::RunOptions {
            llm: llm.map(|l| l.inner.clone()),
            cancel: None,
        };
        let inner = within(|| runner::HostRun::start_value(&self.inner, config, options, Camel))?;
        Ok(Arc::new(AgentRun { inner }))
    }

    /// The agent runs (`agent_executions`).
    pub fn runs(&self) -> Arc<Runs> {
        Arc::new(Runs {
            inner: runner::Runs::open(&self.inner),
        })
    }

    /// The dead-letter queue.
    pub fn dead_letters(&self) -> Arc<DeadLetters> {
        Arc::new(DeadLetters {
            inner: runner::DeadLetters::open(&self.inner),
        })
    }
}

/// The agent runs (`agent_executions`); make it with `keel.runs()`.
#[derive(uniffi::Object)]
pub struct Runs {
    inner: runner::Runs,
}

#[uniffi::export]
impl Runs {
    /// The runs `queryJson` (a `RunQuery`) selects, newest first: an `Execution[]`.
    ///
    /// # Errors
    /// `invalid_input` naming the query field.
    #[uniffi::method(default(query_json = None))]
    pub async fn list(&self, query_json: Option<String>) -> Result<String, KeelError> {
        let runs = self.inner.clone();
        run(async move {
            let query = value(query_json.as_deref(), "query")?;
            Ok(runs.list_value(query, Camel).await?.to_string())
        })
        .await
    }

    /// The run (`Execution`).
    ///
    /// # Errors
    /// `invalid_input` for an id that is not a UUID or no such run.
    pub async fn get(&self, id: String) -> Result<String, KeelError> {
        let runs = self.inner.clone();
        run(async move { Ok(runs.get_value(&id, Camel).await?.to_string()) }).await
    }

    /// Fails runs still running past their deadline: how many.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn sweep(&self, options_json: Option<String>) -> Result<u64, KeelError> {
        let runs = self.inner.clone();
        run(async move {
            let options = value(options_json.as_deref(), "options")?;
            Ok(runs.sweep_value(options, Camel).await? as u64)
        })
        .await
    }

    /// Waits until every run row enqueued so far is written.
    ///
    /// # Errors
    /// None in practice (`internal` if the runtime failed).
    pub async fn flush(&self) -> Result<(), KeelError> {
        let runs = self.inner.clone();
        run(async move {
            runs.flush().await;
            Ok(())
        })
        .await
    }
}

/// The dead-letter queue; make it with `keel.deadLetters()`.
#[derive(uniffi::Object)]
pub struct DeadLetters {
    pub(crate) inner: runner::DeadLetters,
}

impl DeadLetters {
    /// Runs the letter operation `operation` on `id`: the letter as JSON.
    async fn operate(
        &self,
        operation: &'static str,
        id: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let letters = self.inner.clone();
        run(async move {
            let options = value(options_json.as_deref(), "options")?;
            let letter = letters.operate_value(operation, &id, options, Camel);
            Ok(record(&letter.await?))
        })
        .await
    }
}

#[uniffi::export]
impl DeadLetters {
    /// Enqueues `letterJson` (a `NewDeadLetter`), once per `idempotencyKey`: the letter.
    ///
    /// # Errors
    /// `invalid_input` naming the letter's field.
    pub async fn enqueue(&self, letter_json: String) -> Result<String, KeelError> {
        let letters = self.inner.clone();
        run(async move {
            let letter = value(Some(&letter_json), "letter")?;
            Ok(record(
                &letters.enqueue_value(letter, Camel, "letter").await?,
            ))
        })
        .await
    }

    /// The letters `queryJson` (a `LetterQuery`) selects, newest first: a `DeadLetter[]`.
    ///
    /// # Errors
    /// `invalid_input` naming the query field.
    #[uniffi::method(default(query_json = None))]
    pub async fn list(&self, query_json: Option<String>) -> Result<String, KeelError> {
        let letters = self.inner.clone();
        run(async move {
            let query = value(query_json.as_deref(), "query")?;
            Ok(record(&letters.list_value(query, Camel, "query").await?))
        })
        .await
    }

    /// The letter.
    ///
    /// # Errors
    /// `invalid_input` for an id that is not a UUID or no such letter.
    pub async fn get(&self, id: String) -> Result<String, KeelError> {
        self.operate("get", id, None).await
    }

    /// Makes a pending letter due now.
    ///
    /// # Errors
    /// As `get`; `invalid_input` for a letter that is not pending.
    pub async fn retry(&self, id: String) -> Result<String, KeelError> {
        self.operate("retry", id, None).await
    }

    /// Brings an abandoned letter back, its retries counted from zero.
    ///
    /// # Errors
    /// As `get`; `invalid_input` for a letter that is not abandoned.
    pub async fn redrive(&self, id: String) -> Result<String, KeelError> {
        self.operate("redrive", id, None).await
    }

    /// Resolves an open letter: an asynchronous handler's work finished.
    ///
    /// # Errors
    /// As `get`; `invalid_input` for a letter that is not open.
    pub async fn resolve(&self, id: String) -> Result<String, KeelError> {
        self.operate("resolve", id, None).await
    }

    /// Abandons an open letter with `reason` of `optionsJson`.
    ///
    /// # Errors
    /// As `resolve`; `invalid_input` for a missing reason.
    pub async fn abandon(&self, id: String, options_json: String) -> Result<String, KeelError> {
        self.operate("abandon", id, Some(options_json)).await
    }

    /// Deletes letters resolved more than `days` of `optionsJson` ago (default 30): how many.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn purge(&self, options_json: Option<String>) -> Result<u64, KeelError> {
        let letters = self.inner.clone();
        run(async move {
            let options = value(options_json.as_deref(), "options")?;
            Ok(letters.purge_value(options, Camel, "options").await? as u64)
        })
        .await
    }

    /// Claims one batch of due letters and posts each to `url` of `optionsJson` (Node's
    /// `WorkerOptions`): the `WorkReport` as JSON.
    ///
    /// # Errors
    /// `invalid_input` naming the option (a missing `url`).
    pub async fn work_once(&self, options_json: String) -> Result<String, KeelError> {
        let letters = self.inner.clone();
        run(async move {
            let options = value(Some(&options_json), "options")?;
            let report = letters.work_once_value(options, None, Camel, "options");
            Ok(record(&report.await?))
        })
        .await
    }
}

/// A config as a run reads it (`ResolvedConfig`: every default, the agent's budget and the
/// attempts of each kind of failure), as JSON. Pure.
///
/// # Errors
/// `invalid_input` naming the config field.
#[uniffi::export]
pub fn agent_config(config_json: String) -> Result<String, KeelError> {
    let config = value(Some(&config_json), "config")?;
    Ok(record(&runner::agent_config_value(config, Camel)?))
}

/// The kind of a failure (`failureJson`, a `FailureInfo`), what decided it and the wait it
/// asked for (`Classified`), as JSON. Pure.
///
/// # Errors
/// `invalid_input` naming the field.
#[uniffi::export]
pub fn classify_failure(failure_json: String) -> Result<String, KeelError> {
    let failure = value(Some(&failure_json), "failure")?;
    Ok(record(&runner::classify_value(failure, Camel, "")?))
}

/// The ceilings and seeded delays of a backoff (`inputJson`: `kind` under `policy`, or
/// `backoff`; `retries`, `seed`, `retryAfterMs`), as JSON (`Delays`). Pure.
///
/// # Errors
/// `invalid_input` naming the field.
#[uniffi::export]
pub fn retry_delays(input_json: String) -> Result<String, KeelError> {
    let input = value(Some(&input_json), "input")?;
    Ok(record(&runner::retry_delays_value(input, Camel, "")?))
}
