#![no_main]

// The rules are in fuzz_checks::inbound (its documentation says each).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::inbound::check(data));
