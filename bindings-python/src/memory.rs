//! `Keel.conversations` and `ConversationStore` (core: `keel::memory`, whose `*_value` calls
//! read the ids and JSON and own every check). Records come back as dicts.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use futures_util::future::BoxFuture;
use keel::llm::TaskModel;
use keel::memory::{ConversationStore, EntityKind, EntityLinker};
use keel::options::Case;

use crate::error::Arg;
use crate::json::{Json, dict_to_map, kwargs, to_json};
use crate::llm::{PyLlm, task_model};
use crate::runtime::{awaitable, guard};
use crate::transport::EventLoop;

/// A Python callable `link(kind, name) -> str | None` as an entity linker: called with the
/// GIL on Keel's runtime thread; what it raises is `invalid_input` on `link`.
pub(crate) struct PyLinker(pub(crate) Py<PyAny>);

impl EntityLinker for PyLinker {
    fn link<'a>(
        &'a self,
        _org: uuid::Uuid,
        _user: &'a str,
        kind: EntityKind,
        name: &'a str,
    ) -> BoxFuture<'a, keel::Result<Option<String>>> {
        let found = Python::attach(|py| {
            self.0
                .call1(py, (kind.as_str(), name))
                .and_then(|id| id.extract::<Option<String>>(py))
        });
        Box::pin(async move {
            found.map_err(|e| {
                keel::Error::invalid_input("link", format!("the callback failed: {e}"))
            })
        })
    }
}

/// The store's linker for a call: the callable, if any.
pub(crate) fn linker(link: &Option<PyLinker>) -> Option<&dyn EntityLinker> {
    link.as_ref().map(|l| l as &dyn EntityLinker)
}

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
        let query = kwargs(query);
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.messages_value(&org, &id, query, Case::Snake, "").await?
        )))
    }

    /// Writes what a user discussed about an entity in a channel (awaitable): one row per
    /// (user, channel, channel_ref, entity), a `keel.types.ContextEntry`.
    #[pyo3(signature = (**entry))]
    fn upsert_context<'py>(
        &self,
        py: Python<'py>,
        entry: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let entry = kwargs(entry);
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.upsert_context_value(entry, Case::Snake, "").await?
        )))
    }

    /// The context carried into `message` for the user (awaitable): a `keel.types.PriorContext`
    /// whose `block` goes into the prompt.
    fn prior_context<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        user_id: Arg<String>,
        message: Arg<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, user, message) = (org_id.0, user_id.0, message.0);
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.prior_context_value(&org, &user, &message, Case::Snake)
                .await?
        )))
    }

    /// The user's context across web, Slack and agent runs for `message` (`channel` and
    /// `channel_ref`: where they ask from, whose own rows are left out) (awaitable): a
    /// `keel.types.PriorContext` whose `block` goes into the prompt.
    #[pyo3(signature = (org_id, user_id, **query))]
    fn context_for_user<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        user_id: Arg<String>,
        query: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, user, query) = (org_id.0, user_id.0, kwargs(query));
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.context_for_user_value(&org, &user, query, Case::Snake)
                .await?
        )))
    }

    /// Forgets what the user discussed about one entity, in every channel; logged
    /// (awaitable): `{"entity_type", "entity_id", "removed"}`.
    fn forget_context<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        user_id: Arg<String>,
        entity_type: Arg<String>,
        entity_id: Arg<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, user, kind, id) = (org_id.0, user_id.0, entity_type.0, entity_id.0);
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.forget_context_value(&org, &user, &kind, &id, Case::Snake)
                .await?
        )))
    }

    /// Archives context rows untouched for `max_age_days` (default 14) (awaitable):
    /// `{"archived": n}`.
    #[pyo3(signature = (**options))]
    fn archive_context<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = kwargs(options);
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.archive_context_value(options, Case::Snake, "").await?
        )))
    }

    /// Compacts the conversation when its view is over the threshold (awaitable): a
    /// `keel.types.Compacted`. `summarizer` (a `keel.Llm`, or an async callable of your own
    /// models) or else `llm` writes the summary (without either, the middle is trimmed);
    /// options as `keel.types.CompactOptions` (`model` needs `llm`).
    #[pyo3(signature = (org_id, conversation_id, *, llm = None, summarizer = None, **options))]
    fn compact<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        conversation_id: Arg<String>,
        llm: Option<Arg<PyRef<'py, PyLlm>>>,
        summarizer: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, id) = (org_id.0, conversation_id.0);
        let options = kwargs(options);
        let llm = llm.map(|l| l.0.core().clone());
        // The host's summarizer runs on this call's event loop.
        let event_loop = EventLoop::default();
        let summarizer = task_model(summarizer, "summarizer", &event_loop)?;
        if matches!(summarizer, Some(TaskModel::Host(_))) {
            event_loop.note(py);
        }
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.compact_value_with(&org, &id, options, llm, summarizer, Case::Snake, "")
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
        let options = kwargs(options);
        let llm = llm.map(|l| l.0.core().clone());
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.context_value(&org, &id, options, llm, Case::Snake, "")
                .await?
        )))
    }
    /// Stores facts (dicts like `keel.types.NewFact`) for the user in one transaction
    /// (awaitable): a list of `keel.types.Fact`. `link(kind, name)` returns the platform's id of
    /// a deal, contact or company named in a fact (or give `entity_sql`); `idempotency_key`
    /// stores once.
    #[pyo3(signature = (org_id, user_id, facts, *, link = None, **options))]
    fn add_facts<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        user_id: Arg<String>,
        facts: &Bound<'py, PyAny>,
        link: Option<Py<PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut options = options.map(|o| dict_to_map(o, 0)).unwrap_or_default();
        options.insert("facts".to_owned(), to_json(facts, 0));
        let (org, user, link) = (org_id.0, user_id.0, link.map(PyLinker));
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.add_facts_value(
                &org,
                &user,
                Some(options.into()),
                linker(&link),
                Case::Snake,
                ""
            )
            .await?
        )))
    }

    /// The user's facts, newest first (awaitable): `category`, `include_superseded` (default
    /// False), `limit` (default 100).
    #[pyo3(signature = (org_id, user_id, **query))]
    fn facts<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        user_id: Arg<String>,
        query: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, user) = (org_id.0, user_id.0);
        let query = kwargs(query);
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.facts_value(&org, &user, query, Case::Snake, "").await?
        )))
    }

    /// The user's facts that best match `text` (awaitable): a `keel.types.Recall` whose
    /// `block` goes into the prompt. `limit` (default 10), `categories`, `record_access`
    /// (default True).
    #[pyo3(signature = (org_id, user_id, text, **query))]
    fn recall<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        user_id: Arg<String>,
        text: Arg<String>,
        query: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, user, text) = (org_id.0, user_id.0, text.0);
        let query = kwargs(query);
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.recall_value(&org, &user, &text, query, Case::Snake, "")
                .await?
        )))
    }

    /// Extracts facts from the conversation's turns through `llm` (awaitable): a
    /// `keel.types.Extracted`. Options as `keel.types.ExtractOptions`; `link` as in
    /// `add_facts`.
    #[pyo3(signature = (org_id, conversation_id, *, llm, link = None, **options))]
    fn extract_facts<'py>(
        &self,
        py: Python<'py>,
        org_id: Arg<String>,
        conversation_id: Arg<String>,
        llm: Arg<PyRef<'py, PyLlm>>,
        link: Option<Py<PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (org, id, link) = (org_id.0, conversation_id.0, link.map(PyLinker));
        let options = kwargs(options);
        let llm = llm.0.core().clone();
        awaitable!(py, self.inner, |s| Ok(Json::of(
            &s.extract_facts_value(&org, &id, options, &llm, linker(&link), Case::Snake, "")
                .await?
        )))
    }
}

/// The `limit` (default 10) best of `facts` (dicts with `id`, `category`, `subject`,
/// `content`, `observed_at`, optionally `confidence`, `access_count`, `last_accessed_at`,
/// `superseded_at`, `expires_at`) for `query` at `now` (RFC 3339): what `recall` returns for
/// the same facts, as a list of `keel.types.RecalledFact`. Pure.
#[pyfunction]
#[pyo3(signature = (query, facts, **options))]
fn rank_facts(
    query: Arg<String>,
    facts: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Json> {
    let mut options = options.map(|o| dict_to_map(o, 0)).unwrap_or_default();
    options.insert("facts".to_owned(), to_json(facts, 0));
    guard(|| {
        Ok(Json::of(&keel::memory::rank_facts_value(
            &query.0,
            Some(options.into()),
            Case::Snake,
            "",
        )?))
    })
}

/// Reads a model's fact-extraction answer strictly: `seqs` (the turns it read) and `known`
/// (how many known facts it was shown); a `keel.types.ExtractionReading`. Pure.
#[pyfunction]
#[pyo3(signature = (answer, **options))]
fn read_fact_extraction(
    answer: Arg<String>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Json> {
    let options = kwargs(options);
    guard(|| {
        Ok(Json::of(&keel::memory::read_extraction_value(
            &answer.0,
            options,
            Case::Snake,
            "",
        )?))
    })
}

/// The "Prior Conversation Context" block for `message` from context rows (dicts like
/// `keel.types.ContextEntry`, with `last_updated`) at `now` (RFC 3339; the current time when
/// absent): a `keel.types.PriorContext`. Pure.
#[pyfunction]
#[pyo3(signature = (message, rows, **options))]
fn format_prior_context(
    message: Arg<String>,
    rows: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Json> {
    let rows = to_json(rows, 0);
    let options = kwargs(options);
    guard(|| {
        Ok(Json::of(&keel::memory::prior_context_value(
            &message.0,
            rows,
            options,
            Case::Snake,
            "",
        )?))
    })
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
    let options = kwargs(options);
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
    m.add_function(wrap_pyfunction!(plan_compaction, m)?)?;
    m.add_function(wrap_pyfunction!(rank_facts, m)?)?;
    m.add_function(wrap_pyfunction!(read_fact_extraction, m)?)?;
    m.add_function(wrap_pyfunction!(format_prior_context, m)?)
}
