//! A model provider on loopback that speaks the documented shapes of the Anthropic Messages
//! API, OpenAI Chat Completions and Gemini `generateContent` (and the OpenAI and Gemini
//! embeddings endpoints): replies, errors with their
//! statuses and headers, stalls, cut connections and malformed bodies. `keel demo`, the
//! benchmarks and the tests call it instead of the real providers; it records every request
//! it receives so tests can assert the bodies Keel sends.
//!
//! The wire is told by the path (`/v1/messages`, `/chat/completions`, `/v1beta/models/…`);
//! the model by the body (or the Gemini path). Each model answers from its script, in order,
//! then with a default reply (`ok from <model>`; to Keel's Slack thread extraction prompt, a
//! JSON answer made from the transcript: `loopback_slack.rs`).
//!
//! Other processes (the Python and Node tests, `keel loopback`) script it over HTTP:
//! `POST /_loopback/script` with `{"model": "…", "replies": [reply, …]}`, where a reply is
//! `{"text": "…"}`, `{"error": 500, "message": "…", "retry_after": "7"}` (the wire's error body),
//! `{"status": 200, "body": {…}}`, `{"stall_ms": 5000}`, `"malformed"`, `"reset"` or
//! `{"stream": ["chunk", …], "end": "complete" | "reset" | "error" | {"stall_ms": 5000}}`
//! (with `"gap_ms": 150`, a pause before each content event);
//! `POST /_loopback/always` with `{"model", "reply"}` makes a model answer `reply` whenever its
//! script is spent; `GET /_loopback/received` lists the requests received (`wire`, `path`,
//! `model`, `body`); `POST /_loopback/quiet` stops keeping them (benchmarks);
//! `POST /_loopback/reset` forgets scripts and requests.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::serve::ListenerExt;
use serde_json::{Value, json};

// Relative to this file wherever it is included (core's tests and benches take it by path).
#[path = "loopback_embed.rs"]
mod embed;
use embed::embeddings;
#[path = "loopback_otlp.rs"]
mod otlp;
#[path = "loopback_slack.rs"]
pub mod slack;
#[path = "loopback_stream.rs"]
mod streams;
use streams::stream;

/// What the provider does with one request.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scripted {
    /// The wire's normal reply with this text.
    Text(String),
    /// A 200 whose body is not JSON.
    Malformed,
    /// A 200 whose body breaks off: the connection is cut mid-reply.
    Reset,
    /// No answer for this long, then the default reply.
    #[serde(rename = "stall_ms", deserialize_with = "millis")]
    Stall(Duration),
    /// The wire's documented error body for this status.
    #[serde(untagged)]
    Error {
        /// The HTTP status.
        error: u16,
        /// The error's message.
        #[serde(default)]
        message: String,
        /// A `Retry-After` header.
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// A status and JSON body, with extra headers.
    #[serde(untagged)]
    Json {
        /// The HTTP status.
        status: u16,
        /// Extra headers (`retry-after`).
        #[serde(default)]
        headers: Vec<(String, String)>,
        /// The body.
        body: Value,
    },
    /// A streamed reply (to a streaming request): the wire's preamble, one content event per
    /// chunk, then `end`.
    #[serde(untagged)]
    Stream {
        /// The text of each content event.
        #[serde(rename = "stream")]
        chunks: Vec<String>,
        /// How the stream ends.
        #[serde(default)]
        end: StreamEnd,
        /// A pause before each content event (`gap_ms`, none by default).
        #[serde(default, rename = "gap_ms", deserialize_with = "millis")]
        gap: Duration,
    },
}

fn millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    <u64 as serde::Deserialize>::deserialize(d).map(Duration::from_millis)
}

/// How a scripted stream ends.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEnd {
    /// The wire's closing events, with usage.
    #[default]
    Complete,
    /// Nothing more for this long, then the connection closes without the closing events.
    #[serde(rename = "stall_ms", deserialize_with = "millis")]
    Stall(Duration),
    /// The connection is cut.
    Reset,
    /// The wire's error event (an overload), then the end.
    Error,
}

/// The wire a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WireKind {
    /// `/v1/messages`.
    Anthropic,
    /// `…/chat/completions`.
    OpenAi,
    /// `/v1beta/models/{model}:generateContent`.
    Gemini,
    /// Slack's Web API, `/api/{method}` (the method is the request's `model`).
    Slack,
}

/// A request the provider received.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Received {
    /// Its wire.
    pub wire: WireKind,
    /// The path and query.
    pub path: String,
    /// The model asked for.
    pub model: String,
    /// The headers.
    #[serde(skip)]
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Value,
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Scripted>>,
    /// Replies a model gives once its script is spent.
    always: HashMap<String, Scripted>,
    received: Vec<Received>,
    /// Keep no log of requests (benchmarks).
    quiet: bool,
    /// Names of the spans exported to `/v1/traces`.
    spans: Vec<String>,
}

/// The provider; clones share its scripts and its log of requests.
#[derive(Clone, Default)]
pub struct Loopback {
    state: Arc<Mutex<State>>,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
}

impl Loopback {
    /// Starts the provider on a free loopback port, on the current tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the provider on `addr`.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let provider = Loopback {
            base_url: format!("http://{}", listener.local_addr()?),
            ..Loopback::default()
        };
        let handler = provider.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let handler = handler.clone();
            async move { handler.answer(uri, headers, body).await }
        });
        // Each event goes out as it is written: with Nagle's algorithm a streamed reply's
        // second write waited for the client's delayed acknowledgement (40 ms or more), so
        // every stream on a kept-alive connection started that late.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(provider)
    }

    /// Queues replies for `model`, answered in order before the default reply.
    pub fn script(&self, model: &str, replies: impl IntoIterator<Item = Scripted>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .scripts
            .entry(model.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Makes `model` answer `reply` whenever its script is spent.
    pub fn always(&self, model: &str, reply: Scripted) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.always.insert(model.to_owned(), reply);
    }

    /// Stops logging requests (a benchmark's millions would pile up).
    pub fn quiet(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).quiet = true;
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .received
            .clone()
    }

    /// How many requests named `model`.
    pub fn count(&self, model: &str) -> usize {
        self.received().iter().filter(|r| r.model == model).count()
    }

    /// Forgets every script and request.
    pub fn reset(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = State::default();
    }

    /// The control routes other processes script the provider with.
    fn control(&self, path: &str, body: &Value) -> Option<Response> {
        match path {
            "/_loopback/script" => {
                let model = body
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let replies = body.get("replies").cloned().unwrap_or(Value::Null);
                Some(match serde_json::from_value::<Vec<Scripted>>(replies) {
                    Ok(replies) => {
                        self.script(model, replies);
                        respond(200, &[], json!({"ok": true}))
                    }
                    Err(err) => respond(400, &[], json!({"error": {"message": err.to_string()}})),
                })
            }
            "/_loopback/always" => {
                let model = body
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let reply = body.get("reply").cloned().unwrap_or(Value::Null);
                Some(match serde_json::from_value::<Scripted>(reply) {
                    Ok(reply) => {
                        self.always(model, reply);
                        respond(200, &[], json!({"ok": true}))
                    }
                    Err(err) => respond(400, &[], json!({"error": {"message": err.to_string()}})),
                })
            }
            "/_loopback/quiet" => {
                self.quiet();
                Some(respond(200, &[], json!({"ok": true})))
            }
            "/_loopback/received" => Some(respond(200, &[], json!(self.received()))),
            "/_loopback/spans" => Some(respond(200, &[], json!(self.spans()))),
            "/_loopback/reset" => {
                self.reset();
                Some(respond(200, &[], json!({"ok": true})))
            }
            _ => None,
        }
    }

    async fn answer(&self, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        if uri.path() == "/v1/traces" {
            return self.traces(&body);
        }
        if let Some(method) = uri.path().strip_prefix("/api/") {
            return self.slack(method, headers, body).await;
        }
        if uri.path().starts_with("/services/") {
            return self.webhook(uri.path(), headers, body);
        }
        let path = uri
            .path_and_query()
            .map_or(uri.path(), |p| p.as_str())
            .to_owned();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(response) = self.control(uri.path(), &body) {
            return response;
        }
        let thread_reply = slack::thread_context_reply(&body);
        let embedding = path.ends_with("/embeddings") || path.contains(":batchEmbedContents");
        let (wire, model) = if path.ends_with("/v1/messages") {
            (WireKind::Anthropic, text(&body, "model"))
        } else if path.ends_with("/chat/completions") || path.ends_with("/embeddings") {
            (WireKind::OpenAi, text(&body, "model"))
        } else if let Some(rest) = uri.path().strip_prefix("/v1beta/models/") {
            let model = rest.split(':').next().unwrap_or_default().to_owned();
            (WireKind::Gemini, model)
        } else {
            return respond(404, &[], json!({"error": {"message": "no such route"}}));
        };
        let streaming = body.get("stream") == Some(&Value::Bool(true))
            || path.contains(":streamGenerateContent");
        // An embeddings request's default reply: one vector per text, from the text alone.
        let vectors = embedding.then(|| embeddings(wire, &body));
        let scripted = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !state.quiet {
                state.received.push(Received {
                    wire,
                    path,
                    model: model.clone(),
                    headers,
                    body,
                });
            }
            match state.scripts.get_mut(&model).and_then(VecDeque::pop_front) {
                Some(reply) => Some(reply),
                None => state.always.get(&model).cloned(),
            }
        };
        let scripted = scripted.unwrap_or_else(|| {
            Scripted::Text(thread_reply.unwrap_or_else(|| format!("ok from {model}")))
        });
        match scripted {
            Scripted::Text(_) if let Some(vectors) = vectors => respond(200, &[], vectors),
            Scripted::Text(reply) if streaming => {
                let chunks = reply.split_inclusive(' ').map(str::to_owned).collect();
                stream(wire, &model, chunks, StreamEnd::Complete, Duration::ZERO)
            }
            Scripted::Stream { chunks, end, gap } => stream(wire, &model, chunks, end, gap),
            Scripted::Text(reply) => respond(200, &[], success(wire, &model, &reply)),
            Scripted::Error {
                error: status,
                message,
                retry_after,
            } => {
                let headers: Vec<_> = retry_after
                    .map(|wait| ("retry-after".to_owned(), wait))
                    .into_iter()
                    .collect();
                respond(status, &headers, error_body(wire, status, &message))
            }
            Scripted::Json {
                status,
                headers,
                body,
            } => respond(status, &headers, body),
            Scripted::Malformed => Response::new(Body::from("{\"choices\": [")),
            Scripted::Reset => {
                let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                    Ok(Bytes::from_static(b"{\"partial\": ")),
                    Err(std::io::Error::other(
                        "connection reset by the loopback provider",
                    )),
                ];
                Response::new(Body::from_stream(futures_util::stream::iter(chunks)))
            }
            Scripted::Stall(wait) => {
                tokio::time::sleep(wait).await;
                respond(200, &[], success(wire, &model, &format!("ok from {model}")))
            }
        }
    }
}

fn text(body: &Value, key: &str) -> String {
    body.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn respond(status: u16, headers: &[(String, String)], body: Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let out = response.headers_mut();
    out.insert("content-type", "application/json".parse().expect("header"));
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            name.parse::<axum::http::HeaderName>(),
            value.parse::<axum::http::HeaderValue>(),
        ) {
            out.insert(name, value);
        }
    }
    response
}

/// Usage every default reply reports: 10 tokens in, 5 out.
pub const USAGE: (u64, u64) = (10, 5);

/// The wire's successful reply carrying `reply`, with the default usage.
pub fn success(wire: WireKind, model: &str, reply: &str) -> Value {
    success_with_usage(wire, model, reply, USAGE)
}

/// The wire's successful reply carrying `reply`, reporting `(input, output)` tokens.
pub fn success_with_usage(wire: WireKind, model: &str, reply: &str, usage: (u64, u64)) -> Value {
    let (input, output) = usage;
    match wire {
        WireKind::Anthropic => json!({
            "id": "msg_loopback", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": reply}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": output}
        }),
        WireKind::OpenAi => json!({
            "id": "chatcmpl-loopback", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply, "refusal": null},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}
        }),
        WireKind::Gemini => json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": reply}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": input, "candidatesTokenCount": output, "totalTokenCount": input + output},
            "modelVersion": model
        }),
        WireKind::Slack => json!({"ok": true}),
    }
}

/// A reply with the wire's documented error body for `status` with `message`.
pub fn error(wire: WireKind, status: u16, message: &str) -> Scripted {
    Scripted::Json {
        status,
        headers: Vec::new(),
        body: error_body(wire, status, message),
    }
}

/// The wire's documented error body for `status` with `message`.
pub fn error_body(wire: WireKind, status: u16, message: &str) -> Value {
    match wire {
        WireKind::Anthropic => {
            let kind = match status {
                400 => "invalid_request_error",
                401 => "authentication_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        WireKind::OpenAi => {
            json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}})
        }
        WireKind::Gemini => {
            let kind = match status {
                400 => "INVALID_ARGUMENT",
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                _ => "INTERNAL",
            };
            json!({"error": {"code": status, "message": message, "status": kind}})
        }
        WireKind::Slack => json!({"ok": false, "error": message}),
    }
}
