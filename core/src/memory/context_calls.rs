//! Cross-channel context's calls as a binding makes them (see [`super::calls`]): entries,
//! queries and options as JSON spelt in the caller's [`Case`], ids as text, every error naming
//! its field as the caller spells it.

use serde_json::Value;

use super::calls::spelt;
use super::context::{ContextEntry, EntityType, PriorContext, prior_context};
use super::context_store::{AskingFrom, Forgotten};
use super::store::{ConversationStore, parse_time};
use crate::error::{Error, Result};
use crate::options::{Case, from_value, require_uuid};

/// What [`ConversationStore::context_for_user_value`] reads.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextQuery {
    /// The message being answered: its names rank the rows (none: by recency only).
    pub message: Option<String>,
    /// The channel the user is asking from (`web`, `slack`, `agent`).
    pub channel: Option<super::conversation::ConversationChannel>,
    /// Its reference: rows of that very conversation are left out.
    pub channel_ref: Option<String>,
}

/// How [`ConversationStore::archive_context_value`] archives.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveOptions {
    /// Rows untouched for this many days are archived (default 14, the original's).
    pub max_age_days: u32,
    /// Rows per statement (default 10,000).
    pub batch_size: u32,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        Self {
            max_age_days: 14,
            batch_size: 10_000,
        }
    }
}

/// What [`ConversationStore::archive_context_value`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Archived {
    /// Rows archived.
    pub archived: u64,
}

/// The options of [`prior_context_value`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PriorOptions {
    /// The time the rows are aged at, RFC 3339 (the current time when absent).
    now: Option<String>,
}

/// [`prior_context`] as a binding calls it: rows as a JSON list of [`ContextEntry`] objects
/// (with `last_updated`), options `{now}` (RFC 3339, the current time when absent; `root`
/// names them in errors).
///
/// # Errors
/// [`Error::InvalidInput`] naming the field as `case` spells it: rows that do not
/// deserialize (`rows[0].entity_type`), a `now` or `last_updated` that is not RFC 3339.
pub fn prior_context_value(
    message: &str,
    rows: Value,
    options: Option<Value>,
    case: Case,
    root: &str,
) -> Result<PriorContext> {
    let call = || {
        #[derive(serde::Deserialize)]
        struct Rows {
            rows: Vec<ContextEntry>,
        }
        let options: PriorOptions = from_value(options, case, root)?;
        let now = options.now.as_deref();
        let rows = from_value::<Rows>(Some(serde_json::json!({ "rows": rows })), case, "")?.rows;
        let time = |field: String, text: &str| parse_time(&field, text);
        for (i, row) in rows.iter().enumerate() {
            time(format!("rows[{i}].last_updated"), &row.last_updated)?;
        }
        let now = match now {
            Some(text) => time(
                if root.is_empty() {
                    "now".into()
                } else {
                    format!("{root}.now")
                },
                text,
            )?,
            None => chrono::Utc::now(),
        };
        Ok(prior_context(message, &rows, now))
    };
    call().map_err(|e| spelt(e, case))
}

impl ConversationStore {
    /// [`ConversationStore::upsert_context`] with the entry as JSON (`root` names it).
    ///
    /// # Errors
    /// As `upsert_context`, and [`Error::InvalidInput`] for an entry that does not deserialize.
    pub async fn upsert_context_value(
        &self,
        entry: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<ContextEntry> {
        let entry: ContextEntry = from_value(entry, case, root)?;
        self.upsert_context(&entry)
            .await
            .map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::prior_context`] with the ids as text.
    ///
    /// # Errors
    /// As `prior_context`, and [`Error::InvalidInput`] for an id that is not a UUID.
    pub async fn prior_context_value(
        &self,
        org_id: &str,
        user_id: &str,
        message: &str,
        case: Case,
    ) -> Result<PriorContext> {
        let call = async {
            let org = require_uuid("org_id", org_id)?;
            let user = require_uuid("user_id", user_id)?;
            self.prior_context(org, user, message).await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::context_for_user`] with the ids as text and [`ContextQuery`] as
    /// JSON.
    ///
    /// # Errors
    /// As `context_for_user`, and [`Error::InvalidInput`] for an id that is not a UUID, a
    /// query that does not deserialize, or `channel_ref` without `channel`.
    pub async fn context_for_user_value(
        &self,
        org_id: &str,
        user_id: &str,
        query: Option<Value>,
        case: Case,
    ) -> Result<PriorContext> {
        let call = async {
            let org = require_uuid("org_id", org_id)?;
            let user = require_uuid("user_id", user_id)?;
            let query: ContextQuery = from_value(query, case, "")?;
            let from = match (query.channel, query.channel_ref) {
                (Some(channel), channel_ref) => Some(AskingFrom {
                    channel,
                    channel_ref,
                }),
                (None, None) => None,
                (None, Some(_)) => {
                    return Err(Error::invalid_input(
                        "channel",
                        "is required with channel_ref",
                    ));
                }
            };
            let message = query.message.unwrap_or_default();
            self.context_for_user(org, user, &message, from.as_ref())
                .await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::forget_context`] with the ids and the entity type as text.
    ///
    /// # Errors
    /// As `forget_context`, and [`Error::InvalidInput`] for an id that is not a UUID or an
    /// unknown `entity_type`.
    pub async fn forget_context_value(
        &self,
        org_id: &str,
        user_id: &str,
        entity_type: &str,
        entity_id: &str,
        case: Case,
    ) -> Result<Forgotten> {
        let call = async {
            let org = require_uuid("org_id", org_id)?;
            let user = require_uuid("user_id", user_id)?;
            let entity = require_uuid("entity_id", entity_id)?;
            let kind: EntityType = serde_json::from_value(Value::String(entity_type.into()))
                .map_err(|_| {
                    Error::invalid_input(
                        "entity_type",
                        "must be deal, contact, company, meeting or task",
                    )
                })?;
            self.forget_context(org, user, kind, entity).await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::archive_context`] with [`ArchiveOptions`] as JSON.
    ///
    /// # Errors
    /// As `archive_context`, and [`Error::InvalidInput`] for options that do not deserialize.
    pub async fn archive_context_value(
        &self,
        options: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Archived> {
        let options: ArchiveOptions = from_value(options, case, root)?;
        let archived = self
            .archive_context(options.max_age_days, options.batch_size)
            .await
            .map_err(|e| spelt(e, case))?;
        Ok(Archived { archived })
    }
}
