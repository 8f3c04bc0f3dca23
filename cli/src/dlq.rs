//! `keel dlq`: the dead-letter queue. List and show letters, retry, redrive, resolve or
//! abandon them one by one or by filter, purge old resolved ones, and work them (once from cron, or as a loop that stops
//! on Ctrl-C after its batch).

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use keel::options::Case;
use keel::runner::{DeadLetter, DeadLetters, WorkReport};
use serde_json::{Value, json};

use crate::output::{Create, Ctx, DEFAULT_URL, Done};
use crate::skills::progress_bar;

/// Which letters a listing or a bulk change takes.
#[derive(Args, Default)]
pub struct Filter {
    /// Only these statuses (pending, retrying, accepted, resolved, abandoned), comma-separated.
    #[arg(long, value_delimiter = ',')]
    status: Vec<String>,
    /// Only this agent.
    #[arg(long)]
    agent: Option<String>,
    /// Only this org (as the letter gave it).
    #[arg(long)]
    org: Option<String>,
    /// Only letters created at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

impl Filter {
    fn query(&self, status: &[&str]) -> Value {
        let status: Vec<String> = if self.status.is_empty() {
            status.iter().map(|s| (*s).to_owned()).collect()
        } else {
            self.status.clone()
        };
        json!({
            "status": status,
            "agent_name": self.agent,
            "org_id": self.org,
            "since": self.since,
            "limit": self.limit,
        })
    }
}

/// `keel dlq` subcommands.
#[derive(Subcommand)]
pub enum DlqCommand {
    /// List letters, newest first.
    List {
        #[command(flatten)]
        filter: Filter,
    },
    /// Show one letter with its error history.
    Show {
        /// The letter's id.
        id: String,
    },
    /// Make pending letters due now (the ids given, or those the filter selects).
    Retry {
        /// Letter ids; none means every pending letter the filter selects.
        ids: Vec<String>,
        #[command(flatten)]
        filter: Filter,
    },
    /// Bring abandoned letters back, their retries counted from zero.
    Redrive {
        /// Letter ids; none means every abandoned letter the filter selects.
        ids: Vec<String>,
        #[command(flatten)]
        filter: Filter,
    },
    /// Resolve open letters (an asynchronous handler's work finished).
    Resolve {
        /// Letter ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Abandon open letters with a reason.
    Abandon {
        /// Letter ids; none means every open letter the filter selects.
        ids: Vec<String>,
        /// Why (kept on the letter).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        filter: Filter,
    },
    /// Delete letters resolved more than `--days` ago (default 30; open and abandoned
    /// letters are kept).
    Purge {
        /// Age in days.
        #[arg(long)]
        days: Option<u32>,
    },
    /// Replay due letters by posting them to a URL (202 is accepted, 2xx done).
    Work {
        /// Where to post each letter (with an `Idempotency-Key` stable across its retries).
        #[arg(long)]
        url: String,
        /// Extra headers, `name: value`.
        #[arg(long = "header")]
        headers: Vec<String>,
        /// One batch, then exit (for cron); else loop until Ctrl-C.
        #[arg(long)]
        once: bool,
        /// Only these agents' letters.
        #[arg(long = "agent")]
        agents: Vec<String>,
        /// Letters per batch.
        #[arg(long)]
        batch: Option<u32>,
        /// The lease, in milliseconds.
        #[arg(long)]
        lease_ms: Option<u64>,
        /// The worker's name in `locked_by`.
        #[arg(long)]
        worker_id: Option<String>,
    },
}

/// Runs a `keel dlq` subcommand.
pub async fn run(ctx: &Ctx, command: DlqCommand) -> Done {
    let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
    let letters = DeadLetters::open(&keel);
    let done = dispatch(ctx, &letters, command).await;
    keel.close().await;
    done
}

async fn dispatch(ctx: &Ctx, letters: &DeadLetters, command: DlqCommand) -> Done {
    match command {
        DlqCommand::List { filter } => {
            let found = letters
                .list_value(Some(filter.query(&[])), Case::Snake, "")
                .await?;
            ctx.emit(&found, || table(&found));
        }
        DlqCommand::Show { id } => {
            let letter = letters.operate_value("get", &id, None, Case::Snake).await?;
            ctx.emit(&letter, || details(&letter));
        }
        DlqCommand::Retry { ids, filter } => {
            bulk(ctx, letters, "retry", ids, &filter, &["pending"], None).await?;
        }
        DlqCommand::Redrive { ids, filter } => {
            bulk(ctx, letters, "redrive", ids, &filter, &["abandoned"], None).await?;
        }
        DlqCommand::Resolve { ids } => {
            bulk(ctx, letters, "resolve", ids, &Filter::default(), &[], None).await?;
        }
        DlqCommand::Abandon {
            ids,
            reason,
            filter,
        } => {
            let open = ["pending", "retrying", "accepted"];
            let reason = Some(json!({ "reason": reason }));
            bulk(ctx, letters, "abandon", ids, &filter, &open, reason).await?;
        }
        DlqCommand::Purge { days } => {
            let options = days.map(|days| json!({ "days": days }));
            let deleted = letters.purge_value(options, Case::Snake, "").await?;
            ctx.emit(&json!({ "deleted": deleted }), || {
                format!("deleted {deleted} resolved letter(s)\n")
            });
        }
        DlqCommand::Work {
            url,
            headers,
            once,
            agents,
            batch,
            lease_ms,
            worker_id,
        } => {
            let headers: BTreeMap<String, String> = headers
                .iter()
                .filter_map(|h| h.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let mut options = json!({ "url": url, "headers": headers, "worker_id": worker_id });
            if !agents.is_empty() {
                options["agents"] = json!(agents);
            }
            if let Some(batch) = batch {
                options["batch"] = json!(batch);
            }
            if let Some(ms) = lease_ms {
                options["lease_ms"] = json!(ms);
            }
            let report = if once {
                letters
                    .work_once_value(Some(options), None, Case::Snake, "")
                    .await?
            } else {
                letters
                    .work_value(Some(options), None, Case::Snake, async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await?
            };
            ctx.emit(&report, || summary(&report));
        }
    }
    Ok(())
}

/// Applies `operation` to the ids given, or to the letters in `states` the filter selects,
/// with a progress bar; prints each changed letter's id and status.
async fn bulk(
    ctx: &Ctx,
    letters: &DeadLetters,
    operation: &str,
    ids: Vec<String>,
    filter: &Filter,
    states: &[&str],
    options: Option<Value>,
) -> Done {
    let ids = if ids.is_empty() {
        let found = letters
            .list_value(Some(filter.query(states)), Case::Snake, "")
            .await?;
        found.into_iter().map(|l| l.id.to_string()).collect()
    } else {
        ids
    };
    let bar = progress_bar(ctx.json);
    if let Some(bar) = &bar {
        bar.set_length(ids.len() as u64);
        bar.set_message(operation.to_owned());
    }
    let mut changed = Vec::new();
    let mut refused = Vec::new();
    for id in &ids {
        match letters
            .operate_value(operation, id, options.clone(), Case::Snake)
            .await
        {
            Ok(letter) => changed.push(json!({ "id": letter.id, "status": letter.status })),
            // A letter another worker or operator moved meanwhile: said, and the rest go on.
            Err(err @ keel::Error::InvalidInput { .. }) => refused.push((id.clone(), err)),
            Err(err) => return Err(err.into()),
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let refusals: Vec<Value> = refused
        .iter()
        .map(|(id, err)| json!({ "id": id, "error": err.to_json() }))
        .collect();
    let report = json!({ "operation": operation, "letters": changed, "refused": refusals });
    ctx.emit(&report, || {
        let mut out = format!("{operation}: {} letter(s)\n", changed.len());
        for c in &changed {
            out.push_str(&format!(
                "{}  {}\n",
                c["id"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or("")
            ));
        }
        for (id, err) in &refused {
            out.push_str(&format!("{id}  refused: {}\n", err.message()));
        }
        out
    });
    match refused.into_iter().next() {
        Some((_, err)) => Err(crate::output::Failure::Reported(err)),
        None => Ok(()),
    }
}

fn table(letters: &[DeadLetter]) -> String {
    let mut out = format!("{} letter(s)\n", letters.len());
    for l in letters {
        out.push_str(&format!(
            "{}  {:<9} {:<20} retries {}/{}  next {}  {}\n",
            l.id,
            l.status.as_str(),
            l.agent_name,
            l.retry_count,
            l.max_retries,
            l.next_retry_at,
            l.failure_reason.chars().take(60).collect::<String>()
        ));
    }
    out
}

fn details(l: &DeadLetter) -> String {
    let mut out = format!(
        "{}  {}  agent {}  trigger {}\norg {}  user {}\nretries {}/{}  next {}  token {}\n",
        l.id,
        l.status.as_str(),
        l.agent_name,
        l.trigger_type,
        l.org_id.as_deref().unwrap_or("-"),
        l.user_id.as_deref().unwrap_or("-"),
        l.retry_count,
        l.max_retries,
        l.next_retry_at,
        l.fencing_token
    );
    if let Some(reason) = &l.abandoned_reason {
        out.push_str(&format!("abandoned: {reason}\n"));
    }
    out.push_str(&format!("payload {}\n", l.payload));
    out.push_str(&history(&l.errors));
    out
}

/// A failure history, one line per failure (a letter's, a run's).
pub fn history(errors: &[keel::runner::Failed]) -> String {
    errors
        .iter()
        .map(|e| {
            format!(
                "  #{} {} {:<17} {}{}\n",
                e.attempt,
                e.at,
                e.kind.as_str(),
                e.status.map(|s| format!("HTTP {s} ")).unwrap_or_default(),
                e.message
            )
        })
        .collect()
}

fn summary(r: &WorkReport) -> String {
    format!(
        "claimed {}: resolved {}, accepted {}, retrying {}, abandoned {}, lost {}\n",
        r.claimed, r.resolved, r.accepted, r.retrying, r.abandoned, r.lost
    )
}
