//! `keel demo`: a day of the platform on an embedded database, printed step by step.
//!
//! Each capability adds its steps here, in the order a day runs. Every step runs inside a span,
//! and the demo ends by reading its own trace back from `system_logs`.

use std::time::Instant;

use keel::telemetry::{LoggerOptions, Span, gen_ai, render_tree};
use serde_json::{Map, Value, json};

use crate::output::{Create, Ctx, Done, print_json, say, take_lines};

/// The embedded default the demo runs on.
pub const DEFAULT_URL: &str = "sqlite://.keel/demo.db";

fn meta(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// Runs the demo; unless `keep`, a SQLite demo file starts empty. With `--json` its narration
/// comes out as one document, `{"database", "lines"}`.
pub async fn run(ctx: &Ctx, keep: bool) -> Done {
    narrate(ctx, keep).await?;
    if ctx.json {
        print_json(
            &json!({"database": keel::mask_url(ctx.url(DEFAULT_URL)), "lines": take_lines()}),
        );
    }
    Ok(())
}

async fn narrate(ctx: &Ctx, keep: bool) -> keel::Result<()> {
    let url = ctx.url(DEFAULT_URL);
    let parsed = keel::DatabaseUrl::parse(url)?;
    say!(
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
    // Spans also go over OTLP, to a receiver on loopback (Phoenix, Jaeger or a Collector take
    // the same): step [17].
    let receiver = crate::loopback::Loopback::start()
        .await
        .map_err(|e| keel::Error::Internal(format!("cannot start the OTLP receiver: {e}")))?;
    let otlp = keel::telemetry::export::OtlpOptions {
        endpoint: Some(receiver.base_url.clone()),
        ..Default::default()
    };
    let options = keel::ConnectOptions {
        otlp,
        ..Default::default()
    };
    let keel = ctx.open(DEFAULT_URL, Create::Yes, options).await?;
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
    say!(
        "\n[1] connect   {:.1} ms, schema at migration {last}",
        started.elapsed().as_secs_f64() * 1e3
    );

    let step = day.child("demo.schema", Map::new());
    let tables = keel.tables().await?;
    step.stop(meta(json!({"tables": tables.len()})));
    say!("[2] schema    {} tables:", tables.len());
    for table in &tables {
        say!("              {:<24} {:>6} rows", table.name, table.rows);
    }

    let step = day.child("demo.errors", Map::new());
    say!("[3] errors    every failure has a stable code; URLs are shown with the password masked");
    for bad in [
        "postgres://ops:hunter2@127.0.0.1:9/keel?connect_timeout=2",
        "mysql://ops:hunter2@db/keel",
    ] {
        match keel::Keel::connect(bad).await {
            Ok(_) => say!(
                "              unexpected success for {}",
                keel::mask_url(bad)
            ),
            Err(err) => {
                log.warn(
                    "demo.connect_refused",
                    meta(json!({"code": err.code(), "url": keel::mask_url(bad)})),
                );
                say!("              {:<12} {err}", err.code());
            }
        }
    }
    step.stop(Map::new());

    observability(&log, &day).await;
    let step = day.child("demo.model_router", Map::new());
    model_router(&keel).await?;
    step.stop(Map::new());
    let step = day.child("demo.skills", Map::new());
    skills(&keel).await?;
    step.stop(Map::new());
    let step = day.child("demo.llm", Map::new());
    crate::demo_llm::run(&keel, &step).await?;
    step.stop(Map::new());
    let step = day.child("demo.routing", Map::new());
    crate::demo_route::run(&keel, repo_folder).await?;
    step.stop(Map::new());
    let step = day.child("demo.memory", Map::new());
    crate::demo_memory::run(&keel, &step).await?;
    step.stop(Map::new());
    let step = day.child("demo.dead_letters", Map::new());
    crate::demo_letters::run(&keel).await?;
    step.stop(Map::new());
    let step = day.child("demo.agent_runs", Map::new());
    crate::demo_runs::run(&keel, &step).await?;
    step.stop(Map::new());
    let step = day.child("demo.queue", Map::new());
    crate::demo_queue::run(&keel).await?;
    step.stop(Map::new());
    let step = day.child("demo.dedup", Map::new());
    crate::demo_dedup::run(&keel).await?;
    step.stop(Map::new());
    let step = day.child("demo.slack_threads", Map::new());
    crate::demo_threads::run(&keel).await?;
    step.stop(Map::new());
    let step = day.child("demo.fleet_health", Map::new());
    crate::demo_fleet::run_step(&keel).await?;
    step.stop(Map::new());
    day.stop(Map::new());
    let stats = log.sink().flush().await;
    let events = keel.trace(log.trace_id()).await?;
    say!(
        "[16] trace    {} events written, {} dropped; trace {} read back from system_logs:",
        stats.written,
        stats.dropped,
        log.trace_id()
    );
    for line in render_tree(&events).lines() {
        say!("              {line}");
    }

    exported(&log, &receiver);
    crate::demo_console::run(&keel).await?;

    keel.close().await;
    say!(
        "\n[19] closed   total {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// What the OTLP receiver got: every span of the day, the model calls as GenAI spans.
fn exported(log: &keel::telemetry::Logger, receiver: &crate::loopback::Loopback) {
    let stats = log.sink().export_stats().unwrap_or_default();
    let names = receiver.spans();
    let mut calls = std::collections::BTreeMap::<&str, usize>::new();
    for name in names.iter().filter(|n| n.starts_with("chat ")) {
        *calls.entry(name).or_default() += 1;
    }
    say!(
        "[17] otlp     {} spans exported to an OTLP receiver on loopback, {} dropped ({} received)",
        stats.exported,
        stats.dropped,
        names.len()
    );
    let calls: Vec<String> = calls.iter().map(|(n, k)| format!("{n} x{k}")).collect();
    say!(
        "              model calls as GenAI spans: {}",
        calls.join(", ")
    );
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
    say!("[4] logging   spans, GenAI fields and redaction; next hop gets traceparent {header}");
}

/// The model router's day: resolutions per feature, a provider outage that opens a breaker and
/// moves traffic to the fallback, the half-open probe that closes it, and credits charged.
async fn model_router(keel: &keel::Keel) -> keel::Result<()> {
    use keel::models::{
        BreakerConfig, Charge, FailureKind, Feature, ModelRequest, ModelRouter, RouterOptions,
        Tier, Usage,
    };
    let router = ModelRouter::open(
        keel,
        RouterOptions {
            breaker: BreakerConfig {
                cooldown: std::time::Duration::from_millis(500),
                ..BreakerConfig::default()
            },
            ..RouterOptions::default()
        },
    )
    .await?;
    let org = uuid::Uuid::new_v4();
    let request = |feature, tier| ModelRequest {
        feature: Some(feature),
        tier,
        org_id: Some(org),
        trace_id: None,
    };
    say!(
        "[5] models    {} matrix rows; resolutions for org {org}:",
        router.with_matrix(|m| m.len())
    );
    for (feature, tier) in [
        (Feature::Copilot, None),
        (Feature::FleetAgent, Some(Tier::Low)),
        (Feature::Recording, Some(Tier::Medium)),
        (Feature::Embedding, Some(Tier::Low)),
        (Feature::Enrichment, Some(Tier::High)),
    ] {
        let r = router.resolve(&request(feature, tier)).await?;
        say!(
            "              {:<12} {:<7} {:<10} {:<26} {:>5.2} credits/request",
            feature.as_str(),
            r.tier.as_str(),
            r.provider,
            r.model_id,
            r.credit_cost
        );
    }
    let copilot = request(Feature::Copilot, Some(Tier::Medium));
    let caller_error = router
        .record_failure(
            "anthropic",
            "claude-sonnet-4-6",
            FailureKind::from_status(Some(400)),
        )
        .await;
    let mut line = format!(
        "              anthropic/claude-sonnet-4-6: a 400 (the caller's fault): {caller_error:?}; then 503 three times:"
    );
    for _ in 0..3 {
        let t = router
            .record_failure("anthropic", "claude-sonnet-4-6", FailureKind::ServerError)
            .await;
        line += &format!(" {t:?}");
    }
    say!("{line}");
    let r = router.resolve(&copilot).await?;
    say!(
        "              copilot/medium now served by {}/{} (fallback: {})",
        r.provider,
        r.model_id,
        r.was_fallback
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let probe = router.resolve(&copilot).await?;
    let next = router.resolve(&copilot).await?;
    say!(
        "              after the cooldown one caller gets the probe ({}), the next still the fallback ({})",
        probe.model_id,
        next.model_id
    );
    let closed = router
        .record_success("anthropic", "claude-sonnet-4-6")
        .await;
    let r = router.resolve(&copilot).await?;
    say!(
        "              the probe succeeds: {closed:?}; copilot/medium back on {}",
        r.model_id
    );

    router
        .grant_credits(org, 25.0, "purchase", Some("demo-purchase"))
        .await?;
    let usage = Usage::new(12_400.0, 1_800.0)?;
    let cost = router.call_cost(&r, Some(usage));
    let charged = router
        .deduct(&Charge {
            org_id: org,
            amount: cost,
            idempotency_key: Some("demo-call-1".into()),
            model_id: Some(r.model_id.to_string()),
            tokens_used: Some(14_200),
            ..Charge::default()
        })
        .await?;
    let repeat = router
        .deduct(&Charge {
            org_id: org,
            amount: cost,
            idempotency_key: Some("demo-call-1".into()),
            ..Charge::default()
        })
        .await?;
    let held = router.reserve(org, 5.0, "demo-agent-run").await?;
    let settled = router.commit(held.id, 1.2).await?;
    let status = router.check_budget(org).await?;
    say!("              credits: 25.00 purchased");
    say!(
        "                       -{cost:.4} {} (12,400 in / 1,800 out tokens) -> balance {:.4}",
        r.model_id,
        charged.balance_after
    );
    say!(
        "                       the same idempotency key again: duplicate={}, balance {:.4}",
        repeat.duplicate,
        repeat.balance_after
    );
    say!(
        "                       reserve 5.00 -> {:.4}, commit at 1.20 -> {:.4}; can proceed: {}",
        held.balance_after,
        settled.balance_after,
        status.can_proceed
    );
    Ok(())
}

/// A folder of the repository (`skills`, `testdata/skill-corpus`): relative to the current
/// folder when the demo runs from the checkout, else next to this crate's sources.
fn repo_folder(relative: &str) -> std::path::PathBuf {
    let here = std::path::PathBuf::from(relative);
    if here.is_dir() {
        return here;
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

/// Syncs the library (twice: the second changes nothing), shows what each channel sees for an
/// org that replaced one skill, then edits a copy of a skill and syncs version 2.
async fn skills(keel: &keel::Keel) -> keel::Result<()> {
    use keel::skills::{Channel, RegistryOptions, SkillRegistry, SyncAction, SyncOptions};
    let copy = std::env::temp_dir().join(format!("keel-demo-skills-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    copy_dir(&repo_folder("skills"), &copy)
        .map_err(|e| keel::Error::invalid_input("skills", format!("copy the library: {e}")))?;
    let registry = SkillRegistry::open(keel, RegistryOptions::default()).await?;
    let started = Instant::now();
    let first = registry
        .sync(&copy, SyncOptions::default(), |_, _, _| {})
        .await?;
    let took = started.elapsed().as_secs_f64() * 1e3;
    let again = registry
        .sync(&copy, SyncOptions::default(), |_, _, _| {})
        .await?;
    say!(
        "[6] skills    synced {} SKILL.md in {took:.1} ms ({} created); again: {} unchanged",
        first.items.len(),
        first.count(SyncAction::Created),
        again.count(SyncAction::Unchanged)
    );

    let org = uuid::Uuid::from_u128(0x005e_a1e5_0000_4000_8000_0000_0000_0002);
    registry
        .set_org_context(
            org,
            json!({"company_name": "Acme Logistics", "products": ["Route Planner", "Fleet Insights"]}),
        )
        .await?;
    let own = "---\nname: slack-deal-query\ndescription: Acme's own deal answer in Slack.\nmetadata:\n  namespace: slack\n  required_context: [deal]\n---\nAnswer in two lines for ${company_name}: where ${deal.name} stands and the next step.\n";
    registry
        .replace(org, "slack-deal-query", Some(own.to_owned()))
        .await?;
    say!("              org {org} (Acme Logistics) replaces slack-deal-query with its own:");
    for channel in Channel::ALL {
        let view = registry.resolve_skills(org, channel).await?;
        let mut lines = vec![String::new()];
        for skill in view.skills.iter() {
            let line = lines.last_mut().expect("one line");
            if line.len() + skill.key.len() > 72 {
                line.push(',');
                lines.push(String::new());
            }
            let line = lines.last_mut().expect("one line");
            if !line.is_empty() {
                line.push_str(", ");
            }
            line.push_str(&skill.key);
        }
        say!(
            "              {:<15} {:>2} skills: {}",
            channel.as_str(),
            view.len(),
            lines.join(&format!("\n{:<34}", ""))
        );
        for shadow in &view.shadowed {
            say!(
                "              {:<15}    shadowed {} ({}): {}",
                "",
                shadow.key,
                shadow.reason.as_str(),
                shadow.detail
            );
        }
    }
    let slack = registry.resolve_skills(org, Channel::Slack).await?;
    if let Some(skill) = slack.get("slack-deal-query") {
        let rendered = skill.render(&json!({"deal": {"name": "the Q4 renewal"}}))?;
        say!(
            "              rendered for a request: {}",
            rendered.lines().last().unwrap_or_default()
        );
    }

    let file = copy.join("copilot/deal-status/SKILL.md");
    let text = std::fs::read_to_string(&file)
        .map_err(|e| keel::Error::invalid_input("skills", e.to_string()))?;
    std::fs::write(
        &file,
        format!("{text}\nClose with the single riskiest assumption.\n"),
    )
    .map_err(|e| keel::Error::invalid_input("skills", e.to_string()))?;
    let bumped = registry
        .sync(&copy, SyncOptions::default(), |_, _, _| {})
        .await?;
    for item in bumped
        .items
        .iter()
        .filter(|i| i.action != SyncAction::Unchanged)
    {
        say!(
            "              edited {}: {} v{} -> v{} (history: {} versions, one current)",
            item.key,
            item.action.as_str(),
            item.previous.unwrap_or(0),
            item.version,
            registry.history(&item.key).await?.len()
        );
    }
    let web = registry.resolve_skills(org, Channel::Web).await?;
    if let Some(skill) = web.get("deal-status") {
        say!(
            "              web now serves deal-status v{} (the cache was dropped by the sync)",
            skill.version.unwrap_or(0)
        );
    }
    let _ = std::fs::remove_dir_all(&copy);
    corpus()
}

/// The platform's corpus read as it is (its `atomic/` and `sequences/` layout), and a copy any
/// Agent Skills host accepts.
fn corpus() -> keel::Result<()> {
    let corpus = repo_folder("testdata/skill-corpus");
    let report = keel::skills::import_report(&corpus, |_, _| {})?;
    say!(
        "              platform corpus: {} SKILL.md in atomic/ and sequences/: {} load, {} warned, {} refused",
        report.files.len(),
        report.loads,
        report.warned,
        report.refused
    );
    let out = std::env::temp_dir().join(format!("keel-demo-portable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let export = keel::skills::export_portable(&corpus, &out, |_, _| {})?;
    say!(
        "              portable copy: {} skills, {} changes, {} portable findings left",
        export.skills,
        export.changes.len(),
        export.diagnostics.len()
    );
    let _ = std::fs::remove_dir_all(&out);
    Ok(())
}
