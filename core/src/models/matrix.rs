//! The model matrix: for each (feature, tier), a primary model and ordered fallbacks, at
//! platform scope and as per-org overrides.
//!
//! A [`Matrix`] is validated as a whole when it is built, so a change that would leave two
//! primaries for one (scope, feature, tier), an unknown provider or a bad price is rejected and
//! the matrix in use stays as it was. Lookups index fixed arrays: no hashing of strings on the
//! hot path.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::{Error, Result};

/// What a model is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// The interactive copilot.
    Copilot,
    /// Background fleet agents.
    FleetAgent,
    /// Call-recording analysis.
    Recording,
    /// Embeddings.
    Embedding,
    /// Contact and company enrichment.
    Enrichment,
}

/// How capable (and costly) a model should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Cheap and fast.
    Low,
    /// The default.
    Medium,
    /// Most capable.
    High,
}

macro_rules! string_enum {
    ($ty:ident, $field:literal, [$($variant:ident = $text:literal),+ $(,)?]) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }

            fn index(self) -> usize {
                self as usize
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = Error;

            /// # Errors
            /// [`Error::InvalidInput`] naming the field and the allowed values.
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(Error::invalid_input(
                        $field,
                        format!(
                            "`{s}` is not one of {}",
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }
    };
}

string_enum!(
    Feature,
    "feature",
    [
        Copilot = "copilot",
        FleetAgent = "fleet_agent",
        Recording = "recording",
        Embedding = "embedding",
        Enrichment = "enrichment",
    ]
);
string_enum!(
    Tier,
    "tier",
    [Low = "low", Medium = "medium", High = "high"]
);

/// Providers a matrix row may name. `gemini` (a spelling some callers use) is stored as `google`.
pub const PROVIDERS: &[&str] = &["anthropic", "google", "openai", "openrouter"];

/// The provider's canonical name, or an error naming the allowed values.
///
/// # Errors
/// [`Error::InvalidInput`] on field `provider`.
pub fn canonical_provider(provider: &str) -> Result<&'static str> {
    let provider = provider.trim();
    if provider.eq_ignore_ascii_case("gemini") {
        return Ok("google");
    }
    PROVIDERS
        .iter()
        .find(|p| p.eq_ignore_ascii_case(provider))
        .copied()
        .ok_or_else(|| {
            Error::invalid_input(
                "provider",
                format!("`{provider}` is not one of {}", PROVIDERS.join(", ")),
            )
        })
}

/// Token usage of one call.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: f64,
    /// Completion tokens.
    pub output_tokens: f64,
}

impl Usage {
    /// Usage from caller-supplied counts.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `input_tokens` or `output_tokens` when a count is
    /// negative, NaN or infinite.
    pub fn new(input_tokens: f64, output_tokens: f64) -> Result<Self> {
        Ok(Self {
            input_tokens: non_negative("input_tokens", input_tokens)?,
            output_tokens: non_negative("output_tokens", output_tokens)?,
        })
    }
}

fn non_negative(field: &str, value: f64) -> Result<f64> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(Error::invalid_input(
            field,
            format!("must be a finite number ≥ 0, got {value}"),
        ))
    }
}

/// What a call costs, in credits (1 credit = 1 USD).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pricing {
    /// Flat credits per request, charged when there is no token pricing or no usage.
    pub per_request: f64,
    /// Credits per million input tokens.
    pub input_per_mtok: Option<f64>,
    /// Credits per million output tokens.
    pub output_per_mtok: Option<f64>,
}

impl Pricing {
    /// Checks every price is finite and ≥ 0.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the price.
    pub fn validate(&self) -> Result<()> {
        non_negative("credit_cost", self.per_request)?;
        if let Some(p) = self.input_per_mtok {
            non_negative("input_cost_per_mtok", p)?;
        }
        if let Some(p) = self.output_per_mtok {
            non_negative("output_cost_per_mtok", p)?;
        }
        Ok(())
    }

    /// True when the model is priced by tokens.
    pub fn is_metered(&self) -> bool {
        self.input_per_mtok.is_some() || self.output_per_mtok.is_some()
    }

    /// The cost of a call: metered from `usage` when the model has token pricing and usage is
    /// known, else the flat per-request price.
    pub fn cost(&self, usage: Option<Usage>) -> f64 {
        match usage {
            Some(u) if self.is_metered() => {
                (u.input_tokens * self.input_per_mtok.unwrap_or(0.0)
                    + u.output_tokens * self.output_per_mtok.unwrap_or(0.0))
                    / 1_000_000.0
            }
            _ => self.per_request,
        }
    }
}

/// Whose row it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The platform default, for every org.
    Platform,
    /// One org's override: it replaces the platform's (feature, tier) slot for that org.
    Org(Uuid),
}

/// A row's place in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Served while its circuit is closed.
    Primary,
    /// Served when everything before it is unusable; lower orders first.
    Fallback(u32),
}

/// One row of the matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    /// Platform default or an org override.
    pub scope: Scope,
    /// The feature it serves.
    pub feature: Feature,
    /// The tier it serves.
    pub tier: Tier,
    /// Canonical provider name (see [`PROVIDERS`]).
    pub provider: Arc<str>,
    /// The provider's model id, e.g. `claude-sonnet-4-6`.
    pub model_id: Arc<str>,
    /// Primary or fallback.
    pub role: Role,
    /// Tokens the model accepts.
    pub context_window: u32,
    /// Most tokens a reply may have.
    pub max_tokens: u32,
    /// Price.
    pub pricing: Pricing,
}

impl ModelEntry {
    /// Checks one row on its own; the provider is made canonical.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field.
    pub fn validated(mut self) -> Result<Self> {
        self.provider = Arc::from(canonical_provider(&self.provider)?);
        if self.model_id.trim().is_empty() {
            return Err(Error::invalid_input("model_id", "must not be empty"));
        }
        crate::idents::no_nul("model_id", &self.model_id)?;
        if self.context_window == 0 {
            return Err(Error::invalid_input("context_window", "must be > 0"));
        }
        if self.max_tokens == 0 {
            return Err(Error::invalid_input("max_tokens", "must be > 0"));
        }
        self.pricing.validate()?;
        Ok(self)
    }
}

const SLOTS: usize = 5 * 3;

fn slot_index(feature: Feature, tier: Tier) -> usize {
    feature.index() * Tier::ALL.len() + tier.index()
}

/// The candidates of one (scope, feature, tier): a primary and fallbacks in order.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// The primary, if configured.
    pub primary: Option<Arc<ModelEntry>>,
    /// Fallbacks, lowest order first.
    pub fallbacks: Vec<Arc<ModelEntry>>,
}

impl Slot {
    /// Primary first, then the fallbacks in order.
    pub fn candidates(&self) -> impl Iterator<Item = &Arc<ModelEntry>> {
        self.primary.iter().chain(self.fallbacks.iter())
    }
}

/// The validated matrix.
#[derive(Debug, Clone)]
pub struct Matrix {
    platform: Box<[Slot; SLOTS]>,
    orgs: HashMap<Uuid, Box<[Option<Slot>; SLOTS]>>,
    rows: usize,
}

impl Matrix {
    /// Builds a matrix from rows, checking each row and the whole.
    ///
    /// # Errors
    /// [`Error::InvalidInput`]: a bad row (naming its field), two primaries for one (scope,
    /// feature, tier) (`primary`), or two fallbacks with one order (`fallback_order`).
    pub fn new(rows: impl IntoIterator<Item = ModelEntry>) -> Result<Self> {
        let mut platform: Box<[Slot; SLOTS]> = Box::default();
        let mut orgs: HashMap<Uuid, Box<[Option<Slot>; SLOTS]>> = HashMap::new();
        let mut count = 0;
        for row in rows {
            let row = Arc::new(row.validated()?);
            let index = slot_index(row.feature, row.tier);
            let slot = match row.scope {
                Scope::Platform => &mut platform[index],
                Scope::Org(org) => orgs.entry(org).or_default()[index].get_or_insert_default(),
            };
            match row.role {
                Role::Primary => {
                    if let Some(existing) = &slot.primary {
                        return Err(Error::invalid_input(
                            "primary",
                            format!(
                                "{} {}/{} already has primary {}; a slot has one primary",
                                scope_name(row.scope),
                                row.feature,
                                row.tier,
                                existing.model_id
                            ),
                        ));
                    }
                    slot.primary = Some(row);
                }
                Role::Fallback(order) => {
                    if slot
                        .fallbacks
                        .iter()
                        .any(|f| f.role == Role::Fallback(order))
                    {
                        return Err(Error::invalid_input(
                            "fallback_order",
                            format!(
                                "{} {}/{} has two fallbacks with order {order}",
                                scope_name(row.scope),
                                row.feature,
                                row.tier
                            ),
                        ));
                    }
                    slot.fallbacks.push(row);
                    slot.fallbacks.sort_by_key(|f| f.role);
                }
            }
            count += 1;
        }
        Ok(Self {
            platform,
            orgs,
            rows: count,
        })
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when it holds no row.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Every row: platform slots first, then org overrides.
    pub fn rows(&self) -> impl Iterator<Item = &ModelEntry> {
        self.platform
            .iter()
            .chain(self.orgs.values().flat_map(|slots| slots.iter().flatten()))
            .flat_map(|slot| slot.candidates().map(|e| &**e))
    }

    /// The first row naming (provider, model), platform rows first.
    pub fn find(&self, provider: &str, model_id: &str) -> Option<&ModelEntry> {
        self.rows()
            .find(|e| &*e.provider == provider && &*e.model_id == model_id)
    }

    /// The slot serving `org` for (feature, tier): the org's override when it has one, else
    /// the platform's.
    pub fn slot(&self, feature: Feature, tier: Tier, org: Option<Uuid>) -> &Slot {
        let index = slot_index(feature, tier);
        org.and_then(|org| self.orgs.get(&org))
            .and_then(|slots| slots[index].as_ref())
            .unwrap_or(&self.platform[index])
    }
}

fn scope_name(scope: Scope) -> String {
    match scope {
        Scope::Platform => "platform".to_owned(),
        Scope::Org(org) => format!("org {org}"),
    }
}

/// The original 21-row default matrix, with the model ids corrected (`claude-sonnet-4-6`, not
/// the dated id that does not exist), context windows added, and per-token prices (USD per
/// million tokens, as the providers list them) for the models whose prices we could check;
/// the others bill their per-request credit cost.
pub fn default_rows() -> Vec<ModelEntry> {
    use Feature::*;
    use Tier::*;
    let row = |feature, tier, provider: &str, model: &str, role, per_request, max_tokens| {
        let (context_window, input, output) = match model {
            "claude-haiku-4-5" | "claude-haiku-4-5-20251001" => (200_000, Some(1.0), Some(5.0)),
            "claude-sonnet-4-6" => (200_000, Some(3.0), Some(15.0)),
            "claude-opus-4-6" => (200_000, None, None),
            "gemini-2.0-flash" => (1_048_576, Some(0.1), Some(0.4)),
            "gemini-2.5-flash" => (1_048_576, Some(0.3), Some(2.5)),
            "text-embedding-3-small" => (8_191, Some(0.02), None),
            "text-embedding-3-large" => (8_191, Some(0.13), None),
            _ => (128_000, None, None),
        };
        ModelEntry {
            scope: Scope::Platform,
            feature,
            tier,
            provider: provider.into(),
            model_id: model.into(),
            role,
            context_window,
            max_tokens,
            pricing: Pricing {
                per_request,
                input_per_mtok: input,
                output_per_mtok: output,
            },
        }
    };
    let p = Role::Primary;
    let f = Role::Fallback(1);
    vec![
        row(
            Copilot,
            Low,
            "anthropic",
            "claude-haiku-4-5-20251001",
            p,
            0.25,
            4096,
        ),
        row(
            FleetAgent,
            Low,
            "anthropic",
            "claude-haiku-4-5-20251001",
            p,
            0.25,
            4096,
        ),
        row(Recording, Low, "google", "gemini-2.0-flash", p, 0.10, 8192),
        row(
            Embedding,
            Low,
            "openai",
            "text-embedding-3-small",
            p,
            0.02,
            8191,
        ),
        row(
            Enrichment,
            Low,
            "anthropic",
            "claude-haiku-4-5-20251001",
            p,
            0.25,
            4096,
        ),
        row(
            Copilot,
            Medium,
            "anthropic",
            "claude-sonnet-4-6",
            p,
            1.50,
            4096,
        ),
        row(
            FleetAgent,
            Medium,
            "anthropic",
            "claude-sonnet-4-6",
            p,
            1.50,
            4096,
        ),
        row(
            Recording,
            Medium,
            "google",
            "gemini-2.5-flash",
            p,
            0.50,
            8192,
        ),
        row(
            Embedding,
            Medium,
            "openai",
            "text-embedding-3-large",
            p,
            0.13,
            8191,
        ),
        row(
            Enrichment,
            Medium,
            "anthropic",
            "claude-sonnet-4-6",
            p,
            1.50,
            4096,
        ),
        row(Copilot, High, "anthropic", "claude-opus-4-6", p, 5.00, 4096),
        row(
            FleetAgent,
            High,
            "anthropic",
            "claude-opus-4-6",
            p,
            5.00,
            4096,
        ),
        row(
            Recording,
            High,
            "anthropic",
            "claude-sonnet-4-6",
            p,
            1.50,
            8192,
        ),
        row(
            Embedding,
            High,
            "openai",
            "text-embedding-3-large",
            p,
            0.13,
            8191,
        ),
        row(
            Enrichment,
            High,
            "anthropic",
            "claude-opus-4-6",
            p,
            5.00,
            4096,
        ),
        row(Copilot, Low, "google", "gemini-2.5-flash", f, 0.50, 4096),
        row(FleetAgent, Low, "google", "gemini-2.5-flash", f, 0.50, 4096),
        row(Copilot, Medium, "google", "gemini-2.5-flash", f, 0.50, 4096),
        row(
            FleetAgent,
            Medium,
            "google",
            "gemini-2.5-flash",
            f,
            0.50,
            4096,
        ),
        row(Copilot, High, "google", "gemini-2.5-flash", f, 0.50, 4096),
        row(
            FleetAgent,
            High,
            "google",
            "gemini-2.5-flash",
            f,
            0.50,
            4096,
        ),
    ]
}

#[cfg(test)]
mod tests;
