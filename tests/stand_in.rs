//! The emulator as a stand-in that gateway tests drive, on 127.0.0.1: the
//! request log, scripted answers and faults on gRPC, REST JSON and REST
//! binary, state and configurations replaced while it runs, a reset, and the
//! manual clock; bad admin calls answered with one-line errors and nothing
//! half applied.
#![cfg(feature = "emulator")]

use crate::support::plain_http;
use std::time::{Duration, Instant};

use cloud_report_proto::emulator::{Config, Emulator, Fault, ManualClock, Method, Running};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::google::api::servicecontrol::v1::quota_controller_client::QuotaControllerClient;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient;
use cloud_report_proto::google::rpc::Status;
use cloud_report_proto::json;
use cloud_report_proto::rest::{PROTO_CONTENT_TYPE, WireFormat};
use cloud_report_proto::service_config::ServiceConfig;
use prost::Message;
use serde_json::{Value, json};

const SERVICE: &str = "bookstore.endpoints.my-project.cloud.goog";
const CONFIG: &str = include_str!("../examples/service-config.yaml");
const STATE: &str = include_str!("../examples/service-state.json");
const GET_SHELF: &str = "endpoints.examples.bookstore.Bookstore.GetShelf";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Wire {
    Grpc,
    Json,
    Binary,
}

const WIRES: [Wire; 3] = [Wire::Grpc, Wire::Json, Wire::Binary];

/// What a call came to.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The response message, as canonical JSON.
    Answer(Value),
    /// An error: its code, and on REST its HTTP status, and its message.
    Error(i32, Option<u16>, String),
    /// No answer: the stream or connection went away.
    Dropped,
}

fn check(consumer: &str) -> Value {
    json!({"serviceName": SERVICE, "operation": {
        "operationId": "c-1", "operationName": GET_SHELF, "consumerId": consumer,
        "startTime": "2024-01-01T00:00:00Z"}})
}

fn quota(id: &str) -> Value {
    json!({"serviceName": SERVICE, "allocateOperation": {
        "operationId": id, "methodName": GET_SHELF, "consumerId": "project:my-project",
        "quotaMode": "NORMAL"}})
}

fn report(id: &str) -> Value {
    json!({"serviceName": SERVICE, "operations": [{
        "operationId": id, "operationName": GET_SHELF, "consumerId": "project:my-project",
        "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T00:00:01Z"}]})
}

/// Calls `method` with `request` (JSON) on one wire.
async fn call(running: &Running, wire: Wire, method: &str, request: &Value) -> Outcome {
    fn answer<M: Message + json::WriteJson>(m: &M) -> Outcome {
        Outcome::Answer(serde_json::from_str(&json::to_string(m).unwrap()).unwrap())
    }
    fn response_json(method: &str, bytes: &[u8]) -> Outcome {
        match method {
            "check" => answer(&sc::CheckResponse::decode(bytes).unwrap()),
            "allocateQuota" => answer(&sc::AllocateQuotaResponse::decode(bytes).unwrap()),
            _ => answer(&sc::ReportResponse::decode(bytes).unwrap()),
        }
    }
    let text = request.to_string();
    match wire {
        Wire::Grpc => {
            let status = match method {
                "check" => {
                    let mut client = ServiceControllerClient::connect(running.url())
                        .await
                        .unwrap();
                    match client
                        .check(json::from_str::<sc::CheckRequest>(&text).unwrap())
                        .await
                    {
                        Ok(r) => return answer(r.get_ref()),
                        Err(status) => status,
                    }
                }
                "allocateQuota" => {
                    let mut client = QuotaControllerClient::connect(running.url()).await.unwrap();
                    let request = json::from_str::<sc::AllocateQuotaRequest>(&text).unwrap();
                    match client.allocate_quota(request).await {
                        Ok(r) => return answer(r.get_ref()),
                        Err(status) => status,
                    }
                }
                _ => {
                    let mut client = ServiceControllerClient::connect(running.url())
                        .await
                        .unwrap();
                    match client
                        .report(json::from_str::<sc::ReportRequest>(&text).unwrap())
                        .await
                    {
                        Ok(r) => return answer(r.get_ref()),
                        Err(status) => status,
                    }
                }
            };
            // An answer with no grpc-status (a reset stream, a closed
            // connection) is not the service's.
            if status.metadata().is_empty()
                && status.code() != tonic::Code::Ok
                && std::error::Error::source(&status).is_some()
            {
                return Outcome::Dropped;
            }
            Outcome::Error(status.code() as i32, None, status.message().to_owned())
        }
        Wire::Json | Wire::Binary => {
            let url = format!("{}/v1/services/{SERVICE}:{method}", running.url());
            let entry = cloud_report_proto::registry::lookup(match method {
                "check" => "google.api.servicecontrol.v1.CheckRequest",
                "allocateQuota" => "google.api.servicecontrol.v1.AllocateQuotaRequest",
                _ => "google.api.servicecontrol.v1.ReportRequest",
            })
            .unwrap();
            let (content_type, body) = if wire == Wire::Json {
                ("application/json", text.into_bytes())
            } else {
                (
                    PROTO_CONTENT_TYPE,
                    entry.json_to_binary(text.as_bytes()).unwrap(),
                )
            };
            let sent = plain_http()
                .post(url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await;
            let Ok(answer) = sent else {
                return Outcome::Dropped;
            };
            let status = answer.status().as_u16();
            let Ok(bytes) = answer.bytes().await else {
                return Outcome::Dropped;
            };
            match (status, wire) {
                (200, Wire::Json) => {
                    let value: Value = serde_json::from_slice(&bytes).unwrap();
                    // Read as the response type, written back canonically.
                    let binary = cloud_report_proto::registry::lookup(&format!(
                        "google.api.servicecontrol.v1.{}Response",
                        method[..1].to_uppercase() + &method[1..]
                    ))
                    .unwrap()
                    .json_to_binary(value.to_string().as_bytes())
                    .unwrap();
                    response_json(method, &binary)
                }
                (200, _) => response_json(method, &bytes),
                (http, Wire::Json) => {
                    let body: Value = serde_json::from_slice(&bytes).unwrap();
                    let error = &body["error"];
                    assert_eq!(error["code"], http, "{body}");
                    let code = cloud_report_proto::google::rpc::Code::from_str_name(
                        error["status"].as_str().unwrap(),
                    )
                    .unwrap();
                    Outcome::Error(
                        code as i32,
                        Some(http),
                        error["message"].as_str().unwrap().to_owned(),
                    )
                }
                (http, _) => {
                    let status = Status::decode(&bytes[..]).unwrap();
                    Outcome::Error(status.code, Some(http), status.message)
                }
            }
        }
    }
}

async fn admin(
    running: &Running,
    verb: reqwest::Method,
    path: &str,
    body: Option<String>,
) -> (u16, Value) {
    let mut request = plain_http().request(verb, format!("{}{path}", running.url()));
    if let Some(body) = body {
        request = request.body(body);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

async fn add_fault(running: &Running, fault: Value) -> (u16, Value) {
    admin(
        running,
        reqwest::Method::POST,
        &format!("/emulator/v1/services/{SERVICE}/faults"),
        Some(fault.to_string()),
    )
    .await
}

fn configured() -> Config {
    Config::default()
        .state_json(STATE)
        .unwrap()
        .service_config(ServiceConfig::from_yaml(CONFIG).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_log_records_every_call_on_every_wire() {
    let running = Emulator::start(configured()).await.unwrap();
    let sent = [
        (Wire::Grpc, "check", check("api_key:AIza-good")),
        (Wire::Json, "allocateQuota", quota("q-1")),
        (Wire::Binary, "report", report("r-1")),
        // Refused requests are logged too.
        (Wire::Json, "check", json!({"serviceName": SERVICE})),
    ];
    for (wire, method, request) in &sent {
        call(&running, *wire, method, request).await;
    }
    let (status, log) = admin(
        &running,
        reqwest::Method::GET,
        &format!("/emulator/v1/services/{SERVICE}/requests"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(log["dropped"], 0);
    let entries = log["requests"].as_array().unwrap();
    assert_eq!(entries.len(), sent.len(), "{log}");
    for (entry, (wire, method, request)) in entries.iter().zip(&sent) {
        assert_eq!(entry["method"], *method);
        assert_eq!(entry["wire"], format!("{wire:?}").to_lowercase());
        assert!(
            entry["receiveTime"].as_str().unwrap().ends_with('Z'),
            "{entry}"
        );
        // The request as canonical JSON: what was sent, written canonically.
        let entry_type = match *method {
            "check" => "google.api.servicecontrol.v1.CheckRequest",
            "allocateQuota" => "google.api.servicecontrol.v1.AllocateQuotaRequest",
            _ => "google.api.servicecontrol.v1.ReportRequest",
        };
        let types = cloud_report_proto::registry::lookup(entry_type).unwrap();
        let canonical = types
            .binary_to_json(
                &types
                    .json_to_binary(request.to_string().as_bytes())
                    .unwrap(),
                false,
            )
            .unwrap();
        assert_eq!(
            entry["request"],
            serde_json::from_str::<Value>(&canonical).unwrap()
        );
    }
    // The same in Rust.
    let received = running.emulator().requests(SERVICE);
    let seen: Vec<(Method, WireFormat)> = received.iter().map(|r| (r.method, r.wire)).collect();
    assert_eq!(
        seen,
        [
            (Method::Check, WireFormat::Grpc),
            (Method::AllocateQuota, WireFormat::Json),
            (Method::Report, WireFormat::Binary),
            (Method::Check, WireFormat::Json),
        ]
    );
    running.shutdown().await;

    // Bounded in bytes: the oldest are dropped, and counted.
    let running = Emulator::start(Config::default().max_request_log_bytes(1_000))
        .await
        .unwrap();
    for i in 0..20 {
        call(&running, Wire::Binary, "report", &report(&format!("r-{i}"))).await;
    }
    let (_, log) = admin(
        &running,
        reqwest::Method::GET,
        &format!("/emulator/v1/services/{SERVICE}/requests"),
        None,
    )
    .await;
    let kept = log["requests"].as_array().unwrap();
    let dropped = log["dropped"].as_u64().unwrap();
    assert!(!kept.is_empty() && dropped > 0, "{log}");
    assert_eq!(kept.len() as u64 + dropped, 20);
    let last = kept.last().unwrap();
    assert_eq!(last["request"]["operations"][0]["operationId"], "r-19");
    assert_eq!(running.emulator().dropped_requests(SERVICE), dropped);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_answer_on_every_wire() {
    for wire in WIRES {
        let running = Emulator::start(configured()).await.unwrap();
        let good = check("api_key:AIza-good");

        // A status, twice, then the usual answer.
        let (status, pending) = add_fault(
            &running,
            json!({"method": "check", "times": 2, "status": {"code": "UNAVAILABLE", "message": "down for a test"}}),
        )
        .await;
        assert_eq!(status, 200, "{pending}");
        assert_eq!(pending["faults"][0]["times"], 2);
        let http = (wire != Wire::Grpc).then_some(503);
        for _ in 0..2 {
            assert_eq!(
                call(&running, wire, "check", &good).await,
                Outcome::Error(14, http, "down for a test".into()),
                "{wire:?}"
            );
        }
        assert!(matches!(
            call(&running, wire, "check", &good).await,
            Outcome::Answer(_)
        ));

        // An HTTP status: that status on REST, its code on gRPC.
        add_fault(&running, json!({"method": "report", "httpStatus": 502})).await;
        let outcome = call(&running, wire, "report", &report("r-1")).await;
        let http = (wire != Wire::Grpc).then_some(502);
        assert_eq!(
            outcome,
            Outcome::Error(13, http, "HTTP 502 injected by the emulator".into()),
            "{wire:?}"
        );
        assert!(running.emulator().operations(SERVICE).is_empty());

        // A check error in a 200 answer.
        add_fault(
            &running,
            json!({"method": "check", "checkError": "SERVICE_STATUS_UNAVAILABLE"}),
        )
        .await;
        let Outcome::Answer(answer) = call(&running, wire, "check", &good).await else {
            panic!("{wire:?}: no answer");
        };
        assert_eq!(
            answer["checkErrors"][0]["code"],
            "SERVICE_STATUS_UNAVAILABLE"
        );

        // A canned answer, as given.
        let canned = json!({"operationId": "canned", "allocateErrors": [
            {"code": "RESOURCE_EXHAUSTED", "description": "scripted"}]});
        add_fault(
            &running,
            json!({"method": "allocateQuota", "response": canned}),
        )
        .await;
        assert_eq!(
            call(&running, wire, "allocateQuota", &quota("q-1")).await,
            Outcome::Answer(canned.clone())
        );

        // A delay, then the usual answer.
        add_fault(&running, json!({"method": "report", "delay": "0.3s"})).await;
        let started = Instant::now();
        let outcome = call(&running, wire, "report", &report("r-2")).await;
        assert!(started.elapsed() >= Duration::from_millis(300), "{wire:?}");
        assert!(
            matches!(outcome, Outcome::Answer(_)),
            "{wire:?}: {outcome:?}"
        );
        assert_eq!(running.emulator().operations(SERVICE).len(), 1);

        // No answer at all; the next call is answered.
        for drop in ["reset", "close"] {
            add_fault(&running, json!({"method": "check", "drop": drop})).await;
            assert_eq!(
                call(&running, wire, "check", &good).await,
                Outcome::Dropped,
                "{wire:?} {drop}"
            );
            assert!(matches!(
                call(&running, wire, "check", &good).await,
                Outcome::Answer(_)
            ));
        }

        // Listed while waiting, cleared by DELETE.
        add_fault(
            &running,
            json!({"method": "report", "times": 5, "httpStatus": 429}),
        )
        .await;
        let path = format!("/emulator/v1/services/{SERVICE}/faults");
        let (_, listed) = admin(&running, reqwest::Method::GET, &path, None).await;
        assert_eq!(
            listed,
            json!({"faults": [{"method": "report", "times": 5, "httpStatus": 429}]})
        );
        let (status, cleared) = admin(&running, reqwest::Method::DELETE, &path, None).await;
        assert_eq!((status, cleared), (200, json!({"faults": []})));
        assert!(matches!(
            call(&running, wire, "report", &report("r-3")).await,
            Outcome::Answer(_)
        ));
        running.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fraction_of_calls_fails_the_same_for_the_same_seed() {
    let mut patterns = Vec::new();
    for _ in 0..2 {
        let running = Emulator::start(configured()).await.unwrap();
        add_fault(
            &running,
            json!({"method": "check", "fraction": 0.3, "seed": 42, "httpStatus": 503}),
        )
        .await;
        let mut pattern = Vec::new();
        for _ in 0..40 {
            let outcome = call(&running, Wire::Json, "check", &check("api_key:AIza-good")).await;
            pattern.push(matches!(outcome, Outcome::Error(..)));
        }
        let failed = pattern.iter().filter(|f| **f).count();
        assert!((4..=24).contains(&failed), "{failed} of 40 failed");
        // A fraction stays until cleared.
        assert_eq!(running.emulator().faults(SERVICE).len(), 1);
        patterns.push(pattern);
        running.shutdown().await;
    }
    assert_eq!(patterns[0], patterns[1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_scripts_are_refused_in_one_line() {
    let running = Emulator::start(configured()).await.unwrap();
    let cases = [
        ("not json", "not JSON"),
        (r#"{"method": "check"}"#, "no action"),
        (
            r#"{"method": "check", "httpStatus": 503, "delay": "1s"}"#,
            "more than one action",
        ),
        (r#"{"method": "get", "httpStatus": 503}"#, "method: \"get\""),
        (
            r#"{"method": "check", "httpStatus": 200}"#,
            "httpStatus: 200",
        ),
        (
            r#"{"method": "report", "checkError": "NOT_FOUND"}"#,
            "checkError",
        ),
        (r#"{"method": "check", "checkError": "MADE_UP"}"#, "MADE_UP"),
        (
            r#"{"method": "check", "status": {"code": "OK"}}"#,
            "status.code",
        ),
        (
            r#"{"method": "check", "times": 0, "httpStatus": 503}"#,
            "times",
        ),
        (
            r#"{"method": "check", "times": 2, "fraction": 0.5, "httpStatus": 503}"#,
            "exclude",
        ),
        (
            r#"{"method": "check", "fraction": 1.5, "httpStatus": 503}"#,
            "fraction",
        ),
        (r#"{"method": "check", "delay": "forever"}"#, "delay"),
        (r#"{"method": "check", "delay": "7200s"}"#, "delay"),
        (r#"{"method": "check", "drop": "later"}"#, "drop"),
        (
            r#"{"method": "check", "response": {"checkErrors": "x"}}"#,
            "response",
        ),
        (
            r#"{"method": "check", "httpStatus": 503, "extra": 1}"#,
            "extra",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = admin(
            &running,
            reqwest::Method::POST,
            &format!("/emulator/v1/services/{SERVICE}/faults"),
            Some(body.to_owned()),
        )
        .await;
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
        assert!(!message.contains('\n'), "{body}: {message}");
    }
    assert!(running.emulator().faults(SERVICE).is_empty());
    // A fault built in Rust is judged as its JSON form is.
    use cloud_report_proto::emulator::Action;
    assert!(
        Fault::new(
            Method::Report,
            Action::CheckError(sc::check_error::Code::NotFound)
        )
        .is_err()
    );
    assert!(Fault::new(Method::Check, Action::HttpStatus(200)).is_err());
    assert!(
        Fault::new(
            Method::Check,
            Action::Status {
                code: cloud_report_proto::google::rpc::Code::Ok,
                message: String::new()
            }
        )
        .is_err()
    );
    assert!(Fault::new(Method::Check, Action::Response(vec![0xff].into())).is_err());
    // A state file that breaks a rule of the API Keys API, or is not one
    // line long in its keys: one line, and the state in force stays.
    let mut state: Value = serde_json::from_str(STATE).unwrap();
    state["apiKeys"]["AIza-two"] = json!({"project": "my-project", "restrictions": {
        "serverKeyRestrictions": {"allowedIps": ["10.0.0.0/8"]},
        "iosKeyRestrictions": {"allowedBundleIds": ["a.b"]}}});
    let mut bad_method = serde_json::from_str::<Value>(STATE).unwrap();
    bad_method["apiKeys"]["AIza-ß"] = json!({"project": "my-project", "restrictions": {
        "apiTargets": [{"service": SERVICE, "methods": ["Getß", "*Get"]}]}});
    let mut broken_key = serde_json::from_str::<Value>(STATE).unwrap();
    broken_key["apiKeys"]["line\nbreak"] = json!({"project": "nowhere"});
    for (state, why) in [
        (state, "one kind of client restriction"),
        (bad_method, "a wildcard may only be the last symbol"),
        (broken_key, "is not a project of the state"),
    ] {
        let (status, answer) = admin(
            &running,
            reqwest::Method::PUT,
            "/emulator/v1/state",
            Some(state.to_string()),
        )
        .await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(why) && !message.contains('\n'),
            "{message}"
        );
    }
    // An admin body over 16 MiB: 413 in Google's form.
    let (status, answer) = admin(
        &running,
        reqwest::Method::PUT,
        "/emulator/v1/state",
        Some(" ".repeat((16 << 20) + 1)),
    )
    .await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer["error"]["message"].is_string());
    // Other admin calls.
    for (verb, path, body, expected) in [
        (
            reqwest::Method::POST,
            "/emulator/v1/clock:advance",
            r#"{"duration": "60s"}"#,
            400,
        ),
        (
            reqwest::Method::PUT,
            "/emulator/v1/state",
            "{\"projects\": 7}",
            400,
        ),
        (reqwest::Method::GET, "/emulator/v1:reset", "", 405),
        (
            reqwest::Method::POST,
            &format!("/emulator/v1/services/{SERVICE}/requests"),
            "",
            405,
        ),
    ] {
        let (status, answer) = admin(&running, verb, path, Some(body.to_owned())).await;
        assert_eq!(status, expected, "{path}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn state_and_configuration_change_while_running() {
    let running = Emulator::start(configured()).await.unwrap();
    let new_key = check("api_key:AIza-new");
    let Outcome::Answer(answer) = call(&running, Wire::Json, "check", &new_key).await else {
        panic!()
    };
    assert_eq!(answer["checkErrors"][0]["code"], "API_KEY_INVALID");

    // A state with the key: allowed from then on.
    let mut state: Value = serde_json::from_str(STATE).unwrap();
    state["apiKeys"]["AIza-new"] = json!({"project": "my-project"});
    let (status, _) = admin(
        &running,
        reqwest::Method::PUT,
        "/emulator/v1/state",
        Some(state.to_string()),
    )
    .await;
    assert_eq!(status, 200);
    let Outcome::Answer(answer) = call(&running, Wire::Grpc, "check", &new_key).await else {
        panic!()
    };
    assert!(answer.get("checkErrors").is_none(), "{answer}");

    // A state naming an unknown project is refused whole: the key stays.
    let mut bad = state.clone();
    bad["apiKeys"]["AIza-other"] = json!({"project": "nowhere"});
    bad["apiKeys"].as_object_mut().unwrap().remove("AIza-new");
    let (status, answer) = admin(
        &running,
        reqwest::Method::PUT,
        "/emulator/v1/state",
        Some(bad.to_string()),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(!answer["error"]["message"].as_str().unwrap().contains('\n'));
    let Outcome::Answer(answer) = call(&running, Wire::Binary, "check", &new_key).await else {
        panic!()
    };
    assert!(answer.get("checkErrors").is_none(), "{answer}");

    // A configuration without the bookstore's metrics: the report's
    // metric is now unknown.
    let with_metric = |id: &str| {
        let mut r = report(id);
        r["operations"][0]["metricValueSets"] = json!([{
            "metricName": "serviceruntime.googleapis.com/api/consumer/request_count",
            "metricValues": [{"int64Value": "1"}]}]);
        r
    };
    let Outcome::Answer(answer) = call(&running, Wire::Json, "report", &with_metric("m-1")).await
    else {
        panic!()
    };
    assert!(answer.get("reportErrors").is_none(), "{answer}");
    let path = format!("/emulator/v1/services/{SERVICE}/config");
    let bare = format!("type: google.api.Service\nconfig_version: 3\nname: {SERVICE}\n");
    let (status, answer) = admin(&running, reqwest::Method::PUT, &path, Some(bare)).await;
    assert_eq!(status, 200, "{answer}");
    let Outcome::Answer(answer) = call(&running, Wire::Json, "report", &with_metric("m-2")).await
    else {
        panic!()
    };
    assert!(
        answer["reportErrors"][0]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("request_count"),
        "{answer}"
    );
    // Another service's configuration, or none at all, is refused.
    let (status, answer) = admin(
        &running,
        reqwest::Method::PUT,
        &path,
        Some("name: other.example.com".into()),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("other.example.com")
    );
    let (status, _) = admin(
        &running,
        reqwest::Method::PUT,
        &path,
        Some("name: [".into()),
    )
    .await;
    assert_eq!(status, 400);
    // The earlier configuration back.
    let (status, _) = admin(&running, reqwest::Method::PUT, &path, Some(CONFIG.into())).await;
    assert_eq!(status, 200);

    // A reset drops what was stored, logged and waiting; the state stays.
    add_fault(&running, json!({"method": "report", "httpStatus": 503})).await;
    call(&running, Wire::Json, "allocateQuota", &quota("q-1")).await;
    assert!(!running.emulator().quota_usage(SERVICE).is_empty());
    let (status, _) = admin(
        &running,
        reqwest::Method::POST,
        "/emulator/v1:reset",
        Some(String::new()),
    )
    .await;
    assert_eq!(status, 200);
    let emulator = running.emulator();
    assert!(emulator.operations(SERVICE).is_empty());
    assert!(emulator.requests(SERVICE).is_empty());
    assert!(emulator.faults(SERVICE).is_empty());
    assert!(emulator.quota_usage(SERVICE).is_empty());
    assert_eq!(emulator.stored_bytes(), 0);
    let Outcome::Answer(answer) = call(&running, Wire::Json, "check", &new_key).await else {
        panic!()
    };
    assert!(answer.get("checkErrors").is_none(), "{answer}");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_clock_opens_quota_windows_on_demand() {
    let clock = ManualClock::new(std::time::SystemTime::now());
    let running = Emulator::start(configured().clock(clock)).await.unwrap();
    // Reads of my-project: 5 a minute.
    let mut answers = Vec::new();
    for i in 0..6 {
        let Outcome::Answer(answer) = call(
            &running,
            Wire::Json,
            "allocateQuota",
            &quota(&format!("q-{i}")),
        )
        .await
        else {
            panic!()
        };
        answers.push(answer.get("allocateErrors").is_none());
    }
    assert_eq!(answers, [true, true, true, true, true, false]);
    let (_, before) = admin(&running, reqwest::Method::GET, "/emulator/v1/clock", None).await;
    assert_eq!(before["manual"], true);
    let (status, after) = admin(
        &running,
        reqwest::Method::POST,
        "/emulator/v1/clock:advance",
        Some(r#"{"duration": "60s"}"#.into()),
    )
    .await;
    assert_eq!(status, 200, "{after}");
    assert_ne!(before["now"], after["now"]);
    let Outcome::Answer(answer) =
        call(&running, Wire::Grpc, "allocateQuota", &quota("q-next")).await
    else {
        panic!()
    };
    assert!(answer.get("allocateErrors").is_none(), "{answer}");
    // The same in Rust.
    running
        .emulator()
        .advance_clock(Duration::from_secs(60))
        .unwrap();
    running.shutdown().await;
    assert!(
        Emulator::new(Config::default())
            .advance_clock(Duration::from_secs(1))
            .is_err()
    );
}

#[test]
fn faults_read_from_a_file_and_in_rust_agree() {
    let file = cloud_report_proto::emulator::read_faults_file(
        &json!({"faults": [{"service": SERVICE, "method": "check", "times": 2, "httpStatus": 503}]})
            .to_string(),
    )
    .unwrap();
    assert_eq!(file[0].0, SERVICE);
    assert_eq!(
        file[0].1,
        Fault::from_json(r#"{"method": "check", "times": 2, "httpStatus": 503}"#).unwrap()
    );
    let error = cloud_report_proto::emulator::read_faults_file(
        r#"{"faults": [{"method": "check", "httpStatus": 503}]}"#,
    )
    .unwrap_err();
    assert!(error.to_string().contains("faults[0]"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rollout_id_changes_while_running() {
    let running = Emulator::start(configured()).await.unwrap();
    let rollout = |answer: Outcome| match answer {
        Outcome::Answer(answer) => (
            answer["serviceConfigId"].clone(),
            answer["serviceRolloutId"].clone(),
        ),
        other => panic!("{other:?}"),
    };
    let good = check("api_key:AIza-good");
    assert_eq!(
        rollout(call(&running, Wire::Json, "check", &good).await),
        (json!("2024-01-01r0"), json!("emulator-rollout"))
    );
    let path = format!("/emulator/v1/services/{SERVICE}/rollout");
    let (status, _) = admin(
        &running,
        reqwest::Method::PUT,
        &path,
        Some(r#"{"rolloutId": "r-2"}"#.into()),
    )
    .await;
    assert_eq!(status, 200);
    for wire in WIRES {
        assert_eq!(
            rollout(call(&running, wire, "report", &report("r-1")).await),
            (json!("2024-01-01r0"), json!("r-2")),
            "{wire:?}"
        );
    }
    // An empty id sets the default again.
    let (status, answer) = admin(
        &running,
        reqwest::Method::PUT,
        &path,
        Some(r#"{"rolloutId": ""}"#.into()),
    )
    .await;
    assert_eq!(
        (status, answer),
        (200, json!({"rolloutId": "emulator-rollout"}))
    );
    // A service no configuration names: 404, for rollouts as for faults.
    for (verb, path, body) in [
        (
            reqwest::Method::PUT,
            "/emulator/v1/services/typo.example.com/rollout",
            r#"{"rolloutId": "r"}"#,
        ),
        (
            reqwest::Method::POST,
            "/emulator/v1/services/typo.example.com/faults",
            r#"{"method": "check", "httpStatus": 503}"#,
        ),
    ] {
        let (status, answer) = admin(&running, verb, path, Some(body.into())).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("typo.example.com")
        );
    }
    running.emulator().set_rollout_id(SERVICE, "r-3").unwrap();
    assert_eq!(
        rollout(call(&running, Wire::Grpc, "check", &good).await).1,
        json!("r-3")
    );
    running.shutdown().await;
}
