#![no_main]

// The rules are in fuzz_checks::b3_multi (its documentation says each).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::b3_multi::check(data));
