#![no_main]

// The rules are in fuzz_checks::b3_single (its documentation says each).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::b3_single::check(data));
