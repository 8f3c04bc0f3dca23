//! `keel health`: the fleet as a table coloured by status (`--watch` refreshes it in place,
//! `--html` writes the self-contained report), health runs that alert and snapshot, the agent
//! registry, the alert outbox and snapshot retention.

use std::time::Duration;

use anstyle::{AnsiColor, Style};
use clap::{Args, Subcommand};
use serde_json::json;

use keel::telemetry::health::{
    AgentHealth, AgentSpec, Fleet, FleetOptions, FleetStatus, HealthStatus, report_html,
};

use crate::output::{Create, Ctx, DEFAULT_URL, Done, Failure};

/// `keel health` without a subcommand.
#[derive(Args)]
pub struct HealthArgs {
    /// Also write the report (status and charts per agent from the snapshots) to this HTML
    /// file; it embeds its charting library and opens offline.
    #[arg(long, value_name = "FILE")]
    html: Option<std::path::PathBuf>,
    /// The days of snapshots the HTML report charts.
    #[arg(long, default_value_t = 7)]
    days: u64,
    /// Refresh the table in place every --interval seconds until interrupted.
    #[arg(long)]
    watch: bool,
    /// Seconds between refreshes with --watch.
    #[arg(long, default_value_t = 5)]
    interval: u64,
}

/// `keel health` subcommands.
#[derive(Subcommand)]
pub enum HealthCommand {
    /// A health run (every 5 minutes, from cron): the statuses, alerts once per transition
    /// to the Slack webhook (`--webhook-url`, else SLACK_PLATFORM_OPS_WEBHOOK,
    /// PLATFORM_ALERTS_SLACK_WEBHOOK or SLACK_WEBHOOK_URL), snapshots, delivery. Prints the
    /// original edge function's response.
    Check {
        /// The Slack incoming webhook.
        #[arg(long)]
        webhook_url: Option<String>,
    },
    /// The agent registry.
    Agents,
    /// Register an agent or change one (absent flags keep what is stored).
    SetAgent {
        /// The agent, as its runs name it.
        name: String,
        /// Its cadence in minutes.
        #[arg(long, conflicts_with = "schedule")]
        every_minutes: Option<u64>,
        /// Its cron schedule (five fields, UTC), instead of --every-minutes.
        #[arg(long)]
        schedule: Option<String>,
        /// What it does.
        #[arg(long)]
        description: Option<String>,
        /// A model it depends on (`provider/model`; repeat it).
        #[arg(long = "model")]
        models: Vec<String>,
        /// Minutes a run may stay running before it counts as stuck.
        #[arg(long)]
        stuck_after_minutes: Option<u64>,
        /// Stop checking it.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Check it again.
        #[arg(long)]
        enable: bool,
    },
    /// Remove an agent from the registry.
    RemoveAgent {
        /// The agent.
        name: String,
    },
    /// The newest alerts and their delivery.
    Alerts {
        /// Only this agent's.
        #[arg(long)]
        agent: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Deliver the alerts that are due (retries of failed deliveries).
    Deliver {
        /// The Slack incoming webhook.
        #[arg(long)]
        webhook_url: Option<String>,
    },
    /// Delete snapshots older than --keep-days (daily, on its own schedule).
    Prune {
        /// Days of snapshots to keep.
        #[arg(long, default_value_t = 30)]
        keep_days: u64,
    },
    /// Print the pg_cron line of the snapshot retention (SQL only; the health run itself
    /// runs where the webhook is reachable).
    PgCron,
}

/// Runs `keel health`, with or without a subcommand.
pub async fn run(ctx: &Ctx, command: Option<HealthCommand>, args: HealthArgs) -> Done {
    if let Some(HealthCommand::PgCron) = command {
        let line = "SELECT cron.schedule('keel-fleet-snapshots', '17 3 * * *', \
                    'SELECT keel.cleanup_fleet_health_snapshots()');";
        ctx.emit(&json!({ "schedule": line }), || format!("{line}\n"));
        return Ok(());
    }
    let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
    let done = with_fleet(ctx, &keel, command, args).await;
    keel.close().await;
    done
}

fn fleet(keel: &keel::Keel, webhook_url: Option<String>) -> keel::Result<Fleet> {
    let options = FleetOptions {
        webhook_url,
        ..FleetOptions::default()
    };
    Fleet::open(keel, options, None)
}

async fn with_fleet(
    ctx: &Ctx,
    keel: &keel::Keel,
    command: Option<HealthCommand>,
    args: HealthArgs,
) -> Done {
    let Some(command) = command else {
        return show(ctx, &fleet(keel, None)?, args).await;
    };
    match command {
        HealthCommand::Check { webhook_url } => {
            let health = fleet(keel, webhook_url)?.check().await?;
            ctx.emit(&health, || {
                let mut text = table(&health.agents);
                text += &format!(
                    "{} alert(s) queued; delivered {}, retrying {}, failed {}\n",
                    health.total_alerts_fired,
                    health.delivery.delivered,
                    health.delivery.retrying,
                    health.delivery.failed
                );
                for e in &health.delivery.errors {
                    text += &format!("  delivery: {e}\n");
                }
                text
            });
        }
        HealthCommand::Agents => {
            let agents = fleet(keel, None)?.agents().await?;
            ctx.emit(&agents, || {
                let mut text = String::new();
                for a in &agents {
                    let every = a
                        .schedule
                        .clone()
                        .unwrap_or_else(|| format!("every {} min", a.cadence_ms / 60_000));
                    let off = if a.enabled { "" } else { " (disabled)" };
                    text += &format!(
                        "{:<24} {:<16} {}{off}\n",
                        a.agent_name, every, a.description
                    );
                }
                text
            });
        }
        HealthCommand::SetAgent {
            name,
            every_minutes,
            schedule,
            description,
            models,
            stuck_after_minutes,
            disable,
            enable,
        } => {
            let spec = AgentSpec {
                agent_name: name,
                cadence_ms: every_minutes.map(|m| m.saturating_mul(60_000)),
                schedule,
                description,
                models: (!models.is_empty()).then_some(models),
                stuck_after_ms: stuck_after_minutes.map(|m| m.saturating_mul(60_000)),
                enabled: (disable || enable).then_some(enable),
            };
            let agent = fleet(keel, None)?.set_agent(&spec).await?;
            ctx.emit(&agent, || {
                format!(
                    "{}: every {} min\n",
                    agent.agent_name,
                    agent.cadence_ms / 60_000
                )
            });
        }
        HealthCommand::RemoveAgent { name } => {
            let agent = fleet(keel, None)?.remove_agent(&name).await?;
            ctx.emit(&agent, || format!("removed {}\n", agent.agent_name));
        }
        HealthCommand::Alerts { agent, limit } => {
            let alerts = fleet(keel, None)?.alerts(agent.as_deref(), limit).await?;
            ctx.emit(&alerts, || {
                let mut text = String::new();
                for a in &alerts {
                    let kind = serde_json::to_value(a.kind).unwrap_or_default();
                    text += &format!(
                        "{} {:<20} {:<9} {:<8} {} (attempts {})\n",
                        a.created_at,
                        a.agent_name,
                        kind.as_str().unwrap_or_default(),
                        a.status.as_str(),
                        a.delivery,
                        a.attempts
                    );
                }
                text
            });
        }
        HealthCommand::Deliver { webhook_url } => {
            let report = fleet(keel, webhook_url)?.deliver().await?;
            ctx.emit(&report, || {
                format!(
                    "delivered {}, retrying {}, failed {}\n",
                    report.delivered, report.retrying, report.failed
                )
            });
        }
        HealthCommand::Prune { keep_days } => {
            let keep = keep_days.saturating_mul(86_400_000);
            let gone = fleet(keel, None)?.prune(Some(keep)).await?;
            ctx.emit(&json!({ "deleted": gone }), || {
                format!("{gone} snapshot(s) deleted\n")
            });
        }
        HealthCommand::PgCron => unreachable!("answered without a database"),
    }
    Ok(())
}

/// The status table (once, or refreshed with --watch) and the HTML report.
async fn show(ctx: &Ctx, fleet: &Fleet, args: HealthArgs) -> Done {
    if let Some(path) = &args.html {
        let report = fleet
            .report(Some(args.days.saturating_mul(86_400_000)))
            .await?;
        std::fs::write(path, report_html(&report))
            .map_err(|e| Failure::Early(keel::Error::invalid_input("html", e.to_string())))?;
        eprintln!("keel: wrote {}", path.display());
    }
    loop {
        let status = fleet.status().await?;
        if args.watch && !ctx.json {
            // Clear the screen and home the cursor: the table is redrawn in place.
            anstream::print!("\x1b[2J\x1b[H");
        }
        emit_status(ctx, &status);
        if !args.watch {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(args.interval.max(1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn emit_status(ctx: &Ctx, status: &FleetStatus) {
    if ctx.json {
        crate::output::print_json(status);
        return;
    }
    let s = &status.summary;
    anstream::print!(
        "Fleet at {}: {} healthy, {} warning, {} stale, {} critical\n{}",
        status.checked_at,
        s.healthy,
        s.warning,
        s.stale,
        s.critical,
        table(&status.agents)
    );
}

/// The colour of a status (anstream drops it when stdout is not a terminal or NO_COLOR is
/// set).
fn style(status: HealthStatus) -> Style {
    let colour = match status {
        HealthStatus::Healthy => AnsiColor::Green,
        HealthStatus::Warning => AnsiColor::Yellow,
        HealthStatus::Stale => AnsiColor::Magenta,
        HealthStatus::Critical => AnsiColor::Red,
    };
    Style::new().fg_color(Some(colour.into())).bold()
}

/// The agents as a table: one row each, the worst reason last.
fn table(agents: &[AgentHealth]) -> String {
    let mut text = format!(
        "{:<24} {:<9} {:>5} {:>7} {:>8} {:>8} {:>8} {:>4}  {}\n",
        "AGENT", "STATUS", "RUNS", "FAIL%", "P50 MS", "P95 MS", "CREDITS", "DLQ", "WHY"
    );
    let dash = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for a in agents {
        let st = style(a.status);
        text += &format!(
            "{:<24} {st}{:<9}{st:#} {:>5} {:>7} {:>8} {:>8} {:>8.2} {:>4}  {}\n",
            a.name,
            a.status.as_str(),
            a.runs,
            a.failure_rate_24h
                .map_or_else(|| "-".to_owned(), |r| format!("{r}")),
            dash(a.p50_duration_ms),
            dash(a.p95_duration_ms),
            a.credits_consumed,
            a.dead_letters,
            a.reasons.first().map_or("", String::as_str),
        );
    }
    text
}
