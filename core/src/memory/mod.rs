//! Conversation memory (issue 16). So far: the conversation store ([`ConversationStore`]):
//! conversations per org, user and channel, append-only messages, a running token total kept by
//! the database; when a conversation must be compacted for a model ([`threshold`]), from the
//! context windows of the model matrix, with dated and aliased model ids normalised
//! ([`canonical_model_id`]); compaction planned as a pure function ([`plan()`]) and applied as a
//! view over the transcript ([`ConversationStore::compact`]), and the messages to send for a
//! model ([`ConversationStore::context`]); facts with provenance ([`NewFact`], [`Fact`]),
//! extracted by a model ([`ConversationStore::extract_facts`]) and linked to the platform's
//! entities ([`EntityLinker`]), and recalled by BM25 × recency × confidence from an index kept
//! per user ([`ConversationStore::recall`], [`recall`]).

mod calls;
mod compact;
mod context;
mod context_calls;
mod context_store;
mod conversation;
mod extract;
mod extraction;
mod fact;
mod fact_calls;
mod fact_store;
mod link;
mod plan;
pub mod recall;
mod recall_store;
mod store;
mod threshold;
mod view;

pub(crate) use calls::explicit_model;
pub use calls::plan_value;
pub use compact::{CompactOptions, Compacted, Compaction, CompactionMethod};
pub use context::{
    CONTEXT_HEADING, ContextEntry, EntityType, MAX_CONTEXT_CHARS, MAX_SUMMARY_CHARS, PriorContext,
    ScoredContext, entity_terms, prior_context,
};
pub use context_calls::{ArchiveOptions, Archived, ContextQuery, prior_context_value};
pub use context_store::{AskingFrom, Forgotten};
pub use conversation::{
    Appended, Conversation, ConversationChannel, ConversationKey, MAX_BATCH, StoredMessage,
    check_batch, count_tokens, messages_from_value,
};
pub use extract::{
    EXTRACTION_MAX_TOKENS, ExtractedFact, ExtractionReading, KnownFact, MAX_KNOWN_FACTS,
    MIN_CONFIDENCE, RejectedFact, extraction_input, extraction_prompt, read_extraction,
};
pub use extraction::{ExtractOptions, Extracted};
pub use fact::{
    Fact, FactCategory, MAX_CONTENT_CHARS, MAX_ENTITY_CHARS, MAX_FACTS, MAX_SUBJECT_CHARS, NewFact,
    check_facts, memories_block,
};
pub(crate) use fact_calls::linker;
pub use fact_calls::{rank_facts_value, read_extraction_value};
pub use fact_store::FactQuery;
pub use link::{EntityKind, EntityLinker, EntitySql, SqlLinker, like_pattern};
pub use plan::{
    COMPACTION_INSTRUCTIONS, Plan, PlanAction, PlanOptions, STUB_PREFIX, check_view, mask_all,
    plan, stub, summary_message, transcript, trim_note,
};
pub use recall::{RecalledFact, rank_facts};
pub use recall_store::{CANDIDATE_LIMIT, Recall, RecallQuery};
pub use store::{ConversationStore, MessageQuery};
pub use threshold::{
    CompactionThreshold, DEFAULT_RATIO, ThresholdOptions, canonical_model_id, threshold,
};
pub use view::ContextWindow;
