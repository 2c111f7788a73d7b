//! The emulator judging by a service configuration and a state file: each
//! Check and Report rule over gRPC, REST JSON, REST binary and Google's own
//! generated Python clients over REST, with the same answers and the same
//! stored state on every wire.
#![cfg(feature = "emulator")]

use crate::support;
use crate::support::plain_http;

use cloud_report_proto::emulator::{Config, Emulator, ManualClock, QuotaUsage, Running};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::google::api::servicecontrol::v1::quota_controller_client::QuotaControllerClient;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient;
use cloud_report_proto::google::rpc::Status;
use cloud_report_proto::json;
use cloud_report_proto::rest::PROTO_CONTENT_TYPE;
use cloud_report_proto::service_config::ServiceConfig;
use prost::Message;
use serde_json::{Value, json};
use support::reference::Reference;

const SERVICE: &str = "bookstore.endpoints.my-project.cloud.goog";
const CONFIG: &str = include_str!("../examples/service-config.yaml");
const STATE: &str = include_str!("../examples/service-state.json");

async fn start() -> Running {
    start_with(Config::default()).await
}

async fn start_with(config: Config) -> Running {
    let config = config
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
    /// Google's generated client (google-cloud-service-control) over its
    /// REST transport: `$alt=json;enum-encoding=int`, enums as numbers.
    Gapic,
}

const WIRES: [Wire; 4] = [Wire::Grpc, Wire::Json, Wire::Binary, Wire::Gapic];

/// Calls `method` (`check`, `report` or `allocateQuota`) on one wire; the answer, or the
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
    let http = plain_http();
    match wire {
        Wire::Grpc => {
            let mut client = ServiceControllerClient::connect(running.url())
                .await
                .unwrap();
            let bytes = request.encode_to_vec();
            let result = match method {
                "allocateQuota" => QuotaControllerClient::connect(running.url())
                    .await
                    .unwrap()
                    .allocate_quota(sc::AllocateQuotaRequest::decode(bytes.as_slice()).unwrap())
                    .await
                    .map(|r| r.into_inner().encode_to_vec()),
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
        Wire::Gapic => {
            let line = json!({
                "op": "gapic",
                "url": running.url(),
                "token": "gapic-token",
                "method": method,
                "request": serde_json::from_str::<Value>(&json::to_string(request).unwrap()).unwrap(),
            });
            let answer = tokio::task::spawn_blocking(move || Reference::get().call(line))
                .await
                .unwrap();
            match answer.get("response") {
                Some(response) => Ok(json::from_str(&response.to_string()).unwrap()),
                None => Err(gapic_error(&url, &answer)),
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

/// The code and message of the typed exception a generated client raised,
/// checking that its class is google-api-core's for the HTTP status, and
/// that the status is the code's (`google.rpc.Code`'s mapping).
fn gapic_error(url: &str, answer: &Value) -> (i32, String) {
    use cloud_report_proto::google::rpc::Code;
    let http_status = answer["httpStatus"]
        .as_u64()
        .unwrap_or_else(|| panic!("no exception: {answer}"));
    let expected_class = match http_status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        413 => "GoogleAPICallError",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        501 => "MethodNotImplemented",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        other => panic!("unexpected HTTP status {other}: {answer}"),
    };
    assert_eq!(answer["exception"], expected_class, "{answer}");
    let code = Code::from_http_status(u16::try_from(http_status).unwrap());
    // google-api-core prefixes the message with the request's method and URL.
    let message = answer["message"].as_str().unwrap();
    let message = message
        .strip_prefix(&format!("POST {url}?%24alt=json%3Benum-encoding%3Dint: "))
        .unwrap_or_else(|| panic!("unexpected message form: {message}"));
    (code as i32, message.to_owned())
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
        // "The consumer's project id ... was not found": NOT_FOUND.
        ("project:nobody", GET_SHELF, json!({}), Some(C::NotFound)),
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
            // The pattern's host is matched against the referer's host.
            "api_key:AIza-web",
            GET_SHELF,
            json!({"servicecontrol.googleapis.com/referer": "https://evil.test/?x=.example.com/"}),
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
        // A prefix of the short name, service and method without case.
        ("api_key:AIza-getters", GET_SHELF, json!({}), None),
        (
            "api_key:AIza-getters",
            LIST_SHELVES,
            json!({}),
            Some(C::ApiTargetBlocked),
        ),
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
            assert_eq!(info.api_key_uid, "apikey:key-uid-good");
        }
        // The uid only for a key that passed every key validation.
        let key_failed = expected.is_some_and(|c| {
            matches!(
                c,
                C::ApiKeyInvalid
                    | C::ApiKeyNotFound
                    | C::ApiKeyExpired
                    | C::ApiTargetBlocked
                    | C::IpAddressBlocked
                    | C::RefererBlocked
                    | C::ClientAppBlocked
            )
        });
        assert_eq!(
            info.api_key_uid.is_empty(),
            key_failed || !consumer.starts_with("api_key:"),
            "{consumer} {method}: {:?}",
            info.api_key_uid
        );
    }
    // A consumer id of no consumer form is refused whole, on every wire, as
    // AllocateQuota refuses it.
    for consumer in ["garbage", "", "project_number:twelve"] {
        for wire in WIRES {
            let request = check_request(consumer, GET_SHELF, json!({}));
            let (code, message) = call::<_, sc::CheckResponse>(&running, wire, "check", &request)
                .await
                .unwrap_err();
            assert_eq!(code, 3, "{wire:?} {consumer:?}");
            assert!(
                message.starts_with("operation.consumer_id: "),
                "{wire:?}: {message}"
            );
        }
    }
    // ... or answered with a CONSUMER_INVALID check error, by choice.
    let choosing = start_with(
        Config::default().consumer_errors(cloud_report_proto::emulator::ConsumerErrors::CheckError),
    )
    .await;
    for consumer in ["garbage", "", "project_number:twelve"] {
        for wire in WIRES {
            let request = check_request(consumer, GET_SHELF, json!({}));
            let answer: sc::CheckResponse = call(&choosing, wire, "check", &request).await.unwrap();
            let codes: Vec<i32> = answer.check_errors.iter().map(|e| e.code).collect();
            assert_eq!(codes, [C::ConsumerInvalid as i32], "{wire:?} {consumer:?}");
        }
    }
    choosing.shutdown().await;
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
            // A label of any of the service's metrics is allowed on an
            // operation without a value of that metric, as ESPv2 sends the
            // labels of all the metrics it reports on every operation.
            operation(
                "label-without-metric",
                json!({"/response_code": "200"}),
                json!([]),
                json!([]),
            ),
            None,
        ),
        (
            operation(
                "bad-distribution",
                json!({}),
                json!([{"metricName": "serviceruntime.googleapis.com/api/consumer/total_latencies",
                        "metricValues": [{"distributionValue": {
                            "count": "2", "mean": 1.0, "minimum": 1.0, "maximum": 1.0,
                            "exponentialBuckets": {"numFiniteBuckets": 2, "growthFactor": 2.0, "scale": 1.0},
                            "bucketCounts": ["0", "1", "0", "0"]}}]}]),
                json!([]),
            ),
            Some("bucket_counts add up to 1, not to count 2"),
        ),
        (
            operation(
                "not-audit-log",
                json!({}),
                json!([]),
                json!([{"name": "endpoints_log", "protoPayload": {
                    "@type": "type.googleapis.com/google.rpc.Status", "code": 3}}]),
            ),
            Some("log_entries[0].proto_payload: \"type.googleapis.com/google.rpc.Status\" is not"),
        ),
        (
            operation(
                "empty-location",
                json!({"cloud.googleapis.com/location": ""}),
                json!([]),
                json!([]),
            ),
            Some("cloud.googleapis.com/location must not be empty"),
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
        assert_eq!(ops, ["good", "label-without-metric"], "{wire:?}");
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

/// Google's generated clients against an emulator that requires a token:
/// the token they were given is accepted; a wrong one, an unconfigured
/// service and a request refused whole raise google-api-core's typed
/// exceptions, with the emulator's message.
#[tokio::test]
async fn generated_clients_raise_typed_exceptions() {
    let running = start_with(Config::default().require_token("gapic-token")).await;
    let gapic = |token: &str, method: &str, request: Value| {
        let line = json!({"op": "gapic", "url": running.url(), "token": token,
            "method": method, "request": request});
        tokio::task::spawn_blocking(move || Reference::get().call(line))
    };
    let check = serde_json::to_value(
        json::to_string(&check_request("api_key:AIza-good", GET_SHELF, json!({}))).unwrap(),
    )
    .and_then(|text| serde_json::from_str::<Value>(text.as_str().unwrap()))
    .unwrap();
    let answer = gapic("gapic-token", "check", check.clone()).await.unwrap();
    assert!(answer["response"]["checkInfo"].is_object(), "{answer}");

    let answer = gapic("wrong", "check", check.clone()).await.unwrap();
    assert_eq!(answer["exception"], "Unauthorized", "{answer}");
    assert_eq!(answer["httpStatus"], 401);

    let mut other = check.clone();
    other["serviceName"] = json!("other.example.com");
    let answer = gapic("gapic-token", "check", other).await.unwrap();
    assert_eq!(answer["exception"], "NotFound", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("is not configured"),
        "{answer}"
    );

    let value = json!({"metricName": "serviceruntime.googleapis.com/api/consumer/request_count",
        "metricValues": [{"int64Value": "1"}, {"int64Value": "1"}]});
    let mut twice = operation("d", json!({}), json!([value]), json!([]));
    twice["consumerId"] = json!("project:my-project");
    let answer = gapic(
        "gapic-token",
        "report",
        json!({"serviceName": SERVICE, "operations": [twice]}),
    )
    .await
    .unwrap();
    assert_eq!(answer["exception"], "BadRequest", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("identical labels"),
        "{answer}"
    );
    assert!(running.emulator().operations(SERVICE).is_empty());
    running.shutdown().await;
}

/// An AllocateQuota of `consumer` for `method`, asking `metrics`
/// (`[[metric, amount], ...]`) when given, in `mode`.
fn quota_request(id: &str, consumer: &str, method: &str, metrics: Value, mode: &str) -> Value {
    let mut operation = json!({
        "operationId": id,
        "methodName": method,
        "consumerId": consumer,
        "labels": {"servicecontrol.googleapis.com/user_agent": "ESPv2"},
        "quotaMode": mode,
    });
    if let Some(metrics) = metrics.as_array() {
        operation["quotaMetrics"] = metrics
            .iter()
            .map(|m| json!({"metricName": m[0], "metricValues": [{"int64Value": m[1]}]}))
            .collect();
    }
    json!({"serviceName": SERVICE, "allocateOperation": operation})
}

const CREATE_SHELF: &str = "endpoints.examples.bookstore.Bookstore.CreateShelf";
/// A minute boundary: 2023-11-14T22:14:00Z.
const START: u64 = 1_700_000_040;

/// What one wire saw of the quota script: each answer (as JSON, or the
/// error's code and message) and the usage after it.
async fn quota_script(wire: Wire) -> Vec<(Result<Value, (i32, String)>, Vec<QuotaUsage>)> {
    let clock = ManualClock::new(std::time::UNIX_EPOCH + std::time::Duration::from_secs(START));
    let running = start_with(Config::default().clock(clock.clone())).await;
    let mut seen = Vec::new();
    // [operation id, consumer, method, metrics asked or null, mode, seconds
    // the clock moves first]
    #[rustfmt::skip]
    let steps = json!([
        // Read quota of my-project: 5 a minute, GetShelf costs 1 (the
        // metric rule), whether the project is named by key, id or number.
        ["r1", "api_key:AIza-good", GET_SHELF, null, "NORMAL", 0],
        ["r2", "project:my-project", GET_SHELF, null, "NORMAL", 0],
        ["r3", "project_number:123456789012", GET_SHELF, null, "NORMAL", 0],
        ["r4", "api_key:AIza-good", GET_SHELF, [["read-requests", "2"]], "NORMAL", 0],
        // A retry of r4 is answered as before and not counted again.
        ["r4", "api_key:AIza-good", GET_SHELF, [["read-requests", "2"]], "NORMAL", 0],
        // None left: asking 2 fails whole, asking it best effort gets 0
        // reads and the write.
        ["r5", "api_key:AIza-good", GET_SHELF, [["read-requests", "2"], ["write-requests", "1"]], "NORMAL", 0],
        ["r6", "api_key:AIza-good", GET_SHELF, [["read-requests", "2"], ["write-requests", "1"]], "BEST_EFFORT", 0],
        ["r7", "project:my-project", GET_SHELF, null, "CHECK_ONLY", 0],
        // Another project has its own quota; an unknown project is counted
        // by its id.
        ["r8", "project:no-billing", CREATE_SHELF, null, "NORMAL", 0],
        ["r9", "project:stranger", CREATE_SHELF, [["write-requests", "2"]], "CHECK_ONLY", 0],
        ["r10", "project:stranger", CREATE_SHELF, [["write-requests", "3"]], "CHECK_ONLY", 0],
        // No rule, nothing asked.
        ["r11", "api_key:AIza-good", LIST_SHELVES, null, "NORMAL", 0],
        // Consumers refused.
        ["e1", "api_key:AIza-expired", GET_SHELF, null, "NORMAL", 0],
        ["e2", "api_key:AIza-deleted", GET_SHELF, null, "NORMAL", 0],
        ["e3", "api_key:nope", GET_SHELF, null, "NORMAL", 0],
        ["e4", "project:gone", GET_SHELF, null, "NORMAL", 0],
        // Requests refused whole.
        ["x1", "garbage", GET_SHELF, null, "NORMAL", 0],
        ["x2", "project:my-project", GET_SHELF, [["made/up", "1"]], "NORMAL", 0],
        ["x3", "project:my-project", GET_SHELF, [["read-requests", "-1"]], "NORMAL", 0],
        ["x4", "project:my-project", GET_SHELF,
         [["serviceruntime.googleapis.com/api/consumer/total_latencies", "1"]], "NORMAL", 0],
        ["x5", "project:my-project", GET_SHELF, null, "QUERY_ONLY", 0],
        ["x6", "project:my-project", GET_SHELF, null, "ADJUST_ONLY", 0],
        ["x7", "project:my-project", GET_SHELF, [["read-requests", "1"], ["read-requests", "1"]], "NORMAL", 0],
        // The next minute opens a new window; r4's retry is still known.
        ["r12", "api_key:AIza-good", GET_SHELF, [["read-requests", "5"]], "NORMAL", 60],
        ["r4", "api_key:AIza-good", GET_SHELF, [["read-requests", "2"]], "NORMAL", 0],
        // UNSPECIFIED "Must not be used".
        ["x8", "project:my-project", GET_SHELF, null, "UNSPECIFIED", 0],
    ]);
    for step in steps.as_array().unwrap() {
        let text = |i: usize| step[i].as_str().unwrap();
        clock.advance(std::time::Duration::from_secs(step[5].as_u64().unwrap()));
        let request = quota_request(text(0), text(1), text(2), step[3].clone(), text(4));
        let request: sc::AllocateQuotaRequest = json::from_str(&request.to_string()).unwrap();
        let answer =
            call::<_, sc::AllocateQuotaResponse>(&running, wire, "allocateQuota", &request)
                .await
                .map(|a| serde_json::from_str(&json::to_string(&a).unwrap()).unwrap());
        seen.push((answer, running.emulator().quota_usage(SERVICE)));
    }
    seen
}

#[tokio::test]
async fn allocate_quota_is_judged_by_the_limits() {
    let script = quota_script(Wire::Binary).await;
    let answer = |i: usize| script[i].0.clone().unwrap();
    let used = |i: usize, metric: &str| {
        script[i]
            .1
            .iter()
            .filter(|u| u.metric == metric)
            .map(|u| (u.consumer.clone(), u.used))
            .collect::<Vec<_>>()
    };
    let granted = |a: &Value| a["quotaMetrics"][0].clone();
    let mine = || "project:my-project".to_owned();

    assert_eq!(
        answer(0),
        json!({
            "operationId": "r1",
            "quotaMetrics": [{
                "metricName": "serviceruntime.googleapis.com/api/consumer/quota_used_count",
                "metricValues": [{"labels": {"/quota_name": "read-requests"}, "int64Value": "1"}]
            }],
            "serviceConfigId": "2024-01-01r0"
        })
    );
    assert_eq!(used(2, "read-requests"), [(mine(), 3)]);
    assert_eq!(used(3, "read-requests"), [(mine(), 5)]);
    assert_eq!(answer(4), answer(3), "a retry is answered as before");
    assert_eq!(used(4, "read-requests"), [(mine(), 5)]);
    // r4 left 0 of read-requests: read 2 fails whole; best effort gets 0
    // reads and the write.
    let failed = answer(5);
    assert_eq!(failed["allocateErrors"][0]["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(failed["allocateErrors"][0]["subject"], "project:my-project");
    assert_eq!(
        failed["allocateErrors"][0]["description"],
        "Quota exceeded for quota metric 'Read requests' and limit 'read-requests-per-minute' of service \
         'bookstore.endpoints.my-project.cloud.goog' for consumer 'project:my-project'."
    );
    assert_eq!(failed["allocateErrors"].as_array().unwrap().len(), 1);
    assert_eq!(
        failed["quotaMetrics"][0]["metricName"],
        "serviceruntime.googleapis.com/quota/exceeded"
    );
    assert_eq!(
        used(5, "write-requests"),
        [],
        "NORMAL allocates nothing when one limit fails"
    );
    let best = answer(6);
    assert!(best.get("allocateErrors").is_none(), "{best}");
    assert_eq!(
        granted(&best)["metricValues"],
        json!([
            {"labels": {"/quota_name": "read-requests"}, "int64Value": "0"},
            {"labels": {"/quota_name": "write-requests"}, "int64Value": "1"}
        ])
    );
    assert_eq!(
        best["quotaMetrics"][1]["metricValues"][0]["boolValue"],
        true
    );
    assert_eq!(used(6, "write-requests"), [(mine(), 1)]);
    let checked = answer(7);
    assert_eq!(checked["allocateErrors"][0]["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(script[7].1, script[6].1, "CHECK_ONLY changes nothing");
    assert!(answer(8).get("allocateErrors").is_none());
    assert_eq!(
        used(8, "write-requests"),
        [(mine(), 1), ("project:no-billing".to_owned(), 1)]
    );
    assert!(answer(9).get("allocateErrors").is_none());
    assert!(
        answer(9).get("quotaMetrics").is_none(),
        "CHECK_ONLY allocates nothing"
    );
    assert_eq!(
        answer(10)["allocateErrors"][0]["subject"],
        "project:stranger"
    );
    assert_eq!(
        answer(11),
        json!({"operationId": "r11", "serviceConfigId": "2024-01-01r0"})
    );
    for (i, code) in [
        (12, "API_KEY_EXPIRED"),
        (13, "API_KEY_INVALID"),
        (14, "API_KEY_INVALID"),
        (15, "PROJECT_DELETED"),
    ] {
        assert_eq!(
            answer(i)["allocateErrors"][0]["code"],
            code,
            "{}",
            answer(i)
        );
    }
    assert_eq!(script[15].1, script[8].1, "refused consumers use nothing");
    for (i, code, text) in [
        (
            16,
            3,
            "allocate_operation.consumer_id: \"garbage\" is none of",
        ),
        (
            17,
            3,
            "allocate_operation.quota_metrics[0].metric_name: \"made/up\" is not a metric",
        ),
        (
            18,
            3,
            "allocate_operation.quota_metrics[0].metric_values[0].int64_value: -1 is negative",
        ),
        (
            19,
            3,
            "is a DISTRIBUTION metric; quota is counted in INT64 metrics",
        ),
        (20, 12, "QUERY_ONLY is not implemented"),
        (21, 3, "ADJUST_ONLY is not supported for rate quota"),
        (
            22,
            3,
            "more than one value of metric read-requests with identical labels",
        ),
    ] {
        let (got, message) = script[i].0.clone().unwrap_err();
        assert_eq!(got, code, "{message}");
        assert!(message.contains(text), "{message}");
    }
    // A new minute: the whole allowance again, counted in the new window.
    assert!(answer(23).get("allocateErrors").is_none(), "{}", answer(23));
    let window = script[23]
        .1
        .iter()
        .find(|u| u.metric == "read-requests")
        .unwrap();
    assert_eq!(
        (
            window.used,
            window.allowance,
            window.window_start,
            window.window_seconds
        ),
        (5, Some(5), START + 60, 60)
    );
    assert_eq!(answer(24), answer(3), "the retry is still known");
    assert_eq!(used(24, "read-requests"), [(mine(), 5)]);
    let (code, message) = script[25].0.clone().unwrap_err();
    assert_eq!(code, 3);
    assert!(
        message.contains("UNSPECIFIED must not be used"),
        "{message}"
    );
}

#[tokio::test]
async fn allocate_quota_agrees_on_every_wire() {
    let binary = quota_script(Wire::Binary).await;
    for wire in [Wire::Grpc, Wire::Json, Wire::Gapic] {
        let other = quota_script(wire).await;
        for (i, (a, b)) in binary.iter().zip(&other).enumerate() {
            assert_eq!(a, b, "step {i} on {wire:?}");
        }
    }
}

#[tokio::test]
async fn quota_usage_is_inspected_per_consumer() {
    let clock = ManualClock::new(std::time::UNIX_EPOCH + std::time::Duration::from_secs(START + 7));
    let running = start_with(Config::default().clock(clock.clone())).await;
    for (id, consumer, method) in [
        ("a", "api_key:AIza-good", GET_SHELF),
        ("b", "project:my-project", CREATE_SHELF),
        ("c", "project:stranger", GET_SHELF),
    ] {
        let request: sc::AllocateQuotaRequest =
            json::from_str(&quota_request(id, consumer, method, Value::Null, "NORMAL").to_string())
                .unwrap();
        call::<_, sc::AllocateQuotaResponse>(&running, Wire::Json, "allocateQuota", &request)
            .await
            .unwrap();
    }
    let inspect = || async {
        let answer = plain_http()
            .get(format!(
                "{}/emulator/v1/services/{SERVICE}/quota",
                running.url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        serde_json::from_str::<Value>(&answer.text().await.unwrap()).unwrap()
    };
    let window = |consumer: &str, limit: &str, metric: &str, allowance: i64| {
        json!({
            "consumer": consumer, "limit": limit, "metric": metric,
            "windowStart": "2023-11-14T22:14:00Z", "windowSeconds": 60,
            "used": 1, "allowance": allowance,
        })
    };
    assert_eq!(
        inspect().await,
        json!({"quotaUsage": [
            window("project:my-project", "read-requests-per-minute", "read-requests", 5),
            window("project:my-project", "write-requests-per-minute", "write-requests", 2),
            window("project:stranger", "read-requests-per-minute", "read-requests", 5),
        ]})
    );
    // Once the window has passed, nothing is in use.
    clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(inspect().await, json!({"quotaUsage": []}));
}

#[tokio::test]
async fn quota_usage_is_bounded_by_max_bytes() {
    let clock = ManualClock::new(std::time::UNIX_EPOCH + std::time::Duration::from_secs(START));
    let running = start_with(Config::default().clock(clock.clone()).max_bytes(300)).await;
    let allocate = |consumer: &'static str| {
        let request: sc::AllocateQuotaRequest = json::from_str(
            &quota_request("", consumer, GET_SHELF, Value::Null, "NORMAL").to_string(),
        )
        .unwrap();
        let running = &running;
        async move {
            call::<_, sc::AllocateQuotaResponse>(running, Wire::Binary, "allocateQuota", &request)
                .await
        }
    };
    allocate("project:first").await.unwrap();
    let used = running.emulator().stored_bytes();
    assert!(used > 0 && used <= 300, "{used}");
    // Known consumers go on being counted; a new one does not fit.
    allocate("project:first").await.unwrap();
    let (code, message) = allocate("project:second").await.unwrap_err();
    assert_eq!(code, 8, "{message}");
    assert!(message.contains("at most 300 bytes"), "{message}");
    assert_eq!(running.emulator().stored_bytes(), used);
    // Once the first consumer's window has ended, its entry makes room.
    clock.advance(std::time::Duration::from_secs(60));
    allocate("project:second").await.unwrap();
    assert_eq!(
        running
            .emulator()
            .quota_usage(SERVICE)
            .iter()
            .map(|u| (u.consumer.as_str(), u.used))
            .collect::<Vec<_>>(),
        [("project:second", 1)]
    );
    assert!(running.emulator().stored_bytes() <= 300);
}

mod quota_properties {
    use super::*;
    use cloud_report_proto::google::api::servicecontrol::v1::quota_controller_server::QuotaController;
    use proptest::prelude::*;

    /// One random AllocateQuota: consumer, metrics asked (or the method's
    /// rule), mode, operation id from a small set (so retries happen), and
    /// how far the clock moves first.
    #[derive(Debug, Clone)]
    struct Step {
        consumer: &'static str,
        method: &'static str,
        metrics: Option<Vec<(&'static str, i64)>>,
        mode: i32,
        id: u8,
        advance: u64,
    }

    fn step() -> impl Strategy<Value = Step> {
        let consumer = prop::sample::select(vec![
            "api_key:AIza-good",
            "project:my-project",
            "project_number:123456789012",
            "project:no-billing",
            "project:stranger",
            "api_key:AIza-expired",
            "api_key:nope",
            "project:gone",
            "garbage",
            "",
        ]);
        let method = prop::sample::select(vec![GET_SHELF, CREATE_SHELF, LIST_SHELVES, ""]);
        let metric = prop::sample::select(vec![
            "read-requests",
            "write-requests",
            "made/up",
            "serviceruntime.googleapis.com/api/consumer/total_latencies",
        ]);
        let amount = prop_oneof![0i64..4, Just(-1), Just(i64::MAX)];
        (
            consumer,
            method,
            prop::option::of(prop::collection::vec((metric, amount), 0..4)),
            0i32..7,
            0u8..6,
            prop_oneof![Just(0u64), 1u64..30, Just(60)],
        )
            .prop_map(|(consumer, method, metrics, mode, id, advance)| Step {
                consumer,
                method,
                metrics,
                mode,
                id,
                advance,
            })
    }

    fn request(step: &Step) -> sc::AllocateQuotaRequest {
        sc::AllocateQuotaRequest {
            service_name: SERVICE.into(),
            allocate_operation: Some(sc::QuotaOperation {
                operation_id: format!("op-{}", step.id),
                method_name: step.method.into(),
                consumer_id: step.consumer.into(),
                quota_metrics: step
                    .metrics
                    .iter()
                    .flatten()
                    .map(|(metric, amount)| sc::MetricValueSet {
                        metric_name: (*metric).into(),
                        metric_values: vec![sc::MetricValue {
                            value: Some(sc::metric_value::Value::Int64Value(*amount)),
                            ..Default::default()
                        }],
                        ..Default::default()
                    })
                    .collect(),
                quota_mode: step.mode,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever is asked, in whatever order: no limit is ever used past
        /// its allowance, a failed NORMAL and a CHECK_ONLY change nothing,
        /// nothing is granted beyond what was asked, and a retry of an
        /// allocation is answered as the first time.
        #[test]
        fn limits_hold_under_any_sequence(steps in prop::collection::vec(step(), 1..40)) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let clock = ManualClock::new(std::time::UNIX_EPOCH + std::time::Duration::from_secs(START));
            let emulator = Emulator::new(
                Config::default()
                    .clock(clock.clone())
                    .state_json(STATE)
                    .unwrap()
                    .service_config(ServiceConfig::from_yaml(CONFIG).unwrap()),
            );
            let mut answered: std::collections::HashMap<u8, sc::AllocateQuotaResponse> =
                std::collections::HashMap::new();
            for step in &steps {
                clock.advance(std::time::Duration::from_secs(step.advance));
                let before = emulator.quota_usage(SERVICE);
                let result = runtime.block_on(emulator.allocate_quota(tonic::Request::new(request(step))));
                let after = emulator.quota_usage(SERVICE);
                for usage in &after {
                    if let Some(allowance) = usage.allowance {
                        prop_assert!(usage.used <= allowance, "{usage:?}");
                    }
                }
                let retried = (1..=2).contains(&step.mode).then(|| answered.get(&step.id)).flatten();
                if let Some(first) = retried {
                    prop_assert_eq!(Some(first), result.as_ref().ok().map(tonic::Response::get_ref));
                    prop_assert_eq!(&before, &after);
                    continue;
                }
                let Ok(answer) = result.map(tonic::Response::into_inner) else {
                    prop_assert_eq!(&before, &after);
                    continue;
                };
                let check_only = step.mode == 3;
                if !answer.allocate_errors.is_empty() || check_only {
                    prop_assert_eq!(&before, &after);
                }
                let asked: i64 = step.metrics.iter().flatten().map(|m| m.1).fold(0, i64::saturating_add);
                for set in answer.quota_metrics.iter().filter(|s| s.metric_name == cloud_report_proto::emulator::QUOTA_USED_COUNT) {
                    for value in &set.metric_values {
                        if let Some(sc::metric_value::Value::Int64Value(n)) = value.value {
                            prop_assert!(n >= 0);
                            if step.metrics.as_ref().is_some_and(|m| !m.is_empty()) {
                                prop_assert!(n <= asked);
                            }
                        }
                    }
                }
                if !check_only && answer.allocate_errors.is_empty() {
                    match answered.get(&step.id) {
                        Some(first) => prop_assert_eq!(first, &answer),
                        None => {
                            answered.insert(step.id, answer);
                        }
                    }
                }
            }
        }
    }
}
