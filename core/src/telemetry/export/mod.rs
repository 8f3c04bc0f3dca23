//! OTLP export: Keel's spans sent to Langfuse, Arize Phoenix, Jaeger, Grafana Tempo or an
//! OpenTelemetry Collector, beside `system_logs` or instead of it.
//!
//! The log writer hands each batch it takes to the [`Exporter`] (on its own task, never on a
//! caller's path), so logging costs a caller what it did before. The exporter's queue is
//! bounded: past [`ExportConfig::capacity`] spans a batch is dropped and counted, as is every
//! span of an export that fails (the receiver is down, refuses, or times out). After a failure
//! the next export is tried [`RETRY_AFTER`] later, the batches in between dropped and counted,
//! so a flush never waits out one timeout per queued batch; export resumes by itself when the
//! receiver is back. The encoding and
//! the wire are the maintained `opentelemetry-otlp` crate's (HTTP/protobuf over the Keel
//! handle's reqwest client, or gRPC over tonic).

mod config;
mod host;
mod http;
mod spans;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanExporter as _;
use tokio::sync::Notify;

pub use config::{
    DEFAULT_CAPACITY, DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT, DEFAULT_TIMEOUT, ExportConfig,
    Headers, OtlpOptions, Protocol, Sampling, describe, parse_pairs,
};
pub use host::{current_traceparent, span_context};
pub use spans::{MAX_ATTRIBUTES, MAX_EVENTS};

use super::event::StoredEvent;
use crate::error::{Error, Result};

/// Counters of an exporter since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ExportStats {
    /// Spans the receiver accepted.
    pub exported: u64,
    /// Spans and span events dropped: the queue was full, an export failed, or a log event's
    /// span never stopped.
    pub dropped: u64,
    /// Exports that failed.
    pub failed_exports: u64,
}

/// How long after a failed export the next one is tried; batches in between are dropped.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Shared {
    queue: std::sync::Mutex<VecDeque<Vec<StoredEvent>>>,
    queued: AtomicUsize,
    offered: AtomicU64,
    done: AtomicU64,
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    wake: Notify,
    settled: Notify,
    stopped: AtomicBool,
}

/// Handle on the export task; cheap to clone. The task ends once every handle is dropped and
/// its queue is empty.
#[derive(Clone)]
pub struct Exporter {
    shared: Arc<Shared>,
    config: Arc<ExportConfig>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Exporter {
    /// Starts an export task on the current tokio runtime; HTTP exports go through `client`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `otlp.endpoint`) when the exporter cannot be built for
    /// the endpoint.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn start(config: ExportConfig, client: reqwest::Client) -> Result<Self> {
        let exporter = build(&config, client)?;
        let shared = Arc::new(Shared::default());
        let config = Arc::new(config);
        tokio::spawn(run(shared.clone(), config.clone(), exporter));
        Ok(Self { shared, config })
    }

    /// The settings it runs with.
    pub fn config(&self) -> &ExportConfig {
        &self.config
    }

    /// Queues a batch the log writer took; drops and counts it when the queue is full.
    pub fn offer(&self, batch: &[StoredEvent]) {
        let shared = &*self.shared;
        let queued = shared.queued.load(Ordering::Acquire);
        if queued + batch.len() > self.config.capacity {
            shared
                .dropped
                .fetch_add(batch.len() as u64, Ordering::AcqRel);
            return;
        }
        shared.queued.fetch_add(batch.len(), Ordering::AcqRel);
        shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(batch.to_vec());
        shared.offered.fetch_add(1, Ordering::AcqRel);
        shared.wake.notify_one();
    }

    /// Waits until every batch offered before the call is exported or counted as dropped.
    pub async fn flush(&self) -> ExportStats {
        let target = self.shared.offered.load(Ordering::Acquire);
        loop {
            let settled = self.shared.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.shared.done.load(Ordering::Acquire) >= target
                || self.shared.stopped.load(Ordering::Acquire)
            {
                return self.stats();
            }
            settled.await;
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> ExportStats {
        let s = &*self.shared;
        ExportStats {
            exported: s.exported.load(Ordering::Acquire),
            dropped: s.dropped.load(Ordering::Acquire),
            failed_exports: s.failed.load(Ordering::Acquire),
        }
    }
}

fn build(
    config: &ExportConfig,
    client: reqwest::Client,
) -> Result<opentelemetry_otlp::SpanExporter> {
    let builder = opentelemetry_otlp::SpanExporter::builder();
    let built = match config.protocol {
        Protocol::HttpProtobuf => builder
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(config.endpoint.clone())
            .with_timeout(config.timeout)
            .with_headers(config.headers.0.clone().into_iter().collect())
            .with_http_client(http::Reqwest {
                client,
                timeout: config.timeout,
            })
            .build(),
        Protocol::Grpc => {
            let mut headers = reqwest::header::HeaderMap::new();
            for (name, value) in &config.headers.0 {
                if let (Ok(name), Ok(value)) = (
                    reqwest::header::HeaderName::try_from(name.as_str()),
                    reqwest::header::HeaderValue::try_from(value.as_str()),
                ) {
                    headers.insert(name, value);
                }
            }
            let metadata =
                opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers);
            let mut builder = builder
                .with_tonic()
                .with_endpoint(config.endpoint.clone())
                .with_timeout(config.timeout)
                .with_metadata(metadata);
            if config.endpoint.starts_with("https:") {
                let tls = opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new()
                    .with_enabled_roots();
                builder = builder.with_tls_config(tls);
            }
            builder.build()
        }
    };
    built.map_err(|e| Error::invalid_input("otlp.endpoint", e.to_string()))
}

/// The resource spans of `service` travel under.
fn resource(config: &ExportConfig, service: &str) -> Resource {
    let name = config.service_name.as_deref().unwrap_or(service).to_owned();
    let attributes = config
        .resource_attributes
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()));
    Resource::builder_empty()
        .with_attributes(attributes)
        .with_attributes([
            KeyValue::new("telemetry.sdk.name", "keel"),
            KeyValue::new("telemetry.sdk.language", "rust"),
            KeyValue::new("telemetry.sdk.version", crate::VERSION),
        ])
        .with_service_name(name)
        .build()
}

async fn run(
    shared: Arc<Shared>,
    config: Arc<ExportConfig>,
    mut exporter: opentelemetry_otlp::SpanExporter,
) {
    let mut assembler = spans::Assembler::new(config.capacity, config.sampling);
    let mut resources: HashMap<String, Resource> = HashMap::new();
    let mut failing = false;
    // While the receiver is failing, one export is tried per `RETRY_AFTER` and the batches
    // between are dropped at once, so a flush never waits out a timeout per queued batch.
    let mut next_try = tokio::time::Instant::now();
    loop {
        let next = shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        let Some(batch) = next else {
            // Every handle is gone and all is exported.
            if Arc::strong_count(&shared) == 1 {
                shared.stopped.store(true, Ordering::Release);
                shared.settled.notify_waiters();
                return;
            }
            tokio::select! {
                () = shared.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        };
        shared.queued.fetch_sub(batch.len(), Ordering::AcqRel);
        let assembled = assembler.assemble(batch);
        shared
            .dropped
            .fetch_add(assembled.dropped, Ordering::AcqRel);
        for (service, spans) in assembled.spans {
            let resource = resources
                .entry(service)
                .or_insert_with_key(|service| resource(&config, service));
            let n = spans.len() as u64;
            if failing && tokio::time::Instant::now() < next_try {
                shared.dropped.fetch_add(n, Ordering::AcqRel);
                continue;
            }
            exporter.set_resource(resource);
            let result = tokio::time::timeout(config.timeout, exporter.export(spans)).await;
            match result {
                Ok(Ok(())) => {
                    shared.exported.fetch_add(n, Ordering::AcqRel);
                    if std::mem::take(&mut failing) {
                        tracing::info!("keel otlp: exporting again");
                    }
                }
                failure => {
                    shared.dropped.fetch_add(n, Ordering::AcqRel);
                    shared.failed.fetch_add(1, Ordering::AcqRel);
                    next_try = tokio::time::Instant::now() + RETRY_AFTER;
                    if !std::mem::replace(&mut failing, true) {
                        let error = match failure {
                            Ok(Err(e)) => e.to_string(),
                            _ => "timed out".to_owned(),
                        };
                        tracing::warn!(%error, endpoint = %config.endpoint, "keel otlp: export failed; dropping spans until it succeeds");
                    }
                }
            }
        }
        shared.done.fetch_add(1, Ordering::AcqRel);
        shared.settled.notify_waiters();
    }
}
