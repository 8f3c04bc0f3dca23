//! `SkillRegistry.messageRouter` and `MessageRouter` (core: `keel::routing`). Decisions, log
//! rows and evaluations are JSON text (camelCase: Node's `RouteDecisionFields`, …).

use keel::options::Case;
use keel::routing::{self, LogQuery, RouteRequest};

use crate::error::KeelError;
use crate::json::{options, record, value};
use crate::runtime::run;

/// Routes messages to an org's skills; make it with `registry.messageRouter()`.
#[derive(uniffi::Object)]
pub struct MessageRouter {
    pub(crate) inner: routing::MessageRouter,
}

#[uniffi::export]
impl MessageRouter {
    /// Routes `message` on `channel` (web, slack, fleet, command_centre) for `orgId`: the
    /// decision as JSON (`route`, `skillKey`, `confidence`, `matchedBy`, candidates, stage,
    /// evidence, …). `optionsJson`: Node's `RouteOptions`.
    ///
    /// # Errors
    /// `invalid_input` naming the argument at fault; storage errors reading the skills.
    #[uniffi::method(default(user_id = None, options_json = None))]
    pub async fn route(
        &self,
        message: String,
        channel: String,
        org_id: String,
        user_id: Option<String>,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let request = request(message, &channel, &org_id, user_id, options_json)?;
        if let Some(Ok(routed)) = self.inner.try_route(&request) {
            return Ok(record(&routed));
        }
        let router = self.inner.clone();
        run(async move { Ok(record(&router.route(&request).await?)) }).await
    }

    /// `route` without waiting: the decision when nothing needs waiting for (the org's
    /// skills are cached and no model stage runs), else null.
    ///
    /// # Errors
    /// As `route`.
    #[uniffi::method(default(user_id = None, options_json = None))]
    pub fn try_route(
        &self,
        message: String,
        channel: String,
        org_id: String,
        user_id: Option<String>,
        options_json: Option<String>,
    ) -> Result<Option<String>, KeelError> {
        let request = request(message, &channel, &org_id, user_id, options_json)?;
        match self.inner.try_route(&request) {
            Some(routed) => Ok(Some(record(&routed?))),
            None => Ok(None),
        }
    }

    /// Evaluates a labelled `.jsonl` text for `orgId`: accuracy, per-label precision and
    /// recall, confusion pairs, out-of-scope false accepts, stages, latency; as JSON.
    ///
    /// # Errors
    /// `invalid_input` for a line that is not a labelled message.
    #[uniffi::method(default(allow_llm = false))]
    pub async fn evaluate(
        &self,
        labelled: String,
        org_id: String,
        allow_llm: bool,
    ) -> Result<String, KeelError> {
        let router = self.inner.clone();
        run(async move {
            let report = routing::evaluate_jsonl(&router, &org_id, &labelled, allow_llm).await?;
            Ok(record(&report))
        })
        .await
    }

    /// The routing log of `orgId`, newest first (`queryJson`: `since` seconds back, default
    /// 3,600; at most `limit` rows, default 100); as JSON.
    ///
    /// # Errors
    /// `invalid_input` naming the argument; storage errors.
    #[uniffi::method(default(query_json = None))]
    pub async fn log(
        &self,
        org_id: String,
        query_json: Option<String>,
    ) -> Result<String, KeelError> {
        let router = self.inner.clone();
        run(async move {
            let query: LogQuery = options(query_json.as_deref(), "query")?;
            Ok(record(&router.recent_log(&org_id, &query).await?))
        })
        .await
    }

    /// Returns when every decision made so far is in `routing_logs`.
    pub async fn flush(&self) {
        let router = self.inner.clone();
        let _ = run(async move {
            router.flush().await;
            Ok(())
        })
        .await;
    }

    /// Counters since the router opened, as JSON.
    pub fn stats(&self) -> String {
        record(&self.inner.stats())
    }

    /// Drops every cached decision and index.
    pub fn invalidate(&self) {
        self.inner.invalidate();
    }
}

/// The core request of `route`'s and `tryRoute`'s arguments.
fn request(
    message: String,
    channel: &str,
    org_id: &str,
    user_id: Option<String>,
    options_json: Option<String>,
) -> keel::Result<RouteRequest> {
    let options = value(options_json.as_deref(), "options")?;
    RouteRequest::from_parts(
        message,
        channel,
        org_id,
        user_id,
        options,
        Case::Camel,
        "options",
    )
}
