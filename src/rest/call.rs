//! What a service behind the [`Gateway`](super::Gateway) learns of one
//! call's transport, and what it may ask of it: how the call arrived, the
//! HTTP status of a REST error, or no answer at all.

use std::sync::{Arc, Mutex, PoisonError};

/// How a call reached the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireFormat {
    /// gRPC (HTTP/2, `application/grpc`).
    Grpc,
    /// REST with a JSON body (or none) and, unless `alt` said otherwise, a
    /// JSON answer.
    Json,
    /// REST with a binary protobuf body (`application/x-protobuf`), as ESP
    /// and ESPv2 call.
    Binary,
}

impl std::fmt::Display for WireFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for WireFormat {
    type Err = String;

    /// `grpc`, `json` or `binary`.
    fn from_str(text: &str) -> Result<Self, String> {
        [Self::Grpc, Self::Json, Self::Binary]
            .into_iter()
            .find(|w| w.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not grpc, json or binary"))
    }
}

impl WireFormat {
    /// `grpc`, `json` or `binary`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::Json => "json",
            Self::Binary => "binary",
        }
    }
}

/// How a call is left unanswered, by [`CallContext::abort`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Abort {
    /// The call's stream is reset (HTTP/2 `RST_STREAM`); over HTTP/1.1,
    /// which has no streams, its connection is closed.
    Reset,
    /// The call's connection is closed, with every call on it.
    Close,
}

#[derive(Debug, Default)]
struct Asked {
    http_status: Option<u16>,
    abort: Option<Abort>,
    garble: bool,
}

/// One call's transport, in the request's extensions for a service behind
/// the [`Gateway`](super::Gateway) on either wire
/// (`request.extensions().get::<CallContext>()`).
///
/// ```
/// use cloud_report_proto::rest::{CallContext, WireFormat};
///
/// fn answer<T>(request: &tonic::Request<T>) -> Result<(), tonic::Status> {
///     if let Some(call) = request.extensions().get::<CallContext>() {
///         if call.wire() != WireFormat::Grpc {
///             // REST callers get 502 rather than the code's 503.
///             call.set_http_status(502);
///         }
///     }
///     Err(tonic::Status::unavailable("the backend is away"))
/// }
/// ```
#[derive(Clone, Debug)]
pub struct CallContext {
    wire: WireFormat,
    asked: Arc<Mutex<Asked>>,
}

impl CallContext {
    /// The context of a call that arrived over `wire`, as the gateway makes
    /// one (a test of a service can make its own).
    pub fn new(wire: WireFormat) -> Self {
        Self {
            wire,
            asked: Arc::default(),
        }
    }

    /// How the call arrived.
    pub fn wire(&self) -> WireFormat {
        self.wire
    }

    /// Answers an error of this call, on REST, with `status` (an error
    /// status, 400 to 599; others are ignored) rather than the HTTP status
    /// of its code (the body is Google's error form still); a gRPC caller
    /// gets the code.
    pub fn set_http_status(&self, status: u16) {
        if (400..=599).contains(&status) {
            self.asked().http_status = Some(status);
        }
    }

    /// Leaves the call unanswered: its stream reset or its connection
    /// closed once the service returns, whatever it returned. Honoured by
    /// [`Server`](super::Server); another server sends the answer.
    pub fn abort(&self, how: Abort) {
        self.asked().abort = Some(how);
    }

    /// Answers the call with success (HTTP 200, gRPC OK) and a body that
    /// cannot be read, whatever the service returned: a test's stand-in for
    /// a server or proxy that mangles answers. Honoured by the
    /// [`Gateway`](super::Gateway).
    pub fn garble(&self) {
        self.asked().garble = true;
    }

    pub(crate) fn garbled(&self) -> bool {
        self.asked().garble
    }

    pub(crate) fn http_status(&self) -> Option<u16> {
        self.asked().http_status
    }

    pub(crate) fn aborted(&self) -> Option<Abort> {
        self.asked().abort
    }

    fn asked(&self) -> std::sync::MutexGuard<'_, Asked> {
        self.asked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
