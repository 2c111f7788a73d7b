//! The inspection endpoints: what the emulator stored, as JSON over HTTP,
//! streamed a chunk at a time so that a large store is never written whole
//! nor locked for a whole answer.

use axum::extract::rejection::PathRejection;
use bytes::Bytes;
use prost::Message;

use super::shared::Emulator;
use crate::google::api::servicecontrol::v1 as sc;
use crate::google::cloud::apigee::v1 as apigee;
use crate::google::protobuf::Timestamp;
use crate::google::rpc::Code;
use crate::rest::{RestError, clip};

/// Items written per chunk of an inspection answer, at most, and the
/// encoded bytes after which a chunk takes no more (it takes at least one
/// item): the store is locked once per chunk, never for the whole answer,
/// and a reader holds one chunk.
const CHUNK_ITEMS: usize = 64;
const CHUNK_BYTES: usize = 64 << 10;

/// The first items of `items` that make a chunk.
pub(super) fn chunk_of<T>(items: impl Iterator<Item = T>, size: impl Fn(&T) -> usize) -> Vec<T> {
    let mut bytes = 0;
    items
        .take(CHUNK_ITEMS)
        .take_while(|item| {
            let more = bytes < CHUNK_BYTES;
            bytes += size(item);
            more
        })
        .collect()
}

/// The next items of a listing: `None` when there are no more.
pub(super) type NextItems<T> = Box<dyn FnMut() -> Option<Vec<T>> + Send>;

/// `{"<field>": [<item JSON>, ...]<trailer>}`, streamed: each chunk is taken
/// from the store under its lock and written after, so a reader that never
/// reads holds one chunk, not the store. An item that cannot be written (the
/// door checks keep such items out of the store) is left out and named in a
/// `"notWritten"` list after the items, never failing the rest.
pub(super) struct JsonList<T> {
    field: &'static str,
    next: NextItems<T>,
    write: fn(&T) -> Result<Vec<u8>, String>,
    /// Members written after the list (`,"dropped":3`), or nothing.
    trailer: String,
    started: bool,
    seen: usize,
    any_written: bool,
    not_written: Vec<String>,
    finished: bool,
}

impl<T> JsonList<T> {
    /// The next piece of the answer, `None` after the last.
    fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.finished {
            return None;
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.extend_from_slice(format!("{{\"{}\":[", self.field).as_bytes());
        }
        let Some(items) = (self.next)() else {
            self.finished = true;
            out.push(b']');
            if !self.not_written.is_empty() {
                let list = serde_json::to_string(&self.not_written).unwrap_or_default();
                out.extend_from_slice(format!(",\"notWritten\":{list}").as_bytes());
            }
            out.extend_from_slice(self.trailer.as_bytes());
            out.push(b'}');
            return Some(out);
        };
        for item in items {
            match (self.write)(&item) {
                Ok(json) => {
                    if self.any_written {
                        out.push(b',');
                    }
                    self.any_written = true;
                    out.extend_from_slice(&json);
                }
                Err(e) => self.not_written.push(format!("item {}: {e}", self.seen)),
            }
            self.seen += 1;
        }
        Some(out)
    }
}

impl<T> http_body::Body for JsonList<T> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(
            self.next_chunk()
                .map(|chunk| Ok(http_body::Frame::data(Bytes::from(chunk)))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }
}

/// A message stored encoded, written as its canonical JSON.
pub(super) fn message_json<M: Message + Default + crate::json::WriteJson>(
    encoded: &Bytes,
) -> Result<Vec<u8>, String> {
    M::decode(&encoded[..])
        .map_err(|e| e.to_string())
        .and_then(|m| crate::json::to_vec(&m).map_err(|e| e.to_string()))
}

/// A 200 answer streaming a [`JsonList`] of `field`, each item written by
/// `write`, `trailer` after the list.
pub(super) fn json_list<T: Send + 'static>(
    field: &'static str,
    next: NextItems<T>,
    write: fn(&T) -> Result<Vec<u8>, String>,
    trailer: String,
) -> axum::response::Response {
    let list = JsonList {
        field,
        next,
        write,
        trailer,
        started: false,
        seen: 0,
        any_written: false,
        not_written: Vec::new(),
        finished: false,
    };
    let mut response = axum::response::Response::new(axum::body::Body::new(list));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A method other than GET on an inspection endpoint: 405 in Google's error
/// form, as the gateway answers.
pub(super) async fn inspection_method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> RestError {
    RestError::new(
        Code::Unimplemented,
        format!("method {method} is not allowed on {}", clip(uri.path())),
    )
    .with_http_status(405)
}

/// A path whose variables cannot be read (not UTF-8 once decoded): 400 in
/// Google's error form.
pub(super) fn path_error(rejection: &PathRejection) -> RestError {
    RestError::new(
        Code::InvalidArgument,
        format!("invalid path: {}", rejection.body_text()),
    )
}

/// The service a route's path names (its one variable); a path that
/// cannot be read is answered in Google's error form.
pub(super) struct ServiceName(pub(super) String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ServiceName {
    type Rejection = RestError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, RestError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(name)| Self(name))
            .map_err(|r| path_error(&r))
    }
}

/// The operations of a service in arrival order, as they were when the
/// request came: later ones are not included.
pub(super) async fn inspect_operations(
    axum::extract::State(emulator): axum::extract::State<Emulator>,
    ServiceName(service_name): ServiceName,
) -> Result<axum::response::Response, RestError> {
    let end = emulator
        .state()
        .services
        .get(&service_name)
        .map_or(0, |s| s.operations.len());
    let mut next = 0;
    Ok(json_list(
        "operations",
        Box::new(move || {
            if next >= end {
                return None;
            }
            let state = emulator.state();
            let stored = &state.services.get(&service_name)?.operations;
            // A reset may have emptied the store since the listing began.
            let end = end.min(stored.len());
            if next >= end {
                return None;
            }
            let chunk = chunk_of(stored[next..end].iter().cloned(), Bytes::len);
            next += chunk.len();
            Some(chunk)
        }),
        message_json::<sc::Operation>,
        String::new(),
    ))
}

/// The quota used in the current windows of a service, as
/// [`Emulator::quota_usage`] gives it; windows start as RFC 3339 times.
pub(super) async fn inspect_quota(
    axum::extract::State(emulator): axum::extract::State<Emulator>,
    ServiceName(service_name): ServiceName,
) -> Result<axum::response::Response, RestError> {
    let usage: Vec<serde_json::Value> = emulator
        .quota_usage(&service_name)
        .into_iter()
        .map(|u| {
            let start = Timestamp {
                seconds: i64::try_from(u.window_start).unwrap_or(i64::MAX),
                nanos: 0,
                ..Default::default()
            };
            let mut entry = serde_json::json!({
                "consumer": u.consumer,
                "limit": u.limit,
                "metric": u.metric,
                "windowStart": start.to_string(),
                "windowSeconds": u.window_seconds,
                "used": u.used,
            });
            if let Some(allowance) = u.allowance {
                entry["allowance"] = allowance.into();
            }
            entry
        })
        .collect();
    Ok(json_answer(&serde_json::json!({ "quotaUsage": usage })))
}

/// A 200 answer of a small JSON value.
pub(super) fn json_answer(value: &serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        value.to_string(),
    )
        .into_response()
}

/// The latest status of each uid of an instance, by uid.
pub(super) async fn inspect_statuses(
    axum::extract::State(emulator): axum::extract::State<Emulator>,
    names: Result<axum::extract::Path<(String, String)>, PathRejection>,
) -> Result<axum::response::Response, RestError> {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let axum::extract::Path((org, instance)) = names.map_err(|r| path_error(&r))?;
    let instance = format!("organizations/{org}/instances/{instance}");
    let mut after: Option<(String, String)> = None;
    Ok(json_list(
        "statuses",
        Box::new(move || {
            let state = emulator.state();
            let start = match after.take() {
                Some(key) => Excluded(key),
                None => Included((instance.clone(), String::new())),
            };
            let chunk = chunk_of(
                state
                    .statuses
                    .range((start, Unbounded))
                    .take_while(|((i, _), _)| *i == instance)
                    .map(|(key, status)| (key, status.encoded.clone())),
                |(_, encoded)| encoded.len(),
            );
            after = Some(chunk.last()?.0.clone());
            Some(chunk.into_iter().map(|(_, encoded)| encoded).collect())
        }),
        message_json::<apigee::ReportInstanceStatusRequest>,
        String::new(),
    ))
}
