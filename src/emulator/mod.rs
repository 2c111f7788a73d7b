//! A local emulator of Service Control and of the Apigee runtime control
//! plane, for tests and development: in memory, bounded, and strict about the
//! semantics the API documentation gives. One [`Emulator`] implements the
//! generated service traits; [`Emulator::router`] serves them over gRPC and
//! REST on one port, with inspection endpoints.
//!
//! What it enforces:
//! - `Report`: a request over 1 MB (1,000,000 bytes encoded) is rejected;
//!   two metric values of one metric with identical labels in one operation
//!   reject the whole request with INVALID_ARGUMENT; an operation without an
//!   id, start time or end time, or ending before it starts, gets a
//!   `reportErrors` entry while the valid operations are stored (partial
//!   success); an operation id already stored for the service is not stored
//!   again.
//! - With service configurations loaded ([`Config::service_config`]), a
//!   service without one is NOT_FOUND on every method, and each operation of
//!   a report is judged by its service's configuration (metrics defined,
//!   value types, allowed labels, declared logs; see `rules`) with a
//!   `reportErrors` entry naming the field. With none, any service is
//!   accepted (the lenient mode).
//! - `Check`: with projects or API keys loaded ([`ConsumerState`]), the
//!   consumer is judged by them (key found, not deleted or expired, key
//!   restrictions by API target, caller IP, referer and app; project
//!   existing, not deleted, service enabled, billing on), with the CheckError
//!   code of the first failure and `check_info.consumer_info` of the
//!   consumer's project; a method whose usage rule allows unregistered calls
//!   needs no consumer. Otherwise every consumer not denied is allowed.
//! - `AllocateQuota`: with a configuration, its quota limits are enforced
//!   per consumer project and window of the [`Config::clock`] (`NORMAL` all
//!   or nothing, `BEST_EFFORT` what remains, `CHECK_ONLY` nothing
//!   allocated), amounts from `quota_metrics` or the metric rule of the
//!   method, an invalid or expired API key or a deleted project refused, a
//!   retry under the same operation id answered as before (see `quota`).
//!   In the lenient mode everything asked is granted. A consumer configured
//!   to be denied is refused quota either way.
//! - `ReportInstanceStatus`: `instance` must be
//!   `organizations/{org}/instances/{instance}` and `reportTime` set; for one
//!   instance and instance uid an older report never replaces a newer one.
//! - `GenerateDeployChangeReport` / `GenerateUndeployChangeReport`: computed
//!   from a [`DeploymentState`] (see its module for the file format): a missing
//!   environment or proxy revision, or another deployed revision without
//!   `override`, is a validation error; a base path another deployment of the
//!   environment group claims is a routing conflict; traffic that moves
//!   between deployments is a routing change.
//! - What the REST wire could not carry (an `Any` of an unknown type, Anys
//!   nested too deep, NaN in a `Struct`, a time out of range) is refused at
//!   the door: a `reportErrors` entry naming the field, or INVALID_ARGUMENT
//!   for an instance status. Every rule takes time linear in the request.
//! - Storage is bounded in items and in bytes ([`Config::max_bytes`]): a
//!   report that would not fit is refused whole with RESOURCE_EXHAUSTED,
//!   never stored in part or dropped.
//!
//! Inspection (JSON over HTTP, streamed a chunk at a time):
//! - `GET /emulator/v1/services/{service_name}/operations`:
//!   `{"operations": [...]}` in arrival order;
//! - `GET /emulator/v1/services/{service_name}/quota`:
//!   `{"quotaUsage": [{"consumer", "limit", "metric", "windowStart",
//!   "windowSeconds", "used", "allowance"}]}`, what each consumer used of
//!   each limit in its current window (numbers as JSON numbers, `allowance`
//!   left out when unlimited);
//! - `GET /emulator/v1/organizations/{org}/instances/{instance}/status`:
//!   `{"statuses": [...]}`, the latest report of each instance uid.
//!
//! Driving it from a test (each also a method of [`Emulator`]): the request
//! log (`GET /emulator/v1/services/{service}/requests`), scripted answers
//! and faults ([`Fault`], `.../faults`), the state and configurations
//! replaced while it runs (`PUT /emulator/v1/state`,
//! `PUT .../config`), `POST /emulator/v1:reset`, and a manual clock
//! (`POST /emulator/v1/clock:advance`). `docs/emulator.md` has the contract.

mod admin;
mod answers;
mod apigee_services;
mod clock;
mod config;
mod consumers;
mod deployments;
mod encoded;
mod faults;
mod health;
mod inspect;
mod operation;
mod quota;
mod quota_controller;
mod requests;
mod rules;
mod service_control;
pub mod snapshot;
mod store;
mod trust;
mod ui;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use prost::Message;
use tonic::{Request, Response};

use crate::google::api::servicecontrol::v1 as sc;
use crate::google::cloud::apigee::v1 as apigee;
use crate::google::rpc::{Code, Status};
use crate::rest::{Authenticate, BearerToken, CallContext, Gateway, WireFormat, clip};

pub use admin::{AdminError, ClockError};
pub use clock::{Clock, ManualClock};
pub use config::{Config, ConsumerErrors};
pub use consumers::{
    AndroidApplication, AndroidKeyRestrictions, ApiKey, ApiTarget, BrowserKeyRestrictions,
    ConsumerState, IosKeyRestrictions, Project, Restrictions, ServerKeyRestrictions, labels,
};
pub use deployments::{Deployment, DeploymentState, Organization, StateError};
pub use faults::{Action, Fault, FaultError, Method, read_faults_file};
pub use health::{HEALTH_PATH, Health, HealthError, check_health};
pub use quota::{QUOTA_EXCEEDED, QUOTA_NAME_LABEL, QUOTA_USED_COUNT};
pub use requests::{Answer, ReceivedMessage, ReceivedRequest};
pub use rules::GOOGLE_LABELS;
pub use snapshot::{
    SNAPSHOT_FORMAT, SNAPSHOT_VERSION, SnapshotError, SnapshotSummary, request_export,
};
pub use trust::{ACCEPTED_AUDIENCES, ACCEPTED_SCOPES, TrustError, TrustedServiceAccount};
pub use ui::UI_PATH;

use encoded::decode_stored;
use rules::ServiceRules;
use store::{Calls, Live, State};

/// The service the request log files Apigee's calls under (the Apigee
/// API's own service name): `GET
/// /emulator/v1/services/apigee.googleapis.com/requests` lists them.
pub const APIGEE_SERVICE: &str = "apigee.googleapis.com";

/// The largest `ReportRequest` accepted, encoded: the documented 1 MB.
pub const MAX_REPORT_BYTES: usize = 1_000_000;

/// The default of [`Config::max_bytes`]: 512 MiB.
pub const DEFAULT_MAX_BYTES: usize = 512 << 20;

/// The default of [`Config::max_request_log_bytes`]: 64 MiB.
pub const DEFAULT_MAX_REQUEST_LOG_BYTES: usize = 64 << 20;

/// An emulator serving on 127.0.0.1 in this process, from
/// [`Emulator::start`]. Dropping it stops the server; [`shutdown`](Self::shutdown)
/// also waits for it.
#[derive(Debug)]
pub struct Running {
    addr: std::net::SocketAddr,
    tls: bool,
    emulator: Emulator,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// The address served.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (`https://` with TLS), the base URL of its
    /// REST and gRPC clients.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The emulator, to read what it stored.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Stops accepting, lets calls in flight finish, and waits for the server
    /// to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The rollout id answered for a service none was set for.
pub const DEFAULT_ROLLOUT_ID: &str = "emulator-rollout";

/// The configuration id answered for a service without a configuration, or
/// whose configuration has no `id`.
pub const DEFAULT_CONFIG_ID: &str = "emulator-config";

/// What a consumer used of a quota limit in its current window, as
/// [`Emulator::quota_usage`] and the inspection endpoint show it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaUsage {
    /// Whom the quota is counted against: `project:<id>` for a project of
    /// the state file (however the call named it), the consumer id as given
    /// otherwise.
    pub consumer: String,
    /// The quota limit's name.
    pub limit: String,
    /// The metric the limit counts.
    pub metric: String,
    /// When the window started, in Unix seconds.
    pub window_start: u64,
    /// The window's length in seconds.
    pub window_seconds: u64,
    /// What is used in the window.
    pub used: i64,
    /// What the limit allows in a window; `None` for unlimited.
    pub allowance: Option<i64>,
}

/// The emulator: implements `ServiceController`, `QuotaController`,
/// `RuntimeService` and `DeploymentService`. Clones share one state.
#[derive(Clone, Default)]
pub struct Emulator {
    config: Arc<Config>,
    /// Who may call, when not everyone.
    callers: Option<Arc<trust::Callers>>,
    live: Arc<std::sync::RwLock<Arc<Live>>>,
    state: Arc<Mutex<State>>,
    calls: Arc<Mutex<Calls>>,
    started: Started,
    /// Held while a snapshot is written: one export at a time.
    exporting: Arc<Mutex<()>>,
}

/// When an emulator was made, for its uptime.
#[derive(Clone, Copy, Debug)]
struct Started(std::time::Instant);

impl Default for Started {
    fn default() -> Self {
        Self(std::time::Instant::now())
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// An emulator with the given configuration and an empty state.
    pub fn new(config: Config) -> Self {
        let rules = config
            .service_configs
            .iter()
            .map(|c| (c.name().to_owned(), Arc::new(ServiceRules::new(c.clone()))))
            .collect();
        let live = Live {
            deployments: config.deployments.clone(),
            consumers: config.consumers.clone(),
            rules,
            rollouts: HashMap::new(),
            state_text: config.state_text.clone(),
        };
        Self {
            live: Arc::new(std::sync::RwLock::new(Arc::new(live))),
            callers: (config.require_token.is_some()
                || !config.trusted_service_accounts.is_empty())
            .then(|| {
                Arc::new(trust::Callers {
                    token: config.require_token.clone().map(BearerToken::new),
                    accounts: config.trusted_service_accounts.clone(),
                    verified: std::sync::Mutex::default(),
                })
            }),
            config: Arc::new(config),
            state: Arc::default(),
            calls: Arc::default(),
            started: Started::default(),
            exporting: Arc::default(),
        }
    }

    /// The router serving every service over gRPC and REST, and the
    /// inspection endpoints, behind the token check when one is required.
    /// Serve it with [`crate::rest::Server`] for the limits on connections.
    pub fn router(&self) -> axum::Router {
        use axum::routing::get;
        let inspection = axum::Router::new()
            .route(
                "/emulator/v1/services/{service_name}/operations",
                get(inspect::inspect_operations).fallback(inspect::inspection_method_not_allowed),
            )
            .route(
                "/emulator/v1/services/{service_name}/quota",
                get(inspect::inspect_quota).fallback(inspect::inspection_method_not_allowed),
            )
            .route(
                "/emulator/v1/organizations/{org}/instances/{instance}/status",
                get(inspect::inspect_statuses).fallback(inspect::inspection_method_not_allowed),
            )
            .with_state(self.clone())
            .merge(admin::routes(self.clone()))
            .merge(ui::route(self.clone()));
        let mut gateway = Gateway::new()
            .add_rest_service(service_control::ServiceControl::new(self.clone()))
            .add_rest_service(sc::QuotaControllerRestServer::new(self.clone()))
            .add_rest_service(apigee::RuntimeServiceRestServer::new(self.clone()))
            .add_rest_service(apigee::DeploymentServiceRestServer::new(self.clone()))
            .merge(inspection);
        if let Some(callers) = &self.callers {
            let callers = callers.clone();
            gateway = gateway
                .authenticate(move |headers: &http::HeaderMap| callers.authenticate(headers));
        }
        // Health outside the token check.
        health::route(self.clone()).merge(gateway.into_router())
    }

    /// Serves a new emulator on a free port of 127.0.0.1, in this process,
    /// with the default [`Limits`](crate::rest::Limits), until the handle
    /// is dropped or shut down.
    ///
    /// ```no_run
    /// use cloud_report_proto::emulator::{Config, Emulator};
    /// use cloud_report_proto::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient;
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let running = Emulator::start(Config::default().require_token("t")).await?;
    /// let mut client = ServiceControllerClient::connect(running.url()).await?;
    /// // ... call it, then read what was stored:
    /// let stored = running.emulator().operations("my-api.example.com");
    /// running.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub async fn start(config: Config) -> std::io::Result<Running> {
        Self::serve_on_loopback(config, None).await
    }

    /// [`start`](Self::start), serving HTTPS and gRPC over TLS with this
    /// identity (its certificate should name `127.0.0.1`); the handle's
    /// [`url`](Running::url) is `https://`.
    ///
    /// # Errors
    ///
    /// When no port can be bound, or rustls refuses the identity.
    pub async fn start_tls(
        config: Config,
        identity: &crate::rest::TlsIdentity,
    ) -> std::io::Result<Running> {
        Self::serve_on_loopback(config, Some(identity)).await
    }

    async fn serve_on_loopback(
        config: Config,
        tls: Option<&crate::rest::TlsIdentity>,
    ) -> std::io::Result<Running> {
        let emulator = Self::new(config);
        let mut server = crate::rest::Server::new(emulator.router());
        if let Some(identity) = tls {
            server = server
                .tls(identity)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        }
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve_with_shutdown(listener, async {
            let _ = stopped.await;
        }));
        Ok(Running {
            addr,
            tls: tls.is_some(),
            emulator,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The operations stored for a service, in arrival order.
    pub fn operations(&self, service_name: &str) -> Vec<sc::Operation> {
        let stored: Vec<Bytes> = self
            .state()
            .services
            .get(service_name)
            .map(|s| s.operations.clone())
            .unwrap_or_default();
        stored.iter().map(|b| decode_stored(b)).collect()
    }

    /// The latest status report of each uid of an instance
    /// (`organizations/{org}/instances/{instance}`).
    pub fn statuses(&self, instance: &str) -> Vec<apigee::ReportInstanceStatusRequest> {
        let stored: Vec<Bytes> = self
            .state()
            .statuses
            .range((instance.to_owned(), String::new())..)
            .take_while(|((i, _), _)| i == instance)
            .map(|(_, status)| status.encoded.clone())
            .collect();
        stored.iter().map(|b| decode_stored(b)).collect()
    }

    /// What the consumers of a service used of its quota limits in the
    /// current windows, by consumer then limit; limits with nothing used
    /// are left out.
    pub fn quota_usage(&self, service_name: &str) -> Vec<QuotaUsage> {
        let live = self.live();
        let Some(rules) = live.rules.get(service_name) else {
            return Vec::new();
        };
        let now = self.config.clock.unix_seconds();
        self.state().quota.usage(service_name, &rules.quota, now)
    }

    /// What everything stored costs, as [`Config::max_bytes`] counts it.
    pub fn stored_bytes(&self) -> usize {
        self.state().bytes
    }

    /// What calls judge by now.
    fn live(&self) -> Arc<Live> {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: every
        // update is applied whole after all checks.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the bearer token, when one is required, in the gRPC metadata or
    /// HTTP headers (the same map). The router checks it before reading a
    /// body; this covers the services served some other way.
    fn authorize(&self, headers: &http::HeaderMap) -> Result<(), Status> {
        match &self.callers {
            Some(callers) => callers.authenticate(headers),
            None => Ok(()),
        }
    }

    /// The rules of a service: `None` in the lenient mode (no configuration
    /// loaded), NOT_FOUND for a service without a configuration otherwise.
    fn rules_of(
        live: &Live,
        service_name: &str,
    ) -> Result<Option<Arc<ServiceRules>>, tonic::Status> {
        if live.rules.is_empty() {
            return Ok(None);
        }
        match live.rules.get(service_name) {
            Some(rules) => Ok(Some(rules.clone())),
            None => Err(Status::new(
                Code::NotFound,
                format!(
                    "service {:?} is not configured in the emulator (configured: {})",
                    clip(service_name),
                    clip(&rules::names(live.rules.keys().map(String::as_str)))
                ),
            )
            .into()),
        }
    }
}

impl Emulator {
    /// Logs a call of `method` and takes the fault waiting for it, if any;
    /// the call's transport context when it came through the gateway, and
    /// its place in the log, to record the answer in.
    fn receive<M: Message>(
        &self,
        method: Method,
        service: &str,
        request: &Request<M>,
    ) -> (Option<CallContext>, Option<Action>, Logged<'_>) {
        self.receive_kept(method, service, request, request.get_ref())
    }

    /// [`receive`](Self::receive) of a request whose message is `message`
    /// (its encoding as it came, for one received as bytes).
    fn receive_kept<T>(
        &self,
        method: Method,
        service: &str,
        request: &Request<T>,
        message: &(impl requests::Kept + ?Sized),
    ) -> (Option<CallContext>, Option<Action>, Logged<'_>) {
        let call = request.extensions().get::<CallContext>().cloned();
        let wire = call.as_ref().map_or(WireFormat::Grpc, CallContext::wire);
        let now = self.config.clock.now();
        let max = self.config.max_request_log_bytes;
        // Encoded before the store is locked: a report may be megabytes.
        let encoded = requests::RequestLog::fits(service, message.kept_len(), max)
            .then(|| requests::encode_kept(message));
        // Who called, only for a call the log keeps (reading a token's
        // claims decodes base64 and JSON).
        let caller = match encoded {
            Some(_) => self.caller(request.metadata().as_ref()),
            None => String::new(),
        };
        let mut calls = self.calls();
        let fault = calls.faults.take(service, method);
        let described = fault.as_ref().map(|a| faults::Fault::describe(method, a));
        let seq = calls
            .requests
            .record(service, method, wire, now, encoded, &caller, described, max);
        let logged = Logged {
            emulator: self,
            seq,
            started: std::time::Instant::now(),
        };
        (call, fault, logged)
    }

    /// Who a call's credentials name, without the secret: the service
    /// account of a self-signed token, `token` for the fixed token,
    /// `anonymous` for none.
    fn caller(&self, headers: &http::HeaderMap) -> String {
        use base64::Engine as _;
        let Some(token) = crate::rest::bearer(headers).and_then(|t| std::str::from_utf8(t).ok())
        else {
            return "anonymous".to_owned();
        };
        let claims = token.split('.').nth(1).and_then(|part| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .ok()
        });
        let account = claims
            .and_then(|c| serde_json::from_slice::<serde_json::Value>(&c).ok())
            .and_then(|c| c["iss"].as_str().map(str::to_owned));
        match account {
            Some(account) if token.split('.').count() == 3 => format!("serviceAccount:{account}"),
            _ => "token".to_owned(),
        }
    }
}

/// A call's place in the request log: [`answered`](Self::answered) records
/// what it was answered; dropped before that (the caller gone, the call
/// cut), it records that no answer came.
struct Logged<'a> {
    emulator: &'a Emulator,
    seq: Option<u64>,
    started: std::time::Instant,
}

impl Logged<'_> {
    /// Records the call's answer.
    fn answered<T: Message>(mut self, result: &Result<Response<T>, tonic::Status>) {
        // Nothing to encode for a call the log does not keep.
        if self.seq.is_none() {
            return;
        }
        let answer = match result {
            Ok(response) => Ok(requests::encode_kept(response.get_ref())),
            Err(status) => Err(requests::Answer::Error {
                code: Code::from_number(status.code() as i32),
                message: status.message().to_owned(),
            }),
        };
        self.record(answer);
    }

    fn record(&mut self, answer: Result<bytes::Bytes, requests::Answer>) {
        if let Some(seq) = self.seq.take() {
            let max = self.emulator.config.max_request_log_bytes;
            self.emulator
                .calls()
                .requests
                .answer(seq, answer, self.started.elapsed(), max);
        }
    }
}

impl Drop for Logged<'_> {
    fn drop(&mut self) {
        self.record(Err(requests::Answer::Dropped));
    }
}
