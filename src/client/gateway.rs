//! The requests a gateway sends for each call it serves, built as ESPv2
//! builds them (`src/api_proxy/service_control/request_builder.cc`): the
//! `CheckRequest`, the `AllocateQuotaRequest` and the Report operations,
//! with ESPv2's metric names, labels, distributions and log entry, from
//! what the gateway knows about the call ([`CallInfo`], [`ReportInfo`]).
//!
//! Which metrics and labels go into a Report follows the service's
//! configuration as ESPv2 reads it ([`RequestBuilder::from_service`]): the
//! metrics its `monitoring` destinations name, the labels of those metrics,
//! of their monitored resources and of the `logging` destinations' logs,
//! plus the system labels, always; the logs its `logging` destinations name.
//! [`RequestBuilder::new`] is ESPv2's builder without a configuration: every
//! metric and label it knows, one log, `endpoints_log`.
//!
//! How a gateway answers its caller from Service Control's answers is
//! [`CheckAnswer::denial`](super::CheckAnswer::denial) and
//! [`QuotaAnswer::denial`](super::QuotaAnswer::denial).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use cloud_report_proto::client::gateway::{ApiKeyState, CallInfo, Protocol, ReportInfo, RequestBuilder};
//!
//! let builder = RequestBuilder::new("my-api.endpoints.my-project.cloud.goog", "2024-01-01r0");
//! let mut call = CallInfo::new("3f0a8c1e-5b7d-4e2a-9c61-0d8e7b5a4f12", "1.my_api.GetShelf");
//! call.api_key = "AIza-my-key".into();
//! call.client_ip = "10.0.0.7".into();
//! let check = builder.check_request(&call, SystemTime::now())?;
//! assert_eq!(check.operation.unwrap().consumer_id, "api_key:AIza-my-key");
//!
//! let mut report = ReportInfo::new(call);
//! report.api_key_state = ApiKeyState::Verified;
//! report.frontend_protocol = Protocol::Https;
//! report.response_code = 200;
//! report.request_size = Some(512);
//! report.response_size = Some(2048);
//! report.request_time = Some(Duration::from_millis(42));
//! let operations = builder.report_operations(&report, SystemTime::now())?;
//! let main = &operations[0];
//! assert_eq!(main.labels["/credential_id"], "apikey:AIza-my-key");
//! assert_eq!(main.labels["/response_code_class"], "2xx");
//! assert_eq!(main.labels["cloud.googleapis.com/location"], "global");
//! # Ok::<(), cloud_report_proto::client::gateway::BuildError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use base64::Engine as _;

use crate::google::api::metric_descriptor::{MetricKind, ValueType};
use crate::google::api::servicecontrol::v1::check_error::Code as CheckCode;
use crate::google::api::servicecontrol::v1::distribution::{BucketOption, ExponentialBuckets};
use crate::google::api::servicecontrol::v1::log_entry::Payload;
use crate::google::api::servicecontrol::v1::metric_value::Value as MetricKindValue;
use crate::google::api::servicecontrol::v1::quota_operation::QuotaMode;
use crate::google::api::servicecontrol::v1::{
    AllocateQuotaRequest, CheckRequest, CheckResponse, Distribution, HttpRequest, LogEntry,
    MetricValue, MetricValueSet, Operation, QuotaOperation,
};
use crate::google::api::{LabelDescriptor, Service, label_descriptor};
use crate::google::logging::r#type::LogSeverity;
use crate::google::protobuf::{Struct, Timestamp, Value, value::Kind};
use crate::google::rpc::Code;

/// The label a gateway's location goes in; never sent empty.
pub const LOCATION_LABEL: &str = "cloud.googleapis.com/location";
/// The location when the gateway does not know its own.
pub const DEFAULT_LOCATION: &str = "global";
/// The label of the consumer's project number, on the by-consumer operation.
pub const CONSUMER_PROJECT_LABEL: &str = "serviceruntime.googleapis.com/consumer_project";
/// The log a builder without a configuration writes.
pub const DEFAULT_LOG: &str = "endpoints_log";

const CALLER_IP: &str = "servicecontrol.googleapis.com/caller_ip";
const REFERER: &str = "servicecontrol.googleapis.com/referer";
const USER_AGENT: &str = "servicecontrol.googleapis.com/user_agent";
const SERVICE_AGENT: &str = "servicecontrol.googleapis.com/service_agent";
const ANDROID_PACKAGE: &str = "servicecontrol.googleapis.com/android_package_name";
const ANDROID_CERT: &str = "servicecontrol.googleapis.com/android_cert_fingerprint";
const IOS_BUNDLE: &str = "servicecontrol.googleapis.com/ios_bundle_id";

/// A request's `service_name` or an operation's id or name was empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is required")]
pub struct BuildError(&'static str);

impl From<BuildError> for tonic::Status {
    /// INVALID_ARGUMENT: what the gateway knew of the call was not enough.
    fn from(error: BuildError) -> Self {
        tonic::Status::invalid_argument(error.to_string())
    }
}

/// The protocol of one side of a call, as the `/protocol` label and the
/// log's `http_request.protocol` name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// Not known.
    #[default]
    Unknown,
    /// HTTP/1.1 or HTTP/2 without TLS.
    Http,
    /// HTTP over TLS.
    Https,
    /// gRPC.
    Grpc,
}

impl Protocol {
    /// The name ESPv2 reports: `unknown`, `http`, `https`, `grpc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Http => "http",
            Self::Https => "https",
            Self::Grpc => "grpc",
        }
    }
}

/// What the Check of a call said of its API key, which decides the
/// consumer of its Report (ESPv2's `api_key_state`, from `client_cache.cc`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiKeyState {
    /// Not checked: no key, no Check made, or the Check failed (open or
    /// closed).
    #[default]
    NotChecked,
    /// Service Control accepted the key, or refused the call for a reason
    /// that still identified the consumer.
    Verified,
    /// The key is invalid, expired or unknown.
    Invalid,
    /// The service is not enabled in the key's project.
    NotEnabled,
}

impl ApiKeyState {
    /// The state a Check's outcome gives, as ESPv2 decides it: an answer
    /// without errors is `Verified`; a first error of the key
    /// (`API_KEY_INVALID`, `API_KEY_EXPIRED`, `API_KEY_NOT_FOUND`) is
    /// `Invalid`, `SERVICE_NOT_ACTIVATED` is `NotEnabled`, a backend said to
    /// be unavailable is `NotChecked`, any other error `Verified` ("the
    /// consumer was identified"); a failed Check, or one let through without
    /// an answer, is `NotChecked`.
    pub fn of_check(outcome: &Result<super::CheckAnswer, tonic::Status>) -> Self {
        match outcome {
            Ok(answer) if answer.api_key_checked() => Self::of_response(&answer.response),
            _ => Self::NotChecked,
        }
    }

    /// The state a Check answer gives; see [`of_check`](Self::of_check).
    pub fn of_response(response: &CheckResponse) -> Self {
        let Some(first) = response.check_errors.first() else {
            return Self::Verified;
        };
        match CheckCode::try_from(first.code) {
            Ok(CheckCode::ApiKeyInvalid | CheckCode::ApiKeyExpired | CheckCode::ApiKeyNotFound) => {
                Self::Invalid
            }
            Ok(CheckCode::ServiceNotActivated) => Self::NotEnabled,
            Ok(
                CheckCode::NamespaceLookupUnavailable
                | CheckCode::ServiceStatusUnavailable
                | CheckCode::BillingStatusUnavailable
                | CheckCode::CloudResourceManagerBackendUnavailable,
            ) => Self::NotChecked,
            _ => Self::Verified,
        }
    }

    /// The name the log entry gives it: `VERIFIED`, `INVALID`,
    /// `NOT ENABLED`, `NOT CHECKED` (with a space, as ESPv2 writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotChecked => "NOT CHECKED",
            Self::Verified => "VERIFIED",
            Self::Invalid => "INVALID",
            Self::NotEnabled => "NOT ENABLED",
        }
    }
}

/// What a gateway knows about a call when it asks Service Control:
/// enough for Check and AllocateQuota.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallInfo {
    /// Unique per call (ESPv2 draws a UUID); required.
    pub operation_id: String,
    /// The method's selector, e.g. `1.my_api_endpoints_my_project_cloud_goog.GetShelf`; required.
    pub operation_name: String,
    /// The API key the call carried; empty for none.
    pub api_key: String,
    /// The caller's address; empty when unknown.
    pub client_ip: String,
    /// The `Referer` header; empty for none.
    pub referer: String,
    /// The `x-android-package` header (Check only).
    pub android_package_name: String,
    /// The `x-android-cert` header (Check only).
    pub android_cert_fingerprint: String,
    /// The `x-ios-bundle-identifier` header (Check only).
    pub ios_bundle_id: String,
}

impl CallInfo {
    /// A call of `operation_name` (the method's selector), under a unique
    /// `operation_id`; set the other fields as known.
    pub fn new(operation_id: impl Into<String>, operation_name: impl Into<String>) -> Self {
        Self {
            operation_id: operation_id.into(),
            operation_name: operation_name.into(),
            ..Self::default()
        }
    }
}

/// What a gateway knows about a call once it has answered: what its Report
/// says.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReportInfo {
    /// The call as Check knew it.
    pub call: CallInfo,
    /// What Check said of the key ([`ApiKeyState::of_check`]).
    pub api_key_state: ApiKeyState,
    /// The key's uid from Check's `check_info.api_key_uid`, reported as
    /// `/credential_id` when [`RequestBuilder::api_key_uid_reporting`] is on.
    pub api_key_uid: String,
    /// The consumer's project number from Check's
    /// `check_info.consumer_info.project_number`: when above 0, a second,
    /// by-consumer operation is reported.
    pub consumer_project_number: Option<i64>,
    /// The `iss` and `aud` of the JWT that authenticated the call (empty
    /// for none): the `/credential_id` of a call without a verified key.
    pub auth_issuer: String,
    /// See [`auth_issuer`](Self::auth_issuer).
    pub auth_audience: String,
    /// The protocol the caller spoke.
    pub frontend_protocol: Protocol,
    /// The protocol the backend spoke.
    pub backend_protocol: Protocol,
    /// The HTTP method (for the log).
    pub method: String,
    /// The path and query (for the log).
    pub url: String,
    /// The HTTP status answered (0 when none was).
    pub response_code: u16,
    /// The gRPC status answered, for a gRPC call: the HTTP status reported
    /// is then the one it maps to.
    pub grpc_status: Option<Code>,
    /// The status of the gateway's own Check and quota decision (`OK` when
    /// it let the call through): the `/status_code` label.
    pub status: Code,
    /// The message of that status, when not `OK` (the log's `error_cause`).
    pub status_message: String,
    /// Why the answer is what it is, as the proxy says (the log's
    /// `response_code_detail`).
    pub response_code_detail: String,
    /// Bytes received, headers included.
    pub request_size: Option<u64>,
    /// Bytes sent, headers and trailers included.
    pub response_size: Option<u64>,
    /// From the first byte received to the last sent.
    pub request_time: Option<Duration>,
    /// Time spent waiting for the backend.
    pub backend_time: Option<Duration>,
    /// The gateway's own time.
    pub overhead_time: Option<Duration>,
    /// The zone or region the gateway runs in; `global` when empty.
    pub location: String,
    /// The API's name and version (labels and log, when set).
    pub api_name: String,
    /// See [`api_name`](Self::api_name).
    pub api_version: String,
    /// The trace id of the call: the log's `trace`, under the builder's
    /// tracing project.
    pub trace_id: String,
}

impl ReportInfo {
    /// A call's report, everything else unknown or empty: set the fields
    /// as known.
    pub fn new(call: CallInfo) -> Self {
        Self {
            call,
            api_key_state: ApiKeyState::NotChecked,
            api_key_uid: String::new(),
            consumer_project_number: None,
            auth_issuer: String::new(),
            auth_audience: String::new(),
            frontend_protocol: Protocol::Unknown,
            backend_protocol: Protocol::Unknown,
            method: String::new(),
            url: String::new(),
            response_code: 0,
            grpc_status: None,
            status: Code::Ok,
            status_message: String::new(),
            response_code_detail: String::new(),
            request_size: None,
            response_size: None,
            request_time: None,
            backend_time: None,
            overhead_time: None,
            location: String::new(),
            api_name: String::new(),
            api_version: String::new(),
            trace_id: String::new(),
        }
    }

    /// A call's report with what its Check said: the key's state
    /// ([`ApiKeyState::of_check`]), and from an answer, the key's uid and
    /// the consumer's project number (when Service Control gave one).
    pub fn checked(call: CallInfo, outcome: &Result<super::CheckAnswer, tonic::Status>) -> Self {
        let mut info = Self::new(call);
        info.api_key_state = ApiKeyState::of_check(outcome);
        if let Ok(answer) = outcome
            && let Some(check_info) = &answer.response.check_info
        {
            info.api_key_uid.clone_from(&check_info.api_key_uid);
            info.consumer_project_number = check_info
                .consumer_info
                .as_ref()
                .map(|c| c.project_number)
                .filter(|&n| n > 0);
        }
        info
    }

    /// The consumer's project number, when Check gave one (above 0).
    fn consumer_project(&self) -> Option<i64> {
        self.consumer_project_number.filter(|&n| n > 0)
    }

    /// The HTTP status reported: a gRPC call's status mapped to HTTP
    /// (Envoy's `grpcToHttpStatus`), else the HTTP status answered.
    fn http_status(&self) -> u16 {
        self.grpc_status
            .map_or(self.response_code, Code::http_status)
    }
}

/// Which operation of a Report a metric goes in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Producer,
    Consumer,
    ProducerByConsumer,
}

/// What a metric measures.
#[derive(Clone, Copy)]
enum Measure {
    /// One per call.
    Count,
    RequestSize,
    ResponseSize,
    RequestTime,
    BackendTime,
    OverheadTime,
}

/// The metrics ESPv2 reports, in the order it reports them; all DELTA.
const METRICS: [(&str, Mark, Measure); 16] = [
    (
        "serviceruntime.googleapis.com/api/consumer/request_count",
        Mark::Consumer,
        Measure::Count,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/request_count",
        Mark::Producer,
        Measure::Count,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/request_count",
        Mark::ProducerByConsumer,
        Measure::Count,
    ),
    (
        "serviceruntime.googleapis.com/api/consumer/request_sizes",
        Mark::Consumer,
        Measure::RequestSize,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/request_sizes",
        Mark::Producer,
        Measure::RequestSize,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/request_sizes",
        Mark::ProducerByConsumer,
        Measure::RequestSize,
    ),
    (
        "serviceruntime.googleapis.com/api/consumer/response_sizes",
        Mark::Consumer,
        Measure::ResponseSize,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/response_sizes",
        Mark::Producer,
        Measure::ResponseSize,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/response_sizes",
        Mark::ProducerByConsumer,
        Measure::ResponseSize,
    ),
    (
        "serviceruntime.googleapis.com/api/consumer/total_latencies",
        Mark::Consumer,
        Measure::RequestTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/total_latencies",
        Mark::Producer,
        Measure::RequestTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/total_latencies",
        Mark::ProducerByConsumer,
        Measure::RequestTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/backend_latencies",
        Mark::Producer,
        Measure::BackendTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/backend_latencies",
        Mark::ProducerByConsumer,
        Measure::BackendTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/request_overhead_latencies",
        Mark::Producer,
        Measure::OverheadTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/request_overhead_latencies",
        Mark::ProducerByConsumer,
        Measure::OverheadTime,
    ),
];

/// Time distributions: 29 exponential buckets from 1 µs, growing twice;
/// values in seconds.
const TIME_BUCKETS: (i32, f64, f64) = (29, 2.0, 1e-6);
/// Size distributions: 8 exponential buckets from 1 byte, growing tenfold.
const SIZE_BUCKETS: (i32, f64, f64) = (8, 10.0, 1.0);

/// A label a Report operation can carry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    CredentialId,
    ErrorType,
    Protocol,
    Referer,
    ResponseCode,
    ResponseCodeClass,
    StatusCode,
    Location,
    ApiMethod,
    ApiVersion,
    ServiceAgent,
    UserAgent,
    Platform,
    BackendProtocol,
    ConsumerProject,
}

/// The labels ESPv2 can set, by key, and whether each is a system label
/// (always set) rather than a user one (set when the configuration names
/// it). The order is ESPv2's.
const LABELS: [(&str, Label, bool); 15] = [
    ("/credential_id", Label::CredentialId, false),
    ("/error_type", Label::ErrorType, false),
    ("/protocol", Label::Protocol, false),
    ("/referer", Label::Referer, false),
    ("/response_code", Label::ResponseCode, false),
    ("/response_code_class", Label::ResponseCodeClass, false),
    ("/status_code", Label::StatusCode, false),
    (LOCATION_LABEL, Label::Location, true),
    (
        "serviceruntime.googleapis.com/api_method",
        Label::ApiMethod,
        false,
    ),
    (
        "serviceruntime.googleapis.com/api_version",
        Label::ApiVersion,
        false,
    ),
    (SERVICE_AGENT, Label::ServiceAgent, true),
    (USER_AGENT, Label::UserAgent, true),
    (
        "servicecontrol.googleapis.com/platform",
        Label::Platform,
        true,
    ),
    (
        "servicecontrol.googleapis.com/backend_protocol",
        Label::BackendProtocol,
        true,
    ),
    (CONSUMER_PROJECT_LABEL, Label::ConsumerProject, true),
];

/// Builds a gateway's requests for one service; see the [module
/// documentation](self).
#[derive(Clone, Debug)]
pub struct RequestBuilder {
    service_name: String,
    service_config_id: String,
    producer_project_id: String,
    /// Indices into [`METRICS`] reported.
    metrics: Vec<usize>,
    /// Indices into [`LABELS`] set.
    labels: Vec<usize>,
    logs: Vec<String>,
    /// Metric costs by method selector, from the configuration's quota
    /// rules.
    costs: BTreeMap<String, BTreeMap<String, i64>>,
    /// The methods callable without an API key (`usage.rules`'
    /// `allow_unregistered_calls`), by selector; `*` for all.
    unregistered: BTreeSet<String>,
    user_agent: String,
    service_agent: String,
    platform: String,
    tracing_project: String,
    api_key_uid_reporting: bool,
}

impl RequestBuilder {
    /// A builder with no configuration, as ESPv2's fallback: every metric
    /// and label ESPv2 knows, and one log, [`DEFAULT_LOG`].
    pub fn new(service_name: impl Into<String>, service_config_id: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            service_config_id: service_config_id.into(),
            producer_project_id: String::new(),
            metrics: (0..METRICS.len()).collect(),
            labels: (0..LABELS.len()).collect(),
            logs: vec![DEFAULT_LOG.to_owned()],
            costs: BTreeMap::new(),
            unregistered: BTreeSet::new(),
            user_agent: "cloud-report-proto".to_owned(),
            service_agent: concat!("cloud-report-proto/", env!("CARGO_PKG_VERSION")).to_owned(),
            platform: "UNKNOWN".to_owned(),
            tracing_project: String::new(),
            api_key_uid_reporting: false,
        }
    }

    /// A builder for a service configuration, as ESPv2 reads it
    /// (`logs_metrics_loader.cc`): the metrics the `monitoring`
    /// destinations name that have a descriptor of the kind and type ESPv2
    /// reports; the user labels named by those metrics, their monitored
    /// resources, the `logging` destinations' logs and resources; the system
    /// labels always; the logs the `logging` destinations name that are
    /// declared with their resource. The producer project and each method's
    /// metric costs (`quota.metric_rules`) come with it.
    pub fn from_service(service: &Service) -> Self {
        let mut builder = Self::new(service.name.clone(), service.id.clone());
        builder
            .producer_project_id
            .clone_from(&service.producer_project_id);
        let resources: BTreeMap<&str, &[LabelDescriptor]> = service
            .monitored_resources
            .iter()
            .map(|r| (r.r#type.as_str(), r.labels.as_slice()))
            .collect();
        let mut label_keys = BTreeSet::new();
        let mut add_labels = |labels: &[LabelDescriptor]| {
            for label in labels {
                if label.value_type() == label_descriptor::ValueType::String {
                    label_keys.insert(label.key.clone());
                }
            }
        };
        let mut logs = Vec::new();
        for destination in service
            .logging
            .iter()
            .flat_map(|l| &l.producer_destinations)
        {
            let Some(resource) = resources.get(destination.monitored_resource.as_str()) else {
                continue;
            };
            for name in &destination.logs {
                let Some(log) = service.logs.iter().find(|l| &l.name == name) else {
                    continue;
                };
                add_labels(resource);
                add_labels(&log.labels);
                if !logs.contains(name) {
                    logs.push(name.clone());
                }
            }
        }
        let mut metric_names = BTreeSet::new();
        let destinations = service.monitoring.iter().flat_map(|m| {
            m.producer_destinations
                .iter()
                .chain(&m.consumer_destinations)
        });
        for destination in destinations {
            let Some(resource) = resources.get(destination.monitored_resource.as_str()) else {
                continue;
            };
            add_labels(resource);
            for name in &destination.metrics {
                // ESPv2 finds a descriptor by its `name`; a `google.api.Service`
                // read elsewhere may have only its `type`.
                let descriptor = service
                    .metrics
                    .iter()
                    .find(|m| &m.name == name || (m.name.is_empty() && &m.r#type == name));
                let Some(descriptor) = descriptor else {
                    continue;
                };
                let Some(index) = METRICS.iter().position(|(n, ..)| n == name) else {
                    continue;
                };
                let value_type = match METRICS[index].2 {
                    Measure::Count => ValueType::Int64,
                    _ => ValueType::Distribution,
                };
                if descriptor.metric_kind() != MetricKind::Delta
                    || descriptor.value_type() != value_type
                {
                    continue;
                }
                add_labels(&descriptor.labels);
                metric_names.insert(index);
            }
        }
        builder.metrics = metric_names.into_iter().collect();
        builder.labels = (0..LABELS.len())
            .filter(|&i| LABELS[i].2 || label_keys.contains(LABELS[i].0))
            .collect();
        builder.logs = logs;
        builder.costs = service
            .quota
            .iter()
            .flat_map(|q| &q.metric_rules)
            .map(|rule| {
                (
                    rule.selector.clone(),
                    rule.metric_costs.clone().into_iter().collect(),
                )
            })
            .collect();
        builder.unregistered = service
            .usage
            .iter()
            .flat_map(|u| &u.rules)
            .filter(|rule| rule.allow_unregistered_calls)
            .map(|rule| rule.selector.clone())
            .collect();
        builder
    }

    /// Whether a method may be called without an API key (the
    /// configuration's `usage.rules` with `allow_unregistered_calls`, a
    /// selector of the method, `*`, or a prefix ending in `.*`). ESPv2 calls
    /// Check only for a call with a key: a keyless call of such a method
    /// goes on unchecked, one of any other method is refused
    /// (UNAUTHENTICATED) without calling.
    pub fn allows_unregistered_calls(&self, operation_name: &str) -> bool {
        self.unregistered.iter().any(|selector| {
            selector == "*"
                || selector == operation_name
                || selector.strip_suffix(".*").is_some_and(|prefix| {
                    operation_name
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('.'))
                })
        })
    }

    /// The project of the service's producer: the consumer of a keyless
    /// AllocateQuota (`project:<id>`), and the log's `producer_project_id`.
    #[must_use]
    pub fn producer_project_id(mut self, id: impl Into<String>) -> Self {
        self.producer_project_id = id.into();
        self
    }

    /// The gateway's names: `servicecontrol.googleapis.com/user_agent`
    /// (ESPv2 sends `ESPv2`) and `.../service_agent` (`ESPv2/<version>`).
    /// The defaults name this crate.
    #[must_use]
    pub fn agent(
        mut self,
        user_agent: impl Into<String>,
        service_agent: impl Into<String>,
    ) -> Self {
        self.user_agent = user_agent.into();
        self.service_agent = service_agent.into();
        self
    }

    /// Where the gateway runs: `servicecontrol.googleapis.com/platform`
    /// (ESPv2 sends `GKE(ESPv2)`, `GCE(ESPv2)`, `Cloud Run(ESPv2)`, or
    /// `UNKNOWN(ESPv2)`; the default is `UNKNOWN`).
    #[must_use]
    pub fn platform(mut self, platform: impl Into<String>) -> Self {
        self.platform = platform.into();
        self
    }

    /// The project traces are written to: a log entry's `trace` is
    /// `projects/<project>/traces/<trace id>` (none when empty).
    #[must_use]
    pub fn tracing_project(mut self, project: impl Into<String>) -> Self {
        self.tracing_project = project.into();
        self
    }

    /// Reports a verified key's uid (from Check) as `/credential_id` in
    /// place of the key itself (ESPv2's
    /// `--service_control_enable_api_key_uid_reporting`; off by default).
    #[must_use]
    pub fn api_key_uid_reporting(mut self, on: bool) -> Self {
        self.api_key_uid_reporting = on;
        self
    }

    /// The metric costs of a method, from the configuration's quota rules:
    /// `None` when it has none (ESPv2 then asks for no quota).
    pub fn metric_costs(&self, operation_name: &str) -> Option<&BTreeMap<String, i64>> {
        self.costs.get(operation_name).filter(|c| !c.is_empty())
    }

    /// The Check of a call (ESPv2's `FillCheckRequest`): the key as
    /// `api_key:<key>` consumer, the caller's address, referer and client
    /// application headers and the gateway's names as labels; `LOW`
    /// importance, so the client's cache answers it.
    ///
    /// # Errors
    ///
    /// An empty service name, operation id or operation name.
    pub fn check_request(
        &self,
        call: &CallInfo,
        now: SystemTime,
    ) -> Result<CheckRequest, BuildError> {
        let mut operation = self.operation(call, now)?;
        if !call.api_key.is_empty() {
            operation.consumer_id = format!("api_key:{}", call.api_key);
        }
        let labels = &mut operation.labels;
        put(labels, CALLER_IP, &call.client_ip);
        put(labels, REFERER, &call.referer);
        put(labels, USER_AGENT, &self.user_agent);
        put(labels, SERVICE_AGENT, &self.service_agent);
        put(labels, ANDROID_PACKAGE, &call.android_package_name);
        put(labels, ANDROID_CERT, &call.android_cert_fingerprint);
        put(labels, IOS_BUNDLE, &call.ios_bundle_id);
        Ok(CheckRequest {
            service_name: self.service_name.clone(),
            service_config_id: self.service_config_id.clone(),
            operation: Some(operation),
            ..Default::default()
        })
    }

    /// The AllocateQuota of a call (ESPv2's `FillAllocateQuotaRequest`), in
    /// `NORMAL` mode, for the method's costs from the configuration
    /// ([`metric_costs`](Self::metric_costs)); `None` when it has none. See
    /// [`quota_request_with`](Self::quota_request_with).
    ///
    /// # Errors
    ///
    /// As [`quota_request_with`](Self::quota_request_with).
    pub fn quota_request(
        &self,
        call: &CallInfo,
    ) -> Result<Option<AllocateQuotaRequest>, BuildError> {
        match self.metric_costs(&call.operation_name) {
            Some(costs) => self.quota_request_with(call, costs).map(Some),
            None => Ok(None),
        }
    }

    /// The AllocateQuota of a call for `costs` (metric name to cost; a cost
    /// of 0 or less counts 1, as ESPv2 sends it): the key as `api_key:<key>`
    /// consumer, else the producer's project as `project:<id>`; `NORMAL`
    /// mode; the caller's address, referer and the gateway's names as
    /// labels.
    ///
    /// # Errors
    ///
    /// An empty service name, operation id or operation name.
    pub fn quota_request_with(
        &self,
        call: &CallInfo,
        costs: &BTreeMap<String, i64>,
    ) -> Result<AllocateQuotaRequest, BuildError> {
        let operation = self.operation(call, SystemTime::UNIX_EPOCH)?;
        let consumer_id = if !call.api_key.is_empty() {
            format!("api_key:{}", call.api_key)
        } else if !self.producer_project_id.is_empty() {
            format!("project:{}", self.producer_project_id)
        } else {
            String::new()
        };
        let mut labels = BTreeMap::new();
        put(&mut labels, CALLER_IP, &call.client_ip);
        put(&mut labels, REFERER, &call.referer);
        put(&mut labels, USER_AGENT, &self.user_agent);
        put(&mut labels, SERVICE_AGENT, &self.service_agent);
        let quota_metrics = costs
            .iter()
            .map(|(metric, &cost)| MetricValueSet {
                metric_name: metric.clone(),
                metric_values: vec![MetricValue {
                    value: Some(MetricKindValue::Int64Value(if cost <= 0 {
                        1
                    } else {
                        cost
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        Ok(AllocateQuotaRequest {
            service_name: self.service_name.clone(),
            service_config_id: self.service_config_id.clone(),
            allocate_operation: Some(QuotaOperation {
                operation_id: operation.operation_id,
                method_name: operation.operation_name,
                consumer_id,
                labels,
                quota_metrics,
                quota_mode: QuotaMode::Normal as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// The operations a call's Report carries (ESPv2's `FillReportRequest`):
    ///
    /// - the call's operation, with the producer metrics, the consumer ones
    ///   when the key was verified (its consumer then `api_key:<key>`), the
    ///   labels, and a log entry per log;
    /// - when Check named the consumer's project, a second, by-consumer
    ///   operation (id the call's plus `1`) with the by-consumer metrics,
    ///   every label and the consumer's project number, and no log.
    ///
    /// Sizes and times not known are left out; `start_time` and `end_time`
    /// are `now`. Give them to [`Client::report`](super::Client::report)
    /// one by one.
    ///
    /// # Errors
    ///
    /// An empty service name, operation id or operation name.
    pub fn report_operations(
        &self,
        info: &ReportInfo,
        now: SystemTime,
    ) -> Result<Vec<Operation>, BuildError> {
        let mut main = self.operation(&info.call, now)?;
        let verified = info.api_key_state == ApiKeyState::Verified;
        if verified && !info.call.api_key.is_empty() {
            main.consumer_id = format!("api_key:{}", info.call.api_key);
        }
        let mut by_consumer = main.clone();
        for &i in &self.labels {
            let (key, label, _) = LABELS[i];
            if let Some(value) = self.label(label, info) {
                if label != Label::ConsumerProject {
                    main.labels.insert(key.to_owned(), value.clone());
                }
                by_consumer.labels.insert(key.to_owned(), value);
            }
        }
        for &i in &self.metrics {
            let (name, mark, measure) = METRICS[i];
            let into = match mark {
                Mark::Producer => &mut main,
                Mark::Consumer if verified => &mut main,
                Mark::Consumer => continue,
                Mark::ProducerByConsumer => &mut by_consumer,
            };
            if let Some(value) = measured(measure, info) {
                into.metric_value_sets.push(MetricValueSet {
                    metric_name: name.to_owned(),
                    metric_values: vec![MetricValue {
                        value: Some(value),
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
        }
        main.log_entries = self
            .logs
            .iter()
            .map(|name| self.log_entry(name, info, now))
            .collect();
        let mut operations = vec![main];
        if info.consumer_project().is_some() {
            by_consumer.operation_id.push('1');
            operations.push(by_consumer);
        }
        Ok(operations)
    }

    /// An operation of the call: its id, name and times.
    fn operation(&self, call: &CallInfo, now: SystemTime) -> Result<Operation, BuildError> {
        if self.service_name.is_empty() {
            return Err(BuildError("service_name"));
        }
        if call.operation_id.is_empty() {
            return Err(BuildError("operation_id"));
        }
        if call.operation_name.is_empty() {
            return Err(BuildError("operation_name"));
        }
        let time = Timestamp::from(now);
        Ok(Operation {
            operation_id: call.operation_id.clone(),
            operation_name: call.operation_name.clone(),
            start_time: Some(time.clone()),
            end_time: Some(time),
            ..Default::default()
        })
    }

    /// A label's value for a call, when it has one.
    fn label(&self, label: Label, info: &ReportInfo) -> Option<String> {
        let status = info.http_status();
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        match label {
            Label::CredentialId => self.credential_id(info),
            Label::ErrorType => (status >= 400).then(|| class(status)),
            Label::Protocol => Some(info.frontend_protocol.as_str().to_owned()),
            Label::Referer => nonempty(&info.call.referer),
            Label::ResponseCode => Some(status.to_string()),
            Label::ResponseCodeClass => Some(class(status)),
            Label::StatusCode => Some((info.status as i32).to_string()),
            Label::Location => Some(location(info).to_owned()),
            Label::ApiMethod => nonempty(&info.call.operation_name),
            Label::ApiVersion => nonempty(&info.api_version),
            Label::ServiceAgent => Some(self.service_agent.clone()),
            Label::UserAgent => Some(self.user_agent.clone()),
            Label::Platform => Some(self.platform.clone()),
            Label::BackendProtocol => (info.backend_protocol == Protocol::Grpc
                && info.frontend_protocol != Protocol::Grpc)
                .then(|| Protocol::Grpc.as_str().to_owned()),
            Label::ConsumerProject => info.consumer_project().map(|n| n.to_string()),
        }
    }

    /// `/credential_id`: the verified key (or its uid), else the JWT's
    /// issuer and audience, base64url without padding.
    fn credential_id(&self, info: &ReportInfo) -> Option<String> {
        if info.api_key_state == ApiKeyState::Verified && !info.call.api_key.is_empty() {
            if self.api_key_uid_reporting && !info.api_key_uid.is_empty() {
                return Some(info.api_key_uid.clone());
            }
            return Some(format!("apikey:{}", info.call.api_key));
        }
        if info.auth_issuer.is_empty() {
            return None;
        }
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let mut id = format!("jwtauth:issuer={}", b64(&info.auth_issuer));
        if !info.auth_audience.is_empty() {
            id.push_str("&audience=");
            id.push_str(&b64(&info.auth_audience));
        }
        Some(id)
    }

    /// The log entry of a call (ESPv2's `FillLogEntry`).
    fn log_entry(&self, name: &str, info: &ReportInfo, now: SystemTime) -> LogEntry {
        let status = info.http_status();
        let call = &info.call;
        let seconds = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        // Always written, even empty.
        let mut payload = BTreeMap::from([
            (
                "service_config_id".to_owned(),
                text(&self.service_config_id),
            ),
            ("service_agent".to_owned(), text(&self.service_agent)),
            (
                "api_key_state".to_owned(),
                text(info.api_key_state.as_str()),
            ),
        ]);
        let mut string = |key: &str, value: &str| {
            if !value.is_empty() {
                payload.insert(key.to_owned(), text(value));
            }
        };
        string("response_code_detail", &info.response_code_detail);
        string("producer_project_id", &self.producer_project_id);
        string("api_key", &call.api_key);
        string("api_name", &info.api_name);
        string("api_version", &info.api_version);
        string("api_method", &call.operation_name);
        string("location", &info.location);
        if !call.operation_name.is_empty() {
            string("log_message", &format!("{} is called", call.operation_name));
        }
        if info.status != Code::Ok {
            string("error_cause", &info.status_message);
        }
        if let Some(code) = info.grpc_status {
            string("grpc_status_code", grpc_status_name(code));
        }
        payload.insert("timestamp".to_owned(), number(seconds));
        payload.insert(
            "http_status_code".to_owned(),
            number(f64::from(info.response_code)),
        );
        let trace = if info.trace_id.is_empty() || self.tracing_project.is_empty() {
            String::new()
        } else {
            format!("projects/{}/traces/{}", self.tracing_project, info.trace_id)
        };
        let severity = if status >= 400 {
            LogSeverity::Error
        } else {
            LogSeverity::Info
        };
        let size = |n: Option<u64>| n.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX));
        LogEntry {
            name: name.to_owned(),
            timestamp: Some(Timestamp::from(now)),
            severity: severity as i32,
            trace,
            http_request: Some(HttpRequest {
                request_method: info.method.clone(),
                request_url: info.url.clone(),
                request_size: size(info.request_size),
                status: i32::from(status),
                response_size: size(info.response_size),
                remote_ip: call.client_ip.clone(),
                referer: call.referer.clone(),
                latency: info
                    .request_time
                    .and_then(|d| crate::google::protobuf::Duration::try_from(d).ok()),
                protocol: info.frontend_protocol.as_str().to_owned(),
                ..Default::default()
            }),
            payload: Some(Payload::StructPayload(Struct {
                fields: payload,
                ..Default::default()
            })),
            ..Default::default()
        }
    }
}

/// A gRPC status as the log names it, in Envoy's words
/// (`grpcStatusToString`): `Ok`, `NotFound`, `Unavailable`, ...
fn grpc_status_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "Ok",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// Sets a label when its value is not empty.
fn put(labels: &mut BTreeMap<String, String>, key: &str, value: &str) {
    if !value.is_empty() {
        labels.insert(key.to_owned(), value.to_owned());
    }
}

/// The class of an HTTP status: `2xx`, `4xx`, ... (`0xx` for none).
fn class(status: u16) -> String {
    format!("{}xx", (status / 100) % 10)
}

/// Where the gateway runs, `global` when unknown: the label is never sent
/// empty.
fn location(info: &ReportInfo) -> &str {
    if info.location.is_empty() {
        DEFAULT_LOCATION
    } else {
        &info.location
    }
}

fn text(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.to_owned())),
        ..Default::default()
    }
}

fn number(n: f64) -> Value {
    Value {
        kind: Some(Kind::NumberValue(n)),
        ..Default::default()
    }
}

/// A metric's value for a call, when it was measured.
fn measured(measure: Measure, info: &ReportInfo) -> Option<MetricKindValue> {
    let size = |n: Option<u64>| n.map(|n| sample(SIZE_BUCKETS, n as f64));
    let time = |d: Option<Duration>| d.map(|d| sample(TIME_BUCKETS, d.as_secs_f64()));
    let distribution = match measure {
        Measure::Count => return Some(MetricKindValue::Int64Value(1)),
        Measure::RequestSize => size(info.request_size),
        Measure::ResponseSize => size(info.response_size),
        Measure::RequestTime => time(info.request_time),
        Measure::BackendTime => time(info.backend_time),
        Measure::OverheadTime => time(info.overhead_time),
    };
    distribution.map(MetricKindValue::DistributionValue)
}

/// A distribution of one sample over exponential buckets (`buckets` finite
/// ones, `growth`, `scale`), as `distribution.proto` places it: bucket 0
/// holds what is below `scale`, bucket `i` (1 ≤ i ≤ N) what is in
/// `[scale·growth^(i-1), scale·growth^i)`, bucket N+1 the rest.
fn sample((buckets, growth, scale): (i32, f64, f64), value: f64) -> Distribution {
    let last = buckets + 1;
    let index = if value < scale {
        0
    } else {
        // The logarithm's estimate, corrected where rounding put it one
        // off at a bound (1000 is log10 2.9999999999999996).
        let mut i = 1
            + ((value / scale).ln() / growth.ln())
                .floor()
                .clamp(0.0, f64::from(last)) as i32;
        if i <= buckets && value >= scale * growth.powi(i) {
            i += 1;
        }
        if i > 1 && value < scale * growth.powi(i - 1) {
            i -= 1;
        }
        i.min(last)
    };
    let mut counts = vec![0; usize::try_from(last + 1).unwrap_or(0)];
    counts[usize::try_from(index).unwrap_or(0)] = 1;
    Distribution {
        count: 1,
        mean: value,
        minimum: value,
        maximum: value,
        sum_of_squared_deviation: 0.0,
        bucket_counts: counts,
        bucket_option: Some(BucketOption::ExponentialBuckets(ExponentialBuckets {
            num_finite_buckets: buckets,
            growth_factor: growth,
            scale,
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(options: (i32, f64, f64), value: f64) -> usize {
        let d = sample(options, value);
        assert_eq!(d.bucket_counts.len(), options.0 as usize + 2);
        d.bucket_counts.iter().position(|&c| c == 1).unwrap()
    }

    fn call() -> CallInfo {
        let mut call = CallInfo::new("op-1", "1.api.Get");
        call.client_ip = "10.0.0.7".into();
        call
    }

    /// Check and AllocateQuota carry what `FillCheckRequest` and
    /// `FillAllocateQuotaRequest` put in them.
    #[test]
    fn check_and_quota_requests_are_espv2s() {
        let builder = RequestBuilder::new("s.example.com", "c1")
            .agent("ESPv2", "ESPv2/2.45.0")
            .producer_project_id("producer");
        let mut keyed = call();
        keyed.api_key = "AIza".into();
        keyed.ios_bundle_id = "com.example".into();
        let check = builder
            .check_request(&keyed, SystemTime::UNIX_EPOCH)
            .unwrap();
        let op = check.operation.unwrap();
        assert_eq!(
            (
                check.service_name.as_str(),
                check.service_config_id.as_str()
            ),
            ("s.example.com", "c1")
        );
        assert_eq!(op.consumer_id, "api_key:AIza");
        assert_eq!(op.start_time, op.end_time);
        let keys: Vec<&str> = op.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, [CALLER_IP, IOS_BUNDLE, SERVICE_AGENT, USER_AGENT]);
        assert!(
            builder
                .check_request(&CallInfo::new("", "m"), SystemTime::now())
                .is_err()
        );

        let costs = BTreeMap::from([("reads".to_owned(), 0), ("writes".to_owned(), 3)]);
        let ask = builder.quota_request_with(&keyed, &costs).unwrap();
        let op = ask.allocate_operation.unwrap();
        assert_eq!(op.consumer_id, "api_key:AIza");
        assert_eq!(op.method_name, "1.api.Get");
        assert_eq!(op.quota_mode, QuotaMode::Normal as i32);
        let amounts: Vec<_> = op
            .quota_metrics
            .iter()
            .map(|s| s.metric_values[0].value.clone())
            .collect();
        assert_eq!(
            amounts,
            [
                Some(MetricKindValue::Int64Value(1)),
                Some(MetricKindValue::Int64Value(3))
            ]
        );
        assert!(!op.labels.contains_key(IOS_BUNDLE));
        let keyless = builder.quota_request_with(&call(), &costs).unwrap();
        assert_eq!(
            keyless.allocate_operation.unwrap().consumer_id,
            "project:producer"
        );
        assert_eq!(
            builder.quota_request(&call()).unwrap(),
            None,
            "no costs, no ask"
        );
    }

    /// Labels as ESPv2's setters compute them.
    #[test]
    fn report_labels_follow_espv2s_setters() {
        let builder = RequestBuilder::new("s", "c").api_key_uid_reporting(true);
        let mut info = ReportInfo::new(call());
        info.grpc_status = Some(Code::NotFound);
        info.frontend_protocol = Protocol::Http;
        info.backend_protocol = Protocol::Grpc;
        info.auth_issuer = "auth-issuer".into();
        let ops = builder.report_operations(&info, SystemTime::now()).unwrap();
        let labels = &ops[0].labels;
        assert_eq!(ops.len(), 1, "no consumer project, no second operation");
        assert_eq!(labels["/response_code"], "404");
        assert_eq!(labels["/error_type"], "4xx");
        assert_eq!(labels["/credential_id"], "jwtauth:issuer=YXV0aC1pc3N1ZXI");
        assert_eq!(
            labels["servicecontrol.googleapis.com/backend_protocol"],
            "grpc"
        );
        assert!(ops[0].consumer_id.is_empty());
        assert!(
            ops[0]
                .metric_value_sets
                .iter()
                .all(|s| !s.metric_name.contains("/consumer/"))
        );

        let mut info = ReportInfo::new(call());
        info.call.api_key = "AIza".into();
        info.api_key_state = ApiKeyState::Verified;
        info.api_key_uid = "uid-1".into();
        info.consumer_project_number = Some(42);
        let ops = builder.report_operations(&info, SystemTime::now()).unwrap();
        let labels = &ops[0].labels;
        assert_eq!(labels["/credential_id"], "uid-1");
        assert_eq!(labels["/response_code_class"], "0xx");
        assert!(!labels.contains_key("/error_type"));
        assert!(!labels.contains_key("servicecontrol.googleapis.com/backend_protocol"));
        assert!(!labels.contains_key(CONSUMER_PROJECT_LABEL));
        assert_eq!(ops[1].operation_id, "op-11");
        assert_eq!(ops[1].labels[CONSUMER_PROJECT_LABEL], "42");
        assert!(ops[1].log_entries.is_empty());
        assert!(
            ops[1]
                .metric_value_sets
                .iter()
                .all(|s| s.metric_name.contains("/by_consumer/"))
        );
        assert_eq!(ops[0].log_entries[0].name, DEFAULT_LOG);
    }

    #[test]
    fn key_states_are_read_from_the_first_error() {
        use crate::google::api::servicecontrol::v1::CheckError;
        let answer = |code: CheckCode| CheckResponse {
            check_errors: vec![CheckError {
                code: code as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            ApiKeyState::of_response(&CheckResponse::default()),
            ApiKeyState::Verified
        );
        assert_eq!(
            ApiKeyState::of_response(&answer(CheckCode::ApiKeyExpired)),
            ApiKeyState::Invalid
        );
        assert_eq!(
            ApiKeyState::of_response(&answer(CheckCode::ServiceNotActivated)),
            ApiKeyState::NotEnabled
        );
        assert_eq!(
            ApiKeyState::of_response(&answer(CheckCode::BillingDisabled)),
            ApiKeyState::Verified
        );
        let failed = Err(tonic::Status::unavailable("down"));
        assert_eq!(ApiKeyState::of_check(&failed), ApiKeyState::NotChecked);
    }

    /// ESPv2's examples (`request_builder_test.cc`'s goldens), and the
    /// bounds `distribution.proto` sets.
    #[test]
    fn samples_land_in_their_buckets() {
        assert_eq!(bucket(SIZE_BUCKETS, 100.0), 3);
        assert_eq!(bucket(SIZE_BUCKETS, 1_048_576.0), 7);
        assert_eq!(bucket(TIME_BUCKETS, 0.123), 17);
        assert_eq!(bucket(TIME_BUCKETS, 0.022), 15);
        assert_eq!(bucket(SIZE_BUCKETS, 0.0), 0);
        assert_eq!(bucket(SIZE_BUCKETS, 1.0), 1);
        assert_eq!(bucket(SIZE_BUCKETS, 9.0), 1);
        assert_eq!(bucket(SIZE_BUCKETS, 10.0), 2);
        assert_eq!(bucket(SIZE_BUCKETS, 1000.0), 4);
        assert_eq!(bucket(SIZE_BUCKETS, 99_999_999.0), 8);
        assert_eq!(bucket(SIZE_BUCKETS, 1e8), 9);
        assert_eq!(bucket(SIZE_BUCKETS, 1e300), 9);
        assert_eq!(bucket(TIME_BUCKETS, 1e-7), 0);
        assert_eq!(bucket(TIME_BUCKETS, 3600.0), 30);
    }
}
