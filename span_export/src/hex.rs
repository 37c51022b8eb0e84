//! Trace and span ids as text: lower-hex digits, as Zipkin's JSON and B3
//! headers write them. A trace id that fits in 64 bits (py_zipkin's ids,
//! for one) is written in 16 digits, as Zipkin shows it; any other in 32.
//!
//! The digits go into a buffer on the stack: ids are written for every
//! span and every call, and neither needs an allocation for them.

use opentelemetry::trace::{SpanId, TraceId};

/// The two digits of every byte, by value: a look-up a byte, not two.
static DIGIT_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 0xf]];
        byte += 1;
    }
    pairs
};

/// The hex digits of one id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HexId {
    digits: [u8; 32],
    len: usize,
}

impl HexId {
    /// 16 digits when the id fits in 64 bits, 32 otherwise.
    pub fn trace(trace_id: TraceId) -> Self {
        let bytes = trace_id.to_bytes();
        if bytes[..8] == [0; 8] {
            Self::of(&bytes[8..])
        } else {
            Self::of(&bytes)
        }
    }

    /// Always 32 digits, as W3C `traceparent` (and OTLP) require.
    pub fn trace_32(trace_id: TraceId) -> Self {
        Self::of(&trace_id.to_bytes())
    }

    /// Always 16 digits.
    pub fn span(span_id: SpanId) -> Self {
        Self::of(&span_id.to_bytes())
    }

    fn of(bytes: &[u8]) -> Self {
        let mut digits = [0u8; 32];
        for (pair, &byte) in digits.chunks_exact_mut(2).zip(bytes) {
            pair.copy_from_slice(&DIGIT_PAIRS[usize::from(byte)]);
        }
        Self {
            digits,
            len: 2 * bytes.len(),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("hex digits are ASCII")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_64_bit_trace_id_takes_16_digits() {
        let long = "4bf92f3577b34da6a3ce929d0e0e4736";
        let short = "a3ce929d0e0e4736";
        let trace = |hex| HexId::trace(TraceId::from_hex(hex).unwrap());
        assert_eq!(trace(long).as_str(), long);
        assert_eq!(trace(short).as_str(), short);
        let short_32 = HexId::trace_32(TraceId::from_hex(short).unwrap());
        assert_eq!(short_32.as_str(), format!("{:0>32}", short));
        let span = "00f067aa0ba902b7";
        assert_eq!(HexId::span(SpanId::from_hex(span).unwrap()).as_str(), span);
    }

    #[test]
    fn every_id_is_written_as_format_writes_it() {
        let mut id: u64 = 0x0123_4567_89ab_cdef;
        for _ in 0..1000 {
            let span = HexId::span(SpanId::from(id));
            assert_eq!(span.as_str(), format!("{id:016x}"));
            // xorshift: ids of every shape, repeatably.
            id ^= id << 13;
            id ^= id >> 7;
            id ^= id << 17;
        }
    }
}
