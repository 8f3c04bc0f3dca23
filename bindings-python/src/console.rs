//! `Keel.console` and `Console`: the operator console's reads and actions by name, what
//! `keel serve` answers, for a platform's own admin pages (core: `keel::console`, which owns
//! every read, check, page bound and the action log).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use keel::console::{CONSOLE_ACTIONS, CONSOLE_READS, Console};

use crate::error::Arg;
use crate::json::kwargs;
use crate::runtime::{awaitable, guard};

/// The operator console on a database; open it with `await db.console(allow_actions=False)`.
#[pyclass(frozen, name = "Console", module = "keel._native")]
pub struct PyConsole {
    inner: Console,
}

/// `db.console(**options)` (awaitable).
pub fn open_console<'py>(
    py: Python<'py>,
    keel: &keel::Keel,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let options = kwargs(options);
    awaitable!(py, keel, |keel| Ok(PyConsole {
        inner: Console::open_value(&keel, options, keel::options::Case::Snake, "").await?,
    }))
}

#[pymethods]
impl PyConsole {
    /// Runs the read or action `op` (one of `keel.CONSOLE_READS` or `keel.CONSOLE_ACTIONS`)
    /// with `args` (awaitable): its result, as `keel serve`'s `/api/<op>` answers it. An
    /// action needs `actor` and a console opened with `allow_actions=True`.
    #[pyo3(signature = (op, **args))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        op: Arg<String>,
        args: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let op = guard(|| Console::operation(&op.0))?;
        crate::runtime::call(py, &self.inner, op, kwargs(args))
    }

    /// Whether actions may run.
    #[getter]
    fn allows_actions(&self) -> bool {
        self.inner.allows_actions()
    }
}

/// Adds this module's class and the calls' names to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CONSOLE_READS", PyTuple::new(m.py(), CONSOLE_READS)?)?;
    m.add("CONSOLE_ACTIONS", PyTuple::new(m.py(), CONSOLE_ACTIONS)?)?;
    m.add_class::<PyConsole>()
}
