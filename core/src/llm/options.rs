//! The LLM client's options, with their defaults written once, and each provider's endpoint:
//! base URL, key (from the options or the usual environment variable) and extra headers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::transport::{Transport, Transports};
use super::wire::Wire;
use crate::error::{Error, Result};
use crate::models::canonical_provider;
use crate::options::de;

/// How one provider is reached.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// The key; the provider's environment variable when absent.
    pub api_key: Option<String>,
    /// Where the API is (a local server, a gateway, an Azure-style deployment); the
    /// provider's public endpoint when absent. For OpenAI-compatible servers it ends before
    /// `/chat/completions`, e.g. `http://localhost:11434/v1`.
    pub base_url: Option<String>,
    /// Headers added to every request (an `api-version`, a gateway's routing header).
    pub headers: BTreeMap<String, String>,
    /// Send the key in this header as is (`api-key` for Azure) instead of the provider's usual
    /// header.
    pub key_header: Option<String>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("key_header", &self.key_header)
            .finish()
    }
}

/// LLM client tuning.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmOptions {
    /// Providers by name (`anthropic`, `google`, `openai`, `openrouter`).
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Limit for one attempt (default 60 s).
    #[serde(deserialize_with = "de::secs")]
    pub attempt_timeout: Duration,
    /// Limit for a whole call, fallbacks included (default 120 s).
    #[serde(deserialize_with = "de::secs")]
    pub deadline: Duration,
    /// Most models one call tries (default 3).
    #[serde(deserialize_with = "de::at_least_one")]
    pub max_attempts: u32,
    /// Reserve and charge credits for calls that name an org (default true).
    pub credits: bool,
    /// Fall back to the next model when one refuses (default false: another model is asked
    /// the same thing).
    pub fallback_on_refusal: bool,
    /// Providers whose attempts go through the caller's own client instead of Keel's HTTP
    /// client (set in code, never read from an options object).
    #[serde(skip)]
    pub transports: Transports,
}

impl Default for LlmOptions {
    fn default() -> Self {
        Self {
            providers: BTreeMap::new(),
            attempt_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(120),
            max_attempts: 3,
            credits: true,
            fallback_on_refusal: false,
            transports: Transports::default(),
        }
    }
}

/// A provider's endpoint, ready to call.
#[derive(Clone)]
pub struct Endpoint {
    /// The canonical provider name.
    pub provider: &'static str,
    /// Its wire format.
    pub wire: Wire,
    /// The base URL, without a trailing slash.
    pub base_url: String,
    /// The key, if any (local servers need none).
    pub(crate) api_key: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The header the key goes in, when not the provider's usual one.
    pub key_header: Option<String>,
    /// The caller's client, when attempts go through it instead of HTTP.
    pub(crate) transport: Option<std::sync::Arc<dyn Transport>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("has_key", &self.api_key.is_some())
            .field("has_transport", &self.transport.is_some())
            .finish()
    }
}

/// A provider's public endpoint and the environment variables its key is read from.
fn defaults(provider: &str) -> (&'static str, &'static [&'static str]) {
    match provider {
        "anthropic" => ("https://api.anthropic.com", &["ANTHROPIC_API_KEY"]),
        "google" => (
            "https://generativelanguage.googleapis.com",
            &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        ),
        "openrouter" => ("https://openrouter.ai/api/v1", &["OPENROUTER_API_KEY"]),
        _ => ("https://api.openai.com/v1", &["OPENAI_API_KEY"]),
    }
}

impl LlmOptions {
    /// The endpoint of `provider` (canonical): its configuration, else its public endpoint
    /// with the key from the environment; with a transport, the caller's client needs no key.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `providers.<name>.api_key` when the public endpoint is
    /// used over HTTP and no key is configured or set in the environment.
    pub fn endpoint(&self, provider: &'static str) -> Result<Endpoint> {
        let config = self.providers.get(provider).cloned().unwrap_or_default();
        let (public, vars) = defaults(provider);
        let api_key = config
            .api_key
            .filter(|k| !k.is_empty())
            .or_else(|| vars.iter().find_map(|v| std::env::var(v).ok()))
            .filter(|k| !k.is_empty());
        let transport = self.transports.get(provider).cloned();
        if api_key.is_none() && config.base_url.is_none() && transport.is_none() {
            return Err(Error::invalid_input(
                format!("providers.{provider}.api_key"),
                format!("no key: set it in the options or in {}", vars.join(" or ")),
            ));
        }
        let base_url = config.base_url.as_deref().unwrap_or(public);
        Ok(Endpoint {
            provider,
            wire: Wire::of(provider).unwrap_or(Wire::OpenAi),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            headers: config.headers.into_iter().collect(),
            key_header: config.key_header,
            transport,
        })
    }

    /// Checks the provider names (of `providers` and `transports`) and base URLs.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `providers`, `transports` or
    /// `providers.<name>.base_url`.
    pub fn validated(self) -> Result<Self> {
        for name in self.transports.providers() {
            let canonical = canonical_provider(name)
                .map_err(|e| Error::invalid_input("transports", e.message()))?;
            if canonical != name {
                return Err(Error::invalid_input(
                    "transports",
                    format!("write `{canonical}`, not `{name}`"),
                ));
            }
        }
        for (name, config) in &self.providers {
            let canonical = canonical_provider(name)
                .map_err(|e| Error::invalid_input("providers", e.message()))?;
            if canonical != name {
                return Err(Error::invalid_input(
                    "providers",
                    format!("write `{canonical}`, not `{name}`"),
                ));
            }
            if let Some(url) = &config.base_url {
                let parsed = url::Url::parse(url).map_err(|e| {
                    Error::invalid_input(format!("providers.{name}.base_url"), e.to_string())
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(Error::invalid_input(
                        format!("providers.{name}.base_url"),
                        "must be an http or https URL",
                    ));
                }
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_show_in_debug_output() {
        let mut options = LlmOptions::default();
        options.providers.insert(
            "anthropic".into(),
            ProviderConfig {
                api_key: Some("sk-secret".into()),
                ..Default::default()
            },
        );
        let endpoint = options.endpoint("anthropic").unwrap();
        assert!(!format!("{options:?}{endpoint:?}").contains("sk-secret"));
        assert_eq!(endpoint.base_url, "https://api.anthropic.com");
    }

    #[test]
    fn bad_provider_names_and_urls_are_refused() {
        let options: Result<LlmOptions> = crate::options::from_value(
            Some(serde_json::json!({"providers": {"gemini": {}}})),
            crate::options::Case::Snake,
            "",
        );
        assert_eq!(
            options.unwrap().validated().unwrap_err().field(),
            Some("providers")
        );
        let options: LlmOptions = crate::options::from_value(
            Some(serde_json::json!({"providers": {"openai": {"base_url": "ftp://x"}}})),
            crate::options::Case::Snake,
            "",
        )
        .unwrap();
        assert_eq!(
            options.validated().unwrap_err().field(),
            Some("providers.openai.base_url")
        );
    }
}
