//! Failures of a call that are settled as they are: never retried as the
//! network's, and never let through as an unreachable server is. A call
//! made without an access token, and an answer that came but cannot be
//! read, are such failures (ESPv2's `http_call.cc` and `client_cache.cc`
//! take both as INTERNAL, failing closed, without trying again).

use std::sync::Arc;

/// Why a call's failure is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Settled {
    /// No valid access token: the call was not made.
    #[error("no access token")]
    NoToken,
    /// The server answered, and its answer cannot be read.
    #[error("an unreadable answer")]
    Unreadable,
}

/// A status of `code` and `message` carrying why it is settled as its
/// source.
pub(crate) fn settled(
    code: tonic::Code,
    message: impl Into<String>,
    why: Settled,
) -> tonic::Status {
    let mut status = tonic::Status::new(code, message);
    status.set_source(Arc::new(why));
    status
}

/// Why a failure is settled, when it is.
#[cfg(feature = "client")]
pub(crate) fn settled_by(status: &tonic::Status) -> Option<Settled> {
    use std::error::Error;
    let mut source = status.source();
    while let Some(error) = source {
        if let Some(why) = error.downcast_ref::<Settled>() {
            return Some(*why);
        }
        source = error.source();
    }
    None
}
