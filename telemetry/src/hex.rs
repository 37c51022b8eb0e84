//! Trace and span ids as text: [`HexId`] writes them (as Zipkin's JSON and
//! B3 headers both do, from `span_export`), and [`parse_16`] reads the 16
//! lower-hex digits of an id as B3 and W3C headers bring them in
//! ([`parse_2`], W3C's two-digit fields).

pub(crate) use span_export::HexId;

/// 16 lower-hex digits as the number they write; `None` when any byte is
/// not one of `0-9a-f` (B3 ids are lower case).
pub(crate) fn parse_16(digits: &[u8; 16]) -> Option<u64> {
    digits.iter().try_fold(0u64, |value, &digit| {
        let nibble = DIGIT_VALUES[usize::from(digit)];
        (nibble != NOT_A_DIGIT).then_some(value << 4 | u64::from(nibble))
    })
}

/// 2 lower-hex digits as the byte they write (W3C's version and flags).
pub(crate) fn parse_2(digits: &[u8; 2]) -> Option<u8> {
    let [high, low] = digits.map(|digit| DIGIT_VALUES[usize::from(digit)]);
    (high != NOT_A_DIGIT && low != NOT_A_DIGIT).then_some(high << 4 | low)
}

const NOT_A_DIGIT: u8 = 0xff;

/// The value of every lower-hex digit, by byte; [`NOT_A_DIGIT`] for the
/// rest: one look-up a digit.
static DIGIT_VALUES: [u8; 256] = {
    let mut values = [NOT_A_DIGIT; 256];
    let mut value = 0;
    while value < 16 {
        values[b"0123456789abcdef"[value] as usize] = value as u8;
        value += 1;
    }
    values
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_digits_read_back_as_the_byte_they_write() {
        for byte in 0..=255u8 {
            let digits = format!("{byte:02x}");
            assert_eq!(parse_2(digits.as_bytes().try_into().unwrap()), Some(byte));
        }
        for refused in [b"0A", b"+1", b" 1", b"g0"] {
            assert_eq!(parse_2(refused), None);
        }
    }

    #[test]
    fn sixteen_digits_read_back_as_the_number_they_write() {
        let mut id: u64 = 0xfedc_ba98_7654_3210;
        for _ in 0..1000 {
            let digits = format!("{id:016x}");
            assert_eq!(parse_16(digits.as_bytes().try_into().unwrap()), Some(id));
            // xorshift: ids of every shape, repeatably.
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
}
