//! Observability: structured logs and spans, one process-wide batched writer into
//! `system_logs`, retention, and a `tracing` layer feeding the same sink.
//!
//! ```no_run
//! # async fn demo() -> keel::Result<()> {
//! use keel::telemetry::LoggerOptions;
//! let keel = keel::Keel::connect("sqlite::memory:").await?;
//! let log = keel.logger("copilot-autonomous", LoggerOptions::default());
//! let span = log.span("handle_message", Default::default(), None);
//! log.info("model_router.tier_resolved", serde_json::json!({"gen_ai.request.model": "claude-sonnet-4-6"})
//!     .as_object().cloned().unwrap_or_default());
//! span.stop(Default::default());
//! log.sink().flush().await;
//! # Ok(()) }
//! ```

mod context;
mod event;
pub mod export;
mod handles;
pub mod health;
mod layer;
mod logger;
mod redact;
mod retention;
mod sink;
mod trace;

pub use context::{
    TraceParent, format_traceparent, inherit_traceparent, new_span_id, new_trace_id,
};
pub use event::{
    EventContext, IdField, Level, LogEvent, MAX_JSON_METADATA, Metadata, MetadataLimits,
    SpanRecord, SpanStatus, StoredEvent, parse_id, sanitize_metadata,
};
pub use handles::{SpanHandles, spans};
pub use layer::KeelLayer;
pub use logger::{LogFilter, Logger, LoggerOptions, Span};
pub use redact::{REDACTED, is_secret_key, redact_secrets};
pub use retention::{
    CleanupOptions, DEFAULT_BATCH_SIZE, RetentionPolicy, RetentionReport, cleanup, pg_cron_schedule,
};
pub use sink::{Destination, Sink, SinkOptions, SinkStats, flush_all};
pub use trace::{TraceEvent, render_tree, trace_events};

static DEFAULT_SINK: std::sync::RwLock<Option<Sink>> = std::sync::RwLock::new(None);

/// The process-wide sink of loggers made without a database handle: JSON lines on stdout until
/// [`set_default_sink`] (or [`crate::Keel::install_log_sink`]) names another.
///
/// # Panics
/// On first use outside a tokio runtime (the writer task needs one).
pub fn default_sink() -> Sink {
    if let Some(sink) = DEFAULT_SINK
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        return sink.clone();
    }
    let mut slot = DEFAULT_SINK.write().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| {
        // The `OTEL_*` variables turn export on here too; an exporter that cannot start is
        // logged, never a reason to lose the logs.
        let export = export::OtlpOptions::default()
            .from_process()
            .and_then(|config| {
                config
                    .map(|c| export::Exporter::start(c, reqwest::Client::new()))
                    .transpose()
            })
            .inspect_err(|e| tracing::warn!(error = %e, "keel otlp: export not started"))
            .ok()
            .flatten();
        let options = SinkOptions {
            export,
            ..SinkOptions::default()
        };
        Sink::start(Destination::Stdout, options)
    })
    .clone()
}

/// Makes `sink` the destination of loggers made without a database handle from now on.
pub fn set_default_sink(sink: Sink) {
    *DEFAULT_SINK.write().unwrap_or_else(|e| e.into_inner()) = Some(sink);
}

/// Field names of the OpenTelemetry GenAI semantic conventions, for LLM call metadata.
pub mod gen_ai {
    /// The model asked for, e.g. `claude-sonnet-4-6`.
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    /// The model that answered.
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// The provider, e.g. `anthropic`.
    pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
    /// The operation, e.g. `chat`.
    pub const OPERATION_NAME: &str = "gen_ai.operation.name";
    /// Prompt tokens.
    pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// Completion tokens.
    pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// The reply's token limit.
    pub const REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    /// Why generation stopped.
    pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// The agent's name.
    pub const AGENT_NAME: &str = "gen_ai.agent.name";
    /// The conversation id.
    pub const CONVERSATION_ID: &str = "gen_ai.conversation.id";
}
