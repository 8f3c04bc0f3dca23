//! Time partitions on PostgreSQL (migration 0019): the conversion of a database that holds
//! rows, maintenance (partitions ahead, stray rows moved out of the default partition, expired
//! partitions dropped with their keys), two maintenance runs at once, and SQLite's plain tables.

mod common;

use common::{fresh_pg_url, fresh_sqlite_url, pg_admin_url};
use keel::runner::{AgentConfig, Failure};
use keel::{Keel, store::Pool};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

/// A pool on `url` with Keel's search path, without migrating.
async fn raw_pool(url: &str) -> sqlx::PgPool {
    let options = PgConnectOptions::from_str(url)
        .unwrap()
        .options([("search_path", "keel,public")]);
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap()
}

/// Applies the migrations before 0019 to the empty database at `url`, as a database made by
/// the previous release.
async fn migrate_before_partitions(url: &str) {
    let dir = std::env::temp_dir().join(format!("keel-pre-0019-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.as_str() < "0019" {
            std::fs::copy(&path, dir.join(&name)).unwrap();
        }
    }
    let pool = raw_pool(url).await;
    sqlx::query("CREATE SCHEMA IF NOT EXISTS keel")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(dir.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// A digest of every row of `table`, in id order, and the row count.
async fn digest(pool: &sqlx::PgPool, table: &str) -> (String, i64) {
    sqlx::query_as(&format!(
        "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')), count(*) FROM keel.{table} t"
    ))
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn scalar(pool: &sqlx::PgPool, statement: &str) -> i64 {
    sqlx::query_scalar(statement).fetch_one(pool).await.unwrap()
}

fn pg(keel: &Keel) -> sqlx::PgPool {
    match keel.pool().unwrap() {
        Pool::Postgres(p) => p.clone(),
        Pool::Sqlite(_) => unreachable!("a PostgreSQL test"),
    }
}

#[tokio::test]
async fn the_migration_converts_both_tables_without_losing_a_row() {
    let url = fresh_pg_url().await;
    migrate_before_partitions(&url).await;
    let pool = raw_pool(&url).await;
    // 400 days of logs of every level and 200 days of runs, a tenth of them keyed.
    sqlx::query(
        r#"INSERT INTO keel.system_logs ("timestamp", service, action, level, metadata)
           SELECT now() - i * interval '4 hours', 's', 'a' || i,
                  (ARRAY['debug', 'info', 'warn', 'error'])[1 + i % 4], jsonb_build_object('i', i)
             FROM generate_series(1, 2400) i"#,
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO keel.agent_executions (agent_name, execution_type, started_at, completed_at,
                                            status, idempotency_key, credits_consumed)
         SELECT 'agent-' || (i % 7), 'scheduled', now() - i * interval '1 hour',
                now() - i * interval '1 hour' + interval '2 minutes', 'completed',
                CASE WHEN i % 10 = 0 THEN 'key-' || i END, i / 100.0
           FROM generate_series(1, 4800) i",
    )
    .execute(&pool)
    .await
    .unwrap();
    let logs = digest(&pool, "system_logs").await;
    let runs = digest(&pool, "agent_executions").await;
    assert_eq!((logs.1, runs.1), (2400, 4800));
    pool.close().await;

    let keel = Keel::connect(&url).await.unwrap();
    let pool = pg(&keel);
    assert_eq!(
        digest(&pool, "system_logs").await,
        logs,
        "every log row, unchanged"
    );
    assert_eq!(
        digest(&pool, "agent_executions").await,
        runs,
        "every run, unchanged"
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM keel.agent_execution_keys").await,
        480
    );
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "SELECT relname::text, relkind::text FROM pg_class
          WHERE relname IN ('system_logs', 'system_logs_error', 'agent_executions') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        kinds.iter().all(|(_, kind)| kind == "p"),
        "partitioned: {kinds:?}"
    );
    // Every row sits in a partition of its range, none in the defaults; the weeks ahead exist.
    for default in [
        "system_logs_debug_default",
        "system_logs_error_default",
        "agent_executions_default",
    ] {
        assert_eq!(
            scalar(&pool, &format!("SELECT count(*) FROM keel.{default}")).await,
            0,
            "{default}"
        );
    }
    let weeks = scalar(
        &pool,
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'keel.agent_executions'::regclass",
    )
    .await;
    assert!(
        weeks >= 30 + 4,
        "200 days of weeks, four ahead and a default: {weeks}"
    );
    // The converted table takes the runner's writes: a keyed run claims its key once.
    let run = || keel.run_agent(keyed("nightly"), |_| async { Ok::<_, Failure>(json!(1)) });
    let (first, second) = (run().await.unwrap(), run().await.unwrap());
    assert!(!first.deduplicated && second.deduplicated);
    assert_eq!(
        first.execution_id, second.execution_id,
        "the key's run answers the second call"
    );
    // An old key of the converted rows is still held.
    let old: i64 = scalar(
        &pool,
        "SELECT count(*) FROM keel.agent_executions e JOIN keel.agent_execution_keys k
            ON k.execution_id = e.id AND k.started_at = e.started_at WHERE k.idempotency_key = 'key-4800'",
    )
    .await;
    assert_eq!(old, 1);
    keel.close().await;
}

fn keyed(key: &str) -> AgentConfig {
    AgentConfig {
        agent_name: "digest".into(),
        idempotency_key: Some(key.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn maintenance_makes_partitions_ahead_moves_strays_and_drops_expired_ones() {
    let keel = Keel::connect(&fresh_pg_url().await).await.unwrap();
    let pool = pg(&keel);
    // A run from 200 days ago (past the 90 days kept) with its key, and one a year ahead:
    // neither has a partition, both land in the default one.
    for (ago, key) in [("200 days", Some("old-key")), ("-365 days", None)] {
        sqlx::query(
            "WITH run AS (
                 INSERT INTO keel.agent_executions (agent_name, execution_type, started_at, status, idempotency_key)
                 VALUES ('strays', 'manual', now() - $1::interval, 'completed', $2)
                 RETURNING id, started_at, idempotency_key)
             INSERT INTO keel.agent_execution_keys (agent_name, idempotency_key, execution_id, started_at)
             SELECT 'strays', idempotency_key, id, started_at FROM run WHERE idempotency_key IS NOT NULL",
        )
        .bind(ago)
        .bind(key)
        .execute(&pool)
        .await
        .unwrap();
    }
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM keel.agent_executions_default").await,
        2
    );

    let changes = keel.maintain_partitions().await.unwrap();
    let runs: Vec<_> = changes
        .iter()
        .filter(|c| c.table == "agent_executions")
        .collect();
    let moved: u64 = runs
        .iter()
        .filter(|c| c.action == "created")
        .map(|c| c.rows)
        .sum();
    assert_eq!(
        moved, 2,
        "both strays get partitions of their own: {runs:?}"
    );
    let dropped: Vec<_> = runs.iter().filter(|c| c.action == "dropped").collect();
    assert_eq!(dropped.len(), 1, "{runs:?}");
    assert_eq!(dropped[0].rows, 1, "the old run goes with its week");
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM keel.agent_executions_default").await,
        0
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM keel.agent_executions").await,
        1,
        "the year-ahead run stays"
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM keel.agent_execution_keys").await,
        0,
        "its key went with it"
    );
    // So the key is free again: a run with it runs (it is not answered by the dropped run).
    let config = AgentConfig {
        agent_name: "strays".into(),
        ..keyed("old-key")
    };
    let again = keel
        .run_agent(config, |_| async { Ok::<_, Failure>(json!("fresh")) })
        .await
        .unwrap();
    assert!(again.success && !again.deduplicated, "{again:?}");
    // Today's partitions and the ones ahead exist for every table; a second run changes nothing.
    let listed = keel.partitions().await.unwrap();
    for table in [
        "system_logs_debug",
        "system_logs_info",
        "system_logs_warn",
        "system_logs_error",
        "agent_executions",
    ] {
        let ahead = listed
            .iter()
            .filter(|p| p.table == table && p.bounds.starts_with("FOR VALUES"))
            .count();
        assert!(ahead >= 5, "{table}: {ahead} partitions");
    }
    assert!(keel.maintain_partitions().await.unwrap().is_empty());
    // Partitions made by maintenance grant nothing of their own: their table's RLS rules.
    let open = scalar(
        &pool,
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent IN (SELECT format('keel.%I', parent)::regclass FROM keel.partition_policies)
            AND (NOT c.relrowsecurity OR has_table_privilege('authenticated', c.oid, 'SELECT')
                 OR has_table_privilege('service_role', c.oid, 'SELECT'))",
    )
    .await;
    assert_eq!(open, 0, "a partition readable on its own");
    keel.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_maintenance_runs_at_once_make_each_partition_once() {
    let url = fresh_pg_url().await;
    let a = Keel::connect(&url).await.unwrap();
    let b = Keel::connect(&url).await.unwrap();
    let pool = pg(&a);
    // Logs from 40 scattered past days in the defaults, for both runs to move.
    sqlx::query(
        r#"INSERT INTO keel.system_logs ("timestamp", service, action, level)
           SELECT now() - (20 + i) * interval '1 day', 's', 'a', 'info' FROM generate_series(1, 40) i"#,
    )
    .execute(&pool)
    .await
    .unwrap();
    let (x, y) = tokio::join!(a.maintain_partitions(), b.maintain_partitions());
    let (x, y) = (x.unwrap(), y.unwrap());
    let mut made: Vec<_> = x
        .iter()
        .chain(&y)
        .filter(|c| c.action == "created")
        .map(|c| c.partition.clone())
        .collect();
    let all = made.len();
    made.sort();
    made.dedup();
    assert_eq!(made.len(), all, "no partition made twice");
    let moved: u64 = x
        .iter()
        .chain(&y)
        .filter(|c| c.table == "system_logs_info")
        .map(|c| c.rows)
        .sum();
    assert_eq!(moved, 40, "each stray moved once");
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM keel.system_logs").await,
        40
    );
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn sqlite_keeps_plain_tables_and_has_nothing_to_maintain() {
    let keel = Keel::connect(&fresh_sqlite_url()).await.unwrap();
    assert!(keel.maintain_partitions().await.unwrap().is_empty());
    assert!(keel.partitions().await.unwrap().is_empty());
    keel.close().await;
}

/// With pg_cron installed (`make test` installs postgresql-15-cron, `scripts/pg.sh` preloads it
/// for the database `keel_cron`), the migration schedules the maintenance hourly by itself.
#[tokio::test]
async fn with_pg_cron_the_migration_schedules_the_maintenance_hourly() {
    let admin = pg_admin_url();
    let url = format!("{}/keel_cron", admin.rsplit_once('/').unwrap().0);
    let pool = raw_pool(&url).await;
    // From empty: an earlier run's schema and job go first.
    sqlx::query("DROP SCHEMA IF EXISTS keel CASCADE")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_cron")
        .execute(&pool)
        .await
        .expect("pg_cron: `make test` installs postgresql-15-cron and scripts/pg.sh preloads it");
    sqlx::query("DELETE FROM cron.job WHERE jobname = 'keel-partitions'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let keel = Keel::connect(&url).await.unwrap();
    let pool = pg(&keel);
    let jobs: Vec<(String, String)> =
        sqlx::query_as("SELECT schedule, command FROM cron.job WHERE jobname = 'keel-partitions'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let line = keel::store::partitions::pg_cron_schedule();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let (schedule, command) = &jobs[0];
    assert!(
        line.contains(&format!("'{schedule}'")) && line.contains(command.as_str()),
        "{jobs:?} vs {line}"
    );
    // The job's command runs, and scheduling again keeps one job.
    sqlx::query(command).execute(&pool).await.unwrap();
    assert!(
        sqlx::query_scalar::<_, bool>("SELECT keel.schedule_partitions()")
            .fetch_one(&pool)
            .await
            .unwrap()
    );
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM cron.job WHERE jobname = 'keel-partitions'"
        )
        .await,
        1
    );
    keel.close().await;
}
