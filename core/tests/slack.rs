//! The Slack Web API client against the loopback's Slack (`cli/src/loopback_slack.rs`), which
//! speaks Slack's documented JSON: the `{ok, error}` envelope, cursor pagination, 429 with
//! `Retry-After`, 5xx.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::loopback::slack::{THREAD_MESSAGES, THREAD_TS as THREAD};
use common::loopback::{Loopback, Scripted};
use keel::Keel;
use keel::channels::slack::{SlackClient, SlackOptions, ingest};
use keel::flow::LocalLimiter;
use serde_json::Value;

const TOKEN: &str = "xoxb-test-secret-token";

/// Slack's `{ok: false, error}` with `status` and a `Retry-After` of `secs`.
fn fail(status: u16, error: &str, secs: Option<&str>) -> Scripted {
    Scripted::Error {
        error: status,
        message: error.into(),
        retry_after: secs.map(str::to_owned),
    }
}

/// The loopback and its Slack API's base URL.
async fn serve() -> (String, Loopback) {
    let loopback = Loopback::start().await.unwrap();
    (format!("{}/api", loopback.base_url), loopback)
}

async fn client(base_url: &str, tune: impl FnOnce(&mut SlackOptions)) -> SlackClient {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let mut options = SlackOptions {
        token: TOKEN.into(),
        base_url: base_url.into(),
        workspace: "T1".into(),
        ..SlackOptions::default()
    };
    tune(&mut options);
    SlackClient::with_limiter(&keel, options, Arc::new(LocalLimiter::default())).unwrap()
}

#[tokio::test]
async fn a_thread_is_read_page_by_page_and_ingested_in_order() {
    let (url, loopback) = serve().await;
    let slack = client(&url, |_| {}).await;
    let mut pages = Vec::new();
    let all = slack
        .replies("C1", THREAD, |n| pages.push(n))
        .await
        .unwrap();
    assert_eq!(pages, [200, 400, THREAD_MESSAGES]);
    let got = ingest(&Value::Array(all), Some("UBOT")).unwrap();
    assert_eq!(got.messages.len(), THREAD_MESSAGES);
    assert_eq!(
        got.messages[THREAD_MESSAGES - 1].text,
        format!("message {}", THREAD_MESSAGES - 1)
    );
    assert_eq!(got.messages[1].role, keel::llm::Role::Assistant);
    let received = loopback.received();
    assert_eq!(received.len(), 3);
    for r in &received {
        let header = |name: &str| r.headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(header("authorization"), format!("Bearer {TOKEN}"));
        assert!(header("content-type").starts_with("application/x-www-form-urlencoded"));
        assert!(
            !r.body.to_string().contains(TOKEN),
            "the token travels in the header only"
        );
    }
    assert_eq!(received[0].body["ts"], THREAD);
    assert_eq!(received[1].body["cursor"], "bmV4dF90czox200");
}

#[tokio::test]
async fn slack_errors_are_typed_and_never_carry_the_token() {
    let (url, loopback) = serve().await;
    let slack = client(&url, |o| o.max_retries = 1).await;
    let err = slack.replies_page("C404", THREAD, None).await.unwrap_err();
    assert_eq!(err.code(), "provider");
    assert!(err.to_string().contains("channel_not_found"), "{err}");
    for shown in [err.to_string(), format!("{err:?}"), format!("{slack:?}")] {
        assert!(!shown.contains(TOKEN), "{shown}");
    }
    let bad_ts = slack
        .replies_page("C1", "yesterday", None)
        .await
        .unwrap_err();
    assert_eq!(
        (bad_ts.code(), bad_ts.field()),
        ("invalid_input", Some("ts"))
    );
    let long = "C".repeat(81);
    let bad_channel = slack
        .post_message(&long, "hi", None, None)
        .await
        .unwrap_err();
    assert_eq!(bad_channel.field(), Some("channel"));

    // A 500 is retried; a 404 that is not Slack's JSON is not.
    loopback.script(
        "users.info",
        [
            fail(500, "internal_error", None),
            Scripted::Json {
                status: 404,
                headers: Vec::new(),
                body: Value::String("<html>".into()),
            },
        ],
    );
    let err = slack.user("U1").await.unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert_eq!(
        loopback.count("users.info"),
        2,
        "the 500 was retried, the 404 was not"
    );
    loopback.script("chat.postMessage", [fail(500, "internal_error", None)]);
    let err = slack
        .post_message("C9", "once", None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider");
    assert_eq!(
        loopback.count("chat.postMessage"),
        1,
        "a write that may have posted is not sent twice"
    );
    let user = slack.user("U1").await.unwrap();
    assert_eq!(
        (user.display_name.as_str(), user.email.as_deref()),
        ("Dana Scully", Some("dana@acme.test"))
    );
}

#[tokio::test]
async fn a_429_storm_is_waited_out_and_no_message_is_lost() {
    let (url, loopback) = serve().await;
    let slack = client(&url, |_| {}).await;
    loopback.script(
        "chat.postMessage",
        [
            fail(429, "ratelimited", Some("1")),
            fail(200, "ratelimited", Some("1")),
        ],
    );
    let started = Instant::now();
    let posted = slack
        .post_message("C1", "Acme is in legal review", Some(THREAD), None)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(2_000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(posted.channel, "C1");
    let received = loopback.received();
    assert_eq!(received.len(), 3, "posted once it was let through");
    assert_eq!(received[2].body["thread_ts"], THREAD);
    assert_eq!(received[2].body["text"], "Acme is in legal review");
    let content_type = received[2]
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );

    // Past the retries: rate_limited, with Slack's wait.
    let (url, loopback) = serve().await;
    let slack = client(&url, |o| o.max_retries = 1).await;
    loopback.script(
        "chat.update",
        [
            fail(429, "ratelimited", Some("1")),
            fail(429, "ratelimited", Some("3")),
        ],
    );
    let err = slack
        .update("C1", THREAD, "edited", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "rate_limited");
    assert_eq!(err.retry_after_ms(), Some(3_000));
}

#[tokio::test]
async fn posting_keeps_one_message_a_second_per_channel() {
    let (url, loopback) = serve().await;
    let slack = client(&url, |_| {}).await;
    let started = Instant::now();
    for channel in ["C1", "C2", "C3"] {
        slack.post_message(channel, "hi", None, None).await.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "other channels wait for nothing"
    );
    slack.post_message("C1", "again", None, None).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(loopback.count("chat.postMessage"), 4);
}

#[tokio::test]
async fn bad_options_name_their_field() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let limiter = Arc::new(LocalLimiter::default());
    for (tune, field) in [
        (
            SlackOptions {
                token: String::new(),
                ..SlackOptions::default()
            },
            "token",
        ),
        (
            SlackOptions {
                token: TOKEN.into(),
                base_url: "http://slack.example/api".into(),
                ..SlackOptions::default()
            },
            "base_url",
        ),
        (
            SlackOptions {
                token: TOKEN.into(),
                max_retries: 99,
                ..SlackOptions::default()
            },
            "max_retries",
        ),
        (
            SlackOptions {
                token: TOKEN.into(),
                timeout_ms: 0,
                ..SlackOptions::default()
            },
            "timeout_ms",
        ),
    ] {
        let err = SlackClient::with_limiter(&keel, tune, limiter.clone()).unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }
}
