//! Model routing: the model matrix, resolution with tier-filtered fallbacks, and per-run agent
//! budgets.
//!
//! This is the in-process half of the router: everything here answers without I/O. Storage of
//! the matrix, the shared circuit breakers and the credit ledger build on it.
//!
//! ```
//! use keel::models::{Feature, Matrix, Tier, default_rows, resolve};
//! let matrix = Matrix::new(default_rows())?;
//! let trace = uuid::Uuid::new_v4();
//! let pick = resolve(&matrix, Feature::Copilot, Tier::Medium, None, trace, |_| true)?;
//! assert_eq!(pick.model_id, "claude-sonnet-4-6");
//! // With the primary's circuit open, the tier's first fallback serves.
//! let pick = resolve(&matrix, Feature::Copilot, Tier::Medium, None, trace, |m| m.provider != "anthropic")?;
//! assert!(pick.was_fallback);
//! # Ok::<(), keel::Error>(())
//! ```

mod budget;
mod matrix;
mod resolve;

pub use budget::{
    AgentBudget, DEFAULT_AGENT_BUDGET, FLEET_AGENT_BUDGETS, agent_budget_limit, check_agent_budget,
};
pub use matrix::{
    Feature, Matrix, ModelEntry, PROVIDERS, Pricing, Role, Scope, Slot, Tier, Usage,
    canonical_provider, default_rows,
};
pub use resolve::{DEFAULT_TIER, Resolution, Unavailable, resolve};
