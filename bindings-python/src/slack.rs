//! `Keel.slack` and `Slack`, `slack_ingest`: Slack's Web API and the ingest of its JSON (core:
//! `keel::channels::slack`, which owns the methods, their limits, retries, checks and the
//! mapping of messages).

use pyo3::prelude::*;
use pyo3::types::PyDict;

use keel::channels::slack::{self, SlackClient};
use keel::options::Case;

use crate::error::Arg;
use crate::flow::args;
use crate::json::{Json, kwargs, to_json_strict};
use crate::runtime::{call, guard};

/// A Slack Web API client for one bot token; make it with `db.slack(token=…, **options)`.
#[pyclass(frozen, name = "Slack", module = "keel._native")]
pub struct PySlack {
    inner: SlackClient,
}

/// `db.slack(**options)`.
pub fn open_slack(keel: &keel::Keel, options: Option<&Bound<'_, PyDict>>) -> PyResult<PySlack> {
    let options = kwargs(options);
    guard(|| SlackClient::open_value(keel, options, Case::Snake, "")).map(|inner| PySlack { inner })
}

#[pymethods]
impl PySlack {
    /// One page of thread `ts` in `channel` from `cursor` (awaitable): a
    /// `keel.types.SlackRepliesPage`.
    #[pyo3(signature = (channel, ts, **options))]
    fn replies_page<'py>(
        &self,
        py: Python<'py>,
        channel: Arg<String>,
        ts: Arg<String>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = vec![("channel", channel.0.into()), ("ts", ts.0.into())];
        call(py, &self.inner, "replies_page", args(named, options))
    }

    /// Every message of thread `ts` in `channel`, page by page (awaitable): Slack's message
    /// objects, for `keel.slack_ingest`.
    fn replies<'py>(
        &self,
        py: Python<'py>,
        channel: Arg<String>,
        ts: Arg<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = vec![("channel", channel.0.into()), ("ts", ts.0.into())];
        call(py, &self.inner, "replies", args(named, None))
    }

    /// Posts `text` to `channel` (`thread_ts`, `blocks`) (awaitable): a `keel.types.SlackPosted`.
    #[pyo3(signature = (channel, text, **options))]
    fn post_message<'py>(
        &self,
        py: Python<'py>,
        channel: Arg<String>,
        text: Arg<String>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = vec![("channel", channel.0.into()), ("text", text.0.into())];
        call(py, &self.inner, "post_message", args(named, options))
    }

    /// Replaces the text (and `blocks`) of message `ts` in `channel` (awaitable): a
    /// `keel.types.SlackPosted`.
    #[pyo3(signature = (channel, ts, text, **options))]
    fn update<'py>(
        &self,
        py: Python<'py>,
        channel: Arg<String>,
        ts: Arg<String>,
        text: Arg<String>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = vec![
            ("channel", channel.0.into()),
            ("ts", ts.0.into()),
            ("text", text.0.into()),
        ];
        call(py, &self.inner, "update", args(named, options))
    }

    /// The user `user` (awaitable): a `keel.types.SlackUser`.
    fn user<'py>(&self, py: Python<'py>, user: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "user",
            args(vec![("user", user.0.into())], None),
        )
    }
}

/// Slack's JSON (a `conversations.replies` page, message objects or Events API payloads) as
/// messages (`bot_user_id`: Keel's bot, whose messages are the assistant's): a
/// `keel.types.SlackIngested`.
#[pyfunction]
#[pyo3(signature = (payload, **options))]
fn slack_ingest(payload: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Json> {
    let payload = guard(|| to_json_strict(payload, 0, "payload"))?;
    let options = kwargs(options);
    guard(|| slack::ingest_value(payload, options, Case::Snake)).map(Json)
}

/// Adds this module's functions and classes to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySlack>()?;
    m.add_function(wrap_pyfunction!(slack_ingest, m)?)
}
