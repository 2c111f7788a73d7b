#![no_main]

#[path = "../rest_checks.rs"]
mod rest_checks;
#[path = "../runtime.rs"]
mod runtime;

libfuzzer_sys::fuzz_target!(|data: &[u8]| rest_checks::rest(data));
