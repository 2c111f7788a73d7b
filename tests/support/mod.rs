//! Shared test support: the Python reference, random message strategies,
//! and `cloud-report serve` run as a process.
#![allow(dead_code)]

pub mod arbitrary;
pub mod reference;
#[cfg(feature = "cli")]
pub mod serve;
