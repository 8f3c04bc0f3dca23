//! Runs the shared vectors in `testdata/` against the Rust API. The pytest and node:test
//! suites run the same files, so the three languages cannot drift.

mod common;

use serde_json::{Value, json};

/// Every `testdata/*.json` file, found by listing the folder: each must have a runner here and
/// a line in `testdata/README.md`, so a new file can never go unrun.
#[tokio::test]
async fn every_file_in_testdata_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let mut files = Vec::new();
    let mut folders = vec![dir.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let name = path.strip_prefix(&dir).unwrap();
                files.push(name.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    assert!(files.len() >= 15, "{files:?}");
    for file in &files {
        assert!(
            readme.contains(&format!("`{file}`")),
            "testdata/README.md does not list {file}"
        );
        let cases = load(file);
        assert!(!cases.is_empty(), "{file} has no case");
        match file.as_str() {
            "agent_budgets.json" => agent_budget_vectors(&cases),
            "failure_kinds.json" => failure_kind_vectors(&cases),
            "retry_schedules.json" => retry_schedule_vectors(&cases),
            "agent_configs.json" => agent_config_vectors(&cases),
            "rate_limit_decisions.json" => rate_limit_vectors(&cases),
            "charges.json" => charge_vectors(&cases).await,
            "compaction_plans.json" => compaction_plan_vectors(&cases),
            "token_counts.json" => token_count_vectors(&cases),
            "message_tokens.json" => message_token_vectors(&cases),
            "compaction_thresholds.json" => compaction_threshold_vectors(&cases).await,
            "context_blocks.json" => context_block_vectors(&cases),
            "recall_rankings.json" => recall_ranking_vectors(&cases),
            "fact_extraction.json" => fact_extraction_vectors(&cases),
            "connect_errors.json" => connect_error_vectors(&cases).await,
            "credit_flows.json" => credit_flow_vectors(&cases).await,
            "database_urls.json" => database_url_vectors(&cases),
            "error_codes.json" => error_code_vectors(&cases),
            "failure_reports.json" => failure_report_vectors(&cases),
            "failure_statuses.json" => failure_status_vectors(&cases).await,
            "llm_requests.json" => llm_request_vectors(&cases).await,
            "llm_tasks.json" => llm_task_vectors(&cases[0]),
            "host_answers.json" => host_answer_vectors(&cases[0]),
            "mask_url.json" => mask_url_vectors(&cases),
            "model_resolution.json" => model_resolution_vectors(&cases).await,
            "options.json" => option_vectors(&cases),
            "otlp_config.json" => otlp_config_vectors(&cases),
            "redact_secrets.json" => redact_secrets_vectors(&cases),
            "skill_channels.json" => skill_channel_vectors(&cases),
            "skill_compile.json" => skill_compile_vectors(&cases),
            "skill_corpus.json" => skill_corpus_vectors(&cases).await,
            "skill_parse.json" => skill_parse_vectors(&cases),
            "traceparent.json" => traceparent_vectors(&cases),
            "minhash_signatures.json" => minhash_signature_vectors(&cases),
            "lsh_params.json" => lsh_param_vectors(&cases),
            "lsh_queries.json" => lsh_query_vectors(&cases),
            "dedup_keys.json" => dedup_key_vectors(&cases),
            "dedup_merges.json" => dedup_merge_vectors(&cases),
            "thread_answers.json" => thread_answer_vectors(&cases),
            "thread_transcripts.json" => thread_transcript_vectors(&cases),
            "fleet_statuses.json" => fleet_status_vectors(&cases),
            "fleet_alerts.json" => fleet_alert_vectors(&cases),
            "fleet_notices.json" => fleet_notice_vectors(&cases),
            other => panic!("testdata/{other} has no runner in core/tests/vectors.rs"),
        }
    }
}

fn load(name: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // A file of cases is a list; a file with sections (llm_tasks.json) is one object.
    match serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        Value::Array(cases) => cases,
        object => vec![object],
    }
}

fn check(case: &Value, outcome: Result<Value, keel::Error>) {
    let name = case["name"].as_str().unwrap();
    match (
        outcome,
        case.get("expected"),
        case.get("expected_error_code"),
    ) {
        (Ok(got), Some(expected), None) => assert_eq!(&got, expected, "vector {name}"),
        (Err(err), None, Some(code)) => assert_eq!(err.code(), code, "vector {name}: {err}"),
        (got, _, _) => panic!("vector {name}: unexpected outcome {got:?}"),
    }
}

fn database_url_vectors(cases: &[Value]) {
    assert!(cases.len() >= 10);
    for case in cases {
        let url = case["input"]["url"].as_str().unwrap();
        let outcome = keel::DatabaseUrl::parse(url).map(|parsed| {
            json!({"backend": parsed.backend.as_str(), "masked": parsed.masked, "in_memory": parsed.in_memory})
        });
        check(case, outcome);
    }
}

fn mask_url_vectors(cases: &[Value]) {
    for case in cases {
        let url = case["input"]["url"].as_str().unwrap();
        check(case, Ok(Value::String(keel::mask_url(url))));
    }
}

fn error_code_vectors(cases: &[Value]) {
    for case in cases {
        check(case, Ok(json!(keel::Error::CODES)));
    }
}

async fn connect_error_vectors(cases: &[Value]) {
    for case in cases {
        let url = case["input"]["url"].as_str().unwrap();
        let outcome = keel::Keel::connect(url).await.map(|_| Value::Null);
        if let Err(err) = &outcome {
            let secret = case["input"]["secret"].as_str().unwrap_or("\u{0}");
            assert!(
                !err.to_string().contains(secret),
                "{}: secret leaked: {err}",
                case["name"]
            );
        }
        check(case, outcome);
    }
}

fn redact_secrets_vectors(cases: &[Value]) {
    for case in cases {
        let text = case["input"]["text"].as_str().unwrap();
        let got = keel::telemetry::redact_secrets(text).unwrap_or_else(|| text.to_owned());
        check(case, Ok(Value::String(got)));
    }
}

fn traceparent_vectors(cases: &[Value]) {
    for case in cases {
        let header = case["input"]["header"].as_str().unwrap();
        let got = keel::telemetry::TraceParent::parse(header).map(|p| {
            json!({"trace_id": p.trace_id.to_string(), "parent_span_id": p.parent_span_id.to_string(), "sampled": p.sampled})
        });
        check(case, Ok(got.unwrap_or(Value::Null)));
    }
}

/// One router on an empty in-memory database: the default matrix, every circuit closed.
async fn default_router() -> (keel::Keel, keel::models::ModelRouter) {
    let keel = keel::Keel::connect("sqlite::memory:")
        .await
        .expect("connect");
    let router = keel::models::ModelRouter::open(&keel, Default::default())
        .await
        .expect("router");
    (keel, router)
}

async fn model_resolution_vectors(cases: &[Value]) {
    let (_keel, router) = default_router().await;
    for case in cases {
        let input = &case["input"];
        let outcome = keel::models::ModelRequest::from_parts(
            input["feature"].as_str().unwrap(),
            input["tier"].as_str(),
            None,
            None,
        )
        .and_then(|request| router.resolve_now(&request))
        .map(|r| {
            json!({"provider": &*r.provider, "model_id": &*r.model_id, "credit_cost": r.credit_cost,
                   "max_tokens": r.max_tokens, "context_window": r.context_window,
                   "was_fallback": r.was_fallback, "tier": r.tier.as_str()})
        });
        if let (Err(err), Some(field)) = (&outcome, case.get("expected_field")) {
            assert_eq!(err.field(), field.as_str(), "{}", case["name"]);
        }
        check(case, outcome);
    }
}

async fn compaction_threshold_vectors(cases: &[Value]) {
    let (_keel, router) = default_router().await;
    for case in cases {
        let input = &case["input"];
        let outcome = keel::options::from_value(
            Some(input["options"].clone()),
            keel::options::Case::Snake,
            "options",
        )
        .and_then(|options| router.compaction_threshold(input["model"].as_str().unwrap(), &options))
        .map(|t| serde_json::to_value(t).unwrap());
        check_field(case, outcome);
    }
}

fn compaction_plan_vectors(cases: &[Value]) {
    for case in cases {
        let input = &case["input"];
        let outcome = keel::memory::plan_value(
            input["messages"].clone(),
            Some(input["options"].clone()),
            keel::options::Case::Snake,
            "",
        )
        .map(|plan| serde_json::to_value(plan).unwrap());
        check_field(case, outcome);
    }
}

fn token_count_vectors(cases: &[Value]) {
    let strings: std::collections::HashSet<&str> = cases
        .iter()
        .filter_map(|c| c["input"]["text"].as_str())
        .collect();
    assert!(strings.len() >= 200, "at least 200 strings");
    for case in cases {
        let input = &case["input"];
        let outcome = keel::tokens::Encoding::parse(input["encoding"].as_str().unwrap())
            .map(|e| json!({"tokens": e.count(input["text"].as_str().unwrap())}));
        check_field(case, outcome);
    }
}

fn message_token_vectors(cases: &[Value]) {
    let counter = keel::tokens::TokenCounter::default();
    for case in cases {
        let input = &case["input"];
        let outcome = counter
            .count_messages_value(
                input["model"].as_str().unwrap(),
                input["messages"].clone(),
                keel::options::Case::Snake,
            )
            .map(|count| serde_json::to_value(count).unwrap());
        check_field(case, outcome);
    }
}

fn context_block_vectors(cases: &[Value]) {
    for case in cases {
        let input = &case["input"];
        let outcome = keel::memory::prior_context_value(
            input["message"].as_str().unwrap(),
            input["rows"].clone(),
            Some(json!({"now": input["now"]})),
            keel::options::Case::Snake,
            "",
        )
        .map(|prior| {
            let chosen: Vec<Value> = prior
                .entries
                .iter()
                .map(|e| json!([e.entry.entity_id.to_string(), e.score]))
                .collect();
            json!({"terms": prior.terms, "chosen": chosen, "block": prior.block})
        });
        check_field(case, outcome);
    }
}

/// Each ranked fact as the vectors spell it: id, then score, BM25, recency and access.
fn recall_ranking_vectors(cases: &[Value]) {
    for case in cases {
        let input = &case["input"];
        let mut options = input.clone();
        options.as_object_mut().unwrap().remove("query");
        let outcome = keel::memory::rank_facts_value(
            input["query"].as_str().unwrap(),
            Some(options),
            keel::options::Case::Snake,
            "",
        );
        let Some(expected) = case.get("expected") else {
            check_field(case, outcome.map(|_| Value::Null));
            continue;
        };
        let got = outcome.unwrap_or_else(|e| panic!("vector {}: {e}", case["name"]));
        let expected = expected.as_array().unwrap();
        assert_eq!(got.len(), expected.len(), "vector {}", case["name"]);
        for (g, e) in got.iter().zip(expected) {
            assert_eq!(
                g.fact.id.to_string(),
                e["id"].as_str().unwrap(),
                "vector {}",
                case["name"]
            );
            for (value, key) in [
                (g.score.score, "score"),
                (g.score.bm25, "bm25"),
                (g.score.recency, "recency"),
                (g.score.access, "access"),
            ] {
                let want = e[key].as_f64().unwrap();
                assert!(
                    (value - want).abs() < 2e-6,
                    "vector {}: {key} {value} != {want}",
                    case["name"]
                );
            }
        }
    }
}

/// The facts kept, each refusal's index and field, and the count under the threshold.
fn fact_extraction_vectors(cases: &[Value]) {
    for case in cases {
        let input = &case["input"];
        let mut options = input.clone();
        options.as_object_mut().unwrap().remove("answer");
        let outcome = keel::memory::read_extraction_value(
            input["answer"].as_str().unwrap(),
            Some(options),
            keel::options::Case::Snake,
            "",
        )
        .map(|r| {
            let rejected: Vec<Value> = r
                .rejected
                .iter()
                .map(|x| json!({"index": x.index, "field": x.field}))
                .collect();
            json!({"facts": r.facts, "rejected": rejected, "below_confidence": r.below_confidence})
        });
        check_field(case, outcome);
    }
}

/// The kind of a failure, what decided it and the wait it asked for.
fn failure_kind_vectors(cases: &[Value]) {
    assert!(cases.len() >= 30);
    for case in cases {
        let outcome = keel::runner::classify_value(
            Some(case["input"].clone()),
            keel::options::Case::Snake,
            "",
        )
        .map(|c| serde_json::to_value(c).unwrap());
        check_field(case, outcome);
    }
}

/// Backoff ceilings and seeded delays, and each kind's attempts.
fn retry_schedule_vectors(cases: &[Value]) {
    for case in cases {
        let outcome = keel::runner::retry_delays_value(
            Some(case["input"].clone()),
            keel::options::Case::Snake,
            "",
        )
        .map(|d| serde_json::to_value(d).unwrap());
        check_field(case, outcome);
    }
}

fn agent_config_vectors(cases: &[Value]) {
    for case in cases {
        let outcome = keel::runner::agent_config_value(
            Some(case["input"].clone()),
            keel::options::Case::Snake,
        )
        .map(|c| serde_json::to_value(c).unwrap());
        check_field(case, outcome);
    }
}

fn rate_limit_vectors(cases: &[Value]) {
    for case in cases {
        let outcome =
            keel::flow::decide_value(Some(case["input"].clone()), keel::options::Case::Snake)
                .map(|d| serde_json::to_value(d).unwrap());
        check_field(case, outcome);
    }
}

fn agent_budget_vectors(cases: &[Value]) {
    for case in cases {
        let b = keel::models::check_agent_budget(
            case["input"]["agent"].as_str().unwrap(),
            case["input"]["used"].as_f64().unwrap(),
        );
        check(case, Ok(json!({"exceeded": b.exceeded, "limit": b.limit})));
    }
}

async fn failure_status_vectors(cases: &[Value]) {
    for case in cases {
        let (_keel, router) = default_router().await;
        let status = u16::try_from(case["input"]["status"].as_u64().unwrap()).unwrap();
        let kind = keel::models::FailureKind::from_status(Some(status));
        let transition = router
            .record_failure("anthropic", "claude-sonnet-4-6", kind)
            .await;
        let name = match transition {
            keel::models::Transition::Counted => "counted",
            keel::models::Transition::Unchanged => "unchanged",
            other => panic!("{other:?}"),
        };
        check(case, Ok(json!({"first_failure": name})));
    }
}

/// A parse outcome in the vectors' shape: the skill's name and each finding as
/// `[code, severity, line, column]`.
fn parse_summary(parsed: &keel::skills::Parsed) -> Value {
    json!({
        "name": parsed.skill.as_ref().map(|s| s.name.clone()),
        "diagnostics": parsed.diagnostics.iter().map(|d| json!([
            d.code,
            if d.severity == keel::skills::Severity::Error { "error" } else { "warning" },
            d.line,
            d.column,
        ])).collect::<Vec<_>>(),
    })
}

fn skill_parse_vectors(cases: &[Value]) {
    assert!(cases.len() >= 15);
    for case in cases {
        let text = case["input"]["text"].as_str().unwrap();
        let folder = case["input"]["folder"].as_str();
        let parsed = keel::skills::parse("SKILL.md", folder, text.as_bytes());
        check(case, Ok(parse_summary(&parsed)));
    }
}

fn skill_compile_vectors(cases: &[Value]) {
    for case in cases {
        let input = &case["input"];
        let outcome = keel::skills::compile_source(
            input["text"].as_str().unwrap(),
            &input["context"],
            &input["documents"],
        )
        .map(|c| serde_json::to_value(c).unwrap());
        if let (Err(err), Some(field)) = (&outcome, case.get("expected_error_field")) {
            assert_eq!(err.field(), field.as_str(), "vector {}", case["name"]);
        }
        if let (Err(err), Some(code)) = (&outcome, case.get("expected_diagnostic_code")) {
            let first = err.diagnostics().first().map(|d| d.code);
            assert_eq!(first, code.as_str(), "vector {}", case["name"]);
        }
        check(case, outcome);
    }
}

fn skill_channel_vectors(cases: &[Value]) {
    for case in cases {
        let outcome = keel::skills::Channel::parse(case["input"]["channel"].as_str().unwrap())
            .map(|c| json!(c.namespaces().map(|n| n.as_str())));
        check_field(case, outcome);
    }
}

/// `check` for error vectors that also name the field.
fn check_field(case: &Value, outcome: Result<Value, keel::Error>) {
    if let (Err(err), Some(field)) = (&outcome, case.get("expected_error_field")) {
        assert_eq!(
            err.field(),
            field.as_str(),
            "vector {}: {err}",
            case["name"]
        );
    }
    check(case, outcome);
}

/// Requests a model call refuses before any HTTP request (no provider is configured, so a
/// request that got past validation would fail with another field).
async fn llm_request_vectors(cases: &[Value]) {
    use keel::llm::{CallRequest, Llm, LlmOptions};
    use keel::models::{ModelRouter, RouterOptions};
    use keel::options::Case;
    let keel = keel::Keel::connect("sqlite::memory:").await.unwrap();
    let router = ModelRouter::open(&keel, RouterOptions::default())
        .await
        .unwrap();
    let llm = Llm::new(&router, LlmOptions::default()).unwrap();
    for case in cases {
        let request = case["input"]["request"].clone();
        let outcome = match CallRequest::from_value(request, Case::Snake) {
            Ok(request) => llm.complete(&request).await.map(|done| json!(done.text)),
            Err(err) => Err(err),
        };
        check_field(case, outcome);
    }
    keel.close().await;
}

/// Where OTLP export sends, from options and a given environment.
fn otlp_config_vectors(cases: &[Value]) {
    use keel::options::Case;
    use keel::telemetry::export::describe;
    for case in cases {
        let input = &case["input"];
        let outcome = describe(
            Some(input["options"].clone()),
            Case::Snake,
            Some(input["env"].clone()),
        )
        .map(|config| json!(config));
        check_field(case, outcome);
    }
}

fn failure_report_vectors(cases: &[Value]) {
    use keel::models::FailureKind;
    for case in cases {
        let report = &case["input"]["report"];
        let outcome = FailureKind::from_report(Some(report)).map(|kind| {
            let first = if kind.counts() {
                "counted"
            } else {
                "unchanged"
            };
            json!({ "first_failure": first })
        });
        check_field(case, outcome);
    }
}

fn option_vectors(cases: &[Value]) {
    use keel::options::{Case, from_value};
    for case in cases {
        let options = Some(case["input"]["options"].clone());
        let secs = |d: std::time::Duration| d.as_secs_f64();
        let outcome = match case["input"]["target"].as_str().unwrap() {
            "router" => from_value::<keel::models::RouterOptions>(options, Case::Snake, "").map(|o| {
                json!({
                    "staleness": secs(o.staleness), "matrix_ttl": secs(o.matrix_ttl),
                    "default_tier": o.default_tier.as_str(), "seed_defaults": o.seed_defaults,
                    "failure_threshold": o.breaker.failure_threshold,
                    "provider_failure_threshold": o.breaker.provider_failure_threshold,
                    "window": secs(o.breaker.window), "cooldown": secs(o.breaker.cooldown),
                    "max_cooldown": secs(o.breaker.max_cooldown),
                    "probe_timeout": secs(o.breaker.probe_timeout),
                })
            }),
            "registry" => from_value::<keel::skills::RegistryOptions>(options, Case::Snake, "")
                .map(|o| json!({"staleness": secs(o.staleness), "max_cached_orgs": o.max_cached_orgs})),
            "connect" => from_value::<keel::ConnectOptions>(options, Case::Snake, "").map(|o| {
                json!({"migrate": o.migrate, "max_connections": o.max_connections,
                       "connect_timeout": secs(o.connect_timeout)})
            }),
            "cleanup" => from_value::<keel::telemetry::CleanupOptions>(options, Case::Snake, "")
                .map(|o| json!({"dry_run": o.dry_run, "batch_size": o.batch_size})),
            other => panic!("unknown target {other}"),
        };
        check_field(case, outcome);
    }
}

async fn charge_vectors(cases: &[Value]) {
    use keel::models::{ChargeRequest, ModelRequest, ModelRouter, RouterOptions};
    use keel::options::{Case, from_value};
    let keel = keel::Keel::connect("sqlite::memory:").await.unwrap();
    let router = ModelRouter::open(&keel, RouterOptions::default())
        .await
        .unwrap();
    for case in cases {
        let input = &case["input"];
        let mut fields = input.as_object().unwrap().clone();
        for key in ["feature", "tier", "no_resolution"] {
            fields.remove(key);
        }
        fields.insert("org_id".into(), json!(uuid::Uuid::new_v4().to_string()));
        let outcome = from_value::<ChargeRequest>(Some(Value::Object(fields)), Case::Snake, "")
            .and_then(|mut request| {
                if let Some(feature) = input["feature"].as_str() {
                    let ask = ModelRequest::from_parts(feature, input["tier"].as_str(), None, None)?;
                    request.resolution = Some(router.resolve_now(&ask)?);
                }
                router.charge_for(request)
            })
            .map(|c| json!({"amount": c.amount, "description": c.description, "tokens_used": c.tokens_used}));
        check_field(case, outcome);
    }
    keel.close().await;
}

/// Each case runs its steps on a new org; numbers compare as floats.
async fn credit_flow_vectors(cases: &[Value]) {
    use keel::models::{Charge, ModelRouter, RouterOptions};
    let keel = keel::Keel::connect("sqlite::memory:").await.unwrap();
    let router = ModelRouter::open(&keel, RouterOptions::default())
        .await
        .unwrap();
    for case in cases {
        let org = uuid::Uuid::new_v4();
        for step in case["steps"].as_array().unwrap() {
            let amount = step["amount"].as_f64().unwrap_or_default();
            let outcome = match step["op"].as_str().unwrap() {
                "check_budget" => router
                    .check_budget(org)
                    .await
                    .map(|s| json!({"remaining": s.remaining, "can_proceed": s.can_proceed})),
                "grant" => router
                    .grant_credits(org, amount, "purchase", None)
                    .await
                    .map(|m| json!({"balance_after": m.balance_after})),
                "deduct" => {
                    let charge = Charge {
                        org_id: org,
                        amount,
                        ..Charge::default()
                    };
                    router
                        .deduct(&charge)
                        .await
                        .map(|m| json!({"balance_after": m.balance_after}))
                }
                other => panic!("credit_flows.json: unknown op {other}"),
            };
            let name = &case["name"];
            match (outcome, step.get("expected_error_code")) {
                (Err(err), Some(code)) => assert_eq!(err.code(), code, "{name}: {err}"),
                (Ok(got), None) => {
                    for (key, want) in step["expected"].as_object().unwrap() {
                        match want.as_f64() {
                            Some(want) => assert!(
                                (got[key].as_f64().unwrap() - want).abs() < 1e-9,
                                "{name}: {key} is {} not {want}",
                                got[key]
                            ),
                            None => assert_eq!(&got[key], want, "{name}: {key}"),
                        }
                    }
                }
                (got, _) => panic!("{name}: unexpected outcome {got:?} at {step}"),
            }
        }
    }
    keel.close().await;
}

#[test]
fn fleet_budget_table_has_a_default() {
    let table = keel::models::fleet_agent_budgets();
    assert_eq!(
        table.last(),
        Some(&("default", keel::models::DEFAULT_AGENT_BUDGET))
    );
    assert!(
        table
            .iter()
            .any(|(name, limit)| *name == "morning-briefing" && *limit == 8.0)
    );
}

/// The platform-shaped corpus in `testdata/skill-corpus/`: what imports, what each loaded
/// skill carries, what a portable check finds, and what each channel serves once synced.
async fn skill_corpus_vectors(cases: &[Value]) {
    let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    for case in cases {
        let root = testdata.join(case["input"]["root"].as_str().unwrap());
        let got = match case["name"].as_str().unwrap() {
            "import_report" => {
                let report = keel::skills::import_report(&root, |_, _| {}).unwrap();
                let files: Vec<Value> = report
                    .files
                    .iter()
                    .map(|f| {
                        let rel = std::path::Path::new(&f.file).strip_prefix(&root).unwrap();
                        json!([rel, f.status.as_str(), f.key, f.namespace, f.codes])
                    })
                    .collect();
                json!({"loads": report.loads, "warned": report.warned,
                       "refused": report.refused, "files": files})
            }
            "loaded_skills" => {
                let library = keel::skills::load_library(&root).unwrap();
                json!(library.skills.iter().map(|s| {
                    let (d, m) = (&s.doc, &s.doc.meta);
                    let triggers: Vec<Value> = d.triggers.iter()
                        .map(|t| json!([t.pattern, t.intent, t.confidence, t.examples.len()])).collect();
                    let inputs: Vec<Value> = m.inputs.iter().map(|p| json!([p.name, p.kind, p.required])).collect();
                    json!({"key": d.name, "namespace": s.namespace.as_str(), "display_name": d.display_name,
                           "skill_type": m.skill_type, "is_active": m.is_active, "priority": d.priority.as_str(),
                           "sequence": d.sequence, "triggers": triggers, "inputs": inputs,
                           "required_context": d.required_context, "agent_affinity": m.agent_affinity,
                           "timeout_ms": m.timeout_ms, "deprecated_by": m.deprecated_by,
                           "command_centre": m.command_centre.as_ref().map(|c| c.label.clone())})
                }).collect::<Vec<_>>())
            }
            "portable_findings" => {
                let options = keel::skills::ParseOptions { portable: true };
                let library = keel::skills::load_library_with(&root, options, |_, _| {}).unwrap();
                let mut codes = std::collections::BTreeMap::<&str, usize>::new();
                for d in library
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == keel::skills::Severity::Error)
                {
                    *codes.entry(d.code).or_default() += 1;
                }
                json!(codes)
            }
            "views_per_channel" => {
                let keel = keel::Keel::connect("sqlite::memory:").await.unwrap();
                common::corpus_views(&keel, &root).await
            }
            other => panic!("skill_corpus.json: no runner for case {other}"),
        };
        assert_eq!(
            &got, &case["expected"],
            "vector {}: got {got}",
            case["name"]
        );
    }
}

/// The task vectors without a provider (`tests/llm_tasks.rs` runs them against the loopback
/// provider): how answers are read, which requests are refused, the prompts sent.
fn llm_task_vectors(v: &Value) {
    use keel::llm::{ClassifyRequest, EmbedRequest, SummaryRequest};
    use keel::options::Case;
    let routed = |request: &Value| {
        let mut request = request.clone();
        request["provider"] = "openai".into();
        request["model"] = "task-model".into();
        request
    };
    let classify = |extra: Value| {
        let mut request = json!({"text": "Can I add five seats?", "labels": v["labels"]});
        request
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        ClassifyRequest::from_value(routed(&request), Case::Snake).unwrap()
    };
    let request = classify(json!({}));
    for case in v["classify"].as_array().unwrap() {
        let read = request.read_answer(case["answer"].as_str().unwrap());
        match case.get("code") {
            Some(_) => assert_eq!(read, None, "{}", case["name"]),
            None => {
                let (label, confidence) = read.unwrap_or_else(|| panic!("{}", case["name"]));
                assert_eq!(label, case["label"].as_str().unwrap(), "{}", case["name"]);
                assert_eq!(confidence, case["confidence"].as_f64(), "{}", case["name"]);
            }
        }
    }
    for case in v["invalid"].as_array().unwrap() {
        let request = &case["request"];
        let err = match case["task"].as_str().unwrap() {
            "classify" => ClassifyRequest::from_value(routed(request), Case::Snake).err(),
            "summarize" => SummaryRequest::from_value(routed(request), Case::Snake).err(),
            _ => EmbedRequest::from_value(request.clone(), Case::Snake).err(),
        }
        .unwrap_or_else(|| panic!("{case} was accepted"));
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", case["field"].as_str()),
            "{case}"
        );
    }
    let instructed = classify(json!({"instructions": "Route support email."}));
    let system = instructed.call_request().system.unwrap();
    assert_eq!(system, v["system"]["classify"].as_str().unwrap());
    let summary = SummaryRequest::from_value(routed(&json!({"text": "a thread"})), Case::Snake);
    let system = summary.unwrap().call_request().system.unwrap();
    assert_eq!(system, v["system"]["summarize"].as_str().unwrap());
    let embed = EmbedRequest::from_value(v["embed"].clone(), Case::Snake).unwrap();
    assert_eq!(
        embed.target().unwrap(),
        ("openai", "text-embedding-3-small")
    );
}

/// A host function's answers to model tasks, read as `keel::llm::HostTask` reads them (the
/// Python and Node suites run them through routing and compaction with async callables).
fn host_answer_vectors(v: &Value) {
    use keel::llm::{ClassifyRequest, read_classification, read_summary, read_vectors};
    use keel::models::Feature;
    let check = |case: &Value, outcome: Result<Value, keel::Error>| match outcome {
        Ok(got) => assert_eq!(got, case["expected"], "vector {}", case["name"]),
        Err(err) => assert_eq!(Some(err.code()), case["code"].as_str(), "{}", case["name"]),
    };
    let labels = v["labels"].as_array().unwrap().iter();
    let message = v["message"].as_str().unwrap();
    let request = ClassifyRequest::new(Feature::Copilot, message, labels.flat_map(Value::as_str));
    for case in v["classify"].as_array().unwrap() {
        let read = read_classification(&request, &case["answer"]);
        let expected = json!({"label": case["label"], "confidence": case["confidence"]});
        let case = &json!({"name": case["name"], "expected": expected, "code": case["code"]});
        check(
            case,
            read.map(|(l, c)| json!({"label": l, "confidence": c})),
        );
    }
    for case in v["embed"].as_array().unwrap() {
        let rows = vec![case["row"].clone(); case["answer_rows"].as_u64().unwrap_or(3) as usize];
        let answer = match case["as"].as_str().unwrap() {
            "list" => Value::Array(rows),
            "object" => json!({ "vectors": rows }),
            key => json!({ key: rows }),
        };
        let row: Vec<f32> = case["row"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(Value::as_f64)
            .map(|f| f as f32)
            .collect();
        let expected = (case["code"].is_null()).then(|| json!([row, row, row]));
        let case = &json!({"name": case["name"], "expected": expected, "code": case["code"]});
        check(case, read_vectors(3, &answer).map(|v| json!(v)));
    }
    for case in v["summarize"].as_array().unwrap() {
        let read = read_summary(&case["answer"]).map(Value::from);
        check(
            &json!({"name": case["name"], "expected": case["summary"], "code": case["code"]}),
            read,
        );
    }
}

fn minhash_signature_vectors(cases: &[Value]) {
    use keel::dedup::MinHasher;
    use keel::options::Case;
    for case in cases {
        let input = &case["input"];
        let outcome = MinHasher::for_value(Some(input["options"].clone()), Case::Snake, "")
            .and_then(|h| h.signature(input["text"].as_str().unwrap()))
            .map(|sig| {
                let hex: String = sig.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
                json!({"values": sig.values(), "bytes": hex})
            });
        check_field(case, outcome);
    }
}

fn lsh_param_vectors(cases: &[Value]) {
    use keel::dedup::MinHashLsh;
    for case in cases {
        let outcome =
            MinHashLsh::new_value(Some(case["input"].clone()), keel::options::Case::Snake, "");
        match (outcome, case.get("expected")) {
            (Ok(lsh), Some(expected)) => {
                let name = &case["name"];
                assert_eq!(json!(lsh.params().bands), expected["bands"], "{name}");
                assert_eq!(json!(lsh.params().rows), expected["rows"], "{name}");
                let confirm = expected["confirm_at"].as_f64().unwrap();
                assert!((lsh.confirm_at() - confirm).abs() < 1e-9, "{name}");
            }
            (outcome, _) => check_field(case, outcome.map(|_| Value::Null)),
        }
    }
}

fn lsh_query_vectors(cases: &[Value]) {
    use keel::dedup::{MinHashLsh, MinHasher};
    let hasher = MinHasher::default();
    for case in cases {
        let input = &case["input"];
        let mut lsh = MinHashLsh::new(input["threshold"].as_f64().unwrap(), 128).unwrap();
        for item in input["items"].as_array().unwrap() {
            let sig = hasher.signature(item["text"].as_str().unwrap()).unwrap();
            lsh.insert(item["key"].as_str().unwrap(), sig).unwrap();
        }
        let query = hasher.signature(input["query"].as_str().unwrap()).unwrap();
        let got = json!({
            "candidates": lsh.candidates(&query).unwrap(),
            "similar": lsh.query(&query).unwrap(),
        });
        check(case, Ok(got));
    }
}

fn dedup_key_vectors(cases: &[Value]) {
    for case in cases {
        let outcome =
            keel::dedup::dedup_key_value(Some(case["input"].clone()), keel::options::Case::Snake)
                .map(Value::from);
        check_field(case, outcome);
    }
}

fn dedup_merge_vectors(cases: &[Value]) {
    for case in cases {
        let outcome =
            keel::dedup::merge_value(Some(case["input"].clone()), keel::options::Case::Snake);
        check_field(case, outcome);
    }
}

fn thread_answer_vectors(cases: &[Value]) {
    for case in cases {
        let answer = case["input"]["answer"].as_str().unwrap();
        let outcome = keel::channels::threads::read_thread_context_value(answer)
            .map(|r| serde_json::to_value(r).unwrap());
        check_field(case, outcome);
    }
}

fn thread_transcript_vectors(cases: &[Value]) {
    for case in cases {
        let mut options = case["input"].clone();
        let messages = options.as_object_mut().unwrap().remove("messages").unwrap();
        let outcome = keel::channels::threads::thread_transcript_value(
            messages,
            Some(options),
            keel::options::Case::Snake,
            "",
        )
        .map(|t| serde_json::to_value(t).unwrap());
        check_field(case, outcome);
    }
}

fn fleet_status_vectors(cases: &[Value]) {
    for case in cases {
        let input = &case["input"];
        let outcome = keel::telemetry::health::agent_status_value(
            input["metrics"].clone(),
            Some(json!({"now": input["now"]})),
            keel::options::Case::Snake,
            "",
        )
        .map(|s| serde_json::to_value(s).unwrap());
        check_field(case, outcome);
    }
}

fn fleet_alert_vectors(cases: &[Value]) {
    for case in cases {
        let mut options = case["input"].clone();
        let map = options.as_object_mut().unwrap();
        let state = map.remove("state");
        let status = map.remove("status").unwrap();
        let outcome = keel::telemetry::health::next_alert_value(
            state,
            status.as_str().unwrap(),
            Some(options),
            keel::options::Case::Snake,
            "",
        )
        .map(|d| serde_json::to_value(d).unwrap());
        check_field(case, outcome);
    }
}

fn fleet_notice_vectors(cases: &[Value]) {
    for case in cases {
        let outcome = keel::telemetry::health::slack_message_value(
            case["input"]["notice"].clone(),
            keel::options::Case::Snake,
        );
        check_field(case, outcome);
    }
}
