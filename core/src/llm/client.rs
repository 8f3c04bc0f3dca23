//! The LLM client handle: the router, the options, the endpoints and the shared HTTP client.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::Message;
use super::options::{Endpoint, LlmOptions};
use crate::error::Result;
use crate::models::{ModelRouter, PROVIDERS};
use crate::telemetry::{Logger, LoggerOptions, TraceParent, new_trace_id};
use crate::tokens::{TokenCount, TokenCounter};

/// Makes model calls. Cheap to clone; clones share the connection pool and the router.
#[derive(Clone)]
pub struct Llm {
    pub(super) inner: Arc<LlmInner>,
}

pub(super) struct LlmInner {
    pub(super) router: ModelRouter,
    pub(super) options: LlmOptions,
    pub(super) http: reqwest::Client,
    /// The endpoints of the providers that can be called: configured, or with a key in the
    /// environment. A provider missing here fails with the reason [`LlmOptions::endpoint`] gave.
    endpoints: HashMap<&'static str, Result<Endpoint, crate::Error>>,
    /// Token counts, calibrated by the usage this client's calls report.
    pub(super) tokens: TokenCounter,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ready: Vec<_> = self
            .inner
            .endpoints
            .iter()
            .filter(|(_, e)| e.is_ok())
            .map(|(p, _)| *p)
            .collect();
        f.debug_struct("Llm").field("providers", &ready).finish()
    }
}

impl Llm {
    /// A client calling through `router`, sharing the router's [`crate::Keel`] handle (its
    /// database for credits and spans, its HTTP connection pool).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] for an unknown provider name or a bad base URL.
    pub fn new(router: &ModelRouter, options: LlmOptions) -> Result<Self> {
        let options = options.validated()?;
        let endpoints = PROVIDERS
            .iter()
            .map(|p| (*p, options.endpoint(p)))
            .collect();
        Ok(Self {
            inner: Arc::new(LlmInner {
                http: router.keel().http().clone(),
                router: router.clone(),
                options,
                endpoints,
                tokens: TokenCounter::default(),
            }),
        })
    }

    /// The router this client resolves through.
    pub fn router(&self) -> &ModelRouter {
        &self.inner.router
    }

    /// The token counter this client calibrates: estimates for Claude, Gemini and other
    /// models move towards the input tokens their providers report for calls without tools.
    pub fn tokens(&self) -> &TokenCounter {
        &self.inner.tokens
    }

    /// The input tokens of `messages` sent to `model`, corrected by what this client's calls
    /// have reported ([`TokenCounter::count_messages`]).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] on field `model` for an empty id.
    pub fn count_tokens(&self, model: &str, messages: &[Message]) -> Result<TokenCount> {
        self.inner.tokens.count_messages(model, messages)
    }

    /// The options in force.
    pub fn options(&self) -> &LlmOptions {
        &self.inner.options
    }

    /// The endpoint of a canonical provider name.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] naming `providers.<name>.api_key` when the provider has
    /// no key and no base URL.
    pub fn endpoint(&self, provider: &str) -> Result<&Endpoint> {
        match self.inner.endpoints.get(provider) {
            Some(Ok(endpoint)) => Ok(endpoint),
            Some(Err(err)) => Err(crate::Error::invalid_input(
                err.field().unwrap_or("provider"),
                err.message(),
            )),
            None => Err(crate::Error::invalid_input(
                "provider",
                format!("`{provider}` is not one of {}", PROVIDERS.join(", ")),
            )),
        }
    }

    /// The trace of a call (the `traceparent`'s, else `trace_id`, else a new one) and the
    /// logger its spans go to.
    pub(super) fn call_logger(
        &self,
        traceparent: Option<&String>,
        trace_id: Option<Uuid>,
        org_id: Option<Uuid>,
        user_id: Option<Uuid>,
    ) -> (Uuid, Logger) {
        let trace_id = traceparent
            .and_then(|t| TraceParent::parse(t))
            .map(|t| t.trace_id)
            .or(trace_id)
            .unwrap_or_else(new_trace_id);
        let logger = self.inner.router.keel().logger(
            "llm",
            LoggerOptions {
                trace_id: Some(trace_id.to_string()),
                traceparent: traceparent.cloned(),
                org_id: org_id.map(|id| id.to_string()),
                user_id: user_id.map(|id| id.to_string()),
                ..LoggerOptions::default()
            },
        );
        (trace_id, logger)
    }
}
