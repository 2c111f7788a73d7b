#![no_main]

#[path = "../service_config_checks.rs"]
mod service_config_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| service_config_checks::service_config(data));
