//! `Keel.dedup` and `Dedup`, `dedupKey`, `mergeReports`, `minhash`, `MinHasher`, `MinHash`
//! and `MinHashLsh`: deduplication and near-duplicate detection (core: `keel::dedup`, which
//! owns the keys, the merge, the hashing, the defaults and every check).

use napi::bindgen_prelude::{Buffer, ClassInstance, Uint32Array};
use napi_derive::napi;
use serde_json::Value;

use keel::dedup::{self, MinHasher as Hasher};
use keel::options::Case::Camel;

use crate::error::{Arg, Outcome, guard, js_error, run};
use crate::flow::args;
use crate::json::{Json, Parsed};
use crate::options::record;

/// A MinHash signature: `jaccard(other)` estimates the Jaccard similarity of two texts' word
/// shingles; `toBytes()` stores it with its version and parameters.
#[napi]
pub struct MinHash {
    inner: dedup::MinHash,
}

#[napi]
impl MinHash {
    /// The minimum per permutation.
    #[napi(getter)]
    pub fn values(&self) -> Uint32Array {
        Uint32Array::new(self.inner.values().to_vec())
    }

    /// The number of permutations.
    #[napi(getter)]
    pub fn num_perm(&self) -> u32 {
        self.inner.num_perm() as u32
    }

    /// The seed of its permutations (a string: it may exceed 2^53).
    #[napi(getter)]
    pub fn seed(&self) -> String {
        self.inner.seed().to_string()
    }

    /// Its shingle width in words.
    #[napi(getter)]
    pub fn shingle_words(&self) -> u32 {
        self.inner.shingle_words()
    }

    /// The estimated Jaccard similarity with `other` (made with the same parameters).
    #[napi(ts_args_type = "other: MinHash", ts_return_type = "number")]
    pub fn jaccard(&self, Arg(other): Arg<ClassInstance<'_, MinHash>>) -> Outcome<f64> {
        guard(|| self.inner.jaccard(&other.inner))
    }

    /// Whether `other` has the same parameters and values.
    #[napi(ts_args_type = "other: MinHash")]
    pub fn equals(&self, Arg(other): Arg<ClassInstance<'_, MinHash>>) -> bool {
        self.inner == other.inner
    }

    /// Its bytes: the format version, its parameters and its values.
    #[napi(ts_return_type = "Uint8Array")]
    pub fn to_bytes(&self) -> Buffer {
        self.inner.to_bytes().into()
    }

    /// A signature from `toBytes()`; another version is refused.
    #[napi(factory, ts_args_type = "bytes: Uint8Array")]
    pub fn from_bytes(env: napi::Env, Arg(bytes): Arg<Buffer>) -> napi::Result<Self> {
        guard(|| dedup::MinHash::from_bytes(&bytes))
            .0
            .map(|inner| MinHash { inner })
            .map_err(|e| js_error(&env, &e))
    }
}

/// The signature of `text` (word shingles, lowercased; options `numPerm` 128, `shingleWords`
/// 3, `seed` 1 by default).
#[napi(
    ts_args_type = "text: string, options?: MinHashOptions | null",
    ts_return_type = "MinHash"
)]
pub fn minhash(Arg(text): Arg<String>, options: Option<Json>) -> Outcome<MinHash> {
    guard(|| {
        let hasher = Hasher::for_value(options.map(|o| o.0), Camel, "options")?;
        hasher.signature(&text).map(|inner| MinHash { inner })
    })
}

/// Makes signatures with one set of options (`numPerm`, `shingleWords`, `seed`).
#[napi]
pub struct MinHasher {
    inner: Hasher,
}

#[napi]
impl MinHasher {
    /// A hasher with `options`.
    #[napi(constructor, ts_args_type = "options?: MinHashOptions | null")]
    pub fn new(env: napi::Env, options: Option<Json>) -> napi::Result<Self> {
        guard(|| Hasher::new_value(options.map(|o| o.0), Camel, "options"))
            .0
            .map(|inner| MinHasher { inner })
            .map_err(|e| js_error(&env, &e))
    }

    /// The signature of `text`.
    #[napi(ts_args_type = "text: string", ts_return_type = "MinHash")]
    pub fn signature(&self, Arg(text): Arg<String>) -> Outcome<MinHash> {
        guard(|| self.inner.signature(&text).map(|inner| MinHash { inner }))
    }
}

/// An in-memory LSH index of signatures by key: bands and rows derived from
/// `options.threshold` (default 0.8) for signatures of `options.numPerm` permutations
/// (default 128).
#[napi(js_name = "MinHashLsh")]
pub struct MinHashLsh {
    inner: dedup::MinHashLsh,
}

#[napi]
impl MinHashLsh {
    /// An empty index.
    #[napi(
        constructor,
        ts_args_type = "options?: { threshold?: number; numPerm?: number } | null"
    )]
    pub fn new(env: napi::Env, options: Option<Json>) -> napi::Result<Self> {
        guard(|| dedup::MinHashLsh::new_value(options.map(|o| o.0), Camel, "options"))
            .0
            .map(|inner| MinHashLsh { inner })
            .map_err(|e| js_error(&env, &e))
    }

    /// Adds `minhash` under `key`, replacing what `key` held.
    #[napi(
        ts_args_type = "key: string, minhash: MinHash",
        ts_return_type = "void"
    )]
    pub fn insert(
        &mut self,
        Arg(key): Arg<String>,
        Arg(minhash): Arg<ClassInstance<'_, MinHash>>,
    ) -> Outcome<()> {
        guard(|| self.inner.insert(&key, minhash.inner.clone()))
    }

    /// Removes `key`; whether it was there.
    #[napi(ts_args_type = "key: string")]
    pub fn remove(&mut self, Arg(key): Arg<String>) -> bool {
        self.inner.remove(&key)
    }

    /// The near-duplicates of `minhash` (`{key, jaccard}`), most similar first, each confirmed
    /// by its estimated Jaccard.
    #[napi(ts_args_type = "minhash: MinHash", ts_return_type = "Similar[]")]
    pub fn query(&self, Arg(minhash): Arg<ClassInstance<'_, MinHash>>) -> Outcome<Value> {
        guard(|| Ok(record(&self.inner.query(&minhash.inner)?)))
    }

    /// The keys sharing a band with `minhash`, unconfirmed, sorted.
    #[napi(ts_args_type = "minhash: MinHash", ts_return_type = "string[]")]
    pub fn candidates(
        &self,
        Arg(minhash): Arg<ClassInstance<'_, MinHash>>,
    ) -> Outcome<Vec<String>> {
        guard(|| self.inner.candidates(&minhash.inner))
    }

    /// The number of bands.
    #[napi(getter)]
    pub fn bands(&self) -> u32 {
        self.inner.params().bands
    }

    /// The values per band.
    #[napi(getter)]
    pub fn rows(&self) -> u32 {
        self.inner.params().rows
    }

    /// The Jaccard threshold.
    #[napi(getter)]
    pub fn threshold(&self) -> f64 {
        self.inner.threshold()
    }

    /// The least estimated Jaccard a query confirms (a pair at the threshold is returned 95 %
    /// of the time).
    #[napi(getter)]
    pub fn confirm_at(&self) -> f64 {
        self.inner.confirm_at()
    }

    /// How many keys it holds.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }
}

/// Deduplication of Command Centre items; make it with `db.dedup(options)`.
#[napi]
pub struct Dedup {
    inner: dedup::Dedup,
}

/// `db.dedup(options)`.
pub fn open_dedup(keel: &keel::Keel, options: Option<Json>) -> Outcome<Dedup> {
    let opened = guard(|| dedup::Dedup::open_value(keel, options.map(|o| o.0), Camel, "options"));
    Outcome(opened.0.map(|inner| Dedup { inner }))
}

impl Dedup {
    async fn call(&self, op: &'static str, args: Option<Value>) -> napi::Result<Outcome<Parsed>> {
        run!(self.inner, |d| d
            .call_value(op, args, Camel)
            .await
            .map(|v| Parsed(v.to_string())))
    }
}

#[napi]
impl Dedup {
    /// Enqueues items and checks each at once: one `Checked` per item.
    #[napi(
        ts_args_type = "items: NewItem[]",
        ts_return_type = "Promise<Checked[]>"
    )]
    pub async fn enqueue(&self, items: Json) -> napi::Result<Outcome<Parsed>> {
        self.call("enqueue", args(vec![("items", items.0)], None))
            .await
    }

    /// Deduplicates a stored item, before enrichment; an item in flight is checked only with
    /// its `options.leaseToken`.
    #[napi(
        ts_args_type = "id: string, options?: { leaseToken?: number } | null",
        ts_return_type = "Promise<Checked>"
    )]
    pub async fn check(
        &self,
        Arg(id): Arg<String>,
        options: Option<Json>,
    ) -> napi::Result<Outcome<Parsed>> {
        self.call("check", args(vec![("id", id.into())], options))
            .await
    }

    /// Records an item's score and recomputes its group's confidence, approving a `ready`
    /// primary at 0.7.
    #[napi(
        ts_args_type = "id: string, confidence: number",
        ts_return_type = "Promise<Scored>"
    )]
    pub async fn score(
        &self,
        Arg(id): Arg<String>,
        Json(confidence): Json,
    ) -> napi::Result<Outcome<Parsed>> {
        self.call(
            "score",
            args(vec![("id", id.into()), ("confidence", confidence)], None),
        )
        .await
    }

    /// The group whose primary is `id`, or null.
    #[napi(
        ts_args_type = "id: string",
        ts_return_type = "Promise<DedupGroup | null>"
    )]
    pub async fn group(&self, Arg(id): Arg<String>) -> napi::Result<Outcome<Parsed>> {
        self.call("group", args(vec![("id", id.into())], None))
            .await
    }

    /// What dedup did for `orgId`: counter name (`primaries`, `suppressed`, `merged`,
    /// `near_merged`, `superseded`, `escalated`, `approved`) to count.
    #[napi(
        ts_args_type = "orgId: string",
        ts_return_type = "Promise<Record<string, number>>"
    )]
    pub async fn counts(&self, Arg(org): Arg<String>) -> napi::Result<Outcome<Parsed>> {
        self.call("counts", args(vec![("orgId", org.into())], None))
            .await
    }

    /// Closes passed merge windows and checks every pending item no stage has checked.
    #[napi(
        ts_args_type = "options?: { org?: string; dryRun?: boolean } | null",
        ts_return_type = "Promise<DedupSweep>"
    )]
    pub async fn sweep(&self, options: Option<Json>) -> napi::Result<Outcome<Parsed>> {
        self.call("sweep", args(vec![], options)).await
    }
}

/// The dedup key of an item: org, user, type, entity and action.
#[napi(ts_args_type = "item: DedupKeyItem", ts_return_type = "string")]
pub fn dedup_key(item: Json) -> Outcome<String> {
    guard(|| dedup::dedup_key_value(Some(item.0), Camel))
}

/// The group the first of `reports` starts and the rest join: `{group, escalated}`.
#[napi(
    ts_args_type = "reports: MergeReport[], options?: { queuePriority?: number } | null",
    ts_return_type = "Merged"
)]
pub fn merge_reports(Json(reports): Json, options: Option<Json>) -> Outcome<Value> {
    guard(|| dedup::merge_value(args(vec![("reports", reports)], options), Camel))
}
