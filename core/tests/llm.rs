//! Model calls against a provider on loopback that speaks each wire's documented shapes:
//! request bodies as the server receives them, every error status, fallback and the breaker,
//! credits on both backends, cancellation, and bad input refused before any request.

mod common;

use std::time::Duration;

use common::llm::{PRIMARY, SECOND, THIRD, ask, balance, funded, setup, until_released};
use common::loopback::{Loopback, Scripted, WireKind, error};
use common::on_each_backend;
use keel::Keel;
use keel::llm::{CallRequest, Llm, LlmOptions, Message};
use keel::options::Case;
use serde_json::json;
use uuid::Uuid;

async fn keel_on_sqlite() -> Keel {
    Keel::connect(&common::fresh_sqlite_url()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_wire_sends_the_documented_body_and_reads_the_reply() {
    let provider = Loopback::start().await.unwrap();
    let keel = keel_on_sqlite().await;
    let llm = setup(&keel, &provider, |_| {}).await;
    for (name, model, wire) in [
        ("anthropic", PRIMARY, WireKind::Anthropic),
        ("google", SECOND, WireKind::Gemini),
        ("openai", THIRD, WireKind::OpenAi),
    ] {
        let request = CallRequest::from_value(
            json!({
                "provider": name, "model": model, "system": "be brief", "max_tokens": 64,
                "temperature": 0.5,
                "messages": [{"role": "user", "content": "hello"}]
            }),
            Case::Snake,
        )
        .unwrap();
        let done = llm.complete(&request).await.unwrap();
        assert_eq!(done.text, format!("ok from {model}"));
        assert_eq!((done.usage.input_tokens, done.usage.output_tokens), (10, 5));
        assert_eq!(done.finish_reason.as_str(), "stop");
        assert_eq!(done.attempts.len(), 1);
        let sent = provider.received().pop().unwrap();
        assert_eq!(sent.wire, wire);
        assert_eq!(sent.model, model);
        let key = format!("key-{name}");
        match wire {
            WireKind::Anthropic => {
                assert_eq!(sent.path, "/v1/messages");
                assert_eq!(sent.headers["x-api-key"], key.as_str());
                assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
                assert_eq!(
                    sent.body,
                    json!({"model": model, "max_tokens": 64, "system": "be brief",
                        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
                        "temperature": 0.5})
                );
            }
            WireKind::Gemini => {
                assert_eq!(sent.path, format!("/v1beta/models/{model}:generateContent"));
                assert_eq!(sent.headers["x-goog-api-key"], key.as_str());
                assert_eq!(
                    sent.body,
                    json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]}],
                        "systemInstruction": {"parts": [{"text": "be brief"}]},
                        "generationConfig": {"maxOutputTokens": 64, "temperature": 0.5}})
                );
            }
            WireKind::OpenAi => {
                assert_eq!(sent.path, "/v1/chat/completions");
                assert_eq!(
                    sent.headers["authorization"],
                    format!("Bearer {key}").as_str()
                );
                assert_eq!(
                    sent.body,
                    json!({"model": model, "max_tokens": 64, "temperature": 0.5,
                        "messages": [{"role": "system", "content": "be brief"},
                                     {"role": "user", "content": "hello"}]})
                );
            }
            WireKind::Slack => unreachable!("a model call reached the Slack API"),
        }
    }
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_faults_fall_back_and_charge_the_model_that_answered() {
    on_each_backend(|backend, keel| async move {
        let provider = Loopback::start().await.unwrap();
        let llm = setup(&keel, &provider, |_| {}).await;
        let org = funded(&llm).await;
        provider.script(PRIMARY, [error(WireKind::Anthropic, 500, "boom")]);
        provider.script(
            SECOND,
            [error(WireKind::Gemini, 503, "The model is overloaded.")],
        );
        let done = llm.complete(&ask(Some(org))).await.unwrap();
        let outcomes: Vec<_> = done.attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(
            outcomes,
            ["server_error", "overloaded", "ok"],
            "{backend:?}"
        );
        assert_eq!(
            (done.provider.as_str(), done.model.as_str()),
            ("openai", THIRD)
        );
        assert!(done.was_fallback);
        assert_eq!(
            done.credits_charged, 2.0,
            "{backend:?}: metered at 10 in, 5 out"
        );
        assert_eq!(
            balance(&llm, org).await,
            98.0,
            "{backend:?}: the reservation settled at the charge"
        );
        assert_eq!(
            (
                provider.count(PRIMARY),
                provider.count(SECOND),
                provider.count(THIRD)
            ),
            (1, 1, 1)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_errors_and_refusals_never_fall_back() {
    on_each_backend(|backend, keel| async move {
        let provider = Loopback::start().await.unwrap();
        let llm = setup(&keel, &provider, |_| {}).await;
        let org = funded(&llm).await;
        let cases = [
            (
                error(WireKind::Anthropic, 400, "messages: field required"),
                "provider",
                "client_error",
            ),
            (
                error(WireKind::Anthropic, 401, "invalid x-api-key"),
                "provider",
                "client_error",
            ),
            (
                error(WireKind::Anthropic, 413, "request too large"),
                "context_too_long",
                "context_too_long",
            ),
            (
                error(
                    WireKind::Anthropic,
                    400,
                    "prompt is too long: 250000 tokens > 200000 maximum",
                ),
                "context_too_long",
                "context_too_long",
            ),
            (
                Scripted::Json {
                    status: 200,
                    headers: vec![],
                    body: json!({"type": "message", "role": "assistant", "model": PRIMARY,
                        "content": [], "stop_reason": "refusal",
                        "usage": {"input_tokens": 10, "output_tokens": 5}}),
                },
                "content_refused",
                "content_refused",
            ),
        ];
        let mut expected_balance = 100.0;
        for (reply, code, kind) in cases {
            provider.script(PRIMARY, [reply]);
            let err = llm.complete(&ask(Some(org))).await.unwrap_err();
            assert_eq!(err.code(), code, "{backend:?} {kind}");
            let keel::Error::Call(failure) = err else {
                panic!("{backend:?}: not a call failure")
            };
            assert_eq!(failure.kind.as_str(), kind);
            assert_eq!(failure.attempts.len(), 1, "{backend:?} {kind}: no fallback");
            // A refusal is billed by the provider, so it is charged; the rest are released.
            if kind == "content_refused" {
                expected_balance -= 2.0;
            }
            assert_eq!(
                balance(&llm, org).await,
                expected_balance,
                "{backend:?} {kind}"
            );
        }
        assert_eq!(provider.count(SECOND) + provider.count(THIRD), 0);
        assert!(
            llm.router().open_breakers().is_empty(),
            "caller errors leave the breaker alone"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_timeouts_resets_and_malformed_replies_are_provider_faults() {
    let provider = Loopback::start().await.unwrap();
    let keel = keel_on_sqlite().await;
    let llm = setup(&keel, &provider, |o| {
        o.attempt_timeout = Duration::from_millis(300)
    })
    .await;
    let explicit = |model: &str, provider: &str| CallRequest {
        provider: Some(match provider {
            "anthropic" => "anthropic",
            "google" => "google",
            _ => "openai",
        }),
        model: Some(model.into()),
        ..ask(None)
    };
    let mut limited = error(WireKind::OpenAi, 429, "Rate limit reached");
    if let Scripted::Json { headers, .. } = &mut limited {
        headers.push(("retry-after".into(), "7".into()));
    }
    let cases = [
        (THIRD, "openai", limited, "rate_limited", "rate_limited"),
        (
            PRIMARY,
            "anthropic",
            error(WireKind::Anthropic, 529, "Overloaded"),
            "provider",
            "overloaded",
        ),
        (
            SECOND,
            "google",
            Scripted::Stall(Duration::from_secs(5)),
            "timeout",
            "timeout",
        ),
        (THIRD, "openai", Scripted::Reset, "provider", "connection"),
        (
            THIRD,
            "openai",
            Scripted::Malformed,
            "provider",
            "server_error",
        ),
    ];
    for (model, name, reply, code, kind) in cases {
        provider.script(model, [reply]);
        let started = std::time::Instant::now();
        let err = llm.complete(&explicit(model, name)).await.unwrap_err();
        assert_eq!(err.code(), code, "{kind}");
        let keel::Error::Call(failure) = err else {
            panic!("{kind}: not a call failure")
        };
        assert_eq!(failure.kind.as_str(), kind);
        if kind == "rate_limited" {
            assert_eq!(failure.retry_after_ms, Some(7000));
            assert_eq!(failure.attempts[0].retry_after_ms, Some(7000));
        }
        if kind == "timeout" {
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "the attempt timeout applies"
            );
        }
    }
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_share_one_breaker() {
    let provider = Loopback::start().await.unwrap();
    let keel = keel_on_sqlite().await;
    let llm = setup(&keel, &provider, |_| {}).await;
    provider.script(
        PRIMARY,
        (0..100).map(|_| error(WireKind::Anthropic, 500, "down")),
    );
    let calls: Vec<_> = (0..24)
        .map(|_| {
            let llm = llm.clone();
            tokio::spawn(async move { llm.complete(&ask(None)).await })
        })
        .collect();
    for call in calls {
        let done = call.await.unwrap().unwrap();
        assert_eq!(done.model, SECOND, "every call is answered by the fallback");
    }
    // Reports of failures a fallback answered are written in the background.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !llm
        .router()
        .open_breakers()
        .iter()
        .any(|b| b.model_id == PRIMARY)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the primary's circuit never opened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Once open, calls go straight to the fallback.
    let before = provider.count(PRIMARY);
    let done = llm.complete(&ask(None)).await.unwrap();
    assert_eq!((done.model.as_str(), done.attempts.len()), (SECOND, 1));
    assert_eq!(provider.count(PRIMARY), before);
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_releases_its_credits() {
    on_each_backend(|backend, keel| async move {
        let provider = Loopback::start().await.unwrap();
        let llm = setup(&keel, &provider, |_| {}).await;
        let org = funded(&llm).await;
        provider.script(PRIMARY, [Scripted::Stall(Duration::from_secs(30))]);
        let call = {
            let llm = llm.clone();
            tokio::spawn(async move { llm.complete(&ask(Some(org))).await })
        };
        // Wait until the request is at the provider and the credits are held.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while provider.count(PRIMARY) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the call never reached the provider"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let held = balance(&llm, org).await;
        assert!(
            held < 100.0,
            "{backend:?}: credits are held during the call ({held})"
        );
        call.abort();
        assert!(call.await.unwrap_err().is_cancelled());
        until_released(&llm, org, 100.0).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_and_bad_input_stop_a_call_before_any_request() {
    let provider = Loopback::start().await.unwrap();
    let keel = keel_on_sqlite().await;
    let llm = setup(&keel, &provider, |_| {}).await;
    // An org with no credits: the estimate (100 output tokens at 0.2 each, plus the prompt) is
    // over the 10-credit grace.
    let err = llm.complete(&ask(Some(Uuid::new_v4()))).await.unwrap_err();
    assert_eq!(err.code(), "budget_exceeded");
    // Gemini refuses a conversation that ends on the model's turn.
    let mut request = CallRequest {
        provider: Some("google"),
        model: Some(SECOND.into()),
        ..ask(None)
    };
    request.messages.push(Message::assistant("Sure,"));
    let err = llm.complete(&request).await.unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        ("invalid_input", Some("messages"))
    );
    // A provider with neither a key nor a base URL.
    let bare = Llm::new(llm.router(), LlmOptions::default()).unwrap();
    let request = CallRequest {
        provider: Some("openrouter"),
        model: Some("x".into()),
        ..ask(None)
    };
    if std::env::var("OPENROUTER_API_KEY").is_err() {
        let err = bare.complete(&request).await.unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some("providers.openrouter.api_key"))
        );
    }
    // A request built in Rust is checked too, and its system turns are folded.
    let bad = CallRequest {
        max_tokens: Some(0),
        ..ask(None)
    };
    let err = llm.complete(&bad).await.unwrap_err();
    assert_eq!(
        (err.code(), err.field()),
        ("invalid_input", Some("max_tokens"))
    );
    assert!(provider.received().is_empty(), "nothing was sent");
    let mut with_system = ask(None);
    with_system.messages.insert(
        0,
        Message {
            role: keel::llm::Role::System,
            content: vec![keel::llm::Part::text("be brief")],
        },
    );
    llm.complete(&with_system).await.unwrap();
    let sent = provider.received().pop().unwrap();
    assert_eq!(sent.body["system"], "be brief");
    assert_eq!(sent.body["messages"].as_array().unwrap().len(), 1);
    keel.close().await;
}
