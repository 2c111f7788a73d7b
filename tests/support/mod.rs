//! Shared test support: the Python reference, random message strategies,
//! and `cloud-report serve` run as a process.
#![allow(dead_code)]

pub mod arbitrary;
pub mod reference;
#[cfg(feature = "cli")]
pub mod serve;

/// A plain-HTTP client that gives up after 30 s, so that a server that
/// stops answering fails the test instead of hanging it. The crate's TLS
/// names its provider (ring) explicitly and installs none process-wide, so
/// a bare reqwest client needs one installed.
pub fn plain_http() -> reqwest::Client {
    plain_http_builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The JSON answer of a GET of `url`, with `token` as the bearer token
/// when given (the emulator's inspection and admin endpoints).
pub async fn get_json(http: &reqwest::Client, url: &str, token: Option<&str>) -> serde_json::Value {
    let mut get = http.get(url);
    if let Some(token) = token {
        get = get.bearer_auth(token);
    }
    let body = get.send().await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// [`plain_http`]'s builder, without the timeout.
pub fn plain_http_builder() -> reqwest::ClientBuilder {
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
