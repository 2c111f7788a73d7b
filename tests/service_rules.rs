//! The emulator judging by a service configuration and a state file: each
//! Check and Report rule over gRPC, REST JSON and REST binary, with the same
//! answers and the same stored state on every wire.
#![cfg(feature = "emulator")]

use cloud_report_proto::emulator::{Config, Emulator, Running};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient;
use cloud_report_proto::google::rpc::Status;
use cloud_report_proto::json;
use cloud_report_proto::rest::PROTO_CONTENT_TYPE;
use cloud_report_proto::service_config::ServiceConfig;
use prost::Message;
use serde_json::{Value, json};

const SERVICE: &str = "bookstore.endpoints.my-project.cloud.goog";
const CONFIG: &str = include_str!("../examples/service-config.yaml");
const STATE: &str = include_str!("../examples/service-state.json");

async fn start() -> Running {
    let config = Config::default()
        .state_json(STATE)
        .unwrap()
        .service_config(ServiceConfig::from_yaml(CONFIG).unwrap());
    Emulator::start(config).await.unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Wire {
    Grpc,
    Json,
    Binary,
}

const WIRES: [Wire; 3] = [Wire::Grpc, Wire::Json, Wire::Binary];

/// Calls `method` (`check` or `report`) on one wire; the answer, or the
/// error's code and message.
async fn call<Req, Resp>(
    running: &Running,
    wire: Wire,
    method: &str,
    request: &Req,
) -> Result<Resp, (i32, String)>
where
    Req: Message + json::WriteJson + Clone + 'static,
    Resp: Message + Default + json::ReadJson,
{
    let url = format!("{}/v1/services/{SERVICE}:{method}", running.url());
    let http = reqwest::Client::new();
    match wire {
        Wire::Grpc => {
            let mut client = ServiceControllerClient::connect(running.url())
                .await
                .unwrap();
            let bytes = request.encode_to_vec();
            let result = match method {
                "check" => client
                    .check(sc::CheckRequest::decode(bytes.as_slice()).unwrap())
                    .await
                    .map(|r| r.into_inner().encode_to_vec()),
                _ => client
                    .report(sc::ReportRequest::decode(bytes.as_slice()).unwrap())
                    .await
                    .map(|r| r.into_inner().encode_to_vec()),
            };
            result
                .map(|b| Resp::decode(b.as_slice()).unwrap())
                .map_err(|s| (s.code() as i32, s.message().to_owned()))
        }
        Wire::Json => {
            let answer = http
                .post(&url)
                .header("content-type", "application/json")
                .body(json::to_string(request).unwrap())
                .send()
                .await
                .unwrap();
            let ok = answer.status().is_success();
            let text = answer.text().await.unwrap();
            if ok {
                Ok(json::from_str(&text).unwrap())
            } else {
                let error: Value = serde_json::from_str(&text).unwrap();
                let status = &error["error"];
                let code = cloud_report_proto::google::rpc::Code::from_str_name(
                    status["status"].as_str().unwrap(),
                )
                .unwrap();
                Err((code as i32, status["message"].as_str().unwrap().to_owned()))
            }
        }
        Wire::Binary => {
            let answer = http
                .post(&url)
                .header("content-type", PROTO_CONTENT_TYPE)
                .body(request.encode_to_vec())
                .send()
                .await
                .unwrap();
            let ok = answer.status().is_success();
            let bytes = answer.bytes().await.unwrap();
            if ok {
                Ok(Resp::decode(bytes).unwrap())
            } else {
                let status = Status::decode(bytes).unwrap();
                Err((status.code, status.message))
            }
        }
    }
}

fn check_request(consumer: &str, method: &str, labels: Value) -> sc::CheckRequest {
    json::from_str(
        &json!({
            "serviceName": SERVICE,
            "operation": {
                "operationId": "op-1",
                "operationName": method,
                "consumerId": consumer,
                "startTime": "2024-01-01T00:00:00Z",
                "labels": labels,
            }
        })
        .to_string(),
    )
    .unwrap()
}

const GET_SHELF: &str = "endpoints.examples.bookstore.Bookstore.GetShelf";
const LIST_SHELVES: &str = "endpoints.examples.bookstore.Bookstore.ListShelves";

#[tokio::test]
async fn check_judges_consumers_and_keys() {
    use sc::check_error::Code as C;
    let running = start().await;
    let caller = |ip: &str| json!({"servicecontrol.googleapis.com/caller_ip": ip});
    let cases: Vec<(&str, &str, Value, Option<C>)> = vec![
        ("api_key:AIza-good", GET_SHELF, json!({}), None),
        ("project:my-project", GET_SHELF, json!({}), None),
        ("project_number:123456789012", GET_SHELF, json!({}), None),
        ("api_key:nope", GET_SHELF, json!({}), Some(C::ApiKeyInvalid)),
        (
            "api_key:AIza-expired",
            GET_SHELF,
            json!({}),
            Some(C::ApiKeyExpired),
        ),
        (
            "api_key:AIza-deleted",
            GET_SHELF,
            json!({}),
            Some(C::ApiKeyNotFound),
        ),
        (
            "project:no-billing",
            GET_SHELF,
            json!({}),
            Some(C::BillingDisabled),
        ),
        (
            "project:not-enabled",
            GET_SHELF,
            json!({}),
            Some(C::ServiceNotActivated),
        ),
        (
            "project:gone",
            GET_SHELF,
            json!({}),
            Some(C::ProjectDeleted),
        ),
        (
            "project:nobody",
            GET_SHELF,
            json!({}),
            Some(C::ProjectInvalid),
        ),
        ("garbage", GET_SHELF, json!({}), Some(C::ConsumerInvalid)),
        ("", GET_SHELF, json!({}), Some(C::ConsumerInvalid)),
        // The configuration lets ListShelves be called with no consumer.
        ("", LIST_SHELVES, json!({}), None),
        (
            "api_key:AIza-office",
            GET_SHELF,
            caller("203.0.113.9"),
            None,
        ),
        (
            "api_key:AIza-office",
            GET_SHELF,
            caller("2001:db8::5"),
            None,
        ),
        (
            "api_key:AIza-office",
            GET_SHELF,
            caller("198.51.100.1"),
            Some(C::IpAddressBlocked),
        ),
        (
            "api_key:AIza-office",
            GET_SHELF,
            json!({}),
            Some(C::IpAddressBlocked),
        ),
        (
            "api_key:AIza-web",
            GET_SHELF,
            json!({"servicecontrol.googleapis.com/referer": "https://shop.example.com/cart"}),
            None,
        ),
        (
            "api_key:AIza-web",
            GET_SHELF,
            json!({"servicecontrol.googleapis.com/referer": "https://evil.test/"}),
            Some(C::RefererBlocked),
        ),
        (
            "api_key:AIza-android",
            GET_SHELF,
            json!({
                "servicecontrol.googleapis.com/android_package_name": "com.example.books",
                "servicecontrol.googleapis.com/android_cert_fingerprint": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            }),
            None,
        ),
        (
            "api_key:AIza-android",
            GET_SHELF,
            json!({"servicecontrol.googleapis.com/android_package_name": "com.other"}),
            Some(C::ClientAppBlocked),
        ),
        (
            "api_key:AIza-ios",
            GET_SHELF,
            json!({"servicecontrol.googleapis.com/ios_bundle_id": "com.example.books"}),
            None,
        ),
        (
            "api_key:AIza-ios",
            GET_SHELF,
            json!({}),
            Some(C::ClientAppBlocked),
        ),
        ("api_key:AIza-shelves-only", LIST_SHELVES, json!({}), None),
        (
            "api_key:AIza-shelves-only",
            GET_SHELF,
            json!({}),
            Some(C::ApiTargetBlocked),
        ),
    ];
    for (consumer, method, labels, expected) in cases {
        let request = check_request(consumer, method, labels);
        let mut answers = Vec::new();
        for wire in WIRES {
            let answer: sc::CheckResponse = call(&running, wire, "check", &request)
                .await
                .unwrap_or_else(|e| panic!("{wire:?} {consumer}: {e:?}"));
            answers.push(answer);
        }
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "{consumer}: {answers:?}"
        );
        let answer = &answers[0];
        let codes: Vec<i32> = answer.check_errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            expected.map(|c| c as i32).into_iter().collect::<Vec<_>>(),
            "{consumer} {method}"
        );
        let info = answer.check_info.as_ref().unwrap();
        if expected.is_none() && !consumer.is_empty() {
            assert_eq!(
                info.consumer_info.as_ref().unwrap().project_number,
                123456789012,
                "{consumer}"
            );
        }
        if consumer == "api_key:AIza-good" {
            assert_eq!(info.api_key_uid, "key-uid-good");
        }
    }
    // A service without a configuration.
    let mut other = check_request("project:my-project", GET_SHELF, json!({}));
    other.service_name = "other.example.com".into();
    let mut client = ServiceControllerClient::connect(running.url())
        .await
        .unwrap();
    let error = client.check(other).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::NotFound);
    running.shutdown().await;
}

fn report(operations: Vec<Value>) -> sc::ReportRequest {
    json::from_str(&json!({"serviceName": SERVICE, "operations": operations}).to_string()).unwrap()
}

fn operation(id: &str, labels: Value, metric_value_sets: Value, log_entries: Value) -> Value {
    json!({
        "operationId": id,
        "operationName": GET_SHELF,
        "consumerId": "api_key:AIza-good",
        "startTime": "2024-01-01T00:00:00Z",
        "endTime": "2024-01-01T00:00:01Z",
        "labels": labels,
        "metricValueSets": metric_value_sets,
        "logEntries": log_entries,
    })
}

#[tokio::test]
async fn report_is_judged_by_the_configuration() {
    // What ESPv2 sends: resource, metric and system labels on the operation.
    let espv2_labels = json!({
        "/credential_id": "apikey:AIza-good",
        "/protocol": "http",
        "/response_code": "200",
        "/response_code_class": "2xx",
        "/status_code": "0",
        "cloud.googleapis.com/location": "us-central1",
        "serviceruntime.googleapis.com/api_method": GET_SHELF,
        "serviceruntime.googleapis.com/api_version": "1.0.0",
        "serviceruntime.googleapis.com/consumer_project": "my-project",
        "servicecontrol.googleapis.com/service_agent": "ESPv2/2.45.0",
        "servicecontrol.googleapis.com/user_agent": "ESPv2",
        "servicecontrol.googleapis.com/platform": "GKE",
    });
    let request_count = |labels: Value| {
        json!([{
            "metricName": "serviceruntime.googleapis.com/api/consumer/request_count",
            "metricValues": [{"int64Value": "1", "labels": labels}],
        }])
    };
    let cases: Vec<(Value, Option<&str>)> = vec![
        (
            operation(
                "good",
                espv2_labels.clone(),
                json!([
                    {"metricName": "serviceruntime.googleapis.com/api/consumer/request_count", "metricValues": [{"int64Value": "1"}]},
                    {"metricName": "serviceruntime.googleapis.com/api/producer/total_latencies", "metricValues": [{"distributionValue": {"count": "1"}}]},
                ]),
                json!([{"name": "endpoints_log", "severity": "INFO", "textPayload": "ok"}]),
            ),
            None,
        ),
        (
            operation(
                "unknown-metric",
                json!({}),
                json!([{"metricName": "made/up", "metricValues": [{"int64Value": "1"}]}]),
                json!([]),
            ),
            Some("metric_value_sets[0]: metric \"made/up\" is not defined"),
        ),
        (
            operation(
                "wrong-type",
                json!({}),
                json!([{"metricName": "serviceruntime.googleapis.com/api/consumer/request_count", "metricValues": [{"stringValue": "1"}]}]),
                json!([]),
            ),
            Some("takes INT64 values, not STRING"),
        ),
        (
            operation(
                "bad-op-label",
                json!({"not/allowed": "x"}),
                json!([]),
                json!([]),
            ),
            Some("labels: label \"not/allowed\" is not a label"),
        ),
        (
            // A metric's label is allowed on the operation only with a value
            // of that metric.
            operation(
                "label-without-metric",
                json!({"/response_code": "200"}),
                json!([]),
                json!([]),
            ),
            Some("label \"/response_code\""),
        ),
        (
            operation(
                "bad-value-label",
                json!({}),
                request_count(json!({"/error_type": "x"})),
                json!([]),
            ),
            Some("metric_values[0].labels: label \"/error_type\" is not allowed"),
        ),
        (
            operation(
                "undeclared-log",
                json!({}),
                json!([]),
                json!([{"name": "syslog", "textPayload": "x"}]),
            ),
            Some("log_entries[0]: log \"syslog\" is not declared"),
        ),
        (
            operation(
                "undeclared-log-label",
                json!({}),
                json!([]),
                json!([{"name": "endpoints_log", "labels": {"k": "v"}}]),
            ),
            Some("log_entries[0].labels: label \"k\" is not declared by log endpoints_log"),
        ),
    ];
    let mut answers = Vec::new();
    for wire in WIRES {
        let running = start().await;
        let request = report(cases.iter().map(|(op, _)| op.clone()).collect());
        let answer: sc::ReportResponse = call(&running, wire, "report", &request).await.unwrap();
        for (op, expected) in &cases {
            let id = op["operationId"].as_str().unwrap();
            let error = answer.report_errors.iter().find(|e| e.operation_id == id);
            match (expected, error) {
                (None, None) => {}
                (Some(expected), Some(error)) => {
                    let status = error.status.as_ref().unwrap();
                    assert_eq!(status.code, 3, "{id}");
                    assert!(
                        status.message.contains(expected),
                        "{wire:?} {id}: {}",
                        status.message
                    );
                }
                _ => panic!("{wire:?} {id}: expected {expected:?}, got {error:?}"),
            }
        }
        let ops: Vec<String> = running
            .emulator()
            .operations(SERVICE)
            .into_iter()
            .map(|o| o.operation_id)
            .collect();
        assert_eq!(ops, ["good"], "{wire:?}");
        // An unconfigured service is NOT_FOUND, and nothing is stored.
        if matches!(wire, Wire::Grpc) {
            let mut other = report(vec![operation("x", json!({}), json!([]), json!([]))]);
            other.service_name = "other.example.com".into();
            let mut client = ServiceControllerClient::connect(running.url())
                .await
                .unwrap();
            assert_eq!(
                client.report(other).await.unwrap_err().code(),
                tonic::Code::NotFound
            );
            assert!(
                running
                    .emulator()
                    .operations("other.example.com")
                    .is_empty()
            );
        }
        answers.push(answer);
        running.shutdown().await;
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
}
