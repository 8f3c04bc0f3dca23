//! Conversation memory (issue 16). So far: the conversation store ([`ConversationStore`]):
//! conversations per org, user and channel, append-only messages, a running token total kept by
//! the database; and when a conversation must be compacted for a model ([`threshold`]), from the
//! context windows of the model matrix, with dated and aliased model ids normalised
//! ([`canonical_model_id`]).

mod calls;
mod conversation;
mod store;
mod threshold;

pub use conversation::{
    Appended, Conversation, ConversationChannel, ConversationKey, MAX_BATCH, StoredMessage,
    check_batch, count_tokens, messages_from_value,
};
pub use store::{ConversationStore, MessageQuery};
pub use threshold::{
    CompactionThreshold, DEFAULT_RATIO, ThresholdOptions, canonical_model_id, threshold,
};
