//! The gateway client per operation, on one core, for a typical ESPv2
//! operation (its labels and metric names): a Check answered from the
//! cache, a quota ask that adds up in the cache, and, side by side in one
//! run, a Check round trip to the emulator on loopback, for the ratio.
//!
//! `cargo bench --features client,emulator --bench client`

use std::time::Duration;

use cloud_report_proto::client::{
    CallFuture, CheckOptions, Client, GrpcTransport, QuotaOptions, Transport,
};
use cloud_report_proto::emulator::{Config, Emulator};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SERVICE: &str = "bookstore.endpoints.my-project.cloud.goog";

/// A Check as ESPv2 sends it for an API-key call.
fn espv2_check() -> sc::CheckRequest {
    sc::CheckRequest {
        service_name: SERVICE.into(),
        service_config_id: "2024-01-01r0".into(),
        operation: Some(sc::Operation {
            operation_id: "a0e7cd3d-6f0c-4b0e-9a31-4d8d5c0e9b11".into(),
            operation_name: "1.bookstore_endpoints_my_project_cloud_goog.ListShelves".into(),
            consumer_id: "api_key:AIzaSyB-example-key-0123456789".into(),
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

/// An AllocateQuota as ESPv2 sends it.
fn espv2_quota() -> sc::AllocateQuotaRequest {
    sc::AllocateQuotaRequest {
        service_name: SERVICE.into(),
        service_config_id: "2024-01-01r0".into(),
        allocate_operation: Some(sc::QuotaOperation {
            operation_id: "b1f8de4e-7a1d-4c1f-8b42-5e9e6d1f0c22".into(),
            method_name: "1.bookstore_endpoints_my_project_cloud_goog.ListShelves".into(),
            consumer_id: "api_key:AIzaSyB-example-key-0123456789".into(),
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
struct Instant;

impl Transport for Instant {
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
/// from the cache does: what awaiting it in a gateway's task costs.
fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("not answered from the cache"),
    }
}

fn client(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("client per operation");
    group.throughput(Throughput::Elements(1));

    let cached = runtime.block_on(async {
        Client::builder(SERVICE)
            .check_options(CheckOptions::espv2())
            .quota_options(QuotaOptions::default())
            .build(Instant)
    });
    let check = espv2_check();
    runtime.block_on(cached.check(&check)).unwrap();
    let _entered = runtime.enter();
    group.bench_function("check, cache hit", |b| {
        b.iter(|| ready(cached.check(&check)).unwrap());
    });
    let quota = espv2_quota();
    runtime.block_on(cached.allocate_quota(&quota)).unwrap();
    group.bench_function("allocate quota, aggregated", |b| {
        b.iter(|| ready(cached.allocate_quota(&quota)).unwrap());
    });
    drop(_entered);

    // The same Check to the emulator over gRPC on loopback, uncached.
    let (running, uncached) = runtime.block_on(async {
        let running = Emulator::start(Config::default()).await.unwrap();
        let transport = GrpcTransport::builder(running.url())
            .connect()
            .await
            .unwrap();
        let client = Client::builder(SERVICE)
            .check_options(CheckOptions::disabled())
            .build(transport);
        (running, client)
    });
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("check, round trip to the emulator (gRPC, loopback)", |b| {
        b.iter(|| runtime.block_on(uncached.check(&check)).unwrap());
    });
    group.finish();
    runtime.block_on(async {
        cached.shutdown().await;
        uncached.shutdown().await;
        running.shutdown().await;
    });
}

criterion_group!(benches, client);
criterion_main!(benches);
