#![no_main]

#[path = "../emulator_checks.rs"]
mod emulator_checks;
#[path = "../runtime.rs"]
mod runtime;

libfuzzer_sys::fuzz_target!(|data: &[u8]| emulator_checks::emulator(data));
