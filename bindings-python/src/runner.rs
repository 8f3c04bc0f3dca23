//! `Keel.dead_letters` and `DeadLetters`, `classify_failure` and `retry_delays` (core:
//! `keel::runner`, whose `*_value` calls read the ids and JSON and own every check). Records
//! come back as dicts.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use keel::options::Case;
use keel::runner::{DeadLetters, LetterHandler};

use crate::error::Arg;
use crate::json::{Json, dict_to_map, kwargs, to_json_strict};
use crate::runtime::{awaitable, guard};
use crate::transport::{EventLoop, PyHandler, PyTransport};

/// The dead-letter queue; make it with `db.dead_letters()`.
#[pyclass(frozen, name = "DeadLetters", module = "keel._native")]
pub struct PyDeadLetters {
    inner: DeadLetters,
}

#[pymethods]
impl PyDeadLetters {
    /// Enqueues a letter (fields of `keel.types.NewDeadLetter`) (awaitable): a
    /// `keel.types.DeadLetter`; once per `idempotency_key`.
    #[pyo3(signature = (**letter))]
    fn enqueue<'py>(
        &self,
        py: Python<'py>,
        letter: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // The payload is replayed as given: converted strictly, never through `repr()`.
        let payload = letter
            .and_then(|l| l.get_item("payload").ok().flatten())
            .map(|p| guard(|| to_json_strict(&p, 0, "payload")))
            .transpose()?;
        let mut letter = letter.map(|l| dict_to_map(l, 0)).unwrap_or_default();
        if let Some(payload) = payload {
            letter.insert("payload".to_owned(), payload);
        }
        let letter = Some(letter.into());
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.enqueue_value(letter, Case::Snake, "").await?
        )))
    }

    /// The letters a query selects, newest first (awaitable): `status` (a list), `agent_name`,
    /// `org_id`, `since` (RFC 3339), `limit` (default 100).
    #[pyo3(signature = (**query))]
    fn list<'py>(
        &self,
        py: Python<'py>,
        query: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = kwargs(query);
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.list_value(query, Case::Snake, "").await?
        )))
    }

    /// The letter (awaitable).
    fn get<'py>(&self, py: Python<'py>, id: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        self.operate(py, "get", id.0, None)
    }

    /// Makes a pending letter due now (awaitable): the letter.
    fn retry<'py>(&self, py: Python<'py>, id: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        self.operate(py, "retry", id.0, None)
    }

    /// Brings an abandoned letter back, its retries counted from zero (awaitable).
    fn redrive<'py>(&self, py: Python<'py>, id: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        self.operate(py, "redrive", id.0, None)
    }

    /// Resolves an open letter: an asynchronous handler's work finished (awaitable).
    fn resolve<'py>(&self, py: Python<'py>, id: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        self.operate(py, "resolve", id.0, None)
    }

    /// Abandons an open letter with a reason (awaitable).
    #[pyo3(signature = (id, **options))]
    fn abandon<'py>(
        &self,
        py: Python<'py>,
        id: Arg<String>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.operate(py, "abandon", id.0, kwargs(options))
    }

    /// Deletes letters resolved more than `days` days ago (default 30) (awaitable): how many.
    #[pyo3(signature = (**options))]
    fn purge<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = kwargs(options);
        awaitable!(py, self.inner, |s| s
            .purge_value(options, Case::Snake, "")
            .await)
    }

    /// Claims one batch of due letters and replays each through `handler` (an async callable
    /// taking a `keel.types.Replay`; returning `"accepted"` leaves the letter for `resolve`,
    /// raising is a failure) or posts it to `url` (awaitable): a `keel.types.WorkReport`.
    /// Options as `keel.types.WorkerOptions`.
    #[pyo3(signature = (handler = None, **options))]
    fn work_once<'py>(
        &self,
        py: Python<'py>,
        handler: Option<Py<PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = EventLoop::default();
        event_loop.note(py);
        if handler.is_some() && !event_loop.is_noted() {
            // Without a running loop the handler could not run, and every letter claimed
            // would spend a retry on it.
            return Err(crate::error::to_py_err(keel::Error::invalid_input(
                "handler",
                "a Python handler runs on an asyncio event loop: await work_once",
            )));
        }
        let handler = handler.map(|h| {
            Arc::new(PyHandler(PyTransport::new(h, event_loop))) as Arc<dyn LetterHandler>
        });
        let options = kwargs(options);
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.work_once_value(options, handler, Case::Snake, "").await?
        )))
    }
}

impl PyDeadLetters {
    fn operate<'py>(
        &self,
        py: Python<'py>,
        operation: &'static str,
        id: String,
        options: Option<serde_json::Value>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.operate_value(operation, &id, options, Case::Snake)
                .await?
        )))
    }
}

/// The kind of a failure (fields of `keel.types.FailureInfo`): `{kind, retry_after_ms, by}`.
#[pyfunction]
#[pyo3(signature = (**failure))]
fn classify_failure(failure: Option<&Bound<'_, PyDict>>) -> PyResult<Json> {
    let failure = kwargs(failure);
    guard(|| keel::runner::classify_value(failure, Case::Snake, "").map(|c| Json::of(&c)))
}

/// The ceilings and seeded delays of a backoff: `kind` (under `policy`) or `backoff`,
/// `retries`, `seed`, `retry_after_ms`.
#[pyfunction]
#[pyo3(signature = (**input))]
fn retry_delays(input: Option<&Bound<'_, PyDict>>) -> PyResult<Json> {
    let input = kwargs(input);
    guard(|| keel::runner::retry_delays_value(input, Case::Snake, "").map(|d| Json::of(&d)))
}

/// The dead letters on `keel` (behind `Keel.dead_letters`).
pub fn open_letters(keel: &keel::Keel) -> PyDeadLetters {
    PyDeadLetters {
        inner: DeadLetters::open(keel),
    }
}

/// Adds this module's classes to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDeadLetters>()?;
    m.add_function(wrap_pyfunction!(classify_failure, m)?)?;
    m.add_function(wrap_pyfunction!(retry_delays, m)?)
}
