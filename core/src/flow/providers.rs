//! The providers' rate limits: the original's per-minute values (hubspot 8, calendar 10,
//! slack 5) as defaults, overridable per provider and per org, keyed `provider:org` so each
//! org's own connection keeps its own quota. A provider without a limit is always allowed.

use serde::{Deserialize, Serialize};

use super::limit::Limit;
use crate::error::Result;

/// The original's limits per minute, by provider.
pub const DEFAULT_PROVIDER_LIMITS: [(&str, u32); 3] =
    [("hubspot", 8), ("calendar", 10), ("slack", 5)];

/// One provider's limit, for every org or for one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderLimit {
    /// The provider (`hubspot`).
    pub provider: String,
    /// Only for this org (it wins over the provider-wide limit).
    #[serde(default)]
    pub org_id: Option<String>,
    /// Admissions per period.
    pub limit: u32,
    /// The period in milliseconds (default one minute).
    #[serde(default = "minute")]
    pub period_ms: u64,
    /// How many at once (default 1).
    #[serde(default = "one")]
    pub burst: u32,
}

fn minute() -> u64 {
    60_000
}

fn one() -> u32 {
    1
}

/// Limits per provider and per org, over the defaults of [`DEFAULT_PROVIDER_LIMITS`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProviderLimits(pub Vec<ProviderLimit>);

impl ProviderLimits {
    /// The limit of `provider` for `org`: the org's own, else the provider-wide one, else the
    /// default; the field naming it in errors.
    fn limit(&self, org: &str, provider: &str) -> Option<(Limit, String)> {
        let find = |org_id: Option<&str>| {
            self.0
                .iter()
                .enumerate()
                .find(|(_, l)| l.provider == provider && l.org_id.as_deref() == org_id)
        };
        if let Some((i, l)) = find(Some(org)).or_else(|| find(None)) {
            let limit = Limit {
                limit: l.limit,
                period_ms: l.period_ms,
                burst: l.burst,
            };
            return Some((limit, format!("limits[{i}]")));
        }
        DEFAULT_PROVIDER_LIMITS
            .iter()
            .find(|(name, _)| *name == provider)
            .map(|(_, n)| (Limit::per_minute(*n), String::from("limits")))
    }

    /// The keys and limits an item of `org` calling `providers` acquires: `provider:org` for
    /// each provider that has a limit (providers without one are left out).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on a limit out of range (`limits[2].limit`).
    pub fn keys(&self, org: &str, providers: &[String]) -> Result<Vec<(String, Limit)>> {
        let mut out = Vec::new();
        for provider in providers {
            if let Some((limit, field)) = self.limit(org, provider) {
                limit.check(&field)?;
                out.push((format!("{provider}:{org}"), limit));
            }
        }
        Ok(out)
    }
}
