//! `Keel.dedup` and `Dedup`, `keel.dedup_key`, `keel.merge_reports`, `keel.minhash`,
//! `MinHasher`, `MinHash` and `MinHashLsh`: deduplication and near-duplicate detection (core:
//! `keel::dedup`, which owns the keys, the merge, the hashing, the defaults and every check).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use keel::dedup::{self, MinHasher};
use keel::options::Case;

use crate::error::Arg;
use crate::flow::args;
use crate::json::{Json, kwargs, to_json, to_json_strict};
use crate::runtime::{call, guard};

/// A MinHash signature: `jaccard(other)` estimates the Jaccard similarity of two texts' word
/// shingles; `to_bytes()` stores it with its version and parameters.
#[pyclass(frozen, eq, name = "MinHash", module = "keel._native")]
#[derive(PartialEq)]
pub struct PyMinHash {
    inner: dedup::MinHash,
}

#[pymethods]
impl PyMinHash {
    /// The minimum per permutation.
    #[getter]
    fn values(&self) -> Vec<u32> {
        self.inner.values().to_vec()
    }

    /// The number of permutations.
    #[getter]
    fn num_perm(&self) -> usize {
        self.inner.num_perm()
    }

    /// The seed of its permutations.
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed()
    }

    /// Its shingle width in words.
    #[getter]
    fn shingle_words(&self) -> u32 {
        self.inner.shingle_words()
    }

    /// The estimated Jaccard similarity with `other` (made with the same parameters).
    fn jaccard(&self, other: Arg<PyRef<'_, PyMinHash>>) -> PyResult<f64> {
        guard(|| self.inner.jaccard(&other.0.inner))
    }

    /// Its bytes: the format version, its parameters and its values.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// A signature from `to_bytes()`; another version is refused.
    #[staticmethod]
    fn from_bytes(data: Arg<Vec<u8>>) -> PyResult<Self> {
        guard(|| dedup::MinHash::from_bytes(&data.0)).map(|inner| PyMinHash { inner })
    }

    fn __repr__(&self) -> String {
        format!(
            "MinHash(num_perm={}, shingle_words={}, seed={})",
            self.inner.num_perm(),
            self.inner.shingle_words(),
            self.inner.seed()
        )
    }
}

/// The signature of `text` (word shingles, lowercased; options `num_perm` 128, `shingle_words`
/// 3, `seed` 1 by default).
#[pyfunction]
#[pyo3(signature = (text, **options))]
fn minhash(
    py: Python<'_>,
    text: Arg<&str>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyMinHash> {
    let options = kwargs(options);
    let text = text.0;
    guard(|| {
        let hasher = MinHasher::for_value(options, Case::Snake, "")?;
        py.detach(|| hasher.signature(text))
    })
    .map(|inner| PyMinHash { inner })
}

/// Makes signatures with one set of options (`num_perm`, `shingle_words`, `seed`).
#[pyclass(frozen, name = "MinHasher", module = "keel._native")]
pub struct PyMinHasher {
    inner: MinHasher,
}

#[pymethods]
impl PyMinHasher {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let options = kwargs(options);
        guard(|| MinHasher::new_value(options, Case::Snake, "")).map(|inner| PyMinHasher { inner })
    }

    /// The signature of `text`.
    fn signature(&self, py: Python<'_>, text: Arg<&str>) -> PyResult<PyMinHash> {
        let text = text.0;
        guard(|| py.detach(|| self.inner.signature(text))).map(|inner| PyMinHash { inner })
    }
}

/// An in-memory LSH index of signatures by key: bands and rows derived from `threshold`
/// (default 0.8) for signatures of `num_perm` permutations (default 128).
#[pyclass(name = "MinHashLsh", module = "keel._native")]
pub struct PyMinHashLsh {
    inner: dedup::MinHashLsh,
}

#[pymethods]
impl PyMinHashLsh {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let options = kwargs(options);
        guard(|| dedup::MinHashLsh::new_value(options, Case::Snake, ""))
            .map(|inner| PyMinHashLsh { inner })
    }

    /// Adds `minhash` under `key`, replacing what `key` held.
    fn insert(&mut self, key: Arg<&str>, minhash: Arg<PyRef<'_, PyMinHash>>) -> PyResult<()> {
        guard(|| self.inner.insert(key.0, minhash.0.inner.clone()))
    }

    /// Removes `key`; whether it was there.
    fn remove(&mut self, key: Arg<&str>) -> bool {
        self.inner.remove(key.0)
    }

    /// The near-duplicates of `minhash`: `keel.types.Similar` dicts (`key`, `jaccard`), most
    /// similar first, each confirmed by its estimated Jaccard.
    fn query(&self, minhash: Arg<PyRef<'_, PyMinHash>>) -> PyResult<Json> {
        guard(|| self.inner.query(&minhash.0.inner)).map(|found| Json::of(&found))
    }

    /// The keys sharing a band with `minhash`, unconfirmed, sorted.
    fn candidates(&self, minhash: Arg<PyRef<'_, PyMinHash>>) -> PyResult<Vec<String>> {
        guard(|| self.inner.candidates(&minhash.0.inner))
    }

    /// The number of bands.
    #[getter]
    fn bands(&self) -> u32 {
        self.inner.params().bands
    }

    /// The values per band.
    #[getter]
    fn rows(&self) -> u32 {
        self.inner.params().rows
    }

    /// The Jaccard threshold.
    #[getter]
    fn threshold(&self) -> f64 {
        self.inner.threshold()
    }

    /// The least estimated Jaccard a query confirms (a pair at the threshold is returned 95 %
    /// of the time).
    #[getter]
    fn confirm_at(&self) -> f64 {
        self.inner.confirm_at()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// Deduplication of Command Centre items; make it with `db.dedup(**options)`.
#[pyclass(frozen, name = "Dedup", module = "keel._native")]
pub struct PyDedup {
    inner: dedup::Dedup,
}

/// `db.dedup(**options)`.
pub fn open_dedup(keel: &keel::Keel, options: Option<&Bound<'_, PyDict>>) -> PyResult<PyDedup> {
    let options = kwargs(options);
    guard(|| dedup::Dedup::open_value(keel, options, Case::Snake, ""))
        .map(|inner| PyDedup { inner })
}

#[pymethods]
impl PyDedup {
    /// Enqueues items (dicts of `keel.types.NewItem`) and checks each at once (awaitable): a
    /// `keel.types.Checked` per item.
    fn enqueue<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let items = guard(|| to_json_strict(items, 0, "items"))?;
        call(
            py,
            &self.inner,
            "enqueue",
            args(vec![("items", items)], None),
        )
    }

    /// Deduplicates a stored item, before enrichment (awaitable): a `keel.types.Checked`. An
    /// item in flight is checked only with its `lease_token`.
    #[pyo3(signature = (id, **options))]
    fn check<'py>(
        &self,
        py: Python<'py>,
        id: Arg<String>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "check",
            args(vec![("id", id.0.into())], options),
        )
    }

    /// Records an item's score and recomputes its group's confidence, approving a `ready`
    /// primary at 0.7 (awaitable): a `keel.types.Scored`.
    fn score<'py>(
        &self,
        py: Python<'py>,
        id: Arg<String>,
        confidence: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let named = vec![("id", id.0.into()), ("confidence", to_json(confidence, 0))];
        call(py, &self.inner, "score", args(named, None))
    }

    /// The group whose primary is `id` (awaitable): a `keel.types.DedupGroup` or None.
    fn group<'py>(&self, py: Python<'py>, id: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "group",
            args(vec![("id", id.0.into())], None),
        )
    }

    /// What dedup did for `org_id` (awaitable): counter name to count.
    fn counts<'py>(&self, py: Python<'py>, org_id: Arg<String>) -> PyResult<Bound<'py, PyAny>> {
        call(
            py,
            &self.inner,
            "counts",
            args(vec![("org_id", org_id.0.into())], None),
        )
    }

    /// Closes passed merge windows and checks every pending item no stage has checked
    /// (`org`, `dry_run`) (awaitable): a `keel.types.DedupSweep`.
    #[pyo3(signature = (**options))]
    fn sweep<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call(py, &self.inner, "sweep", args(vec![], options))
    }
}

/// The dedup key of an item (`org_id`, `user_id`, `item_type`, `deal_id`, `contact_id`,
/// `context`): org, user, type, entity and action.
#[pyfunction]
#[pyo3(signature = (**item))]
fn dedup_key(item: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
    let item = kwargs(item);
    guard(|| dedup::dedup_key_value(item, Case::Snake))
}

/// The group the first of `reports` (dicts of `id`, `agent`, `confidence_score`, `context`)
/// starts and the rest join: `{group, escalated}`.
#[pyfunction]
#[pyo3(signature = (reports, **options))]
fn merge_reports(
    reports: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Json> {
    let named = args(vec![("reports", to_json(reports, 0))], options);
    guard(|| dedup::merge_value(named, Case::Snake)).map(Json)
}

/// Adds this module's functions and classes to `keel._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDedup>()?;
    m.add_function(wrap_pyfunction!(dedup_key, m)?)?;
    m.add_function(wrap_pyfunction!(merge_reports, m)?)?;
    m.add_class::<PyMinHash>()?;
    m.add_class::<PyMinHasher>()?;
    m.add_class::<PyMinHashLsh>()?;
    m.add_function(wrap_pyfunction!(minhash, m)?)
}
