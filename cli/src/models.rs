//! `keel models …` and `keel credits …`: what operators look at and change by hand.

use clap::Subcommand;
use keel::models::{ModelRouter, Role, RouterOptions, Scope, require_uuid};

/// The database flag every subcommand takes.
#[derive(clap::Args)]
pub struct Database {
    /// `sqlite://path` or `postgres://user:password@host/db`.
    #[arg(
        long,
        env = "KEEL_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://.keel/keel.db"
    )]
    pub database_url: String,
}

/// `keel models …`
#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Print the model matrix (seeding the default one into an empty database).
    List {
        #[command(flatten)]
        db: Database,
    },
    /// Print the circuit breakers that are not closed.
    Breakers {
        #[command(flatten)]
        db: Database,
    },
}

/// `keel credits …`
#[derive(Subcommand)]
pub enum CreditsCommand {
    /// Print an org's balance and whether it may proceed.
    Balance {
        #[command(flatten)]
        db: Database,
        /// The org (UUID).
        org_id: String,
    },
    /// Add credits to an org.
    Grant {
        #[command(flatten)]
        db: Database,
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

async fn open(db: &Database) -> keel::Result<(keel::Keel, ModelRouter)> {
    let keel = keel::Keel::connect(&db.database_url).await?;
    let router = ModelRouter::open(&keel, RouterOptions::default()).await?;
    Ok((keel, router))
}

pub fn org(raw: &str) -> keel::Result<uuid::Uuid> {
    require_uuid("org_id", raw)
}

/// Runs a `keel models` subcommand.
pub async fn run_models(command: ModelsCommand) -> keel::Result<()> {
    match command {
        ModelsCommand::List { db } => {
            use std::fmt::Write as _;
            use std::io::Write as _;
            let (keel, router) = open(&db).await?;
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
            router.with_matrix(|matrix| {
                for row in matrix.rows() {
                    let scope = match row.scope {
                        Scope::Platform => "platform".to_owned(),
                        Scope::Org(org) => org.to_string(),
                    };
                    let role = match row.role {
                        Role::Primary => "primary".to_owned(),
                        Role::Fallback(order) => format!("fallback{order}"),
                    };
                    let price = |p: Option<f64>| p.map_or("—".to_owned(), |p| format!("{p:.2}"));
                    let _ = writeln!(
                        out,
                        "{scope:<38} {:<12} {:<7} {role:<9} {:<10} {:<28} {:>8.2} {:>10} {:>10}",
                        row.feature.as_str(),
                        row.tier.as_str(),
                        row.provider,
                        row.model_id,
                        row.pricing.per_request,
                        price(row.pricing.input_per_mtok),
                        price(row.pricing.output_per_mtok),
                    );
                }
            });
            // A closed pipe (`keel models list | head`) is not an error worth a panic.
            let _ = std::io::stdout().write_all(out.as_bytes());
            keel.close().await;
        }
        ModelsCommand::Breakers { db } => {
            let (keel, router) = open(&db).await?;
            let breakers = router.open_breakers();
            if breakers.is_empty() {
                println!("every circuit is closed");
            }
            for b in breakers {
                println!(
                    "{:<10} {:<28} {:<9} reopened {} time(s)",
                    b.provider,
                    b.model_id,
                    b.row.state.as_str(),
                    b.row.reopen_count
                );
            }
            keel.close().await;
        }
    }
    Ok(())
}

/// Runs a `keel credits` subcommand.
pub async fn run_credits(command: CreditsCommand) -> keel::Result<()> {
    match command {
        CreditsCommand::Balance { db, org_id } => {
            let org = org(&org_id)?;
            let (keel, router) = open(&db).await?;
            let status = router.check_budget(org).await?;
            println!(
                "{org}: {:.4} credits, can proceed: {}",
                status.remaining, status.can_proceed
            );
            keel.close().await;
        }
        CreditsCommand::Grant {
            db,
            org_id,
            amount,
            kind,
            idempotency_key,
        } => {
            let org = org(&org_id)?;
            let (keel, router) = open(&db).await?;
            let moved = router
                .grant_credits(org, amount, &kind, idempotency_key.as_deref())
                .await?;
            println!(
                "{org}: {kind} of {amount:.4} {}; balance {:.4}",
                if moved.duplicate {
                    "already granted"
                } else {
                    "granted"
                },
                moved.balance_after
            );
            keel.close().await;
        }
    }
    Ok(())
}
