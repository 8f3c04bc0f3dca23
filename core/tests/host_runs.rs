//! A run driven by a binding (`HostRun`) and a step whose work the host runs (`HostStep`), on
//! both backends: the loop a binding writes (attempt, wait, claim, finish, done), a step run
//! once across attempts, refused steps that never start their work, and a failed work failing
//! its step.

mod common;

use serde_json::{Value, json};

use common::on_each_backend;
use keel::options::Case;
use keel::runner::{Failure, HostRun, HostStep, RunOptions};

/// A config whose retries do not wait, as a binding passes it.
fn config(agent: &str, more: Value) -> Option<Value> {
    let mut config = json!({
        "agent_name": agent,
        "policy": {"kinds": {"transient": {"max_attempts": 3, "backoff": {"base_ms": 0, "cap_ms": 0}}}},
    });
    config
        .as_object_mut()
        .unwrap()
        .extend(more.as_object().unwrap().clone());
    Some(config)
}

/// Runs `step` with the host doing `work` when core asks it to: whether it ran, and the value.
async fn host_step(step: HostStep, work: Result<Value, Failure>) -> (bool, keel::Result<Value>) {
    let started = step.started().await;
    if started {
        step.tell(work);
    }
    (started, step.result().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_drives_a_run_whose_step_runs_once() {
    on_each_backend(|backend, keel| async move {
        let options = RunOptions::default();
        let run = HostRun::start_value(&keel, config("crm-sync", json!({})), options, Case::Snake)
            .unwrap();
        let mut seen = Vec::new();
        loop {
            let next = run.next().unwrap();
            seen.push(next);
            match next {
                "attempt" => {
                    let ctx = run.context().expect("an attempt has its context");
                    assert!(run.ms() > 0.0, "an attempt has a time limit");
                    assert!(run.context().is_none(), "the context is handed out once");
                    let (ran, value) =
                        host_step(ctx.begin_step("write".into()), Ok(json!({"crm_id": 42}))).await;
                    assert_eq!(
                        ran,
                        ctx.attempt() == 1,
                        "{backend:?}: the work ran on the first attempt only"
                    );
                    assert_eq!(value.unwrap(), json!({"crm_id": 42}));
                    if ctx.attempt() == 1 {
                        run.failed(Failure {
                            message: "connection reset".into(),
                            connection: true,
                            ..Failure::default()
                        })
                        .unwrap();
                    } else {
                        run.succeeded(json!("done")).unwrap();
                    }
                }
                "claim" => run.claim().await.unwrap(),
                "finish" => run.finish().await.unwrap(),
                "wait" => {
                    tokio::time::sleep(std::time::Duration::from_secs_f64(run.ms() / 1e3)).await
                }
                _ => break,
            }
        }
        assert_eq!(
            seen.iter().filter(|n| **n == "attempt").count(),
            2,
            "{seen:?}"
        );
        assert_eq!(seen.last(), Some(&"done"));
        let result = run.result().unwrap();
        assert_eq!(result["status"], "completed", "{backend:?}: {result}");
        assert_eq!(result["steps"], json!({"write": {"crm_id": 42}}));
        assert_eq!(result["errors"][0]["kind"], "transient");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_steps_never_start_and_a_failed_work_fails_its_step() {
    on_each_backend(|backend, keel| async move {
        let more = json!({"budget": 1, "allow_partial_results": true});
        let run = HostRun::start_value(
            &keel,
            config("briefing", more),
            RunOptions::default(),
            Case::Snake,
        )
        .unwrap();
        assert_eq!(
            run.result().unwrap_err().code(),
            "internal",
            "no result before the end"
        );
        let ctx = loop {
            match run.next().unwrap() {
                "claim" => run.claim().await.unwrap(),
                "attempt" => break run.context().unwrap(),
                other => panic!("{other} before the first attempt"),
            }
        };
        // A bad name, then a spent budget: core answers without the host's work.
        let (ran, bad) = host_step(ctx.begin_step(String::new()), Ok(json!(1))).await;
        assert!(!ran);
        assert_eq!(bad.unwrap_err().field(), Some("step"));
        // A work that failed: the step fails with it and is not recorded.
        let failed = Failure {
            message: "host gone".into(),
            ..Failure::default()
        };
        let (ran, gone) = host_step(ctx.begin_step("gather".into()), Err(failed)).await;
        assert!(ran);
        assert_eq!(gone.unwrap_err().field(), Some("step"));
        ctx.add_credits(2.0);
        let (ran, spent) = host_step(ctx.begin_step("write".into()), Ok(json!(1))).await;
        assert!(!ran, "{backend:?}: a spent budget never starts the work");
        assert_eq!(spent.unwrap_err().code(), "budget_exceeded");
        run.failed(Failure {
            message: "stopped".into(),
            ..Failure::default()
        })
        .unwrap();
        loop {
            match run.next().unwrap() {
                "finish" => run.finish().await.unwrap(),
                "done" => break,
                other => panic!("{other} after a budget stop"),
            }
        }
        let result = run.result().unwrap();
        assert_eq!(result["status"], "budget_exceeded", "{backend:?}");
        assert_eq!(
            result["steps"],
            json!({}),
            "neither the failed nor the refused step"
        );
    })
    .await;
}
