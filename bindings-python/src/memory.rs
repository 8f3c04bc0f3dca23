//! `Keel.conversations` and `ConversationStore` (core: `keel::memory`, whose `*_value` calls
//! read the ids and JSON and own every check). Records come back as dicts.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use keel::memory::ConversationStore;
use keel::options::Case;

use crate::error::Arg;
use crate::json::{Json, dict_to_map, to_json};
use crate::llm::PyLlm;
use crate::runtime::{awaitable, guard};

/// Conversations and their messages; make it with `db.conversations()`.
#[pyclass(frozen, name = "ConversationStore", module = "keel._native")]
pub struct PyConversationStore {
    inner: ConversationStore,
}

#[pymethods]
impl PyConversationStore {
    /// Opens the conversation of (org, user, channel, channel_ref), or returns the one already
    /// open (awaitable): a `keel.types.Conversation`.
    #[pyo3(signature = (org_id, user_id, channel, **key))]
    fn start<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        user_id: Arg<String>,
        channel: Arg<String>,
        key: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut key = key.map(|k| dict_to_map(k, 0)).unwrap_or_default();
        for (name, value) in [
            ("org_id", org_id),
            ("user_id", user_id),
            ("channel", channel),
        ] {
            key.insert(name.to_owned(), value.0.into());
        }
        let key = Some(key.into());
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.start_value(key, Case::Snake, "").await?
        )))
    }

    /// The conversation (awaitable).
    fn get<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        conversation_id: Arg<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, id) = (org_id.0, conversation_id.0);
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.get_value(&org, &id, Case::Snake).await?
        )))
    }

    /// Appends messages (dicts like `keel.types.Message`) in one transaction (awaitable): a
    /// `keel.types.Appended`.
    fn append<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        conversation_id: Arg<String>,
        messages: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, id, messages) = (org_id.0, conversation_id.0, to_json(messages, 0));
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.append_value(&org, &id, messages, Case::Snake).await?
        )))
    }

    /// The messages in order (awaitable): those after `after_seq` (default 0), at most `limit`
    /// (default 100).
    #[pyo3(signature = (org_id, conversation_id, **query))]
    fn messages<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        conversation_id: Arg<String>,
        query: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, id) = (org_id.0, conversation_id.0);
        let query = query.map(|q| dict_to_map(q, 0).into());
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.messages_value(&org, &id, query, Case::Snake, "").await?
        )))
    }

    /// Compacts the conversation when its view is over the threshold (awaitable): a
    /// `keel.types.Compacted`. `llm` writes the summary (without it, the middle is trimmed);
    /// options as `keel.types.CompactOptions` (`model` needs `llm`).
    #[pyo3(signature = (org_id, conversation_id, *, llm = None, **options))]
    fn compact<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        conversation_id: Arg<String>,
        llm: Option<Arg<PyRef<'py, PyLlm>>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, id) = (org_id.0, conversation_id.0);
        let options = options.map(|o| dict_to_map(o, 0).into());
        let llm = llm.map(|l| l.0.core().clone());
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.compact_value(&org, &id, options, llm, Case::Snake, "")
                .await?
        )))
    }

    /// The messages to send, under `threshold` (or `model`'s, with `llm`) (awaitable): a
    /// `keel.types.ContextWindow`.
    #[pyo3(signature = (org_id, conversation_id, *, llm = None, **options))]
    fn context<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        conversation_id: Arg<String>,
        llm: Option<Arg<PyRef<'py, PyLlm>>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, id) = (org_id.0, conversation_id.0);
        let options = options.map(|o| dict_to_map(o, 0).into());
        let llm = llm.map(|l| l.0.core().clone());
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.context_value(&org, &id, options, llm, Case::Snake, "")
                .await?
        )))
    }
}

/// Plans the compaction of a conversation view (messages like `keel.types.Message`, each with
/// an optional `seq` and `tokens`): a `keel.types.CompactionPlan`. Pure; options as
/// `keel.types.PlanOptions`.
#[pyfunction]
#[pyo3(signature = (messages, **options))]
fn plan_compaction(
    messages: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Json> {
    let messages = to_json(messages, 0);
    let options = options.map(|o| dict_to_map(o, 0).into());
    guard(|| {
        Ok(Json::of(&keel::memory::plan_value(
            messages,
            options,
            Case::Snake,
            "",
        )?))
    })
}

/// The store on `keel` (behind `Keel.conversations`).
pub fn open_store(keel: &keel::Keel) -> PyConversationStore {
    PyConversationStore {
        inner: ConversationStore::open(keel),
    }
}

/// Adds this module's classes to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyConversationStore>()?;
    m.add_function(wrap_pyfunction!(plan_compaction, m)?)
}
