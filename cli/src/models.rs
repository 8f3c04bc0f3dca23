//! `keel models …` and `keel credits …`: what operators look at and change by hand.

use std::fmt::Write as _;

use clap::Subcommand;
use keel::models::{ModelRouter, RouterOptions, require_uuid};
use serde_json::json;

use crate::output::{Create, Ctx, DEFAULT_URL, Done};

/// `keel models …`
#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Print the model matrix (seeding the default one into an empty database).
    List,
    /// Print the circuit breakers that are not closed.
    Breakers,
    /// Print when a conversation must be compacted for a model (any spelling of an id the
    /// matrix knows: dated, versioned, prefixed); unset reservations are the original's.
    Threshold {
        /// The model id, e.g. `claude-sonnet-4-6-20250929`.
        model: String,
        /// Tokens reserved for the system prompt.
        #[arg(long)]
        system_prompt_tokens: Option<u32>,
        /// Tokens reserved for the response.
        #[arg(long)]
        output_tokens: Option<u32>,
        /// Tokens reserved for tool definitions.
        #[arg(long)]
        tools_tokens: Option<u32>,
        /// The share of what is left a conversation may fill, in (0, 1].
        #[arg(long)]
        ratio: Option<f64>,
    },
}

/// `keel credits …`
#[derive(Subcommand)]
pub enum CreditsCommand {
    /// Print an org's balance and whether it may proceed.
    Balance {
        /// The org (UUID).
        org_id: String,
    },
    /// Add credits to an org.
    Grant {
        /// The org (UUID).
        org_id: String,
        /// Credits to add.
        amount: f64,
        /// purchase, bonus, refund or adjustment.
        #[arg(long, default_value = "purchase")]
        kind: String,
        /// Grants once per key.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

async fn open(ctx: &Ctx) -> keel::Result<(keel::Keel, ModelRouter)> {
    let keel = ctx.connect(DEFAULT_URL, Create::No).await?;
    let router = ModelRouter::open(&keel, RouterOptions::default()).await?;
    Ok((keel, router))
}

pub fn org(raw: &str) -> keel::Result<uuid::Uuid> {
    require_uuid("org_id", raw)
}

/// Runs a `keel models` subcommand.
pub async fn run_models(ctx: &Ctx, command: ModelsCommand) -> Done {
    let (keel, router) = open(ctx).await?;
    match command {
        ModelsCommand::List => {
            let listed = router.matrix_value();
            ctx.emit(&listed, || {
                let mut out = format!(
                    "{:<38} {:<12} {:<7} {:<9} {:<10} {:<28} {:>8} {:>10} {:>10}\n",
                    "scope",
                    "feature",
                    "tier",
                    "role",
                    "provider",
                    "model",
                    "credits",
                    "in/Mtok",
                    "out/Mtok"
                );
                for row in listed.as_array().into_iter().flatten() {
                    let text = |k: &str| row[k].as_str().unwrap_or_default().to_owned();
                    let price = |k: &str| {
                        row[k]
                            .as_f64()
                            .map_or("—".to_owned(), |p| format!("{p:.2}"))
                    };
                    let _ = writeln!(
                        out,
                        "{:<38} {:<12} {:<7} {:<9} {:<10} {:<28} {:>8} {:>10} {:>10}",
                        text("scope"),
                        text("feature"),
                        text("tier"),
                        text("role"),
                        text("provider"),
                        text("model_id"),
                        price("per_request"),
                        price("input_per_mtok"),
                        price("output_per_mtok"),
                    );
                }
                out
            });
        }
        ModelsCommand::Threshold {
            model,
            system_prompt_tokens,
            output_tokens,
            tools_tokens,
            ratio,
        } => {
            let defaults = keel::memory::ThresholdOptions::default();
            let options = keel::memory::ThresholdOptions {
                system_prompt_tokens: system_prompt_tokens.unwrap_or(defaults.system_prompt_tokens),
                output_tokens: output_tokens.unwrap_or(defaults.output_tokens),
                tools_tokens: tools_tokens.unwrap_or(defaults.tools_tokens),
                ratio: ratio.unwrap_or(defaults.ratio),
            };
            let t = router.compaction_threshold(&model, &options)?;
            ctx.emit(&t, || {
                format!(
                    "{} ({}): compact above {} tokens of its {}-token window ({} reserved, ratio {})\n",
                    t.model_id, t.canonical_id, t.threshold, t.context_window, t.reserved_tokens, options.ratio
                )
            });
        }
        ModelsCommand::Breakers => {
            let breakers = router.open_breakers();
            let listed = router.breakers_value();
            ctx.emit(&listed, || {
                let mut out = String::new();
                if breakers.is_empty() {
                    out += &format!("every circuit of {} is closed\n", keel.url());
                }
                for b in &breakers {
                    let _ = writeln!(
                        out,
                        "{:<10} {:<28} {:<9} reopened {} time(s)",
                        b.provider,
                        b.model_id,
                        b.row.state.as_str(),
                        b.row.reopen_count
                    );
                }
                out
            });
        }
    }
    keel.close().await;
    Ok(())
}

/// Runs a `keel credits` subcommand.
pub async fn run_credits(ctx: &Ctx, command: CreditsCommand) -> Done {
    match command {
        CreditsCommand::Balance { org_id } => {
            let org = org(&org_id)?;
            let (keel, router) = open(ctx).await?;
            let status = router.check_budget(org).await?;
            ctx.emit(
                &json!({"org_id": org, "remaining": status.remaining, "can_proceed": status.can_proceed}),
                || {
                    format!(
                        "{org}: {:.4} credits, can proceed: {}\n",
                        status.remaining, status.can_proceed
                    )
                },
            );
            keel.close().await;
        }
        CreditsCommand::Grant {
            org_id,
            amount,
            kind,
            idempotency_key,
        } => {
            let org = org(&org_id)?;
            let (keel, router) = open(ctx).await?;
            let moved = router
                .grant_credits(org, amount, &kind, idempotency_key.as_deref())
                .await?;
            ctx.emit(
                &json!({"org_id": org, "kind": kind, "amount": amount, "movement": moved}),
                || {
                    let verb = if moved.duplicate {
                        "already granted"
                    } else {
                        "granted"
                    };
                    format!(
                        "{org}: {kind} of {amount:.4} {verb}; balance {:.4}\n",
                        moved.balance_after
                    )
                },
            );
            keel.close().await;
        }
    }
    Ok(())
}
