//! `Keel.queue`, `Queue`, `LocalLimiter`, `Keel.shared_limiter` and `SharedLimiter`, and the
//! worker session `keel._queue` drives (core: `keel::flow`, whose `*_value` calls read the
//! arguments and own every default and check). Records come back as dicts.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Map, Value};

use keel::flow::{self, LocalLimiter, Queue, SharedLimiter, WorkerSession};
use keel::options::Case;

use crate::error::Arg;
use crate::json::{Json, dict_to_map, kwargs, to_json, to_json_strict};
use crate::runtime::{awaitable, call, guard};

/// The arguments of a call: the named ones, then the keyword options.
pub(crate) fn args(
    named: Vec<(&str, Value)>,
    options: Option<&Bound<'_, PyDict>>,
) -> Option<Value> {
    let mut map: Map<String, Value> = options.map(|o| dict_to_map(o, 0)).unwrap_or_default();
    for (name, value) in named {
        map.insert(name.to_owned(), value);
    }
    Some(Value::Object(map))
}

/// The Command Centre queue; make it with `db.queue(**options)`.
#[pyclass(frozen, name = "Queue", module = "keel._native")]
pub struct PyQueue {
    inner: Queue,
}

/// `db.queue(**options)`.
pub fn open_queue(keel: &keel::Keel, options: Option<&Bound<'_, PyDict>>) -> PyResult<PyQueue> {
    let options = kwargs(options);
    guard(|| Queue::open_value(keel, options, Case::Snake, "")).map(|inner| PyQueue { inner })
}

#[pymethods]
impl PyQueue {
    /// Enqueues items (dicts of `keel.types.NewItem`) (awaitable): their ids.
    fn enqueue<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // An item's context is stored as given: converted strictly, never through `repr()`.
        let items = guard(|| to_json_strict(items, 0, "items"))?;
        call(
            py,
            &self.inner,
            "enqueue",
            args(vec![("items", items)], None),
        )
    }

    /// Leases up to `n` (default 10) waiting items of `lanes` to `worker` (awaitable): the
    /// items.
    #[pyo3(signature = (worker, **options))]
    fn claim<'py>(
        &self,
        py: Python<'py>,
        worker: Arg<String>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "claim",
            args(vec![("worker", worker.0.into())], options),
        )
    }

    /// Completes `done` (dicts with `id` and `lease_token`) and claims the next batch, in one
    /// statement on PostgreSQL (awaitable): a `keel.types.Claimed`.
    #[pyo3(signature = (done, worker, **options))]
    fn claim_after<'py>(
        &self,
        py: Python<'py>,
        done: &Bound<'py, PyAny>,
        worker: Arg<String>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = vec![("done", to_json(done, 0)), ("worker", worker.0.into())];
        call(py, &self.inner, "claim_after", args(named, options))
    }

    /// `claim`, grouped by deal and contact within the fan-in bounds (awaitable): a
    /// `keel.types.Batch`.
    #[pyo3(signature = (worker, **options))]
    fn claim_batch<'py>(
        &self,
        py: Python<'py>,
        worker: Arg<String>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "claim_batch",
            args(vec![("worker", worker.0.into())], options),
        )
    }

    /// Completes a claimed item, keeping `context` as its enrichment (awaitable): false when
    /// the token no longer holds it.
    #[pyo3(signature = (id, lease_token, **options))]
    fn complete<'py>(
        &self,
        py: Python<'py>,
        id: Arg<String>,
        lease_token: Arg<u64>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = vec![("id", id.0.into()), ("lease_token", lease_token.0.into())];
        call(py, &self.inner, "complete", args(named, options))
    }

    /// Completes many claimed items (dicts with `id` and `lease_token`) in one statement
    /// (awaitable): the ids whose token held.
    fn complete_all<'py>(
        &self,
        py: Python<'py>,
        leases: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "complete_all",
            args(vec![("leases", to_json(leases, 0))], None),
        )
    }

    /// Records a failure with its `reason` (`retryable`, default true; `retry_after_ms`)
    /// (awaitable): the item after it, or None when the token no longer holds it.
    #[pyo3(signature = (id, lease_token, reason, **options))]
    fn fail<'py>(
        &self,
        py: Python<'py>,
        id: Arg<String>,
        lease_token: Arg<u64>,
        reason: Arg<String>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = vec![
            ("id", id.0.into()),
            ("lease_token", lease_token.0.into()),
            ("reason", reason.0.into()),
        ];
        call(py, &self.inner, "fail", args(named, options))
    }

    /// Puts a claimed item back for `delay_ms` without spending an attempt (awaitable).
    fn defer<'py>(
        &self,
        py: Python<'py>,
        id: Arg<String>,
        lease_token: Arg<u64>,
        delay_ms: Arg<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = vec![
            ("id", id.0.into()),
            ("lease_token", lease_token.0.into()),
            ("delay_ms", delay_ms.0.into()),
        ];
        call(py, &self.inner, "defer", args(named, None))
    }

    /// Extends a claimed item's lease (`lease_ms`, default the queue's) (awaitable).
    #[pyo3(signature = (id, lease_token, **options))]
    fn extend<'py>(
        &self,
        py: Python<'py>,
        id: Arg<String>,
        lease_token: Arg<u64>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = vec![("id", id.0.into()), ("lease_token", lease_token.0.into())];
        call(py, &self.inner, "extend", args(named, options))
    }

    /// Returns expired leases to their lanes; fails and dead-letters the last attempts
    /// (awaitable): a `keel.types.SweepReport`.
    fn sweep<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        call(py, &self.inner, "sweep", None)
    }

    /// The backlog per lane, the oldest wait, the last minute's rates and the mode
    /// (awaitable): a `keel.types.QueueHealth`.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        call(py, &self.inner, "health", None)
    }

    /// The item, or None (awaitable).
    fn get<'py>(&self, py: Python<'py>, id: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "get",
            args(vec![("id", id.0.into())], None),
        )
    }

    /// Runs `handler` (an async callable taking an item) on claimed items until `stop` (an
    /// `asyncio.Event`) is set, at most `concurrency` at once (awaitable): a
    /// `keel.types.WorkerReport`. The handler's answer: `{"defer_ms": n}` defers,
    /// `{"fail": reason, "retryable": bool}` fails, anything else completes (a dict is kept
    /// as the enrichment); raising is a retryable failure.
    #[pyo3(signature = (handler, stop = None, **options))]
    fn work<'py>(
        slf: &Bound<'py, Self>,
        handler: &Bound<'py, PyAny>,
        stop: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let kwargs = options.cloned().unwrap_or_else(|| PyDict::new(py));
        py.import("keel._queue")?
            .call_method1("work", (slf, handler, stop, kwargs))
    }

    /// A worker session for `keel._queue` (not part of the API).
    #[pyo3(signature = (**options))]
    fn _session(&self, options: Option<&Bound<'_, PyDict>>) -> PyResult<PyWorkerSession> {
        let options = kwargs(options);
        let session =
            guard(|| WorkerSession::new_value(self.inner.clone(), options, Case::Snake, ""))?;
        Ok(PyWorkerSession {
            inner: Arc::new(session),
        })
    }
}

/// One worker's decisions, for `keel._queue` to drive (not part of the API).
#[pyclass(frozen, name = "_WorkerSession", module = "keel._native")]
pub struct PyWorkerSession {
    inner: Arc<WorkerSession>,
}

#[pymethods]
impl PyWorkerSession {
    /// The next items to run, or None when done (awaitable).
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable!(py, self.inner, |s| Ok(Json(
            s.next_value(Case::Snake).await?
        )))
    }

    /// The handler of item `id` answered `value`, or raised with `error` (its message).
    #[pyo3(signature = (id, lease_token, value, error = None))]
    fn settle(
        &self,
        id: Arg<String>,
        lease_token: Arg<u64>,
        value: &Bound<'_, PyAny>,
        error: Option<String>,
    ) -> PyResult<()> {
        let answer = match error {
            Some(message) => Err(message),
            None => Ok(to_json(value, 0)),
        };
        guard(|| {
            self.inner
                .settle_value(&id.0, lease_token.0, answer, Case::Snake)
        })
    }

    /// Stops claiming; `next` returns None once the running items are recorded.
    fn stop(&self) {
        self.inner.stop();
    }

    /// What it did so far.
    fn report(&self) -> Json {
        Json::of(&self.inner.report())
    }
}

/// A rate limiter in this process (GCRA per key, bounded memory).
#[pyclass(frozen, name = "LocalLimiter", module = "keel._native")]
pub struct PyLocalLimiter {
    inner: LocalLimiter,
}

#[pymethods]
impl PyLocalLimiter {
    /// A limiter holding at most `capacity` busy keys (default 100,000).
    #[new]
    #[pyo3(signature = (capacity = None))]
    fn new(capacity: Option<Arg<usize>>) -> PyResult<Self> {
        let inner = match Arg::opt(capacity) {
            None => LocalLimiter::default(),
            Some(c) => guard(|| LocalLimiter::new(c))?,
        };
        Ok(PyLocalLimiter { inner })
    }

    /// Decides one request on `key` under `limit` (per `period_ms`, default a minute;
    /// `burst`, default 1): a `keel.types.Decision`.
    #[pyo3(signature = (key, **limit))]
    fn check(&self, key: Arg<String>, limit: Option<&Bound<'_, PyDict>>) -> PyResult<Json> {
        let one = args(vec![("key", key.0.into())], limit);
        let keys = args(
            vec![("keys", Value::Array(one.into_iter().collect()))],
            None,
        );
        guard(|| self.inner.acquire_value(keys, Case::Snake)).map(Json)
    }

    /// Decides one request on several keys together, all or none: `keys` (dicts of `key`,
    /// `limit`, `period_ms`, `burst`) and/or `org_id` with `providers` (limits from `limits`,
    /// default hubspot 8, calendar 10, slack 5 a minute).
    #[pyo3(signature = (**acquisition))]
    fn acquire(&self, acquisition: Option<&Bound<'_, PyDict>>) -> PyResult<Json> {
        guard(|| {
            self.inner
                .acquire_value(args(vec![], acquisition), Case::Snake)
        })
        .map(Json)
    }

    /// How many keys hold state.
    fn keys(&self) -> usize {
        self.inner.keys()
    }
}

/// Rate limits shared through the database; make it with `db.shared_limiter()`.
#[pyclass(frozen, name = "SharedLimiter", module = "keel._native")]
pub struct PySharedLimiter {
    inner: SharedLimiter,
}

/// `db.shared_limiter()`.
pub fn open_shared(keel: &keel::Keel) -> PySharedLimiter {
    PySharedLimiter {
        inner: SharedLimiter::open(keel),
    }
}

#[pymethods]
impl PySharedLimiter {
    /// `LocalLimiter.check`, decided in the database (awaitable).
    #[pyo3(signature = (key, **limit))]
    fn check<'py>(
        &self,
        py: Python<'py>,
        key: Arg<String>,
        limit: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let one = args(vec![("key", key.0.into())], limit);
        let keys = args(
            vec![("keys", Value::Array(one.into_iter().collect()))],
            None,
        );
        awaitable!(py, self.inner, |s| Ok(Json(
            s.acquire_value(keys, Case::Snake).await?
        )))
    }

    /// `LocalLimiter.acquire`, decided in the database (awaitable).
    #[pyo3(signature = (**acquisition))]
    fn acquire<'py>(
        &self,
        py: Python<'py>,
        acquisition: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = args(vec![], acquisition);
        awaitable!(py, self.inner, |s| Ok(Json(
            s.acquire_value(a, Case::Snake).await?
        )))
    }
}

/// One GCRA decision, pure: `limit` (`limit`, `period_ms`, `burst`), the key's `tat_ms` and
/// `now_ms`: a `keel.types.Decided`. What both limiters compute.
#[pyfunction]
#[pyo3(signature = (**input))]
fn rate_limit_decide(input: Option<&Bound<'_, PyDict>>) -> PyResult<Json> {
    let input = args(vec![], input);
    guard(|| flow::decide_value(input, Case::Snake)).map(|d| Json::of(&d))
}

/// Adds the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rate_limit_decide, m)?)?;
    m.add_class::<PyQueue>()?;
    m.add_class::<PyWorkerSession>()?;
    m.add_class::<PyLocalLimiter>()?;
    m.add_class::<PySharedLimiter>()?;
    Ok(())
}
