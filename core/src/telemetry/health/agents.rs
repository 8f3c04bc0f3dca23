//! The registry's rows: `fleet_agents` written with one statement per change (an upsert when
//! the cadence is given, else an update of the fields given), never read-modify-write.

use serde_json::Value;

use super::registry::{AgentSpec, DEFAULT_STUCK_AFTER_MS, FleetAgent};
use crate::error::{Error, Result};
use crate::store::bind::{Bind, Binds, bind_all};
use crate::store::{Dialect, Pool, on_pool, rfc3339};

#[derive(sqlx::FromRow)]
struct AgentRow {
    agent_name: String,
    cadence_ms: i64,
    schedule: Option<String>,
    description: String,
    models: String,
    stuck_after_ms: i64,
    enabled: bool,
    created_ms: i64,
    updated_ms: i64,
}

impl From<AgentRow> for FleetAgent {
    fn from(r: AgentRow) -> Self {
        FleetAgent {
            agent_name: r.agent_name,
            cadence_ms: u64::try_from(r.cadence_ms).unwrap_or(0),
            schedule: r.schedule,
            description: r.description,
            models: serde_json::from_str(&r.models).unwrap_or_default(),
            stuck_after_ms: u64::try_from(r.stuck_after_ms).unwrap_or(0),
            enabled: r.enabled,
            created_at: rfc3339(r.created_ms),
            updated_at: rfc3339(r.updated_ms),
        }
    }
}

/// The columns of an [`AgentRow`].
fn columns(d: Dialect) -> String {
    format!(
        "agent_name, cadence_ms, schedule, description, models::text AS models, stuck_after_ms,
         enabled, {} AS created_ms, {} AS updated_ms",
        d.epoch_ms("created_at"),
        d.epoch_ms("updated_at"),
    )
}

async fn rows(pool: &Pool, statement: &str, binds: Binds) -> Result<Vec<FleetAgent>> {
    let statement = statement.replace("{cols}", &columns(Dialect::of(pool)));
    let rows: Vec<AgentRow> = on_pool!(pool, |conn, sql| {
        let text = sql(&statement);
        bind_all!(sqlx::query_as::<_, AgentRow>(&text), binds)
            .fetch_all(conn)
            .await?
    });
    Ok(rows.into_iter().map(FleetAgent::from).collect())
}

/// Writes `spec` (checked; `cadence` read from it): an upsert when the cadence is known, an
/// update of the given fields otherwise.
pub(super) async fn set(pool: &Pool, spec: &AgentSpec, cadence: Option<u64>) -> Result<FleetAgent> {
    let d = Dialect::of(pool);
    let int = |v: Option<u64>| Bind::Int(v.map(|v| i64::try_from(v).unwrap_or(i64::MAX)));
    let models = spec
        .models
        .as_ref()
        .map(|m| Value::from(m.clone()).to_string());
    let binds = || {
        Binds(vec![
            Bind::Text(Some(spec.agent_name.clone())),
            int(cadence),
            Bind::Text(spec.schedule.clone()),
            Bind::Text(
                spec.description
                    .as_deref()
                    .map(|t| crate::store::storable_text(t).into_owned()),
            ),
            Bind::Text(models.clone()),
            int(spec.stuck_after_ms),
            Bind::Bool(spec.enabled),
        ])
    };
    let models_json = d.json("$5");
    let statement = if cadence.is_some() {
        format!(
            "INSERT INTO fleet_agents (agent_name, cadence_ms, schedule, description, models,
                                       stuck_after_ms, enabled)
             VALUES ($1, $2::int8, $3, coalesce($4, ''), coalesce({models_json}, '[]'),
                     coalesce($6::int8, {DEFAULT_STUCK_AFTER_MS}), coalesce($7, true))
             ON CONFLICT (agent_name) DO UPDATE SET
                 cadence_ms = excluded.cadence_ms, schedule = excluded.schedule,
                 description = coalesce($4, fleet_agents.description),
                 models = coalesce({models_json}, fleet_agents.models),
                 stuck_after_ms = coalesce($6::int8, fleet_agents.stuck_after_ms),
                 enabled = coalesce($7, fleet_agents.enabled),
                 updated_at = now()
             RETURNING {{cols}}"
        )
    } else {
        format!(
            "UPDATE fleet_agents SET
                 description = coalesce($4, description),
                 models = coalesce({models_json}, models),
                 stuck_after_ms = coalesce($6::int8, stuck_after_ms),
                 enabled = coalesce($7, enabled),
                 updated_at = now()
              WHERE agent_name = $1 AND $2::int8 IS NULL AND $3::text IS NULL
             RETURNING {{cols}}"
        )
    };
    rows(pool, &statement, binds())
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::invalid_input("cadence_ms", "a new agent needs cadence_ms or schedule")
        })
}

/// Deletes `name` from the registry: its row as it was.
pub(super) async fn remove(pool: &Pool, name: &str) -> Result<FleetAgent> {
    rows(
        pool,
        "DELETE FROM fleet_agents WHERE agent_name = $1 RETURNING {cols}",
        Binds(vec![Bind::Text(Some(name.to_owned()))]),
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| Error::invalid_input("agent_name", format!("no agent {name} in the registry")))
}

/// Every registered agent, by name.
pub(super) async fn list(pool: &Pool) -> Result<Vec<FleetAgent>> {
    rows(
        pool,
        "SELECT {cols} FROM fleet_agents ORDER BY agent_name",
        Binds::default(),
    )
    .await
}
