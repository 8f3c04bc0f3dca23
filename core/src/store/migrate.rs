//! The embedded migrations (`migrations/sqlite`, `migrations/postgres`), applied from empty.
//!
//! On PostgreSQL the migrations table lives in schema `keel` beside everything else: the schema
//! is created before the migrator runs, and every connection's `search_path` starts with it.
//! sqlx takes an advisory lock on PostgreSQL, so instances that start together migrate once.

use serde::Serialize;
use sqlx::migrate::Migrator;

use super::Pool;
use crate::error::{Error, Result};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// One migration recorded as applied in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedMigration {
    /// The number in the file name, e.g. `1` for `0001_foundation.sql`.
    pub version: i64,
    /// The rest of the file name, e.g. `foundation`.
    pub description: String,
}

pub(super) async fn run(pool: &Pool, masked_url: &str) -> Result<()> {
    let failed = |source| Error::Migration {
        url: masked_url.to_owned(),
        source,
    };
    match pool {
        Pool::Sqlite(pool) => {
            // SQLite has no advisory lock: when several connections migrate one file at once,
            // each loser's migration rolls back whole and the next pass reads what the winner
            // applied. Every lost pass means another migration landed, so passes converge; they
            // are bounded by time, not by count, since many may contend.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            let mut pause = std::time::Duration::from_millis(5);
            loop {
                match SQLITE.run(pool).await {
                    Ok(()) => return Ok(()),
                    // A lost race fails while executing; a changed or missing migration does
                    // not, and fails at once.
                    Err(
                        sqlx::migrate::MigrateError::Execute(_)
                        | sqlx::migrate::MigrateError::ExecuteMigration(..),
                    ) if std::time::Instant::now() < deadline => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(std::time::Duration::from_millis(100));
                    }
                    Err(e) => return Err(failed(e)),
                }
            }
        }
        Pool::Postgres(pool) => {
            // `CREATE SCHEMA IF NOT EXISTS` is not safe against a concurrent twin (both can
            // pass the check, one fails on the catalog's unique index), so it runs under a
            // transaction-scoped advisory lock. The migrator then takes its own lock.
            let schema = async {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtextextended('keel.create_schema', 0))",
                )
                .execute(&mut *tx)
                .await?;
                sqlx::query("CREATE SCHEMA IF NOT EXISTS keel")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            };
            schema.await.map_err(|e: sqlx::Error| failed(e.into()))?;
            POSTGRES.run(pool).await.map_err(failed)
        }
    }
}

impl Pool {
    /// Applies any migration not yet applied and returns how many were.
    ///
    /// # Errors
    /// [`Error::Migration`] when a migration fails or an applied one was changed afterwards.
    pub async fn migrate(&self, masked_url: &str) -> Result<usize> {
        let before = self.applied_migrations().await?.len();
        run(self, masked_url).await?;
        Ok(self.applied_migrations().await?.len() - before)
    }

    /// The migrations recorded as applied, oldest first (empty on a fresh database).
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>> {
        const SQL: &str =
            "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version";
        let rows: Vec<(i64, String)> = match self {
            Pool::Sqlite(pool) => {
                let exists: Option<(String,)> = sqlx::query_as(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_optional(pool)
                .await?;
                if exists.is_none() {
                    return Ok(Vec::new());
                }
                sqlx::query_as(SQL).fetch_all(pool).await?
            }
            Pool::Postgres(pool) => {
                let exists: (bool,) =
                    sqlx::query_as("SELECT to_regclass('keel._sqlx_migrations') IS NOT NULL")
                        .fetch_one(pool)
                        .await?;
                if !exists.0 {
                    return Ok(Vec::new());
                }
                sqlx::query_as(SQL).fetch_all(pool).await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(version, description)| AppliedMigration {
                version,
                description,
            })
            .collect())
    }

    /// The migrations compiled into this build for this pool's backend.
    pub fn embedded_migrations(&self) -> Vec<AppliedMigration> {
        let migrator = match self {
            Pool::Sqlite(_) => &SQLITE,
            Pool::Postgres(_) => &POSTGRES,
        };
        migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| AppliedMigration {
                version: m.version,
                description: m.description.to_string(),
            })
            .collect()
    }
}
