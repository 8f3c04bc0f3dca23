//! [`Fleet`]: fleet health on a database: the registry, the read-only status, health runs
//! (in [`super::check`]), delivery of the alert outbox, the report and snapshot retention.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::alert::AlertOptions;
use super::check::DeliveryReport;
use super::outbox::{FleetAlert, Settle, claim, recent, settle};
use super::registry::{AgentSpec, FleetAgent, agent_name};
use crate::Keel;
use crate::error::{Error, Result};
use crate::flow::{Limit, SharedLimiter};
use crate::runner::{Backoff, Draws};

/// The environment variables a webhook URL is read from when none is given, in order (the
/// original's).
pub const WEBHOOK_ENV: [&str; 3] = [
    "SLACK_PLATFORM_OPS_WEBHOOK",
    "PLATFORM_ALERTS_SLACK_WEBHOOK",
    "SLACK_WEBHOOK_URL",
];
/// The backoff between delivery attempts of one notice: 1 minute growing to an hour.
const DELIVERY_BACKOFF: Backoff = Backoff::full(60_000, 3_600_000);
/// Notices leased per claim.
const CLAIM_BATCH: u32 = 20;

/// Receives fleet alerts instead of a webhook (a Python or JS callback); an error is a failed
/// attempt, retried.
pub trait AlertSink: Send + Sync {
    /// Delivers `alert`.
    fn deliver(&self, alert: FleetAlert) -> BoxFuture<'static, std::result::Result<(), String>>;
}

/// How a [`Fleet`] alerts; every field has a default.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetOptions {
    /// The Slack incoming webhook alerts are posted to (https, or http on loopback); default
    /// the first of [`WEBHOOK_ENV`] that is set. With none and no sink, notices wait in the
    /// outbox.
    pub webhook_url: Option<String>,
    /// No new notice within this long of the last, unless worse (ms, default 900,000).
    pub cooldown_ms: u64,
    /// A persisting status is told again after this long (ms, default 14,400,000).
    pub renotify_ms: u64,
    /// How long one webhook request, or one call of the sink, may take (ms, default 10,000).
    pub timeout_ms: u64,
    /// How long a health run spends delivering after its snapshots (ms, default 30,000).
    pub deliver_within_ms: u64,
    /// Attempts before a notice is marked failed (default 8).
    pub max_attempts: u32,
    /// The webhook's rate, shared by every instance (default 1 per second, Slack's).
    pub webhook_limit: Limit,
}

impl Default for FleetOptions {
    fn default() -> Self {
        let alert = AlertOptions::default();
        FleetOptions {
            webhook_url: None,
            cooldown_ms: alert.cooldown_ms,
            renotify_ms: alert.renotify_ms,
            timeout_ms: 10_000,
            deliver_within_ms: 30_000,
            max_attempts: 8,
            webhook_limit: Limit {
                limit: 1,
                period_ms: 1_000,
                burst: 1,
            },
        }
    }
}

impl std::fmt::Debug for FleetOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetOptions")
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|_| "[redacted]"),
            )
            .field("cooldown_ms", &self.cooldown_ms)
            .field("renotify_ms", &self.renotify_ms)
            .field("timeout_ms", &self.timeout_ms)
            .field("deliver_within_ms", &self.deliver_within_ms)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl FleetOptions {
    /// Checks every field; fills `webhook_url` from the environment when absent.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `webhook_url` (not https off loopback), `renotify_ms`
    /// (under the cooldown), `timeout_ms` or `deliver_within_ms` (0 or over an hour),
    /// `max_attempts` (0 or over 100) or `webhook_limit.*`.
    pub fn checked(mut self) -> Result<Self> {
        if self.webhook_url.is_none() {
            self.webhook_url = WEBHOOK_ENV
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()));
        }
        if let Some(url) = &self.webhook_url {
            crate::options::https_url("webhook_url", url)?;
        }
        if self.renotify_ms < self.cooldown_ms {
            return Err(Error::invalid_input(
                "renotify_ms",
                "must be at least cooldown_ms",
            ));
        }
        for (field, ms) in [
            ("timeout_ms", self.timeout_ms),
            ("deliver_within_ms", self.deliver_within_ms),
        ] {
            if !(1..=3_600_000).contains(&ms) {
                return Err(Error::invalid_input(field, "must be 1 ms to 1 hour"));
            }
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(Error::invalid_input("max_attempts", "must be 1 to 100"));
        }
        self.webhook_limit.check("webhook_limit")?;
        Ok(self)
    }
}

/// Fleet health on a [`Keel`] handle's database.
#[derive(Clone)]
pub struct Fleet {
    keel: Keel,
    options: Arc<FleetOptions>,
    sink: Option<Arc<dyn AlertSink>>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("options", &self.options)
            .field("sink", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Fleet health on `keel`'s database; alerts go to `sink` when given, else to the
    /// webhook.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on an option ([`FleetOptions::checked`]).
    pub fn open(
        keel: &Keel,
        options: FleetOptions,
        sink: Option<Arc<dyn AlertSink>>,
    ) -> Result<Self> {
        Ok(Fleet {
            keel: keel.clone(),
            options: Arc::new(options.checked()?),
            sink,
        })
    }

    pub(super) fn keel(&self) -> &Keel {
        &self.keel
    }

    pub(super) fn alert_options(&self) -> AlertOptions {
        AlertOptions {
            cooldown_ms: self.options.cooldown_ms,
            renotify_ms: self.options.renotify_ms,
        }
    }

    /// Registers an agent or changes one: the fields `spec` gives replace the stored ones.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on a field ([`AgentSpec::check`]), or naming `cadence_ms`
    /// when a new agent has neither it nor `schedule`; storage errors.
    pub async fn set_agent(&self, spec: &AgentSpec) -> Result<FleetAgent> {
        let cadence = spec.check()?;
        super::agents::set(self.keel.pool()?, spec, cadence).await
    }

    /// Removes an agent from the registry (its runs stay; if it runs again it is reported
    /// as unregistered).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `agent_name` when it is not registered; storage errors.
    pub async fn remove_agent(&self, name: &str) -> Result<FleetAgent> {
        agent_name(name)?;
        super::agents::remove(self.keel.pool()?, name).await
    }

    /// Every registered agent, by name.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn agents(&self) -> Result<Vec<FleetAgent>> {
        super::agents::list(self.keel.pool()?).await
    }

    /// The newest notices, at most `limit` (1 to 1,000), of `agent` or of every agent.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `limit`, or `agent_name` when `agent` is not an agent's
    /// name (1 to 100 characters, no control characters); storage errors.
    pub async fn alerts(&self, agent: Option<&str>, limit: u32) -> Result<Vec<FleetAlert>> {
        if !(1..=1_000).contains(&limit) {
            return Err(Error::invalid_input("limit", "must be 1 to 1000"));
        }
        if let Some(agent) = agent {
            super::registry::agent_name(agent)?;
        }
        recent(self.keel.pool()?, agent, limit).await
    }

    /// Deletes snapshots older than `keep_ms` (default 30 days): how many. Run it on its own
    /// schedule (`keel health prune`, or pg_cron), not with every check.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `keep_ms` when 0; storage errors.
    pub async fn prune(&self, keep_ms: Option<u64>) -> Result<u64> {
        let keep = keep_ms.unwrap_or(super::snapshots::SNAPSHOT_RETENTION_MS);
        if keep == 0 {
            return Err(Error::invalid_input("keep_ms", "must be at least 1"));
        }
        super::snapshots::prune(self.keel.pool()?, keep).await
    }

    /// Delivers the outbox's due notices for at most `deliver_within_ms`, oldest first,
    /// through the webhook's shared rate limit (or to the sink), each at most once per run;
    /// a failed attempt is retried after a backoff by a later run, up to `max_attempts`.
    /// Nothing happens without a webhook or a sink.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn deliver(&self) -> Result<DeliveryReport> {
        let mut report = DeliveryReport::default();
        if self.sink.is_none() && self.options.webhook_url.is_none() {
            return Ok(report);
        }
        let pool = self.keel.pool()?;
        let started = Instant::now();
        let budget = Duration::from_millis(self.options.deliver_within_ms);
        let lease = self.options.timeout_ms + 30_000;
        let mut draws = Draws::fresh();
        // Tried by this run: a retry whose jittered backoff has already run out, or a notice
        // released for the rate limit, waits for the next run instead of looping in this one.
        let mut tried = Vec::new();
        while started.elapsed() < budget {
            let alerts = claim(pool, CLAIM_BATCH, lease, &tried).await?;
            if alerts.is_empty() {
                break;
            }
            tried.extend(alerts.iter().map(|a| a.id));
            for alert in alerts {
                if started.elapsed() >= budget {
                    report.left += 1;
                    settle(pool, &alert, Settle::Release).await?;
                    continue;
                }
                match self.send(&alert, started + budget).await {
                    Attempt::Delivered => {
                        settle(pool, &alert, Settle::Delivered).await?;
                        report.delivered += 1;
                    }
                    Attempt::NotSent => {
                        settle(pool, &alert, Settle::Release).await?;
                        report.left += 1;
                    }
                    Attempt::Failed(error, _) if alert.attempts >= self.options.max_attempts => {
                        settle(pool, &alert, Settle::Failed(&error)).await?;
                        report.failed += 1;
                        report.errors.push(format!("{}: {error}", alert.agent_name));
                    }
                    Attempt::Failed(error, retry_after_ms) => {
                        let retry = alert.attempts.saturating_sub(1);
                        let delay = DELIVERY_BACKOFF.delay(retry, retry_after_ms, &mut draws);
                        settle(pool, &alert, Settle::Retry(&error, delay)).await?;
                        report.retrying += 1;
                        report.errors.push(format!("{}: {error}", alert.agent_name));
                    }
                }
            }
        }
        Ok(report)
    }

    /// One delivery attempt of `alert`: to the sink, or to the webhook once its shared rate
    /// allows, no later than `deadline`; either bounded by `timeout_ms`.
    async fn send(&self, alert: &FleetAlert, deadline: Instant) -> Attempt {
        let timeout = Duration::from_millis(self.options.timeout_ms);
        if let Some(sink) = &self.sink {
            return match tokio::time::timeout(timeout, sink.deliver(alert.clone())).await {
                Ok(Ok(())) => Attempt::Delivered,
                Ok(Err(error)) => Attempt::Failed(format!("the alert callback: {error}"), None),
                Err(_) => Attempt::Failed(
                    format!(
                        "the alert callback did not finish within {} ms",
                        self.options.timeout_ms
                    ),
                    None,
                ),
            };
        }
        let Some(url) = &self.options.webhook_url else {
            return Attempt::NotSent;
        };
        // The key names the webhook by a digest: its URL is a secret.
        let digest = format!("{:x}", Sha256::digest(url.as_bytes()));
        let key = format!("fleet-webhook:{}", &digest[..16]);
        let limiter = SharedLimiter::open(&self.keel);
        loop {
            match limiter.check(&key, &self.options.webhook_limit).await {
                Err(e) => return Attempt::Failed(format!("rate limit: {e}"), None),
                Ok(d) if d.allowed => break,
                Ok(d) => {
                    let wait = Duration::from_millis(d.retry_after_ms.max(1));
                    if Instant::now() + wait > deadline {
                        return Attempt::NotSent;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
        let sent = self
            .keel
            .http()
            .post(url)
            .timeout(timeout)
            .json(&alert.message)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Attempt::Failed(format!("webhook: {}", e.without_url()), None),
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Delivered;
        }
        let retry_after_ms = crate::llm::http::retry_after_ms(response.headers());
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let error = format!("webhook: HTTP {}: {}", status.as_u16(), body.trim());
        Attempt::Failed(error, retry_after_ms)
    }
}

/// How one delivery attempt ended.
enum Attempt {
    /// Delivered (a 2xx, or the sink returned).
    Delivered,
    /// Failed: why, and how long the receiver asked to wait (a 429's `Retry-After`, ms).
    Failed(String, Option<u64>),
    /// Not sent: no destination, or the run's delivery time ran out before the webhook's rate
    /// allowed it.
    NotSent,
}
