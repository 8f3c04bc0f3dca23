//! The model tasks (summarize, classify, embed) against the loopback provider: the vectors of
//! `testdata/llm_tasks.json`, the prompts and bodies the provider receives, embeddings on both
//! wires that have them, and errors that carry their attempts.

mod common;

use common::llm::{PRIMARY, SECOND, setup};
use common::loopback::{Loopback, Scripted, WireKind, error};
use keel::Keel;
use keel::llm::{
    Classifier, ClassifyRequest, EmbedRequest, Embedder, Llm, Summarizer, SummaryRequest,
};
use keel::options::Case;
use serde_json::{Value, json};

const MODEL: &str = "task-model";

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/llm_tasks.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `request` with the explicit model the tasks' vectors use.
fn routed(mut request: Value) -> Value {
    request["provider"] = "openai".into();
    request["model"] = MODEL.into();
    request
}

async fn client() -> (Keel, Loopback, Llm) {
    let provider = Loopback::start().await.unwrap();
    let keel = Keel::connect(&common::fresh_sqlite_url()).await.unwrap();
    let llm = setup(&keel, &provider, |_| {}).await;
    (keel, provider, llm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_reads_every_answer_of_the_vectors() {
    let (_keel, provider, llm) = client().await;
    let v = vectors();
    for case in v["classify"].as_array().unwrap() {
        provider.script(
            MODEL,
            [Scripted::Text(case["answer"].as_str().unwrap().into())],
        );
        let request = ClassifyRequest::from_value(
            routed(json!({"text": "Can I add five seats?", "labels": v["labels"]})),
            Case::Snake,
        )
        .unwrap();
        let name = &case["name"];
        // Through the trait, as the capabilities to come hold it.
        let classifier: &dyn Classifier = &llm;
        match classifier.classify(&request).await {
            Ok(done) => {
                assert_eq!(done.label, case["label"].as_str().unwrap(), "{name}");
                assert_eq!(done.confidence, case["confidence"].as_f64(), "{name}");
                assert_eq!(done.completion.unwrap().model, MODEL, "{name}");
            }
            Err(err) => {
                assert_eq!(Some(err.code()), case["code"].as_str(), "{name}: {err}");
                assert_eq!(err.call_failure().unwrap().attempts.len(), 1, "{name}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_receives_each_task_prompt() {
    let (_keel, provider, llm) = client().await;
    let v = vectors();
    provider.script(MODEL, [Scripted::Text("{\"label\": \"billing\"}".into())]);
    let request = ClassifyRequest::from_value(
        routed(json!({"text": "Refund please", "labels": v["labels"],
                      "instructions": "Route support email."})),
        Case::Snake,
    )
    .unwrap();
    llm.classify(&request).await.unwrap();
    let sent = provider.received().pop().unwrap().body;
    assert_eq!(sent["messages"][0]["content"], v["system"]["classify"]);
    assert_eq!(sent["messages"][1]["content"], "Refund please");
    assert_eq!(
        (sent["temperature"].as_f64(), &sent["max_tokens"]),
        (Some(0.0), &json!(100))
    );

    provider.script(MODEL, [Scripted::Text("  Acme wants five seats.\n".into())]);
    let request = SummaryRequest::from_value(
        routed(json!({"text": "A long thread about seats", "max_tokens": 50})),
        Case::Snake,
    )
    .unwrap();
    let summarizer: &dyn Summarizer = &llm;
    let summary = summarizer.summarize(&request).await.unwrap();
    assert_eq!(summary.text, "Acme wants five seats.");
    let sent = provider.received().pop().unwrap().body;
    assert_eq!(sent["messages"][0]["content"], v["system"]["summarize"]);
    assert_eq!(sent["max_tokens"], 50);

    // A routed summary goes through the router like any call, fallback included.
    provider.script(PRIMARY, [error(WireKind::Anthropic, 529, "Overloaded")]);
    let request = SummaryRequest::from_value(
        json!({"text": "thread", "feature": "copilot", "tier": "low"}),
        Case::Snake,
    )
    .unwrap();
    let summary = llm.summarize(&request).await.unwrap();
    let completion = summary.completion.unwrap();
    assert_eq!(completion.attempts.len(), 2);
    assert!(completion.was_fallback);
    assert_eq!(completion.model, SECOND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_task_requests_name_their_field_before_any_request() {
    let (_keel, provider, llm) = client().await;
    for case in vectors()["invalid"].as_array().unwrap() {
        let request = case["request"].clone();
        let err = match case["task"].as_str().unwrap() {
            "classify" => ClassifyRequest::from_value(routed(request), Case::Snake).err(),
            "summarize" => SummaryRequest::from_value(routed(request), Case::Snake).err(),
            _ => match EmbedRequest::from_value(request, Case::Snake) {
                Ok(r) => llm.embed(&r).await.err(),
                Err(err) => Some(err),
            },
        }
        .unwrap_or_else(|| panic!("{case} was accepted"));
        assert_eq!(err.code(), "invalid_input", "{case}");
        assert_eq!(err.field(), case["field"].as_str(), "{case}: {err}");
    }
    assert!(provider.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_come_back_in_order_on_both_wires() {
    let (_keel, provider, llm) = client().await;
    let v = vectors();
    for (name, path) in [
        ("openai", "/v1/embeddings"),
        (
            "google",
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
        ),
    ] {
        let mut request = v["embed"].clone();
        request["provider"] = name.into();
        let request = EmbedRequest::from_value(request, Case::Snake).unwrap();
        let embedder: &dyn Embedder = &llm;
        let done = embedder.embed(&request).await.unwrap();
        assert_eq!(done.vectors.len(), 3, "{name}");
        assert_eq!(done.dimensions, 4, "{name}");
        assert!(done.vectors.iter().all(|v| v.len() == 4));
        assert_eq!(done.vectors[0], done.vectors[2], "{name}: equal texts");
        assert_ne!(done.vectors[0], done.vectors[1], "{name}: different texts");
        assert_eq!(done.attempts.len(), 1);
        let sent = provider.received().pop().unwrap();
        assert_eq!(sent.path, path);
        match name {
            "openai" => {
                assert_eq!(done.input_tokens, Some(10), "one token per word");
                assert_eq!(sent.body["input"], v["embed"]["texts"]);
                assert_eq!(sent.body["dimensions"], 4);
                assert_eq!(sent.headers["authorization"], "Bearer key-openai");
            }
            _ => {
                assert_eq!(done.input_tokens, None);
                assert_eq!(sent.body["requests"][2]["outputDimensionality"], 4);
                assert_eq!(sent.headers["x-goog-api-key"], "key-google");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedding_failures_are_typed_with_their_attempts() {
    let (_keel, provider, llm) = client().await;
    let model = "text-embedding-3-small";
    provider.script(
        model,
        [
            Scripted::Error {
                error: 429,
                message: "slow down".into(),
                retry_after: Some("3".into()),
            },
            Scripted::Json {
                status: 200,
                headers: Vec::new(),
                body: json!({"data": [{"index": 0, "embedding": [1.0]}]}),
            },
        ],
    );
    let request = EmbedRequest::new(["a", "b"]);
    let err = llm.embed(&request).await.unwrap_err();
    assert_eq!(err.code(), "rate_limited");
    let failure = err.call_failure().unwrap();
    assert_eq!(failure.retry_after_ms, Some(3000));
    assert_eq!(failure.attempts[0].outcome, "rate_limited");
    // One vector for two texts is the provider's fault, not a short answer.
    let err = llm.embed(&request).await.unwrap_err();
    assert_eq!(err.code(), "provider");
    assert!(err.to_string().contains("1 vectors for 2 texts"), "{err}");
}
