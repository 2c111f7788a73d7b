//! The gateway client under its own credentials' faults, against the
//! emulator requiring a bearer token: a token source that hangs, fails,
//! expires, or gives a token the server refuses. ESPv2's rules
//! (`http_call.cc`, `client_cache.cc`, `token_subscriber.cc`): a Check or
//! AllocateQuota never waits for a token; without one it is not made and
//! the request is refused with INTERNAL, however the client fails open; a
//! refused token is fetched again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cloud_report_proto::client::{
    CallPolicy, CheckOptions, Client, GrpcTransport, QuotaOptions, RestTransport, Source, Token,
    TokenSource, Transport,
};
use cloud_report_proto::emulator::{Config, Emulator, Running};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::rest::RestClient;

const SERVICE: &str = "tokens.example.com";
const GOOD: &str = "ya29.good";

fn check(id: &str) -> sc::CheckRequest {
    sc::CheckRequest {
        operation: Some(sc::Operation {
            operation_id: id.into(),
            operation_name: "tokens.v1.Things.Get".into(),
            consumer_id: "project:p".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ask(id: &str) -> sc::AllocateQuotaRequest {
    sc::AllocateQuotaRequest {
        allocate_operation: Some(sc::QuotaOperation {
            operation_id: id.into(),
            method_name: "tokens.v1.Things.Get".into(),
            consumer_id: "project:p".into(),
            quota_metrics: vec![sc::MetricValueSet {
                metric_name: "reads".into(),
                metric_values: vec![sc::MetricValue {
                    value: Some(sc::metric_value::Value::Int64Value(1)),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn emulator() -> Running {
    Emulator::start(Config::default().require_token(GOOD))
        .await
        .unwrap()
}

/// The transports of one source to the emulator: gRPC and REST (JSON).
fn transports(running: &Running, source: &TokenSource) -> Vec<(&'static str, Box<dyn MakeClient>)> {
    let grpc = GrpcTransport::builder(running.url())
        .tokens(source.clone())
        .connect_lazy()
        .unwrap();
    let rest = RestTransport::new(
        RestClient::builder(running.url())
            .tokens(source.clone())
            .build()
            .unwrap(),
    );
    vec![("grpc", Box::new(grpc)), ("rest", Box::new(rest))]
}

/// A client of one transport, failing open as ESPv2 does by default, its
/// caches off so that every Check is a call.
trait MakeClient {
    fn client(&self) -> Client;
}

impl<T: Transport + Clone> MakeClient for T {
    fn client(&self) -> Client {
        Client::builder(SERVICE)
            .check_options(CheckOptions::disabled())
            .quota_options(QuotaOptions::disabled())
            .fail_open(true)
            .build(self.clone())
    }
}

/// Every Check and AllocateQuota is answered at once (long before the
/// policy's 1 s attempt could time out), refused with INTERNAL, and never
/// reaches the server.
async fn refused_for_want_of_a_token(running: &Running, client: &Client, case: &str) {
    let before = running.emulator().requests(SERVICE).len();
    for i in 0..10 {
        let answer = tokio::time::timeout(
            Duration::from_millis(500),
            client.check(&check(&format!("{case}-{i}"))),
        )
        .await
        .unwrap_or_else(|_| panic!("{case}: a Check waited for a token"))
        .unwrap();
        assert!(!answer.allowed(), "{case}: let through unchecked");
        let Source::Failed(failure) = &answer.source else {
            panic!("{case}: {answer:?}");
        };
        assert!(
            failure.message().starts_with("Missing access token"),
            "{case}: {failure:?}"
        );
        let told = answer.denial().unwrap();
        assert_eq!(told.code(), tonic::Code::Internal, "{case}");
    }
    // Quota fails open on every failure, as ESPv2's does, but does not
    // wait either.
    let quota = tokio::time::timeout(
        Duration::from_millis(500),
        client.allocate_quota(&ask(&format!("{case}-q"))),
    )
    .await
    .unwrap_or_else(|_| panic!("{case}: an AllocateQuota waited for a token"))
    .unwrap();
    assert!(
        matches!(&quota.source, Source::FailedOpen(f) if f.message().starts_with("Missing access token")),
        "{case}: {quota:?}"
    );
    assert_eq!(
        running.emulator().requests(SERVICE).len(),
        before,
        "{case}: a call was made"
    );
    let statistics = client.statistics();
    assert_eq!(statistics.check_failures, 10, "{case}");
    assert_eq!(statistics.check_failed_open, 0, "{case}");
    assert_eq!(
        statistics.retries, 0,
        "{case}: no token is no network failure"
    );
    assert!(statistics.token.missing >= 11, "{case}: {statistics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_token_source_never_lets_a_request_through() {
    let running = emulator().await;
    // A metadata server that never answers.
    let source = TokenSource::new(std::future::pending::<Result<String, String>>)
        .named("the metadata server at 127.0.0.1:9");
    for (wire, transport) in transports(&running, &source) {
        let client = transport.client();
        refused_for_want_of_a_token(&running, &client, wire).await;
        client.shutdown_within(Duration::from_millis(100)).await;
    }
    // Nothing was fetched, nothing failed yet: the fetch is still under way.
    let statistics = source.statistics();
    assert_eq!((statistics.fetched, statistics.failed), (0, 0));
    assert!(
        source.ready(Duration::from_millis(10)).await.unwrap_err()
            == "no token from the metadata server at 127.0.0.1:9 yet"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_source_refuses_until_it_answers_again() {
    let running = emulator().await;
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let asked = Arc::new(AtomicUsize::new(0));
    let source = {
        let (failing, asked) = (failing.clone(), asked.clone());
        TokenSource::new(move || {
            asked.fetch_add(1, Ordering::SeqCst);
            let failing = failing.load(Ordering::SeqCst);
            async move {
                if failing {
                    Err("HTTP 500 from the metadata server".to_owned())
                } else {
                    Ok(GOOD.to_owned())
                }
            }
        })
        .named("the metadata server at 127.0.0.1:9")
    };
    let error = source.ready(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(
        error,
        "no token from the metadata server at 127.0.0.1:9: HTTP 500 from the metadata server"
    );
    for (wire, transport) in transports(&running, &source) {
        let client = transport.client();
        refused_for_want_of_a_token(&running, &client, wire).await;
        client.shutdown().await;
    }
    assert!(source.statistics().failed >= 1);
    // The source answers again: within its retry interval (2 s) the token
    // is back, and calls are made and allowed.
    failing.store(false, Ordering::SeqCst);
    source.ready(Duration::from_secs(5)).await.unwrap();
    for (wire, transport) in transports(&running, &source) {
        let client = transport.client();
        let answer = client.check(&check(&format!("back-{wire}"))).await.unwrap();
        assert!(
            answer.allowed() && matches!(answer.source, Source::Server),
            "{wire}: {answer:?}"
        );
        client.shutdown().await;
    }
    let asked_then = asked.load(Ordering::SeqCst);
    assert!(asked_then >= 2, "retried: {asked_then}");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_fetched_again_and_its_caller_not_blamed() {
    let running = emulator().await;
    let asked = Arc::new(AtomicUsize::new(0));
    // The first token is refused by the server; the next ones are good.
    let source = {
        let asked = asked.clone();
        TokenSource::new(move || {
            let n = asked.fetch_add(1, Ordering::SeqCst);
            async move { Ok(if n == 0 { "ya29.revoked" } else { GOOD }.to_owned()) }
        })
    };
    source.ready(Duration::from_secs(1)).await.unwrap();
    let transport = GrpcTransport::builder(running.url())
        .tokens(source.clone())
        .connect()
        .await
        .unwrap();
    let client = transport.client();
    let answer = client.check(&check("revoked")).await.unwrap();
    let Source::Failed(failure) = &answer.source else {
        panic!("{answer:?}");
    };
    // The server said UNAUTHENTICATED of the gateway's own token: the
    // caller is told INTERNAL (a 500), not 401.
    assert_eq!(failure.code(), tonic::Code::Unauthenticated);
    assert_eq!(answer.denial().unwrap().code(), tonic::Code::Internal);
    // The refusal fetched a new token at once (not a minute later).
    tokio::time::timeout(Duration::from_secs(3), async {
        while asked.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a refused token is fetched again");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let answer = client.check(&check("renewed")).await.unwrap();
    assert!(answer.allowed(), "{answer:?}");
    let statistics = client.shutdown().await;
    assert_eq!(statistics.token.refused, 1);
    assert_eq!(statistics.check_failures, 1);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_not_sent_and_reports_wait_for_the_next() {
    let running = emulator().await;
    let asked = Arc::new(AtomicUsize::new(0));
    // A token of 1.2 s, then a source failing twice, then good again.
    let source = {
        let asked = asked.clone();
        TokenSource::expiring(move || {
            let n = asked.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => Ok(Token::new(GOOD).expires_in(Duration::from_millis(1200))),
                    1 | 2 => Err("the token service is away".to_owned()),
                    _ => Ok(Token::new(GOOD).expires_in(Duration::from_secs(3600))),
                }
            }
        })
    };
    source.ready(Duration::from_secs(1)).await.unwrap();
    let transport = RestTransport::new(
        RestClient::builder(running.url())
            .tokens(source.clone())
            .build()
            .unwrap(),
    );
    let client = Client::builder(SERVICE)
        .check_options(CheckOptions::disabled())
        .report_config({
            let mut config = cloud_report_proto::client::ReportConfig::new(SERVICE);
            config.window = Duration::from_millis(10);
            config.retry = CallPolicy::report().timeout(Duration::from_secs(10));
            config
        })
        .build(transport);
    assert!(client.check(&check("fresh")).await.unwrap().allowed());
    // The refresh at half its lifetime fails, and the token expires: the
    // Check is refused at once, not sent with a token the server refuses.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let answer = client.check(&check("expired")).await.unwrap();
    assert!(
        matches!(&answer.source, Source::Failed(f) if f.message().contains("no token from the token source: the token service is away")),
        "{answer:?}"
    );
    // A report waits for the next token instead (within its own timeout).
    client
        .report(sc::Operation {
            operation_id: "report-1".into(),
            operation_name: "tokens.v1.Things.Get".into(),
            consumer_id: "project:p".into(),
            start_time: Some(cloud_report_proto::google::protobuf::Timestamp {
                seconds: 1_700_000_000,
                ..Default::default()
            }),
            end_time: Some(cloud_report_proto::google::protobuf::Timestamp {
                seconds: 1_700_000_000,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let statistics = client.shutdown().await;
    assert_eq!(statistics.reports.sent, 1, "{statistics:?}");
    assert_eq!(statistics.reports.failed, 0, "{statistics:?}");
    assert_eq!(running.emulator().operations(SERVICE).len(), 1);
    assert!(statistics.token.failed >= 2, "{statistics:?}");
    running.shutdown().await;
}
