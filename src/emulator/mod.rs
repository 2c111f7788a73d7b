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
//! - `Check` and `AllocateQuota`: allowed, ids echoed, unless the consumer is
//!   configured to be denied.
//! - `ReportInstanceStatus`: `instance` must be
//!   `organizations/{org}/instances/{instance}` and `reportTime` set; for one
//!   instance and instance uid an older report never replaces a newer one.
//! - `GenerateDeployChangeReport` / `GenerateUndeployChangeReport`: computed
//!   from a [`DeploymentState`] (see its module for the file format): a missing
//!   environment or proxy revision, or another deployed revision without
//!   `override`, is a validation error; a base path another deployment of the
//!   environment group claims is a routing conflict; traffic that moves
//!   between deployments is a routing change.
//! - Storage is bounded: a report that would not fit is refused whole with
//!   RESOURCE_EXHAUSTED, never stored in part or dropped.
//!
//! Inspection (JSON over HTTP):
//! - `GET /emulator/v1/services/{service_name}/operations`:
//!   `{"operations": [...]}` in arrival order;
//! - `GET /emulator/v1/organizations/{org}/instances/{instance}/status`:
//!   `{"statuses": [...]}`, the latest report of each instance uid.

mod deployments;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prost::Message;
use tonic::{Request, Response};

use crate::google::api::servicecontrol::v1 as sc;
use crate::google::api::servicecontrol::v1::quota_controller_server::{
    QuotaController, QuotaControllerServer,
};
use crate::google::api::servicecontrol::v1::service_controller_server::{
    ServiceController, ServiceControllerServer,
};
use crate::google::cloud::apigee::v1 as apigee;
use crate::google::cloud::apigee::v1::deployment_service_server::{
    DeploymentService, DeploymentServiceServer,
};
use crate::google::cloud::apigee::v1::runtime_service_server::{
    RuntimeService, RuntimeServiceServer,
};
use crate::google::protobuf::Timestamp;
use crate::google::rpc::{Code, Status};
use crate::rest::{Binding, Gateway, RestError};
use axum::extract::rejection::PathRejection;

pub use deployments::{Deployment, DeploymentState, Organization, StateError};

/// The largest `ReportRequest` accepted, encoded: the documented 1 MB.
pub const MAX_REPORT_BYTES: usize = 1_000_000;

/// How an [`Emulator`] behaves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Calls without `Authorization: Bearer <token>` fail with
    /// UNAUTHENTICATED when set.
    pub require_token: Option<String>,
    /// The most operations stored, over all services.
    pub max_operations: usize,
    /// The most instance statuses stored.
    pub max_statuses: usize,
    /// Consumers (`project:...`, `api_key:...`) that Check denies, with the
    /// code to deny them with; AllocateQuota refuses them quota.
    pub denied_consumers: BTreeMap<String, sc::check_error::Code>,
    /// What deployment change reports are computed from.
    pub deployments: DeploymentState,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            require_token: None,
            max_operations: 1_000_000,
            max_statuses: 100_000,
            denied_consumers: BTreeMap::new(),
            deployments: DeploymentState::default(),
        }
    }
}

#[derive(Default)]
struct ServiceOperations {
    ids: HashSet<String>,
    operations: Vec<sc::Operation>,
}

#[derive(Default)]
struct State {
    services: HashMap<String, ServiceOperations>,
    operation_count: usize,
    /// The latest status report per (instance, instance uid).
    statuses: BTreeMap<(String, String), apigee::ReportInstanceStatusRequest>,
}

/// The emulator: implements `ServiceController`, `QuotaController`,
/// `RuntimeService` and `DeploymentService`. Clones share one state.
#[derive(Clone, Default)]
pub struct Emulator {
    config: Arc<Config>,
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
        Self {
            config: Arc::new(config),
            state: Arc::default(),
        }
    }

    /// The router serving every service over gRPC and REST, and the
    /// inspection endpoints.
    pub fn router(&self) -> axum::Router {
        use axum::routing::get;
        let inspection = axum::Router::new()
            .route(
                "/emulator/v1/services/{service_name}/operations",
                get(inspect_operations).fallback(inspection_method_not_allowed),
            )
            .route(
                "/emulator/v1/organizations/{org}/instances/{instance}/status",
                get(inspect_statuses).fallback(inspection_method_not_allowed),
            )
            .with_state(self.clone());
        let gateway = Gateway::new()
            .add_service(ServiceControllerServer::new(self.clone()))
            .add_service(QuotaControllerServer::new(self.clone()))
            .add_service(RuntimeServiceServer::new(self.clone()))
            .add_service(DeploymentServiceServer::new(self.clone()))
            .into_router();
        inspection.merge(gateway)
    }

    /// The operations stored for a service, in arrival order.
    pub fn operations(&self, service_name: &str) -> Vec<sc::Operation> {
        self.state()
            .services
            .get(service_name)
            .map(|s| s.operations.clone())
            .unwrap_or_default()
    }

    /// The latest status report of each uid of an instance
    /// (`organizations/{org}/instances/{instance}`).
    pub fn statuses(&self, instance: &str) -> Vec<apigee::ReportInstanceStatusRequest> {
        self.state()
            .statuses
            .range((instance.to_owned(), String::new())..)
            .take_while(|((i, _), _)| i == instance)
            .map(|(_, status)| status.clone())
            .collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: every
        // update is applied whole after all checks.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the bearer token, when one is required, in the gRPC metadata or
    /// HTTP headers (the same map).
    fn authorize(&self, headers: &http::HeaderMap) -> Result<(), Status> {
        let Some(token) = &self.config.require_token else {
            return Ok(());
        };
        let given = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given == Some(token.as_str()) {
            Ok(())
        } else {
            Err(Status::new(
                Code::Unauthenticated,
                "Request is missing required authentication credential: expected a bearer token",
            ))
        }
    }
}

fn invalid(message: impl Into<String>) -> tonic::Status {
    Status::new(Code::InvalidArgument, message).into()
}

fn time_of(ts: Option<&Timestamp>) -> Option<(i64, i32)> {
    ts.filter(|t| t.check().is_ok())
        .map(|t| (t.seconds, t.nanos))
}

/// Why an operation cannot be stored, or `None` when it can.
fn operation_problem(op: &sc::Operation) -> Option<String> {
    if op.operation_id.is_empty() {
        return Some("operation_id is required".into());
    }
    let Some(start) = time_of(op.start_time.as_ref()) else {
        return Some("start_time is required and must be a valid timestamp".into());
    };
    let Some(end) = time_of(op.end_time.as_ref()) else {
        return Some("end_time is required in Report and must be a valid timestamp".into());
    };
    (end < start).then(|| "end_time is before start_time".into())
}

/// The first metric with two values of identical labels in one operation:
/// (operation id, metric name). Labels are the value's own over the
/// operation's, as the service applies them.
fn duplicate_metric_value(op: &sc::Operation) -> Option<String> {
    let mut seen = HashSet::new();
    for set in &op.metric_value_sets {
        for value in &set.metric_values {
            let mut labels = op.labels.clone();
            labels.extend(value.labels.clone());
            if !seen.insert((set.metric_name.as_str(), labels)) {
                return Some(set.metric_name.clone());
            }
        }
    }
    None
}

#[tonic::async_trait]
impl ServiceController for Emulator {
    async fn check(
        &self,
        request: Request<sc::CheckRequest>,
    ) -> Result<Response<sc::CheckResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let request = request.into_inner();
        if request.service_name.is_empty() {
            return Err(invalid("service_name is required"));
        }
        let operation = request
            .operation
            .ok_or_else(|| invalid("operation is required"))?;
        let check_errors = self
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
                }]
            })
            .unwrap_or_default();
        Ok(Response::new(sc::CheckResponse {
            operation_id: operation.operation_id,
            check_errors,
            service_config_id: config_id(&request.service_config_id),
            service_rollout_id: "emulator-rollout".into(),
            check_info: Some(sc::check_response::CheckInfo {
                consumer_info: Some(sc::check_response::ConsumerInfo::default()),
                ..Default::default()
            }),
        }))
    }

    async fn report(
        &self,
        request: Request<sc::ReportRequest>,
    ) -> Result<Response<sc::ReportResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
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
        for op in &request.operations {
            if let Some(metric) = duplicate_metric_value(op) {
                return Err(invalid(format!(
                    "operation \"{}\" has more than one value of metric {metric} with identical labels",
                    op.operation_id
                )));
            }
        }
        let mut report_errors = Vec::new();
        let mut valid = Vec::new();
        for op in request.operations {
            match operation_problem(&op) {
                Some(problem) => report_errors.push(sc::report_response::ReportError {
                    operation_id: op.operation_id.clone(),
                    status: Some(Status::new(Code::InvalidArgument, problem)),
                }),
                None => valid.push(op),
            }
        }
        {
            let mut state = self.state();
            let known = state.services.get(&request.service_name);
            let mut fresh: Vec<sc::Operation> = Vec::with_capacity(valid.len());
            let mut ids_now = HashSet::new();
            for op in valid {
                let stored = known.is_some_and(|s| s.ids.contains(&op.operation_id));
                if !stored && ids_now.insert(op.operation_id.clone()) {
                    fresh.push(op);
                }
            }
            if state.operation_count + fresh.len() > self.config.max_operations {
                return Err(Status::new(
                    Code::ResourceExhausted,
                    format!(
                        "the emulator stores at most {} operations; this report would exceed it",
                        self.config.max_operations
                    ),
                )
                .into());
            }
            state.operation_count += fresh.len();
            let service = state.services.entry(request.service_name).or_default();
            for op in fresh {
                service.ids.insert(op.operation_id.clone());
                service.operations.push(op);
            }
        }
        Ok(Response::new(sc::ReportResponse {
            report_errors,
            service_config_id: config_id(&request.service_config_id),
            service_rollout_id: "emulator-rollout".into(),
        }))
    }
}

fn config_id(requested: &str) -> String {
    if requested.is_empty() {
        "emulator-config".into()
    } else {
        requested.into()
    }
}

#[tonic::async_trait]
impl QuotaController for Emulator {
    async fn allocate_quota(
        &self,
        request: Request<sc::AllocateQuotaRequest>,
    ) -> Result<Response<sc::AllocateQuotaResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let request = request.into_inner();
        if request.service_name.is_empty() {
            return Err(invalid("service_name is required"));
        }
        let operation = request
            .allocate_operation
            .ok_or_else(|| invalid("allocate_operation is required"))?;
        let denied = self
            .config
            .denied_consumers
            .contains_key(&operation.consumer_id);
        let allocate_errors = if denied {
            vec![sc::QuotaError {
                code: sc::quota_error::Code::ResourceExhausted as i32,
                subject: operation.consumer_id.clone(),
                description: "quota refused by the emulator's configuration".into(),
                status: Some(Status::new(Code::ResourceExhausted, "quota exhausted")),
            }]
        } else {
            Vec::new()
        };
        Ok(Response::new(sc::AllocateQuotaResponse {
            operation_id: operation.operation_id,
            allocate_errors,
            quota_metrics: if denied {
                Vec::new()
            } else {
                operation.quota_metrics
            },
            service_config_id: config_id(&request.service_config_id),
        }))
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
                request.instance
            )));
        }
        let Some(time) = time_of(request.report_time.as_ref()) else {
            return Err(invalid("report_time is required"));
        };
        let mut state = self.state();
        let key = (request.instance.clone(), request.instance_uid.clone());
        match state.statuses.get(&key) {
            // An older report never replaces a newer one; it is still OK.
            Some(current) if time_of(current.report_time.as_ref()) >= Some(time) => {}
            None if state.statuses.len() >= self.config.max_statuses => {
                return Err(Status::new(
                    Code::ResourceExhausted,
                    format!(
                        "the emulator stores at most {} instance statuses",
                        self.config.max_statuses
                    ),
                )
                .into());
            }
            _ => {
                state.statuses.insert(key, request);
            }
        }
        Ok(Response::new(apigee::ReportInstanceStatusResponse {}))
    }
}

impl Emulator {
    /// The organization and deployment a change-report request names.
    fn deployment_target(&self, name: &str) -> Result<(&Organization, Deployment), tonic::Status> {
        let target = DeploymentState::target(name).ok_or_else(|| {
            invalid(format!(
                "name \"{name}\" is not of the form organizations/{{org}}/environments/{{env}}/apis/{{api}}/revisions/{{rev}}"
            ))
        })?;
        let org = self
            .config
            .deployments
            .organizations
            .get(target.org)
            .ok_or_else(|| {
                tonic::Status::from(Status::new(
                    Code::NotFound,
                    format!("organization {} does not exist", target.org),
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
        let (org, target) = self.deployment_target(&request.name)?;
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
        let (org, target) = self.deployment_target(&request.name)?;
        Ok(Response::new(org.undeploy_report(&target)))
    }
}

// ---------------------------------------------------------------------------
// Inspection endpoints

/// A 200 answer with a JSON body.
fn json_ok(body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

fn error_response(status: Status) -> axum::response::Response {
    use axum::response::IntoResponse;
    crate::rest::RestError::from(status).into_response()
}

/// `{"<field>": [<message JSON>, ...]}`, written with the canonical JSON of
/// each message.
fn json_list<T: crate::json::WriteJson>(
    field: &str,
    items: &[T],
) -> Result<String, crate::json::JsonError> {
    let mut out = format!("{{\"{field}\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&crate::json::to_string(item)?);
    }
    out.push_str("]}");
    Ok(out)
}

/// A method other than GET on an inspection endpoint: 405 in Google's error
/// form, as the gateway answers.
async fn inspection_method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> RestError {
    RestError::new(
        Code::Unimplemented,
        format!("method {method} is not allowed on {}", uri.path()),
    )
    .with_http_status(405)
}

/// A path whose variables cannot be read (not UTF-8 once decoded): 400 in
/// Google's error form.
fn bad_path(rejection: &PathRejection) -> axum::response::Response {
    error_response(Status::new(
        Code::InvalidArgument,
        format!("invalid path: {}", rejection.body_text()),
    ))
}

async fn inspect_operations(
    axum::extract::State(emulator): axum::extract::State<Emulator>,
    service_name: Result<axum::extract::Path<String>, PathRejection>,
    headers: http::HeaderMap,
) -> axum::response::Response {
    if let Err(denied) = emulator.authorize(&headers) {
        return error_response(denied);
    }
    let service_name = match service_name {
        Ok(axum::extract::Path(name)) => name,
        Err(rejection) => return bad_path(&rejection),
    };
    match json_list("operations", &emulator.operations(&service_name)) {
        Ok(body) => json_ok(body),
        Err(e) => error_response(Status::new(Code::Internal, e.to_string())),
    }
}

async fn inspect_statuses(
    axum::extract::State(emulator): axum::extract::State<Emulator>,
    names: Result<axum::extract::Path<(String, String)>, PathRejection>,
    headers: http::HeaderMap,
) -> axum::response::Response {
    if let Err(denied) = emulator.authorize(&headers) {
        return error_response(denied);
    }
    let (org, instance) = match names {
        Ok(axum::extract::Path(names)) => names,
        Err(rejection) => return bad_path(&rejection),
    };
    let name = format!("organizations/{org}/instances/{instance}");
    match json_list("statuses", &emulator.statuses(&name)) {
        Ok(body) => json_ok(body),
        Err(e) => error_response(Status::new(Code::Internal, e.to_string())),
    }
}
