//! `keel.create_logger`, `Keel.create_logger`, `Logger` and `Span` (core: `keel::telemetry`).
//!
//! Metadata arrives as any Python object and is converted to JSON here: unknown objects become
//! their `repr()`, bytes are decoded with replacement, nesting is cut at the core's depth limit
//! (so cycles end), and nothing raises into the caller.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::{Map, Value};

use keel::options::Case;
use keel::telemetry::{self, Level, LoggerOptions};

use crate::error::Arg;
use crate::json::{Json, dict_to_map, lossy, to_json};
use crate::runtime::{future_into_py, guard, runtime};

/// Metadata as given: a dict is taken as is, anything else is stored under `value`.
fn metadata(obj: Option<&Bound<'_, PyAny>>) -> Map<String, Value> {
    match obj {
        None => Map::new(),
        Some(o) if o.is_none() => Map::new(),
        Some(o) => match o.cast::<PyDict>() {
            Ok(d) => dict_to_map(d, 0),
            Err(_) => {
                let mut m = Map::new();
                m.insert("value".into(), to_json(o, 1));
                m
            }
        },
    }
}

/// The message of whatever was passed as an error: an exception's `str()`, a string, or the
/// object's `message` attribute, else its `str()`.
fn error_message(obj: Option<&Bound<'_, PyAny>>) -> Option<String> {
    let obj = obj.filter(|o| !o.is_none())?;
    if let Ok(s) = obj.cast::<PyString>() {
        return Some(lossy(s));
    }
    // Exceptions of some clients, and dicts such as a PostgREST error body, carry `message`.
    let message = match obj.cast::<PyDict>() {
        Ok(d) => d.get_item("message").ok().flatten(),
        Err(_) => obj.getattr("message").ok(),
    };
    if let Some(message) = message
        && let Ok(s) = message.cast::<PyString>()
    {
        return Some(lossy(s));
    }
    let text = obj.str().map(|s| lossy(&s)).unwrap_or_default();
    let name = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    Some(if text.is_empty() {
        name
    } else if obj.is_instance_of::<pyo3::exceptions::PyBaseException>() {
        format!("{name}: {text}")
    } else {
        text
    })
}

fn text(obj: Option<&Bound<'_, PyAny>>) -> Option<String> {
    let obj = obj.filter(|o| !o.is_none())?;
    Some(match obj.cast::<PyString>() {
        Ok(s) => lossy(s),
        Err(_) => obj.str().map(|s| lossy(&s)).unwrap_or_default(),
    })
}

/// A structured logger. No method raises.
#[pyclass(frozen, name = "Logger", module = "keel._native")]
pub struct PyLogger {
    inner: telemetry::Logger,
}

impl PyLogger {
    /// The logger `inner` (a run's, handed to its executor).
    pub(crate) fn of(inner: telemetry::Logger) -> Self {
        PyLogger { inner }
    }
}

#[pymethods]
impl PyLogger {
    /// The trace every event of this logger carries (32 hex digits).
    #[getter]
    fn trace_id(&self) -> String {
        self.inner.trace_id().to_string()
    }

    /// The service name on every event.
    #[getter]
    fn service(&self) -> &str {
        self.inner.service()
    }

    /// The W3C `traceparent` header for the next hop.
    fn traceparent(&self) -> String {
        self.inner.traceparent()
    }

    /// Logs `action` at debug level with `metadata` (a dict); never raises.
    #[pyo3(signature = (action, metadata = None))]
    fn debug(&self, action: &Bound<'_, PyAny>, metadata: Option<&Bound<'_, PyAny>>) {
        self.log(Level::Debug, action, None, metadata);
    }

    /// Logs `action` at info level with `metadata` (a dict); never raises.
    #[pyo3(signature = (action, metadata = None))]
    fn info(&self, action: &Bound<'_, PyAny>, metadata: Option<&Bound<'_, PyAny>>) {
        self.log(Level::Info, action, None, metadata);
    }

    /// Logs `action` at warn level with `metadata` (a dict); never raises.
    #[pyo3(signature = (action, metadata = None))]
    fn warn(&self, action: &Bound<'_, PyAny>, metadata: Option<&Bound<'_, PyAny>>) {
        self.log(Level::Warn, action, None, metadata);
    }

    /// Logs `action` at error level with `error` (an exception or text) and `metadata`.
    #[pyo3(signature = (action, error = None, metadata = None))]
    fn error(
        &self,
        action: &Bound<'_, PyAny>,
        error: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) {
        self.log(Level::Error, action, error, metadata);
    }

    /// Starts a timed span; use it as a context manager or call `stop`/`fail`.
    #[pyo3(signature = (action, metadata = None, parent_span_id = None))]
    fn create_span(
        &self,
        action: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyAny>>,
        parent_span_id: Option<&Bound<'_, PyAny>>,
    ) -> PySpan {
        let action = text(Some(action)).unwrap_or_default();
        let parent = text(parent_span_id);
        PySpan {
            inner: self
                .inner
                .span(&action, self::metadata(metadata), parent.as_deref()),
        }
    }

    /// Waits until every event logged so far is written (awaitable); resolves to
    /// `(accepted, written, dropped)`.
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let sink = self.inner.sink().clone();
        future_into_py(py, async move {
            let stats = sink.flush().await;
            Ok((stats.accepted, stats.written, stats.dropped))
        })
    }

    /// `async with db.create_logger(...) as log:` flushes at the end of the block.
    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        crate::runtime::ready(slf.py(), slf)
    }

    /// Flushes; resolves to `None`, so an exception of the block propagates.
    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc: &Bound<'py, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sink = self.inner.sink().clone();
        future_into_py(py, async move {
            sink.flush().await;
            Ok(())
        })
    }

    /// `(accepted, written, dropped)` events of this process's log writer.
    fn stats(&self) -> (u64, u64, u64) {
        let s = self.inner.sink().stats();
        (s.accepted, s.written, s.dropped)
    }

    /// The OTLP exporter's counters (`exported`, `dropped`, `failed_exports`), or None when
    /// this writer does not export.
    fn export_stats(&self) -> Json {
        Json::of(&self.inner.sink().export_stats())
    }
}

impl PyLogger {
    fn log(
        &self,
        level: Level,
        action: &Bound<'_, PyAny>,
        error: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) {
        if !self.inner.enabled(level) {
            return;
        }
        let action = text(Some(action)).unwrap_or_default();
        self.inner.log(
            level,
            &action,
            error_message(error).as_deref(),
            self::metadata(metadata),
        );
    }
}

/// A timed operation; also a context manager that fails the span on an exception.
#[pyclass(frozen, name = "Span", module = "keel._native")]
pub struct PySpan {
    inner: telemetry::Span,
}

#[pymethods]
impl PySpan {
    /// This span's id (16 hex digits).
    #[getter]
    fn span_id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The parent span's id, or None for a root span.
    #[getter]
    fn parent_span_id(&self) -> Option<String> {
        self.inner.parent_id().map(|id| id.to_string())
    }

    /// True once `stop` or `fail` ran.
    #[getter]
    fn stopped(&self) -> bool {
        self.inner.is_stopped()
    }

    /// The W3C `traceparent` header naming this span as the parent.
    fn traceparent(&self) -> String {
        self.inner.traceparent()
    }

    /// Ends the span with its duration and `extra` fields; False if it had already ended.
    #[pyo3(signature = (extra = None))]
    fn stop(&self, extra: Option<&Bound<'_, PyAny>>) -> bool {
        self.inner.stop(metadata(extra))
    }

    /// Ends the span as failed with `error`; False if it had already ended.
    #[pyo3(signature = (error, extra = None))]
    fn fail(&self, error: &Bound<'_, PyAny>, extra: Option<&Bound<'_, PyAny>>) -> bool {
        self.inner.fail(
            &error_message(Some(error)).unwrap_or_default(),
            metadata(extra),
        )
    }

    /// Starts a span whose parent is this one.
    #[pyo3(signature = (action, metadata = None))]
    fn child(&self, action: &Bound<'_, PyAny>, metadata: Option<&Bound<'_, PyAny>>) -> PySpan {
        let action = text(Some(action)).unwrap_or_default();
        PySpan {
            inner: self.inner.child(&action, self::metadata(metadata)),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (_exc_type = None, exc = None, _traceback = None))]
    fn __exit__(
        &self,
        _exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        match exc.filter(|e| !e.is_none()) {
            Some(exc) => self
                .inner
                .fail(&error_message(Some(exc)).unwrap_or_default(), Map::new()),
            None => self.inner.stop(Map::new()),
        };
        false // never swallow the exception
    }
}

/// Adds the host application's current OpenTelemetry span (`keel._otel.traceparent()`) to an
/// options object as `host_traceparent`; core decides whether it is joined.
pub fn with_host_context(py: Python<'_>, mut fields: Map<String, Value>) -> Map<String, Value> {
    static READ: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let read = READ.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("keel._otel")?.getattr("traceparent")?.unbind())
    });
    match read.and_then(|f| f.bind(py).call0()?.extract::<Option<String>>()) {
        Ok(Some(host)) => {
            fields.insert("host_traceparent".into(), Value::String(host));
        }
        Ok(None) => {}
        // The host's propagator failed: Keel's spans start a trace of their own.
        Err(err) => err.write_unraisable(py, None),
    }
    fields
}

/// A logger writing to `keel`'s database, or to the process default sink, from
/// `create_logger`'s arguments; raises `keel.InvalidInputError` for a bad filter.
pub fn build_logger(
    keel: Option<&keel::Keel>,
    service: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyLogger> {
    let fields = options.map(|o| dict_to_map(o, 0)).unwrap_or_default();
    let fields = with_host_context(service.py(), fields);
    let (options, filter) = guard(|| LoggerOptions::from_fields(&fields, Case::Snake))?;
    flush_at_exit(service.py());
    let service = text(Some(service)).unwrap_or_default();
    let _guard = runtime().enter();
    let inner = match keel {
        Some(keel) => keel.logger_with(&service, options, filter),
        None => telemetry::Logger::new(telemetry::default_sink(), &service, options, filter),
    };
    Ok(PyLogger { inner })
}

/// A logger writing to the process default sink (stdout until `Keel.install_log_sink()`).
#[pyfunction]
#[pyo3(signature = (service, **options))]
pub fn create_logger(
    service: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyLogger> {
    build_logger(None, service, options)
}

/// Registers [`flush_logs`] with `atexit` when the process makes its first logger (or starts
/// its first agent run), so queued events and run rows are written when the interpreter
/// exits. Processes that never log register nothing.
/// atexit runs before finalization, and `flush_logs` waits without the GIL, so runtime
/// threads that still hold Python work can finish it.
pub(crate) fn flush_at_exit(py: Python<'_>) {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        let registered = wrap_pyfunction!(flush_logs, py).and_then(|flush| {
            py.import("atexit")?.call_method1("register", (flush,))?;
            Ok(())
        });
        if let Err(err) = registered {
            err.write_unraisable(py, None);
        }
    });
}

/// Blocks (without the GIL) until every log writer (and agent-run row writer) of this process
/// has written what it holds,
/// for at most `timeout` seconds; returns how many finished. For sync shutdown code; the
/// first logger of a process also registers it with `atexit`.
#[pyfunction]
#[pyo3(signature = (timeout = Arg(5.0)), text_signature = "(timeout=5.0)")]
pub fn flush_logs(py: Python<'_>, timeout: Arg<f64>) -> PyResult<usize> {
    let timeout = guard(|| keel::options::wait_seconds("timeout", timeout.0))?;
    Ok(py.detach(|| runtime().block_on(telemetry::flush_all(timeout))))
}

/// Parses a W3C `traceparent`; `None` when it is not valid.
#[pyfunction]
pub fn parse_traceparent(header: Arg<&str>) -> Option<(String, String, bool)> {
    telemetry::TraceParent::parse(header.0).map(|p| {
        (
            p.trace_id.to_string(),
            p.parent_span_id.to_string(),
            p.sampled,
        )
    })
}

/// Whether OTLP export is on for `options` (as `connect(otlp=...)` takes them) and where it
/// sends: a dict, or None when export is off. `env` replaces the process environment.
#[pyfunction]
#[pyo3(signature = (options = None, env = None))]
pub fn otlp_config(
    options: Option<&Bound<'_, PyAny>>,
    env: Option<&Bound<'_, PyAny>>,
) -> PyResult<Json> {
    let (options, env) = (options.map(|o| to_json(o, 0)), env.map(|e| to_json(e, 0)));
    guard(|| {
        let config = telemetry::export::describe(options, Case::Snake, env)?;
        Ok(Json::of(&config))
    })
}

/// Redacts secrets inside a string (API keys, bearer tokens, JWTs).
#[pyfunction]
pub fn redact_secrets(text: Arg<&str>) -> String {
    telemetry::redact_secrets(text.0).unwrap_or_else(|| text.0.to_owned())
}

/// Adds this module's classes and functions to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLogger>()?;
    m.add_class::<PySpan>()?;
    m.add_function(wrap_pyfunction!(create_logger, m)?)?;
    m.add_function(wrap_pyfunction!(parse_traceparent, m)?)?;
    m.add_function(wrap_pyfunction!(flush_logs, m)?)?;
    m.add_function(wrap_pyfunction!(otlp_config, m)?)?;
    m.add_function(wrap_pyfunction!(redact_secrets, m)?)
}
