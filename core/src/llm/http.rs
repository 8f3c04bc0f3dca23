//! One attempt over HTTP: the provider's URL and headers, the body from [`super::wire`], the
//! reply or the classified fault. Keys travel in headers only (never in a URL), and errors are
//! built without the URL, so a key cannot reach a log, an error or a span.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::options::Endpoint;
use super::transport::{self, TransportRequest};
use super::wire::{Fault, Prompt, Reply, Wire, anthropic, gemini, openai};
use crate::fault::FailureKind;

/// The request of one attempt.
pub(crate) fn request(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    prompt: &Prompt<'_>,
) -> reqwest::RequestBuilder {
    let url = match endpoint.wire {
        Wire::Anthropic => format!("{}/v1/messages", endpoint.base_url),
        Wire::OpenAi => format!("{}/chat/completions", endpoint.base_url),
        Wire::Gemini => {
            let method = if prompt.stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            format!(
                "{}/v1beta/models/{}:{method}",
                endpoint.base_url, prompt.model
            )
        }
    };
    authorized(http.post(url).json(&body(endpoint.wire, prompt)), endpoint)
}

/// `builder` with the endpoint's key (in the header its wire expects) and extra headers.
pub(crate) fn authorized(
    mut builder: reqwest::RequestBuilder,
    endpoint: &Endpoint,
) -> reqwest::RequestBuilder {
    if endpoint.wire == Wire::Anthropic {
        builder = builder.header("anthropic-version", anthropic::VERSION);
    }
    if let Some(key) = &endpoint.api_key {
        builder = match (&endpoint.key_header, endpoint.wire) {
            (Some(header), _) => builder.header(header.as_str(), key.as_str()),
            (None, Wire::Anthropic) => builder.header("x-api-key", key.as_str()),
            (None, Wire::Gemini) => builder.header("x-goog-api-key", key.as_str()),
            (None, Wire::OpenAi) => builder.bearer_auth(key),
        };
    }
    for (name, value) in &endpoint.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
}

/// Sends a whole (non-streaming) attempt and reads its reply.
pub(crate) async fn complete(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    prompt: &Prompt<'_>,
) -> Result<Reply, Fault> {
    if let Some(transport) = &endpoint.transport {
        let request = transport_request(endpoint, prompt);
        return transport::send(transport, endpoint.wire, request, |body| {
            read_reply(endpoint.wire, body)
        })
        .await;
    }
    exchange(request(http, endpoint, prompt), endpoint.wire).await
}

/// What a transport sends for a whole (non-streaming) attempt.
pub(crate) fn transport_request(endpoint: &Endpoint, prompt: &Prompt<'_>) -> TransportRequest {
    TransportRequest {
        provider: endpoint.provider.to_owned(),
        model: prompt.model.to_owned(),
        operation: "chat",
        body: body(endpoint.wire, prompt),
    }
}

/// Sends a built (non-streaming) request and reads its reply on `wire`.
pub(crate) async fn exchange(request: reqwest::RequestBuilder, wire: Wire) -> Result<Reply, Fault> {
    let response = request.send().await.map_err(transport_fault)?;
    let status = response.status().as_u16();
    let retry_after = retry_after_ms(response.headers());
    let bytes = response.bytes().await.map_err(transport_fault)?;
    if !(200..300).contains(&status) {
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut fault = error_fault(wire, status, &body);
        fault.retry_after_ms = retry_after;
        return Err(fault);
    }
    let body: Value =
        serde_json::from_slice(&bytes).map_err(|_| Fault::malformed("the body is not JSON"))?;
    let mut result = read_reply(wire, &body);
    if let Err(fault) = &mut result {
        fault.status = Some(status);
    }
    result
}

/// A whole reply's body read on `wire`.
pub(crate) fn read_reply(wire: Wire, body: &Value) -> Result<Reply, Fault> {
    match wire {
        Wire::Anthropic => anthropic::reply(body),
        Wire::OpenAi => openai::reply(body),
        Wire::Gemini => gemini::reply(body),
    }
}

/// The request body of `prompt` on `wire`.
pub(crate) fn body(wire: Wire, prompt: &Prompt<'_>) -> Value {
    match wire {
        Wire::Anthropic => anthropic::body(prompt),
        Wire::OpenAi => openai::body(prompt),
        Wire::Gemini => gemini::body(prompt),
    }
}

/// The fault of an error reply on `wire`.
pub(crate) fn error_fault(wire: Wire, status: u16, body: &Value) -> Fault {
    match wire {
        Wire::Anthropic => anthropic::fault(status, body),
        Wire::OpenAi => openai::fault(status, body),
        Wire::Gemini => gemini::fault(status, body),
    }
}

/// A failure before a reply: a timeout, or a connection that failed or broke.
pub(crate) fn transport_fault(err: reqwest::Error) -> Fault {
    let kind = if err.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Connection
    };
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    Fault::new(kind, text)
}

/// `Retry-After` (seconds or an HTTP date) or `retry-after-ms`, in milliseconds.
pub(crate) fn retry_after_ms(headers: &HeaderMap) -> Option<u64> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(ms.max(0.0) as u64);
    }
    parse_retry_after(text("retry-after")?)
}

/// A `Retry-After` value (seconds, or an HTTP date), in milliseconds from now.
pub(crate) fn parse_retry_after(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return Some((secs.max(0.0) * 1000.0) as u64);
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.num_milliseconds().max(0) as u64)
}

/// `attempt`'s outcome, or a timeout fault when it takes longer than `limit`.
pub(crate) async fn within<T>(
    limit: Duration,
    attempt: impl std::future::Future<Output = Result<T, Fault>>,
) -> Result<T, Fault> {
    tokio::time::timeout(limit, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(Fault::new(
                FailureKind::Timeout,
                format!("no reply within {} ms", limit.as_millis()),
            ))
        })
}

/// What is left of `deadline` from now, at most `limit`.
pub(crate) fn budget(limit: Duration, deadline: tokio::time::Instant) -> Duration {
    limit.min(deadline.saturating_duration_since(tokio::time::Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after_ms(&h), Some(2000));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after_ms(&h), Some(150));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after_ms(&h), Some(0));
        assert_eq!(retry_after_ms(&HeaderMap::new()), None);
    }
}
