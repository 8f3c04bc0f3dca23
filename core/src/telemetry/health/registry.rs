//! The agent registry: which agents the fleet has and how often each should run, stored in
//! `fleet_agents` (seeded with the original six) instead of a list in code (§3.6 item 12). A
//! cadence is an interval in milliseconds or a cron schedule, whose longest gap between
//! firings becomes the cadence (`0 5 * * 1`, Mondays at 05:00, is a week).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How long a run may stay `running` before it counts as stuck, unless the agent says (10
/// minutes, the original's STUCK_RUNNING_MINUTES).
pub const DEFAULT_STUCK_AFTER_MS: u64 = 600_000;
/// The longest cadence: a year.
pub const MAX_CADENCE_MS: u64 = 366 * 86_400_000;
/// The most models one agent may name.
pub const MAX_MODELS: usize = 50;

/// An agent as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetAgent {
    /// Its name, as its runs' `agent_name`.
    pub agent_name: String,
    /// How often it should succeed, in milliseconds.
    pub cadence_ms: u64,
    /// The cron schedule the cadence was read from, if one was given.
    pub schedule: Option<String>,
    /// What it does, for people.
    pub description: String,
    /// The models it depends on (`provider/model`): an open circuit on one makes it critical.
    pub models: Vec<String>,
    /// How long one of its runs may stay `running` before it counts as stuck (ms).
    pub stuck_after_ms: u64,
    /// False when health runs skip it.
    pub enabled: bool,
    /// When it was registered (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

/// What [`super::Fleet::set_agent`] registers or changes: every field but `agent_name` is
/// optional, and an absent one keeps what is stored (a new agent needs `cadence_ms` or
/// `schedule`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSpec {
    /// The agent, 1 to 100 characters.
    pub agent_name: String,
    /// Its cadence in milliseconds, 1 ms to a year.
    pub cadence_ms: Option<u64>,
    /// A cron schedule (five fields, UTC) instead of `cadence_ms`.
    pub schedule: Option<String>,
    /// What it does (at most 500 characters).
    pub description: Option<String>,
    /// The models it depends on (`provider/model`, at most 50).
    pub models: Option<Vec<String>>,
    /// How long a run may stay `running` before it counts as stuck (default 10 minutes).
    pub stuck_after_ms: Option<u64>,
    /// False to stop checking it (default true).
    pub enabled: Option<bool>,
}

impl AgentSpec {
    /// Checks every field and reads the cadence from the schedule when one is given: the
    /// cadence to store, if any.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `agent_name`, `cadence_ms` (0 or over a year),
    /// `schedule` (not a cron expression, or given with `cadence_ms`), `description`,
    /// `models` or `stuck_after_ms`.
    pub fn check(&self) -> Result<Option<u64>> {
        agent_name(&self.agent_name)?;
        if self.cadence_ms.is_some() && self.schedule.is_some() {
            return Err(Error::invalid_input(
                "schedule",
                "give cadence_ms or schedule, not both",
            ));
        }
        if let Some(c) = self.cadence_ms
            && !(1..=MAX_CADENCE_MS).contains(&c)
        {
            return Err(Error::invalid_input("cadence_ms", "must be 1 ms to a year"));
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 500)
        {
            return Err(Error::invalid_input(
                "description",
                "must be at most 500 characters",
            ));
        }
        if let Some(models) = &self.models {
            if models.len() > MAX_MODELS {
                return Err(Error::invalid_input(
                    "models",
                    "must name at most 50 models",
                ));
            }
            for (i, m) in models.iter().enumerate() {
                if m.trim().is_empty() || m.chars().count() > 200 || m.contains('\0') {
                    return Err(Error::invalid_input(
                        format!("models[{i}]"),
                        "must be 1 to 200 characters without NUL (provider/model)",
                    ));
                }
            }
        }
        if let Some(s) = self.stuck_after_ms
            && !(1..=MAX_CADENCE_MS).contains(&s)
        {
            return Err(Error::invalid_input(
                "stuck_after_ms",
                "must be 1 ms to a year",
            ));
        }
        match &self.schedule {
            Some(schedule) => cadence_of_schedule(schedule).map(Some),
            None => Ok(self.cadence_ms),
        }
    }
}

/// Checks an agent's name: 1 to 100 characters, no control characters.
///
/// # Errors
/// [`Error::InvalidInput`] naming `agent_name`.
pub fn agent_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid_input(
            "agent_name",
            "must be 1 to 100 characters without control characters",
        ));
    }
    Ok(())
}

/// The cadence of a cron `schedule` (five fields, UTC): the longest gap between two of its
/// firings over a year from a fixed Monday, so the same schedule always has the same cadence.
///
/// # Errors
/// [`Error::InvalidInput`] naming `schedule` when it is not a cron expression or fires less
/// than twice a year.
pub fn cadence_of_schedule(schedule: &str) -> Result<u64> {
    let cron = croner::Cron::new(schedule)
        .parse()
        .map_err(|e| Error::invalid_input("schedule", format!("not a cron expression: {e}")))?;
    let start: DateTime<Utc> = DateTime::from_timestamp(1_767_571_200, 0).unwrap_or_default(); // 2026-01-05, a Monday
    let end = start + chrono::Duration::milliseconds(MAX_CADENCE_MS as i64);
    let mut previous: Option<DateTime<Utc>> = None;
    let mut longest = 0u64;
    for at in cron.iter_after(start).take(2_000) {
        if at > end {
            break;
        }
        if let Some(p) = previous {
            longest = longest.max(u64::try_from((at - p).num_milliseconds()).unwrap_or(0));
        }
        previous = Some(at);
    }
    if longest == 0 {
        return Err(Error::invalid_input(
            "schedule",
            "must fire at least twice a year",
        ));
    }
    Ok(longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_read_as_its_longest_gap() {
        assert_eq!(cadence_of_schedule("0 5 * * 1").unwrap(), 7 * 86_400_000);
        assert_eq!(cadence_of_schedule("*/15 * * * *").unwrap(), 900_000);
        // Weekdays only: the weekend is the longest gap.
        assert_eq!(cadence_of_schedule("0 9 * * 1-5").unwrap(), 3 * 86_400_000);
        let err = cadence_of_schedule("every day").unwrap_err();
        assert_eq!(err.field(), Some("schedule"));
    }

    #[test]
    fn a_spec_is_checked_field_by_field() {
        let spec = |f: fn(&mut AgentSpec)| {
            let mut s = AgentSpec {
                agent_name: "cc-enrich".into(),
                cadence_ms: Some(900_000),
                ..AgentSpec::default()
            };
            f(&mut s);
            s.check().map_err(|e| e.field().map(str::to_owned))
        };
        assert_eq!(spec(|_| {}), Ok(Some(900_000)));
        assert_eq!(
            spec(|s| s.cadence_ms = Some(0)),
            Err(Some("cadence_ms".into()))
        );
        assert_eq!(
            spec(|s| s.schedule = Some("0 5 * * 1".into())),
            Err(Some("schedule".into()))
        );
        assert_eq!(
            spec(|s| s.agent_name = " ".into()),
            Err(Some("agent_name".into()))
        );
        assert_eq!(
            spec(|s| s.models = Some(vec![String::new()])),
            Err(Some("models[0]".into()))
        );
        assert_eq!(
            spec(|s| {
                s.cadence_ms = None;
                s.schedule = Some("0 5 * * 1".into());
            }),
            Ok(Some(604_800_000))
        );
    }
}
