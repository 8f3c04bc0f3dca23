//! `SkillRegistry.message_router` and `MessageRouter` (core: `keel::routing`).

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use keel::llm::TaskModel;
use keel::options::Case;
use keel::routing::{self, LogQuery, MessageRouter, RouteRequest};
use keel::skills::SkillRegistry;

use crate::error::Arg;
use crate::json::{Json, kwargs};
use crate::llm::task_model;
use crate::record::options;
use crate::runtime::{awaitable, guard, ready, runtime};
use crate::transport::EventLoop;

/// A routing decision: reads like the dict it was (`decision["route"]`), each field converted
/// when read; `to_dict()` converts them all.
#[pyclass(frozen, name = "RouteDecision", module = "keel._native", mapping)]
pub struct PyRouteDecision(routing::Routed);

#[pymethods]
impl PyRouteDecision {
    fn __getitem__(&self, key: &str) -> PyResult<Json> {
        self.0
            .field(key, Case::Snake)
            .map(Json)
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.to_owned()))
    }

    fn __contains__(&self, key: &str) -> bool {
        routing::Routed::FIELDS.contains(&key)
    }

    fn __len__(&self) -> usize {
        routing::Routed::FIELDS.len()
    }

    /// The field names, in order.
    fn keys(&self) -> Vec<&'static str> {
        routing::Routed::FIELDS.to_vec()
    }

    /// A field's value, or `default`.
    #[pyo3(signature = (key, default = None))]
    fn get(&self, py: Python<'_>, key: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        match self.0.field(key, Case::Snake) {
            Some(value) => Json(value).into_py_any(py),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// Every field as a dict (`keel.types.RouteDecision`).
    fn to_dict(&self) -> Json {
        Json::of(&self.0)
    }

    fn __repr__(&self) -> String {
        format!(
            "RouteDecision(route={:?}, confidence={:.2}, stage={:?}, cached={})",
            self.0.route, self.0.confidence, self.0.stage, self.0.cached
        )
    }
}

/// The core request of `route`'s and `try_route`'s arguments.
fn request(
    message: Arg<String>,
    channel: Arg<&str>,
    org_id: Arg<&str>,
    user_id: Option<Arg<String>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<RouteRequest> {
    let fields = kwargs(options);
    guard(|| {
        RouteRequest::from_parts(
            message.0,
            channel.0,
            org_id.0,
            Arg::opt(user_id),
            fields,
            Case::Snake,
            "",
        )
    })
}

/// Routes messages to an org's skills; make it with `skills.message_router(...)`.
#[pyclass(frozen, name = "MessageRouter", module = "keel._native")]
pub struct PyMessageRouter {
    inner: MessageRouter,
    /// Where the host's own classifier and embedder run: the loop of the latest awaited call
    /// (absent without them).
    event_loop: Option<EventLoop>,
}

impl PyMessageRouter {
    /// Remembers the caller's event loop for the host's functions.
    fn note_loop(&self, py: Python<'_>) {
        if let Some(event_loop) = &self.event_loop {
            event_loop.note(py);
        }
    }
}

#[pymethods]
impl PyMessageRouter {
    /// Routes `message` (awaitable): the decision (`RouteDecision`, read as a dict).
    /// When the org's skills are cached and no model stage runs, the awaitable is already
    /// done.
    #[pyo3(signature = (message, channel, org_id, user_id = None, **options))]
    fn route<'py>(
        &self,
        py: Python<'py>,
        message: Arg<String>,
        channel: Arg<&str>,
        org_id: Arg<&str>,
        user_id: Option<Arg<String>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = request(message, channel, org_id, user_id, options)?;
        if let Some(done) = self.inner.try_route(&request) {
            return ready(py, PyRouteDecision(guard(|| done)?));
        }
        self.note_loop(py);
        awaitable!(py, self.inner, |r| Ok(PyRouteDecision(
            r.route(&request).await?
        )))
    }

    /// Routes `message` without waiting when nothing needs waiting for (the org's skills
    /// are cached and no model stage runs): the decision, else `None` (await `route`).
    #[pyo3(signature = (message, channel, org_id, user_id = None, **options))]
    fn try_route<'py>(
        &self,
        message: Arg<String>,
        channel: Arg<&str>,
        org_id: Arg<&str>,
        user_id: Option<Arg<String>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Option<PyRouteDecision>> {
        let request = request(message, channel, org_id, user_id, options)?;
        self.inner
            .try_route(&request)
            .map(|done| guard(|| done).map(PyRouteDecision))
            .transpose()
    }

    /// Evaluates a labelled `.jsonl` text for `org_id` (awaitable): accuracy, per-label
    /// precision and recall, confusion pairs, out-of-scope false accepts, stages, latency.
    /// Its routes are logged like any other: evaluate on a router made with `log=False`.
    #[pyo3(
        signature = (labelled, org_id, *, allow_llm = Arg(false)),
        text_signature = "($self, labelled, org_id, *, allow_llm=False)"
    )]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        labelled: Arg<String>,
        org_id: Arg<String>,
        allow_llm: Arg<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.note_loop(py);
        awaitable!(py, self.inner, |r| Ok(Json::of(
            &routing::evaluate_jsonl(&r, &org_id.0, &labelled.0, allow_llm.0).await?
        )))
    }

    /// The routing log of `org_id` (awaitable): `since` seconds back (default 3,600), at most
    /// `limit` rows (default 100), newest first.
    #[pyo3(signature = (org_id, **query))]
    fn log<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        query: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query: LogQuery = guard(|| options(query))?;
        awaitable!(py, self.inner, |r| Ok(Json::of(
            &r.recent_log(&org_id.0, &query).await?
        )))
    }

    /// Waits until every decision made so far is in `routing_logs` (awaitable).
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |r| {
            r.flush().await;
            Ok(())
        })
    }

    /// Counters since the router opened.
    fn stats(&self) -> Json {
        Json::of(&self.inner.stats())
    }

    /// Drops every cached decision and index.
    fn invalidate(&self) {
        self.inner.invalidate();
    }
}

/// Opens a message router over `registry` (behind `SkillRegistry.message_router`).
pub fn open_router<'py>(
    registry: &SkillRegistry,
    classifier: Option<&Bound<'py, PyAny>>,
    embedder: Option<&Bound<'py, PyAny>>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<PyMessageRouter> {
    let options = guard(|| options(kwargs))?;
    let event_loop = EventLoop::default();
    let classifier = task_model(classifier, "classifier", &event_loop)?;
    let embedder = task_model(embedder, "embedder", &event_loop)?;
    let hosted = [&classifier, &embedder]
        .iter()
        .any(|m| matches!(m, Some(TaskModel::Host(_))));
    // The log writer starts on the runtime the router's routes run on.
    let _guard = runtime().enter();
    let inner = guard(|| MessageRouter::open(registry, options))?.with_models(classifier, embedder);
    Ok(PyMessageRouter {
        inner,
        event_loop: hosted.then_some(event_loop),
    })
}

/// Adds this module's classes to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMessageRouter>()?;
    m.add_class::<PyRouteDecision>()
}
