//! The matrix and the breakers as JSON rows, as `keel models` and the console show them.

use serde_json::{Value, json};

use super::ModelRouter;
use crate::models::{Role, Scope};

impl ModelRouter {
    /// The model matrix, one object per row: scope (`platform` or the org), feature, tier,
    /// role (`primary`, `fallback1`, …), provider, model and prices.
    pub fn matrix_value(&self) -> Value {
        self.with_matrix(|matrix| {
            matrix
                .rows()
                .map(|row| {
                    json!({
                        "scope": match row.scope {
                            Scope::Platform => "platform".to_owned(),
                            Scope::Org(org) => org.to_string(),
                        },
                        "feature": row.feature.as_str(),
                        "tier": row.tier.as_str(),
                        "role": match row.role {
                            Role::Primary => "primary".to_owned(),
                            Role::Fallback(order) => format!("fallback{order}"),
                        },
                        "provider": &*row.provider,
                        "model_id": &*row.model_id,
                        "per_request": row.pricing.per_request,
                        "input_per_mtok": row.pricing.input_per_mtok,
                        "output_per_mtok": row.pricing.output_per_mtok,
                    })
                })
                .collect()
        })
    }

    /// The breakers this process sees as not closed, one object each: provider, model, state,
    /// reopen count, the end of the cooldown (epoch ms) and the failures in the window.
    pub fn breakers_value(&self) -> Value {
        self.open_breakers()
            .iter()
            .map(|b| {
                json!({
                    "provider": b.provider,
                    "model_id": b.model_id,
                    "state": b.row.state.as_str(),
                    "reopen_count": b.row.reopen_count,
                    "open_until_ms": b.row.open_until,
                    "recent_failures": b.row.recent_failures.len(),
                })
            })
            .collect()
    }
}
