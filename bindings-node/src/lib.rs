//! `@keel/core`: the napi-rs glue over the Keel core. No logic lives here.
//!
//! Every I/O function returns a Promise; every error, thrown or rejected, carries `err.code`
//! (see `error.rs`).

mod error;
mod ffi_probe;
mod models;
mod skills;
mod store;
mod telemetry;

use std::time::Duration;

use napi_derive::napi;

use crate::error::{Arg, Outcome, guard_async};
use crate::store::AppliedMigration;

/// Options of `connect`.
#[napi(object)]
#[derive(Default)]
pub struct ConnectOptions {
    /// Apply the embedded migrations on connect (default `true`).
    pub migrate: Option<bool>,
    /// Upper bound on pooled connections (default 10).
    pub max_connections: Option<u32>,
    /// Milliseconds to wait for the database (default 10000).
    pub connect_timeout_ms: Option<f64>,
}

impl ConnectOptions {
    fn into_core(self) -> keel::Result<keel::ConnectOptions> {
        let defaults = keel::ConnectOptions::default();
        let connect_timeout = match self.connect_timeout_ms {
            None => defaults.connect_timeout,
            Some(ms) => Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| {
                keel::Error::invalid_input(
                    "options.connectTimeoutMs",
                    "must be a finite number of milliseconds ≥ 0",
                )
            })?,
        };
        Ok(keel::ConnectOptions {
            migrate: self.migrate.unwrap_or(defaults.migrate),
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            connect_timeout,
        })
    }
}

/// Options of `cleanupLogs`.
#[napi(object)]
#[derive(Default)]
pub struct CleanupOptions {
    /// Count what would be deleted, delete nothing.
    pub dry_run: Option<bool>,
    /// Rows per delete statement (default 10000).
    pub batch_size: Option<u32>,
}

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
    #[napi(ts_return_type = "Promise<number>")]
    pub async fn migrate(&self) -> napi::Result<Outcome<u32>> {
        let keel = self.inner.clone();
        guard_async(async move { Ok(keel.migrate().await? as u32) }).await
    }

    /// The migrations recorded in the database, oldest first.
    #[napi(ts_return_type = "Promise<Array<AppliedMigration>>")]
    pub async fn applied_migrations(&self) -> napi::Result<Outcome<Vec<AppliedMigration>>> {
        let keel = self.inner.clone();
        guard_async(async move {
            Ok(keel
                .applied_migrations()
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
        })
        .await
    }

    /// Round-trips `SELECT 1`.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn ping(&self) -> napi::Result<Outcome<()>> {
        let keel = self.inner.clone();
        guard_async(async move { keel.ping().await }).await
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
    ) -> Outcome<telemetry::Logger> {
        telemetry::build_logger(&env, Some(&self.inner), &service, options.as_ref())
    }

    /// Makes this database the destination of loggers made with the module-level `createLogger`.
    /// Opens the skills registry on this database.
    #[napi(ts_return_type = "Promise<SkillRegistry>")]
    pub async fn skill_registry(
        &self,
        options: Option<skills::SkillRegistryOptions>,
    ) -> napi::Result<Outcome<skills::SkillRegistry>> {
        skills::open_registry(self.inner.clone(), options).await
    }

    /// Opens the model router on this database.
    #[napi(ts_return_type = "Promise<ModelRouter>")]
    pub async fn model_router(
        &self,
        options: Option<models::RouterOptions>,
    ) -> napi::Result<Outcome<models::ModelRouter>> {
        models::open_router(self.inner.clone(), options).await
    }

    #[napi]
    pub fn install_log_sink(&self) {
        napi::bindgen_prelude::within_runtime_if_available(|| self.inner.install_log_sink())
    }

    /// Deletes `system_logs` rows past retention (debug 30 days, info 90, warn 90, error 365) in
    /// batches; with `dryRun` only counts. Resolves to the rows per level.
    #[napi(ts_return_type = "Promise<Record<string, number>>")]
    pub async fn cleanup_logs(
        &self,
        options: Option<CleanupOptions>,
    ) -> napi::Result<Outcome<std::collections::HashMap<String, f64>>> {
        let keel = self.inner.clone();
        let options = options.unwrap_or_default();
        guard_async(async move {
            let policy = keel::telemetry::RetentionPolicy::default();
            let batch = options.batch_size.unwrap_or(10_000);
            let report = keel
                .cleanup_logs(&policy, batch, options.dry_run.unwrap_or(false), |_, _| {})
                .await?;
            Ok(report
                .deleted
                .into_iter()
                .map(|(level, n)| (level.as_str().to_owned(), n as f64))
                .collect())
        })
        .await
    }

    /// Closes the pool for every holder of this handle. Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn close(&self) -> napi::Result<Outcome<()>> {
        let keel = self.inner.clone();
        guard_async(async move {
            keel.close().await;
            Ok(())
        })
        .await
    }
}

/// Connects to `url` (`sqlite::memory:`, `sqlite://path`, `postgres://…`) and applies the
/// migrations unless `options.migrate` is false. Rejects with `code` `invalid_url`,
/// `connection`, `migration` or `invalid_input`; messages carry the URL with its password masked.
#[napi(
    ts_args_type = "url: string, options?: ConnectOptions | undefined | null",
    ts_return_type = "Promise<Keel>"
)]
pub async fn connect(
    url: Arg<String>,
    options: Option<Arg<ConnectOptions>>,
) -> napi::Result<Outcome<Keel>> {
    let url = url.0;
    let options = options.map(|o| o.0).unwrap_or_default();
    guard_async(async move {
        let inner = keel::Keel::connect_with(&url, options.into_core()?).await?;
        Ok(Keel { inner })
    })
    .await
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
