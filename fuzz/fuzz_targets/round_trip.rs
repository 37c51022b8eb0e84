#![no_main]

// The rules are in fuzz_checks::round_trip (its documentation says each).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::round_trip::check(data));
