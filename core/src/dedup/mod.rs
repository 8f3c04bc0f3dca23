//! Deduplication: one key per item ([`dedup_key`]: org, user, type, entity, action), one merge
//! (the noisy-OR of [`merge`] applied atomically in the database), and near-duplicates by
//! MinHash ([`MinHasher`], [`MinHash`]) with LSH ([`MinHashLsh`] in memory; bands stored per
//! org for the queue).
//!
//! ```
//! use keel::dedup::{MinHashLsh, MinHasher};
//!
//! let hasher = MinHasher::default();
//! let mut index = MinHashLsh::new(0.8, 128)?;
//! index.insert("a", hasher.signature("Acme renewal at risk: the champion left last week")?)?;
//! let found = index.query(&hasher.signature("acme renewal at risk -- the champion left last week!")?)?;
//! assert_eq!(found[0].key, "a");
//! # Ok::<(), keel::Error>(())
//! ```

mod calls;
mod group;
mod key;
mod lsh;
pub mod merge;
mod minhash;
mod statements;
mod store;
mod sweep;

pub use calls::{DEDUP_CALLS, dedup_key_value, merge_value};
pub use group::{COUNTERS, GroupView, Member, Scored};
pub use key::{KeyParts, dedup_key};
pub use lsh::{
    CANDIDATE_AT_THRESHOLD, CONFIRM_Z, DEFAULT_THRESHOLD, LshOptions, LshParams, MinHashLsh,
    Similar,
};
pub use merge::{Group, Report};
pub use minhash::{
    DEFAULT_NUM_PERM, DEFAULT_SEED, DEFAULT_SHINGLE_WORDS, MAX_TEXT_BYTES, MinHash, MinHashOptions,
    MinHasher, NUM_PERM_RANGE, SIGNATURE_VERSION,
};
pub use store::{Checked, Dedup, DedupOptions, Verdict};
pub use sweep::{DedupSweep, SWEEP_PAGE};
