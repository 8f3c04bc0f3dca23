//! The fleet's metrics in one statement on either backend (the original ran three queries per
//! agent and pulled every row of the day to the client, §3.6 item 12): the registered agents
//! and the unregistered ones seen in the last day (a skip scan of the agent index), each
//! agent's runs in its own window (24 hours or two cadences), duration percentiles by rank,
//! the latest success from a partial index, stuck runs bounded by the window, open dead
//! letters, open circuits on the models it names or ran, and its alert state.

use super::alert::AlertState;
use super::registry::DEFAULT_STUCK_AFTER_MS;
use super::status::{AgentMetrics, HealthStatus, MIN_WINDOW_MS, STALE_CADENCES};
use crate::error::Result;
use crate::store::{Dialect, Pool, rfc3339};

/// One agent's row of the fleet query.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FleetRow {
    /// What the status rules read.
    pub metrics: AgentMetrics,
    /// True when the agent is in the registry.
    pub registered: bool,
    /// The registry's description (empty when unregistered).
    pub description: String,
    /// The window its metrics cover (ms).
    pub window_ms: u64,
    /// Median duration of its successful runs in the window (ms).
    pub p50_duration_ms: Option<u64>,
    /// 95th percentile of the same (ms, nearest rank).
    pub p95_duration_ms: Option<u64>,
    /// Mean of the same (ms).
    pub avg_duration_ms: Option<u64>,
    /// Credits its runs in the window consumed.
    pub credits_consumed: f64,
    /// Tokens its runs in the window consumed.
    pub tokens_consumed: u64,
    /// What its alerts last said, and the version a compare-and-set names.
    pub alert_state: AlertState,
    /// The alert state's version (0 when none is stored).
    pub alert_version: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    agent_name: String,
    registered: bool,
    cadence_ms: Option<i64>,
    description: String,
    window_ms: i64,
    runs: i64,
    finished: i64,
    failed: i64,
    stuck: i64,
    credits: Option<f64>,
    tokens: Option<i64>,
    p50: Option<i64>,
    p95: Option<i64>,
    mean: Option<f64>,
    last_success_ms: Option<i64>,
    dead_letters: i64,
    open_breakers: Option<String>,
    notified: Option<String>,
    notified_ms: Option<i64>,
    version: i64,
    now_ms: i64,
}

/// The fleet query in `d`'s spelling, with its three parameters (`$1` the shortest window,
/// `$2` the cadences a window spans, `$3` the stuck time of an unregistered agent; all
/// integers), for `EXPLAIN` (the benchmark prints its plan).
pub fn fleet_query(d: Dialect) -> (String, [i64; 3]) {
    (
        d.spell(&statement(d)),
        [
            MIN_WINDOW_MS as i64,
            STALE_CADENCES as i64,
            DEFAULT_STUCK_AFTER_MS as i64,
        ],
    )
}

/// The statement (PostgreSQL spelling; the parameters of [`fleet_query`]).
fn statement(d: Dialect) -> String {
    let ms = |e: &str| d.epoch_ms(e);
    let now_ms = d.now_ms();
    let since = d.from_epoch_ms(&format!("({now_ms} - a.cadence_window)"));
    let day_ago = d.from_epoch_ms(&format!("({now_ms} - $1)"));
    let greatest = d.greatest();
    let models = d.json_values("w.models", "m");
    let label =
        "CASE WHEN h.provider = '' THEN h.model_id ELSE h.provider || '/' || h.model_id END";
    let breakers = d.json_agg_text("b.label");
    // The columns of `agent_executions_health_idx`: each window is read from the index.
    let each_run = d.join_each(
        "w",
        ("agent_executions", "e"),
        "agent_name, started_at, status, completed_at, deadline_at, model_id, \
         credits_consumed, tokens_consumed",
        "e.agent_name = w.agent_name AND e.started_at >= w.since",
    );
    format!(
        "WITH RECURSIVE seen(name) AS (
             SELECT (SELECT agent_name FROM agent_executions ORDER BY agent_name LIMIT 1)
             UNION ALL
             SELECT (SELECT e.agent_name FROM agent_executions e
                      WHERE e.agent_name > s.name ORDER BY e.agent_name LIMIT 1)
               FROM seen s WHERE s.name IS NOT NULL
         ),
         agents AS (
             SELECT agent_name, cadence_ms, description, models, stuck_after_ms,
                    true AS registered
               FROM fleet_agents WHERE enabled
             UNION ALL
             SELECT s.name, NULL, '', '[]'::jsonb, $3::int8, false
               FROM seen s
              WHERE s.name IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM fleet_agents f WHERE f.agent_name = s.name)
                AND EXISTS (SELECT 1 FROM agent_executions e
                             WHERE e.agent_name = s.name AND e.started_at >= {day_ago})
         ),
         windowed AS (
             SELECT agents.*, {greatest}($1::int8, $2::int8 * coalesce(cadence_ms, 0)) AS cadence_window
               FROM agents
         ),
         w AS (
             SELECT a.*, {since} AS since FROM windowed a
         ),
         runs AS (
             SELECT w.agent_name, e.status, e.started_at, e.completed_at, e.model_id,
                    e.credits_consumed, e.tokens_consumed,
                    {past_due} AS past_due,
                    {duration} AS dur
               FROM {each_run}
         ),
         used AS (
             SELECT DISTINCT agent_name, model_id FROM runs WHERE model_id IS NOT NULL
         ),
         totals AS (
             SELECT agent_name, count(*) AS runs,
                    count(*) FILTER (WHERE status <> 'running') AS finished,
                    count(*) FILTER (WHERE status = 'failed') AS failed,
                    count(*) FILTER (WHERE status = 'running' AND past_due) AS stuck,
                    {credits} AS credits, sum(tokens_consumed) AS tokens
               FROM runs GROUP BY agent_name
         ),
         ranked AS (
             SELECT agent_name, dur,
                    row_number() OVER (PARTITION BY agent_name ORDER BY dur) AS rn,
                    count(*) OVER (PARTITION BY agent_name) AS n
               FROM runs WHERE status = 'completed' AND completed_at IS NOT NULL
         ),
         durations AS (
             SELECT agent_name,
                    min(dur) FILTER (WHERE rn * 100 >= n * 50) AS p50,
                    min(dur) FILTER (WHERE rn * 100 >= n * 95) AS p95,
                    {mean} AS mean
               FROM ranked GROUP BY agent_name
         ),
         b AS (
             SELECT w.agent_name, {label} AS label
               FROM w JOIN model_health h ON h.is_circuit_open
              WHERE EXISTS (SELECT 1 FROM {models}
                             WHERE m.value = h.provider || '/' || h.model_id
                                OR m.value = h.model_id
                                OR (h.model_id = '*' AND m.value LIKE h.provider || '/%'))
                 OR EXISTS (SELECT 1 FROM used u
                             WHERE u.agent_name = w.agent_name
                               AND (u.model_id = h.model_id
                                    OR u.model_id = h.provider || '/' || h.model_id))
              ORDER BY 1, 2
         ),
         breakers AS (
             SELECT b.agent_name, {breakers} AS open_breakers FROM b GROUP BY b.agent_name
         )
         SELECT w.agent_name, w.registered, w.cadence_ms, w.description,
                w.cadence_window AS window_ms,
                coalesce(t.runs, 0) AS runs, coalesce(t.finished, 0) AS finished,
                coalesce(t.failed, 0) AS failed, coalesce(t.stuck, 0) AS stuck,
                t.credits, t.tokens, p.p50, p.p95, p.mean,
                (SELECT {completed_e} FROM agent_executions e
                  WHERE e.agent_name = w.agent_name AND e.status = 'completed'
                    AND e.completed_at IS NOT NULL
                  ORDER BY e.completed_at DESC LIMIT 1) AS last_success_ms,
                (SELECT count(*) FROM agent_dead_letters l
                  WHERE l.agent_name = w.agent_name
                    AND l.status IN ('pending', 'retrying', 'accepted')) AS dead_letters,
                k.open_breakers,
                s.notified, {notified} AS notified_ms, coalesce(s.version, 0) AS version,
                {now_ms} AS now_ms
           FROM w
           LEFT JOIN totals t ON t.agent_name = w.agent_name
           LEFT JOIN durations p ON p.agent_name = w.agent_name
           LEFT JOIN breakers k ON k.agent_name = w.agent_name
           LEFT JOIN fleet_alert_state s ON s.agent_name = w.agent_name
          ORDER BY w.agent_name",
        past_due = d.is_past(&format!(
            "coalesce(e.deadline_at, {})",
            d.plus_ms("e.started_at", "w.stuck_after_ms")
        )),
        duration = d.ms_between("e.started_at", "e.completed_at"),
        completed_e = ms("e.completed_at"),
        credits = d.float("sum(credits_consumed)"),
        mean = d.float("avg(dur)"),
        notified = ms("s.notified_at"),
    )
}

/// Every checked agent's metrics and alert state, by name, and the database's clock (epoch
/// ms) they were taken at.
///
/// # Errors
/// Storage errors.
pub(super) async fn fleet_rows(pool: &Pool) -> Result<(Vec<FleetRow>, Option<i64>)> {
    let (text, [window, cadences, stuck]) = fleet_query(Dialect::of(pool));
    macro_rules! query {
        () => {
            sqlx::query_as(&text)
                .bind(window)
                .bind(cadences)
                .bind(stuck)
        };
    }
    let rows: Vec<Row> = match pool {
        // One read in a transaction of its own, for two settings of this statement only:
        // no JIT (the plan's cost estimate, high for its CTEs, would spend more time
        // compiling than the query runs) and room to sort the window's durations in memory.
        Pool::Postgres(pg) => {
            let mut tx = pg.begin().await?;
            sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
            sqlx::query("SET LOCAL work_mem = '32MB'")
                .execute(&mut *tx)
                .await?;
            let rows = query!().fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows
        }
        Pool::Sqlite(lite) => query!().fetch_all(lite).await?,
    };
    let now = rows.first().map(|r| r.now_ms);
    Ok((rows.into_iter().map(FleetRow::from).collect(), now))
}

/// A count or a duration from SQL (never negative).
fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl From<Row> for FleetRow {
    fn from(r: Row) -> Self {
        let notified = r.notified.as_deref().and_then(|s| {
            serde_json::from_value::<HealthStatus>(serde_json::Value::String(s.to_owned())).ok()
        });
        FleetRow {
            metrics: AgentMetrics {
                agent_name: r.agent_name,
                cadence_ms: r.cadence_ms.map(count),
                runs: count(r.runs),
                finished: count(r.finished),
                failed: count(r.failed),
                last_success_at: r.last_success_ms.map(rfc3339),
                stuck: count(r.stuck),
                dead_letters: count(r.dead_letters),
                open_breakers: r
                    .open_breakers
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
            },
            registered: r.registered,
            description: r.description,
            window_ms: count(r.window_ms),
            p50_duration_ms: r.p50.map(count),
            p95_duration_ms: r.p95.map(count),
            avg_duration_ms: r.mean.map(|m| m.round().max(0.0) as u64),
            credits_consumed: r.credits.unwrap_or(0.0),
            tokens_consumed: r.tokens.map_or(0, count),
            alert_state: AlertState {
                notified,
                notified_at: r.notified_ms.map(rfc3339),
            },
            alert_version: r.version,
        }
    }
}
