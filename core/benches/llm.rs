//! What a model call through Keel adds over a raw HTTP round trip to the same provider on
//! loopback with a fixed reply, at p50 and p99: credits off (explicit model, and resolved
//! through the router), credits on PostgreSQL (`KEEL_BENCH_PG_URL`), and one fallback hop.
//!
//! A percentile harness rather than criterion: the targets are p50 and p99 of the
//! added latency, which criterion does not report. Calls run one at a time, interleaved
//! round-robin between the variants so that the machine's noise hits them alike. The last line
//! of output is JSON for `bench/run.py`.

#[allow(dead_code)]
#[path = "../../cli/src/loopback.rs"]
mod loopback;

use std::time::{Duration, Instant};

use keel::llm::{CallRequest, Llm, LlmOptions, ProviderConfig};
use keel::models::{
    BreakerConfig, Feature, ModelEntry, ModelRouter, Pricing, Role, RouterOptions, Scope, Tier,
};
use loopback::{Loopback, WireKind, error};
use serde_json::json;

const ROUNDS: usize = 3_000;
const WARM_UP: usize = 200;

fn row(provider: &str, model: &str, role: Role) -> ModelEntry {
    ModelEntry {
        scope: Scope::Platform,
        feature: Feature::Copilot,
        tier: Tier::Low,
        provider: provider.into(),
        model_id: model.into(),
        role,
        context_window: 100_000,
        max_tokens: 256,
        pricing: Pricing {
            per_request: 0.01,
            input_per_mtok: Some(1.0),
            output_per_mtok: Some(5.0),
        },
    }
}

async fn llm_on(url: &str, provider: &Loopback, fallback_slot: bool) -> Llm {
    let keel = keel::Keel::connect(url).await.unwrap();
    let router = ModelRouter::open(
        &keel,
        RouterOptions {
            seed_defaults: false,
            // The failing primary of the fallback case must stay closed: every call pays the hop.
            breaker: BreakerConfig {
                failure_threshold: u32::MAX,
                provider_failure_threshold: u32::MAX,
                ..BreakerConfig::default()
            },
            ..RouterOptions::default()
        },
    )
    .await
    .unwrap();
    let slot = if fallback_slot {
        vec![
            row("anthropic", "failing", Role::Primary),
            row("openai", "gpt-bench", Role::Fallback(1)),
        ]
    } else {
        vec![row("openai", "gpt-bench", Role::Primary)]
    };
    for entry in slot {
        router.set_model(entry).await.unwrap();
    }
    let mut options = LlmOptions::default();
    for (name, base) in [
        ("anthropic", provider.base_url.clone()),
        ("openai", format!("{}/v1", provider.base_url)),
    ] {
        options.providers.insert(
            name.into(),
            ProviderConfig {
                api_key: Some("bench".into()),
                base_url: Some(base),
                ..ProviderConfig::default()
            },
        );
    }
    Llm::new(&router, options).unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let provider = Loopback::start().await.unwrap();
    provider.quiet();
    provider.always("failing", error(WireKind::Anthropic, 500, "down"));
    let sqlite = std::env::temp_dir().join(format!("keel-llm-bench-{}.db", std::process::id()));
    let url = format!("sqlite://{}", sqlite.display());
    let direct = llm_on(&url, &provider, false).await;
    let fallback = llm_on("sqlite::memory:", &provider, true).await;
    let credits = match std::env::var("KEEL_BENCH_PG_URL") {
        Ok(pg) => {
            let llm = llm_on(&pg, &provider, false).await;
            let org = uuid::Uuid::new_v4();
            llm.router()
                .grant_credits(org, 1_000_000.0, "purchase", None)
                .await
                .unwrap();
            Some((llm, org))
        }
        Err(_) => None,
    };

    // The raw round trip: the same client, body and reply, parsed as JSON.
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let raw_url = format!("{}/v1/chat/completions", provider.base_url);
    let raw_body = json!({"model": "gpt-bench", "max_tokens": 256,
        "messages": [{"role": "user", "content": "hello"}]});
    let explicit = CallRequest {
        provider: Some("openai"),
        model: Some("gpt-bench".into()),
        ..CallRequest::new(Feature::Copilot, "hello")
    };
    let routed = CallRequest {
        tier: Some(Tier::Low),
        ..CallRequest::new(Feature::Copilot, "hello")
    };

    let names = [
        "raw",
        "explicit",
        "routed",
        "fallback_hop",
        "credits_postgres",
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); names.len()];
    for round in 0..WARM_UP + ROUNDS {
        for (i, name) in names.iter().enumerate() {
            let started = Instant::now();
            match *name {
                "raw" => {
                    let reply: serde_json::Value = http
                        .post(&raw_url)
                        .bearer_auth("bench")
                        .json(&raw_body)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    assert!(reply["choices"][0]["message"]["content"].is_string());
                }
                "explicit" => {
                    direct.complete(&explicit).await.unwrap();
                }
                "routed" => {
                    direct.complete(&routed).await.unwrap();
                }
                "fallback_hop" => {
                    let done = fallback.complete(&routed).await.unwrap();
                    assert_eq!(done.attempts.len(), 2);
                }
                _ => match &credits {
                    Some((llm, org)) => {
                        let request = CallRequest {
                            org_id: Some(*org),
                            ..routed.clone()
                        };
                        assert!(llm.complete(&request).await.unwrap().credits_charged > 0.0);
                    }
                    None => continue,
                },
            }
            if round >= WARM_UP {
                samples[i].push(started.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    let mut figures = serde_json::Map::new();
    println!("| call (µs) | p50 | p99 | added p50 | added p99 |");
    println!("|---|---:|---:|---:|---:|");
    let mut raw = (0.0, 0.0);
    for (name, mut s) in names.iter().zip(samples) {
        if s.is_empty() {
            continue;
        }
        s.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&s, 0.5), percentile(&s, 0.99));
        if *name == "raw" {
            raw = (p50, p99);
        }
        let added = (p50 - raw.0, p99 - raw.1);
        println!(
            "| {name} | {p50:.1} | {p99:.1} | {:.1} | {:.1} |",
            added.0, added.1
        );
        figures.insert(format!("{name}_p50_us"), p50.into());
        figures.insert(format!("{name}_p99_us"), p99.into());
    }
    let _ = std::fs::remove_file(&sqlite);
    tokio::time::sleep(Duration::from_millis(10)).await;
    println!("{}", serde_json::Value::Object(figures));
}
