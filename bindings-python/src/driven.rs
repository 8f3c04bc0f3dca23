//! `DrivenCall` (core: `keel::llm::DrivenCall`): a model call whose attempts the caller's
//! transports send on the caller's own event loop, driven by `keel._drive.drive`. Each method
//! hands one step to core and converts what it gives.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use keel::llm::{Completion, DrivenCall};

use crate::json::Direct;
use crate::runtime::{future_into_py, guard};
use crate::transport::{failure_of, reply_body};

type Shared = Arc<Mutex<Box<DrivenCall>>>;

/// A model call driven on the caller's event loop (made by `Llm.complete`, driven by
/// `keel._drive.drive`).
#[pyclass(frozen, name = "DrivenCall", module = "keel._native")]
pub struct PyDrivenCall {
    inner: Shared,
}

/// The completion as a dict, or `None` when the next attempt is ready.
fn step(outcome: keel::Result<Option<Completion>>) -> PyResult<Option<Direct<Completion>>> {
    guard(|| outcome.map(|done| done.map(Direct)))
}

fn locked(inner: &Shared) -> std::sync::MutexGuard<'_, Box<DrivenCall>> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// `keel._drive.drive(call, transports)`, the coroutine that drives `call`.
pub fn drive<'py>(
    py: Python<'py>,
    call: Box<DrivenCall>,
    transports: &Py<PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let call = PyDrivenCall {
        inner: Arc::new(Mutex::new(call)),
    };
    static DRIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let drive = DRIVE.import(py, "keel._drive", "drive")?;
    drive.call1((call, transports.bind(py)))
}

#[pymethods]
impl PyDrivenCall {
    /// What the provider's transport sends now (`{"provider", "model", "operation", "body"}`),
    /// or `None` when `wait()` does the step.
    fn transport_request<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let call = locked(&self.inner);
        let request = call
            .transport_request()
            .map(|r| Direct(r).into_pyobject(py));
        request.transpose()
    }

    /// The seconds the current attempt may take.
    fn timeout(&self) -> f64 {
        locked(&self.inner).timeout().as_secs_f64()
    }

    /// Settles the attempt with the transport's reply (a dict, or an SDK object with
    /// `model_dump()`): the completion, or `None` when the next attempt is ready.
    fn replied(
        &self,
        py: Python<'_>,
        reply: Bound<'_, PyAny>,
    ) -> PyResult<Option<Direct<Completion>>> {
        let answer = reply_body(py, &reply);
        step(locked(&self.inner).settle_transport(answer))
    }

    /// Settles the attempt with what the transport raised.
    fn failed(
        &self,
        py: Python<'_>,
        error: Bound<'_, PyAny>,
    ) -> PyResult<Option<Direct<Completion>>> {
        let failure = failure_of(py, &PyErr::from_value(error));
        step(locked(&self.inner).settle_transport(Err(failure)))
    }

    /// Settles the attempt as one that took longer than `timeout()`.
    fn timed_out(&self) -> PyResult<Option<Direct<Completion>>> {
        step(locked(&self.inner).settle_timeout())
    }

    /// Does a step on Keel's side (an attempt through Keel's own client, the breaker report
    /// of a call that failed for good) and settles it (awaitable).
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let waiting = locked(&self.inner).wait();
        let inner = self.inner.clone();
        future_into_py(py, async move {
            let waited = waiting.await;
            let done = locked(&inner).settle_waited(waited)?;
            Ok(done.map(Direct))
        })
    }
}
