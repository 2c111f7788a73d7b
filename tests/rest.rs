//! The REST gateway on 127.0.0.1: the same tonic services answer REST and
//! gRPC on one port, with the same result, and errors come in Google's form.
#![cfg(feature = "rest")]

use crate::support;
use crate::support::{plain_http, plain_http_builder};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use cloud_report_proto::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::{
    ServiceController, ServiceControllerServer,
};
use cloud_report_proto::google::api::servicecontrol::v1::{
    CheckRequest, CheckResponse, ReportRequest, ReportResponse, ServiceControllerRestServer,
};
use cloud_report_proto::google::cloud::apigee::v1::deployment_service_server::{
    DeploymentService, DeploymentServiceServer,
};
use cloud_report_proto::google::cloud::apigee::v1::runtime_service_server::{
    RuntimeService, RuntimeServiceServer,
};
use cloud_report_proto::google::cloud::apigee::v1::{
    DeploymentChangeReport, DeploymentServiceRestServer, GenerateDeployChangeReportRequest,
    GenerateUndeployChangeReportRequest, ReportInstanceStatusRequest, ReportInstanceStatusResponse,
    RuntimeServiceRestServer,
};
use cloud_report_proto::google::rpc::{Code, ErrorInfo, Status};
use cloud_report_proto::json;
use cloud_report_proto::rest::Gateway;
use serde_json::{Value, json};
use support::reference::Reference;
use tonic::{Request, Response};

/// A received report with the caller's authorization header.
type Received = (ReportRequest, Option<String>);

#[derive(Clone, Default)]
struct Backend {
    reports: Arc<Mutex<Vec<Received>>>,
    /// The metadata of every report.
    metadata: Arc<Mutex<Vec<http::HeaderMap>>>,
    statuses: Arc<Mutex<Vec<ReportInstanceStatusRequest>>>,
    deploys: Arc<Mutex<Vec<GenerateDeployChangeReportRequest>>>,
}

#[tonic::async_trait]
impl ServiceController for Backend {
    async fn check(
        &self,
        _: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, tonic::Status> {
        Err(Status::new(Code::PermissionDenied, "no checks here")
            .with_detail(&ErrorInfo {
                reason: "NOPE".into(),
                domain: "example.com".into(),
                ..Default::default()
            })
            .into())
    }

    async fn report(
        &self,
        request: Request<ReportRequest>,
    ) -> Result<Response<ReportResponse>, tonic::Status> {
        if request.get_ref().service_name == "slow.example.com" {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
        self.metadata
            .lock()
            .unwrap()
            .push(request.metadata().clone().into_headers());
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request = request.into_inner();
        self.reports.lock().unwrap().push((request.clone(), token));
        Ok(Response::new(ReportResponse {
            service_config_id: format!("config-of-{}", request.service_name),
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl RuntimeService for Backend {
    async fn report_instance_status(
        &self,
        request: Request<ReportInstanceStatusRequest>,
    ) -> Result<Response<ReportInstanceStatusResponse>, tonic::Status> {
        self.statuses.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ReportInstanceStatusResponse {
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl DeploymentService for Backend {
    async fn generate_deploy_change_report(
        &self,
        request: Request<GenerateDeployChangeReportRequest>,
    ) -> Result<Response<DeploymentChangeReport>, tonic::Status> {
        self.deploys.lock().unwrap().push(request.into_inner());
        Ok(Response::new(DeploymentChangeReport::default()))
    }

    async fn generate_undeploy_change_report(
        &self,
        _: Request<GenerateUndeployChangeReportRequest>,
    ) -> Result<Response<DeploymentChangeReport>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "undeploy reports are not computed here",
        ))
    }
}

/// How the services are added to the gateway.
#[derive(Clone, Copy, Debug)]
enum Wiring {
    /// As tonic servers: REST reaches them through gRPC's encoding.
    Tonic,
    /// With their typed dispatch (`add_rest_service`): REST reaches the
    /// implementation with typed messages.
    Typed,
}

impl Wiring {
    const BOTH: [Wiring; 2] = [Wiring::Tonic, Wiring::Typed];
}

async fn serve(backend: Backend, max_body: usize) -> SocketAddr {
    serve_wired(backend, max_body, Wiring::Tonic).await
}

async fn serve_wired(backend: Backend, max_body: usize, wiring: Wiring) -> SocketAddr {
    let gateway = match wiring {
        Wiring::Tonic => Gateway::new()
            .add_service(ServiceControllerServer::new(backend.clone()))
            .add_service(RuntimeServiceServer::new(backend.clone()))
            .add_service(DeploymentServiceServer::new(backend)),
        Wiring::Typed => Gateway::new()
            .add_rest_service(ServiceControllerRestServer::new(backend.clone()))
            .add_rest_service(RuntimeServiceRestServer::new(backend.clone()))
            .add_rest_service(DeploymentServiceRestServer::new(backend)),
    };
    let router = gateway.max_body_bytes(max_body).into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(format!("{}/golden/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn post(url: String, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = plain_http()
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", "Bearer t0k3n")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn report_over_rest_and_grpc_gives_the_same_result() {
    for wiring in Wiring::BOTH {
        let backend = Backend::default();
        let addr = serve_wired(backend.clone(), Gateway::DEFAULT_MAX_BODY_BYTES, wiring).await;

        // REST: the service name comes from the path, the rest from the body.
        let mut request: ReportRequest =
            json::from_str(&golden("google.api.servicecontrol.v1.ReportRequest")).unwrap();
        request.service_name.clear();
        let (status, rest_answer) = post(
            format!("http://{addr}/v1/services/library.example.com:report"),
            json::to_string(&request).unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{rest_answer}");
        request.service_name = "library.example.com".into();

        // gRPC on the same port.
        let mut client = ServiceControllerClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let grpc_answer = client.report(request.clone()).await.unwrap().into_inner();
        assert_eq!(rest_answer, serde_json::to_value(&grpc_answer).unwrap());
        assert_eq!(
            rest_answer["serviceConfigId"],
            "config-of-library.example.com"
        );

        let reports = backend.reports.lock().unwrap().clone();
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].0, request);
        assert_eq!(reports[1].0, request);
        // The caller's headers reach the service as metadata.
        assert_eq!(reports[0].1.as_deref(), Some("Bearer t0k3n"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apigee_bindings_take_path_variables_and_query_parameters() {
    for wiring in Wiring::BOTH {
        let backend = Backend::default();
        let addr = serve_wired(backend.clone(), Gateway::DEFAULT_MAX_BODY_BYTES, wiring).await;

        let mut status_request: ReportInstanceStatusRequest = json::from_str(&golden(
            "google.cloud.apigee.v1.ReportInstanceStatusRequest",
        ))
        .unwrap();
        status_request.instance.clear();
        let (code, answer) = post(
            format!("http://{addr}/v1/organizations/my-org/instances/my-instance:reportStatus"),
            json::to_string(&status_request).unwrap(),
        )
        .await;
        assert_eq!((code, answer), (200, json!({})));
        status_request.instance = "organizations/my-org/instances/my-instance".into();
        assert_eq!(
            backend.statuses.lock().unwrap().as_slice(),
            &[status_request]
        );

        let name = "organizations/my-org/environments/prod/apis/orders/revisions/4";
        let (code, answer) = post(
            format!("http://{addr}/v1/{name}/deployments:generateDeployChangeReport?override=true"),
            "",
        )
        .await;
        assert_eq!((code, answer), (200, json!({})));
        assert_eq!(
            backend.deploys.lock().unwrap().as_slice(),
            &[GenerateDeployChangeReportRequest {
                name: name.into(),
                r#override: true,
                ..Default::default()
            }]
        );
    }
}

/// Query parameters set the typed request's fields by the JSON mapping's
/// rules for the field's string form (a bool's literal), by proto or JSON
/// name; each failure names the parameter. The same on both wirings (typed
/// dispatch, and the binary encoding appended for a tonic server).
#[tokio::test(flavor = "multi_thread")]
async fn query_parameters_bind_to_typed_fields() {
    let name = "organizations/o/environments/e/apis/a/revisions/4";
    for wiring in Wiring::BOTH {
        let backend = Backend::default();
        let addr = serve_wired(backend.clone(), 4096, wiring).await;
        let url = |query: &str| {
            format!("http://{addr}/v1/{name}/deployments:generateDeployChangeReport?{query}")
        };
        for (query, expected) in [
            ("override=true", true),
            ("override=false", false),
            (
                "$alt=json;enum-encoding=int&override=true&prettyPrint=false",
                true,
            ),
            ("", false),
        ] {
            let (code, answer) = post(url(query), "").await;
            assert_eq!((code, &answer), (200, &json!({})), "{wiring:?} {query}");
            let received = backend.deploys.lock().unwrap().pop().unwrap();
            assert_eq!(
                (received.name.as_str(), received.r#override),
                (name, expected)
            );
        }
        for (query, message) in [
            ("override=1", "invalid query parameter \"override\": "),
            ("override=True", "invalid query parameter \"override\": "),
            ("override=%20true", "invalid query parameter \"override\": "),
            (
                "override=true&override=false",
                "query parameter \"override\" sets \"override\" a second time",
            ),
            (
                "name=x",
                "query parameter \"name\" sets \"name\" a second time",
            ),
            (
                "nope=1",
                "cannot bind query parameter \"nope\": no such field",
            ),
            (
                "name.x=1",
                "cannot bind query parameter \"name.x\": no such field",
            ),
        ] {
            let (code, answer) = post(url(query), "").await;
            assert_eq!(code, 400, "{wiring:?} {query}: {answer}");
            let text = answer["error"]["message"].as_str().unwrap();
            assert!(text.contains(message), "{wiring:?} {query}: {text}");
        }
        assert!(backend.deploys.lock().unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_come_in_googles_form() {
    for wiring in Wiring::BOTH {
        let addr = serve_wired(Backend::default(), 256, wiring).await;
        let report = format!("http://{addr}/v1/services/s:report");
        let cases: Vec<(reqwest::RequestBuilder, u16, &str, &str)> = vec![
        (plain_http().post(&report).body(r#"{"operations": [{"startTime": "soon"}]}"#), 400, "INVALID_ARGUMENT", "operations[0].startTime"),
        (plain_http().post(&report).body(r#"{"nope": 1}"#), 400, "INVALID_ARGUMENT", "unknown field \"nope\""),
        (plain_http().post(&report).body("{not json"), 400, "INVALID_ARGUMENT", "Invalid JSON payload"),
        (plain_http().post(format!("{report}?serviceConfigId=x")), 400, "INVALID_ARGUMENT", "cannot bind query parameter"),
        (plain_http().post(&report).body("x".repeat(300)), 413, "INVALID_ARGUMENT", "larger than 256 bytes"),
        (plain_http().get(&report), 405, "UNIMPLEMENTED", "not allowed"),
        (plain_http().post(format!("http://{addr}/v1/services/s:nothing")), 404, "NOT_FOUND", "no method"),
        (plain_http().post(format!("http://{addr}/v1/services/s:check")), 403, "PERMISSION_DENIED", "no checks here"),
        (
            plain_http().post(format!(
                "http://{addr}/v1/organizations/o/environments/e/apis/a/revisions/1/deployments:generateUndeployChangeReport"
            )),
            501,
            "UNIMPLEMENTED",
            "not computed here",
        ),
        (
            plain_http()
                .post(format!("http://{addr}/v1/organizations/o/environments/e/apis/a/revisions/1/deployments:generateDeployChangeReport"))
                .body("{}"),
            400,
            "INVALID_ARGUMENT",
            "takes no request body",
        ),
    ];
        for (request, http, status, message) in cases {
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), http, "{wiring:?}");
            let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
            assert_eq!(body["error"]["code"], http, "{body}");
            assert_eq!(body["error"]["status"], status, "{body}");
            let text = body["error"]["message"].as_str().unwrap();
            assert!(text.contains(message), "{text}");
        }
        // Details are the Status details, as Any JSON.
        let response = plain_http()
            .post(format!("http://{addr}/v1/services/s:check"))
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(
            body["error"]["details"],
            json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "NOPE", "domain": "example.com"}])
        );
    }
}

/// Python's urllib (REST) and the official GAPIC client (gRPC) on one port
/// reach the same service with the same request.
#[tokio::test(flavor = "multi_thread")]
async fn python_reaches_both_wires_on_one_port() {
    let backend = Backend::default();
    let addr = serve(backend.clone(), Gateway::DEFAULT_MAX_BODY_BYTES).await;
    let mut request: ReportRequest =
        json::from_str(&golden("google.api.servicecontrol.v1.ReportRequest")).unwrap();
    request.service_name = "py.example.com".into();
    let text = json::to_string(&request).unwrap();
    let answers = tokio::task::spawn_blocking(move || {
        let mut reference = Reference::get();
        let rest = reference.call(json!({
            "op": "http_post", "url": format!("http://{addr}/v1/services/py.example.com:report"), "body": text,
        }));
        let grpc = reference.call(json!({
            "op": "grpc_call", "target": addr.to_string(), "method": "report", "json": text,
        }));
        (rest, grpc)
    })
    .await
    .unwrap();
    assert_eq!(answers.0["status"], 200, "{}", answers.0);
    let rest: ReportResponse = json::from_str(answers.0["body"].as_str().unwrap()).unwrap();
    let grpc: ReportResponse = json::from_str(answers.1["json"].as_str().unwrap()).unwrap();
    assert_eq!(rest, grpc);
    let reports = backend.reports.lock().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(
        json::to_string(&reports[0].0).unwrap(),
        json::to_string(&reports[1].0).unwrap()
    );
    assert_eq!(
        json::to_string(&reports[0].0).unwrap(),
        json::to_string(&request).unwrap()
    );
}

mod client {
    use std::time::Duration;

    use cloud_report_proto::google::api::servicecontrol::v1::ServiceControllerRestClient;
    use cloud_report_proto::google::cloud::apigee::v1::{
        DeploymentServiceRestClient, RuntimeServiceRestClient,
    };
    use cloud_report_proto::rest::RestClient;

    use super::*;

    fn rest(addr: SocketAddr) -> RestClient {
        RestClient::builder(format!("http://{addr}"))
            .bearer_token("t0k3n")
            .build()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn typed_rest_clients_call_every_binding() {
        let backend = Backend::default();
        let addr = serve(backend.clone(), Gateway::DEFAULT_MAX_BODY_BYTES).await;

        let request: ReportRequest =
            json::from_str(&golden("google.api.servicecontrol.v1.ReportRequest")).unwrap();
        let client = ServiceControllerRestClient::new(rest(addr));
        let over_rest = client.report(request.clone()).await.unwrap();
        let mut grpc = ServiceControllerClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let over_grpc = grpc.report(request.clone()).await.unwrap().into_inner();
        assert_eq!(over_rest, over_grpc);
        {
            let reports = backend.reports.lock().unwrap();
            assert_eq!(
                reports[0],
                (request.clone(), Some("Bearer t0k3n".to_owned()))
            );
            assert_eq!(reports[1].0, request);
        }

        let status: ReportInstanceStatusRequest = json::from_str(&golden(
            "google.cloud.apigee.v1.ReportInstanceStatusRequest",
        ))
        .unwrap();
        RuntimeServiceRestClient::new(rest(addr))
            .report_instance_status(status.clone())
            .await
            .unwrap();
        assert_eq!(backend.statuses.lock().unwrap().as_slice(), &[status]);

        let deploy = GenerateDeployChangeReportRequest {
            name: "organizations/o/environments/e/apis/a b/revisions/7".into(),
            r#override: true,
            ..Default::default()
        };
        let report = DeploymentServiceRestClient::new(rest(addr))
            .generate_deploy_change_report(deploy.clone())
            .await
            .unwrap();
        assert_eq!(report, DeploymentChangeReport::default());
        assert_eq!(backend.deploys.lock().unwrap().as_slice(), &[deploy]);
        assert_eq!(
            ServiceControllerRestClient::DEFAULT_BASE_URL,
            "https://servicecontrol.googleapis.com"
        );
        assert_eq!(
            RuntimeServiceRestClient::DEFAULT_BASE_URL,
            "https://apigee.googleapis.com"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn rest_client_errors_are_the_grpc_clients_errors() {
        let addr = serve(Backend::default(), Gateway::DEFAULT_MAX_BODY_BYTES).await;
        let client = ServiceControllerRestClient::new(rest(addr));

        // The server's status, details included.
        let check = CheckRequest {
            service_name: "s.example.com".into(),
            ..Default::default()
        };
        let err = client.check(check).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        let status = Status::try_from(&err).unwrap();
        assert_eq!(
            status.detail::<ErrorInfo>().unwrap().unwrap().reason,
            "NOPE"
        );

        // A request that does not fit the path template never leaves.
        let bad = ReportInstanceStatusRequest {
            instance: "my-instance".into(),
            ..Default::default()
        };
        let err = cloud_report_proto::google::cloud::apigee::v1::RuntimeServiceRestClient::new(
            rest(addr),
        )
        .report_instance_status(bad)
        .await
        .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("instance = \"my-instance\""),
            "{}",
            err.message()
        );

        // Timeouts and unreachable servers.
        let slow = ServiceControllerRestClient::new(
            RestClient::builder(format!("http://{addr}"))
                .timeout(Duration::from_millis(200))
                .build()
                .unwrap(),
        );
        let request = ReportRequest {
            service_name: "slow.example.com".into(),
            ..Default::default()
        };
        assert_eq!(
            slow.report(request).await.unwrap_err().code(),
            tonic::Code::DeadlineExceeded
        );
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let nowhere = ServiceControllerRestClient::new(rest(closed));
        assert_eq!(
            nowhere
                .report(ReportRequest {
                    service_name: "s".into(),
                    ..Default::default()
                })
                .await
                .unwrap_err()
                .code(),
            tonic::Code::Unavailable
        );

        // A failing token source fails the call before it is sent, with
        // UNAVAILABLE (as gRPC reports failed call credentials: to be
        // tried again), naming the source.
        let no_token = ServiceControllerRestClient::new(
            RestClient::builder(format!("http://{addr}"))
                .token_source(|| async { Err("metadata server unreachable".to_owned()) })
                .build()
                .unwrap(),
        );
        let err = no_token
            .report(ReportRequest {
                service_name: "s".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        assert_eq!(
            err.message(),
            "no token from the token source: metadata server unreachable"
        );
        assert!(RestClient::builder("ftp://x").build().is_err());
    }
}

/// The generated Rust gRPC client and the REST client call servers built on
/// the official Python implementation (grpcio, and an HTTP server parsing with
/// json_format): the servers receive exactly the request sent, and both wires
/// answer alike.
#[tokio::test(flavor = "multi_thread")]
async fn rust_clients_call_python_servers() {
    use cloud_report_proto::google::api::servicecontrol::v1::ServiceControllerRestClient;
    use cloud_report_proto::rest::RestClient;
    let ports =
        tokio::task::spawn_blocking(|| Reference::get().call(json!({"op": "start_servers"})))
            .await
            .unwrap();
    let (grpc_port, http_port) = (
        ports["grpc_port"].as_u64().unwrap(),
        ports["http_port"].as_u64().unwrap(),
    );
    let request: ReportRequest =
        json::from_str(&golden("google.api.servicecontrol.v1.ReportRequest")).unwrap();

    let mut grpc = ServiceControllerClient::connect(format!("http://127.0.0.1:{grpc_port}"))
        .await
        .unwrap();
    let over_grpc = grpc.report(request.clone()).await.unwrap().into_inner();
    let rest = ServiceControllerRestClient::new(
        RestClient::builder(format!("http://127.0.0.1:{http_port}"))
            .build()
            .unwrap(),
    );
    let over_rest = rest.report(request.clone()).await.unwrap();
    assert_eq!(over_grpc, over_rest);
    assert_eq!(
        over_rest.service_config_id,
        format!("py-{}", request.service_name)
    );

    let check = CheckRequest {
        service_name: "library.example.com".into(),
        operation: Some(
            cloud_report_proto::google::api::servicecontrol::v1::Operation {
                operation_id: "chk-1".into(),
                ..Default::default()
            },
        ),
        ..Default::default()
    };
    assert_eq!(
        rest.check(check.clone()).await.unwrap().operation_id,
        "chk-1"
    );
    assert_eq!(
        grpc.check(check.clone())
            .await
            .unwrap()
            .into_inner()
            .operation_id,
        "chk-1"
    );

    let served = tokio::task::spawn_blocking(|| Reference::get().call(json!({"op": "served"})))
        .await
        .unwrap();
    let served = served["served"].as_array().unwrap();
    let received: Vec<(String, String, String)> = served
        .iter()
        .map(|s| {
            let binary = support::reference::b64(s["binary"].as_str().unwrap());
            let text = match s["method"].as_str().unwrap() {
                "Report" => json::to_string(
                    &<ReportRequest as prost::Message>::decode(binary.as_slice()).unwrap(),
                ),
                _ => json::to_string(
                    &<CheckRequest as prost::Message>::decode(binary.as_slice()).unwrap(),
                ),
            }
            .unwrap();
            (
                s["wire"].as_str().unwrap().to_owned(),
                s["method"].as_str().unwrap().to_owned(),
                text,
            )
        })
        .collect();
    let report_text = json::to_string(&request).unwrap();
    let check_text = json::to_string(&check).unwrap();
    assert_eq!(
        received,
        [
            ("grpc".to_owned(), "Report".to_owned(), report_text.clone()),
            ("rest".to_owned(), "Report".to_owned(), report_text),
            ("rest".to_owned(), "Check".to_owned(), check_text.clone()),
            ("grpc".to_owned(), "Check".to_owned(), check_text),
        ]
    );
}

/// REST also works over HTTP/2 cleartext (prior knowledge) on the gateway.
#[tokio::test(flavor = "multi_thread")]
async fn rest_over_h2c() {
    let backend = Backend::default();
    let addr = serve(backend.clone(), Gateway::DEFAULT_MAX_BODY_BYTES).await;
    let client = plain_http_builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client
        .post(format!("http://{addr}/v1/services/h2.example.com:report"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert_eq!(
        backend.reports.lock().unwrap()[0].0.service_name,
        "h2.example.com"
    );
}

#[tokio::test]
async fn system_parameters_become_headers_and_verbs() {
    let backend = Backend::default();
    let addr = serve(backend.clone(), 1 << 20).await;
    let http = plain_http();
    let url = format!("http://{addr}/v1/services/sp.example.com:report");
    let answer = http
        .post(format!(
            "{url}?key=K&userProject=P&quotaUser=Q&access_token=T&$.xgafv=2"
        ))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // A header the caller sent wins over the parameter.
    let answer = http
        .post(format!("{url}?key=fromQuery"))
        .header("x-goog-api-key", "fromHeader")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    {
        let seen = backend.metadata.lock().unwrap();
        assert_eq!(seen[0]["x-goog-api-key"], "K");
        assert_eq!(seen[0]["x-goog-user-project"], "P");
        assert_eq!(seen[0]["x-goog-quota-user"], "Q");
        assert_eq!(seen[0]["authorization"], "Bearer T");
        assert_eq!(seen[1]["x-goog-api-key"], "fromHeader");
    }
    // $.xgafv names an error format, 1 or 2.
    let bad = http
        .post(format!("{url}?$.xgafv=3"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    // X-HTTP-Method-Override: a POST standing for GET is routed as a GET.
    let overridden = http
        .post(&url)
        .header("x-http-method-override", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(overridden.status(), 405);
    assert!(overridden.text().await.unwrap().contains("method GET"));
    let same = http
        .post(&url)
        .header("x-http-method-override", "post")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    assert_eq!(backend.metadata.lock().unwrap().len(), 3);
}

/// A message of the user's own, for `Any` payloads.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
struct Shipped {
    #[prost(string, tag = "1")]
    order: String,
}

impl prost::Name for Shipped {
    const NAME: &'static str = "Shipped";
    const PACKAGE: &'static str = "shop.v1";
    fn type_url() -> String {
        format!("type.googleapis.com/{}", Self::full_name())
    }
}

/// A user's `Any` type reaches the service over REST when the client and
/// the gateway are both given it (`type_registry`), on either wiring; a
/// client without it cannot write the request, a gateway without it refuses
/// the body, naming the type.
#[tokio::test]
async fn users_any_types_travel_with_a_type_registry_on_both_ends() {
    use cloud_report_proto::google::api::servicecontrol::v1::{
        LogEntry, Operation, ServiceControllerRestClient, log_entry,
    };
    use cloud_report_proto::google::protobuf::Any;
    use cloud_report_proto::registry::TypeRegistry;
    use cloud_report_proto::rest::RestClient;
    let types = TypeRegistry::new().with::<Shipped>();
    let payload = Any::from_msg(&Shipped {
        order: "A-1".into(),
    });
    let report = ReportRequest {
        service_name: "shop.example.com".into(),
        operations: vec![Operation {
            operation_id: "op-1".into(),
            log_entries: vec![LogEntry {
                name: "orders".into(),
                payload: Some(log_entry::Payload::ProtoPayload(payload.clone())),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    for wiring in Wiring::BOTH {
        let backend = Backend::default();
        for (gateway_types, client_types) in [(false, true), (true, false), (true, true)] {
            let mut gateway = match wiring {
                Wiring::Tonic => {
                    Gateway::new().add_service(ServiceControllerServer::new(backend.clone()))
                }
                Wiring::Typed => Gateway::new()
                    .add_rest_service(ServiceControllerRestServer::new(backend.clone())),
            };
            if gateway_types {
                gateway = gateway.type_registry(types.clone());
            }
            let gateway = gateway.into_router();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, gateway).await.unwrap() });
            let mut builder = RestClient::builder(format!("http://{addr}"));
            if client_types {
                builder = builder.type_registry(types.clone());
            }
            let client = ServiceControllerRestClient::new(builder.build().unwrap());
            let answer = client.report(report.clone()).await;
            match (gateway_types, client_types) {
                (true, true) => {
                    answer.unwrap_or_else(|e| panic!("{wiring:?}: {e:?}"));
                    let received = backend.reports.lock().unwrap().last().unwrap().0.clone();
                    let Some(log_entry::Payload::ProtoPayload(got)) =
                        &received.operations[0].log_entries[0].payload
                    else {
                        panic!("{wiring:?}: no payload");
                    };
                    assert_eq!(got, &payload, "{wiring:?}");
                }
                (_, false) => {
                    let error = answer.unwrap_err();
                    assert!(error.message().contains("shop.v1.Shipped"), "{error:?}");
                }
                (false, true) => {
                    let error = answer.unwrap_err();
                    assert_eq!(error.code(), tonic::Code::InvalidArgument, "{error:?}");
                    assert!(error.message().contains("shop.v1.Shipped"), "{error:?}");
                }
            }
        }
    }
}
