#![no_main]

// The rules are in fuzz_checks::settings (its documentation says each).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::settings::check(data));
