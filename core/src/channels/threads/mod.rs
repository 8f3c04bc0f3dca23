//! Slack copilot threads (the original's §5): a thread per (org, workspace, channel, thread
//! `ts`), its transcript a conversation of the memory store (channel `slack`), its counters and
//! lists moved by single statements, and context extraction driven by a watermark: due once
//! enough messages wait or the thread has gone quiet, found by a sweep, summarised by a model,
//! its entities resolved by the caller, and written to `conversation_context`, where the web
//! copilot and the agents read it ([`crate::memory::ConversationStore::context_for_user`]).

mod calls;
mod extract;
mod record;
mod state;
mod store;
mod sweep;

pub use calls::{
    THREAD_CALLS, ThreadIngest, ThreadTranscript, read_thread_context_value,
    thread_transcript_value,
};
pub use extract::{
    MAX_ENTITY_NAME_CHARS, MAX_THREAD_ENTITIES, MentionedEntity, THREAD_CONTEXT_INSTRUCTIONS,
    THREAD_SUMMARY_MAX_TOKENS, TRANSCRIPT_TOKENS, ThreadReading, TranscriptMessage,
    read_thread_context, thread_transcript,
};
pub use record::{
    ActiveEntities, EXTRACT_AFTER_MESSAGES, MAX_THREAD_BATCH, MAX_TITLE_CHARS, MAX_TURNS, QUIET_MS,
    Thread, ThreadAppend, ThreadKey, ThreadMessage, ThreadOptions, ThreadTurn,
};
pub use state::ThreadHistoryItem;
pub use store::ThreadStore;
pub use sweep::{
    ExtractThreadOptions, ExtractionStatus, RETRY_BASE_MS, RETRY_MAX_MS, SweepOptions,
    ThreadEntity, ThreadExtraction, ThreadSweep, retry_delay_ms,
};
