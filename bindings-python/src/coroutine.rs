//! `keel.Call`: what every native async method returns, a coroutine in Python's sense, and
//! the sync facade (`.wait()`) for code without an event loop.
//!
//! A call starts nothing until it is awaited (or driven by `asyncio.run` or a task), as an
//! `async def` does, so `asyncio.run(db.applied_migrations())` works where a future tied to a
//! running loop cannot be made yet. On its first step it hands the core future to the runtime
//! bridge and delegates every step to the asyncio future that bridge returns. An answer known
//! at once (a cached view) finishes on its first step without touching the event loop. A call
//! driven on the event loop itself (a model call through the caller's transports) delegates
//! every step to the Python coroutine driving it.

use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyType;
use tokio::task::AbortHandle;

use crate::runtime::{Pending, block, start};

enum State {
    /// Not awaited yet.
    Pending(Pending),
    /// Answered at once; the first step returns it.
    Ready(Py<PyAny>),
    /// A coroutine of the package's own, not stepped yet.
    Delegate(Py<PyAny>),
    /// Awaiting the asyncio future through its iterator (the handle aborts the core task), or
    /// a delegate coroutine (no core task).
    Running(Py<PyAny>, Option<AbortHandle>),
    /// Finished, closed or thrown into before it started.
    Done,
}

/// A native call awaiting its result: awaitable once, like a coroutine of an `async def`.
#[pyclass(frozen, name = "Call", module = "keel._native")]
pub struct Call {
    state: Mutex<State>,
}

impl Call {
    /// A call that starts `pending` when first stepped (or waited for).
    pub fn pending(py: Python<'_>, pending: Pending) -> PyResult<Bound<'_, PyAny>> {
        Ok(Bound::new(py, Self::new(State::Pending(pending)))?.into_any())
    }

    /// A call whose steps are those of `coroutine`, run on the event loop that awaits it.
    pub fn delegate<'py>(
        py: Python<'py>,
        coroutine: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let state = State::Delegate(coroutine.unbind());
        Ok(Bound::new(py, Self::new(state))?.into_any())
    }

    /// A call whose answer is `value`, returned on its first step.
    pub fn ready<'py>(py: Python<'py>, value: Py<PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Ok(Bound::new(py, Self::new(State::Ready(value)))?.into_any())
    }

    fn new(state: State) -> Self {
        Self {
            state: Mutex::new(state),
        }
    }

    fn take(&self) -> State {
        std::mem::replace(
            &mut *self.state.lock().unwrap_or_else(|e| e.into_inner()),
            State::Done,
        )
    }

    fn put(&self, state: State) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    /// The asyncio iterator to delegate a step to, starting the call if it has not started;
    /// `Err` with `StopIteration` when the answer is already known.
    fn iterator(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.take() {
            State::Pending(pending) => {
                let (iterator, task) = start(py, pending)?;
                self.put(State::Running(iterator.clone_ref(py), Some(task)));
                Ok(iterator)
            }
            State::Delegate(coroutine) => {
                self.put(State::Running(coroutine.clone_ref(py), None));
                Ok(coroutine)
            }
            State::Running(iterator, task) => {
                self.put(State::Running(iterator.clone_ref(py), task));
                Ok(iterator)
            }
            State::Ready(value) => Err(PyStopIteration::new_err((value,))),
            State::Done => Err(PyRuntimeError::new_err(
                "cannot reuse an already awaited keel call",
            )),
        }
    }
}

impl Drop for Call {
    /// A call dropped while running (its awaiting task was garbage-collected) stops its core
    /// work; one that finished is unaffected.
    fn drop(&mut self) {
        match self.take() {
            State::Running(_, Some(task)) => task.abort(),
            // Never awaited: closed, so Python does not warn about it.
            State::Delegate(coroutine) => Python::attach(|py| {
                let _ = coroutine.bind(py).call_method0("close");
            }),
            _ => {}
        }
    }
}

#[pymethods]
impl Call {
    /// Runs the call to its end on this thread and returns its value, for code without an
    /// event loop (a Django view, a Celery task): `db = keel.connect(url).wait()`. The GIL is
    /// released while it waits. A call is awaited or waited for once.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.take() {
            State::Pending(pending) => block(py, pending),
            State::Ready(value) => Ok(value),
            State::Running(iterator, task) => {
                self.put(State::Running(iterator, task));
                Err(PyRuntimeError::new_err("this keel call is being awaited"))
            }
            State::Delegate(coroutine) => {
                self.put(State::Delegate(coroutine));
                Err(PyRuntimeError::new_err(
                    "this keel call runs on the event loop its transports run on: await it",
                ))
            }
            State::Done => Err(PyRuntimeError::new_err(
                "cannot reuse an already awaited keel call",
            )),
        }
    }

    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.send(py, py.None().into_bound(py))
    }

    /// Advances the call (what the event loop does on each step).
    fn send(&self, py: Python<'_>, value: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let iterator = self.iterator(py)?;
        let step = iterator.bind(py).call_method1("send", (value,));
        if step.is_err() {
            self.put(State::Done);
        }
        step.map(Bound::unbind)
    }

    /// Raises `error` inside the call (how a task is cancelled).
    #[pyo3(signature = (error, value = None, traceback = None))]
    fn throw(
        &self,
        py: Python<'_>,
        error: Bound<'_, PyAny>,
        value: Option<Bound<'_, PyAny>>,
        traceback: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match self.take() {
            State::Running(iterator, task) => {
                let step = iterator
                    .bind(py)
                    .call_method1("throw", (error, value, traceback));
                match (step.is_ok(), task) {
                    (true, task) => self.put(State::Running(iterator, task)),
                    // The awaiting task is cancelled (or gave up): the core work stops with it.
                    (false, Some(task)) => task.abort(),
                    (false, None) => {}
                }
                step.map(Bound::unbind)
            }
            // Never started: the error surfaces at once and nothing runs.
            _ => {
                let error = match error.cast::<PyType>() {
                    Ok(kind) => match value {
                        Some(value) => kind.call1((value,))?,
                        None => kind.call0()?,
                    },
                    Err(_) => error,
                };
                Err(PyErr::from_value(error))
            }
        }
    }

    /// Stops the call; an asyncio future it was awaiting is cancelled, and the core work
    /// stops.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let (iterator, task) = match self.take() {
            State::Running(iterator, task) => (iterator, task),
            State::Delegate(coroutine) => (coroutine, None),
            _ => return Ok(()),
        };
        if let Some(task) = task {
            task.abort();
        }
        let iterator = iterator.bind(py);
        if iterator.hasattr("close")? {
            iterator.call_method0("close")?;
        }
        Ok(())
    }

    fn __repr__(&self) -> &'static str {
        match &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            State::Pending(_) | State::Ready(_) | State::Delegate(_) => "<keel.Call not awaited>",
            State::Running(..) => "<keel.Call running>",
            State::Done => "<keel.Call done>",
        }
    }
}
