//! `keel demo`: a day of the platform on an embedded database, printed step by step.
//!
//! Each capability adds its steps here, in the order a day runs. Every step runs inside a span,
//! and the demo ends by reading its own trace back from `system_logs`.

use std::time::Instant;

use keel::telemetry::{LoggerOptions, Span, gen_ai, render_tree};
use serde_json::{Map, Value, json};

/// The embedded default the demo runs on.
pub const DEFAULT_URL: &str = "sqlite://.keel/demo.db";

fn meta(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// Runs the demo against `url`; unless `keep`, a SQLite demo file starts empty.
pub async fn run(url: &str, keep: bool) -> keel::Result<()> {
    let parsed = keel::DatabaseUrl::parse(url)?;
    println!(
        "Keel {} demo on {} ({})",
        keel::VERSION,
        parsed.masked,
        parsed.backend.as_str()
    );
    if let (false, Some(path)) = (keep, parsed.path.as_deref()) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            // A missing file is what we want; anything else shows up on connect.
            let _ = std::fs::remove_file(&file);
        }
    }

    let started = Instant::now();
    let keel = keel::Keel::connect(url).await?;
    let log = keel.logger(
        "keel-demo",
        LoggerOptions {
            agent_name: Some("demo".into()),
            ..Default::default()
        },
    );
    let day = log.span(
        "demo.day",
        meta(json!({"database": parsed.backend.as_str()})),
        None,
    );

    let step = day.child("demo.connect", Map::new());
    let applied = keel.applied_migrations().await?;
    let last = applied
        .last()
        .map(|m| format!("{:04} {}", m.version, m.description))
        .unwrap_or_default();
    step.stop(meta(json!({"migrations": applied.len()})));
    println!(
        "\n[1] connect   {:.1} ms, schema at migration {last}",
        started.elapsed().as_secs_f64() * 1e3
    );

    let step = day.child("demo.schema", Map::new());
    let tables = keel.tables().await?;
    step.stop(meta(json!({"tables": tables.len()})));
    println!("[2] schema    {} tables:", tables.len());
    for table in &tables {
        println!("              {:<24} {:>6} rows", table.name, table.rows);
    }

    let step = day.child("demo.errors", Map::new());
    println!(
        "[3] errors    every failure has a stable code; URLs are shown with the password masked"
    );
    for bad in [
        "postgres://ops:hunter2@127.0.0.1:9/keel?connect_timeout=2",
        "mysql://ops:hunter2@db/keel",
    ] {
        match keel::Keel::connect(bad).await {
            Ok(_) => println!(
                "              unexpected success for {}",
                keel::mask_url(bad)
            ),
            Err(err) => {
                log.warn(
                    "demo.connect_refused",
                    meta(json!({"code": err.code(), "url": keel::mask_url(bad)})),
                );
                println!("              {:<12} {err}", err.code());
            }
        }
    }
    step.stop(Map::new());

    observability(&log, &day).await;
    day.stop(Map::new());
    let stats = log.sink().flush().await;
    let events = keel.trace(log.trace_id()).await?;
    println!(
        "[5] trace     {} events written, {} dropped; trace {} read back from system_logs:",
        stats.written,
        stats.dropped,
        log.trace_id()
    );
    for line in render_tree(&events).lines() {
        println!("              {line}");
    }

    keel.close().await;
    println!(
        "\n[6] closed    total {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// A copilot request as the platform logs it: a span per step, GenAI fields on the model call,
/// a secret in the metadata redacted, a failed tool call, and the `traceparent` for the next hop.
async fn observability(log: &keel::telemetry::Logger, day: &Span) {
    let request = day.child(
        "copilot.handle_message",
        meta(json!({"channel": "web_copilot"})),
    );
    log.info(
        "model_router.tier_resolved",
        meta(json!({
            gen_ai::REQUEST_MODEL: "claude-sonnet-4-6",
            gen_ai::PROVIDER_NAME: "anthropic",
            "authorization": "Bearer sk-ant-api03-demo-not-a-real-key",
        })),
    );
    let call = request.child("llm.chat", meta(json!({gen_ai::OPERATION_NAME: "chat"})));
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    call.stop(meta(
        json!({gen_ai::USAGE_INPUT_TOKENS: 1_240, gen_ai::USAGE_OUTPUT_TOKENS: 312}),
    ));
    let tool = request.child("tool.crm_lookup", Map::new());
    tool.fail("CRM answered 503", meta(json!({"retryable": true})));
    let header = request.traceparent();
    request.stop(Map::new());
    println!("[4] logging   spans, GenAI fields and redaction; next hop gets traceparent {header}");
}
