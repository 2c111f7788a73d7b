//! Writes the fixed reference documents of `data/` (run once; they are
//! committed): a ReportRequest of 100 operations (~100 KB of JSON), one near
//! the 1 MB limit, one of 10 operations with 60 log entries each, one of
//! 100 operations with 40 labels each (and more on their metric values),
//! a ReportInstanceStatusRequest of 50 resources x 3
//! revisions, and a DeploymentChangeReport of 100 changes and conflicts.
//!
//! `cargo run --release --bin generate`

use cloud_report_proto::google::api::servicecontrol::v1::{
    Distribution, HttpRequest, LogEntry, LogEntryOperation, LogEntrySourceLocation, MetricValue,
    MetricValueSet, Operation, ReportRequest, distribution, log_entry, metric_value,
};
use cloud_report_proto::google::cloud::apigee::v1::deployment_change_report::{
    RoutingChange, RoutingConflict, RoutingDeployment,
};
use cloud_report_proto::google::cloud::apigee::v1::{
    DeploymentChangeReport, ReportInstanceStatusRequest, ResourceStatus, RevisionStatus,
    UpdateError,
};
use cloud_report_proto::google::cloud::audit::{AuditLog, AuthenticationInfo, RequestMetadata};
use cloud_report_proto::google::protobuf::{Any, Struct, Timestamp, Value};
use cloud_report_proto::google::rpc::{
    Code, PreconditionFailure, Status, precondition_failure::Violation,
};
use cloud_report_proto::json;

fn ts(seconds: i64, nanos: i32) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: 1_700_000_000 + seconds,
        nanos,
        ..Default::default()
    })
}

fn operation(i: i64) -> Operation {
    let http = HttpRequest {
        request_method: "GET".into(),
        request_url: format!("https://library.example.com/v1/shelves/{i}/books?pageSize=25"),
        request_size: 812 + i,
        status: 200,
        response_size: 20_480 + i,
        user_agent: "curl/8.5.0".into(),
        remote_ip: format!("203.0.113.{}", i % 250),
        server_ip: "10.0.0.5".into(),
        latency: Some(cloud_report_proto::google::protobuf::Duration {
            seconds: 0,
            nanos: 12_500_000,
            ..Default::default()
        }),
        protocol: "HTTP/1.1".into(),
        ..Default::default()
    };
    let payload = Struct::from_iter([
        (
            "api_method".to_owned(),
            Value::from("google.example.library.v1.LibraryService.ListBooks"),
        ),
        ("http_response_code".to_owned(), Value::from(200.0)),
    ]);
    let audit = AuditLog {
        service_name: "library.example.com".into(),
        method_name: "google.example.library.v1.LibraryService.ListBooks".into(),
        resource_name: format!("shelves/{i}"),
        authentication_info: Some(AuthenticationInfo {
            principal_email: "rt@example.com".into(),
            ..Default::default()
        }),
        request_metadata: Some(RequestMetadata {
            caller_ip: format!("203.0.113.{}", i % 250),
            ..Default::default()
        }),
        status: Some(Status::new(Code::Ok, "")),
        ..Default::default()
    };
    let entry = |name: &str, payload, http: Option<HttpRequest>| LogEntry {
        name: name.into(),
        timestamp: ts(i, 1_000_000),
        severity: 200,
        http_request: http,
        payload: Some(payload),
        ..Default::default()
    };
    Operation {
        operation_id: format!("5ba3f2ae-35c5-4a0a-8d86-{i:012x}"),
        operation_name: "google.example.library.v1.LibraryService.ListBooks".into(),
        consumer_id: format!("project:consumer-{}", i % 10),
        start_time: ts(i, 0),
        end_time: ts(i, 12_500_000),
        labels: [
            (
                "cloud.googleapis.com/location".to_owned(),
                "us-central1".to_owned(),
            ),
            (
                "servicecontrol.googleapis.com/platform".to_owned(),
                "GKE".to_owned(),
            ),
        ]
        .into(),
        metric_value_sets: vec![
            MetricValueSet {
                metric_name: "serviceruntime.googleapis.com/api/consumer/request_count".into(),
                metric_values: vec![MetricValue {
                    labels: [("/response_code".to_owned(), "200".to_owned())].into(),
                    value: Some(metric_value::Value::Int64Value(1)),
                    ..Default::default()
                }],
                ..Default::default()
            },
            MetricValueSet {
                metric_name: "serviceruntime.googleapis.com/api/consumer/total_latencies".into(),
                metric_values: vec![MetricValue {
                    value: Some(metric_value::Value::DistributionValue(Distribution {
                        count: 1,
                        mean: 12.5,
                        minimum: 12.5,
                        maximum: 12.5,
                        bucket_counts: vec![0, 0, 1, 0, 0, 0, 0, 0],
                        bucket_option: Some(distribution::BucketOption::ExponentialBuckets(
                            distribution::ExponentialBuckets {
                                num_finite_buckets: 6,
                                growth_factor: 10.0,
                                scale: 1e-6,
                                ..Default::default()
                            },
                        )),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
        log_entries: vec![
            entry(
                "endpoints_log",
                log_entry::Payload::StructPayload(payload.clone()),
                Some(http.clone()),
            ),
            entry(
                "endpoints_log_detail",
                log_entry::Payload::StructPayload(payload),
                Some(http),
            ),
            entry(
                "cloudaudit.googleapis.com/data_access",
                log_entry::Payload::ProtoPayload(Any::from_msg(&audit)),
                None,
            ),
        ],
        ..Default::default()
    }
}

fn report(operations: i64) -> ReportRequest {
    ReportRequest {
        service_name: "library.example.com".into(),
        operations: (0..operations).map(operation).collect(),
        service_config_id: "2024-06-01r0".into(),
        ..Default::default()
    }
}

/// An operation of a gateway that logs much: `entries` log entries, each
/// with labels, a trace, an operation and a source location, and a text or
/// a nested struct payload.
fn logging_operation(i: i64, entries: i64) -> Operation {
    let mut operation = operation(i);
    operation.log_entries = (0..entries)
        .map(|e| {
            let payload = if e % 2 == 0 {
                log_entry::Payload::TextPayload(format!(
                    "GET /v1/shelves/{i}/books/{e} 200 12.5ms: served from the cache of \
                     backend-{}; upstream said \"ok\" (request {e} of {entries})",
                    e % 4
                ))
            } else {
                log_entry::Payload::StructPayload(Struct::from_iter([
                    (
                        "message".to_owned(),
                        Value::from(format!("request {e} done")),
                    ),
                    ("latency_ms".to_owned(), Value::from(12.5 + e as f64)),
                    (
                        "backend".to_owned(),
                        Value::from(Struct::from_iter([
                            ("name".to_owned(), Value::from(format!("backend-{}", e % 4))),
                            ("healthy".to_owned(), Value::from(true)),
                            ("zone".to_owned(), Value::from("us-central1-b")),
                        ])),
                    ),
                ]))
            };
            LogEntry {
                name: "endpoints_log".into(),
                timestamp: ts(i, (e * 1_000) as i32),
                severity: if e % 10 == 9 { 400 } else { 200 },
                trace: format!("projects/acme/traces/{:032x}", i * 1_000 + e),
                insert_id: format!("{i:08x}-{e:04x}"),
                labels: [
                    ("backend".to_owned(), format!("backend-{}", e % 4)),
                    ("api_version".to_owned(), "v1".to_owned()),
                    (
                        "consumer".to_owned(),
                        format!("project:consumer-{}", i % 10),
                    ),
                ]
                .into(),
                operation: Some(LogEntryOperation {
                    id: format!("op-{i}"),
                    producer: "library.example.com".into(),
                    first: e == 0,
                    last: e == entries - 1,
                    ..Default::default()
                }),
                source_location: Some(LogEntrySourceLocation {
                    file: "src/handlers/books.rs".into(),
                    line: 120 + e,
                    function: "library::handlers::list_books".into(),
                    ..Default::default()
                }),
                payload: Some(payload),
                ..Default::default()
            }
        })
        .collect();
    operation
}

/// An operation with many labels: on the operation, and on each of its
/// metric values (a gateway that labels by everything it knows).
fn labelled_operation(i: i64, labels: i64) -> Operation {
    let mut operation = operation(i);
    operation.log_entries.truncate(1);
    operation.labels.extend((0..labels).map(|l| {
        (
            format!("example.com/dimension_{l}"),
            format!("value-{}-{}", l, (i + l) % 13),
        )
    }));
    operation.user_labels = (0..labels / 2)
        .map(|l| (format!("team_{l}"), format!("owner-{}", l % 5)))
        .collect();
    for set in &mut operation.metric_value_sets {
        for value in &mut set.metric_values {
            value.labels.extend((0..labels / 4).map(|l| {
                (
                    format!("/example.com/metric_dimension_{l}"),
                    format!("{}", (i * l) % 97),
                )
            }));
        }
    }
    operation
}

fn routing(i: usize, env: &str) -> Option<RoutingDeployment> {
    Some(RoutingDeployment {
        api_proxy: format!("proxy-{i}"),
        basepath: format!("/v1/resource-{i}"),
        environment: env.into(),
        revision: format!("{}", i % 7 + 1),
        ..Default::default()
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text + "\n");

    write("report-100.json", json::to_string(&report(100))?)?;
    // As many operations as fit under 1,000,000 encoded bytes.
    let mut near = report(1);
    let mut i = 1;
    loop {
        let next = operation(i);
        near.operations.push(next);
        if prost::Message::encoded_len(&near) > 1_000_000 {
            near.operations.pop();
            break;
        }
        i += 1;
    }
    write("report-near-1mb.json", json::to_string(&near)?)?;
    // Log-heavy and label-heavy: the shapes a gateway that logs every
    // request, or labels by every dimension, sends.
    let logs = ReportRequest {
        operations: (0..10).map(|i| logging_operation(i, 60)).collect(),
        ..report(0)
    };
    write("report-logs.json", json::to_string(&logs)?)?;
    let labels = ReportRequest {
        operations: (0..100).map(|i| labelled_operation(i, 40)).collect(),
        ..report(0)
    };
    write("report-labels.json", json::to_string(&labels)?)?;

    let status = ReportInstanceStatusRequest {
        instance: "organizations/acme/instances/us-central1".into(),
        instance_uid: "3f1e0c52-8a77-4c9a-9d2e-5b0c1f7e9a10".into(),
        report_time: ts(0, 45_123_456),
        resources: (0..50)
            .map(|r| ResourceStatus {
                resource: format!("organizations/acme/environments/env-{r}/deployedConfig"),
                uid: format!("cfg-{r:04}"),
                total_replicas: 3,
                revisions: (0..3)
                    .map(|v| RevisionStatus {
                        revision_id: format!("{}", v + 1),
                        replicas: 3 - v,
                        json_spec: format!("{{\"proxies\":[\"proxy-{r}\"],\"revision\":{v}}}"),
                        errors: if v == 2 {
                            vec![UpdateError {
                                code: Code::FailedPrecondition as i32,
                                message: format!("Target server backend-{r} not found."),
                                resource: format!(
                                    "organizations/acme/apis/proxy-{r}/revisions/{v}"
                                ),
                                r#type: "PROXY_LOAD_FAILED".into(),
                                ..Default::default()
                            }]
                        } else {
                            Vec::new()
                        },
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    write("instance-status-50x3.json", json::to_string(&status)?)?;

    let change = DeploymentChangeReport {
        routing_changes: (0..100)
            .map(|i| RoutingChange {
                description: format!(
                    "Traffic on /v1/resource-{i} moves from revision {} to {}.",
                    i % 7 + 1,
                    i % 7 + 2
                ),
                environment_group: format!("group-{}", i % 5),
                from_deployment: routing(i, "prod"),
                should_sequence_rollout: i % 2 == 0,
                to_deployment: routing(i + 1, "prod"),
                ..Default::default()
            })
            .collect(),
        routing_conflicts: (0..100)
            .map(|i| RoutingConflict {
                conflicting_deployment: routing(i, "staging"),
                description: format!("Base path /v1/resource-{i} is already claimed in staging."),
                environment_group: format!("group-{}", i % 5),
                ..Default::default()
            })
            .collect(),
        validation_errors: Some(PreconditionFailure {
            violations: vec![Violation {
                r#type: "missing-proxy-revision".into(),
                subject: "proxy-9/revisions/12".into(),
                description: "Revision 12 does not exist.".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    write("change-report-100.json", json::to_string(&change)?)?;
    Ok(())
}
