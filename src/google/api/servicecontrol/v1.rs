//! `google.api.servicecontrol.v1`: the Service Control API that API gateways
//! and runtimes call to check requests (`ServiceController::Check`), report
//! finished operations with their metrics and logs (`ServiceController::Report`)
//! and allocate quota (`QuotaController::AllocateQuota`).
//!
//! With the `grpc` feature, `service_controller_client` and
//! `quota_controller_client` hold tonic clients, and `service_controller_server`
//! and `quota_controller_server` the server traits.

include_package!("google.api.servicecontrol.v1");

#[cfg(feature = "rest")]
include!(concat!(
    env!("OUT_DIR"),
    "/google.api.servicecontrol.v1.rest.rs"
));
