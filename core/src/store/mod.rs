//! Storage: the sqlx pools behind a [`crate::Keel`] handle, and the embedded migrations.
//!
//! SQLite is the embedded default; PostgreSQL is how several service instances share state.
//! Queries are checked at run time (no live database is needed to build). Capability modules
//! match on [`Pool`] where the two SQL dialects differ and keep the rest shared.

pub(crate) mod bind;
mod dialect;
mod migrate;
pub mod partitions;
mod sqlite_writer;
mod url;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use self::dialect::Dialect;
pub use self::migrate::AppliedMigration;
pub use self::url::{Backend, DEFAULT_URL, DatabaseUrl, mask_url};
use crate::error::{Error, Result};

/// The schema every Keel object lives in on PostgreSQL.
pub const PG_SCHEMA: &str = "keel";

/// A connection pool on one of the two backends.
#[derive(Debug, Clone)]
pub enum Pool {
    /// Embedded SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL; every connection has `search_path = keel, public`.
    Postgres(sqlx::PgPool),
}

/// How [`crate::Keel::connect_with`] opens the database. Deserializes from the bindings'
/// options object: `migrate`, `create`, `max_connections`, and `connect_timeout` in seconds
/// (or `connect_timeout_ms`, JavaScript's spelling, in milliseconds).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(from = "ConnectSpec")]
pub struct ConnectOptions {
    /// Apply the embedded migrations on connect (default `true`).
    pub migrate: bool,
    /// Create a SQLite file (and its folder) that does not exist yet (default `true`). With
    /// `false`, a missing file is [`Error::Connection`] and nothing is created: what a
    /// read-only tool wants, so that a mistyped path is an error, not a new empty database.
    pub create: bool,
    /// Upper bound on pooled connections (default 10; always 1 for `sqlite::memory:`).
    pub max_connections: u32,
    /// How long to wait for a connection, including the first one (default 10 s).
    pub connect_timeout: Duration,
    /// OTLP export of this handle's spans (see [`crate::telemetry::export`]); unset fields
    /// fall back to the `OTEL_*` environment variables.
    pub otlp: crate::telemetry::export::OtlpOptions,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            create: true,
            max_connections: 10,
            connect_timeout: Duration::from_secs(10),
            otlp: Default::default(),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConnectSpec {
    migrate: bool,
    create: bool,
    #[serde(deserialize_with = "crate::options::de::at_least_one")]
    max_connections: u32,
    #[serde(deserialize_with = "crate::options::de::opt_secs")]
    connect_timeout: Option<Duration>,
    #[serde(deserialize_with = "crate::options::de::opt_millis")]
    connect_timeout_ms: Option<Duration>,
    otlp: crate::telemetry::export::OtlpOptions,
}

impl Default for ConnectSpec {
    fn default() -> Self {
        let d = ConnectOptions::default();
        Self {
            migrate: d.migrate,
            create: d.create,
            max_connections: d.max_connections,
            connect_timeout: None,
            connect_timeout_ms: None,
            otlp: Default::default(),
        }
    }
}

impl From<ConnectSpec> for ConnectOptions {
    fn from(spec: ConnectSpec) -> Self {
        ConnectOptions {
            migrate: spec.migrate,
            create: spec.create,
            max_connections: spec.max_connections,
            connect_timeout: spec
                .connect_timeout_ms
                .or(spec.connect_timeout)
                .unwrap_or(ConnectOptions::default().connect_timeout),
            otlp: spec.otlp,
        }
    }
}

impl ConnectOptions {
    fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::invalid_input(
                "options.max_connections",
                "must be at least 1",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::invalid_input(
                "options.connect_timeout",
                "must be greater than zero",
            ));
        }
        Ok(())
    }
}

/// Opens a pool for `url` and, unless turned off, applies the migrations.
pub(crate) async fn open(raw: &str, url: &DatabaseUrl, options: &ConnectOptions) -> Result<Pool> {
    options.validate()?;
    let connection = |source| Error::Connection {
        url: url.masked.clone(),
        source,
    };
    let pool = match url.backend {
        Backend::Sqlite => {
            if let Some(path) = url.path.as_deref()
                && !options.create
                && !path.exists()
            {
                let missing = std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "no SQLite database at {} (nothing was created)",
                        path.display()
                    ),
                );
                return Err(connection(sqlx::Error::Io(missing)));
            }
            if let Some(parent) = url.path.as_deref().and_then(std::path::Path::parent)
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| connection(sqlx::Error::Io(e)))?;
            }
            let mut connect = SqliteConnectOptions::from_str(raw.trim())
                .map_err(|e| Error::InvalidUrl {
                    url: url.masked.clone(),
                    reason: e.to_string(),
                })?
                .create_if_missing(options.create)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let mut pool = SqlitePoolOptions::new().acquire_timeout(options.connect_timeout);
            if url.in_memory {
                // Each connection to `:memory:` is its own database: keep exactly one, forever.
                pool = pool
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            } else {
                connect = connect
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal);
                pool = pool.max_connections(options.max_connections);
            }
            // Connections that open a new file together race to switch it to WAL, and SQLite
            // answers some of them SQLITE_BUSY at once, without waiting in its busy handler.
            // Those are retried, with a growing pause, until `connect_timeout`.
            let started = std::time::Instant::now();
            let mut pause = Duration::from_millis(10);
            loop {
                let opened = match probe::<sqlx::SqliteConnection>(
                    &connect,
                    options.connect_timeout,
                )
                .await
                {
                    Ok(()) => pool.clone().connect_with(connect.clone()).await,
                    Err(err) => Err(err),
                };
                match opened {
                    Err(err)
                        if is_sqlite_busy(&err) && started.elapsed() < options.connect_timeout =>
                    {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(200));
                    }
                    opened => break Pool::Sqlite(opened.map_err(connection)?),
                }
            }
        }
        Backend::Postgres => {
            let connect = PgConnectOptions::from_str(raw.trim())
                .map_err(|e| Error::InvalidUrl {
                    url: url.masked.clone(),
                    reason: e.to_string(),
                })?
                .options([("search_path", "keel,public")]);
            probe::<sqlx::PgConnection>(&connect, options.connect_timeout)
                .await
                .map_err(connection)?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.connect_timeout)
                .connect_with(connect)
                .await
                .map_err(connection)?;
            Pool::Postgres(pool)
        }
    };
    if options.migrate {
        migrate::run(&pool, &url.masked).await?;
    }
    Ok(pool)
}

/// Whether `err` is SQLite's SQLITE_BUSY (any extended code of it).
fn is_sqlite_busy(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 5),
        _ => false,
    }
}

/// Opens and closes one connection, so that a refused connection or a wrong password fails at
/// once: the pool itself would keep retrying until `connect_timeout`.
async fn probe<C: sqlx::Connection>(
    options: &C::Options,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    let connection = tokio::time::timeout(timeout, C::connect_with(options))
        .await
        .map_err(|_| {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} ms", timeout.as_millis()),
            ))
        })??;
    connection.close().await
}

impl Pool {
    /// The engine behind this pool.
    pub fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection; in-flight queries finish first.
    pub async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    /// True once [`Pool::close`] has been called.
    pub fn is_closed(&self) -> bool {
        match self {
            Pool::Sqlite(pool) => pool.is_closed(),
            Pool::Postgres(pool) => pool.is_closed(),
        }
    }

    /// Runs `SELECT 1` to prove the database answers.
    pub async fn ping(&self) -> Result<()> {
        match self {
            Pool::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Pool::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }
}

/// A Keel table and how many rows it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableInfo {
    /// The table name, without schema.
    pub name: String,
    /// Its row count at the time of the call.
    pub rows: i64,
}

impl Pool {
    /// Every Keel table with its row count, by name: the data model, the same list on both
    /// backends. Left out: migration bookkeeping, and on PostgreSQL the partitions of the
    /// partitioned tables (counted in their table) and the partitioning's own tables
    /// ([`partitions::POSTGRES_ONLY`]; see [`partitions::list`]).
    pub async fn tables(&self) -> Result<Vec<TableInfo>> {
        let names: Vec<String> = match self {
            Pool::Sqlite(pool) => sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                     AND name <> '_sqlx_migrations' ORDER BY name",
            )
            .fetch_all(pool)
            .await?,
            Pool::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT relname::text FROM pg_class
                      WHERE relnamespace = 'keel'::regnamespace AND relkind IN ('r', 'p')
                        AND NOT relispartition AND relname <> '_sqlx_migrations'
                        AND NOT relname = ANY($1)
                      ORDER BY relname",
                )
                .bind(partitions::POSTGRES_ONLY)
                .fetch_all(pool)
                .await?
            }
        };
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            // Names come from the catalog, not from callers; quoting keeps them identifiers.
            let sql = format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\""));
            let rows: i64 = match self {
                Pool::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await?,
                Pool::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await?,
            };
            out.push(TableInfo { name, rows });
        }
        Ok(out)
    }
}

/// Runs `$body` once per backend, with `$tx` an open transaction (committed after the body;
/// returning early rolls it back) and `$sql` turning PostgreSQL text into the backend's dialect
/// ([`Dialect::spell`]). `$lock`, when `Some(text)`, first takes a transaction-scoped advisory
/// lock on that text on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serializes writers.
macro_rules! in_transaction {
    ($pool:expr, $lock:expr, |$tx:ident, $sql:ident| $body:block) => {
        match $pool {
            $crate::store::Pool::Postgres(pg) => {
                let mut $tx = pg.begin().await?;
                let $sql = |text: &str| $crate::store::Dialect::POSTGRES.spell(text);
                if let Some(lock) = $lock {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                        .bind(lock)
                        .execute(&mut *$tx)
                        .await?;
                }
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Pool::Sqlite(lite) => {
                let mut writer = $crate::store::SqliteWriter::acquire(lite).await?;
                let mut $tx = writer.begin().await?;
                let $sql = |text: &str| $crate::store::Dialect::SQLITE.spell(text);
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Runs `$body` once per backend with `$conn` the pool and `$sql` the dialect function (see
/// [`in_transaction`]), for statements outside a transaction.
macro_rules! on_pool {
    ($pool:expr, |$conn:ident, $sql:ident| $body:expr) => {
        match $pool {
            $crate::store::Pool::Postgres($conn) => {
                let $sql = |text: &str| $crate::store::Dialect::POSTGRES.spell(text);
                $body
            }
            $crate::store::Pool::Sqlite($conn) => {
                let $sql = |text: &str| $crate::store::Dialect::SQLITE.spell(text);
                $body
            }
        }
    };
}

pub(crate) use sqlite_writer::SqliteWriter;
pub(crate) use {in_transaction, on_pool};

/// `text` as an RFC 3339 time.
///
/// # Errors
/// [`crate::Error::InvalidInput`] on `field` when `text` is not one.
pub(crate) fn parse_time(field: &str, text: &str) -> crate::Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| crate::Error::invalid_input(field, "must be an RFC 3339 time"))
}

/// `text` as a `LIKE` pattern matching any text that contains it: `\`, `%` and `_` escaped
/// with `\` (write `ESCAPE '\'` after the pattern), surrounded by `%`.
pub(crate) fn like_contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Epoch milliseconds as an RFC 3339 UTC time with milliseconds, as records show times.
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A time as SQLite's `system_logs."timestamp"` holds it: RFC 3339 UTC with microseconds
/// (`2026-12-07T18:18:53.123456Z`), which sorts as text in time order. chrono's RFC 3339
/// writer, not a `strftime` pattern parsed again for every row.
pub(crate) fn rfc3339_micros(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// `value` as JSON text for a statement, with every NUL character in its strings and keys
/// replaced by U+FFFD, on both backends alike: PostgreSQL's `jsonb` and `text` reject NUL, and
/// SQLite would keep it, so the two would store different data (the log writer treats its text
/// the same way, `telemetry::clean_text`).
pub(crate) fn storable_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    // serde_json writes a NUL as `\u0000`; without that sequence there is none to replace.
    if !text.contains("\\u0000") {
        return text;
    }
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    scrub_nul(&mut value);
    value.to_string()
}

/// `value` with every NUL in its strings and keys replaced by U+FFFD, as [`storable_json`]
/// stores it: for a value that is kept in memory as well as stored.
pub(crate) fn storable_value(mut value: serde_json::Value) -> serde_json::Value {
    scrub_nul(&mut value);
    value
}

/// `text` for a `text` column: NUL replaced by U+FFFD, as [`storable_json`] does.
pub(crate) fn storable_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn scrub_nul(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(clean) = storable_text(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_nul),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                scrub_nul(&mut item);
                map.insert(storable_text(&key).into_owned(), item);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::{rfc3339_micros, storable_json, storable_text};

    #[test]
    fn storable_json_replaces_nul_and_nothing_else() {
        assert_eq!(storable_json(&json!({"a": "plain"})), r#"{"a":"plain"}"#);
        assert_eq!(
            storable_json(&json!({"k\u{0}": ["x\u{0}y", 1]})),
            "{\"k\u{FFFD}\":[\"x\u{FFFD}y\",1]}"
        );
        // The six characters `\u0000` written out in a string are text, not a NUL.
        let literal = json!({"a": "\\u0000"});
        assert_eq!(storable_json(&literal), literal.to_string());
        assert_eq!(storable_text("a\u{0}b"), "a\u{FFFD}b");
    }

    #[test]
    fn log_times_keep_six_digits_of_fraction_and_sort_as_text() {
        let whole = Utc.with_ymd_and_hms(2026, 12, 7, 18, 18, 53).unwrap();
        assert_eq!(rfc3339_micros(whole), "2026-12-07T18:18:53.000000Z");
        let later = whole + chrono::Duration::microseconds(123_456);
        assert_eq!(rfc3339_micros(later), "2026-12-07T18:18:53.123456Z");
        // The pattern rows were written with before: the same text, so old and new rows compare.
        for time in [whole, later, Utc.timestamp_opt(0, 1_000).unwrap()] {
            assert_eq!(
                rfc3339_micros(time),
                time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
            );
        }
        assert!(rfc3339_micros(whole) < rfc3339_micros(later));
    }
}
