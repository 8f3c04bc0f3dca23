//! Alerts in the database: a health run's decisions applied with a compare-and-set on each
//! agent's `fleet_alert_state.version` (two runs at once: one wins each transition, and only
//! the winner's notice enters the outbox, in the same transaction), and the outbox
//! `fleet_alerts` leased for delivery with `FOR UPDATE SKIP LOCKED` and settled by the
//! attempt that holds it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::alert::{AlertKind, AlertState};
use super::status::HealthStatus;
use crate::error::Result;
use crate::store::bind::{Bind, Binds, bind_all, execute};
use crate::store::{Dialect, Pool, in_transaction, on_pool, rfc3339};

/// A notice in the outbox, as a delivery (a webhook, or a Python or JS callback) receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetAlert {
    /// Its id (stable across delivery attempts: a receiver may dedupe on it).
    pub id: Uuid,
    /// The agent.
    pub agent_name: String,
    /// Raised, reminder or recovered.
    pub kind: AlertKind,
    /// The agent's status when it was raised.
    pub status: HealthStatus,
    /// Why, worst first.
    pub reasons: Vec<String>,
    /// The Slack message (`{text, blocks}`), as a webhook posts it.
    pub message: Value,
    /// Delivery attempts so far, this one included.
    pub attempts: u32,
    /// When it was raised (RFC 3339).
    pub created_at: String,
    /// `pending`, `sending` (an attempt holds it), `delivered` or `failed` (out of attempts).
    pub delivery: String,
    /// What the latest failed attempt said.
    pub last_error: Option<String>,
    /// When it was delivered (RFC 3339).
    pub delivered_at: Option<String>,
}

/// A decision to apply: the state to store if the stored version is still `version`, and the
/// notice to queue when it is.
pub(super) struct Transition {
    pub agent_name: String,
    pub version: i64,
    pub state: AlertState,
    pub kind: AlertKind,
    pub status: HealthStatus,
    pub reasons: Vec<String>,
    pub message: Value,
}

/// Applies `transitions` in one transaction: the agents whose state this run moved (the
/// others were moved by a concurrent run, which sent their notices).
///
/// # Errors
/// Storage errors.
pub(super) async fn apply(pool: &Pool, transitions: &[Transition]) -> Result<Vec<String>> {
    if transitions.is_empty() {
        return Ok(Vec::new());
    }
    let d = Dialect::of(pool);
    let states: Vec<Value> = transitions
        .iter()
        .map(|t| {
            let at = t
                .state
                .notified_at
                .as_deref()
                .and_then(|a| crate::store::parse_time("notified_at", a).ok())
                .map(|a| a.timestamp_millis());
            json!({"agent": t.agent_name, "notified": t.state.notified.map(HealthStatus::as_str),
                   "at": at, "version": t.version + 1})
        })
        .collect();
    let cas = format!(
        "INSERT INTO fleet_alert_state (agent_name, notified, notified_at, version, updated_at)
         SELECT {agent}, {notified}, {at}, {version}::int8, now() FROM {rows} WHERE true
         ON CONFLICT (agent_name) DO UPDATE
            SET notified = excluded.notified, notified_at = excluded.notified_at,
                version = excluded.version, updated_at = now()
          WHERE fleet_alert_state.version = excluded.version - 1
         RETURNING agent_name",
        agent = d.row_text("agent"),
        notified = d.row_text("notified"),
        at = d.from_epoch_ms(&d.row_text("at")),
        version = d.row_text("version"),
        rows = d.json_rows("$1"),
    );
    let insert = format!(
        "INSERT INTO fleet_alerts (id, agent_name, kind, status, reasons, message)
         SELECT {id}::uuid, {agent}, {kind}, {status}, {reasons}, {message} FROM {rows}",
        id = d.row_text("id"),
        agent = d.row_text("agent"),
        kind = d.row_text("kind"),
        status = d.row_text("status"),
        reasons = d.row_json("reasons"),
        message = d.row_json("message"),
        rows = d.json_rows("$1"),
    );
    let states = Value::from(states).to_string();
    let won: Vec<String> = in_transaction!(pool, None::<&str>, |tx, sql| {
        let won: Vec<String> = sqlx::query_scalar(&sql(&cas))
            .bind(&states)
            .fetch_all(&mut *tx)
            .await?;
        let notices: Vec<Value> = transitions
            .iter()
            .filter(|t| won.contains(&t.agent_name))
            .map(|t| {
                json!({"id": Uuid::now_v7().to_string(), "agent": t.agent_name,
                       "kind": t.kind, "status": t.status, "reasons": t.reasons,
                       "message": t.message})
            })
            .collect();
        if !notices.is_empty() {
            sqlx::query(&sql(&insert))
                .bind(Value::from(notices).to_string())
                .execute(&mut *tx)
                .await?;
        }
        won
    });
    Ok(won)
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: String,
    agent_name: String,
    kind: String,
    status: String,
    reasons: String,
    message: String,
    attempts: i64,
    created_ms: i64,
    delivery: String,
    last_error: Option<String>,
    delivered_ms: Option<i64>,
}

/// The columns of an [`AlertRow`].
fn alert_columns(d: Dialect) -> String {
    format!(
        "id::text AS id, agent_name, kind, status, reasons::text AS reasons,
         message::text AS message, attempts::int8 AS attempts, {} AS created_ms, delivery,
         last_error, {} AS delivered_ms",
        d.epoch_ms("created_at"),
        d.epoch_ms("delivered_at"),
    )
}

impl AlertRow {
    fn alert(self) -> Option<FleetAlert> {
        Some(FleetAlert {
            id: Uuid::try_parse(&self.id).ok()?,
            agent_name: self.agent_name,
            kind: serde_json::from_value(Value::String(self.kind)).ok()?,
            status: serde_json::from_value(Value::String(self.status)).ok()?,
            reasons: serde_json::from_str(&self.reasons).unwrap_or_default(),
            message: serde_json::from_str(&self.message).unwrap_or(Value::Null),
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            created_at: rfc3339(self.created_ms),
            delivery: self.delivery,
            last_error: self.last_error,
            delivered_at: self.delivered_ms.map(rfc3339),
        })
    }
}

/// The alerts `statement` selects (`{cols}` standing for their columns) with `binds`.
async fn select(pool: &Pool, statement: &str, binds: Binds) -> Result<Vec<FleetAlert>> {
    let statement = statement.replace("{cols}", &alert_columns(Dialect::of(pool)));
    let rows: Vec<AlertRow> = on_pool!(pool, |conn, sql| {
        let text = sql(&statement);
        bind_all!(sqlx::query_as::<_, AlertRow>(&text), binds)
            .fetch_all(conn)
            .await?
    });
    Ok(rows.into_iter().filter_map(AlertRow::alert).collect())
}

/// Leases up to `limit` alerts due for delivery (pending and due, or sending with a lapsed
/// lease) for `lease_ms`, oldest first, leaving out `skip` (those this delivery run has
/// tried already); each lease adds one to `attempts`, which the settlement names.
///
/// # Errors
/// Storage errors.
pub(super) async fn claim(
    pool: &Pool,
    limit: u32,
    lease_ms: u64,
    skip: &[Uuid],
) -> Result<Vec<FleetAlert>> {
    let d = Dialect::of(pool);
    let mut binds = vec![
        Bind::Int(Some(i64::try_from(lease_ms).unwrap_or(i64::MAX))),
        Bind::Int(Some(i64::from(limit))),
    ];
    let mut skipped = Vec::with_capacity(skip.len());
    for id in skip {
        binds.push(Bind::Text(Some(id.to_string())));
        skipped.push(format!("${}::uuid", binds.len()));
    }
    let not_skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!("AND id NOT IN ({})", skipped.join(", "))
    };
    let statement = format!(
        "UPDATE fleet_alerts
            SET delivery = 'sending', attempts = attempts + 1, locked_until = {lease}
          WHERE id IN (SELECT id FROM fleet_alerts
                        WHERE ((delivery = 'pending' AND {due})
                            OR (delivery = 'sending' AND {lapsed}))
                          {not_skipped}
                        ORDER BY created_at LIMIT $2 {skip_locked})
         RETURNING {{cols}}",
        lease = d.now_plus_ms("$1"),
        due = d.is_past("next_attempt_at"),
        lapsed = d.is_past("locked_until"),
        skip_locked = d.skip_locked(),
    );
    let mut alerts = select(pool, &statement, Binds(binds)).await?;
    alerts.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(alerts)
}

/// How one delivery attempt ended.
pub(super) enum Settle<'a> {
    /// Delivered.
    Delivered,
    /// Failed; tried again after this long (ms).
    Retry(&'a str, u64),
    /// Failed for the last time.
    Failed(&'a str),
    /// Not sent (the run's delivery time ran out): due again at once, the attempt not counted.
    Release,
}

/// Settles `alert`'s current attempt; true when this attempt still held it (its lease had
/// not been taken over).
///
/// # Errors
/// Storage errors.
pub(super) async fn settle(pool: &Pool, alert: &FleetAlert, outcome: Settle<'_>) -> Result<bool> {
    let d = Dialect::of(pool);
    let (set, error, delay) = match outcome {
        Settle::Delivered => ("delivery = 'delivered', delivered_at = now()", None, 0),
        Settle::Retry(e, ms) => ("delivery = 'pending'", Some(e), ms),
        Settle::Failed(e) => ("delivery = 'failed'", Some(e), 0),
        Settle::Release => ("delivery = 'pending', attempts = attempts - 1", None, 0),
    };
    let statement = format!(
        "UPDATE fleet_alerts
            SET {set}, locked_until = NULL, last_error = coalesce($3, last_error),
                next_attempt_at = {next}
          WHERE id = $1::uuid AND delivery = 'sending' AND attempts = $2",
        next = d.now_plus_ms("$4"),
    );
    let binds = Binds(vec![
        Bind::Text(Some(alert.id.to_string())),
        Bind::Int(Some(i64::from(alert.attempts))),
        Bind::Text(error.map(|e| e.chars().take(1_000).collect())),
        Bind::Int(Some(i64::try_from(delay).unwrap_or(i64::MAX))),
    ]);
    Ok(execute(pool, &statement, binds).await? == 1)
}

/// The newest alerts, at most `limit`, of `agent` or of every agent.
///
/// # Errors
/// Storage errors.
pub(super) async fn recent(
    pool: &Pool,
    agent: Option<&str>,
    limit: u32,
) -> Result<Vec<FleetAlert>> {
    let statement = "SELECT {cols} FROM fleet_alerts
                      WHERE ($1::text IS NULL OR agent_name = $1)
                      ORDER BY created_at DESC, id DESC LIMIT $2";
    let binds = Binds(vec![
        Bind::Text(agent.map(str::to_owned)),
        Bind::Int(Some(i64::from(limit))),
    ]);
    select(pool, statement, binds).await
}
