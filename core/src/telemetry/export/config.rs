//! What OTLP export does, decided once: options from the caller, then the standard
//! `OTEL_*` environment variables, then the OpenTelemetry defaults.
//!
//! Precedence follows the OpenTelemetry specification: an option beats the traces-specific
//! variable (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), which beats the general one
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`), which beats the default (`http://localhost:4318` over
//! HTTP/protobuf, `http://localhost:4317` over gRPC). A bad option is
//! [`Error::InvalidInput`] naming it; a bad environment variable is logged and ignored, as
//! OpenTelemetry SDKs do, so a host's setting for another SDK never stops Keel connecting.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The default HTTP/protobuf collector (`/v1/traces` is appended).
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";
/// The default gRPC collector.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
/// How long one export may take before it counts as failed (OpenTelemetry's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Spans (and the log events waiting for their span) the export queue holds before it drops.
pub const DEFAULT_CAPACITY: usize = 20_000;

/// How Keel's spans leave the process over OTLP. Deserializes from the bindings' `otlp`
/// option (`keel.connect(url, otlp={...})`, `connect(url, { otlp: {...} })`); every field is
/// optional and falls back to its `OTEL_*` variable, then to the OpenTelemetry default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpOptions {
    /// `true` exports, `false` never does; unset exports when an endpoint is configured (the
    /// option or `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`) and `OTEL_SDK_DISABLED` is not `true`.
    pub enabled: Option<bool>,
    /// The collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is appended
    /// for HTTP).
    #[serde(deserialize_with = "endpoint")]
    pub endpoint: Option<String>,
    /// `http/protobuf` (default) or `grpc`, as `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub protocol: Option<Protocol>,
    /// Headers sent with each export (an API key, a project), merged over
    /// `OTEL_EXPORTER_OTLP_HEADERS`. Never logged.
    pub headers: BTreeMap<String, String>,
    /// The resource's `service.name`, as `OTEL_SERVICE_NAME`; unset, each logger's service.
    pub service_name: Option<String>,
    /// More resource attributes, merged over `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource_attributes: BTreeMap<String, String>,
    /// `always_on`, `always_off`, `traceidratio`, `parentbased_always_on` (default),
    /// `parentbased_always_off` or `parentbased_traceidratio`, as `OTEL_TRACES_SAMPLER`.
    #[serde(deserialize_with = "sampler")]
    pub sampler: Option<String>,
    /// The ratio of a `traceidratio` sampler, 0 to 1 (default 1), as `OTEL_TRACES_SAMPLER_ARG`.
    #[serde(deserialize_with = "ratio")]
    pub sampler_arg: Option<f64>,
    /// Seconds one export may take (default 10), as `OTEL_EXPORTER_OTLP_TIMEOUT` (in ms there).
    #[serde(deserialize_with = "crate::options::de::opt_secs")]
    pub timeout: Option<Duration>,
    /// Keep writing `system_logs` beside the export (default `true`); `false` exports instead.
    pub system_logs: Option<bool>,
    /// Spans the export queue holds before new ones are dropped and counted (default 20,000).
    #[serde(deserialize_with = "at_least_one")]
    pub capacity: Option<usize>,
    /// Record LLM calls' prompts and completions on their spans (`gen_ai.input.messages`,
    /// `gen_ai.system_instructions`, `gen_ai.output.messages`), redacted as log metadata is.
    /// Off by default, as `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` is.
    pub capture_content: Option<bool>,
}

/// The wire an exporter speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// OTLP over HTTP with protobuf bodies (`http/protobuf`).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP over gRPC (`grpc`).
    #[serde(rename = "grpc")]
    Grpc,
}

/// Which traces are exported. Keel decides per trace id, so a trace is exported whole or not
/// at all; a parent-based sampler treats every Keel span as sampled by its parent, because
/// Keel records every span it starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ratio")]
pub enum Sampling {
    /// Every trace.
    AlwaysOn,
    /// No trace.
    AlwaysOff,
    /// The fraction of trace ids given.
    TraceIdRatio(f64),
}

/// Header values, kept out of `Debug` and serialized output (only the names show) so a key
/// never reaches a log or a report.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Headers(pub BTreeMap<String, String>);

impl Serialize for Headers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.keys())
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, super::super::REDACTED)))
            .finish()
    }
}

/// Export settings with every default applied: what [`super::Exporter::start`] runs with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportConfig {
    /// The wire.
    pub protocol: Protocol,
    /// The full URL spans are sent to.
    pub endpoint: String,
    /// Headers sent with each export; reports show their names only (`header_names`).
    #[serde(rename = "header_names")]
    pub headers: Headers,
    /// `service.name` for every span, or `None` for each logger's own service.
    pub service_name: Option<String>,
    /// Resource attributes besides `service.name`.
    pub resource_attributes: BTreeMap<String, String>,
    /// Which traces are exported.
    pub sampling: Sampling,
    /// How long one export may take.
    #[serde(rename = "timeout_ms", serialize_with = "millis")]
    pub timeout: Duration,
    /// Whether `system_logs` is still written.
    pub system_logs: bool,
    /// Spans the queue holds.
    pub capacity: usize,
    /// Whether LLM calls record their prompts and completions.
    pub capture_content: bool,
}

impl OtlpOptions {
    /// The export these options ask for, with `env` read for what they leave unset
    /// ([`OtlpOptions::from_process`] reads the process environment); `None` when export is
    /// off.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option (`otlp.protocol`, …) for a bad value.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<ExportConfig>> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let either = |traces: &str, general: &str| var(traces).or_else(|| var(general));
        let configured = self.endpoint.is_some()
            || var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
            || var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
        let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true")
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none");
        match self.enabled {
            Some(false) => return Ok(None),
            None if disabled || !configured => return Ok(None),
            _ => {}
        }

        let protocol = match self.protocol {
            Some(p) => p,
            None => either(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            )
            .and_then(|p| env_value("OTEL_EXPORTER_OTLP_PROTOCOL", &p, parse_protocol(&p)))
            .unwrap_or(Protocol::HttpProtobuf),
        };
        let endpoint = match (&self.endpoint, var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
            (Some(base), _) => signal_url(base, protocol)
                .ok_or_else(|| Error::invalid_input("otlp.endpoint", "must be an http(s) URL"))?,
            (None, Some(exact)) if valid_url(&exact) => exact,
            (None, _) => var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .and_then(|base| {
                    let url = signal_url(&base, protocol);
                    env_value("OTEL_EXPORTER_OTLP_ENDPOINT", &base, url)
                })
                .unwrap_or_else(|| default_url(protocol)),
        };

        let mut headers = either(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        )
        .map(|raw| parse_pairs(&raw))
        .unwrap_or_default();
        headers.extend(self.headers.clone());
        let mut resource_attributes = var("OTEL_RESOURCE_ATTRIBUTES")
            .map(|raw| parse_pairs(&raw))
            .unwrap_or_default();
        resource_attributes.extend(self.resource_attributes.clone());
        let service_name = self
            .service_name
            .clone()
            .or_else(|| var("OTEL_SERVICE_NAME"))
            .or_else(|| resource_attributes.remove("service.name"));
        resource_attributes.remove("service.name");

        let sampling = self.sampling(&var)?;
        let timeout = match self.timeout {
            Some(t) => t,
            None => either(
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            )
            .and_then(|ms| {
                let parsed = ms.trim().parse::<u64>().ok().filter(|ms| *ms > 0);
                env_value("OTEL_EXPORTER_OTLP_TIMEOUT", &ms, parsed)
            })
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis),
        };
        if timeout.is_zero() {
            return Err(Error::invalid_input(
                "otlp.timeout",
                "must be greater than zero",
            ));
        }
        Ok(Some(ExportConfig {
            protocol,
            endpoint,
            headers: Headers(headers),
            service_name,
            resource_attributes,
            sampling,
            timeout,
            system_logs: self.system_logs.unwrap_or(true),
            capacity: self.capacity.unwrap_or(DEFAULT_CAPACITY),
            capture_content: self.capture_content.unwrap_or_else(|| {
                var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
            }),
        }))
    }

    /// [`OtlpOptions::resolve`] against the process environment.
    ///
    /// # Errors
    /// As [`OtlpOptions::resolve`].
    pub fn from_process(&self) -> Result<Option<ExportConfig>> {
        self.resolve(&|name| std::env::var(name).ok())
    }

    fn sampling(&self, var: &dyn Fn(&str) -> Option<String>) -> Result<Sampling> {
        let from_option = self.sampler.is_some();
        let name = self
            .sampler
            .clone()
            .or_else(|| var("OTEL_TRACES_SAMPLER"))
            .unwrap_or_else(|| "parentbased_always_on".to_owned());
        let arg = match self.sampler_arg {
            Some(ratio) if (0.0..=1.0).contains(&ratio) => Some(ratio),
            Some(_) => return Err(Error::invalid_input("otlp.sampler_arg", RATIO)),
            None => var("OTEL_TRACES_SAMPLER_ARG").and_then(|raw| {
                let ratio = raw.trim().parse::<f64>().ok();
                let ratio = ratio.filter(|r| (0.0..=1.0).contains(r));
                env_value("OTEL_TRACES_SAMPLER_ARG", &raw, ratio)
            }),
        };
        match Sampling::named(&name, arg.unwrap_or(1.0)) {
            Some(s) => Ok(s),
            None if from_option => Err(Error::invalid_input("otlp.sampler", SAMPLERS)),
            None => Ok(env_value("OTEL_TRACES_SAMPLER", &name, None).unwrap_or(Sampling::AlwaysOn)),
        }
    }
}

/// What a bindings' `otlp` options object (spelt in `case`) and the environment configure:
/// `env` when given (an object of variable names and values, for tests and "what would this
/// do" checks), else the process environment. `None` when export is off. Behind
/// `keel.otlp_config()` and `otlpConfig()`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the option (`otlp.samplerArg` in JavaScript) or `env`.
pub fn describe(
    options: Option<serde_json::Value>,
    case: crate::options::Case,
    env: Option<serde_json::Value>,
) -> Result<Option<ExportConfig>> {
    let options: OtlpOptions = crate::options::from_value(options, case, "otlp")?;
    match env {
        None | Some(serde_json::Value::Null) => options.from_process(),
        Some(serde_json::Value::Object(vars)) => {
            let mut names = BTreeMap::new();
            for (name, value) in vars {
                let serde_json::Value::String(value) = value else {
                    return Err(Error::invalid_input(
                        format!("env.{name}"),
                        "must be a string",
                    ));
                };
                names.insert(name, value);
            }
            options.resolve(&|name| names.get(name).cloned())
        }
        Some(_) => Err(Error::invalid_input("env", "must be an object of strings")),
    }
}

impl Sampling {
    /// The sampler an `OTEL_TRACES_SAMPLER` name stands for, with `ratio` for the ratio ones;
    /// `None` for a name Keel does not know. A parent-based sampler is its root sampler: Keel
    /// records every span it starts, so a parent is always sampled.
    fn named(name: &str, ratio: f64) -> Option<Self> {
        match name.trim() {
            "always_on" | "parentbased_always_on" => Some(Sampling::AlwaysOn),
            "always_off" | "parentbased_always_off" => Some(Sampling::AlwaysOff),
            "traceidratio" | "parentbased_traceidratio" => Some(Sampling::TraceIdRatio(ratio)),
            _ => None,
        }
    }

    /// Whether the trace `trace_id` is exported: the OpenTelemetry `TraceIdRatioBased` rule on
    /// the id's low 64 bits, so every process sampling one trace agrees.
    pub fn keeps(self, trace_id: u128) -> bool {
        match self {
            Sampling::AlwaysOn => true,
            Sampling::AlwaysOff => false,
            Sampling::TraceIdRatio(ratio) if ratio >= 1.0 => true,
            Sampling::TraceIdRatio(ratio) => {
                let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
                ((trace_id as u64) >> 1) < bound
            }
        }
    }
}

const SAMPLERS: &str = "must be always_on, always_off, traceidratio or their parentbased_ forms";
const RATIO: &str = "must be from 0 to 1";

fn endpoint<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    let url = String::deserialize(d)?;
    if valid_url(&url) {
        Ok(Some(url))
    } else {
        Err(serde::de::Error::custom("must be an http(s) URL"))
    }
}

fn sampler<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    let name = String::deserialize(d)?;
    if Sampling::named(&name, 1.0).is_some() {
        Ok(Some(name))
    } else {
        Err(serde::de::Error::custom(SAMPLERS))
    }
}

fn ratio<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<f64>, D::Error> {
    let ratio = f64::deserialize(d)?;
    if (0.0..=1.0).contains(&ratio) {
        Ok(Some(ratio))
    } else {
        Err(serde::de::Error::custom(RATIO))
    }
}

fn at_least_one<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<usize>, D::Error> {
    crate::options::de::at_least_one(d).map(Some)
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A value read from `var`, or a warning and `None` when it could not be used.
fn env_value<T>(var: &str, raw: &str, parsed: Option<T>) -> Option<T> {
    if parsed.is_none() {
        tracing::warn!(
            variable = var,
            value = raw,
            "keel otlp: ignoring an unusable value"
        );
    }
    parsed
}

/// A protocol by the name the option takes (its serde name), as the variable spells it.
fn parse_protocol(raw: &str) -> Option<Protocol> {
    serde_json::from_value(serde_json::Value::String(raw.trim().to_owned())).ok()
}

fn valid_url(raw: &str) -> bool {
    url::Url::parse(raw.trim()).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// The traces URL of a base endpoint: `/v1/traces` appended for HTTP, as the specification
/// asks of `OTEL_EXPORTER_OTLP_ENDPOINT`; gRPC takes the base as is.
fn signal_url(base: &str, protocol: Protocol) -> Option<String> {
    let base = base.trim();
    if !valid_url(base) {
        return None;
    }
    Some(match protocol {
        Protocol::Grpc => base.to_owned(),
        Protocol::HttpProtobuf if base.ends_with("/v1/traces") => base.to_owned(),
        Protocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
    })
}

fn default_url(protocol: Protocol) -> String {
    match protocol {
        Protocol::HttpProtobuf => format!("{DEFAULT_HTTP_ENDPOINT}/v1/traces"),
        Protocol::Grpc => DEFAULT_GRPC_ENDPOINT.to_owned(),
    }
}

/// `key1=value1,key2=value2` with percent-encoded values (W3C Baggage style), as the
/// `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES` variables are written. Pairs
/// without `=` or with an empty key are skipped.
pub fn parse_pairs(raw: &str) -> BTreeMap<String, String> {
    raw.split(',')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            (!key.is_empty()).then(|| (key.to_owned(), percent_decode(value.trim())))
        })
        .collect()
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
