//! The fleet report: the status now and each agent's snapshots over a period
//! ([`Fleet::report`]), and the same as one self-contained HTML page ([`report_html`]) with
//! charts per agent drawn by uPlot (MIT, embedded in the page, so it opens offline). Every
//! agent name and reason is escaped: the page's text by [`html_escape`], its data as JSON in
//! which `<` cannot close the script.

use std::collections::BTreeMap;

use serde::Serialize;

use super::check::FleetStatus;
use super::fleet::Fleet;
use super::snapshots::{SnapshotPoint, series};
use super::status::HealthStatus;
use crate::error::{Error, Result};

/// The period a report covers unless told (7 days).
pub const REPORT_PERIOD_MS: u64 = 7 * 86_400_000;

const UPLOT_JS: &str = include_str!("../../../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../assets/uplot/uPlot.min.css");

/// What a report shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    /// The fleet now.
    pub status: FleetStatus,
    /// The period the series cover (ms before `status.checked_at`).
    pub period_ms: u64,
    /// Each agent's snapshots in the period, oldest first.
    pub series: BTreeMap<String, Vec<SnapshotPoint>>,
}

impl Fleet {
    /// The fleet now and each agent's snapshots over the last `period_ms` (default 7 days).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `period_ms` (0 or over a year); storage errors.
    pub async fn report(&self, period_ms: Option<u64>) -> Result<FleetReport> {
        let period = period_ms.unwrap_or(REPORT_PERIOD_MS);
        if !(1..=super::registry::MAX_CADENCE_MS).contains(&period) {
            return Err(Error::invalid_input("period_ms", "must be 1 ms to a year"));
        }
        let status = self.status().await?;
        let mut by_agent: BTreeMap<String, Vec<SnapshotPoint>> = BTreeMap::new();
        for point in series(self.keel().pool()?, period).await? {
            by_agent
                .entry(point.agent_name.clone())
                .or_default()
                .push(point);
        }
        Ok(FleetReport {
            status,
            period_ms: period,
            series: by_agent,
        })
    }
}

/// `text` safe in HTML text and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The colour of a status.
fn colour(status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::Healthy => "#15803d",
        HealthStatus::Warning => "#b45309",
        HealthStatus::Stale => "#6d28d9",
        HealthStatus::Critical => "#b91c1c",
    }
}

/// A number or a dash.
fn or_dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

/// `report` as one self-contained HTML page: the summary, a table of agents with their
/// reasons, and per agent charts of runs and failures, duration percentiles, credits and
/// dead letters over time.
pub fn report_html(report: &FleetReport) -> String {
    let s = &report.status;
    let mut rows = String::new();
    let mut cards = String::new();
    for (i, a) in s.agents.iter().enumerate() {
        let name = html_escape(&a.name);
        let reasons: Vec<String> = a
            .reasons
            .iter()
            .map(|r| format!("<li>{}</li>", html_escape(r)))
            .collect();
        rows.push_str(&format!(
            "<tr><td>{name}</td><td><span class=\"badge\" style=\"background:{c}\">{st}</span></td>\
             <td>{runs}</td><td>{rate}</td><td>{p50}</td><td>{p95}</td><td>{credits:.2}</td>\
             <td>{dlq}</td><td><ul>{reasons}</ul></td></tr>\n",
            c = colour(a.status),
            st = a.status.as_str(),
            runs = a.runs,
            rate = a
                .failure_rate_24h
                .map_or_else(|| "–".to_owned(), |r| format!("{r}%")),
            p50 = or_dash(a.p50_duration_ms),
            p95 = or_dash(a.p95_duration_ms),
            credits = a.credits_consumed,
            dlq = a.dead_letters,
            reasons = reasons.join(""),
        ));
        cards.push_str(&format!(
            "<section class=\"card\"><h2>{name} <span class=\"badge\" style=\"background:{c}\">{st}</span></h2>\
             <div class=\"charts\" data-agent=\"{i}\"></div></section>\n",
            c = colour(a.status),
            st = a.status.as_str(),
        ));
    }
    let names: Vec<&str> = s.agents.iter().map(|a| a.name.as_str()).collect();
    let data = serde_json::json!({"agents": names, "series": report.series});
    // In a script element only `</script` ends it: `<` as \u003c keeps any name inside.
    let data = data.to_string().replace('<', "\\u003c");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Keel fleet health</title>\n<style>{UPLOT_CSS}\n{STYLE}</style></head><body>\n\
         <h1>Fleet health</h1>\n<p class=\"meta\">Checked {checked} · {h} healthy · {w} warning · \
         {st} stale · {cr} critical · snapshots of the last {days} days</p>\n\
         <table><thead><tr><th>Agent</th><th>Status</th><th>Runs</th><th>Failure rate</th>\
         <th>p50 ms</th><th>p95 ms</th><th>Credits</th><th>DLQ</th><th>Reasons</th></tr></thead>\
         <tbody>\n{rows}</tbody></table>\n{cards}\
         <script type=\"application/json\" id=\"keel-data\">{data}</script>\n\
         <script>{UPLOT_JS}</script>\n<script>{CHARTS}</script>\n</body></html>\n",
        checked = html_escape(&s.checked_at),
        h = s.summary.healthy,
        w = s.summary.warning,
        st = s.summary.stale,
        cr = s.summary.critical,
        days = report.period_ms / 86_400_000,
    )
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#111}\
table{border-collapse:collapse;width:100%;margin-bottom:24px}\
th,td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:top}\
td ul{margin:0;padding-left:16px}.badge{color:#fff;border-radius:4px;padding:1px 6px;font-size:12px}\
.meta{color:#555}.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;margin:12px 0}\
.card h2{font-size:16px;margin:4px 0}.charts{display:flex;flex-wrap:wrap;gap:8px}\
.empty{color:#777}";

const CHARTS: &str = r#"(function(){
const data = JSON.parse(document.getElementById('keel-data').textContent);
const charts = [
  ['Runs and failures', [['runs', '#2563eb'], ['failures', '#dc2626']]],
  ['Duration (ms)', [['p50_duration_ms', '#0891b2'], ['p95_duration_ms', '#7c3aed']]],
  ['Credits', [['credits', '#ca8a04']]],
  ['Dead letters', [['dead_letters', '#b91c1c']]],
];
document.querySelectorAll('.charts').forEach(function (el) {
  const points = data.series[data.agents[Number(el.dataset.agent)]] || [];
  if (points.length === 0) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = 'No snapshots in the period.';
    el.appendChild(p);
    return;
  }
  const xs = points.map(function (p) { return p.at_ms / 1000; });
  charts.forEach(function (chart) {
    const series = [{}].concat(chart[1].map(function (s) { return {label: s[0], stroke: s[1], width: 2}; }));
    const columns = [xs].concat(chart[1].map(function (s) { return points.map(function (p) { return p[s[0]]; }); }));
    const box = document.createElement('div');
    el.appendChild(box);
    new uPlot({title: chart[0], width: 290, height: 170, series: series}, columns, box);
  });
});
})();"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::health::{AgentHealth, Summary};

    #[test]
    fn markup_in_a_name_or_reason_cannot_escape_the_page() {
        let agent = AgentHealth {
            name: "<script>alert(1)</script>".into(),
            status: HealthStatus::Critical,
            reasons: vec!["<img src=x onerror=alert(2)>".into()],
            last_success_at: None,
            failure_rate_24h: None,
            alerts_fired: 0,
            alert: None,
            alert_held: None,
            registered: false,
            cadence_ms: None,
            window_ms: 86_400_000,
            runs: 0,
            failed: 0,
            p50_duration_ms: None,
            p95_duration_ms: None,
            avg_duration_ms: None,
            credits_consumed: 0.0,
            tokens_consumed: 0,
            stuck_runs: 0,
            dead_letters: 0,
            open_breakers: vec![],
        };
        let report = FleetReport {
            status: FleetStatus {
                checked_at: "2026-12-04T12:00:00.000Z".into(),
                summary: Summary::default(),
                agents: vec![agent],
            },
            period_ms: REPORT_PERIOD_MS,
            series: BTreeMap::new(),
        };
        let html = report_html(&report);
        assert!(!html.contains("<script>alert(1)"), "name escaped");
        assert!(!html.contains("<img"), "reason escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(
            html.contains("\\u003cscript>alert(1)\\u003c/script>"),
            "data escaped"
        );
        assert_eq!(
            html.matches("</script>").count(),
            3,
            "only Keel's scripts close"
        );
    }
}
