//! Open spans by number, for bindings where a host object holding a Rust value costs more
//! than the span itself (a JavaScript object wrapping a native value costs a reference, a
//! finalizer and a hash-set insert in Node). The span lives here; the host holds a number
//! and calls back with it. A number outlives its span safely: each slot's generation is part
//! of it, so a stale number finds nothing.

use std::sync::Mutex;

use super::logger::Span;

/// A table of open spans (see the module docs). Process-wide through [`spans`].
#[derive(Debug, Default)]
pub struct SpanHandles {
    inner: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    span: Option<Span>,
}

/// Bits of a handle that hold the slot's generation (above the 32 bits of its index); 21,
/// so every handle is an integer a JavaScript number holds exactly.
const GENERATION_BITS: u32 = 21;

impl SpanHandles {
    /// Stores `span`; returns its number (never 0).
    pub fn insert(&self, span: Span) -> u64 {
        let mut table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let index = match table.free.pop() {
            Some(index) => index,
            None => {
                table.slots.push(Slot::default());
                (table.slots.len() - 1) as u32
            }
        };
        let slot = &mut table.slots[index as usize];
        slot.generation = (slot.generation + 1) & ((1 << GENERATION_BITS) - 1);
        if slot.generation == 0 {
            slot.generation = 1;
        }
        slot.span = Some(span);
        (u64::from(slot.generation) << 32) | u64::from(index)
    }

    /// The span numbered `handle`, if it is still here.
    pub fn get(&self, handle: u64) -> Option<Span> {
        let table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (index, generation) = split(handle);
        let slot = table.slots.get(index)?;
        (slot.generation == generation)
            .then(|| slot.span.clone())
            .flatten()
    }

    /// Takes the span numbered `handle` out (a stale number takes nothing). Dropping the last
    /// reference to a span that never stopped writes it as failed, as every span does.
    pub fn remove(&self, handle: u64) -> Option<Span> {
        // The lock is released before the span is returned (and perhaps dropped and written).
        let mut table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (index, generation) = split(handle);
        let slot = table
            .slots
            .get_mut(index)
            .filter(|s| s.generation == generation)?;
        let span = slot.span.take()?;
        table.free.push(index as u32);
        Some(span)
    }

    /// Spans held now.
    pub fn len(&self) -> usize {
        let table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        table.slots.len() - table.free.len()
    }

    /// True when no span is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn split(handle: u64) -> (usize, u32) {
    (
        (handle & u64::from(u32::MAX)) as usize,
        (handle >> 32) as u32,
    )
}

/// The process-wide table.
pub fn spans() -> &'static SpanHandles {
    static SPANS: std::sync::OnceLock<SpanHandles> = std::sync::OnceLock::new();
    SPANS.get_or_init(SpanHandles::default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{Destination, LogFilter, Logger, Sink, SinkOptions};

    #[tokio::test]
    async fn a_number_finds_its_span_until_removed_and_a_stale_one_finds_nothing() {
        let sink = Sink::start(Destination::Discard, SinkOptions::default());
        let log = Logger::new(
            sink.clone(),
            "svc",
            Default::default(),
            LogFilter::default(),
        );
        let table = SpanHandles::default();
        let first = table.insert(log.span("a", Default::default(), None));
        assert_ne!(first, 0);
        assert!(first < 1 << 53, "a JavaScript number holds it exactly");
        let id = table.get(first).unwrap().id();
        assert_eq!(table.remove(first).unwrap().id(), id);
        assert!(table.get(first).is_none() && table.remove(first).is_none());
        // The slot is reused under a new generation: the old number still finds nothing.
        let second = table.insert(log.span("b", Default::default(), None));
        assert_eq!(second & 0xffff_ffff, first & 0xffff_ffff);
        assert_ne!(second, first);
        assert!(table.get(first).is_none());
        assert_eq!(table.len(), 1);
        // A span removed without a stop is written as failed when its last reference goes.
        drop(table.remove(second));
        assert!(table.is_empty());
        let stats = sink.flush().await;
        assert_eq!(stats.accepted, 2, "{stats:?}");
    }
}
