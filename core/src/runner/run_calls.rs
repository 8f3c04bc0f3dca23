//! Agent runs as a binding makes them: the config and every record as JSON spelt in the
//! caller's [`Case`], the run a [`RunDriver`] the binding drives on its own event loop (the
//! executor runs there, called with each attempt's [`AgentContext`]), a step's work a host
//! function ([`HostFuture`]). Every decision (defaults, checks, retries, what a step's failure
//! means) stays here.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use super::agent::AgentConfig;
use super::classify::Failure;
use super::context::AgentContext;
use super::driver::{Next, RunDriver};
use super::execution::{RunQuery, SweepOptions};
use super::run::RunOptions;
use super::runs::Runs;
use crate::Keel;
use crate::error::{Error, Result};
use crate::llm::CallRequest;
use crate::options::{Case, from_value, require_uuid, spelt};
use crate::record::to_value;

/// What a host function's call resolves to: its value, or its failure.
pub type HostFuture = Pin<Box<dyn Future<Output = std::result::Result<Value, Failure>> + Send>>;

impl RunDriver<Value> {
    /// [`RunDriver::start`] with the config as JSON (`AgentConfig`'s fields spelt in `case`),
    /// for a binding that drives the run on its own event loop.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the config field as the caller spells it (`config.`
    /// first); what [`RunDriver::start`] fails with.
    pub fn start_value(
        keel: &Keel,
        config: Option<Value>,
        options: RunOptions,
        case: Case,
    ) -> Result<Self> {
        let config: AgentConfig = from_value(config, case, "config")?;
        RunDriver::start(keel, config, options).map_err(|e| spelt(prefixed(e), case))
    }

    /// [`RunDriver::claim`] with the error spelt in `case`.
    ///
    /// # Errors
    /// As [`RunDriver::claim`].
    pub async fn claim_value(&mut self, case: Case) -> Result<()> {
        self.claim().await.map_err(|e| spelt(prefixed(e), case))
    }

    /// The result as JSON spelt in `case`, once [`Next::Done`] was returned.
    pub fn result_value(&mut self, case: Case) -> Option<Value> {
        self.result().map(|r| to_value(&r, case))
    }
}

impl Next {
    /// `claim`, `attempt`, `wait`, `finish` or `done`: what a binding dispatches on.
    pub fn kind(&self) -> &'static str {
        match self {
            Next::Claim => "claim",
            Next::Attempt { .. } => "attempt",
            Next::Wait(_) => "wait",
            Next::Finish => "finish",
            Next::Done => "done",
        }
    }
}

/// A config error named under `config.`.
fn prefixed(err: Error) -> Error {
    match err.field() {
        Some(field) if !field.starts_with("config") => {
            Error::invalid_input(format!("config.{field}"), err.message())
        }
        _ => err,
    }
}

/// A config as a run reads it: every default filled in and the retry policy in force
/// ([`agent_config_value`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ResolvedConfig {
    /// The agent.
    pub agent_name: String,
    /// The row's execution type.
    pub execution_type: String,
    /// The trigger type a dead letter of the run records.
    pub trigger_type: String,
    /// Each attempt's time limit.
    pub attempt_timeout_ms: u64,
    /// The run's time limit.
    pub deadline_ms: u64,
    /// Credits the run may spend.
    pub budget: f64,
    /// Attempts of the run in all.
    pub max_attempts: u32,
    /// Attempts per kind of failure, in [`super::ERROR_KINDS`] order.
    pub kinds: Vec<KindAttempts>,
    /// Whether a run that fails for good becomes a dead letter.
    pub dead_letter: bool,
    /// Whether a budget stop keeps the completed steps' outputs.
    pub allow_partial_results: bool,
}

/// The attempts one kind of failure gets.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct KindAttempts {
    /// The kind.
    pub kind: super::ErrorKind,
    /// Its attempts in all (1: no retry).
    pub max_attempts: u32,
}

/// The config `config` (JSON, spelt in `case`) as a run reads it: defaults, the agent's
/// budget, `max_retries` applied to the policy. Pure; the vectors of
/// `testdata/agent_configs.json`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field, as [`AgentConfig::check`] does.
pub fn agent_config_value(config: Option<Value>, case: Case) -> Result<ResolvedConfig> {
    let config: AgentConfig = from_value(config, case, "")?;
    config.check().map_err(|e| spelt(e, case))?;
    let policy = config.effective_policy();
    Ok(ResolvedConfig {
        trigger_type: config
            .trigger_type
            .clone()
            .unwrap_or_else(|| config.execution_type.clone()),
        budget: config
            .budget
            .unwrap_or_else(|| crate::models::agent_budget_limit(&config.agent_name)),
        max_attempts: policy.max_attempts,
        kinds: super::ERROR_KINDS
            .into_iter()
            .map(|kind| KindAttempts {
                kind,
                max_attempts: policy.of(kind).max_attempts,
            })
            .collect(),
        agent_name: config.agent_name,
        execution_type: config.execution_type,
        attempt_timeout_ms: config.attempt_timeout_ms,
        deadline_ms: config.deadline_ms,
        dead_letter: config.dead_letter,
        allow_partial_results: config.allow_partial_results,
    })
}

impl Failure {
    /// The error a binding raises for a step that failed without a host exception of its
    /// own: [`Error::RunBudgetExceeded`] for a spent budget, else [`Error::InvalidInput`] on
    /// `step` (the work could not be called, its recorded output does not fit).
    pub fn into_error(self) -> Error {
        match self.code.as_deref() {
            Some("budget_exceeded") => Error::RunBudgetExceeded(self.message),
            _ => Error::invalid_input("step", self.message),
        }
    }
}

impl AgentContext {
    /// [`AgentContext::step`] of a host function: `work` starts it (a host call resolving to
    /// its JSON value or its failure; [`HostFuture`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `name` (empty or over 200 characters); otherwise the
    /// failure of `step` (a host exception the binding re-raises, or
    /// [`Failure::into_error`]).
    pub async fn step_value<F>(&self, name: &str, work: F) -> std::result::Result<Value, Failure>
    where
        F: FnOnce() -> HostFuture,
    {
        if let Err(err) = crate::idents::short_name("name", name) {
            return Err(Failure {
                message: err.to_string(),
                kind: Some("validation".into()),
                ..Failure::default()
            });
        }
        self.step(name, work).await
    }

    /// [`AgentContext::complete`] with the request and completion as JSON spelt in `case`.
    ///
    /// # Errors
    /// As [`CallRequest::from_value`] and [`AgentContext::complete`].
    pub async fn complete_value(&self, request: Option<Value>, case: Case) -> Result<Value> {
        let request = CallRequest::from_value(request.unwrap_or(Value::Null), case)?;
        Ok(to_value(&self.complete(request).await?, case))
    }

    /// [`AgentContext::check_budget`] as JSON (`{exceeded, limit, used}`).
    pub fn budget_value(&self) -> Value {
        to_value(&self.check_budget(), Case::Snake)
    }

    /// [`AgentContext::add_items`] from a binding's numbers (absent is 0).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `emitted` or `processed` unless a whole number ≥ 0.
    pub fn add_items_value(&self, emitted: Option<f64>, processed: Option<f64>) -> Result<()> {
        let emitted = crate::options::whole("emitted", emitted.unwrap_or(0.0))?;
        let processed = crate::options::whole("processed", processed.unwrap_or(0.0))?;
        self.add_items(u64::from(emitted), u64::from(processed));
        Ok(())
    }
}

impl Runs {
    /// [`Runs::list`] with the query as JSON; the runs as JSON.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the query field; storage errors.
    pub async fn list_value(&self, query: Option<Value>, case: Case) -> Result<Value> {
        let query: RunQuery = from_value(query, case, "")?;
        let runs = self.list(&query).await.map_err(|e| spelt(e, case))?;
        Ok(to_value(&runs, case))
    }

    /// [`Runs::get`] of an id given as text.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `id`; storage errors.
    pub async fn get_value(&self, id: &str, case: Case) -> Result<Value> {
        let run = self.get(require_uuid("id", id)?).await?;
        Ok(to_value(&run, case))
    }

    /// [`Runs::sweep`] with the options as JSON: how many runs it failed.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option; storage errors.
    pub async fn sweep_value(&self, options: Option<Value>, case: Case) -> Result<u64> {
        let options: SweepOptions = from_value(options, case, "")?;
        self.sweep(options).await
    }
}
