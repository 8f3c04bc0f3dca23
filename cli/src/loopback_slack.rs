//! The loopback's Slack Web API (`POST /api/{method}`, form or JSON bodies, as Slack takes
//! them): `conversations.replies` pages a thread of [`THREAD_MESSAGES`] messages 200 at a time
//! with Slack's cursor, `chat.postMessage` and `chat.update` echo where the message went,
//! `users.info` describes a user, channel `C404` is `channel_not_found`. Incoming webhooks
//! (`POST /services/…`, as Slack hands them out) answer `ok` as text and are recorded under
//! the model `incoming-webhook`, whose script (an error) comes first. A method's script
//! (keyed by its name) comes first: `{"error": 429, "message": "ratelimited", "retry_after":
//! "1"}` is Slack's `{ok: false, error}` with that status and header; `{"status", "headers",
//! "body"}` is sent as it is.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{Loopback, Received, Scripted, WireKind, error_body, respond};

/// The messages of the loopback's thread.
pub const THREAD_MESSAGES: usize = 450;
/// The thread's `ts`; its messages follow a second apart.
pub const THREAD_TS: &str = "1712345678.000100";

impl Loopback {
    /// Answers Slack method `method`.
    pub(super) async fn slack(&self, method: &str, headers: HeaderMap, body: Bytes) -> Response {
        let form = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let args: Value = if form {
            let map: Map<String, Value> = url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            Value::Object(map)
        } else {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        };
        let scripted = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !state.quiet {
                state.received.push(Received {
                    wire: WireKind::Slack,
                    path: format!("/api/{method}"),
                    model: method.to_owned(),
                    headers,
                    body: args.clone(),
                });
            }
            match state.scripts.get_mut(method).and_then(|s| s.pop_front()) {
                Some(reply) => Some(reply),
                None => state.always.get(method).cloned(),
            }
        };
        match scripted {
            Some(Scripted::Error {
                error: status,
                message,
                retry_after,
            }) => {
                let headers: Vec<_> = retry_after
                    .map(|wait| ("retry-after".to_owned(), wait))
                    .into_iter()
                    .collect();
                respond(
                    status,
                    &headers,
                    error_body(WireKind::Slack, status, &message),
                )
            }
            Some(Scripted::Json {
                status,
                headers,
                body,
            }) => respond(status, &headers, body),
            Some(Scripted::Malformed) => Response::new(Body::from("<html>bad gateway</html>")),
            Some(Scripted::Stall(wait)) => {
                tokio::time::sleep(wait).await;
                respond(200, &[], reply(method, &args))
            }
            _ => respond(200, &[], reply(method, &args)),
        }
    }
}

/// The script key and `model` of incoming-webhook posts.
pub const WEBHOOK: &str = "incoming-webhook";

impl Loopback {
    /// Answers an incoming-webhook post to `path`: `ok` (text), or its scripted error.
    pub(super) fn webhook(&self, path: &str, headers: HeaderMap, body: Bytes) -> Response {
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let scripted = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !state.quiet {
                state.received.push(Received {
                    wire: WireKind::Slack,
                    path: path.to_owned(),
                    model: WEBHOOK.to_owned(),
                    headers,
                    body,
                });
            }
            state.scripts.get_mut(WEBHOOK).and_then(|s| s.pop_front())
        };
        let (status, text) = match scripted {
            Some(Scripted::Error { error, message, .. }) => (error, message),
            _ => (200, "ok".to_owned()),
        };
        let mut response = Response::new(Body::from(text));
        *response.status_mut() =
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
        response
    }
}

/// Message `i` of the thread: even ones from `U1`, odd ones from the bot `UBOT`.
fn message(i: usize) -> Value {
    let user = if i.is_multiple_of(2) { "U1" } else { "UBOT" };
    let mut m = json!({"type": "message", "user": user, "text": format!("message {i}"),
        "ts": format!("{}.000100", 1_712_345_678 + i), "thread_ts": THREAD_TS});
    if i % 2 == 1 {
        m["bot_id"] = json!("B1");
    }
    m
}

/// Slack's answer to `method` called with `args`.
fn reply(method: &str, args: &Value) -> Value {
    let arg = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or_default();
    match method {
        "conversations.replies" if arg("channel") == "C404" => {
            json!({"ok": false, "error": "channel_not_found"})
        }
        "conversations.replies" => {
            let start: usize = arg("cursor")
                .strip_prefix("bmV4dF90czox")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let limit: usize = arg("limit").parse().unwrap_or(100).clamp(1, 1_000);
            let end = (start + limit).min(THREAD_MESSAGES);
            let next = if end < THREAD_MESSAGES {
                format!("bmV4dF90czox{end}")
            } else {
                String::new()
            };
            json!({"ok": true, "messages": (start..end).map(message).collect::<Vec<_>>(),
                   "has_more": end < THREAD_MESSAGES, "response_metadata": {"next_cursor": next}})
        }
        "chat.postMessage" | "chat.update" => {
            let ts = args
                .get("ts")
                .cloned()
                .unwrap_or_else(|| json!("1712349999.000100"));
            json!({"ok": true, "channel": arg("channel"), "ts": ts,
                   "message": {"type": "message", "text": arg("text"), "user": "UBOT"}})
        }
        "users.info" => json!({"ok": true, "user": {
            "id": arg("user"), "team_id": "T1", "name": "dana", "real_name": "Dana Scully",
            "is_bot": false, "deleted": false,
            "profile": {"display_name": "", "real_name": "Dana Scully", "email": "dana@acme.test"}}}),
        _ => json!({"ok": false, "error": "unknown_method"}),
    }
}

/// The default answer to Keel's Slack thread extraction prompt (its instructions as the
/// system prompt of any wire): the summary is the rep's latest message, and each
/// "<Word> Renewal" of the transcript is a deal. `None` for any other request.
pub fn thread_context_reply(body: &Value) -> Option<String> {
    let system = [
        body.get("system"),
        body.pointer("/system/0/text"),
        body.pointer("/messages/0/content"),
        body.pointer("/systemInstruction/parts/0/text"),
    ];
    let prompt = system
        .into_iter()
        .flatten()
        .find_map(Value::as_str)
        .is_some_and(|s| s.starts_with("You summarise a Slack thread"));
    if !prompt {
        return None;
    }
    // The transcript's lines, as the request's JSON escapes them.
    let body = body.to_string();
    let lines: Vec<&str> = body.split("\\n").collect();
    let latest = lines
        .iter()
        .rev()
        .find_map(|l| l.split_once("] Rep: ").map(|(_, text)| text))?;
    let latest = latest.split('"').next().unwrap_or(latest).trim();
    let mut deals: Vec<String> = Vec::new();
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            let name = pair[0].trim_matches(|c: char| !c.is_alphanumeric());
            if pair[1].starts_with("Renewal")
                && name.starts_with(char::is_uppercase)
                && !deals.iter().any(|d| d.starts_with(name))
            {
                deals.push(format!("{name} Renewal"));
            }
        }
    }
    let entities: Vec<Value> = deals
        .iter()
        .map(|d| json!({"entity_type": "deal", "name": d}))
        .collect();
    Some(
        json!({"summary": format!("The rep's latest word: {latest}"), "entities": entities})
            .to_string(),
    )
}
