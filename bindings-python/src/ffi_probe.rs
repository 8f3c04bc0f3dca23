//! FFI floor probes (core: `keel::ffi_probe`), for `make bench` and the panic tests, in the
//! private submodule `keel._native._probe`: they are not part of the API.

use pyo3::prelude::*;

use crate::runtime::{future_into_py, guard};

/// Does nothing.
#[pyfunction]
pub fn noop() {
    keel::ffi_probe::noop()
}

/// The probe as a Python dict `{"id", "name", "score", "tags"}`.
#[derive(FromPyObject, IntoPyObject)]
#[pyo3(from_item_all)]
pub struct PyProbe {
    id: u32,
    name: String,
    score: f64,
    tags: Vec<String>,
}

/// Round-trips a small dict through the core struct.
#[pyfunction]
pub fn roundtrip(probe: PyProbe) -> PyProbe {
    let PyProbe {
        id,
        name,
        score,
        tags,
    } = probe;
    let p = keel::ffi_probe::roundtrip(keel::ffi_probe::Probe {
        id,
        name,
        score,
        tags,
    });
    PyProbe {
        id: p.id,
        name: p.name,
        score: p.score,
        tags: p.tags,
    }
}

/// Panics inside the core; raises `keel.InternalError`.
#[pyfunction]
pub fn panic_sync(message: &str) -> PyResult<()> {
    guard(|| keel::ffi_probe::panic_now(message))
}

/// Panics inside a core future; the awaitable raises `keel.InternalError`.
#[pyfunction]
pub fn panic_async(py: Python<'_>, message: String) -> PyResult<Bound<'_, PyAny>> {
    future_into_py::<_, ()>(py, async move { keel::ffi_probe::panic_now(&message) })
}

/// Does nothing on the runtime: awaiting it costs the trip from asyncio to the runtime's
/// threads and back, the floor under every awaited call.
#[pyfunction]
pub fn noop_async(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    future_into_py::<_, ()>(py, async { Ok(()) })
}

/// The `_probe` submodule holding the probes.
pub fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "_probe")?;
    m.add_function(wrap_pyfunction!(noop, &m)?)?;
    m.add_function(wrap_pyfunction!(roundtrip, &m)?)?;
    m.add_function(wrap_pyfunction!(panic_sync, &m)?)?;
    m.add_function(wrap_pyfunction!(panic_async, &m)?)?;
    m.add_function(wrap_pyfunction!(noop_async, &m)?)?;
    Ok(m)
}
