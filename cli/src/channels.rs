//! `keel channels`: Slack copilot threads' context extraction, on a schedule.

use clap::Subcommand;
use serde_json::json;

use keel::channels::threads::{SweepOptions, ThreadOptions, ThreadStore, ThreadSweep};
use keel::llm::{Llm, LlmOptions, ProviderConfig};
use keel::memory::{EntitySql, SqlLinker};
use keel::models::{ModelRouter, RouterOptions};

use crate::output::{Create, Ctx, DEFAULT_URL, Done};
use crate::skills::progress_bar;

/// `keel channels` subcommands.
#[derive(Subcommand)]
pub enum ChannelsCommand {
    /// Extract the context of every Slack thread whose extraction is due (10 new messages,
    /// or 15 minutes quiet): a model summarises each, entities are resolved by `--deal-sql`,
    /// `--contact-sql` and `--company-sql`, and the summary goes to conversation_context.
    /// A failure keeps the thread's watermark and is retried by a later sweep. Run it every
    /// minute (cron, a Kubernetes CronJob, or `pg-cron` below).
    Sweep {
        /// The most threads this sweep extracts.
        #[arg(long, default_value_t = SweepOptions::default().limit)]
        limit: u32,
        /// How long a claimed thread is this sweep's, in milliseconds.
        #[arg(long, default_value_t = SweepOptions::default().lease_ms)]
        lease_ms: u64,
        /// An explicit provider (with --model) instead of the router's enrichment model, low
        /// tier.
        #[arg(long, requires = "model")]
        provider: Option<String>,
        /// The model with --provider.
        #[arg(long, requires = "provider")]
        model: Option<String>,
        /// The provider's base URL (a gateway, a local server); its key comes from the
        /// provider's usual environment variable.
        #[arg(long, requires = "provider")]
        base_url: Option<String>,
        /// SQL that finds a deal: `$1` org, `$2` user, `$3` the name as a LIKE pattern, `$4`
        /// the name; returns the id as text.
        #[arg(long)]
        deal_sql: Option<String>,
        /// SQL that finds a contact (as --deal-sql).
        #[arg(long)]
        contact_sql: Option<String>,
        /// SQL that finds a company (as --deal-sql).
        #[arg(long)]
        company_sql: Option<String>,
    },
    /// Print the pg_cron line that calls an edge function (which runs `sweep`) every minute
    /// through pg_net: extraction calls a model, which SQL cannot.
    PgCron {
        /// The edge function's URL.
        #[arg(long)]
        function_url: String,
    },
}

/// Runs a `keel channels` subcommand.
pub async fn run(ctx: &Ctx, command: ChannelsCommand) -> Done {
    match command {
        ChannelsCommand::PgCron { function_url } => {
            let line = pg_cron(&function_url);
            ctx.emit(&json!({ "schedule": line }), || format!("{line}\n"));
            Ok(())
        }
        ChannelsCommand::Sweep {
            limit,
            lease_ms,
            provider,
            model,
            base_url,
            deal_sql,
            contact_sql,
            company_sql,
        } => {
            let keel = ctx.connect_with(DEFAULT_URL, Create::No, false).await?;
            let swept = async {
                let router = ModelRouter::open(&keel, RouterOptions::default()).await?;
                let mut llm_options = LlmOptions::default();
                let mut options = SweepOptions {
                    limit,
                    lease_ms,
                    ..SweepOptions::default()
                };
                if let (Some(provider), Some(model)) = (provider, model) {
                    let provider = keel::models::canonical_provider(&provider)?;
                    llm_options.providers.insert(
                        provider.to_owned(),
                        ProviderConfig {
                            base_url,
                            ..ProviderConfig::default()
                        },
                    );
                    options.extract.call.provider = Some(provider);
                    options.extract.call.model = Some(model);
                    (options.extract.call.feature, options.extract.call.tier) = (None, None);
                }
                let llm = Llm::new(&router, llm_options)?;
                let sql = EntitySql {
                    deal: deal_sql,
                    contact: contact_sql,
                    company: company_sql,
                };
                let linker = SqlLinker::new(&keel, sql);
                let store = ThreadStore::open(&keel, ThreadOptions::default())?;
                let bar = progress_bar(ctx.json);
                let mut progress = |done: usize, claimed: usize| {
                    if let Some(bar) = &bar {
                        bar.set_length(claimed as u64);
                        bar.set_position(done as u64);
                    }
                };
                let done = store
                    .sweep_with_progress(&options, &llm, Some(&linker), &mut progress)
                    .await;
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                done
            };
            let swept = swept.await;
            keel.close().await;
            let swept = swept?;
            ctx.emit(&swept, || report(&swept));
            Ok(())
        }
    }
}

/// The pg_cron schedule that calls `url` every minute through pg_net.
fn pg_cron(url: &str) -> String {
    let url = url.replace('\'', "''");
    format!(
        "SELECT cron.schedule('keel-slack-threads', '* * * * *', $$SELECT net.http_post(url := \
         '{url}', body := '{{\"op\": \"sweep\"}}'::jsonb)$$);"
    )
}

/// A sweep for a terminal.
fn report(sweep: &ThreadSweep) -> String {
    let mut out = format!(
        "{} thread(s) due: {} extracted, {} with nothing new, {} failed (retried later)\n",
        sweep.claimed, sweep.extracted, sweep.nothing_new, sweep.failed
    );
    for t in &sweep.threads {
        let what = match (&t.error, &t.summary) {
            (Some(error), _) => format!("failed: {error}"),
            (None, Some(summary)) => summary.clone(),
            (None, None) => "nothing new".into(),
        };
        out.push_str(&format!(
            "  {} through {}: {what}\n",
            t.thread_id, t.extracted_through
        ));
    }
    out
}
