//! One request through the REST gateway's router, in process (no sockets):
//! an ESPv2 report as REST JSON and as gRPC, over a no-op Service Control.
//! The CPU each wire costs the gateway, apart from HTTP/2 and the kernel.
//!
//! `cargo bench --bench gateway --features rest`

use std::hint::black_box;

use axum::body::Body;
use cloud_report_proto::google::api::servicecontrol::v1::ServiceControllerRestServer;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::{
    ServiceController, ServiceControllerServer,
};
use cloud_report_proto::google::api::servicecontrol::v1::{
    CheckRequest, CheckResponse, ReportRequest, ReportResponse,
};
use cloud_report_proto::json;
use cloud_report_proto::rest::Gateway;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use prost::Message;
use tonic::{Request, Response, Status};
use tower::ServiceExt;

/// Answers every call with the empty response.
struct NoOp;

#[tonic::async_trait]
impl ServiceController for NoOp {
    async fn check(&self, _: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        Ok(Response::new(CheckResponse::default()))
    }

    async fn report(&self, _: Request<ReportRequest>) -> Result<Response<ReportResponse>, Status> {
        Ok(Response::new(ReportResponse::default()))
    }
}

fn gateway(c: &mut Criterion) {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/data/espv2-report.json"
    ))
    .unwrap();
    let report: ReportRequest = json::from_slice(&text).unwrap();
    let compact = bytes::Bytes::from(json::to_vec(&report).unwrap());
    let binary = report.encode_to_vec();
    let mut framed = vec![0];
    framed.extend_from_slice(&u32::try_from(binary.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&binary);
    let framed = bytes::Bytes::from(framed);
    // The service as a tonic server (REST through gRPC's encoding), and
    // added with its typed dispatch (REST straight to the implementation).
    let through_grpc = Gateway::new()
        .add_service(ServiceControllerServer::new(NoOp))
        .into_router();
    let router = Gateway::new()
        .add_rest_service(ServiceControllerRestServer::new(NoOp))
        .into_router();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rest_uri = format!("/v1/services/{}:report", report.service_name);

    let mut group = c.benchmark_group("gateway");
    for (name, router) in [
        ("REST JSON report, typed", &router),
        ("REST JSON report, through gRPC", &through_grpc),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let request = http::Request::post(&rest_uri)
                        .header("content-type", "application/json")
                        .body(Body::from(compact.clone()))
                        .unwrap();
                    let response = router.clone().oneshot(request).await.unwrap();
                    assert!(response.status().is_success());
                    black_box(response.into_body().collect().await.unwrap());
                })
            })
        });
    }
    group.bench_function("gRPC report", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let request =
                    http::Request::post("/google.api.servicecontrol.v1.ServiceController/Report")
                        .version(http::Version::HTTP_2)
                        .header("content-type", "application/grpc")
                        .header("te", "trailers")
                        .body(Body::from(framed.clone()))
                        .unwrap();
                let response = router.clone().oneshot(request).await.unwrap();
                let (parts, body) = response.into_parts();
                let body = body.collect().await.unwrap();
                let status = body
                    .trailers()
                    .and_then(|t| t.get("grpc-status"))
                    .or_else(|| parts.headers.get("grpc-status"));
                assert_eq!(status.map(|s| s.as_bytes()), Some(&b"0"[..]), "{parts:?}");
                black_box(body);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, gateway);
criterion_main!(benches);
