//! The builder's requests against ESPv2's, field by field.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::metrics::{
    CALLER_IP, IOS_BUNDLE, SERVICE_AGENT, SIZE_BUCKETS, TIME_BUCKETS, USER_AGENT,
};
use super::report::sample;
use super::*;
use crate::google::api::servicecontrol::v1::CheckResponse;
use crate::google::api::servicecontrol::v1::check_error::Code as CheckCode;
use crate::google::api::servicecontrol::v1::metric_value::Value as MetricKindValue;
use crate::google::api::servicecontrol::v1::quota_operation::QuotaMode;
use crate::google::api::{LabelDescriptor, Service};
use crate::google::rpc::Code;
use std::time::Duration;

fn bucket(options: (i32, f64, f64), value: f64) -> usize {
    let d = sample(options, value);
    assert_eq!(d.bucket_counts.len(), options.0 as usize + 2);
    d.bucket_counts.iter().position(|&c| c == 1).unwrap()
}

fn call() -> CallInfo {
    let mut call = CallInfo::new("op-1", "1.api.Get");
    call.client_ip = "10.0.0.7".into();
    call
}

/// Check and AllocateQuota carry what `FillCheckRequest` and
/// `FillAllocateQuotaRequest` put in them.
#[test]
fn check_and_quota_requests_are_espv2s() {
    let builder = RequestBuilder::new("s.example.com", "c1")
        .agent("ESPv2", "ESPv2/2.45.0")
        .producer_project_id("producer");
    let mut keyed = call();
    keyed.api_key = "AIza".into();
    keyed.ios_bundle_id = "com.example".into();
    let check = builder
        .check_request(&keyed, SystemTime::UNIX_EPOCH)
        .unwrap();
    let op = check.operation.unwrap();
    assert_eq!(
        (
            check.service_name.as_str(),
            check.service_config_id.as_str()
        ),
        ("s.example.com", "c1")
    );
    assert_eq!(op.consumer_id, "api_key:AIza");
    assert_eq!(op.start_time, op.end_time);
    let keys: Vec<&str> = op.labels.keys().map(String::as_str).collect();
    assert_eq!(keys, [CALLER_IP, IOS_BUNDLE, SERVICE_AGENT, USER_AGENT]);
    assert!(
        builder
            .check_request(&CallInfo::new("", "m"), SystemTime::now())
            .is_err()
    );

    let costs = BTreeMap::from([("reads".to_owned(), 0), ("writes".to_owned(), 3)]);
    let ask = builder.quota_request_with(&keyed, &costs).unwrap();
    let op = ask.allocate_operation.unwrap();
    assert_eq!(op.consumer_id, "api_key:AIza");
    assert_eq!(op.method_name, "1.api.Get");
    assert_eq!(op.quota_mode, QuotaMode::Normal as i32);
    let amounts: Vec<_> = op
        .quota_metrics
        .iter()
        .map(|s| s.metric_values[0].value.clone())
        .collect();
    assert_eq!(
        amounts,
        [
            Some(MetricKindValue::Int64Value(1)),
            Some(MetricKindValue::Int64Value(3))
        ]
    );
    assert!(!op.labels.contains_key(IOS_BUNDLE));
    let keyless = builder.quota_request_with(&call(), &costs).unwrap();
    assert_eq!(
        keyless.allocate_operation.unwrap().consumer_id,
        "project:producer"
    );
    assert_eq!(
        builder.quota_request(&call()).unwrap(),
        None,
        "no costs, no ask"
    );
}

/// Labels as ESPv2's setters compute them.
#[test]
fn report_labels_follow_espv2s_setters() {
    let builder = RequestBuilder::new("s", "c").api_key_uid_reporting(true);
    let mut info = ReportInfo::new(call());
    info.grpc_status = Some(Code::NotFound);
    info.frontend_protocol = Protocol::Http;
    info.backend_protocol = Protocol::Grpc;
    info.auth_issuer = "auth-issuer".into();
    let ops = builder.report_operations(&info, SystemTime::now()).unwrap();
    let labels = &ops[0].labels;
    assert_eq!(ops.len(), 1, "no consumer project, no second operation");
    assert_eq!(labels["/response_code"], "404");
    assert_eq!(labels["/error_type"], "4xx");
    assert_eq!(labels["/credential_id"], "jwtauth:issuer=YXV0aC1pc3N1ZXI");
    assert_eq!(
        labels["servicecontrol.googleapis.com/backend_protocol"],
        "grpc"
    );
    assert!(ops[0].consumer_id.is_empty());
    assert!(
        ops[0]
            .metric_value_sets
            .iter()
            .all(|s| !s.metric_name.contains("/consumer/"))
    );

    let mut info = ReportInfo::new(call());
    info.call.api_key = "AIza".into();
    info.api_key_state = ApiKeyState::Verified;
    info.api_key_uid = "uid-1".into();
    info.consumer_project_number = Some(42);
    let ops = builder.report_operations(&info, SystemTime::now()).unwrap();
    let labels = &ops[0].labels;
    assert_eq!(labels["/credential_id"], "uid-1");
    assert_eq!(labels["/response_code_class"], "0xx");
    assert!(!labels.contains_key("/error_type"));
    assert!(!labels.contains_key("servicecontrol.googleapis.com/backend_protocol"));
    assert!(!labels.contains_key(CONSUMER_PROJECT_LABEL));
    assert_eq!(ops[1].operation_id, "op-11");
    assert_eq!(ops[1].labels[CONSUMER_PROJECT_LABEL], "42");
    assert!(ops[1].log_entries.is_empty());
    assert!(
        ops[1]
            .metric_value_sets
            .iter()
            .all(|s| s.metric_name.contains("/by_consumer/"))
    );
    assert_eq!(ops[0].log_entries[0].name, DEFAULT_LOG);
}

#[test]
fn key_states_are_read_from_the_first_error() {
    use crate::google::api::servicecontrol::v1::CheckError;
    let answer = |code: CheckCode| CheckResponse {
        check_errors: vec![CheckError {
            code: code as i32,
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        ApiKeyState::of_response(&CheckResponse::default()),
        ApiKeyState::Verified
    );
    assert_eq!(
        ApiKeyState::of_response(&answer(CheckCode::ApiKeyExpired)),
        ApiKeyState::Invalid
    );
    assert_eq!(
        ApiKeyState::of_response(&answer(CheckCode::ServiceNotActivated)),
        ApiKeyState::NotEnabled
    );
    assert_eq!(
        ApiKeyState::of_response(&answer(CheckCode::BillingDisabled)),
        ApiKeyState::Verified
    );
    let failed = Err(tonic::Status::unavailable("down"));
    assert_eq!(ApiKeyState::of_check(&failed), ApiKeyState::NotChecked);
}

/// ESPv2's examples (`request_builder_test.cc`'s goldens), and the
/// bounds `distribution.proto` sets.
#[test]
fn samples_land_in_their_buckets() {
    assert_eq!(bucket(SIZE_BUCKETS, 100.0), 3);
    assert_eq!(bucket(SIZE_BUCKETS, 1_048_576.0), 7);
    assert_eq!(bucket(TIME_BUCKETS, 0.123), 17);
    assert_eq!(bucket(TIME_BUCKETS, 0.022), 15);
    assert_eq!(bucket(SIZE_BUCKETS, 0.0), 0);
    assert_eq!(bucket(SIZE_BUCKETS, 1.0), 1);
    assert_eq!(bucket(SIZE_BUCKETS, 9.0), 1);
    assert_eq!(bucket(SIZE_BUCKETS, 10.0), 2);
    assert_eq!(bucket(SIZE_BUCKETS, 1000.0), 4);
    assert_eq!(bucket(SIZE_BUCKETS, 99_999_999.0), 8);
    assert_eq!(bucket(SIZE_BUCKETS, 1e8), 9);
    assert_eq!(bucket(SIZE_BUCKETS, 1e300), 9);
    assert_eq!(bucket(TIME_BUCKETS, 1e-7), 0);
    assert_eq!(bucket(TIME_BUCKETS, 3600.0), 30);
}

/// The methods a gateway checks, as ESPv2 reads `usage.rules`: exact
/// selectors only; `skip_service_control` and the gRPC health checks skip
/// everything; a method allowing unregistered calls is not checked even
/// with a key.
#[test]
fn plans_follow_espv2s_usage_rules() {
    use crate::google::api::{Usage, UsageRule};
    let rule = |selector: &str, unregistered: bool, skip: bool| UsageRule {
        selector: selector.into(),
        allow_unregistered_calls: unregistered,
        skip_service_control: skip,
        ..Default::default()
    };
    let api = |name: &str, methods: &[&str]| crate::google::protobuf::Api {
        name: name.into(),
        methods: methods
            .iter()
            .map(|m| crate::google::protobuf::Method {
                name: (*m).into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let service = Service {
        name: "s".into(),
        apis: vec![
            api("my.Api", &["Get", "List", "Open", "Quiet"]),
            api("grpc.health.v1.Health", &["Check", "Watch"]),
        ],
        usage: Some(Usage {
            rules: vec![
                rule("*", true, false),
                rule("my.*", true, false),
                rule("my.Api.Open", true, false),
                rule("my.Api.Quiet", false, true),
                // A rule naming a health check keeps it in.
                rule("grpc.health.v1.Health.Watch", false, false),
            ],
            ..Default::default()
        }),
        ..Default::default()
    };
    let builder = RequestBuilder::from_service(&service);
    let plan = |method: &str, key: &str| {
        let mut call = CallInfo::new("op", method);
        call.api_key = key.into();
        builder.plan(&call)
    };
    // Wildcards match nothing: the method needs a key.
    assert!(!builder.allows_unregistered_calls("my.Api.Get"));
    let CallPlan::Refuse(status) = plan("my.Api.Get", "") else {
        panic!("a keyless call of a method needing a key");
    };
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(
        status
            .message()
            .starts_with("Method doesn't allow unregistered callers")
    );
    assert!(matches!(plan("my.Api.Get", "AIza"), CallPlan::Check));
    // Unregistered calls allowed: no Check, key or not.
    assert!(matches!(plan("my.Api.Open", ""), CallPlan::Unchecked));
    assert!(matches!(plan("my.Api.Open", "AIza"), CallPlan::Unchecked));
    assert!(matches!(plan("my.Api.Quiet", "AIza"), CallPlan::Skip));
    assert!(matches!(
        plan("grpc.health.v1.Health.Check", ""),
        CallPlan::Skip
    ));
    assert!(matches!(
        plan("grpc.health.v1.Health.Watch", ""),
        CallPlan::Refuse(_)
    ));
    // Set by hand too.
    let builder = RequestBuilder::new("s", "")
        .allow_unregistered_calls(["a.B.C"])
        .skip_service_control(["a.B.D"]);
    assert!(builder.allows_unregistered_calls("a.B.C"));
    assert!(builder.skips_service_control("a.B.D"));
}

/// The log entry carries what ESPv2's `FillLogEntry` writes: the headers
/// and JWT claims configured, the trace under the GCP project when no
/// tracing project is set, the latency in whole milliseconds, the API
/// method and log message apart from the operation name; the platform
/// defaults in ESPv2's style.
#[test]
fn log_entries_carry_what_espv2_writes() {
    use crate::google::api::servicecontrol::v1::log_entry::Payload;
    use crate::google::protobuf::value::Kind;
    use crate::google::protobuf::{Struct, Value};
    let builder = RequestBuilder::new("s", "c")
        .agent("ESPv2", "ESPv2/2.50.0")
        .gcp_project("my-project")
        .log_request_headers(["x-request-id", "user-agent", "x-absent"])
        .log_response_headers(["content-type"])
        .log_jwt_payloads(["sub", "google.project", "exp", "admin", "gone", "google"]);
    let mut headers = http::HeaderMap::new();
    headers.append("x-request-id", "r-1".parse().unwrap());
    headers.append("user-agent", "curl/8".parse().unwrap());
    headers.append("user-agent", "other".parse().unwrap());
    let mut response = http::HeaderMap::new();
    response.insert("content-type", "application/json".parse().unwrap());
    let value = |kind| Value {
        kind: Some(kind),
        ..Default::default()
    };
    let google = Struct {
        fields: [("project".to_owned(), value(Kind::StringValue("p-1".into())))].into(),
        ..Default::default()
    };
    let claims = Struct {
        fields: [
            ("sub".to_owned(), value(Kind::StringValue("user-1".into()))),
            ("exp".to_owned(), value(Kind::NumberValue(1_700_000_000.7))),
            ("admin".to_owned(), value(Kind::BoolValue(true))),
            ("google".to_owned(), value(Kind::StructValue(google))),
        ]
        .into(),
        ..Default::default()
    };
    let mut info = ReportInfo::new(call());
    info.request_headers = builder.logged_request_headers(&headers);
    info.response_headers = builder.logged_response_headers(&response);
    info.jwt_payloads = builder.logged_jwt_payloads(&claims);
    info.trace_id = "105445aa7843bc8bf206b12000100000".into();
    info.request_time = Some(Duration::from_micros(42_789));
    info.api_method = "my.Api.Get".into();
    info.log_message = "my.Api.Get was called".into();
    assert_eq!(
        info.request_headers,
        "x-request-id=r-1;user-agent=curl/8,other;"
    );
    assert_eq!(info.response_headers, "content-type=application/json;");
    assert_eq!(
        info.jwt_payloads,
        "sub=user-1;google.project=p-1;exp=1700000000;admin=true;"
    );
    let ops = builder.report_operations(&info, SystemTime::now()).unwrap();
    let entry = &ops[0].log_entries[0];
    assert_eq!(
        entry.trace,
        "projects/my-project/traces/105445aa7843bc8bf206b12000100000"
    );
    let latency = entry
        .http_request
        .as_ref()
        .unwrap()
        .latency
        .clone()
        .unwrap();
    assert_eq!((latency.seconds, latency.nanos), (0, 42_000_000));
    let Some(Payload::StructPayload(payload)) = &entry.payload else {
        panic!("a struct payload");
    };
    let text = |key: &str| match payload.fields.get(key).and_then(|v| v.kind.as_ref()) {
        Some(Kind::StringValue(s)) => s.clone(),
        other => panic!("{key}: {other:?}"),
    };
    assert_eq!(text("request_headers"), info.request_headers);
    assert_eq!(text("response_headers"), info.response_headers);
    assert_eq!(text("jwt_payloads"), info.jwt_payloads);
    assert_eq!(text("api_method"), "my.Api.Get");
    assert_eq!(text("log_message"), "my.Api.Get was called");
    let labels = &ops[0].labels;
    assert_eq!(
        labels["serviceruntime.googleapis.com/api_method"],
        "my.Api.Get"
    );
    assert_eq!(
        labels["servicecontrol.googleapis.com/platform"],
        "UNKNOWN(ESPv2)"
    );
    assert_eq!(ops[0].operation_name, "1.api.Get");
    // Without the extras: none of their fields, the log message from the
    // operation name, a tracing project before the GCP project.
    let builder = builder.tracing_project("traces").logs(["my_log"]);
    let mut info = ReportInfo::new(call());
    info.trace_id = "t".into();
    let ops = builder.report_operations(&info, SystemTime::now()).unwrap();
    let entry = &ops[0].log_entries[0];
    assert_eq!(entry.name, "my_log");
    assert_eq!(entry.trace, "projects/traces/traces/t");
    let Some(Payload::StructPayload(payload)) = &entry.payload else {
        panic!("a struct payload");
    };
    for absent in ["request_headers", "response_headers", "jwt_payloads"] {
        assert!(!payload.fields.contains_key(absent), "{absent}");
    }
    assert_eq!(
        payload.fields["log_message"].kind,
        Some(Kind::StringValue("1.api.Get is called".into()))
    );
    // A quota ask names the quota method when told.
    let mut call = call();
    call.quota_method = "my.Api.Get".into();
    let costs = BTreeMap::from([("reads".to_owned(), 1)]);
    let ask = builder.quota_request_with(&call, &costs).unwrap();
    assert_eq!(ask.allocate_operation.unwrap().method_name, "my.Api.Get");
}

/// A logging destination's resource labels are kept even when none of its
/// logs is declared, as `logs_metrics_loader.cc` adds them first.
#[test]
fn resource_labels_of_unresolved_logs_are_kept() {
    use crate::google::api::{Logging, MonitoredResourceDescriptor, logging::LoggingDestination};
    let service = Service {
        name: "s".into(),
        monitored_resources: vec![MonitoredResourceDescriptor {
            r#type: "api".into(),
            labels: vec![LabelDescriptor {
                key: "/referer".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        logging: Some(Logging {
            producer_destinations: vec![LoggingDestination {
                monitored_resource: "api".into(),
                logs: vec!["undeclared_log".into()],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let builder = RequestBuilder::from_service(&service);
    let mut info = ReportInfo::new(call());
    info.call.referer = "https://example.com/".into();
    let ops = builder.report_operations(&info, SystemTime::now()).unwrap();
    assert_eq!(ops[0].labels["/referer"], "https://example.com/");
    assert!(ops[0].log_entries.is_empty());
}
