#![no_main]

// The rules are in fuzz_checks::retry_after (its documentation says each).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::retry_after::check(data));
