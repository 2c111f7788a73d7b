//! What a gateway test drives a running emulator with: the request log,
//! scripted answers and faults, state and configurations replaced while it
//! runs, a reset, and the clock. Each is a method of [`Emulator`] and an
//! HTTP endpoint (`docs/emulator.md`, "Driving the emulator from a test"),
//! behind the token check like every route.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;

use super::config::read_state_file;
use super::deployments::StateError;
use super::faults::Fault;
use super::inspect::{ServiceName, json_answer, json_list};
use super::requests::{Entry, ReceivedRequest};
use super::rules::ServiceRules;
use super::shared::Emulator;
use super::store::{Live, State as Store};
use crate::google::protobuf::Timestamp;
use crate::google::rpc::Code;
use crate::rest::{RestError, clip};
use crate::service_config::ServiceConfig;

/// The largest body an admin call takes (a state file, a configuration).
const MAX_ADMIN_BODY_BYTES: usize = 16 << 20;

/// An admin operation refused: its `google.rpc.Code` (NOT_FOUND for a
/// service the loaded configurations do not name, RESOURCE_EXHAUSTED past a
/// bound) and why, on one line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AdminError {
    code: Code,
    message: String,
}

impl AdminError {
    /// The code, as the HTTP endpoint answers it.
    pub fn code(&self) -> Code {
        self.code
    }
}

/// The most services a rollout id is set for.
const MAX_ROLLOUTS: usize = 10_000;

/// Why the clock cannot be moved: it is the system's.
#[derive(Debug, thiserror::Error)]
#[error(
    "the emulator's clock is the system's; start it with a ManualClock (serve --manual-clock) to move it"
)]
pub struct ClockError;

impl Emulator {
    /// Every Check, AllocateQuota and Report a service received and the
    /// log still holds, in order (see [`Config::max_request_log_bytes`](super::config::Config::max_request_log_bytes)).
    pub fn requests(&self, service_name: &str) -> Vec<ReceivedRequest> {
        let entries = self.calls().requests.of(service_name);
        entries.iter().map(Entry::received).collect()
    }

    /// How many of a service's requests the log dropped for room.
    pub fn dropped_requests(&self, service_name: &str) -> u64 {
        self.calls().requests.dropped(service_name)
    }

    /// Adds a fault for the calls of a service, after those waiting.
    ///
    /// # Errors
    ///
    /// NOT_FOUND for a service the loaded configurations do not name (its
    /// calls are refused before any fault), RESOURCE_EXHAUSTED when 10,000
    /// faults are waiting.
    ///
    /// ```
    /// use cloud_report_proto::emulator::{Config, Emulator, Fault};
    ///
    /// let emulator = Emulator::new(Config::default());
    /// let fault = Fault::from_json(r#"{"method": "check", "times": 3, "httpStatus": 503}"#)?;
    /// emulator.add_fault("my-api.example.com", fault)?;
    /// assert_eq!(emulator.faults("my-api.example.com").len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_fault(&self, service_name: &str, fault: Fault) -> Result<(), AdminError> {
        self.known_service(service_name)?;
        if self.calls().faults.add(service_name, fault) {
            Ok(())
        } else {
            Err(AdminError {
                code: Code::ResourceExhausted,
                message: format!(
                    "the emulator holds at most {} faults waiting",
                    super::faults::MAX_FAULTS
                ),
            })
        }
    }

    /// NOT_FOUND for a service the loaded configurations do not name (none
    /// loaded: every service is known).
    fn known_service(&self, service_name: &str) -> Result<(), AdminError> {
        let live = self.live();
        if live.rules.is_empty() || live.rules.contains_key(service_name) {
            return Ok(());
        }
        Err(AdminError {
            code: Code::NotFound,
            message: format!(
                "service {:?} is not configured in the emulator",
                clip(service_name)
            ),
        })
    }

    /// The faults waiting for a service's calls, with what is left of their
    /// `times`.
    pub fn faults(&self, service_name: &str) -> Vec<Fault> {
        self.calls().faults.list(service_name)
    }

    /// Drops the faults waiting for a service's calls.
    pub fn clear_faults(&self, service_name: &str) {
        self.calls().faults.clear(service_name);
    }

    /// Replaces the projects, API keys and organizations with a state file's
    /// (the form of [`Config::state_json`](super::config::Config::state_json)),
    /// checked whole first: on error nothing changes. Calls under way finish
    /// with the state they began with.
    ///
    /// # Errors
    ///
    /// As [`Config::state_json`](super::config::Config::state_json).
    pub fn replace_state_json(&self, text: &str) -> Result<(), StateError> {
        let (deployments, consumers) = read_state_file(text)?;
        self.update_live(|live| {
            live.deployments = deployments;
            live.consumers = consumers;
            live.state_text = Some(text.into());
        });
        Ok(())
    }

    /// Adds a service's configuration, or replaces the one of the same
    /// service. Loading the first configuration ends the lenient mode: other
    /// services are NOT_FOUND from then on.
    pub fn replace_service_config(&self, config: ServiceConfig) {
        let name = config.name().to_owned();
        let rules = Arc::new(ServiceRules::new(config));
        self.update_live(|live| {
            live.rules.insert(name, rules);
        });
    }

    /// Sets the `service_rollout_id` a service's answers carry (by default
    /// [`DEFAULT_ROLLOUT_ID`](super::store::DEFAULT_ROLLOUT_ID), and again when
    /// `rollout_id` is empty): ESPv2's managed rollout strategy polls it to
    /// learn of a new configuration.
    ///
    /// # Errors
    ///
    /// NOT_FOUND for a service the loaded configurations do not name,
    /// RESOURCE_EXHAUSTED past 10,000 services.
    pub fn set_rollout_id(&self, service_name: &str, rollout_id: &str) -> Result<(), AdminError> {
        self.known_service(service_name)?;
        let mut full = false;
        self.update_live(|live| {
            if rollout_id.is_empty() {
                live.rollouts.remove(service_name);
            } else if live.rollouts.len() < MAX_ROLLOUTS || live.rollouts.contains_key(service_name)
            {
                live.rollouts
                    .insert(service_name.to_owned(), rollout_id.to_owned());
            } else {
                full = true;
            }
        });
        if full {
            return Err(AdminError {
                code: Code::ResourceExhausted,
                message: format!(
                    "the emulator holds rollout ids for at most {MAX_ROLLOUTS} services"
                ),
            });
        }
        Ok(())
    }

    /// Drops every stored operation and status, the quota used, the request
    /// log and the waiting faults; the configurations, the state file and
    /// the clock stay.
    pub fn reset(&self) {
        *self.state() = Store::default();
        let mut calls = self.calls();
        // The log's numbering goes on: a call under way records its answer
        // in no entry of the new log.
        calls.requests.clear();
        calls.faults = Default::default();
    }

    /// The clock the emulator counts quota windows and stamps requests by.
    pub fn clock(&self) -> &super::clock::Clock {
        &self.config.clock
    }

    /// Moves a manual clock forward (see [`ManualClock`](super::clock::ManualClock)).
    ///
    /// # Errors
    ///
    /// When the clock is the system's.
    pub fn advance_clock(&self, by: Duration) -> Result<(), ClockError> {
        let clock = self.config.clock.manual().ok_or(ClockError)?;
        clock.advance(by);
        Ok(())
    }

    /// Changes what calls judge by: a copy changed whole, then put in
    /// place, so a call under way keeps the one it began with.
    fn update_live(&self, update: impl FnOnce(&mut Live)) {
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = Live::clone(&live);
        update(&mut next);
        *live = Arc::new(next);
    }
}

/// The admin routes, to merge with the emulator's others.
pub(super) fn routes(emulator: Emulator) -> axum::Router {
    use axum::routing::{get, post, put};
    let not_allowed = super::inspect::inspection_method_not_allowed;
    axum::Router::new()
        .route(
            "/emulator/v1/services/{service_name}/requests",
            get(list_requests).fallback(not_allowed),
        )
        .route(
            "/emulator/v1/services/{service_name}/faults",
            get(list_faults)
                .post(add_fault)
                .delete(clear_faults)
                .fallback(not_allowed),
        )
        .route(
            "/emulator/v1/services/{service_name}/config",
            put(replace_config).fallback(not_allowed),
        )
        .route(
            "/emulator/v1/services/{service_name}/rollout",
            put(set_rollout).fallback(not_allowed),
        )
        .route(
            "/emulator/v1/state",
            put(replace_state).fallback(not_allowed),
        )
        .route("/emulator/v1:reset", post(reset).fallback(not_allowed))
        .route("/emulator/v1:export", post(export).fallback(not_allowed))
        .route("/emulator/v1/clock", get(read_clock).fallback(not_allowed))
        .route(
            "/emulator/v1/clock:advance",
            post(advance_clock).fallback(not_allowed),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES))
        .with_state(emulator)
}

impl From<AdminError> for RestError {
    fn from(e: AdminError) -> Self {
        RestError::new(e.code, e.message)
    }
}

fn invalid(message: impl Into<String>) -> RestError {
    RestError::new(Code::InvalidArgument, message)
}

/// An admin call's body as text; one that cannot be read (over the
/// 16 MiB limit: 413) or is not UTF-8 is answered in Google's error form.
struct Text(String);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Text {
    type Rejection = RestError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, RestError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|r| {
            RestError::new(Code::InvalidArgument, r.body_text())
                .with_http_status(r.status().as_u16())
        })?;
        String::from_utf8(bytes.into())
            .map(Self)
            .map_err(|e| invalid(format!("the body is not UTF-8: {e}")))
    }
}

/// `{"requests": [{"method", "wire", "receiveTime", "request"}], "dropped": N}`,
/// streamed.
/// Which logged calls `GET .../requests` lists: `method`, `consumer` (the
/// request's, a report's first operation's), `status` (`OK`, an error's
/// code name, `PENDING`, `DROPPED`), `since` and `until` (RFC 3339, by
/// receive time, inclusive); every one given must match.
#[derive(Default)]
struct RequestFilter {
    method: Option<super::faults::Method>,
    consumer: Option<String>,
    status: Option<String>,
    since: Option<std::time::SystemTime>,
    until: Option<std::time::SystemTime>,
}

impl RequestFilter {
    fn parse(query: Option<&str>) -> Result<Self, RestError> {
        let mut filter = Self::default();
        let time = |name: &str, value: &str| -> Result<std::time::SystemTime, RestError> {
            value
                .parse::<Timestamp>()
                .map_err(|e| e.to_string())
                .and_then(|t| std::time::SystemTime::try_from(t).map_err(|_| "out of range".into()))
                .map_err(|e| invalid(format!("{name}: {e}")))
        };
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*name {
                "method" => {
                    filter.method = Some(
                        value
                            .parse::<super::faults::Method>()
                            .map_err(|e| invalid(format!("method: {e}")))?,
                    );
                }
                "consumer" => filter.consumer = Some(value.into_owned()),
                "status" => filter.status = Some(value.into_owned()),
                "since" => filter.since = Some(time("since", &value)?),
                "until" => filter.until = Some(time("until", &value)?),
                other => {
                    return Err(invalid(format!(
                        "query parameter {:?}: one of method, consumer, status, since, until",
                        clip(other)
                    )));
                }
            }
        }
        Ok(filter)
    }

    fn keeps(&self, entry: &Entry) -> bool {
        self.method.is_none_or(|m| m == entry.method)
            && self.status.as_deref().is_none_or(|s| s == entry.status())
            && self.since.is_none_or(|t| entry.time >= t)
            && self.until.is_none_or(|t| entry.time <= t)
            && self
                .consumer
                .as_deref()
                .is_none_or(|c| c == entry.consumer())
    }
}

async fn list_requests(
    State(emulator): State<Emulator>,
    ServiceName(service): ServiceName,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, RestError> {
    let filter = RequestFilter::parse(query.as_deref())?;
    let (entries, dropped) = {
        let calls = emulator.calls();
        (
            calls.requests.of(&service),
            calls.requests.dropped(&service),
        )
    };
    let entries: Vec<Entry> = entries.into_iter().filter(|e| filter.keeps(e)).collect();
    let mut entries = entries.into_iter();
    Ok(json_list(
        "requests",
        Box::new(move || {
            let chunk: Vec<Entry> = entries.by_ref().take(64).collect();
            (!chunk.is_empty()).then_some(chunk)
        }),
        Entry::to_json,
        format!(",\"dropped\":{dropped}"),
    ))
}

fn faults_answer(emulator: &Emulator, service: &str) -> Response {
    let faults: Vec<serde_json::Value> = emulator
        .faults(service)
        .iter()
        .map(Fault::to_json)
        .collect();
    json_answer(&serde_json::json!({ "faults": faults }))
}

async fn list_faults(
    State(emulator): State<Emulator>,
    ServiceName(service): ServiceName,
) -> Result<Response, RestError> {
    Ok(faults_answer(&emulator, &service))
}

/// Adds one fault (its JSON form); answers what is waiting.
async fn add_fault(
    State(emulator): State<Emulator>,
    ServiceName(service): ServiceName,
    Text(body): Text,
) -> Result<Response, RestError> {
    let fault = Fault::from_json(&body).map_err(|e| invalid(format!("invalid fault: {e}")))?;
    emulator.add_fault(&service, fault)?;
    Ok(faults_answer(&emulator, &service))
}

async fn clear_faults(
    State(emulator): State<Emulator>,
    ServiceName(service): ServiceName,
) -> Result<Response, RestError> {
    emulator.clear_faults(&service);
    Ok(faults_answer(&emulator, &service))
}

/// Replaces a service's configuration with the body (JSON or YAML); its
/// `name` must be the path's service.
async fn replace_config(
    State(emulator): State<Emulator>,
    ServiceName(service): ServiceName,
    Text(body): Text,
) -> Result<Response, RestError> {
    let config = ServiceConfig::parse(&body)
        .map_err(|e| invalid(format!("invalid service configuration: {e}")))?;
    if config.name() != service {
        return Err(invalid(format!(
            "the configuration is of service \"{}\", not \"{}\"",
            clip(config.name()),
            clip(&service)
        )));
    }
    emulator.replace_service_config(config);
    Ok(json_answer(&serde_json::json!({})))
}

/// Sets a service's rollout id from `{"rolloutId": "..."}`.
async fn set_rollout(
    State(emulator): State<Emulator>,
    ServiceName(service): ServiceName,
    Text(body): Text,
) -> Result<Response, RestError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Rollout {
        rollout_id: String,
    }
    let rollout: Rollout = serde_json::from_str(&body)
        .map_err(|e| invalid(format!("expected {{\"rolloutId\": \"...\"}}: {e}")))?;
    emulator.set_rollout_id(&service, &rollout.rollout_id)?;
    let now = emulator.live().rollout_id(&service);
    Ok(json_answer(&serde_json::json!({ "rolloutId": now })))
}

async fn replace_state(
    State(emulator): State<Emulator>,
    Text(body): Text,
) -> Result<Response, RestError> {
    emulator
        .replace_state_json(&body)
        .map_err(|e| invalid(format!("invalid state: {e}")))?;
    Ok(json_answer(&serde_json::json!({})))
}

/// Writes a snapshot to `{"path": "NAME"}` under the data directory (the
/// data directory itself without a body or with `""`); answers where and
/// what it held.
async fn export(State(emulator): State<Emulator>, Text(body): Text) -> Result<Response, RestError> {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Export {
        #[serde(default)]
        path: String,
    }
    let export: Export = if body.trim().is_empty() {
        Export::default()
    } else {
        serde_json::from_str(&body)
            .map_err(|e| invalid(format!("expected {{\"path\": \"NAME\"}}: {e}")))?
    };
    let Some(data_dir) = emulator.config.data_dir.clone() else {
        return Err(RestError::new(
            Code::FailedPrecondition,
            "no data directory: start the emulator with --data-dir to export",
        ));
    };
    let relative = std::path::Path::new(&export.path);
    let inside = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(invalid(format!(
            "path {:?}: a relative path under the data directory, without ..",
            export.path
        )));
    }
    let dir = data_dir.join(relative);
    let exported = {
        let emulator = emulator.clone();
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || emulator.export(&dir))
            .await
            .map_err(|e| RestError::new(Code::Internal, e.to_string()))?
    }
    .map_err(|e| RestError::new(Code::Internal, e.to_string()))?;
    Ok(json_answer(&serde_json::json!({
        "path": dir.display().to_string(),
        "operations": exported.operations,
        "statuses": exported.statuses,
        "requests": exported.requests,
        "services": exported.services,
    })))
}

async fn reset(State(emulator): State<Emulator>) -> Response {
    emulator.reset();
    json_answer(&serde_json::json!({}))
}

fn clock_answer(emulator: &Emulator) -> Response {
    let now = Timestamp::from(emulator.config.clock.now());
    json_answer(&serde_json::json!({
        "now": now.to_string(),
        "manual": emulator.config.clock.manual().is_some(),
    }))
}

async fn read_clock(State(emulator): State<Emulator>) -> Response {
    clock_answer(&emulator)
}

/// Moves a manual clock by `{"duration": "60s"}`; answers the time now.
async fn advance_clock(
    State(emulator): State<Emulator>,
    Text(body): Text,
) -> Result<Response, RestError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Advance {
        duration: String,
    }
    let advance: Advance = serde_json::from_str(&body)
        .map_err(|e| invalid(format!("expected {{\"duration\": \"60s\"}}: {e}")))?;
    let by = advance
        .duration
        .parse::<crate::google::protobuf::Duration>()
        .map_err(|e| e.to_string())
        .and_then(|d| Duration::try_from(d).map_err(|_| "a negative duration".to_owned()))
        .map_err(|e| invalid(format!("duration: {e}")))?;
    emulator
        .advance_clock(by)
        .map_err(|e| RestError::new(Code::FailedPrecondition, e.to_string()))?;
    Ok(clock_answer(&emulator))
}
