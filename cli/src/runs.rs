//! `keel runs`: agent runs (`agent_executions`). List and show runs, sweep the ones left
//! running past their deadline (for cron, or print the pg_cron job that does it in the
//! database).

use clap::Subcommand;
use keel::options::{Case, from_value};
use keel::runner::{Execution, RunQuery, Runs, SWEEP_SCHEDULE, SweepOptions};
use serde_json::json;

use crate::output::{Create, Ctx, DEFAULT_URL, Done};

/// `keel runs` subcommands.
#[derive(Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only these statuses (running, completed, failed, partial, budget_exceeded),
        /// comma-separated.
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only this org (as the run gave it).
        #[arg(long)]
        org: Option<String>,
        /// Only this trace.
        #[arg(long)]
        trace: Option<String>,
        /// Only runs started at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show one run with its error history and steps.
    Show {
        /// The run's id (its `execution_id`).
        id: String,
    },
    /// Fail runs still running past their deadline (their process stopped mid-run).
    Sweep {
        /// How long past its deadline a run may still be running, in milliseconds.
        #[arg(long)]
        grace_ms: Option<u64>,
        /// For rows without a deadline: how long after their start, in milliseconds.
        #[arg(long)]
        stale_after_ms: Option<u64>,
        /// Print the pg_cron job that sweeps every five minutes instead.
        #[arg(long)]
        schedule: bool,
    },
}

/// Runs a `keel runs` subcommand.
pub async fn run(ctx: &Ctx, command: RunsCommand) -> Done {
    if let RunsCommand::Sweep { schedule: true, .. } = command {
        ctx.emit(&json!({ "sql": SWEEP_SCHEDULE }), || {
            format!("{SWEEP_SCHEDULE}\n")
        });
        return Ok(());
    }
    let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
    let runs = Runs::open(&keel);
    let done = dispatch(ctx, &runs, command).await;
    keel.close().await;
    done
}

async fn dispatch(ctx: &Ctx, runs: &Runs, command: RunsCommand) -> Done {
    match command {
        RunsCommand::List {
            status,
            agent,
            org,
            trace,
            since,
            limit,
        } => {
            let query: RunQuery = from_value(
                Some(json!({
                    "status": status,
                    "agent_name": agent,
                    "org_id": org,
                    "trace_id": trace,
                    "since": since,
                    "limit": limit,
                })),
                Case::Snake,
                "",
            )?;
            let found = runs.list(&query).await?;
            ctx.emit(&found, || table(&found));
        }
        RunsCommand::Show { id } => {
            let id = keel::options::require_uuid("id", &id)?;
            let run = runs.get(id).await?;
            ctx.emit(&run, || details(&run));
        }
        RunsCommand::Sweep {
            grace_ms,
            stale_after_ms,
            ..
        } => {
            let options: SweepOptions = from_value(
                Some(json!({ "grace_ms": grace_ms, "stale_after_ms": stale_after_ms })),
                Case::Snake,
                "",
            )?;
            let swept = runs.sweep(options).await?;
            ctx.emit(&json!({ "swept": swept }), || {
                format!("swept {swept} run(s) left running past their deadline\n")
            });
        }
    }
    Ok(())
}

fn table(runs: &[Execution]) -> String {
    let mut out = format!("{} run(s)\n", runs.len());
    for r in runs {
        out.push_str(&format!(
            "{}  {:<15} {:<20} attempts {}  credits {:.4}  {}  {}\n",
            r.id,
            r.status.as_str(),
            r.agent_name,
            r.attempts,
            r.credits_consumed,
            r.started_at,
            r.error_message
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(60)
                .collect::<String>()
        ));
    }
    out
}

fn details(r: &Execution) -> String {
    let mut out = format!(
        "{}  {}  agent {}  {} (by {})\ntrace {}\norg {}  user {}\nstarted {}  ended {}  deadline {}\n",
        r.id,
        r.status.as_str(),
        r.agent_name,
        r.execution_type,
        r.triggered_by.as_deref().unwrap_or("-"),
        r.trace_id,
        r.org_id.as_deref().unwrap_or("-"),
        r.user_id.as_deref().unwrap_or("-"),
        r.started_at,
        r.completed_at.as_deref().unwrap_or("-"),
        r.deadline_at.as_deref().unwrap_or("-"),
    );
    out.push_str(&format!(
        "attempts {}  items {} emitted, {} processed  model {}{}  tokens {}  credits {:.4}\n",
        r.attempts,
        r.items_emitted,
        r.items_processed,
        r.model_id.as_deref().unwrap_or("-"),
        if r.model_was_fallback {
            " (fallback)"
        } else {
            ""
        },
        r.tokens_consumed,
        r.credits_consumed,
    ));
    if let Some(error) = &r.error_message {
        out.push_str(&format!("error: {error}\n"));
    }
    out.push_str(&crate::dlq::history(&r.error_history));
    for (name, output) in &r.steps {
        out.push_str(&format!("  step {name}: {output}\n"));
    }
    out
}
