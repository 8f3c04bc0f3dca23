//! Streaming calls against the loopback provider: deltas as the wire sends them, fallback only
//! before the first delta (even after a preamble), typed errors and partial charges after it,
//! stalls, and a dropped stream releasing its credits (through an outage of the database too).

mod common;

use std::time::Duration;

use common::llm::{PRIMARY, SECOND, THIRD, ask, balance, funded, setup, until_released};
use common::loopback::{Loopback, Scripted, StreamEnd, WireKind};
use common::{PrivatePostgres, on_each_backend};
use keel::Keel;
use keel::llm::{CallRequest, CallStream, Llm, Piece, StreamEvent};
use keel::models::Feature;
use serde_json::json;
use uuid::Uuid;

/// Reads a stream to its end: the text of its deltas, and the completion or the error.
async fn drain(llm: &Llm, request: CallRequest) -> (String, keel::Result<keel::llm::Completion>) {
    let mut stream = llm.stream(request).await.unwrap();
    let mut text = String::new();
    while let Some(event) = stream.next_event().await {
        match event {
            Ok(StreamEvent::Delta(Piece::Text { text: t })) => text.push_str(&t),
            Ok(StreamEvent::Delta(other)) => panic!("unexpected delta {other:?}"),
            Ok(StreamEvent::Done(done)) => return (text, Ok(*done)),
            Err(err) => return (text, Err(err)),
        }
    }
    panic!("the stream ended without a last event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_wire_streams_deltas_then_the_completion() {
    on_each_backend(|backend, keel| async move {
        let provider = Loopback::start().await.unwrap();
        let llm = setup(&keel, &provider, |o| {
            o.attempt_timeout = Duration::from_secs(10)
        })
        .await;
        let org = funded(&llm).await;
        for (name, model) in [
            ("anthropic", PRIMARY),
            ("google", SECOND),
            ("openai", THIRD),
        ] {
            let request = CallRequest {
                provider: Some(name),
                model: Some(model.into()),
                ..ask(Some(org))
            };
            let (text, done) = drain(&llm, request).await;
            let done = done.unwrap();
            assert_eq!(text, format!("ok from {model}"), "{backend:?} {name}");
            assert_eq!(done.text, text);
            assert_eq!((done.usage.input_tokens, done.usage.output_tokens), (10, 5));
            assert_eq!(done.credits_charged, 2.0, "{backend:?} {name}");
            let sent = provider.received().pop().unwrap();
            match sent.wire {
                WireKind::Anthropic => assert_eq!(sent.body["stream"], true),
                WireKind::OpenAi => {
                    assert_eq!(sent.body["stream"], true);
                    assert_eq!(sent.body["stream_options"], json!({"include_usage": true}));
                }
                WireKind::Gemini => assert_eq!(
                    sent.path,
                    format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
                ),
                WireKind::Slack => unreachable!("a model call reached the Slack API"),
            }
        }
        assert_eq!(balance(&llm, org).await, 94.0, "{backend:?}");
    })
    .await;
}

/// A stream on a kept-alive connection starts as soon as the provider writes: the loopback
/// provider writes each event out at once (`TCP_NODELAY`). Before, its first event after the
/// headers waited for the client's delayed acknowledgement, 40 ms or more on Linux.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_a_kept_alive_connection_starts_at_once() {
    let keel = Keel::connect(&common::fresh_sqlite_url()).await.unwrap();
    let provider = Loopback::start().await.unwrap();
    let llm = setup(&keel, &provider, |_| {}).await;
    let mut waits = Vec::new();
    for _ in 0..7 {
        let started = std::time::Instant::now();
        let request = CallRequest {
            provider: Some("openai"),
            model: Some(THIRD.into()),
            ..ask(None)
        };
        let mut stream = llm.stream(request).await.unwrap();
        let first = stream.next_event().await.unwrap().unwrap();
        assert!(matches!(first, StreamEvent::Delta(_)), "{first:?}");
        waits.push(started.elapsed());
        while stream.next_event().await.is_some() {}
    }
    waits.sort();
    // The median of seven: one slow moment of a busy machine does not decide it.
    assert!(waits[3] < Duration::from_millis(30), "{waits:?}");
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_after_the_preamble_but_before_content_still_falls_back() {
    let provider = Loopback::start().await.unwrap();
    let keel = Keel::connect(&common::fresh_sqlite_url()).await.unwrap();
    let llm = setup(&keel, &provider, |o| {
        o.attempt_timeout = Duration::from_secs(10)
    })
    .await;
    provider.script(
        PRIMARY,
        [Scripted::Stream {
            chunks: vec![],
            end: StreamEnd::Error,
            gap: Duration::ZERO,
        }],
    );
    let (text, done) = drain(&llm, ask(None)).await;
    let done = done.unwrap();
    assert_eq!(
        text,
        format!("ok from {SECOND}"),
        "only the fallback's deltas arrive"
    );
    let outcomes: Vec<_> = done.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["overloaded", "ok"]);
    assert_eq!(done.model, SECOND);
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_first_delta_a_failure_ends_the_stream_and_charges_the_partial_usage() {
    on_each_backend(|backend, keel| async move {
        let provider = Loopback::start().await.unwrap();
        let llm = setup(&keel, &provider, |o| {
            o.attempt_timeout = Duration::from_millis(400)
        })
        .await;
        let org = funded(&llm).await;
        for (end, code) in [
            (StreamEnd::Reset, "provider"),
            (StreamEnd::Stall(Duration::from_secs(5)), "timeout"),
            (StreamEnd::Error, "provider"),
        ] {
            let before = balance(&llm, org).await;
            provider.script(
                PRIMARY,
                [Scripted::Stream {
                    chunks: vec!["Hel".into()],
                    end: end.clone(),
                    gap: Duration::ZERO,
                }],
            );
            let (text, result) = drain(&llm, ask(Some(org))).await;
            assert_eq!(text, "Hel", "{backend:?} {end:?}");
            let err = result.unwrap_err();
            assert_eq!(err.code(), code, "{backend:?} {end:?}");
            let keel::Error::Call(failure) = err else {
                panic!("not a call failure")
            };
            assert_eq!(
                failure.attempts.len(),
                1,
                "{end:?}: no fallback after a delta"
            );
            // 10 input tokens from the preamble, 1 output token estimated from "Hel".
            let charged = before - balance(&llm, org).await;
            assert!(
                (charged - 1.2).abs() < 1e-9,
                "{backend:?} {end:?}: charged {charged}"
            );
        }
        assert_eq!(provider.count(SECOND) + provider.count(THIRD), 0);
    })
    .await;
}

/// The attempt's limit is the longest wait for one event, not for the whole stream: events
/// 150 ms apart under a limit of 400 ms run on for a second, and a pause of 700 ms ends the
/// attempt at 400 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_timed_per_event_not_as_a_whole() {
    let keel = Keel::connect(&common::fresh_sqlite_url()).await.unwrap();
    let provider = Loopback::start().await.unwrap();
    let llm = setup(&keel, &provider, |o| {
        o.attempt_timeout = Duration::from_millis(400)
    })
    .await;
    let chunks: Vec<String> = (0..7).map(|i| format!("{i} ")).collect();
    for (gap, code) in [(150, None), (700, Some("timeout"))] {
        provider.script(
            PRIMARY,
            [Scripted::Stream {
                chunks: chunks.clone(),
                end: StreamEnd::Complete,
                gap: Duration::from_millis(gap),
            }],
        );
        let started = std::time::Instant::now();
        let (text, done) = drain(&llm, ask(None)).await;
        match code {
            None => {
                assert_eq!(done.unwrap().text, chunks.concat());
                assert!(started.elapsed() > Duration::from_millis(1_000));
            }
            Some(outcome) => {
                // No delta yet: the call falls back, after the limit, not after the pause.
                let done = done.unwrap();
                assert_eq!(text, done.text);
                let first = &done.attempts[0];
                assert_eq!(first.outcome, outcome);
                assert!((400.0..650.0).contains(&first.latency_ms), "{first:?}");
            }
        }
    }
    keel.close().await;
}

/// A client on `keel` and a funded org, with a stream under way whose provider sent "x" and
/// stalls: its credits are held.
async fn a_stalled_stream(keel: &Keel, provider: &Loopback) -> (Llm, Uuid, CallStream) {
    let llm = setup(keel, provider, |o| {
        o.attempt_timeout = Duration::from_secs(60)
    })
    .await;
    let org = funded(&llm).await;
    provider.script(
        PRIMARY,
        [Scripted::Stream {
            chunks: vec!["x".into()],
            end: StreamEnd::Stall(Duration::from_secs(60)),
            gap: Duration::ZERO,
        }],
    );
    let mut stream = llm.stream(ask(Some(org))).await.unwrap();
    let first = stream.next_event().await.unwrap().unwrap();
    assert_eq!(first, StreamEvent::Delta(Piece::Text { text: "x".into() }));
    assert!(balance(&llm, org).await < 100.0, "credits are held");
    (llm, org, stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_stops_the_call_and_releases_its_credits() {
    on_each_backend(|_, keel| async move {
        let provider = Loopback::start().await.unwrap();
        let (llm, org, stream) = a_stalled_stream(&keel, &provider).await;
        drop(stream);
        until_released(&llm, org, 100.0).await;
    })
    .await;
}

/// PostgreSQL is down when a stream is dropped: the first tries to give its credits back fail,
/// and a later one, once the server is back, lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_meets_an_outage_is_tried_again() {
    let pg = PrivatePostgres::start("keel-release");
    let options = keel::ConnectOptions {
        connect_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let keel = Keel::connect_with(&pg.url(), options).await.unwrap();
    let provider = Loopback::start().await.unwrap();
    let (llm, org, stream) = a_stalled_stream(&keel, &provider).await;
    pg.run("pause");
    drop(stream);
    // The first tries fail on the stopped server: each waits 0.5 s for a connection (the
    // connect timeout), then 0.1 s, 0.2 s, 0.4 s … pass before the next.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.run("resume");
    until_released(&llm, org, 100.0).await;
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_refuses_bad_input_and_budgets_before_any_request() {
    let provider = Loopback::start().await.unwrap();
    let keel = Keel::connect(&common::fresh_sqlite_url()).await.unwrap();
    let llm = setup(&keel, &provider, |o| {
        o.attempt_timeout = Duration::from_secs(10)
    })
    .await;
    let err = llm.stream(ask(Some(Uuid::new_v4()))).await.unwrap_err();
    assert_eq!(err.code(), "budget_exceeded");
    let request = CallRequest {
        feature: Some(Feature::Embedding),
        ..ask(None)
    };
    assert_eq!(
        llm.stream(request).await.unwrap_err().code(),
        "no_model_available"
    );
    assert!(provider.received().is_empty());
    keel.close().await;
}

/// What a binding reads per crossing: bursts of events, the failure alone after the events
/// before it, then nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_reads_bursts_then_the_failure_then_the_end() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let provider = Loopback::start().await.unwrap();
    let llm = setup(&keel, &provider, |_| {}).await;
    provider.script(
        PRIMARY,
        [Scripted::Stream {
            chunks: vec!["Hel".into(), "lo".into()],
            end: StreamEnd::Error,
            gap: Duration::ZERO,
        }],
    );
    let mut stream = llm.stream(ask(None)).await.unwrap();
    let mut text = String::new();
    let failure = loop {
        match stream.next_batch(256).await {
            Ok(Some(events)) => {
                assert!(!events.is_empty(), "a burst is never empty");
                for event in events {
                    let StreamEvent::Delta(Piece::Text { text: t }) = event else {
                        panic!("unexpected event {event:?}")
                    };
                    text.push_str(&t);
                }
            }
            Ok(None) => panic!("the stream ended without its failure"),
            Err(err) => break err,
        }
    };
    assert_eq!((text.as_str(), failure.code()), ("Hello", "provider"));
    assert!(
        matches!(stream.next_batch(256).await, Ok(None)),
        "then the end"
    );
}
