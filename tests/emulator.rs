//! The emulator over both wires on 127.0.0.1: the documented semantics, the
//! same results over gRPC and REST, auth, bounds, the `serve` command, and
//! load.
#![cfg(feature = "emulator")]

use crate::support;
use crate::support::plain_http;

use std::net::SocketAddr;
use std::time::Duration;

use cloud_report_proto::emulator::{Config, Emulator};
use cloud_report_proto::google::api::servicecontrol::v1::quota_controller_client::QuotaControllerClient;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient;
use cloud_report_proto::google::api::servicecontrol::v1::{
    AllocateQuotaRequest, CheckRequest, MetricValue, MetricValueSet, Operation, QuotaOperation,
    ReportRequest, ReportResponse, ServiceControllerRestClient, check_error, metric_value,
    quota_error, quota_operation,
};
use cloud_report_proto::google::cloud::apigee::v1::runtime_service_client::RuntimeServiceClient;
use cloud_report_proto::google::cloud::apigee::v1::{
    ReportInstanceStatusRequest, RuntimeServiceRestClient,
};
use cloud_report_proto::google::protobuf::Timestamp;
use cloud_report_proto::json;
use cloud_report_proto::rest::RestClient;
use serde_json::{Value, json};
use support::reference::Reference;

async fn start(config: Config) -> (SocketAddr, Emulator) {
    let emulator = Emulator::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = emulator.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, emulator)
}

/// The code a call was refused with (it must be refused).
async fn refused<T: std::fmt::Debug>(
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> tonic::Code {
    call.await.unwrap_err().code()
}

fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds,
        nanos: 0,
        ..Default::default()
    })
}

fn op(id: &str, start: i64, end: Option<i64>) -> Operation {
    Operation {
        operation_id: id.into(),
        consumer_id: "project:p".into(),
        start_time: ts(start),
        end_time: end.and_then(ts),
        metric_value_sets: vec![MetricValueSet {
            metric_name: "serviceruntime.googleapis.com/api/consumer/request_count".into(),
            metric_values: vec![MetricValue {
                value: Some(metric_value::Value::Int64Value(1)),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// One wire to an emulator: the same call over gRPC or REST.
#[derive(Clone)]
enum Wire {
    Grpc(ServiceControllerClient<tonic::transport::Channel>),
    Rest(ServiceControllerRestClient),
}

impl Wire {
    async fn connect(addr: SocketAddr, rest: bool, token: Option<&str>) -> Self {
        if rest {
            let mut builder = RestClient::builder(format!("http://{addr}"));
            if let Some(token) = token {
                builder = builder.bearer_token(token);
            }
            Wire::Rest(ServiceControllerRestClient::new(builder.build().unwrap()))
        } else {
            Wire::Grpc(
                ServiceControllerClient::connect(format!("http://{addr}"))
                    .await
                    .unwrap(),
            )
        }
    }

    async fn report(&mut self, request: ReportRequest) -> Result<ReportResponse, tonic::Status> {
        match self {
            Wire::Grpc(client) => client
                .report(request)
                .await
                .map(tonic::Response::into_inner),
            Wire::Rest(client) => client.report(request).await,
        }
    }
}

async fn inspect(addr: SocketAddr, path: &str) -> (u16, Value) {
    let response = plain_http()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

/// A report of `operations` to `svc.example.com`.
fn svc_report(operations: Vec<Operation>) -> ReportRequest {
    ReportRequest {
        service_name: "svc.example.com".into(),
        operations,
        ..Default::default()
    }
}

/// Asserts that `err` has `code` and says `fragment`.
fn assert_status(err: &tonic::Status, code: tonic::Code, fragment: &str) {
    assert_eq!(err.code(), code, "{err:?}");
    assert!(err.message().contains(fragment), "{}", err.message());
}

/// The documented Report semantics, run over each wire against a fresh
/// emulator: both give the same answers and the same stored operations.
#[tokio::test(flavor = "multi_thread")]
async fn report_semantics_are_the_same_over_both_wires() {
    let mut outcomes = Vec::new();
    for rest in [false, true] {
        let (addr, _) = start(Config::default()).await;
        let mut wire = Wire::connect(addr, rest, None).await;
        let mut answers = Vec::new();

        // Partial success: the valid operation is stored, the others get
        // report errors.
        let mut missing_id = op("", 10, Some(20));
        missing_id.operation_id.clear();
        let request = svc_report(vec![
            op("ok-1", 10, Some(20)),
            op("no-end", 10, None),
            op("backwards", 30, Some(20)),
            missing_id,
        ]);
        let response = wire.report(request.clone()).await.unwrap();
        let failed: Vec<&str> = response
            .report_errors
            .iter()
            .map(|e| e.operation_id.as_str())
            .collect();
        assert_eq!(failed, ["no-end", "backwards", ""]);
        for error in &response.report_errors {
            assert_eq!(error.status.as_ref().unwrap().code, 3);
        }
        answers.push(json::to_string(&response).unwrap());

        // A known operation id is not stored twice; the call still succeeds.
        let again = wire.report(request).await.unwrap();
        assert_eq!(again.report_errors.len(), 3);

        // Two values of one metric with identical labels reject everything.
        let mut duplicated = op("dup-metric", 10, Some(20));
        let set = duplicated.metric_value_sets[0].clone();
        duplicated.metric_value_sets.push(set);
        let err = wire
            .report(svc_report(vec![
                op("would-be-ok", 10, Some(20)),
                duplicated,
            ]))
            .await
            .unwrap_err();
        assert_status(&err, tonic::Code::InvalidArgument, "identical labels");
        answers.push(format!("{:?}:{}", err.code(), err.message()));

        // Different labels are different values.
        let mut labelled = op("labelled", 10, Some(20));
        let mut value = labelled.metric_value_sets[0].metric_values[0].clone();
        value.labels.insert("/response_code".into(), "500".into());
        labelled.metric_value_sets[0].metric_values.push(value);
        wire.report(svc_report(vec![labelled])).await.unwrap();

        // Over 1 MB.
        let mut big = op("big", 10, Some(20));
        big.labels.insert("blob".into(), "x".repeat(1_000_001));
        let err = wire.report(svc_report(vec![big])).await.unwrap_err();
        assert_status(&err, tonic::Code::InvalidArgument, "limit is 1000000");

        let (status, stored) =
            inspect(addr, "/emulator/v1/services/svc.example.com/operations").await;
        assert_eq!(status, 200);
        let ids: Vec<&str> = stored["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["operationId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["ok-1", "labelled"]);
        outcomes.push((answers, stored));
    }
    assert_eq!(outcomes[0], outcomes[1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_store_refuses_whole_reports() {
    let mut config = Config::default();
    config.max_operations = 2;
    let (addr, emulator) = start(config).await;
    let mut wire = Wire::connect(addr, false, None).await;
    let report = |ids: &[&str]| ReportRequest {
        service_name: "s".into(),
        operations: ids.iter().map(|id| op(id, 1, Some(2))).collect(),
        ..Default::default()
    };
    wire.report(report(&["a"])).await.unwrap();
    let err = wire.report(report(&["b", "c"])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        emulator.operations("s").len(),
        1,
        "nothing of a refused report is stored"
    );
    wire.report(report(&["a", "b"])).await.unwrap();
    assert_eq!(emulator.operations("s").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_required_token_guards_every_wire() {
    let mut config = Config::default();
    config.require_token = Some("s3cret".into());
    let (addr, _) = start(config).await;
    let request = ReportRequest {
        service_name: "s".into(),
        operations: vec![op("a", 1, Some(2))],
        ..Default::default()
    };

    let mut grpc = Wire::connect(addr, false, None).await;
    assert_eq!(
        refused(grpc.report(request.clone())).await,
        tonic::Code::Unauthenticated
    );
    let mut rest = Wire::connect(addr, true, Some("wrong")).await;
    assert_eq!(
        refused(rest.report(request.clone())).await,
        tonic::Code::Unauthenticated
    );
    let (status, body) = inspect(addr, "/emulator/v1/services/s/operations").await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );

    let mut rest = Wire::connect(addr, true, Some("s3cret")).await;
    rest.report(request.clone()).await.unwrap();
    let mut client = ServiceControllerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut call = tonic::Request::new(request);
    call.metadata_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    client.report(call).await.unwrap();
    let response = plain_http()
        .get(format!("http://{addr}/emulator/v1/services/s/operations"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_status_keeps_the_newest_report() {
    let (addr, _) = start(Config::default()).await;
    let rest = RuntimeServiceRestClient::new(
        RestClient::builder(format!("http://{addr}"))
            .build()
            .unwrap(),
    );
    let mut grpc = RuntimeServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let status = |uid: &str, seconds: i64, revision: &str| ReportInstanceStatusRequest {
        instance: "organizations/acme/instances/eu1".into(),
        instance_uid: uid.into(),
        report_time: ts(seconds),
        resources: vec![
            cloud_report_proto::google::cloud::apigee::v1::ResourceStatus {
                resource: "organizations/acme/envgroups/prod".into(),
                revisions: vec![
                    cloud_report_proto::google::cloud::apigee::v1::RevisionStatus {
                        revision_id: revision.into(),
                        replicas: 2,
                        ..Default::default()
                    },
                ],
                total_replicas: 2,
                uid: "eg-1".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    rest.report_instance_status(status("uid-1", 200, "new"))
        .await
        .unwrap();
    // An older report is answered OK and changes nothing.
    grpc.report_instance_status(status("uid-1", 100, "old"))
        .await
        .unwrap();
    rest.report_instance_status(status("uid-2", 50, "other"))
        .await
        .unwrap();
    let (code, body) = inspect(addr, "/emulator/v1/organizations/acme/instances/eu1/status").await;
    assert_eq!(code, 200);
    let revisions: Vec<&str> = body["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["resources"][0]["revisions"][0]["revisionId"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(revisions, ["new", "other"]);

    let bad_name = ReportInstanceStatusRequest {
        instance: "organizations/acme/instances/eu1/extra".into(),
        report_time: ts(1),
        ..Default::default()
    };
    assert_eq!(
        refused(grpc.report_instance_status(bad_name)).await,
        tonic::Code::InvalidArgument
    );
    let no_time = ReportInstanceStatusRequest {
        instance: "organizations/acme/instances/eu1".into(),
        ..Default::default()
    };
    let err = rest.report_instance_status(no_time).await.unwrap_err();
    assert_status(&err, tonic::Code::InvalidArgument, "report_time");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_and_allocate_quota_echo_and_deny_as_configured() {
    let mut config = Config::default();
    config.denied_consumers.insert(
        "project:blocked".into(),
        check_error::Code::ServiceNotActivated,
    );
    config.denied_consumers.insert(
        "project:no-billing".into(),
        check_error::Code::BillingDisabled,
    );
    let (addr, _) = start(config).await;
    let mut client = ServiceControllerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let check = |consumer: &str| CheckRequest {
        service_name: "s".into(),
        operation: Some(Operation {
            operation_id: "c-1".into(),
            consumer_id: consumer.into(),
            start_time: ts(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    let allowed = client
        .check(check("project:ok"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allowed.operation_id, "c-1");
    assert!(allowed.check_errors.is_empty());
    let denied = client
        .check(check("project:blocked"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        denied.check_errors[0].code,
        check_error::Code::ServiceNotActivated as i32
    );

    let quota = QuotaControllerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let allocate = |consumer: &str, mode: quota_operation::QuotaMode| AllocateQuotaRequest {
        service_name: "s".into(),
        allocate_operation: Some(QuotaOperation {
            operation_id: "q-1".into(),
            consumer_id: consumer.into(),
            quota_mode: mode as i32,
            quota_metrics: vec![MetricValueSet {
                metric_name: "reads".into(),
                metric_values: vec![
                    MetricValue {
                        value: Some(metric_value::Value::Int64Value(2)),
                        ..Default::default()
                    },
                    MetricValue {
                        value: Some(metric_value::Value::Int64Value(3)),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    use quota_operation::QuotaMode;
    let ask = async |consumer: &str, mode: QuotaMode| {
        quota.clone().allocate_quota(allocate(consumer, mode)).await
    };
    // Granted, in the production shape: what was used, by metric.
    let granted = ask("project:ok", QuotaMode::Normal)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (granted.operation_id.as_str(), granted.allocate_errors.len()),
        ("q-1", 0)
    );
    let used = &granted.quota_metrics[0];
    assert_eq!(
        used.metric_name,
        "serviceruntime.googleapis.com/api/consumer/quota_used_count"
    );
    assert_eq!(used.metric_values[0].labels["/quota_name"], "reads");
    assert_eq!(
        used.metric_values[0].value,
        Some(metric_value::Value::Int64Value(5))
    );
    // CHECK_ONLY allocates nothing.
    let checked = ask("project:ok", QuotaMode::CheckOnly)
        .await
        .unwrap()
        .into_inner();
    assert!(checked.quota_metrics.is_empty());
    // UNSPECIFIED "Must not be used".
    let error = ask("project:ok", QuotaMode::Unspecified).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    // A consumer Check denies for its service's activation is no quota
    // matter; one denied for billing is refused with the matching code.
    let not_activated = ask("project:blocked", QuotaMode::Normal)
        .await
        .unwrap()
        .into_inner();
    assert!(not_activated.allocate_errors.is_empty());
    let refused = ask("project:no-billing", QuotaMode::Normal)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        refused.allocate_errors[0].code,
        quota_error::Code::BillingNotActive as i32
    );
}

/// The official Python client (gRPC) and urllib (REST) against the emulator.
#[tokio::test(flavor = "multi_thread")]
async fn python_clients_use_the_emulator() {
    let (addr, emulator) = start(Config::default()).await;
    let grpc_request = ReportRequest {
        service_name: "py.example.com".into(),
        operations: vec![op("from-grpc", 1, Some(2))],
        ..Default::default()
    };
    let rest_request = ReportRequest {
        operations: vec![op("from-rest", 1, Some(2)), op("bad", 5, Some(1))],
        ..Default::default()
    };
    let check = CheckRequest {
        service_name: "py.example.com".into(),
        operation: Some(Operation {
            operation_id: "py-check".into(),
            consumer_id: "project:p".into(),
            start_time: ts(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (grpc_text, rest_text, check_text) = (
        json::to_string(&grpc_request).unwrap(),
        json::to_string(&rest_request).unwrap(),
        json::to_string(&check).unwrap(),
    );
    let answers = tokio::task::spawn_blocking(move || {
        let mut reference = Reference::get();
        (
            reference.call(json!({"op": "grpc_call", "target": addr.to_string(), "method": "report", "json": grpc_text})),
            reference.call(json!({"op": "http_post", "url": format!("http://{addr}/v1/services/py.example.com:report"), "body": rest_text})),
            reference.call(json!({"op": "grpc_call", "target": addr.to_string(), "method": "check", "json": check_text})),
        )
    })
    .await
    .unwrap();
    assert!(answers.0.get("json").is_some(), "{}", answers.0);
    assert_eq!(answers.1["status"], 200, "{}", answers.1);
    let rest: ReportResponse = json::from_str(answers.1["body"].as_str().unwrap()).unwrap();
    assert_eq!(rest.report_errors[0].operation_id, "bad");
    assert!(
        answers.2["json"].as_str().unwrap().contains("py-check"),
        "{}",
        answers.2
    );
    let ids: Vec<String> = emulator
        .operations("py.example.com")
        .into_iter()
        .map(|o| o.operation_id)
        .collect();
    assert_eq!(ids, ["from-grpc", "from-rest"]);
}

/// 50 concurrent clients on each wire, thousands of reports: every accepted
/// operation is stored, none twice.
#[tokio::test(flavor = "multi_thread")]
async fn load_every_accepted_operation_is_stored_once() {
    const CLIENTS: usize = 50;
    const REPORTS: usize = 40;
    let (addr, emulator) = start(Config::default()).await;
    let mut tasks = Vec::new();
    for rest in [false, true] {
        for client in 0..CLIENTS {
            let mut wire = Wire::connect(addr, rest, None).await;
            tasks.push(tokio::spawn(async move {
                let mut accepted = 0;
                for report in 0..REPORTS {
                    let id = format!("{}-{client}-{report}", if rest { "rest" } else { "grpc" });
                    // Every operation is sent twice: the second is a duplicate.
                    let request = ReportRequest {
                        service_name: "load.example.com".into(),
                        operations: vec![op(&id, 1, Some(2)), op(&id, 1, Some(2))],
                        ..Default::default()
                    };
                    let response =
                        tokio::time::timeout(Duration::from_secs(30), wire.report(request))
                            .await
                            .expect("no call hangs")
                            .expect("the emulator accepts the report");
                    assert!(response.report_errors.is_empty());
                    accepted += 1;
                }
                accepted
            }));
        }
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap();
    }
    assert_eq!(accepted, 2 * CLIENTS * REPORTS);
    let stored = emulator.operations("load.example.com");
    assert_eq!(stored.len(), accepted);
    let unique: std::collections::HashSet<&str> =
        stored.iter().map(|o| o.operation_id.as_str()).collect();
    assert_eq!(unique.len(), accepted);
}

#[cfg(feature = "cli")]
#[test]
fn serve_command_runs_the_emulator() {
    use std::process::Command;
    let served = support::serve::Served::start(["--listen", "127.0.0.1:0", "--require-token", "t"]);
    let addr = served.addr.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime.block_on(async {
        let client = ServiceControllerRestClient::new(
            RestClient::builder(format!("http://{addr}"))
                .bearer_token("t")
                .build()
                .unwrap(),
        );
        client
            .report(ReportRequest {
                service_name: "cli.example.com".into(),
                operations: vec![op("x", 1, Some(2))],
                ..Default::default()
            })
            .await
    });
    drop(served);
    assert!(result.unwrap().report_errors.is_empty());

    let refused = Command::new(env!("CARGO_BIN_EXE_cloud-report-under-test"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--allow-remote"));
}

mod deployments {
    use cloud_report_proto::emulator::DeploymentState;
    use cloud_report_proto::google::cloud::apigee::v1::deployment_service_client::DeploymentServiceClient;
    use cloud_report_proto::google::cloud::apigee::v1::{
        DeploymentServiceRestClient, GenerateDeployChangeReportRequest,
        GenerateUndeployChangeReportRequest,
    };

    use super::*;

    async fn emulator() -> SocketAddr {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/deployment-state.json"
        ))
        .unwrap();
        let mut config = Config::default();
        config.deployments = DeploymentState::from_json(&text).unwrap();
        start(config).await.0
    }

    fn name(env: &str, api: &str, revision: &str) -> String {
        format!("organizations/acme/environments/{env}/apis/{api}/revisions/{revision}")
    }

    /// Asks both wires for the report of a deploy (`Some(override)`) or an
    /// undeploy (`None`), checks they agree, and gives the report as JSON.
    async fn change_report(
        addr: SocketAddr,
        env: &str,
        api: &str,
        rev: &str,
        deploy: Option<bool>,
    ) -> Value {
        let name = name(env, api, rev);
        let mut grpc = DeploymentServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let rest = DeploymentServiceRestClient::new(
            RestClient::builder(format!("http://{addr}"))
                .build()
                .unwrap(),
        );
        let (over_grpc, over_rest) = match deploy {
            Some(override_) => {
                let request = GenerateDeployChangeReportRequest {
                    name,
                    r#override: override_,
                    ..Default::default()
                };
                (
                    grpc.generate_deploy_change_report(request.clone())
                        .await
                        .unwrap()
                        .into_inner(),
                    rest.generate_deploy_change_report(request).await.unwrap(),
                )
            }
            None => {
                let request = GenerateUndeployChangeReportRequest {
                    name,
                    ..Default::default()
                };
                (
                    grpc.generate_undeploy_change_report(request.clone())
                        .await
                        .unwrap()
                        .into_inner(),
                    rest.generate_undeploy_change_report(request).await.unwrap(),
                )
            }
        };
        assert_eq!(over_grpc, over_rest);
        serde_json::from_str(&json::to_string(&over_rest).unwrap()).unwrap()
    }

    async fn deploy(addr: SocketAddr, env: &str, api: &str, rev: &str, override_: bool) -> Value {
        change_report(addr, env, api, rev, Some(override_)).await
    }

    async fn undeploy(addr: SocketAddr, env: &str, api: &str, rev: &str) -> Value {
        change_report(addr, env, api, rev, None).await
    }

    fn routing(api: &str, revision: &str, environment: &str, basepath: &str) -> Value {
        json!({"apiProxy": api, "basepath": basepath, "environment": environment, "revision": revision})
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn replacing_a_revision_moves_its_traffic() {
        let addr = emulator().await;
        let report = deploy(addr, "prod", "orders", "2", true).await;
        let changes = report["routingChanges"].as_array().unwrap();
        assert_eq!(changes.len(), 2, "{report}");
        assert_eq!(
            changes[0]["fromDeployment"],
            routing("orders", "1", "prod", "/orders")
        );
        assert_eq!(
            changes[0]["toDeployment"],
            routing("orders", "2", "prod", "/orders")
        );
        assert_eq!(changes[0]["shouldSequenceRollout"], true);
        assert_eq!(changes[0]["environmentGroup"], "prod-group");
        // /orders/v2 was served by /orders; the new revision claims it.
        assert_eq!(
            changes[1]["fromDeployment"],
            routing("orders", "1", "prod", "/orders")
        );
        assert_eq!(
            changes[1]["toDeployment"],
            routing("orders", "2", "prod", "/orders/v2")
        );
        assert!(
            report.get("routingConflicts").is_none() && report.get("validationErrors").is_none()
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn validation_errors() {
        let addr = emulator().await;
        let report = deploy(addr, "prod", "orders", "2", false).await;
        assert_eq!(
            report["validationErrors"]["violations"][0]["type"], "deployment-exists",
            "{report}"
        );
        let report = deploy(addr, "prod", "orders", "9", true).await;
        assert_eq!(
            report["validationErrors"]["violations"][0]["type"], "missing-proxy-revision",
            "{report}"
        );
        let report = deploy(addr, "qa", "orders", "1", true).await;
        assert_eq!(
            report["validationErrors"]["violations"][0]["type"], "missing-environment",
            "{report}"
        );
        let report = undeploy(addr, "prod", "orders", "2").await;
        assert_eq!(
            report["validationErrors"]["violations"][0]["type"], "deployment-not-found",
            "{report}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn claimed_basepaths_conflict_and_longer_ones_take_traffic() {
        let addr = emulator().await;
        // /catalog is claimed in prod-eu, in the same group as prod.
        let report = deploy(addr, "prod", "catalog", "1", false).await;
        assert_eq!(
            report["routingConflicts"][0]["conflictingDeployment"],
            routing("catalog", "1", "prod-eu", "/catalog")
        );
        assert_eq!(
            report["routingConflicts"][0]["environmentGroup"],
            "prod-group"
        );
        // In another group nothing is claimed.
        assert_eq!(
            deploy(addr, "staging", "catalog", "1", false).await,
            json!({})
        );
        // A longer base path takes traffic from a shorter one, across the group.
        let report = deploy(addr, "prod-eu", "orders-v2", "1", false).await;
        assert_eq!(
            report["routingChanges"][0]["fromDeployment"],
            routing("orders", "1", "prod", "/orders")
        );
        assert_eq!(
            report["routingChanges"][0]["toDeployment"],
            routing("orders-v2", "1", "prod-eu", "/orders/v2")
        );
        // false, so omitted from canonical JSON.
        assert!(
            report["routingChanges"][0]
                .get("shouldSequenceRollout")
                .is_none(),
            "{report}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn undeploying_hands_traffic_to_the_next_claim_or_none() {
        let addr = emulator().await;
        let report = undeploy(addr, "prod", "legacy", "8").await;
        assert_eq!(
            report["routingChanges"][0]["fromDeployment"],
            routing("legacy", "8", "prod", "/orders/v1")
        );
        assert_eq!(
            report["routingChanges"][0]["toDeployment"],
            routing("orders", "1", "prod", "/orders")
        );
        let report = undeploy(addr, "prod-eu", "catalog", "1").await;
        assert_eq!(
            report["routingChanges"][0]["fromDeployment"],
            routing("catalog", "1", "prod-eu", "/catalog")
        );
        assert!(
            report["routingChanges"][0].get("toDeployment").is_none(),
            "{report}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unknown_organizations_and_bad_names_are_errors() {
        let addr = emulator().await;
        let mut grpc = DeploymentServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let unknown = GenerateDeployChangeReportRequest {
            name: "organizations/nobody/environments/prod/apis/orders/revisions/1".into(),
            r#override: false,
            ..Default::default()
        };
        assert_eq!(
            refused(grpc.generate_deploy_change_report(unknown)).await,
            tonic::Code::NotFound
        );
        let bad = GenerateDeployChangeReportRequest {
            name: "orders".into(),
            r#override: false,
            ..Default::default()
        };
        assert_eq!(
            refused(grpc.generate_deploy_change_report(bad)).await,
            tonic::Code::InvalidArgument
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn started_in_process_in_one_call_and_shut_down() {
    let running = Emulator::start(
        Config::default()
            .require_token("t")
            .max_operations(10)
            .deny_consumer("project:x", check_error::Code::ProjectDeleted),
    )
    .await
    .unwrap();
    let mut wire = Wire::connect(running.addr(), true, Some("t")).await;
    let answer = wire
        .report(ReportRequest {
            service_name: "inproc.example.com".into(),
            operations: vec![op("a", 1, Some(2))],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(answer.report_errors.is_empty());
    assert_eq!(running.emulator().operations("inproc.example.com").len(), 1);
    let addr = running.addr();
    running.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// The request log is a record of the exchange: each entry has the answer
/// (the response or the error), the fault that took the call, the caller
/// (never the token), the latency; and `GET .../requests` filters by
/// method, consumer, status and time.
#[tokio::test(flavor = "multi_thread")]
async fn the_request_log_records_each_answer_and_filters() {
    use cloud_report_proto::emulator::{Answer, Fault};
    let running = Emulator::start(Config::default().require_token("s3cret"))
        .await
        .unwrap();
    let service = "log.example.com";
    let emulator = running.emulator();
    emulator
        .add_fault(
            service,
            Fault::from_json(r#"{"method": "check", "httpStatus": 503}"#).unwrap(),
        )
        .unwrap();
    let http = plain_http();
    let call = |path: &'static str, body: Value| {
        let http = http.clone();
        let url = format!("{}/v1/services/{service}:{path}", running.url());
        async move {
            http.post(url)
                .bearer_auth("s3cret")
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let check = |consumer: &str| {
        json!({"operation": {"operationId": "c", "operationName": "log.v1.Get",
            "consumerId": consumer, "startTime": "2024-01-01T00:00:00Z"}})
    };
    assert_eq!(call("check", check("project:a")).await, 503, "the fault");
    assert_eq!(call("check", check("project:b")).await, 200);
    assert_eq!(
        call("report", json!({"operations": [{"operationId": "r"}]})).await,
        200
    );
    assert_eq!(
        call("allocateQuota", json!({"allocateOperation": {}})).await,
        400
    );
    let logged = emulator.requests(service);
    assert_eq!(logged.len(), 4);
    assert!(
        logged
            .iter()
            .all(|r| r.caller == "token" && r.latency.is_some())
    );
    assert!(
        matches!(&logged[0].answer, Answer::Error { code, .. } if code.as_str_name() == "UNAVAILABLE")
    );
    assert_eq!(
        logged[0].fault.as_deref(),
        Some(r#"{"httpStatus":503,"method":"check"}"#)
    );
    assert!(matches!(&logged[1].answer, Answer::Response(_)) && logged[1].fault.is_none());
    let list = |query: &str| {
        let http = http.clone();
        let url = format!(
            "{}/emulator/v1/services/{service}/requests{query}",
            running.url()
        );
        async move { support::get_json(&http, &url, Some("s3cret")).await }
    };
    let all = list("").await;
    let first = &all["requests"][0];
    assert_eq!(first["status"], "UNAVAILABLE");
    assert_eq!(first["error"]["code"], "UNAVAILABLE");
    assert_eq!(first["caller"], "token");
    assert!(first["latency"].as_str().unwrap().ends_with('s'));
    assert_eq!(first["fault"]["httpStatus"], 503);
    let second = &all["requests"][1];
    assert_eq!(second["status"], "OK");
    assert_eq!(second["response"]["serviceConfigId"], "emulator-config");
    assert!(!all.to_string().contains("s3cret"), "no secret in the log");
    let count = |v: &Value| v["requests"].as_array().map_or(0, Vec::len);
    assert_eq!(count(&list("?method=check").await), 2);
    assert_eq!(count(&list("?method=check&consumer=project%3Ab").await), 1);
    assert_eq!(count(&list("?status=OK").await), 2);
    assert_eq!(count(&list("?status=INVALID_ARGUMENT").await), 1);
    assert_eq!(count(&list("?since=2999-01-01T00:00:00Z").await), 0);
    assert_eq!(count(&list("?until=2999-01-01T00:00:00Z").await), 4);
    let refused = http
        .get(format!(
            "{}/emulator/v1/services/{service}/requests?color=red",
            running.url()
        ))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    running.shutdown().await;
}

/// An operation reported with hostile values, for the page's tests.
async fn report_hostile(url: &str, token: Option<&str>) {
    let body = json!({"operations": [{
        "operationId": "op-page-1",
        "operationName": "page.v1.Things.Get",
        "consumerId": "project:page",
        "startTime": "2024-01-01T00:00:00Z",
        "endTime": "2024-01-01T00:00:01Z",
        "labels": {"hostile": "<script>document.title='pwned'</script>"},
        "metricValueSets": [{"metricName": "page.example.com/requests", "metricValues": [{"int64Value": "7"}]}],
        "logEntries": [{"name": "page_log", "severity": "ERROR", "textPayload": "the backend said <b>no</b>"}],
    }]});
    let mut call = plain_http()
        .post(format!("{url}/v1/services/page.example.com:report"))
        .json(&body);
    if let Some(token) = token {
        call = call.bearer_auth(token);
    }
    assert_eq!(call.send().await.unwrap().status(), 200);
}

/// `GET /emulator/ui/`: the services, what they stored (metrics and log
/// entries readable), the request log with its answers; every reported
/// value escaped; behind the token check.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_what_arrived_escaped() {
    let running = Emulator::start(Config::default().require_token("t"))
        .await
        .unwrap();
    report_hostile(&running.url(), Some("t")).await;
    let page = |token: Option<&'static str>| {
        let url = format!("{}/emulator/ui/", running.url());
        async move {
            let mut call = plain_http().get(url);
            if let Some(token) = token {
                call = call.bearer_auth(token);
            }
            let answer = call.send().await.unwrap();
            let status = answer.status().as_u16();
            let kind = answer
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, kind, answer.text().await.unwrap())
        }
    };
    assert_eq!(page(None).await.0, 401);
    let (status, kind, html) = page(Some("t")).await;
    assert_eq!(status, 200);
    assert_eq!(kind.as_deref(), Some("text/html; charset=utf-8"));
    for shown in [
        "page.example.com",
        "op-page-1",
        "page.example.com/requests = 7",
        "page_log [ERROR] the backend said &lt;b&gt;no&lt;/b&gt;",
        "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;",
    ] {
        assert!(html.contains(shown), "{shown} not in the page");
    }
    assert!(!html.contains("<script"), "a reported value became markup");
    assert!(!html.contains("<b>no"), "a reported value became markup");
    running.shutdown().await;
}

/// The page in a real browser: headless Chromium loads it, and its DOM has
/// the operation and the log entry just reported, the hostile label as text
/// (no script ran: the title is the page's own). Skipped, loudly, where
/// Chromium is not installed (CI installs it).
#[tokio::test(flavor = "multi_thread")]
async fn the_page_in_a_real_browser() {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(browser) = browser else {
        eprintln!(
            "\n*** SKIPPED the_page_in_a_real_browser: no chromium on this machine (apt-get install chromium) ***\n"
        );
        return;
    };
    let running = Emulator::start(Config::default()).await.unwrap();
    report_hostile(&running.url(), None).await;
    let url = format!("{}/emulator/ui/", running.url());
    let profile =
        std::env::temp_dir().join(format!("cloud-report-chromium-{}", std::process::id()));
    let dump = tokio::task::spawn_blocking(move || {
        std::process::Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                &format!("--user-data-dir={}", profile.display()),
                "--virtual-time-budget=2000",
                "--dump-dom",
                &url,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.status.success() && dom.contains("<html"),
        "{browser}: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert!(dom.contains("op-page-1"), "{dom}");
    assert!(
        dom.contains("the backend said &lt;b&gt;no&lt;/b&gt;"),
        "{dom}"
    );
    assert!(
        dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "{dom}"
    );
    assert!(
        dom.contains("<title>cloud-report emulator</title>"),
        "a reported script ran"
    );
    assert!(!dom.contains("<script"), "{dom}");
    running.shutdown().await;
}

/// A call under way when the log is reset records its answer in no entry
/// of the new log.
#[tokio::test(flavor = "multi_thread")]
async fn a_reset_during_a_call_leaves_the_new_log_alone() {
    use cloud_report_proto::emulator::{Answer, Fault};
    let running = Emulator::start(Config::default()).await.unwrap();
    let emulator = running.emulator().clone();
    let service = "reset.example.com";
    emulator
        .add_fault(
            service,
            Fault::from_json(r#"{"method": "check", "delay": "0.5s"}"#).unwrap(),
        )
        .unwrap();
    let url = format!("{}/v1/services/{service}:check", running.url());
    let check = |id: &str| json!({"operation": {"operationId": id, "consumerId": "project:p", "startTime": "2024-01-01T00:00:00Z"}});
    let slow = {
        let (url, body) = (url.clone(), check("slow"));
        tokio::spawn(async move {
            plain_http()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    emulator.reset();
    let fast = plain_http()
        .post(&url)
        .json(&check("fast"))
        .send()
        .await
        .unwrap();
    assert_eq!(fast.status(), 200);
    assert_eq!(slow.await.unwrap(), 200);
    let logged = emulator.requests(service);
    assert_eq!(logged.len(), 1);
    assert!(matches!(logged[0].answer, Answer::Response(_)));
    let cloud_report_proto::emulator::ReceivedMessage::Check(request) = &logged[0].request else {
        panic!("a check");
    };
    assert_eq!(request.operation.as_ref().unwrap().operation_id, "fast");
    assert!(
        logged[0].latency.unwrap() < Duration::from_millis(400),
        "the fast call's own latency"
    );
    running.shutdown().await;
}

/// Apigee's calls are in the request log too, under
/// `apigee.googleapis.com`, with their answers; faults do not apply to
/// them.
#[tokio::test(flavor = "multi_thread")]
async fn apigee_calls_are_logged_with_their_answers() {
    use cloud_report_proto::emulator::{APIGEE_SERVICE, Answer, Fault, Method};
    let running = Emulator::start(
        Config::default().service_config(
            cloud_report_proto::service_config::ServiceConfig::from_yaml(include_str!(
                "../examples/service-config.yaml"
            ))
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    let http = plain_http();
    let status = http
        .post(format!(
            "{}/v1/organizations/acme/instances/i1:reportStatus",
            running.url()
        ))
        .json(&json!({"instanceUid": "u-1", "reportTime": "2024-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let refused = http
        .post(format!(
            "{}/v1/organizations/acme/instances/i1:reportStatus",
            running.url()
        ))
        .json(&json!({"instanceUid": "u-1"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(refused, 400);
    let logged = running.emulator().requests(APIGEE_SERVICE);
    assert_eq!(logged.len(), 2);
    assert_eq!(logged[0].method, Method::ReportInstanceStatus);
    assert!(matches!(logged[0].answer, Answer::Response(_)));
    assert!(
        matches!(&logged[1].answer, Answer::Error { message, .. } if message.contains("report_time"))
    );
    let listed = support::get_json(
        &http,
        &format!(
            "{}/emulator/v1/services/{APIGEE_SERVICE}/requests?method=reportStatus",
            running.url()
        ),
        None,
    )
    .await;
    assert_eq!(
        listed["requests"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    assert_eq!(listed["requests"][0]["request"]["instanceUid"], "u-1");
    assert!(Fault::from_json(r#"{"method": "reportStatus", "httpStatus": 503}"#).is_err());
    running.shutdown().await;
}
