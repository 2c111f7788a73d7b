//! A route of the gateway (a binding with its parsed template and message
//! types) and how a REST request's body is read for it: the pieces the
//! gateway and the typed dispatch both use, so that neither reaches into
//! the other.

use super::bindings::{Binding, Body, RequestError};
use super::error::RestError;
use super::template::PathTemplate;
use crate::google::rpc::Code;
use crate::json::ParseOptions;
use crate::registry::Entry;

/// REST bodies larger than this are parsed on the blocking pool, so that
/// the async workers keep answering other clients meanwhile.
pub(super) const PARSE_ON_POOL_BYTES: usize = 256 << 10;

/// How a message travels in a REST body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Encoding {
    /// Canonical proto3 JSON.
    Json,
    /// The protobuf binary encoding (`application/x-protobuf`).
    Proto,
}

/// What reading a REST request takes: the gateway's routes and its
/// settings for bodies, shared by the gateway and every typed call.
#[derive(Clone)]
pub(super) struct Reading {
    pub(super) routes: Vec<Route>,
    /// How request bodies are read: the user's `Any` types among them.
    pub(super) parse: ParseOptions,
    /// The limit of the request message a REST call becomes.
    pub(super) max_message_bytes: usize,
}

/// A binding the gateway serves, parsed once.
#[derive(Clone)]
pub(super) struct Route {
    pub(super) binding: Binding,
    pub(super) template: PathTemplate,
    pub(super) request: Entry,
    pub(super) response: Entry,
}

/// What a REST call's body holds for route `route`'s binding: nothing
/// (whitespace, for JSON, or no byte) or the message; a body where the
/// binding takes none is an error.
pub(super) fn body_of<'a>(
    route: &Route,
    body: &'a [u8],
    encoding: Encoding,
) -> Result<Body<'a>, RestError> {
    let binding = &route.binding;
    let empty = match encoding {
        Encoding::Json => body.iter().all(u8::is_ascii_whitespace),
        Encoding::Proto => body.is_empty(),
    };
    match binding.body {
        _ if empty => Ok(None),
        "" => Err(RestError::new(
            Code::InvalidArgument,
            format!(
                "{} {} takes no request body",
                binding.verb, binding.template
            ),
        )),
        // The build refuses a body of one field.
        "*" => Ok(Some((body, encoding == Encoding::Proto))),
        field => Err(RestError::new(
            Code::Internal,
            format!("a body of one field ({field}) is not bound"),
        )),
    }
}

/// The REST error of a request that could not be read: 400, worded as
/// Google's front end words it, a binary body's with the byte offset where
/// its encoding breaks.
pub(super) fn request_error(route: &Route, body: Body<'_>, error: RequestError) -> RestError {
    let message = match error {
        RequestError::Json(e) => format!("Invalid JSON payload received. {e}"),
        RequestError::Proto(e) => {
            match body.map(|(bytes, _)| route.request.normalize_binary(bytes)) {
                Some(Err(transcode)) => format!("Invalid proto payload received. {transcode}"),
                _ => format!("Invalid proto payload received. {e}"),
            }
        }
        RequestError::Parameters(message) => message,
    };
    RestError::new(Code::InvalidArgument, message)
}

/// The error for a request message larger than the gateway's limit.
pub(super) fn message_too_large(size: usize, limit: usize) -> RestError {
    RestError::new(
        Code::InvalidArgument,
        format!("the request message is {size} bytes; the limit is {limit}"),
    )
    .with_http_status(413)
}
