//! Secret redaction and string hygiene for log metadata.
//!
//! Values that look like credentials are replaced by `[REDACTED]`: API keys (`sk-…`,
//! `sk-ant-…`, `xox[bp]-…` Slack tokens), `Bearer …` tokens and JWTs (`eyJ….….…`). Keys whose
//! name says secret (`password`, `api_key`, `authorization`, `token`, `secret`, `cookie`) are
//! redacted whatever their value.

use serde_json::{Map, Value};

/// The replacement text.
pub const REDACTED: &str = "[REDACTED]";

const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "authorization",
    "token",
    "cookie",
];

/// True when a metadata key names a secret (`OPENAI_API_KEY`, `x-api-key`, `refresh_token`):
/// one of the secret words as the whole key, or as its first or last `_`/`-`-separated part.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.as_bytes();
    // ASCII case-insensitive, with '-' and '_' alike; no allocation on this per-key path.
    let same = |a: &[u8], b: &[u8]| {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                let x = if *x == b'-' {
                    b'_'
                } else {
                    x.to_ascii_lowercase()
                };
                x == *y
            })
    };
    let separator = |b: u8| b == b'_' || b == b'-';
    SECRET_KEYS.iter().any(|secret| {
        let s = secret.as_bytes();
        let n = s.len();
        same(key, s)
            || (key.len() > n
                && separator(key[key.len() - n - 1])
                && same(&key[key.len() - n..], s))
            || (key.len() > n && separator(key[n]) && same(&key[..n], s))
    }) || (key.len() >= 6 && same(&key[key.len() - 6..], b"apikey"))
}

/// Replaces secrets inside `text` by [`REDACTED`]; returns `None` when there are none.
pub fn redact_secrets(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = secret_at(bytes, i) {
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buf.push_str(&text[copied..i]);
            buf.push_str(REDACTED);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.map(|mut buf| {
        buf.push_str(&text[copied..]);
        buf
    })
}

fn token_end(bytes: &[u8], start: usize, extra: &[u8]) -> usize {
    let mut end = start;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || extra.contains(&bytes[end])) {
        end += 1;
    }
    end
}

/// If a secret starts at `i` (on a token boundary), where it ends.
fn secret_at(bytes: &[u8], i: usize) -> Option<usize> {
    if i > 0
        && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'-' || bytes[i - 1] == b'_')
    {
        return None;
    }
    let rest = &bytes[i..];
    // API keys: sk-…, sk-ant-…, sk-proj-…, Slack xoxb-/xoxp-.
    for prefix in [&b"sk-"[..], b"xoxb-", b"xoxp-", b"xoxa-", b"ghp_", b"AKIA"] {
        if rest.starts_with(prefix) {
            let end = token_end(bytes, i + prefix.len(), b"-_");
            if end - i - prefix.len() >= 16 {
                return Some(end);
            }
        }
    }
    // Bearer tokens: redact the credential, keep the scheme.
    if rest.len() > 7 && rest[..7].eq_ignore_ascii_case(b"bearer ") {
        let end = token_end(bytes, i + 7, b"-_.~+/=");
        if end - i - 7 >= 8 {
            return Some(end);
        }
    }
    // JWTs: three base64url segments, the first starting with `eyJ` ('{"').
    if rest.starts_with(b"eyJ") {
        let first = token_end(bytes, i, b"-_");
        if first < bytes.len() && bytes[first] == b'.' {
            let second = token_end(bytes, first + 1, b"-_");
            if second > first + 1 && second < bytes.len() && bytes[second] == b'.' {
                let third = token_end(bytes, second + 1, b"-_");
                if third > second + 1 {
                    return Some(third);
                }
            }
        }
    }
    None
}

/// Replaces NUL bytes (PostgreSQL text and jsonb reject them) with U+FFFD and cuts text longer
/// than `max_bytes` at the last character boundary within it, marked `…[N bytes]` with N the
/// length before the cut.
pub fn clean_text(text: &str, max_bytes: usize) -> String {
    clean_owned(text.to_owned(), max_bytes)
}

/// True when `text` is stored as is: short enough and without NUL bytes.
pub(super) fn is_clean(text: &str, max_bytes: usize) -> bool {
    text.len() <= max_bytes && !text.contains('\0')
}

/// [`clean_text`] on an owned string, reusing it when it is already clean.
pub(super) fn clean_owned(text: String, max_bytes: usize) -> String {
    if is_clean(&text, max_bytes) {
        return text;
    }
    let mut out: String = if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    };
    if out.len() > max_bytes {
        let total = out.len();
        let mut cut = max_bytes;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(&format!("…[{total} bytes]"));
    }
    out
}

/// Walks metadata once: cleans and redacts strings, cuts depth, and estimates the size.
pub(super) struct Scrubber<'a> {
    limits: &'a MetadataLimits,
    pub(super) approx_bytes: usize,
}

impl<'a> Scrubber<'a> {
    pub(super) fn new(limits: &'a MetadataLimits) -> Self {
        Self {
            limits,
            approx_bytes: 2,
        }
    }

    pub(super) fn value(&mut self, key: &str, value: Value, depth: usize) -> Value {
        self.approx_bytes += key.len() + 4;
        if self.limits.redact && !matches!(value, Value::Null) && is_secret_key(key) {
            self.approx_bytes += REDACTED.len();
            return Value::String(REDACTED.to_owned());
        }
        match value {
            Value::String(s) => Value::String(self.string(s)),
            Value::Array(items) if depth < self.limits.max_depth => Value::Array(
                items
                    .into_iter()
                    .map(|v| self.value("", v, depth + 1))
                    .collect(),
            ),
            Value::Object(map) if depth < self.limits.max_depth => {
                let mut out = Map::with_capacity(map.len());
                for (k, v) in map {
                    let v = self.value(&k, v, depth + 1);
                    out.insert(clean_owned(k, 256), v);
                }
                Value::Object(out)
            }
            Value::Array(_) | Value::Object(_) => Value::String("[depth limit]".to_owned()),
            other => {
                self.approx_bytes += 8;
                other
            }
        }
    }

    fn string(&mut self, s: String) -> String {
        let s = clean_owned(s, self.limits.max_string);
        let s = if self.limits.redact {
            redact_secrets(&s).unwrap_or(s)
        } else {
            s
        };
        self.approx_bytes += s.len() + 2;
        s
    }
}

/// Limits applied to metadata at enqueue.
#[derive(Debug, Clone, Copy)]
pub struct MetadataLimits {
    /// Approximate serialized size above which metadata is replaced by a truncation marker.
    pub max_bytes: usize,
    /// Nesting deeper than this is replaced by `"[depth limit]"`.
    pub max_depth: usize,
    /// Longest string kept whole; longer strings are cut with a `…[N bytes]` suffix.
    pub max_string: usize,
    /// Redact values that look like secrets.
    pub redact: bool,
}

impl Default for MetadataLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024,
            max_depth: 16,
            max_string: 4096,
            redact: true,
        }
    }
}

/// Makes caller metadata safe to store: scrubs secrets and NUL bytes, cuts long strings and deep
/// nesting, and replaces metadata over `limits.max_bytes` with a `_truncated` marker.
pub fn sanitize_metadata(
    metadata: Map<String, Value>,
    limits: &MetadataLimits,
) -> Map<String, Value> {
    let mut scrubber = Scrubber::new(limits);
    let mut out = Map::with_capacity(metadata.len());
    for (key, value) in metadata {
        let value = scrubber.value(&key, value, 1);
        out.insert(clean_owned(key, 256), value);
    }
    if scrubber.approx_bytes > limits.max_bytes {
        let mut marker = Map::new();
        marker.insert("_truncated".into(), Value::Bool(true));
        marker.insert(
            "_approx_bytes".into(),
            Value::from(scrubber.approx_bytes as u64),
        );
        marker.insert(
            "_keys".into(),
            Value::Array(out.keys().take(32).cloned().map(Value::String).collect()),
        );
        return marker;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clean_text_drops_nul_and_cuts_on_a_character_boundary() {
        assert_eq!(clean_text("plain", 16), "plain");
        assert_eq!(clean_text("a\0b", 16), "a\u{FFFD}b");
        // "é" is two bytes: a cut at 2 bytes keeps "a" and never half of the "é".
        assert_eq!(clean_text("aéz", 2), "a…[4 bytes]");
        assert_eq!(clean_text("abcdef", 3), "abc…[6 bytes]");
    }

    #[test]
    fn sanitize_metadata_redacts_secrets_and_marks_oversized_metadata() {
        let limits = MetadataLimits::default();
        let Value::Object(input) = json!({"api_key": "sk-123", "user": "ana"}) else {
            unreachable!()
        };
        let out = sanitize_metadata(input, &limits);
        assert_eq!(out["user"], "ana");
        assert_ne!(out["api_key"], "sk-123");
        let small = MetadataLimits {
            max_bytes: 64,
            ..MetadataLimits::default()
        };
        let Value::Object(big) = json!({"text": "x".repeat(500)}) else {
            unreachable!()
        };
        let marked = sanitize_metadata(big, &small);
        assert_eq!(marked["_truncated"], true);
        assert_eq!(marked["_keys"], json!(["text"]));
        assert!(marked["_approx_bytes"].as_u64().unwrap() > 64);
    }

    #[test]
    fn secret_keys() {
        for key in [
            "password",
            "OPENAI_API_KEY",
            "x-api-key",
            "refresh_token",
            "Authorization",
            "apikey",
            "stripeApiKey",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "gen_ai.usage.input_tokens",
            "tokenizer",
            "passwords_policy",
            "user",
            "",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
