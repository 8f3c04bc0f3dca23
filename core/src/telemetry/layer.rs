//! A `tracing` layer that sends Rust `tracing` events into the Keel sink, so a Rust service's
//! own instrumentation lands in `system_logs` beside everything else.
//!
//! ```no_run
//! # async fn demo(keel: keel::Keel) {
//! use tracing_subscriber::layer::SubscriberExt;
//! let logger = keel.logger("billing-worker", Default::default());
//! let subscriber = tracing_subscriber::registry().with(keel::telemetry::KeelLayer::new(logger));
//! tracing::subscriber::set_global_default(subscriber).ok();
//! tracing::info!(invoice = 42, "invoice.sent");
//! # }
//! ```

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::event::Level;
use super::logger::Logger;

/// Forwards `tracing` events to a [`Logger`]: the message becomes the action (or the target
/// when there is none), the other fields the metadata.
#[derive(Debug, Clone)]
pub struct KeelLayer {
    logger: Logger,
}

impl KeelLayer {
    /// A layer writing through `logger`.
    pub fn new(logger: Logger) -> Self {
        Self { logger }
    }
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    metadata: Map<String, Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.metadata.insert(field.name().to_owned(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for KeelLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        // The sink's own warnings must not feed back into the sink.
        if meta.target().starts_with("keel::telemetry") {
            return;
        }
        let level = match *meta.level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        };
        if !self.logger.enabled(level) {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        fields
            .metadata
            .insert("target".into(), Value::String(meta.target().to_owned()));
        let action = fields.message.unwrap_or_else(|| meta.target().to_owned());
        let error = (level == Level::Error).then(|| action.clone());
        self.logger
            .log(level, &action, error.as_deref(), fields.metadata);
    }
}
