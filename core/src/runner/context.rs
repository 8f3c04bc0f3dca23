//! What a run hands its executor ([`AgentContext`]): the logger and trace, the credit tracker
//! the budget reads, the model client bound to the run, and `step`, whose completed steps a
//! retry skips.

use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::watch;
use uuid::Uuid;

use super::classify::Failure;
use crate::llm::{CallRequest, Completion, Llm};
use crate::models::AgentBudget;
use crate::telemetry::{Logger, Span};

/// Cancels the runs holding it: the attempt in flight is dropped (a Python coroutine is
/// cancelled with it), no retry follows, and the run ends `failed` with the reason
/// `cancelled`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cancel {
    tx: Option<Arc<watch::Sender<bool>>>,
    rx: watch::Receiver<bool>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancel {
    /// A handle not yet cancelled.
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Cancel {
            tx: Some(Arc::new(tx)),
            rx,
        }
    }

    /// A handle that follows `rx` (a binding's token): cancelled once it holds true.
    pub fn following(rx: watch::Receiver<bool>) -> Self {
        Cancel { tx: None, rx }
    }

    /// Cancels (a handle made with [`Cancel::following`] follows its sender instead).
    pub fn cancel(&self) {
        if let Some(tx) = &self.tx {
            tx.send_replace(true);
        }
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once cancelled (never, when nothing can cancel any more).
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What a run has spent and made so far, shared by its attempts.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub credits: f64,
    pub tokens: u64,
    pub model_id: Option<String>,
    pub was_fallback: bool,
    pub items_emitted: u64,
    pub items_processed: u64,
    /// Outputs of completed steps, by name.
    pub steps: Map<String, Value>,
    /// Set when a step found the budget spent: the run ends `budget_exceeded`.
    pub budget_stop: Option<String>,
    /// Model calls made, for their idempotency keys.
    pub calls: u64,
}

/// The run's parts every attempt's context shares.
#[derive(Debug)]
pub(super) struct RunShared {
    pub agent_name: Arc<str>,
    pub trace_id: Uuid,
    pub execution_id: Uuid,
    pub logger: Logger,
    pub llm: Option<Llm>,
    pub cancel: Cancel,
    pub budget_limit: f64,
    pub org_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub idempotency_key: Option<Arc<str>>,
    pub tally: Mutex<Tally>,
}

impl RunShared {
    pub(super) fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn budget(&self) -> AgentBudget {
        AgentBudget::of(self.budget_limit, self.tally().credits)
    }
}

/// What an executor gets on each attempt. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AgentContext {
    pub(super) run: Arc<RunShared>,
    pub(super) attempt: u32,
    pub(super) span: Span,
}

impl AgentContext {
    /// The run's logger (service `agent-runner`, with the run's trace, org, user and agent).
    pub fn logger(&self) -> &Logger {
        &self.run.logger
    }

    /// The run's trace.
    pub fn trace_id(&self) -> Uuid {
        self.run.trace_id
    }

    /// The run's `agent_executions` row.
    pub fn execution_id(&self) -> Uuid {
        self.run.execution_id
    }

    /// This attempt, counted from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The W3C `traceparent` of this attempt's span: work that joins it nests under it.
    pub fn traceparent(&self) -> String {
        self.span.traceparent()
    }

    /// This attempt's span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// True once the run is cancelled; a long executor may stop early.
    pub fn is_cancelled(&self) -> bool {
        self.run.cancel.is_cancelled()
    }

    /// Credits the run has spent (its model calls and [`AgentContext::add_credits`]).
    pub fn credits_used(&self) -> f64 {
        self.run.tally().credits
    }

    /// Counts `amount` credits spent outside the bound model client. An amount that is not a
    /// finite number > 0 is ignored (the original's rule).
    pub fn add_credits(&self, amount: f64) {
        if amount.is_finite() && amount > 0.0 {
            self.run.tally().credits += amount;
        }
    }

    /// Counts items the run produced and consumed (the row's `items_emitted` and
    /// `items_processed`).
    pub fn add_items(&self, emitted: u64, processed: u64) {
        let mut tally = self.run.tally();
        tally.items_emitted = tally.items_emitted.saturating_add(emitted);
        tally.items_processed = tally.items_processed.saturating_add(processed);
    }

    /// The run's budget: its limit, what it used and whether it is spent.
    pub fn check_budget(&self) -> AgentBudget {
        self.run.budget()
    }

    /// The output of step `name` if this run (or the run a dead letter replays) completed
    /// it.
    pub fn completed_step(&self, name: &str) -> Option<Value> {
        self.run.tally().steps.get(name).cloned()
    }

    /// Runs step `name` once per run: a step completed by an earlier attempt (or by the run a
    /// dead letter replays) answers with its recorded output instead of running again, so a
    /// retry does not repeat a committed side effect. Before a new step the budget is
    /// checked: once it is spent, this step and every later one fail with code
    /// `budget_exceeded` and the run ends `budget_exceeded` (with the completed steps'
    /// outputs when the config allows partial results). Each step that runs is a span under
    /// the attempt's.
    ///
    /// # Errors
    /// What `work` fails with; a `budget_exceeded` failure; a `validation` failure when the
    /// recorded output does not deserialize as `V`.
    pub async fn step<V, F, Fut, E>(&self, name: &str, work: F) -> Result<V, Failure>
    where
        V: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Into<Failure>,
    {
        if let Some(done) = self.completed_step(name) {
            return serde_json::from_value(done).map_err(|e| Failure {
                message: format!("step `{name}`: its recorded output does not fit: {e}"),
                kind: Some("validation".into()),
                ..Failure::default()
            });
        }
        let budget = self.run.budget();
        if budget.exceeded {
            let message = format!("{} before step `{name}`", budget.stop_reason());
            self.run
                .tally()
                .budget_stop
                .get_or_insert_with(|| message.clone());
            return Err(Failure {
                message,
                code: Some("budget_exceeded".into()),
                kind: Some("validation".into()),
                ..Failure::default()
            });
        }
        let mut fields = Map::new();
        fields.insert("keel.step".into(), Value::String(name.to_owned()));
        let span = self.span.child("agent.step", fields);
        match work().await {
            Ok(output) => {
                let recorded = serde_json::to_value(&output).unwrap_or(Value::Null);
                self.run.tally().steps.insert(name.to_owned(), recorded);
                span.stop(Map::new());
                Ok(output)
            }
            Err(err) => {
                let failure: Failure = err.into();
                span.fail(&failure.message, Map::new());
                Err(failure)
            }
        }
    }

    /// Makes a model call with the client bound to the run: the call joins this attempt's
    /// span, names the run's org and user, and its model, fallback, tokens and credits count
    /// towards the run (and its row). With the run's idempotency key, each call of the run
    /// gets a key of its own, so a replayed run is not charged twice.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on `llm` when the run has no client; what
    /// [`Llm::complete`] fails with.
    pub async fn complete(&self, mut request: CallRequest) -> crate::Result<Completion> {
        let llm = self.run.llm.as_ref().ok_or_else(|| {
            crate::Error::invalid_input("llm", "this run has no model client: give run_agent one")
        })?;
        request.org_id = request.org_id.or(self.run.org_id);
        request.user_id = request.user_id.or(self.run.user_id);
        if request.traceparent.is_none() && request.trace_id.is_none() {
            request.traceparent = Some(self.traceparent());
        }
        let call = {
            let mut tally = self.run.tally();
            tally.calls += 1;
            tally.calls
        };
        if let (None, Some(key)) = (&request.idempotency_key, &self.run.idempotency_key) {
            request.idempotency_key = Some(format!("{key}:{}:{call}", self.run.agent_name));
        }
        let completion = llm.complete(&request).await?;
        let mut tally = self.run.tally();
        tally.credits += completion.credits_charged;
        tally.tokens = tally
            .tokens
            .saturating_add(completion.usage.input_tokens + completion.usage.output_tokens);
        tally.model_id = Some(completion.model.clone());
        tally.was_fallback |= completion.was_fallback;
        Ok(completion)
    }
}
