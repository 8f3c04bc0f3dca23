//! `Keel.connect`, `parseDatabaseUrl` and `maskUrl` (core: `keel::Keel`, `keel::store`).

use std::sync::Arc;

use crate::error::KeelError;
use crate::runtime::run;

/// A database URL Keel accepts, with its password masked.
#[derive(uniffi::Record)]
pub struct DatabaseUrl {
    /// `"sqlite"` or `"postgres"`.
    pub backend: String,
    /// The URL with any password replaced by `***`; safe to log.
    pub masked: String,
    /// True for `sqlite::memory:`.
    pub in_memory: bool,
    /// The SQLite file, when the URL names one.
    pub path: Option<String>,
}

/// Parses `url` as `connect` would, without connecting.
///
/// # Errors
/// `invalid_url` for a URL Keel does not accept.
#[uniffi::export]
pub fn parse_database_url(url: String) -> Result<DatabaseUrl, KeelError> {
    let parsed = keel::DatabaseUrl::parse(&url)?;
    Ok(DatabaseUrl {
        backend: parsed.backend.as_str().to_owned(),
        masked: parsed.masked,
        in_memory: parsed.in_memory,
        path: parsed.path.map(|p| p.display().to_string()),
    })
}

/// `url` with any password replaced by `***`.
#[uniffi::export]
pub fn mask_url(url: String) -> String {
    keel::mask_url(&url)
}

/// A migration the database has applied.
#[derive(uniffi::Record)]
pub struct AppliedMigration {
    /// The number in the file name, e.g. `1` for `0001_foundation.sql`.
    pub version: i64,
    /// The rest of the file name, e.g. `foundation`.
    pub description: String,
}

/// A connection to Keel's database (SQLite file or memory, or PostgreSQL), migrated.
#[derive(uniffi::Object)]
pub struct Keel {
    pub(crate) inner: keel::Keel,
}

#[uniffi::export]
impl Keel {
    /// Connects to `url` and applies the migrations.
    ///
    /// # Errors
    /// `invalid_url`, `connection` or `migration`; messages carry the URL masked.
    #[uniffi::constructor]
    pub async fn connect(url: String) -> Result<Arc<Self>, KeelError> {
        Self::connect_with(url, None).await
    }

    /// Connects to `url` with `optionsJson` (Node's `ConnectOptions`: `maxConnections`,
    /// `connectTimeoutMs`, `migrate`, `create`, …) and applies the migrations unless
    /// `migrate` is false.
    ///
    /// # Errors
    /// As `connect`; `invalid_input` naming the option at fault.
    #[uniffi::constructor(default(options_json = None))]
    pub async fn connect_with(
        url: String,
        options_json: Option<String>,
    ) -> Result<Arc<Self>, KeelError> {
        let inner = run(async move {
            let options = crate::json::options(options_json.as_deref(), "options")?;
            keel::Keel::connect_with(&url, options).await
        })
        .await?;
        Ok(Arc::new(Self { inner }))
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> String {
        self.inner.backend().as_str().to_owned()
    }

    /// The database URL with its password masked.
    pub fn url(&self) -> String {
        self.inner.url().to_owned()
    }

    /// The migrations the database has applied, oldest first.
    ///
    /// # Errors
    /// Storage errors; `closed`.
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, KeelError> {
        let keel = self.inner.clone();
        let applied = run(async move { keel.applied_migrations().await }).await?;
        Ok(applied
            .into_iter()
            .map(|m| AppliedMigration {
                version: m.version,
                description: m.description,
            })
            .collect())
    }

    /// Applies any migration not yet applied; how many were.
    ///
    /// # Errors
    /// `migration`.
    pub async fn migrate(&self) -> Result<u64, KeelError> {
        let keel = self.inner.clone();
        let applied = run(async move { keel.migrate().await }).await?;
        Ok(applied as u64)
    }

    /// Flushes the log writer and closes the pool; later calls fail with `closed`. (Python's
    /// and Node's `close`: Kotlin's `AutoCloseable.close` and Swift's deinit only release
    /// this handle.)
    pub async fn shutdown(&self) {
        let keel = self.inner.clone();
        // Closing cannot fail; a panic inside it is already reported by the runtime.
        let _ = run(async move {
            keel.close().await;
            Ok(())
        })
        .await;
    }
}
