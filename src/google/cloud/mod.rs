//! Google Cloud product APIs.

pub mod apigee;
pub mod audit;
