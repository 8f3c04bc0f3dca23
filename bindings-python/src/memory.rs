//! `Keel.conversations` and `ConversationStore` (core: `keel::memory`, whose `*_value` calls
//! read the ids and JSON and own every check). Records come back as dicts.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use keel::memory::ConversationStore;
use keel::options::Case;

use crate::error::Arg;
use crate::json::{Json, dict_to_map, to_json};
use crate::runtime::awaitable;

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
}

/// The store on `keel` (behind `Keel.conversations`).
pub fn open_store(keel: &keel::Keel) -> PyConversationStore {
    PyConversationStore {
        inner: ConversationStore::open(keel),
    }
}

/// Adds this module's classes to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyConversationStore>()
}
