//! The console's paged tables that no other handle lists: routing decisions across orgs, the
//! share decided per stage, credit balances and an org's ledger.

use serde::Deserialize;
use serde_json::{Value, json};

use super::logs::{Where, paged, time_range};
use super::{json_rows, page_limit};
use crate::error::{Error, Result};
use crate::routing::{SKILL_THRESHOLD, Stage};
use crate::store::bind::{Bind, Binds};
use crate::store::{Dialect, Pool};

/// Which routing decisions a page lists, newest first.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSearch {
    /// Only this org (a UUID).
    pub org_id: Option<String>,
    /// Only decisions made by this stage (`rules`, `index`, `embedding`, `llm`, `fallback`;
    /// a cached answer keeps the stage that made it and says `cached`).
    pub stage: Option<String>,
    /// Only out-of-scope decisions (true) or only the others (false).
    pub out_of_scope: Option<bool>,
    /// Only decisions at most this confident (the ones to review).
    pub max_confidence: Option<f64>,
    /// Only decisions at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Only decisions before this RFC 3339 time.
    pub until: Option<String>,
    /// The `next` of the page before.
    pub before: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

fn routing_where(d: Dialect, s: &RoutingSearch) -> Result<Where> {
    let mut w = Where::default();
    if let Some(org) = &s.org_id {
        w.uuid("org_id", org)?;
    }
    if let Some(stage) = &s.stage {
        if !Stage::ALL.iter().any(|s| s.as_str() == stage) {
            let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
            return Err(Error::invalid_input(
                "stage",
                format!("must be one of {}", names.join(", ")),
            ));
        }
        w.add("stage = ?", Bind::Text(Some(stage.clone())));
    }
    if let Some(oos) = s.out_of_scope {
        w.add("out_of_scope = ?", Bind::Bool(Some(oos)));
    }
    if let Some(max) = s.max_confidence {
        if !(0.0..=1.0).contains(&max) {
            return Err(Error::invalid_input("max_confidence", "must be 0 to 1"));
        }
        w.add("confidence <= ?", Bind::Float(Some(max)));
    }
    time_range(
        &mut w,
        d,
        "created_at",
        s.since.as_deref(),
        s.until.as_deref(),
    )?;
    Ok(w)
}

/// One page of routing decisions: `{decisions, next}`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field; storage errors.
pub async fn routing_decisions(pool: &Pool, search: &RoutingSearch) -> Result<Value> {
    let d = Dialect::of(pool);
    let limit = page_limit(search.limit)?;
    let mut w = routing_where(d, search)?;
    if let Some(before) = &search.before {
        w.after_cursor("created_at", before)?;
    }
    let row = d.json_object(&[
        ("id", "id::text"),
        ("created_at", &d.stamp_text("created_at")),
        ("org_id", "org_id::text"),
        ("user_id", "user_id"),
        ("channel", "channel"),
        ("message_snippet", "message_snippet"),
        ("route", "route"),
        ("skill_key", "skill_key"),
        ("matched_by", "matched_by"),
        ("stage", "stage"),
        ("confidence", "confidence"),
        ("out_of_scope", &bool_json(d, "out_of_scope")),
        ("cached", &bool_json(d, "cached")),
        ("candidates", &d.json_value("candidates")),
        ("skills_version", "skills_version"),
        ("trace_id", "trace_id::text"),
        ("latency_us", "latency_us"),
    ]);
    let statement = format!(
        "SELECT {row} FROM routing_logs {} ORDER BY created_at DESC, id DESC LIMIT {}",
        w.clause(),
        limit + 1
    );
    let rows = json_rows(pool, &statement, Binds(w.binds)).await?;
    Ok(paged(rows, limit, "decisions", "created_at"))
}

/// A boolean column as a JSON boolean (SQLite stores 0 and 1).
fn bool_json(d: Dialect, column: &str) -> String {
    if d == Dialect::POSTGRES {
        column.to_owned()
    } else {
        format!("json(CASE WHEN {column} THEN 'true' ELSE 'false' END)")
    }
}

/// The most hours [`routing_stats`] counts decisions in (the latest: two weeks).
const HOURS: u32 = 336;

/// How the decisions matching `search` (its page arguments aside) were made: the count, the
/// share per stage, the out-of-scope and low-confidence (below the default skill threshold)
/// counts, the mean latency, and the
/// decisions per hour (`hours`, oldest first, the latest 336 hours that had any).
///
/// # Errors
/// As [`routing_decisions`].
pub async fn routing_stats(pool: &Pool, search: &RoutingSearch) -> Result<Value> {
    let d = Dialect::of(pool);
    let w = routing_where(d, search)?;
    let low = format!("sum(CASE WHEN confidence < {SKILL_THRESHOLD} THEN 1 ELSE 0 END)");
    let row = d.json_object(&[
        ("stage", "stage"),
        ("decisions", "count(*)"),
        (
            "out_of_scope",
            "sum(CASE WHEN out_of_scope THEN 1 ELSE 0 END)",
        ),
        ("low_confidence", &low),
        ("mean_latency_us", &d.float("avg(latency_us)")),
    ]);
    let statement = format!(
        "SELECT {row} FROM routing_logs {} GROUP BY stage ORDER BY stage",
        w.clause()
    );
    let stages = json_rows(pool, &statement, Binds(w.binds.clone())).await?;
    let hour = d.hour_text("created_at");
    let row = d.json_object(&[
        ("hour", &hour),
        ("decisions", "count(*)"),
        (
            "out_of_scope",
            "sum(CASE WHEN out_of_scope THEN 1 ELSE 0 END)",
        ),
    ]);
    let statement = format!(
        "SELECT {row} FROM routing_logs {} GROUP BY {hour} ORDER BY {hour} DESC LIMIT {HOURS}",
        w.clause()
    );
    let mut hours = json_rows(pool, &statement, Binds(w.binds)).await?;
    hours.reverse();
    let total: i64 = stages.iter().filter_map(|s| s["decisions"].as_i64()).sum();
    let sum = |k: &str| -> i64 { stages.iter().filter_map(|s| s[k].as_i64()).sum() };
    let stages: Vec<Value> = stages
        .iter()
        .map(|s| {
            let n = s["decisions"].as_i64().unwrap_or(0);
            let mut s = s.clone();
            s["share"] = json!(if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            });
            s
        })
        .collect();
    Ok(json!({
        "decisions": total,
        "out_of_scope": sum("out_of_scope"),
        "low_confidence": sum("low_confidence"),
        "stages": stages,
        "hours": hours,
    }))
}

/// Which credit balances or ledger rows a page lists.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CreditSearch {
    /// The org (a UUID): required for the ledger, a filter for balances.
    pub org_id: Option<String>,
    /// The `next` of the page before (the ledger only).
    pub before: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// Every org's credit balance, lowest first: `{balances}`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field; storage errors.
pub async fn credit_balances(pool: &Pool, search: &CreditSearch) -> Result<Value> {
    let d = Dialect::of(pool);
    let limit = page_limit(search.limit)?;
    let mut w = Where::default();
    if let Some(org) = &search.org_id {
        w.uuid("org_id", org)?;
    }
    let row = d.json_object(&[
        ("org_id", "org_id::text"),
        ("balance_credits", &d.money("balance_credits")),
        (
            "grace_threshold_credits",
            &d.money("grace_threshold_credits"),
        ),
        ("updated_at", &d.stamp_text("updated_at")),
    ]);
    let statement = format!(
        "SELECT {row} FROM org_credit_balance {} ORDER BY balance_credits, org_id LIMIT {limit}",
        w.clause()
    );
    let balances = json_rows(pool, &statement, Binds(w.binds)).await?;
    Ok(json!({ "balances": balances }))
}

/// One page of an org's credit ledger, newest first: `{entries, next}`.
///
/// # Errors
/// [`Error::InvalidInput`] on `org_id` (missing or not a UUID) and the page arguments;
/// storage errors.
pub async fn credit_ledger(pool: &Pool, search: &CreditSearch) -> Result<Value> {
    let d = Dialect::of(pool);
    let limit = page_limit(search.limit)?;
    let org = search
        .org_id
        .as_deref()
        .ok_or_else(|| Error::invalid_input("org_id", "is required"))?;
    let mut w = Where::default();
    w.uuid("org_id", org)?;
    if let Some(before) = &search.before {
        w.after_cursor("created_at", before)?;
    }
    let row = d.json_object(&[
        ("id", "id::text"),
        ("created_at", &d.stamp_text("created_at")),
        ("kind", "kind"),
        ("amount", &d.money("amount")),
        ("balance_after", &d.money("balance_after")),
        ("description", "description"),
        ("feature_key", "feature_key"),
        ("model_id", "model_id"),
        ("tokens_used", "tokens_used"),
        ("agent_name", "agent_name"),
        ("trace_id", "trace_id::text"),
    ]);
    let statement = format!(
        "SELECT {row} FROM credit_ledger {} ORDER BY created_at DESC, id DESC LIMIT {}",
        w.clause(),
        limit + 1
    );
    let rows = json_rows(pool, &statement, Binds(w.binds)).await?;
    Ok(paged(rows, limit, "entries", "created_at"))
}
