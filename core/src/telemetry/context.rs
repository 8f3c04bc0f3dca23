//! W3C trace context (`traceparent`) and span ids.
//!
//! Trace ids are 128-bit and stored as UUIDs. Span ids are W3C's 64 bits, stored in the same
//! `uuid` columns zero-extended (`00000000-0000-0000-xxxx-xxxxxxxxxxxx`), so a `traceparent`
//! round-trips exactly. A span id given as a full UUID (as the original API passed them) is
//! kept as is; its low 64 bits are what `traceparent` carries.

use uuid::Uuid;

/// A parsed `traceparent` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TraceParent {
    /// The trace id.
    pub trace_id: Uuid,
    /// The calling span (the parent of spans started here).
    pub parent_span_id: Uuid,
    /// The caller's sampled flag.
    pub sampled: bool,
}

impl TraceParent {
    /// Parses `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. Returns `None` for anything
    /// else, for all-zero ids and for version `ff`, as the W3C spec asks.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let mut parts = header.split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(version, 2)
            || version == "ff"
            || !hex(trace, 32)
            || !hex(span, 16)
            || !hex(flags, 2)
        {
            return None;
        }
        // Version 00 has exactly four fields; later versions may append more.
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let span_id = u64::from_str_radix(span, 16).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        if trace_id == 0 || span_id == 0 {
            return None;
        }
        Some(Self {
            trace_id: Uuid::from_u128(trace_id),
            parent_span_id: span_uuid(span_id),
            sampled: flags & 1 == 1,
        })
    }
}

/// The `traceparent` a logger or a model call joins: the caller's own; else, when the caller
/// names no trace id either, the host application's current span (`host`, which the bindings
/// read from the host's OpenTelemetry API), so Keel's spans nest under the host's request.
pub fn inherit_traceparent(
    own: Option<String>,
    has_trace_id: bool,
    host: Option<String>,
) -> Option<String> {
    own.or(host.filter(|_| !has_trace_id))
}

/// Formats a `traceparent` header for `trace_id` and `span_id`.
pub fn format_traceparent(trace_id: Uuid, span_id: Uuid, sampled: bool) -> String {
    format!(
        "00-{:032x}-{:016x}-{:02x}",
        trace_id.as_u128(),
        w3c_span_bits(span_id),
        u8::from(sampled)
    )
}

/// A new random span id, W3C-sized (64 bits, never zero).
pub fn new_span_id() -> Uuid {
    loop {
        let bits = Uuid::new_v4().as_u64_pair().1;
        if bits != 0 {
            return span_uuid(bits);
        }
    }
}

/// A new random trace id.
pub fn new_trace_id() -> Uuid {
    Uuid::new_v4()
}

fn span_uuid(bits: u64) -> Uuid {
    Uuid::from_u64_pair(0, bits)
}

/// The 64 bits of a span id that `traceparent` carries (never zero).
pub(crate) fn w3c_span_bits(span_id: Uuid) -> u64 {
    match span_id.as_u64_pair() {
        (_, 0) => span_id.as_u64_pair().0.max(1),
        (_, low) => low,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_trace_and_span_round_trip_through_traceparent() {
        for sampled in [true, false] {
            let (trace, span) = (new_trace_id(), new_span_id());
            assert_eq!(span.as_u64_pair().0, 0, "span ids are 64-bit");
            assert_ne!(span.as_u64_pair().1, 0);
            let header = format_traceparent(trace, span, sampled);
            assert_eq!(header.len(), 55, "{header}");
            let parsed = TraceParent::parse(&header).unwrap();
            assert_eq!(
                (parsed.trace_id, parsed.parent_span_id, parsed.sampled),
                (trace, span, sampled)
            );
        }
        assert_ne!(new_trace_id(), new_trace_id());
        assert_ne!(new_span_id(), new_span_id());
    }

    #[test]
    fn a_full_uuid_span_id_carries_its_low_bits_and_never_zero() {
        let trace = Uuid::from_u128(1);
        let full = Uuid::from_u64_pair(0xaaaa, 0xbbbb);
        assert_eq!(
            format_traceparent(trace, full, true),
            "00-00000000000000000000000000000001-000000000000bbbb-01"
        );
        let high_only = Uuid::from_u64_pair(0xcccc, 0);
        assert!(format_traceparent(trace, high_only, false).ends_with("-000000000000cccc-00"));
        let nil = format_traceparent(trace, Uuid::nil(), false);
        assert!(nil.ends_with("-0000000000000001-00"), "{nil}");
        assert!(TraceParent::parse(&nil).is_some());
    }
}
