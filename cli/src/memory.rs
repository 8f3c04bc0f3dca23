//! `keel memory`: conversation memory's maintenance.

use clap::Subcommand;
use serde_json::json;

use crate::output::{Create, Ctx, DEFAULT_URL, Done};

/// `keel memory` subcommands.
#[derive(Subcommand)]
pub enum MemoryCommand {
    /// Archive cross-channel context rows untouched for `--max-age-days` (never deleted: an
    /// archived row is skipped by the read path and comes back when written again).
    Cleanup {
        /// Archive rows untouched for this many days.
        #[arg(long, default_value_t = keel::memory::ArchiveOptions::default().max_age_days)]
        max_age_days: u32,
        /// Rows per statement.
        #[arg(long, default_value_t = keel::memory::ArchiveOptions::default().batch_size)]
        batch_size: u32,
    },
    /// Print the pg_cron line that runs the same archiving inside PostgreSQL.
    PgCron,
    /// Recall a user's facts that best match a text (BM25 × recency × confidence), without
    /// counting the access.
    Recall {
        /// The org id.
        org_id: String,
        /// The user id.
        user_id: String,
        /// What to recall facts for.
        text: String,
        /// At most this many facts.
        #[arg(long, default_value_t = keel::memory::RecallQuery::default().limit)]
        limit: u32,
    },
}

/// The pg_cron schedule of `keel.archive_conversation_context()`.
const PG_CRON: &str = "SELECT cron.schedule('keel-context-archive', '23 3 * * *', \
                       $$SELECT keel.archive_conversation_context()$$);";

/// Runs a `keel memory` subcommand.
pub async fn run(ctx: &Ctx, command: MemoryCommand) -> Done {
    match command {
        MemoryCommand::Recall {
            org_id,
            user_id,
            text,
            limit,
        } => {
            let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
            let store = keel::memory::ConversationStore::open(&keel);
            let query = json!({ "limit": limit, "record_access": false });
            let recall = store
                .recall_value(
                    &org_id,
                    &user_id,
                    &text,
                    Some(query),
                    keel::options::Case::Snake,
                    "",
                )
                .await;
            keel.close().await;
            let recall = recall?;
            ctx.emit(&recall, || {
                let mut out = format!(
                    "{} fact(s) for {:?} ({} scored, exact: {})\n",
                    recall.facts.len(),
                    recall.terms,
                    recall.candidates,
                    recall.exact
                );
                for r in &recall.facts {
                    out.push_str(&format!(
                        "{:>7.3}  [{}] {}: {}\n",
                        r.score.score,
                        r.fact.category.as_str(),
                        r.fact.subject,
                        r.fact.content
                    ));
                }
                out
            });
            Ok(())
        }
        MemoryCommand::PgCron => {
            ctx.emit(&json!({ "schedule": PG_CRON }), || format!("{PG_CRON}\n"));
            Ok(())
        }
        MemoryCommand::Cleanup {
            max_age_days,
            batch_size,
        } => {
            let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
            let store = keel::memory::ConversationStore::open(&keel);
            let archived = store.archive_context(max_age_days, batch_size).await;
            keel.close().await;
            let archived = archived?;
            ctx.emit(
                &json!({ "archived": archived, "max_age_days": max_age_days }),
                || {
                    format!(
                        "archived {archived} context row(s) untouched for {max_age_days} days\n"
                    )
                },
            );
            Ok(())
        }
    }
}
