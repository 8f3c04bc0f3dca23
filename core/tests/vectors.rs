//! Runs the shared vectors in `testdata/` against the Rust API. The pytest and node:test
//! suites run the same files, so the three languages cannot drift.

use serde_json::{Value, json};

fn load(name: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

#[test]
fn database_url_vectors() {
    let cases = load("database_urls.json");
    assert!(cases.len() >= 10);
    for case in &cases {
        let url = case["input"]["url"].as_str().unwrap();
        let outcome = keel::DatabaseUrl::parse(url).map(|parsed| {
            json!({"backend": parsed.backend.as_str(), "masked": parsed.masked, "in_memory": parsed.in_memory})
        });
        check(case, outcome);
    }
}

#[test]
fn mask_url_vectors() {
    for case in &load("mask_url.json") {
        let url = case["input"]["url"].as_str().unwrap();
        check(case, Ok(Value::String(keel::mask_url(url))));
    }
}

#[test]
fn error_code_vectors() {
    for case in &load("error_codes.json") {
        check(case, Ok(json!(keel::Error::CODES)));
    }
}

#[tokio::test]
async fn connect_error_vectors() {
    for case in &load("connect_errors.json") {
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

#[test]
fn redact_secrets_vectors() {
    for case in &load("redact_secrets.json") {
        let text = case["input"]["text"].as_str().unwrap();
        let got = keel::telemetry::redact_secrets(text).unwrap_or_else(|| text.to_owned());
        check(case, Ok(Value::String(got)));
    }
}

#[test]
fn traceparent_vectors() {
    for case in &load("traceparent.json") {
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

#[tokio::test]
async fn model_resolution_vectors() {
    let (_keel, router) = default_router().await;
    for case in &load("model_resolution.json") {
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

#[test]
fn agent_budget_vectors() {
    for case in &load("agent_budgets.json") {
        let b = keel::models::check_agent_budget(
            case["input"]["agent"].as_str().unwrap(),
            case["input"]["used"].as_f64().unwrap(),
        );
        check(case, Ok(json!({"exceeded": b.exceeded, "limit": b.limit})));
    }
}

#[tokio::test]
async fn failure_status_vectors() {
    for case in &load("failure_statuses.json") {
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

#[test]
fn skill_parse_vectors() {
    let cases = load("skill_parse.json");
    assert!(cases.len() >= 15);
    for case in &cases {
        let text = case["input"]["text"].as_str().unwrap();
        let folder = case["input"]["folder"].as_str();
        let parsed = keel::skills::parse("SKILL.md", folder, text.as_bytes());
        check(case, Ok(parse_summary(&parsed)));
    }
}

#[test]
fn skill_compile_vectors() {
    for case in &load("skill_compile.json") {
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
        check(case, outcome);
    }
}

#[test]
fn skill_channel_vectors() {
    for case in &load("skill_channels.json") {
        let outcome = keel::skills::Channel::parse(case["input"]["channel"].as_str().unwrap())
            .map(|c| json!(c.namespaces().map(|n| n.as_str())));
        check(case, outcome);
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

#[test]
fn failure_report_vectors() {
    use keel::models::FailureKind;
    for case in &load("failure_reports.json") {
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

#[test]
fn option_vectors() {
    use keel::options::{Case, from_value};
    for case in &load("options.json") {
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

#[tokio::test]
async fn charge_vectors() {
    use keel::models::{ChargeRequest, ModelRequest, ModelRouter, RouterOptions};
    use keel::options::{Case, from_value};
    let keel = keel::Keel::connect("sqlite::memory:").await.unwrap();
    let router = ModelRouter::open(&keel, RouterOptions::default())
        .await
        .unwrap();
    for case in &load("charges.json") {
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
