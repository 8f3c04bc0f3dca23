//! Ids, names and idempotency keys as callers give them, checked once.
//!
//! Ids and keys are matched exactly, so one holding a NUL is refused on both backends
//! (PostgreSQL's `text` cannot hold it) where prose with a NUL is stored with U+FFFD
//! ([`crate::store`]'s `storable_text`). An idempotency key is indexed with its org, so its
//! length is bounded; a key Keel derives from a caller's stays within that bound.

use crate::error::{Error, Result};

/// Checks a short name or id (a user id, an agent, a worker, a reason): 1 to 200 characters,
/// not blank, no NUL.
///
/// # Errors
/// [`Error::InvalidInput`] on `field` otherwise.
pub(crate) fn short_name(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() || value.chars().count() > 200 {
        return Err(Error::invalid_input(field, "must be 1 to 200 characters"));
    }
    no_nul(field, value)
}

/// Longest idempotency key, in characters: a key is indexed with its org, and PostgreSQL's
/// btree entries hold at most about 2,700 bytes.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// Checks an idempotency key: not blank, at most [`MAX_IDEMPOTENCY_KEY_CHARS`] characters, no
/// NUL.
///
/// # Errors
/// [`Error::InvalidInput`] on `field` otherwise.
pub(crate) fn idempotency_key(field: &str, key: &str) -> Result<()> {
    if key.trim().is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(Error::invalid_input(
            field,
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters, not blank"),
        ));
    }
    no_nul(field, key)
}

/// A key Keel derives from a caller's (an org or a conversation, then the caller's key) for a
/// model call: itself when it fits [`MAX_IDEMPOTENCY_KEY_CHARS`], else `sha256:` and the hex
/// digest of it, so that it is always a valid key and the same input always gives the same one.
pub(crate) fn derived_key(key: String) -> String {
    use sha2::{Digest, Sha256};
    if key.chars().count() <= MAX_IDEMPOTENCY_KEY_CHARS {
        return key;
    }
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Checks that an id or a key holds no NUL character. Ids are matched exactly, so one with a
/// NUL is refused on both backends (PostgreSQL's `text` cannot hold it); prose with a NUL is
/// stored with U+FFFD instead ([`crate::store`]'s `storable_text`).
///
/// # Errors
/// [`Error::InvalidInput`] on `field` when `value` holds one.
pub(crate) fn no_nul(field: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::invalid_input(field, "must not contain NUL (U+0000)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_derived_key_too_long_for_a_key_is_its_digest() {
        let short = format!("{}:{}", Uuid::nil(), "k".repeat(200));
        assert_eq!(derived_key(short.clone()), short);
        let long = format!("{}:{}", Uuid::nil(), "k".repeat(255));
        let digest = derived_key(long.clone());
        assert_eq!(digest.len(), "sha256:".len() + 64, "{digest}");
        assert!(digest.starts_with("sha256:"));
        assert_eq!(derived_key(long), digest, "the same input, the same key");
        assert!(idempotency_key("idempotency_key", &digest).is_ok());
    }
}
