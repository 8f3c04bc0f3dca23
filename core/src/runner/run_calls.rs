//! Agent runs as a binding makes them: the config and every record as JSON spelt in the
//! caller's [`Case`], the executor a host function ([`HostExecutor`]) called with each
//! attempt's [`AgentContext`], a step's work a host function too. Every decision (defaults,
//! checks, retries, what a step's failure means) stays here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use super::agent::AgentConfig;
use super::classify::Failure;
use super::context::AgentContext;
use super::execution::{RunQuery, SweepOptions};
use super::run::{RunOptions, run_agent};
use super::runs::Runs;
use crate::Keel;
use crate::error::{Error, Result};
use crate::llm::CallRequest;
use crate::options::{Case, from_value, require_uuid, spelt};
use crate::record::to_value;

/// What a host executor's call resolves to: the executor's value, or its failure.
pub type HostFuture = Pin<Box<dyn Future<Output = std::result::Result<Value, Failure>> + Send>>;

/// An executor a binding hands over (a Python coroutine function, a JavaScript async
/// function): called once per attempt with that attempt's context.
pub trait HostExecutor: Send + Sync {
    /// Starts one attempt.
    fn call(&self, ctx: AgentContext) -> HostFuture;
}

/// [`run_agent`] with the config as JSON (`AgentConfig`'s fields spelt in `case`); the
/// result (`AgentResult`) as JSON.
///
/// # Errors
/// [`Error::InvalidInput`] naming the config field as the caller spells it (`config.` first);
/// what [`run_agent`] fails with.
pub async fn run_value(
    keel: &Keel,
    config: Option<Value>,
    options: RunOptions,
    executor: Arc<dyn HostExecutor>,
    case: Case,
) -> Result<Value> {
    let config: AgentConfig = from_value(config, case, "config")?;
    let result = run_agent(keel, config, options, |ctx| executor.call(ctx))
        .await
        .map_err(|e| spelt(prefixed(e), case))?;
    Ok(to_value(&result, case))
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
    /// its JSON value or its failure).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `name` (empty or over 200 characters); otherwise the
    /// failure of `step` (a host exception the binding re-raises, or
    /// [`Failure::into_error`]).
    pub async fn step_value<F>(&self, name: &str, work: F) -> std::result::Result<Value, Failure>
    where
        F: FnOnce() -> HostFuture,
    {
        if let Err(err) = crate::options::short_name("name", name) {
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
