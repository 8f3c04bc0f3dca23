//! Which parts of a text go to the linear-time counter: those around a run of one ASCII
//! character class long enough to make a long pre-tokenizer piece.
//!
//! The `tiktoken` crate is the fastest counter on prose and code, but merges a long piece
//! (`"a" * 1_000_000`, a base64 blob, a wall of spaces) in O(n log n); `bpe-openai` counts any
//! piece in linear time at about a third of the speed on prose. Both give tiktoken's counts,
//! and the text is cut only where tiktoken's own pre-tokenizer cuts, so the choice changes the
//! time taken, never the count.

/// Bytes of one ASCII class (letters, spaces, other symbols) beyond which a run is long.
pub const LONG_RUN: usize = 2_048;
const HALF: usize = LONG_RUN / 2;

/// The class of an ASCII byte, or 0 for a byte that never makes a long run (digits, which
/// the encodings cut by three, and the bytes of non-ASCII characters).
const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphabetic() {
            1
        } else if c.is_ascii_digit() {
            0
        } else if c.is_ascii_whitespace() || c == 0x0b {
            2
        } else {
            3
        };
        b += 1;
    }
    table
}

const CLASS: [u8; 256] = classes();

/// The next run longer than [`LONG_RUN`] bytes of one class at or after `from`, as a byte
/// range. A run that long covers a whole aligned block of half its length, so only one byte
/// in a block is looked at unless the block is all one class.
pub fn next_long_run(text: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut block = from.next_multiple_of(HALF);
    while block + HALF <= bytes.len() {
        let class = CLASS[bytes[block] as usize];
        if class == 0
            || bytes[block..block + HALF]
                .iter()
                .any(|&b| CLASS[b as usize] != class)
        {
            block += HALF;
            continue;
        }
        let same = |i: usize| CLASS[bytes[i] as usize] == class;
        let mut start = block;
        while start > from && same(start - 1) {
            start -= 1;
        }
        let mut end = block + HALF;
        while end < bytes.len() && same(end) {
            end += 1;
        }
        if end - start > LONG_RUN {
            return Some((start, end));
        }
        block = end.next_multiple_of(HALF);
    }
    None
}

/// True when a pre-tokenizer piece of o200k_base and cl100k_base starts at `at`: after a line
/// feed and before an ASCII letter (no piece runs from a line feed into a letter).
fn piece_starts(bytes: &[u8], at: usize) -> bool {
    at == 0 || at == bytes.len() || (bytes[at - 1] == b'\n' && bytes[at].is_ascii_alphabetic())
}

/// The text cut into parts that are counted apart, each with whether it holds a long run:
/// the part around a long run reaches from the piece start before it to the one after it.
pub fn parts(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    let mut pending: Option<(usize, usize)> = None;
    std::iter::from_fn(move || {
        if let Some((start, end)) = pending.take() {
            from = end;
            return Some((&text[start..end], true));
        }
        if from >= bytes.len() {
            return None;
        }
        let Some((run_start, run_end)) = next_long_run(text, from) else {
            let rest = &text[from..];
            from = bytes.len();
            return Some((rest, false));
        };
        let start = (from..=run_start)
            .rev()
            .find(|&i| piece_starts(bytes, i))
            .unwrap_or(from);
        let end = (run_end..=bytes.len())
            .find(|&i| piece_starts(bytes, i))
            .unwrap_or(bytes.len());
        if start == from {
            from = end;
            return Some((&text[start..end], true));
        }
        pending = Some((start, end));
        let before = &text[from..start];
        Some((before, false))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_runs_are_found_and_prose_is_not() {
        assert_eq!(next_long_run(&"a".repeat(3_000), 0), Some((0, 3_000)));
        assert_eq!(
            next_long_run(&format!("x\n{}", " ".repeat(2_100)), 0),
            Some((1, 2_102))
        );
        assert_eq!(next_long_run(&"1".repeat(10_000), 0), None);
        assert_eq!(next_long_run(&"the quick brown fox ".repeat(500), 0), None);
        assert_eq!(next_long_run(&"a".repeat(2_048), 0), None);
    }

    #[test]
    fn parts_cut_only_at_piece_starts_and_cover_the_text() {
        let text = format!("intro line\nnext {}\nafter it\n", "w".repeat(5_000));
        let parts: Vec<_> = parts(&text).collect();
        assert_eq!(parts.iter().map(|(p, _)| *p).collect::<String>(), text);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], ("intro line\n", false));
        assert!(parts[1].1 && parts[1].0.starts_with("next "));
        assert_eq!(parts[2], ("after it\n", false));
    }
}
