//! Reading a trace back: the events of one trace as a tree of spans.

use serde::Serialize;
use uuid::Uuid;

use crate::error::Result;
use crate::store::{Dialect, Pool, on_pool};

/// One stored event of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceEvent {
    /// Dot-namespaced action.
    pub action: String,
    /// Severity as stored.
    pub level: String,
    /// The emitting service.
    pub service: String,
    /// Set on span events.
    pub span_id: Option<String>,
    /// The enclosing span.
    pub parent_span_id: Option<String>,
    /// Set on span events.
    pub duration_ms: Option<i64>,
    /// `ok` or `error` on span events.
    pub status: Option<String>,
    /// The failure, if any.
    pub error_message: Option<String>,
}

/// Every event of `trace_id`, in time order.
///
/// # Errors
/// [`crate::Error::Storage`] when the read fails.
pub async fn trace_events(pool: &Pool, trace_id: Uuid) -> Result<Vec<TraceEvent>> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let sql = format!(
        r#"SELECT action, level, service, span_id::text, parent_span_id::text, duration_ms::int8,
                  {}, error_message
           FROM system_logs WHERE trace_id = $1::uuid ORDER BY "timestamp", action"#,
        Dialect::of(pool).json_text("metadata", "status")
    );
    let rows: Vec<Row> = on_pool!(pool, |conn, spell| {
        sqlx::query_as(&spell(&sql))
            .bind(trace_id.to_string())
            .fetch_all(conn)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| TraceEvent {
            action: r.0,
            level: r.1,
            service: r.2,
            span_id: r.3,
            parent_span_id: r.4,
            duration_ms: r.5,
            status: r.6,
            error_message: r.7,
        })
        .collect())
}

/// Renders events as an indented tree: each event under the span it happened in.
pub fn render_tree(events: &[TraceEvent]) -> String {
    fn walk(events: &[TraceEvent], parent: Option<&str>, depth: usize, out: &mut String) {
        for e in events
            .iter()
            .filter(|e| e.parent_span_id.as_deref() == parent)
        {
            let status = match (&e.status, &e.duration_ms) {
                (Some(s), Some(ms)) => format!("  [{s}, {ms} ms]"),
                (None, Some(ms)) => format!("  [{ms} ms]"),
                _ => String::new(),
            };
            let error = e
                .error_message
                .as_deref()
                .map(|m| format!("  error: {m}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{}{} {} ({}){status}{error}\n",
                "  ".repeat(depth),
                if e.span_id.is_some() { "▸" } else { "·" },
                e.action,
                e.level
            ));
            if let Some(id) = &e.span_id {
                walk(events, Some(id), depth + 1, out);
            }
        }
    }
    let mut out = String::new();
    // Roots: no parent, or a parent outside this trace's stored spans (a remote caller).
    let known: std::collections::HashSet<&str> =
        events.iter().filter_map(|e| e.span_id.as_deref()).collect();
    let mut roots: Vec<TraceEvent> = Vec::new();
    for e in events {
        if e.parent_span_id
            .as_deref()
            .is_none_or(|p| !known.contains(p))
        {
            roots.push(TraceEvent {
                parent_span_id: None,
                ..e.clone()
            });
        }
    }
    let rest: Vec<TraceEvent> = events
        .iter()
        .filter(|e| {
            e.parent_span_id
                .as_deref()
                .is_some_and(|p| known.contains(p))
        })
        .cloned()
        .collect();
    let all: Vec<TraceEvent> = roots.into_iter().chain(rest).collect();
    walk(&all, None, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, span: Option<&str>, parent: Option<&str>) -> TraceEvent {
        TraceEvent {
            action: action.into(),
            level: "info".into(),
            service: "test".into(),
            span_id: span.map(Into::into),
            parent_span_id: parent.map(Into::into),
            duration_ms: span.map(|_| 7),
            status: span.map(|_| "ok".into()),
            error_message: None,
        }
    }

    #[test]
    fn events_nest_under_their_spans_and_a_remote_parent_is_a_root() {
        let events = [
            event("request", Some("s1"), Some("remote")),
            event("db.query", Some("s2"), Some("s1")),
            event("cache.miss", None, Some("s2")),
            TraceEvent {
                error_message: Some("boom".into()),
                level: "error".into(),
                ..event("request.failed", None, Some("s1"))
            },
            event("orphan", None, None),
        ];
        assert_eq!(
            render_tree(&events),
            "▸ request (info)  [ok, 7 ms]\n\
             \x20 ▸ db.query (info)  [ok, 7 ms]\n\
             \x20   · cache.miss (info)\n\
             \x20 · request.failed (error)  error: boom\n\
             · orphan (info)\n"
        );
        assert_eq!(render_tree(&[]), "");
    }
}
