//! What a configuration must satisfy to be used, and the small rules that
//! read it: selectors and quota windows.

use std::collections::HashSet;

use super::error::ConfigError;
use crate::google::api::metric_descriptor::{MetricKind, ValueType};
use crate::google::api::{LabelDescriptor, QuotaLimit, Service};

/// Whether a rule's `selector` selects the element with this full name: `*`
/// selects everything, `a.b.*` everything under `a.b`, and anything else
/// only the element of that exact name (the rule of every `*Rule` message of
/// `google.api`).
///
/// ```
/// use cloud_report_proto::service_config::Selector;
///
/// let rule = Selector::new("google.example.library.v1.LibraryService.*");
/// assert!(rule.selects("google.example.library.v1.LibraryService.GetBook"));
/// assert!(!rule.selects("google.example.library.v1.Other.GetBook"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector<'a>(&'a str);

impl<'a> Selector<'a> {
    /// The selector of a rule.
    pub fn new(selector: &'a str) -> Self {
        Self(selector)
    }

    /// Whether it selects `name`.
    pub fn selects(&self, name: &str) -> bool {
        match self.0 {
            "*" => true,
            s => match s.strip_suffix(".*") {
                Some(prefix) => name
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.')),
                None => s == name,
            },
        }
    }

    /// The rule that decides for the element `name`: the last of `rules`
    /// whose selector selects it, as Service Management applies rules in
    /// order, a later one overriding an earlier.
    ///
    /// ```
    /// use cloud_report_proto::google::api::UsageRule;
    /// use cloud_report_proto::service_config::Selector;
    ///
    /// let rule = |selector: &str, open| UsageRule {
    ///     selector: selector.into(),
    ///     allow_unregistered_calls: open,
    ///     ..Default::default()
    /// };
    /// let rules = [rule("*", false), rule("a.B.List", true)];
    /// let decides = |name| Selector::deciding(&rules, |r| &r.selector, name);
    /// assert!(decides("a.B.List").unwrap().allow_unregistered_calls);
    /// assert!(!decides("a.B.Get").unwrap().allow_unregistered_calls);
    /// ```
    pub fn deciding<'r, R>(
        rules: &'r [R],
        selector: impl Fn(&R) -> &str,
        name: &str,
    ) -> Option<&'r R> {
        rules
            .iter()
            .rfind(|rule| Selector::new(selector(rule)).selects(name))
    }

    /// Whether the text is a valid selector: `*`, or dot-separated names,
    /// the last of which may be `*`.
    fn is_valid(&self) -> bool {
        let text = self.0.strip_suffix(".*").unwrap_or(self.0);
        text == "*"
            || (!text.is_empty()
                && text.split('.').all(|part| {
                    !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                }))
    }
}

/// The fixed time window a quota limit counts in, from its `unit`. Cloud
/// Endpoints and Service Infrastructure take one unit, `1/min/{project}`
/// ("Currently, only per-minute, per-project limits are supported", the
/// Endpoints rate-limiting page), and `gcloud endpoints services deploy`
/// refuses others, so any other unit, or a `duration` in place of one, is an
/// error. Windows are aligned to the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    seconds: u64,
}

impl QuotaWindow {
    /// The unit every limit takes.
    pub const UNIT: &str = "1/min/{project}";

    /// The window of a limit.
    pub fn of(limit: &QuotaLimit) -> Result<Self, String> {
        if limit.unit == Self::UNIT {
            return Ok(Self { seconds: 60 });
        }
        if limit.unit.is_empty() {
            return Err(format!(
                "a limit needs unit {:?} (only per-minute, per-project limits are supported{})",
                Self::UNIT,
                if limit.duration.is_empty() {
                    String::new()
                } else {
                    format!("; duration {:?} is not one", limit.duration)
                }
            ));
        }
        Err(format!(
            "unit {:?} is not {:?}: only per-minute, per-project limits are supported",
            limit.unit,
            Self::UNIT
        ))
    }

    /// The window's length in seconds.
    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    /// The start of the window holding `unix_seconds`.
    pub fn start(&self, unix_seconds: u64) -> u64 {
        unix_seconds - unix_seconds % self.seconds
    }
}

/// The most a quota limit lets a consumer use in one window: its
/// `values["STANDARD"]` (the only tier Service Control supports), else its
/// `default_limit`; `None` when that is -1, unlimited.
///
/// ```
/// use cloud_report_proto::google::api::QuotaLimit;
/// use cloud_report_proto::service_config::quota_allowance;
///
/// let mut limit = QuotaLimit { default_limit: 100, ..Default::default() };
/// assert_eq!(quota_allowance(&limit), Some(100));
/// limit.values.insert("STANDARD".into(), -1);
/// assert_eq!(quota_allowance(&limit), None);
/// ```
pub fn quota_allowance(limit: &QuotaLimit) -> Option<i64> {
    let value = limit
        .values
        .get(STANDARD_TIER)
        .copied()
        .unwrap_or(limit.default_limit);
    (value != -1).then_some(value)
}

/// The one tier of `QuotaLimit.values` Service Control supports.
const STANDARD_TIER: &str = "STANDARD";

fn labels(path: &str, labels: &[LabelDescriptor]) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (i, label) in labels.iter().enumerate() {
        let here = format!("{path}.labels[{i}].key");
        if label.key.is_empty() {
            return Err(ConfigError::at(here, "a label needs a key"));
        }
        if !seen.insert(label.key.as_str()) {
            return Err(ConfigError::at(
                here,
                format!("label {:?} declared twice", label.key),
            ));
        }
    }
    Ok(())
}

/// Fills what the control plane derives (a metric's `type` from its `name`)
/// and checks what the emulator and the clients rely on.
pub(super) fn service(service: &mut Service) -> Result<(), ConfigError> {
    if service.name.is_empty() {
        return Err(ConfigError::at(
            "name",
            "a service configuration names its service",
        ));
    }
    let mut metrics = HashSet::new();
    for (i, metric) in service.metrics.iter_mut().enumerate() {
        let path = format!("metrics[{i}]");
        if metric.r#type.is_empty() {
            metric.r#type = metric.name.clone();
        }
        if metric.r#type.is_empty() {
            return Err(ConfigError::at(path, "a metric needs a name or type"));
        }
        if !metrics.insert(metric.r#type.clone()) {
            return Err(ConfigError::at(
                path,
                format!("metric {:?} defined twice", metric.r#type),
            ));
        }
        if metric.metric_kind() == MetricKind::Unspecified {
            return Err(ConfigError::at(
                format!("{path}.metric_kind"),
                format!("metric {:?} has no metric_kind", metric.r#type),
            ));
        }
        if metric.value_type() == ValueType::Unspecified {
            return Err(ConfigError::at(
                format!("{path}.value_type"),
                format!("metric {:?} has no value_type", metric.r#type),
            ));
        }
        labels(&path, &metric.labels)?;
    }
    let mut resources = HashSet::new();
    for (i, resource) in service.monitored_resources.iter().enumerate() {
        let path = format!("monitored_resources[{i}]");
        if resource.r#type.is_empty() {
            return Err(ConfigError::at(path, "a monitored resource needs a type"));
        }
        if !resources.insert(resource.r#type.as_str()) {
            return Err(ConfigError::at(
                path,
                format!("monitored resource {:?} defined twice", resource.r#type),
            ));
        }
        labels(&path, &resource.labels)?;
    }
    let mut logs = HashSet::new();
    for (i, log) in service.logs.iter().enumerate() {
        let path = format!("logs[{i}]");
        if log.name.is_empty() {
            return Err(ConfigError::at(path, "a log needs a name"));
        }
        if !logs.insert(log.name.as_str()) {
            return Err(ConfigError::at(
                path,
                format!("log {:?} defined twice", log.name),
            ));
        }
        labels(&path, &log.labels)?;
    }
    let monitoring = service.monitoring.as_ref();
    let logging = service.logging.as_ref();
    let lists = [
        (
            "monitoring.producer_destinations",
            "metrics",
            monitoring.map(|m| {
                m.producer_destinations
                    .iter()
                    .map(|d| (&d.monitored_resource, &d.metrics))
                    .collect::<Vec<_>>()
            }),
        ),
        (
            "monitoring.consumer_destinations",
            "metrics",
            monitoring.map(|m| {
                m.consumer_destinations
                    .iter()
                    .map(|d| (&d.monitored_resource, &d.metrics))
                    .collect()
            }),
        ),
        (
            "logging.producer_destinations",
            "logs",
            logging.map(|l| {
                l.producer_destinations
                    .iter()
                    .map(|d| (&d.monitored_resource, &d.logs))
                    .collect()
            }),
        ),
        (
            "logging.consumer_destinations",
            "logs",
            logging.map(|l| {
                l.consumer_destinations
                    .iter()
                    .map(|d| (&d.monitored_resource, &d.logs))
                    .collect()
            }),
        ),
    ];
    for (list, field, destinations) in lists {
        for (i, (resource, names)) in destinations.into_iter().flatten().enumerate() {
            let path = format!("{list}[{i}]");
            if !resources.contains(resource.as_str()) {
                return Err(ConfigError::at(
                    format!("{path}.monitored_resource"),
                    format!("{resource:?} is not a monitored resource of the service"),
                ));
            }
            for (j, name) in names.iter().enumerate() {
                // A log of another service is named with that service's name
                // as a prefix.
                let known = if field == "metrics" {
                    metrics.contains(name)
                } else {
                    logs.contains(name.as_str()) || name.contains('/')
                };
                if !known {
                    let what = if field == "metrics" { "metric" } else { "log" };
                    return Err(ConfigError::at(
                        format!("{path}.{field}[{j}]"),
                        format!("{name:?} is not a {what} of the service"),
                    ));
                }
            }
        }
    }
    if let Some(quota) = &service.quota {
        let mut names = HashSet::new();
        for (i, limit) in quota.limits.iter().enumerate() {
            let path = format!("quota.limits[{i}]");
            if limit.name.is_empty() {
                return Err(ConfigError::at(
                    format!("{path}.name"),
                    "a quota limit needs a name",
                ));
            }
            if !names.insert(limit.name.as_str()) {
                return Err(ConfigError::at(
                    format!("{path}.name"),
                    format!("quota limit {:?} defined twice", limit.name),
                ));
            }
            if !metrics.contains(&limit.metric) {
                return Err(ConfigError::at(
                    format!("{path}.metric"),
                    format!("{:?} is not a metric of the service", limit.metric),
                ));
            }
            // Tiers other than STANDARD are kept but never enforced.
            if let Some(value) = limit.values.get(STANDARD_TIER)
                && *value < -1
            {
                return Err(ConfigError::at(
                    format!("{path}.values.{STANDARD_TIER}"),
                    format!("{value} is neither a limit nor -1 (unlimited)"),
                ));
            }
            if limit.default_limit < -1 {
                return Err(ConfigError::at(
                    format!("{path}.default_limit"),
                    format!(
                        "{} is neither a limit nor -1 (unlimited)",
                        limit.default_limit
                    ),
                ));
            }
            QuotaWindow::of(limit).map_err(|e| {
                let field = if limit.unit.is_empty() {
                    "duration"
                } else {
                    "unit"
                };
                ConfigError::at(format!("{path}.{field}"), e)
            })?;
        }
        for (i, rule) in quota.metric_rules.iter().enumerate() {
            let path = format!("quota.metric_rules[{i}]");
            if !Selector::new(&rule.selector).is_valid() {
                return Err(ConfigError::at(
                    format!("{path}.selector"),
                    format!(
                        "{:?} is not a selector (`*`, a name, or a name ending in `.*`)",
                        rule.selector
                    ),
                ));
            }
            for (metric, cost) in &rule.metric_costs {
                let here = format!("{path}.metric_costs.{metric}");
                if !metrics.contains(metric) {
                    return Err(ConfigError::at(
                        here,
                        format!("{metric:?} is not a metric of the service"),
                    ));
                }
                if *cost < 0 {
                    return Err(ConfigError::at(
                        here,
                        format!("a cost cannot be negative ({cost})"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert!(Selector::new("*").selects("a.B.C"));
        assert!(Selector::new("a.B.*").selects("a.B.C"));
        assert!(!Selector::new("a.B.*").selects("a.BC.D"));
        assert!(!Selector::new("a.B.*").selects("a.B"));
        assert!(Selector::new("a.B.C").selects("a.B.C"));
        assert!(!Selector::new("a.B.C").selects("a.B.CD"));
        for bad in ["", "a..b", "a.*.b", "a b", "**"] {
            assert!(!Selector::new(bad).is_valid(), "{bad}");
        }
    }

    #[test]
    fn windows() {
        let limit = |unit: &str, duration: &str| QuotaLimit {
            unit: unit.into(),
            duration: duration.into(),
            ..Default::default()
        };
        let minute = QuotaWindow::of(&limit("1/min/{project}", "")).unwrap();
        assert_eq!(minute.seconds(), 60);
        assert_eq!(minute.start(121), 120);
        for (unit, duration) in [
            ("1/min", ""),
            ("1/d/{project}", ""),
            ("1/s/{project}", ""),
            ("1/min/{user}", ""),
            ("", "100s"),
            ("", "1d"),
            ("", ""),
        ] {
            assert!(
                QuotaWindow::of(&limit(unit, duration)).is_err(),
                "{unit} {duration}"
            );
        }
    }
}
