//! Streaming calls: text and tool-call deltas as they arrive, then the completion.
//!
//! A call may fall back until its first content delta reaches the caller, and only until
//! then: the provider's preamble (a message start, a role) is held back by the
//! [`StreamParser`], so an error after the preamble but before any content still falls back.
//! After the first delta a failure ends the stream with a typed error, and the usage so far is
//! charged. Usage comes from the provider's final events.

use std::pin::Pin;
use std::task::{Context, Poll};

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::call::{Call, Completion, Sink};
use super::client::Llm;
use super::http;
use super::request::CallRequest;
use super::transport;
use super::wire::stream::{Piece, StreamParser};
use super::wire::{Fault, Reply};
use crate::error::{Error, Result};
use crate::fault::FailureKind;
use crate::models::Resolution;

/// What a stream yields. Serialized with an `event` tag: `{"event": "delta", "type": "text",
/// "text": …}`, then `{"event": "done", …the completion}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StreamEvent {
    /// Content, as it arrives.
    Delta(Piece),
    /// The last event: the whole completion, with usage, credits and attempts.
    Done(Box<Completion>),
}

/// Events buffered between the call and a slow reader.
const BUFFER: usize = 64;

/// Events a binding reads from a stream per crossing into its language, at most.
pub const BURST: usize = 256;

/// How long a binding hands a stream's events already read over to the consumer before it lets
/// the host's event loop run: a burst of buffered events never holds timers and I/O for
/// longer than this, whatever the consumer does with each event.
pub const HANDOVER_SLICE: std::time::Duration = std::time::Duration::from_millis(2);

/// A streaming call. Yields [`StreamEvent`]s, then ends; a failure is the last item.
/// Dropping it stops the HTTP request and releases the call's credits.
#[derive(Debug)]
pub struct CallStream {
    events: mpsc::Receiver<Result<StreamEvent>>,
    task: tokio::task::JoinHandle<()>,
    /// A failure read ahead by [`CallStream::next_events`], returned next.
    held: Option<Error>,
}

impl CallStream {
    /// The next event, or `None` once the stream has ended.
    pub async fn next_event(&mut self) -> Option<Result<StreamEvent>> {
        match self.held.take() {
            Some(err) => Some(Err(err)),
            None => self.events.recv().await,
        }
    }

    /// The next event and the events already buffered after it (at most `max`), so a binding
    /// crosses into its language once per burst rather than once per delta. A failure comes
    /// alone, after the events before it: `[Ok, Ok]`, then `[Err]`. Empty once the stream has
    /// ended.
    pub async fn next_events(&mut self, max: usize) -> Vec<Result<StreamEvent>> {
        let Some(first) = self.next_event().await else {
            return Vec::new();
        };
        let failed = first.is_err();
        let mut out = vec![first];
        while !failed && out.len() < max {
            match self.events.try_recv() {
                Ok(Ok(event)) => out.push(Ok(event)),
                Ok(Err(err)) => {
                    self.held = Some(err);
                    break;
                }
                Err(_) => break,
            }
        }
        out
    }

    /// [`CallStream::next_events`] as a binding hands them over: the next burst of events,
    /// `None` once the stream has ended, or its failure (after the bursts before it).
    ///
    /// # Errors
    /// The call's failure.
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<StreamEvent>>> {
        let batch = self.next_events(max).await;
        if batch.is_empty() {
            return Ok(None);
        }
        batch.into_iter().collect::<Result<Vec<_>>>().map(Some)
    }
}

impl futures_util::Stream for CallStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(err) = self.held.take() {
            return Poll::Ready(Some(Err(err)));
        }
        self.events.poll_recv(cx)
    }
}

impl Drop for CallStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Aborts a task when dropped (a `stream()` future dropped before the call started).
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl Llm {
    /// Starts a streaming call: everything [`Llm::complete`] does, with content delivered as
    /// it arrives. Returns once the call is under way (the model resolved, the credits
    /// reserved), so bad input, an exhausted budget or no model fail here, before any request.
    ///
    /// # Errors
    /// As [`Llm::complete`], for what is known before the first request; later failures are
    /// the stream's last item.
    pub async fn stream(&self, request: CallRequest) -> Result<CallStream> {
        let request = request.validated()?;
        let (sink, events) = mpsc::channel(BUFFER);
        let (ready, started) = oneshot::channel();
        let llm = self.clone();
        let task = tokio::spawn(async move {
            let mut call = Call::new(&llm, &request);
            call.sink = Some(sink.clone());
            let (first, span, hold) = match call.start().await {
                Ok(started) => started,
                Err(err) => {
                    let _ = ready.send(Err(err));
                    return;
                }
            };
            let _ = ready.send(Ok(()));
            let end = call.run(first, &span, hold).await;
            let _ = sink
                .send(end.map(|done| StreamEvent::Done(Box::new(done))))
                .await;
        });
        let mut guard = AbortOnDrop(Some(task));
        match started.await {
            Ok(Ok(())) => Ok(CallStream {
                events,
                task: guard.0.take().expect("the task is held until here"),
                held: None,
            }),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(Error::Internal(
                "the streaming call ended before it started".into(),
            )),
        }
    }
}

impl Call<'_> {
    /// One streamed attempt: deltas go to the sink as they arrive; the reply is assembled
    /// from the events.
    /// Hands deltas to the caller; from the first one, the call can no longer fall back.
    async fn deliver(&mut self, sink: &Sink, pieces: Vec<Piece>) -> Result<(), Fault> {
        for piece in pieces {
            self.delivered = true;
            if sink.send(Ok(StreamEvent::Delta(piece))).await.is_err() {
                return Err(Fault::new(
                    FailureKind::Connection,
                    "the caller stopped reading",
                ));
            }
        }
        Ok(())
    }

    pub(super) async fn stream_attempt(&mut self, candidate: &Resolution) -> Result<Reply, Fault> {
        let endpoint = self.endpoint_for(candidate)?;
        let sink = self.sink.clone().expect("a streaming call has a sink");
        let limit = self.attempt_limit();
        if endpoint.transport.is_some() {
            // The caller's client answers whole: its deltas go out together.
            let prompt = self.prompt(candidate, false);
            let http = &self.llm.inner.http;
            let reply = tokio::time::timeout(limit, http::complete(http, endpoint, &prompt))
                .await
                .map_err(|_| stalled(limit))??;
            self.deliver(&sink, transport::pieces(&reply)).await?;
            return Ok(reply);
        }
        let prompt = self.prompt(candidate, true);
        let request = http::request(&self.llm.inner.http, endpoint, &prompt);
        let response = match tokio::time::timeout(limit, request.send()).await {
            Err(_) => return Err(stalled(limit)),
            Ok(Err(err)) => return Err(http::transport_fault(err)),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = http::retry_after_ms(response.headers());
            let body = match tokio::time::timeout(limit, response.bytes()).await {
                Ok(Ok(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
                _ => serde_json::Value::Null,
            };
            let mut fault = http::error_fault(endpoint.wire, status, &body);
            fault.retry_after_ms = retry_after;
            return Err(fault);
        }
        let mut events = response.bytes_stream().eventsource();
        let mut parser = StreamParser::new(endpoint.wire);
        // One timer and one wait for the caller to leave, kept across events: an event that is
        // already buffered polls neither. The timer runs at or before the current wait's
        // deadline and is moved on when it fires early.
        let mut closed = std::pin::pin!(sink.closed());
        let mut stall = std::pin::pin!(tokio::time::sleep(self.attempt_limit()));
        loop {
            let limit = self.attempt_limit();
            let waited_out = tokio::time::Instant::now() + limit;
            let next = loop {
                tokio::select! {
                    biased;
                    next = events.next() => break Ok(next),
                    () = &mut closed => return Err(Fault::new(FailureKind::Connection, "the caller stopped reading")),
                    () = &mut stall => {
                        if tokio::time::Instant::now() >= waited_out {
                            break Err(());
                        }
                        stall.as_mut().reset(waited_out);
                    }
                }
            };
            let event = match next {
                Err(()) => return Err(self.cut(&parser, stalled(limit))),
                Ok(None) if parser.is_finished() => return parser.into_reply(),
                Ok(None) => {
                    let fault = Fault::new(
                        FailureKind::Connection,
                        "the stream ended before its last event",
                    );
                    return Err(self.cut(&parser, fault));
                }
                Ok(Some(Err(EventStreamError::Transport(err)))) => {
                    return Err(self.cut(&parser, http::transport_fault(err)));
                }
                Ok(Some(Err(_))) => {
                    return Err(self.cut(&parser, Fault::malformed("the event stream is not SSE")));
                }
                Ok(Some(Ok(event))) => event,
            };
            let pieces = parser
                .feed(&event.event, &event.data)
                .map_err(|fault| self.cut(&parser, fault))?;
            self.deliver(&sink, pieces).await?;
            if parser.is_done() {
                return parser.into_reply();
            }
        }
    }

    /// A fault mid-stream: once content was delivered it carries the usage so far, which is
    /// charged.
    fn cut(&self, parser: &StreamParser, mut fault: Fault) -> Fault {
        if self.delivered && fault.usage.is_none() {
            fault.usage = Some(parser.usage_so_far());
        }
        fault
    }
}

fn stalled(limit: std::time::Duration) -> Fault {
    Fault::new(
        FailureKind::Timeout,
        format!("no event within {} ms", limit.as_millis()),
    )
}
