//! The console's log search and trace view over `system_logs`.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::{Value, json};

use super::{json_rows, page_limit};
use crate::error::{Error, Result};
use crate::store::bind::{Bind, Binds};
use crate::store::{Dialect, Pool, parse_time};
use crate::telemetry::Level;

/// Which log events a search returns, newest first.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSearch {
    /// Only this trace (a UUID).
    pub trace_id: Option<String>,
    /// Only this org (a UUID).
    pub org_id: Option<String>,
    /// Only this agent.
    pub agent: Option<String>,
    /// Only this service.
    pub service: Option<String>,
    /// Only this level and the ones above it (`debug`, `info`, `warn`, `error`).
    pub level: Option<String>,
    /// Only events whose action or error message contains this (any case).
    pub text: Option<String>,
    /// Only events at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Only events before this RFC 3339 time.
    pub until: Option<String>,
    /// The `next` of the page before: where this page starts.
    pub before: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// A uuid argument, checked.
pub(super) fn uuid_arg(field: &str, raw: &str) -> Result<String> {
    crate::options::require_uuid(field, raw).map(|u| u.to_string())
}

/// `text` as a `LIKE` pattern matching it anywhere, lowercased, its wildcards escaped.
pub(super) fn contains_pattern(text: &str) -> String {
    crate::store::like_contains(&text.to_lowercase())
}

/// A page's cursor: the last row's time and id.
pub(super) fn cursor(row: &Value, time: &str) -> Option<String> {
    Some(format!(
        "{}|{}",
        row.get(time)?.as_str()?,
        row.get("id")?.as_str()?
    ))
}

/// The (time, id) a cursor holds.
pub(super) fn read_cursor(raw: &str) -> Result<(String, String)> {
    let bad = || Error::invalid_input("before", "must be the `next` of an earlier page");
    let (time, id) = raw.split_once('|').ok_or_else(bad)?;
    parse_time("before", time).map_err(|_| bad())?;
    Ok((time.to_owned(), uuid_arg("before", id).map_err(|_| bad())?))
}

/// Conditions joined with `AND` and their binds, numbered as they are added.
#[derive(Default)]
pub(super) struct Where {
    conditions: Vec<String>,
    pub(super) binds: Vec<Bind>,
}

impl Where {
    /// Adds `condition`, where `?` stands for the next placeholder, bound to `bind`.
    pub(super) fn add(&mut self, condition: &str, bind: Bind) {
        self.binds.push(bind);
        let n = format!("${}", self.binds.len());
        self.conditions.push(condition.replace('?', &n));
    }

    /// Adds `column = ` the uuid `raw`, checked (the error names `column`).
    pub(super) fn uuid(&mut self, column: &str, raw: &str) -> Result<()> {
        let id = uuid_arg(column, raw)?;
        self.add(&format!("{column} = ?::uuid"), Bind::Text(Some(id)));
        Ok(())
    }

    /// Adds the keyset condition of a page that starts after `cursor` on (`time`, `id`).
    pub(super) fn after_cursor(&mut self, time: &str, cursor: &str) -> Result<()> {
        let (at, id) = read_cursor(cursor)?;
        self.binds.push(Bind::Text(Some(at)));
        self.binds.push(Bind::Text(Some(id)));
        let (a, b) = (self.binds.len() - 1, self.binds.len());
        let stamp = format!("${a}::timestamptz");
        self.conditions.push(format!("{time} <= {stamp}"));
        self.conditions
            .push(format!("({time} < {stamp} OR id < ${b}::uuid)"));
        Ok(())
    }

    /// `AND …` for each condition, to follow a `WHERE` of the caller's.
    pub(super) fn and_clause(&self) -> String {
        self.conditions
            .iter()
            .map(|c| format!(" AND {c}"))
            .collect()
    }

    /// `WHERE …`, or nothing.
    pub(super) fn clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// Adds `since` and `until` on `time`.
pub(super) fn time_range(
    w: &mut Where,
    d: Dialect,
    time: &str,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<()> {
    for (field, raw, op) in [("since", since, ">="), ("until", until, "<")] {
        if let Some(raw) = raw {
            let ms = parse_time(field, raw)?.timestamp_millis();
            w.add(
                &format!("{time} {op} {}", d.from_epoch_ms("?")),
                Bind::Int(Some(ms)),
            );
        }
    }
    Ok(())
}

/// One page of log events, newest first: `{events, next}` (`next` is null on the last page).
///
/// # Errors
/// [`Error::InvalidInput`] naming the field (a malformed id, time, level or cursor, a limit
/// out of range); storage errors.
pub async fn search_logs(pool: &Pool, search: &LogSearch) -> Result<Value> {
    let d = Dialect::of(pool);
    let limit = page_limit(search.limit)?;
    let mut w = Where::default();
    if let Some(trace) = &search.trace_id {
        w.uuid("trace_id", trace)?;
    }
    if let Some(org) = &search.org_id {
        w.uuid("org_id", org)?;
    }
    if let Some(agent) = &search.agent {
        w.add("agent_name = ?", Bind::Text(Some(agent.clone())));
    }
    if let Some(service) = &search.service {
        w.add("service = ?", Bind::Text(Some(service.clone())));
    }
    let from = match &search.level {
        None => 0,
        Some(level) => Level::ALL
            .iter()
            .position(|l| l.as_str() == level)
            .ok_or_else(|| Error::invalid_input("level", "must be debug, info, warn or error"))?,
    };
    if let Some(text) = search.text.as_deref().filter(|t| !t.is_empty()) {
        w.add(
            "(lower(action) LIKE ? ESCAPE '\\' OR lower(coalesce(error_message, '')) LIKE ? ESCAPE '\\')",
            Bind::Text(Some(contains_pattern(text))),
        );
    }
    time_range(
        &mut w,
        d,
        "\"timestamp\"",
        search.since.as_deref(),
        search.until.as_deref(),
    )?;
    if let Some(before) = &search.before {
        w.after_cursor("\"timestamp\"", before)?;
    }
    let row = d.json_object(&[
        ("id", "id::text"),
        ("timestamp", &d.stamp_text("\"timestamp\"")),
        ("level", "level"),
        ("service", "service"),
        ("action", "action"),
        ("trace_id", "trace_id::text"),
        ("span_id", "span_id::text"),
        ("parent_span_id", "parent_span_id::text"),
        ("org_id", "org_id::text"),
        ("user_id", "user_id::text"),
        ("agent_name", "agent_name"),
        ("duration_ms", "duration_ms"),
        ("error_message", "error_message"),
        ("metadata", &d.json_value("metadata")),
    ]);
    // One newest-first read per level, each through its `(level, "timestamp")` index (a
    // partition's rows share a level, so no other index orders them), merged.
    let conditions = w.and_clause();
    let reads: Vec<String> = Level::ALL[from..]
        .iter()
        .map(|level| {
            format!(
                "SELECT * FROM (SELECT {row} AS row, \"timestamp\" AS at, id AS id
                     FROM system_logs WHERE level = '{level}' {conditions}
                     ORDER BY \"timestamp\" DESC, id DESC LIMIT {n}) AS {level}_rows",
                n = limit + 1
            )
        })
        .collect();
    let statement = format!(
        "{} ORDER BY at DESC, id DESC LIMIT {}",
        reads.join(" UNION ALL "),
        limit + 1
    );
    let rows = json_rows(pool, &statement, Binds(w.binds)).await?;
    Ok(paged(rows, limit, "events", "timestamp"))
}

/// `{key: rows, next}`: the first `limit` rows and, when there were more, the cursor after
/// the last one kept.
pub(super) fn paged(mut rows: Vec<Value>, limit: u32, key: &str, time: &str) -> Value {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().and_then(|r| cursor(r, time))
    } else {
        None
    };
    json!({ key: rows, "next": next })
}

/// The most events a trace view shows.
const TRACE_EVENTS: u32 = 5_000;

/// A trace as its span tree: `{trace_id, start, duration_ms, events}`, the events in tree
/// order (each span followed by what happened in it), each with its `depth` and its
/// `offset_ms` from the trace's first event; a span's own `duration_ms` gives its bar.
///
/// # Errors
/// [`Error::InvalidInput`] on `trace_id` (not a UUID, or no stored event); storage errors.
pub async fn trace_view(pool: &Pool, trace_id: &str) -> Result<Value> {
    let trace = uuid_arg("trace_id", trace_id)?;
    let d = Dialect::of(pool);
    let row = d.json_object(&[
        ("id", "id::text"),
        ("timestamp", &d.stamp_text("\"timestamp\"")),
        ("at_ms", &d.epoch_ms("\"timestamp\"")),
        ("level", "level"),
        ("service", "service"),
        ("action", "action"),
        ("span_id", "span_id::text"),
        ("parent_span_id", "parent_span_id::text"),
        ("org_id", "org_id::text"),
        ("agent_name", "agent_name"),
        ("duration_ms", "duration_ms"),
        ("error_message", "error_message"),
        ("metadata", &d.json_value("metadata")),
    ]);
    let statement = format!(
        "SELECT {row} FROM system_logs WHERE trace_id = $1::uuid
         ORDER BY \"timestamp\", id LIMIT {TRACE_EVENTS}"
    );
    let events = json_rows(
        pool,
        &statement,
        Binds(vec![Bind::Text(Some(trace.clone()))]),
    )
    .await?;
    if events.is_empty() {
        return Err(Error::invalid_input(
            "trace_id",
            "no event of this trace is stored",
        ));
    }
    Ok(tree(trace, events))
}

/// The events in tree order with depth and offset (see [`trace_view`]).
fn tree(trace: String, events: Vec<Value>) -> Value {
    let text = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
    let at = |e: &Value| e.get("at_ms").and_then(Value::as_i64).unwrap_or(0);
    let start = events.iter().map(at).min().unwrap_or(0);
    let end = events
        .iter()
        .map(|e| at(e) + e.get("duration_ms").and_then(Value::as_i64).unwrap_or(0))
        .max()
        .unwrap_or(start);
    let spans: HashSet<String> = events.iter().filter_map(|e| text(e, "span_id")).collect();
    // An event's parent is a span of this trace, else it is a root (a remote caller's span).
    let mut children: HashMap<Option<String>, Vec<usize>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let parent = text(e, "parent_span_id").filter(|p| spans.contains(p));
        children.entry(parent).or_default().push(i);
    }
    // Depth first, children in time order (the rows came sorted).
    let mut ordered = Vec::with_capacity(events.len());
    let mut stack: Vec<(usize, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|&i| (i, 0)).collect())
        .unwrap_or_default();
    let mut seen: HashSet<String> = HashSet::new();
    while let Some((i, depth)) = stack.pop() {
        ordered.push((i, depth));
        // A span id seen twice (a malformed trace) is walked once, so no cycle loops.
        if let Some(span) = text(&events[i], "span_id").filter(|s| seen.insert(s.clone()))
            && let Some(kids) = children.get(&Some(span))
        {
            stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
        }
    }
    let out: Vec<Value> = ordered
        .into_iter()
        .map(|(i, depth)| {
            let mut e = events[i].clone();
            let offset = at(&e) - start;
            if let Some(map) = e.as_object_mut() {
                map.remove("at_ms");
                map.insert("depth".into(), json!(depth));
                map.insert("offset_ms".into(), json!(offset));
            }
            e
        })
        .collect();
    json!({
        "trace_id": trace,
        "start": events.first().and_then(|e| text(e, "timestamp")),
        "duration_ms": end - start,
        "events": out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_is_ordered_as_its_span_tree() {
        let e = |id: &str, at: i64, span: Option<&str>, parent: Option<&str>| {
            json!({"id": id, "timestamp": format!("t{at}"), "at_ms": at, "span_id": span,
                   "parent_span_id": parent, "duration_ms": span.map(|_| 10)})
        };
        let events = vec![
            e("root", 100, Some("a"), Some("remote")),
            e("child", 102, Some("b"), Some("a")),
            e("in-root", 103, None, Some("a")),
            e("in-child", 104, None, Some("b")),
        ];
        let view = tree("t".into(), events);
        let order: Vec<(&str, i64, i64)> = view["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap(),
                    e["depth"].as_i64().unwrap(),
                    e["offset_ms"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                ("root", 0, 0),
                ("child", 1, 2),
                ("in-child", 2, 4),
                ("in-root", 1, 3)
            ]
        );
        assert_eq!(view["duration_ms"], 12, "the child span ends last");
    }

    #[test]
    fn a_cursor_reads_back_and_a_forged_one_is_refused() {
        let row = json!({"id": "00000000-0000-4000-8000-000000000001", "timestamp": "2026-12-05T04:00:00.123456Z"});
        let c = cursor(&row, "timestamp").unwrap();
        assert_eq!(read_cursor(&c).unwrap().0, "2026-12-05T04:00:00.123456Z");
        for bad in [
            "x",
            "2026-12-05T04:00:00Z|nope",
            "yesterday|00000000-0000-4000-8000-000000000001",
        ] {
            assert_eq!(
                read_cursor(bad).unwrap_err().field(),
                Some("before"),
                "{bad}"
            );
        }
        assert_eq!(contains_pattern("50%_A\\"), "%50\\%\\_a\\\\%");
    }
}
