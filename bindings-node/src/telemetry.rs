//! `createLogger`, `Keel.createLogger`, `Logger` and `Span` (core: `keel::telemetry`), in the
//! calling shape of the original `_shared/logger.ts`.
//!
//! Arguments arrive as raw JavaScript values and are converted here, never thrown on. Metadata
//! goes through the engine's `JSON.stringify` (Dates become ISO strings, functions and symbols
//! are left out); when that throws (a cycle, a BigInt, a throwing getter) the object is walked
//! instead with a depth limit, so cycles end, and any exception is cleared.

use napi::bindgen_prelude::{JsObjectValue, Object, ToNapiValue, Unknown};
use std::time::Duration;

use napi::{Env, JsValue, ValueType, sys};
use napi_derive::napi;
use serde_json::{Map, Value};

use keel::options::Case;
use keel::telemetry::{self, Level, LoggerOptions};

use crate::error::{Arg, Outcome, clear_exception, guard, run};
use crate::json::{Json, Numbers, engine_or, object_to_map, opt_text, stringify, text, to_json};
use crate::options::record;

/// Metadata walked value by value, for what `JSON.stringify` cannot take.
fn walked(value: &Unknown<'_>) -> Map<String, Value> {
    if value.is_array().unwrap_or(false) {
        return to_json(value, 1, Numbers::NonFiniteAsNull)
            .map(|v| Map::from_iter([("value".to_owned(), v)]))
            .unwrap_or_default();
    }
    // SAFETY: callers pass objects only.
    match unsafe { value.cast::<Object>() } {
        Ok(object) => object_to_map(&object, 0, Numbers::NonFiniteAsNull),
        Err(_) => Map::new(),
    }
}

/// Metadata as given, parsed here: an object is taken as is, anything else is stored under
/// `value`. For span and option objects; log calls use [`log_metadata`].
fn metadata(value: Option<&Unknown<'_>>) -> Map<String, Value> {
    let Some(value) = value else {
        return Map::new();
    };
    match value.get_type() {
        Ok(ValueType::Undefined) | Ok(ValueType::Null) => Map::new(),
        Ok(ValueType::Object) => engine_or(value, walked),
        _ => scalar(value),
    }
}

fn scalar(value: &Unknown<'_>) -> Map<String, Value> {
    to_json(value, 1, Numbers::NonFiniteAsNull)
        .map(|v| Map::from_iter([("value".to_owned(), v)]))
        .unwrap_or_default()
}

/// A log call's or a span's metadata: the engine's JSON text, copied now and parsed by the
/// writer, so the caller pays for one `JSON.stringify` and one string copy.
pub(crate) fn log_metadata(value: Option<&Unknown<'_>>) -> telemetry::Metadata {
    let Some(value) = value else {
        return telemetry::Metadata::default();
    };
    match value.get_type() {
        Ok(ValueType::Undefined) | Ok(ValueType::Null) => telemetry::Metadata::default(),
        Ok(ValueType::Object) => match stringify(value) {
            Some(text) => telemetry::Metadata::from_json(text),
            None => telemetry::Metadata::Fields(walked(value)),
        },
        _ => telemetry::Metadata::Fields(scalar(value)),
    }
}

/// The message of whatever was passed as an error: an `Error`'s or object's `message`, a
/// string, or its string form (never `[object Object]` for objects with a message).
fn error_message(value: Option<&Unknown<'_>>) -> Option<String> {
    let value = value?;
    match value.get_type().ok()? {
        ValueType::Undefined | ValueType::Null => None,
        ValueType::Object => {
            // SAFETY: the type was checked just above.
            let object: Object<'_> = unsafe { value.cast() }.ok()?;
            match object.get_named_property::<Unknown>("message") {
                Ok(message) if matches!(message.get_type(), Ok(ValueType::String)) => {
                    Some(text(&message))
                }
                _ => {
                    clear_exception(value.value().env);
                    Some(
                        serde_json::to_string(&object_to_map(&object, 1, Numbers::NonFiniteAsNull))
                            .unwrap_or_default(),
                    )
                }
            }
        }
        _ => Some(text(value)),
    }
}

/// A structured logger. No method throws.
#[napi]
pub struct Logger {
    inner: telemetry::Logger,
}

impl Logger {
    /// The logger `inner` (a run's, handed to its executor).
    pub(crate) fn of(inner: telemetry::Logger) -> NewLogger {
        NewLogger(Logger { inner })
    }
}

/// A logger on its way to JavaScript, given its fast `debug`, `info`, `warn` and span starts
/// ([`crate::fast::logger`]).
pub struct NewLogger(Logger);

impl ToNapiValue for NewLogger {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let core = val.0.inner.clone();
        // SAFETY: napi calls this on the JavaScript thread with the live env.
        unsafe { crate::fast::logger(env, Logger::to_napi_value(env, val.0)?, core) }
    }
}

#[napi]
impl Logger {
    /// The trace id (UUID), as the original `trace_id` getter.
    #[napi(getter, js_name = "trace_id")]
    pub fn trace_id_snake(&self) -> String {
        self.inner.trace_id().to_string()
    }

    /// The trace id (UUID).
    #[napi(getter)]
    pub fn trace_id(&self) -> String {
        self.inner.trace_id().to_string()
    }

    /// The service name.
    #[napi(getter)]
    pub fn service(&self) -> String {
        self.inner.service().to_owned()
    }

    /// A W3C `traceparent` for an outgoing request.
    #[napi]
    pub fn traceparent(&self) -> String {
        self.inner.traceparent()
    }

    /// Logs at debug.
    #[napi(ts_args_type = "action: string, metadata?: Record<string, unknown>")]
    pub fn debug(&self, action: Unknown<'_>, metadata: Option<Unknown<'_>>) {
        self.log(Level::Debug, &action, None, metadata.as_ref());
    }

    /// Logs at info.
    #[napi(ts_args_type = "action: string, metadata?: Record<string, unknown>")]
    pub fn info(&self, action: Unknown<'_>, metadata: Option<Unknown<'_>>) {
        self.log(Level::Info, &action, None, metadata.as_ref());
    }

    /// Logs at warn.
    #[napi(ts_args_type = "action: string, metadata?: Record<string, unknown>")]
    pub fn warn(&self, action: Unknown<'_>, metadata: Option<Unknown<'_>>) {
        self.log(Level::Warn, &action, None, metadata.as_ref());
    }

    /// Logs at error; `err` may be an `Error`, a string or any object with a `message`.
    #[napi(ts_args_type = "action: string, err?: unknown, metadata?: Record<string, unknown>")]
    pub fn error(
        &self,
        action: Unknown<'_>,
        err: Option<Unknown<'_>>,
        metadata: Option<Unknown<'_>>,
    ) {
        self.log(Level::Error, &action, err.as_ref(), metadata.as_ref());
    }

    /// Resolves once every event accepted before the call is written or counted as dropped.
    #[napi(
        ts_args_type = "call?: CallOptions",
        ts_return_type = "Promise<LogStats>"
    )]
    pub async fn flush(&self) -> napi::Result<Outcome<Value>> {
        run!(self.inner.sink(), |sink| Ok(record(&sink.flush().await)))
    }

    /// The writer's counters so far.
    #[napi(ts_return_type = "LogStats")]
    pub fn stats(&self) -> Value {
        record(&self.inner.sink().stats())
    }

    /// The OTLP exporter's counters, or null when this writer does not export.
    #[napi(ts_return_type = "ExportStats | null")]
    pub fn export_stats(&self) -> Value {
        record(&self.inner.sink().export_stats())
    }
}

impl Logger {
    fn log(
        &self,
        level: Level,
        action: &Unknown<'_>,
        err: Option<&Unknown<'_>>,
        metadata: Option<&Unknown<'_>>,
    ) {
        log(&self.inner, level, action, err, metadata);
    }
}

/// Starts a span and holds it in core's table; its number.
pub(crate) fn begin(
    logger: &telemetry::Logger,
    action: &Unknown<'_>,
    metadata: telemetry::Metadata,
    parent_span_id: Option<&Unknown<'_>>,
) -> f64 {
    let parent = opt_text(parent_span_id);
    hold(logger.span_with(&text(action), metadata, parent.as_deref()))
}

/// A log call's arguments as JavaScript passed them, converted and never thrown on.
pub(crate) fn log(
    logger: &telemetry::Logger,
    level: Level,
    action: &Unknown<'_>,
    err: Option<&Unknown<'_>>,
    metadata: Option<&Unknown<'_>>,
) {
    if logger.enabled(level) {
        logger.log_metadata(
            level,
            &text(action),
            error_message(err).as_deref(),
            log_metadata(metadata),
        );
    }
}

/// A span of the process-wide table ([`telemetry::spans`]): JavaScript's `Span` (in
/// `init.js`) holds its number, so making one costs no wrapped native object.
fn span(handle: f64) -> Option<telemetry::Span> {
    telemetry::spans().get(handle as u64)
}

/// Stores a started span; its number for JavaScript.
fn hold(span: telemetry::Span) -> f64 {
    telemetry::spans().insert(span) as f64
}

/// The span's id.
#[napi(js_name = "_spanId")]
pub fn span_id(handle: f64) -> Option<String> {
    span(handle).map(|s| s.id().to_string())
}

/// The span's parent's id, or null for a root span.
#[napi(js_name = "_spanParentId")]
pub fn span_parent_id(handle: f64) -> Option<String> {
    span(handle)
        .and_then(|s| s.parent_id())
        .map(|id| id.to_string())
}

/// True once `stop` or `fail` ran.
#[napi(js_name = "_spanStopped")]
pub fn span_stopped(handle: f64) -> bool {
    span(handle).is_none_or(|s| s.is_stopped())
}

/// A W3C `traceparent` naming the span.
#[napi(js_name = "_spanTraceparent")]
pub fn span_traceparent(handle: f64) -> Option<String> {
    span(handle).map(|s| s.traceparent())
}

/// Stops as ok, merging `extra` into the metadata; false (and nothing written) if already
/// stopped.
#[napi(js_name = "_spanStop")]
pub fn span_stop(handle: f64, extra: Option<Unknown<'_>>) -> bool {
    span(handle).is_some_and(|s| s.stop(metadata(extra.as_ref())))
}

/// Stops as failed with the error's message.
#[napi(js_name = "_spanFail")]
pub fn span_fail(handle: f64, err: Unknown<'_>, extra: Option<Unknown<'_>>) -> bool {
    let message = error_message(Some(&err)).unwrap_or_default();
    span(handle).is_some_and(|s| s.fail(&message, metadata(extra.as_ref())))
}

/// Starts a child span; its number.
#[napi(js_name = "_spanChild")]
pub fn span_child(handle: f64, action: Unknown<'_>, metadata: Option<Unknown<'_>>) -> Option<f64> {
    let child = span(handle)?.child(&text(&action), self::metadata(metadata.as_ref()));
    Some(hold(child))
}

/// Lets go of the span once its JavaScript object is collected (a span never stopped is then
/// written as failed).
#[napi(js_name = "_spanDrop")]
pub fn span_drop(handle: f64) {
    telemetry::spans().remove(handle as u64);
}

/// A logger writing to the process default sink: JSON lines on stdout until a database's
/// `installLogSink()`. The original `createLogger(service, options)` shape; throws
/// `code: "invalid_input"` only for a bad `minLevel` or `debugSampleRate`.
#[napi(
    ts_args_type = "service: string, options?: LoggerOptions",
    ts_return_type = "Logger"
)]
pub fn create_logger(
    env: Env,
    service: Unknown<'_>,
    options: Option<Unknown<'_>>,
) -> Outcome<NewLogger> {
    build_logger(&env, None, &service, options.as_ref())
}

/// A logger for `Keel.createLogger` (with the database) or `createLogger` (without).
pub fn build_logger(
    env: &Env,
    keel: Option<&keel::Keel>,
    service: &Unknown<'_>,
    options: Option<&Unknown<'_>>,
) -> Outcome<NewLogger> {
    flush_at_exit(env);
    let service = text(service);
    let fields = metadata(options);
    Outcome(
        LoggerOptions::from_fields(&fields, Case::Camel).map(|(options, filter)| {
            napi::bindgen_prelude::within_runtime_if_available(|| match keel {
                Some(keel) => Logger::of(keel.logger_with(&service, options, filter)),
                None => Logger::of(telemetry::Logger::new(
                    telemetry::default_sink(),
                    &service,
                    options,
                    filter,
                )),
            })
        }),
    )
}

thread_local! {
    /// The env whose exit listener is registered, so each env gets one.
    static EXIT_HOOK: std::cell::Cell<sys::napi_env> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// How long Node's exit waits for queued log events to be written.
const EXIT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The `process.on('exit')` listener: waits until every log writer of the process has written
/// what it holds. Blocking is what an exit listener must do (it cannot await), as pino's
/// `flushSync` does.
unsafe extern "C" fn flush_on_exit(
    _env: sys::napi_env,
    _info: sys::napi_callback_info,
) -> sys::napi_value {
    // A panic must not cross into Node.
    let _ = std::panic::catch_unwind(|| {
        napi::bindgen_prelude::block_on(telemetry::flush_all(EXIT_FLUSH_TIMEOUT))
    });
    std::ptr::null_mut()
}

/// Adds, once per env, a `process.on('exit')` listener that writes what every log writer still
/// holds, agent-run rows included (for at most [`EXIT_FLUSH_TIMEOUT`]), so a script that ends, or calls
/// `process.exit()`, without `await log.flush()` loses nothing. Where there is no `process`
/// (an embedder without it), nothing is added and nothing is thrown.
pub(crate) fn flush_at_exit(env: &Env) {
    let raw = env.raw();
    if EXIT_HOOK.get() == raw {
        return;
    }
    let null = std::ptr::null_mut;
    let (mut global, mut process, mut on, mut listener, mut event, mut ignored) =
        (null(), null(), null(), null(), null(), null());
    // SAFETY: `raw` is the live env of the current call; every handle made here belongs to it.
    let added = unsafe {
        sys::napi_get_global(raw, &mut global) == sys::Status::napi_ok
            && sys::napi_get_named_property(raw, global, c"process".as_ptr(), &mut process)
                == sys::Status::napi_ok
            && sys::napi_get_named_property(raw, process, c"on".as_ptr(), &mut on)
                == sys::Status::napi_ok
            && sys::napi_create_function(
                raw,
                c"keelFlushLogsOnExit".as_ptr(),
                -1, // NAPI_AUTO_LENGTH
                Some(flush_on_exit),
                std::ptr::null_mut(),
                &mut listener,
            ) == sys::Status::napi_ok
            && sys::napi_create_string_utf8(raw, c"exit".as_ptr(), 4, &mut event)
                == sys::Status::napi_ok
            && sys::napi_call_function(
                raw,
                process,
                on,
                2,
                [event, listener].as_ptr(),
                &mut ignored,
            ) == sys::Status::napi_ok
    };
    if added {
        EXIT_HOOK.set(raw);
    } else {
        clear_exception(raw);
    }
}

/// Parses a W3C `traceparent` header; `null` when invalid.
#[napi(ts_args_type = "header: string", ts_return_type = "TraceParent | null")]
pub fn parse_traceparent(Arg(header): Arg<String>) -> Value {
    telemetry::TraceParent::parse(&header).map_or(Value::Null, |p| record(&p))
}

/// Whether OTLP export is on for `options` (as `connect(url, { otlp })` takes them) and where
/// it sends: a record, or null when export is off. `env` replaces the process environment.
#[napi(
    ts_args_type = "options?: OtlpOptions | null, env?: Record<string, string> | null",
    ts_return_type = "OtlpConfig | null"
)]
pub fn otlp_config(options: Option<Json>, env: Option<Json>) -> Outcome<Value> {
    let (options, env) = (options.map(|o| o.0), env.map(|e| e.0));
    guard(|| {
        let config = telemetry::export::describe(options, Case::Camel, env)?;
        Ok(record(&config))
    })
}

/// Redacts secrets inside a string (API keys, bearer tokens, JWTs).
#[napi(ts_args_type = "text: string")]
pub fn redact_secrets(Arg(text): Arg<String>) -> String {
    telemetry::redact_secrets(&text).unwrap_or(text)
}
