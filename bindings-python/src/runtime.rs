//! The tokio runtime of the Python module, and the bridge from Rust futures to awaitables.
//!
//! A runtime kept in a `OnceLock` forever does not survive `fork()` (tokio's worker threads
//! are gone), so a gunicorn or Celery child that inherits it hangs on its first await. Here
//! the runtime is keyed by process id: a forked child builds its own on first use and never
//! touches (or drops) its parent's, which it leaks on purpose.
//!
//! The bridge is this file's own (`start`): one tokio task per awaited call, settling an
//! asyncio future through `call_soon_threadsafe`. It replaced `pyo3-async-runtimes`, whose
//! three tasks and two GIL acquisitions per call made an awaited no-op 106 µs p50 where this
//! takes 67 µs (`bench/ffi_floor.py`, same session).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use futures_util::FutureExt;
use pyo3::IntoPyObjectExt;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use tokio::task::AbortHandle;

use crate::coroutine::Call;
use crate::error::{Arg, to_py_err};

struct ProcessRuntime {
    pid: u32,
    runtime: tokio::runtime::Runtime,
}

/// The current process's runtime. Replaced only after a fork; old values are leaked, never
/// freed, so a pointer read here stays valid for the life of the process.
static CURRENT: AtomicPtr<ProcessRuntime> = AtomicPtr::new(std::ptr::null_mut());

/// The runtime of this process, built on first use (and again in a forked child).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    let pid = std::process::id();
    let current = CURRENT.load(Ordering::Acquire);
    // SAFETY: non-null values of CURRENT are leaked boxes that are never freed.
    if let Some(existing) = unsafe { current.as_ref() }
        && existing.pid == pid
    {
        return &existing.runtime;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("keel-tokio")
        .enable_all()
        .build()
        .expect("keel: cannot start the tokio runtime");
    if !current.is_null() {
        // A forked child: the tasks counted in the parent never finish here.
        IN_FLIGHT.store(0, Ordering::Release);
    }
    let fresh = Box::into_raw(Box::new(ProcessRuntime { pid, runtime }));
    match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` was just leaked from a Box and is now published for good.
        Ok(_) => unsafe { &(*fresh).runtime },
        Err(winner) => {
            // Another thread installed one first: shut ours down and use theirs.
            // SAFETY: `fresh` was never published, so this thread owns it.
            let ours = unsafe { Box::from_raw(fresh) };
            ours.runtime.shutdown_background();
            // SAFETY: `winner` is a published, leaked, never-freed value.
            unsafe { &(*winner).runtime }
        }
    }
}

/// Tasks of the bridge that are running: each may still call into Python (to hand a result to
/// asyncio). A thread that does so while the interpreter finalizes is killed mid-call and
/// crashes the process, so exit waits for this to reach zero ([`drain_tasks`]).
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts one bridge task while it lives.
struct InFlight;

impl InFlight {
    fn start() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits, without the GIL, until no bridge task is running (at most `timeout` seconds); True
/// when none is. `keel` registers it with `atexit` at import, so tasks that are handing their
/// last results to a finished event loop end before the interpreter finalizes.
#[pyfunction]
#[pyo3(signature = (timeout = Arg(2.0)), text_signature = "(timeout=2.0)")]
pub fn drain_tasks(py: Python<'_>, timeout: Arg<f64>) -> bool {
    // A bad timeout does not wait: this runs at exit, where raising helps nobody.
    let timeout = keel::options::wait_seconds("timeout", timeout.0).unwrap_or_default();
    py.detach(|| {
        let deadline = std::time::Instant::now() + timeout;
        while IN_FLIGHT.load(Ordering::Acquire) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        IN_FLIGHT.load(Ordering::Acquire) == 0
    })
}

/// `future_into_py(py, async move { body })` with `$handle` cloned in as `$h`: the body of
/// every method that returns an awaitable.
macro_rules! awaitable {
    ($py:expr, $handle:expr, |$h:ident| $body:expr) => {{
        let $h = $handle.clone();
        $crate::runtime::future_into_py($py, async move { $body })
    }};
}
pub(crate) use awaitable;

/// `handle`'s operation `op` on `args` ([`keel::options::Calls`]) as an awaitable of its JSON
/// result, errors naming fields as Python spells them: the one body of every method of the
/// handles called by name (queue, dedup, Slack, threads, fleet).
pub fn call<'py, C: keel::options::Calls>(
    py: Python<'py>,
    handle: &C,
    op: &'static str,
    args: Option<serde_json::Value>,
) -> PyResult<Bound<'py, PyAny>> {
    awaitable!(py, handle, |h| Ok(crate::json::Json(
        h.call_value(op, args, keel::options::Case::Snake).await?
    )))
}

/// A finished core call's value, converted to Python once the GIL is at hand.
pub type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// A core call on its way: it runs on [`runtime`] and ends in a value to convert.
pub type Pending = Pin<Box<dyn Future<Output = PyResult<Convert>> + Send>>;

/// Turns a core future into a Python awaitable. A core error becomes the `keel.KeelError`
/// subclass of its code; a panic becomes `keel.InternalError`, never a crash.
///
/// The awaitable is a [`Call`]: nothing starts until it is awaited (so it can be made before
/// an event loop runs: `asyncio.run(db.close())`) or waited for (`db.close().wait()`).
pub fn future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = keel::Result<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    let pending: Pending = Box::pin(async move {
        match caught(fut).await {
            Ok(value) => Ok(Box::new(move |py: Python<'_>| value.into_py_any(py)) as Convert),
            Err(err) => Err(to_py_err(err)),
        }
    });
    Call::pending(py, pending)
}

/// [`future_into_py`] of a future whose error is already a Python exception (or converts to
/// one): a step that re-raises what the caller's own function raised.
pub fn future_into_py_raw<F, T, E>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
    E: Into<PyErr> + Send + 'static,
{
    let pending: Pending = Box::pin(async move {
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(Ok(value)) => Ok(Box::new(move |py: Python<'_>| value.into_py_any(py)) as Convert),
            Ok(Err(err)) => Err(err.into()),
            Err(panic) => Err(to_py_err(keel::Error::from_panic(&*panic))),
        }
    });
    Call::pending(py, pending)
}

/// `fut`'s outcome, a panic inside it becoming `keel.InternalError` rather than unwinding
/// through pyo3.
pub async fn caught<T>(fut: impl Future<Output = keel::Result<T>>) -> keel::Result<T> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(keel::Error::from_panic(&*panic)))
}

/// Starts `pending` on the runtime for the running event loop. Returns the iterator of an
/// asyncio future that the runtime's thread settles (through `call_soon_threadsafe`) when
/// `pending` ends, and the task's abort handle: a cancelled call aborts it, which drops the
/// core future (a model call's HTTP request ends and its credits are released).
///
/// One task and one GIL acquisition per call: the value is converted and the loop told in the
/// same breath.
pub fn start(py: Python<'_>, pending: Pending) -> PyResult<(Py<PyAny>, AbortHandle)> {
    let event_loop = running_loop(py)?;
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    let iterator = future.call_method0(intern!(py, "__await__"))?.unbind();
    let (event_loop, future) = (event_loop.unbind(), future.unbind());
    let counted = InFlight::start();
    let task = runtime().spawn(async move {
        let _counted = counted;
        let outcome = pending.await;
        Python::attach(|py| {
            let settle = Settle {
                future,
                outcome: Mutex::new(Some(outcome.and_then(|convert| convert(py)))),
            };
            // A closed loop (its program ended) has no one left to tell.
            let _ = event_loop
                .bind(py)
                .call_method1(intern!(py, "call_soon_threadsafe"), (settle,));
        });
    });
    Ok((iterator, task.abort_handle()))
}

/// `asyncio.get_running_loop`, looked up once.
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The event loop running on this thread (`asyncio.get_running_loop()`).
///
/// # Errors
/// `RuntimeError` when none runs.
pub fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()
}

/// Settles an asyncio future with a call's outcome, on the loop's thread; a future cancelled
/// meanwhile is left as it is.
#[pyclass(frozen)]
struct Settle {
    future: Py<PyAny>,
    outcome: Mutex<Option<PyResult<Py<PyAny>>>>,
}

#[pymethods]
impl Settle {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let future = self.future.bind(py);
        if future.call_method0(intern!(py, "done"))?.is_truthy()? {
            return Ok(());
        }
        match self
            .outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(Ok(value)) => future.call_method1(intern!(py, "set_result"), (value,))?,
            Some(Err(err)) => {
                future.call_method1(intern!(py, "set_exception"), (err.into_value(py),))?
            }
            None => return Ok(()),
        };
        Ok(())
    }
}

/// Runs `pending` to its end on this thread, without the GIL: the sync facade.
pub fn block(py: Python<'_>, pending: Pending) -> PyResult<Py<PyAny>> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "wait() cannot block one of Keel's runtime threads (a callback); await the call",
        ));
    }
    let convert = py.detach(|| runtime().block_on(pending))?;
    convert(py)
}

/// Runs a synchronous core call, turning a panic into `keel.InternalError`.
pub fn guard<T>(call: impl FnOnce() -> keel::Result<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(result) => result.map_err(to_py_err),
        Err(payload) => Err(to_py_err(keel::Error::from_panic(&*payload))),
    }
}

/// An awaitable that is already done with `value`, finishing on its first step without the
/// event loop. For answers served from a cache, where a round trip through the runtime's
/// threads would cost a hundred times the answer.
pub fn ready<'py, T>(py: Python<'py>, value: T) -> PyResult<Bound<'py, PyAny>>
where
    T: IntoPyObject<'py>,
{
    let value = value.into_bound_py_any(py)?;
    Call::ready(py, value.unbind())
}
