//! OpenTelemetry export: Keel's spans over OTLP to the receiver the platform runs, the log
//! events inside a span as its events, and a model call's spans (GenAI conventions) under the
//! caller's span. The same scenario runs in
//! examples/python/otlp.py and examples/node/otlp.mjs.
//!
//!     KEEL_LLM_BASE_URL=http://127.0.0.1:PORT cargo run -p keelcore --example otlp  # `keel loopback` takes both
//!     OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:6006 cargo run -p keelcore --example otlp  # Phoenix, real APIs

use keel::llm::{CallRequest, Llm, LlmOptions, ProviderConfig};
use keel::models::{Feature, ModelRouter, Tier};
use keel::telemetry::LoggerOptions;
use keel::telemetry::export::OtlpOptions;
use serde_json::json;

#[tokio::main]
async fn main() -> keel::Result<()> {
    let url = std::env::var("KEEL_DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    // `keel loopback` answers the model calls and takes the spans; else OTEL_* say where to.
    let base = std::env::var("KEEL_LLM_BASE_URL").ok();
    // --8<-- [start:otlp]
    let otlp = OtlpOptions {
        endpoint: base.clone(),
        ..OtlpOptions::default()
    };
    match otlp.from_process()? {
        Some(config) => println!(
            "exporting spans over {}",
            json!(config.protocol).as_str().unwrap_or("?")
        ),
        None => println!("export is off (set OTEL_EXPORTER_OTLP_ENDPOINT)"),
    }
    let options = keel::ConnectOptions {
        otlp,
        ..Default::default()
    };
    let db = keel::Keel::connect_with(&url, options).await?;
    let router = ModelRouter::open(&db, Default::default()).await?;
    let mut llm_options = LlmOptions::default();
    for (provider, path) in [("anthropic", ""), ("google", ""), ("openai", "/v1")] {
        let base_url = base.as_ref().map(|b| format!("{b}{path}"));
        let config = ProviderConfig {
            base_url,
            ..Default::default()
        };
        llm_options.providers.insert(provider.into(), config);
    }
    let llm = Llm::new(&router, llm_options)?;

    let log = db.logger("copilot-autonomous", LoggerOptions::default());
    let fields = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    let span = log.span("handle_message", fields(json!({"channel": "slack"})), None);
    // Travels as an event of handle_message.
    log.info("skills.cache_hit", fields(json!({"entries": 12})));
    let done = llm
        .complete(&CallRequest {
            tier: Some(Tier::Low),
            // The call's spans nest under handle_message.
            traceparent: Some(span.traceparent()),
            ..CallRequest::new(Feature::Copilot, "How do I prep for my Acme meeting?")
        })
        .await?;
    span.stop(Default::default());
    println!(
        "the call joined the trace: {}",
        done.trace_id == log.trace_id()
    );
    // Written, and exported or counted as dropped.
    log.sink().flush().await;
    if let Some(stats) = log.sink().export_stats() {
        println!(
            "{} spans exported (handle_message, the call, its attempt), {} dropped",
            stats.exported, stats.dropped
        );
    }
    db.close().await;
    // --8<-- [end:otlp]
    Ok(())
}
