//! Dead letters on both backends: enqueued once per key with ids as given, leased with fencing
//! (a worker whose lease ran out changes nothing), failed with backoff until abandoned,
//! redriven, replayed by in-process and HTTP handlers (202 is accepted, not done; the
//! idempotency key is the same on every retry); and four OS processes working 10,000 letters
//! while one is killed with SIGKILL: every letter is resolved exactly once.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::json;
use uuid::Uuid;

use common::{fresh_url, on_each_backend};
use keel::Keel;
use keel::runner::{
    DeadLetters, ErrorKind, Failed, Failure, Handled, HttpHandler, LetterQuery, LetterStatus,
    NewDeadLetter, RetryFailure, Worker, WorkerOptions,
};
use keel::store::Backend;

fn letter(agent: &str) -> NewDeadLetter {
    NewDeadLetter {
        agent_name: agent.into(),
        trigger_type: Some("cron".into()),
        payload: json!({"deal": "Acme", "n": 1}),
        org_id: Some("system".into()),
        user_id: Some(Uuid::new_v4().to_string()),
        errors: vec![Failed {
            at: "2026-12-03T10:00:00.000Z".into(),
            kind: ErrorKind::Transient,
            message: "HTTP 503 from the provider".into(),
            status: Some(503),
            attempt: 1,
            worker: None,
        }],
        delay_ms: Some(0),
        ..NewDeadLetter::default()
    }
}

/// The letters a claim by `worker` leased (at most 10).
async fn leased(
    letters: &DeadLetters,
    worker: &str,
    lease: Duration,
) -> Vec<keel::runner::Claimed> {
    letters.claim(worker, None, 10, lease).await.unwrap().leased
}

fn options(lease_ms: u64) -> WorkerOptions {
    WorkerOptions {
        lease_ms,
        backoff: keel::runner::Backoff {
            base_ms: 0,
            cap_ms: 0,
            ..keel::runner::Backoff::DEAD_LETTER
        },
        seed: Some(7),
        ..WorkerOptions::default()
    }
}

#[tokio::test]
async fn letters_are_stored_once_per_key_with_ids_as_given() {
    on_each_backend(|backend, keel| async move {
        let letters = DeadLetters::open(&keel);
        let mut new = letter("deal-risk");
        new.idempotency_key = Some("run-1".into());
        let first = letters.enqueue(&new, 60_000).await.unwrap();
        let again = letters.enqueue(&new, 60_000).await.unwrap();
        assert_eq!(first.id, again.id, "{backend:?}");
        assert_eq!(first.org_id.as_deref(), Some("system"));
        assert_eq!(first.user_id, new.user_id);
        assert_eq!(first.status, LetterStatus::Pending);
        assert_eq!(first.error_kind, Some(ErrorKind::Transient));
        assert_eq!(first.errors, new.errors);
        assert_eq!(first.payload, json!({"deal": "Acme", "n": 1}));
        assert_eq!(first.max_retries, 3);
        let listed = letters
            .list(&LetterQuery {
                org_id: Some("system".into()),
                status: vec![LetterStatus::Pending],
                ..LetterQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "{backend:?}");
        for (bad, field) in [
            (
                NewDeadLetter {
                    agent_name: " ".into(),
                    ..letter("x")
                },
                "agent_name",
            ),
            (
                NewDeadLetter {
                    errors: vec![],
                    ..letter("x")
                },
                "errors",
            ),
            (
                NewDeadLetter {
                    trace_id: Some("nope".into()),
                    ..letter("x")
                },
                "trace_id",
            ),
            (
                NewDeadLetter {
                    max_retries: Some(101),
                    ..letter("x")
                },
                "max_retries",
            ),
            (
                NewDeadLetter {
                    max_retries: Some(0),
                    ..letter("x")
                },
                "max_retries",
            ),
            (
                NewDeadLetter {
                    delay_ms: Some(31 * 24 * 3_600_000),
                    ..letter("x")
                },
                "delay_ms",
            ),
            (
                NewDeadLetter {
                    errors: vec![Failed {
                        at: "yesterday".into(),
                        ..letter("x").errors[0].clone()
                    }],
                    ..letter("x")
                },
                "errors[0].at",
            ),
        ] {
            let err = letters.enqueue(&bad, 0).await.unwrap_err();
            assert_eq!(err.field(), Some(field), "{backend:?}");
        }
        let bare = NewDeadLetter {
            payload: serde_json::Value::Null,
            ..letter("bare")
        };
        assert_eq!(letters.enqueue(&bare, 0).await.unwrap().payload, json!({}));
        let missing = letters.get(Uuid::new_v4()).await.unwrap_err();
        assert_eq!(
            (missing.code(), missing.field()),
            ("invalid_input", Some("id"))
        );
    })
    .await;
}

#[tokio::test]
async fn a_worker_whose_lease_ran_out_changes_nothing() {
    on_each_backend(|backend, keel| async move {
        let letters = DeadLetters::open(&keel);
        let stored = letters.enqueue(&letter("a"), 0).await.unwrap();
        let lease = Duration::from_millis(1_000);
        let first = leased(&letters, "w1", lease).await;
        assert_eq!(first.len(), 1);
        assert!(leased(&letters, "w2", lease).await.is_empty());
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let second = leased(&letters, "w2", lease).await;
        assert_eq!(
            second.len(),
            1,
            "{backend:?}: the expired lease is claimed again"
        );
        let (old, new) = (first[0].token, second[0].token);
        assert!(new > old);
        assert!(!letters.extend(stored.id, old, lease).await.unwrap());
        assert!(!letters.complete(stored.id, old).await.unwrap());
        let failed = RetryFailure {
            kind: ErrorKind::Transient,
            message: "late".into(),
            status: None,
            abandon: None,
        };
        assert!(
            letters
                .fail(stored.id, old, "w1", &failed, 0)
                .await
                .unwrap()
                .is_none()
        );
        let late = letters.complete_all(&[(stored.id, old)]).await.unwrap();
        assert!(late.is_empty(), "{backend:?}");
        assert_eq!(
            letters.complete_all(&[(stored.id, new)]).await.unwrap(),
            vec![stored.id]
        );
        let done = letters.get(stored.id).await.unwrap();
        assert_eq!(done.status, LetterStatus::Resolved, "{backend:?}");
        assert_eq!(done.retry_count, 2);
        let last = done.errors.last().unwrap();
        assert_eq!(last.kind, ErrorKind::Timeout);
        assert_eq!(last.worker.as_deref(), Some("w1"));
        assert!(
            last.message.contains("lease of w1 ran out"),
            "{}",
            last.message
        );
    })
    .await;
}

#[tokio::test]
async fn a_lease_that_runs_out_on_the_last_retry_abandons_the_letter() {
    on_each_backend(|backend, keel| async move {
        let letters = DeadLetters::open(&keel);
        let mut new = letter("c");
        new.max_retries = Some(1);
        let stored = letters.enqueue(&new, 0).await.unwrap();
        let lease = Duration::from_millis(100);
        assert_eq!(leased(&letters, "w1", lease).await.len(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let claim = letters.claim("w2", None, 5, lease).await.unwrap();
        assert!(claim.leased.is_empty(), "{backend:?}");
        assert_eq!(claim.abandoned.len(), 1, "{backend:?}");
        let gone = letters.get(stored.id).await.unwrap();
        assert_eq!(gone.status, LetterStatus::Abandoned);
        assert_eq!(
            gone.abandoned_reason.as_deref(),
            Some("the lease ran out on the last retry")
        );
        assert_eq!(gone.retry_count, 1);
        assert_eq!(gone.errors.last().unwrap().worker.as_deref(), Some("w1"));
    })
    .await;
}

#[tokio::test]
async fn purge_deletes_only_letters_resolved_long_ago() {
    on_each_backend(|backend, keel| async move {
        let letters = DeadLetters::open(&keel);
        let old = letters.enqueue(&letter("old"), 0).await.unwrap();
        let recent = letters.enqueue(&letter("recent"), 0).await.unwrap();
        let open = letters.enqueue(&letter("open"), 60_000).await.unwrap();
        for id in [old.id, recent.id] {
            letters.resolve(id).await.unwrap();
        }
        // Age one resolution by years, as time would.
        let age = "UPDATE agent_dead_letters SET resolved_at = '2020-01-01T00:00:00.000Z'";
        match keel.pool().unwrap() {
            keel::Pool::Postgres(pg) => {
                sqlx::query(&format!("{age} WHERE id = $1::uuid"))
                    .bind(old.id.to_string())
                    .execute(pg)
                    .await
                    .unwrap();
            }
            keel::Pool::Sqlite(lite) => {
                sqlx::query(&format!("{age} WHERE id = $1"))
                    .bind(old.id.to_string())
                    .execute(lite)
                    .await
                    .unwrap();
            }
        }
        assert_eq!(letters.purge(30).await.unwrap(), 1, "{backend:?}");
        assert_eq!(letters.get(old.id).await.unwrap_err().field(), Some("id"));
        assert_eq!(
            letters.get(recent.id).await.unwrap().status,
            LetterStatus::Resolved
        );
        assert_eq!(
            letters.get(open.id).await.unwrap().status,
            LetterStatus::Pending
        );
        assert_eq!(letters.purge(0).await.unwrap_err().field(), Some("days"));
    })
    .await;
}

#[tokio::test]
async fn failures_back_off_then_abandon_and_redrive_starts_over() {
    on_each_backend(|backend, keel| async move {
        let letters = DeadLetters::open(&keel);
        let mut new = letter("b");
        new.max_retries = Some(2);
        let stored = letters.enqueue(&new, 0).await.unwrap();
        let lease = Duration::from_secs(10);
        let failed = RetryFailure {
            kind: ErrorKind::RateLimited,
            message: "429".into(),
            status: Some(429),
            abandon: None,
        };
        let c = leased(&letters, "w", lease).await.remove(0);
        let after = letters
            .fail(stored.id, c.token, "w", &failed, 60_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.status, LetterStatus::Pending, "{backend:?}");
        assert!(after.next_retry_at > after.updated_at);
        assert!(leased(&letters, "w", lease).await.is_empty(), "not due yet");
        letters.retry(stored.id).await.unwrap();
        let c = leased(&letters, "w", lease).await.remove(0);
        let gone = letters
            .fail(stored.id, c.token, "w", &failed, 0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(gone.status, LetterStatus::Abandoned, "{backend:?}");
        assert_eq!(
            gone.abandoned_reason.as_deref(),
            Some("retries exhausted (2 of 2)")
        );
        assert_eq!(gone.errors.len(), 3);
        assert_eq!(gone.errors[2].status, Some(429));
        assert_eq!(gone.errors[2].worker.as_deref(), Some("w"));
        let err = letters.retry(stored.id).await.unwrap_err();
        assert_eq!(err.field(), Some("id"));
        let back = letters.redrive(stored.id).await.unwrap();
        assert_eq!((back.status, back.retry_count), (LetterStatus::Pending, 0));
        assert_eq!(back.errors.len(), 3, "history is kept");
        let dropped = letters
            .abandon(stored.id, "operator: duplicate")
            .await
            .unwrap();
        assert_eq!(
            dropped.abandoned_reason.as_deref(),
            Some("operator: duplicate")
        );
    })
    .await;
}

#[tokio::test]
async fn the_worker_retries_transient_failures_and_abandons_validation_at_once() {
    on_each_backend(|backend, keel| async move {
        let letters = DeadLetters::open(&keel);
        let flaky = letters.enqueue(&letter("flaky"), 0).await.unwrap();
        let broken = letters.enqueue(&letter("broken"), 0).await.unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let worker = Worker::new(letters.clone(), options(3_000))
            .unwrap()
            .handle(
                "flaky",
                Arc::new(move |_letter: keel::runner::DeadLetter| {
                    let n = counted.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n == 0 {
                            Err(Failure {
                                status: Some(503),
                                message: "upstream".into(),
                                ..Failure::default()
                            })
                        } else {
                            Ok(Handled::Done)
                        }
                    }
                }),
            )
            .handle(
                "broken",
                Arc::new(|_letter: keel::runner::DeadLetter| async {
                    Err(Failure {
                        status: Some(422),
                        message: "missing deal".into(),
                        ..Failure::default()
                    })
                }),
            );
        let first = worker.run_once().await.unwrap();
        assert_eq!(
            (first.claimed, first.retrying, first.abandoned),
            (2, 1, 1),
            "{backend:?}"
        );
        let second = worker.run_once().await.unwrap();
        assert_eq!((second.claimed, second.resolved), (1, 1), "{backend:?}");
        assert_eq!(
            letters.get(flaky.id).await.unwrap().status,
            LetterStatus::Resolved
        );
        let gone = letters.get(broken.id).await.unwrap();
        assert_eq!(gone.status, LetterStatus::Abandoned);
        assert_eq!(
            gone.abandoned_reason.as_deref(),
            Some("a validation failure is not retried")
        );
        assert_eq!(gone.error_kind, Some(ErrorKind::Validation));
    })
    .await;
}

#[tokio::test]
async fn a_hanging_handler_is_cut_by_its_timeout() {
    on_each_backend(|backend, keel| async move {
        let letters = DeadLetters::open(&keel);
        let stored = letters.enqueue(&letter("slow"), 0).await.unwrap();
        let worker = Worker::new(
            letters.clone(),
            WorkerOptions {
                handler_timeout_ms: 100,
                ..options(3_000)
            },
        )
        .unwrap()
        .handle_all(Arc::new(|_l: keel::runner::DeadLetter| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Handled::Done)
        }));
        let report = worker.run_once().await.unwrap();
        assert_eq!(report.retrying, 1, "{backend:?}");
        let after = letters.get(stored.id).await.unwrap();
        assert_eq!(after.status, LetterStatus::Pending);
        assert_eq!(after.error_kind, Some(ErrorKind::Timeout));
    })
    .await;
}

/// A replay endpoint answering each request with the next of `script` (then 200), recording
/// each request's idempotency key.
async fn replay_server(script: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let seen = keys.clone();
    let script = Arc::new(Mutex::new(script.into_iter()));
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let (keys, script) = (seen.clone(), script.clone());
        async move {
            let key = headers
                .get("idempotency-key")
                .map(|v| v.to_str().unwrap().to_owned());
            keys.lock().unwrap().push(key.unwrap_or_default());
            let (status, retry_after) = script.lock().unwrap().next().unwrap_or((200, ""));
            let mut reply =
                axum::response::Response::builder().status(StatusCode::from_u16(status).unwrap());
            if !retry_after.is_empty() {
                reply = reply.header("retry-after", retry_after);
            }
            reply
                .body(axum::body::Body::from(
                    r#"{"error":{"type":"overloaded_error"}}"#,
                ))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/replay", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, keys)
}

#[tokio::test]
async fn http_replays_keep_one_key_and_202_is_accepted_not_done() {
    on_each_backend(|backend, keel| async move {
        let letters = DeadLetters::open(&keel);
        let stored = letters.enqueue(&letter("orchestrator"), 0).await.unwrap();
        let (url, keys) = replay_server(vec![(503, "0"), (202, "")]).await;
        let handler = HttpHandler::new(keel.http().clone(), &url, Default::default()).unwrap();
        let worker = Worker::new(letters.clone(), options(3_000))
            .unwrap()
            .handle_all(Arc::new(handler));
        assert_eq!(worker.run_once().await.unwrap().retrying, 1, "{backend:?}");
        assert_eq!(worker.run_once().await.unwrap().accepted, 1, "{backend:?}");
        let waiting = letters.get(stored.id).await.unwrap();
        assert_eq!(waiting.status, LetterStatus::Accepted);
        assert!(
            worker.run_once().await.unwrap().claimed == 0,
            "accepted waits"
        );
        let done = letters.resolve(stored.id).await.unwrap();
        assert_eq!(done.status, LetterStatus::Resolved);
        let keys = keys.lock().unwrap().clone();
        assert_eq!(keys, vec![format!("dlq:{}", stored.id); 2], "{backend:?}");
        assert_eq!(done.errors.last().unwrap().status, Some(503));
    })
    .await;
}

#[tokio::test]
async fn bad_worker_options_are_refused_by_field() {
    let keel = Keel::connect("sqlite::memory:").await.unwrap();
    let letters = DeadLetters::open(&keel);
    for (options, field) in [
        (
            WorkerOptions {
                batch: 0,
                ..WorkerOptions::default()
            },
            "batch",
        ),
        (
            WorkerOptions {
                lease_ms: 0,
                ..WorkerOptions::default()
            },
            "lease_ms",
        ),
        (
            WorkerOptions {
                heartbeat_ms: Some(20_000),
                ..WorkerOptions::default()
            },
            "heartbeat_ms",
        ),
    ] {
        assert_eq!(
            Worker::new(letters.clone(), options).unwrap_err().field(),
            Some(field)
        );
    }
    let idle = Worker::new(letters, WorkerOptions::default()).unwrap();
    assert_eq!(idle.run_once().await.unwrap_err().field(), Some("handler"));
}

/// In a child: works letters until none is open; the victim kills itself with SIGKILL while
/// holding its first batch.
async fn work_as_child(url: &str) {
    let keel = Keel::connect(url).await.unwrap();
    let letters = DeadLetters::open(&keel);
    common::wait_for_start().await;
    let victim = std::env::var("KEEL_CHILD_VICTIM").is_ok();
    let worker = Worker::new(
        letters.clone(),
        WorkerOptions {
            batch: 50,
            ..options(2_000)
        },
    )
    .unwrap()
    .handle_all(Arc::new(move |_l: keel::runner::DeadLetter| async move {
        if victim {
            let pid = std::process::id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid])
                .status();
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Ok(Handled::Done)
    }));
    let mut resolved = 0;
    let open = LetterQuery {
        status: vec![LetterStatus::Pending, LetterStatus::Retrying],
        limit: 1,
        ..LetterQuery::default()
    };
    loop {
        let report = worker.run_once().await.unwrap();
        resolved += report.resolved;
        assert_eq!(report.lost, 0);
        if report.claimed == 0 {
            if letters.list(&open).await.unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!("KEEL_CHILD resolved={resolved}");
    keel.close().await;
}

/// Four processes work the letters; one is killed with SIGKILL mid-batch. Every letter is
/// resolved, and the resolutions the three others report add up to the letters: none twice,
/// the victim's batch re-leased once its lease ran out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_resolve_every_letter_once_though_one_is_killed() {
    if let Ok(url) = std::env::var("KEEL_CHILD_URL") {
        return work_as_child(&url).await;
    }
    for (backend, count) in [(Backend::Sqlite, 1_000), (Backend::Postgres, 10_000)] {
        let url = fresh_url(backend).await;
        let keel = Keel::connect(&url).await.unwrap();
        let letters = DeadLetters::open(&keel);
        let batch: Vec<_> = (0..count).map(|_| letter("fleet")).collect();
        for chunk in batch.chunks(500) {
            futures_util::future::try_join_all(chunk.iter().map(|l| letters.enqueue(l, 0)))
                .await
                .unwrap();
        }
        let reports = run_children_allowing_a_kill(&url);
        let resolved: u64 = reports
            .iter()
            .map(|r| r.trim_start_matches("resolved=").parse::<u64>().unwrap())
            .sum();
        assert_eq!(resolved, count as u64, "{backend:?}: {reports:?}");
        let left = letters
            .list(&LetterQuery {
                status: vec![
                    LetterStatus::Pending,
                    LetterStatus::Retrying,
                    LetterStatus::Abandoned,
                ],
                ..LetterQuery::default()
            })
            .await
            .unwrap();
        assert!(
            left.is_empty(),
            "{backend:?}: {} letters not resolved",
            left.len()
        );
        keel.close().await;
    }
}

/// The victim first: it claims a batch while every letter is due and kills itself holding it
/// (it must die by SIGKILL); then three workers at once, which take the rest and, once its
/// lease runs out, the victim's batch. Their reports.
fn run_children_allowing_a_kill(url: &str) -> Vec<String> {
    let test = "four_processes_resolve_every_letter_once_though_one_is_killed";
    let env = [("KEEL_CHILD_URL", url.to_owned())];
    let victim = common::spawn_children(
        test,
        1,
        &[env[0].clone(), ("KEEL_CHILD_VICTIM", "1".into())],
    );
    for child in victim {
        use std::os::unix::process::ExitStatusExt;
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.signal(), Some(9), "the victim died by SIGKILL");
    }
    common::spawn_children(test, 3, &env)
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "a worker failed");
            common::child_report(&out)
        })
        .collect()
}

/// With default settings (15 s lease, 1 s poll), a letter held by a worker that crashed is
/// running again within 30 s: here a claim that is never completed stands for the crash.
#[tokio::test]
async fn a_crashed_workers_letter_runs_again_within_30_s_with_defaults() {
    let keel = Keel::connect(&fresh_url(Backend::Sqlite).await)
        .await
        .unwrap();
    let letters = DeadLetters::open(&keel);
    let stored = letters.enqueue(&letter("crash"), 0).await.unwrap();
    let defaults = WorkerOptions::default();
    let lease = Duration::from_millis(defaults.lease_ms);
    let crashed = letters
        .claim("crashed", None, defaults.batch, lease)
        .await
        .unwrap();
    assert_eq!(crashed.leased.len(), 1);
    let started = std::time::Instant::now();
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = ran.clone();
    let survivor = Worker::new(letters.clone(), WorkerOptions::default())
        .unwrap()
        .handle_all(Arc::new(move |_l: keel::runner::DeadLetter| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok(Handled::Done) }
        }));
    let watched = letters.clone();
    let report = survivor
        .run(async move {
            while watched.get(stored.id).await.unwrap().status != LetterStatus::Resolved {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!((report.resolved, ran.load(Ordering::SeqCst)), (1, 1));
    assert!(
        took <= Duration::from_secs(30),
        "running again after {took:?}"
    );
    eprintln!("a crashed worker's letter ran again after {took:?}");
}
