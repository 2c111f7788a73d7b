//! The aggregating reporter: what merges and when it is sent, request sizes,
//! backpressure, retries, and, against a faulty server on loopback, that
//! every operation ends delivered exactly once or reported failed.
#![cfg(feature = "client")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloud_report_proto::client::{Outcome, ReportConfig as Config, Reporter, SubmitError};
use cloud_report_proto::google::api::servicecontrol::v1::operation::Importance;
use cloud_report_proto::google::api::servicecontrol::v1::{
    LogEntry, MetricValue, MetricValueSet, Operation, ReportRequest, ReportResponse, metric_value,
};
use cloud_report_proto::google::protobuf::Timestamp;
use prost::Message;

type Sent = Arc<Mutex<Vec<ReportRequest>>>;
type Outcomes = Arc<Mutex<Vec<Outcome>>>;

fn op(id: &str, consumer: &str, requests: i64) -> Operation {
    Operation {
        operation_id: id.into(),
        consumer_id: consumer.into(),
        start_time: Some(Timestamp {
            seconds: 100,
            nanos: 0,
            ..Default::default()
        }),
        end_time: Some(Timestamp {
            seconds: 101,
            nanos: 0,
            ..Default::default()
        }),
        metric_value_sets: vec![MetricValueSet {
            metric_name: "serviceruntime.googleapis.com/api/consumer/request_count".into(),
            metric_values: vec![MetricValue {
                value: Some(metric_value::Value::Int64Value(requests)),
                ..Default::default()
            }],
            ..Default::default()
        }],
        log_entries: vec![LogEntry {
            name: "endpoints_log".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A reporter whose transport records every request and answers OK.
fn recording(config: Config) -> (Reporter, Sent, Outcomes) {
    let sent: Sent = Arc::default();
    let outcomes: Outcomes = Arc::default();
    let (s, o) = (sent.clone(), outcomes.clone());
    let reporter = Reporter::start(
        move |request: ReportRequest| {
            s.lock().unwrap().push(request);
            async { Ok(ReportResponse::default()) }
        },
        config,
        move |outcome| o.lock().unwrap().push(outcome),
    );
    (reporter, sent, outcomes)
}

fn delivered_ids(outcomes: &Outcomes) -> Vec<String> {
    let mut ids: Vec<String> = outcomes
        .lock()
        .unwrap()
        .iter()
        .flat_map(|o| match o {
            Outcome::Delivered { operation_ids } => operation_ids.clone(),
            _ => panic!("unexpected {o:?}"),
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn same_signatures_merge_within_the_window() {
    let (reporter, sent, outcomes) = recording(Config::new("svc"));
    for i in 0..10 {
        reporter
            .submit(op(&format!("a{i}"), "project:a", i))
            .await
            .unwrap();
    }
    for i in 0..5 {
        reporter
            .submit(op(&format!("b{i}"), "project:b", 1))
            .await
            .unwrap();
    }
    let counters = reporter.shutdown().await;
    assert_eq!(
        (
            counters.accepted,
            counters.merged,
            counters.sent,
            counters.failed
        ),
        (15, 13, 15, 0)
    );
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 1, "both aggregates go in one request");
    let ops = &sent[0].operations;
    assert_eq!(ops.len(), 2);
    let a = ops.iter().find(|o| o.consumer_id == "project:a").unwrap();
    assert_eq!(a.operation_id, "a0");
    assert_eq!(a.log_entries.len(), 10);
    assert_eq!(
        a.metric_value_sets[0].metric_values[0].value,
        Some(metric_value::Value::Int64Value(45))
    );
    assert_eq!(delivered_ids(&outcomes).len(), 15);
}

#[tokio::test(start_paused = true)]
async fn aggregates_go_at_window_end_and_high_importance_at_once() {
    let mut config = Config::new("svc");
    config.window = Duration::from_secs(5);
    let (reporter, sent, _) = recording(config);
    reporter.submit(op("low", "project:a", 1)).await.unwrap();
    let mut urgent = op("high", "project:a", 1);
    urgent.importance = Importance::High as i32;
    reporter.submit(urgent).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first: Vec<String> = sent
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| r.operations.iter().map(|o| o.operation_id.clone()))
        .collect();
    assert_eq!(first, ["high"]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        sent.lock().unwrap().len(),
        2,
        "the window's end sends the aggregate"
    );
    reporter.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn many_log_entries_flush_early() {
    let mut config = Config::new("svc");
    config.max_log_entries = 3;
    let (reporter, sent, _) = recording(config);
    for i in 0..3 {
        reporter
            .submit(op(&format!("o{i}"), "project:a", 1))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(sent.lock().unwrap().len(), 1, "sent before the window ends");
    assert_eq!(sent.lock().unwrap()[0].operations[0].log_entries.len(), 3);
    reporter.shutdown().await;
}

#[tokio::test]
async fn requests_stay_under_the_limit_by_encoded_size() {
    let (reporter, sent, outcomes) = recording(Config::new("svc"));
    for i in 0..40 {
        let mut big = op(&format!("big{i}"), &format!("project:{i}"), 1);
        big.labels.insert("payload".into(), "x".repeat(90_000));
        reporter.submit(big).await.unwrap();
    }
    let mut huge = op("huge", "project:h", 1);
    huge.labels.insert("payload".into(), "x".repeat(1_000_000));
    match reporter.submit(huge).await {
        Err(SubmitError::TooLarge {
            operation,
            size,
            limit,
        }) => {
            assert_eq!(operation.operation_id, "huge");
            assert!(size > limit);
        }
        other => panic!("{other:?}"),
    }
    reporter.shutdown().await;
    let sent = sent.lock().unwrap();
    assert!(sent.len() >= 4, "{} requests", sent.len());
    for request in sent.iter() {
        assert!(
            request.encoded_len() <= 1_000_000,
            "{}",
            request.encoded_len()
        );
        assert!(
            request.operations.len() > 1,
            "several operations per request"
        );
    }
    assert_eq!(sent.iter().map(|r| r.operations.len()).sum::<usize>(), 40);
    assert_eq!(delivered_ids(&outcomes).len(), 40);
}

#[tokio::test]
async fn a_full_reporter_hands_operations_back() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    let mut config = Config::new("svc");
    config.queue_capacity = 4;
    config.max_cached_entries = 1;
    config.max_in_flight = 1;
    let outcomes: Outcomes = Arc::default();
    let o = outcomes.clone();
    let reporter = Reporter::start(
        move |_request: ReportRequest| {
            let g = g.clone();
            async move {
                g.acquire().await.unwrap().forget();
                Ok(ReportResponse::default())
            }
        },
        config,
        move |outcome| o.lock().unwrap().push(outcome),
    );
    let mut accepted = 0;
    let mut handed_back = None;
    for i in 0..1000 {
        match reporter.try_submit(op(&format!("o{i}"), &format!("project:{i}"), 1)) {
            Ok(()) => accepted += 1,
            Err(SubmitError::Full(operation)) => {
                handed_back = Some(operation);
                break;
            }
            Err(e) => panic!("{e}"),
        }
        tokio::task::yield_now().await;
    }
    let handed_back = handed_back.expect("the reporter filled up");
    assert!(accepted < 1000);
    gate.add_permits(10_000);
    reporter.submit(*handed_back).await.unwrap();
    let counters = reporter.shutdown().await;
    assert_eq!(counters.accepted, accepted + 1);
    assert_eq!(counters.sent, accepted + 1);
    assert_eq!(delivered_ids(&outcomes).len() as u64, accepted + 1);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_retry_and_permanent_ones_fail() {
    let calls = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let c = calls.clone();
    let outcomes: Outcomes = Arc::default();
    let o = outcomes.clone();
    let reporter = Reporter::start(
        move |request: ReportRequest| {
            let id = request.operations[0].operation_id.clone();
            let attempt = {
                let mut calls = c.lock().unwrap();
                let n = calls.entry(id.clone()).or_default();
                *n += 1;
                *n
            };
            async move {
                match id.as_str() {
                    "flaky" if attempt <= 2 => Err(tonic::Status::unavailable("try again")),
                    "slow" if attempt == 1 => Err(tonic::Status::deadline_exceeded("too slow")),
                    "bad" => Err(tonic::Status::invalid_argument("no")),
                    "down" => Err(tonic::Status::unavailable("down for good")),
                    _ => Ok(ReportResponse::default()),
                }
            }
        },
        Config::new("svc"),
        move |outcome| o.lock().unwrap().push(outcome),
    );
    for (i, id) in ["flaky", "slow", "bad", "down"].iter().enumerate() {
        let mut operation = op(id, &format!("project:{i}"), 1);
        operation.importance = Importance::High as i32;
        reporter.submit(operation).await.unwrap();
    }
    let counters = reporter.shutdown().await;
    let calls = calls.lock().unwrap();
    assert_eq!(
        (calls["flaky"], calls["slow"], calls["bad"], calls["down"]),
        (3, 2, 1, 6)
    );
    assert_eq!(
        (counters.sent, counters.failed, counters.retried),
        (2, 2, 2 + 1 + 5)
    );
    let failed: HashMap<String, tonic::Code> = outcomes
        .lock()
        .unwrap()
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed {
                operation_ids,
                status,
            } => Some((operation_ids[0].clone(), status.code())),
            _ => None,
        })
        .collect();
    assert_eq!(failed["bad"], tonic::Code::InvalidArgument);
    assert_eq!(failed["down"], tonic::Code::Unavailable);
}

#[cfg(feature = "emulator")]
mod faults {
    use std::collections::HashSet;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};

    use cloud_report_proto::client::{CallPolicy, GrpcTransport, RestTransport, Transport};
    use cloud_report_proto::emulator::{Config as EmulatorConfig, Emulator};
    use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::{
        ServiceController, ServiceControllerServer,
    };
    use cloud_report_proto::google::api::servicecontrol::v1::{CheckRequest, CheckResponse};
    use cloud_report_proto::rest::{Gateway, RestClient};
    use tonic::{Request, Response};

    use super::*;

    /// The emulator behind a layer that fails calls before or after they take
    /// effect, and delays others, by a deterministic sequence.
    #[derive(Clone)]
    struct Faulty {
        emulator: Emulator,
        calls: Arc<AtomicU64>,
    }

    #[tonic::async_trait]
    impl ServiceController for Faulty {
        async fn check(
            &self,
            request: Request<CheckRequest>,
        ) -> Result<Response<CheckResponse>, tonic::Status> {
            self.emulator.check(request).await
        }

        async fn report(
            &self,
            request: Request<ReportRequest>,
        ) -> Result<Response<ReportResponse>, tonic::Status> {
            let n = self.calls.fetch_add(1, Ordering::Relaxed);
            match n % 10 {
                0 | 3 | 7 => return Err(tonic::Status::unavailable("injected: unavailable")),
                5 => {
                    // Takes effect, but the answer is lost.
                    self.emulator.report(request).await?;
                    return Err(tonic::Status::unavailable("injected: answer lost"));
                }
                8 => tokio::time::sleep(Duration::from_millis(30)).await,
                _ => {}
            }
            self.emulator.report(request).await
        }
    }

    async fn serve(emulator: Emulator) -> SocketAddr {
        let faulty = Faulty {
            emulator,
            calls: Arc::default(),
        };
        let router = Gateway::new()
            .add_service(ServiceControllerServer::new(faulty))
            .into_router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        addr
    }

    /// A loopback TCP proxy that cuts every connection after a short while,
    /// whatever is in flight on it.
    async fn dropping_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicU64>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::Relaxed) + 1;
                let life = Duration::from_millis(20 + (n * 37) % 80);
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::time::timeout(
                        life,
                        tokio::io::copy_bidirectional(&mut inbound, &mut outbound),
                    )
                    .await;
                });
            }
        });
        (addr, connections)
    }

    async fn run_through<T: Transport>(transport: T, emulator: &Emulator, service: &str) {
        let mut config = Config::new(service);
        config.window = Duration::from_millis(50);
        config.retry = {
            CallPolicy::report()
                .backoff(Duration::from_millis(2), Duration::from_millis(50))
                .retries(59)
                .max_elapsed(Duration::from_secs(60))
        };
        let outcomes: Outcomes = Arc::default();
        let o = outcomes.clone();
        let reporter = Reporter::start(transport, config, move |outcome| {
            o.lock().unwrap().push(outcome)
        });

        // 8 submitters, 20 signatures, and some operations the service will
        // refuse (no end time), each with a signature of its own.
        let mut submitters = Vec::new();
        for s in 0..8 {
            let reporter = reporter.clone();
            submitters.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..75 {
                    let id = format!("s{s}-{i}");
                    let operation = if i % 25 == 24 {
                        let mut bad = op(&format!("{id}-bad"), &format!("project:bad-{id}"), 1);
                        bad.end_time = None;
                        bad
                    } else {
                        op(&id, &format!("project:{}", (s * 75 + i) % 20), 1)
                    };
                    ids.push(operation.operation_id.clone());
                    reporter.submit(operation).await.unwrap();
                    if i % 5 == 0 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                ids
            }));
        }
        let mut submitted = Vec::new();
        for s in submitters {
            submitted.extend(s.await.unwrap());
        }
        let counters = reporter.shutdown().await;

        // Every operation has exactly one outcome.
        let mut seen = HashSet::new();
        let mut delivered = 0;
        for outcome in outcomes.lock().unwrap().iter() {
            let (ids, ok) = match outcome {
                Outcome::Delivered { operation_ids } => (operation_ids, true),
                Outcome::Failed {
                    operation_ids,
                    status,
                } => {
                    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status}");
                    (operation_ids, false)
                }
                _ => unreachable!(),
            };
            for id in ids {
                assert!(seen.insert(id.clone()), "{id} has two outcomes");
                assert_eq!(!ok, id.ends_with("-bad"), "{id}");
                delivered += usize::from(ok);
            }
        }
        assert_eq!(
            seen.len(),
            submitted.len(),
            "every submitted operation has an outcome"
        );
        assert_eq!(counters.sent as usize, delivered);
        assert!(counters.retried > 0, "the faults were met");

        // Delivered exactly once: the stored request counts add up to the
        // operations delivered, despite retries after lost answers.
        let stored = emulator.operations(service);
        let total: i64 = stored
            .iter()
            .map(|o| match o.metric_value_sets[0].metric_values[0].value {
                Some(metric_value::Value::Int64Value(n)) => n,
                _ => 0,
            })
            .sum();
        assert_eq!(total as usize, delivered);
        assert!(stored.iter().all(|o| !o.operation_id.ends_with("-bad")));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn over_grpc_with_dropped_connections() {
        let emulator = Emulator::new(EmulatorConfig::default());
        let (addr, connections) = dropping_proxy(serve(emulator.clone()).await).await;
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        run_through(GrpcTransport::new(channel), &emulator, "grpc.example.com").await;
        // Each cut connection was followed by a new one.
        assert!(
            connections.load(Ordering::Relaxed) >= 2,
            "no connection was dropped"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn over_rest() {
        let emulator = Emulator::new(EmulatorConfig::default());
        let addr = serve(emulator.clone()).await;
        let client = RestTransport::new(
            RestClient::builder(format!("http://{addr}"))
                .build()
                .unwrap(),
        );
        run_through(client, &emulator, "rest.example.com").await;
    }
}
