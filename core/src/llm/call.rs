//! One call, start to end: resolve, reserve credits, attempt, fall back on the provider's
//! faults, report to the breaker, settle the credits, and write the call's span with one child
//! span per attempt.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::time::Instant;
use uuid::Uuid;

use super::attributes;
use super::client::Llm;
use super::estimate::prompt_tokens;
use super::hold::Hold;
use super::http;
use super::message::{Part, Role, join_text};
use super::options::Endpoint;
use super::request::CallRequest;
use super::stream::StreamEvent;
use super::wire::{Fault, FinishReason, Prompt, Reply, TokenUsage, Wire};
use crate::error::{Error, Result};
use crate::fault::{Attempt, FailureKind};
use crate::models::{DEFAULT_MAX_TOKENS, DEFAULT_TIER, ModelRequest, Resolution, Usage};
use crate::telemetry::{Logger, Span};
use crate::tokens::TokenModel;

/// A model's answer, with everything the call did to get it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Completion {
    /// Text and tool-call parts, in order.
    pub content: Vec<Part>,
    /// The text parts, joined.
    pub text: String,
    /// Why the reply ended.
    pub finish_reason: FinishReason,
    /// The provider that answered.
    pub provider: String,
    /// The model asked for.
    pub model: String,
    /// The model the provider says answered (a dated id, a deployment's model).
    pub response_model: Option<String>,
    /// Tokens used, as the provider reported them.
    pub usage: TokenUsage,
    /// Credits charged (0 without an org, with credits off, or for a repeated idempotency key).
    pub credits_charged: f64,
    /// Every attempt, the successful one last.
    pub attempts: Vec<Attempt>,
    /// The call's trace.
    pub trace_id: Uuid,
    /// True when a model other than the tier's primary answered.
    pub was_fallback: bool,
}

/// A breaker report on its way.
pub(super) type Report = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Where a streaming call's events go.
pub(super) type Sink = tokio::sync::mpsc::Sender<Result<StreamEvent>>;

/// One call while it runs: the client and the request it borrows, and what it has done.
pub(super) struct Call<'a> {
    pub(super) llm: &'a Llm,
    pub(super) request: &'a CallRequest,
    pub(super) state: CallState,
    /// Set for a streaming call: content goes there as it arrives.
    pub(super) sink: Option<Sink>,
    /// True once content reached the caller: from then on the call cannot fall back.
    pub(super) delivered: bool,
}

/// What a call has done so far, apart from what it borrows (a [`super::DrivenCall`] keeps it
/// between the steps its caller drives).
pub(super) struct CallState {
    pub(super) routed: ModelRequest,
    pub(super) deadline: Instant,
    logger: Logger,
    attempts: Vec<Attempt>,
    tried: Vec<(Arc<str>, Arc<str>)>,
}

impl CallState {
    /// The limit of one attempt of `request` through `llm`, within the call's deadline.
    pub(super) fn attempt_limit(&self, llm: &Llm, request: &CallRequest) -> std::time::Duration {
        let limit = request
            .attempt_timeout
            .unwrap_or(llm.inner.options.attempt_timeout);
        http::budget(limit, self.deadline)
    }
}

impl Llm {
    /// Makes a call: resolves the model (or uses the request's explicit one), reserves credits
    /// from an estimate when the request names an org, calls the provider, falls back to the
    /// next candidate of the tier on the provider's faults (never on caller errors or
    /// refusals, unless [`super::LlmOptions::fallback_on_refusal`]), reports every outcome to
    /// the breaker and charges the usage the provider reports. Dropping the future stops the
    /// HTTP request and releases the reservation.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] before any request (a provider without a key, a conversation
    /// the provider refuses); [`Error::NoModelAvailable`]; [`Error::BudgetExceeded`];
    /// [`Error::Call`] with every attempt when no candidate answered.
    pub async fn complete(&self, request: &CallRequest) -> Result<Completion> {
        // A request built in Rust has not been through `CallRequest::from_value`.
        let folded;
        let request = if request.messages.iter().any(|m| m.role == Role::System) {
            folded = request.clone().validated()?;
            &folded
        } else {
            request.check()?;
            request
        };
        let mut call = Call::new(self, request);
        let (first, span, hold) = call.start().await?;
        call.run(first, &span, hold).await
    }
}

impl<'a> Call<'a> {
    pub(super) fn new(llm: &'a Llm, request: &'a CallRequest) -> Self {
        let (trace_id, logger) = llm.call_logger(
            request.traceparent.as_ref(),
            request.trace_id,
            request.org_id,
            request.user_id,
        );
        let mut routed = request.model_request();
        routed.trace_id = Some(trace_id);
        let deadline = request.deadline.unwrap_or(llm.inner.options.deadline);
        let state = CallState {
            routed,
            deadline: Instant::now() + deadline,
            logger,
            attempts: Vec::new(),
            tried: Vec::new(),
        };
        Call::resume(llm, request, state)
    }

    /// A call over `request` that has done what `state` says.
    pub(super) fn resume(llm: &'a Llm, request: &'a CallRequest, state: CallState) -> Self {
        Call {
            llm,
            request,
            state,
            sink: None,
            delivered: false,
        }
    }

    /// Everything before the first request: the first candidate, the call's span, the
    /// reservation.
    pub(super) async fn start(&mut self) -> Result<(Resolution, Span, Option<Hold>)> {
        let first = self.first_candidate().await?;
        let span = self.open_span(&first);
        match self.reserve(&first).await {
            Ok(hold) => Ok((first, span, hold)),
            Err(err) => {
                span.fail(&err.to_string(), Map::new());
                Err(err)
            }
        }
    }

    async fn first_candidate(&mut self) -> Result<Resolution> {
        let resolution = match self.explicit_candidate() {
            Some(explicit) => explicit,
            None => self.llm.inner.router.resolve(&self.state.routed).await?,
        };
        self.callable(&resolution)?;
        Ok(resolution)
    }

    /// The request's own provider and model, when it names both.
    pub(super) fn explicit_candidate(&self) -> Option<Resolution> {
        let (Some(provider), Some(model)) = (self.request.provider, &self.request.model) else {
            return None;
        };
        let router = &self.llm.inner.router;
        let entry = router.with_matrix(|m| m.find(provider, model).cloned());
        Some(Resolution {
            provider: provider.into(),
            model_id: model.as_str().into(),
            credit_cost: entry.as_ref().map_or(0.0, |e| e.pricing.per_request),
            max_tokens: entry.as_ref().map_or(DEFAULT_MAX_TOKENS, |e| e.max_tokens),
            context_window: entry.as_ref().map_or(0, |e| e.context_window),
            was_fallback: false,
            tier: self.request.tier.unwrap_or(DEFAULT_TIER),
            trace_id: self.state.routed.trace_id.unwrap_or_default(),
        })
    }

    /// The call's span, opened at its first candidate.
    pub(super) fn open_span(&self, first: &Resolution) -> Span {
        let capture = self.llm.inner.router.keel().captures_content();
        let start = attributes::call_start(self.request, first, self.max_tokens(first), capture);
        self.state.logger.span("gen_ai.chat", start, None)
    }

    /// The endpoint of a candidate, if this request can be sent to it.
    pub(super) fn callable(&self, candidate: &Resolution) -> Result<&'a Endpoint> {
        if Wire::of(&candidate.provider) == Some(Wire::Gemini) && self.request.ends_with_assistant()
        {
            return Err(Error::invalid_input(
                "messages",
                "Gemini needs the conversation to end with a user or tool turn",
            ));
        }
        self.llm.endpoint(&candidate.provider)
    }

    fn max_tokens(&self, candidate: &Resolution) -> u32 {
        match self.request.max_tokens {
            Some(asked) if candidate.max_tokens > 0 => asked.min(candidate.max_tokens),
            Some(asked) => asked,
            None => candidate.max_tokens.max(1),
        }
    }

    async fn reserve(&self, first: &Resolution) -> Result<Option<Hold>> {
        let (Some(org), true) = (self.request.org_id, self.llm.inner.options.credits) else {
            return Ok(None);
        };
        let router = &self.llm.inner.router;
        let prompt = prompt_tokens(self.llm.tokens(), &first.model_id, self.request);
        let usage = Usage::new(prompt as f64, f64::from(self.max_tokens(first)))?;
        let estimate = router.call_cost(first, Some(usage));
        let key = match &self.request.idempotency_key {
            Some(key) => key.clone(),
            None => Uuid::new_v4().to_string(),
        };
        let reservation = router.reserve(org, estimate, &key).await?;
        Ok(Some(Hold::new(
            router.clone(),
            reservation.id,
            reservation.duplicate,
            self.state.logger.clone(),
        )))
    }

    pub(super) async fn run(
        mut self,
        first: Resolution,
        span: &Span,
        hold: Option<Hold>,
    ) -> Result<Completion> {
        let mut candidate = first;
        // The breaker report of a failed attempt: a counted failure is a database transaction
        // (about 0.7 ms on SQLite), which a fallback hop does not wait for. It is written in the
        // background while the next candidate answers; a call that fails for good waits for it.
        let mut report: Option<Report> = None;
        loop {
            let (child, started) = self.begin_attempt(&candidate, span);
            if let Some(report) = report.take() {
                tokio::spawn(report);
            }
            let result = match self.sink {
                Some(_) => self.stream_attempt(&candidate).await,
                None => self.attempt(&candidate).await,
            };
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            match result {
                Ok(reply) => {
                    if let Some(report) = self.success_report(&candidate) {
                        report.await;
                    }
                    let cost = self.answered(&candidate, &reply, &child, latency_ms);
                    let reported = reply.usage.input_tokens;
                    Call::observe_usage(self.llm, self.request, &candidate.model_id, reported);
                    let charged = match hold {
                        Some(hold) => hold.commit(cost).await,
                        None => 0.0,
                    };
                    return Ok(self.finish(candidate, reply, charged, span));
                }
                Err(fault) => {
                    // A caller who stopped reading a stream is not the provider's fault: the
                    // call ends here, reported to no breaker and tried nowhere else.
                    let abandoned = self.sink.as_ref().is_some_and(|sink| sink.is_closed());
                    let (next, failed) =
                        self.faulted(&candidate, &fault, &child, latency_ms, abandoned);
                    report = failed;
                    match next {
                        Some(next) => candidate = next,
                        None => {
                            if let Some(report) = report.take() {
                                report.await;
                            }
                            return Err(self.fail(candidate, fault, span, hold).await);
                        }
                    }
                }
            }
        }
    }

    /// Starts an attempt at `candidate`: its span, and when it started.
    pub(super) fn begin_attempt(&mut self, candidate: &Resolution, span: &Span) -> (Span, Instant) {
        self.state
            .tried
            .push((candidate.provider.clone(), candidate.model_id.clone()));
        let number = self.state.attempts.len() + 1;
        let child = span.child(
            "gen_ai.attempt",
            attributes::attempt_start(candidate, number),
        );
        (child, Instant::now())
    }

    /// The breaker report of an attempt at `candidate` that answered, when it changes a circuit
    /// (the model's or the provider's is half open).
    pub(super) fn success_report(&self, candidate: &Resolution) -> Option<Report> {
        let router = self.llm.inner.router.clone();
        if !router.success_matters(&candidate.provider, &candidate.model_id) {
            return None;
        }
        let (provider, model) = (candidate.provider.clone(), candidate.model_id.clone());
        Some(Box::pin(async move {
            router.record_success(&provider, &model).await;
        }))
    }

    /// Records an attempt that answered (its span) and returns what the answer costs.
    pub(super) fn answered(
        &mut self,
        candidate: &Resolution,
        reply: &Reply,
        child: &Span,
        latency_ms: f64,
    ) -> f64 {
        self.push_attempt(candidate, "ok", Some(200), latency_ms, None);
        child.stop(attributes::usage(&reply.usage));
        let router = &self.llm.inner.router;
        router.call_cost(candidate, Some(usage_of(reply.usage)))
    }

    /// Corrects the token counter with the input tokens the provider reported for this
    /// request (a request with tools is not counted: their schemas' framing is unknown).
    pub(super) fn observe_usage(llm: &Llm, request: &CallRequest, model: &str, reported: u64) {
        if Call::learns_from(request, model) {
            let system = request.system.as_deref();
            llm.inner
                .tokens
                .observe(model, system, &request.messages, reported);
        }
    }

    /// True when the usage reported for `request` to `model` corrects the token counter: the
    /// model's count is an estimate, and the request has no tools.
    pub(super) fn learns_from(request: &CallRequest, model: &str) -> bool {
        let estimated = TokenModel::of(model).is_ok_and(|m| !m.exact());
        estimated && request.tools.is_empty()
    }

    /// The completion of an answered call, with `charged` credits; ends the call's span.
    pub(super) fn finish(
        self,
        candidate: Resolution,
        reply: Reply,
        charged: f64,
        span: &Span,
    ) -> Completion {
        let capture = self.llm.inner.router.keel().captures_content();
        let completion = self.completion(candidate, reply, charged);
        let mut end = attributes::completion(&completion);
        if capture {
            super::content::output(&completion, &mut end);
        }
        span.stop(end);
        completion
    }

    /// Records an attempt that failed with `fault`: returns the next candidate, if the call
    /// may fall back, and the breaker report to write when the fault counts.
    pub(super) fn faulted(
        &mut self,
        candidate: &Resolution,
        fault: &Fault,
        child: &Span,
        latency_ms: f64,
        abandoned: bool,
    ) -> (Option<Resolution>, Option<Report>) {
        let mut report: Option<Report> = None;
        if fault.kind.counts() && !abandoned {
            let (router, kind) = (self.llm.inner.router.clone(), fault.kind);
            let (provider, model) = (candidate.provider.clone(), candidate.model_id.clone());
            report = Some(Box::pin(async move {
                router.record_failure(&provider, &model, kind).await;
            }));
        }
        let outcome = fault.kind.as_str();
        self.push_attempt(
            candidate,
            outcome,
            fault.status,
            latency_ms,
            fault.retry_after_ms,
        );
        child.fail(&fault.message, attributes::fault(fault));
        // Content reached the caller: the call cannot start again elsewhere.
        let next = match self.delivered || abandoned {
            true => None,
            false => self.next_candidate(fault.kind),
        };
        (next, report)
    }

    /// The endpoint of a candidate, as a fault when the request cannot go there.
    pub(super) fn endpoint_for(&self, candidate: &Resolution) -> Result<&'a Endpoint, Fault> {
        let call: &Call<'a> = self;
        call.callable(candidate)
            .map_err(|e| Fault::new(FailureKind::ClientError, e.to_string()))
    }

    /// The limit of one attempt (or of one wait for a streamed event), within the deadline.
    pub(super) fn attempt_limit(&self) -> std::time::Duration {
        self.state.attempt_limit(self.llm, self.request)
    }

    /// What an attempt at `candidate` sends.
    pub(super) fn prompt<'p>(&'p self, candidate: &'p Resolution, stream: bool) -> Prompt<'p> {
        Prompt {
            model: &candidate.model_id,
            system: self.request.system.as_deref(),
            messages: &self.request.messages,
            tools: &self.request.tools,
            max_tokens: self.max_tokens(candidate),
            temperature: self.request.temperature,
            stop: &self.request.stop,
            stream,
        }
    }

    async fn attempt(&self, candidate: &Resolution) -> Result<Reply, Fault> {
        let endpoint = self.endpoint_for(candidate)?;
        let limit = self.attempt_limit();
        let prompt = self.prompt(candidate, false);
        http::within(
            limit,
            http::complete(&self.llm.inner.http, endpoint, &prompt),
        )
        .await
    }

    /// The next candidate after a failure of `kind`, if the call may fall back.
    fn next_candidate(&mut self, kind: FailureKind) -> Option<Resolution> {
        let options = &self.llm.inner.options;
        let falls_back =
            kind.counts() || (kind == FailureKind::ContentRefused && options.fallback_on_refusal);
        if !falls_back || self.request.provider.is_some() {
            return None;
        }
        loop {
            if self.state.tried.len() >= options.max_attempts as usize
                || Instant::now() >= self.state.deadline
            {
                return None;
            }
            let next = self
                .llm
                .inner
                .router
                .resolve_after(&self.state.routed, &self.state.tried)
                .ok()?;
            if self.callable(&next).is_ok() {
                return Some(next);
            }
            // A candidate this request cannot go to (no key, a turn it refuses) is passed over.
            self.state.tried.push((next.provider, next.model_id));
        }
    }

    async fn fail(
        self,
        candidate: Resolution,
        fault: Fault,
        span: &Span,
        hold: Option<Hold>,
    ) -> Error {
        let router = &self.llm.inner.router;
        let mut extra = Map::new();
        match (hold, fault.usage) {
            // The provider billed a refusal: so do we.
            (Some(hold), Some(usage)) => {
                let cost = router.call_cost(&candidate, Some(usage_of(usage)));
                extra.insert(
                    "keel.credits_charged".into(),
                    hold.commit(cost).await.into(),
                );
            }
            (Some(hold), None) => hold.release().await,
            (None, _) => {}
        }
        self.failed(candidate, fault, span, extra)
    }

    /// The error of a call that failed for good with `fault` at `candidate`; ends the call's
    /// span with `extra`.
    pub(super) fn failed(
        self,
        candidate: Resolution,
        fault: Fault,
        span: &Span,
        mut extra: Map<String, Value>,
    ) -> Error {
        extra.insert("error.type".into(), fault.kind.as_str().into());
        span.fail(&fault.message, extra);
        fault.into_error(
            candidate.provider.to_string(),
            candidate.model_id.to_string(),
            self.state.attempts,
        )
    }

    fn push_attempt(
        &mut self,
        candidate: &Resolution,
        outcome: &str,
        status: Option<u16>,
        latency_ms: f64,
        retry_after_ms: Option<u64>,
    ) {
        self.state.attempts.push(Attempt {
            provider: candidate.provider.to_string(),
            model: candidate.model_id.to_string(),
            outcome: outcome.to_owned(),
            status,
            latency_ms,
            retry_after_ms,
        });
    }

    fn completion(self, candidate: Resolution, reply: Reply, charged: f64) -> Completion {
        let was_fallback = candidate.was_fallback || self.state.attempts.len() > 1;
        Completion {
            text: join_text(&reply.content),
            content: reply.content,
            finish_reason: reply.finish_reason,
            provider: candidate.provider.to_string(),
            model: candidate.model_id.to_string(),
            response_model: reply.model,
            usage: reply.usage,
            credits_charged: charged,
            attempts: self.state.attempts,
            trace_id: self.state.routed.trace_id.unwrap_or_default(),
            was_fallback,
        }
    }
}

fn usage_of(usage: TokenUsage) -> Usage {
    Usage {
        input_tokens: usage.input_tokens as f64,
        output_tokens: usage.output_tokens as f64,
    }
}
