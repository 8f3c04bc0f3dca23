//! Per-run credit budgets of fleet agents (the original `FLEET_AGENT_BUDGETS`).

/// Credits one run of each agent may spend; agents not listed get [`DEFAULT_AGENT_BUDGET`].
pub const FLEET_AGENT_BUDGETS: &[(&str, f64)] = &[
    ("morning-briefing", 8.0),
    ("eod-summary", 8.0),
    ("meeting-prep", 5.0),
    ("deal-risk-scan", 5.0),
    ("pipeline-digest", 5.0),
    ("coaching-prep", 5.0),
];

/// The budget of an agent with no entry of its own.
pub const DEFAULT_AGENT_BUDGET: f64 = 10.0;

/// Every agent's budget plus a `default` entry for agents not listed: the table the bindings
/// export as `FLEET_AGENT_BUDGETS`.
pub fn fleet_agent_budgets() -> Vec<(&'static str, f64)> {
    FLEET_AGENT_BUDGETS
        .iter()
        .copied()
        .chain([("default", DEFAULT_AGENT_BUDGET)])
        .collect()
}

/// The original `checkAgentBudget` result.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AgentBudget {
    /// True once `used` reaches the limit.
    pub exceeded: bool,
    /// The agent's limit.
    pub limit: f64,
    /// Credits used so far.
    pub used: f64,
}

/// The budget of `agent`, or the default.
pub fn agent_budget_limit(agent: &str) -> f64 {
    FLEET_AGENT_BUDGETS
        .iter()
        .find(|(name, _)| *name == agent)
        .map_or(DEFAULT_AGENT_BUDGET, |(_, limit)| *limit)
}

/// Whether a run of `agent` that has used `used` credits is over its budget. A spend that is not
/// a finite number ≥ 0 (NaN, ±infinity, negative) counts as exceeded: an unknown spend must not
/// pass a budget check.
pub fn check_agent_budget(agent: &str, used: f64) -> AgentBudget {
    AgentBudget::of(agent_budget_limit(agent), used)
}

impl AgentBudget {
    /// A run that has used `used` of `limit` credits; a spend that is not a finite number
    /// ≥ 0 counts as exceeded.
    pub fn of(limit: f64, used: f64) -> Self {
        let known = used.is_finite() && used >= 0.0;
        AgentBudget {
            exceeded: !known || used >= limit,
            limit,
            used,
        }
    }

    /// Why a run stops here: the original's `Budget exceeded after X credits (limit: L)`.
    pub fn stop_reason(&self) -> String {
        format!(
            "Budget exceeded after {} credits (limit: {})",
            self.used, self.limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_agents_have_their_budget_and_the_rest_the_default() {
        assert_eq!(agent_budget_limit("morning-briefing"), 8.0);
        assert_eq!(agent_budget_limit("meeting-prep"), 5.0);
        assert_eq!(agent_budget_limit("someone-new"), DEFAULT_AGENT_BUDGET);
        assert_eq!(agent_budget_limit("default"), DEFAULT_AGENT_BUDGET);
        let table = fleet_agent_budgets();
        assert_eq!(table.len(), FLEET_AGENT_BUDGETS.len() + 1);
        assert_eq!(table.last(), Some(&("default", DEFAULT_AGENT_BUDGET)));
        assert!(check_agent_budget("someone-new", 10.0).exceeded);
        assert!(!check_agent_budget("someone-new", 9.5).exceeded);
    }

    #[test]
    fn an_unknown_spend_never_passes() {
        for used in [f64::NAN, f64::NEG_INFINITY, f64::INFINITY, -1.0] {
            assert!(check_agent_budget("eod-summary", used).exceeded, "{used}");
        }
        assert!(!check_agent_budget("eod-summary", 7.99).exceeded);
    }
}
