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
//! Which calls a method makes is [`RequestBuilder::plan`], as ESPv2 reads
//! `usage.rules`: none for `skip_service_control` (and the gRPC health
//! checks), no Check for a method that allows unregistered calls, a Check
//! for a call with an API key, a refusal for a call without one.
//!
//! How a gateway answers its caller from Service Control's answers is
//! [`CheckAnswer::denial`](super::CheckAnswer::denial) and
//! [`QuotaAnswer::denial`](super::QuotaAnswer::denial). A [`CallReport`]
//! sends a call's Report when it is dropped, as ESPv2 reports from its
//! access log whatever happened to the call: a handler whose caller went
//! away still reports.
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

mod builder;
mod check;
mod guard;
mod info;
mod metrics;
mod quota;
mod report;
#[cfg(test)]
mod tests;

pub use builder::{BuildError, CallPlan, DEFAULT_LOG, RequestBuilder};
pub use guard::CallReport;
pub use info::{ApiKeyState, CallInfo, Protocol, ReportInfo};
pub use metrics::{CONSUMER_PROJECT_LABEL, DEFAULT_LOCATION, LOCATION_LABEL};
