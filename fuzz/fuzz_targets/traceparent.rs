#![no_main]

// The rules are in fuzz_checks::traceparent (its documentation says each).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::traceparent::check(data));
