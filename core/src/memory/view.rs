//! A conversation's view: what is sent to a model. Pinned system turns, the newest
//! compaction's summary standing for the turns it covers, then the turns after it, old tool
//! results as their stubs. Read by [`ConversationStore::context`] and planned over by
//! [`ConversationStore::compact`].

use serde::Serialize;
use uuid::Uuid;

use super::compact::{Compaction, CompactionMethod, signed};
use super::conversation::StoredMessage;
use super::plan::{Plan, PlanOptions, head, mask_all, plan, summary_message, trim_note};
use super::store::{ConversationStore, MessageRow, message_columns, stored};
use crate::error::{Error, Result};
use crate::llm::{Message, Role};
use crate::store::{Dialect, on_pool};
use crate::tokens::stored_message_tokens;

/// The messages to send for a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextWindow {
    /// Pinned system turns, the summary, then the turns kept, ready for a model call.
    pub messages: Vec<Message>,
    /// Their tokens.
    pub tokens: u64,
    /// The threshold they are under.
    pub threshold: u64,
    /// True when the stored view was over the threshold and was trimmed on the way out
    /// (nothing stored): compact the conversation.
    pub trimmed: bool,
}

/// A conversation's view: its newest compaction, and the messages it leaves (earlier masks
/// applied).
pub(super) struct View {
    pub(super) latest: Option<Compaction>,
    pub(super) messages: Vec<StoredMessage>,
}

impl View {
    pub(super) fn summary(&self) -> Option<(&str, [u64; 2])> {
        let latest = self.latest.as_ref()?;
        let summary = latest.summary.as_deref()?;
        Some((summary, [1, latest.covered_through]))
    }

    pub(super) fn summary_tokens(&self) -> u64 {
        self.summary()
            .map_or(0, |(s, r)| stored_message_tokens(&summary_message(s, r)).0)
    }

    /// The messages to send: system turns, the summary, the other turns.
    pub(super) fn messages(&self) -> Vec<Message> {
        let turn = |m: &StoredMessage| Message {
            role: m.role,
            content: m.content.clone(),
        };
        let mut out: Vec<Message> = self
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(turn)
            .collect();
        if let Some((summary, range)) = self.summary() {
            out.push(summary_message(summary, range));
        }
        out.extend(
            self.messages
                .iter()
                .filter(|m| m.role != Role::System)
                .map(turn),
        );
        out
    }

    pub(super) fn tokens(&self) -> u64 {
        self.summary_tokens() + self.messages.iter().map(|m| m.tokens).sum::<u64>()
    }
}

/// Tokens a trim note (with what it keeps of an earlier summary) may take when the context read
/// trims a view that is due a compaction.
const TRIM_TOKENS: u64 = 512;

impl ConversationStore {
    /// The view: the newest compaction and the turns it leaves, masks applied.
    pub(super) async fn view(&self, org: Uuid, conversation: Uuid) -> Result<View> {
        let latest = self.compaction(org, conversation, None).await?;
        let covered = latest.as_ref().map_or(0, |c| c.covered_through);
        let pool = self.keel.pool()?;
        let statement = format!(
            "SELECT {} FROM conversation_messages
             WHERE conversation_id = $1::uuid AND org_id = $2::uuid
               AND (seq > $3 OR role = 'system')
             ORDER BY seq",
            message_columns(Dialect::of(pool))
        );
        let rows: Vec<MessageRow> = on_pool!(pool, |conn, sql| {
            sqlx::query_as(&sql(&statement))
                .bind(conversation.to_string())
                .bind(org.to_string())
                .bind(signed(covered))
                .fetch_all(conn)
                .await?
        });
        if rows.is_empty() && latest.is_none() {
            self.get(org, conversation).await?;
        }
        let mut messages = rows.into_iter().map(stored).collect::<Result<Vec<_>>>()?;
        if let Some(latest) = &latest {
            mask_all(&mut messages, &latest.masked);
        }
        Ok(View { latest, messages })
    }

    /// [`ConversationStore::context`] under `model`'s compaction threshold, from `router`'s
    /// matrix with the default reservations (any spelling of the id the matrix knows).
    ///
    /// # Errors
    /// As `context`, and [`Error::InvalidInput`] on `model` when the matrix does not know it.
    pub async fn context_for(
        &self,
        org: Uuid,
        conversation: Uuid,
        router: &crate::models::ModelRouter,
        model: &str,
    ) -> Result<ContextWindow> {
        let limit = router.compaction_threshold(model, &Default::default())?;
        self.context(org, conversation, limit.threshold).await
    }

    /// The messages to send for the conversation, at or under `threshold` tokens whenever the
    /// current request itself fits (see
    /// [`super::CompactionThreshold`] for a model's): its view, and when that is over the
    /// threshold (the conversation is due a compaction), the view trimmed on the way out.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `conversation_id` when `org` has no such conversation, on
    /// `threshold` under 100.
    pub async fn context(
        &self,
        org: Uuid,
        conversation: Uuid,
        threshold: u64,
    ) -> Result<ContextWindow> {
        if threshold < 100 {
            return Err(Error::invalid_input(
                "threshold",
                "must be at least 100 tokens",
            ));
        }
        let mut view = self.view(org, conversation).await?;
        let tokens = view.tokens();
        let trimmed = tokens > threshold;
        if trimmed {
            // Due a compaction: trimmed as a compaction without a summarizer would, nothing stored.
            let options = PlanOptions {
                threshold,
                summary_tokens: TRIM_TOKENS.min(threshold / 2),
                ..PlanOptions::default()
            };
            let plan = plan(&view.messages, view.summary_tokens(), &options);
            let earlier = view.summary().map(|(s, _)| s.to_owned());
            let text = trim_text(
                earlier.as_deref(),
                &plan,
                "not compacted yet",
                options.summary_tokens,
            );
            mask_all(&mut view.messages, &plan.masked);
            apply(&mut view, &plan, text);
        }
        Ok(ContextWindow {
            messages: view.messages(),
            tokens: view.tokens(),
            threshold,
            trimmed,
        })
    }
}

/// The text standing for trimmed turns: any earlier summary (cut to fit `budget` tokens with
/// the note), then the trim note.
pub(super) fn trim_text(
    earlier: Option<&str>,
    plan: &Plan,
    reason: &str,
    budget: u64,
) -> Option<String> {
    let range = plan.summarize?;
    let note = trim_note(range, reason);
    // Bytes left for the earlier summary: four a token, less the note and the summary's
    // header line (about 20 tokens).
    let room = usize::try_from(budget.saturating_sub(20).saturating_mul(4))
        .unwrap_or(usize::MAX)
        .saturating_sub(note.len() + 2);
    Some(match earlier {
        Some(summary) if room > 0 => format!("{}\n\n{note}", head(summary, room)),
        _ => note,
    })
}

/// Applies `plan` to `view` in memory (its masks already applied to the messages), `text`
/// standing for the turns it covers; the seq covered through.
pub(super) fn apply(view: &mut View, plan: &Plan, text: Option<String>) -> u64 {
    let latest = view.latest.get_or_insert_with(|| Compaction {
        conversation_id: Uuid::nil(),
        number: 0,
        idempotency_key: String::new(),
        method: CompactionMethod::Mask,
        covered_through: 0,
        summary: None,
        masked: Vec::new(),
        summarized: None,
        facts: None,
        tokens_before: 0,
        tokens_after: 0,
        note: None,
        created_at: String::new(),
    });
    latest.masked.extend(&plan.masked);
    latest.masked.sort_unstable();
    latest.masked.dedup();
    if let Some(range) = plan.summarize {
        latest.covered_through = range[1];
        latest.summary = text;
        view.messages
            .retain(|m| m.role == Role::System || m.seq > range[1]);
    }
    latest.covered_through
}
