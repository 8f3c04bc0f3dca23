//! MinHash signatures of text ([`MinHasher`], [`MinHash`]): word shingles hashed once, then `num_perm` seeded 32-bit permutations, the minimum of each kept. Two signatures'
//! share of equal slots estimates the Jaccard similarity of the two texts' shingle sets.
//!
//! The format is versioned ([`SIGNATURE_VERSION`]): a signature's bytes carry the version, the
//! seed, the shingle width and the permutation count, so stored signatures made by another
//! version or with other parameters are refused instead of compared.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::options::{Case, from_value, rooted, spelt};

/// The version of the signature's hashing; stored signatures of another version are refused
/// (recompute them from their text).
pub const SIGNATURE_VERSION: u8 = 1;
/// The default number of permutations.
pub const DEFAULT_NUM_PERM: u32 = 128;
/// The default shingle width in words.
pub const DEFAULT_SHINGLE_WORDS: u32 = 3;
/// The default seed.
pub const DEFAULT_SEED: u64 = 1;
/// The longest text a signature is made from: 1 MB of UTF-8.
pub const MAX_TEXT_BYTES: usize = 1_000_000;
/// The permutation counts allowed, inclusive.
pub const NUM_PERM_RANGE: (u32, u32) = (16, 1024);

const MAGIC: [u8; 2] = *b"KM";
const HEADER: usize = 2 + 1 + 2 + 1 + 8;

/// The length of the bytes of a signature of `num_perm` values.
const fn bytes_len(num_perm: usize) -> usize {
    HEADER + 4 * num_perm
}

/// How signatures are made; every field has a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinHashOptions {
    /// Permutations, 16 to 1,024 (default 128): more estimate more precisely and cost more.
    pub num_perm: u32,
    /// Words per shingle, 1 to 8 (default 3); a text with fewer words is one shingle.
    pub shingle_words: u32,
    /// The seed of the permutations (default 1); only signatures with equal seeds compare.
    pub seed: u64,
}

impl Default for MinHashOptions {
    fn default() -> Self {
        MinHashOptions {
            num_perm: DEFAULT_NUM_PERM,
            shingle_words: DEFAULT_SHINGLE_WORDS,
            seed: DEFAULT_SEED,
        }
    }
}

/// Makes signatures with one set of permutations.
#[derive(Debug, Clone)]
pub struct MinHasher {
    options: MinHashOptions,
    perms: Perms,
}

/// The permutations' parameters, one pair per slot.
#[derive(Debug, Clone)]
struct Perms {
    xor: Vec<u32>,
    mul: Vec<u32>,
}

impl Default for MinHasher {
    fn default() -> Self {
        MinHasher::new(MinHashOptions::default()).expect("the defaults are valid")
    }
}

/// A MinHash signature: one minimum per permutation, and the parameters that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinHash {
    seed: u64,
    shingle_words: u8,
    values: Vec<u32>,
}

/// SplitMix64's step: the `i`-th permutation's seed derives from the hasher's seed.
fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `i`-th permutation of a shingle's hash `x`: `m = (x ^ xor) * mul` (odd `mul`, so a
/// bijection), then `m ^ (m >> 16)` (also a bijection), one multiplication per slot.
#[inline(always)]
fn permute(x: u32, xor: u32, mul: u32) -> u32 {
    let m = (x ^ xor).wrapping_mul(mul);
    m ^ (m >> 16)
}

/// One shingle's 32-bit hash from its words' 64-bit hashes, order-sensitive.
#[inline]
fn shingle_hash(words: &[u64]) -> u32 {
    let mut h = 0u64;
    for w in words {
        h = (h.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h ^= h >> 29;
    ((h >> 32) ^ h) as u32
}

/// A word's hash, fed one byte at a time: each 8 bytes (little-endian) are multiplied in,
/// then the length and a 64-bit finaliser. Part of the signature's version.
#[derive(Default)]
struct WordHash {
    h: u64,
    chunk: u64,
    len: u32,
}

impl WordHash {
    #[inline(always)]
    fn feed(&mut self, byte: u8) {
        self.chunk |= u64::from(byte) << (8 * (self.len % 8));
        self.len += 1;
        if self.len.is_multiple_of(8) {
            self.mix();
        }
    }

    #[inline(always)]
    fn mix(&mut self) {
        self.h = (self.h ^ self.chunk)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
        self.chunk = 0;
    }

    /// The word's hash, if a word was fed; the state is reset for the next word.
    #[inline(always)]
    fn finish(&mut self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        if !self.len.is_multiple_of(8) {
            self.mix();
        }
        let mut h = self.h ^ u64::from(self.len);
        h = (h ^ (h >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        h ^= h >> 32;
        *self = WordHash::default();
        Some(h)
    }
}

/// Each ASCII byte lowercased if it is a letter or digit, else 0 (a separator).
const ASCII_WORD: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() {
            table[b] = c.to_ascii_lowercase();
        }
        b += 1;
    }
    table
};

/// The hashes of `text`'s words: runs of alphanumeric characters, lowercased.
fn word_hashes(text: &str, out: &mut Vec<u64>) {
    let mut word = WordHash::default();
    if text.is_ascii() {
        for &b in text.as_bytes() {
            match ASCII_WORD[usize::from(b)] {
                0 => out.extend(word.finish()),
                lower => word.feed(lower),
            }
        }
    } else {
        let mut buf = [0u8; 4];
        for c in text.chars() {
            if c.is_alphanumeric() {
                for l in c.to_lowercase() {
                    l.encode_utf8(&mut buf).bytes().for_each(|b| word.feed(b));
                }
            } else {
                out.extend(word.finish());
            }
        }
    }
    out.extend(word.finish());
}

/// Lowers each slot to its permutation of each shingle: the hot loop, written to vectorise.
#[inline(always)]
fn fold_into(values: &mut [u32], perms: &Perms, shingles: &[u32]) {
    for &x in shingles {
        for ((v, &xor), &mul) in values.iter_mut().zip(&perms.xor).zip(&perms.mul) {
            *v = (*v).min(permute(x, xor, mul));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fold_avx2(values: &mut [u32], perms: &Perms, shingles: &[u32]) {
    fold_into(values, perms, shingles);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fold_avx512(values: &mut [u32], perms: &Perms, shingles: &[u32]) {
    fold_into(values, perms, shingles);
}

fn fold(values: &mut [u32], perms: &Perms, shingles: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked on the line above.
        return unsafe { fold_avx512(values, perms, shingles) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked on the line above.
        return unsafe { fold_avx2(values, perms, shingles) };
    }
    fold_into(values, perms, shingles);
}

impl MinHasher {
    /// A hasher with `options`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `num_perm` outside 16 to 1,024 or `shingle_words` outside 1
    /// to 8.
    pub fn new(options: MinHashOptions) -> Result<Self> {
        let (low, high) = NUM_PERM_RANGE;
        if !(low..=high).contains(&options.num_perm) {
            return Err(Error::invalid_input(
                "num_perm",
                format!("must be from {low} to {high}"),
            ));
        }
        if !(1..=8).contains(&options.shingle_words) {
            return Err(Error::invalid_input("shingle_words", "must be from 1 to 8"));
        }
        let (xor, mul) = (0..u64::from(options.num_perm))
            .map(|i| {
                let r = splitmix64(options.seed ^ splitmix64(i));
                (r as u32, (r >> 32) as u32 | 1)
            })
            .unzip();
        Ok(MinHasher {
            options,
            perms: Perms { xor, mul },
        })
    }

    /// A hasher from options as a binding passes them (`num_perm`, `shingle_words`, `seed`;
    /// keys in `case`), errors naming the field under `root`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on an unknown or invalid option.
    pub fn new_value(options: Option<Value>, case: Case, root: &str) -> Result<Self> {
        let options: MinHashOptions = from_value(options, case, root)?;
        MinHasher::new(options).map_err(|e| rooted(spelt(e, case), root))
    }

    /// The hasher for options as a binding passes them: the shared default one when there are
    /// none, else a new one ([`MinHasher::new_value`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on an unknown or invalid option.
    pub fn for_value(
        options: Option<Value>,
        case: Case,
        root: &str,
    ) -> Result<Cow<'static, MinHasher>> {
        match options {
            None | Some(Value::Null) => Ok(Cow::Borrowed(MinHasher::shared())),
            Some(Value::Object(map)) if map.is_empty() => Ok(Cow::Borrowed(MinHasher::shared())),
            some => MinHasher::new_value(some, case, root).map(Cow::Owned),
        }
    }

    /// The hasher with the default options, made once.
    pub fn shared() -> &'static MinHasher {
        static SHARED: OnceLock<MinHasher> = OnceLock::new();
        SHARED.get_or_init(MinHasher::default)
    }

    /// The options it was made with.
    pub fn options(&self) -> MinHashOptions {
        self.options
    }

    /// The signature of `text` written at the start of `out` ([`MinHash::write_bytes`]): its
    /// length, or `Err(needed)` when `out` is shorter than its signatures' bytes (then nothing
    /// is hashed).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] as [`MinHasher::signature`].
    pub fn signature_into(
        &self,
        text: &str,
        out: &mut [u8],
    ) -> Result<std::result::Result<usize, usize>> {
        let needed = bytes_len(self.perms.xor.len());
        if out.len() < needed {
            return Ok(Err(needed));
        }
        let signature = self.signature(text)?;
        Ok(signature.write_bytes(out).ok_or(needed))
    }

    /// The signature of `text`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `text` with no words or longer than [`MAX_TEXT_BYTES`].
    pub fn signature(&self, text: &str) -> Result<MinHash> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(Error::invalid_input(
                "text",
                format!("is {} bytes; the limit is {MAX_TEXT_BYTES}", text.len()),
            ));
        }
        let mut words = Vec::with_capacity(text.len() / 5 + 1);
        word_hashes(text, &mut words);
        if words.is_empty() {
            return Err(Error::invalid_input("text", "has no words"));
        }
        let k = (self.options.shingle_words as usize).min(words.len());
        // Repeated shingles need no removal: a minimum is the same with or without them.
        let shingles: Vec<u32> = words.windows(k).map(shingle_hash).collect();
        let mut values = vec![u32::MAX; self.perms.xor.len()];
        fold(&mut values, &self.perms, &shingles);
        Ok(MinHash {
            seed: self.options.seed,
            shingle_words: self.options.shingle_words as u8,
            values,
        })
    }
}

impl MinHash {
    /// The minimum per permutation.
    pub fn values(&self) -> &[u32] {
        &self.values
    }

    /// The number of permutations.
    pub fn num_perm(&self) -> usize {
        self.values.len()
    }

    /// The seed of its permutations.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Its shingle width in words.
    pub fn shingle_words(&self) -> u32 {
        u32::from(self.shingle_words)
    }

    /// Whether `other` was made with the same permutations, so the two compare.
    pub fn comparable(&self, other: &MinHash) -> bool {
        self.seed == other.seed
            && self.shingle_words == other.shingle_words
            && self.values.len() == other.values.len()
    }

    /// The estimated Jaccard similarity with `other`: the share of equal slots.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `other` made with other parameters.
    pub fn jaccard(&self, other: &MinHash) -> Result<f64> {
        if !self.comparable(other) {
            return Err(Error::invalid_input(
                "other",
                "was made with another seed, shingle width or permutation count",
            ));
        }
        Ok(self.agreement(other))
    }

    /// The share of equal slots of two comparable signatures.
    pub(crate) fn agreement(&self, other: &MinHash) -> f64 {
        let equal = self
            .values
            .iter()
            .zip(&other.values)
            .filter(|(a, b)| a == b)
            .count();
        equal as f64 / self.values.len() as f64
    }

    /// Its bytes: `KM`, the version, the permutation count (u16 LE), the shingle width, the
    /// seed (u64 LE), then each value (u32 LE).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; bytes_len(self.values.len())];
        self.write_bytes(&mut out);
        out
    }

    /// Writes [`MinHash::to_bytes`] at the start of `out` and returns their length, or `None`
    /// (writing nothing) when `out` is shorter: for a binding that places signatures in a
    /// buffer it owns.
    pub fn write_bytes(&self, out: &mut [u8]) -> Option<usize> {
        let len = bytes_len(self.values.len());
        let (header, body) = out.get_mut(..len)?.split_at_mut(HEADER);
        header[..2].copy_from_slice(&MAGIC);
        header[2] = SIGNATURE_VERSION;
        header[3..5].copy_from_slice(&(self.values.len() as u16).to_le_bytes());
        header[5] = self.shingle_words;
        header[6..].copy_from_slice(&self.seed.to_le_bytes());
        for (slot, v) in body.chunks_exact_mut(4).zip(&self.values) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
        Some(len)
    }

    /// A signature from [`MinHash::to_bytes`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `bytes` that are not a signature, or one of another version.
    pub fn from_bytes(bytes: &[u8]) -> Result<MinHash> {
        let bad = |why: &str| Error::invalid_input("bytes", why.to_owned());
        if bytes.len() < HEADER || bytes[..2] != MAGIC {
            return Err(bad("is not a Keel MinHash signature"));
        }
        if bytes[2] != SIGNATURE_VERSION {
            return Err(bad(&format!(
                "is signature version {}; this build reads version {SIGNATURE_VERSION} \
                 (recompute it from its text)",
                bytes[2]
            )));
        }
        let n = usize::from(u16::from_le_bytes([bytes[3], bytes[4]]));
        let shingle_words = bytes[5];
        let seed = u64::from_le_bytes(bytes[6..14].try_into().expect("8 bytes"));
        let body = &bytes[HEADER..];
        let (low, high) = NUM_PERM_RANGE;
        if body.len() != 4 * n || !(low as usize..=high as usize).contains(&n) {
            return Err(bad("has the wrong length for its permutation count"));
        }
        if !(1..=8).contains(&shingle_words) {
            return Err(bad("has a shingle width outside 1 to 8"));
        }
        let values = body
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(MinHash {
            seed,
            shingle_words,
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_round_trips_through_its_bytes_and_refuses_another_version() {
        let sig = MinHasher::default()
            .signature("Renewal at risk for Acme")
            .unwrap();
        let bytes = sig.to_bytes();
        assert_eq!(MinHash::from_bytes(&bytes).unwrap(), sig);
        let mut old = bytes.clone();
        old[2] = 0;
        let err = MinHash::from_bytes(&old).unwrap_err();
        assert!(err.to_string().contains("version 0"), "{err}");
        assert!(MinHash::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn a_signature_written_in_place_is_its_bytes_and_a_short_buffer_takes_nothing() {
        let hasher = MinHasher::new(MinHashOptions {
            num_perm: 16,
            ..MinHashOptions::default()
        })
        .unwrap();
        let text = "Renewal at risk for Acme";
        let bytes = hasher.signature(text).unwrap().to_bytes();
        assert_eq!(bytes.len(), HEADER + 64);
        let mut out = vec![7u8; bytes.len() + 3];
        assert_eq!(
            hasher.signature_into(text, &mut out).unwrap(),
            Ok(bytes.len())
        );
        assert_eq!(&out[..bytes.len()], &bytes[..]);
        assert_eq!(
            &out[bytes.len()..],
            &[7, 7, 7],
            "nothing past the signature"
        );
        let mut short = vec![7u8; bytes.len() - 1];
        assert_eq!(
            hasher.signature_into(text, &mut short).unwrap(),
            Err(bytes.len())
        );
        assert!(
            short.iter().all(|&b| b == 7),
            "a short buffer is left as it was"
        );
        // A text with no words is refused whether or not the buffer has room.
        assert!(hasher.signature_into("...", &mut out).is_err());
    }

    #[test]
    fn the_vectorised_fold_equals_the_plain_one() {
        let shingles: Vec<u32> = (0..500u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        // Whole vectors of slots (128, 16) and a remainder after them (21, 1,021).
        for num_perm in [128, 16, 21, 1021] {
            let hasher = MinHasher::new(MinHashOptions {
                num_perm,
                ..MinHashOptions::default()
            })
            .unwrap();
            let p = &hasher.perms;
            let plain: Vec<u32> = (0..num_perm as usize)
                .map(|i| {
                    let each = shingles.iter().map(|&x| permute(x, p.xor[i], p.mul[i]));
                    each.min().unwrap()
                })
                .collect();
            let mut portable = vec![u32::MAX; num_perm as usize];
            fold_into(&mut portable, p, &shingles);
            assert_eq!(plain, portable, "num_perm {num_perm}");
            let mut fast = vec![u32::MAX; num_perm as usize];
            fold(&mut fast, p, &shingles);
            assert_eq!(plain, fast, "num_perm {num_perm}");
        }
    }

    #[test]
    fn case_and_punctuation_do_not_change_a_signature_but_words_do() {
        let h = MinHasher::default();
        let a = h.signature("Deal at risk: Acme renewal").unwrap();
        let b = h.signature("deal AT risk -- acme RENEWAL!").unwrap();
        let c = h.signature("Deal at risk: Globex renewal").unwrap();
        assert_eq!(a, b);
        assert!(a.jaccard(&c).unwrap() < 0.6);
    }

    #[test]
    fn unicode_words_are_lowercased() {
        let h = MinHasher::default();
        assert_eq!(
            h.signature("ÜBER Straße, Ærø").unwrap(),
            h.signature("über straße ærø").unwrap()
        );
    }
}
