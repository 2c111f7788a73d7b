//! Reading back what the emulator encoded itself (stored operations and
//! statuses, logged requests and answers) and the times they carry. Every
//! module of the emulator may use it; it uses none of them, so the store and
//! the rules that fill it depend on it, not on each other.

use prost::Message;

use crate::google::protobuf::Timestamp;

/// A message the emulator encoded itself: it decodes, and if it somehow
/// did not, the empty message stands in (nothing a caller sent is read
/// here).
pub(super) fn decode_stored<M: Message + Default>(bytes: &[u8]) -> M {
    M::decode(bytes).unwrap_or_default()
}

/// A valid timestamp as `(seconds, nanos)`, which orders as time does;
/// `None` for one absent or out of range.
pub(super) fn time_of(ts: Option<&Timestamp>) -> Option<(i64, i32)> {
    ts.filter(|t| t.check().is_ok())
        .map(|t| (t.seconds, t.nanos))
}
