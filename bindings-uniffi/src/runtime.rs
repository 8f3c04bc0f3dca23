//! The binding's tokio runtime: every async call runs on it (core's storage and HTTP need
//! tokio), and a handle to the task is what Kotlin's coroutine or Swift's task awaits, so the
//! caller's executor only polls. Cancelling the caller (a cancelled coroutine, a cancelled
//! Swift task) drops the handle, which aborts the task: the core future is dropped, so an
//! HTTP request ends and a call's credits are released.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;

use crate::error::KeelError;

/// The process's runtime, started on first use.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keel-tokio")
            .enable_all()
            .build()
            .expect("the tokio runtime starts")
    })
}

/// A spawned task that is aborted when its awaiter goes away.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `fut` on the runtime; a panic inside it comes back as an `internal` error, never
/// across the FFI boundary, and a cancelled caller aborts it.
pub async fn run<T, F>(fut: F) -> Result<T, KeelError>
where
    T: Send + 'static,
    F: Future<Output = keel::Result<T>> + Send + 'static,
{
    match AbortOnDrop(runtime().spawn(fut)).await {
        Ok(result) => result.map_err(KeelError::from),
        Err(join) => Err(KeelError::from(keel::Error::Internal(format!(
            "a Keel task failed: {join}"
        )))),
    }
}

/// Runs the synchronous `f` inside the runtime's context (core objects that start background
/// work on creation need it).
pub fn within<T>(f: impl FnOnce() -> keel::Result<T>) -> Result<T, KeelError> {
    let _entered = runtime().enter();
    f().map_err(KeelError::from)
}

/// Runs a host callback on a blocking thread of the runtime (it may block); what it threw,
/// or its thread's panic, as text.
pub async fn on_own_thread<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KeelError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(call).await {
        Ok(done) => done.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}
