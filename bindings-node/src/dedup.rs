//! `Keel.dedup` and `Dedup`, `dedupKey`, `mergeReports`, `minhash`, `MinHasher`, `MinHash`
//! (its class is in `dedup.js`) and `MinHashLsh`: deduplication and near-duplicate detection
//! (core: `keel::dedup`, which owns the keys, the merge, the hashing, the defaults and every
//! check).

use napi::bindgen_prelude::Uint32Array;
use napi_derive::napi;
use serde_json::{Value, json};

use keel::dedup::{self, MinHasher as Hasher};
use keel::options::Case::Camel;

use crate::error::{Arg, Outcome, call, guard, js_error};
use crate::flow::args;
use crate::json::{Json, LongText, Parsed};
use crate::options::record;

// `MinHash`, a signature, is JavaScript's class (in `dedup.js`, typed in `types.d.ts`): an
// object over its bytes ([`dedup::MinHash::to_bytes`]) cut from a buffer it shares with other
// signatures, because a native object per signature costs more than hashing the text. The
// functions below write and take those bytes.

/// Where a signature goes: `offset` into `arena`; its length, or minus the length it needs
/// when the rest of `arena` is shorter (then nothing was hashed).
fn place(
    arena: &mut [u8],
    offset: u32,
    write: impl FnOnce(&mut [u8]) -> keel::Result<Result<usize, usize>>,
) -> Outcome<i64> {
    guard(|| {
        let rest = arena.get_mut(offset as usize..).unwrap_or_default();
        Ok(match write(rest)? {
            Ok(len) => len as i64,
            Err(needed) => -(needed as i64),
        })
    })
}

/// A signature's bytes as core reads them.
fn signature(bytes: &[u8]) -> keel::Result<dedup::MinHash> {
    dedup::MinHash::from_bytes(bytes)
}

/// The signature of `text` (word shingles, lowercased; options `numPerm` 128, `shingleWords`
/// 3, `seed` 1 by default).
// Written into `arena` at `offset`, which `dedup.js`'s `minhash` passes (see `place`).
#[napi(
    ts_args_type = "text: string, options?: MinHashOptions | null",
    ts_return_type = "MinHash"
)]
pub fn minhash(
    text: LongText,
    options: Option<Json>,
    Arg(arena): Arg<&mut [u8]>,
    Arg(offset): Arg<u32>,
) -> Outcome<i64> {
    place(arena, offset, |out| {
        let hasher = Hasher::for_value(options.map(|o| o.0), Camel, "options")?;
        hasher.signature_into(text.as_str(), out)
    })
}

/// `MinHash.fromBytes(bytes)`: the signature in `bytes` (another version is refused), written
/// into `arena` at `offset`.
#[napi(js_name = "_minhashRead", skip_typescript)]
pub fn minhash_read(
    Arg(bytes): Arg<&[u8]>,
    Arg(arena): Arg<&mut [u8]>,
    Arg(offset): Arg<u32>,
) -> Outcome<i64> {
    place(arena, offset, |out| {
        let read = signature(bytes)?;
        Ok(read.write_bytes(out).ok_or(bytes.len()))
    })
}

/// `MinHash.values`: the minimum per permutation.
#[napi(js_name = "_minhashValues", skip_typescript)]
pub fn minhash_values(Arg(bytes): Arg<&[u8]>) -> Outcome<Uint32Array> {
    guard(|| signature(bytes).map(|s| Uint32Array::new(s.values().to_vec())))
}

/// `MinHash.numPerm`, `.seed` (a string: it may exceed 2^53) and `.shingleWords`.
#[napi(js_name = "_minhashParams", skip_typescript)]
pub fn minhash_params(Arg(bytes): Arg<&[u8]>) -> Outcome<Value> {
    guard(|| {
        signature(bytes).map(|s| {
            json!({"numPerm": s.num_perm(), "seed": s.seed().to_string(), "shingleWords": s.shingle_words()})
        })
    })
}

/// `MinHash.jaccard(other)`: the estimated Jaccard similarity of two signatures made with the
/// same parameters.
#[napi(js_name = "_minhashJaccard", skip_typescript)]
pub fn minhash_jaccard(Arg(bytes): Arg<&[u8]>, Arg(other): Arg<&[u8]>) -> Outcome<f64> {
    guard(|| signature(bytes)?.jaccard(&signature(other)?))
}

/// `MinHash.equals(other)`: whether two signatures have the same parameters and values.
#[napi(js_name = "_minhashEquals", skip_typescript)]
pub fn minhash_equals(Arg(bytes): Arg<&[u8]>, Arg(other): Arg<&[u8]>) -> Outcome<bool> {
    guard(|| Ok(signature(bytes)? == signature(other)?))
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
    // Written into `arena` at `offset`, which `dedup.js` passes (see `place`).
    #[napi(ts_args_type = "text: string", ts_return_type = "MinHash")]
    pub fn signature(
        &self,
        text: LongText,
        Arg(arena): Arg<&mut [u8]>,
        Arg(offset): Arg<u32>,
    ) -> Outcome<i64> {
        place(arena, offset, |out| {
            self.inner.signature_into(text.as_str(), out)
        })
    }
}

/// An in-memory LSH index of signatures by key: bands and rows derived from
/// `options.threshold` (default 0.8) for signatures of `options.numPerm` permutations
/// (default 128).
// Its methods take a signature's bytes: `dedup.js` passes a `MinHash`'s.
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
    pub fn insert(&mut self, Arg(key): Arg<String>, Arg(minhash): Arg<&[u8]>) -> Outcome<()> {
        guard(|| self.inner.insert(&key, signature(minhash)?))
    }

    /// Removes `key`; whether it was there.
    #[napi(ts_args_type = "key: string")]
    pub fn remove(&mut self, Arg(key): Arg<String>) -> bool {
        self.inner.remove(&key)
    }

    /// The near-duplicates of `minhash` (`{key, jaccard}`), most similar first, each confirmed
    /// by its estimated Jaccard.
    #[napi(ts_args_type = "minhash: MinHash", ts_return_type = "Similar[]")]
    pub fn query(&self, Arg(minhash): Arg<&[u8]>) -> Outcome<Value> {
        guard(|| Ok(record(&self.inner.query(&signature(minhash)?)?)))
    }

    /// The keys sharing a band with `minhash`, unconfirmed, sorted.
    #[napi(ts_args_type = "minhash: MinHash", ts_return_type = "string[]")]
    pub fn candidates(&self, Arg(minhash): Arg<&[u8]>) -> Outcome<Vec<String>> {
        guard(|| self.inner.candidates(&signature(minhash)?))
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

#[napi]
impl Dedup {
    /// Enqueues items and checks each at once: one `Checked` per item.
    #[napi(
        ts_args_type = "items: NewItem[]",
        ts_return_type = "Promise<Checked[]>"
    )]
    pub async fn enqueue(&self, items: Json) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "enqueue", args(vec![("items", items.0)], None)).await
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
        call(&self.inner, "check", args(vec![("id", id.into())], options)).await
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
        call(
            &self.inner,
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
        call(&self.inner, "group", args(vec![("id", id.into())], None)).await
    }

    /// What dedup did for `orgId`: counter name (`primaries`, `suppressed`, `merged`,
    /// `near_merged`, `superseded`, `escalated`, `approved`) to count.
    #[napi(
        ts_args_type = "orgId: string",
        ts_return_type = "Promise<Record<string, number>>"
    )]
    pub async fn counts(&self, Arg(org): Arg<String>) -> napi::Result<Outcome<Parsed>> {
        call(
            &self.inner,
            "counts",
            args(vec![("orgId", org.into())], None),
        )
        .await
    }

    /// Closes passed merge windows and checks every pending item no stage has checked.
    #[napi(
        ts_args_type = "options?: { org?: string; dryRun?: boolean } | null",
        ts_return_type = "Promise<DedupSweep>"
    )]
    pub async fn sweep(&self, options: Option<Json>) -> napi::Result<Outcome<Parsed>> {
        call(&self.inner, "sweep", args(vec![], options)).await
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
