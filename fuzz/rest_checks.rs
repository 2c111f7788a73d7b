#![allow(dead_code)] // the fuzz target and the corpus replay each use part
//! What the `rest` fuzz target checks, shared with `tests/fuzz_corpus.rs`:
//! any HTTP request to the emulator's router (the REST gateway in front of
//! every service, and the inspection endpoints) is answered, never with a
//! panic, and every answer is JSON: a success, or an error in Google's form
//! whose code is the HTTP status; or, when `alt=proto` asks for binary, a
//! binary answer whose errors are a `google.rpc.Status` that is not OK. Path
//! templates parse or fail cleanly, and what one matches expands back to a
//! path it matches the same way.

use cloud_report_proto::emulator::{Config, Emulator};
use cloud_report_proto::rest::PathTemplate;
use http_body_util::BodyExt;
use tower::ServiceExt;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

// The runtime is its includer's (`fuzz/runtime.rs`, declared beside this
// file's module), so that a crate including several checks has one.
use super::runtime::runtime;

/// A request from the input: method by the first byte, then the request
/// target (path and query) up to the first newline, then the body.
pub fn rest(data: &[u8]) {
    let Some((&method, rest)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(method) % METHODS.len()];
    let (target, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    // Only what a client could send: a valid origin-form target.
    let Ok(uri) = http::Uri::try_from(target) else {
        return;
    };
    if !uri.path().starts_with('/') || uri.scheme().is_some() {
        return;
    }
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_vec()))
        .expect("a request");
    // A fresh emulator per input, so state never accumulates.
    let router = Emulator::new(Config::default()).router();
    let (status, binary, body) = runtime().block_on(async move {
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let binary = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/x-protobuf");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the body is readable")
            .to_bytes();
        (status, binary, body)
    });
    if method == "HEAD" {
        return;
    }
    if binary {
        // Asked for with alt=proto: an error is a binary google.rpc.Status
        // (its HTTP status is its code's, or 404, 405, 408 or 413).
        if !status.is_success() {
            use prost::Message;
            let error = cloud_report_proto::google::rpc::Status::decode(&body[..])
                .unwrap_or_else(|e| panic!("{status} binary answer is not a Status: {e}"));
            assert_ne!(error.code, 0, "{status}: {error:?}");
        }
        return;
    }
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{status} answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    if !status.is_success() {
        let error = &answer["error"];
        assert_eq!(
            error["code"].as_u64(),
            Some(u64::from(status.as_u16())),
            "{answer}"
        );
        assert!(error["status"].is_string(), "{answer}");
        assert!(error["message"].is_string(), "{answer}");
    }
}

/// A path template (up to the first newline) and a path: parsing and
/// matching never fail badly, and a match expands to a path that matches
/// with the same values.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (template, path) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(template) = PathTemplate::parse(template) else {
        return;
    };
    let Some(values) = template.matches(path) else {
        return;
    };
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let expanded = match template.expand(&values) {
        Ok(expanded) => expanded,
        // A wildcard outside any variable takes no value, so such a template
        // has no inverse.
        Err(e) if e.field.is_empty() => return,
        Err(e) => panic!("matched values {values:?} do not expand: {e}"),
    };
    assert_eq!(
        template.matches(&expanded).as_deref(),
        Some(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>()[..]),
        "{expanded}"
    );
}
