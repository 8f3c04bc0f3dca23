//! Token counts: exact for OpenAI's encodings (o200k_base, cl100k_base, vocabularies compiled
//! in through the `tiktoken` crate, and `bpe-openai` for long runs), calibrated estimates for Claude, Gemini and the rest,
//! corrected per model from the usage providers report through Keel's LLM calls. Every count
//! says whether it is exact.
//!
//! ```
//! use keel::tokens::{Encoding, TokenCounter};
//! use keel::llm::Message;
//!
//! assert_eq!(Encoding::O200kBase.count("hello world"), 2);
//! let counter = TokenCounter::default();
//! let count = counter.count_messages("gpt-4o", &[Message::user("hello world")]).unwrap();
//! assert_eq!((count.tokens, count.exact), (9, true));
//! ```

mod counter;
mod encoding;
mod long_run;
mod message;
mod model;

pub use counter::{FACTOR_BOUNDS, MIN_CALIBRATION_TOKENS, SMOOTHING, TokenCounter};
pub use encoding::Encoding;
pub use long_run::LONG_RUN;
pub use message::{
    MESSAGE_FRAMING, REPLY_PRIMING, TOOL_FRAMING, TokenCount, message_tokens, stored_message_tokens,
};
pub use model::{Family, TokenModel};
