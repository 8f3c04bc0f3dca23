//! Model routing: the model matrix, resolution with tier-filtered fallbacks, circuit breakers
//! shared by every instance, credits and budgets.
//!
//! [`ModelRouter`] is the handle: it caches the matrix and the breakers in process (resolution
//! does no I/O while circuits are closed) and keeps them in the database, where every state
//! change is atomic. The pure parts ([`Matrix`], [`resolve`], [`BreakerRow`]) work alone.
//!
//! ```
//! use keel::models::{Feature, Matrix, Tier, default_rows, resolve};
//! let matrix = Matrix::new(default_rows())?;
//! let trace = uuid::Uuid::new_v4();
//! let pick = resolve(&matrix, Feature::Copilot, Tier::Medium, None, trace, |_| true)?;
//! assert_eq!(&*pick.model_id, "claude-sonnet-4-6");
//! // With the primary's circuit open, the tier's first fallback serves.
//! let pick = resolve(&matrix, Feature::Copilot, Tier::Medium, None, trace, |m| &*m.provider != "anthropic")?;
//! assert!(pick.was_fallback);
//! # Ok::<(), keel::Error>(())
//! ```

mod billing;
mod breaker;
mod budget;
pub mod credits;
mod matrix;
mod options;
mod requests;
mod resolve;
mod router;
mod store;

pub use crate::error::Unavailable;
pub use crate::options::{parse_uuid, require_uuid, seconds};
pub use breaker::{BreakerConfig, BreakerRow, CircuitState, FailureKind, Transition};
pub use budget::{
    AgentBudget, DEFAULT_AGENT_BUDGET, FLEET_AGENT_BUDGETS, agent_budget_limit, check_agent_budget,
    fleet_agent_budgets,
};
pub use credits::{
    AMOUNT_DECIMALS, BudgetStatus, Charge, DEFAULT_GRACE, MAX_AMOUNT, Movement, Reservation, amount,
};
pub use matrix::{
    Feature, Matrix, ModelEntry, PROVIDERS, Pricing, Role, Scope, Slot, Tier, Usage,
    canonical_provider, default_rows,
};
pub use options::{DEFAULT_MAX_CALL_CREDITS, ModelRequest, RouterOptions};
pub use requests::{
    ActualTokens, ChargeRequest, DEFAULT_CONTEXT_WINDOW, DEFAULT_GRANT_KIND, DEFAULT_MAX_TOKENS,
    ModelRow,
};
pub use resolve::{DEFAULT_TIER, Resolution, resolve};
pub use router::ModelRouter;
pub use store::{PROVIDER_WIDE, StoredBreaker};
