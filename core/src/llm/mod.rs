//! Model calls through Keel: one [`Llm::complete`] that resolves the model through the router,
//! reserves credits, calls the provider, falls back to the next candidate of the same tier on
//! the provider's faults, reports to the breaker, charges what the provider reports and writes
//! a span with OpenTelemetry GenAI attributes.
//!
//! Providers: the Anthropic Messages API, OpenAI-compatible Chat Completions (OpenAI,
//! Azure-style deployments, vLLM, Ollama, OpenRouter) and Google Gemini, over one pooled
//! `reqwest` client per [`crate::Keel`] handle. Every outcome is classified with the taxonomy
//! the breaker uses ([`crate::fault::FailureKind`]).
//!
//! On top of it, the tasks later capabilities build on: [`Summarizer`], [`Classifier`] and
//! [`Embedder`], implemented by [`Llm`] (embeddings through the OpenAI-compatible and Gemini
//! endpoints) and implementable by a platform's own models.

mod attributes;
mod call;
mod client;
mod content;
mod driven;
mod embed;
mod estimate;
mod hold;
mod host;
pub(crate) mod http;
pub mod message;
pub mod options;
pub mod request;
mod stream;
mod tasks;
mod transport;
pub mod wire;

pub use crate::fault::{Attempt, CallFailure, FailureKind};
pub use call::Completion;
pub use client::Llm;
pub use driven::{Driven, DrivenCall, Waited};
pub use embed::{DEFAULT_EMBEDDING_PROVIDER, EmbedRequest, Embeddings, default_embedding_model};
pub use estimate::{estimate_tokens, prompt_tokens};
pub use host::{
    HostFunction, HostTask, TaskModel, read_classification, read_summary, read_vectors,
};
pub(crate) use http::parse_retry_after;
pub use message::{Message, Part, Role, Tool};
pub use options::{Endpoint, LlmOptions, ProviderConfig};
pub use request::CallRequest;
pub use stream::{BURST, CallStream, HANDOVER_SLICE, StreamEvent};
pub use tasks::{
    CLASSIFY_ANSWER, CLASSIFY_MAX_TOKENS, Classification, Classifier, ClassifyRequest, Embedder,
    Label, SUMMARY_INSTRUCTIONS, Summarizer, Summary, SummaryRequest,
};
pub use transport::{Transport, TransportFailure, TransportFuture, TransportRequest, Transports};
pub use wire::stream::Piece;
pub use wire::{FinishReason, TokenUsage, Wire};
