//! Google's REST error form:
//! `{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT", "details": [...]}}`.

use serde::{Deserialize, Serialize};

use crate::google::protobuf::Any;
use crate::google::rpc::{Code, Status};

/// An error as a REST front end answers it: an HTTP status and a
/// `google.rpc.Status`.
#[derive(Clone, Debug, PartialEq)]
pub struct RestError {
    /// The HTTP status; normally the code's mapping, but 404 for an unknown
    /// path, 405 for a wrong method and 413 for a body over the limit.
    pub http_status: u16,
    /// The status: code, message, details.
    pub status: Status,
}

impl RestError {
    /// An error with the HTTP status of its code.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self::from(Status::new(code, message))
    }

    /// The same error answered with another HTTP status.
    #[must_use]
    pub fn with_http_status(mut self, http_status: u16) -> Self {
        self.http_status = http_status;
        self
    }

    /// The JSON body: `{"error": {...}}`.
    pub fn to_json(&self) -> Vec<u8> {
        let body = Envelope {
            error: Body {
                code: self.http_status,
                message: &self.status.message,
                status: self.status.code().as_str_name(),
                details: &self.status.details,
            },
        };
        // Writing can only fail for Any details of unregistered types; those
        // are dropped, and the message says so, rather than losing the error.
        serde_json::to_vec(&body).unwrap_or_else(|e| {
            serde_json::to_vec(&Envelope {
                error: Body {
                    code: self.http_status,
                    message: &format!("{} (details not shown: {e})", self.status.message),
                    status: self.status.code().as_str_name(),
                    details: &[],
                },
            })
            .unwrap_or_default()
        })
    }

    /// Reads a REST error body; `None` when the body is not in Google's form.
    pub fn from_json(http_status: u16, body: &[u8]) -> Option<Self> {
        let parsed: OwnedEnvelope = serde_json::from_slice(body).ok()?;
        let code = Code::from_str_name(&parsed.error.status)
            .unwrap_or_else(|| Code::from_http_status(http_status));
        // Details of types the registry does not know are counted in the
        // message rather than failing the whole error.
        let mut message = parsed.error.message;
        let mut details = Vec::new();
        let mut unknown = 0;
        for detail in parsed.error.details {
            match serde_json::from_value::<Any>(detail) {
                Ok(any) => details.push(any),
                Err(_) => unknown += 1,
            }
        }
        if unknown > 0 {
            message.push_str(&format!(" ({unknown} details of unknown types omitted)"));
        }
        Some(Self {
            http_status,
            status: Status {
                code: code as i32,
                message,
                details,
                ..Default::default()
            },
        })
    }
}

impl From<Status> for RestError {
    fn from(status: Status) -> Self {
        Self {
            http_status: status.code().http_status(),
            status,
        }
    }
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} {}: {}",
            self.http_status,
            self.status.code().as_str_name(),
            self.status.message
        )
    }
}

impl std::error::Error for RestError {}

#[cfg(feature = "rest")]
/// At most the first 100 characters of text a caller sent, for an error
/// message: a message must stay small enough for a gRPC header.
pub(crate) fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 100;
    match text.char_indices().nth(MAX) {
        None => text.into(),
        Some((end, _)) => format!("{}... ({} bytes)", &text[..end], text.len()).into(),
    }
}

#[cfg(feature = "rest")]
/// The answer to a request that fails before or outside its service: on a
/// gRPC call a trailers-only answer with the status (HTTP 200, as gRPC
/// requires); on REST the error's HTTP status and Google's JSON form.
pub(crate) fn error_response(grpc: bool, error: RestError) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !grpc {
        return error.into_response();
    }
    let mut response = axum::response::Response::new(axum::body::Body::empty());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    let status: tonic::Status = error.status.into();
    // tonic writes grpc-status, the percent-encoded message and the details.
    let _ = status.add_header(headers);
    response
}

#[cfg(feature = "rest")]
/// The error as a REST front end answers it: its HTTP status and Google's
/// JSON error body.
impl axum::response::IntoResponse for RestError {
    fn into_response(self) -> axum::response::Response {
        let status = http::StatusCode::from_u16(self.http_status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(
                http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )],
            self.to_json(),
        )
            .into_response()
    }
}

#[cfg(feature = "rest")]
impl RestError {
    /// The error as a REST front end answers a call that asked for binary
    /// protobuf (`alt=proto`, or a binary request): its HTTP status, and the
    /// `google.rpc.Status` itself, encoded, as `application/x-protobuf`.
    pub fn into_proto_response(self) -> axum::response::Response {
        use axum::response::IntoResponse;
        use prost::Message;
        let status = http::StatusCode::from_u16(self.http_status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(
                http::header::CONTENT_TYPE,
                super::bindings::PROTO_CONTENT_TYPE,
            )],
            self.status.encode_to_vec(),
        )
            .into_response()
    }
}

#[cfg(feature = "rest")]
/// A request body that failed for a limit of the server (time or memory):
/// the REST answer, and the same status as the body error's source, where
/// tonic looks for the status to answer a gRPC call with.
#[derive(Debug)]
pub(crate) struct BodyError {
    pub(crate) rest: RestError,
    grpc: tonic::Status,
}

#[cfg(feature = "rest")]
impl BodyError {
    pub(crate) fn new(rest: RestError) -> Self {
        let grpc = rest.status.clone().into();
        Self { rest, grpc }
    }

    /// The body error somewhere in an error's chain.
    pub(crate) fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(found) = error.downcast_ref::<Self>() {
                return Some(found);
            }
            current = error.source();
        }
        None
    }
}

#[cfg(feature = "rest")]
impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rest.status.message)
    }
}

#[cfg(feature = "rest")]
impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.grpc)
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: u16,
    message: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "<[Any]>::is_empty")]
    details: &'a [Any],
}

#[derive(Deserialize)]
struct OwnedEnvelope {
    error: OwnedBody,
}

#[derive(Deserialize)]
struct OwnedBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<serde_json::Value>,
}

#[cfg(feature = "rest")]
/// The `google.rpc.Status` a tonic status stands for: the one in its
/// details when it carries one, its code and message otherwise (as a
/// gRPC answer's trailers give it, see [`grpc_status`]).
pub(super) fn grpc_status_of(status: &tonic::Status) -> Status {
    let details = <Status as prost::Message>::decode(status.details())
        .map(|s| s.details)
        .unwrap_or_default();
    Status {
        code: status.code() as i32,
        message: status.message().to_owned(),
        details,
        ..Default::default()
    }
}
