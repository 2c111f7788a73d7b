//! Apigee.

pub mod v1;
