//! The Web API client: one call ([`SlackClient::call`]) that waits for the method's tier in
//! the limiter, sends, retries a 429 after its `Retry-After` and (a read) a server fault after
//! a backoff, and reads Slack's `{ok, error}` envelope. The typed methods on top of it are in
//! [`super::methods`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::methods::Method;
use crate::Keel;
use crate::error::{Error, Result};
use crate::fault::FailureKind;
use crate::flow::LocalLimiter;
use crate::runner::{Backoff, Draws};

/// Where Slack's Web API lives.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";
/// The backoff between retries of a server fault or a broken connection; a `Retry-After` is
/// its floor.
const RETRY_BACKOFF: Backoff = Backoff::full(500, 8_000);

/// How a [`SlackClient`] reaches Slack; every field but `token` has a default.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackOptions {
    /// The bot token (`xoxb-…`), sent as a bearer token and never shown.
    pub token: String,
    /// The API's base URL (default [`DEFAULT_BASE_URL`]); https, or http on loopback.
    pub base_url: String,
    /// The workspace the limits are kept for (its team id; default `default`).
    pub workspace: String,
    /// Retries of a 429, a 5xx or a broken connection before the call fails (default 5).
    pub max_retries: u32,
    /// The longest a call waits for one `Retry-After` or one turn in the limiter, in
    /// milliseconds (default 60,000); a longer wait fails the call as `rate_limited`.
    pub max_wait_ms: u64,
    /// How long one request may take, in milliseconds (default 30,000).
    pub timeout_ms: u64,
}

impl Default for SlackOptions {
    fn default() -> Self {
        SlackOptions {
            token: String::new(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            workspace: "default".to_owned(),
            max_retries: 5,
            max_wait_ms: 60_000,
            timeout_ms: 30_000,
        }
    }
}

impl std::fmt::Debug for SlackOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackOptions")
            .field("token", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("workspace", &self.workspace)
            .field("max_retries", &self.max_retries)
            .field("max_wait_ms", &self.max_wait_ms)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl SlackOptions {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `token` (empty, or not a printable header value),
    /// `base_url` (not http(s), or http off loopback), `workspace` (empty or over 80
    /// characters), `max_retries` (over 20), `max_wait_ms` or `timeout_ms` (0 or over an
    /// hour).
    pub fn check(&self) -> Result<()> {
        if self.token.is_empty() || !self.token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid_input(
                "token",
                "must be a Slack token (printable, no spaces)",
            ));
        }
        crate::options::https_url("base_url", &self.base_url)?;
        let workspace = self.workspace.chars().count();
        if self.workspace.trim().is_empty() || workspace > super::methods::MAX_ID_CHARS {
            return Err(Error::invalid_input(
                "workspace",
                "must be 1 to 80 characters (the team id)",
            ));
        }
        if self.max_retries > 20 {
            return Err(Error::invalid_input("max_retries", "must be 0 to 20"));
        }
        for (field, ms) in [
            ("max_wait_ms", self.max_wait_ms),
            ("timeout_ms", self.timeout_ms),
        ] {
            if !(1..=3_600_000).contains(&ms) {
                return Err(Error::invalid_input(field, "must be 1 ms to 1 hour"));
            }
        }
        Ok(())
    }
}

/// A Slack Web API client for one bot token.
#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    options: Arc<SlackOptions>,
    limiter: Arc<LocalLimiter>,
}

impl std::fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackClient")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How one attempt ended.
enum Attempt {
    Done(Value),
    /// Worth another try after at least this long (a `Retry-After`, if any).
    Retry(Error, Option<u64>),
    /// Not worth another try: the request is at fault.
    Failed(Error),
}

impl SlackClient {
    /// A client over `keel`'s pooled HTTP client, its limits kept in the process's Slack
    /// limiter (so every client of a workspace shares its tiers).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on an option ([`SlackOptions::check`]).
    pub fn open(keel: &Keel, options: SlackOptions) -> Result<Self> {
        static SHARED: OnceLock<Arc<LocalLimiter>> = OnceLock::new();
        let limiter = SHARED.get_or_init(|| Arc::new(LocalLimiter::default()));
        Self::with_limiter(keel, options, limiter.clone())
    }

    /// A client whose limits are kept in `limiter`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on an option ([`SlackOptions::check`]).
    pub fn with_limiter(
        keel: &Keel,
        options: SlackOptions,
        limiter: Arc<LocalLimiter>,
    ) -> Result<Self> {
        options.check()?;
        Ok(SlackClient {
            http: keel.http().clone(),
            options: Arc::new(options),
            limiter,
        })
    }

    /// Calls `method` with `args` (its channel, if any, keys a per-channel limit): waits for
    /// the method's tier, retries a 429 after its `Retry-After` and a refused connection after
    /// a backoff, up to `max_retries`; a read is also retried on a 5xx, a timeout or a broken
    /// connection, a write is not (it may have posted). Returns Slack's reply when `ok`.
    ///
    /// # Errors
    /// [`Error::Service`]: `rate_limited` when the retries or `max_wait_ms` ran out on 429s,
    /// `timeout`, or `provider` with Slack's `error` (`channel_not_found`, `invalid_auth`, …).
    pub async fn call(&self, method: &Method, args: Map<String, Value>) -> Result<Value> {
        let channel = args.get("channel").and_then(Value::as_str);
        let key = method.key(&self.options.workspace, channel);
        let mut draws = Draws::fresh();
        let mut retry = 0;
        loop {
            self.turn(method, &key).await?;
            match self.attempt(method, &args).await {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Failed(err) => return Err(err),
                Attempt::Retry(err, retry_after_ms) => {
                    if retry >= self.options.max_retries {
                        return Err(err);
                    }
                    let wait = RETRY_BACKOFF.delay(retry, retry_after_ms, &mut draws);
                    if wait > self.options.max_wait_ms {
                        return Err(err);
                    }
                    tracing::debug!(
                        target: "keel::slack",
                        method = method.name,
                        retry,
                        wait_ms = wait,
                        error = %err,
                        "slack call retried"
                    );
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    retry += 1;
                }
            }
        }
    }

    /// Waits for `key`'s turn under `method`'s tier.
    async fn turn(&self, method: &Method, key: &str) -> Result<()> {
        let mut waited = 0;
        loop {
            let decision = self.limiter.check(key, &method.limit)?;
            if decision.allowed {
                return Ok(());
            }
            waited += decision.retry_after_ms;
            if waited > self.options.max_wait_ms {
                return Err(service(
                    method,
                    "ratelimited (by Keel's limiter)",
                    FailureKind::RateLimited,
                    Some(decision.retry_after_ms),
                ));
            }
            tokio::time::sleep(Duration::from_millis(decision.retry_after_ms.max(1))).await;
        }
    }

    /// One request and how it ended.
    async fn attempt(&self, method: &Method, args: &Map<String, Value>) -> Attempt {
        let url = format!(
            "{}/{}",
            self.options.base_url.trim_end_matches('/'),
            method.name
        );
        let request = self
            .http
            .post(url)
            .bearer_auth(&self.options.token)
            .timeout(Duration::from_millis(self.options.timeout_ms));
        let request = if method.json {
            request.json(args)
        } else {
            let form: Vec<(&str, String)> = args
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect();
            request.form(&form)
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let kind = if e.is_timeout() {
                    FailureKind::Timeout
                } else {
                    FailureKind::Connection
                };
                // `without_url`: the URL holds no token, but the error needs no URL either.
                let refused = e.is_connect();
                let err = service(method, &e.without_url().to_string(), kind, None);
                // A write that may have reached Slack is not sent twice: only one refused at
                // connect is certain not to have posted.
                return if method.json && !refused {
                    Attempt::Failed(err)
                } else {
                    Attempt::Retry(err, None)
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after_ms = crate::llm::http::retry_after_ms(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        if status == 429 {
            let err = service(
                method,
                "ratelimited",
                FailureKind::RateLimited,
                retry_after_ms,
            );
            return Attempt::Retry(err, retry_after_ms.or(Some(1_000)));
        }
        if status >= 500 {
            let err = service(
                method,
                &format!("HTTP {status}"),
                FailureKind::ServerError,
                None,
            );
            return if method.json {
                Attempt::Failed(err) // it may have posted: not sent twice
            } else {
                Attempt::Retry(err, retry_after_ms)
            };
        }
        let reply = match serde_json::from_slice::<Value>(&body) {
            Ok(reply @ Value::Object(_)) => reply,
            _ if status >= 400 => {
                let err = service(
                    method,
                    &format!("HTTP {status}"),
                    FailureKind::ClientError,
                    None,
                );
                return Attempt::Failed(err);
            }
            _ => {
                let err = "a reply that is not Slack's JSON";
                return Attempt::Retry(service(method, err, FailureKind::ServerError, None), None);
            }
        };
        if reply.get("ok").and_then(Value::as_bool) == Some(true) {
            return Attempt::Done(reply);
        }
        let error = reply
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error")
            .to_owned();
        match error.as_str() {
            "ratelimited" | "rate_limited" => Attempt::Retry(
                service(method, &error, FailureKind::RateLimited, retry_after_ms),
                retry_after_ms.or(Some(1_000)),
            ),
            "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                let err = service(method, &error, FailureKind::ServerError, None);
                if method.json {
                    Attempt::Failed(err) // it may have posted: not sent twice
                } else {
                    Attempt::Retry(err, None)
                }
            }
            _ => Attempt::Failed(service(method, &error, FailureKind::ClientError, None)),
        }
    }
}

/// A failed call of `method`.
pub(super) fn service(
    method: &Method,
    error: &str,
    kind: FailureKind,
    retry_after_ms: Option<u64>,
) -> Error {
    Error::Service {
        service: "slack",
        method: method.name.to_owned(),
        error: error.to_owned(),
        kind,
        retry_after_ms,
    }
}
