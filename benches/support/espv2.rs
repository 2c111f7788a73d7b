//! What the client benches share: the Check and AllocateQuota ESPv2 sends
//! for an API-key call, a transport answering at once, and the poll of a
//! future answered from the cache.
#![allow(dead_code)]

use cloud_report_proto::client::{CallFuture, Transport};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;

/// The service of the requests.
pub const SERVICE: &str = "bookstore.endpoints.my-project.cloud.goog";

/// The API key of a typical call.
pub const API_KEY: &str = "api_key:AIzaSyB-example-key-0123456789";

/// A Check as ESPv2 sends it for an API-key call, of `consumer`.
pub fn espv2_check(consumer: &str) -> sc::CheckRequest {
    sc::CheckRequest {
        service_name: SERVICE.into(),
        service_config_id: "2024-01-01r0".into(),
        operation: Some(sc::Operation {
            operation_id: "a0e7cd3d-6f0c-4b0e-9a31-4d8d5c0e9b11".into(),
            operation_name: "1.bookstore_endpoints_my_project_cloud_goog.ListShelves".into(),
            consumer_id: consumer.into(),
            start_time: Some(cloud_report_proto::google::protobuf::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
                ..Default::default()
            }),
            labels: [
                ("servicecontrol.googleapis.com/caller_ip", "10.0.0.7"),
                (
                    "servicecontrol.googleapis.com/referer",
                    "https://example.com/",
                ),
                (
                    "servicecontrol.googleapis.com/service_agent",
                    "ESPv2/2.45.0",
                ),
                ("servicecontrol.googleapis.com/user_agent", "ESPv2"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An AllocateQuota as ESPv2 sends it, of `consumer`.
pub fn espv2_quota(consumer: &str) -> sc::AllocateQuotaRequest {
    sc::AllocateQuotaRequest {
        service_name: SERVICE.into(),
        service_config_id: "2024-01-01r0".into(),
        allocate_operation: Some(sc::QuotaOperation {
            operation_id: "b1f8de4e-7a1d-4c1f-8b42-5e9e6d1f0c22".into(),
            method_name: "1.bookstore_endpoints_my_project_cloud_goog.ListShelves".into(),
            consumer_id: consumer.into(),
            labels: [
                ("servicecontrol.googleapis.com/caller_ip", "10.0.0.7"),
                ("servicecontrol.googleapis.com/user_agent", "ESPv2"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            quota_metrics: vec![sc::MetricValueSet {
                metric_name: "read-requests".into(),
                metric_values: vec![sc::MetricValue {
                    value: Some(sc::metric_value::Value::Int64Value(1)),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            quota_mode: sc::quota_operation::QuotaMode::Normal as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Answers every call at once, allowing.
pub struct Allow;

impl Transport for Allow {
    fn check(&self, _: sc::CheckRequest) -> CallFuture<sc::CheckResponse> {
        Box::pin(async { Ok(sc::CheckResponse::default()) })
    }
    fn allocate_quota(&self, _: sc::AllocateQuotaRequest) -> CallFuture<sc::AllocateQuotaResponse> {
        Box::pin(async { Ok(sc::AllocateQuotaResponse::default()) })
    }
    fn report(&self, _: sc::ReportRequest) -> CallFuture<sc::ReportResponse> {
        Box::pin(async { Ok(sc::ReportResponse::default()) })
    }
}

/// The output of a future that completes when first polled, as an answer
/// from the cache does.
pub fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("not answered from the cache"),
    }
}
