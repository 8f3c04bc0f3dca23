//! `ModelRouter.llm`, `Llm` and `CallStream` (core: `keel::llm`).
//!
//! Requests and options go to core as the keyword arguments were written; completions and
//! stream events come back as plain dicts (`keel.types.Completion`, `keel.types.StreamEvent`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use keel::llm::{self, HostTask, TaskModel};
use keel::options::Case;

use crate::coroutine::Call;
use crate::error::{Arg, to_py_err};
use crate::json::{Direct, Json, dict_to_map, to_json};
use crate::record::options;
use crate::runtime::{Convert, Pending, awaitable, caught, future_into_py, guard, runtime};
use crate::transport::{self, EventLoop, PyTransport};

/// Makes model calls through the router; make it with `router.llm(...)`.
#[pyclass(frozen, name = "Llm", module = "keel._native")]
pub struct PyLlm {
    inner: llm::Llm,
    /// Where Python transports run: the loop of the latest call (absent without transports).
    event_loop: Option<EventLoop>,
    /// The transports as given, for calls driven on the caller's event loop.
    transports: Option<Py<PyDict>>,
}

impl PyLlm {
    /// The core client (for the message router's model stages).
    pub(crate) fn core(&self) -> &llm::Llm {
        &self.inner
    }

    /// The loop its Python transports run on (none without transports).
    pub(crate) fn event_loop(&self) -> Option<EventLoop> {
        self.event_loop.clone()
    }

    /// Remembers the running event loop for the client's Python transports; true when this
    /// thread runs one.
    fn note_loop(&self, py: Python<'_>) -> bool {
        match &self.event_loop {
            Some(event_loop) => event_loop.note(py),
            None => false,
        }
    }
}

/// The keyword arguments of a request, as core reads them, with the host's current span.
fn fields(py: Python<'_>, request: Option<&Bound<'_, PyDict>>) -> serde_json::Value {
    let fields = request.map(|r| dict_to_map(r, 0)).unwrap_or_default();
    crate::telemetry::with_host_context(py, fields).into()
}

impl PyLlm {
    /// Reads `request` with `parse` and runs `task` on it; the awaitable resolves to the
    /// result as a dict.
    fn task<'py, R, T, F>(
        &self,
        py: Python<'py>,
        request: Option<&Bound<'py, PyDict>>,
        parse: fn(serde_json::Value, Case) -> keel::Result<R>,
        task: impl FnOnce(llm::Llm, R) -> F + Send + 'static,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        R: Send + 'static,
        T: serde::Serialize,
        F: std::future::Future<Output = keel::Result<T>> + Send + 'static,
    {
        let request = guard(|| parse(fields(py, request), Case::Snake))?;
        self.note_loop(py);
        let llm = self.inner.clone();
        future_into_py(py, async move { Ok(Json::of(&task(llm, request).await?)) })
    }
}

#[pymethods]
impl PyLlm {
    /// Makes a call (awaitable, resolving to a `Completion` dict). With transports, on an
    /// event loop, core may hand the call back to be driven on that loop (`keel._drive`).
    #[pyo3(signature = (**request))]
    fn complete<'py>(
        &self,
        py: Python<'py>,
        request: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = guard(|| llm::CallRequest::from_value(fields(py, request), Case::Snake))?;
        let request = match (self.note_loop(py), &self.transports) {
            (true, Some(transports)) => match guard(|| self.inner.drive(request))? {
                llm::Driven::Call(call) => {
                    return Call::delegate(py, crate::driven::drive(py, call, transports)?);
                }
                llm::Driven::Awaits(request) => *request,
            },
            _ => request,
        };
        let llm = self.inner.clone();
        future_into_py(py, async move { Ok(Direct(llm.complete(&request).await?)) })
    }

    /// Starts a streaming call (awaitable, resolving to a `CallStream` once under way).
    #[pyo3(signature = (**request))]
    fn stream<'py>(
        &self,
        py: Python<'py>,
        request: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = guard(|| llm::CallRequest::from_value(fields(py, request), Case::Snake))?;
        self.note_loop(py);
        awaitable!(py, self.inner, |l| Ok(PyCallStream::new(
            l.stream(request).await?
        )))
    }

    /// The input tokens of `messages` sent to `model`, corrected by the usage this client's
    /// calls have reported: a `keel.types.TokenCount`.
    fn count_tokens(&self, model: Arg<&str>, messages: &Bound<'_, PyAny>) -> PyResult<Json> {
        let messages = to_json(messages, 0);
        let counter = self.inner.tokens();
        guard(|| {
            let count = counter.count_messages_value(model.0, messages, Case::Snake)?;
            Ok(Json::of(&count))
        })
    }

    /// Summarizes `text` (awaitable, resolving to a `Summary` dict).
    #[pyo3(signature = (**request))]
    fn summarize<'py>(
        &self,
        py: Python<'py>,
        request: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let parse = llm::SummaryRequest::from_value;
        self.task(
            py,
            request,
            parse,
            |l, r| async move { l.summarize(&r).await },
        )
    }

    /// Puts `text` under one of `labels` (awaitable, resolving to a `Classification` dict).
    #[pyo3(signature = (**request))]
    fn classify<'py>(
        &self,
        py: Python<'py>,
        request: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let parse = llm::ClassifyRequest::from_value;
        self.task(
            py,
            request,
            parse,
            |l, r| async move { l.classify(&r).await },
        )
    }

    /// Embeds `texts` (awaitable, resolving to an `Embeddings` dict).
    #[pyo3(signature = (**request))]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        request: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let parse = llm::EmbedRequest::from_value;
        self.task(py, request, parse, |l, r| async move { l.embed(&r).await })
    }
}

/// A streaming call: an async iterator of event dicts, the last one `{"event": "done", ...}`.
///
/// Each trip to the runtime's threads brings every event the stream has buffered (up to
/// [`llm::BURST`]); the ones after the first are handed over from here without a trip, for up
/// to [`llm::HANDOVER_SLICE`] after the first of them, then the next waits on the event loop.
#[pyclass(frozen, name = "CallStream", module = "keel._native")]
pub struct PyCallStream {
    inner: Arc<tokio::sync::Mutex<Option<llm::CallStream>>>,
    ahead: Arc<Mutex<Ahead>>,
}

/// Events read with an earlier one and not handed over yet.
#[derive(Default)]
struct Ahead {
    events: VecDeque<llm::StreamEvent>,
    /// When the first of them was handed over without a trip.
    since: Option<Instant>,
}

impl PyCallStream {
    fn new(stream: llm::CallStream) -> Self {
        Self {
            inner: Arc::new(tokio::sync::Mutex::new(Some(stream))),
            ahead: Arc::default(),
        }
    }
}

fn ahead(ahead: &Mutex<Ahead>) -> MutexGuard<'_, Ahead> {
    ahead.lock().unwrap_or_else(|e| e.into_inner())
}

/// An event as a Python dict.
fn event_object(py: Python<'_>, event: &llm::StreamEvent) -> PyResult<Py<PyAny>> {
    Ok(Json::of(event).into_pyobject(py)?.unbind())
}

#[pymethods]
impl PyCallStream {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        {
            let mut held = ahead(&self.ahead);
            if !held.events.is_empty() {
                let now = Instant::now();
                let since = *held.since.get_or_insert(now);
                if now.duration_since(since) <= llm::HANDOVER_SLICE {
                    let event = held.events.pop_front().expect("not empty");
                    drop(held);
                    return Call::ready(py, event_object(py, &event)?);
                }
            }
        }
        let inner = self.inner.clone();
        let read_ahead = self.ahead.clone();
        let pending: Pending = Box::pin(async move {
            // Awaited in the call's own task: a cancelled `__anext__` drops the wait, and no
            // event is lost (the stream's channel keeps it for the next one).
            let next = caught(async move {
                let mut stream = inner.lock().await;
                let earlier = {
                    let mut held = ahead(&read_ahead);
                    held.since = None;
                    held.events.pop_front()
                };
                if earlier.is_some() {
                    return Ok(earlier);
                }
                let Some(s) = stream.as_mut() else {
                    return Ok(None);
                };
                let Some(batch) = s.next_batch(llm::BURST).await? else {
                    return Ok(None);
                };
                let mut batch = batch.into_iter();
                let first = batch.next();
                ahead(&read_ahead).events.extend(batch);
                Ok(first)
            })
            .await;
            match next {
                Ok(Some(event)) => {
                    Ok(Box::new(move |py: Python<'_>| event_object(py, &event)) as Convert)
                }
                Ok(None) => Err(PyStopAsyncIteration::new_err(())),
                Err(err) => Err(to_py_err(err)),
            }
        });
        Call::pending(py, pending)
    }

    /// Stops the call now: the HTTP request ends and unspent credits are released
    /// (awaitable).
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let read_ahead = self.ahead.clone();
        awaitable!(py, self.inner, |inner| {
            inner.lock().await.take();
            ahead(&read_ahead).events.clear();
            Ok(())
        })
    }
}

/// Makes a client on `router` (behind `ModelRouter.llm`).
pub fn open_llm(
    router: &keel::models::ModelRouter,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyLlm> {
    let _runtime = runtime().enter();
    let event_loop = EventLoop::default();
    let (transports, given) = guard(|| transport::take(kwargs, &event_loop))?;
    let mut options: llm::LlmOptions = guard(|| options(kwargs))?;
    let event_loop = transports
        .providers()
        .next()
        .is_some()
        .then_some(event_loop);
    options.transports = transports;
    let inner = guard(|| llm::Llm::new(router, options))?;
    Ok(PyLlm {
        inner,
        event_loop,
        transports: given,
    })
}

/// Adds this module's classes to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLlm>()?;
    m.add_class::<crate::driven::PyDrivenCall>()?;
    m.add_class::<PyCallStream>()
}

/// A model task's model as Python gave it (a router's classifier or embedder, a
/// compaction's summarizer): a `keel.Llm`, or an async callable of the host's own models
/// that core calls with the task's request ([`keel::llm::HostTask`]).
pub fn task_model(
    given: Option<&Bound<'_, PyAny>>,
    field: &str,
    event_loop: &EventLoop,
) -> PyResult<Option<TaskModel>> {
    let Some(given) = given.filter(|g| !g.is_none()) else {
        return Ok(None);
    };
    if let Ok(llm) = given.cast::<PyLlm>() {
        return Ok(Some(TaskModel::Llm(llm.borrow().core().clone())));
    }
    if !given.is_callable() {
        let message = "must be a keel.Llm or an async callable";
        return Err(to_py_err(keel::Error::invalid_input(field, message)));
    }
    let function = PyTransport::new(given.clone().unbind(), event_loop.clone());
    Ok(Some(TaskModel::Host(HostTask::new(
        Arc::new(function),
        Case::Snake,
    ))))
}
