//! The loopback provider's streamed replies: each wire's server-sent events (preamble, one
//! content event per chunk, closing events or an error), paced and ended as scripted.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};

use super::{StreamEnd, USAGE, WireKind};

/// A streamed reply in the wire's server-sent events.
pub fn stream(
    wire: WireKind,
    model: &str,
    chunks: Vec<String>,
    end: StreamEnd,
    gap: Duration,
) -> Response {
    let (preamble, content, closing, error) = frames(wire, model, &chunks);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let content = content.into_iter().map(|frame| (gap, frame));
        for (pause, frame) in preamble
            .into_iter()
            .map(|f| (Duration::ZERO, f))
            .chain(content)
        {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            if tx.send(Ok(Bytes::from(frame))).await.is_err() {
                return;
            }
        }
        match end {
            StreamEnd::Complete => {
                for frame in closing {
                    let _ = tx.send(Ok(Bytes::from(frame))).await;
                }
            }
            StreamEnd::Stall(wait) => tokio::time::sleep(wait).await,
            StreamEnd::Reset => {
                // Let what was sent leave first: a reset drops whatever is still buffered.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = tx
                    .send(Err(std::io::Error::other("connection reset")))
                    .await;
            }
            StreamEnd::Error => {
                let _ = tx.send(Ok(Bytes::from(error))).await;
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Response::new(Body::from_stream(body));
    response
        .headers_mut()
        .insert("content-type", "text/event-stream".parse().expect("header"));
    response
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// The wire's preamble, content, closing and error frames.
fn frames(
    wire: WireKind,
    model: &str,
    chunks: &[String],
) -> (Vec<String>, Vec<String>, Vec<String>, String) {
    let (input, output) = USAGE;
    match wire {
        WireKind::Anthropic => {
            let preamble = vec![
                sse(
                    Some("message_start"),
                    &json!({"type": "message_start", "message": {
                    "id": "msg_loopback", "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": null, "usage": {"input_tokens": input, "output_tokens": 1}}}),
                ),
                sse(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}}),
                ),
                sse(Some("ping"), &json!({"type": "ping"})),
            ];
            let content = chunks.iter().map(|c| sse(Some("content_block_delta"), &json!({
                "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": c}}))).collect();
            let closing = vec![
                sse(
                    Some("content_block_stop"),
                    &json!({"type": "content_block_stop", "index": 0}),
                ),
                sse(
                    Some("message_delta"),
                    &json!({"type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": output}}),
                ),
                sse(Some("message_stop"), &json!({"type": "message_stop"})),
            ];
            let error = sse(
                Some("error"),
                &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            );
            (preamble, content, closing, error)
        }
        WireKind::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-loopback",
                "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            let preamble = vec![sse(
                None,
                &chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            )];
            let content = chunks
                .iter()
                .map(|c| sse(None, &chunk(json!({"content": c}), Value::Null)))
                .collect();
            let closing = vec![
                sse(None, &chunk(json!({}), json!("stop"))),
                sse(
                    None,
                    &json!({"id": "chatcmpl-loopback", "object": "chat.completion.chunk", "model": model,
                    "choices": [], "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}}),
                ),
                "data: [DONE]\n\n".to_owned(),
            ];
            let error = sse(
                None,
                &json!({"error": {"message": "The server had an error", "type": "server_error", "code": null}}),
            );
            (preamble, content, closing, error)
        }
        WireKind::Gemini => {
            let content = chunks.iter().map(|c| sse(None, &json!({"candidates": [{"content": {"role": "model",
                "parts": [{"text": c}]}, "index": 0}], "usageMetadata": {"promptTokenCount": input}, "modelVersion": model}))).collect();
            let closing = vec![sse(
                None,
                &json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]},
                "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": input,
                "candidatesTokenCount": output, "totalTokenCount": input + output}, "modelVersion": model}),
            )];
            let error = sse(
                None,
                &json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}),
            );
            (Vec::new(), content, closing, error)
        }
        // Slack does not stream.
        WireKind::Slack => (Vec::new(), Vec::new(), Vec::new(), String::new()),
    }
}
