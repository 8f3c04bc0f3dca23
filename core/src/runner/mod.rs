//! Agent runs ([`run_agent`]: retries, time limits, budgets, steps, one `agent_executions`
//! row each) and what happens when they fail: failures classified on their structure
//! ([`classify`]), retry policies per kind with capped, jittered backoff ([`RetryPolicy`],
//! [`Backoff`]), and the dead-letter queue ([`DeadLetters`]) with its leased, fenced retry
//! worker ([`Worker`]).
//!
//! ```no_run
//! # async fn demo(keel: keel::Keel) -> keel::Result<()> {
//! use std::sync::Arc;
//! use keel::runner::{DeadLetters, HttpHandler, Worker, WorkerOptions};
//!
//! let letters = DeadLetters::open(&keel);
//! let replay = HttpHandler::new(keel.http().clone(), "http://127.0.0.1:8080/replay", Default::default())?;
//! let worker = Worker::new(letters, WorkerOptions::default())?.handle_all(Arc::new(replay));
//! let report = worker.run_once().await?;
//! println!("{} resolved, {} abandoned", report.resolved, report.abandoned);
//! # Ok(()) }
//! ```

mod agent;
mod backoff;
mod calls;
mod classify;
mod context;
mod driver;
mod execution;
mod handler;
mod host;
mod lease;
mod letter;
mod letters;
mod run;
mod run_calls;
mod run_writer;
mod runs;
mod worker;

pub use agent::{
    AgentConfig, AgentResult, DEFAULT_ATTEMPT_TIMEOUT_MS, DEFAULT_DEADLINE_MS, RunStatus,
};
pub use context::{AgentContext, Cancel};
pub use driver::{Next, RunDriver};
pub use execution::{Execution, RunQuery, SWEEP_SCHEDULE, SweepOptions};
pub use host::{HostRun, HostStep};
pub use run::{RunOptions, run_agent};
pub use run_calls::{HostFuture, KindAttempts, ResolvedConfig, agent_config_value};
pub use run_writer::RunWriter;
pub(crate) use run_writer::flush_writers;
pub use runs::Runs;

pub use backoff::{Backoff, Draws, Jitter, KindPolicy, RetryPolicy};
pub use calls::{Delays, classify_value, retry_delays_value};
pub use classify::{Classified, ERROR_KINDS, ErrorKind, Failure, classify};
pub use handler::{
    Handled, HandlerFuture, HttpHandler, LetterHandler, Replay, idempotency_key, replay,
};
pub use lease::RetryFailure;
pub use letter::{
    Claim, Claimed, DeadLetter, Failed, LetterQuery, LetterStatus, MAX_MESSAGE_CHARS, MAX_WAIT_MS,
    NewDeadLetter,
};
pub use letters::DeadLetters;
pub use worker::{WorkReport, Worker, WorkerOptions};
