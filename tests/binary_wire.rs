//! Binary protobuf over HTTP, the wire ESP and ESPv2 call Service Control
//! with: `POST /v1/services/{name}:check|:allocateQuota|:report`,
//! `Content-Type: application/x-protobuf`, the answer read as binary. The
//! emulator on 127.0.0.1 is called by the official Python classes the way
//! ESP calls it, with ESPv2's label and metric names, and by the crate's
//! REST clients in binary mode.
#![cfg(feature = "cli")]

use crate::support;
use crate::support::plain_http;

use std::net::SocketAddr;

use cloud_report_proto::emulator::{Config, Emulator, Running};
use cloud_report_proto::google::api::servicecontrol::v1::{
    AllocateQuotaRequest, CheckRequest, Operation, QuotaControllerRestClient, ReportRequest,
    ServiceControllerRestClient, check_error,
};
use cloud_report_proto::google::cloud::apigee::v1::{
    GenerateDeployChangeReportRequest, ReportInstanceStatusRequest, RuntimeServiceRestClient,
};
use cloud_report_proto::google::rpc::Status;
use cloud_report_proto::json;
use cloud_report_proto::rest::{PROTO_CONTENT_TYPE, RestClient};
use prost::Message;
use serde_json::{Value, json};
use support::reference::Reference;

const SERVICE: &str = "bookstore.endpoints.my-project.cloud.goog";

async fn start(config: Config) -> Running {
    Emulator::start(config).await.unwrap()
}

/// A Check as ESPv2 sends it for an API-key call.
fn espv2_check() -> Value {
    json!({
        "serviceName": SERVICE,
        "serviceConfigId": "2024-01-01r0",
        "operation": {
            "operationId": "a0e7cd3d-6f0c-4b0e-9a31-4d8d5c0e9b11",
            "operationName": "1.bookstore_endpoints_my_project_cloud_goog.ListShelves",
            "consumerId": "api_key:AIzaSyB-example",
            "startTime": "2024-01-01T00:00:00Z",
            "labels": {
                "servicecontrol.googleapis.com/caller_ip": "10.0.0.7",
                "servicecontrol.googleapis.com/referer": "https://example.com/",
                "servicecontrol.googleapis.com/service_agent": "ESPv2/2.45.0",
                "servicecontrol.googleapis.com/user_agent": "ESPv2"
            }
        }
    })
}

/// An AllocateQuota as ESPv2 sends it.
fn espv2_quota() -> Value {
    json!({
        "serviceName": SERVICE,
        "serviceConfigId": "2024-01-01r0",
        "allocateOperation": {
            "operationId": "b1f8de4e-7a1d-4c1f-8b42-5e9e6d1f0c22",
            "methodName": "1.bookstore_endpoints_my_project_cloud_goog.ListShelves",
            "consumerId": "api_key:AIzaSyB-example",
            "quotaMetrics": [{"metricName": "read-requests", "metricValues": [{"int64Value": "1"}]}],
            "quotaMode": "BEST_EFFORT"
        }
    })
}

/// A Report as ESPv2 sends it: the serviceruntime labels and metrics and the
/// endpoints log.
fn espv2_report(id: &str) -> Value {
    json!({
        "serviceName": SERVICE,
        "serviceConfigId": "2024-01-01r0",
        "operations": [{
            "operationId": id,
            "operationName": "1.bookstore_endpoints_my_project_cloud_goog.ListShelves",
            "consumerId": "api_key:AIzaSyB-example",
            "startTime": "2024-01-01T00:00:00Z",
            "endTime": "2024-01-01T00:00:00.012Z",
            "labels": {
                "/credential_id": "apikey:AIzaSyB-example",
                "/protocol": "http",
                "/response_code": "200",
                "/response_code_class": "2xx",
                "/status_code": "0",
                "cloud.googleapis.com/location": "us-central1",
                "serviceruntime.googleapis.com/api_method": "1.bookstore_endpoints_my_project_cloud_goog.ListShelves",
                "serviceruntime.googleapis.com/api_version": "1.0.0",
                "servicecontrol.googleapis.com/platform": "GKE",
                "servicecontrol.googleapis.com/service_agent": "ESPv2/2.45.0",
                "servicecontrol.googleapis.com/user_agent": "ESPv2"
            },
            "metricValueSets": [
                {"metricName": "serviceruntime.googleapis.com/api/consumer/request_count",
                 "metricValues": [{"int64Value": "1"}]},
                {"metricName": "serviceruntime.googleapis.com/api/producer/request_count",
                 "metricValues": [{"int64Value": "1"}]},
                {"metricName": "serviceruntime.googleapis.com/api/consumer/request_sizes",
                 "metricValues": [{"distributionValue": {
                     "count": "1", "mean": 512, "minimum": 512, "maximum": 512,
                     "exponentialBuckets": {"numFiniteBuckets": 8, "growthFactor": 10, "scale": 1},
                     "bucketCounts": ["0", "0", "0", "1", "0", "0", "0", "0", "0", "0"]}}]},
                {"metricName": "serviceruntime.googleapis.com/api/producer/backend_latencies",
                 "metricValues": [{"distributionValue": {
                     "count": "1", "mean": 11.5, "minimum": 11.5, "maximum": 11.5,
                     "exponentialBuckets": {"numFiniteBuckets": 29, "growthFactor": 2, "scale": 1e-6},
                     "bucketCounts": ["0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "1"]}}]}
            ],
            "logEntries": [{
                "name": "endpoints_log",
                "timestamp": "2024-01-01T00:00:00.012Z",
                "severity": "INFO",
                "structPayload": {
                    "api_key": "AIzaSyB-example",
                    "http_method": "GET",
                    "http_response_code": 200,
                    "request_latency_in_ms": 12,
                    "url": "/shelves"
                }
            }]
        }]
    })
}

fn esp_call(
    addr: SocketAddr,
    verb: &str,
    request_type: &str,
    response_type: &str,
    request: &Value,
) -> Value {
    let answer = Reference::get().call(json!({
        "op": "http_proto",
        "url": format!("http://{addr}/v1/services/{SERVICE}:{verb}"),
        "type": request_type,
        "json": request.to_string(),
        "response": response_type,
    }));
    assert!(answer.get("error").is_none(), "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn esp_calls_all_three_methods_in_binary() {
    let mut config = Config::default();
    config
        .denied_consumers
        .insert("api_key:denied".into(), check_error::Code::ApiKeyInvalid);
    let running = start(config).await;
    let (addr, emulator) = (running.addr(), running.emulator());

    let answer = esp_call(
        addr,
        "check",
        "google.api.servicecontrol.v1.CheckRequest",
        "google.api.servicecontrol.v1.CheckResponse",
        &espv2_check(),
    );
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["content_type"], PROTO_CONTENT_TYPE);
    let check: Value = serde_json::from_str(answer["json"].as_str().unwrap()).unwrap();
    assert_eq!(check["operationId"], "a0e7cd3d-6f0c-4b0e-9a31-4d8d5c0e9b11");
    // Without a configuration the answer carries the emulator's own id, not
    // the request's.
    assert_eq!(check["serviceConfigId"], "emulator-config");
    assert!(check.get("checkErrors").is_none(), "{check}");

    let mut denied = espv2_check();
    denied["operation"]["consumerId"] = json!("api_key:denied");
    let answer = esp_call(
        addr,
        "check",
        "google.api.servicecontrol.v1.CheckRequest",
        "google.api.servicecontrol.v1.CheckResponse",
        &denied,
    );
    let check: Value = serde_json::from_str(answer["json"].as_str().unwrap()).unwrap();
    assert_eq!(check["checkErrors"][0]["code"], "API_KEY_INVALID");

    let answer = esp_call(
        addr,
        "allocateQuota",
        "google.api.servicecontrol.v1.AllocateQuotaRequest",
        "google.api.servicecontrol.v1.AllocateQuotaResponse",
        &espv2_quota(),
    );
    assert_eq!(answer["status"], 200);
    let quota: Value = serde_json::from_str(answer["json"].as_str().unwrap()).unwrap();
    assert_eq!(quota["operationId"], "b1f8de4e-7a1d-4c1f-8b42-5e9e6d1f0c22");

    let report = espv2_report("c2a9ef5f-8b2e-4d20-9c53-6fa07e2a1d33");
    let answer = esp_call(
        addr,
        "report",
        "google.api.servicecontrol.v1.ReportRequest",
        "google.api.servicecontrol.v1.ReportResponse",
        &report,
    );
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["content_type"], PROTO_CONTENT_TYPE);
    // What was stored is what was sent, field for field.
    let sent: ReportRequest = json::from_str(&report.to_string()).unwrap();
    assert_eq!(emulator.operations(SERVICE), sent.operations);

    // An error comes back as a binary google.rpc.Status with the HTTP status
    // of its code.
    let mut invalid = espv2_report("");
    invalid["operations"][0]["operationId"] = json!("");
    invalid["operations"][0]["metricValueSets"][1] =
        invalid["operations"][0]["metricValueSets"][0].clone();
    let answer = esp_call(
        addr,
        "report",
        "google.api.servicecontrol.v1.ReportRequest",
        "google.api.servicecontrol.v1.ReportResponse",
        &invalid,
    );
    assert_eq!(answer["status"], 400);
    assert_eq!(answer["content_type"], PROTO_CONTENT_TYPE);
    let status: Value = serde_json::from_str(answer["json"].as_str().unwrap()).unwrap();
    assert_eq!(status["code"], 3);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("identical labels")
    );
}

/// ESPv2's three calls against the example configuration and state: the
/// Python reference reads each binary answer the way ESPv2 reads it.
#[tokio::test(flavor = "multi_thread")]
async fn esp_calls_the_configured_emulator_in_binary() {
    use cloud_report_proto::emulator::ManualClock;
    use cloud_report_proto::service_config::ServiceConfig;
    let clock =
        ManualClock::new(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_040));
    let config = Config::default()
        .clock(clock.clone())
        .state_json(include_str!("../examples/service-state.json"))
        .unwrap()
        .service_config(ServiceConfig::load("../examples/service-config.yaml").unwrap());
    let running = start(config).await;
    let (addr, emulator) = (running.addr(), running.emulator());
    let call = |verb: &str, request: &Value| {
        let (request_type, response_type) = match verb {
            "check" => ("CheckRequest", "CheckResponse"),
            "allocateQuota" => ("AllocateQuotaRequest", "AllocateQuotaResponse"),
            _ => ("ReportRequest", "ReportResponse"),
        };
        let answer = esp_call(
            addr,
            verb,
            &format!("google.api.servicecontrol.v1.{request_type}"),
            &format!("google.api.servicecontrol.v1.{response_type}"),
            request,
        );
        assert_eq!(answer["status"], 200, "{answer}");
        assert_eq!(answer["content_type"], PROTO_CONTENT_TYPE);
        serde_json::from_str::<Value>(answer["json"].as_str().unwrap()).unwrap()
    };
    let with_key = |mut request: Value, field: &str, key: &str| {
        request[field]["consumerId"] = json!(format!("api_key:{key}"));
        request
    };

    // Check: the key's project and uid, or the key's error.
    let check = call("check", &with_key(espv2_check(), "operation", "AIza-good"));
    assert!(check.get("checkErrors").is_none(), "{check}");
    assert_eq!(check["checkInfo"]["apiKeyUid"], "apikey:key-uid-good");
    assert_eq!(
        check["checkInfo"]["consumerInfo"]["projectNumber"],
        "123456789012"
    );
    let check = call(
        "check",
        &with_key(espv2_check(), "operation", "AIza-expired"),
    );
    assert_eq!(check["checkErrors"][0]["code"], "API_KEY_EXPIRED");

    // AllocateQuota as ESPv2 sends it (NORMAL, its own quota metrics):
    // five reads a minute for the key's project, then RESOURCE_EXHAUSTED,
    // the code ESPv2 turns into 429.
    let mut quota = with_key(espv2_quota(), "allocateOperation", "AIza-good");
    quota["allocateOperation"]["quotaMode"] = json!("NORMAL");
    for i in 0..6 {
        quota["allocateOperation"]["operationId"] = json!(format!("quota-{i}"));
        let answer = call("allocateQuota", &quota);
        if i < 5 {
            assert!(answer.get("allocateErrors").is_none(), "{answer}");
            assert_eq!(
                answer["quotaMetrics"][0]["metricValues"][0],
                json!({"labels": {"/quota_name": "read-requests"}, "int64Value": "1"})
            );
        } else {
            assert_eq!(
                answer["allocateErrors"][0]["code"], "RESOURCE_EXHAUSTED",
                "{answer}"
            );
            assert_eq!(answer["allocateErrors"][0]["status"]["code"], 8);
        }
    }
    clock.advance(std::time::Duration::from_secs(60));
    let answer = call("allocateQuota", &quota);
    assert!(
        answer.get("allocateErrors").is_none(),
        "a new minute: {answer}"
    );

    // Report: ESPv2's labels, metrics and log are all the configuration's;
    // one more label is not.
    let mut report = espv2_report("esp-1");
    report["operations"][0]["consumerId"] = json!("api_key:AIza-good");
    let mut bad = report["operations"][0].clone();
    bad["operationId"] = json!("esp-2");
    bad["labels"]["made/up"] = json!("x");
    report["operations"].as_array_mut().unwrap().push(bad);
    let answer = call("report", &report);
    assert_eq!(
        answer["reportErrors"].as_array().unwrap().len(),
        1,
        "{answer}"
    );
    assert_eq!(answer["reportErrors"][0]["operationId"], "esp-2");
    assert!(
        answer["reportErrors"][0]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("made/up"),
        "{answer}"
    );
    let stored = emulator.operations(SERVICE);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].operation_id, "esp-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn encodings_follow_content_type_ct_and_alt() {
    let running = start(Config::default()).await;
    let addr = running.addr();
    let url = format!("http://{addr}/v1/services/{SERVICE}:report");
    let request: ReportRequest = json::from_str(&espv2_report("d3").to_string()).unwrap();
    let http = plain_http();
    let send = |url: String, content_type: &'static str, body: Vec<u8>| {
        let http = http.clone();
        async move {
            let answer = http
                .post(url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let content_type = answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            (status, content_type, answer.bytes().await.unwrap().to_vec())
        }
    };
    // Binary in, JSON out with alt=json.
    let (status, content_type, body) = send(
        format!("{url}?alt=json"),
        PROTO_CONTENT_TYPE,
        request.encode_to_vec(),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/json; charset=utf-8")
    );
    assert!(String::from_utf8(body).unwrap().contains("serviceConfigId"));
    // JSON in, binary out with $alt=proto.
    let json_body = json::to_vec(&request).unwrap();
    let (status, content_type, _) = send(
        format!("{url}?$alt=proto"),
        "application/json",
        json_body.clone(),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (200, PROTO_CONTENT_TYPE));
    // $ct says the body is binary whatever the header says.
    let (status, content_type, _) = send(
        format!("{url}?$ct=application/x-protobuf"),
        "text/plain",
        request.encode_to_vec(),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (200, PROTO_CONTENT_TYPE));
    // A body that is not protobuf: 400, binary Status, naming the offset.
    let (status, content_type, body) =
        send(url.clone(), PROTO_CONTENT_TYPE, vec![0x0a, 0xff, 0xff]).await;
    assert_eq!((status, content_type.as_str()), (400, PROTO_CONTENT_TYPE));
    let error = Status::decode(&body[..]).unwrap();
    assert_eq!(error.code, 3);
    assert!(
        error.message.starts_with("Invalid proto payload received."),
        "{}",
        error.message
    );
    assert!(error.message.contains("byte"), "{}", error.message);
    // An unknown alt: 400 in JSON.
    let (status, _, body) = send(format!("{url}?alt=media"), "application/json", json_body).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8(body).unwrap().contains("alt=media"));
}

/// `$alt=json;enum-encoding=int`, what Google's generated REST clients
/// send on every call, on every binding of every service: the same answer
/// as `alt=json`, with enums as numbers; a body with numeric enums is read.
#[tokio::test(flavor = "multi_thread")]
async fn generated_clients_alt_is_answered_on_every_binding() {
    let state = include_str!("../examples/deployment-state.json");
    let running = start(
        Config::default()
            .state_json(state)
            .unwrap()
            .deny_consumer("api_key:blocked", check_error::Code::ApiKeyInvalid),
    )
    .await;
    let base = running.url();
    let http = plain_http();
    let check_error = json!({"serviceName": SERVICE, "operation": {
        "operationId": "c1", "consumerId": "api_key:blocked", "startTime": "2024-01-01T00:00:00Z"}});
    let quota_error = json!({"serviceName": SERVICE, "allocateOperation": {
        "operationId": "q1", "consumerId": "api_key:blocked", "quotaMode": 1}});
    let revision = "organizations/acme/environments/prod/apis/orders/revisions/2";
    // (path, body, the response type, a field that holds an enum or "")
    let calls = [
        (
            format!("/v1/services/{SERVICE}:check"),
            check_error,
            "google.api.servicecontrol.v1.CheckResponse",
            "checkErrors",
        ),
        (
            format!("/v1/services/{SERVICE}:allocateQuota"),
            quota_error,
            "google.api.servicecontrol.v1.AllocateQuotaResponse",
            "allocateErrors",
        ),
        (
            format!("/v1/services/{SERVICE}:report"),
            espv2_report("alt-1"),
            "google.api.servicecontrol.v1.ReportResponse",
            "",
        ),
        (
            format!("/v1/{revision}/deployments:generateDeployChangeReport"),
            Value::Null,
            "google.cloud.apigee.v1.DeploymentChangeReport",
            "",
        ),
        (
            format!("/v1/{revision}/deployments:generateUndeployChangeReport"),
            Value::Null,
            "google.cloud.apigee.v1.DeploymentChangeReport",
            "",
        ),
        (
            "/v1/organizations/acme/instances/i1:reportStatus".to_owned(),
            json!({"instanceUid": "u", "reportTime": "2024-01-01T00:00:00Z"}),
            "google.cloud.apigee.v1.ReportInstanceStatusResponse",
            "",
        ),
    ];
    assert_eq!(calls.len(), cloud_report_proto::rest::bindings().len());
    for (path, body, response_type, enum_field) in calls {
        let entry = cloud_report_proto::registry::lookup(response_type).unwrap();
        let mut answers = Vec::new();
        for alt in ["json", "json;enum-encoding=int"] {
            let mut request = http
                .post(format!("{base}{path}"))
                .query(&[("$alt", alt)])
                .header(
                    "x-goog-api-client",
                    "gl-python/3.11.2 rest/2.0.0 gapic/1.22.0",
                )
                .header("x-goog-request-params", format!("service_name={SERVICE}"));
            if !body.is_null() {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap();
            assert_eq!(status, 200, "{path} alt={alt}: {text}");
            let value: Value = serde_json::from_str(&text).unwrap();
            if !enum_field.is_empty() {
                let code = &value[enum_field][0]["code"];
                match alt {
                    "json" => assert!(code.is_string(), "{path}: {text}"),
                    _ => assert!(code.is_i64(), "{path}: {text}"),
                }
            }
            answers.push(entry.json_to_binary(text.as_bytes()).unwrap());
        }
        assert_eq!(answers[0], answers[1], "{path}");
    }
    // Anything else is still refused, naming what is supported.
    let answer = http
        .post(format!("{base}/v1/services/{SERVICE}:check"))
        .query(&[("$alt", "json;enum-encoding=string")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("json, json;enum-encoding=int or proto")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_rest_clients_call_every_binding() {
    let running = start(Config::default()).await;
    let (addr, emulator) = (running.addr(), running.emulator());
    let rest = || {
        RestClient::builder(format!("http://{addr}"))
            .binary(true)
            .build()
            .unwrap()
    };
    let report: ReportRequest = json::from_str(&espv2_report("e4").to_string()).unwrap();
    let control = ServiceControllerRestClient::new(rest());
    let answer = control.report(report.clone()).await.unwrap();
    assert!(answer.report_errors.is_empty());
    assert_eq!(emulator.operations(SERVICE), report.operations);
    let check: CheckRequest = json::from_str(&espv2_check().to_string()).unwrap();
    assert_eq!(
        control.check(check).await.unwrap().operation_id,
        "a0e7cd3d-6f0c-4b0e-9a31-4d8d5c0e9b11"
    );
    let quota: AllocateQuotaRequest = json::from_str(&espv2_quota().to_string()).unwrap();
    let quotas = QuotaControllerRestClient::new(rest());
    assert_eq!(
        quotas
            .allocate_quota(quota)
            .await
            .unwrap()
            .quota_metrics
            .len(),
        1
    );
    // Errors read from the binary Status.
    let error = control
        .report(ReportRequest {
            service_name: SERVICE.into(),
            operations: vec![Operation::default(); 2]
                .into_iter()
                .map(|mut op| {
                    op.metric_value_sets = report.operations[0].metric_value_sets[..1].to_vec();
                    op.metric_value_sets.push(op.metric_value_sets[0].clone());
                    op
                })
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(
        error.message().contains("identical labels"),
        "{}",
        error.message()
    );
    // Apigee: a body that is the whole request, and one with no body at all.
    let runtime = RuntimeServiceRestClient::new(rest());
    runtime
        .report_instance_status(ReportInstanceStatusRequest {
            instance: "organizations/acme/instances/i1".into(),
            instance_uid: "u1".into(),
            report_time: Some("2024-01-01T00:00:00Z".parse().unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        emulator.statuses("organizations/acme/instances/i1").len(),
        1
    );
    let deployments =
        cloud_report_proto::google::cloud::apigee::v1::DeploymentServiceRestClient::new(rest());
    let error = deployments
        .generate_deploy_change_report(GenerateDeployChangeReportRequest {
            name: "organizations/nobody/environments/e/apis/a/revisions/1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::NotFound);
}

/// POSTs a JSON body and reads the answer as JSON.
async fn post_json(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    let answer = http.post(url).body(body.to_string()).send().await.unwrap();
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn fields_cut_answers_as_the_references_field_mask_does() {
    let running =
        start(Config::default().deny_consumer("api_key:denied", check_error::Code::ApiKeyInvalid))
            .await;
    let mut check = espv2_check();
    check["operation"]["consumerId"] = json!("api_key:denied");
    let url = format!("{}/v1/services/{SERVICE}:check", running.url());
    let http = plain_http();
    let full = post_json(&http, &url, &check).await;
    assert!(
        full.get("checkErrors").is_some() && full.get("checkInfo").is_some(),
        "{full}"
    );
    for mask in [
        "operationId",
        "operationId,serviceConfigId",
        "checkInfo.consumerInfo",
        "checkInfo,checkInfo.consumerInfo",
        "checkErrors",
        "serviceRolloutId,checkInfo.consumerInfo.projectNumber",
    ] {
        let theirs = Reference::get().call(json!({
            "op": "mask",
            "type": "google.api.servicecontrol.v1.CheckResponse",
            "json": full.to_string(),
            "mask": mask,
        }));
        let theirs: Value = serde_json::from_str(theirs["json"].as_str().unwrap()).unwrap();
        // The query parameter, $fields, and the header, in JSON and binary.
        for (query, header) in [
            (format!("?fields={mask}"), None),
            (format!("?$fields={mask}"), None),
            (String::new(), Some(mask)),
        ] {
            let mut call = http.post(format!("{url}{query}")).body(check.to_string());
            if let Some(mask) = header {
                call = call.header("x-goog-fieldmask", mask);
            }
            let ours: Value =
                serde_json::from_slice(&call.send().await.unwrap().bytes().await.unwrap()).unwrap();
            assert_eq!(ours, theirs, "{mask}");
        }
        let binary = http
            .post(format!("{url}?fields={mask}&alt=proto"))
            .body(check.to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let decoded =
            cloud_report_proto::google::api::servicecontrol::v1::CheckResponse::decode(&binary[..])
                .unwrap();
        assert_eq!(serde_json::to_value(&decoded).unwrap(), theirs, "{mask}");
    }
    // Elements of a list are cut alike.
    let ours = post_json(&http, &format!("{url}?fields=checkErrors.code"), &check).await;
    assert_eq!(ours, json!({"checkErrors": [{"code": "API_KEY_INVALID"}]}));
    // A mask that is not one: 400.
    let bad = http
        .post(format!("{url}?fields=operation_id"))
        .body(check.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("invalid fields"));
}

/// One value as ESPv2 reports it in an exponential distribution
/// (`request_builder.cc`: times 29 buckets ×2 from 1e-6 s, sizes 8 buckets
/// ×10 from 1 byte): count 1, the value as mean, minimum and maximum, and
/// every bucket counted, underflow and overflow included.
fn espv2_distribution(value: f64, buckets: i32, growth: f64, scale: f64) -> Value {
    let mut counts = vec!["0"; buckets as usize + 2];
    let index = if value < scale {
        0
    } else {
        let finite = ((value / scale).ln() / growth.ln()).floor() as usize + 1;
        finite.min(buckets as usize + 1)
    };
    counts[index] = "1";
    json!({"distributionValue": {
        "count": "1", "mean": value, "minimum": value, "maximum": value,
        "exponentialBuckets": {"numFiniteBuckets": buckets, "growthFactor": growth, "scale": scale},
        "bucketCounts": counts}})
}

/// The operations ESPv2's request builder makes, for an API-key call (with
/// the by-consumer operation it adds when Check named the consumer's
/// project), a JWT call refused with 401, and a keyless call: each operation
/// carries the labels of every metric the service reports, whichever
/// metrics it holds, and the emulator given a configuration like ESPv2's
/// test configurations accepts them all, over ESPv2's binary wire.
#[tokio::test(flavor = "multi_thread")]
async fn espv2_operations_of_every_credential_are_accepted() {
    use cloud_report_proto::service_config::ServiceConfig;
    const ECHO: &str = "echo-api.endpoints.my-project.cloud.goog";
    const METHOD: &str = "1.echo_api_endpoints_my_project_cloud_goog.Echo";
    let config = ServiceConfig::from_yaml(&config_yaml()).unwrap();
    let state = json!({
        "projects": {"my-project": {"number": 123456, "enabledServices": [ECHO]}},
        "apiKeys": {"AIza-echo": {"project": "my-project", "uid": "u-1"}}
    });
    let running = start(
        Config::default()
            .service_config(config)
            .state_json(&state.to_string())
            .unwrap(),
    )
    .await;
    let post = |verb: &'static str, request_type: &'static str, request: Value| {
        let url = format!("{}/v1/services/{ECHO}:{verb}", running.url());
        async move {
            let entry = cloud_report_proto::registry::lookup(request_type).unwrap();
            let body = entry
                .json_to_binary(request.to_string().as_bytes())
                .unwrap();
            let answer = plain_http()
                .post(url)
                .header("content-type", PROTO_CONTENT_TYPE)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            answer.bytes().await.unwrap()
        }
    };
    let system = json!({
        "cloud.googleapis.com/location": "us-central1",
        "servicecontrol.googleapis.com/platform": "GKE(ESPv2)",
        "servicecontrol.googleapis.com/service_agent": "ESPv2/2.45.0",
        "servicecontrol.googleapis.com/user_agent": "ESPv2",
        "serviceruntime.googleapis.com/api_method": METHOD,
        "serviceruntime.googleapis.com/api_version": "1.0.0",
    });
    let with = |extra: Value| {
        let mut labels = system.clone();
        for (k, v) in extra.as_object().unwrap() {
            labels[k] = v.clone();
        }
        labels
    };

    // Check of the API key, as ESPv2 sends it.
    let check = json!({"serviceName": ECHO, "serviceConfigId": "test-config-id", "operation": {
        "operationId": "c-1", "operationName": METHOD, "consumerId": "api_key:AIza-echo",
        "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T00:00:00Z",
        "labels": {"servicecontrol.googleapis.com/caller_ip": "10.0.0.7",
                   "servicecontrol.googleapis.com/service_agent": "ESPv2/2.45.0",
                   "servicecontrol.googleapis.com/user_agent": "ESPv2"}}});
    let answer = post("check", "google.api.servicecontrol.v1.CheckRequest", check).await;
    let answer =
        cloud_report_proto::google::api::servicecontrol::v1::CheckResponse::decode(answer).unwrap();
    assert!(answer.check_errors.is_empty(), "{answer:?}");
    let info = answer.check_info.unwrap();
    // ESPv2 copies the uid into /credential_id as it comes.
    assert_eq!(info.api_key_uid, "apikey:u-1");
    assert_eq!(answer.service_config_id, "test-config-id");

    let time = |v: f64| espv2_distribution(v, 29, 2.0, 1e-6);
    let size = |v: f64| espv2_distribution(v, 8, 10.0, 1.0);
    let status = json!({"/protocol": "http", "/response_code": "200", "/response_code_class": "2xx", "/status_code": "0"});
    let log = |severity: &str, status: i32| {
        json!({
        "name": "endpoints_log", "timestamp": "2024-01-01T00:00:00.012Z", "severity": severity,
        "httpRequest": {"requestMethod": "POST", "requestUrl": "/echo", "status": status, "protocol": "http"},
        "structPayload": {"api_key_state": "VERIFIED", "service_agent": "ESPv2/2.45.0",
                          "service_config_id": "test-config-id", "http_status_code": status,
                          "api_method": METHOD, "log_message": format!("{METHOD} is called")}})
    };
    let op = |id: &str, labels: Value, metrics: Value, logs: Value| {
        json!({
        "operationId": id, "operationName": METHOD,
        "startTime": "2024-01-01T00:00:00.012Z", "endTime": "2024-01-01T00:00:00.012Z",
        "labels": labels, "metricValueSets": metrics, "logEntries": logs})
    };
    let set = |name: &str, value: Value| json!({"metricName": format!("serviceruntime.googleapis.com/api/{name}"), "metricValues": [value]});
    let one = json!({"int64Value": "1"});

    let mut keyed_labels = with(status.clone());
    keyed_labels["/credential_id"] = json!("apikey:AIza-echo");
    let mut keyed = op(
        "k-1",
        keyed_labels.clone(),
        json!([
            set("consumer/request_count", one.clone()),
            set("producer/request_count", one.clone()),
            set("consumer/request_sizes", size(512.0)),
            set("producer/request_sizes", size(512.0)),
            set("consumer/response_sizes", size(1_048_576.0)),
            set("producer/response_sizes", size(1_048_576.0)),
            set("consumer/total_latencies", time(0.123)),
            set("producer/total_latencies", time(0.123)),
            set("producer/backend_latencies", time(0.1)),
            set("producer/request_overhead_latencies", time(0.023)),
        ]),
        json!([log("INFO", 200)]),
    );
    keyed["consumerId"] = json!("api_key:AIza-echo");
    // The by-consumer operation: the id with "1" appended, every label and
    // the consumer's project, the by_consumer metrics, no log.
    let mut by_consumer_labels = keyed_labels;
    by_consumer_labels["serviceruntime.googleapis.com/consumer_project"] = json!("123456");
    let mut by_consumer = op(
        "k-11",
        by_consumer_labels,
        json!([
            set("producer/by_consumer/request_count", one.clone()),
            set("producer/by_consumer/request_sizes", size(512.0)),
            set("producer/by_consumer/total_latencies", time(0.123)),
        ]),
        json!([]),
    );
    by_consumer["consumerId"] = json!("api_key:AIza-echo");
    // A JWT call refused with 401: no consumer, producer metrics only, the
    // credential named by its issuer and audience.
    let mut jwt_labels = with(json!({"/protocol": "http", "/response_code": "401",
        "/response_code_class": "4xx", "/status_code": "16"}));
    jwt_labels["/credential_id"] =
        json!("jwtauth:issuer=YXV0aC1pc3N1ZXI&audience=YXV0aC1hdWRpZW5jZQ");
    let jwt = op(
        "j-1",
        jwt_labels,
        json!([
            set("producer/request_count", one.clone()),
            set("producer/total_latencies", time(0.002)),
        ]),
        json!([log("ERROR", 401)]),
    );
    // A keyless call of a method that allows unregistered callers.
    let mut keyless = op(
        "n-1",
        with(status),
        json!([
            set("producer/request_count", one),
            set("producer/request_sizes", size(0.0)),
            // 500 ns: ESPv2 measures whole milliseconds, so 0.
            set("producer/total_latencies", time(0.0)),
        ]),
        json!([log("INFO", 200)]),
    );
    keyless["operationName"] = json!("1.echo_api_endpoints_my_project_cloud_goog.Echo_nokey");
    keyless["labels"]["serviceruntime.googleapis.com/api_method"] =
        keyless["operationName"].clone();
    let expected = [&keyed, &by_consumer, &jwt, &keyless];
    built_by_the_request_builder_as_written(&config_yaml(), &expected);
    let report = json!({"serviceName": ECHO, "serviceConfigId": "test-config-id",
        "operations": [keyed, by_consumer, jwt, keyless]});
    let answer = post(
        "report",
        "google.api.servicecontrol.v1.ReportRequest",
        report,
    )
    .await;
    let answer =
        cloud_report_proto::google::api::servicecontrol::v1::ReportResponse::decode(answer)
            .unwrap();
    assert!(answer.report_errors.is_empty(), "{answer:?}");
    assert_eq!(answer.service_config_id, "test-config-id");
    let stored: Vec<String> = running
        .emulator()
        .operations(ECHO)
        .into_iter()
        .map(|o| o.operation_id)
        .collect();
    assert_eq!(stored, ["k-1", "k-11", "j-1", "n-1"]);
}

/// The configuration shaped like ESPv2's test configurations.
fn config_yaml() -> String {
    include_str!("espv2/service-config.yaml").to_owned()
}

/// `client::gateway::RequestBuilder`, given that configuration and the
/// three calls, builds the operations written out above from ESPv2's
/// request builder: the same ids, consumers, labels (the configuration's
/// user labels and the system ones, no `/error_type` nor `/referer`), metrics
/// in ESPv2's order with the same distributions, and one log entry on the
/// call's operation.
#[cfg(feature = "client")]
fn built_by_the_request_builder_as_written(yaml: &str, expected: &[&Value]) {
    use cloud_report_proto::client::gateway::{
        ApiKeyState, CallInfo, Protocol, ReportInfo, RequestBuilder,
    };
    use cloud_report_proto::google::api::servicecontrol::v1::Operation;
    use cloud_report_proto::google::rpc::Code;
    use cloud_report_proto::service_config::ServiceConfig;
    use std::time::{Duration, SystemTime};
    const METHOD: &str = "1.echo_api_endpoints_my_project_cloud_goog.Echo";
    let config = ServiceConfig::from_yaml(yaml).unwrap();
    let builder = RequestBuilder::from_service(config.service())
        .agent("ESPv2", "ESPv2/2.45.0")
        .platform("GKE(ESPv2)");
    let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_704_067_200_012);
    let report = |id: &str, method: &str, status: u16| {
        let mut info = ReportInfo::new(CallInfo::new(id, method));
        info.location = "us-central1".into();
        info.api_version = "1.0.0".into();
        info.frontend_protocol = Protocol::Http;
        info.response_code = status;
        info.method = "POST".into();
        info.url = "/echo".into();
        info
    };
    let mut keyed = report("k-1", METHOD, 200);
    keyed.call.api_key = "AIza-echo".into();
    keyed.api_key_state = ApiKeyState::Verified;
    keyed.consumer_project_number = Some(123456);
    keyed.request_size = Some(512);
    keyed.response_size = Some(1_048_576);
    keyed.request_time = Some(Duration::from_millis(123));
    keyed.backend_time = Some(Duration::from_millis(100));
    keyed.overhead_time = Some(Duration::from_millis(23));
    let mut jwt = report("j-1", METHOD, 401);
    jwt.auth_issuer = "auth-issuer".into();
    jwt.auth_audience = "auth-audience".into();
    jwt.status = Code::Unauthenticated;
    jwt.request_time = Some(Duration::from_millis(2));
    let mut keyless = report(
        "n-1",
        "1.echo_api_endpoints_my_project_cloud_goog.Echo_nokey",
        200,
    );
    keyless.request_size = Some(0);
    keyless.request_time = Some(Duration::from_nanos(500));
    let mut built = Vec::new();
    for info in [keyed, jwt, keyless] {
        built.extend(builder.report_operations(&info, now).unwrap());
    }
    assert_eq!(built.len(), expected.len());
    for (built, expected) in built.iter().zip(expected) {
        let expected: Operation =
            cloud_report_proto::json::from_str(&expected.to_string()).unwrap();
        let id = &expected.operation_id;
        assert_eq!(built.operation_id, *id);
        assert_eq!(built.operation_name, expected.operation_name, "{id}");
        assert_eq!(built.consumer_id, expected.consumer_id, "{id}");
        assert_eq!(built.start_time, expected.start_time, "{id}");
        assert_eq!(built.labels, expected.labels, "{id}");
        assert_eq!(built.metric_value_sets, expected.metric_value_sets, "{id}");
        assert_eq!(built.log_entries.len(), expected.log_entries.len(), "{id}");
        for (b, e) in built.log_entries.iter().zip(&expected.log_entries) {
            assert_eq!((&b.name, b.severity), (&e.name, e.severity), "{id}");
            let (b, e) = (
                b.http_request.as_ref().unwrap(),
                e.http_request.as_ref().unwrap(),
            );
            assert_eq!(
                (b.status, &b.protocol, &b.request_url),
                (e.status, &e.protocol, &e.request_url),
                "{id}"
            );
        }
    }
}

#[cfg(not(feature = "client"))]
fn built_by_the_request_builder_as_written(_: &str, _: &[&Value]) {}

/// A report is read where its bytes are (issue 33): bytes that are not a
/// `ReportRequest` are refused on both binary wires with the byte and the
/// field; a binary body's service is the path's, as when it is decoded and
/// bound; what is stored is what was sent, unknown fields included.
#[tokio::test(flavor = "multi_thread")]
async fn reports_are_read_and_stored_as_they_came() {
    use cloud_report_proto::wire::{UnknownField, UnknownValue};
    let running = start(Config::default()).await;
    let (addr, emulator) = (running.addr(), running.emulator());
    let http = support::plain_http();
    let grpc = support::plain_http_builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();

    // service_name, then an operation whose id is not UTF-8.
    let mut malformed = vec![0x0a, SERVICE.len() as u8];
    malformed.extend_from_slice(SERVICE.as_bytes());
    let bad_id_at = malformed.len() + 4;
    malformed.extend_from_slice(&[0x12, 0x03, 0x0a, 0x01, 0xff]);
    let rest = http
        .post(format!("http://{addr}/v1/services/{SERVICE}:report"))
        .header("content-type", PROTO_CONTENT_TYPE)
        .body(malformed.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 400);
    let status = Status::decode(rest.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, 3, "{status:?}");
    assert!(
        status
            .message
            .starts_with("Invalid proto payload received.")
            && status.message.contains(&format!("at byte {bad_id_at}"))
            && status.message.contains("Operation.operation_id"),
        "{}",
        status.message
    );
    let mut framed = vec![0];
    framed.extend_from_slice(&(malformed.len() as u32).to_be_bytes());
    framed.extend_from_slice(&malformed);
    let answer = grpc
        .post(format!(
            "http://{addr}/google.api.servicecontrol.v1.ServiceController/Report"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(framed)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("grpc-status"), "3");
    let message = percent_decode(&header("grpc-message"));
    assert!(
        message.contains(&format!("at byte {bad_id_at}"))
            && message.contains("Operation.operation_id"),
        "{message}"
    );
    assert!(emulator.requests(SERVICE).is_empty());

    // An operation with a field this crate does not know, under another
    // service name than the path's.
    let mut operation = Operation {
        operation_id: "kept-as-sent".into(),
        operation_name: "google.example.Method".into(),
        start_time: Some("2023-11-14T22:13:20Z".parse().unwrap()),
        end_time: Some("2023-11-14T22:13:21Z".parse().unwrap()),
        ..Default::default()
    };
    operation
        .unknown_fields
        .push(UnknownField {
            number: 999,
            value: UnknownValue::Varint(7),
        })
        .unwrap();
    let report = ReportRequest {
        service_name: "other.example.com".into(),
        operations: vec![operation.clone()],
        ..Default::default()
    };
    let answer = http
        .post(format!("http://{addr}/v1/services/{SERVICE}:report"))
        .header("content-type", PROTO_CONTENT_TYPE)
        .body(report.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(emulator.operations(SERVICE), [operation]);
    assert!(emulator.operations("other.example.com").is_empty());
    running.shutdown().await;
}

/// A `grpc-message` header's text (percent-encoded, as gRPC sends it).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
