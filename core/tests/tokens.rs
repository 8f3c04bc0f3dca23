//! Token counts equal OpenAI's tiktoken (its Rust port, `tiktoken-rs`) on a large mixed corpus
//! and on texts with long runs cut where Keel cuts them, in both encodings; the counter's
//! calibration and its use by the conversation store; a thread with a small stack counting.

use keel::tokens::{Encoding, LONG_RUN, TokenCounter};

mod common;
use common::corpus;

fn tiktoken(encoding: Encoding) -> tiktoken_rs::CoreBPE {
    match encoding {
        Encoding::O200kBase => tiktoken_rs::o200k_base(),
        Encoding::Cl100kBase => tiktoken_rs::cl100k_base(),
    }
    .expect("tiktoken-rs vocabulary")
}

#[test]
fn counts_equal_tiktoken_on_the_mixed_corpus() {
    let text = corpus::mixed();
    assert!(text.len() > 2_000_000, "{} bytes", text.len());
    for encoding in Encoding::ALL {
        let reference = tiktoken(encoding);
        // Whole, and line by line (the way messages arrive: many short texts).
        assert_eq!(
            encoding.count(&text) as usize,
            reference.encode_ordinary(&text).len(),
            "{encoding}"
        );
        for chunk in text.split_inclusive('\n').collect::<Vec<_>>().chunks(40) {
            let chunk: String = chunk.concat();
            assert_eq!(
                encoding.count(&chunk) as usize,
                reference.encode_ordinary(&chunk).len(),
                "{encoding}: {chunk:?}"
            );
        }
    }
}

#[test]
fn long_runs_anywhere_keep_the_count() {
    // A deterministic generator: runs of each class, long and short, dropped into lines of
    // the corpus at varying places, with and without the line feeds Keel cuts at.
    let lines: Vec<&str> = include_str!("../../README.md").lines().collect();
    let units = [
        "a", "Z", " ", "\n", "!", "-", "\t", "é", "7", "ab", "\r\n", "/",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for encoding in Encoding::ALL {
        let reference = tiktoken(encoding);
        for _ in 0..60 {
            let mut text = String::new();
            for _ in 0..3 {
                let start = next(lines.len() - 8);
                text.push_str(&lines[start..start + next(8)].join("\n"));
                if next(2) == 0 {
                    text.push('\n');
                }
                let unit = units[next(units.len())];
                text.push_str(&unit.repeat((LONG_RUN + next(3 * LONG_RUN)) / unit.len()));
                if next(2) == 0 {
                    text.push('\n');
                }
            }
            assert_eq!(
                encoding.count(&text) as usize,
                reference.encode_ordinary(&text).len(),
                "{encoding}: {:?}",
                &text[..text.len().min(200)]
            );
        }
    }
}

#[test]
fn pathological_inputs_are_counted_exactly() {
    for (name, text) in [
        ("a_1m", corpus::run("a", 1_000_000)),
        ("spaces_200k", corpus::run(" ", 200_000)),
        ("cjk_200k", corpus::cjk(200_000)),
        ("emoji_200k", corpus::emoji(200_000)),
    ] {
        for encoding in Encoding::ALL {
            let expected = tiktoken(encoding).encode_ordinary(&text).len();
            assert_eq!(
                encoding.count(&text) as usize,
                expected,
                "{name} {encoding}"
            );
        }
    }
}

#[test]
fn counter_and_store_agree_on_a_text_message() {
    let counter = TokenCounter::default();
    let message = keel::llm::Message::user("How do I prep for my Acme meeting?");
    let request = counter
        .count_messages("gpt-4o", std::slice::from_ref(&message))
        .unwrap();
    let (stored, exact) = keel::tokens::stored_message_tokens(&message);
    // The request adds the reply's priming to the stored message's count.
    assert_eq!(request.tokens, stored + keel::tokens::REPLY_PRIMING);
    assert!(exact && request.exact);
}

/// A thread with a JVM's or Android's stack (1 MB; 256 KB here) counts and encodes: the
/// counter's per-thread cache is built on a stack of its own, not on the caller's.
#[test]
fn a_thread_with_a_small_stack_counts() {
    let text = "How do I prep for my Acme meeting?";
    for encoding in Encoding::ALL {
        let counted = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || (encoding.count(text), encoding.encode(text).len()))
            .unwrap()
            .join()
            .unwrap();
        let expected = tiktoken(encoding).encode_ordinary(text).len();
        assert_eq!(counted, (expected as u64, expected), "{encoding}");
    }
}
