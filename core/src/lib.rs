#![warn(missing_docs)]
//! # Keel
//!
//! An embeddable core for AI-agent platforms. One implementation of the parts every agent
//! platform rewrites in each service (model routing and budgets, message routing, skills,
//! conversation memory, retries and dead letters, backpressure, deduplication, cross-channel
//! context, structured logs and fleet health), called in-process from Rust, Python and
//! TypeScript.
//!
//! Everything starts from a [`Keel`] handle:
//!
//! ```no_run
//! # async fn demo() -> keel::Result<()> {
//! let keel = keel::Keel::connect("sqlite::memory:").await?;
//! assert_eq!(keel.backend(), keel::Backend::Sqlite);
//! let applied = keel.applied_migrations().await?;
//! assert!(!applied.is_empty());
//! keel.close().await;
//! # Ok(()) }
//! ```

pub mod channels;
pub mod console;
pub mod dedup;
mod diagnostic;
pub mod error;
pub mod fault;
#[doc(hidden)]
pub mod ffi_probe;
pub mod flow;
pub mod idents;
pub mod llm;
pub mod memory;
pub mod models;
pub mod options;
pub mod record;
mod refresher;
pub mod routing;
pub mod runner;
pub mod skills;
pub mod store;
pub mod telemetry;
pub mod tokens;

use std::mem::ManuallyDrop;
use std::sync::{Arc, OnceLock};

pub use crate::error::{Error, Result};
pub use crate::store::{
    AppliedMigration, Backend, ConnectOptions, DEFAULT_URL, DatabaseUrl, Pool, TableInfo, mask_url,
};

/// The version of this crate, shared by the Python and Node packages.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A connected Keel instance: cheap to clone (an `Arc` inside), safe to share across tasks
/// and threads. Clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Keel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: DatabaseUrl,
    /// Dropped only in the process that opened it; see the `Drop` impl.
    pool: ManuallyDrop<Pool>,
    /// The process that opened the pool. Connections do not survive `fork()`.
    pid: u32,
    /// The runtime `connect` ran on; the log writer is spawned there.
    runtime: tokio::runtime::Handle,
    /// The log writer into this database, started on first use.
    sink: OnceLock<telemetry::Sink>,
    /// The HTTP client of model calls and OTLP export, built on first use; one connection
    /// pool per handle.
    http: OnceLock<reqwest::Client>,
    /// The writer of `agent_executions` rows, started on first use.
    runs: OnceLock<runner::RunWriter>,
    /// OTLP export of the log writer's spans, when configured.
    export: Option<telemetry::export::ExportConfig>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A forked child shares its parent's sockets and epoll instance. Closing them here
        // would deregister the parent's connections from the parent's reactor, so a child
        // leaks the pool instead of dropping it.
        if std::process::id() == self.pid {
            // SAFETY: `pool` is never used again; this is the only place it is dropped.
            unsafe { ManuallyDrop::drop(&mut self.pool) }
        }
    }
}

impl Keel {
    /// Connects with default [`ConnectOptions`]: migrations are applied.
    ///
    /// Accepts `sqlite::memory:`, `sqlite://path/to/file.db` (the file and its folder are
    /// created when missing) and `postgres://user:password@host:port/db`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a URL Keel does not accept, [`Error::Connection`] when the
    /// database cannot be reached or opened, [`Error::Migration`] when migrations fail. Every
    /// message carries the URL with its password masked.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, ConnectOptions::default()).await
    }

    /// Connects with explicit [`ConnectOptions`].
    ///
    /// # Errors
    /// As [`Keel::connect`], plus [`Error::InvalidInput`] for unusable options.
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Result<Self> {
        let parsed = DatabaseUrl::parse(url)?;
        let export = options.otlp.from_process()?;
        let pool = store::open(url, &parsed, &options).await?;
        tracing::debug!(url = %parsed.masked, backend = parsed.backend.as_str(), "keel connected");
        Ok(Self {
            inner: Arc::new(Inner {
                url: parsed,
                pool: ManuallyDrop::new(pool),
                pid: std::process::id(),
                runtime: tokio::runtime::Handle::current(),
                sink: OnceLock::new(),
                http: OnceLock::new(),
                runs: OnceLock::new(),
                export,
            }),
        })
    }

    /// The storage engine in use.
    pub fn backend(&self) -> Backend {
        self.inner.url.backend
    }

    /// The database URL with its password masked.
    pub fn url(&self) -> &str {
        &self.inner.url.masked
    }

    /// The connection pool, for capability modules.
    ///
    /// # Errors
    /// [`Error::Closed`] after [`Keel::close`], [`Error::Forked`] in a forked child.
    pub fn pool(&self) -> Result<&Pool> {
        let pid = std::process::id();
        if pid != self.inner.pid {
            return Err(Error::Forked {
                parent_pid: self.inner.pid,
                child_pid: pid,
            });
        }
        if self.inner.pool.is_closed() {
            return Err(Error::Closed);
        }
        Ok(&self.inner.pool)
    }

    /// Applies any embedded migration not yet applied; returns how many were applied.
    ///
    /// # Errors
    /// [`Error::Migration`] when a migration fails.
    pub async fn migrate(&self) -> Result<usize> {
        self.pool()?.migrate(self.url()).await
    }

    /// The migrations recorded in the database, oldest first.
    ///
    /// # Errors
    /// [`Error::Storage`] when the database cannot be read.
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>> {
        self.pool()?.applied_migrations().await
    }

    /// Every Keel table with its row count, by name.
    ///
    /// # Errors
    /// [`Error::Storage`] when the database cannot be read.
    pub async fn tables(&self) -> Result<Vec<TableInfo>> {
        self.pool()?.tables().await
    }

    /// Round-trips `SELECT 1`.
    ///
    /// # Errors
    /// [`Error::Connection`] when the database cannot be reached (refused, reset, timed out
    /// waiting for a connection); [`Error::Storage`] when it answers with an error.
    pub async fn ping(&self) -> Result<()> {
        self.pool()?
            .ping()
            .await
            .map_err(|err| err.unreachable_as_connection(&self.inner.url.masked))
    }

    /// The process-wide log writer into this database's `system_logs`, started on first use
    /// on the runtime `connect` ran on. Every logger made from this handle shares it. With
    /// OTLP export configured, it also hands its spans to the exporter (and, with
    /// `system_logs: false`, writes nothing to the database).
    pub fn log_sink(&self) -> &telemetry::Sink {
        self.inner.sink.get_or_init(|| {
            let _guard = self.inner.runtime.enter();
            let export = self.inner.export.clone().and_then(|config| {
                let keep = config.system_logs;
                telemetry::export::Exporter::start(config, self.http().clone())
                    .inspect_err(|e| tracing::warn!(error = %e, "keel otlp: export not started"))
                    .ok()
                    .map(|e| (e, keep))
            });
            let destination = match &export {
                Some((_, false)) => telemetry::Destination::Discard,
                _ => telemetry::Destination::Database((*self.inner.pool).clone()),
            };
            let options = telemetry::SinkOptions {
                export: export.map(|(e, _)| e),
                ..Default::default()
            };
            telemetry::Sink::start(destination, options)
        })
    }

    /// Whether model calls record their prompts and completions on their spans: OTLP export
    /// is on with `capture_content` (see [`telemetry::export::OtlpOptions`]).
    pub fn captures_content(&self) -> bool {
        self.inner
            .export
            .as_ref()
            .is_some_and(|e| e.capture_content)
    }

    /// The HTTP client model calls share: rustls, HTTP/2 where the server offers it, pooled
    /// connections kept alive between calls.
    pub fn http(&self) -> &reqwest::Client {
        self.inner.http.get_or_init(|| {
            reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(90))
                .tcp_nodelay(true)
                .build()
                .unwrap_or_default()
        })
    }

    /// Makes this database the destination of loggers created without a handle
    /// ([`telemetry::default_sink`]), e.g. the module-level `createLogger` of the bindings.
    pub fn install_log_sink(&self) {
        telemetry::set_default_sink(self.log_sink().clone());
    }

    /// A logger for `service` writing to this database (see [`telemetry::Logger`]).
    pub fn logger(&self, service: &str, options: telemetry::LoggerOptions) -> telemetry::Logger {
        self.logger_with(service, options, telemetry::LogFilter::default())
    }

    /// [`Keel::logger`] with a minimum level and debug sampling.
    pub fn logger_with(
        &self,
        service: &str,
        options: telemetry::LoggerOptions,
        filter: telemetry::LogFilter,
    ) -> telemetry::Logger {
        telemetry::Logger::new(self.log_sink().clone(), service, options, filter)
    }

    /// Deletes `system_logs` rows older than `policy` allows, in batches (see
    /// [`telemetry::cleanup`]).
    ///
    /// # Errors
    /// [`Error::Storage`] when a delete fails; [`Error::InvalidInput`] for a zero batch size.
    pub async fn cleanup_logs(
        &self,
        policy: &telemetry::RetentionPolicy,
        batch_size: u32,
        dry_run: bool,
        progress: impl FnMut(telemetry::Level, u64),
    ) -> Result<telemetry::RetentionReport> {
        telemetry::cleanup(self.pool()?, policy, batch_size, dry_run, progress).await
    }

    /// [`Keel::cleanup_logs`] with the default policy and the batch size and dry-run flag of
    /// `options`, as the bindings and the CLI call it.
    ///
    /// # Errors
    /// As [`Keel::cleanup_logs`].
    pub async fn cleanup_logs_with(
        &self,
        options: &telemetry::CleanupOptions,
        progress: impl FnMut(telemetry::Level, u64),
    ) -> Result<telemetry::RetentionReport> {
        let policy = telemetry::RetentionPolicy::default();
        self.cleanup_logs(&policy, options.batch_size, options.dry_run, progress)
            .await
    }

    /// Keeps the time partitions of `system_logs` and `agent_executions` on PostgreSQL: makes
    /// them ahead, moves stray rows out of the default partitions, drops those past retention
    /// (see [`store::partitions`]). Empty on SQLite, whose tables are not partitioned.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn maintain_partitions(&self) -> Result<Vec<store::partitions::PartitionChange>> {
        store::partitions::maintain(self.pool()?).await
    }

    /// The time partitions and their sizes (see [`store::partitions::list`]).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn partitions(&self) -> Result<Vec<store::partitions::PartitionInfo>> {
        store::partitions::list(self.pool()?).await
    }

    /// The stored events of one trace, in time order (see [`telemetry::render_tree`]).
    ///
    /// # Errors
    /// [`Error::Storage`] when the read fails.
    pub async fn trace(&self, trace_id: uuid::Uuid) -> Result<Vec<telemetry::TraceEvent>> {
        telemetry::trace_events(self.pool()?, trace_id).await
    }

    /// Closes the pool for every clone of this handle, after writing every queued log event.
    /// Idempotent.
    pub async fn close(&self) {
        if let Some(runs) = self.inner.runs.get() {
            runs.flush().await;
        }
        if let Some(sink) = self.inner.sink.get() {
            sink.flush().await;
        }
        self.inner.pool.close().await;
    }

    /// Where [`Keel::run_writer`] keeps its writer.
    pub(crate) fn runs_cell(&self) -> &OnceLock<runner::RunWriter> {
        &self.inner.runs
    }

    /// The runtime `connect` ran on.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.inner.runtime
    }

    /// True once [`Keel::close`] has been called on any clone.
    pub fn is_closed(&self) -> bool {
        self.inner.pool.is_closed()
    }
}
