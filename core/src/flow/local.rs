//! The in-process limiter: GCRA per key in a sharded map with bounded memory.
//!
//! A key's whole state is its TAT; a key whose TAT has passed is idle and holds nothing, so
//! idle keys are dropped when a shard fills (governor's keyed stores grow until the caller
//! prunes them, governor#171). Several keys are decided together under their shards' locks,
//! all or none, which is why this is not governor: it has no way to check a key without
//! spending it.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use parking_lot::{Mutex, MutexGuard};

use super::limit::{Decision, Limit, check_keys};
use crate::error::{Error, Result};

const SHARDS: usize = 16;

/// A shard's keys and their TATs, found by the hash that also picked the shard.
type Shard = HashTable<(Box<str>, f64)>;

/// GCRA limits kept in this process, per key.
#[derive(Debug)]
pub struct LocalLimiter {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    /// A TSC-read clock (quanta): a few nanoseconds where the system clock call costs twenty.
    clock: quanta::Clock,
    epoch: u64,
    hasher: foldhash::fast::RandomState,
}

/// The busy keys a [`LocalLimiter`] holds unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 100_000;

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY).expect("the default capacity is valid")
    }
}

impl LocalLimiter {
    /// A limiter holding at most `capacity` busy keys (16 to 100,000,000). When full, idle
    /// keys are dropped first, then the key nearest to idle (which may admit it early).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `capacity`.
    pub fn new(capacity: usize) -> Result<Self> {
        if !(SHARDS..=100_000_000).contains(&capacity) {
            return Err(Error::invalid_input("capacity", "must be 16 to 100000000"));
        }
        let clock = quanta::Clock::new();
        Ok(LocalLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity / SHARDS,
            epoch: clock.raw(),
            clock,
            hasher: foldhash::fast::RandomState::default(),
        })
    }

    #[inline]
    fn now_ms(&self) -> f64 {
        self.clock.delta_as_nanos(self.epoch, self.clock.raw()) as f64 / 1e6
    }

    /// The key's hash (computed once: it picks the shard and finds the key in it) and shard.
    #[inline]
    fn place(&self, key: &str) -> (u64, usize) {
        let hash = self.hasher.hash_one(key);
        (hash, (hash >> 32) as usize % SHARDS)
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        self.shards[shard].lock()
    }

    /// Decides one request on `key` under `limit`, spending it when allowed.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `limit` or `key` (empty or over 200 characters).
    #[inline]
    pub fn check(&self, key: &str, limit: &Limit) -> Result<Decision> {
        limit.check("limit")?;
        if key.is_empty() || key.len() > 200 {
            check_keys(&[key])?;
        }
        let now = self.now_ms();
        let (hash, at) = self.place(key);
        let mut shard = self.lock(at);
        // One lookup: a known key's TAT is updated in place.
        if let Some((_, slot)) = shard.find_mut(hash, |(k, _)| &**k == key) {
            let (decision, next) = limit.decide(*slot, now);
            if decision.allowed {
                *slot = next;
            }
            return Ok(decision);
        }
        let (decision, next) = limit.decide(0.0, now);
        if decision.allowed {
            self.store(&mut shard, hash, key, next, now);
        }
        Ok(decision)
    }

    /// Decides one request on every key of `keys` together, each under its own limit: all
    /// are spent, or none is (a denial never wastes another key's capacity).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `keys` (none, over 16, a key twice) or on a limit.
    pub fn acquire(&self, keys: &[(&str, Limit)]) -> Result<Decision> {
        let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        check_keys(&names)?;
        for (key, limit) in keys {
            limit.check(&format!("limits.{key}"))?;
        }
        let places: Vec<(u64, usize)> = names.iter().map(|k| self.place(k)).collect();
        let mut order: Vec<usize> = places.iter().map(|p| p.1).collect();
        order.sort_unstable();
        order.dedup();
        // Shards are locked in index order, so two acquisitions never wait on each other.
        let mut guards: Vec<(usize, MutexGuard<'_, Shard>)> =
            order.iter().map(|&s| (s, self.lock(s))).collect();
        let now = self.now_ms();
        let mut decided = Vec::with_capacity(keys.len());
        for ((key, limit), &(hash, shard)) in keys.iter().zip(&places) {
            let (_, guard) = guards.iter().find(|(s, _)| *s == shard).expect("locked");
            let tat = guard.find(hash, |(k, _)| &**k == *key).map_or(0.0, |e| e.1);
            decided.push((tat, limit.decide(tat, now)));
        }
        let allowed = decided.iter().all(|(_, (d, _))| d.allowed);
        let mut decisions = Vec::with_capacity(keys.len());
        for (((key, limit), (tat, (decision, next))), &(hash, shard)) in
            keys.iter().zip(decided).zip(&places)
        {
            if allowed {
                let (_, guard) = guards
                    .iter_mut()
                    .find(|(s, _)| *s == shard)
                    .expect("locked");
                self.store(guard, hash, key, next, now);
                decisions.push(decision);
            } else {
                // Nothing is spent: report each key as it stands.
                decisions.push(limit.decision(decision.allowed, tat, now));
            }
        }
        Ok(Decision::combine(&names, decisions))
    }

    fn store(&self, shard: &mut Shard, hash: u64, key: &str, tat: f64, now: f64) {
        if let Some((_, slot)) = shard.find_mut(hash, |(k, _)| &**k == key) {
            *slot = tat;
            return;
        }
        if shard.len() >= self.per_shard {
            shard.retain(|(_, t)| *t > now);
            if shard.len() >= self.per_shard
                && let Some(nearest) = shard
                    .iter()
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(k, _)| k.clone())
            {
                let h = self.hasher.hash_one(&*nearest);
                if let Ok(entry) = shard.find_entry(h, |(k, _)| *k == nearest) {
                    entry.remove();
                }
            }
        }
        let hasher = &self.hasher;
        shard.insert_unique(hash, (key.into(), tat), |(k, _)| hasher.hash_one(&**k));
    }

    /// How many keys hold state (busy or not yet dropped).
    pub fn keys(&self) -> usize {
        (0..SHARDS).map(|s| self.lock(s).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_key_spends_nothing_of_the_others() {
        let limiter = LocalLimiter::default();
        let crm = Limit::per_minute(8);
        let calendar = Limit::per_minute(10);
        assert!(limiter.check("calendar:o", &calendar).unwrap().allowed);
        let d = limiter
            .acquire(&[("crm:o", crm), ("calendar:o", calendar)])
            .unwrap();
        assert!(!d.allowed);
        assert_eq!(d.key.as_deref(), Some("calendar:o"));
        // crm was not spent by the denied acquisition.
        assert!(limiter.check("crm:o", &crm).unwrap().allowed);
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = LocalLimiter::new(64).unwrap();
        let l = Limit::per_minute(1);
        for i in 0..1_000 {
            assert!(limiter.check(&format!("k{i}"), &l).unwrap().allowed);
        }
        assert!(limiter.keys() <= 64);
    }
}
