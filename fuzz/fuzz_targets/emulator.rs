#![no_main]

#[path = "../emulator_checks.rs"]
mod emulator_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| emulator_checks::emulator(data));
