//! The logger callers hold: the original `createLogger(service, options)` shape, with spans.
//!
//! No method returns an error or panics into the caller: bad input is coerced and recorded in
//! the event (`metadata._invalid`), and a full queue is counted by the sink. A logger is cheap to
//! clone; clones share the trace and the stack of open spans.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use serde_json::{Map, Value};
use uuid::Uuid;

use super::context::{
    TraceParent, format_traceparent, inherit_traceparent, new_span_id, new_trace_id,
};
use super::event::{
    EventContext, IdField, Level, LogEvent, Metadata, MetadataLimits, ShortText, SpanRecord,
    SpanStatus, insert_invalid,
};
use super::redact::{clean_text, is_clean};
use super::sink::Sink;

/// Where a logger's events are filtered before they reach the sink.
#[derive(Debug, Clone)]
pub struct LogFilter {
    /// Events below this level are not emitted (default `Debug`: everything).
    pub min_level: Level,
    /// Fraction of traces whose debug events are kept, 0.0 to 1.0 (default 1.0). Decided per
    /// trace, so a trace's debug events are all kept or all dropped.
    pub debug_sample_rate: f64,
    /// Metadata limits and redaction.
    pub metadata: MetadataLimits,
}

impl LogFilter {
    /// A filter from binding options: `min_level` one of debug/info/warn/error, and
    /// `debug_sample_rate` from 0.0 to 1.0.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming `min_level` or `debug_sample_rate`.
    pub fn from_options(
        min_level: Option<&str>,
        debug_sample_rate: Option<f64>,
    ) -> crate::Result<Self> {
        let mut filter = Self::default();
        if let Some(level) = min_level {
            filter.min_level = level.parse().map_err(|_| {
                crate::Error::invalid_input(
                    "min_level",
                    format!("`{level}` is not one of debug, info, warn, error"),
                )
            })?;
        }
        if let Some(rate) = debug_sample_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(crate::Error::invalid_input(
                    "debug_sample_rate",
                    "must be between 0.0 and 1.0",
                ));
            }
            filter.debug_sample_rate = rate;
        }
        Ok(filter)
    }
}

impl Default for LogFilter {
    fn default() -> Self {
        Self {
            min_level: Level::Debug,
            debug_sample_rate: 1.0,
            metadata: MetadataLimits::default(),
        }
    }
}

/// Context every event of a logger carries. All fields are optional; ids that do not parse are
/// stored as NULL and kept raw in `metadata._invalid`.
#[derive(Debug, Clone, Default)]
pub struct LoggerOptions {
    /// The trace to join (UUID or 32-hex); a new one when absent.
    pub trace_id: Option<String>,
    /// A W3C `traceparent` from an incoming request; wins over `trace_id`.
    pub traceparent: Option<String>,
    /// The host application's current span as a `traceparent`, which the bindings read from
    /// its OpenTelemetry API; joined only when neither `traceparent` nor `trace_id` is given.
    pub host_traceparent: Option<String>,
    /// The acting user.
    pub user_id: Option<String>,
    /// The user's organisation.
    pub org_id: Option<String>,
    /// The agent, for fleet events.
    pub agent_name: Option<String>,
}

impl LoggerOptions {
    /// The options and filter of a bindings' logger options object (`trace_id`, `traceparent`,
    /// `user_id`, `org_id`, `agent_name`, `min_level`, `debug_sample_rate`, spelt in `case`).
    /// Read as leniently as the original logger read them: ids of any JSON type are kept as
    /// their text (and stored as NULL with the raw value in `metadata._invalid` when they are
    /// not ids); unknown keys are ignored. Only the filter is strict.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming `min_level` or `debug_sample_rate`.
    pub fn from_fields(
        fields: &Map<String, Value>,
        case: crate::options::Case,
    ) -> crate::Result<(LoggerOptions, LogFilter)> {
        let get = |name: &str| fields.get(&case.spell(name)).filter(|v| !v.is_null());
        let text = |name: &str| {
            get(name).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let rate = match get("debug_sample_rate") {
            None => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(_) => {
                return Err(crate::Error::invalid_input(
                    "debug_sample_rate",
                    "must be a number",
                ));
            }
        };
        let filter = LogFilter::from_options(text("min_level").as_deref(), rate)?;
        let options = LoggerOptions {
            trace_id: text("trace_id"),
            traceparent: text("traceparent"),
            host_traceparent: text("host_traceparent"),
            user_id: text("user_id"),
            org_id: text("org_id"),
            agent_name: text("agent_name"),
        };
        Ok((options, filter))
    }
}

/// A structured logger for one service and one trace.
#[derive(Debug, Clone)]
pub struct Logger {
    inner: Arc<LoggerInner>,
}

#[derive(Debug)]
struct LoggerInner {
    sink: Sink,
    filter: LogFilter,
    /// Service and ids, shared by every event of this logger.
    context: Arc<EventContext>,
    trace_id: Uuid,
    remote_parent: Option<Uuid>,
    keep_debug: bool,
    /// Open spans, innermost last: events are parented to the innermost.
    open_spans: Mutex<Vec<Uuid>>,
    /// How many spans are open, so events outside any span skip the lock.
    open_count: AtomicUsize,
}

impl Logger {
    /// A logger for `service`. An empty service name is stored as `unknown` and recorded in
    /// `metadata._invalid.service`.
    pub fn new(sink: Sink, service: &str, options: LoggerOptions, filter: LogFilter) -> Self {
        let mut invalid = Map::new();
        let service = clean_text(service.trim(), 256);
        let service = if service.is_empty() {
            invalid.insert("service".into(), Value::String(service));
            "unknown".to_owned()
        } else {
            service
        };
        let joined = inherit_traceparent(
            options.traceparent,
            options.trace_id.is_some(),
            options.host_traceparent,
        );
        let traceparent = joined.as_deref().map(|h| (h, TraceParent::parse(h)));
        let (trace_id, remote_parent) = match traceparent {
            Some((_, Some(parent))) => (parent.trace_id, Some(parent.parent_span_id)),
            other => {
                if let Some((raw, None)) = other {
                    invalid.insert("traceparent".into(), Value::String(clean_text(raw, 256)));
                }
                let given = IdField::parse(options.trace_id.as_deref());
                if let Some(raw) = given.invalid {
                    invalid.insert("trace_id".into(), Value::String(raw));
                }
                (given.id.unwrap_or_else(new_trace_id), None)
            }
        };
        let mut id = |name: &str, raw: Option<&str>| {
            let field = IdField::parse(raw);
            if let Some(raw) = field.invalid {
                invalid.insert(name.into(), Value::String(raw));
            }
            field.id
        };
        let user_id = id("user_id", options.user_id.as_deref());
        let org_id = id("org_id", options.org_id.as_deref());
        let agent_name = options
            .agent_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| clean_text(s, 256));
        let keep_debug = filter.debug_sample_rate >= 1.0
            || (filter.debug_sample_rate > 0.0
                && (trace_id.as_u64_pair().1 as f64 / u64::MAX as f64) < filter.debug_sample_rate);
        Self {
            inner: Arc::new(LoggerInner {
                sink,
                context: Arc::new(EventContext {
                    service,
                    trace_id: Some(trace_id),
                    user_id,
                    org_id,
                    agent_name,
                    invalid: (!invalid.is_empty()).then_some(invalid),
                    limits: filter.metadata,
                }),
                filter,
                trace_id,
                remote_parent,
                keep_debug,
                open_spans: Mutex::new(Vec::new()),
                open_count: AtomicUsize::new(0),
            }),
        }
    }

    /// The trace id, hyphenated, as the original `trace_id` getter returned it.
    pub fn trace_id(&self) -> Uuid {
        self.inner.trace_id
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.inner.context.service
    }

    /// The sink this logger writes to.
    pub fn sink(&self) -> &Sink {
        &self.inner.sink
    }

    /// A `traceparent` for an outgoing request, naming the innermost open span (or the remote
    /// parent, or a span id derived from the trace when nothing is open).
    pub fn traceparent(&self) -> String {
        let span = self
            .current_parent()
            .unwrap_or_else(|| Uuid::from_u64_pair(0, self.inner.trace_id.as_u64_pair().1 | 1));
        format_traceparent(self.inner.trace_id, span, true)
    }

    /// Logs at `debug`.
    pub fn debug(&self, action: &str, metadata: Map<String, Value>) {
        self.log(Level::Debug, action, None, metadata);
    }

    /// Logs at `info`.
    pub fn info(&self, action: &str, metadata: Map<String, Value>) {
        self.log(Level::Info, action, None, metadata);
    }

    /// Logs at `warn`.
    pub fn warn(&self, action: &str, metadata: Map<String, Value>) {
        self.log(Level::Warn, action, None, metadata);
    }

    /// Logs at `error` with the error's message.
    pub fn error(&self, action: &str, error: Option<&str>, metadata: Map<String, Value>) {
        self.log(Level::Error, action, error, metadata);
    }

    /// True when an event at `level` would be emitted.
    #[inline]
    pub fn enabled(&self, level: Level) -> bool {
        level >= self.inner.filter.min_level && (level != Level::Debug || self.inner.keep_debug)
    }

    /// Logs one event, parented to the innermost open span.
    pub fn log(
        &self,
        level: Level,
        action: &str,
        error: Option<&str>,
        metadata: Map<String, Value>,
    ) {
        self.log_metadata(level, action, error, Metadata::Fields(metadata));
    }

    /// [`Logger::log`] with metadata in either form; bindings pass the text their engine's JSON
    /// serializer produced, which the writer parses off the caller's path.
    pub fn log_metadata(
        &self,
        level: Level,
        action: &str,
        error: Option<&str>,
        metadata: Metadata,
    ) {
        if !self.enabled(level) {
            return;
        }
        let parent = self.current_parent();
        self.emit(
            level,
            action,
            parent,
            SystemTime::now(),
            None,
            error,
            metadata,
        );
    }

    /// Starts a span under the innermost open span (or under `parent_span_id` when given).
    /// Nothing is written until it stops.
    pub fn span(
        &self,
        action: &str,
        metadata: Map<String, Value>,
        parent_span_id: Option<&str>,
    ) -> Span {
        self.span_with(action, Metadata::Fields(metadata), parent_span_id)
    }

    /// [`Logger::span`] with metadata as a binding hands it over (JSON text, parsed by the
    /// writer when the span is written).
    pub fn span_with(
        &self,
        action: &str,
        metadata: Metadata,
        parent_span_id: Option<&str>,
    ) -> Span {
        let parent = match parent_span_id {
            Some(raw) => IdField::parse(Some(raw)).id,
            None => self.current_parent(),
        };
        Span::start(self.clone(), action, metadata, parent)
    }

    fn current_parent(&self) -> Option<Uuid> {
        if self.inner.open_count.load(Ordering::Acquire) == 0 {
            return self.inner.remote_parent;
        }
        let open = self
            .inner
            .open_spans
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        open.last().copied().or(self.inner.remote_parent)
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        level: Level,
        action: &str,
        parent_span_id: Option<Uuid>,
        timestamp: SystemTime,
        span: Option<SpanRecord>,
        error: Option<&str>,
        mut metadata: Metadata,
    ) {
        let inner = &*self.inner;
        let trimmed = action.trim();
        let action = if trimmed.is_empty() {
            let mut fields = metadata.sanitized(&inner.filter.metadata);
            insert_invalid(&mut fields, "action", Value::String(action.to_owned()));
            metadata = Metadata::Fields(fields);
            ShortText::from("unnamed")
        } else if is_clean(trimmed, 256) {
            ShortText::from(trimmed)
        } else {
            ShortText::from(clean_text(trimmed, 256).as_str())
        };
        inner.sink.enqueue(LogEvent {
            timestamp,
            level,
            context: inner.context.clone(),
            action,
            parent_span_id,
            span: span.map(Box::new),
            error_message: error.map(|e| clean_text(e, 4096).into_boxed_str()),
            metadata,
        });
    }

    fn open(&self, span: Uuid) {
        let mut open = self
            .inner
            .open_spans
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        open.push(span);
        self.inner.open_count.store(open.len(), Ordering::Release);
    }

    fn close(&self, span: Uuid) {
        let mut open = self
            .inner
            .open_spans
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(at) = open.iter().rposition(|s| *s == span) {
            open.remove(at);
        }
        self.inner.open_count.store(open.len(), Ordering::Release);
    }
}

/// A timed operation. Written once, when it stops, as one event with `span_id`,
/// `parent_span_id`, `duration_ms`, the start time as `timestamp` and `metadata.status`.
/// Stopping twice writes once. A span dropped without a stop is written as failed, so failed
/// work never vanishes from a trace.
#[derive(Debug, Clone)]
pub struct Span {
    inner: Arc<SpanInner>,
}

#[derive(Debug)]
struct SpanInner {
    logger: Logger,
    action: String,
    span_id: Uuid,
    parent: Option<Uuid>,
    started: Instant,
    started_at: SystemTime,
    metadata: Mutex<Option<Metadata>>,
}

impl Span {
    fn start(logger: Logger, action: &str, metadata: Metadata, parent: Option<Uuid>) -> Self {
        let span_id = new_span_id();
        logger.open(span_id);
        Self {
            inner: Arc::new(SpanInner {
                logger,
                action: action.to_owned(),
                span_id,
                parent,
                started: Instant::now(),
                started_at: SystemTime::now(),
                metadata: Mutex::new(Some(metadata)),
            }),
        }
    }

    /// The span id.
    pub fn id(&self) -> Uuid {
        self.inner.span_id
    }

    /// The parent span id, if any.
    pub fn parent_id(&self) -> Option<Uuid> {
        self.inner.parent
    }

    /// The logger the span writes through.
    pub fn logger(&self) -> &Logger {
        &self.inner.logger
    }

    /// A `traceparent` naming this span, for an outgoing request made inside it.
    pub fn traceparent(&self) -> String {
        format_traceparent(self.inner.logger.trace_id(), self.inner.span_id, true)
    }

    /// Starts a child span.
    pub fn child(&self, action: &str, metadata: Map<String, Value>) -> Span {
        Span::start(
            self.inner.logger.clone(),
            action,
            Metadata::Fields(metadata),
            Some(self.inner.span_id),
        )
    }

    /// True once stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner
            .metadata
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Stops the span as `ok`, merging `extra` into its metadata (extra wins). Returns false if
    /// it was already stopped; nothing is written then.
    pub fn stop(&self, extra: Map<String, Value>) -> bool {
        self.inner.finish(SpanStatus::Ok, None, extra)
    }

    /// Stops the span as failed with `error`. Returns false if it was already stopped.
    pub fn fail(&self, error: &str, extra: Map<String, Value>) -> bool {
        self.inner.finish(SpanStatus::Error, Some(error), extra)
    }
}

impl SpanInner {
    fn finish(&self, status: SpanStatus, error: Option<&str>, extra: Map<String, Value>) -> bool {
        let Some(metadata) = self
            .metadata
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return false;
        };
        self.logger.close(self.span_id);
        let metadata = metadata.merged(extra);
        let level = if status == SpanStatus::Ok {
            Level::Info
        } else {
            Level::Error
        };
        if self.logger.enabled(level) {
            self.logger.emit(
                level,
                &self.action,
                self.parent,
                self.started_at,
                Some(SpanRecord {
                    span_id: self.span_id,
                    duration: self.started.elapsed(),
                    status,
                }),
                error,
                metadata,
            );
        }
        true
    }
}

impl Drop for SpanInner {
    fn drop(&mut self) {
        if self
            .metadata
            .get_mut()
            .map(|m| m.is_some())
            .unwrap_or(false)
        {
            self.finish(
                SpanStatus::Error,
                Some("span dropped without stop()"),
                Map::new(),
            );
        }
    }
}
