//! A Rust host's OpenTelemetry context and Keel's spans, both ways: Keel's spans can nest
//! under the host's current span, and the host's spans under Keel's, so one trace shows the
//! web request, the Keel call and the provider call.
//!
//! ```no_run
//! # async fn demo(keel: keel::Keel) {
//! use keel::telemetry::LoggerOptions;
//! use keel::telemetry::export::{current_traceparent, span_context};
//! // Under the host's current span (with `tracing-opentelemetry`, attach the span's context
//! // first: `let _cx = tracing::Span::current().context().attach();`).
//! let log = keel.logger("copilot", LoggerOptions {
//!     host_traceparent: current_traceparent(),
//!     ..LoggerOptions::default()
//! });
//! let span = log.span("handle_message", Default::default(), None);
//! // The host's own spans under Keel's: start them in this context.
//! let _cx = span_context(&span).attach();
//! # }
//! ```

use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use uuid::Uuid;

use super::spans::{span_id, trace_id};
use crate::telemetry::{Span, format_traceparent};

/// This thread's current OpenTelemetry span (`opentelemetry::Context::current()`) as a W3C
/// `traceparent`, or `None` without a valid one: what a Rust host passes as
/// `LoggerOptions::host_traceparent` (or a request's `traceparent`).
pub fn current_traceparent() -> Option<String> {
    let context = opentelemetry::Context::current();
    let span = context.span();
    let span = span.span_context();
    span.is_valid().then(|| {
        format_traceparent(
            Uuid::from_u128(u128::from_be_bytes(span.trace_id().to_bytes())),
            Uuid::from_u64_pair(0, u64::from_be_bytes(span.span_id().to_bytes())),
            span.is_sampled(),
        )
    })
}

/// An OpenTelemetry context whose (remote) parent is `span`: spans the host starts in it are
/// children of Keel's span, in Keel's trace (sampled, as Keel records every span).
pub fn span_context(span: &Span) -> opentelemetry::Context {
    let remote = SpanContext::new(
        trace_id(span.logger().trace_id()),
        span_id(span.id()),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    opentelemetry::Context::new().with_remote_span_context(remote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{
        Destination, LogFilter, Logger, LoggerOptions, Sink, SinkOptions, TraceParent,
    };
    use opentelemetry::trace::{SpanId, TraceId};

    #[tokio::test]
    async fn keel_spans_nest_under_the_host_span_and_the_host_under_keel() {
        assert_eq!(current_traceparent(), None, "no host span yet");
        let sink = Sink::start(Destination::Discard, SinkOptions::default());
        let host = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let parent = TraceParent::parse(host).unwrap();
        let host_cx = opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ));
        let guard = host_cx.attach();
        assert_eq!(current_traceparent().as_deref(), Some(host));
        let options = LoggerOptions {
            host_traceparent: current_traceparent(),
            ..LoggerOptions::default()
        };
        let log = Logger::new(sink.clone(), "svc", options, LogFilter::default());
        let span = log.span("keel_step", Default::default(), None);
        assert_eq!(log.trace_id(), parent.trace_id);
        assert_eq!(span.parent_id(), Some(parent.parent_span_id));
        drop(guard);

        // The caller's own trace id wins over the host's span.
        let own = LoggerOptions {
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            host_traceparent: Some(host.into()),
            ..LoggerOptions::default()
        };
        let own = Logger::new(sink.clone(), "svc", own, LogFilter::default());
        assert_ne!(own.trace_id(), parent.trace_id);

        // The host's next span, started in Keel's span's context, is its child.
        let _keel = span_context(&span).attach();
        let inside = current_traceparent().unwrap();
        assert_eq!(inside, span.traceparent());
    }
}
