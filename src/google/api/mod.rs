//! `google.api`: HTTP bindings of RPC methods (`HttpRule`, the `google.api.http`
//! method option) and `Distribution`.

include_package!("google.api");

pub mod servicecontrol;
