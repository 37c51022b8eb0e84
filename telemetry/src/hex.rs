//! Trace and span ids as text: lower-hex digits, as B3 headers and Zipkin's
//! JSON both write them, and as B3 headers bring them in. A trace id that
//! fits in 64 bits (py_zipkin's ids, for one) is written in 16 digits, as
//! Zipkin shows it; any other in 32.
//!
//! The digits go into a buffer on the stack: ids are written for every call
//! (B3 headers) and every span (Zipkin), and neither needs an allocation.

use opentelemetry::trace::{SpanId, TraceId};

/// The lower-hex digits, by value.
pub(crate) const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `byte` in each of the 16 bytes of a word: 16 digits are worked on at
/// once, a byte each.
const fn each_byte(byte: u8) -> u128 {
    u128::from_ne_bytes([byte; 16])
}

/// The 16 lower-hex digits of `id`, most significant first, all at once:
/// each nibble is moved into a byte of its own, and turned into its digit
/// with a few operations on the whole word (about 20 instructions, where a
/// table lookup per nibble took about 100).
#[inline(always)]
fn digits_of(id: u64) -> [u8; 16] {
    let mut nibbles = u128::from(id);
    nibbles = (nibbles | nibbles << 32) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    nibbles = (nibbles | nibbles << 16) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    nibbles = (nibbles | nibbles << 8) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    nibbles = (nibbles | nibbles << 4) & each_byte(0x0f);
    // A nibble of 10 or more, plus 6, carries into its byte's bit 4.
    let letters = ((nibbles + each_byte(6)) & each_byte(0x10)) >> 4;
    let ascii = nibbles + each_byte(b'0') + letters * u128::from(b'a' - b'0' - 10);
    ascii.to_be_bytes()
}

/// 16 lower-hex digits as the number they write, checked and converted all
/// at once (about 40 instructions, where a digit at a time took about 130,
/// on every request's B3 headers); `None` when any byte is not one of
/// `0-9a-f`.
pub(crate) fn parse_16(digits: &[u8; 16]) -> Option<u64> {
    let text = u128::from_be_bytes(*digits);
    if text & each_byte(0x80) != 0 {
        return None;
    }
    // Below 0x80, adding at most 0x50 cannot carry out of a byte: bit 7 of
    // each sum says whether its byte reaches the bound.
    let at_least = |bound: u8| (text + each_byte(0x80 - bound)) & each_byte(0x80);
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let letter = at_least(b'a') & !at_least(b'f' + 1);
    if digit | letter != each_byte(0x80) {
        return None;
    }
    // '0'-'9' end in their value; 'a'-'f' in their value less 9.
    let mut value = (text & each_byte(0x0f)) + (letter >> 7) * 9;
    value = (value >> 4 | value) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    value = (value >> 8 | value) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    value = (value >> 16 | value) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    value = (value >> 32 | value) & 0xffff_ffff_ffff_ffff;
    Some(value as u64)
}

/// The hex digits of one id. `trace` and `span` are always inlined: built
/// in the writer's frame, the digits are not copied on the way out
/// (callgrind: writing a span for Zipkin took 3,805 instructions without,
/// 3,703 with).
pub(crate) struct HexId {
    digits: [u8; 32],
    len: usize,
}

impl HexId {
    /// 16 digits when the id fits in 64 bits, 32 otherwise.
    #[inline(always)]
    pub(crate) fn trace(trace_id: TraceId) -> Self {
        let id = u128::from_be_bytes(trace_id.to_bytes());
        let mut digits = [0u8; 32];
        match u64::try_from(id) {
            Ok(low) => {
                digits[..16].copy_from_slice(&digits_of(low));
                Self { digits, len: 16 }
            }
            Err(_) => {
                digits[..16].copy_from_slice(&digits_of((id >> 64) as u64));
                digits[16..].copy_from_slice(&digits_of(id as u64));
                Self { digits, len: 32 }
            }
        }
    }

    /// Always 32 digits, as W3C `traceparent` requires.
    #[inline(always)]
    pub(crate) fn trace_32(trace_id: TraceId) -> Self {
        let id = u128::from_be_bytes(trace_id.to_bytes());
        let mut digits = [0u8; 32];
        digits[..16].copy_from_slice(&digits_of((id >> 64) as u64));
        digits[16..].copy_from_slice(&digits_of(id as u64));
        Self { digits, len: 32 }
    }

    /// Always 16 digits.
    #[inline(always)]
    pub(crate) fn span(span_id: SpanId) -> Self {
        let mut digits = [0u8; 32];
        digits[..16].copy_from_slice(&digits_of(u64::from_be_bytes(span_id.to_bytes())));
        Self { digits, len: 16 }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("hex digits are ASCII")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_at_once_writes_what_a_digit_at_a_time_writes() {
        let mut id: u64 = 0x0123_4567_89ab_cdef;
        for _ in 0..1000 {
            assert_eq!(digits_of(id).as_slice(), format!("{id:016x}").as_bytes());
            // xorshift: ids of every shape, repeatably.
            id ^= id << 13;
            id ^= id >> 7;
            id ^= id << 17;
        }
        for id in [0, u64::MAX, 0x0a0a_0a0a_0a0a_0a0a, 0x9999_9999_9999_9999] {
            assert_eq!(digits_of(id).as_slice(), format!("{id:016x}").as_bytes());
        }
    }

    #[test]
    fn sixteen_digits_read_back_as_the_number_they_write() {
        let mut id: u64 = 0xfedc_ba98_7654_3210;
        for _ in 0..1000 {
            assert_eq!(parse_16(&digits_of(id)), Some(id));
            id ^= id << 13;
            id ^= id >> 7;
            id ^= id << 17;
        }
        assert_eq!(parse_16(b"0000000000000000"), Some(0));
        assert_eq!(parse_16(b"ffffffffffffffff"), Some(u64::MAX));
        // Every byte that is not a lower-hex digit, at every place.
        for byte in (0..=255u8).filter(|byte| !b"0123456789abcdef".contains(byte)) {
            for at in [0, 7, 15] {
                let mut text = *b"0123456789abcdef";
                text[at] = byte;
                assert_eq!(parse_16(&text), None, "{byte:#x} at {at}");
            }
        }
    }

    #[test]
    fn a_64_bit_trace_id_takes_16_digits() {
        let long = "4bf92f3577b34da6a3ce929d0e0e4736";
        let short = "a3ce929d0e0e4736";
        assert_eq!(
            HexId::trace(TraceId::from_hex(long).unwrap()).as_str(),
            long
        );
        assert_eq!(
            HexId::trace(TraceId::from_hex(short).unwrap()).as_str(),
            short
        );
        let span = "00f067aa0ba902b7";
        assert_eq!(HexId::span(SpanId::from_hex(span).unwrap()).as_str(), span);
    }
}
