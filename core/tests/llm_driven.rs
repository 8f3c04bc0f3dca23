//! A call its caller drives (`Llm::drive`): the host's transport sends the attempts on its own
//! thread and Keel settles each answer synchronously, with the same fallback, breaker reports,
//! spans and completion as `Llm::complete`; an attempt at a provider without a transport, and
//! the breaker report of a call that fails for good, are futures the caller awaits.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::llm::{PRIMARY, SECOND, THIRD, ask, funded, setup, setup_with};
use common::loopback::{Loopback, WireKind, error, success};
use keel::fault::FailureKind;
use keel::llm::{
    Driven, DrivenCall, Transport, TransportFailure, TransportFuture, TransportRequest,
};
use keel::models::{BreakerConfig, RouterOptions, Transition};
use keel::{Error, Keel};
use serde_json::{Value, json};

/// A transport that is never called: a driven call hands its requests to the caller instead.
struct Unused;

impl Transport for Unused {
    fn send(&self, _: TransportRequest) -> TransportFuture {
        panic!("a driven call never calls the transport itself")
    }
}

fn failure(status: Option<u16>, message: &str) -> TransportFailure {
    TransportFailure {
        status,
        message: message.into(),
        ..TransportFailure::default()
    }
}

fn driven(outcome: keel::Result<Driven>) -> Box<DrivenCall> {
    match outcome.unwrap() {
        Driven::Call(call) => call,
        Driven::Awaits(_) => panic!("the call was not driven"),
    }
}

/// The failures counted on `model`'s circuit, as stored.
async fn failures(keel: &Keel, model: &str) -> i64 {
    let keel::Pool::Sqlite(lite) = keel.pool().unwrap() else {
        unreachable!("these tests run on SQLite")
    };
    sqlx::query_scalar("SELECT failure_count FROM model_health WHERE model_id = ?")
        .bind(model)
        .fetch_optional(lite)
        .await
        .unwrap()
        .unwrap_or(0)
}

async fn on_transports(provider: &Loopback, names: &[&'static str]) -> (Keel, keel::llm::Llm) {
    let keel = Keel::connect(&common::fresh_sqlite_url()).await.unwrap();
    let llm = setup(&keel, provider, |o| {
        for name in names {
            o.transports.insert(*name, Arc::new(Unused));
        }
    })
    .await;
    (keel, llm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_sends_each_attempt_and_keel_falls_back_over_its_own_client() {
    let provider = Loopback::start().await.unwrap();
    let (keel, llm) = on_transports(&provider, &["anthropic"]).await;
    let mut call = driven(llm.drive(ask(None)));
    let request = call
        .transport_request()
        .expect("the primary goes through the transport");
    assert_eq!(
        (request.provider.as_str(), request.model.as_str()),
        ("anthropic", PRIMARY)
    );
    assert_eq!(
        request.body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "hello"}]}])
    );
    assert!(call.timeout() > std::time::Duration::ZERO);

    // The transport's 529 counts as the provider's fault: the next candidate (Gemini, no
    // transport) goes over Keel's own client, as a future the caller awaits.
    let next = call.settle_transport(Err(failure(Some(529), "Overloaded")));
    assert!(next.unwrap().is_none(), "a fallback is ready");
    assert!(call.transport_request().is_none());
    let waited = call.wait().await;
    let done = call
        .settle_waited(waited)
        .unwrap()
        .expect("the fallback answered");
    let outcomes: Vec<_> = done.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["overloaded", "ok"]);
    assert_eq!((done.model.as_str(), done.was_fallback), (SECOND, true));
    assert_eq!(provider.count(SECOND), 1, "the fallback went over HTTP");
    assert_eq!(provider.count(PRIMARY), 0);
    assert_eq!(done.credits_charged, 0.0);
    assert_eq!(done.attempts[0].status, Some(529));

    // The failure's breaker report is written in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while failures(&keel, PRIMARY).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the failure was never reported"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_settles_as_complete_reads_it() {
    let provider = Loopback::start().await.unwrap();
    let (keel, llm) = on_transports(&provider, &["anthropic"]).await;
    let mut call = driven(llm.drive(ask(None)));
    let reply: Value = success(WireKind::Anthropic, PRIMARY, "from the caller's client");
    let done = call.settle_transport(Ok(reply)).unwrap().unwrap();
    assert_eq!(
        (done.text.as_str(), done.model.as_str(), done.was_fallback),
        ("from the caller's client", PRIMARY, false)
    );
    assert_eq!(done.attempts.len(), 1);
    assert!(
        done.usage.input_tokens > 0,
        "the usage is read from the body"
    );
    // Settled once: the call has ended.
    assert!(matches!(
        call.settle_transport(Err(failure(None, "again"))),
        Err(Error::Internal(_))
    ));
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_falls_back_and_a_caller_error_does_not() {
    let provider = Loopback::start().await.unwrap();
    let (keel, llm) = on_transports(&provider, &["anthropic", "google"]).await;
    let mut call = driven(llm.drive(ask(None)));
    assert!(call.settle_timeout().unwrap().is_none());
    let request = call.transport_request().unwrap();
    assert_eq!(request.model, SECOND, "the fallback's transport sends it");
    assert!(request.body.get("contents").is_some(), "on Gemini's wire");
    let err = call
        .settle_transport(Err(failure(Some(400), "bad request")))
        .unwrap_err();
    let Error::Call(failed) = err else {
        panic!("a call error: {err:?}")
    };
    let outcomes: Vec<_> = failed.attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["timeout", "client_error"]);
    assert_eq!(
        provider.count(THIRD),
        0,
        "a caller error is tried nowhere else"
    );
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_fails_for_good_waits_for_its_breaker_report() {
    let provider = Loopback::start().await.unwrap();
    provider.script(THIRD, [error(WireKind::OpenAi, 500, "down")]);
    let (keel, llm) = on_transports(&provider, &["anthropic", "google"]).await;
    let mut call = driven(llm.drive(ask(None)));
    assert!(
        call.settle_transport(Err(failure(Some(500), "a")))
            .unwrap()
            .is_none()
    );
    assert!(
        call.settle_transport(Err(failure(Some(503), "b")))
            .unwrap()
            .is_none()
    );
    let waited = call.wait().await;
    assert!(
        call.settle_waited(waited).unwrap().is_none(),
        "the last attempt failed"
    );
    assert!(call.transport_request().is_none());
    // The error comes once the last failure's report is written.
    let waited = call.wait().await;
    let Err(Error::Call(failed)) = call.settle_waited(waited) else {
        panic!("the call fails")
    };
    assert_eq!(failed.attempts.len(), 3);
    assert_eq!(
        failures(&keel, THIRD).await,
        1,
        "the last failure is on the breaker when the error arrives"
    );
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_wait_first_are_handed_back() {
    let provider = Loopback::start().await.unwrap();
    // Without a transport on the first candidate.
    let (keel, llm) = on_transports(&provider, &["openai"]).await;
    assert!(matches!(llm.drive(ask(None)).unwrap(), Driven::Awaits(_)));
    // With credits to reserve.
    let (other, llm) = on_transports(&provider, &["anthropic"]).await;
    let org = funded(&llm).await;
    let Driven::Awaits(request) = llm.drive(ask(Some(org))).unwrap() else {
        panic!("a reservation waits on the database")
    };
    assert_eq!(request.org_id, Some(org));
    // Bad input fails before anything, as `complete` does.
    let mut bad = ask(None);
    bad.max_tokens = Some(0);
    assert!(matches!(llm.drive(bad), Err(Error::InvalidInput { .. })));
    keel.close().await;
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driven_probe_that_answers_closes_the_circuit() {
    let provider = Loopback::start().await.unwrap();
    let keel = Keel::connect(&common::fresh_sqlite_url()).await.unwrap();
    let fast = RouterOptions {
        breaker: BreakerConfig {
            cooldown: Duration::from_millis(200),
            ..BreakerConfig::default()
        },
        ..RouterOptions::default()
    };
    let llm = setup_with(&keel, &provider, fast, |o| {
        o.transports.insert("anthropic", Arc::new(Unused));
    })
    .await;
    let router = llm.router();
    while router
        .record_failure("anthropic", PRIMARY, FailureKind::ServerError)
        .await
        != Transition::Opened
    {}
    // Once the cooldown is over, this process claims the probe and a later call serves it;
    // calls meanwhile go to the fallback, which has no transport, and are handed back.
    let started = std::time::Instant::now();
    let mut probe = loop {
        assert!(started.elapsed() < Duration::from_secs(10), "no probe");
        if let Driven::Call(call) = llm.drive(ask(None)).unwrap() {
            break call;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(probe.transport_request().unwrap().model, PRIMARY);
    let reply = success(WireKind::Anthropic, PRIMARY, "the probe answered");
    assert!(probe.settle_transport(Ok(reply)).unwrap().is_some());
    // The success report runs on Keel's runtime, after the call returned.
    let state = || async {
        let keel::Pool::Sqlite(lite) = keel.pool().unwrap() else {
            unreachable!("SQLite")
        };
        sqlx::query_scalar::<_, String>("SELECT state FROM model_health WHERE model_id = ?")
            .bind(PRIMARY)
            .fetch_one(lite)
            .await
            .unwrap()
    };
    let started = std::time::Instant::now();
    while state().await != "closed" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still {}",
            state().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    keel.close().await;
}
