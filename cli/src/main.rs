//! `keel`: the operator's command line (migrations, logs, models, credits, skills, routing,
//! the demo).

mod channels;
mod dedup;
mod demo;
mod demo_console;
mod demo_dedup;
mod demo_fleet;
mod demo_letters;
mod demo_llm;
mod demo_memory;
mod demo_queue;
mod demo_route;
mod demo_runs;
mod demo_threads;
mod dlq;
mod health;
mod logs;
#[allow(dead_code)] // shared with the core tests, which use all of it
mod loopback;
mod memory;
mod models;
mod output;
mod partitions;
mod queue;
mod route;
mod runs;
mod serve;
mod skills;
mod skills_corpus;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::{Create, Ctx, DEFAULT_URL, Done, Failure};

/// Keel: the embeddable core for AI-agent platforms.
///
/// Every command names the database it uses on stderr. Only `migrate` and `demo` create one;
/// the others fail on a SQLite file that does not exist.
#[derive(Parser)]
#[command(name = "keel", version = keel::VERSION, about)]
struct Cli {
    /// Print the result as one JSON document (failures too).
    #[arg(long, global = true)]
    json: bool,
    /// `sqlite://path`, `sqlite::memory:` or `postgres://user:password@host/db` [default:
    /// sqlite://.keel/keel.db; the demo's is sqlite://.keel/demo.db]
    #[arg(long, global = true, env = "KEEL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database if needed and apply the embedded migrations.
    Migrate,
    /// Log retention and maintenance.
    Logs {
        #[command(subcommand)]
        command: logs::LogsCommand,
    },
    /// The time partitions of system_logs and agent_executions (PostgreSQL).
    Partitions {
        #[command(subcommand)]
        command: partitions::PartitionsCommand,
    },
    /// The model matrix and the circuit breakers.
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Conversation memory's maintenance: archive old cross-channel context.
    Memory {
        #[command(subcommand)]
        command: memory::MemoryCommand,
    },
    /// The dead-letter queue: list, show, retry, redrive, resolve, abandon, work.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// Agent runs (agent_executions): list, show, sweep.
    Runs {
        #[command(subcommand)]
        command: runs::RunsCommand,
    },
    /// The Command Centre queue: health, sweep, show.
    Queue {
        #[command(subcommand)]
        command: queue::QueueCommand,
    },
    /// Slack copilot threads: the context extraction sweep, its pg_cron line.
    Channels {
        #[command(subcommand)]
        command: channels::ChannelsCommand,
    },
    /// Deduplication: the daily sweep, an org's counters, one group.
    Dedup {
        #[command(subcommand)]
        command: dedup::DedupCommand,
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
    /// Route a message to an org's skills (`keel route "message" --org …`), evaluate a
    /// labelled set (`keel route eval`), read the routing log (`keel route log`).
    #[command(args_conflicts_with_subcommands = true)]
    Route {
        #[command(subcommand)]
        command: Option<route::RouteCommand>,
        #[command(flatten)]
        args: route::RouteArgs,
    },
    /// Serve a model provider on loopback that speaks the Anthropic, OpenAI-compatible and
    /// Gemini wires (for tests, benchmarks and demos); prints its base URL, runs until killed.
    Loopback {
        /// The port (0: any free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Fleet health: the agents as a table coloured by status (`--watch`, `--html
    /// report.html`), health runs with alerts (`check`), the registry, alerts, retention.
    #[command(args_conflicts_with_subcommands = true)]
    Health {
        #[command(subcommand)]
        command: Option<health::HealthCommand>,
        #[command(flatten)]
        args: health::HealthArgs,
    },
    /// Serve the operator console and its JSON API (`--listen 127.0.0.1:8741`).
    Serve(serve::ServeArgs),
    /// Simulate the platform on an embedded database and print what happened.
    Demo {
        /// Keep the previous demo database instead of starting from empty.
        #[arg(long)]
        keep: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // A failure to parse the flags reports as JSON too when --json was asked for.
    let json = std::env::args().skip(1).any(|arg| arg == "--json");
    let cli = Cli::parse();
    let ctx = Ctx::new(cli.json, cli.database_url);
    let done = match cli.command {
        Command::Migrate => migrate(&ctx).await,
        Command::Demo { keep } => demo::run(&ctx, keep).await,
        Command::Loopback { port } => serve_loopback(&ctx, port).await,
        Command::Serve(args) => serve::run(&ctx, args).await,
        Command::Logs { command } => logs::run(&ctx, command).await,
        Command::Partitions { command } => partitions::run(&ctx, command).await,
        Command::Models { command } => models::run_models(&ctx, command).await,
        Command::Credits { command } => models::run_credits(&ctx, command).await,
        Command::Skills { command } => skills::run(&ctx, command).await,
        Command::Memory { command } => memory::run(&ctx, command).await,
        Command::Channels { command } => channels::run(&ctx, command).await,
        Command::Dlq { command } => dlq::run(&ctx, command).await,
        Command::Runs { command } => runs::run(&ctx, command).await,
        Command::Queue { command } => queue::run(&ctx, command).await,
        Command::Dedup { command } => dedup::run(&ctx, command).await,
        Command::Health { command, args } => health::run(&ctx, command, args).await,
        Command::Route { command, args } => match command {
            Some(command) => route::run(&ctx, command).await,
            None => route::route_one(&ctx, args).await,
        },
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Early(err)) if json => {
            println!("{}", serde_json::json!({ "error": err.to_json() }));
            ExitCode::FAILURE
        }
        Err(Failure::Early(err) | Failure::Reported(err)) => {
            eprintln!("error[{}]: {err}", err.code());
            ExitCode::FAILURE
        }
    }
}

async fn serve_loopback(ctx: &Ctx, port: u16) -> Done {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let provider = loopback::Loopback::start_on(addr)
        .await
        .map_err(|e| Failure::Early(keel::Error::invalid_input("port", e.to_string())))?;
    ctx.emit(&serde_json::json!({"base_url": provider.base_url}), || {
        format!("loopback provider on {}\n", provider.base_url)
    });
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

async fn migrate(ctx: &Ctx) -> Done {
    let keel = ctx.connect_with(DEFAULT_URL, Create::Yes, false).await?;
    let applied = keel.migrate().await?;
    let all = keel.applied_migrations().await?;
    ctx.emit(
        &serde_json::json!({"database": keel.url(), "applied": applied, "migrations": all}),
        || {
            let mut text = format!(
                "{}: {applied} migration(s) applied, {} in total\n",
                keel.url(),
                all.len()
            );
            for m in &all {
                text += &format!("  {:04} {}\n", m.version, m.description);
            }
            text
        },
    );
    keel.close().await;
    Ok(())
}
