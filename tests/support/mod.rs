//! Shared test support: the Python reference and random message strategies.
#![allow(dead_code)]

pub mod arbitrary;
pub mod reference;
