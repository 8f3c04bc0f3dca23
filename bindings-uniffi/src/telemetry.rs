//! `createLogger`, `Keel.createLogger`, `Logger`, `Span`, `redactSecrets` and
//! `parseTraceparent` (core: `keel::telemetry`). Metadata is JSON text.

use std::sync::Arc;

use keel::options::Case;
use keel::telemetry::{self, Level, LoggerOptions};

use crate::error::KeelError;
use crate::json::record;
use crate::runtime::{run, within};
use crate::store::Keel;

/// `text` with API keys, bearer tokens and JWTs redacted.
#[uniffi::export]
pub fn redact_secrets(text: String) -> String {
    telemetry::redact_secrets(&text).unwrap_or(text)
}

/// A W3C `traceparent` header's parts.
#[derive(uniffi::Record)]
pub struct TraceParent {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub parent_span_id: String,
    /// The sampled flag.
    pub sampled: bool,
}

/// Parses a W3C `traceparent`; null when it is not valid.
#[uniffi::export]
pub fn parse_traceparent(header: String) -> Option<TraceParent> {
    telemetry::TraceParent::parse(&header).map(|p| TraceParent {
        trace_id: p.trace_id.to_string(),
        parent_span_id: p.parent_span_id.to_string(),
        sampled: p.sampled,
    })
}

/// Metadata as JSON text (an object; anything else is kept under `value`), parsed by the
/// writer off the caller's path.
fn metadata(json: Option<String>) -> telemetry::Metadata {
    json.map(telemetry::Metadata::from_json).unwrap_or_default()
}

/// Metadata fields from JSON text, parsed now (a span's stop and children).
fn fields(json: Option<String>) -> serde_json::Map<String, serde_json::Value> {
    metadata(json).into_fields()
}

/// A structured logger: JSON lines to the database's `logs` table (or stdout without one),
/// with trace ids, sampling and redaction. No method throws.
#[derive(uniffi::Object)]
pub struct Logger {
    inner: telemetry::Logger,
}

impl Logger {
    /// A core logger as a Kotlin one.
    pub(crate) fn of(inner: telemetry::Logger) -> Arc<Self> {
        Arc::new(Self { inner })
    }

    /// A logger for `service` with `options_json` (Node's `LoggerOptions`), on `keel`'s
    /// writer or the process default.
    fn open(
        keel: Option<&keel::Keel>,
        service: &str,
        options_json: Option<String>,
    ) -> Result<Arc<Self>, KeelError> {
        let options = fields(options_json);
        let (options, filter) = LoggerOptions::from_fields(&options, Case::Camel)?;
        let inner = within(|| {
            Ok(match keel {
                Some(keel) => keel.logger_with(service, options, filter),
                None => telemetry::Logger::new(telemetry::default_sink(), service, options, filter),
            })
        })?;
        Ok(Arc::new(Self { inner }))
    }

    fn log(&self, level: Level, action: &str, error: Option<&str>, metadata_json: Option<String>) {
        if self.inner.enabled(level) {
            self.inner
                .log_metadata(level, action, error, metadata(metadata_json));
        }
    }
}

/// A logger writing to the process default sink (JSON lines on stdout); the original
/// `createLogger(service, options)` shape.
///
/// # Errors
/// `invalid_input` only for a bad `minLevel` or `debugSampleRate`.
#[uniffi::export(default(options_json = None))]
pub fn create_logger(
    service: String,
    options_json: Option<String>,
) -> Result<Arc<Logger>, KeelError> {
    Logger::open(None, &service, options_json)
}

#[uniffi::export]
impl Keel {
    /// A logger writing to this database's `logs` table (`optionsJson`: Node's
    /// `LoggerOptions`: `orgId`, `userId`, `traceId`, `minLevel`, …).
    ///
    /// # Errors
    /// `invalid_input` only for a bad `minLevel` or `debugSampleRate`.
    #[uniffi::method(default(options_json = None))]
    pub fn create_logger(
        &self,
        service: String,
        options_json: Option<String>,
    ) -> Result<Arc<Logger>, KeelError> {
        Logger::open(Some(&self.inner), &service, options_json)
    }
}

#[uniffi::export]
impl Logger {
    /// The trace id (UUID).
    pub fn trace_id(&self) -> String {
        self.inner.trace_id().to_string()
    }

    /// A W3C `traceparent` for an outgoing request.
    pub fn traceparent(&self) -> String {
        self.inner.traceparent()
    }

    /// Logs at debug (`metadataJson`: a JSON object).
    #[uniffi::method(default(metadata_json = None))]
    pub fn debug(&self, action: String, metadata_json: Option<String>) {
        self.log(Level::Debug, &action, None, metadata_json);
    }

    /// Logs at info.
    #[uniffi::method(default(metadata_json = None))]
    pub fn info(&self, action: String, metadata_json: Option<String>) {
        self.log(Level::Info, &action, None, metadata_json);
    }

    /// Logs at warn.
    #[uniffi::method(default(metadata_json = None))]
    pub fn warn(&self, action: String, metadata_json: Option<String>) {
        self.log(Level::Warn, &action, None, metadata_json);
    }

    /// Logs at error with the error's message.
    #[uniffi::method(default(error = None, metadata_json = None))]
    pub fn error(&self, action: String, error: Option<String>, metadata_json: Option<String>) {
        self.log(Level::Error, &action, error.as_deref(), metadata_json);
    }

    /// Starts a span under the innermost open span (or `parentSpanId`); written when it stops.
    #[uniffi::method(default(metadata_json = None, parent_span_id = None))]
    pub fn span(
        &self,
        action: String,
        metadata_json: Option<String>,
        parent_span_id: Option<String>,
    ) -> Arc<Span> {
        let span =
            self.inner
                .span_with(&action, metadata(metadata_json), parent_span_id.as_deref());
        Arc::new(Span { inner: span })
    }

    /// Returns once every event accepted before the call is written or counted as dropped;
    /// the writer's counters as JSON.
    pub async fn flush(&self) -> String {
        let sink = self.inner.sink().clone();
        let stats = run(async move { Ok(sink.flush().await) }).await;
        stats.map(|s| record(&s)).unwrap_or_default()
    }

    /// The writer's counters so far, as JSON.
    pub fn stats(&self) -> String {
        record(&self.inner.sink().stats())
    }
}

/// A timed operation: written with its duration when it stops (as failed if it is released
/// unstopped).
#[derive(uniffi::Object)]
pub struct Span {
    inner: telemetry::Span,
}

#[uniffi::export]
impl Span {
    /// The span's id.
    pub fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The parent span's id, or null for a root span.
    pub fn parent_id(&self) -> Option<String> {
        self.inner.parent_id().map(|id| id.to_string())
    }

    /// A W3C `traceparent` naming this span.
    pub fn traceparent(&self) -> String {
        self.inner.traceparent()
    }

    /// Starts a child span.
    #[uniffi::method(default(metadata_json = None))]
    pub fn child(&self, action: String, metadata_json: Option<String>) -> Arc<Span> {
        Arc::new(Span {
            inner: self.inner.child(&action, fields(metadata_json)),
        })
    }

    /// Stops as ok, merging `extraJson` into the metadata; false (nothing written) if
    /// already stopped.
    #[uniffi::method(default(extra_json = None))]
    pub fn stop(&self, extra_json: Option<String>) -> bool {
        self.inner.stop(fields(extra_json))
    }

    /// Stops as failed with `error`.
    #[uniffi::method(default(extra_json = None))]
    pub fn fail(&self, error: String, extra_json: Option<String>) -> bool {
        self.inner.fail(&error, fields(extra_json))
    }
}
