//! `Keel.dedup` and `Dedup`, `dedupKey`, `mergeReports`, `minhash`, `MinHasher`, `MinHash`
//! and `MinHashLsh` (core: `keel::dedup`, whose `call_value` and `*_value` calls read the
//! arguments and own every default and check).

use std::sync::Arc;

use keel::dedup;
use keel::options::Case;
use serde_json::{Map, Value};

use crate::error::KeelError;
use crate::json::{args, call_text as call, nullable, required, value};
use crate::runtime::within;
use crate::store::Keel;

/// How signatures are computed; a null field takes core's default.
#[derive(uniffi::Record, Default)]
pub struct MinHashOptions {
    /// Permutations (16 to 1,024; default 128).
    #[uniffi(default = None)]
    pub num_perm: Option<u32>,
    /// Words per shingle (default 3).
    #[uniffi(default = None)]
    pub shingle_words: Option<u32>,
    /// The permutations' seed (default 1).
    #[uniffi(default = None)]
    pub seed: Option<u64>,
}

impl MinHashOptions {
    /// The options as core reads them, camelCase as in Kotlin (core validates them and fills
    /// the defaults).
    fn to_value(&self) -> Value {
        let mut map = Map::new();
        let fields = [
            ("numPerm", self.num_perm.map(u64::from)),
            ("shingleWords", self.shingle_words.map(u64::from)),
            ("seed", self.seed),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                map.insert(key.to_owned(), value.into());
            }
        }
        Value::Object(map)
    }
}

/// A MinHash signature of a text's word shingles; equal when the signatures are.
#[derive(uniffi::Object, PartialEq)]
#[uniffi::export(Eq)]
pub struct MinHash {
    inner: dedup::MinHash,
}

#[uniffi::export]
impl MinHash {
    /// Reads a signature `toBytes` wrote.
    ///
    /// # Errors
    /// `invalid_input` (field `data`) for bytes that are not a signature.
    #[uniffi::constructor]
    pub fn from_bytes(data: Vec<u8>) -> Result<Arc<Self>, KeelError> {
        Ok(Arc::new(Self {
            inner: dedup::MinHash::from_bytes(&data)?,
        }))
    }

    /// The minimum hash per permutation.
    pub fn values(&self) -> Vec<u32> {
        self.inner.values().to_vec()
    }

    /// Permutations.
    pub fn num_perm(&self) -> u32 {
        u32::try_from(self.inner.num_perm()).unwrap_or(u32::MAX)
    }

    /// The permutations' seed.
    pub fn seed(&self) -> u64 {
        self.inner.seed()
    }

    /// Words per shingle.
    pub fn shingle_words(&self) -> u32 {
        self.inner.shingle_words()
    }

    /// The estimated Jaccard similarity of the two texts' shingles.
    ///
    /// # Errors
    /// `invalid_input` when the two were made with different options.
    pub fn jaccard(&self, other: Arc<MinHash>) -> Result<f64, KeelError> {
        Ok(self.inner.jaccard(&other.inner)?)
    }

    /// The portable byte form (the same in every language).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes()
    }
}

/// Computes signatures with one set of options.
#[derive(uniffi::Object)]
pub struct MinHasher {
    inner: dedup::MinHasher,
}

#[uniffi::export]
impl MinHasher {
    /// A hasher with `options`.
    ///
    /// # Errors
    /// `invalid_input` naming the option at fault.
    #[uniffi::constructor(default(options = None))]
    pub fn new(options: Option<MinHashOptions>) -> Result<Arc<Self>, KeelError> {
        let value = options.unwrap_or_default().to_value();
        let inner = dedup::MinHasher::new_value(Some(value), Case::Camel, "options")?;
        Ok(Arc::new(Self { inner }))
    }

    /// The signature of `text`.
    ///
    /// # Errors
    /// `invalid_input` (field `text`) when it has no words.
    pub fn signature(&self, text: String) -> Result<Arc<MinHash>, KeelError> {
        Ok(Arc::new(MinHash {
            inner: self.inner.signature(&text)?,
        }))
    }
}

/// The signature of `text` with `options` (a `MinHasher` made once is faster for many).
///
/// # Errors
/// As `MinHasher` and its `signature`.
#[uniffi::export(default(options = None))]
pub fn minhash(text: String, options: Option<MinHashOptions>) -> Result<Arc<MinHash>, KeelError> {
    MinHasher::new(options)?.signature(text)
}

/// How an LSH index is built; a null field takes core's default.
#[derive(uniffi::Record, Default)]
pub struct LshOptions {
    /// The Jaccard similarity that counts as a near-duplicate (0 < t < 1; default 0.8).
    #[uniffi(default = None)]
    pub threshold: Option<f64>,
    /// Permutations of the signatures it holds (default 128).
    #[uniffi(default = None)]
    pub num_perm: Option<u32>,
}

/// A near-duplicate found by `query`.
#[derive(uniffi::Record)]
pub struct Similar {
    /// The key it was inserted under.
    pub key: String,
    /// Its estimated Jaccard similarity with the query.
    pub jaccard: f64,
}

/// An in-memory LSH index of signatures by key: insert, remove, query for confirmed
/// near-duplicates or raw candidates. Safe to share between threads.
#[derive(uniffi::Object)]
pub struct MinHashLsh {
    inner: std::sync::RwLock<dedup::MinHashLsh>,
}

impl MinHashLsh {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, dedup::MinHashLsh> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, dedup::MinHashLsh> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[uniffi::export]
impl MinHashLsh {
    /// An empty index.
    ///
    /// # Errors
    /// `invalid_input` naming the option at fault.
    #[uniffi::constructor(default(options = None))]
    pub fn new(options: Option<LshOptions>) -> Result<Arc<Self>, KeelError> {
        let options = options.unwrap_or_default();
        let mut map = Map::new();
        if let Some(threshold) = options.threshold {
            map.insert("threshold".to_owned(), threshold.into());
        }
        if let Some(num_perm) = options.num_perm {
            map.insert("numPerm".to_owned(), num_perm.into());
        }
        let inner = dedup::MinHashLsh::new_value(Some(Value::Object(map)), Case::Camel, "options")?;
        Ok(Arc::new(Self {
            inner: std::sync::RwLock::new(inner),
        }))
    }

    /// Bands.
    pub fn bands(&self) -> u32 {
        self.read().params().bands
    }

    /// Values per band.
    pub fn rows(&self) -> u32 {
        self.read().params().rows
    }

    /// The similarity at which a candidate is confirmed.
    pub fn confirm_at(&self) -> f64 {
        self.read().confirm_at()
    }

    /// Signatures held.
    pub fn len(&self) -> u64 {
        self.read().len() as u64
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Adds `minhash` under `key` (replacing what the key held).
    ///
    /// # Errors
    /// `invalid_input` when the signature's permutations differ from the index's.
    pub fn insert(&self, key: String, minhash: Arc<MinHash>) -> Result<(), KeelError> {
        Ok(self.write().insert(&key, minhash.inner.clone())?)
    }

    /// Removes `key`; false when it was not there.
    pub fn remove(&self, key: String) -> bool {
        self.write().remove(&key)
    }

    /// The keys sharing a band with `minhash`, sorted.
    ///
    /// # Errors
    /// As `insert`.
    pub fn candidates(&self, minhash: Arc<MinHash>) -> Result<Vec<String>, KeelError> {
        Ok(self.read().candidates(&minhash.inner)?)
    }

    /// The candidates confirmed at the threshold, most similar first.
    ///
    /// # Errors
    /// As `insert`.
    pub fn query(&self, minhash: Arc<MinHash>) -> Result<Vec<Similar>, KeelError> {
        let found = self.read().query(&minhash.inner)?;
        Ok(found
            .into_iter()
            .map(|s| Similar {
                key: s.key,
                jaccard: s.jaccard,
            })
            .collect())
    }
}

/// Deduplication of Command Centre items (one key and one merge at insert time and before
/// enrichment, near-duplicates by MinHash, the post-scoring approval, the daily sweep); make it
/// with `keel.dedup(optionsJson)`. Items and results are JSON text in Node's camelCase shapes
/// (`NewItem`, `Checked`, `Scored`, `DedupGroup`, `DedupSweep`).
#[derive(uniffi::Object)]
pub struct Dedup {
    inner: dedup::Dedup,
}

#[uniffi::export]
impl Keel {
    /// Dedup with `optionsJson` (Node's `DedupOptions`: window, threshold, permutations;
    /// every default is core's).
    ///
    /// # Errors
    /// `invalid_input` naming the option out of range.
    #[uniffi::method(default(options_json = None))]
    pub fn dedup(&self, options_json: Option<String>) -> Result<Arc<Dedup>, KeelError> {
        let options = value(options_json.as_deref(), "options")?;
        let inner =
            within(|| dedup::Dedup::open_value(&self.inner, options, Case::Camel, "options"))?;
        Ok(Arc::new(Dedup { inner }))
    }
}

#[uniffi::export]
impl Dedup {
    /// Enqueues `itemsJson` (a `NewItem[]`) and checks each at once: a `Checked[]`.
    ///
    /// # Errors
    /// `invalid_input` naming the item's field (`items[0].context.confidence`).
    pub async fn enqueue(&self, items_json: String) -> Result<String, KeelError> {
        let args = move || args(vec![("items", required(&items_json, "items")?)], None);
        call(&self.inner, "enqueue", args).await
    }

    /// Deduplicates a stored item before enrichment (an item in flight only with its
    /// `leaseToken` in `optionsJson`): a `Checked`.
    ///
    /// # Errors
    /// `invalid_input` for an id that is not a UUID.
    #[uniffi::method(default(options_json = None))]
    pub async fn check(
        &self,
        id: String,
        options_json: Option<String>,
    ) -> Result<String, KeelError> {
        let args = move || args(vec![("id", id.into())], options_json.as_deref());
        call(&self.inner, "check", args).await
    }

    /// Records an item's score and recomputes its group's confidence, approving a `ready`
    /// primary at 0.7: a `Scored`.
    ///
    /// # Errors
    /// `invalid_input` naming `confidence` outside 0 to 1.
    pub async fn score(&self, id: String, confidence: f64) -> Result<String, KeelError> {
        let args = move || {
            let confidence = serde_json::Number::from_f64(confidence)
                .map_or(Value::String(confidence.to_string()), Value::Number);
            args(vec![("id", id.into()), ("confidence", confidence)], None)
        };
        call(&self.inner, "score", args).await
    }

    /// The group whose primary is `id` (a `DedupGroup`), or null.
    ///
    /// # Errors
    /// `invalid_input` for an id that is not a UUID.
    pub async fn group(&self, id: String) -> Result<Option<String>, KeelError> {
        let answer = crate::json::call(&self.inner, "group", move || {
            args(vec![("id", id.into())], None)
        });
        Ok(nullable(answer.await?))
    }

    /// What dedup did for `orgId`: counter name (`primaries`, `suppressed`, `merged`,
    /// `near_merged`, `superseded`, `escalated`, `approved`) to count, as JSON.
    ///
    /// # Errors
    /// `invalid_input` for an empty org.
    pub async fn counts(&self, org_id: String) -> Result<String, KeelError> {
        call(&self.inner, "counts", move || {
            args(vec![("orgId", org_id.into())], None)
        })
        .await
    }

    /// Closes passed merge windows and checks every pending item no stage has checked
    /// (`optionsJson`: `org`, `dryRun`): a `DedupSweep`.
    ///
    /// # Errors
    /// `invalid_input` naming the option.
    #[uniffi::method(default(options_json = None))]
    pub async fn sweep(&self, options_json: Option<String>) -> Result<String, KeelError> {
        call(&self.inner, "sweep", move || {
            args(vec![], options_json.as_deref())
        })
        .await
    }
}

/// The dedup key of `itemJson` (a `DedupKeyItem`): org, user, type, entity and action.
///
/// # Errors
/// `invalid_input` naming the field.
#[uniffi::export]
pub fn dedup_key(item_json: String) -> Result<String, KeelError> {
    Ok(dedup::dedup_key_value(
        value(Some(&item_json), "item")?,
        Case::Camel,
    )?)
}

/// The group the first of `reportsJson` (a `MergeReport[]`) starts and the rest join, in lane
/// `queuePriority` of `optionsJson` (default 2): a `Merged` (`group`, `escalated`).
///
/// # Errors
/// `invalid_input` naming the report's field.
#[uniffi::export(default(options_json = None))]
pub fn merge_reports(
    reports_json: String,
    options_json: Option<String>,
) -> Result<String, KeelError> {
    let args = args(
        vec![("reports", required(&reports_json, "reports")?)],
        options_json.as_deref(),
    )?;
    Ok(dedup::merge_value(Some(args), Case::Camel)?.to_string())
}
