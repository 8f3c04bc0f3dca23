//! The loopback's OTLP/HTTP receiver: `POST /v1/traces` takes the protobuf
//! `ExportTraceServiceRequest` Keel's exporter sends and keeps its spans' names, which
//! `/_loopback/spans` lists. It lets the examples and the demo export to the same local server
//! that answers their model calls; the export tests run against a real receiver (Phoenix).

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::Loopback;

impl Loopback {
    /// Takes one export: 200 with an empty `ExportTraceServiceResponse`, or 400 for a body
    /// that is not one.
    pub(super) fn traces(&self, body: &Bytes) -> Response {
        let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
            return status(StatusCode::BAD_REQUEST);
        };
        let names = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone());
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.spans.extend(names);
        status(StatusCode::OK)
    }

    /// The names of the spans exported to it so far, in arrival order.
    pub fn spans(&self) -> Vec<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.spans.clone()
    }
}

fn status(code: StatusCode) -> Response {
    Response::builder()
        .status(code)
        .header("content-type", "application/x-protobuf")
        .body(Body::empty())
        .unwrap_or_default()
}
