//! A call its caller drives (sans-IO): for a host whose own client sends a provider's attempts
//! (a [`super::Transport`]) on its own event loop. Keel resolves, builds each attempt's request,
//! reads each answer, falls back, reports to the breaker and writes the spans, all
//! synchronously on the caller's thread; only the host's client does I/O, where it already
//! runs. The same call through [`Llm::complete`] crosses from the host's event loop to Keel's
//! runtime and back twice per attempt (once to start it, once for the transport), and each
//! crossing wakes a thread.
//!
//! A step that has to wait on Keel's side (an attempt at a provider without a transport, the
//! breaker report of a call that failed for good) is handed over as a future
//! ([`DrivenCall::wait`]). A call that reserves credits is never driven: the reservation waits
//! on the database before the first attempt.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::call::{Call, CallState, Report};
use super::client::Llm;
use super::http;
use super::message::Role;
use super::request::CallRequest;
use super::transport::{TransportFailure, TransportRequest};
use super::wire::{Fault, Reply, Wire};
use crate::error::{Error, Result};
use crate::fault::FailureKind;
use crate::models::Resolution;
use crate::telemetry::Span;

/// What [`Llm::drive`] gives.
pub enum Driven {
    /// The call, its first attempt ready: its caller sends the attempts.
    Call(Box<DrivenCall>),
    /// The request, back: the call waits on Keel's side before its first attempt (credits to
    /// reserve) or no transport sends it, so [`Llm::complete`] makes it.
    Awaits(Box<CallRequest>),
}

/// A call whose attempts its caller sends: [`DrivenCall::transport_request`] through the
/// provider's transport, answered with [`DrivenCall::settle_transport`] (or
/// [`DrivenCall::settle_timeout`] past [`DrivenCall::timeout`]); otherwise
/// [`DrivenCall::wait`]'s future, answered with [`DrivenCall::settle_waited`]. Each settling
/// gives the completion, the call's error, or `None` when the next attempt is ready.
pub struct DrivenCall {
    llm: Llm,
    /// Shared with the token counter's correction, which runs after the call ended.
    request: Arc<CallRequest>,
    /// What the call has done; `None` once it ended.
    state: Option<CallState>,
    candidate: Resolution,
    span: Span,
    /// The current attempt's span and start.
    attempt: Option<(Span, Instant)>,
    /// The wire of the current candidate's endpoint.
    wire: Wire,
    next: Next,
}

/// What the current step waits for.
enum Next {
    /// The host's transport sends this.
    Transport(TransportRequest),
    /// Keel's client sends this, within the limit.
    Keel(reqwest::RequestBuilder, Wire, std::time::Duration),
    /// The call failed for good: its breaker report is written before the error is returned.
    Fail(Report, Error),
    /// Nothing: the call ended.
    Ended,
}

/// What [`DrivenCall::wait`]'s future gives, for [`DrivenCall::settle_waited`].
pub struct Waited(Option<std::result::Result<Reply, Fault>>);

impl Llm {
    /// Starts a call its caller drives ([`DrivenCall`]) when its first attempt goes through a
    /// transport and nothing waits before it; else hands the request back to be made with
    /// [`Llm::complete`]. Resolves without waiting ([`crate::models::ModelRouter::resolve_now`]).
    ///
    /// # Errors
    /// As [`Llm::complete`] before its first request: [`Error::InvalidInput`],
    /// [`Error::NoModelAvailable`].
    pub fn drive(&self, request: CallRequest) -> Result<Driven> {
        let options = &self.inner.options;
        let reserves = request.org_id.is_some() && options.credits;
        if reserves || options.transports.0.is_empty() {
            return Ok(Driven::Awaits(Box::new(request)));
        }
        let request = match request.messages.iter().any(|m| m.role == Role::System) {
            true => request.validated()?,
            false => {
                request.check()?;
                request
            }
        };
        let llm = self.clone();
        let call = Call::new(&llm, &request);
        let first = match call.explicit_candidate() {
            Some(explicit) => explicit,
            None => self.inner.router.resolve_now(&call.state.routed)?,
        };
        let endpoint = call.callable(&first)?;
        if endpoint.transport.is_none() {
            return Ok(Driven::Awaits(Box::new(request)));
        }
        let wire = endpoint.wire;
        let span = call.open_span(&first);
        let state = call.state;
        let mut driven = DrivenCall {
            llm,
            request: Arc::new(request),
            state: Some(state),
            candidate: first,
            span,
            attempt: None,
            wire,
            next: Next::Ended,
        };
        driven.begin();
        Ok(Driven::Call(Box::new(driven)))
    }
}

impl DrivenCall {
    /// The request the provider's transport sends now, if a transport sends this attempt.
    pub fn transport_request(&self) -> Option<&TransportRequest> {
        match &self.next {
            Next::Transport(request) => Some(request),
            _ => None,
        }
    }

    /// How long the current attempt may take: the attempt timeout, within the call's deadline.
    pub fn timeout(&self) -> std::time::Duration {
        let state = self.state.as_ref();
        state.map_or(std::time::Duration::ZERO, |state| {
            state.attempt_limit(&self.llm, &self.request)
        })
    }

    /// Settles the current attempt with what the transport answered: the provider's reply
    /// body, or its failure.
    ///
    /// # Errors
    /// As [`Llm::complete`]: [`Error::Call`] with every attempt when no candidate answered.
    pub fn settle_transport(
        &mut self,
        answer: std::result::Result<Value, TransportFailure>,
    ) -> Result<Option<crate::llm::Completion>> {
        let outcome = match answer {
            Ok(body) => http::read_reply(self.wire, &body),
            Err(failure) => Err(failure.fault(self.wire)),
        };
        self.settle(outcome)
    }

    /// Settles the current attempt as one that took longer than [`DrivenCall::timeout`].
    ///
    /// # Errors
    /// As [`DrivenCall::settle_transport`].
    pub fn settle_timeout(&mut self) -> Result<Option<crate::llm::Completion>> {
        let limit = self.timeout();
        let message = format!("no reply within {} ms", limit.as_millis());
        self.settle(Err(Fault::new(FailureKind::Timeout, message)))
    }

    /// What the current step waits for on Keel's side, when no transport sends it: an attempt
    /// through Keel's own client, or the breaker report of a call that failed for good.
    pub fn wait(&mut self) -> BoxFuture<'static, Waited> {
        match std::mem::replace(&mut self.next, Next::Ended) {
            Next::Keel(request, wire, limit) => Box::pin(async move {
                Waited(Some(
                    http::within(limit, http::exchange(request, wire)).await,
                ))
            }),
            Next::Fail(report, err) => {
                self.next = Next::Fail(Box::pin(std::future::ready(())), err);
                Box::pin(async move {
                    report.await;
                    Waited(None)
                })
            }
            next => {
                self.next = next;
                Box::pin(std::future::ready(Waited(None)))
            }
        }
    }

    /// Settles what [`DrivenCall::wait`]'s future gave.
    ///
    /// # Errors
    /// As [`DrivenCall::settle_transport`]; [`Error::Internal`] for a call that is not waiting.
    pub fn settle_waited(&mut self, waited: Waited) -> Result<Option<crate::llm::Completion>> {
        match (waited.0, std::mem::replace(&mut self.next, Next::Ended)) {
            (Some(outcome), _) => self.settle(outcome),
            (None, Next::Fail(_, err)) => Err(err),
            (None, next) => {
                self.next = next;
                Err(Error::Internal("the driven call is not waiting".into()))
            }
        }
    }

    /// Records the current attempt's outcome: the completion, the call's error, or the next
    /// attempt made ready.
    fn settle(
        &mut self,
        outcome: std::result::Result<Reply, Fault>,
    ) -> Result<Option<crate::llm::Completion>> {
        let (Some(state), Some((child, started))) = (self.state.take(), self.attempt.take()) else {
            return Err(Error::Internal("the driven call has ended".into()));
        };
        self.next = Next::Ended;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let router = self.llm.inner.router.clone();
        let mut call = Call::resume(&self.llm, &self.request, state);
        let candidate = &self.candidate;
        let fault = match outcome {
            Ok(reply) => {
                if let Some(report) = call.success_report(candidate) {
                    router.report_in_background(report);
                }
                call.answered(candidate, &reply, &child, latency_ms);
                self.observe_in_background(&reply);
                let done = call.finish(candidate.clone(), reply, 0.0, &self.span);
                return Ok(Some(done));
            }
            Err(fault) => fault,
        };
        let (next, report) = call.faulted(candidate, &fault, &child, latency_ms, false);
        let Some(next) = next else {
            let err = call.failed(candidate.clone(), fault, &self.span, Map::new());
            return match report {
                Some(report) => {
                    self.next = Next::Fail(report, err);
                    Ok(None)
                }
                None => Err(err),
            };
        };
        if let Some(report) = report {
            router.report_in_background(report);
        }
        self.state = Some(call.state);
        self.candidate = next;
        self.begin();
        Ok(None)
    }

    /// Corrects the token counter off the caller's thread: counting a long prompt takes
    /// milliseconds, which the caller's event loop must not wait for.
    fn observe_in_background(&self, reply: &Reply) {
        if !Call::learns_from(&self.request, &self.candidate.model_id) {
            return;
        }
        let (llm, request) = (self.llm.clone(), Arc::clone(&self.request));
        let (model, reported) = (self.candidate.model_id.clone(), reply.usage.input_tokens);
        self.llm.inner.router.report_in_background(async move {
            Call::observe_usage(&llm, &request, &model, reported);
        });
    }

    /// Makes the current candidate's attempt ready.
    fn begin(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        let mut call = Call::resume(&self.llm, &self.request, state);
        self.attempt = Some(call.begin_attempt(&self.candidate, &self.span));
        // `next_candidate` only gives candidates this request can go to.
        self.next = match call.callable(&self.candidate) {
            Ok(endpoint) => {
                self.wire = endpoint.wire;
                let prompt = call.prompt(&self.candidate, false);
                match endpoint.transport {
                    Some(_) => Next::Transport(http::transport_request(endpoint, &prompt)),
                    None => {
                        let request = http::request(&self.llm.inner.http, endpoint, &prompt);
                        Next::Keel(request, endpoint.wire, call.attempt_limit())
                    }
                }
            }
            Err(err) => Next::Fail(Box::pin(std::future::ready(())), err),
        };
        self.state = Some(call.state);
    }
}
