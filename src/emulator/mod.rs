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
//! (`POST /emulator/v1/clock:advance`). The README has the contract.

mod admin;
mod clock;
mod consumers;
mod deployments;
mod faults;
mod inspect;
mod operation;
mod quota;
mod requests;
mod rules;
mod trust;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use prost::Message;
use tonic::{Request, Response};

use crate::google::api::servicecontrol::v1 as sc;
use crate::google::api::servicecontrol::v1::quota_controller_server::QuotaController;
use crate::google::api::servicecontrol::v1::service_controller_server::ServiceController;
use crate::google::cloud::apigee::v1 as apigee;
use crate::google::cloud::apigee::v1::deployment_service_server::DeploymentService;
use crate::google::cloud::apigee::v1::runtime_service_server::RuntimeService;
use crate::google::protobuf::Timestamp;
use crate::google::rpc::{Code, Status};
use crate::rest::{Authenticate, BearerToken, Binding, CallContext, Gateway, WireFormat, clip};

pub use admin::ClockError;
pub use clock::{Clock, ManualClock};
pub use consumers::{
    AndroidApplication, AndroidKeyRestrictions, ApiKey, ApiTarget, BrowserKeyRestrictions,
    ConsumerState, IosKeyRestrictions, Project, Restrictions, ServerKeyRestrictions, labels,
};
pub use deployments::{Deployment, DeploymentState, Organization, StateError};
pub use faults::{Action, Fault, FaultError, Method, read_faults_file};
pub use quota::{QUOTA_EXCEEDED, QUOTA_NAME_LABEL, QUOTA_USED_COUNT};
pub use requests::{ReceivedMessage, ReceivedRequest};
pub use rules::GOOGLE_LABELS;
pub use trust::{ACCEPTED_AUDIENCES, ACCEPTED_SCOPES, TrustError, TrustedServiceAccount};

use crate::service_config::ServiceConfig;
use rules::ServiceRules;

/// The largest `ReportRequest` accepted, encoded: the documented 1 MB.
pub const MAX_REPORT_BYTES: usize = 1_000_000;

/// The default of [`Config::max_bytes`]: 512 MiB.
pub const DEFAULT_MAX_BYTES: usize = 512 << 20;

/// The default of [`Config::max_request_log_bytes`]: 64 MiB.
pub const DEFAULT_MAX_REQUEST_LOG_BYTES: usize = 64 << 20;

/// What a stored operation or status costs beside its encoding and names:
/// the entries in the tables that find it.
const ITEM_OVERHEAD: usize = 96;
/// What a service's entry costs beside its name.
const SERVICE_OVERHEAD: usize = 160;

/// How an [`Emulator`] behaves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Calls without `Authorization: Bearer <token>` fail with
    /// UNAUTHENTICATED when set (unless their token is one a
    /// [`trusted_service_accounts`](Self::trusted_service_accounts) signed).
    pub require_token: Option<String>,
    /// Service accounts whose self-signed JWTs (what Google's auth
    /// libraries make from a key file) are accepted as bearer tokens, as
    /// Google's front end checks them (see [`TrustedServiceAccount`]). With
    /// some, a call needs such a token or [`require_token`](Self::require_token)'s.
    pub trusted_service_accounts: Vec<TrustedServiceAccount>,
    /// The most operations stored, over all services.
    pub max_operations: usize,
    /// The most instance statuses stored.
    pub max_statuses: usize,
    /// The most bytes stored: operations and statuses as encoded, their ids
    /// and names, and a fixed cost per stored item and per service.
    pub max_bytes: usize,
    /// Consumers (`project:...`, `api_key:...`) that Check denies, with the
    /// code to deny them with; AllocateQuota refuses them quota with the
    /// matching `QuotaError` code where there is one (a denial that is
    /// Check's alone, such as `SERVICE_NOT_ACTIVATED`, refuses no quota).
    pub denied_consumers: BTreeMap<String, sc::check_error::Code>,
    /// What deployment change reports are computed from.
    pub deployments: DeploymentState,
    /// The services' configurations. With none, any service name is
    /// accepted and reports are checked only against the API's own rules
    /// (the lenient mode); with some, a service without one is NOT_FOUND and
    /// reports are checked against its configuration.
    pub service_configs: Vec<ServiceConfig>,
    /// The projects and API keys Check judges consumers by. With none, Check
    /// allows every consumer not in [`denied_consumers`](Self::denied_consumers).
    pub consumers: ConsumerState,
    /// The time quota windows are counted by.
    pub clock: Clock,
    /// The most bytes the request log holds (each request as encoded, its
    /// service name, and a fixed cost an entry); the oldest entries are
    /// dropped, and counted, to make room.
    pub max_request_log_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            require_token: None,
            trusted_service_accounts: Vec::new(),
            max_operations: 1_000_000,
            max_statuses: 100_000,
            max_bytes: DEFAULT_MAX_BYTES,
            denied_consumers: BTreeMap::new(),
            deployments: DeploymentState::default(),
            service_configs: Vec::new(),
            consumers: ConsumerState::default(),
            clock: Clock::system(),
            max_request_log_bytes: DEFAULT_MAX_REQUEST_LOG_BYTES,
        }
    }
}

/// Setters, so a configuration can be written in one expression outside the
/// crate (the struct is `#[non_exhaustive]`).
///
/// ```
/// use cloud_report_proto::emulator::Config;
/// use cloud_report_proto::google::api::servicecontrol::v1::check_error::Code;
///
/// let config = Config::default()
///     .require_token("s3cret")
///     .max_bytes(64 << 20)
///     .deny_consumer("project:blocked", Code::ServiceNotActivated);
/// assert_eq!(config.max_bytes, 64 << 20);
/// ```
impl Config {
    /// Sets [`require_token`](Self::require_token).
    #[must_use]
    pub fn require_token(mut self, token: impl Into<String>) -> Self {
        self.require_token = Some(token.into());
        self
    }

    /// Adds to [`trusted_service_accounts`](Self::trusted_service_accounts).
    #[must_use]
    pub fn trust_service_account(mut self, account: TrustedServiceAccount) -> Self {
        self.trusted_service_accounts.push(account);
        self
    }

    /// Sets [`max_operations`](Self::max_operations).
    #[must_use]
    pub fn max_operations(mut self, max: usize) -> Self {
        self.max_operations = max;
        self
    }

    /// Sets [`max_statuses`](Self::max_statuses).
    #[must_use]
    pub fn max_statuses(mut self, max: usize) -> Self {
        self.max_statuses = max;
        self
    }

    /// Sets [`max_bytes`](Self::max_bytes).
    #[must_use]
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// Adds a consumer to [`denied_consumers`](Self::denied_consumers).
    #[must_use]
    pub fn deny_consumer(
        mut self,
        consumer: impl Into<String>,
        code: sc::check_error::Code,
    ) -> Self {
        self.denied_consumers.insert(consumer.into(), code);
        self
    }

    /// Sets [`deployments`](Self::deployments).
    #[must_use]
    pub fn deployments(mut self, state: DeploymentState) -> Self {
        self.deployments = state;
        self
    }

    /// Adds a configuration to [`service_configs`](Self::service_configs);
    /// a later one of the same service replaces an earlier one.
    #[must_use]
    pub fn service_config(mut self, config: ServiceConfig) -> Self {
        self.service_configs.push(config);
        self
    }

    /// Reads a state file: the organizations of [`DeploymentState`] and the
    /// projects and API keys of [`ConsumerState`], in one JSON object
    /// (`{"organizations": ..., "projects": ..., "apiKeys": ...}`, each
    /// optional), replacing [`deployments`](Self::deployments) and
    /// [`consumers`](Self::consumers).
    ///
    /// # Errors
    ///
    /// A member that is not of the documented form, with its JSON path; a
    /// deployment, group or key naming what the file does not define.
    pub fn state_json(mut self, text: &str) -> Result<Self, StateError> {
        (self.deployments, self.consumers) = read_state_file(text)?;
        Ok(self)
    }

    /// Sets [`consumers`](Self::consumers).
    #[must_use]
    pub fn consumers(mut self, state: ConsumerState) -> Self {
        self.consumers = state;
        self
    }

    /// Sets [`clock`](Self::clock): a [`ManualClock`] lets a test open the
    /// next quota window when it chooses.
    #[must_use]
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Sets [`max_request_log_bytes`](Self::max_request_log_bytes).
    #[must_use]
    pub fn max_request_log_bytes(mut self, max: usize) -> Self {
        self.max_request_log_bytes = max;
        self
    }
}

/// A state file read and checked whole (see [`Config::state_json`]).
fn read_state_file(text: &str) -> Result<(DeploymentState, ConsumerState), StateError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct StateFile {
        #[serde(default)]
        organizations: BTreeMap<String, Organization>,
        #[serde(default)]
        projects: BTreeMap<String, Project>,
        #[serde(default)]
        api_keys: BTreeMap<String, ApiKey>,
    }
    let file: StateFile = deployments::read_state(text)?;
    let deployments = DeploymentState {
        organizations: file.organizations,
    };
    deployments.check()?;
    let consumers = ConsumerState {
        projects: file.projects,
        api_keys: file.api_keys,
    };
    consumers.check().map_err(StateError::Inconsistent)?;
    Ok((deployments, consumers))
}

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

/// The operations of one service, each as encoded, in arrival order.
#[derive(Default)]
struct ServiceOperations {
    ids: HashSet<String>,
    operations: Vec<Bytes>,
}

/// An instance status report as encoded, with its report time.
struct StoredStatus {
    time: (i64, i32),
    encoded: Bytes,
}

#[derive(Default)]
struct State {
    services: HashMap<String, ServiceOperations>,
    operation_count: usize,
    /// What everything stored costs, as [`Config::max_bytes`] counts it.
    bytes: usize,
    /// The latest status report per (instance, instance uid).
    statuses: BTreeMap<(String, String), StoredStatus>,
    /// Quota used, and allocations answered, for retries.
    quota: quota::QuotaLedger,
    /// Every Check, AllocateQuota and Report received.
    requests: requests::RequestLog,
    /// Scripted answers and faults waiting for calls.
    faults: faults::Faults,
}

/// What a running emulator judges by and may have replaced while it runs
/// (`PUT /emulator/v1/state`, `PUT /emulator/v1/services/{service}/config`):
/// each call takes the whole of it as it was when the call began.
#[derive(Clone, Default)]
struct Live {
    deployments: DeploymentState,
    consumers: ConsumerState,
    /// Each configured service's rules, by name.
    rules: HashMap<String, Arc<ServiceRules>>,
    /// Each service's rollout id, where one was set.
    rollouts: HashMap<String, String>,
}

/// The rollout id answered for a service none was set for.
pub const DEFAULT_ROLLOUT_ID: &str = "emulator-rollout";

/// The configuration id answered for a service without a configuration, or
/// whose configuration has no `id`.
pub const DEFAULT_CONFIG_ID: &str = "emulator-config";

impl Live {
    /// The `service_config_id` answers carry: the id of the configuration
    /// in use (not the request's), as Service Control answers it.
    fn config_id(&self, service: &str) -> String {
        self.rules
            .get(service)
            .map(|r| r.config.service().id.as_str())
            .filter(|id| !id.is_empty())
            .unwrap_or(DEFAULT_CONFIG_ID)
            .to_owned()
    }

    /// The `service_rollout_id` answers carry.
    fn rollout_id(&self, service: &str) -> String {
        self.rollouts
            .get(service)
            .map_or(DEFAULT_ROLLOUT_ID, String::as_str)
            .to_owned()
    }
}

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

fn status_cost(instance: &str, uid: &str, encoded: usize) -> usize {
    instance.len() + uid.len() + encoded + ITEM_OVERHEAD
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
        };
        Self {
            live: Arc::new(std::sync::RwLock::new(Arc::new(live))),
            callers: (config.require_token.is_some()
                || !config.trusted_service_accounts.is_empty())
            .then(|| {
                Arc::new(trust::Callers {
                    token: config.require_token.clone().map(BearerToken::new),
                    accounts: config.trusted_service_accounts.clone(),
                })
            }),
            config: Arc::new(config),
            state: Arc::default(),
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
            .merge(admin::routes(self.clone()));
        let mut gateway = Gateway::new()
            .add_service_controller(self.clone())
            .add_quota_controller(self.clone())
            .add_runtime_service(self.clone())
            .add_deployment_service(self.clone())
            .merge(inspection);
        if let Some(callers) = &self.callers {
            let callers = callers.clone();
            gateway = gateway
                .authenticate(move |headers: &http::HeaderMap| callers.authenticate(headers));
        }
        gateway.into_router()
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

/// A message the emulator encoded itself.
fn decode_stored<M: Message + Default>(bytes: &[u8]) -> M {
    M::decode(bytes).unwrap_or_default()
}

fn invalid(message: impl Into<String>) -> tonic::Status {
    Status::new(Code::InvalidArgument, message).into()
}

fn time_of(ts: Option<&Timestamp>) -> Option<(i64, i32)> {
    ts.filter(|t| t.check().is_ok())
        .map(|t| (t.seconds, t.nanos))
}

/// Requests larger than this are validated on the blocking pool, so that the
/// async workers keep answering other clients meanwhile.
const VALIDATE_ON_POOL_BYTES: usize = 64 << 10;

impl Emulator {
    /// Logs a call of `method` and takes the fault waiting for it, if any;
    /// the call's transport context when it came through the gateway.
    fn receive<M: Message>(
        &self,
        method: Method,
        service: &str,
        request: &Request<M>,
    ) -> (Option<CallContext>, Option<Action>) {
        let call = request.extensions().get::<CallContext>().cloned();
        let wire = call.as_ref().map_or(WireFormat::Grpc, CallContext::wire);
        let now = self.config.clock.now();
        let max = self.config.max_request_log_bytes;
        // Encoded before the store is locked: a report may be megabytes.
        let message = request.get_ref();
        let encoded = requests::RequestLog::fits(service, message.encoded_len(), max)
            .then(|| Bytes::from(message.encode_to_vec()));
        let mut state = self.state();
        state
            .requests
            .record(service, method, wire, now, encoded, max);
        let fault = state.faults.take(service, method);
        (call, fault)
    }
}

/// What a call does under a fault: `Ok(Some(answer))` when the script
/// answers it, `Err` when the fault fails it, `Ok(None)` when it goes on to
/// its usual answer (none, or after a delay). A check error is the check's
/// own to answer.
async fn scripted<R: Message + Default>(
    fault: Option<Action>,
    call: Option<&CallContext>,
) -> Result<Option<R>, tonic::Status> {
    match fault {
        None | Some(Action::CheckError(_)) => Ok(None),
        Some(Action::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        Some(Action::Status { code, message }) => Err(Status::new(code, message).into()),
        Some(Action::HttpStatus(http)) => {
            if let Some(call) = call {
                call.set_http_status(http);
            }
            Err(Status::new(
                Code::from_http_status(http),
                format!("HTTP {http} injected by the emulator"),
            )
            .into())
        }
        Some(Action::Response(encoded)) => Ok(Some(decode_stored(&encoded))),
        Some(Action::Drop(how)) => {
            // Served some other way than through the gateway, the call
            // cannot be dropped: it fails as a dropped call would.
            if let Some(call) = call {
                call.abort(how);
            }
            Err(Status::new(Code::Unavailable, "the call was dropped by the emulator").into())
        }
    }
}

/// A Check answered with one injected check error.
fn injected_check_error(
    live: &Live,
    request: &sc::CheckRequest,
    code: sc::check_error::Code,
) -> sc::CheckResponse {
    sc::CheckResponse {
        operation_id: request
            .operation
            .as_ref()
            .map(|o| o.operation_id.clone())
            .unwrap_or_default(),
        check_errors: vec![sc::CheckError {
            code: code as i32,
            detail: format!("{} injected by the emulator", code.as_str_name()),
            ..Default::default()
        }],
        service_config_id: live.config_id(&request.service_name),
        service_rollout_id: live.rollout_id(&request.service_name),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl ServiceController for Emulator {
    async fn check(
        &self,
        request: Request<sc::CheckRequest>,
    ) -> Result<Response<sc::CheckResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let (call, fault) = self.receive(Method::Check, &request.get_ref().service_name, &request);
        let request = request.into_inner();
        if let Some(Action::CheckError(code)) = fault {
            return Ok(Response::new(injected_check_error(
                &self.live(),
                &request,
                code,
            )));
        }
        if let Some(answer) = scripted(fault, call.as_ref()).await? {
            return Ok(Response::new(answer));
        }
        if request.service_name.is_empty() {
            return Err(invalid("service_name is required"));
        }
        let operation = request
            .operation
            .ok_or_else(|| invalid("operation is required"))?;
        let live = self.live();
        let rules = Self::rules_of(&live, &request.service_name)?;
        let mut check_errors: Vec<sc::CheckError> = self
            .config
            .denied_consumers
            .get(&operation.consumer_id)
            .map(|code| {
                vec![sc::CheckError {
                    code: *code as i32,
                    subject: operation.consumer_id.clone(),
                    detail: format!(
                        "{} is denied by the emulator's configuration",
                        operation.consumer_id
                    ),
                    status: Some(Status::new(Code::PermissionDenied, "denied")),
                    ..Default::default()
                }]
            })
            .unwrap_or_default();
        let consumers = &live.consumers;
        let judged = !consumers.projects.is_empty() || !consumers.api_keys.is_empty();
        let unregistered = operation.consumer_id.is_empty()
            && rules
                .as_ref()
                .is_some_and(|r| rules::allows_unregistered(&r.config, &operation.operation_name));
        let mut check_info = sc::check_response::CheckInfo {
            consumer_info: Some(sc::check_response::ConsumerInfo::default()),
            ..Default::default()
        };
        if check_errors.is_empty() && judged && !unregistered {
            let judgement = consumers.judge(&request.service_name, &operation);
            if let Some(why) = judgement.malformed {
                return Err(invalid(format!("operation.consumer_id: {why}")));
            }
            check_errors = judgement.errors;
            check_info.consumer_info = judgement.consumer.or(check_info.consumer_info);
            check_info.api_key_uid = judgement.api_key_uid.unwrap_or_default();
        }
        Ok(Response::new(sc::CheckResponse {
            operation_id: operation.operation_id,
            check_errors,
            service_config_id: live.config_id(&request.service_name),
            service_rollout_id: live.rollout_id(&request.service_name),
            check_info: Some(check_info),
            ..Default::default()
        }))
    }

    async fn report(
        &self,
        request: Request<sc::ReportRequest>,
    ) -> Result<Response<sc::ReportResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let (call, fault) = self.receive(Method::Report, &request.get_ref().service_name, &request);
        if let Some(answer) = scripted(fault, call.as_ref()).await? {
            return Ok(Response::new(answer));
        }
        let request = request.into_inner();
        let size = request.encoded_len();
        if size > MAX_REPORT_BYTES {
            return Err(invalid(format!(
                "ReportRequest is {size} bytes; the limit is {MAX_REPORT_BYTES}"
            )));
        }
        if request.service_name.is_empty() {
            return Err(invalid("service_name is required"));
        }
        let live = self.live();
        let rules = Self::rules_of(&live, &request.service_name)?;
        let checked = if size > VALIDATE_ON_POOL_BYTES {
            tokio::task::spawn_blocking(move || check_report(request, rules.as_deref()))
                .await
                .map_err(|e| {
                    tonic::Status::from(Status::new(
                        Code::Internal,
                        format!("validation failed: {e}"),
                    ))
                })?
        } else {
            check_report(request, rules.as_deref())
        }?;
        self.store(&checked)?;
        Ok(Response::new(sc::ReportResponse {
            report_errors: checked.report_errors,
            service_config_id: live.config_id(&checked.service_name),
            service_rollout_id: live.rollout_id(&checked.service_name),
            ..Default::default()
        }))
    }
}

/// A report that passed the checks of the whole request: its valid
/// operations, encoded, and an error for each invalid one.
struct CheckedReport {
    service_name: String,
    /// (operation id, encoded operation) of each valid operation.
    valid: Vec<(String, Bytes)>,
    report_errors: Vec<sc::report_response::ReportError>,
}

/// Every rule of `Report` that needs no stored state, the configuration's
/// when the service has one; time linear in the request.
fn check_report(
    request: sc::ReportRequest,
    rules: Option<&ServiceRules>,
) -> Result<CheckedReport, tonic::Status> {
    for op in &request.operations {
        if let Some(metric) = operation::duplicate_metric_value(&op.labels, &op.metric_value_sets) {
            return Err(invalid(format!(
                "operation \"{}\" has more than one value of metric {} with identical labels",
                clip(&op.operation_id),
                clip(metric)
            )));
        }
    }
    let mut checked = CheckedReport {
        service_name: request.service_name,
        valid: Vec::new(),
        report_errors: Vec::new(),
    };
    for op in request.operations {
        let problem = operation::operation_problem(&op)
            .or_else(|| rules.and_then(|rules| rules.problem(&op)));
        match problem {
            Some(problem) => checked
                .report_errors
                .push(sc::report_response::ReportError {
                    operation_id: op.operation_id,
                    status: Some(Status::new(Code::InvalidArgument, problem)),
                    ..Default::default()
                }),
            None => {
                let encoded = Bytes::from(op.encode_to_vec());
                checked.valid.push((op.operation_id, encoded));
            }
        }
    }
    Ok(checked)
}

impl Emulator {
    /// Stores a checked report's new operations, all or none.
    fn store(&self, report: &CheckedReport) -> Result<(), tonic::Status> {
        let mut state = self.state();
        let known = state.services.get(&report.service_name);
        let mut fresh: Vec<&(String, Bytes)> = Vec::with_capacity(report.valid.len());
        let mut ids_now = HashSet::new();
        let mut cost = 0;
        for op in &report.valid {
            let stored = known.is_some_and(|s| s.ids.contains(&op.0));
            if !stored && ids_now.insert(op.0.as_str()) {
                cost += op.0.len() + op.1.len() + ITEM_OVERHEAD;
                fresh.push(op);
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        if known.is_none() {
            cost += report.service_name.len() + SERVICE_OVERHEAD;
        }
        if state.operation_count + fresh.len() > self.config.max_operations {
            return Err(exhausted(format!(
                "the emulator stores at most {} operations; this report would exceed it",
                self.config.max_operations
            )));
        }
        if state.bytes + cost > self.config.max_bytes {
            return Err(exhausted(format!(
                "the emulator stores at most {} bytes; this report would exceed it",
                self.config.max_bytes
            )));
        }
        state.operation_count += fresh.len();
        state.bytes += cost;
        let service = state
            .services
            .entry(report.service_name.clone())
            .or_default();
        for (id, encoded) in fresh {
            service.ids.insert(id.clone());
            service.operations.push(encoded.clone());
        }
        Ok(())
    }
}

fn exhausted(message: String) -> tonic::Status {
    Status::new(Code::ResourceExhausted, message).into()
}

#[tonic::async_trait]
impl QuotaController for Emulator {
    async fn allocate_quota(
        &self,
        request: Request<sc::AllocateQuotaRequest>,
    ) -> Result<Response<sc::AllocateQuotaResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let (call, fault) = self.receive(
            Method::AllocateQuota,
            &request.get_ref().service_name,
            &request,
        );
        if let Some(answer) = scripted(fault, call.as_ref()).await? {
            return Ok(Response::new(answer));
        }
        let request = request.into_inner();
        if request.service_name.is_empty() {
            return Err(invalid("service_name is required"));
        }
        let operation = request
            .allocate_operation
            .ok_or_else(|| invalid("allocate_operation is required"))?;
        let live = self.live();
        let rules = Self::rules_of(&live, &request.service_name)?;
        let mut answer = sc::AllocateQuotaResponse {
            operation_id: operation.operation_id.clone(),
            service_config_id: live.config_id(&request.service_name),
            ..Default::default()
        };
        let quota_error = |code: sc::quota_error::Code, subject: &str, description: String| {
            let status = match code {
                sc::quota_error::Code::ResourceExhausted => Code::ResourceExhausted,
                sc::quota_error::Code::BillingNotActive => Code::PermissionDenied,
                _ => Code::InvalidArgument,
            };
            sc::QuotaError {
                code: code as i32,
                subject: subject.to_owned(),
                status: Some(Status::new(status, description.clone())),
                description,
                ..Default::default()
            }
        };
        let mode = quota::Mode::of(&operation)?;
        let denied = self
            .config
            .denied_consumers
            .get(&operation.consumer_id)
            .and_then(|code| quota::refusal_of(*code));
        if let Some(code) = denied {
            answer.allocate_errors.push(quota_error(
                code,
                &operation.consumer_id,
                "quota refused by the emulator's configuration".into(),
            ));
            return Ok(Response::new(answer));
        }
        let Some(rules) = rules else {
            // The lenient mode: everything asked is granted.
            answer.quota_metrics = quota::granted_as_asked(&operation, mode);
            return Ok(Response::new(answer));
        };
        let service = request.service_name.as_str();
        if mode != quota::Mode::CheckOnly
            && let Some(earlier) = self
                .state()
                .quota
                .remembered(service, &operation.operation_id)
        {
            return Ok(Response::new(decode_stored(&earlier)));
        }
        let demand = quota::demand(&rules.config, &operation).map_err(invalid)?;
        let consumer = match live.consumers.quota_consumer(&operation.consumer_id) {
            consumers::QuotaConsumer::Counted(consumer) => consumer,
            consumers::QuotaConsumer::Refused(code, description) => {
                answer
                    .allocate_errors
                    .push(quota_error(code, &operation.consumer_id, description));
                return Ok(Response::new(answer));
            }
            consumers::QuotaConsumer::Malformed(why) => {
                return Err(invalid(format!("allocate_operation.consumer_id: {why}")));
            }
        };
        let mut state = self.state();
        // Again under the lock: a retry racing the first call is answered
        // as the first, never allocated twice.
        if mode != quota::Mode::CheckOnly
            && let Some(earlier) = state.quota.remembered(service, &operation.operation_id)
        {
            return Ok(Response::new(decode_stored(&earlier)));
        }
        let room = self.config.max_bytes.saturating_sub(state.bytes);
        let before = state.quota.usage_bytes;
        let now = self.config.clock.unix_seconds();
        let ask = quota::Ask {
            service,
            consumer: &consumer,
            demand: &demand,
            mode,
        };
        let Some(allocation) = state.quota.allocate(&rules.quota, &ask, now, room) else {
            return Err(exhausted(format!(
                "the emulator stores at most {} bytes; counting quota for another consumer would exceed it",
                self.config.max_bytes
            )));
        };
        state.bytes = state.bytes - before + state.quota.usage_bytes;
        (answer.allocate_errors, answer.quota_metrics) =
            quota::answer(&rules.config, &rules.quota, &ask, &allocation);
        if mode != quota::Mode::CheckOnly && answer.allocate_errors.is_empty() {
            state
                .quota
                .remember(service, &operation.operation_id, quota::encoded(&answer));
        }
        Ok(Response::new(answer))
    }
}

#[tonic::async_trait]
impl RuntimeService for Emulator {
    async fn report_instance_status(
        &self,
        request: Request<apigee::ReportInstanceStatusRequest>,
    ) -> Result<Response<apigee::ReportInstanceStatusResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let request = request.into_inner();
        // The instance must fit the method's own path template.
        let fits = Binding::find(
            "google.cloud.apigee.v1.RuntimeService",
            "ReportInstanceStatus",
        )
        .and_then(|b| b.path_template().ok())
        .is_some_and(|t| t.expand(&[request.instance.as_str()]).is_ok());
        if !fits {
            return Err(invalid(format!(
                "instance \"{}\" is not of the form organizations/{{org}}/instances/{{instance}}",
                clip(&request.instance)
            )));
        }
        let Some(time) = time_of(request.report_time.as_ref()) else {
            return Err(invalid("report_time is required"));
        };
        if let Err(e) = crate::json::to_vec(&request) {
            return Err(invalid(format!(
                "the report cannot be written as JSON: {e}"
            )));
        }
        let encoded = Bytes::from(request.encode_to_vec());
        let cost = status_cost(&request.instance, &request.instance_uid, encoded.len());
        let mut state = self.state();
        let key = (request.instance, request.instance_uid);
        let replaced = match state.statuses.get(&key) {
            // An older report never replaces a newer one; it is still OK.
            Some(current) if current.time >= time => {
                return Ok(Response::new(apigee::ReportInstanceStatusResponse {
                    ..Default::default()
                }));
            }
            Some(current) => status_cost(&key.0, &key.1, current.encoded.len()),
            None if state.statuses.len() >= self.config.max_statuses => {
                return Err(exhausted(format!(
                    "the emulator stores at most {} instance statuses",
                    self.config.max_statuses
                )));
            }
            None => 0,
        };
        if state.bytes - replaced + cost > self.config.max_bytes {
            return Err(exhausted(format!(
                "the emulator stores at most {} bytes; this status would exceed it",
                self.config.max_bytes
            )));
        }
        state.bytes = state.bytes - replaced + cost;
        state.statuses.insert(key, StoredStatus { time, encoded });
        Ok(Response::new(apigee::ReportInstanceStatusResponse {
            ..Default::default()
        }))
    }
}

impl Emulator {
    /// The organization and deployment a change-report request names.
    fn deployment_target<'a>(
        live: &'a Live,
        name: &str,
    ) -> Result<(&'a Organization, Deployment), tonic::Status> {
        let target = DeploymentState::target(name).ok_or_else(|| {
            invalid(format!(
                "name \"{}\" is not of the form organizations/{{org}}/environments/{{env}}/apis/{{api}}/revisions/{{rev}}",
                clip(name)
            ))
        })?;
        let org = live
            .deployments
            .organizations
            .get(target.org)
            .ok_or_else(|| {
                tonic::Status::from(Status::new(
                    Code::NotFound,
                    format!("organization {} does not exist", clip(target.org)),
                ))
            })?;
        Ok((org, target.deployment))
    }
}

#[tonic::async_trait]
impl DeploymentService for Emulator {
    async fn generate_deploy_change_report(
        &self,
        request: Request<apigee::GenerateDeployChangeReportRequest>,
    ) -> Result<Response<apigee::DeploymentChangeReport>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let request = request.into_inner();
        let live = self.live();
        let (org, target) = Self::deployment_target(&live, &request.name)?;
        Ok(Response::new(
            org.deploy_report(&target, request.r#override),
        ))
    }

    async fn generate_undeploy_change_report(
        &self,
        request: Request<apigee::GenerateUndeployChangeReportRequest>,
    ) -> Result<Response<apigee::DeploymentChangeReport>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let request = request.into_inner();
        let live = self.live();
        let (org, target) = Self::deployment_target(&live, &request.name)?;
        Ok(Response::new(org.undeploy_report(&target)))
    }
}
