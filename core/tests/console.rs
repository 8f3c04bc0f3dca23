//! The operator console's calls on both backends: log search pages that never repeat or skip
//! a row, each filter (levels, org, agent, text with its wildcards taken literally, time),
//! a trace as its span tree, routing decisions and their share per stage, credit balances
//! and a ledger, a diff between two versions of a skill, actions refused on a read-only
//! console and logged with their actor on one that allows them, and bad input naming its
//! field.

mod common;

use std::collections::HashSet;

use common::{exec, on_each_backend};
use keel::Keel;
use keel::console::{Console, ConsoleOptions};
use keel::options::{Calls, Case};
use serde_json::{Value, json};
use uuid::Uuid;

const ORG_A: &str = "00000000-0000-4000-8000-0000000000a1";
const ORG_B: &str = "00000000-0000-4000-8000-0000000000b2";
const TRACE: &str = "00000000-0000-4000-8000-00000000c0de";

/// A time `s` seconds after a fixed start, as both backends store it.
fn at(s: i64) -> String {
    let t = chrono::DateTime::from_timestamp(1_796_400_000 + s, 0).unwrap();
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// 250 events, one a second, cycling levels, orgs and agents; two whose actions differ only
/// by a wildcard; and a trace of a root span, a child span and an event in each.
async fn fill_logs(keel: &Keel) {
    let levels = ["debug", "info", "warn", "error"];
    let mut values = Vec::new();
    for i in 0..250 {
        let org = if i % 2 == 0 { ORG_A } else { ORG_B };
        let action = match i {
            7 => "job 50% done".to_owned(),
            8 => "job 500 done".to_owned(),
            _ => format!("step.{i}"),
        };
        values.push(format!(
            "('{}', '{}', 'svc', '{action}', '{}', '{org}', 'agent-{}', '{{}}')",
            Uuid::new_v4(),
            at(i),
            levels[i as usize % 4],
            i % 3
        ));
    }
    exec(
        keel,
        &format!(
            "INSERT INTO system_logs (id, \"timestamp\", service, action, level, org_id, agent_name, metadata) VALUES {}",
            values.join(", ")
        ),
    )
    .await;
    let (root, child) = (
        "00000000-0000-0000-0000-0000000000aa",
        "00000000-0000-0000-0000-0000000000bb",
    );
    exec(
        keel,
        &format!(
            "INSERT INTO system_logs (id, trace_id, span_id, parent_span_id, \"timestamp\", service, action, level, duration_ms, metadata) VALUES
             ('{}', '{TRACE}', '{root}', NULL, '{}', 'svc', 'chat', 'info', 900, '{{\"gen_ai.request.model\": \"m\"}}'),
             ('{}', '{TRACE}', '{child}', '{root}', '{}', 'svc', 'attempt', 'info', 300, '{{}}'),
             ('{}', '{TRACE}', NULL, '{child}', '{}', 'svc', 'retry', 'warn', NULL, '{{}}'),
             ('{}', '{TRACE}', NULL, '{root}', '{}', 'svc', 'done', 'info', NULL, '{{}}')",
            Uuid::new_v4(),
            at(1000),
            Uuid::new_v4(),
            at(1001),
            Uuid::new_v4(),
            at(1002),
            Uuid::new_v4(),
            at(1003),
        ),
    )
    .await;
}

async fn call(console: &Console, op: &str, args: Value) -> Value {
    console
        .call_value(op, Some(args), Case::Snake)
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

async fn refused(console: &Console, op: &str, args: Value) -> String {
    let err = console
        .call_value(op, Some(args.clone()), Case::Snake)
        .await
        .expect_err(&format!("{op} {args} should fail"));
    assert_eq!(err.code(), "invalid_input", "{op} {args}: {err}");
    err.field().unwrap_or_default().to_owned()
}

/// A console that may run actions.
async fn acting(keel: &Keel) -> Console {
    Console::open(
        keel,
        ConsoleOptions {
            allow_actions: true,
        },
    )
    .await
    .unwrap()
}

fn actions(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn log_pages_filters_and_a_trace_tree() {
    on_each_backend(|backend, keel| async move {
        fill_logs(&keel).await;
        let console = Console::open(&keel, ConsoleOptions::default())
            .await
            .unwrap();
        // Pages of 100 newest first, then the rest: every row once, in order.
        let mut seen = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let page = call(&console, "logs", json!({ "before": before, "limit": 100 })).await;
            seen.extend(
                page["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["timestamp"].as_str().unwrap().to_owned()),
            );
            match page["next"].as_str() {
                Some(next) => before = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 254, "{backend:?}");
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "{backend:?}: newest first");
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{backend:?}: no row twice");

        let warn = call(&console, "logs", json!({ "level": "warn", "limit": 500 })).await;
        let levels: HashSet<&str> = warn["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["level"].as_str().unwrap())
            .collect();
        assert_eq!(levels, HashSet::from(["warn", "error"]), "{backend:?}");
        assert_eq!(
            warn["events"].as_array().unwrap().len(),
            124 + 1,
            "{backend:?}"
        );

        let org = call(
            &console,
            "logs",
            json!({ "org_id": ORG_B, "agent": "agent-1", "limit": 500 }),
        )
        .await;
        assert!(
            org["events"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["org_id"] == ORG_B && e["agent_name"] == "agent-1")
        );
        assert_eq!(
            org["events"].as_array().unwrap().len(),
            42,
            "{backend:?}: odd i with i % 3 = 1"
        );

        assert_eq!(
            actions(&call(&console, "logs", json!({ "text": "JOB 50%" })).await),
            ["job 50% done"],
            "{backend:?}"
        );
        let window = call(
            &console,
            "logs",
            json!({ "since": at(10), "until": at(20) }),
        )
        .await;
        assert_eq!(
            window["events"].as_array().unwrap().len(),
            10,
            "{backend:?}"
        );

        let trace = call(&console, "trace", json!({ "trace_id": TRACE })).await;
        let tree: Vec<(String, i64, i64)> = trace["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_owned(),
                    e["depth"].as_i64().unwrap(),
                    e["offset_ms"].as_i64().unwrap(),
                )
            })
            .collect();
        let expected = [
            ("chat", 0, 0),
            ("attempt", 1, 1000),
            ("retry", 2, 2000),
            ("done", 1, 3000),
        ];
        let expected: Vec<(String, i64, i64)> = expected
            .iter()
            .map(|(a, d, o)| ((*a).to_owned(), *d, *o))
            .collect();
        assert_eq!(tree, expected, "{backend:?}");
        assert_eq!(trace["events"][0]["metadata"]["gen_ai.request.model"], "m");
        assert_eq!(trace["duration_ms"], 3000);

        for (args, field) in [
            (json!({ "level": "loud" }), "level"),
            (json!({ "trace_id": "nope" }), "trace_id"),
            (json!({ "limit": 0 }), "limit"),
            (json!({ "limit": 501 }), "limit"),
            (json!({ "before": "yesterday" }), "before"),
            (json!({ "since": "monday" }), "since"),
        ] {
            assert_eq!(
                refused(&console, "logs", args.clone()).await,
                field,
                "{args}"
            );
        }
        assert_eq!(
            refused(
                &console,
                "trace",
                json!({ "trace_id": Uuid::new_v4().to_string() })
            )
            .await,
            "trace_id"
        );
        assert_eq!(refused(&console, "trace", json!({})).await, "trace_id");
        assert_eq!(refused(&console, "warp", json!({})).await, "op");
    })
    .await;
}

#[tokio::test]
async fn routing_decisions_and_credits() {
    on_each_backend(|backend, keel| async move {
        let stages = ["index", "index", "rules", "fallback"];
        let mut values = Vec::new();
        for i in 0..40 {
            let stage = stages[i % 4];
            let oos = stage == "fallback";
            values.push(format!(
                "('{}', '{}', 'web', 'h{i}', 'message {i}', '{}', NULL, 'general', '{stage}', {}, {oos}, false, '[]', 'v1', '{}', 50, '{}')",
                Uuid::new_v4(),
                if i < 30 { ORG_A } else { ORG_B },
                if oos { "general" } else { "deal-status" },
                if i % 5 == 0 { 0.3 } else { 0.9 },
                Uuid::new_v4(),
                at(i as i64)
            ));
        }
        exec(&keel, &format!(
            "INSERT INTO routing_logs (id, org_id, channel, message_hash, message_snippet, route, skill_key, matched_by, stage, confidence, out_of_scope, cached, candidates, skills_version, trace_id, latency_us, created_at) VALUES {}",
            values.join(", ")
        )).await;
        let console = Console::open(&keel, ConsoleOptions::default()).await.unwrap();
        let first = call(&console, "routing", json!({ "limit": 25 })).await;
        let rest = call(&console, "routing", json!({ "limit": 25, "before": first["next"] })).await;
        assert_eq!(first["decisions"].as_array().unwrap().len() + rest["decisions"].as_array().unwrap().len(), 40, "{backend:?}");
        assert!(rest["next"].is_null());
        assert_eq!(first["decisions"][0]["message_snippet"], "message 39");
        let oos = call(&console, "routing", json!({ "out_of_scope": true, "org_id": ORG_A })).await;
        assert_eq!(oos["decisions"].as_array().unwrap().len(), 7, "{backend:?}");
        assert!(oos["decisions"].as_array().unwrap().iter().all(|d| d["out_of_scope"] == true && d["stage"] == "fallback"));
        let low = call(&console, "routing", json!({ "max_confidence": 0.5 })).await;
        assert_eq!(low["decisions"].as_array().unwrap().len(), 8);
        let stats = call(&console, "routing_stats", json!({})).await;
        assert_eq!(stats["decisions"], 40);
        assert_eq!(stats["out_of_scope"], 10);
        assert_eq!(stats["low_confidence"], 8);
        let index = stats["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "index").unwrap();
        assert_eq!(index["share"], 0.5, "{backend:?}");
        // Forty decisions a second apart from the hour's start: one hour.
        assert_eq!(stats["hours"], json!([{ "hour": "2026-12-04T16:00:00Z", "decisions": 40, "out_of_scope": 10 }]), "{backend:?}");
        assert_eq!(refused(&console, "routing", json!({ "stage": "magic" })).await, "stage");
        assert_eq!(refused(&console, "routing", json!({ "max_confidence": 2 })).await, "max_confidence");

        let models = keel::models::ModelRouter::open(&keel, Default::default()).await.unwrap();
        for (org, amount) in [(ORG_A, 50.0), (ORG_B, 5.0), (ORG_A, 7.0)] {
            models.grant_credits(Uuid::parse_str(org).unwrap(), amount, "purchase", None).await.unwrap();
        }
        let balances = call(&console, "credits", json!({})).await;
        let listed: Vec<(String, f64)> = balances["balances"].as_array().unwrap().iter().map(|b| (b["org_id"].as_str().unwrap().to_owned(), b["balance_credits"].as_f64().unwrap())).collect();
        assert_eq!(listed, [(ORG_B.to_owned(), 5.0), (ORG_A.to_owned(), 57.0)], "{backend:?}: lowest first");
        let ledger = call(&console, "ledger", json!({ "org_id": ORG_A, "limit": 1 })).await;
        assert_eq!(ledger["entries"][0]["balance_after"], 57.0);
        let older = call(&console, "ledger", json!({ "org_id": ORG_A, "limit": 1, "before": ledger["next"] })).await;
        assert_eq!(older["entries"][0]["balance_after"], 50.0);
        assert!(older["next"].is_null());
        assert_eq!(refused(&console, "ledger", json!({})).await, "org_id");
    })
    .await;
}

#[tokio::test]
async fn actions_run_only_when_allowed_and_are_logged_with_their_actor() {
    on_each_backend(|backend, keel| async move {
        let letters = keel::runner::DeadLetters::open(&keel);
        let letter = letters
            .enqueue_value(
                Some(json!({ "agent_name": "a", "errors": [{ "message": "boom" }] })),
                Case::Snake,
                "",
            )
            .await
            .unwrap();
        let id = letter.id.to_string();
        letters
            .operate_value(
                "abandon",
                &id,
                Some(json!({ "reason": "gave up" })),
                Case::Snake,
            )
            .await
            .unwrap();

        let read_only = Console::open(&keel, ConsoleOptions::default())
            .await
            .unwrap();
        assert_eq!(
            refused(
                &read_only,
                "redrive_letter",
                json!({ "id": id, "actor": "ann" })
            )
            .await,
            "op"
        );
        assert_eq!(
            call(&read_only, "letter", json!({ "id": id })).await["status"],
            "abandoned"
        );

        let console = acting(&keel).await;
        assert_eq!(
            refused(&console, "redrive_letter", json!({ "id": id })).await,
            "actor"
        );
        assert_eq!(
            refused(&console, "redrive_letter", json!({ "actor": "ann" })).await,
            "id"
        );
        let redriven = call(
            &console,
            "redrive_letter",
            json!({ "id": id, "actor": "ann" }),
        )
        .await;
        assert_eq!(redriven["status"], "pending", "{backend:?}");
        // Logged with who and what (the refusal for the missing id is logged as a warning;
        // the one without an actor is refused before anything runs).
        let logged = call(&console, "logs", json!({ "text": "console.action" })).await;
        let done: Vec<&Value> = logged["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "info")
            .collect();
        assert_eq!(done.len(), 1, "{backend:?}: {logged}");
        assert_eq!(done[0]["metadata"]["actor"], "ann");
        assert_eq!(done[0]["metadata"]["operation"], "redrive_letter");
        assert_eq!(done[0]["metadata"]["target"], id.as_str());
        assert_eq!(logged["events"].as_array().unwrap().len(), 2, "{backend:?}");
        // A failed action is logged too, as a warning with its error.
        let missing = Uuid::new_v4().to_string();
        assert!(
            console
                .call_value(
                    "redrive_letter",
                    Some(json!({ "id": missing, "actor": "ann" })),
                    Case::Snake
                )
                .await
                .is_err()
        );
        let warned = call(
            &console,
            "logs",
            json!({ "text": "console.action", "level": "warn" }),
        )
        .await;
        assert_eq!(
            warned["events"][0]["metadata"]["target"],
            missing.as_str(),
            "{backend:?}"
        );
        assert!(warned["events"][0]["metadata"]["error"].is_string());
    })
    .await;
}

#[tokio::test]
async fn a_skill_diff_between_two_versions() {
    on_each_backend(|backend, keel| async move {
        let registry = keel::skills::SkillRegistry::open(&keel, Default::default()).await.unwrap();
        let root = std::env::temp_dir().join(format!("keel-console-skills-{}", Uuid::new_v4()));
        let write = |body: &str| {
            let dir = root.join("copilot").join("pitch");
            std::fs::create_dir_all(&dir).unwrap();
            let text = format!(
                "---\nname: pitch\ndescription: Pitches, for tests.\nmetadata:\n  namespace: copilot\n---\n{body}\n"
            );
            std::fs::write(dir.join("SKILL.md"), text).unwrap();
        };
        for body in ["Open.\nAsk.\nListen.\nClose.", "Open.\nAsk twice.\nListen.\nClose."] {
            write(body);
            registry.sync(&root, Default::default(), |_, _, _| {}).await.unwrap();
        }
        let console = Console::open(&keel, ConsoleOptions::default()).await.unwrap();
        let diff = call(&console, "skill_diff", json!({ "key": "pitch" })).await;
        assert_eq!((diff["from"].as_u64(), diff["to"].as_u64()), (Some(1), Some(2)), "{backend:?}");
        let changed: Vec<(&str, &str)> = diff["hunks"][0]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["op"] != "equal")
            .map(|l| (l["op"].as_str().unwrap(), l["text"].as_str().unwrap()))
            .collect();
        assert_eq!(changed, [("delete", "Ask."), ("insert", "Ask twice.")], "{backend:?}");
        let same = call(&console, "skill_diff", json!({ "key": "pitch", "from": 2, "to": 2 })).await;
        assert_eq!(same["hunks"], json!([]));
        assert_eq!(refused(&console, "skill_diff", json!({ "key": "nope" })).await, "key");
        assert_eq!(refused(&console, "skill_diff", json!({ "key": "pitch", "from": 2, "to": 1 })).await, "from");
        assert_eq!(refused(&console, "skill_diff", json!({ "key": "pitch", "to": 9 })).await, "to");
        std::fs::remove_dir_all(&root).ok();
    })
    .await;
}

#[tokio::test]
async fn a_breaker_reset_closes_the_circuit_once() {
    on_each_backend(|backend, keel| async move {
        let models = keel::models::ModelRouter::open(&keel, Default::default())
            .await
            .unwrap();
        let rows = models.matrix_value();
        let row = &rows[0];
        let (provider, model) = (
            row["provider"].as_str().unwrap(),
            row["model_id"].as_str().unwrap(),
        );
        for _ in 0..3 {
            models
                .record_failure(provider, model, keel::models::FailureKind::ServerError)
                .await;
        }
        let console = acting(&keel).await;
        let open = call(&console, "breakers", json!({})).await;
        assert!(
            open.as_array()
                .unwrap()
                .iter()
                .any(|b| b["model_id"] == model && b["state"] == "open"),
            "{backend:?}: {open}"
        );
        let args = json!({ "provider": provider, "model_id": model, "actor": "ann" });
        assert_eq!(
            call(&console, "reset_breaker", args.clone()).await["transition"],
            "closed"
        );
        assert_eq!(
            call(&console, "reset_breaker", args).await["transition"],
            "unchanged"
        );
        // A JavaScript caller writes and reads it in camelCase.
        let camel = json!({ "provider": provider, "modelId": model, "actor": "ann" });
        let reset = console
            .call_value("reset_breaker", Some(camel), Case::Camel)
            .await
            .unwrap();
        assert_eq!(reset["modelId"], model, "{reset}");
        // Stored closed: a router opened afterwards sees no open circuit for the model.
        let fresh = keel::models::ModelRouter::open(&keel, Default::default())
            .await
            .unwrap();
        assert!(
            fresh.open_breakers().iter().all(|b| b.model_id != model),
            "{backend:?}"
        );
        assert_eq!(
            refused(
                &console,
                "reset_breaker",
                json!({ "provider": provider, "model_id": "no-such-model", "actor": "ann" })
            )
            .await,
            "model_id"
        );
        let logged = call(&console, "logs", json!({ "text": "console.action" })).await;
        assert!(
            logged["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["metadata"]["target"] == format!("{provider}/{model}").as_str()),
            "{logged}"
        );
    })
    .await;
}

#[tokio::test]
async fn queue_depth_over_time_comes_from_the_items() {
    on_each_backend(|backend, keel| async move {
        let ago = |minutes: i64| {
            (chrono::Utc::now() - chrono::Duration::minutes(minutes))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        // (lane, status, created, claimed, finished) in minutes ago.
        let items: [(i64, &str, i64, Option<i64>, i64); 6] = [
            (2, "enriched", 300, Some(240), 210), // waiting at the first point only
            (2, "pending", 150, None, 150),       // from the third point on
            (0, "processing", 360, Some(1), 1),   // all along
            (2, "failed", 600, Some(560), 540),   // before the window
            (2, "skipped", 90, None, 80),         // never claimed: no finish time
            (3, "failed", 210, Some(200), 30),    // from the second to the fourth point
        ];
        let rows: Vec<String> = items
            .iter()
            .map(|&(lane, status, created, claimed, finished)| {
                let claimed = claimed.map_or("NULL".to_owned(), |m| format!("'{}'", ago(m)));
                let enriched = if status == "enriched" {
                    format!("'{}'", ago(finished))
                } else {
                    "NULL".to_owned()
                };
                format!(
                    "('{}', '{ORG_A}', 'agent', 'deal', 't', '{status}', {lane}, '{}', {claimed}, {enriched}, '{}')",
                    Uuid::new_v4(),
                    ago(created),
                    ago(finished),
                )
            })
            .collect();
        exec(
            &keel,
            &format!(
                "INSERT INTO command_centre_items (id, org_id, source_agent, item_type, title, enrichment_status, queue_priority, created_at, processing_started_at, enriched_at, updated_at) VALUES {}",
                rows.join(", ")
            ),
        )
        .await;
        let console = Console::open(&keel, ConsoleOptions::default())
            .await
            .unwrap();
        let history = call(&console, "queue_history", json!({ "hours": 4, "points": 5 })).await;
        assert_eq!(history["step_ms"], 3_600_000, "{backend:?}");
        assert_eq!(history["times"].as_array().unwrap().len(), 5);
        let backlog: Vec<Value> = history["lanes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["backlog"].clone())
            .collect();
        assert_eq!(
            backlog,
            [
                json!([1, 1, 1, 1, 1]),
                json!([0, 0, 0, 0, 0]),
                json!([1, 0, 1, 1, 1]),
                json!([0, 1, 1, 1, 0]),
            ],
            "{backend:?}"
        );
        assert_eq!(refused(&console, "queue_history", json!({ "hours": 0 })).await, "hours");
        assert_eq!(
            refused(&console, "queue_history", json!({ "points": 1 })).await,
            "points"
        );
    })
    .await;
}

#[tokio::test]
async fn every_named_call_has_an_answer_and_an_unknown_one_is_refused() {
    on_each_backend(|backend, keel| async move {
        let console = acting(&keel).await;
        for op in keel::console::CONSOLE_READS
            .iter()
            .chain(keel::console::CONSOLE_ACTIONS)
        {
            assert_eq!(Console::operation(op).unwrap(), *op);
            // Without arguments a call answers or names the argument it needs.
            if let Err(err) = console.call_value(op, None, Case::Snake).await {
                assert_eq!(err.code(), "invalid_input", "{backend:?} {op}: {err}");
                assert_ne!(err.field(), Some("op"), "{backend:?} {op}: {err}");
            }
        }
        assert_eq!(refused(&console, "drop_tables", json!({})).await, "op");
        assert_eq!(
            Console::operation("drop_tables").unwrap_err().field(),
            Some("op")
        );
    })
    .await;
}

#[tokio::test]
async fn a_javascript_caller_reads_camel_case_with_metadata_as_stored() {
    on_each_backend(|backend, keel| async move {
        exec(
            &keel,
            &format!(
                "INSERT INTO system_logs (id, \"timestamp\", service, action, level, org_id, metadata) VALUES ('{}', '{}', 'svc', 'deal.checked', 'info', '{ORG_A}', '{{\"deal_id\": \"d-1\"}}')",
                Uuid::new_v4(),
                at(0)
            ),
        )
        .await;
        let console = Console::open(&keel, ConsoleOptions::default())
            .await
            .unwrap();
        let camel = |op: &'static str, args: Value| {
            let console = console.clone();
            async move { console.call_value(op, Some(args), Case::Camel).await }
        };
        let page = camel("logs", json!({ "orgId": ORG_A })).await.unwrap();
        let event = &page["events"][0];
        assert_eq!(event["orgId"], ORG_A, "{backend:?} {event}");
        assert!(event.get("org_id").is_none(), "{event}");
        assert_eq!(event["metadata"], json!({ "deal_id": "d-1" }), "as stored");
        let about = camel("about", json!({})).await.unwrap();
        assert_eq!(about["allowActions"], false);
        let err = camel("routing", json!({ "orgId": "nope" }))
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("orgId"));
    })
    .await;
}
