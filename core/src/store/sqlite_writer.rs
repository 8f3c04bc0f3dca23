//! Every SQLite write transaction Keel opens ([`in_transaction`](super::in_transaction)'s SQLite
//! side, the log sink's batches): one pooled connection taken for one `BEGIN IMMEDIATE`
//! transaction.
//!
//! A future dropped while its `BEGIN` is in flight (a cancelled call, a timeout, a Python task
//! cancelled) can leave sqlx-sqlite 0.8's connection inside a transaction that nothing will end:
//! the worker thread begins it and acknowledges, but no `Transaction` is made to roll it back.
//! Back in the pool, that connection holds SQLite's write lock, and every other writer waits
//! out its busy timeout and fails with "database is locked". A writer dropped mid-`BEGIN`
//! therefore queues a `ROLLBACK` on its connection before the connection goes back: SQLite's
//! thread runs commands in order, so the rollback follows the `BEGIN` (and is a no-op if the
//! `BEGIN` failed or sqlx already undid it). The connection stays in the pool, which matters for
//! `sqlite::memory:`, whose one connection is the whole database.

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteTransactionManager;
use sqlx::{Connection, Sqlite, SqlitePool, Transaction, TransactionManager};

/// A pooled SQLite connection about to begin a write transaction.
pub(crate) struct SqliteWriter {
    conn: PoolConnection<Sqlite>,
    /// True while a `BEGIN` may be in flight: if dropped then, a rollback is queued.
    beginning: bool,
}

impl SqliteWriter {
    /// Takes a connection from `pool`.
    pub(crate) async fn acquire(pool: &SqlitePool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            conn: pool.acquire().await?,
            beginning: false,
        })
    }

    /// Begins the transaction, taking SQLite's write lock now (`BEGIN IMMEDIATE`), so that a
    /// transaction that reads before it writes cannot fail to upgrade its lock.
    pub(crate) async fn begin(&mut self) -> Result<Transaction<'_, Sqlite>, sqlx::Error> {
        self.beginning = true;
        let tx = self.conn.begin_with("BEGIN IMMEDIATE").await;
        self.beginning = false;
        tx
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        if self.beginning {
            // Queued ahead of the pool's own release check (the connection is dropped after
            // this), so it runs before anyone else's command on this connection.
            SqliteTransactionManager::start_rollback(&mut self.conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::str::FromStr;
    use std::task::Context;
    use std::time::Duration;

    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

    use super::SqliteWriter;

    /// A pool on a new database file in WAL mode, as Keel opens one, with a table `t`.
    async fn file_pool() -> sqlx::SqlitePool {
        let path = std::env::temp_dir().join(format!("keel-writer-{}.db", uuid::Uuid::new_v4()));
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4);
        with_table(pool.connect_with(options).await.unwrap()).await
    }

    /// A pool on `sqlite::memory:` as Keel opens one: one connection, which is the database.
    async fn memory_pool() -> sqlx::SqlitePool {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").unwrap();
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        with_table(pool.connect_with(options).await.unwrap()).await
    }

    async fn with_table(pool: sqlx::SqlitePool) -> sqlx::SqlitePool {
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        pool
    }

    /// The `BEGIN` reaches SQLite and is acknowledged, and only then is the future dropped:
    /// the race a cancellation can lose. The next writer must neither wait on a lock nobody
    /// holds nor find itself inside that transaction, and the database must still be there.
    async fn drop_mid_begin_then_write(pool: sqlx::SqlitePool) {
        for _ in 0..3 {
            let mut writer = SqliteWriter::acquire(&pool).await.unwrap();
            {
                let mut begin = pin!(writer.begin());
                let waker = futures_util::task::noop_waker();
                let polled = begin.as_mut().poll(&mut Context::from_waker(&waker));
                assert!(polled.is_pending(), "the BEGIN waits on SQLite's thread");
                // SQLite's thread runs the BEGIN and acknowledges it while the future lives.
                std::thread::sleep(Duration::from_millis(100));
            }
            drop(writer);
            let write = async {
                let mut writer = SqliteWriter::acquire(&pool).await?;
                let mut tx = writer.begin().await?;
                sqlx::query("INSERT INTO t (n) VALUES (1)")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            };
            tokio::time::timeout(Duration::from_secs(2), write)
                .await
                .expect("the next writer waited on a leaked write lock")
                .unwrap();
        }
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_dropped_mid_begin_leaves_no_lock_behind() {
        drop_mid_begin_then_write(file_pool().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_dropped_mid_begin_keeps_the_in_memory_database() {
        drop_mid_begin_then_write(memory_pool().await).await;
    }

    #[tokio::test]
    async fn a_writer_commits_and_rolls_back() {
        let pool = file_pool().await;
        let mut writer = SqliteWriter::acquire(&pool).await.unwrap();
        let mut tx = writer.begin().await.unwrap();
        sqlx::query("INSERT INTO t (n) VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        drop(tx);
        drop(writer);
        let mut writer = SqliteWriter::acquire(&pool).await.unwrap();
        let mut tx = writer.begin().await.unwrap();
        sqlx::query("INSERT INTO t (n) VALUES (2)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM t")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(rows, vec![2], "the dropped transaction rolled back");
    }
}
