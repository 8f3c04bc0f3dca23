//! One log event, validated and made safe at enqueue.
//!
//! Every event is checked on its own: an id that is not a UUID (or a 32-hex W3C trace id) is
//! stored as NULL and its raw value kept in `metadata._invalid`, so one bad field never poisons
//! a batch. Strings lose NUL bytes (PostgreSQL text and jsonb reject them), secrets are redacted,
//! and metadata is capped in size and depth.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::redact::clean_text;
pub use super::redact::{MetadataLimits, sanitize_metadata};
use crate::error::Error;

/// Severity of an event, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Detail for developers; sampled and kept 30 days by default.
    Debug,
    /// Normal operation; kept 90 days.
    Info,
    /// Something unexpected that was handled; kept 90 days.
    Warn,
    /// A failure; kept 365 days.
    Error,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 4] = [Level::Debug, Level::Info, Level::Warn, Level::Error];

    /// `"debug"`, `"info"`, `"warn"` or `"error"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "debug" | "trace" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" | "warning" => Ok(Level::Warn),
            "error" | "fatal" => Ok(Level::Error),
            _ => Err(Error::invalid_input(
                "level",
                format!("`{s}` is not one of debug, info, warn, error"),
            )),
        }
    }
}

/// What every event of one logger shares: its service and ids. Events hold it behind one `Arc`,
/// so an enqueue copies a pointer, not five fields.
#[derive(Debug, Clone, Default)]
pub struct EventContext {
    /// The emitting service, e.g. `copilot-autonomous`.
    pub service: String,
    /// The trace the events belong to.
    pub trace_id: Option<Uuid>,
    /// The acting user.
    pub user_id: Option<Uuid>,
    /// The user's organisation.
    pub org_id: Option<Uuid>,
    /// The agent, for fleet events.
    pub agent_name: Option<String>,
    /// Raw values of the logger's own fields that failed validation; the writer adds them to
    /// every event's `metadata._invalid`.
    pub invalid: Option<Map<String, Value>>,
    /// How the writer makes the events' metadata safe.
    pub limits: MetadataLimits,
}

/// An event's metadata as the caller gave it: an owned copy, made safe (scrubbed, redacted,
/// capped) by the writer, off the caller's path.
#[derive(Debug, Clone, PartialEq)]
pub enum Metadata {
    /// Fields.
    Fields(Map<String, Value>),
    /// The text of a JSON object, as a binding's engine serialized it (V8's `JSON.stringify`).
    Json(Box<str>),
    /// Fields on top of others (a span's start metadata and what its stop adds), merged by
    /// the writer, so neither is parsed on the caller's path.
    Merged(Box<Metadata>, Map<String, Value>),
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata::Fields(Map::new())
    }
}

/// JSON metadata longer than this is not kept: it is replaced by a truncation marker at
/// enqueue, so a queued event never holds more than this much of it.
pub const MAX_JSON_METADATA: usize = 1 << 20;

impl Metadata {
    /// Metadata from a JSON object's text; text over [`MAX_JSON_METADATA`] becomes a marker.
    pub fn from_json(text: String) -> Self {
        if text.len() > MAX_JSON_METADATA {
            let mut marker = Map::new();
            marker.insert("_truncated".into(), Value::Bool(true));
            marker.insert("_approx_bytes".into(), Value::from(text.len() as u64));
            return Metadata::Fields(marker);
        }
        Metadata::Json(text.into_boxed_str())
    }

    /// True when there is nothing to store.
    pub fn is_empty(&self) -> bool {
        match self {
            Metadata::Fields(map) => map.is_empty(),
            Metadata::Json(text) => text.trim() == "{}",
            Metadata::Merged(base, extra) => base.is_empty() && extra.is_empty(),
        }
    }

    /// `extra` on top of these fields (`extra` wins), without parsing either.
    pub fn merged(self, extra: Map<String, Value>) -> Self {
        match self {
            Metadata::Fields(mut map) => {
                map.extend(extra);
                Metadata::Fields(map)
            }
            base if extra.is_empty() => base,
            base => Metadata::Merged(Box::new(base), extra),
        }
    }

    /// The fields as given, parsed when needed. Text that is not a JSON object is kept under
    /// `value`.
    pub fn into_fields(self) -> Map<String, Value> {
        match self {
            Metadata::Fields(map) => map,
            Metadata::Json(text) => match parse_nested(&text) {
                Ok(Value::Object(map)) => map,
                Ok(other) => Map::from_iter([("value".to_owned(), other)]),
                Err(_) => Map::from_iter([("value".to_owned(), Value::String(text.into()))]),
            },
            Metadata::Merged(base, extra) => {
                let mut map = base.into_fields();
                map.extend(extra);
                map
            }
        }
    }

    /// The fields, parsed when needed and made safe with `limits`. Text that is not a JSON
    /// object is kept under `value`.
    pub fn sanitized(self, limits: &MetadataLimits) -> Map<String, Value> {
        let map = self.into_fields();
        if map.is_empty() {
            map
        } else {
            sanitize_metadata(map, limits)
        }
    }
}

/// Nesting kept by [`parse_nested`]; below serde_json's recursion limit (128), above the
/// metadata limit that sanitizing applies afterwards.
const PARSE_DEPTH: usize = 64;

/// Parses JSON text of any nesting depth. Text nested deeper than serde_json parses (128) is
/// first cut at [`PARSE_DEPTH`], each deeper array or object becoming `"[depth limit]"`, so
/// deep metadata is still parsed, redacted and capped instead of being stored as raw text.
pub(crate) fn parse_nested(text: &str) -> serde_json::Result<Value> {
    serde_json::from_str(text).or_else(|err| match cut_depth(text, PARSE_DEPTH) {
        Some(cut) => serde_json::from_str(&cut),
        None => Err(err),
    })
}

/// `text` with every array or object opened below `limit` levels replaced by
/// `"[depth limit]"`; `None` when nothing was that deep (the text failed for another reason).
fn cut_depth(text: &str, limit: usize) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let (mut depth, mut in_string, mut escaped, mut skip_from) = (0usize, false, false, None);
    let mut cut = false;
    for (at, c) in text.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == '{' || c == '[' {
            depth += 1;
            if depth > limit && skip_from.is_none() {
                skip_from = Some(depth);
                out.push_str("\"[depth limit]\"");
                cut = true;
            }
        } else if c == '}' || c == ']' {
            if skip_from == Some(depth) {
                skip_from = None;
                depth = depth.saturating_sub(1);
                continue;
            }
            depth = depth.saturating_sub(1);
        }
        if skip_from.is_none() {
            out.push_str(&text[at..at + c.len_utf8()]);
        }
    }
    cut.then_some(out)
}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatus {
    /// Finished normally.
    Ok,
    /// Failed; the event carries the error message.
    Error,
}

impl SpanStatus {
    /// `ok` or `error`, as `metadata.status` stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
        }
    }
}

/// The span fields of a span's stop event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanRecord {
    /// The span.
    pub span_id: Uuid,
    /// How long it ran.
    pub duration: std::time::Duration,
    /// How it ended; the writer stores it as `metadata.status` (over any `status` field).
    pub status: SpanStatus,
}

/// Text stored inline when short (no allocation), boxed otherwise. Event names are short, and
/// an allocation per event freed on the writer's thread costs more than the rest of an enqueue.
#[derive(Clone)]
pub enum ShortText {
    /// Up to [`ShortText::INLINE`] bytes of UTF-8.
    Inline {
        /// Bytes used.
        len: u8,
        /// The text, then zeros.
        bytes: [u8; ShortText::INLINE],
    },
    /// Longer text.
    Heap(Box<str>),
}

impl ShortText {
    /// Longest text kept inline.
    pub const INLINE: usize = 38;

    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            ShortText::Inline { len, bytes } => {
                // Only whole `&str`s are copied in (see `From<&str>`), so this is UTF-8.
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            ShortText::Heap(text) => text,
        }
    }
}

impl From<&str> for ShortText {
    fn from(text: &str) -> Self {
        if text.len() <= Self::INLINE {
            let mut bytes = [0; Self::INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            ShortText::Inline {
                len: text.len() as u8,
                bytes,
            }
        } else {
            ShortText::Heap(text.into())
        }
    }
}

impl fmt::Debug for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for ShortText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

/// A log event as queued: the caller's part only. The writer turns it into a [`StoredEvent`].
///
/// Kept small (rare fields boxed, the logger's context shared) because every enqueue moves one.
#[derive(Debug, Clone)]
pub struct LogEvent {
    /// When the event happened; converted to a calendar time by the writer.
    pub timestamp: SystemTime,
    /// Severity.
    pub level: Level,
    /// The logger's service and ids.
    pub context: Arc<EventContext>,
    /// Dot-namespaced verb, e.g. `model_router.tier_resolved`.
    pub action: ShortText,
    /// The span it happened inside.
    pub parent_span_id: Option<Uuid>,
    /// Set on span stop events.
    pub span: Option<Box<SpanRecord>>,
    /// The error's message, for failures.
    pub error_message: Option<Box<str>>,
    /// Structured fields; LLM calls use the OpenTelemetry GenAI names (`gen_ai.*`).
    pub metadata: Metadata,
}

impl LogEvent {
    /// An event of `level` from `service` happening now, with no context, ids or metadata.
    /// Loggers fill in the rest; this is for events built by hand (tests, the sink's own).
    pub fn new(level: Level, service: &str, action: &str, metadata: Map<String, Value>) -> Self {
        Self {
            timestamp: SystemTime::now(),
            level,
            context: Arc::new(EventContext {
                service: service.to_owned(),
                ..EventContext::default()
            }),
            action: action.into(),
            parent_span_id: None,
            span: None,
            error_message: None,
            metadata: Metadata::Fields(metadata),
        }
    }

    /// The row to write: context spelled out, metadata made safe, the logger's invalid fields
    /// merged into `metadata._invalid`.
    pub fn into_stored(self) -> StoredEvent {
        let context = &*self.context;
        let mut metadata = self.metadata.sanitized(&context.limits);
        if let Some(span) = &self.span {
            metadata.insert("status".into(), Value::String(span.status.as_str().into()));
        }
        if let Some(invalid) = &context.invalid {
            for (key, raw) in invalid {
                insert_invalid(&mut metadata, key, raw.clone());
            }
        }
        StoredEvent {
            timestamp: DateTime::<Utc>::from(self.timestamp),
            level: self.level,
            service: context.service.clone(),
            action: self.action.as_str().to_owned(),
            trace_id: context.trace_id,
            span_id: self.span.as_ref().map(|s| s.span_id),
            parent_span_id: self.parent_span_id,
            user_id: context.user_id,
            org_id: context.org_id,
            agent_name: context.agent_name.clone(),
            duration_ms: self
                .span
                .as_ref()
                .map(|s| i64::try_from(s.duration.as_millis()).unwrap_or(i64::MAX)),
            duration: self.span.as_ref().map(|s| s.duration),
            error_message: self.error_message.map(String::from),
            metadata,
        }
    }
}

/// Records `raw` under `metadata._invalid.<key>`.
pub(super) fn insert_invalid(metadata: &mut Map<String, Value>, key: &str, raw: Value) {
    let slot = metadata
        .entry("_invalid")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(map) = slot {
        map.insert(key.to_owned(), raw);
    }
}

/// A log event as stored in `system_logs` (and printed as a JSON line without a database).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    /// When the event happened (UTC).
    pub timestamp: DateTime<Utc>,
    /// Severity.
    pub level: Level,
    /// The emitting service.
    pub service: String,
    /// Dot-namespaced verb.
    pub action: String,
    /// The trace this event belongs to.
    pub trace_id: Option<Uuid>,
    /// The span that emitted it (span stop events), or none.
    pub span_id: Option<Uuid>,
    /// The span it happened inside.
    pub parent_span_id: Option<Uuid>,
    /// The acting user.
    pub user_id: Option<Uuid>,
    /// The user's organisation.
    pub org_id: Option<Uuid>,
    /// The agent, for fleet events.
    pub agent_name: Option<String>,
    /// Span duration, on span stop events.
    pub duration_ms: Option<i64>,
    /// The error's message, for failures.
    pub error_message: Option<String>,
    /// Structured fields, made safe.
    pub metadata: Map<String, Value>,
    /// Span duration at full precision, on span stop events (OTLP export reads it; the
    /// database and the JSON lines keep `duration_ms`).
    #[serde(skip)]
    pub duration: Option<std::time::Duration>,
}

/// Parses an id the way every event field is parsed: a UUID in any standard spelling, or a
/// 32-hex W3C trace id. Anything else is `None`.
pub fn parse_id(raw: &str) -> Option<Uuid> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    Uuid::try_parse(raw).ok()
}

/// An id field as given by a caller: parsed, or kept raw for `metadata._invalid`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdField {
    /// The parsed id.
    pub id: Option<Uuid>,
    /// The raw value when it did not parse (never an empty string).
    pub invalid: Option<String>,
}

impl IdField {
    /// Parses `raw`; an empty or missing value is simply absent, not invalid.
    pub fn parse(raw: Option<&str>) -> Self {
        match raw.map(str::trim) {
            None | Some("") => Self::default(),
            Some(text) => match parse_id(text) {
                Some(id) => Self {
                    id: Some(id),
                    invalid: None,
                },
                None => Self {
                    id: None,
                    invalid: Some(clean_text(text, 256)),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Metadata, ShortText, parse_nested};
    use crate::telemetry::redact::MetadataLimits;
    use serde_json::{Value, json};

    fn nested(levels: usize, inner: &str) -> String {
        format!("{}{inner}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn metadata_nested_past_the_parser_limit_is_parsed_and_redacted() {
        let secret = r#"{"password":"hunter2","note":"x\"]}["}"#;
        let text = format!(r#"{{"deep":{},"password":"hunter2"}}"#, nested(300, secret));
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "deeper than serde_json parses"
        );
        let map = Metadata::Json(text.into()).sanitized(&MetadataLimits::default());
        let stored = serde_json::to_string(&map).unwrap();
        assert!(!stored.contains("hunter2"), "{stored}");
        assert!(stored.contains("[depth limit]"), "{stored}");
        assert!(
            map.contains_key("deep"),
            "stored as fields, not raw text: {stored}"
        );
    }

    #[test]
    fn parse_nested_keeps_shallow_text_and_strings_with_brackets() {
        let text = r#"{"a":"[[[{{\"","b":[1,{"c":2}]}"#;
        assert_eq!(
            parse_nested(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        let deep = parse_nested(&nested(200, "1")).unwrap();
        let mut level = &deep;
        let mut depth = 0;
        while let Value::Array(items) = level {
            level = &items[0];
            depth += 1;
        }
        assert_eq!(depth, 64);
        assert_eq!(level, &json!("[depth limit]"));
        assert!(
            parse_nested("{\"a\":").is_err(),
            "broken text stays an error"
        );
    }

    #[test]
    fn short_text_keeps_every_length_whole() {
        for text in [
            "",
            "model_router.tier_resolved",
            &"é".repeat(19), // 38 bytes: the inline limit
            &"é".repeat(20), // 40 bytes: boxed
            &"x".repeat(300),
        ] {
            let short = ShortText::from(text);
            assert_eq!(short.as_str(), text);
            assert_eq!(
                matches!(short, ShortText::Inline { .. }),
                text.len() <= ShortText::INLINE
            );
        }
    }
}
