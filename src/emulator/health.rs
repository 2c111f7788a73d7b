//! Whether the emulator is up and what it holds against its bounds:
//! `GET /emulator/v1/health`, answered without a token (a container's
//! `HEALTHCHECK`, a test harness waiting for the emulator), and
//! [`check_health`], the probe `cloud-report healthcheck` runs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::shared::Emulator;

/// The path of the health endpoint.
pub const HEALTH_PATH: &str = "/emulator/v1/health";

/// What `GET /emulator/v1/health` answers (JSON, lowerCamelCase names).
///
/// ```
/// use cloud_report_proto::emulator::{Config, Emulator};
///
/// let health = Emulator::new(Config::default()).health();
/// assert_eq!(health.status, "SERVING");
/// assert_eq!(health.stored_bytes, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Health {
    /// `SERVING` (gRPC health's word), the only status a serving emulator
    /// answers.
    pub status: String,
    /// The crate's version.
    pub version: String,
    /// The services configured, and those with operations stored, by name.
    pub services: Vec<String>,
    /// Seconds since the emulator was made.
    pub uptime_seconds: u64,
    /// Operations stored, against `--max-operations`.
    pub stored_operations: usize,
    /// The bound on operations stored.
    pub max_operations: usize,
    /// Bytes stored, against `--max-bytes`.
    pub stored_bytes: usize,
    /// The bound on bytes stored.
    pub max_bytes: usize,
    /// Bytes of the request log, against `--max-request-log-bytes`.
    pub request_log_bytes: usize,
    /// The bound on the request log.
    pub max_request_log_bytes: usize,
}

impl Emulator {
    /// Whether it serves, and what it holds against its bounds: what `GET
    /// /emulator/v1/health` answers.
    pub fn health(&self) -> Health {
        let live = self.live();
        let (mut services, stored_operations, stored_bytes) = {
            let state = self.state();
            let names: Vec<String> = state.services.keys().cloned().collect();
            (names, state.operation_count, state.bytes)
        };
        services.extend(live.rules.keys().cloned());
        services.sort();
        services.dedup();
        let request_log_bytes = self.calls().requests.bytes();
        Health {
            status: "SERVING".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            services,
            uptime_seconds: self.started.0.elapsed().as_secs(),
            stored_operations,
            max_operations: self.config.max_operations,
            stored_bytes,
            max_bytes: self.config.max_bytes,
            request_log_bytes,
            max_request_log_bytes: self.config.max_request_log_bytes,
        }
    }
}

/// The health route, outside the token check: answered as soon as the
/// listener is up, with the configuration loaded.
pub(super) fn route(emulator: Emulator) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route(
            HEALTH_PATH,
            get(
                |axum::extract::State(emulator): axum::extract::State<Emulator>| async move {
                    let health = serde_json::to_value(emulator.health()).unwrap_or_default();
                    super::inspect::json_answer(&health)
                },
            )
            .fallback(super::inspect::inspection_method_not_allowed),
        )
        .with_state(emulator)
}

/// Why an emulator is not healthy, in one line naming the URL.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct HealthError {
    url: String,
    reason: String,
}

/// Asks the emulator at `base_url` (`http://127.0.0.1:8080`, or `https://`
/// with `ca_pem` trusted beside Mozilla's roots) for its health, within
/// `timeout`.
///
/// # Errors
///
/// No answer in time, a refused connection, a status other than 200, or an
/// answer that is not the emulator's health.
pub async fn check_health(
    base_url: &str,
    ca_pem: Option<&[u8]>,
    timeout: Duration,
) -> Result<Health, HealthError> {
    let url = format!("{}{HEALTH_PATH}", base_url.trim_end_matches('/'));
    let fail = |reason: String| HealthError {
        url: url.clone(),
        reason,
    };
    let client = http_client(ca_pem, timeout).map_err(fail)?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| fail(format!("no answer: {e}")))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| fail(format!("the answer broke off: {e}")))?;
    if status != reqwest::StatusCode::OK {
        return Err(fail(format!("HTTP {}", status.as_u16())));
    }
    let health: Health = serde_json::from_slice(&body)
        .map_err(|e| fail(format!("not the emulator's health: {e}")))?;
    if health.status != "SERVING" {
        return Err(fail(format!("status {}", health.status)));
    }
    Ok(health)
}

/// An HTTP client of the emulator's admin endpoints: rustls with ring,
/// Mozilla's roots and `ca_pem`.
pub(super) fn http_client(
    ca_pem: Option<&[u8]>,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let roots: Vec<Vec<u8>> = ca_pem.map(<[u8]>::to_vec).into_iter().collect();
    let tls = crate::rest::tls::client_config(&roots, false).map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())
}
