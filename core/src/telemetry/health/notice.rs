//! The Slack message of a fleet alert: the original's Block Kit layout (§3.4: a fallback
//! `text`, a header, the status line with `<!here>` for critical, four fields, the issues and
//! a context line), with a stale alert (the original never sent one) and a recovery notice
//! (it never said when an agent recovered). Pure; the vectors in `fleet_notices.json` pin it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::alert::AlertKind;
use super::status::{HealthStatus, span};
use crate::error::Result;

/// What a notice says about one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// The agent.
    pub agent_name: String,
    /// Raised, reminder or recovered.
    pub kind: AlertKind,
    /// Its status now.
    pub status: HealthStatus,
    /// Why, worst first.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// What the agent does (the registry's description; empty when unregistered).
    #[serde(default)]
    pub description: String,
    /// Its latest success (RFC 3339), if any.
    #[serde(default)]
    pub last_success_at: Option<String>,
    /// Its failure rate over the window, in percent.
    #[serde(default)]
    pub failure_rate: Option<f64>,
    /// The window the metrics cover, in milliseconds.
    pub window_ms: u64,
    /// Runs in the window.
    pub runs: u64,
    /// Open dead letters.
    pub dead_letters: u64,
    /// When the health run judged it (RFC 3339).
    pub at: String,
}

/// `text` escaped for Slack's mrkdwn: `&`, `<` and `>` become entities, so an agent name or a
/// reason cannot mention `@here` or forge a link.
pub fn mrkdwn_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A time as JavaScript's `toUTCString` writes it, as the original's fields did.
fn utc_string(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The emoji of a notice.
fn emoji(kind: AlertKind, status: HealthStatus) -> &'static str {
    match (kind, status) {
        (AlertKind::Recovered, _) | (_, HealthStatus::Healthy) => ":white_check_mark:",
        (_, HealthStatus::Critical) => ":red_circle:",
        (_, HealthStatus::Stale) => ":hourglass_flowing_sand:",
        (_, HealthStatus::Warning) => ":warning:",
    }
}

/// The incoming-webhook payload of `n` (`{text, blocks}`).
///
/// # Errors
/// [`crate::Error::InvalidInput`] naming `at` or `last_success_at` when not RFC 3339.
pub fn slack_message(n: &Notice) -> Result<Value> {
    let at = crate::store::parse_time("at", &n.at)?;
    let last = n
        .last_success_at
        .as_deref()
        .map(|t| crate::store::parse_time("last_success_at", t))
        .transpose()?;
    let status = n.status.as_str().to_uppercase();
    let emoji = emoji(n.kind, n.status);
    let name = mrkdwn_escape(&n.agent_name);
    let (heading, line) = match n.kind {
        AlertKind::Raised => (status.clone(), format!("*{name}* is *{status}*")),
        AlertKind::Reminder => (status.clone(), format!("*{name}* is still *{status}*")),
        AlertKind::Recovered => (
            "RECOVERED".to_owned(),
            format!("*{name}* has recovered: *{status}*"),
        ),
    };
    let here = if n.status == HealthStatus::Critical && n.kind != AlertKind::Recovered {
        "<!here> "
    } else {
        ""
    };
    let description = if n.description.is_empty() {
        "not in the agent registry".to_owned()
    } else {
        mrkdwn_escape(&n.description)
    };
    let window = span(n.window_ms);
    let first = n
        .reasons
        .first()
        .map_or_else(|| "check dashboard".to_owned(), |r| mrkdwn_escape(r));
    // The fallback text is mrkdwn too (a notification shows it); the header is plain text.
    let text = match n.kind {
        AlertKind::Recovered => format!("{emoji} Fleet health recovered: {name} is healthy"),
        _ => format!(
            "{emoji} Fleet health {}: {name} — {first}",
            n.status.as_str()
        ),
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("Fleet Health {heading}: {}", n.agent_name), "emoji": false}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("{here}{emoji} {line}\n_{description}_")}}),
        json!({"type": "section", "fields": [
            {"type": "mrkdwn", "text": format!("*Last success:*\n{}", last.map_or_else(|| "Never".to_owned(), utc_string))},
            {"type": "mrkdwn", "text": format!("*Failure rate ({window}):*\n{}", n.failure_rate.map_or_else(|| "N/A".to_owned(), |r| format!("{r}%")))},
            {"type": "mrkdwn", "text": format!("*Runs ({window}):*\n{}", n.runs)},
            {"type": "mrkdwn", "text": format!("*DLQ items:*\n{}", n.dead_letters)},
        ]}),
    ];
    if !n.reasons.is_empty() {
        let bullets: Vec<String> = n
            .reasons
            .iter()
            .map(|r| format!("• {}", mrkdwn_escape(r)))
            .collect();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Issues detected:*\n{}", bullets.join("\n"))}}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("keel health | {}", utc_string(at))}]}));
    Ok(json!({"text": text, "blocks": blocks}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_name_or_reason_is_escaped_in_mrkdwn() {
        let n = Notice {
            agent_name: "<!channel> & co".into(),
            kind: AlertKind::Raised,
            status: HealthStatus::Critical,
            reasons: vec!["<https://evil|click>".into()],
            description: String::new(),
            last_success_at: None,
            failure_rate: None,
            window_ms: 86_400_000,
            runs: 0,
            dead_letters: 0,
            at: "2026-12-04T12:00:00Z".into(),
        };
        let mut m = slack_message(&n).unwrap();
        let header = m["blocks"][0]["text"]["text"].take();
        assert_eq!(
            header, "Fleet Health CRITICAL: <!channel> & co",
            "plain text"
        );
        let m = m.to_string();
        assert!(!m.contains("<!channel>"), "{m}");
        assert!(m.contains("&lt;!channel&gt; &amp; co"), "{m}");
        assert!(m.contains("<!here> "), "critical mentions here");
        assert!(!m.contains("<https://evil"), "{m}");
    }
}
