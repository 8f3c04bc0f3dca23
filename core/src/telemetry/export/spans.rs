//! Stored events made into OpenTelemetry spans.
//!
//! A span's stop event becomes a span with its own trace and span ids, parent, start and end
//! time, status and attributes. A log event written inside an open span waits here until that
//! span stops, then travels as one of its span events, so a trace shows what happened inside
//! each step. LLM calls keep the GenAI semantic conventions: their metadata already uses the
//! `gen_ai.*` names, the span is named `{operation} {model}`, and a provider attempt is a
//! `client` span.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value as Attr};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::config::Sampling;
use crate::telemetry::context::w3c_span_bits;
use crate::telemetry::event::{Level, StoredEvent};
use crate::telemetry::gen_ai;

/// Attributes a span or span event carries at most (OpenTelemetry's default limit).
pub const MAX_ATTRIBUTES: usize = 128;
/// Events a span carries at most (OpenTelemetry's default limit).
pub const MAX_EVENTS: usize = 128;
/// How long a log event waits for its span to stop before it is given up.
const PENDING_FOR: Duration = Duration::from_secs(600);

/// The actions of spans that are calls to another service (`client` spans).
const CLIENT_ACTIONS: &[&str] = &["gen_ai.attempt", "gen_ai.embeddings"];

/// Spans of one batch, by the service whose resource they travel under.
pub(super) type ByService = BTreeMap<String, Vec<SpanData>>;

/// Turns batches of stored events into spans, holding log events until their span stops.
pub(super) struct Assembler {
    pending: HashMap<Uuid, (Instant, Vec<Event>)>,
    pending_events: usize,
    capacity: usize,
    sampling: Sampling,
    scope: InstrumentationScope,
}

/// What a batch gave.
#[derive(Default)]
pub(super) struct Assembled {
    /// The spans to export.
    pub spans: ByService,
    /// Log events given up: their span never stopped in time, or too many were waiting.
    pub dropped: u64,
}

impl Assembler {
    /// An assembler holding at most `capacity` waiting log events.
    pub fn new(capacity: usize, sampling: Sampling) -> Self {
        Self {
            pending: HashMap::new(),
            pending_events: 0,
            capacity,
            sampling,
            scope: InstrumentationScope::builder("keel")
                .with_version(crate::VERSION)
                .build(),
        }
    }

    /// The spans of `batch` (in order: a span's log events come before its stop event).
    pub fn assemble(&mut self, batch: Vec<StoredEvent>) -> Assembled {
        let mut out = Assembled {
            dropped: self.expire(),
            ..Assembled::default()
        };
        for event in batch {
            let Some(trace_id) = event.trace_id.filter(|t| self.sampling.keeps(t.as_u128())) else {
                continue;
            };
            match (event.span_id, event.parent_span_id) {
                (Some(span_id), _) => {
                    let events = self.pending.remove(&span_id).map(|(_, e)| e);
                    self.pending_events -= events.as_ref().map_or(0, Vec::len);
                    let service = event.service.clone();
                    let span = self.span(trace_id, span_id, event, events.unwrap_or_default());
                    out.spans.entry(service).or_default().push(span);
                }
                (None, Some(parent)) if self.pending_events < self.capacity => {
                    let (_, events) = self
                        .pending
                        .entry(parent)
                        .or_insert_with(|| (Instant::now(), Vec::new()));
                    if events.len() < MAX_EVENTS {
                        events.push(span_event(event));
                        self.pending_events += 1;
                    } else {
                        out.dropped += 1;
                    }
                }
                (None, Some(_)) => out.dropped += 1,
                // A log event outside every span is not part of a trace.
                (None, None) => {}
            }
        }
        out
    }

    /// Gives up log events whose span has not stopped for [`PENDING_FOR`].
    fn expire(&mut self) -> u64 {
        let before = self.pending_events;
        self.pending.retain(|_, (since, events)| {
            let keep = since.elapsed() < PENDING_FOR;
            if !keep {
                self.pending_events -= events.len();
            }
            keep
        });
        (before - self.pending_events) as u64
    }

    fn span(&self, trace: Uuid, id: Uuid, event: StoredEvent, events: Vec<Event>) -> SpanData {
        let start = SystemTime::from(event.timestamp);
        let end = start + event.duration.unwrap_or_default();
        let failed = event.level == Level::Error
            || event.metadata.get("status").and_then(Value::as_str) == Some("error");
        let status = if failed {
            Status::error(event.error_message.clone().unwrap_or_default())
        } else {
            Status::Unset
        };
        let kind = if CLIENT_ACTIONS.contains(&event.action.as_str()) {
            SpanKind::Client
        } else {
            SpanKind::Internal
        };
        let name = span_name(&event);
        let (mut attributes, mut dropped) = attributes(&event.metadata, &["status"]);
        let mut context = vec![KeyValue::new("keel.action", event.action)];
        context.extend(
            event
                .user_id
                .map(|u| KeyValue::new("user.id", u.to_string())),
        );
        context.extend(
            event
                .org_id
                .map(|o| KeyValue::new("keel.org_id", o.to_string())),
        );
        context.extend(
            event
                .agent_name
                .map(|a| KeyValue::new("keel.agent_name", a)),
        );
        context.push(KeyValue::new("keel.service", event.service));
        for kv in context {
            push(&mut attributes, &mut dropped, kv);
        }
        SpanData {
            span_context: SpanContext::new(
                trace_id(trace),
                span_id(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: event.parent_span_id.map_or(SpanId::INVALID, span_id),
            parent_span_is_remote: false,
            span_kind: kind,
            name: Cow::Owned(name),
            start_time: start,
            end_time: end,
            attributes,
            dropped_attributes_count: dropped,
            events: {
                let mut list = SpanEvents::default();
                list.events = events;
                list
            },
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        }
    }
}

/// `{operation} {target}` for GenAI spans, the target being the model (`chat
/// claude-sonnet-4-6`) or the agent (`invoke_agent deal-risk-scan`); the action otherwise.
fn span_name(event: &StoredEvent) -> String {
    let text = |key: &str| event.metadata.get(key).and_then(Value::as_str);
    let target = text(gen_ai::REQUEST_MODEL).or_else(|| text(gen_ai::AGENT_NAME));
    match (text(gen_ai::OPERATION_NAME), target) {
        (Some(operation), Some(target)) => format!("{operation} {target}"),
        (Some(operation), None) => operation.to_owned(),
        _ => event.action.clone(),
    }
}

/// A log event as a span event: its action as the name, its metadata as attributes, its
/// level, and the error's message under `exception.message`.
fn span_event(event: StoredEvent) -> Event {
    let (mut attributes, mut dropped) = attributes(&event.metadata, &[]);
    let level = KeyValue::new("log.severity", event.level.as_str());
    push(&mut attributes, &mut dropped, level);
    if let Some(message) = event.error_message {
        push(
            &mut attributes,
            &mut dropped,
            KeyValue::new("exception.message", message),
        );
    }
    Event::new(
        event.action,
        SystemTime::from(event.timestamp),
        attributes,
        dropped,
    )
}

fn push(attributes: &mut Vec<KeyValue>, dropped: &mut u32, kv: KeyValue) {
    if attributes.len() < MAX_ATTRIBUTES {
        attributes.push(kv);
    } else {
        *dropped += 1;
    }
}

/// Metadata as attributes: scalars as themselves, arrays of one scalar type as arrays,
/// objects flattened to dotted keys (`deal.stage`), anything else as its JSON text. Keys in
/// `skip` are left out; beyond [`MAX_ATTRIBUTES`] the rest are counted as dropped.
pub(super) fn attributes(metadata: &Map<String, Value>, skip: &[&str]) -> (Vec<KeyValue>, u32) {
    let mut out = Vec::with_capacity(metadata.len().min(MAX_ATTRIBUTES));
    let mut dropped = 0;
    for (key, value) in metadata {
        if !skip.contains(&key.as_str()) {
            flatten(key.clone(), value, 0, &mut out, &mut dropped);
        }
    }
    (out, dropped)
}

fn flatten(key: String, value: &Value, depth: usize, out: &mut Vec<KeyValue>, dropped: &mut u32) {
    let value = match value {
        Value::Null => return,
        Value::Bool(b) => Attr::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map_or(Attr::F64(n.as_f64().unwrap_or(0.0)), Attr::I64),
        Value::String(s) => Attr::String(s.clone().into()),
        Value::Object(map) if depth < 3 => {
            for (sub, v) in map {
                flatten(format!("{key}.{sub}"), v, depth + 1, out, dropped);
            }
            return;
        }
        Value::Array(items) => array(items).unwrap_or_else(|| Attr::String(json(value))),
        Value::Object(_) => Attr::String(json(value)),
    };
    push(out, dropped, KeyValue::new(key, value));
}

/// An array whose items are all strings, all booleans, all integers or all numbers.
fn array(items: &[Value]) -> Option<Attr> {
    let all = |f: fn(&Value) -> bool| items.iter().all(f);
    let array = if all(Value::is_string) {
        Array::String(
            items
                .iter()
                .map(|v| StringValue::from(v.as_str().unwrap_or_default().to_owned()))
                .collect(),
        )
    } else if all(Value::is_boolean) {
        Array::Bool(items.iter().filter_map(Value::as_bool).collect())
    } else if all(Value::is_i64) {
        Array::I64(items.iter().filter_map(Value::as_i64).collect())
    } else if all(Value::is_number) {
        Array::F64(items.iter().filter_map(Value::as_f64).collect())
    } else {
        return None;
    };
    Some(Attr::Array(array))
}

fn json(value: &Value) -> StringValue {
    StringValue::from(serde_json::to_string(value).unwrap_or_default())
}

/// A Keel trace id as OpenTelemetry's.
pub(super) fn trace_id(id: Uuid) -> TraceId {
    TraceId::from_bytes(id.as_u128().to_be_bytes())
}

/// A Keel span id as OpenTelemetry's (the 64 bits `traceparent` carries).
pub(super) fn span_id(id: Uuid) -> SpanId {
    SpanId::from_bytes(w3c_span_bits(id).to_be_bytes())
}
