//! [`RequestBuilder`]: what a gateway knows of its service (its
//! configuration's metrics, labels and logs, its own location and name),
//! from which the requests of each call are built (`check.rs`, `quota.rs`,
//! `report.rs` add those methods).

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use crate::google::api::metric_descriptor::{MetricKind, ValueType};
use crate::google::api::servicecontrol::v1::Operation;
use crate::google::api::{LabelDescriptor, Service, label_descriptor};
use crate::google::protobuf::Timestamp;

use super::info::CallInfo;
use super::metrics::{LABELS, METRICS, Measure};

/// The log a builder without a configuration writes.
pub const DEFAULT_LOG: &str = "endpoints_log";

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

/// What a gateway does for a call, as ESPv2 decides from the method's
/// `usage.rules` and the call's API key ([`RequestBuilder::plan`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CallPlan {
    /// Check the call (it has an API key), then ask for quota and report.
    Check,
    /// No Check (the method allows unregistered calls, even when the call
    /// has a key); ask for quota and report.
    Unchecked,
    /// Refuse the call (no API key, and the method needs one) with this
    /// status (UNAUTHENTICATED, ESPv2's words), and report it.
    Refuse(tonic::Status),
    /// Nothing: no Check, no quota, no Report (`skip_service_control`).
    Skip,
}

/// The gRPC health checks, which ESPv2 keeps out of Service Control unless
/// a rule of the configuration names them.
pub(super) const HEALTH_CHECKS: [&str; 2] =
    ["grpc.health.v1.Health.Check", "grpc.health.v1.Health.Watch"];

/// Builds a gateway's requests for one service; see the [module
/// documentation](super).
#[derive(Clone, Debug)]
pub struct RequestBuilder {
    pub(super) service_name: String,
    pub(super) service_config_id: String,
    pub(super) producer_project_id: String,
    /// Indices into [`METRICS`] reported.
    pub(super) metrics: Vec<usize>,
    /// Indices into [`LABELS`] set.
    pub(super) labels: Vec<usize>,
    pub(super) logs: Vec<String>,
    /// Metric costs by method selector, from the configuration's quota
    /// rules.
    pub(super) costs: BTreeMap<String, BTreeMap<String, i64>>,
    /// The methods callable without an API key (`usage.rules`'
    /// `allow_unregistered_calls`), by exact selector.
    pub(super) unregistered: BTreeSet<String>,
    /// The methods kept out of Service Control (`skip_service_control`),
    /// by exact selector.
    pub(super) skipped: BTreeSet<String>,
    pub(super) user_agent: String,
    pub(super) service_agent: String,
    /// `None`: `UNKNOWN(<user agent>)`, as ESPv2 reports `UNKNOWN(ESPv2)`.
    pub(super) platform: Option<String>,
    pub(super) tracing_project: String,
    pub(super) gcp_project: String,
    pub(super) api_key_uid_reporting: bool,
    pub(super) logged_request_headers: Vec<String>,
    pub(super) logged_response_headers: Vec<String>,
    pub(super) logged_jwt_payloads: Vec<String>,
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
            skipped: BTreeSet::new(),
            user_agent: "cloud-report-proto".to_owned(),
            service_agent: concat!("cloud-report-proto/", env!("CARGO_PKG_VERSION")).to_owned(),
            platform: None,
            tracing_project: String::new(),
            gcp_project: String::new(),
            api_key_uid_reporting: false,
            logged_request_headers: Vec::new(),
            logged_response_headers: Vec::new(),
            logged_jwt_payloads: Vec::new(),
        }
    }

    /// A builder for a service configuration, as ESPv2 reads it
    /// (`logs_metrics_loader.cc`): the metrics the `monitoring`
    /// destinations name that have a descriptor of the kind and type ESPv2
    /// reports; the user labels named by those metrics, their monitored
    /// resources, the `logging` destinations' logs and resources (a
    /// destination's resource labels even when its logs are not declared,
    /// as ESPv2 adds them first); the system labels always; the logs the
    /// `logging` destinations name that are declared with their resource.
    /// The producer project, each method's metric costs
    /// (`quota.metric_rules`) and its usage rules come with it.
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
            add_labels(resource);
            for name in &destination.logs {
                let Some(log) = service.logs.iter().find(|l| &l.name == name) else {
                    continue;
                };
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
        let rules = || service.usage.iter().flat_map(|u| &u.rules);
        builder.unregistered = rules()
            .filter(|rule| rule.allow_unregistered_calls)
            .map(|rule| rule.selector.clone())
            .collect();
        builder.skipped = rules()
            .filter(|rule| rule.skip_service_control)
            .map(|rule| rule.selector.clone())
            .collect();
        // The health checks of an API that serves them skip, unless a rule
        // names them (ESPv2's `GetUsageRulesBySelectorFromOPConfig`).
        for api in &service.apis {
            for method in &api.methods {
                let selector = format!("{}.{}", api.name, method.name);
                if HEALTH_CHECKS.contains(&selector.as_str())
                    && !rules().any(|rule| rule.selector == selector)
                {
                    builder.skipped.insert(selector);
                }
            }
        }
        builder
    }

    /// Whether a method may be called without an API key: a rule of the
    /// configuration's `usage.rules` whose selector is the method's, exactly
    /// (ESPv2 matches no wildcard), allows unregistered calls.
    pub fn allows_unregistered_calls(&self, operation_name: &str) -> bool {
        self.unregistered.contains(operation_name)
    }

    /// Whether a method is kept out of Service Control: a rule with
    /// `skip_service_control` whose selector is the method's, or a gRPC
    /// health check no rule names.
    pub fn skips_service_control(&self, operation_name: &str) -> bool {
        self.skipped.contains(operation_name)
    }

    /// What the gateway does for a call, as ESPv2's `handler_impl.cc`
    /// decides: [`CallPlan::Skip`] for a method kept out of Service
    /// Control; [`CallPlan::Unchecked`] for one that allows unregistered
    /// calls, with a key or not; [`CallPlan::Check`] for a call with a key;
    /// else [`CallPlan::Refuse`] with UNAUTHENTICATED.
    ///
    /// ```
    /// use cloud_report_proto::client::gateway::{CallInfo, CallPlan, RequestBuilder};
    ///
    /// let builder = RequestBuilder::new("my-api.example.com", "");
    /// let mut call = CallInfo::new("op-1", "my.api.Get");
    /// assert!(matches!(builder.plan(&call), CallPlan::Refuse(_)));
    /// call.api_key = "AIza-key".into();
    /// assert!(matches!(builder.plan(&call), CallPlan::Check));
    /// ```
    pub fn plan(&self, call: &CallInfo) -> CallPlan {
        if self.skips_service_control(&call.operation_name) {
            CallPlan::Skip
        } else if self.allows_unregistered_calls(&call.operation_name) {
            CallPlan::Unchecked
        } else if !call.api_key.is_empty() {
            CallPlan::Check
        } else {
            CallPlan::Refuse(tonic::Status::unauthenticated(
                "Method doesn't allow unregistered callers (callers without established identity). \
                 Please use API Key or other form of API consumer identity to call this API.",
            ))
        }
    }

    /// Methods that allow unregistered calls, beside the configuration's.
    #[must_use]
    pub fn allow_unregistered_calls<I, S>(mut self, selectors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.unregistered
            .extend(selectors.into_iter().map(Into::into));
        self
    }

    /// Methods kept out of Service Control, beside the configuration's.
    #[must_use]
    pub fn skip_service_control<I, S>(mut self, selectors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.skipped.extend(selectors.into_iter().map(Into::into));
        self
    }

    /// The logs each Report writes an entry to, in place of the
    /// configuration's (or [`DEFAULT_LOG`]); none for no log entry.
    #[must_use]
    pub fn logs<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.logs = names.into_iter().map(Into::into).collect();
        self
    }

    /// The request headers a Report's log entry carries, by name (ESPv2's
    /// `--log_request_headers`): see
    /// [`logged_request_headers`](Self::logged_request_headers).
    #[must_use]
    pub fn log_request_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.logged_request_headers = names.into_iter().map(Into::into).collect();
        self
    }

    /// The response headers a Report's log entry carries, by name (ESPv2's
    /// `--log_response_headers`).
    #[must_use]
    pub fn log_response_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.logged_response_headers = names.into_iter().map(Into::into).collect();
        self
    }

    /// The JWT claims a Report's log entry carries, by dotted path (ESPv2's
    /// `--log_jwt_payloads`): see
    /// [`logged_jwt_payloads`](Self::logged_jwt_payloads).
    #[must_use]
    pub fn log_jwt_payloads<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.logged_jwt_payloads = paths.into_iter().map(Into::into).collect();
        self
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
    /// `UNKNOWN(ESPv2)`; the default is `UNKNOWN(<user agent>)` in that
    /// style).
    #[must_use]
    pub fn platform(mut self, platform: impl Into<String>) -> Self {
        self.platform = Some(platform.into());
        self
    }

    /// The project traces are written to: a log entry's `trace` is
    /// `projects/<project>/traces/<trace id>`; when empty, the
    /// [`gcp_project`](Self::gcp_project); with neither, none.
    #[must_use]
    pub fn tracing_project(mut self, project: impl Into<String>) -> Self {
        self.tracing_project = project.into();
        self
    }

    /// The GCP project the gateway runs in (ESPv2 reads it from the
    /// metadata server): where traces go when no tracing project is set.
    #[must_use]
    pub fn gcp_project(mut self, project: impl Into<String>) -> Self {
        self.gcp_project = project.into();
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

    /// An operation of the call: its id, name and times.
    pub(super) fn operation(
        &self,
        call: &CallInfo,
        now: SystemTime,
    ) -> Result<Operation, BuildError> {
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
}

/// Sets a label when its value is not empty.
pub(super) fn put(labels: &mut BTreeMap<String, String>, key: &str, value: &str) {
    if !value.is_empty() {
        labels.insert(key.to_owned(), value.to_owned());
    }
}
