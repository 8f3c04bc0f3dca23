//! The router's options and requests, with their defaults written once.
//!
//! [`RouterOptions`] deserializes from the flat options object the bindings pass
//! (`staleness`, `matrix_ttl`, `default_tier`, `seed_defaults`, and the breaker's
//! `failure_threshold`, `provider_failure_threshold`, `window`, `cooldown`, `max_cooldown`,
//! `probe_timeout`), durations in seconds.

use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;

use super::breaker::BreakerConfig;
use super::matrix::{Feature, Tier};
use super::resolve::DEFAULT_TIER;
use crate::error::Result;
use crate::options::{de, parse_uuid};

/// Router tuning.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "FlatRouterOptions")]
pub struct RouterOptions {
    /// Breaker thresholds and cooldowns.
    pub breaker: BreakerConfig,
    /// Longest a breaker change made by another instance goes unseen (default 1 s).
    pub staleness: Duration,
    /// How long the cached matrix is used before it is re-read (default 60 s).
    pub matrix_ttl: Duration,
    /// The tier of requests that name none, for orgs with no tier of their own (default medium).
    pub default_tier: Tier,
    /// Write the default matrix when the table is empty (default true).
    pub seed_defaults: bool,
    /// Most credits one deduction, reservation or commit may move (default 1,000): a cost
    /// computed from a wrong token count must not empty an org's balance in one call.
    pub max_call_credits: f64,
}

/// The per-call cap of a router that names none.
pub const DEFAULT_MAX_CALL_CREDITS: f64 = 1_000.0;

impl Default for RouterOptions {
    fn default() -> Self {
        Self {
            breaker: BreakerConfig::default(),
            staleness: Duration::from_secs(1),
            matrix_ttl: Duration::from_secs(60),
            default_tier: DEFAULT_TIER,
            seed_defaults: true,
            max_call_credits: DEFAULT_MAX_CALL_CREDITS,
        }
    }
}

/// The options object as callers write it: one level, durations in seconds.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FlatRouterOptions {
    #[serde(deserialize_with = "de::secs")]
    staleness: Duration,
    #[serde(deserialize_with = "de::secs")]
    matrix_ttl: Duration,
    #[serde(deserialize_with = "de::parsed")]
    default_tier: Tier,
    seed_defaults: bool,
    #[serde(deserialize_with = "positive_credits")]
    max_call_credits: f64,
    #[serde(deserialize_with = "de::at_least_one")]
    failure_threshold: u32,
    #[serde(deserialize_with = "de::at_least_one")]
    provider_failure_threshold: u32,
    #[serde(deserialize_with = "de::secs")]
    window: Duration,
    #[serde(deserialize_with = "de::secs")]
    cooldown: Duration,
    #[serde(deserialize_with = "de::secs")]
    max_cooldown: Duration,
    #[serde(deserialize_with = "de::secs")]
    probe_timeout: Duration,
}

impl Default for FlatRouterOptions {
    fn default() -> Self {
        let RouterOptions {
            breaker: b,
            staleness,
            matrix_ttl,
            default_tier,
            seed_defaults,
            max_call_credits,
        } = RouterOptions::default();
        Self {
            staleness,
            matrix_ttl,
            default_tier,
            seed_defaults,
            max_call_credits,
            failure_threshold: b.failure_threshold,
            provider_failure_threshold: b.provider_failure_threshold,
            window: b.window,
            cooldown: b.cooldown,
            max_cooldown: b.max_cooldown,
            probe_timeout: b.probe_timeout,
        }
    }
}

impl From<FlatRouterOptions> for RouterOptions {
    fn from(f: FlatRouterOptions) -> Self {
        RouterOptions {
            breaker: BreakerConfig {
                failure_threshold: f.failure_threshold,
                provider_failure_threshold: f.provider_failure_threshold,
                window: f.window,
                cooldown: f.cooldown,
                max_cooldown: f.max_cooldown,
                probe_timeout: f.probe_timeout,
            },
            staleness: f.staleness,
            matrix_ttl: f.matrix_ttl,
            default_tier: f.default_tier,
            seed_defaults: f.seed_defaults,
            max_call_credits: f.max_call_credits,
        }
    }
}

/// A positive credit amount.
fn positive_credits<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    let value = f64::deserialize(d)?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "must be a finite number of credits > 0, got {value}"
        )))
    }
}

/// What a caller asks for. Deserializes from the original `ModelRequest` object
/// (`feature`, `intelligence_tier`, `user_id`, `org_id`, `trace_id`); an empty org id means no
/// org, as callers of the original passed `''`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "RequestRecord")]
pub struct ModelRequest {
    /// The feature.
    pub feature: Option<Feature>,
    /// The tier; when absent, the org's tier for the feature, else the router's default.
    pub tier: Option<Tier>,
    /// The org whose overrides and tier apply.
    pub org_id: Option<Uuid>,
    /// The trace to carry; a new one when absent.
    pub trace_id: Option<Uuid>,
}

/// The request as the caller spelt it, each field parsed where it is read, so an error names
/// that field (`request.feature`), not the request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestRecord {
    #[serde(deserialize_with = "de::parsed")]
    feature: Feature,
    #[serde(default, alias = "tier", deserialize_with = "tier")]
    intelligence_tier: Option<Tier>,
    #[serde(default)]
    #[allow(dead_code)]
    user_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_uuid")]
    org_id: Option<Uuid>,
    #[serde(default, deserialize_with = "de::opt_uuid")]
    trace_id: Option<Uuid>,
}

/// A tier by name; empty text counts as absent, as callers of the original passed `''`.
fn tier<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Tier>, D::Error> {
    let text = String::deserialize(d)?;
    ModelRequest::tier(&text).map_err(|e| serde::de::Error::custom(e.message()))
}

impl From<RequestRecord> for ModelRequest {
    fn from(r: RequestRecord) -> Self {
        Self {
            feature: Some(r.feature),
            tier: r.intelligence_tier,
            org_id: r.org_id,
            trace_id: r.trace_id,
        }
    }
}

impl ModelRequest {
    /// A tier by name, none for empty text.
    fn tier(text: &str) -> Result<Option<Tier>> {
        Some(text)
            .filter(|t| !t.is_empty())
            .map(str::parse)
            .transpose()
    }

    /// A request from binding arguments: `feature` and `tier` by name, ids as strings. An empty
    /// org id means no org (callers of the original passed `''`).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming `feature`, `tier`, `org_id` or `trace_id`.
    pub fn from_parts(
        feature: &str,
        tier: Option<&str>,
        org_id: Option<&str>,
        trace_id: Option<&str>,
    ) -> Result<Self> {
        Ok(Self {
            feature: Some(feature.parse()?),
            tier: tier.map_or(Ok(None), Self::tier)?,
            org_id: parse_uuid("org_id", org_id)?,
            trace_id: parse_uuid("trace_id", trace_id)?,
        })
    }
}
