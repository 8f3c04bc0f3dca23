//! A run and a step that a binding drives from its own event loop, through a shared handle.
//!
//! [`HostRun`] holds a [`RunDriver`] behind a lock: `next()` says what to do, the attempt's
//! context and time limit (or the wait) are kept for the binding to read, and `claim()` and
//! `finish()` take the driver out while they await, so a second call meanwhile is refused
//! rather than racing. [`HostStep`] is a step whose work the host runs itself (a Kotlin
//! coroutine, say) instead of handing core a function: core decides whether the work runs
//! ([`HostStep::started`]), the host says how it ended, and [`HostStep::result`] is the step's
//! value. Node drives [`HostRun`] with a JavaScript transport for steps; uniffi uses both.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::oneshot;

use super::classify::Failure;
use super::context::AgentContext;
use super::driver::{Next, RunDriver};
use super::run::RunOptions;
use super::run_calls::HostFuture;
use crate::Keel;
use crate::error::{Error, Result};
use crate::options::Case;

/// A run driven by a binding (see the module documentation). Cloning shares it.
#[derive(Clone)]
pub struct HostRun {
    inner: Arc<Shared>,
}

struct Shared {
    /// Out while `claim` or `finish` awaits.
    driver: Mutex<Option<RunDriver<Value>>>,
    /// The context of the attempt `next()` asked for, and the attempt's time limit or the
    /// wait, in milliseconds.
    asked: Mutex<(Option<AgentContext>, f64)>,
    /// How the binding spells names.
    case: Case,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl HostRun {
    /// Starts a run of `config` (an `AgentConfig` as JSON spelt in `case`).
    ///
    /// # Errors
    /// As [`RunDriver::start_value`].
    pub fn start_value(
        keel: &Keel,
        config: Option<Value>,
        options: RunOptions,
        case: Case,
    ) -> Result<Self> {
        let driver = RunDriver::start_value(keel, config, options, case)?;
        Ok(HostRun {
            inner: Arc::new(Shared {
                driver: Mutex::new(Some(driver)),
                asked: Mutex::new((None, 0.0)),
                case,
            }),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut RunDriver<Value>) -> R) -> Result<R> {
        let mut slot = lock(&self.inner.driver);
        let driver = slot.as_mut().ok_or_else(|| {
            Error::invalid_input("run", "the run is busy: await claim() or finish() first")
        })?;
        Ok(f(driver))
    }

    /// What to do next: `attempt`, `wait`, `claim`, `finish` or `done`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `run` while `claim` or `finish` holds it.
    pub fn next(&self) -> Result<&'static str> {
        let next = self.with(RunDriver::advance)?;
        let kind = next.kind();
        let mut asked = lock(&self.inner.asked);
        match next {
            Next::Attempt { ctx, timeout } => *asked = (Some(ctx), timeout.as_secs_f64() * 1e3),
            Next::Wait(delay) => asked.1 = delay.as_secs_f64() * 1e3,
            _ => {}
        }
        Ok(kind)
    }

    /// The context of the attempt `next()` asked for (once).
    pub fn context(&self) -> Option<AgentContext> {
        lock(&self.inner.asked).0.take()
    }

    /// The attempt's time limit, or the wait, in milliseconds.
    pub fn ms(&self) -> f64 {
        lock(&self.inner.asked).1
    }

    /// The attempt resolved to `value`.
    ///
    /// # Errors
    /// As [`HostRun::next`].
    pub fn succeeded(&self, value: Value) -> Result<()> {
        self.with(|d| d.succeeded(value))
    }

    /// The attempt failed with `failure`.
    ///
    /// # Errors
    /// As [`HostRun::next`].
    pub fn failed(&self, failure: Failure) -> Result<()> {
        self.with(|d| d.failed(failure))
    }

    /// The attempt ran out of its time.
    ///
    /// # Errors
    /// As [`HostRun::next`].
    pub fn timed_out(&self) -> Result<()> {
        self.with(RunDriver::timed_out)
    }

    /// Cancels the run. While `claim` or `finish` holds it, nothing: the loop asks again once
    /// it is back, and sees the cancellation through its token or caller.
    pub fn cancel(&self) {
        let _ = self.with(RunDriver::cancel);
    }

    /// Runs `io` on the driver taken out of its slot, then puts it back.
    async fn awaiting<F, Fut>(&self, io: F) -> Result<()>
    where
        F: FnOnce(RunDriver<Value>) -> Fut,
        Fut: Future<Output = (RunDriver<Value>, Result<()>)>,
    {
        let taken = lock(&self.inner.driver).take();
        let driver = taken.ok_or_else(|| Error::invalid_input("run", "the run is busy"))?;
        let (driver, outcome) = io(driver).await;
        *lock(&self.inner.driver) = Some(driver);
        outcome
    }

    /// Claims the run's idempotency key.
    ///
    /// # Errors
    /// As [`RunDriver::claim_value`]; [`Error::InvalidInput`] on `run` when it is busy.
    pub async fn claim(&self) -> Result<()> {
        let case = self.inner.case;
        self.awaiting(|mut d| async move {
            let outcome = d.claim_value(case).await;
            (d, outcome)
        })
        .await
    }

    /// Writes what the run's end owes.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `run` when it is busy.
    pub async fn finish(&self) -> Result<()> {
        self.awaiting(|mut d| async move {
            d.finish().await;
            (d, Ok(()))
        })
        .await
    }

    /// The result (an `AgentResult` as JSON), once `next()` said `done`.
    ///
    /// # Errors
    /// [`Error::Internal`] before the run has finished; as [`HostRun::next`].
    pub fn result(&self) -> Result<Value> {
        let case = self.inner.case;
        self.with(|d| d.result_value(case))?
            .ok_or_else(|| Error::Internal("the run has not finished".into()))
    }
}

/// A step whose work the host runs (see the module documentation).
pub struct HostStep {
    asked: Mutex<Option<oneshot::Receiver<()>>>,
    answer: Mutex<Option<oneshot::Sender<std::result::Result<Value, Failure>>>>,
    step: Mutex<Option<tokio::task::JoinHandle<std::result::Result<Value, Failure>>>>,
}

impl AgentContext {
    /// Starts step `name` on the current runtime with the host as its worker: see
    /// [`HostStep`].
    pub fn begin_step(&self, name: String) -> HostStep {
        let (started, asked) = oneshot::channel::<()>();
        let (answer, answered) = oneshot::channel();
        let ctx = self.clone();
        let step = tokio::spawn(async move {
            let work = move || {
                let _ = started.send(());
                Box::pin(async move {
                    match answered.await {
                        Ok(outcome) => outcome,
                        Err(_) => Err(Failure {
                            message: "the step's work was dropped".into(),
                            ..Failure::default()
                        }),
                    }
                }) as HostFuture
            };
            ctx.step_value(&name, work).await
        });
        HostStep {
            asked: Mutex::new(Some(asked)),
            answer: Mutex::new(Some(answer)),
            step: Mutex::new(Some(step)),
        }
    }
}

impl HostStep {
    /// True when the host is to run the work now; false when core answered without it (the
    /// step finished on an earlier attempt, the budget is spent, the name is bad).
    pub async fn started(&self) -> bool {
        let asked = lock(&self.asked).take();
        match asked {
            Some(asked) => asked.await.is_ok(),
            None => false,
        }
    }

    /// The work ended with `outcome` (its value, or its failure).
    pub fn tell(&self, outcome: std::result::Result<Value, Failure>) {
        if let Some(answer) = lock(&self.answer).take() {
            let _ = answer.send(outcome);
        }
    }

    /// The step's value.
    ///
    /// # Errors
    /// The step's failure as [`Failure::into_error`] makes it (`budget_exceeded` when the
    /// budget was spent before it; `invalid_input` on `step` otherwise); [`Error::InvalidInput`]
    /// when already awaited.
    pub async fn result(&self) -> Result<Value> {
        let step = lock(&self.step).take();
        let step = step.ok_or_else(|| Error::invalid_input("step", "already awaited"))?;
        let done = step
            .await
            .map_err(|e| Error::Internal(format!("a step failed: {e}")))?;
        done.map_err(Failure::into_error)
    }
}
