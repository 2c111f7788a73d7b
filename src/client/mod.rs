//! A Service Control client for gateways: the three calls a gateway makes
//! on every request it serves, with the Check cache, quota aggregation and
//! report aggregation of Google's own gateways (ESP and ESPv2, through
//! `service-control-client-cxx`), so that thousands of requests a second
//! make a handful of calls.
//!
//! - [`Client::check`]: answers from a cache of Check answers
//!   ([`CheckOptions`]), allowed or denied, asking the server again after
//!   the flush interval and sending the usage the cached answers counted;
//! - [`Client::allocate_quota`]: answers at once, from the cache or
//!   optimistically, adding up costs and sending them every refresh
//!   interval ([`QuotaOptions`]);
//! - [`Client::report`]: operations merged for up to 5 seconds and sent in
//!   requests under 1 MB, each with its [`Outcome`] ([`Reporter`]).
//!
//! Calls go through a [`Transport`] (gRPC, REST JSON or binary protobuf over
//! HTTP) by a [`CallPolicy`] each (timeout and retries of network
//! failures). Failures are decided as ESPv2 decides them, failing open by
//! default: a Check that fails UNAVAILABLE ([`is_unavailable`]: no
//! connection, no answer in time, 429, 502, 503, 504, a backend said to be
//! unavailable) and any failed AllocateQuota let the request through, and
//! the answer says so ([`Source::FailedOpen`]); other Check failures (500, a
//! reset stream, no token, an unreadable answer) refuse it
//! ([`Source::Failed`]), and the caller is told INTERNAL, never the
//! gateway's own error ([`caller_status`]). Each call fails open or closed
//! by its own setting ([`ClientBuilder::check_fail_open`],
//! [`ClientBuilder::quota_fail_open`]).
//!
//! Bearer tokens never hold a call up: the transports' [`TokenSource`] is
//! refreshed in the background, and a Check or AllocateQuota without a
//! valid token fails at once, not made, and is refused (ESPv2's "Missing
//! access token"), however it is set to fail open.
//!
//! The client is `Send + Sync` and cheap to clone; every cache is bounded.
//! [`Client::shutdown`] sends everything still held and waits for it.
//!
//! ```no_run
//! use cloud_report_proto::client::{Client, GrpcTransport};
//! use cloud_report_proto::google::api::servicecontrol::v1::{CheckRequest, Operation};
//! use tonic::transport::Channel;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = Channel::from_static("http://127.0.0.1:8080").connect().await?;
//! let client = Client::builder("my-api.endpoints.my-project.cloud.goog")
//!     .build(GrpcTransport::new(channel));
//! let operation = Operation {
//!     operation_id: "op-1".into(),
//!     operation_name: "my.api.v1.Shelves.GetShelf".into(),
//!     consumer_id: "api_key:AIza...".into(),
//!     ..Default::default()
//! };
//! let answer = client
//!     .check(&CheckRequest { operation: Some(operation), ..Default::default() })
//!     .await?;
//! if !answer.allowed() {
//!     println!("denied: {:?}", answer.response.check_errors);
//! }
//! let statistics = client.shutdown().await;
//! println!("{} checks, {} from the cache", statistics.checks, statistics.check_hits);
//! # Ok(()) }
//! ```

mod answers;
#[cfg(feature = "auth")]
mod auth;
mod builder;
mod calls;
mod check;
pub mod gateway;
mod policy;
mod quota;
mod report;
mod signature;
mod stats;
mod transport;

pub use crate::token::{Token, TokenSource, TokenStatistics};
pub use answers::{CheckAnswer, QuotaAnswer, Source, caller_status};
#[cfg(feature = "auth")]
pub use auth::{AuthError, GoogleCredentials, SERVICE_CONTROL_SCOPES};
pub use builder::ClientBuilder;
pub use calls::{Client, MAX_BACKGROUND_SENDS};
pub use check::CheckOptions;
pub use policy::{CallPolicy, is_network_failure, is_unavailable};
pub use quota::{QuotaOptions, QuotaRefresh};
pub use report::{Config as ReportConfig, Counters, MetricKind, Outcome, Reporter, SubmitError};
pub use stats::Statistics;
/// The status type of every call and answer (re-exported, so that a
/// gateway names it without a `tonic` dependency of its own).
pub use tonic::{Code, Status};
#[cfg(feature = "rest-client")]
pub use transport::RestTransport;
pub use transport::{CallFuture, GrpcTransport, GrpcTransportBuilder, Transport};
