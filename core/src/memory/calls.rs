//! Memory's calls as a binding makes them: ids as text, keys, messages, queries and options as
//! JSON whose keys are spelt in the caller's [`Case`]. Every error names its field as the
//! caller spells it (`conversationId`, `messages[0].content[0].callId` in JavaScript), so the
//! bindings only convert types.

use serde_json::Value;
use uuid::Uuid;

use super::conversation::{Appended, Conversation, StoredMessage, messages_from_value};
use super::store::ConversationStore;
use super::threshold::CompactionThreshold;
use crate::error::{Error, Result};
use crate::models::ModelRouter;
use crate::options::{Case, from_value, require_uuid};

/// `err` with its field spelt in `case` (a field already spelt so is unchanged).
fn spelt(err: Error, case: Case) -> Error {
    match err {
        Error::InvalidInput { field, message } => Error::InvalidInput {
            field: case.spell(&field),
            message,
        },
        other => other,
    }
}

/// The org and conversation ids.
fn ids(org_id: &str, conversation_id: &str) -> Result<(Uuid, Uuid)> {
    Ok((
        require_uuid("org_id", org_id)?,
        require_uuid("conversation_id", conversation_id)?,
    ))
}

impl ConversationStore {
    /// [`ConversationStore::start`] with the key as JSON (`root` names it in errors: `"key"`,
    /// or `""` for keyword arguments).
    ///
    /// # Errors
    /// As `start`, and [`Error::InvalidInput`] for a key that does not deserialize.
    pub async fn start_value(
        &self,
        key: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Conversation> {
        let key = from_value(key, case, root)?;
        self.start(&key).await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::get`] with the ids as text.
    ///
    /// # Errors
    /// As `get`, and [`Error::InvalidInput`] for an id that is not a UUID.
    pub async fn get_value(
        &self,
        org_id: &str,
        conversation_id: &str,
        case: Case,
    ) -> Result<Conversation> {
        let call = async {
            let (org, conversation) = ids(org_id, conversation_id)?;
            self.get(org, conversation).await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::append`] with the ids as text and the messages as a JSON list.
    ///
    /// # Errors
    /// As `append`, and [`Error::InvalidInput`] for an id that is not a UUID or messages that
    /// do not deserialize (naming the message and field).
    pub async fn append_value(
        &self,
        org_id: &str,
        conversation_id: &str,
        messages: Value,
        case: Case,
    ) -> Result<Appended> {
        let call = async {
            let (org, conversation) = ids(org_id, conversation_id)?;
            let messages = messages_from_value(messages, case)?;
            self.append(org, conversation, &messages).await
        };
        call.await.map_err(|e| spelt(e, case))
    }

    /// [`ConversationStore::messages`] with the ids as text and the query as JSON (`root`
    /// names it in errors).
    ///
    /// # Errors
    /// As `messages`, and [`Error::InvalidInput`] for an id that is not a UUID or a query that
    /// does not deserialize.
    pub async fn messages_value(
        &self,
        org_id: &str,
        conversation_id: &str,
        query: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Vec<StoredMessage>> {
        let query = from_value(query, case, root)?;
        let call = async {
            let (org, conversation) = ids(org_id, conversation_id)?;
            self.messages(org, conversation, &query).await
        };
        call.await.map_err(|e| spelt(e, case))
    }
}

impl CompactionThreshold {
    /// [`ModelRouter::compaction_threshold`] with the options as JSON (`root` names them in
    /// errors: `"options"`, or `""` for keyword arguments).
    ///
    /// # Errors
    /// As `compaction_threshold`, and [`Error::InvalidInput`] for options that do not
    /// deserialize.
    pub fn of_value(
        router: &ModelRouter,
        model: &str,
        options: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Self> {
        let options = from_value(options, case, root)?;
        router
            .compaction_threshold(model, &options)
            .map_err(|e| spelt(e, case))
    }
}
