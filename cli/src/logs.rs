//! `keel logs cleanup`: per-level retention of `system_logs`, in batches, with progress.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use keel::telemetry::{Level, RetentionPolicy, pg_cron_schedule};
use serde_json::json;

use crate::output::{Create, Ctx, DEFAULT_URL, Done};

/// `keel logs …`
#[derive(Subcommand)]
pub enum LogsCommand {
    /// Delete events past retention: debug 30 days, info 90, warn 90, error 365 by default.
    Cleanup {
        /// Count what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rows per delete statement.
        #[arg(long, default_value_t = keel::telemetry::DEFAULT_BATCH_SIZE)]
        batch_size: u32,
        #[arg(long, default_value_t = RetentionPolicy::default().debug_days)]
        debug_days: u32,
        #[arg(long, default_value_t = RetentionPolicy::default().info_days)]
        info_days: u32,
        #[arg(long, default_value_t = RetentionPolicy::default().warn_days)]
        warn_days: u32,
        #[arg(long, default_value_t = RetentionPolicy::default().error_days)]
        error_days: u32,
    },
    /// Print the pg_cron line that runs the same cleanup inside PostgreSQL.
    PgCron,
}

/// Runs a `keel logs` subcommand.
pub async fn run(ctx: &Ctx, command: LogsCommand) -> Done {
    match command {
        LogsCommand::PgCron => {
            let schedule = pg_cron_schedule();
            ctx.emit(&json!({ "schedule": schedule }), || format!("{schedule}\n"));
            Ok(())
        }
        LogsCommand::Cleanup {
            dry_run,
            batch_size,
            debug_days,
            info_days,
            warn_days,
            error_days,
        } => {
            let policy = RetentionPolicy {
                debug_days,
                info_days,
                warn_days,
                error_days,
            };
            policy.validate()?;
            let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
            // A spinner on a terminal; plain lines in cron logs.
            let bar = (!ctx.json && std::io::stderr().is_terminal()).then(|| {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}").expect("static template"),
                );
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            });
            let verb = if dry_run { "would delete" } else { "deleted" };
            let report = keel
                .cleanup_logs(&policy, batch_size, dry_run, |level: Level, done| {
                    if let Some(bar) = &bar {
                        bar.set_message(format!("{level}: {done} rows {verb}"));
                    }
                })
                .await?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let deleted: serde_json::Map<_, _> = report
                .deleted
                .iter()
                .map(|(level, rows)| (level.as_str().to_owned(), json!(rows)))
                .collect();
            ctx.emit(
                &json!({"database": keel.url(), "dry_run": dry_run, "total": report.total(), "deleted": deleted}),
                || {
                    let mut text = format!(
                        "{}: {verb} {} rows from system_logs\n",
                        keel.url(),
                        report.total()
                    );
                    for (level, rows) in &report.deleted {
                        text += &format!(
                            "  {:<5} {rows:>10}  (older than {} days)\n",
                            level.as_str(),
                            policy.days(*level)
                        );
                    }
                    text
                },
            );
            keel.close().await;
            Ok(())
        }
    }
}
