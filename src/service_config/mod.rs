//! Service configurations: a `google.api.Service` read from the YAML that
//! `gcloud endpoints services deploy` takes, or from its JSON form, and
//! checked for what Service Control relies on.
//!
//! Both forms go through the crate's JSON mapping, so a configuration reads
//! exactly as the `google.api.Service` message defines it (proto or JSON
//! field names, enum names, int64 values as numbers or strings). As `gcloud`
//! does, [`ServiceConfig::parse`] tries JSON first, then YAML; a YAML configuration starts
//! with `type: google.api.Service`, and a document without `type` is taken
//! as a normalized configuration (what `gcloud endpoints configs describe`
//! prints). YAML plain scalars take the type of the field they fill:
//! `title: 2024` is the text `"2024"`, `default_limit: 1000` the number.
//!
//! Errors are one line naming the file, the YAML line and column when known,
//! and the path of the value at fault:
//!
//! ```text
//! api.yaml:14:18: quota.limits[0].values.STANDARD: "lots" is not a valid int64
//! ```
//!
//! ```
//! use cloud_report_proto::service_config::ServiceConfig;
//!
//! let config = ServiceConfig::from_yaml(
//!     "type: google.api.Service
//! name: library.example.com
//! metrics:
//! - name: library.example.com/book/returned_count
//!   metric_kind: DELTA
//!   value_type: INT64
//! ",
//! )?;
//! assert_eq!(config.name(), "library.example.com");
//! assert!(config.metric("library.example.com/book/returned_count").is_some());
//! # Ok::<(), cloud_report_proto::service_config::ConfigError>(())
//! ```

mod check;
mod error;
mod yaml;

use std::collections::HashMap;
use std::path::Path;

use crate::google::api::{LogDescriptor, MetricDescriptor, MonitoredResourceDescriptor, Service};

pub use check::{QuotaWindow, Selector, quota_allowance};
pub use error::ConfigError;
pub(crate) use error::one_line;

/// The largest configuration file read, 16 MiB: real ones are a few
/// hundred kilobytes at most.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// A checked service configuration, with its metrics, monitored resources
/// and logs indexed by name.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    service: Service,
    metrics: HashMap<String, usize>,
    resources: HashMap<String, usize>,
    logs: HashMap<String, usize>,
}

impl ServiceConfig {
    /// Reads a configuration file (YAML or JSON, as [`ServiceConfig::parse`]);
    /// errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = read(path).map_err(|e| e.in_file(path))?;
        Self::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Reads a configuration as `gcloud` does: JSON when the text is JSON,
    /// YAML otherwise.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        match serde_json::from_str(text) {
            Ok(document) => from_document(document, &HashMap::new()).and_then(Self::new),
            Err(_) => Self::from_yaml(text),
        }
    }

    /// Reads a YAML configuration.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let document = yaml::to_json(text, "google.api.Service")?;
        let service = from_document(document.value, &document.positions)?;
        Self::new(service).map_err(|mut e| {
            e.position = e
                .position
                .or_else(|| document.positions.get(&e.path).copied());
            e
        })
    }

    /// Reads a configuration in its JSON form.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let document: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            let mut error = ConfigError::at("", format!("not JSON: {e}"));
            error.position = Some((e.line(), e.column()));
            error
        })?;
        from_document(document, &HashMap::new()).and_then(Self::new)
    }

    /// Checks a configuration and indexes it. A metric given by `name` only
    /// gets that name as its `type`, as the control plane does. Checked: the
    /// service has a name; metrics, monitored resources, logs, labels and
    /// quota limits are named once each; metrics have a kind and a value
    /// type; destinations, limits and metric rules name metrics, logs and
    /// resources of the service; limits have a window ([`QuotaWindow`]) and
    /// an allowance of at least -1 ([`quota_allowance`]);
    /// selectors are well formed; costs are not negative.
    pub fn new(mut service: Service) -> Result<Self, ConfigError> {
        check::service(&mut service)?;
        let index = |names: Vec<&str>| -> HashMap<String, usize> {
            names
                .into_iter()
                .enumerate()
                .map(|(i, n)| (n.to_owned(), i))
                .collect()
        };
        Ok(Self {
            metrics: index(service.metrics.iter().map(|m| m.r#type.as_str()).collect()),
            resources: index(
                service
                    .monitored_resources
                    .iter()
                    .map(|r| r.r#type.as_str())
                    .collect(),
            ),
            logs: index(service.logs.iter().map(|l| l.name.as_str()).collect()),
            service,
        })
    }

    /// The service's name, such as `library.example.com`.
    pub fn name(&self) -> &str {
        &self.service.name
    }

    /// The whole configuration.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The metric of this type.
    pub fn metric(&self, metric_type: &str) -> Option<&MetricDescriptor> {
        self.metrics
            .get(metric_type)
            .map(|&i| &self.service.metrics[i])
    }

    /// The monitored resource of this type.
    pub fn monitored_resource(&self, resource_type: &str) -> Option<&MonitoredResourceDescriptor> {
        self.resources
            .get(resource_type)
            .map(|&i| &self.service.monitored_resources[i])
    }

    /// The log of this name.
    pub fn log(&self, name: &str) -> Option<&LogDescriptor> {
        self.logs.get(name).map(|&i| &self.service.logs[i])
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| ConfigError::at("", e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ConfigError::at("", e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::at(
            "",
            format!("larger than {MAX_CONFIG_BYTES} bytes"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        ConfigError::at(
            "",
            format!("not UTF-8 (byte offset {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// The `type` a service configuration document names, as `gcloud` reads it.
const SERVICE_TYPE: &str = "google.api.Service";

/// Reads a document (already JSON values) as a `google.api.Service`: a
/// `type` member must name it and is dropped; OpenAPI documents are told
/// apart. `positions` maps paths to YAML positions for errors.
fn from_document(
    mut document: serde_json::Value,
    positions: &HashMap<String, (usize, usize)>,
) -> Result<Service, ConfigError> {
    let serde_json::Value::Object(members) = &mut document else {
        return Err(ConfigError::at(
            "",
            "a service configuration is a mapping of google.api.Service fields",
        ));
    };
    if members.contains_key("swagger") || members.contains_key("openapi") {
        return Err(ConfigError::at(
            "",
            "an OpenAPI document, not a google.api.Service configuration",
        ));
    }
    match members.remove("type") {
        None => {}
        Some(serde_json::Value::String(t)) if t == SERVICE_TYPE => {}
        Some(other) => {
            let mut error = ConfigError::at(
                "type",
                format!("{other} is not {SERVICE_TYPE}, the only type of configuration read here"),
            );
            error.position = positions.get("type").copied();
            return Err(error);
        }
    }
    let text = document.to_string();
    crate::json::from_str::<Service>(&text).map_err(|e| match e {
        crate::json::JsonError::Parse { path, message, .. } => {
            let mut error = ConfigError::at(path.clone(), message);
            error.position = positions.get(&path).copied();
            error
        }
        other => ConfigError::at("", other.to_string()),
    })
}
