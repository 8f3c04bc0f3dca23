//! Locality-sensitive hashing of MinHash signatures: bands and rows derived from a Jaccard
//! threshold ([`LshParams`]), band hashes ([`MinHash::band_hashes`]) shared by the in-memory
//! index ([`MinHashLsh`]) and the database's, and candidates confirmed by estimated Jaccard.

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::minhash::{DEFAULT_NUM_PERM, MinHash, NUM_PERM_RANGE};
use crate::error::{Error, Result};
use crate::options::{Case, from_value, rooted, spelt};

/// The default Jaccard threshold of a near-duplicate.
pub const DEFAULT_THRESHOLD: f64 = 0.8;
/// The least probability that a pair exactly at the threshold shares a band: the bands are
/// chosen so a near-duplicate is almost never missed by the index itself.
pub const CANDIDATE_AT_THRESHOLD: f64 = 0.99;
/// How many standard errors below the threshold a candidate's estimated Jaccard may be and
/// still be confirmed (one-sided 95 %): a pair exactly at the threshold is kept 95 % of the
/// time instead of half of it.
pub const CONFIRM_Z: f64 = 1.645;

/// How a signature is cut: `bands` bands of `rows` values; two signatures are candidates when
/// any band is equal, with probability `1 - (1 - s^rows)^bands` at Jaccard `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LshParams {
    /// The number of bands.
    pub bands: u32,
    /// The values per band.
    pub rows: u32,
}

/// Simpson's rule over `[a, b]` with 128 intervals.
fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    const N: usize = 128;
    let h = (b - a) / N as f64;
    let inner: f64 = (1..N)
        .map(|i| f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
        .sum();
    (f(a) + f(b) + inner) * h / 3.0
}

impl LshParams {
    /// The bands and rows for `threshold` over `num_perm` permutations: among the cuts that
    /// make a pair at the threshold a candidate with probability at least
    /// [`CANDIDATE_AT_THRESHOLD`], the one with the least area of false candidates below the
    /// threshold (fewer signatures to confirm). Unlike a fixed cut, it moves with the threshold.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `threshold` outside (0, 1) or NaN.
    pub fn for_threshold(threshold: f64, num_perm: u32) -> Result<LshParams> {
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(Error::invalid_input(
                "threshold",
                "must be a number between 0 and 1, exclusive",
            ));
        }
        let mut best = (
            f64::INFINITY,
            LshParams {
                bands: num_perm,
                rows: 1,
            },
        );
        for rows in 1..=num_perm {
            // The fewest bands of `rows` that reach the probability: more only add candidates.
            let Some(bands) = (1..=num_perm / rows).find(|&bands| {
                LshParams { bands, rows }.candidate_probability(threshold) >= CANDIDATE_AT_THRESHOLD
            }) else {
                continue;
            };
            let p = LshParams { bands, rows };
            let false_area = integrate(|s| p.candidate_probability(s), 0.0, threshold);
            if false_area < best.0 {
                best = (false_area, p);
            }
        }
        Ok(best.1)
    }

    /// The least estimated Jaccard that confirms a candidate at `threshold` with `num_perm`
    /// permutations: [`CONFIRM_Z`] standard errors of the estimate below the threshold.
    pub fn confirm_at(threshold: f64, num_perm: u32) -> f64 {
        threshold - CONFIRM_Z * (threshold * (1.0 - threshold) / f64::from(num_perm)).sqrt()
    }

    /// The probability that two signatures at Jaccard `s` share a band.
    pub fn candidate_probability(&self, s: f64) -> f64 {
        1.0 - (1.0 - s.powi(self.rows as i32)).powi(self.bands as i32)
    }
}

impl MinHash {
    /// One hash per band (XXH3 of the band's values, seeded by the band's number).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `params` need more values than the signature has.
    pub fn band_hashes(&self, params: LshParams) -> Result<Vec<u64>> {
        let rows = params.rows as usize;
        if (params.bands as usize) * rows > self.num_perm() {
            return Err(Error::invalid_input(
                "minhash",
                format!(
                    "has {} permutations; {} bands of {} rows need more",
                    self.num_perm(),
                    params.bands,
                    params.rows
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(rows * 4);
        Ok((0..params.bands as usize)
            .map(|band| {
                bytes.clear();
                for v in &self.values()[band * rows..(band + 1) * rows] {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                xxh3_64_with_seed(&bytes, band as u64)
            })
            .collect())
    }
}

/// A bucket of the index: most hold one entry.
#[derive(Debug, Clone)]
enum Bucket {
    One(u32),
    Many(Vec<u32>),
}

/// A near-duplicate found by a query: its key and estimated Jaccard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Similar {
    /// The key it was inserted under.
    pub key: String,
    /// Its estimated Jaccard similarity with the query.
    pub jaccard: f64,
}

/// An in-memory LSH index of signatures by key, for dedup outside the queue: insert, remove,
/// query for confirmed near-duplicates or raw candidates.
#[derive(Debug, Clone)]
pub struct MinHashLsh {
    threshold: f64,
    confirm_at: f64,
    params: LshParams,
    /// The signature every entry must be comparable with (the first one inserted).
    model: Option<MinHash>,
    entries: Vec<Option<(String, MinHash)>>,
    by_key: HashMap<String, u32>,
    free: Vec<u32>,
    tables: Vec<HashMap<u64, Bucket>>,
}

/// How an index is made; every field has a default.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LshOptions {
    /// The Jaccard similarity of a near-duplicate, between 0 and 1 exclusive (default 0.8).
    pub threshold: f64,
    /// The permutations of the signatures it holds (default 128).
    pub num_perm: u32,
}

impl Default for LshOptions {
    fn default() -> Self {
        LshOptions {
            threshold: DEFAULT_THRESHOLD,
            num_perm: DEFAULT_NUM_PERM,
        }
    }
}

impl MinHashLsh {
    /// An index from options as a binding passes them (`threshold`, `num_perm`; keys in
    /// `case`), errors naming the field under `root`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on an unknown or invalid option.
    pub fn new_value(options: Option<Value>, case: Case, root: &str) -> Result<Self> {
        let o: LshOptions = from_value(options, case, root)?;
        MinHashLsh::new(o.threshold, o.num_perm).map_err(|e| rooted(spelt(e, case), root))
    }

    /// An empty index for near-duplicates at `threshold` (default 0.8) among signatures of
    /// `num_perm` permutations (default 128).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `threshold` outside (0, 1).
    pub fn new(threshold: f64, num_perm: u32) -> Result<Self> {
        let (low, high) = NUM_PERM_RANGE;
        if !(low..=high).contains(&num_perm) {
            return Err(Error::invalid_input(
                "num_perm",
                format!("must be from {low} to {high}"),
            ));
        }
        let params = LshParams::for_threshold(threshold, num_perm)?;
        Ok(MinHashLsh {
            threshold,
            confirm_at: LshParams::confirm_at(threshold, num_perm),
            params,
            model: None,
            entries: Vec::new(),
            by_key: HashMap::new(),
            free: Vec::new(),
            tables: (0..params.bands).map(|_| HashMap::new()).collect(),
        })
    }

    /// Its bands and rows.
    pub fn params(&self) -> LshParams {
        self.params
    }

    /// Its Jaccard threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The least estimated Jaccard a query confirms ([`LshParams::confirm_at`]).
    pub fn confirm_at(&self) -> f64 {
        self.confirm_at
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    fn check(&self, minhash: &MinHash) -> Result<Vec<u64>> {
        if let Some(model) = &self.model
            && !model.comparable(minhash)
        {
            return Err(Error::invalid_input(
                "minhash",
                "was made with another seed, shingle width or permutation count than the index's",
            ));
        }
        minhash.band_hashes(self.params)
    }

    /// Adds `minhash` under `key`, replacing what `key` held.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on a signature not comparable with the index's.
    pub fn insert(&mut self, key: &str, minhash: MinHash) -> Result<()> {
        let hashes = self.check(&minhash)?;
        self.remove(key);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.entries.push(None);
                u32::try_from(self.entries.len() - 1)
                    .map_err(|_| Error::invalid_input("key", "the index is full"))?
            }
        };
        for (table, hash) in self.tables.iter_mut().zip(hashes) {
            table
                .entry(hash)
                .and_modify(|b| match b {
                    Bucket::One(first) => *b = Bucket::Many(vec![*first, slot]),
                    Bucket::Many(all) => all.push(slot),
                })
                .or_insert(Bucket::One(slot));
        }
        if self.model.is_none() {
            self.model = Some(minhash.clone());
        }
        self.entries[slot as usize] = Some((key.to_owned(), minhash));
        self.by_key.insert(key.to_owned(), slot);
        Ok(())
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(slot) = self.by_key.remove(key) else {
            return false;
        };
        let (_, minhash) = self.entries[slot as usize]
            .take()
            .expect("a key's slot holds it");
        let hashes = minhash
            .band_hashes(self.params)
            .expect("it was inserted with these params");
        for (table, hash) in self.tables.iter_mut().zip(hashes) {
            let empty = match table.get_mut(&hash) {
                Some(Bucket::One(_)) => true,
                Some(Bucket::Many(all)) => {
                    all.retain(|s| *s != slot);
                    all.is_empty()
                }
                None => false,
            };
            if empty {
                table.remove(&hash);
            }
        }
        self.free.push(slot);
        true
    }

    fn candidate_slots(&self, minhash: &MinHash) -> Result<Vec<u32>> {
        let mut slots = Vec::new();
        for (table, hash) in self.tables.iter().zip(self.check(minhash)?) {
            match table.get(&hash) {
                Some(Bucket::One(s)) => slots.push(*s),
                Some(Bucket::Many(all)) => slots.extend_from_slice(all),
                None => {}
            }
        }
        slots.sort_unstable();
        slots.dedup();
        Ok(slots)
    }

    /// The keys sharing at least one band with `minhash`, unconfirmed, sorted.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on a signature not comparable with the index's.
    pub fn candidates(&self, minhash: &MinHash) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self
            .candidate_slots(minhash)?
            .into_iter()
            .filter_map(|s| self.entries[s as usize].as_ref().map(|(k, _)| k.clone()))
            .collect();
        keys.sort_unstable();
        Ok(keys)
    }

    /// The near-duplicates of `minhash`: candidates whose estimated Jaccard reaches
    /// [`MinHashLsh::confirm_at`] (a pair at the threshold is returned 95 % of the time), most
    /// similar first (ties by key).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on a signature not comparable with the index's.
    pub fn query(&self, minhash: &MinHash) -> Result<Vec<Similar>> {
        let mut found: Vec<Similar> = self
            .candidate_slots(minhash)?
            .into_iter()
            .filter_map(|s| self.entries[s as usize].as_ref())
            .map(|(key, other)| Similar {
                key: key.clone(),
                jaccard: minhash.agreement(other),
            })
            .filter(|s| s.jaccard >= self.confirm_at)
            .collect();
        found.sort_by(|a, b| b.jaccard.total_cmp(&a.jaccard).then(a.key.cmp(&b.key)));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::MinHasher;

    #[test]
    fn bands_follow_the_threshold() {
        let low = LshParams::for_threshold(0.5, 128).unwrap();
        let high = LshParams::for_threshold(0.9, 128).unwrap();
        assert!(low.rows < high.rows, "{low:?} {high:?}");
        for (t, p) in [(0.5, low), (0.9, high)] {
            assert!(p.candidate_probability(t) >= CANDIDATE_AT_THRESHOLD);
            assert!(p.bands * p.rows <= 128);
        }
        assert!(high.candidate_probability(0.5) < 0.05);
        assert!((LshParams::confirm_at(0.8, 128) - 0.7418).abs() < 1e-3);
        assert!(LshParams::for_threshold(f64::NAN, 128).is_err());
        assert!(LshParams::for_threshold(1.0, 128).is_err());
    }

    #[test]
    fn an_index_finds_a_near_duplicate_and_forgets_a_removed_key() {
        let h = MinHasher::default();
        let base = "Acme renewal is at risk because the champion left and procurement \
                    asked for a discount before the quarter closes next month";
        let near = base.replace("next month", "next month.");
        let other = "Globex wants a demo of the reporting module for their finance team";
        let mut lsh = MinHashLsh::new(0.8, 128).unwrap();
        lsh.insert("a", h.signature(base).unwrap()).unwrap();
        lsh.insert("b", h.signature(other).unwrap()).unwrap();
        let found = lsh.query(&h.signature(&near).unwrap()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "a");
        assert!(lsh.remove("a"));
        assert!(!lsh.remove("a"));
        assert!(lsh.query(&h.signature(&near).unwrap()).unwrap().is_empty());
        assert_eq!(lsh.len(), 1);
        let other_seed = MinHasher::new(crate::dedup::MinHashOptions {
            seed: 9,
            ..Default::default()
        })
        .unwrap();
        assert!(
            lsh.insert("c", other_seed.signature(base).unwrap())
                .is_err()
        );
    }
}
