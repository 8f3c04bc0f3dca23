//! One soak worker in Rust: the platform loop of soak/README.md until SIGTERM, the same loop as
//! soak/worker.py and soak/worker.mjs, journaled one JSON line per operation.
//!
//!     cargo build -p keelcore --example soak_worker
//!     target/debug/examples/soak_worker '{"id": "ru-1", "incarnation": 0, "url": "postgres://…", …}'

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use keel::dedup::{Dedup, DedupOptions};
use keel::flow::{
    Limit, NewItem, ProviderLimit, ProviderLimits, Queue, QueueOptions, SharedLimiter,
};
use keel::llm::{CallRequest, Llm, LlmOptions, Message, ProviderConfig};
use keel::memory::{CompactOptions, ConversationStore, PlanOptions};
use keel::models::{Feature, ModelRouter, RouterOptions};
use keel::routing::{MessageRouter, RouteRequest};
use keel::runner::{AgentConfig, DeadLetter, DeadLetters, Failure, Handled, Worker, WorkerOptions};
use keel::skills::{RegistryOptions, SkillRegistry};
use keel::telemetry::LoggerOptions;
use keel::telemetry::health::{Fleet, FleetOptions};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// What soak/run.py hands each worker.
#[derive(Deserialize)]
struct Config {
    id: String,
    incarnation: u32,
    url: String,
    base_url: String,
    orgs: Vec<Uuid>,
    conversations: BTreeMap<Uuid, Vec<Uuid>>,
    seed: u64,
    out: String,
    messages: Vec<String>,
    words: Vec<String>,
    agent: String,
    lease_ms: u64,
    cooldown_ms: u64,
    probe_timeout_ms: u64,
    compact_above: u64,
    rate_limit: u32,
    rate_burst: u32,
    health_every: u64,
}

/// One JSON line per operation, written at once, so a killed worker's record ends where it died.
struct Journal(File);

impl Journal {
    fn write(&mut self, op: &str, started: Instant, ok: bool, code: Option<&str>, extra: Value) {
        let mut line = json!({
            "op": op,
            "ms": (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            "ok": ok,
            "code": code,
        });
        if let (Some(line), Value::Object(extra)) = (line.as_object_mut(), extra) {
            line.extend(extra);
        }
        let _ = writeln!(self.0, "{line}");
    }

    /// Runs `call`, journals its outcome as `op`, and gives its value when it succeeded.
    async fn op<T>(
        &mut self,
        op: &str,
        extra: Value,
        call: impl Future<Output = keel::Result<T>>,
    ) -> Option<T> {
        let started = Instant::now();
        match call.await {
            Ok(value) => {
                self.write(op, started, true, None, extra);
                Some(value)
            }
            Err(err) => {
                self.write(op, started, false, Some(err.code()), extra);
                None
            }
        }
    }
}

struct Random(ChaCha8Rng);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn choice<'a, T>(&mut self, list: &'a [T]) -> &'a T {
        &list[self.below(list.len())]
    }
}

#[tokio::main]
async fn main() -> keel::Result<()> {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let cfg: Config = serde_json::from_str(&arg)
        .map_err(|e| keel::Error::invalid_input("config", e.to_string()))?;
    let name = format!("{}.{}", cfg.id, cfg.incarnation);
    let seed = format!("{}-{}-{}", cfg.seed, cfg.id, cfg.incarnation);
    let mut rng = Random(ChaCha8Rng::seed_from_u64(
        seed.bytes().fold(0xcbf29ce484222325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        }),
    ));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cfg.out)
        .map_err(|e| keel::Error::invalid_input("out", e.to_string()))?;
    let mut journal = Journal(file);
    let stop = Arc::new(AtomicBool::new(false));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| keel::Error::invalid_input("signal", e.to_string()))?;
    let flag = stop.clone();
    tokio::spawn(async move {
        term.recv().await;
        flag.store(true, Ordering::SeqCst);
    });

    let db = keel::Keel::connect_with(
        &cfg.url,
        keel::ConnectOptions {
            max_connections: 4,
            ..Default::default()
        },
    )
    .await?;
    db.install_log_sink();
    let log = db.logger(&format!("soak-{name}"), LoggerOptions::default());
    let mut options = RouterOptions::default();
    options.breaker.cooldown = Duration::from_millis(cfg.cooldown_ms);
    options.breaker.probe_timeout = Duration::from_millis(cfg.probe_timeout_ms);
    let router = ModelRouter::open(&db, options).await?;
    let mut llm_options = LlmOptions {
        attempt_timeout: Duration::from_millis(1_500),
        deadline: Duration::from_secs(6),
        ..LlmOptions::default()
    };
    for (provider, path) in [("anthropic", ""), ("google", ""), ("openai", "/v1")] {
        let base_url = Some(format!("{}{path}", cfg.base_url));
        llm_options.providers.insert(
            provider.into(),
            ProviderConfig {
                base_url,
                ..Default::default()
            },
        );
    }
    let llm = Llm::new(&router, llm_options)?;
    let registry = RegistryOptions {
        staleness: Duration::from_secs(1),
        ..Default::default()
    };
    let skills = SkillRegistry::open(&db, registry).await?;
    let routes = MessageRouter::open(&skills, Default::default())?;
    let store = ConversationStore::open(&db);
    let dedup = Dedup::open(&db, DedupOptions::default())?;
    let queue = Queue::open(
        &db,
        QueueOptions {
            lease_ms: cfg.lease_ms,
            retry_delay_ms: 200,
            ..Default::default()
        },
    )?;
    let webhook_url = Some(format!("{}/services/T0/B0/soak", cfg.base_url));
    let fleet = Fleet::open(
        &db,
        FleetOptions {
            webhook_url,
            ..Default::default()
        },
        None,
    )?;
    let limiter = SharedLimiter::open(&db);
    let crm = ProviderLimits(vec![ProviderLimit {
        provider: "crm".into(),
        org_id: None,
        limit: cfg.rate_limit,
        period_ms: 1_000,
        burst: cfg.rate_burst,
    }]);
    let letters = DeadLetters::open(&db);
    let replay = |letter: DeadLetter| async move {
        // Half the letters replay cleanly; the others fail until they are abandoned.
        if letter.id.as_bytes()[15] % 2 == 1 {
            return Err(Failure {
                status: Some(503),
                message: "still down".into(),
                ..Failure::default()
            });
        }
        Ok(Handled::Done)
    };
    let letter_options: WorkerOptions =
        serde_json::from_value(json!({"backoff": {"base_ms": 200, "cap_ms": 1000}}))
            .expect("valid options");
    let letter_worker = Worker::new(letters, letter_options)?.handle_all(Arc::new(replay));
    let compact = CompactOptions {
        plan: PlanOptions {
            threshold: cfg.compact_above,
            ..PlanOptions::default()
        },
        ..CompactOptions::default()
    };

    let mut n = 0u64;
    let mut last_health: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let org = *rng.choice(&cfg.orgs);
        let conv = *rng.choice(&cfg.conversations[&org]);
        let channel = *rng.choice(&["web", "slack"]);
        let message = rng.choice(&cfg.messages).clone();
        let mut request = RouteRequest::new(message.as_str(), channel, org)?;
        request.user = Some("rep-1".into());
        let decided = journal.op("route", json!({}), routes.route(&request)).await;
        let key = format!("{name}-{n}");
        let call = CallRequest {
            org_id: Some(org),
            idempotency_key: Some(key.clone()),
            ..CallRequest::new(Feature::Copilot, message.as_str())
        };
        let done = journal
            .op("llm", json!({"key": key, "org": org}), llm.complete(&call))
            .await;
        let reply = done.map_or_else(|| "(no answer)".to_owned(), |d| d.text);
        let turn = [Message::user(message.as_str()), Message::assistant(reply)];
        let appended = journal
            .op("append", json!({}), store.append(org, conv, &turn))
            .await;
        if appended.is_some_and(|a| a.total_tokens > cfg.compact_above) && rng.unit() < 0.1 {
            journal
                .op(
                    "compact",
                    json!({}),
                    store.compact(org, conv, &compact, Some(&llm)),
                )
                .await;
        }
        if n.is_multiple_of(3) {
            let fate = rng.unit();
            let mut config = AgentConfig::new(&cfg.agent);
            config.org_id = Some(org.to_string());
            config.max_retries = Some(1);
            config.idempotency_key = Some(key.clone());
            config.policy = serde_json::from_value(json!({"kinds": {"transient": {
                "max_attempts": 2, "backoff": {"base_ms": 10, "cap_ms": 20}}}}))
            .expect("a valid policy");
            let run = db.run_agent(config, move |ctx| async move {
                let down = |message: &str| Failure {
                    message: message.into(),
                    status: Some(503),
                    ..Failure::default()
                };
                if fate < 0.3 && ctx.attempt() == 1 {
                    return Err(down("CRM unavailable"));
                }
                if fate > 0.93 {
                    return Err(down("CRM down for good"));
                }
                Ok(json!({"scored": 1}))
            });
            journal.op("agent", json!({}), run).await;
        }
        let title: Vec<&str> = (0..5).map(|_| rng.choice(&cfg.words).as_str()).collect();
        let item = NewItem {
            org_id: org.to_string(),
            source_agent: cfg.agent.clone(),
            item_type: "deal_risk".into(),
            title: title.join(" "),
            // One of the org's 5,000 deals: a dedup key each.
            deal_id: Some(format!(
                "{}{:012x}",
                &org.to_string()[..24],
                rng.below(5000)
            )),
            ..NewItem::default()
        };
        let checked = journal
            .op("enqueue", json!({}), dedup.enqueue(&queue, &[item]))
            .await;
        if let Some(c) = checked.as_ref().and_then(|c| c.first()) {
            let extra = json!({"item": c.id, "verdict": c.verdict});
            journal.write("enqueued", Instant::now(), true, None, extra);
        }
        let claimed = journal
            .op("claim", json!({}), queue.claim(&name, 4, None))
            .await;
        for item in claimed.unwrap_or_default() {
            // The CRM's quota is shared by every worker: over it, the item waits its turn.
            let keys = crm.keys(&item.org_id, &["crm".into()])?;
            let keys: Vec<(&str, Limit)> = keys.iter().map(|(k, l)| (k.as_str(), *l)).collect();
            let Some(decision) = journal
                .op("acquire", json!({}), limiter.acquire(&keys))
                .await
            else {
                continue; // the lease runs out and a sweep puts the item back
            };
            if !decision.allowed {
                let wait = i64::try_from(decision.retry_after_ms).unwrap_or(i64::MAX);
                let deferred = queue.defer(item.id, item.lease_token, wait);
                journal.op("defer", json!({}), deferred).await;
                continue;
            }
            let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            let at = at.map_or(0.0, |d| d.as_secs_f64() * 1e3);
            journal.write(
                "allowed",
                Instant::now(),
                true,
                None,
                json!({"org": item.org_id, "at": at}),
            );
            let enrich = Duration::from_micros(rng.below(20_000) as u64);
            tokio::time::sleep(enrich).await; // the enrichment itself
            let extra = json!({"item": item.id});
            let completed = queue.complete(item.id, item.lease_token, None);
            if let Some(acked) = journal.op("complete", extra, completed).await {
                let extra = json!({"item": item.id, "token": item.lease_token});
                journal.write("ack", Instant::now(), acked, None, extra);
            }
        }
        let route = decided.map(|d| d.route.to_string());
        let mut metadata = serde_json::Map::new();
        metadata.insert("n".into(), n.into());
        metadata.insert("route".into(), route.into());
        log.info("soak.iteration", metadata);
        if last_health.is_none_or(|t| t.elapsed() > Duration::from_secs(cfg.health_every)) {
            last_health = Some(Instant::now());
            journal.op("sweep", json!({}), queue.sweep()).await;
            journal.op("health", json!({}), fleet.check()).await;
            journal
                .op("letters", json!({}), letter_worker.run_once())
                .await;
        }
    }

    // A clean stop: what this incarnation emitted, wrote and dropped.
    log.sink().flush().await;
    routes.flush().await;
    let stats = log.sink().stats();
    let extra = json!({"emitted": n, "accepted": stats.accepted,
        "written": stats.written, "dropped": stats.dropped});
    journal.write("stopped", Instant::now(), true, None, extra);
    db.close().await;
    Ok(())
}
