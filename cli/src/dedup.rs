//! `keel dedup`: the daily sweep (close passed merge windows, check every item no stage has
//! checked; `--dry-run`, a progress bar on a terminal), an org's counters, and one group.

use clap::Subcommand;
use keel::dedup::{Dedup, DedupSweep, GroupView};
use serde_json::json;

use crate::output::{Create, Ctx, DEFAULT_URL, Done};
use crate::skills::progress_bar;

/// `keel dedup` subcommands.
#[derive(Subcommand)]
pub enum DedupCommand {
    /// Close the merge windows that have passed and check every pending item no stage has
    /// checked, a page at a time; reports the groups merged and the items suppressed.
    Sweep {
        /// Only this org.
        #[arg(long)]
        org: Option<String>,
        /// Report what the sweep would touch; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// What dedup did for an org: primaries, suppressed, merged, near-merged, superseded,
    /// escalated, approved.
    Counts {
        /// The org.
        #[arg(long)]
        org: String,
    },
    /// Print the pg_cron line that closes passed merge windows inside PostgreSQL (the sweep's
    /// database half; checking unchecked items needs `keel dedup sweep`).
    PgCron,
    /// One group: its primary's merged state and its members.
    Group {
        /// The primary's id.
        id: String,
    },
}

/// The pg_cron schedule of `keel.dedup_close_windows()`.
const PG_CRON: &str =
    "SELECT cron.schedule('keel-dedup', '17 3 * * *', 'SELECT keel.dedup_close_windows()');";

/// Runs a `keel dedup` subcommand.
pub async fn run(ctx: &Ctx, command: DedupCommand) -> Done {
    if let DedupCommand::PgCron = command {
        ctx.emit(&json!({ "schedule": PG_CRON }), || format!("{PG_CRON}\n"));
        return Ok(());
    }
    let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
    let done = dispatch(ctx, &keel, command).await;
    keel.close().await;
    done
}

async fn dispatch(ctx: &Ctx, keel: &keel::Keel, command: DedupCommand) -> Done {
    let dedup = Dedup::open(keel, Default::default())?;
    match command {
        DedupCommand::Sweep { org, dry_run } => {
            let bar = progress_bar(ctx.json);
            let report = dedup
                .sweep(org.as_deref(), dry_run, &mut |done, total| {
                    if let Some(bar) = &bar {
                        bar.set_length(total);
                        bar.set_position(done);
                    }
                })
                .await?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            ctx.emit(&report, || sweep_text(&report));
        }
        DedupCommand::Counts { org } => {
            let counts = dedup.counts(&org).await?;
            ctx.emit(&counts, || {
                counts
                    .iter()
                    .map(|(k, v)| format!("{k:<12} {v}\n"))
                    .collect()
            });
        }
        DedupCommand::PgCron => unreachable!("answered before connecting"),
        DedupCommand::Group { id } => {
            let id = keel::options::require_uuid("id", &id)?;
            match dedup.group(id).await? {
                Some(group) => ctx.emit(&group, || group_text(&group)),
                None => ctx.emit(&json!(null), || format!("{id} is not a primary\n")),
            }
        }
    }
    Ok(())
}

/// The sweep's report in a sentence.
pub fn sweep_text(r: &DedupSweep) -> String {
    if r.dry_run {
        return format!(
            "dry run: {} merge window(s) have passed; {} item(s) wait for a check; {} signature(s) to sign again\n",
            r.windows_closed, r.checked, r.resigned
        );
    }
    format!(
        "closed {} merge window(s); signed {} signature(s) again; checked {} item(s): {} suppressed into {} group(s), {} new primary(ies)\n",
        r.windows_closed, r.resigned, r.checked, r.suppressed, r.groups_merged, r.primaries
    )
}

fn group_text(g: &GroupView) -> String {
    let mut out = format!(
        "{} [{}{}] lane {} · merged confidence {}\n  agents: {}\n",
        g.primary_id,
        g.status,
        if g.open { ", open" } else { "" },
        g.queue_priority,
        g.merged_confidence
            .map_or("-".to_owned(), |c| format!("{c:.4}")),
        g.contributing_agents.join(", "),
    );
    for m in &g.members {
        out.push_str(&format!(
            "  {} {} {}\n",
            if m.is_primary { "*" } else { "-" },
            m.id,
            m.resolution_channel.as_deref().unwrap_or(&m.status)
        ));
    }
    out
}
