//! Agent runs on both backends: classified retries, completed steps skipped on retry, a hung
//! executor cut by its timeout, budgets that stop at a step with partial results, idempotency
//! keys, cancellation, the `invoke_agent` span, one `agent_executions` row per run (raw ids
//! kept), the sweeper, and a run that fails for good becoming a dead letter that a redrive
//! completes without repeating its committed steps.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use common::llm::{PRIMARY, ask, funded, setup};
use common::loopback::Loopback;
use common::on_each_backend;
use keel::Keel;
use keel::runner::{
    AgentConfig, AgentContext, Cancel, DeadLetters, ErrorKind, Failure, Handled, RunOptions,
    RunQuery, RunStatus, Runs, SweepOptions, Worker, WorkerOptions, run_agent,
};

/// A config whose retries do not wait.
fn quick(agent: &str) -> AgentConfig {
    let policy = serde_json::from_value(json!({"kinds": {
        "transient": {"max_attempts": 3, "backoff": {"base_ms": 0, "cap_ms": 0}},
        "timeout": {"max_attempts": 2, "backoff": {"base_ms": 0, "cap_ms": 0}},
        "unknown": {"max_attempts": 2, "backoff": {"base_ms": 0, "cap_ms": 0}},
    }}))
    .unwrap();
    AgentConfig {
        policy,
        ..AgentConfig::new(agent)
    }
}

fn http(status: u16) -> Failure {
    Failure {
        message: format!("HTTP {status} from upstream"),
        status: Some(status),
        ..Failure::default()
    }
}

async fn row(keel: &Keel, id: Uuid) -> keel::runner::Execution {
    let runs = Runs::open(keel);
    runs.flush().await;
    runs.get(id).await.unwrap()
}

/// The metadata of the run span of `trace`, as stored.
async fn span_metadata(keel: &Keel, trace: Uuid) -> String {
    let statement = format!(
        "SELECT metadata::text FROM system_logs WHERE trace_id = '{trace}' AND action LIKE 'invoke_agent %'"
    );
    match keel.pool().unwrap() {
        keel::Pool::Sqlite(p) => {
            sqlx::query_scalar(&statement.replace("::text", ""))
                .fetch_one(p)
                .await
        }
        keel::Pool::Postgres(p) => sqlx::query_scalar(&statement).fetch_one(p).await,
    }
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_and_the_run_is_recorded_once() {
    on_each_backend(|backend, keel| async move {
        let calls = Arc::new(AtomicU32::new(0));
        let config = AgentConfig {
            user_id: Some("system".into()),
            org_id: Some("system".into()),
            execution_type: "pipeline_stage".into(),
            triggered_by: Some("cron".into()),
            ..quick("deal-risk-scan")
        };
        let seen = calls.clone();
        let result = keel
            .run_agent(config, move |ctx: AgentContext| {
                let seen = seen.clone();
                async move {
                    ctx.add_items(2, 5);
                    ctx.add_credits(0.5);
                    ctx.add_credits(-3.0);
                    match seen.fetch_add(1, Ordering::SeqCst) {
                        0 => Err(http(503)),
                        _ => Ok(json!({"scored": 5, "attempt": ctx.attempt()})),
                    }
                }
            })
            .await
            .unwrap();
        assert!(result.success, "{backend:?}: {result:?}");
        assert_eq!(result.data, Some(json!({"scored": 5, "attempt": 2})));
        assert_eq!((result.attempts, result.retries_used), (2, 1));
        assert_eq!(result.errors.len(), 1);
        assert_eq!(result.errors[0].kind, ErrorKind::Transient);
        assert_eq!(result.errors[0].status, Some(503));
        assert_eq!(result.credits_consumed, 1.0, "negative credits are ignored");
        let row = row(&keel, result.execution_id).await;
        assert_eq!(row.status, RunStatus::Completed, "{backend:?}");
        assert_eq!(row.attempts, 2);
        assert_eq!((row.items_emitted, row.items_processed), (4, 10));
        assert_eq!(row.credits_consumed, 1.0);
        assert_eq!(row.execution_type, "pipeline_stage");
        assert_eq!(row.triggered_by.as_deref(), Some("cron"));
        assert_eq!(row.user_id.as_deref(), Some("system"), "raw ids are kept");
        assert_eq!(row.org_id.as_deref(), Some("system"));
        assert_eq!(row.error_history.len(), 1);
        assert!(row.completed_at.is_some() && row.deadline_at.is_some());
        let all = Runs::open(&keel)
            .list(&RunQuery {
                agent_name: Some("deal-risk-scan".into()),
                ..RunQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "one row per run, whatever its attempts");

        keel.log_sink().flush().await;
        let trace = keel.trace(result.trace_id).await.unwrap();
        let run_span = trace
            .iter()
            .find(|e| e.action == "invoke_agent deal-risk-scan")
            .expect("the run's span");
        let metadata: Value =
            serde_json::from_str(&span_metadata(&keel, result.trace_id).await).unwrap();
        assert_eq!(metadata["gen_ai.agent.name"], "deal-risk-scan");
        assert_eq!(metadata["gen_ai.operation.name"], "invoke_agent");
        let attempts: Vec<_> = trace
            .iter()
            .filter(|e| e.action == "agent.attempt")
            .collect();
        assert_eq!(attempts.len(), 2, "{backend:?}: a span per attempt");
        assert!(
            attempts
                .iter()
                .all(|a| a.parent_span_id == run_span.span_id)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_steps_are_skipped_on_retry() {
    on_each_backend(|backend, keel| async move {
        let writes = Arc::new(AtomicU32::new(0));
        let w = writes.clone();
        let result = keel
            .run_agent(quick("crm-sync"), move |ctx: AgentContext| {
                let w = w.clone();
                async move {
                    let id: u32 = ctx
                        .step("write", || async {
                            Ok::<_, Failure>(w.fetch_add(1, Ordering::SeqCst) + 100)
                        })
                        .await?;
                    if ctx.attempt() == 1 {
                        return Err(Failure {
                            message: "connection reset".into(),
                            connection: true,
                            ..Failure::default()
                        });
                    }
                    Ok(id)
                }
            })
            .await
            .unwrap();
        assert!(result.success, "{backend:?}");
        assert_eq!(
            result.data,
            Some(100),
            "the retry got the first write's output"
        );
        assert_eq!(writes.load(Ordering::SeqCst), 1, "the side effect ran once");
        assert_eq!(result.steps["write"], json!(100));
        assert_eq!(
            row(&keel, result.execution_id).await.steps["write"],
            json!(100)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_executor_is_cut_by_its_timeout_and_its_row_does_not_stay_running() {
    on_each_backend(|backend, keel| async move {
        let started = Instant::now();
        let config = AgentConfig {
            attempt_timeout_ms: 100,
            ..quick("hangs")
        };
        let result = keel
            .run_agent(config, |_ctx| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<_, Failure>(1)
            })
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "{backend:?}");
        assert_eq!(result.status, RunStatus::Failed);
        assert_eq!(result.attempts, 2, "timeouts have two attempts");
        assert_eq!(result.error_kind, Some(ErrorKind::Timeout));
        let row = row(&keel, result.execution_id).await;
        assert_eq!(row.status, RunStatus::Failed);
        assert_eq!(row.error_kind, Some(ErrorKind::Timeout));
        assert!(
            result.dead_letter_id.is_some(),
            "a timed-out run is a dead letter"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_finishes_the_step_skips_the_rest_and_keeps_partial_results() {
    on_each_backend(|backend, keel| async move {
        let later = Arc::new(AtomicU32::new(0));
        let l = later.clone();
        let config = AgentConfig {
            budget: Some(1.0),
            allow_partial_results: true,
            ..quick("briefing")
        };
        let result = keel
            .run_agent(config, move |ctx: AgentContext| {
                let l = l.clone();
                async move {
                    let a = ctx
                        .step("gather", || async {
                            ctx.add_credits(1.5);
                            Ok::<_, Failure>(json!(["deal-1", "deal-2"]))
                        })
                        .await?;
                    ctx.step("write", || async {
                        l.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Failure>(json!("written"))
                    })
                    .await?;
                    Ok::<_, Failure>(a)
                }
            })
            .await
            .unwrap();
        assert_eq!(result.status, RunStatus::BudgetExceeded, "{backend:?}");
        assert!(result.partial && !result.success);
        assert_eq!(later.load(Ordering::SeqCst), 0, "the later step never ran");
        assert_eq!(result.steps["gather"], json!(["deal-1", "deal-2"]));
        assert!(!result.steps.contains_key("write"));
        assert_eq!(result.attempts, 1, "a budget stop is not retried");
        assert!(result.dead_letter_id.is_none());
        assert!(result.error.unwrap().contains("limit: 1"));
        let row = row(&keel, result.execution_id).await;
        assert_eq!(row.status, RunStatus::BudgetExceeded);
        assert_eq!(row.credits_consumed, 1.5);

        // Spent before the first attempt: the executor never runs.
        let config = AgentConfig {
            budget: Some(0.0),
            ..quick("briefing")
        };
        let result = keel
            .run_agent(config, |_ctx| async { Ok::<_, Failure>(1) })
            .await
            .unwrap();
        assert_eq!(
            (result.status, result.attempts),
            (RunStatus::BudgetExceeded, 0)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_failures_and_unknown_kinds_are_recorded_never_thrown() {
    on_each_backend(|backend, keel| async move {
        let result = keel
            .run_agent(quick("strict"), |_ctx| async {
                Err::<u32, _>(Failure {
                    message: "invalid_request_error: messages: field required".into(),
                    status: Some(400),
                    ..Failure::default()
                })
            })
            .await
            .unwrap();
        assert_eq!(result.attempts, 1, "{backend:?}: validation is not retried");
        assert_eq!(result.error_kind, Some(ErrorKind::Validation));
        assert!(result.dead_letter_id.is_none(), "it would fail again");

        let result = keel
            .run_agent(quick("odd"), |_ctx| async {
                Err::<u32, _>(Failure {
                    message: "something".into(),
                    kind: Some("cosmic_ray".into()),
                    ..Failure::default()
                })
            })
            .await
            .unwrap();
        assert_eq!(result.error_kind, Some(ErrorKind::Unknown), "{backend:?}");
        assert_eq!(result.attempts, 2);

        let bad = AgentConfig {
            attempt_timeout_ms: 0,
            ..quick("odd")
        };
        let err = keel
            .run_agent(bad, |_ctx| async { Ok::<_, Failure>(1) })
            .await
            .unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("invalid_input", Some("attempt_timeout_ms"))
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_runs_once() {
    on_each_backend(|backend, keel| async move {
        let runs = Arc::new(AtomicU32::new(0));
        let config = AgentConfig {
            idempotency_key: Some("briefing:2026-12-04".into()),
            ..quick("morning-briefing")
        };
        let mut results = Vec::new();
        for _ in 0..2 {
            let r = runs.clone();
            results.push(
                keel.run_agent(config.clone(), move |_ctx| {
                    let r = r.clone();
                    async move { Ok::<_, Failure>(json!({"n": r.fetch_add(1, Ordering::SeqCst)})) }
                })
                .await
                .unwrap(),
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{backend:?}");
        assert!(!results[0].deduplicated && results[1].deduplicated);
        assert_eq!(results[1].data, Some(json!({"n": 0})));
        assert_eq!(results[0].execution_id, results[1].execution_id);
        assert!(results[1].success);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_the_attempt_and_dropping_the_run_fails_its_row() {
    on_each_backend(|backend, keel| async move {
        let cancel = Cancel::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.cancel();
        });
        let options = RunOptions {
            cancel: Some(cancel),
            ..RunOptions::default()
        };
        let result = run_agent(&keel, quick("slow"), options, |_ctx| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, Failure>(1)
        })
        .await
        .unwrap();
        assert_eq!(result.status, RunStatus::Failed, "{backend:?}");
        assert_eq!(result.error.as_deref(), Some("cancelled"));
        assert!(result.dead_letter_id.is_none());

        let k = keel.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            k.run_agent(quick("dropped"), move |ctx: AgentContext| {
                let _ = tx.send(ctx.execution_id());
                async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok::<_, Failure>(1)
                }
            })
            .await
        });
        let id = rx.recv().await.unwrap();
        task.abort();
        let _ = task.await;
        let row = row(&keel, id).await;
        assert_eq!(row.status, RunStatus::Failed, "{backend:?}");
        assert!(row.error_message.unwrap().starts_with("cancelled"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_fails_runs_left_running_past_their_deadline() {
    on_each_backend(|backend, keel| async move {
        // A process that died mid-run: its row says running, its deadline passed.
        let dead = Uuid::new_v4();
        let stale = Uuid::new_v4();
        let live = Uuid::new_v4();
        let insert = |id: Uuid, started: &str, deadline: Option<&str>| {
            format!(
                "INSERT INTO agent_executions (id, agent_name, execution_type, started_at, deadline_at)
                 VALUES ('{id}', 'crashed', 'fleet_agent', '{started}', {})",
                deadline.map_or("NULL".into(), |d| format!("'{d}'"))
            )
        };
        let now = chrono::Utc::now();
        let at = |mins: i64| (now + chrono::Duration::minutes(mins)).to_rfc3339();
        for statement in [
            insert(dead, &at(-30), Some(&at(-20))),
            insert(stale, &at(-120), None),
            insert(live, &at(-1), Some(&at(9))),
        ] {
            match keel.pool().unwrap() {
                keel::Pool::Sqlite(p) => sqlx::query(&statement).execute(p).await.map(|_| ()),
                keel::Pool::Postgres(p) => sqlx::query(&statement).execute(p).await.map(|_| ()),
            }
            .unwrap();
        }
        let runs = Runs::open(&keel);
        assert_eq!(runs.sweep(SweepOptions::default()).await.unwrap(), 2, "{backend:?}");
        assert_eq!(runs.get(dead).await.unwrap().status, RunStatus::Failed);
        assert_eq!(runs.get(stale).await.unwrap().error_kind, Some(ErrorKind::Timeout));
        assert_eq!(runs.get(live).await.unwrap().status, RunStatus::Running);
        assert_eq!(runs.sweep(SweepOptions::default()).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_run_becomes_a_dead_letter_whose_redrive_skips_its_steps() {
    on_each_backend(|backend, keel| async move {
        let charges = Arc::new(AtomicU32::new(0));
        let config = AgentConfig {
            payload: json!({"deal": "Acme"}),
            org_id: Some("system".into()),
            trigger_type: Some("cron".into()),
            ..quick("deal-risk-batch")
        };
        let c = charges.clone();
        let result = keel
            .run_agent(config, move |ctx: AgentContext| {
                let c = c.clone();
                async move {
                    ctx.step("charge", || async {
                        Ok::<_, Failure>(c.fetch_add(1, Ordering::SeqCst))
                    })
                    .await?;
                    Err::<Value, _>(http(502))
                }
            })
            .await
            .unwrap();
        assert_eq!(result.attempts, 3, "{backend:?}: transient has three");
        let id = result.dead_letter_id.expect("a dead letter");
        let letters = DeadLetters::open(&keel);
        let letter = letters.get(id).await.unwrap();
        assert_eq!(letter.errors.len(), 3);
        assert_eq!(letter.payload, json!({"deal": "Acme"}));
        assert_eq!(letter.trigger_type, "cron");
        assert_eq!(letter.org_id.as_deref(), Some("system"));
        assert_eq!(letter.steps["charge"], json!(0));
        assert_eq!(
            row(&keel, result.execution_id).await.metadata["dead_letter_id"],
            json!(id.to_string())
        );

        // The retry worker replays the letter through a handler that runs the agent again
        // with the letter's steps: the charge is not repeated.
        letters.retry(id).await.unwrap();
        let k = keel.clone();
        let c = charges.clone();
        let worker = Worker::new(letters.clone(), WorkerOptions::default())
            .unwrap()
            .handle(
                "deal-risk-batch",
                Arc::new(move |letter: keel::runner::DeadLetter| {
                    let (k, c) = (k.clone(), c.clone());
                    async move {
                        let config = AgentConfig {
                            steps: letter.steps.clone(),
                            dead_letter: false,
                            ..quick("deal-risk-batch")
                        };
                        let again = k
                            .run_agent(config, move |ctx: AgentContext| {
                                let c = c.clone();
                                async move {
                                    let n: u32 = ctx
                                        .step("charge", || async {
                                            Ok::<_, Failure>(c.fetch_add(1, Ordering::SeqCst))
                                        })
                                        .await?;
                                    Ok::<_, Failure>(n)
                                }
                            })
                            .await
                            .map_err(|e| Failure::from(&e))?;
                        match again.success {
                            true => Ok(Handled::Done),
                            false => Err(Failure {
                                message: again.error.unwrap_or_default(),
                                ..Failure::default()
                            }),
                        }
                    }
                }),
            );
        let report = worker.run_once().await.unwrap();
        assert_eq!(report.resolved, 1, "{backend:?}: {report:?}");
        assert_eq!(
            charges.load(Ordering::SeqCst),
            1,
            "the charge ran once in all"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_model_client_puts_model_tokens_and_credits_on_the_row() {
    on_each_backend(|backend, keel| async move {
        let provider = Loopback::start().await.unwrap();
        let llm = setup(&keel, &provider, |_| {}).await;
        let org = funded(&llm).await;
        let config = AgentConfig {
            org_id: Some(org.to_string()),
            ..quick("meeting-prep")
        };
        let options = RunOptions {
            llm: Some(llm.clone()),
            ..RunOptions::default()
        };
        let result = run_agent(&keel, config, options, |ctx: AgentContext| async move {
            let done = ctx
                .complete(ask(None))
                .await
                .map_err(|e| Failure::from(&e))?;
            Ok::<_, Failure>(done.text)
        })
        .await
        .unwrap();
        assert!(result.success, "{backend:?}: {result:?}");
        assert_eq!(result.credits_consumed, 2.0, "charged to the run's org");
        assert_eq!(result.tokens_consumed, 15);
        let row = row(&keel, result.execution_id).await;
        assert_eq!(row.model_id.as_deref(), Some(PRIMARY));
        assert!(!row.model_was_fallback);
        assert_eq!((row.tokens_consumed, row.credits_consumed), (15, 2.0));

        let bare = keel
            .run_agent(quick("meeting-prep"), |ctx: AgentContext| async move {
                let done = ctx
                    .complete(ask(None))
                    .await
                    .map_err(|e| Failure::from(&e))?;
                Ok::<_, Failure>(done.text)
            })
            .await
            .unwrap();
        assert_eq!(
            bare.error_kind,
            Some(ErrorKind::Validation),
            "{backend:?}: no client"
        );
    })
    .await;
}

/// Four processes start the same keyed run at the same moment: the executor runs once in all,
/// and every other process is answered with that run's result or told it is still running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_with_one_idempotency_key_run_the_agent_once() {
    if let Ok(url) = std::env::var("KEEL_CHILD_URL") {
        let keel = Keel::connect(&url).await.unwrap();
        common::wait_for_start().await;
        let config = AgentConfig {
            idempotency_key: Some("snapshot:2026-W49".into()),
            ..quick("pipeline-snapshot")
        };
        let outcome = keel
            .run_agent(config, |_ctx| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, Failure>(json!({"rows": 7}))
            })
            .await;
        let report = match outcome {
            Ok(r) if r.deduplicated => "answered".to_owned(),
            Ok(r) => format!("ran:{}", r.success),
            Err(e) if e.field() == Some("idempotency_key") => "running".to_owned(),
            Err(e) => format!("error:{e}"),
        };
        println!("KEEL_CHILD {report}");
        keel.close().await;
        return;
    }
    for backend in [keel::Backend::Sqlite, keel::Backend::Postgres] {
        let url = common::fresh_url(backend).await;
        Keel::connect(&url).await.unwrap().close().await;
        let reports = common::run_children(
            "four_processes_with_one_idempotency_key_run_the_agent_once",
            4,
            &[("KEEL_CHILD_URL", url.clone())],
        );
        let ran: Vec<_> = reports.iter().filter(|r| r.starts_with("ran:")).collect();
        assert_eq!(ran, ["ran:true"], "{backend:?}: {reports:?}");
        assert!(
            reports
                .iter()
                .all(|r| ["ran:true", "answered", "running"].contains(&r.as_str())),
            "{reports:?}"
        );
        let keel = Keel::connect(&url).await.unwrap();
        let rows = Runs::open(&keel).list(&RunQuery::default()).await.unwrap();
        assert_eq!(rows.len(), 1, "{backend:?}: one row for the key");
        assert_eq!(rows[0].output, Some(json!({"rows": 7})));
        keel.close().await;
    }
}

/// What the bindings run at exit (`telemetry::flush_all`) writes the runs' rows too, so a
/// script that never closes its handle loses none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_flush_writes_the_runs_rows() {
    let keel = Keel::connect(&common::fresh_url(keel::Backend::Sqlite).await)
        .await
        .unwrap();
    let result = keel
        .run_agent(quick("nightly"), |_ctx| async { Ok::<_, Failure>(1) })
        .await
        .unwrap();
    keel::telemetry::flush_all(Duration::from_secs(10)).await;
    let row = Runs::open(&keel).get(result.execution_id).await.unwrap();
    assert_eq!(row.status, RunStatus::Completed);
}
