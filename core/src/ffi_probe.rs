//! Calls that exist to measure and test the FFI boundary itself.
//!
//! The bindings expose these so that `make bench` can measure the floor cost of a call from
//! Python and Node against the same call in Rust, and so that tests can prove a panic in the
//! core arrives in the host language as an `internal` error instead of a crash.

use serde::{Deserialize, Serialize};

/// A small struct of the shape most Keel calls pass: a few scalars, a string and a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// An integer field.
    pub id: u32,
    /// A short string field.
    pub name: String,
    /// A float field.
    pub score: f64,
    /// A short list of strings.
    pub tags: Vec<String>,
}

/// Does nothing: the cost of calling it is the FFI floor.
#[inline(never)]
pub fn noop() {}

/// Returns the probe with `id` incremented and `score` doubled, so a round trip is observable.
#[inline(never)]
pub fn roundtrip(mut probe: Probe) -> Probe {
    probe.id = probe.id.wrapping_add(1);
    probe.score *= 2.0;
    probe
}

/// Panics with `message`. Bindings call it to test that panics never cross the FFI boundary.
pub fn panic_now(message: &str) -> ! {
    panic!("{message}")
}
