//! A health run: the fleet query, each agent's status, the alert decisions applied with a
//! compare-and-set, the snapshots in one batch, then delivery (after the snapshots, so a
//! webhook that hangs delays nothing stored). Answers in the original's response shape (§3.4:
//! `ok`, `checked_at`, `summary`, `agents[]`, `total_alerts_fired`), with more per agent.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::alert::{AlertKind, next_alert};
use super::fleet::Fleet;
use super::metrics::{FleetRow, fleet_rows};
use super::notice::{Notice, slack_message};
use super::outbox::{Transition, apply};
use super::status::{HealthStatus, agent_status};
use crate::error::Result;
use crate::store::rfc3339;

/// How many agents are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Healthy agents.
    pub healthy: u64,
    /// Agents with a warning.
    pub warning: u64,
    /// Critical agents.
    pub critical: u64,
    /// Stale agents.
    pub stale: u64,
}

/// One agent in a health run's answer: the original's fields (`name`, `status`, `reasons`,
/// `last_success_at`, `failure_rate_24h`, `alerts_fired`) and the metrics behind them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentHealth {
    /// The agent.
    pub name: String,
    /// Its status.
    pub status: HealthStatus,
    /// Why, worst first.
    pub reasons: Vec<String>,
    /// Its latest success (RFC 3339).
    pub last_success_at: Option<String>,
    /// Its failure rate in percent over its window (the original's name; the window is 24
    /// hours or two cadences, `window_ms`).
    pub failure_rate_24h: Option<f64>,
    /// Notices this run queued for it (0 or 1).
    pub alerts_fired: u64,
    /// The notice queued, if any.
    pub alert: Option<AlertKind>,
    /// Why a notice was held back (`cooldown`).
    pub alert_held: Option<String>,
    /// True when it is in the registry.
    pub registered: bool,
    /// Its cadence (ms), when registered.
    pub cadence_ms: Option<u64>,
    /// The window its metrics cover (ms).
    pub window_ms: u64,
    /// Runs started in the window.
    pub runs: u64,
    /// Failed runs in the window.
    pub failed: u64,
    /// Median duration of its successful runs (ms).
    pub p50_duration_ms: Option<u64>,
    /// 95th percentile of the same (ms).
    pub p95_duration_ms: Option<u64>,
    /// Mean of the same (ms).
    pub avg_duration_ms: Option<u64>,
    /// Credits consumed in the window.
    pub credits_consumed: f64,
    /// Tokens consumed in the window.
    pub tokens_consumed: u64,
    /// Runs still running past their deadline.
    pub stuck_runs: u64,
    /// Open dead letters.
    pub dead_letters: u64,
    /// Open circuits on models it uses (`provider/model`).
    pub open_breakers: Vec<String>,
}

/// What delivering the outbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Notices delivered.
    pub delivered: u64,
    /// Attempts that failed and will be retried.
    pub retrying: u64,
    /// Notices that ran out of attempts.
    pub failed: u64,
    /// Notices left for a later delivery (the time allowed ran out, or no destination is set).
    pub left: u64,
    /// What the failed attempts said.
    pub errors: Vec<String>,
}

/// The fleet as it is: what [`Fleet::status`] reads (no alert, no snapshot).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetStatus {
    /// When the fleet was checked (RFC 3339, the database's clock).
    pub checked_at: String,
    /// Agents per status.
    pub summary: Summary,
    /// Every checked agent, by name.
    pub agents: Vec<AgentHealth>,
}

/// A health run's answer: the original's shape (`ok`, `checked_at`, `summary`, `agents`,
/// `total_alerts_fired`) and the run's id and delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetHealth {
    /// True when every delivery attempt of this run succeeded.
    pub ok: bool,
    /// When the fleet was checked (RFC 3339, the database's clock).
    pub checked_at: String,
    /// Agents per status.
    pub summary: Summary,
    /// Every checked agent, by name.
    pub agents: Vec<AgentHealth>,
    /// Notices this run queued.
    pub total_alerts_fired: u64,
    /// The run (its snapshots carry it).
    pub run_id: Uuid,
    /// What delivery did after the snapshots were written.
    pub delivery: DeliveryReport,
}

/// An agent's answer, its status judged at `now`, before alerts.
fn judge(row: &FleetRow, now: DateTime<Utc>) -> Result<AgentHealth> {
    let status = agent_status(&row.metrics, now)?;
    let m = &row.metrics;
    Ok(AgentHealth {
        name: m.agent_name.clone(),
        status: status.status,
        reasons: status.reasons,
        last_success_at: m.last_success_at.clone(),
        failure_rate_24h: status.failure_rate,
        alerts_fired: 0,
        alert: None,
        alert_held: None,
        registered: row.registered,
        cadence_ms: m.cadence_ms,
        window_ms: row.window_ms,
        runs: m.runs,
        failed: m.failed,
        p50_duration_ms: row.p50_duration_ms,
        p95_duration_ms: row.p95_duration_ms,
        avg_duration_ms: row.avg_duration_ms,
        credits_consumed: row.credits_consumed,
        tokens_consumed: row.tokens_consumed,
        stuck_runs: m.stuck,
        dead_letters: m.dead_letters,
        open_breakers: m.open_breakers.clone(),
    })
}

/// The count of each status among `agents`.
fn summary(agents: &[AgentHealth]) -> Summary {
    let mut summary = Summary::default();
    for a in agents {
        *match a.status {
            HealthStatus::Healthy => &mut summary.healthy,
            HealthStatus::Warning => &mut summary.warning,
            HealthStatus::Critical => &mut summary.critical,
            HealthStatus::Stale => &mut summary.stale,
        } += 1;
    }
    summary
}

impl Fleet {
    /// The fleet's rows, each agent judged, and the database's clock they were read at.
    async fn judged(&self) -> Result<(Vec<FleetRow>, Vec<AgentHealth>, i64)> {
        let (rows, now_ms) = fleet_rows(self.keel().pool()?).await?;
        let now_ms = now_ms.unwrap_or_else(|| Utc::now().timestamp_millis());
        let now = DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
        let agents = rows
            .iter()
            .map(|row| judge(row, now))
            .collect::<Result<Vec<_>>>()?;
        Ok((rows, agents, now_ms))
    }

    /// The fleet now: every agent's status and metrics, read only (no alert, no snapshot),
    /// what `keel health` shows.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn status(&self) -> Result<FleetStatus> {
        let (_, agents, now_ms) = self.judged().await?;
        Ok(FleetStatus {
            checked_at: rfc3339(now_ms),
            summary: summary(&agents),
            agents,
        })
    }

    /// Checks the fleet (see the module docs): one query, the status rules, alerts with a
    /// compare-and-set (two runs at once queue each notice once), snapshots in one batch,
    /// then delivery for at most the `deliver_within_ms` option.
    ///
    /// # Errors
    /// Storage errors. A failed delivery is not an error: it is in `delivery` (and retried).
    pub async fn check(&self) -> Result<FleetHealth> {
        let pool = self.keel().pool()?;
        let (rows, mut agents, now_ms) = self.judged().await?;
        let now = DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
        let at = rfc3339(now_ms);
        let mut transitions = Vec::new();
        for (row, agent) in rows.iter().zip(agents.iter_mut()) {
            let decision = next_alert(&row.alert_state, agent.status, now, &self.alert_options())?;
            agent.alert_held = decision.held.clone();
            let Some(kind) = decision.notify else {
                continue;
            };
            let notice = Notice {
                agent_name: agent.name.clone(),
                kind,
                status: agent.status,
                reasons: agent.reasons.clone(),
                description: row.description.clone(),
                last_success_at: agent.last_success_at.clone(),
                failure_rate: agent.failure_rate_24h,
                window_ms: agent.window_ms,
                runs: agent.runs,
                dead_letters: agent.dead_letters,
                at: at.clone(),
            };
            transitions.push(Transition {
                agent_name: agent.name.clone(),
                version: row.alert_version,
                state: decision.state,
                kind,
                status: agent.status,
                reasons: agent.reasons.clone(),
                message: slack_message(&notice)?,
            });
        }
        let won = apply(pool, &transitions).await?;
        for t in transitions.iter().filter(|t| won.contains(&t.agent_name)) {
            if let Some(a) = agents.iter_mut().find(|a| a.name == t.agent_name) {
                a.alerts_fired = 1;
                a.alert = Some(t.kind);
            }
        }
        let run_id = Uuid::now_v7();
        super::snapshots::write(pool, run_id, now_ms, &agents).await?;
        let delivery = self.deliver().await?;
        Ok(FleetHealth {
            ok: delivery.errors.is_empty(),
            total_alerts_fired: agents.iter().map(|a| a.alerts_fired).sum(),
            checked_at: at,
            summary: summary(&agents),
            agents,
            run_id,
            delivery,
        })
    }
}
