//! What a service configuration allows in a report, indexed once per
//! configuration so that judging an operation takes time linear in it.
//!
//! The rules, from the `Operation` and `MetricValueSet` reference pages:
//! - each `MetricValueSet` is a metric defined in the configuration, and each
//!   value is of the type the definition gives;
//! - an operation's labels are labels of the monitored resources, labels of
//!   any metric the configuration defines ("default labels of metric
//!   values": ESPv2 puts the labels of every metric it reports for the
//!   service on each operation, whichever metrics that operation carries,
//!   `logs_metrics_loader.cc` and `request_builder.cc`), or labels Google
//!   defines ([`GOOGLE_LABELS`]);
//! - a metric value's own labels are labels of its metric, of the monitored
//!   resources, or Google's;
//! - a label declared `BOOL` or `INT64` holds `true`/`false` or an integer;
//! - each log entry is written to a declared log (or one a logging
//!   destination names), with labels the log declares.

use std::collections::HashMap;

use crate::google::api::label_descriptor::ValueType as LabelType;
use crate::google::api::metric_descriptor::ValueType;
use crate::google::api::servicecontrol::v1 as sc;
use crate::google::api::servicecontrol::v1::metric_value::ValueView;
use crate::google::api::{LabelDescriptor, MetricDescriptor};
use crate::rest::clip;
use crate::service_config::ServiceConfig;

/// Labels Google defines for every service: the ones the `Operation` page
/// lists, and the system labels ESP and ESPv2 send on every operation.
pub const GOOGLE_LABELS: &[&str] = &[
    "cloud.googleapis.com/location",
    "servicecontrol.googleapis.com/userAgent",
    "servicecontrol.googleapis.com/user_agent",
    "servicecontrol.googleapis.com/service_agent",
    "servicecontrol.googleapis.com/platform",
    "servicecontrol.googleapis.com/caller_ip",
    "servicecontrol.googleapis.com/referer",
    "servicecontrol.googleapis.com/backend_protocol",
    "servicecontrol.googleapis.com/android_package_name",
    "servicecontrol.googleapis.com/android_cert_fingerprint",
    "servicecontrol.googleapis.com/ios_bundle_id",
    "servicecontrol.googleapis.com/credential_project_number",
    "serviceruntime.googleapis.com/consumer_project",
];

/// A configuration with what its rules need, looked up by name.
#[derive(Debug)]
pub(crate) struct ServiceRules {
    pub(crate) config: ServiceConfig,
    /// The quota limits, by metric.
    pub(crate) quota: super::quota::QuotaRules,
    /// Each metric's labels with their types, by metric type.
    metric_labels: HashMap<String, Labels>,
    /// Labels of every monitored resource, with their types.
    resource_labels: Labels,
    /// Labels of every metric, with their types (the first metric's type
    /// where two declare one key): what an operation may carry.
    any_metric_labels: Labels,
    /// Each log by name: its labels, or `None` for a log only a logging
    /// destination names (another service's log, labels not declared here).
    logs: HashMap<String, Option<Labels>>,
}

/// Label keys and the type of their values.
type Labels = HashMap<String, LabelType>;

fn label_types(labels: &[LabelDescriptor]) -> Labels {
    labels
        .iter()
        .map(|l| (l.key.clone(), l.value_type()))
        .collect()
}

impl ServiceRules {
    pub(crate) fn new(config: ServiceConfig) -> Self {
        let service = config.service();
        let metric_labels = service
            .metrics
            .iter()
            .map(|m| (m.r#type.clone(), label_types(&m.labels)))
            .collect();
        let mut any_metric_labels = Labels::new();
        for metric in &service.metrics {
            for label in &metric.labels {
                any_metric_labels
                    .entry(label.key.clone())
                    .or_insert(label.value_type());
            }
        }
        let mut resource_labels = HashMap::new();
        for resource in &service.monitored_resources {
            resource_labels.extend(label_types(&resource.labels));
        }
        let mut logs: HashMap<String, Option<Labels>> = service
            .logs
            .iter()
            .map(|l| (l.name.clone(), Some(label_types(&l.labels))))
            .collect();
        if let Some(logging) = &service.logging {
            for destination in logging
                .producer_destinations
                .iter()
                .chain(&logging.consumer_destinations)
            {
                for log in &destination.logs {
                    logs.entry(log.clone()).or_insert(None);
                }
            }
        }
        Self {
            quota: super::quota::QuotaRules::new(service),
            config,
            metric_labels,
            resource_labels,
            any_metric_labels,
            logs,
        }
    }

    /// The type of a label any metric value or operation may carry: a
    /// monitored resource's, or one Google defines.
    fn shared_label(&self, key: &str) -> Option<LabelType> {
        self.resource_labels
            .get(key)
            .copied()
            .or_else(|| GOOGLE_LABELS.contains(&key).then_some(LabelType::String))
    }

    /// Why the configuration does not allow `op`, naming the field. Paths
    /// are written only for the problem found.
    /// Maps are read as the owned map holds them (in key order, a key's
    /// last value), so that the first problem named is the same however
    /// the operation was encoded.
    pub(crate) fn problem(&self, op: sc::OperationView<'_>) -> Option<String> {
        for (i, set) in op.metric_value_sets().iter().enumerate() {
            let name = set.metric_name();
            let (Some(metric), Some(labels)) =
                (self.config.metric(name), self.metric_labels.get(name))
            else {
                return Some(format!(
                    "metric_value_sets[{i}]: metric {:?} is not defined in the service configuration",
                    clip(name)
                ));
            };
            for (j, value) in set.metric_values().iter().enumerate() {
                let here = || format!("metric_value_sets[{i}].metric_values[{j}]");
                let given = value.value().map(|v| match v {
                    ValueView::BoolValue(_) => ValueType::Bool,
                    ValueView::Int64Value(_) => ValueType::Int64,
                    ValueView::DoubleValue(_) => ValueType::Double,
                    ValueView::StringValue(_) => ValueType::String,
                    ValueView::DistributionValue(_) => ValueType::Distribution,
                });
                if let Some(problem) = value_type_problem(metric, given) {
                    return Some(format!("{}: {problem}", here()));
                }
                for (key, text) in value.labels().entries() {
                    let Some(t) = labels.get(key).copied().or_else(|| self.shared_label(key))
                    else {
                        return Some(format!(
                            "{}.labels: label {:?} is not allowed for metric {}",
                            here(),
                            clip(key),
                            metric.r#type
                        ));
                    };
                    if let Some(p) = label_value_problem(key, t, text) {
                        return Some(format!("{}.labels: {p}", here()));
                    }
                }
            }
        }
        for (key, text) in op.labels().entries() {
            let allowed = self
                .any_metric_labels
                .get(key)
                .copied()
                .or_else(|| self.shared_label(key));
            let Some(t) = allowed else {
                return Some(format!(
                    "labels: label {:?} is not a label of the service's monitored resources, of its metrics, or one Google defines",
                    clip(key)
                ));
            };
            if let Some(p) = label_value_problem(key, t, text) {
                return Some(format!("labels: {p}"));
            }
        }
        for (i, entry) in op.log_entries().iter().enumerate() {
            let here = || format!("log_entries[{i}]");
            match self.logs.get(entry.name()) {
                None => {
                    return Some(format!(
                        "{}: log {:?} is not declared in the service configuration",
                        here(),
                        clip(entry.name())
                    ));
                }
                Some(None) => {}
                Some(Some(labels)) => {
                    for (key, text) in entry.labels().entries() {
                        let Some(t) = labels.get(key) else {
                            return Some(format!(
                                "{}.labels: label {:?} is not declared by log {}",
                                here(),
                                clip(key),
                                entry.name()
                            ));
                        };
                        if let Some(p) = label_value_problem(key, *t, text) {
                            return Some(format!("{}.labels: {p}", here()));
                        }
                    }
                }
            }
        }
        None
    }
}

/// Why a metric's value of type `given` (`None`: no value set) does not
/// fit the metric.
fn value_type_problem(metric: &MetricDescriptor, given: Option<ValueType>) -> Option<String> {
    let expected = metric.value_type();
    let Some(given) = given else {
        return Some(format!(
            "metric {} takes {} values; none is set",
            metric.r#type,
            expected.as_str_name()
        ));
    };
    (given != expected).then(|| {
        format!(
            "metric {} takes {} values, not {}",
            metric.r#type,
            expected.as_str_name(),
            given.as_str_name()
        )
    })
}

fn label_value_problem(key: &str, label_type: LabelType, value: &str) -> Option<String> {
    let ok = match label_type {
        LabelType::String => true,
        LabelType::Bool => matches!(value, "true" | "false"),
        LabelType::Int64 => value.parse::<i64>().is_ok(),
    };
    (!ok).then(|| {
        format!(
            "label {:?} is {}; {:?} is not one",
            clip(key),
            label_type.as_str_name(),
            clip(value)
        )
    })
}

/// Whether the configuration lets `method` be called with no consumer
/// (`usage.rules[].allow_unregistered_calls` of the deciding rule).
pub(crate) fn allows_unregistered(config: &ServiceConfig, method: &str) -> bool {
    config.service().usage.as_ref().is_some_and(|usage| {
        crate::service_config::Selector::deciding(&usage.rules, |r| &r.selector, method)
            .is_some_and(|r| r.allow_unregistered_calls)
    })
}

/// The configured service names, sorted, for error messages.
pub(crate) fn names<'a>(rules: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = rules.collect();
    names.sort_unstable();
    names.join(", ")
}
