//! `google.protobuf`: the well-known types the other packages use, with their
//! special JSON forms written by hand (RFC 3339 timestamps, `"3.5s"`
//! durations, `Any` with `"@type"`, `Struct` as plain JSON, wrappers as their
//! values).

include!(concat!(env!("OUT_DIR"), "/google.protobuf.rs"));

mod any;
mod duration;
#[cfg(feature = "json")]
mod struct_json;
mod timestamp;
#[cfg(feature = "json")]
mod wrappers;

pub use any::AnyError;
pub use duration::DurationError;
pub use timestamp::TimestampError;
