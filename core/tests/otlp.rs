//! OTLP export against a real receiver: Arize Phoenix (from PyPI, installed by
//! `make phoenix`), started here on loopback. Spans arrive with their ids, parents, status,
//! events and attributes, over HTTP/protobuf and gRPC; an LLM call arrives under the GenAI
//! conventions; and while the receiver is down the host is unaffected, drops are counted, and
//! export resumes once it is back.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::llm::{ask, setup};
use common::loopback::Loopback;
use keel::runner::{AgentConfig, AgentContext, Failure, RunOptions, run_agent};
use keel::telemetry::LoggerOptions;
use keel::telemetry::export::{OtlpOptions, Protocol};
use keel::{ConnectOptions, Keel};
use serde_json::{Map, Value, json};

/// Phoenix, killed when dropped.
struct Phoenix {
    child: Child,
    http: u16,
    _dir: tempdir::Dir,
}

mod tempdir {
    /// A folder removed when dropped.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn phoenix_binary() -> PathBuf {
    let path = std::env::var_os("KEEL_PHOENIX").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-phoenix/bin/phoenix"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "no Phoenix at {}: run `make phoenix` (or set KEEL_PHOENIX)",
        path.display()
    );
    path
}

impl Phoenix {
    /// Starts Phoenix on `http` (OTLP/HTTP and its REST API) and `grpc`, and waits until it
    /// answers.
    async fn start(http: u16, grpc: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("keel-phoenix-{}-{http}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(phoenix_binary())
            .arg("serve")
            .env("PHOENIX_WORKING_DIR", &dir)
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", http.to_string())
            .env("PHOENIX_GRPC_PORT", grpc.to_string())
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let phoenix = Phoenix {
            child,
            http,
            _dir: tempdir::Dir(dir),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        let health = format!("http://127.0.0.1:{http}/healthz");
        while !reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "Phoenix did not start");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        phoenix
    }

    /// The spans of `trace` Phoenix holds, once it holds `count` of them.
    async fn spans(&self, trace: &str, count: usize) -> Vec<Value> {
        let url = format!(
            "http://127.0.0.1:{}/v1/projects/default/spans?trace_id={trace}",
            self.http
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let body: Value = match reqwest::get(&url).await {
                Ok(reply) => reply.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let spans = body["data"].as_array().cloned().unwrap_or_default();
            if spans.len() >= count {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "Phoenix holds {} spans of {trace}, not {count}: {body}",
                spans.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn connect(otlp: OtlpOptions) -> Keel {
    let options = ConnectOptions {
        otlp,
        ..ConnectOptions::default()
    };
    Keel::connect_with(&common::fresh_sqlite_url(), options)
        .await
        .unwrap()
}

fn exporting_to(endpoint: String, protocol: Protocol) -> OtlpOptions {
    OtlpOptions {
        endpoint: Some(endpoint),
        protocol: Some(protocol),
        timeout: Some(Duration::from_secs(2)),
        ..OtlpOptions::default()
    }
}

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The span named `name` among `spans`.
fn named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name} in {spans:?}"))
}

/// One attribute of a span as Phoenix returns it: flat or nested by the dots of its key.
fn attribute<'a>(span: &'a Value, key: &str) -> &'a Value {
    let flat = &span["attributes"][key];
    if !flat.is_null() {
        return flat;
    }
    key.split('.').fold(&span["attributes"], |v, part| &v[part])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_phoenix_with_parents_status_events_and_genai_attributes() {
    let (http, grpc) = (free_port(), free_port());

    // The outage first: nothing listens on the port yet. The host logs as usual.
    let keel = connect(exporting_to(
        format!("http://127.0.0.1:{http}"),
        Protocol::HttpProtobuf,
    ))
    .await;
    let log = keel.logger("otlp-test", LoggerOptions::default());
    let started = Instant::now();
    for i in 0..200 {
        log.span("while_down", fields(json!({"i": i})), None)
            .stop(Map::new());
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "logging waited on the exporter"
    );
    let stats = log.sink().flush().await;
    assert_eq!(
        stats.written, 200,
        "system_logs is still written: {stats:?}"
    );
    let export = log.sink().export_stats().unwrap();
    assert_eq!((export.exported, export.dropped), (0, 200), "{export:?}");
    assert!(export.failed_exports >= 1, "{export:?}");

    let phoenix = Phoenix::start(http, grpc).await;

    // Export resumes: a small tree with a log event inside a span and a failing child.
    let root = log.span(
        "handle_message",
        fields(json!({"deal": {"stage": "won"}})),
        None,
    );
    let child = root.child("skills.resolve", fields(json!({"skills": ["a", "b"]})));
    log.info("skills.cache_hit", fields(json!({"entries": 3})));
    child.stop(Map::new());
    let failing = root.child("tool.crm", Map::new());
    failing.fail("crm timed out", Map::new());
    root.stop(fields(json!({"tokens": 12})));
    log.sink().flush().await;
    let export = log.sink().export_stats().unwrap();
    assert_eq!((export.exported, export.dropped), (3, 200), "{export:?}");

    let trace = format!("{:032x}", log.trace_id().as_u128());
    let spans = phoenix.spans(&trace, 3).await;
    let (root_s, child_s, failing_s) = (
        named(&spans, "handle_message"),
        named(&spans, "skills.resolve"),
        named(&spans, "tool.crm"),
    );
    let root_id = root_s["context"]["span_id"].as_str().unwrap();
    assert_eq!(root_id, format!("{:016x}", root.id().as_u128()));
    assert!(root_s["parent_id"].is_null(), "{root_s}");
    assert_eq!(child_s["parent_id"], root_id);
    assert_eq!(failing_s["parent_id"], root_id);
    assert_eq!(failing_s["status_code"], "ERROR");
    assert_eq!(failing_s["status_message"], "crm timed out");
    assert_eq!(root_s["status_code"], "UNSET");
    assert_eq!(*attribute(root_s, "deal.stage"), json!("won"));
    assert_eq!(*attribute(root_s, "tokens"), json!(12));
    assert_eq!(*attribute(child_s, "skills"), json!(["a", "b"]));
    assert_eq!(*attribute(root_s, "keel.service"), json!("otlp-test"));
    let events = child_s["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{child_s}");
    assert_eq!(events[0]["name"], "skills.cache_hit");
    assert_eq!(events[0]["attributes"]["entries"], 3);

    // An LLM call: the call and its provider attempt under the GenAI conventions.
    let provider = Loopback::start().await.unwrap();
    let llm = setup(&keel, &provider, |_| {}).await;
    let done = llm.complete(&ask(None)).await.unwrap();
    keel.log_sink().flush().await;
    let export = keel.log_sink().export_stats().unwrap();
    assert_eq!(export.exported, 5, "the call and its attempt: {export:?}");
    let model = done.model.clone();
    let call_trace = format!("{:032x}", done.trace_id.as_u128());
    let spans = phoenix.spans(&call_trace, 2).await;
    let by_action = |action: &str| {
        spans
            .iter()
            .find(|s| *attribute(s, "keel.action") == json!(action))
            .unwrap_or_else(|| panic!("no {action} span in {spans:?}"))
    };
    let (call, attempt) = (by_action("gen_ai.chat"), by_action("gen_ai.attempt"));
    assert_eq!(attempt["name"], format!("chat {model}"));
    assert_eq!(call["name"], format!("chat {model}"));
    assert_eq!(attempt["parent_id"], call["context"]["span_id"]);
    assert_eq!(
        attempt["span_kind"], "LLM",
        "Phoenix reads the GenAI attributes"
    );
    assert_eq!(*attribute(attempt, "gen_ai.request.model"), json!(model));
    assert_eq!(
        *attribute(attempt, "gen_ai.provider.name"),
        json!("anthropic")
    );
    assert_eq!(*attribute(attempt, "gen_ai.operation.name"), json!("chat"));
    assert_eq!(*attribute(attempt, "gen_ai.usage.input_tokens"), json!(10));
    assert_eq!(*attribute(attempt, "gen_ai.usage.output_tokens"), json!(5));

    let input = attribute(call, "gen_ai.input.messages");
    assert!(input.is_null(), "content is off by default: {input}");

    // gRPC reaches the same receiver; with `capture_content`, the call's span carries the
    // prompt and the completion, a secret in the prompt redacted.
    let over_grpc = connect(OtlpOptions {
        capture_content: Some(true),
        ..exporting_to(format!("http://127.0.0.1:{grpc}"), Protocol::Grpc)
    })
    .await;
    let llm = setup(&over_grpc, &provider, |_| {}).await;
    let mut request = ask(None);
    request.messages[0] =
        keel::llm::Message::user("my key is sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789");
    let done = llm.complete(&request).await.unwrap();
    over_grpc.log_sink().flush().await;
    assert_eq!(over_grpc.log_sink().export_stats().unwrap().exported, 2);
    let spans = phoenix
        .spans(&format!("{:032x}", done.trace_id.as_u128()), 2)
        .await;
    let call = spans
        .iter()
        .find(|s| *attribute(s, "keel.action") == json!("gen_ai.chat"))
        .unwrap();
    let input = attribute(call, "gen_ai.input.messages").as_str().unwrap();
    assert!(input.contains(r#""role":"user""#), "{input}");
    assert!(
        !input.contains("abcdefghijklmnopqrstuvwxyz"),
        "the key is redacted: {input}"
    );
    let output = attribute(call, "gen_ai.output.messages").as_str().unwrap();
    assert!(
        output.contains(&format!("ok from {}", done.model)),
        "{output}"
    );

    // An agent run: `invoke_agent {agent}` with the GenAI agent attributes, its attempt under
    // it, and the bound client's call under the attempt.
    let options = RunOptions {
        llm: Some(setup(&keel, &provider, |_| {}).await),
        ..RunOptions::default()
    };
    let config = AgentConfig::new("deal-risk-scan");
    let result = run_agent(&keel, config, options, |ctx: AgentContext| async move {
        let done = ctx
            .complete(ask(None))
            .await
            .map_err(|e| Failure::from(&e))?;
        Ok::<_, Failure>(done.text)
    })
    .await
    .unwrap();
    assert!(result.success, "{result:?}");
    keel.log_sink().flush().await;
    let spans = phoenix
        .spans(&format!("{:032x}", result.trace_id.as_u128()), 4)
        .await;
    let run = named(&spans, "invoke_agent deal-risk-scan");
    assert_eq!(
        *attribute(run, "gen_ai.agent.name"),
        json!("deal-risk-scan")
    );
    assert_eq!(
        *attribute(run, "gen_ai.operation.name"),
        json!("invoke_agent")
    );
    let attempt = named(&spans, "agent.attempt");
    assert_eq!(attempt["parent_id"], run["context"]["span_id"]);
    let call = spans
        .iter()
        .find(|s| *attribute(s, "keel.action") == json!("gen_ai.chat"))
        .unwrap_or_else(|| panic!("no model call in {spans:?}"));
    assert_eq!(
        call["parent_id"], attempt["context"]["span_id"],
        "the bound client's call nests under the attempt"
    );
}
