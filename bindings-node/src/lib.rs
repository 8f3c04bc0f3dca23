//! `keelcore` (npm): the napi-rs glue over the Keel core. No logic lives here.
//!
//! Every I/O function returns a Promise; every error, thrown or rejected, carries `err.code`
//! (see `error.rs`).

mod console;
mod dedup;
mod driven;
mod error;
mod fast;
mod ffi_probe;
mod flow;
mod health;
mod init;
mod json;
mod literal;
mod llm;
mod memory;
mod models;
mod options;
mod routing;
mod run;
mod runner;
mod shared;
mod skills;
mod slack;
mod store;
mod telemetry;
mod threads;
mod tokens;
mod transport;

use napi_derive::napi;
use serde_json::Value;

/// mimalloc: a log event is made on the JavaScript thread and freed on the writer's, which
/// glibc's malloc serves slowly (measured in `make bench`'s span rows).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use crate::error::{Arg, Outcome, Ref, run};
use crate::json::Json;
use crate::options::{options, record};

/// A connected Keel instance. Create it with `await connect(url)`.
#[napi]
pub struct Keel {
    inner: keel::Keel,
}

#[napi]
impl Keel {
    /// `"sqlite"` or `"postgres"`.
    #[napi(getter)]
    pub fn backend(&self) -> &'static str {
        self.inner.backend().as_str()
    }

    /// The database URL with its password masked.
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.inner.url().to_owned()
    }

    /// True once `close()` has been called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Applies any embedded migration not yet applied; resolves to how many were applied.
    #[napi(
        ts_args_type = "call?: CallOptions",
        ts_return_type = "Promise<number>"
    )]
    pub async fn migrate(&self) -> napi::Result<Outcome<u32>> {
        run!(self.inner, |keel| Ok(keel.migrate().await? as u32))
    }

    /// The migrations recorded in the database, oldest first.
    #[napi(
        ts_args_type = "call?: CallOptions",
        ts_return_type = "Promise<AppliedMigration[]>"
    )]
    pub async fn applied_migrations(&self) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |keel| Ok(record(
            &keel.applied_migrations().await?
        )))
    }

    /// Round-trips `SELECT 1`.
    #[napi(ts_args_type = "call?: CallOptions", ts_return_type = "Promise<void>")]
    pub async fn ping(&self) -> napi::Result<Outcome<()>> {
        run!(self.inner, |keel| keel.ping().await)
    }

    /// A logger writing to this database's `system_logs`.
    #[napi(
        ts_args_type = "service: string, options?: LoggerOptions",
        ts_return_type = "Logger"
    )]
    pub fn create_logger(
        &self,
        env: napi::Env,
        service: napi::bindgen_prelude::Unknown<'_>,
        options: Option<napi::bindgen_prelude::Unknown<'_>>,
    ) -> Outcome<telemetry::NewLogger> {
        telemetry::build_logger(&env, Some(&self.inner), &service, options.as_ref())
    }

    /// Makes this database the destination of loggers made with the module-level `createLogger`.
    /// Opens the skills registry on this database.
    #[napi(
        ts_args_type = "options?: SkillRegistryOptions, call?: CallOptions",
        ts_return_type = "Promise<SkillRegistry>"
    )]
    pub async fn skill_registry(
        &self,
        options: Option<Json>,
    ) -> napi::Result<Outcome<skills::NewRegistry>> {
        skills::open_registry(self.inner.clone(), options).await
    }

    /// The conversation store on this database (no I/O until a call).
    #[napi]
    pub fn conversations(&self) -> memory::ConversationStore {
        memory::open_store(&self.inner)
    }

    /// The dead-letter queue on this database (no I/O until a call).
    #[napi]
    pub fn dead_letters(&self) -> runner::DeadLetters {
        runner::open_letters(&self.inner)
    }

    /// The Command Centre queue on this database with `options` (no I/O until a call).
    #[napi(
        ts_args_type = "options?: QueueOptions | null",
        ts_return_type = "Queue"
    )]
    pub fn queue(&self, options: Option<json::Json>) -> error::Outcome<flow::Queue> {
        flow::open_queue(&self.inner, options)
    }

    /// Deduplication of this database's Command Centre items with `options` (no I/O until a
    /// call).
    #[napi(
        ts_args_type = "options?: DedupOptions | null",
        ts_return_type = "Dedup"
    )]
    pub fn dedup(&self, options: Option<json::Json>) -> error::Outcome<dedup::Dedup> {
        dedup::open_dedup(&self.inner, options)
    }

    /// A Slack Web API client over this handle's HTTP client (`options.token` required; no
    /// I/O until a call).
    #[napi(ts_args_type = "options: SlackOptions", ts_return_type = "Slack")]
    pub fn slack(&self, options: Option<json::Json>) -> error::Outcome<slack::Slack> {
        slack::open_slack(&self.inner, options)
    }

    /// Slack copilot threads on this database (`options`: when extraction is due; no I/O
    /// until a call).
    #[napi(
        ts_args_type = "options?: SlackThreadOptions | null",
        ts_return_type = "SlackThreads"
    )]
    pub fn slack_threads(
        &self,
        options: Option<json::Json>,
    ) -> error::Outcome<threads::SlackThreads> {
        threads::open_threads(&self.inner, options)
    }

    /// Fleet health on this database (`options.onAlert`, taken apart by `init.js`, receives
    /// alerts instead of the Slack webhook; no I/O until a call).
    #[napi(
        ts_args_type = "options?: FleetOptions | null",
        ts_return_type = "Fleet"
    )]
    pub fn fleet(
        &self,
        options: Option<json::Json>,
        on_alert: Option<transport::SendFn>,
    ) -> error::Outcome<health::Fleet> {
        health::open_fleet(&self.inner, options, on_alert)
    }

    /// Opens the operator console on this database: `keel serve`'s reads and actions by name;
    /// actions only with `allowActions: true`.
    #[napi(
        ts_args_type = "options?: ConsoleOptions | null",
        ts_return_type = "Promise<Console>"
    )]
    pub async fn console(
        &self,
        options: Option<json::Json>,
    ) -> napi::Result<error::Outcome<console::Console>> {
        console::open_console(self.inner.clone(), options).await
    }

    /// Rate limits shared by every instance on this database (no I/O until a call).
    #[napi]
    pub fn shared_limiter(&self) -> flow::SharedLimiter {
        flow::open_shared(&self.inner)
    }

    /// The agent runs (`agent_executions`) on this database (no I/O until a call).
    #[napi]
    pub fn runs(&self) -> run::Runs {
        run::open_runs(&self.inner)
    }

    /// Starts a run for `init.js` (not part of the API).
    #[napi(
        js_name = "_startRun",
        ts_args_type = "config: AgentConfig, isFunction: boolean, llm?: Llm | null, token?: unknown",
        ts_return_type = "_AgentRun"
    )]
    pub fn start_run(
        &self,
        env: napi::Env,
        config: Option<Json>,
        is_function: bool,
        llm: Option<Ref<llm::Llm>>,
        token: Option<Ref<llm::CancelToken>>,
    ) -> Outcome<run::AgentRun> {
        // A script that ends without `db.close()` still writes its runs' rows.
        telemetry::flush_at_exit(&env);
        run::start_run(&self.inner, config.map(|c| c.0), is_function, llm, token)
    }

    /// Opens the model router on this database.
    #[napi(
        ts_args_type = "options?: RouterOptions, call?: CallOptions",
        ts_return_type = "Promise<ModelRouter>"
    )]
    pub async fn model_router(
        &self,
        options: Option<Json>,
    ) -> napi::Result<Outcome<models::NewRouter>> {
        models::open_router(self.inner.clone(), options).await
    }

    #[napi]
    pub fn install_log_sink(&self) {
        napi::bindgen_prelude::within_runtime_if_available(|| self.inner.install_log_sink())
    }

    /// Deletes `system_logs` rows past retention (debug 30 days, info 90, warn 90, error 365) in
    /// batches; with `dryRun` only counts. Resolves to the rows per level.
    #[napi(
        ts_args_type = "options?: CleanupOptions, call?: CallOptions",
        ts_return_type = "Promise<Record<string, number>>"
    )]
    pub async fn cleanup_logs(
        &self,
        options: Option<Json>,
    ) -> napi::Result<Outcome<std::collections::HashMap<&'static str, f64>>> {
        run!(self.inner, |keel| {
            let options = self::options(options, "options")?;
            let report = keel.cleanup_logs_with(&options, |_, _| {}).await?;
            Ok(report
                .deleted
                .into_iter()
                .map(|(level, n)| (level.as_str(), n as f64))
                .collect())
        })
    }

    /// Keeps the time partitions of `system_logs` and `agent_executions` on PostgreSQL: makes
    /// them ahead, moves stray rows out of the default partitions, drops those past retention.
    /// Resolves to the changes; empty on SQLite.
    #[napi(
        ts_args_type = "call?: CallOptions",
        ts_return_type = "Promise<PartitionChange[]>"
    )]
    pub async fn maintain_partitions(&self) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |keel| Ok(record(
            &keel.maintain_partitions().await?
        )))
    }

    /// The time partitions and their sizes; empty on SQLite.
    #[napi(
        ts_args_type = "call?: CallOptions",
        ts_return_type = "Promise<PartitionInfo[]>"
    )]
    pub async fn partitions(&self) -> napi::Result<Outcome<Value>> {
        run!(self.inner, |keel| Ok(record(&keel.partitions().await?)))
    }

    /// Closes the pool for every holder of this handle. Idempotent.
    #[napi(ts_args_type = "call?: CallOptions", ts_return_type = "Promise<void>")]
    pub async fn close(&self) -> napi::Result<Outcome<()>> {
        run!(self.inner, |keel| {
            keel.close().await;
            Ok(())
        })
    }
}

/// Connects to `url` (`sqlite::memory:` when absent, `sqlite://path`, `postgres://…`) and
/// applies the migrations unless `options.migrate` is false. Rejects with `code` `invalid_url`,
/// `connection`, `migration` or `invalid_input`; messages carry the URL with its password masked.
#[napi(
    ts_args_type = "url?: string | null, options?: ConnectOptions | null, call?: CallOptions",
    ts_return_type = "Promise<Keel>"
)]
pub async fn connect(
    url: Option<Arg<String>>,
    options: Option<Json>,
) -> napi::Result<Outcome<Keel>> {
    let url = url.map_or_else(|| keel::DEFAULT_URL.to_owned(), |u| u.0);
    run!((), |_unit| {
        let options = self::options(options, "options")?;
        let inner = keel::Keel::connect_with(&url, options).await?;
        Ok(Keel { inner })
    })
}

/// The stable error codes, in order.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    keel::Error::CODES.to_vec()
}

/// The package version (shared with the Rust crate and the Python package).
#[napi]
pub fn version() -> &'static str {
    keel::VERSION
}
