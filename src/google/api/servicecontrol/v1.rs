//! `google.api.servicecontrol.v1`: the Service Control API that API gateways
//! and runtimes call to check requests (`ServiceController::Check`), report
//! finished operations with their metrics and logs (`ServiceController::Report`)
//! and allocate quota (`QuotaController::AllocateQuota`).
//!
//! With the `grpc` feature, `service_controller_client` and
//! `quota_controller_client` hold tonic clients, and `service_controller_server`
//! and `quota_controller_server` the server traits.

include_package!("google.api.servicecontrol.v1");

/// The metric an `AllocateQuotaResponse` reports allocated amounts in, one
/// value per quota metric labelled [`QUOTA_NAME_LABEL`].
pub const QUOTA_USED_COUNT: &str = "serviceruntime.googleapis.com/api/consumer/quota_used_count";
/// The boolean metric an `AllocateQuotaResponse` marks each quota metric
/// that reached a limit with.
pub const QUOTA_EXCEEDED: &str = "serviceruntime.googleapis.com/quota/exceeded";
/// The label naming the quota metric of a value of those two.
pub const QUOTA_NAME_LABEL: &str = "/quota_name";

#[cfg(feature = "rest-client")]
include!(concat!(
    env!("OUT_DIR"),
    "/google.api.servicecontrol.v1.rest.rs"
));
