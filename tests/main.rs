//! The integration tests, one crate: each module is a file of this
//! directory, the helpers they share are `support` (the Python reference,
//! random messages, `cloud-report serve` as a process) and `ca` (credentials
//! generated per run). `auth.rs` and `native_roots.rs` are test crates of
//! their own: they set the process's environment.

#[cfg(feature = "rest")]
mod ca;
/// What the fuzz targets check (`fuzz/checks.rs`), replayed by
/// `fuzz_corpus` and used by `json_engine`.
#[cfg(feature = "json")]
#[path = "../fuzz/checks.rs"]
mod fuzz_checks;
mod support;

mod apigee;
mod attacks;
mod binary_wire;
mod cli;
mod client;
mod conformance;
mod doc_commands;
mod emulator;
mod fuzz_corpus;
mod golden;
mod grpc;
mod hostile;
mod json_api;
mod json_engine;
mod reference;
mod reporter;
mod rest;
mod server;
mod service_config;
mod service_rules;
mod stand_in;
mod tls;
#[cfg(all(feature = "client", feature = "emulator"))]
mod tokens;
mod unknown_fields;
mod views;
