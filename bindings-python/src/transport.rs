//! Python async callables as a provider's transport (core: `keel::llm::Transport`).
//!
//! `router.llm(transports={"anthropic": send})`, where `async def send(request)` gets
//! `{"provider", "model", "operation", "body"}` and returns the provider's reply body (a dict,
//! or an SDK object with `model_dump()`), or raises (the SDK's error: its `status_code` or
//! `status`, `body` and `response.headers["retry-after"]` are read). The coroutine runs on the
//! event loop of the latest call through the client; a cancelled call cancels it.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use serde_json::Value;
use tokio::sync::oneshot;

use keel::llm::{Transport, TransportFailure, TransportFuture, TransportRequest, Transports};
use keel::runner::{DeadLetter, Failure, Handled, HandlerFuture, LetterHandler, replay};

use crate::json::{Json, to_json, to_json_strict};

type Outcome = Result<Value, TransportFailure>;

/// The event loop of the latest call through a client with transports.
#[derive(Clone, Default)]
pub struct EventLoop(Arc<Mutex<Option<Py<PyAny>>>>);

impl EventLoop {
    /// Remembers the running loop of this thread, if one runs; true when one does.
    pub fn note(&self, py: Python<'_>) -> bool {
        let Ok(running) = crate::runtime::running_loop(py) else {
            return false;
        };
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(running.unbind());
        true
    }

    /// True when [`EventLoop::note`] found a running loop.
    pub fn is_noted(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    fn get(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().map(|l| l.clone_ref(py))
    }
}

/// Takes `transports` (provider name to async callable) out of `kwargs`, with a copy of the
/// dict for calls driven on the event loop (`keel._drive`).
///
/// # Errors
/// `invalid_input` naming `transports` (not a dict) or `transports.<name>` (not callable).
pub fn take(
    kwargs: Option<&Bound<'_, PyDict>>,
    event_loop: &EventLoop,
) -> keel::Result<(Transports, Option<Py<PyDict>>)> {
    let mut transports = Transports::default();
    let Some(given) = kwargs.and_then(|k| k.get_item("transports").ok().flatten()) else {
        return Ok((transports, None));
    };
    if let Some(kwargs) = kwargs {
        let _ = kwargs.del_item("transports");
    }
    let given = given
        .cast_into::<PyDict>()
        .map_err(|_| keel::Error::invalid_input("transports", "must be a dict"))?;
    for (name, callable) in given.iter() {
        let name = name.extract::<String>().unwrap_or_default();
        if !callable.is_callable() {
            return Err(Transports::not_callable(&name));
        }
        let transport = PyTransport::new(callable.unbind(), event_loop.clone());
        transports.insert(name, Arc::new(transport));
    }
    Ok((transports, given.copy().ok().map(Bound::unbind)))
}

/// A Python async callable called from core: a provider's transport, or a dead-letter
/// handler ([`PyHandler`]).
pub struct PyTransport {
    callable: Py<PyAny>,
    event_loop: EventLoop,
}

impl Transport for PyTransport {
    fn send(&self, request: TransportRequest) -> TransportFuture {
        self.call(Json::of(&request))
    }
}

/// A Python async callable doing a model task of the host's ([`keel::llm::HostTask`]).
impl keel::llm::HostFunction for PyTransport {
    fn call(&self, argument: Value) -> TransportFuture {
        PyTransport::call(self, Json(argument))
    }
}

impl PyTransport {
    /// The callable, run on `event_loop`.
    pub fn new(callable: Py<PyAny>, event_loop: EventLoop) -> Self {
        PyTransport {
            callable,
            event_loop,
        }
    }

    /// Calls the callable with `argument` and awaits its coroutine on the event loop.
    pub fn call(&self, argument: Json) -> TransportFuture {
        self.call_with(move |py| Ok(vec![argument.into_pyobject(py)?]), None)
    }

    /// Calls the callable with the arguments `args` makes (with the GIL held) and awaits its
    /// coroutine on the event loop. What the coroutine raises is read as a failure and, with
    /// `raised`, also kept there as it is, for the binding to raise again.
    pub fn call_with(
        &self,
        args: impl FnOnce(Python<'_>) -> PyResult<Vec<Bound<'_, PyAny>>>,
        raised: Option<Raised>,
    ) -> TransportFuture {
        let started = Python::attach(|py| self.start(py, args, raised));
        Box::pin(async move {
            let (answer, mut task) = started?;
            let outcome = answer.await;
            task.0 = None;
            outcome.unwrap_or_else(|_| Err(failure("the Python task ended without an answer")))
        })
    }

    /// Schedules the callable's coroutine on the event loop; its outcome arrives on the
    /// receiver.
    fn start<'py>(
        &self,
        py: Python<'py>,
        args: impl FnOnce(Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>>,
        raised: Option<Raised>,
    ) -> Result<(oneshot::Receiver<Outcome>, CancelOnDrop), TransportFailure> {
        let event_loop = self.event_loop.get(py).ok_or_else(|| {
            failure("a Python async callable runs on an asyncio event loop: await the call")
        })?;
        let failed = |err: PyErr| failure_of(py, &err);
        let args = PyTuple::new(py, args(py).map_err(failed)?).map_err(failed)?;
        let coroutine = self.callable.bind(py).call1(args).map_err(failed)?;
        let task = py
            .import("asyncio")
            .and_then(|a| a.call_method1("run_coroutine_threadsafe", (coroutine, event_loop)))
            .map_err(failed)?;
        let (tx, rx) = oneshot::channel();
        let done = Done {
            tx: Mutex::new(Some(tx)),
            raised,
        };
        task.call_method1("add_done_callback", (done,))
            .map_err(failed)?;
        Ok((rx, CancelOnDrop(Some(task.unbind()))))
    }
}

/// Where [`PyTransport::call_with`] keeps the exception a coroutine raised.
pub type Raised = Arc<Mutex<Option<PyErr>>>;

/// A Python async callable as a dead-letter handler: called with the letter's replay body
/// (`keel.types.Replay`); what it returns says done or accepted, what it raises is the failure
/// (its `status_code`/`status`, `body`, `retry-after` header and `kind` are read).
pub struct PyHandler(pub PyTransport);

impl LetterHandler for PyHandler {
    fn handle(&self, letter: DeadLetter) -> HandlerFuture {
        let call = self.0.call(Json::of(&replay(&letter)));
        Box::pin(async move {
            match call.await {
                Ok(answer) => Ok(Handled::of_value(&answer)),
                Err(failure) => Err(Failure::from(failure)),
            }
        })
    }
}

/// Cancels the Python task when the call stops waiting for it.
struct CancelOnDrop(Option<Py<PyAny>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            Python::attach(|py| {
                let _ = task.bind(py).call_method0("cancel");
            });
        }
    }
}

/// Hands the finished task's outcome to the waiting call (runs on the event loop's thread).
#[pyclass(frozen)]
struct Done {
    tx: Mutex<Option<oneshot::Sender<Outcome>>>,
    raised: Option<Raised>,
}

#[pymethods]
impl Done {
    fn __call__(&self, py: Python<'_>, task: Bound<'_, PyAny>) {
        let outcome = match task.call_method0("result") {
            Ok(reply) => reply_body(py, &reply),
            Err(err) => {
                let failed = failure_of(py, &err);
                if let Some(raised) = &self.raised {
                    *raised.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
                }
                Err(failed)
            }
        };
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(outcome);
        }
    }
}

/// The reply as JSON: a dict, or what an SDK object's `model_dump(mode="json")` gives. A reply
/// that is not JSON (an object, an int beyond 64 bits, NaN) is the call's failure, as
/// `json.dumps` would raise: never its `repr()` read as an answer.
pub fn reply_body(py: Python<'_>, reply: &Bound<'_, PyAny>) -> Outcome {
    // A plain dict is the answer as it is (asking it for `model_dump` raises and catches an
    // error).
    let has_dump = match reply.is_exact_instance_of::<PyDict>() {
        true => Ok(false),
        false => reply.hasattr("model_dump"),
    };
    let dumped = match has_dump {
        Ok(true) => {
            let kwargs = PyDict::new(py);
            kwargs
                .set_item("mode", "json")
                .and_then(|()| reply.call_method("model_dump", (), Some(&kwargs)))
        }
        Ok(false) => Ok(reply.clone()),
        Err(err) => Err(err),
    };
    let dumped = dumped.map_err(|err| failure_of(py, &err))?;
    to_json_strict(&dumped, 0, "answer").map_err(|err| failure(&err.to_string()))
}

fn failure(message: &str) -> TransportFailure {
    TransportFailure {
        message: message.to_owned(),
        ..TransportFailure::default()
    }
}

/// What a raised exception says about the provider's answer.
pub fn failure_of(py: Python<'_>, err: &PyErr) -> TransportFailure {
    let error = err.value(py);
    let status = |name: &str| error.getattr(name).ok()?.extract::<u16>().ok();
    let body = error
        .getattr("body")
        .ok()
        .filter(|b| b.is_instance_of::<PyDict>())
        .map(|b| to_json(&b, 0));
    let retry_after = error
        .getattr("response")
        .and_then(|r| r.getattr("headers"))
        .and_then(|h| h.call_method1("get", ("retry-after",)))
        .ok()
        .filter(|v| v.is_instance_of::<PyString>())
        .and_then(|v| v.extract::<String>().ok());
    let kind = error
        .getattr("kind")
        .ok()
        .filter(|k| k.is_instance_of::<PyString>())
        .and_then(|k| k.extract::<String>().ok());
    TransportFailure {
        status: status("status_code").or_else(|| status("status")),
        body,
        message: crate::error::printed(error),
        retry_after,
        kind,
    }
}
