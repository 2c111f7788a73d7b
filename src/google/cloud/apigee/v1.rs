//! `google.cloud.apigee.v1`: runtime status reports
//! (`RuntimeService::ReportInstanceStatus`) and deployment change reports
//! (`DeploymentService::GenerateDeployChangeReport` and
//! `GenerateUndeployChangeReport`).
//!
//! No public .proto of Apigee v1 exists; the JSON form of these messages is the
//! one of the Apigee v1 REST API, while field numbers (and so the binary form)
//! are this crate's own: see `proto/google/cloud/apigee/v1/`.

include_package!("google.cloud.apigee.v1");

#[cfg(feature = "rest-client")]
include!(concat!(env!("OUT_DIR"), "/google.cloud.apigee.v1.rest.rs"));
