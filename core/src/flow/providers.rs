//! The providers' rate limits: the original's per-minute values (hubspot 8, calendar 10,
//! slack 5) as defaults, overridable per provider and per org, keyed `provider:org` so each
//! org's own connection keeps its own quota. A provider without a limit is always allowed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::limit::Limit;
use crate::error::Result;

/// Limits per provider, and per org where an org's plan differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderLimits {
    /// By provider name.
    pub providers: BTreeMap<String, Limit>,
    /// By org id, then provider: these win over `providers`.
    pub orgs: BTreeMap<String, BTreeMap<String, Limit>>,
}

impl Default for ProviderLimits {
    fn default() -> Self {
        let providers = [("hubspot", 8), ("calendar", 10), ("slack", 5)]
            .into_iter()
            .map(|(name, per_minute)| (name.to_owned(), Limit::per_minute(per_minute)))
            .collect();
        ProviderLimits {
            providers,
            orgs: BTreeMap::new(),
        }
    }
}

impl ProviderLimits {
    /// The keys and limits an item of `org` calling `providers` acquires: `provider:org` for
    /// each provider that has a limit (providers without one are left out).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on a limit out of range (`limits.providers.hubspot`).
    pub fn keys(&self, org: &str, providers: &[String]) -> Result<Vec<(String, Limit)>> {
        let mut out = Vec::new();
        for provider in providers {
            let own = self.orgs.get(org).and_then(|o| o.get(provider));
            let Some(limit) = own.or_else(|| self.providers.get(provider)) else {
                continue;
            };
            let field = match own {
                Some(_) => format!("limits.orgs.{org}.{provider}"),
                None => format!("limits.providers.{provider}"),
            };
            limit.check(&field)?;
            out.push((format!("{provider}:{org}"), *limit));
        }
        Ok(out)
    }
}
