//! Core errors as Python exceptions.
//!
//! The classes live in the pure-Python module `keel.errors` (one per code, all under
//! `keel.KeelError`, with `ValueError`/`ConnectionError`/... mixed in where they fit). This file
//! only looks the class up by code and fills in `field` and the cause chain.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

static BY_CODE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Bound<'_, PyDict>> {
    BY_CODE
        .get_or_try_init(py, || {
            let dict = py
                .import("keel.errors")?
                .getattr("BY_CODE")?
                .cast_into::<PyDict>()?;
            Ok::<_, PyErr>(dict.unbind())
        })
        .map(|d| d.bind(py))
}

/// Converts a core error into an instance of its `keel.errors` class.
pub fn to_py_err(err: keel::Error) -> PyErr {
    Python::attach(|py| {
        build(py, &err).unwrap_or_else(|lookup| {
            let fallback = PyRuntimeError::new_err(format!("[{}] {err}", err.code()));
            fallback.set_cause(py, Some(lookup));
            fallback
        })
    })
}

fn build(py: Python<'_>, err: &keel::Error) -> PyResult<PyErr> {
    let class = classes(py)?.get_item(err.code())?.ok_or_else(|| {
        PyRuntimeError::new_err(format!("keel.errors has no class for code {}", err.code()))
    })?;
    let instance = class.call1((err.to_string(),))?;
    instance.setattr("field", err.field())?;
    if !err.diagnostics().is_empty() {
        let text = serde_json::to_string(err.diagnostics()).unwrap_or_else(|_| "[]".into());
        instance.setattr(
            "diagnostics",
            py.import("json")?.call_method1("loads", (text,))?,
        )?;
    }
    if let Some(failure) = err.call_failure() {
        let attempts = crate::json::Json::of(&failure.attempts);
        instance.setattr("attempts", attempts.into_pyobject(py)?)?;
    }
    if err.call_failure().is_some() || err.retry_after_ms().is_some() {
        instance.setattr("retry_after_ms", err.retry_after_ms())?;
    }
    // The Rust cause chain, innermost last, as chained exceptions.
    let mut cause: Option<PyErr> = None;
    for message in err.causes().into_iter().rev() {
        let link = PyRuntimeError::new_err(message);
        link.set_cause(py, cause.take());
        cause = Some(link);
    }
    let out = PyErr::from_value(instance);
    out.set_cause(py, cause);
    Ok(out)
}

/// An argument whose conversion failure raises `keel.InvalidInputError` (code `invalid_input`,
/// a `TypeError` and a `ValueError`) instead of PyO3's own `TypeError`, `OverflowError` or
/// `UnicodeEncodeError`, which carry no code. PyO3 renames only exact `TypeError`s, so the
/// Keel error reaches the caller as it is.
pub struct Arg<T>(pub T);

impl<T> Arg<T> {
    /// The value of an optional argument.
    pub fn opt(arg: Option<Self>) -> Option<T> {
        arg.map(|a| a.0)
    }
}

impl Arg<String> {
    /// An optional text argument, borrowed.
    pub fn opt_str(arg: &Option<Self>) -> Option<&str> {
        arg.as_ref().map(|a| a.0.as_str())
    }
}

impl<'a, 'py, T: FromPyObject<'a, 'py>> FromPyObject<'a, 'py> for Arg<T> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        T::extract(obj).map(Arg).map_err(|err| {
            let err: PyErr = err.into();
            let py = obj.py();
            let message = printed(err.value(py));
            let keel = to_py_err(keel::Error::invalid_input("argument", message));
            keel.set_cause(py, Some(err));
            keel
        })
    }
}

/// `str(value)`, or its type's name when that `str()` raises. PyO3's `Display` would print the
/// failure as an unraisable-exception warning; an executor's or a transport's exception whose
/// `__str__` raises is still a failure with a message.
pub(crate) fn printed(value: &Bound<'_, PyAny>) -> String {
    match value.str() {
        Ok(text) => crate::json::lossy(&text),
        Err(_) => value
            .get_type()
            .name()
            .map(|name| name.to_string())
            .unwrap_or_default(),
    }
}
