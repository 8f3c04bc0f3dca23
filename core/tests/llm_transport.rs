//! The caller's own client as a provider's transport: Keel hands it the provider's request body
//! and reads its reply or failure with the same wire code, so routing, fallback, the breaker,
//! credits and streams work the same around it.

mod common;

use std::sync::{Arc, Mutex};

use common::llm::{PRIMARY, SECOND, ask, balance, funded, setup};
use common::loopback::{Loopback, WireKind, success};
use keel::Keel;
use keel::llm::{
    EmbedRequest, Piece, StreamEvent, Transport, TransportFailure, TransportFuture,
    TransportRequest,
};
use serde_json::{Value, json};

/// Answers from a script of results, recording every request.
#[derive(Default)]
struct Scripted {
    replies: Mutex<Vec<Result<Value, TransportFailure>>>,
    seen: Mutex<Vec<TransportRequest>>,
}

impl Transport for Scripted {
    fn send(&self, request: TransportRequest) -> TransportFuture {
        self.seen.lock().unwrap().push(request);
        let reply = self.replies.lock().unwrap().remove(0);
        Box::pin(async move { reply })
    }
}

fn scripted(replies: Vec<Result<Value, TransportFailure>>) -> Arc<Scripted> {
    Arc::new(Scripted {
        replies: Mutex::new(replies),
        seen: Mutex::default(),
    })
}

fn overloaded() -> TransportFailure {
    TransportFailure {
        status: Some(529),
        message: "Overloaded".into(),
        ..TransportFailure::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_failure_falls_back_and_its_reply_is_charged() {
    let provider = Loopback::start().await.unwrap();
    let keel = Keel::connect(&common::fresh_sqlite_url()).await.unwrap();
    let transport = scripted(vec![
        Err(overloaded()),
        Ok(success(WireKind::Anthropic, PRIMARY, "from the SDK")),
    ]);
    let llm = setup(&keel, &provider, |o| {
        o.transports.insert("anthropic", transport.clone());
        o.providers.remove("anthropic");
    })
    .await;
    let org = funded(&llm).await;
    let done = llm.complete(&ask(Some(org))).await.unwrap();
    let outcomes: Vec<_> = done.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["overloaded", "ok"]);
    assert_eq!(done.model, SECOND, "the fallback went over HTTP");
    assert_eq!(
        provider.count(PRIMARY),
        0,
        "the primary never went over HTTP"
    );
    let seen = transport.seen.lock().unwrap().clone();
    assert_eq!(
        (seen[0].provider.as_str(), seen[0].operation),
        ("anthropic", "chat")
    );
    assert_eq!(seen[0].body["model"], PRIMARY);
    assert_eq!(
        seen[0].body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "hello"}]}])
    );
    assert!(seen[0].body.get("stream").is_none());

    // Through the transport now: the reply is read and charged like an HTTP one.
    let done = llm.complete(&ask(Some(org))).await.unwrap();
    assert_eq!(
        (done.model.as_str(), done.text.as_str()),
        (PRIMARY, "from the SDK")
    );
    assert_eq!(done.credits_charged, 2.0);
    assert_eq!(balance(&llm, org).await, 96.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_through_a_transport_delivers_the_whole_reply() {
    let provider = Loopback::start().await.unwrap();
    let keel = Keel::connect(&common::fresh_sqlite_url()).await.unwrap();
    let transport = scripted(vec![Ok(success(
        WireKind::Anthropic,
        PRIMARY,
        "whole reply",
    ))]);
    let llm = setup(&keel, &provider, |o| {
        o.transports.insert("anthropic", transport.clone());
    })
    .await;
    let mut stream = llm.stream(ask(None)).await.unwrap();
    let mut events = Vec::new();
    while let Some(event) = stream.next_event().await {
        events.push(event.unwrap());
    }
    assert!(
        matches!(&events[0], StreamEvent::Delta(Piece::Text { text }) if text == "whole reply")
    );
    assert!(matches!(events.last(), Some(StreamEvent::Done(done)) if done.text == "whole reply"));
    assert!(
        transport.seen.lock().unwrap()[0]
            .body
            .get("stream")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_go_through_a_transport_too() {
    let provider = Loopback::start().await.unwrap();
    let keel = Keel::connect(&common::fresh_sqlite_url()).await.unwrap();
    let transport = scripted(vec![
        Ok(json!({"data": [{"index": 0, "embedding": [0.5, 0.5]}], "usage": {"prompt_tokens": 1}})),
        Err(TransportFailure {
            message: "connection reset by peer".into(),
            ..TransportFailure::default()
        }),
    ]);
    let llm = setup(&keel, &provider, |o| {
        o.transports.insert("openai", transport.clone());
    })
    .await;
    let done = llm.embed(&EmbedRequest::new(["a"])).await.unwrap();
    assert_eq!(done.vectors, vec![vec![0.5, 0.5]]);
    assert_eq!(transport.seen.lock().unwrap()[0].operation, "embeddings");
    let err = llm.embed(&EmbedRequest::new(["b"])).await.unwrap_err();
    assert_eq!(err.code(), "provider");
    assert_eq!(
        err.call_failure().unwrap().attempts[0].outcome,
        "connection"
    );
    assert!(provider.received().is_empty());
}
