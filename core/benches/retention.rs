//! Log retention at scale (issue 21 item 9), printed as one JSON object (the last line): the
//! same 2,000,000 `debug` events (half of them past the 30 days kept, over 60 days) pruned two
//! ways on PostgreSQL, in one run:
//!
//! - Keel's: `keel.cleanup_system_logs()` drops the expired day partitions (migration 0019);
//! - the unpartitioned table's: the batched `DELETE … LIMIT 10000 FOR UPDATE SKIP LOCKED` of
//!   migration 0002 (what PostgreSQL did before 0019, and what SQLite still does), on a plain
//!   copy of the table with the same indexes.
//!
//! Reports each one's time, and the WAL each wrote. Needs `KEEL_BENCH_PG_URL`.

use std::time::Instant;

#[path = "fresh_pg.rs"]
mod fresh_pg;
use fresh_pg::fresh_pg;

use keel::{Keel, Pool};

const ROWS: i64 = 2_000_000;

/// Fills `table` with ROWS debug events, one every 60 days / ROWS, newest first.
async fn fill(pg: &sqlx::PgPool, table: &str) {
    sqlx::query(&format!(
        r#"INSERT INTO keel.{table} ("timestamp", service, action, level, metadata)
           SELECT now() - n * (interval '60 days' / $1), 'bench', 'tick', 'debug',
                  jsonb_build_object('n', n)
             FROM generate_series(0, $1 - 1) AS n"#
    ))
    .bind(ROWS)
    .execute(pg)
    .await
    .expect("fill");
    sqlx::query(&format!("VACUUM ANALYZE keel.{table}"))
        .execute(pg)
        .await
        .expect("vacuum");
}

/// The WAL position now, in bytes.
async fn wal(pg: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0')::bigint")
        .fetch_one(pg)
        .await
        .expect("wal")
}

fn main() {
    let Ok(admin) = std::env::var("KEEL_BENCH_PG_URL") else {
        eprintln!("retention bench: KEEL_BENCH_PG_URL is not set; skipped");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let keel = Keel::connect(&fresh_pg(&admin, "retention").await)
            .await
            .expect("connect");
        let Pool::Postgres(pg) = keel.pool().expect("pool") else {
            unreachable!()
        };
        // The plain table: the columns and indexes of system_logs, no partitions.
        sqlx::query("CREATE TABLE keel.logs_plain (LIKE keel.system_logs INCLUDING ALL)")
            .execute(pg)
            .await
            .expect("plain");
        // The days the events fall on, as maintenance would have made them day by day.
        sqlx::query(
            "SELECT keel.make_partition('system_logs_debug', keel.partition_bound('day', now(), -n))
               FROM generate_series(0, 61) AS n",
        )
        .execute(pg)
        .await
        .expect("days");
        fill(pg, "system_logs").await;
        fill(pg, "logs_plain").await;

        let (w0, t0) = (wal(pg).await, Instant::now());
        let deleted: i64 = sqlx::query_scalar(
            "SELECT deleted FROM keel.cleanup_system_logs() WHERE level = 'debug'",
        )
        .fetch_one(pg)
        .await
        .expect("cleanup");
        let (drop_s, drop_wal) = (t0.elapsed().as_secs_f64(), wal(pg).await - w0);

        let (w0, t0) = (wal(pg).await, Instant::now());
        let mut removed = 0u64;
        loop {
            let n = sqlx::query(
                r#"DELETE FROM keel.logs_plain WHERE id IN (
                       SELECT id FROM keel.logs_plain
                        WHERE level = 'debug' AND "timestamp" < now() - interval '30 days'
                        LIMIT 10000 FOR UPDATE SKIP LOCKED)"#,
            )
            .execute(pg)
            .await
            .expect("delete")
            .rows_affected();
            removed += n;
            if n < 10_000 {
                break;
            }
        }
        let (delete_s, delete_wal) = (t0.elapsed().as_secs_f64(), wal(pg).await - w0);
        keel.close().await;
        println!(
            "{}",
            serde_json::json!({
                "rows": ROWS,
                "dropped_rows": deleted,
                "deleted_rows": removed,
                "drop_partitions_s": drop_s,
                "drop_partitions_wal_bytes": drop_wal,
                "batched_delete_s": delete_s,
                "batched_delete_wal_bytes": delete_wal,
            })
        );
    });
}
