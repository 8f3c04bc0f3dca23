//! Cross-channel context on `ConversationStore`: `upsertContext`, `priorContext`,
//! `contextForUser`, `forgetContext` and `archiveContext` (core: `keel::memory`'s context,
//! whose `*_value` calls read the arguments and own every default and check). Shapes are JSON
//! text in Node's camelCase (`ContextEntryInput`, `ContextEntry`, `ContextQuery`,
//! `PriorContext`, `Forgotten`).

use keel::options::Case::Camel;

use crate::error::KeelError;
use crate::json::{record, value};
use crate::memory::ConversationStore;
use crate::runtime::run;

#[uniffi::export]
impl ConversationStore {
    /// Writes what a channel learnt about an entity for the user (`entryJson`: `orgId`,
    /// `userId`, `channel`, `entityType`, `entityId`, `summary`, …), one row per channel and
    /// entity: the `ContextEntry`.
    ///
    /// # Errors
    /// `invalid_input` naming the field.
    pub async fn upsert_context(&self, entry_json: String) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let entry = value(Some(&entry_json), "entry")?;
            Ok(record(
                &store.upsert_context_value(entry, Camel, "entry").await?,
            ))
        })
        .await
    }

    /// The context carried into `message` for the user; its `block` goes into the prompt: a
    /// `PriorContext`.
    ///
    /// # Errors
    /// `invalid_input` naming the argument.
    pub async fn prior_context(
        &self,
        org_id: String,
        user_id: String,
        message: String,
    ) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let prior = store.prior_context_value(&org_id, &user_id, &message, Camel);
            Ok(record(&prior.await?))
        })
        .await
    }

    /// The user's context across web, Slack and agent runs for `message` of `queryJson`
    /// (`channel` and `channelRef`: where they ask from, whose own rows are left out): a
    /// `PriorContext`.
    ///
    /// # Errors
    /// `invalid_input` naming the field.
    #[uniffi::method(default(query_json = None))]
    pub async fn context_for_user(
        &self,
        org_id: String,
        user_id: String,
        query_json: Option<String>,
    ) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let query = value(query_json.as_deref(), "query")?;
            let found = store.context_for_user_value(&org_id, &user_id, query, Camel);
            Ok(record(&found.await?))
        })
        .await
    }

    /// Forgets what the user discussed about one entity, in every channel (logged): a
    /// `Forgotten`.
    ///
    /// # Errors
    /// `invalid_input` naming the argument (an unknown `entityType`).
    pub async fn forget_context(
        &self,
        org_id: String,
        user_id: String,
        entity_type: String,
        entity_id: String,
    ) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let forgotten =
                store.forget_context_value(&org_id, &user_id, &entity_type, &entity_id, Camel);
            Ok(record(&forgotten.await?))
        })
        .await
    }

    /// Archives context rows untouched for `maxAgeDays` of `optionsJson` (default 14;
    /// `batchSize`): `{ archived }` as JSON.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn archive_context(&self, options_json: Option<String>) -> Result<String, KeelError> {
        let store = self.inner.clone();
        run(async move {
            let options = value(options_json.as_deref(), "options")?;
            Ok(record(
                &store
                    .archive_context_value(options, Camel, "options")
                    .await?,
            ))
        })
        .await
    }
}
