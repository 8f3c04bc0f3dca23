//! `keel logs cleanup`: per-level retention of `system_logs`, in batches, with progress.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use keel::telemetry::{Level, RetentionPolicy, pg_cron_schedule};

/// `keel logs …`
#[derive(Subcommand)]
pub enum LogsCommand {
    /// Delete events past retention: debug 30 days, info 90, warn 90, error 365 by default.
    Cleanup {
        /// `sqlite://path` or `postgres://user:password@host/db`.
        #[arg(
            long,
            env = "KEEL_DATABASE_URL",
            hide_env_values = true,
            default_value = "sqlite://.keel/keel.db"
        )]
        database_url: String,
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

pub async fn run(command: LogsCommand) -> keel::Result<()> {
    match command {
        LogsCommand::PgCron => {
            println!("{}", pg_cron_schedule());
            Ok(())
        }
        LogsCommand::Cleanup {
            database_url,
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
            let options = keel::ConnectOptions {
                migrate: false,
                ..Default::default()
            };
            let keel = keel::Keel::connect_with(&database_url, options).await?;
            // A spinner on a terminal; plain lines in cron logs.
            let bar = std::io::stderr().is_terminal().then(|| {
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
            println!(
                "{}: {verb} {} rows from system_logs",
                keel.url(),
                report.total()
            );
            for (level, rows) in &report.deleted {
                println!(
                    "  {:<5} {rows:>10}  (older than {} days)",
                    level.as_str(),
                    policy.days(*level)
                );
            }
            keel.close().await;
            Ok(())
        }
    }
}
