//! `keel partitions`: the time partitions of `system_logs` and `agent_executions` on
//! PostgreSQL (made ahead, strays moved out of the default partitions, expired ones dropped).

use clap::Subcommand;
use keel::store::partitions::pg_cron_schedule;
use serde_json::json;

use crate::output::{Create, Ctx, DEFAULT_URL, Done};

/// `keel partitions …`
#[derive(Subcommand)]
pub enum PartitionsCommand {
    /// Make partitions ahead, move stray rows out of the default partitions, drop the
    /// partitions past retention (what pg_cron runs hourly as `keel.maintain_partitions()`).
    Maintain,
    /// List every partition with its range, estimated rows and size.
    List,
    /// Print the pg_cron line that runs the maintenance inside PostgreSQL.
    PgCron,
}

/// Runs a `keel partitions` subcommand.
pub async fn run(ctx: &Ctx, command: PartitionsCommand) -> Done {
    match command {
        PartitionsCommand::PgCron => {
            let schedule = pg_cron_schedule();
            ctx.emit(&json!({ "schedule": schedule }), || format!("{schedule}\n"));
            Ok(())
        }
        PartitionsCommand::Maintain => maintain(ctx).await,
        PartitionsCommand::List => list(ctx).await,
    }
}

/// What an empty answer means on `keel`'s backend.
fn nothing(keel: &keel::Keel, postgres: &str) -> String {
    match keel.backend() {
        keel::Backend::Postgres => format!("{}: {postgres}\n", keel.url()),
        keel::Backend::Sqlite => format!(
            "{}: no partitioned tables (SQLite keeps plain tables)\n",
            keel.url()
        ),
    }
}

async fn maintain(ctx: &Ctx) -> Done {
    let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
    let changes = keel.maintain_partitions().await?;
    ctx.emit(&json!({"database": keel.url(), "changes": changes}), || {
        if changes.is_empty() {
            return nothing(&keel, "every partition in place, nothing expired");
        }
        let mut text = format!("{}: {} partitions changed\n", keel.url(), changes.len());
        for c in &changes {
            text += &format!(
                "  {:<8} {:<34} {:>10} rows\n",
                c.action, c.partition, c.rows
            );
        }
        text
    });
    keel.close().await;
    Ok(())
}

async fn list(ctx: &Ctx) -> Done {
    let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
    let partitions = keel.partitions().await?;
    ctx.emit(
        &json!({"database": keel.url(), "partitions": partitions}),
        || {
            if partitions.is_empty() {
                return nothing(&keel, "no partitions");
            }
            let mut text = String::new();
            for p in &partitions {
                text += &format!(
                    "{:<34} {:>12} rows {:>10} KiB  {}\n",
                    p.partition,
                    p.estimated_rows.max(0),
                    p.bytes / 1024,
                    p.bounds
                );
            }
            text
        },
    );
    keel.close().await;
    Ok(())
}
