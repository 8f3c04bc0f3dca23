//! Conversation memory (issue 16). So far: the conversation store ([`ConversationStore`]):
//! conversations per org, user and channel, append-only messages, a running token total kept by
//! the database; when a conversation must be compacted for a model ([`threshold`]), from the
//! context windows of the model matrix, with dated and aliased model ids normalised
//! ([`canonical_model_id`]); compaction planned as a pure function ([`plan()`]) and applied as a
//! view over the transcript ([`ConversationStore::compact`]), and the messages to send for a
//! model ([`ConversationStore::context`]).

mod calls;
mod compact;
mod context;
mod conversation;
mod plan;
mod store;
mod threshold;
mod view;

pub use calls::{ArchiveOptions, Archived, plan_value, prior_context_value};
pub use compact::{CompactOptions, Compacted, Compaction, CompactionMethod};
pub use context::{
    CONTEXT_HEADING, ContextEntry, EntityType, MAX_CONTEXT_CHARS, PriorContext, ScoredContext,
    entity_terms, prior_context,
};
pub use conversation::{
    Appended, Conversation, ConversationChannel, ConversationKey, MAX_BATCH, StoredMessage,
    check_batch, count_tokens, messages_from_value,
};
pub use plan::{
    COMPACTION_INSTRUCTIONS, Plan, PlanAction, PlanOptions, STUB_PREFIX, check_view, mask_all,
    plan, stub, summary_message, transcript, trim_note,
};
pub use store::{ConversationStore, MessageQuery};
pub use threshold::{
    CompactionThreshold, DEFAULT_RATIO, ThresholdOptions, canonical_model_id, threshold,
};
pub use view::ContextWindow;
