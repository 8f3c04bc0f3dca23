//! Fleet health at scale (issue 21), printed as one JSON object (the last line): 50 agents
//! and 1,000,000 `agent_executions` rows (30 days of runs, a tenth failed, some running) on
//! PostgreSQL:
//!
//! - `Fleet::status` (the one fleet query) and `Fleet::check` (the query, alert decisions,
//!   the snapshots' batch; no webhook), p50 and p95 of 20 runs (goal ≤ 200 ms);
//! - the original design beside it: three queries per agent, the day's rows pulled to the
//!   client (150 queries), p50 of 5 runs;
//! - the plan (`EXPLAIN (ANALYZE, BUFFERS)`), written to `target/bench/fleet_plan.txt`.
//!
//! Needs `KEEL_BENCH_PG_URL` (an admin URL: the benchmark makes a database of its own).

use std::time::{Duration, Instant};

#[path = "fresh_pg.rs"]
mod fresh_pg;
use fresh_pg::fresh_pg;

use keel::telemetry::health::{AgentSpec, Fleet, FleetOptions, fleet_query};
use keel::{Keel, Pool};

const AGENTS: usize = 50;
const ROWS: i64 = 1_000_000;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50 and p95 of `times`.
fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at =
        |q: f64| ms(times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1]);
    (at(0.5), at(0.95))
}

/// 50 registered agents and a million runs over 30 days.
async fn seed(keel: &Keel, fleet: &Fleet) -> Vec<String> {
    let seeded = fleet.agents().await.expect("agents");
    let mut names: Vec<String> = seeded.into_iter().map(|a| a.agent_name).collect();
    for i in names.len()..AGENTS {
        let name = format!("bench-agent-{i:02}");
        let cadence = [900_000u64, 3_600_000, 86_400_000][i % 3];
        fleet
            .set_agent(&AgentSpec {
                agent_name: name.clone(),
                cadence_ms: Some(cadence),
                models: Some(vec!["anthropic/claude-haiku-4-5-20251001".into()]),
                ..AgentSpec::default()
            })
            .await
            .expect("register");
        names.push(name);
    }
    let Pool::Postgres(pg) = keel.pool().expect("pool") else {
        panic!("PostgreSQL only")
    };
    let names_json = serde_json::to_string(&names).expect("json");
    // Row n belongs to agent n % 50 and started n × 2.6 s ago (30 days in all); every tenth
    // failed, a few of the newest still run.
    sqlx::query(
        "INSERT INTO keel.agent_executions
             (agent_name, execution_type, status, started_at, completed_at, deadline_at,
              model_id, tokens_consumed, credits_consumed)
         SELECT ($1::jsonb ->> (n % 50)::int), 'fleet_agent',
                CASE WHEN n < 100 THEN 'running' WHEN n % 10 = 3 THEN 'failed' ELSE 'completed' END,
                now() - make_interval(secs => n * 2.6),
                CASE WHEN n < 100 THEN NULL
                     ELSE now() - make_interval(secs => n * 2.6) + make_interval(secs => 1 + n % 40) END,
                now() - make_interval(secs => n * 2.6) + interval '10 minutes',
                'claude-haiku-4-5-20251001', 500 + n % 700, 0.25
           FROM generate_series(0, $2 - 1) AS n",
    )
    .bind(&names_json)
    .bind(ROWS)
    .execute(pg)
    .await
    .expect("runs");
    sqlx::query(
        "INSERT INTO keel.agent_dead_letters (agent_name, trigger_type, failure_reason)
         SELECT ($1::jsonb ->> (n % 50)::int), 'cron', 'HTTP 503' FROM generate_series(0, 199) AS n",
    )
    .bind(&names_json)
    .execute(pg)
    .await
    .expect("letters");
    // The runs landed in the default partition (only the weeks ahead exist on a new
    // database); maintenance gives them their weeks, as its hourly run does.
    keel.maintain_partitions().await.expect("partitions");
    // As autovacuum leaves a table at rest: statistics, and the visibility map the fleet
    // query's index-only scans need (a pass can leave it unset while an older snapshot is
    // open, so it is repeated until set).
    for _ in 0..20 {
        sqlx::query("VACUUM ANALYZE keel.agent_executions")
            .execute(pg)
            .await
            .expect("vacuum");
        let visible: f64 = sqlx::query_scalar(
            "SELECT sum(relallvisible)::float8 / greatest(sum(relpages), 1) FROM pg_class
              WHERE oid IN (SELECT inhrelid FROM pg_inherits
                             WHERE inhparent = 'keel.agent_executions'::regclass)",
        )
        .fetch_one(pg)
        .await
        .expect("visibility");
        if visible > 0.99 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    names
}

/// The original's metrics: per agent, the day's rows to the client, the stuck count and the
/// dead-letter count (three queries, sequential).
async fn original(pg: &sqlx::PgPool, names: &[String]) -> Duration {
    let start = Instant::now();
    for name in names {
        let rows: Vec<(String, Option<f64>)> = sqlx::query_as(
            "SELECT status, extract(epoch FROM completed_at - started_at)::float8
               FROM keel.agent_executions
              WHERE agent_name = $1 AND started_at >= now() - interval '24 hours'",
        )
        .bind(name)
        .fetch_all(pg)
        .await
        .expect("rows");
        let failed = rows.iter().filter(|r| r.0 == "failed").count();
        std::hint::black_box(failed);
        let _: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM keel.agent_executions
              WHERE agent_name = $1 AND status = 'running'
                AND started_at < now() - interval '10 minutes'",
        )
        .bind(name)
        .fetch_one(pg)
        .await
        .expect("stuck");
        let _: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM keel.agent_dead_letters
              WHERE agent_name = $1 AND resolved_at IS NULL",
        )
        .bind(name)
        .fetch_one(pg)
        .await
        .expect("dlq");
    }
    start.elapsed()
}

fn main() {
    let admin = std::env::var("KEEL_BENCH_PG_URL").expect("KEEL_BENCH_PG_URL");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let url = fresh_pg(&admin, "fleet").await;
        let keel = Keel::connect(&url).await.expect("connect");
        let fleet = Fleet::open(&keel, FleetOptions::default(), None).expect("fleet");
        let seeding = Instant::now();
        let names = seed(&keel, &fleet).await;
        let seeded_s = seeding.elapsed().as_secs_f64();

        let mut status_times = Vec::new();
        for run in 0..23 {
            let start = Instant::now();
            let status = fleet.status().await.expect("status");
            if run >= 3 {
                status_times.push(start.elapsed());
            }
            assert_eq!(status.agents.len(), AGENTS);
        }
        let mut check_times = Vec::new();
        for run in 0..23 {
            let start = Instant::now();
            let health = fleet.check().await.expect("check");
            if run >= 3 {
                check_times.push(start.elapsed());
            }
            assert_eq!(health.agents.len(), AGENTS);
        }
        let Pool::Postgres(pg) = keel.pool().expect("pool") else {
            unreachable!()
        };
        let mut original_times = Vec::new();
        for _ in 0..6 {
            original_times.push(original(pg, &names).await);
        }
        original_times.remove(0);

        // As `Fleet::status` runs it: in a transaction with JIT off and 32 MB to sort in.
        let (statement, [a, b, c]) = fleet_query(keel::store::Dialect::POSTGRES);
        let mut tx = pg.begin().await.expect("begin");
        for setting in ["SET LOCAL jit = off", "SET LOCAL work_mem = '32MB'"] {
            sqlx::query(setting).execute(&mut *tx).await.expect("set");
        }
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) {statement}"
        ))
        .bind(a)
        .bind(b)
        .bind(c)
        .fetch_all(&mut *tx)
        .await
        .expect("explain");
        tx.commit().await.expect("commit");
        let plan = plan.join("\n");
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
        std::fs::create_dir_all(&out).expect("target/bench");
        std::fs::write(out.join("fleet_plan.txt"), &plan).expect("plan");
        let execution_ms = plan
            .lines()
            .find_map(|l| l.trim().strip_prefix("Execution Time: "))
            .and_then(|t| t.trim_end_matches(" ms").parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        // A sequential scan of a partition that holds rows (the empty weeks made ahead are
        // "scanned" at cost 0.00..0.00, never executed or reading nothing).
        let seq_scan = plan
            .lines()
            .any(|l| l.contains("Seq Scan on agent_executions") && !l.contains("cost=0.00..0.00"));

        let (status_p50, status_p95) = percentiles(status_times);
        let (check_p50, check_p95) = percentiles(check_times);
        let (original_p50, _) = percentiles(original_times);
        keel.close().await;
        println!(
            "{}",
            serde_json::json!({
                "agents": AGENTS,
                "rows": ROWS,
                "seed_s": seeded_s,
                "status_p50_ms": status_p50,
                "status_p95_ms": status_p95,
                "check_p50_ms": check_p50,
                "check_p95_ms": check_p95,
                "plan_execution_ms": execution_ms,
                "plan_seq_scan_on_executions": seq_scan,
                "original_150_queries_p50_ms": original_p50,
            })
        );
    });
}
