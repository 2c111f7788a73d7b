//! Google Service Control.

pub mod v1;
