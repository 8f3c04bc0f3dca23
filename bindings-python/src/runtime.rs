//! The tokio runtime of the Python module, and the bridge from Rust futures to awaitables.
//!
//! `pyo3_async_runtimes::tokio` keeps one runtime in a `OnceLock` forever; tokio's worker
//! threads do not survive `fork()`, so a gunicorn or Celery child that inherits it hangs on its
//! first await. Here the runtime is keyed by process id: a forked child builds its own on first
//! use and never touches (or drops) its parent's, which it leaks on purpose.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;
use pyo3_async_runtimes::generic::{ContextExt, JoinError, Runtime};

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

/// Marker type plugging [`runtime`] into `pyo3_async_runtimes::generic`.
pub struct KeelRuntime;

/// tokio's join error, wrapped for the foreign trait.
pub struct KeelJoinError(tokio::task::JoinError);

impl JoinError for KeelJoinError {
    fn is_panic(&self) -> bool {
        self.0.is_panic()
    }
    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        self.0.into_panic()
    }
}

type BoxedJoin = Pin<Box<dyn Future<Output = Result<(), KeelJoinError>> + Send>>;

impl Runtime for KeelRuntime {
    type JoinError = KeelJoinError;
    type JoinHandle = BoxedJoin;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let runtime = runtime();
        let counted = InFlight::start();
        let handle = runtime.spawn(async move {
            let _counted = counted;
            fut.await
        });
        Box::pin(async move { handle.await.map_err(KeelJoinError) })
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        let runtime = runtime();
        let counted = InFlight::start();
        let handle = runtime.spawn_blocking(move || {
            let _counted = counted;
            f()
        });
        Box::pin(async move { handle.await.map_err(KeelJoinError) })
    }
}

tokio::task_local! {
    static TASK_LOCALS: std::cell::OnceCell<TaskLocals>;
}

impl ContextExt for KeelRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = std::cell::OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|c| c.get().cloned())
            .unwrap_or_default()
    }
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
        // A nested task turns a panic into a JoinError instead of unwinding through pyo3.
        let mut task = runtime().spawn(fut);
        // A cancelled awaitable (`task.cancel()`, a timeout) drops this future: the core
        // work stops with it, as dropping a Rust future does (a model call's HTTP request
        // ends and its credits are released).
        let _stop = AbortOnDrop(task.abort_handle());
        match (&mut task).await {
            Ok(Ok(value)) => Ok(Box::new(move |py: Python<'_>| value.into_py_any(py)) as Convert),
            Ok(Err(err)) => Err(to_py_err(err)),
            Err(join) if join.is_panic() => {
                Err(to_py_err(keel::Error::from_panic(&*join.into_panic())))
            }
            Err(join) => Err(to_py_err(keel::Error::Internal(join.to_string()))),
        }
    });
    Call::pending(py, pending)
}

/// Aborts a task when dropped; aborting a finished task does nothing.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts `pending` for the running event loop; returns the iterator of the asyncio future
/// that resolves with its value.
pub fn start(py: Python<'_>, pending: Pending) -> PyResult<Py<PyAny>> {
    let future = pyo3_async_runtimes::generic::future_into_py::<KeelRuntime, _, Py<PyAny>>(
        py,
        async move {
            let convert = pending.await?;
            Python::attach(convert)
        },
    )?;
    Ok(future.call_method0("__await__")?.unbind())
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
