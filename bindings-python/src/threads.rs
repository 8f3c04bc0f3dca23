//! `Keel.slack_threads` and `SlackThreads`: Slack copilot threads and their context
//! extraction (core: `keel::channels::threads`, which owns the tables, the checks, the
//! watermark and the extraction).

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use keel::channels::{ThreadStore, threads};
use keel::options::Case;

use crate::error::Arg;
use crate::flow::args;
use crate::json::{Json, kwargs, to_json_strict};
use crate::llm::PyLlm;
use crate::memory::{PyLinker, linker};
use crate::runtime::{awaitable, call, guard};

/// Slack copilot threads on this database; make it with `db.slack_threads(**options)`.
#[pyclass(frozen, name = "SlackThreads", module = "keel._native")]
pub struct PySlackThreads {
    inner: ThreadStore,
}

/// `db.slack_threads(**options)`.
pub fn open_threads(
    keel: &keel::Keel,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<PySlackThreads> {
    let options = kwargs(options);
    guard(|| ThreadStore::open_value(keel, options, Case::Snake, ""))
        .map(|inner| PySlackThreads { inner })
}

/// The org and thread every call names, and the call's own arguments.
fn thread_args(
    org_id: String,
    thread_id: String,
    more: Vec<(&str, Value)>,
    options: Option<&Bound<'_, PyDict>>,
) -> Option<Value> {
    let mut named = vec![("org_id", org_id.into()), ("thread_id", thread_id.into())];
    named.extend(more);
    args(named, options)
}

impl PySlackThreads {
    fn extract_call<'py>(
        &self,
        py: Python<'py>,
        op: &'static str,
        args: Option<Value>,
        llm: &PyLlm,
        link: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let llm = llm.core().clone();
        let link = link.map(PyLinker);
        awaitable!(py, self.inner, |s| Ok(Json(
            s.extract_value(op, args, &llm, linker(&link), Case::Snake)
                .await?
        )))
    }
}

#[pymethods]
impl PySlackThreads {
    /// The thread of (org_id, user_id, slack_team_id, slack_channel_id, slack_thread_ts),
    /// created with its conversation for the first message; `title` optional (awaitable): a
    /// `keel.types.SlackThread`.
    #[pyo3(signature = (**key))]
    fn get_or_create<'py>(
        &self,
        py: Python<'py>,
        key: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call(py, &self.inner, "get_or_create", kwargs(key))
    }

    /// The thread (awaitable): a `keel.types.SlackThread`.
    fn get<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        thread_id: Arg<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "get",
            thread_args(org_id.0, thread_id.0, vec![], None),
        )
    }

    /// Adds messages (dicts like `keel.types.SlackThreadMessage`), each Slack `ts` once
    /// (awaitable): a `keel.types.SlackThreadAppend`.
    fn add_messages<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        thread_id: Arg<String>,
        messages: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let messages = guard(|| to_json_strict(messages, 0, "messages"))?;
        let more = vec![("messages", messages)];
        call(
            py,
            &self.inner,
            "add_messages",
            thread_args(org_id.0, thread_id.0, more, None),
        )
    }

    /// Ingests Slack's JSON (a `conversations.replies` page, message objects or Events API
    /// payloads; `bot_user_id`: the copilot's bot) into the thread (awaitable): a
    /// `keel.types.SlackThreadIngest`.
    #[pyo3(signature = (org_id, thread_id, payload, **options))]
    fn ingest<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        thread_id: Arg<String>,
        payload: &Bound<'py, PyAny>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let payload = guard(|| to_json_strict(payload, 0, "payload"))?;
        let more = vec![("payload", payload)];
        call(
            py,
            &self.inner,
            "ingest",
            thread_args(org_id.0, thread_id.0, more, options),
        )
    }

    /// Records a finished turn (`intent`, `credits`, `action`) in one statement (awaitable):
    /// the `keel.types.SlackThread`.
    #[pyo3(signature = (org_id, thread_id, **turn))]
    fn record_turn<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        thread_id: Arg<String>,
        turn: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "record_turn",
            thread_args(org_id.0, thread_id.0, vec![], turn),
        )
    }

    /// Sets the active `deal_id`, `contact_id`, `company_id`, `meeting_id` (the others stay)
    /// and `loaded_context` (cleared when an id changes) (awaitable): the
    /// `keel.types.SlackThread`.
    #[pyo3(signature = (org_id, thread_id, **entities))]
    fn set_active<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        thread_id: Arg<String>,
        entities: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "set_active",
            thread_args(org_id.0, thread_id.0, vec![], entities),
        )
    }

    /// The newest `limit` (default 10) messages, oldest first (awaitable): a list of
    /// `keel.types.SlackThreadHistoryItem`.
    #[pyo3(signature = (org_id, thread_id, **options))]
    fn history<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        thread_id: Arg<String>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "history",
            thread_args(org_id.0, thread_id.0, vec![], options),
        )
    }

    /// Extracts the thread's context now through `llm` (awaitable): a
    /// `keel.types.ThreadExtraction`. `link(kind, name) -> id | None` resolves entities;
    /// options as `keel.types.ExtractThreadOptions`.
    #[pyo3(signature = (org_id, thread_id, *, llm, link = None, **options))]
    #[allow(clippy::too_many_arguments)]
    fn extract<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        thread_id: Arg<String>,
        llm: Arg<PyRef<'py, PyLlm>>,
        link: Option<Py<PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = thread_args(org_id.0, thread_id.0, vec![], options);
        self.extract_call(py, "extract", a, &llm.0, link)
    }

    /// Extracts every thread whose extraction is due (`limit`, `lease_ms` and the options of
    /// `extract`) (awaitable): a `keel.types.ThreadSweep`.
    #[pyo3(signature = (*, llm, link = None, **options))]
    fn sweep<'py>(
        &self,
        py: Python<'py>,
        llm: Arg<PyRef<'py, PyLlm>>,
        link: Option<Py<PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.extract_call(py, "sweep", args(vec![], options), &llm.0, link)
    }
}

/// Reads a model's answer to thread context extraction: a `keel.types.ThreadReading`
/// (`invalid_input` on `answer` when unusable). Pure.
#[pyfunction]
fn read_thread_context(answer: Arg<String>) -> PyResult<Json> {
    guard(|| threads::read_thread_context_value(&answer.0).map(|r| Json::of(&r)))
}

/// The text thread context extraction gives the model for `messages` (dicts with `seq`,
/// `role`, `text`, `tokens`, oldest first; `previous`: the summary so far; `budget`: tokens,
/// default 3,000): `{"text", "range"}`. Pure.
#[pyfunction]
#[pyo3(signature = (messages, **options))]
fn thread_transcript(
    messages: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Json> {
    let messages = guard(|| to_json_strict(messages, 0, "messages"))?;
    let options = kwargs(options);
    guard(|| {
        threads::thread_transcript_value(messages, options, Case::Snake, "").map(|t| Json::of(&t))
    })
}

/// Adds this module's functions and classes to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySlackThreads>()?;
    m.add_function(wrap_pyfunction!(read_thread_context, m)?)?;
    m.add_function(wrap_pyfunction!(thread_transcript, m)?)
}
