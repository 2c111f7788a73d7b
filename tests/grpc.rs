//! The generated tonic stubs against the real thing: a server built on the
//! generated `ServiceController` and `QuotaController` traits, on 127.0.0.1,
//! called by the official Python client (google-cloud-service-control's GAPIC
//! client over an insecure channel) and by the generated Rust client.
#![cfg(all(feature = "grpc", feature = "json"))]

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use cloud_report_proto::google::api::servicecontrol::v1::quota_controller_server::{
    QuotaController, QuotaControllerServer,
};
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::{
    ServiceController, ServiceControllerServer,
};
use cloud_report_proto::google::api::servicecontrol::v1::{
    AllocateQuotaRequest, AllocateQuotaResponse, CheckRequest, CheckResponse, ReportRequest,
    ReportResponse, report_response::ReportError,
};
use cloud_report_proto::google::rpc::Status;
use cloud_report_proto::json;
use serde_json::json;
use support::reference::Reference;
use tonic::{Request, Response};

/// Records what it receives and answers from the request, so both sides can
/// be checked.
#[derive(Clone, Default)]
struct Recorder {
    reports: Arc<Mutex<Vec<ReportRequest>>>,
    checks: Arc<Mutex<Vec<CheckRequest>>>,
    allocations: Arc<Mutex<Vec<AllocateQuotaRequest>>>,
}

#[tonic::async_trait]
impl ServiceController for Recorder {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, tonic::Status> {
        let request = request.into_inner();
        self.checks.lock().unwrap().push(request.clone());
        Ok(Response::new(CheckResponse {
            operation_id: request
                .operation
                .map(|o| o.operation_id)
                .unwrap_or_default(),
            service_config_id: request.service_config_id,
            ..Default::default()
        }))
    }

    async fn report(
        &self,
        request: Request<ReportRequest>,
    ) -> Result<Response<ReportResponse>, tonic::Status> {
        let request = request.into_inner();
        self.reports.lock().unwrap().push(request.clone());
        // Every operation without an end time fails, as the real service
        // would, with a partial-failure entry.
        let report_errors = request
            .operations
            .iter()
            .filter(|o| o.end_time.is_none())
            .map(|o| ReportError {
                operation_id: o.operation_id.clone(),
                status: Some(Status {
                    code: 3,
                    message: "end_time is required".into(),
                    details: vec![],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        Ok(Response::new(ReportResponse {
            report_errors,
            service_config_id: request.service_config_id,
            service_rollout_id: "rollout-1".into(),
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl QuotaController for Recorder {
    async fn allocate_quota(
        &self,
        request: Request<AllocateQuotaRequest>,
    ) -> Result<Response<AllocateQuotaResponse>, tonic::Status> {
        let request = request.into_inner();
        self.allocations.lock().unwrap().push(request.clone());
        let operation = request.allocate_operation.unwrap_or_default();
        Ok(Response::new(AllocateQuotaResponse {
            operation_id: operation.operation_id,
            quota_metrics: operation.quota_metrics,
            service_config_id: request.service_config_id,
            ..Default::default()
        }))
    }
}

async fn serve(recorder: Recorder) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ServiceControllerServer::new(recorder.clone()))
            .add_service(QuotaControllerServer::new(recorder))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

/// Messages compared as canonical JSON: an Any's packed bytes may differ in
/// map order between implementations while holding the same message.
fn same<T: cloud_report_proto::json::WriteJson>(received: &[T], sent: &T) {
    assert_eq!(received.len(), 1);
    assert_eq!(
        json::to_string(&received[0]).unwrap(),
        json::to_string(sent).unwrap()
    );
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(format!("{}/golden/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Calls the server with the official Python client; returns its answer.
async fn python_call(addr: SocketAddr, method: &str, request_json: String) -> String {
    let method = method.to_owned();
    tokio::task::spawn_blocking(move || {
        let answer = Reference::get().call(json!({
            "op": "grpc_call", "target": addr.to_string(), "method": method, "json": request_json,
        }));
        assert!(answer.get("error").is_none(), "{answer}");
        answer["json"].as_str().unwrap().to_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn official_python_client_calls_our_server() {
    let recorder = Recorder::default();
    let addr = serve(recorder.clone()).await;

    // Report: the golden request, with one operation lacking an end time.
    let mut request: ReportRequest =
        json::from_str(&golden("google.api.servicecontrol.v1.ReportRequest")).unwrap();
    let mut second = request.operations[0].clone();
    second.operation_id = "no-end".into();
    second.end_time = None;
    request.operations.push(second);
    let answer = python_call(addr, "report", json::to_string(&request).unwrap()).await;
    same(&recorder.reports.lock().unwrap(), &request);
    let response: ReportResponse = json::from_str(&answer).unwrap();
    assert_eq!(response.report_errors.len(), 1);
    assert_eq!(response.report_errors[0].operation_id, "no-end");
    assert_eq!(response.service_config_id, request.service_config_id);

    // Check.
    let check: CheckRequest =
        json::from_str(&golden("google.api.servicecontrol.v1.CheckRequest")).unwrap();
    let answer = python_call(addr, "check", json::to_string(&check).unwrap()).await;
    same(&recorder.checks.lock().unwrap(), &check);
    let response: CheckResponse = json::from_str(&answer).unwrap();
    assert_eq!(response.operation_id, "op-3");

    // AllocateQuota.
    let allocate: AllocateQuotaRequest =
        json::from_str(&golden("google.api.servicecontrol.v1.AllocateQuotaRequest")).unwrap();
    let answer = python_call(addr, "allocate_quota", json::to_string(&allocate).unwrap()).await;
    same(&recorder.allocations.lock().unwrap(), &allocate);
    let response: AllocateQuotaResponse = json::from_str(&answer).unwrap();
    assert_eq!(
        response.quota_metrics,
        allocate.allocate_operation.unwrap().quota_metrics
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_rust_client_calls_our_server() {
    let recorder = Recorder::default();
    let addr = serve(recorder.clone()).await;
    let mut client = ServiceControllerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let request: ReportRequest =
        json::from_str(&golden("google.api.servicecontrol.v1.ReportRequest")).unwrap();
    let response = client.report(request.clone()).await.unwrap().into_inner();
    assert!(response.report_errors.is_empty());
    assert_eq!(response.service_rollout_id, "rollout-1");
    assert_eq!(recorder.reports.lock().unwrap().as_slice(), &[request]);
}

/// A service that fails every call with a rich status.
#[derive(Clone)]
struct Refuser;

fn refusal() -> Status {
    use cloud_report_proto::google::rpc::{Code, ErrorInfo, RetryInfo};
    Status::new(
        Code::PermissionDenied,
        "Permission 'servicemanagement.services.report' denied",
    )
    .with_detail(&ErrorInfo {
        reason: "IAM_PERMISSION_DENIED".into(),
        domain: "servicecontrol.googleapis.com".into(),
        metadata: [(
            "permission".to_owned(),
            "servicemanagement.services.report".to_owned(),
        )]
        .into(),
        ..Default::default()
    })
    .with_detail(&RetryInfo {
        retry_delay: Some("2.5s".parse().unwrap()),
        ..Default::default()
    })
}

#[tonic::async_trait]
impl ServiceController for Refuser {
    async fn check(
        &self,
        _: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, tonic::Status> {
        Err(refusal().into())
    }

    async fn report(
        &self,
        _: Request<ReportRequest>,
    ) -> Result<Response<ReportResponse>, tonic::Status> {
        Err(refusal().into())
    }
}

/// Error details cross the wire in grpc-status-details-bin: the generated
/// Rust client, tonic-types and the official Python client all read them.
#[tokio::test(flavor = "multi_thread")]
async fn rich_errors_reach_every_client() {
    use tonic_types::StatusExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ServiceControllerServer::new(Refuser))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let mut client = ServiceControllerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let err = client.report(ReportRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert_eq!(Status::try_from(&err).unwrap(), refusal());
    let details = err.get_error_details();
    assert_eq!(
        details.error_info().unwrap().reason,
        "IAM_PERMISSION_DENIED"
    );
    assert_eq!(
        details.retry_info().unwrap().retry_delay,
        Some(std::time::Duration::from_millis(2500))
    );

    let answer = tokio::task::spawn_blocking(move || {
        Reference::get().call(json!({
            "op": "grpc_call", "target": addr.to_string(), "method": "report", "json": "{}",
        }))
    })
    .await
    .unwrap();
    assert_eq!(answer["error_code"], 7, "{answer}");
    let details: Vec<Status> = answer["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            json::from_str::<cloud_report_proto::google::protobuf::Any>(d.as_str().unwrap())
                .unwrap()
        })
        .map(|any| Status {
            code: 0,
            message: String::new(),
            details: vec![any],
            ..Default::default()
        })
        .collect();
    let theirs: Vec<_> = details.into_iter().flat_map(|s| s.details).collect();
    assert_eq!(theirs, refusal().details);
}

/// A relay loses nothing: a report from a newer client, carrying fields the
/// crate's protos do not know at several levels, goes through the generated
/// client and server (tonic's codec: the messages' own encode and decode)
/// and arrives equal, unknown fields included, byte for byte.
#[tokio::test]
async fn a_grpc_relay_keeps_unknown_fields() {
    use cloud_report_proto::google::api::servicecontrol::v1::Operation;
    use cloud_report_proto::wire::{UnknownField, UnknownValue};
    use prost::Message;

    let recorder = Recorder::default();
    let addr = serve(recorder.clone()).await;
    let mut request = ReportRequest {
        service_name: "relay.example.com".into(),
        operations: vec![Operation {
            operation_id: "op-1".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let newer = |number, value| UnknownField { number, value };
    request
        .unknown_fields
        .push(newer(40, UnknownValue::LengthDelimited(b"added tomorrow")))
        .unwrap();
    request.operations[0]
        .unknown_fields
        .push(newer(5000, UnknownValue::Varint(3)))
        .unwrap();
    request.operations[0]
        .start_time
        .get_or_insert_default()
        .unknown_fields
        .push(newer(9, UnknownValue::Fixed64(1)))
        .unwrap();

    let mut client = ServiceControllerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    client.report(request.clone()).await.unwrap();
    let received = recorder.reports.lock().unwrap().clone();
    assert_eq!(received, [request.clone()]);
    assert_eq!(received[0].encode_to_vec(), request.encode_to_vec());
}
