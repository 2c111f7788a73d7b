//! Google's proto packages, one module per package.

pub mod api;
pub mod cloud;
pub mod logging;
pub mod protobuf;
pub mod rpc;
