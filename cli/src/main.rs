//! `keel`: the operator's command line (migrations, logs, models, credits, skills, the demo).

mod demo;
mod logs;
mod models;
mod skills;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keel: the embeddable core for AI-agent platforms.
#[derive(Parser)]
#[command(name = "keel", version = keel::VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the embedded migrations to a database.
    Migrate {
        /// `sqlite://path`, `sqlite::memory:` or `postgres://user:password@host/db`.
        #[arg(
            long,
            env = "KEEL_DATABASE_URL",
            hide_env_values = true,
            default_value = "sqlite://.keel/keel.db"
        )]
        database_url: String,
    },
    /// Log retention and maintenance.
    Logs {
        #[command(subcommand)]
        command: logs::LogsCommand,
    },
    /// The model matrix and the circuit breakers.
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Org credit balances.
    Credits {
        #[command(subcommand)]
        command: models::CreditsCommand,
    },
    /// The SKILL.md library: validate, sync, list, history, deprecate, resolve.
    Skills {
        #[command(subcommand)]
        command: skills::SkillsCommand,
    },
    /// Simulate the platform on an embedded database and print what happened.
    Demo {
        /// Where to run it; the default is a fresh SQLite file.
        #[arg(long, default_value = demo::DEFAULT_URL)]
        database_url: String,
        /// Keep the previous demo database instead of starting from empty.
        #[arg(long)]
        keep: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // A command run with --json reports its failure as JSON too, for the scripts that read it.
    let json = std::env::args().skip(1).any(|arg| arg == "--json");
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate { database_url } => migrate(&database_url).await,
        Command::Demo { database_url, keep } => demo::run(&database_url, keep).await,
        Command::Logs { command } => logs::run(command).await,
        Command::Models { command } => models::run_models(command).await,
        Command::Credits { command } => models::run_credits(command).await,
        Command::Skills { command } => skills::run(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if json => {
            println!("{}", serde_json::json!({ "error": err.to_json() }));
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error[{}]: {err}", err.code());
            ExitCode::FAILURE
        }
    }
}

async fn migrate(url: &str) -> keel::Result<()> {
    let options = keel::ConnectOptions {
        migrate: false,
        ..Default::default()
    };
    let keel = keel::Keel::connect_with(url, options).await?;
    let applied = keel.migrate().await?;
    let all = keel.applied_migrations().await?;
    println!(
        "{}: {applied} migration(s) applied, {} in total",
        keel.url(),
        all.len()
    );
    for m in &all {
        println!("  {:04} {}", m.version, m.description);
    }
    keel.close().await;
    Ok(())
}
