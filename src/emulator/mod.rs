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
mod shared;
pub mod snapshot;
mod store;
mod trust;
mod ui;

use crate::google::api::servicecontrol::v1 as sc;
use crate::google::cloud::apigee::v1 as apigee;
use crate::rest::{Authenticate, Gateway};

pub use admin::{AdminError, ClockError};
pub use clock::{Clock, ManualClock};
pub use config::{Config, ConsumerErrors, DEFAULT_MAX_BYTES, DEFAULT_MAX_REQUEST_LOG_BYTES};
pub use consumers::{
    AndroidApplication, AndroidKeyRestrictions, ApiKey, ApiTarget, BrowserKeyRestrictions,
    ConsumerState, IosKeyRestrictions, Project, Restrictions, ServerKeyRestrictions, labels,
};
pub use deployments::{Deployment, DeploymentState, Organization, StateError};
pub use faults::{Action, Fault, FaultError, Method, read_faults_file};
pub use health::{HEALTH_PATH, Health, HealthError, check_health};
pub use operation::MAX_REPORT_BYTES;
pub use quota::{QUOTA_EXCEEDED, QUOTA_NAME_LABEL, QUOTA_USED_COUNT, QuotaUsage};
pub use requests::{APIGEE_SERVICE, Answer, ReceivedMessage, ReceivedRequest};
pub use rules::GOOGLE_LABELS;
pub use snapshot::{
    SNAPSHOT_FORMAT, SNAPSHOT_VERSION, SnapshotError, SnapshotSummary, request_export,
};
pub use store::{DEFAULT_CONFIG_ID, DEFAULT_ROLLOUT_ID};
pub use trust::{ACCEPTED_AUDIENCES, ACCEPTED_SCOPES, TrustError, TrustedServiceAccount};
pub use ui::UI_PATH;

pub use shared::Emulator;

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

impl Emulator {
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
}
