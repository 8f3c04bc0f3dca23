//! What callers of the bindings and the CLI pass to the router, read once here: matrix rows,
//! charges for a call, and failure reports. Each deserializes from an options object
//! ([`crate::options::from_value`]), so a default or a rule is written only in this file.

use std::sync::Arc;

use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::Value;
use uuid::Uuid;

use super::breaker::FailureKind;
use super::credits::Charge;
use super::matrix::{Feature, ModelEntry, Pricing, Role, Scope, Tier, Usage};
use super::resolve::Resolution;
use super::router::ModelRouter;
use crate::error::{Error, Result};
use crate::options::de;

/// The ledger kind of a grant that names none.
pub const DEFAULT_GRANT_KIND: &str = "purchase";

/// Context window of a matrix row that names none.
pub const DEFAULT_CONTEXT_WINDOW: u32 = 128_000;
/// Reply limit of a matrix row that names none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// One matrix row as a caller writes it (`set_model`): without `fallback_order` it is the
/// primary; without `org_id` it is the platform's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRow {
    /// The feature it serves.
    #[serde(deserialize_with = "de::parsed")]
    pub feature: Feature,
    /// The tier it serves.
    #[serde(deserialize_with = "de::parsed")]
    pub tier: Tier,
    /// The provider (any spelling of a known one).
    pub provider: String,
    /// The provider's model id.
    pub model_id: String,
    /// Its place among the fallbacks; absent for the primary.
    #[serde(default)]
    pub fallback_order: Option<u32>,
    /// The org whose override this is.
    #[serde(default, deserialize_with = "de::opt_uuid")]
    pub org_id: Option<Uuid>,
    /// Tokens the model accepts (default [`DEFAULT_CONTEXT_WINDOW`]).
    #[serde(default = "default_context_window")]
    pub context_window: u32,
    /// Most tokens a reply may have (default [`DEFAULT_MAX_TOKENS`]).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Flat credits per request (default 0).
    #[serde(default)]
    pub credit_cost: f64,
    /// Credits per million input tokens.
    #[serde(default)]
    pub input_cost_per_mtok: Option<f64>,
    /// Credits per million output tokens.
    #[serde(default)]
    pub output_cost_per_mtok: Option<f64>,
}

fn default_context_window() -> u32 {
    DEFAULT_CONTEXT_WINDOW
}

fn default_max_tokens() -> u32 {
    DEFAULT_MAX_TOKENS
}

impl From<ModelRow> for ModelEntry {
    fn from(row: ModelRow) -> Self {
        ModelEntry {
            scope: row.org_id.map_or(Scope::Platform, Scope::Org),
            feature: row.feature,
            tier: row.tier,
            provider: row.provider.into(),
            model_id: row.model_id.into(),
            role: row.fallback_order.map_or(Role::Primary, Role::Fallback),
            context_window: row.context_window,
            max_tokens: row.max_tokens,
            pricing: Pricing {
                per_request: row.credit_cost,
                input_per_mtok: row.input_cost_per_mtok,
                output_per_mtok: row.output_cost_per_mtok,
            },
        }
    }
}

/// A resolution as a caller hands it back (a JavaScript object in the `ModelResolution` shape).
#[derive(Debug, Clone, Deserialize)]
struct ResolutionRecord {
    provider: Arc<str>,
    model_id: Arc<str>,
    #[serde(default)]
    credit_cost: f64,
    #[serde(default)]
    max_tokens: u32,
    #[serde(default)]
    context_window: u32,
    #[serde(default)]
    was_fallback: bool,
    #[serde(deserialize_with = "de::parsed")]
    tier: Tier,
    #[serde(default, deserialize_with = "de::opt_uuid")]
    trace_id: Option<Uuid>,
}

impl From<ResolutionRecord> for Resolution {
    fn from(r: ResolutionRecord) -> Self {
        Resolution {
            provider: r.provider,
            model_id: r.model_id,
            credit_cost: r.credit_cost,
            max_tokens: r.max_tokens,
            context_window: r.context_window,
            was_fallback: r.was_fallback,
            tier: r.tier,
            trace_id: r.trace_id.unwrap_or_default(),
        }
    }
}

fn opt_resolution<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Resolution>, D::Error> {
    ResolutionRecord::deserialize(d).map(|r| Some(r.into()))
}

/// A token count: finite and ≥ 0.
fn tokens<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<f64>, D::Error> {
    let value = f64::deserialize(d)?;
    if value.is_finite() && value >= 0.0 {
        Ok(Some(value))
    } else {
        Err(D::Error::custom(format!(
            "must be a finite number ≥ 0, got {value}"
        )))
    }
}

/// The tokens a call used, as the original `deductCredits` took them: a total, or the input
/// and output counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActualTokens {
    /// A total; the call is charged per request, as the original did.
    Total(f64),
    /// Input and output counts; metered when the model has token prices.
    Split(Usage),
}

impl<'de> Deserialize<'de> for ActualTokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Split {
            #[serde(default, deserialize_with = "tokens")]
            input_tokens: Option<f64>,
            #[serde(default, deserialize_with = "tokens")]
            output_tokens: Option<f64>,
        }
        match Value::deserialize(d)? {
            Value::Number(n) => {
                let total = n.as_f64().unwrap_or(f64::NAN);
                if total.is_finite() && total >= 0.0 {
                    Ok(ActualTokens::Total(total))
                } else {
                    Err(D::Error::custom(format!(
                        "must be a finite number ≥ 0, got {total}"
                    )))
                }
            }
            object @ Value::Object(_) => {
                let split: Split = serde_json::from_value(object).map_err(D::Error::custom)?;
                Ok(ActualTokens::Split(Usage {
                    input_tokens: split.input_tokens.unwrap_or(0.0),
                    output_tokens: split.output_tokens.unwrap_or(0.0),
                }))
            }
            _ => Err(D::Error::custom("must be a number or an object")),
        }
    }
}

/// A charge for a call, as a caller describes it (`deduct_credits`): `amount` as given, or the
/// cost of `resolution`'s model, metered from the token counts when it has token prices.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    /// The org charged.
    #[serde(deserialize_with = "de::uuid")]
    pub org_id: Uuid,
    /// Credits to charge; when absent, the cost of `resolution`'s model.
    #[serde(default)]
    pub amount: Option<f64>,
    /// The model that served the call.
    #[serde(default, deserialize_with = "opt_resolution")]
    pub resolution: Option<Resolution>,
    /// Prompt tokens.
    #[serde(default, deserialize_with = "tokens")]
    pub input_tokens: Option<f64>,
    /// Completion tokens.
    #[serde(default, deserialize_with = "tokens")]
    pub output_tokens: Option<f64>,
    /// The original `actualTokens` argument (wins over the two counts above).
    #[serde(default)]
    pub actual_tokens: Option<ActualTokens>,
    /// The user who caused it.
    #[serde(default, deserialize_with = "de::opt_uuid")]
    pub user_id: Option<Uuid>,
    /// The agent, for fleet runs.
    #[serde(default)]
    pub agent_name: Option<String>,
    /// Charges once per (org, key).
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// What was used (a feature name).
    #[serde(default)]
    pub feature: Option<String>,
    /// The request's trace; the resolution's when absent.
    #[serde(default, deserialize_with = "de::opt_uuid")]
    pub trace_id: Option<Uuid>,
}

impl ModelRouter {
    /// The ledger debit for a call: the amount, the ledger description
    /// (`AI usage: <model>[ via <agent>]`), the tokens and the ids.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `amount` when neither an amount nor a resolution is given.
    pub fn charge_for(&self, request: ChargeRequest) -> Result<Charge> {
        let (usage, total) = match request.actual_tokens {
            Some(ActualTokens::Total(total)) => (None, Some(total)),
            Some(ActualTokens::Split(usage)) => (Some(usage), None),
            None => match (request.input_tokens, request.output_tokens) {
                (None, None) => (None, None),
                (i, o) => (Some(Usage::new(i.unwrap_or(0.0), o.unwrap_or(0.0))?), None),
            },
        };
        let resolution = request.resolution;
        let amount = match (request.amount, &resolution) {
            (Some(amount), _) => amount,
            (None, Some(r)) => self.call_cost(r, usage),
            (None, None) => {
                return Err(Error::invalid_input(
                    "amount",
                    "give an amount or a resolution",
                ));
            }
        };
        let tokens = total.or(usage.map(|u| u.input_tokens + u.output_tokens));
        Ok(Charge {
            org_id: request.org_id,
            amount,
            idempotency_key: request.idempotency_key,
            description: resolution.as_ref().map(|r| match &request.agent_name {
                Some(agent) => format!("AI usage: {} via {agent}", r.model_id),
                None => format!("AI usage: {}", r.model_id),
            }),
            feature_key: request.feature,
            model_id: resolution.as_ref().map(|r| r.model_id.to_string()),
            tokens_used: tokens.map(|t| t as i64),
            agent_name: request.agent_name,
            trace_id: request.trace_id.or(resolution.as_ref().map(|r| r.trace_id)),
            created_by: request.user_id,
        })
    }
}

impl ModelRouter {
    /// [`ModelRouter::record_model_failure`] for a failure as a caller reports it (see
    /// [`FailureKind::from_report`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the report cannot be read, or names a model that is not in
    /// the matrix; nothing is counted then.
    pub async fn record_failure_report(
        &self,
        model_id: &str,
        provider: Option<&str>,
        report: Option<&Value>,
    ) -> Result<super::breaker::Transition> {
        let kind = FailureKind::from_report(report)?;
        self.record_failure_kind(model_id, provider, kind).await
    }

    /// [`Self::record_failure_report`] with the kind already decided (see
    /// [`FailureKind::from_parts`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `model_id` when the model is not in the matrix.
    pub async fn record_failure_kind(
        &self,
        model_id: &str,
        provider: Option<&str>,
        kind: FailureKind,
    ) -> Result<super::breaker::Transition> {
        let provider = match provider {
            Some(provider) => Some(provider.to_owned()),
            None => self.provider_of(model_id),
        };
        match provider {
            Some(provider) if self.knows(&provider, model_id) => {
                Ok(self.record_failure(&provider, model_id, kind).await)
            }
            _ => Err(Error::invalid_input(
                "model_id",
                format!("`{model_id}` is not a model of the matrix"),
            )),
        }
    }
}

impl FailureKind {
    /// The kind from separate arguments (Python's `kind=` and `status=`): a kind name wins,
    /// then an HTTP status; neither is a timeout.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `kind` for an unknown name, on `status` for anything but a
    /// whole number from 100 to 599 (NaN and infinities included).
    pub fn from_parts(kind: Option<&str>, status: Option<f64>) -> Result<Self> {
        match (kind, status) {
            (Some(kind), _) => kind.parse(),
            (None, Some(status)) => Self::from_status_number(Some(status)),
            (None, None) => Ok(FailureKind::Timeout),
        }
    }

    /// The kind of a failure as a caller reports it: nothing (the provider did not answer: a
    /// timeout), an HTTP status (an integer 100–599), a kind name, or an error object whose
    /// `kind`, `status` or `status_code` says which.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `kind` or `status` for anything else: a report Keel cannot
    /// read is refused, never guessed.
    pub fn from_report(report: Option<&Value>) -> Result<Self> {
        match report {
            None | Some(Value::Null) => Ok(FailureKind::Timeout),
            Some(Value::Number(n)) => Self::from_status_number(n.as_f64()),
            Some(Value::String(kind)) => kind.parse(),
            Some(Value::Object(fields)) => {
                if let Some(kind) = fields.get("kind").filter(|k| !k.is_null()) {
                    return match kind {
                        Value::String(kind) => kind.parse(),
                        _ => Err(Error::invalid_input("kind", "must be a kind name")),
                    };
                }
                match ["status", "status_code", "statusCode"]
                    .iter()
                    .find_map(|name| fields.get(*name).filter(|v| !v.is_null()))
                {
                    None => Ok(FailureKind::Timeout),
                    Some(Value::Number(n)) => Self::from_status_number(n.as_f64()),
                    Some(_) => Err(Error::invalid_input("status", "must be an HTTP status")),
                }
            }
            Some(_) => Err(Error::invalid_input(
                "kind",
                "must be an HTTP status, a kind name or an error object",
            )),
        }
    }

    fn from_status_number(status: Option<f64>) -> Result<Self> {
        match status {
            Some(s) if s.fract() == 0.0 && (100.0..=599.0).contains(&s) => {
                Ok(FailureKind::from_status(Some(s as u16)))
            }
            _ => Err(Error::invalid_input(
                "status",
                format!(
                    "must be an HTTP status from 100 to 599, got {}",
                    status.unwrap_or(f64::NAN)
                ),
            )),
        }
    }
}
