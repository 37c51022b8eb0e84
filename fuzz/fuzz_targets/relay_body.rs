#![no_main]

// The rules are in fuzz_checks::relay_body (its documentation says each).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::relay_body::check(data));
