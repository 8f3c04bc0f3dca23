//! Resolution: the model that serves a request, from the matrix and the breakers' view of
//! which candidates are usable. No I/O: the matrix and breaker states are in-process caches.

use std::sync::Arc;

use uuid::Uuid;

use super::matrix::{Feature, Matrix, ModelEntry, Tier};
use crate::error::Unavailable;
use crate::error::{Error, Result};

/// The tier used when neither the request nor the org's configuration names one.
pub const DEFAULT_TIER: Tier = Tier::Medium;

/// The model chosen for a request, in the original `ModelResolution` shape plus the context
/// window and the tier.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Resolution {
    /// Canonical provider name.
    pub provider: Arc<str>,
    /// The provider's model id.
    pub model_id: Arc<str>,
    /// Credits per request (the flat price).
    pub credit_cost: f64,
    /// Most tokens a reply may have.
    pub max_tokens: u32,
    /// Tokens the model accepts.
    pub context_window: u32,
    /// True when the primary was unusable and a fallback serves.
    pub was_fallback: bool,
    /// The tier that was resolved.
    pub tier: Tier,
    /// The trace of the request.
    pub trace_id: Uuid,
}

/// Picks the first usable candidate of (feature, tier) for `org`: the primary, then the
/// fallbacks of the same tier in order.
///
/// # Errors
/// [`Error::NoModelAvailable`] saying whether nothing is configured or every circuit is open.
pub fn resolve(
    matrix: &Matrix,
    feature: Feature,
    tier: Tier,
    org: Option<Uuid>,
    trace_id: Uuid,
    mut usable: impl FnMut(&ModelEntry) -> bool,
) -> Result<Resolution> {
    let slot = matrix.slot(feature, tier, org);
    let mut tried = 0;
    for (index, candidate) in slot.candidates().enumerate() {
        tried += 1;
        if usable(candidate) {
            return Ok(Resolution {
                provider: candidate.provider.clone(),
                model_id: candidate.model_id.clone(),
                credit_cost: candidate.pricing.per_request,
                max_tokens: candidate.max_tokens,
                context_window: candidate.context_window,
                was_fallback: index > 0 || slot.primary.is_none(),
                tier,
                trace_id,
            });
        }
    }
    let reason = if tried == 0 {
        Unavailable::NotConfigured
    } else {
        Unavailable::AllCircuitsOpen
    };
    Err(Error::NoModelAvailable {
        feature: feature.as_str(),
        tier: tier.as_str(),
        reason,
        candidates: tried,
    })
}
