//! The HTTP client the OTLP/HTTP exporter sends with: the Keel handle's own reqwest client
//! (rustls, pooled), so export opens no second connection pool and brings no second TLS stack.

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// Most of a collector's answer Keel reads (its body is a short status message).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// reqwest as `opentelemetry_http` asks for a client.
#[derive(Debug, Clone)]
pub(super) struct Reqwest {
    pub(super) client: reqwest::Client,
    pub(super) timeout: Duration,
}

#[async_trait::async_trait]
impl HttpClient for Reqwest {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let reply = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .timeout(self.timeout)
            .send()
            .await?;
        let status = reply.status();
        let headers = reply.headers().clone();
        let mut body = reply.bytes().await?;
        body.truncate(MAX_RESPONSE_BYTES);
        let mut response = Response::builder().status(status).body(body)?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
