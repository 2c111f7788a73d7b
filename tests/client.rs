//! The gateway client against the emulator: every rule of the Check cache
//! and of quota aggregation on a clock the tests drive (tokio's, paused),
//! failing open and closed under injected faults, and no usage or quota cost
//! lost or counted twice, with the emulator's stored state the judge. Then
//! the same calls over each real transport on 127.0.0.1.
//!
//! Each test spells out its scenario whole (the client, the calls, the
//! clock's moves), so neighbouring tests share runs of lines; what is the
//! same in all of them is in the helpers below.
#![cfg(all(feature = "client", feature = "emulator"))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloud_report_proto::client::{
    CallFuture, CallPolicy, CheckOptions, Client, QuotaOptions, QuotaRefresh, Source, Transport,
};
use cloud_report_proto::emulator::{Config, Emulator, ManualClock};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::google::api::servicecontrol::v1::quota_controller_server::QuotaController;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::ServiceController;
use cloud_report_proto::service_config::ServiceConfig;

const SERVICE: &str = "bookstore.endpoints.my-project.cloud.goog";
const GET_SHELF: &str = "endpoints.examples.bookstore.Bookstore.GetShelf";

/// The emulator called in-process (no sockets, so tokio's paused clock
/// drives every timer), recording what was sent and failing on demand.
#[derive(Clone)]
struct InProcess {
    emulator: Emulator,
    /// While set, every call fails as an unreachable server does.
    down: Arc<AtomicBool>,
    /// So many next calls fail so.
    failing: Arc<AtomicUsize>,
    /// While set, calls never answer (a server that hangs).
    stalled: Arc<AtomicBool>,
    /// Calls hanging so.
    hanging: Arc<AtomicUsize>,
    /// So many next calls reach the server, and their answers are lost on
    /// the way back (a timeout after the server acted).
    losing: Arc<AtomicUsize>,
    /// The percentage of calls whose answers are lost so, drawn at random.
    lose_percent: Arc<AtomicUsize>,
    /// The Check usage the server answered, by operation id: what it
    /// counted, each operation once.
    counted: Arc<Mutex<std::collections::HashMap<String, i64>>>,
    checks: Arc<Mutex<Vec<sc::CheckRequest>>>,
    quotas: Arc<Mutex<Vec<sc::AllocateQuotaRequest>>>,
    reports: Arc<AtomicUsize>,
    /// Bearer tokens, taken as the crate's transports take them: Check and
    /// AllocateQuota never wait for one.
    token: Option<cloud_report_proto::TokenSource>,
}

impl InProcess {
    fn new(emulator: Emulator) -> Self {
        Self {
            emulator,
            down: Arc::default(),
            failing: Arc::default(),
            stalled: Arc::default(),
            hanging: Arc::default(),
            losing: Arc::default(),
            lose_percent: Arc::default(),
            counted: Arc::default(),
            checks: Arc::default(),
            quotas: Arc::default(),
            reports: Arc::default(),
            token: None,
        }
    }

    fn unreachable(&self) -> Option<tonic::Status> {
        let failing = self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        (failing || self.down.load(Ordering::SeqCst))
            .then(|| tonic::Status::unavailable("connection refused"))
    }

    /// Waits forever while stalled.
    async fn stall(&self) {
        if self.stalled.load(Ordering::SeqCst) {
            self.hanging.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
    }

    /// The server's answer, or its loss on the way back.
    fn answer<T>(&self, answer: Result<T, tonic::Status>) -> Result<T, tonic::Status> {
        let lost = self
            .losing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
            || fastrand::usize(..100) < self.lose_percent.load(Ordering::SeqCst);
        if lost {
            return Err(tonic::Status::deadline_exceeded("the answer was lost"));
        }
        answer
    }

    fn checks(&self) -> Vec<sc::CheckRequest> {
        self.checks.lock().unwrap().clone()
    }

    fn quotas(&self) -> Vec<sc::AllocateQuotaRequest> {
        self.quotas.lock().unwrap().clone()
    }
}

impl Transport for InProcess {
    fn check(&self, request: sc::CheckRequest) -> CallFuture<sc::CheckResponse> {
        let this = self.clone();
        Box::pin(async move {
            if let Some(token) = &this.token {
                token.authorization_now()?;
            }
            this.stall().await;
            if let Some(status) = this.unreachable() {
                return Err(status);
            }
            this.checks.lock().unwrap().push(request.clone());
            let usage = usage_sent(std::slice::from_ref(&request));
            let id = request.operation.as_ref().unwrap().operation_id.clone();
            let answer = ServiceController::check(&this.emulator, tonic::Request::new(request))
                .await
                .map(tonic::Response::into_inner);
            if answer.is_ok() {
                // A server counts an operation id once, the first time.
                this.counted.lock().unwrap().entry(id).or_insert(usage);
            }
            this.answer(answer)
        })
    }

    fn allocate_quota(
        &self,
        request: sc::AllocateQuotaRequest,
    ) -> CallFuture<sc::AllocateQuotaResponse> {
        let this = self.clone();
        Box::pin(async move {
            if let Some(token) = &this.token {
                token.authorization_now()?;
            }
            this.stall().await;
            if let Some(status) = this.unreachable() {
                return Err(status);
            }
            this.quotas.lock().unwrap().push(request.clone());
            let answer =
                QuotaController::allocate_quota(&this.emulator, tonic::Request::new(request))
                    .await
                    .map(tonic::Response::into_inner);
            this.answer(answer)
        })
    }

    fn report(&self, request: sc::ReportRequest) -> CallFuture<sc::ReportResponse> {
        let this = self.clone();
        Box::pin(async move {
            if let Some(token) = &this.token {
                token.authorization().await?;
            }
            this.stall().await;
            if let Some(status) = this.unreachable() {
                return Err(status);
            }
            this.reports.fetch_add(1, Ordering::SeqCst);
            ServiceController::report(&this.emulator, tonic::Request::new(request))
                .await
                .map(tonic::Response::into_inner)
        })
    }

    fn token_statistics(&self) -> Option<cloud_report_proto::TokenStatistics> {
        self.token
            .as_ref()
            .map(cloud_report_proto::TokenSource::statistics)
    }
}

/// A client of the service caching Check answers (`CheckOptions`' defaults)
/// over `transport`.
fn caching_client(transport: &InProcess) -> Client {
    Client::builder(SERVICE)
        .check_options(CheckOptions::default())
        .build(transport.clone())
}

/// The example configuration and state, on a manual clock at a minute's
/// start.
fn configured() -> (Emulator, ManualClock) {
    let (config, clock) = example_config();
    (Emulator::new(config), clock)
}

fn example_config() -> (Config, ManualClock) {
    let clock = ManualClock::new(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_040));
    let config = Config::default()
        .clock(clock.clone())
        .state_json(include_str!("../examples/service-state.json"))
        .unwrap()
        .service_config(
            ServiceConfig::from_yaml(include_str!("../examples/service-config.yaml")).unwrap(),
        );
    (config, clock)
}

fn check(consumer: &str, usage: Option<i64>) -> sc::CheckRequest {
    sc::CheckRequest {
        operation: Some(sc::Operation {
            operation_id: format!("check-{}", fastrand_id()),
            operation_name: GET_SHELF.into(),
            consumer_id: consumer.into(),
            importance: sc::operation::Importance::Low as i32,
            labels: [(
                "servicecontrol.googleapis.com/caller_ip".to_owned(),
                "10.0.0.7".to_owned(),
            )]
            .into(),
            metric_value_sets: usage
                .map(|n| {
                    vec![sc::MetricValueSet {
                        metric_name: "read-requests".into(),
                        metric_values: vec![sc::MetricValue {
                            value: Some(sc::metric_value::Value::Int64Value(n)),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }]
                })
                .unwrap_or_default(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A client refreshing quota every 100 ms, its quota calls never retried.
fn refreshing_quota_client(transport: &InProcess) -> Client {
    let mut options = QuotaOptions::default();
    options.refresh_interval = Duration::from_millis(100);
    Client::builder(SERVICE)
        .quota_options(options)
        .quota_policy(CallPolicy::quota().retries(0))
        .build(transport.clone())
}

/// A Check of `consumer` (with `usage` reads), which must be answered.
async fn checked(
    client: &Client,
    consumer: &str,
    usage: Option<i64>,
) -> cloud_report_proto::client::CheckAnswer {
    client.check(&check(consumer, usage)).await.unwrap()
}

fn fastrand_id() -> u64 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) as u64
}

/// The read-requests usage carried by the Checks sent.
fn usage_sent(checks: &[sc::CheckRequest]) -> i64 {
    checks
        .iter()
        .flat_map(|c| &c.operation.as_ref().unwrap().metric_value_sets)
        .flat_map(|s| &s.metric_values)
        .map(|v| match v.value {
            Some(sc::metric_value::Value::Int64Value(n)) => n,
            _ => 0,
        })
        .sum()
}

#[tokio::test(start_paused = true)]
async fn checks_are_cached_flushed_and_expired() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let client = Client::builder(SERVICE).build(transport.clone());

    // A miss asks the server; the same question is then answered from the
    // cache, whatever its id.
    let first = client
        .check(&check("api_key:AIza-good", None))
        .await
        .unwrap();
    assert!(matches!(first.source, Source::Server));
    assert!(first.allowed() && first.api_key_checked());
    for _ in 0..10 {
        let again = client
            .check(&check("api_key:AIza-good", None))
            .await
            .unwrap();
        assert!(matches!(again.source, Source::Cache), "{:?}", again.source);
    }
    assert_eq!(transport.checks().len(), 1);
    // Another consumer, or HIGH importance, is another call.
    checked(&client, "project:my-project", None).await;
    let mut urgent = check("api_key:AIza-good", None);
    urgent.operation.as_mut().unwrap().importance = sc::operation::Importance::High as i32;
    assert!(matches!(
        client.check(&urgent).await.unwrap().source,
        Source::Server
    ));
    assert_eq!(transport.checks().len(), 3);

    // After the flush interval (500 ms) the next request goes to the server;
    // the others keep the cached answer.
    tokio::time::advance(Duration::from_millis(450)).await;
    checked(&client, "api_key:AIza-good", None).await;
    assert_eq!(transport.checks().len(), 3);
    tokio::time::advance(Duration::from_millis(60)).await;
    let refreshed = client
        .check(&check("api_key:AIza-good", None))
        .await
        .unwrap();
    assert!(matches!(refreshed.source, Source::Server));
    assert_eq!(transport.checks().len(), 4);

    // Denials are cached too, and asked again after the flush interval.
    for _ in 0..3 {
        let denied = client
            .check(&check("api_key:AIza-expired", None))
            .await
            .unwrap();
        assert!(!denied.allowed());
        assert_eq!(
            denied.response.check_errors[0].code,
            sc::check_error::Code::ApiKeyExpired as i32
        );
    }
    assert_eq!(transport.checks().len(), 5);
    tokio::time::advance(Duration::from_millis(500)).await;
    checked(&client, "api_key:AIza-expired", None).await;
    assert_eq!(transport.checks().len(), 6);

    // Unused for the expiration time (1 s), answers are dropped.
    tokio::time::advance(Duration::from_millis(1100)).await;
    tokio::task::yield_now().await;
    assert_eq!(client.cached_checks(), 0);
    let statistics = client.shutdown().await;
    assert_eq!(statistics.checks, 19);
    assert_eq!(statistics.check_hits, 13);
    assert_eq!(statistics.check_calls, 6);
}

/// A Check that fails while its request is let through is sent again whole,
/// under its operation id, once the server answers for its entry: a server
/// that counted it before its answer was lost knows the retry.
#[tokio::test(start_paused = true)]
async fn resent_check_usage_keeps_its_operation_id() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let client = Client::builder(SERVICE)
        .check_options(CheckOptions::default())
        .check_policy(CallPolicy::check().retries(0))
        .build(transport.clone());
    let good = "api_key:AIza-good";
    client.check(&check(good, Some(1))).await.unwrap();
    client.check(&check(good, Some(2))).await.unwrap();
    // The call after the flush interval carries the 2 waiting with its own
    // 3; the server counts it, and its answer is lost: let through.
    tokio::time::advance(Duration::from_millis(600)).await;
    transport.losing.store(1, Ordering::SeqCst);
    let answer = client.check(&check(good, Some(3))).await.unwrap();
    assert!(matches!(answer.source, Source::FailedOpen(_)));
    let lost = transport.checks().last().unwrap().clone();
    assert_eq!(usage_sent(std::slice::from_ref(&lost)), 5);
    // Held, not sent while the server cannot answer; after the next answer
    // for the entry it goes again as it was.
    tokio::time::advance(Duration::from_millis(600)).await;
    client.check(&check(good, Some(1))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let again = transport.checks().last().unwrap().clone();
    assert_eq!(again.operation, lost.operation, "operation id and all");
    let statistics = client.shutdown().await;
    assert_eq!(statistics.undelivered, 0);
    // 1, 5 (lost, counted by the server) sent twice under one id, 1.
    assert_eq!(usage_sent(&transport.checks()), 1 + 5 + 1 + 5);
}

/// The usage all entries hold is bounded in bytes: past the bound, usage
/// goes at once on its own, none lost.
#[tokio::test(start_paused = true)]
async fn held_usage_is_bounded_in_total() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let one = check("api_key:AIza-good", Some(1));
    let mut options = CheckOptions::default();
    // Room for three (the second consumer's operations are a byte longer).
    options.max_held_bytes = 3 * prost::Message::encoded_len(one.operation.as_ref().unwrap()) + 8;
    let client = Client::builder(SERVICE)
        .check_options(options)
        .build(transport.clone());
    for consumer in ["api_key:AIza-good", "project:my-project"] {
        client.check(&check(consumer, Some(1))).await.unwrap();
    }
    // Ten hits of two entries: three are held, seven go on their own.
    for i in 0..10 {
        let consumer = ["api_key:AIza-good", "project:my-project"][i % 2];
        let answer = client.check(&check(consumer, Some(1))).await.unwrap();
        assert!(matches!(answer.source, Source::Cache));
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(client.statistics().check_usage_calls, 7);
    assert_eq!(usage_sent(&transport.checks()), 2 + 7);
    let statistics = client.shutdown().await;
    assert_eq!(usage_sent(&transport.checks()), 12);
    assert_eq!(statistics.undelivered, 0);
}

#[tokio::test(start_paused = true)]
async fn check_usage_is_sent_once_however_the_entry_ends() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    // One entry, so a second consumer evicts the first.
    let client = caching_client(&transport);
    let mut asked = 0;
    for round in 0..5 {
        for i in 0..7 {
            let n = (round * 7 + i) % 3 + 1;
            asked += n;
            checked(&client, "api_key:AIza-good", Some(n)).await;
        }
        tokio::time::advance(Duration::from_millis(300)).await;
    }
    // Some went with refreshes; the rest waits and goes at shutdown.
    assert!(usage_sent(&transport.checks()) < asked);
    client.shutdown().await;
    assert_eq!(usage_sent(&transport.checks()), asked);

    // Expiry and eviction send the usage too.
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let mut options = CheckOptions::default();
    options.entries = 1;
    let client = Client::builder(SERVICE)
        .check_options(options)
        .build(transport.clone());
    checked(&client, "api_key:AIza-good", Some(1)).await;
    checked(&client, "api_key:AIza-good", Some(2)).await;
    checked(&client, "api_key:AIza-good", Some(3)).await;
    // Evicted by another consumer's answer: its 5 waiting are sent.
    checked(&client, "project:my-project", Some(4)).await;
    checked(&client, "project:my-project", Some(5)).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(usage_sent(&transport.checks()), 1 + 5 + 4);
    // Expired: its 5 waiting are sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(usage_sent(&transport.checks()), 1 + 5 + 4 + 5);
    let statistics = client.shutdown().await;
    assert_eq!(usage_sent(&transport.checks()), 15);
    assert_eq!(statistics.undelivered, 0);
}

/// A Check dropped while it waits (its caller gone, an outer timeout) with
/// the usage of earlier requests in it: that usage is sent again later
/// under the call's operation id, neither lost nor counted twice.
#[tokio::test(start_paused = true)]
async fn a_cancelled_check_loses_no_usage() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let client = caching_client(&transport);
    // One call, then usage that waits in the cached entry.
    for n in [1, 2, 3] {
        checked(&client, "api_key:AIza-good", Some(n)).await;
    }
    // The next call after the flush interval carries the 5 waiting; it
    // hangs, and its caller gives up.
    tokio::time::advance(Duration::from_millis(600)).await;
    transport.stalled.store(true, Ordering::SeqCst);
    let request = check("api_key:AIza-good", Some(4));
    let cancelled = tokio::time::timeout(Duration::from_millis(100), client.check(&request)).await;
    assert!(cancelled.is_err(), "the call hangs");
    transport.stalled.store(false, Ordering::SeqCst);
    let statistics = client.shutdown().await;
    // The first call's 1, and the 5 the cancelled call carried, again
    // under its id: it may have reached the server, which then knows the
    // retry. The cancelled request's own 4 never went on: not owed.
    let checks = transport.checks();
    assert_eq!(usage_sent(&checks), 1 + 5);
    let again = checks.last().unwrap().operation.as_ref().unwrap();
    assert_eq!(again.operation_id, request.operation.unwrap().operation_id);
    assert_eq!(statistics.undelivered, 0);
}

/// No quota ask waits once its key is cached, denied or not: a denial due
/// to be asked again is probed in the background (NORMAL mode, as cxx's
/// quota aggregator does) while every ask gets the cached denial, and a
/// probe granted is charged once.
#[tokio::test(start_paused = true)]
async fn a_denied_key_never_waits_and_is_probed_in_the_background() {
    use cloud_report_proto::emulator::Fault;
    let (emulator, _) = configured();
    emulator
        .add_fault(
            SERVICE,
            Fault::from_json(
                r#"{"method": "allocateQuota", "response": {"allocateErrors": [{"code": "RESOURCE_EXHAUSTED"}]}}"#,
            )
            .unwrap(),
        )
        .unwrap();
    let transport = InProcess::new(emulator);
    let client = Client::builder(SERVICE).build(transport.clone());
    // Let through at once; the server's answer (scripted) denies.
    let first = client
        .allocate_quota(&ask("api_key:AIza-good", 1))
        .await
        .unwrap();
    assert!(matches!(first.source, Source::Optimistic));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let denied = client
        .allocate_quota(&ask("api_key:AIza-good", 1))
        .await
        .unwrap();
    assert!(!denied.allowed() && matches!(denied.source, Source::Cache));
    // Due to be asked again while the server hangs: the ask that falls due
    // gets the cached denial at once, and the probe goes in the background.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    transport.stalled.store(true, Ordering::SeqCst);
    let due = tokio::time::timeout(
        Duration::from_millis(1),
        client.allocate_quota(&ask("api_key:AIza-good", 1)),
    )
    .await
    .expect("a cached denial never waits")
    .unwrap();
    assert!(!due.allowed() && matches!(due.source, Source::Cache));
    tokio::task::yield_now().await;
    assert_eq!(transport.hanging.load(Ordering::SeqCst), 1, "the probe");
    // Asks meanwhile get the denial too, and start no other probe.
    for _ in 0..5 {
        let meanwhile = client
            .allocate_quota(&ask("api_key:AIza-good", 1))
            .await
            .unwrap();
        assert!(!meanwhile.allowed());
    }
    transport.stalled.store(false, Ordering::SeqCst);
    // The probe's attempt times out and its retry (no fault now) grants:
    // the entry allows, the probe's cost is charged once, and the next ask
    // uses it up instead of being charged again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let granted = client
        .allocate_quota(&ask("api_key:AIza-good", 1))
        .await
        .unwrap();
    assert!(
        matches!(granted.source, Source::Cache) && granted.allowed(),
        "{granted:?}"
    );
    let statistics = client.shutdown().await;
    assert_eq!(statistics.quota_calls, 2, "{statistics:?}");
    // The first ask (refused by the fault, not charged) and the probe
    // granted (charged 1, for the ask after it): 1 read in all.
    assert_eq!(reads_used(&transport.emulator), 1);
}

#[tokio::test(start_paused = true)]
async fn checks_fail_open_or_closed_when_the_server_is_unreachable() {
    for fail_open in [true, false] {
        let (emulator, _) = configured();
        let transport = InProcess::new(emulator);
        let client = Client::builder(SERVICE)
            .fail_open(fail_open)
            .build(transport.clone());
        transport.down.store(true, Ordering::SeqCst);
        let answer = client.check(&check("api_key:AIza-good", None)).await;
        if fail_open {
            let answer = answer.unwrap();
            assert!(answer.allowed() && !answer.api_key_checked());
            assert!(matches!(answer.source, Source::FailedOpen(_)));
        } else {
            // Refused: the caller is told UNAVAILABLE (a 503), the failure
            // is kept for the logs.
            let answer = answer.unwrap();
            assert!(!answer.allowed() && !answer.api_key_checked());
            assert!(
                matches!(&answer.source, Source::Failed(f) if f.message() == "connection refused")
            );
            assert_eq!(answer.denial().unwrap().code(), tonic::Code::Unavailable);
        }
        // A failure is never cached: once the server is back, it answers.
        transport.down.store(false, Ordering::SeqCst);
        let answer = client
            .check(&check("api_key:AIza-good", None))
            .await
            .unwrap();
        assert!(matches!(answer.source, Source::Server));
        // An answer of the service (a denial) is no failure to fail open on.
        let denied = client.check(&check("api_key:nope", None)).await.unwrap();
        assert!(!denied.allowed() && denied.api_key_checked());
        let statistics = client.shutdown().await;
        assert_eq!(statistics.check_failed_open, u64::from(fail_open));
        assert_eq!(statistics.check_failures, u64::from(!fail_open));
    }
}

fn ask(consumer: &str, reads: i64) -> sc::AllocateQuotaRequest {
    sc::AllocateQuotaRequest {
        allocate_operation: Some(sc::QuotaOperation {
            operation_id: format!("quota-{}", fastrand_id()),
            method_name: GET_SHELF.into(),
            consumer_id: consumer.into(),
            quota_metrics: vec![sc::MetricValueSet {
                metric_name: "read-requests".into(),
                metric_values: vec![sc::MetricValue {
                    value: Some(sc::metric_value::Value::Int64Value(reads)),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            quota_mode: sc::quota_operation::QuotaMode::Normal as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn reads_used(emulator: &Emulator) -> i64 {
    emulator
        .quota_usage(SERVICE)
        .iter()
        .filter(|u| u.metric == "read-requests")
        .map(|u| u.used)
        .sum()
}

/// ESPv2's scheme, the default: refreshes in the caller's mode (NORMAL),
/// a denial being an answer with `allocate_errors`.
#[tokio::test(start_paused = true)]
async fn quota_refreshes_as_asked_and_enforces_allocate_errors() {
    let (emulator, clock) = configured();
    let transport = InProcess::new(emulator.clone());
    let client = Client::builder(SERVICE).build(transport.clone());
    let normal = sc::quota_operation::QuotaMode::Normal as i32;
    // Each ask its own operation (ids are unique, as a gateway's are).
    let ask_one = || async { client.allocate_quota(&ask("api_key:AIza-good", 1)).await };

    assert!(matches!(
        ask_one().await.unwrap().source,
        Source::Optimistic
    ));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(reads_used(&emulator), 1);
    for _ in 0..2 {
        assert!(matches!(ask_one().await.unwrap().source, Source::Cache));
    }
    // The two added up go after the refresh interval, in NORMAL mode.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(reads_used(&emulator), 3);
    let sent = transport.quotas();
    let refresh = sent.last().unwrap().allocate_operation.clone().unwrap();
    assert_eq!(refresh.quota_mode, normal);
    assert_eq!(
        refresh.quota_metrics[0].metric_values[0].value,
        Some(sc::metric_value::Value::Int64Value(2))
    );
    assert_ne!(
        refresh.operation_id,
        sent[0].allocate_operation.as_ref().unwrap().operation_id
    );

    // Three more are let through; their refresh asks 3 of the 2 left, is
    // refused whole (NORMAL charges all or nothing), and the entry denies
    // with the server's own errors.
    for _ in 0..3 {
        assert!(ask_one().await.unwrap().allowed());
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(reads_used(&emulator), 3);
    let denied = ask_one().await.unwrap();
    assert!(matches!(denied.source, Source::Cache) && !denied.allowed());
    assert_eq!(
        denied.response.allocate_errors[0].code,
        sc::quota_error::Code::ResourceExhausted as i32
    );
    // Denied asks are not added up: nothing goes at the next tick.
    let calls = transport.quotas().len();
    ask_one().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(transport.quotas().len(), calls);

    // Once the interval has passed, the next ask gets the denial at once
    // and probes in the background, in NORMAL mode: one unit of the 2 left
    // is granted and charged, and the entry lets asks through again; the
    // next ask uses up what the probe was charged, the one after is added
    // up.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let due = ask_one().await.unwrap();
    assert!(matches!(due.source, Source::Cache) && !due.allowed());
    tokio::time::sleep(Duration::from_millis(1)).await;
    let probe = transport
        .quotas()
        .last()
        .unwrap()
        .allocate_operation
        .clone()
        .unwrap();
    assert_eq!(probe.quota_mode, normal);
    assert_eq!(reads_used(&emulator), 4);
    let again = ask_one().await.unwrap();
    assert!(matches!(again.source, Source::Cache) && again.allowed());
    assert!(ask_one().await.unwrap().allowed());
    clock.advance(Duration::from_secs(60));
    let statistics = client.shutdown().await;
    assert_eq!(
        reads_used(&emulator),
        1,
        "the last ask, sent at shutdown in a new minute"
    );
    assert_eq!(statistics.undelivered, 0);
}

/// The BEST_EFFORT scheme, chosen: the server charges what is left, and a
/// limit reached is learned from the `quota/exceeded` metric.
#[tokio::test(start_paused = true)]
async fn quota_is_optimistic_aggregated_and_refreshed_best_effort() {
    let (emulator, clock) = configured();
    let transport = InProcess::new(emulator.clone());
    let mut options = QuotaOptions::default();
    options.refresh = QuotaRefresh::BestEffort;
    let client = Client::builder(SERVICE)
        .quota_options(options)
        .build(transport.clone());

    // A miss is let through at once while the server is asked.
    let first = client
        .allocate_quota(&ask("api_key:AIza-good", 1))
        .await
        .unwrap();
    assert!(matches!(first.source, Source::Optimistic) && first.allowed());
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(reads_used(&emulator), 1);
    // Later asks add up in the cache.
    for _ in 0..2 {
        let answer = client
            .allocate_quota(&ask("api_key:AIza-good", 1))
            .await
            .unwrap();
        assert!(matches!(answer.source, Source::Cache) && answer.allowed());
    }
    assert_eq!(transport.quotas().len(), 1);
    // Sent after the refresh interval, in BEST_EFFORT mode, by the timer.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(reads_used(&emulator), 3);
    let refresh = transport.quotas().last().unwrap().clone();
    let op = refresh.allocate_operation.unwrap();
    assert_eq!(
        op.quota_mode,
        sc::quota_operation::QuotaMode::BestEffort as i32
    );
    assert_eq!(op.consumer_id, "api_key:AIza-good");

    // Three more are let through; the refresh gets two (the limit is 5 a
    // minute), says the limit was reached, and the cache turns to denying.
    for _ in 0..3 {
        assert!(
            client
                .allocate_quota(&ask("api_key:AIza-good", 1))
                .await
                .unwrap()
                .allowed()
        );
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(reads_used(&emulator), 5);
    let denied = client
        .allocate_quota(&ask("api_key:AIza-good", 1))
        .await
        .unwrap();
    assert!(!denied.allowed() || matches!(denied.source, Source::Cache));
    let denied = client
        .allocate_quota(&ask("api_key:AIza-good", 1))
        .await
        .unwrap();
    assert!(matches!(denied.source, Source::Cache));
    assert!(!denied.allowed(), "{:?}", denied.response);
    let calls = transport.quotas().len();

    // A denial is asked again after the refresh interval, in NORMAL mode,
    // in the background, the asker answered from the cache: denied while
    // the minute lasts ...
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = client
        .allocate_quota(&ask("api_key:AIza-good", 1))
        .await
        .unwrap();
    assert!(matches!(again.source, Source::Cache) && !again.allowed());
    tokio::time::sleep(Duration::from_millis(1)).await;
    let sent = transport.quotas();
    assert_eq!(sent.len(), calls + 1);
    assert_eq!(
        sent.last()
            .unwrap()
            .allocate_operation
            .as_ref()
            .unwrap()
            .quota_mode,
        sc::quota_operation::QuotaMode::Normal as i32
    );
    assert_eq!(reads_used(&emulator), 5);
    // ... and granted, counted once, in the next: the probe is charged,
    // and the ask after it is let through on that charge.
    clock.advance(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let due = client
        .allocate_quota(&ask("api_key:AIza-good", 1))
        .await
        .unwrap();
    assert!(matches!(due.source, Source::Cache) && !due.allowed());
    tokio::time::sleep(Duration::from_millis(1)).await;
    let granted = client
        .allocate_quota(&ask("api_key:AIza-good", 1))
        .await
        .unwrap();
    assert!(matches!(granted.source, Source::Cache) && granted.allowed());
    assert_eq!(reads_used(&emulator), 1);
    let statistics = client.shutdown().await;
    assert_eq!(statistics.quota_optimistic, 1);
    assert_eq!(statistics.undelivered, 0);
}

/// Concurrent misses of one cold key share one call: 1,000 Checks at once
/// make one Check, each answered by it, every unit of usage sent once; when
/// that call fails, they fail as it failed.
#[tokio::test(start_paused = true)]
async fn concurrent_cold_checks_of_one_key_make_one_call() {
    use cloud_report_proto::emulator::Fault;
    let (emulator, _) = configured();
    // The server takes its time, so that the misses pile up.
    emulator
        .add_fault(
            SERVICE,
            Fault::from_json(r#"{"method": "check", "delay": "0.05s"}"#).unwrap(),
        )
        .unwrap();
    let transport = InProcess::new(emulator);
    let client = caching_client(&transport);
    let request = check("api_key:AIza-good", Some(1));
    let asks: Vec<_> = (0..1000)
        .map(|_| {
            let (client, request) = (client.clone(), request.clone());
            tokio::spawn(async move { client.check(&request).await })
        })
        .collect();
    for ask in asks {
        let answer = ask.await.unwrap().unwrap();
        assert!(answer.allowed(), "{answer:?}");
    }
    assert_eq!(transport.checks().len(), 1, "one call for the key");
    let statistics = client.shutdown().await;
    assert_eq!(statistics.check_calls, 1);
    assert_eq!(usage_sent(&transport.checks()), 1000);

    // The shared call fails: every waiter fails open as it did.
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    transport.down.store(true, Ordering::SeqCst);
    let client = caching_client(&transport);
    let asks: Vec<_> = (0..100)
        .map(|_| {
            let (client, request) = (client.clone(), request.clone());
            tokio::spawn(async move { client.check(&request).await })
        })
        .collect();
    for ask in asks {
        let answer = ask.await.unwrap().unwrap();
        assert!(matches!(answer.source, Source::FailedOpen(_)));
    }
    let statistics = client.statistics();
    assert_eq!(statistics.check_calls, 1);
    assert_eq!(statistics.check_failed_open, 100);
    transport.down.store(false, Ordering::SeqCst);
    client.shutdown().await;
    // Let through, each one's usage is owed, and sent.
    assert_eq!(usage_sent(&transport.checks()), 100);
}

/// A shared call given up (its caller gone) leaves no one waiting: the next
/// request of the key asks itself.
#[tokio::test(start_paused = true)]
async fn a_cancelled_shared_check_leaves_no_one_waiting() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let client = caching_client(&transport);
    let request = check("api_key:AIza-good", None);
    transport.stalled.store(true, Ordering::SeqCst);
    let leader = {
        let (client, request) = (client.clone(), request.clone());
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(100), client.check(&request)).await
        })
    };
    tokio::task::yield_now().await;
    let waiter = {
        let (client, request) = (client.clone(), request.clone());
        tokio::spawn(async move { client.check(&request).await })
    };
    tokio::task::yield_now().await;
    // The leader's call hangs for good; calls from now on do not.
    transport.stalled.store(false, Ordering::SeqCst);
    assert!(leader.await.unwrap().is_err(), "the leader gave up");
    let answer = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter asks itself")
        .unwrap()
        .unwrap();
    assert!(matches!(answer.source, Source::Server) && answer.allowed());
    client.shutdown().await;
}

/// During an outage background sends are bounded in total: past
/// `MAX_BACKGROUND_SENDS` under way, usage is not sent but counted
/// undelivered, never held without bound nor lost silently.
#[tokio::test(start_paused = true)]
async fn background_sends_are_bounded_in_an_outage() {
    use cloud_report_proto::client::MAX_BACKGROUND_SENDS;
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let mut options = CheckOptions::default();
    options.entries = 3000;
    let client = Client::builder(SERVICE)
        .check_options(options)
        .build(transport.clone());
    let consumers = MAX_BACKGROUND_SENDS + 500;
    // Each consumer's answer cached, then usage waiting in it.
    for i in 0..consumers {
        // One key per caller address.
        let mut request = check("api_key:AIza-good", Some(1));
        request.operation.as_mut().unwrap().labels.insert(
            "servicecontrol.googleapis.com/caller_ip".into(),
            format!("10.0.{}.{}", i / 256, i % 256),
        );
        for _ in 0..2 {
            let answer = client.check(&request).await.unwrap();
            assert!(answer.allowed());
        }
    }
    // The server hangs; the shutdown sends every entry's usage at once.
    transport.stalled.store(true, Ordering::SeqCst);
    let shutdown = {
        let client = client.clone();
        tokio::spawn(async move { client.shutdown_within(Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        transport.hanging.load(Ordering::SeqCst),
        MAX_BACKGROUND_SENDS
    );
    assert_eq!(client.statistics().undelivered, 500);
    let statistics = shutdown.await.unwrap();
    assert_eq!(statistics.undelivered, consumers as u64);
}

/// The end of a client: calls after `shutdown()` are refused (their usage
/// could not be sent); a shutdown with a deadline gives up, and counts,
/// what it could not send in time; a client dropped without `shutdown()`
/// sends what it held in the background.
#[tokio::test(start_paused = true)]
async fn nothing_is_lost_silently_at_the_end() {
    // Dropped without shutdown: the 5 waiting in the cache are sent.
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let client = caching_client(&transport);
    for n in [1, 2, 3] {
        checked(&client, "api_key:AIza-good", Some(n)).await;
    }
    drop(client);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(usage_sent(&transport.checks()), 6);

    // After shutdown: refused, every call.
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let client = Client::builder(SERVICE).build(transport.clone());
    client.shutdown().await;
    let error = client
        .check(&check("api_key:AIza-good", Some(1)))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::FailedPrecondition);
    assert!(error.message().contains("shut down"), "{}", error.message());
    let error = client
        .allocate_quota(&ask("api_key:AIza-good", 1))
        .await
        .unwrap_err();
    assert_eq!(error.code(), tonic::Code::FailedPrecondition);
    let operation = check("api_key:AIza-good", None).operation.unwrap();
    assert!(client.report(operation).await.is_err());

    // A deadline: usage stuck behind a hanging server is given up, counted.
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let client = caching_client(&transport);
    for n in [1, 2] {
        checked(&client, "api_key:AIza-good", Some(n)).await;
    }
    transport.stalled.store(true, Ordering::SeqCst);
    let statistics = client.shutdown_within(Duration::from_millis(100)).await;
    assert_eq!(statistics.undelivered, 1, "{statistics:?}");
}

/// `report` never waits: while Service Control hangs and the reporter is
/// full, each operation is taken or handed back at once, and what was
/// handed back is counted.
#[tokio::test(start_paused = true)]
async fn report_never_waits() {
    use cloud_report_proto::client::ReportConfig;
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    transport.stalled.store(true, Ordering::SeqCst);
    let mut config = ReportConfig::new(SERVICE);
    config.window = Duration::from_millis(10);
    config.max_in_flight = 1;
    config.max_cached_entries = 2;
    config.queue_capacity = 4;
    let client = Client::builder(SERVICE)
        .report_config(config)
        .build(transport.clone());
    let mut refused = 0;
    for i in 0..200 {
        let mut operation = check(&format!("project:p{i}"), None).operation.unwrap();
        operation.operation_id = format!("r-{i}");
        let taken = tokio::time::timeout(Duration::from_millis(1), client.report(operation))
            .await
            .expect("report returns at once");
        if taken.is_err() {
            refused += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reports = client.statistics().reports;
    assert!(refused > 0, "the reporter filled up");
    assert_eq!(reports.refused, refused);
    assert_eq!(reports.accepted + reports.refused, 200);
    transport.stalled.store(false, Ordering::SeqCst);
    client.shutdown().await;
}

/// CHECK_ONLY asks charge nothing: each goes to the server as it is and
/// waits for its answer, never added up into a charging refresh.
#[tokio::test(start_paused = true)]
async fn check_only_quota_asks_are_never_charged() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator.clone());
    let client = Client::builder(SERVICE).build(transport.clone());
    for _ in 0..10 {
        let mut request = ask("api_key:AIza-good", 1);
        request.allocate_operation.as_mut().unwrap().quota_mode =
            sc::quota_operation::QuotaMode::CheckOnly as i32;
        let answer = client.allocate_quota(&request).await.unwrap();
        assert!(matches!(answer.source, Source::Server) && answer.allowed());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    client.shutdown().await;
    assert_eq!(transport.quotas().len(), 10);
    assert!(transport.quotas().iter().all(|q| {
        q.allocate_operation.as_ref().unwrap().quota_mode
            == sc::quota_operation::QuotaMode::CheckOnly as i32
    }));
    assert_eq!(reads_used(&emulator), 0);
}

#[tokio::test(start_paused = true)]
async fn quota_costs_are_counted_once_through_failures_and_shutdown() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator.clone());
    let mut options = QuotaOptions::default();
    options.refresh_interval = Duration::from_millis(100);
    let client = Client::builder(SERVICE)
        .quota_options(options)
        .build(transport.clone());
    client
        .allocate_quota(&ask("project:my-project", 1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    client
        .allocate_quota(&ask("project:my-project", 1))
        .await
        .unwrap();
    // The refresh fails (the server is down): its cost waits for the next.
    transport.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(reads_used(&emulator), 1);
    let answer = client
        .allocate_quota(&ask("project:my-project", 1))
        .await
        .unwrap();
    assert!(answer.allowed(), "failing open keeps letting asks through");
    transport.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(reads_used(&emulator), 3);
    // Costs still waiting go at shutdown.
    client
        .allocate_quota(&ask("project:my-project", 1))
        .await
        .unwrap();
    let statistics = client.shutdown().await;
    assert_eq!(reads_used(&emulator), 4);
    assert_eq!(statistics.undelivered, 0);
}

/// Costs whose call failed after the server counted them (the answer lost
/// to a timeout) go again under the same operation id, and the server's
/// deduplication counts them once; a NORMAL ask let through on a failure
/// keeps its costs too.
#[tokio::test(start_paused = true)]
async fn resent_quota_costs_keep_their_operation_id() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator.clone());
    let client = refreshing_quota_client(&transport);
    let consumer = "project:my-project";
    client.allocate_quota(&ask(consumer, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    for _ in 0..2 {
        client.allocate_quota(&ask(consumer, 1)).await.unwrap();
    }
    // The refresh of the two reaches the server, which counts them; its
    // answer is lost.
    transport.losing.store(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(reads_used(&emulator), 3);
    let lost = transport.quotas().last().unwrap().clone();
    // One more ask; at the next refresh the lost one goes again as it was,
    // and the server knows it: still 3.
    client.allocate_quota(&ask(consumer, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let again = transport.quotas().last().unwrap().clone();
    assert_eq!(again, lost, "sent again as it was, operation id and all");
    assert_eq!(reads_used(&emulator), 3);
    // The new ask goes with the refresh after.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(reads_used(&emulator), 4);
    let statistics = client.shutdown().await;
    assert_eq!(reads_used(&emulator), 4);
    assert_eq!(statistics.undelivered, 0);
}

/// A denial probed while the server cannot be reached fails open: the
/// entry lets asks through from then on, and only their costs are charged.
#[tokio::test(start_paused = true)]
async fn a_probe_failing_open_charges_only_what_went_through() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator.clone());
    let client = refreshing_quota_client(&transport);
    let consumer = "project:my-project";
    client.allocate_quota(&ask(consumer, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    // Five more than the four left: refused whole, the entry denies.
    client.allocate_quota(&ask(consumer, 5)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(reads_used(&emulator), 1);
    assert!(
        !client
            .allocate_quota(&ask(consumer, 1))
            .await
            .unwrap()
            .allowed()
    );
    // Due again: the ask gets the cached denial, and the probe finds the
    // server down. Failing open, the entry lets asks through (cxx caches
    // an empty answer); the probe's cost, refused with the denial, is
    // never charged.
    tokio::time::sleep(Duration::from_millis(100)).await;
    transport.down.store(true, Ordering::SeqCst);
    let answer = client.allocate_quota(&ask(consumer, 1)).await.unwrap();
    assert!(matches!(answer.source, Source::Cache) && !answer.allowed());
    tokio::time::sleep(Duration::from_millis(10)).await;
    transport.down.store(false, Ordering::SeqCst);
    let asked = ask(consumer, 1);
    let through = client.allocate_quota(&asked).await.unwrap();
    assert!(through.allowed(), "{through:?}");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(reads_used(&emulator), 2, "only the cost let through");
    assert_eq!(client.shutdown().await.undelivered, 0);
    assert_eq!(reads_used(&emulator), 2);
}

/// Costs whose entry expired while the server was down are kept and sent
/// once it is back, not given up.
#[tokio::test(start_paused = true)]
async fn costs_of_an_expired_entry_survive_an_outage() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator.clone());
    let mut options = QuotaOptions::default();
    options.refresh_interval = Duration::from_millis(100);
    options.expiration = Duration::from_millis(250);
    let client = Client::builder(SERVICE)
        .quota_options(options)
        .quota_policy(CallPolicy::quota().retries(0))
        .build(transport.clone());
    client
        .allocate_quota(&ask("project:my-project", 1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    transport.down.store(true, Ordering::SeqCst);
    client
        .allocate_quota(&ask("project:my-project", 2))
        .await
        .unwrap();
    // Its refreshes fail, then the entry expires: its costs have no entry.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(reads_used(&emulator), 1);
    transport.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        reads_used(&emulator),
        3,
        "sent at a tick once the server is back"
    );
    let statistics = client.shutdown().await;
    assert_eq!(statistics.undelivered, 0);
    assert_eq!(reads_used(&emulator), 3);
}

#[tokio::test(start_paused = true)]
async fn quota_fails_closed_when_told() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let mut options = QuotaOptions::default();
    options.entries = 0;
    let client = Client::builder(SERVICE)
        .fail_open(false)
        .quota_options(options)
        .build(transport.clone());
    transport.down.store(true, Ordering::SeqCst);
    let refused = client
        .allocate_quota(&ask("project:my-project", 1))
        .await
        .unwrap();
    assert!(!refused.allowed() && matches!(refused.source, Source::Failed(_)));
    assert_eq!(refused.denial().unwrap().code(), tonic::Code::Unavailable);
    transport.down.store(false, Ordering::SeqCst);
    let answer = client
        .allocate_quota(&ask("project:my-project", 1))
        .await
        .unwrap();
    assert!(matches!(answer.source, Source::Server) && answer.allowed());
    // Refused consumers are the service's answer, not a failure.
    let refused = client
        .allocate_quota(&ask("api_key:AIza-expired", 1))
        .await
        .unwrap();
    assert!(!refused.allowed());
    client.shutdown().await;
}

/// The same calls over each real transport on 127.0.0.1: gRPC, REST JSON
/// and binary protobuf over HTTP; the emulator ends in the same state.
#[tokio::test(flavor = "multi_thread")]
async fn every_transport_reaches_the_emulator() {
    use cloud_report_proto::client::{GrpcTransport, RestTransport};
    use cloud_report_proto::rest::RestClient;

    let mut states = Vec::new();
    for wire in ["grpc", "json", "binary"] {
        let running = Emulator::start(example_config().0).await.unwrap();
        let transport: Box<dyn FnOnce(ClientBuilderFor) -> Client> = match wire {
            "grpc" => {
                let channel = tonic::transport::Channel::from_shared(running.url())
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
                Box::new(move |b: ClientBuilderFor| b.build(GrpcTransport::new(channel)))
            }
            other => {
                let rest = RestClient::builder(running.url())
                    .binary(other == "binary")
                    .build()
                    .unwrap();
                Box::new(move |b: ClientBuilderFor| b.build(RestTransport::new(rest)))
            }
        };
        let mut quota = QuotaOptions::default();
        quota.refresh_interval = Duration::from_millis(50);
        let client = transport(Client::builder(SERVICE).quota_options(quota));
        let first = client
            .check(&check("api_key:AIza-good", None))
            .await
            .unwrap();
        assert!(matches!(first.source, Source::Server), "{wire}");
        assert_eq!(
            first.response.check_info.as_ref().unwrap().api_key_uid,
            "apikey:key-uid-good"
        );
        let second = client
            .check(&check("api_key:AIza-good", None))
            .await
            .unwrap();
        assert!(matches!(second.source, Source::Cache), "{wire}");
        let denied = client
            .check(&check("api_key:AIza-expired", None))
            .await
            .unwrap();
        assert!(!denied.allowed(), "{wire}");
        for _ in 0..3 {
            assert!(
                client
                    .allocate_quota(&ask("api_key:AIza-good", 1))
                    .await
                    .unwrap()
                    .allowed()
            );
        }
        let mut report = check("api_key:AIza-good", None).operation.unwrap();
        report.operation_id = format!("{wire}-report");
        report.start_time = Some(cloud_report_proto::google::protobuf::Timestamp {
            seconds: 1_700_000_040,
            nanos: 0,
            ..Default::default()
        });
        report.end_time = report.start_time.clone();
        client.report(report).await.unwrap();
        let statistics = client.shutdown().await;
        assert_eq!(statistics.reports.sent, 1, "{wire}");
        assert_eq!(statistics.undelivered, 0, "{wire}");
        let stored = running.emulator().operations(SERVICE).len();
        let used = reads_used(running.emulator());
        states.push((wire, stored, used));
    }
    assert_eq!(states, [("grpc", 1, 3), ("json", 1, 3), ("binary", 1, 3)]);
}

type ClientBuilderFor = cloud_report_proto::client::ClientBuilder;

/// A check error saying a backend of Service Control is unavailable is a
/// failure, as ESPv2 takes it (UNAVAILABLE): failing open lets the request
/// through, failing closed is the error, and neither is cached as a denial
/// (the next request asks the server again).
#[tokio::test(flavor = "multi_thread")]
async fn unavailable_check_errors_fail_open_and_are_never_cached() {
    use cloud_report_proto::client::GrpcTransport;
    use cloud_report_proto::emulator::Fault;

    let running = Emulator::start(example_config().0).await.unwrap();
    let emulator = running.emulator();
    for code in [
        "NAMESPACE_LOOKUP_UNAVAILABLE",
        "SERVICE_STATUS_UNAVAILABLE",
        "BILLING_STATUS_UNAVAILABLE",
        "CLOUD_RESOURCE_MANAGER_BACKEND_UNAVAILABLE",
    ] {
        for fail_open in [true, false] {
            let channel = tonic::transport::Channel::from_shared(running.url())
                .unwrap()
                .connect()
                .await
                .unwrap();
            let client = Client::builder(SERVICE)
                .fail_open(fail_open)
                .build(GrpcTransport::new(channel));
            let fault = format!(r#"{{"method": "check", "checkError": "{code}"}}"#);
            emulator
                .add_fault(SERVICE, Fault::from_json(&fault).unwrap())
                .unwrap();
            let before = emulator.requests(SERVICE).len();
            let request = check("api_key:AIza-good", None);
            let answer = client.check(&request).await.unwrap();
            assert!(!answer.api_key_checked(), "{code}");
            if fail_open {
                assert!(matches!(answer.source, Source::FailedOpen(_)), "{code}");
                assert!(answer.allowed());
            } else {
                assert!(matches!(answer.source, Source::Failed(_)), "{code}");
                let status = answer.denial().unwrap();
                assert_eq!(status.code(), tonic::Code::Unavailable, "{code}");
                assert!(status.message().contains(code), "{}", status.message());
            }
            // Not cached: the same request goes to the server, which allows.
            let again = client.check(&request).await.unwrap();
            assert!(matches!(again.source, Source::Server), "{code}");
            assert!(again.allowed());
            assert_eq!(emulator.requests(SERVICE).len(), before + 2, "{code}");
            client.shutdown().await;
        }
    }
    running.shutdown().await;
}

/// Every kind of failure, injected by the emulator on each real transport,
/// decided as ESPv2 decides: a Check fails open only on what ESPv2 calls
/// UNAVAILABLE (HTTP 429, 502, 503, 504; gRPC UNAVAILABLE, DEADLINE_EXCEEDED,
/// RESOURCE_EXHAUSTED; a timeout) and closed on the rest (500, 404, a reset
/// stream); AllocateQuota lets every failure through; with `fail_open(false)`
/// every failure is the caller's error.
#[tokio::test(flavor = "multi_thread")]
async fn failures_are_decided_as_espv2_decides_on_every_transport() {
    use cloud_report_proto::client::{GrpcTransport, RestTransport};
    use cloud_report_proto::emulator::Fault;
    use cloud_report_proto::rest::RestClient;

    // (fault action, Check fails open on gRPC, on REST)
    let cases = [
        (r#""httpStatus": 503"#, true, true),
        (r#""httpStatus": 429"#, true, true),
        (r#""httpStatus": 504"#, true, true),
        // No gRPC code for 502: google.rpc.Code's table gives INTERNAL.
        (r#""httpStatus": 502"#, false, true),
        (r#""httpStatus": 500"#, false, false),
        (r#""httpStatus": 404"#, false, false),
        (r#""status": {"code": "UNAVAILABLE"}"#, true, true),
        (r#""status": {"code": "INTERNAL"}"#, false, false),
        (r#""drop": "reset""#, false, false),
        (r#""delay": "1s""#, true, true),
        // The gateway's own credentials refused: its caller is not to
        // blame (INTERNAL, a 500), whatever the code.
        (r#""httpStatus": 401"#, false, false),
        (r#""httpStatus": 403"#, false, false),
        (r#""status": {"code": "UNAUTHENTICATED"}"#, false, false),
        // A 200 that cannot be read: INTERNAL, failing closed.
        (r#""garble": true"#, false, false),
    ];
    let running = Emulator::start(example_config().0).await.unwrap();
    let emulator = running.emulator();
    for wire in ["grpc", "json", "binary"] {
        for fail_open in [true, false] {
            // One try of 300 ms: the delay is a timeout, and a case takes
            // no longer than that.
            let policy = CallPolicy::check()
                .timeout(Duration::from_millis(300))
                .retries(0);
            let builder = Client::builder(SERVICE)
                .check_options(CheckOptions::disabled())
                .check_policy(policy.clone())
                .quota_policy(policy)
                .fail_open(fail_open);
            let client = if wire == "grpc" {
                let channel = tonic::transport::Channel::from_shared(running.url())
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
                builder.build(GrpcTransport::new(channel))
            } else {
                let rest = RestClient::builder(running.url())
                    .binary(wire == "binary")
                    .build()
                    .unwrap();
                builder.build(RestTransport::new(rest))
            };
            for (action, grpc_open, rest_open) in cases {
                let case = format!("{wire} fail_open={fail_open} {action}");
                let opens = fail_open && if wire == "grpc" { grpc_open } else { rest_open };
                let fault = |method: &str| {
                    Fault::from_json(&format!(r#"{{"method": "{method}", {action}}}"#)).unwrap()
                };
                let unavailable = if wire == "grpc" { grpc_open } else { rest_open };
                // What the caller is told when refused: UNAVAILABLE for an
                // unreachable Service Control, INTERNAL for anything else.
                let told = if unavailable {
                    tonic::Code::Unavailable
                } else {
                    tonic::Code::Internal
                };
                emulator.add_fault(SERVICE, fault("check")).unwrap();
                let answer = client
                    .check(&check("api_key:AIza-good", None))
                    .await
                    .unwrap();
                assert!(!answer.api_key_checked(), "{case}");
                if opens {
                    assert!(matches!(answer.source, Source::FailedOpen(_)), "{case}");
                    assert!(answer.allowed(), "{case}");
                } else {
                    assert!(
                        matches!(answer.source, Source::Failed(_)),
                        "{case}: {answer:?}"
                    );
                    assert_eq!(answer.denial().unwrap().code(), told, "{case}");
                }
                // An ask the server must answer (no costs to add up).
                emulator.add_fault(SERVICE, fault("allocateQuota")).unwrap();
                let mut quota = ask("api_key:AIza-good", 1);
                quota
                    .allocate_operation
                    .as_mut()
                    .unwrap()
                    .quota_metrics
                    .clear();
                let answer = client.allocate_quota(&quota).await.unwrap();
                if fail_open {
                    assert!(matches!(answer.source, Source::FailedOpen(_)), "{case}");
                    assert!(answer.allowed(), "{case}");
                } else {
                    assert!(matches!(answer.source, Source::Failed(_)), "{case}");
                    assert_eq!(answer.denial().unwrap().code(), told, "{case}");
                }
                emulator.clear_faults(SERVICE);
                // A delayed answer may still be on its way: let it land.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            client.shutdown().await;
        }
    }
    running.shutdown().await;
}

/// Faults the emulator injects, met by the client over each real transport:
/// an outage fails open after the policy's retries (each one in the
/// emulator's request log), a scripted answer is the server's answer.
#[tokio::test(flavor = "multi_thread")]
async fn injected_faults_reach_the_client_on_every_transport() {
    use cloud_report_proto::client::{GrpcTransport, RestTransport};
    use cloud_report_proto::emulator::{Fault, Method};
    use cloud_report_proto::rest::RestClient;

    for wire in ["grpc", "json", "binary"] {
        let running = Emulator::start(example_config().0).await.unwrap();
        let builder = Client::builder(SERVICE).check_options(CheckOptions::disabled());
        let client = if wire == "grpc" {
            let channel = tonic::transport::Channel::from_shared(running.url())
                .unwrap()
                .connect()
                .await
                .unwrap();
            builder.build(GrpcTransport::new(channel))
        } else {
            let rest = RestClient::builder(running.url())
                .binary(wire == "binary")
                .build()
                .unwrap();
            builder.build(RestTransport::new(rest))
        };
        let emulator = running.emulator();
        emulator
            .add_fault(
                SERVICE,
                Fault::from_json(
                    r#"{"method": "check", "times": 100, "status": {"code": "UNAVAILABLE"}}"#,
                )
                .unwrap(),
            )
            .unwrap();
        let answer = client
            .check(&check("api_key:AIza-good", None))
            .await
            .unwrap();
        assert!(
            matches!(answer.source, Source::FailedOpen(_)),
            "{wire}: {answer:?}"
        );
        let tries = emulator.requests(SERVICE).len();
        assert!(
            tries > 1,
            "{wire}: the policy retries UNAVAILABLE ({tries})"
        );
        assert!(
            emulator
                .requests(SERVICE)
                .iter()
                .all(|r| r.method == Method::Check)
        );
        emulator.clear_faults(SERVICE);

        emulator
            .add_fault(
                SERVICE,
                Fault::from_json(r#"{"method": "check", "checkError": "API_KEY_INVALID"}"#)
                    .unwrap(),
            )
            .unwrap();
        let answer = client
            .check(&check("api_key:AIza-good", None))
            .await
            .unwrap();
        assert!(matches!(answer.source, Source::Server), "{wire}");
        assert!(!answer.allowed(), "{wire}");
        client.shutdown().await;
        running.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn network_failures_are_retried_by_the_call_policy_and_answers_never() {
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator);
    let client = Client::builder(SERVICE)
        .check_options(CheckOptions::disabled())
        .build(transport.clone());
    // Check retries 3 times: two failures are outlasted ...
    transport.failing.store(2, Ordering::SeqCst);
    let answer = client
        .check(&check("api_key:AIza-good", None))
        .await
        .unwrap();
    assert!(matches!(answer.source, Source::Server));
    assert_eq!(client.statistics().retries, 2);
    // ... four are not: the client fails open.
    transport.failing.store(4, Ordering::SeqCst);
    let answer = client
        .check(&check("api_key:AIza-good", None))
        .await
        .unwrap();
    assert!(matches!(answer.source, Source::FailedOpen(_)));
    assert_eq!(client.statistics().retries, 5);
    // A denial is an answer: asked once.
    let calls = transport.checks().len();
    let denied = client.check(&check("api_key:nope", None)).await.unwrap();
    assert!(!denied.allowed());
    assert_eq!(transport.checks().len(), calls + 1);
    assert_eq!(client.shutdown().await.retries, 5);
}

#[tokio::test(start_paused = true)]
async fn usage_survives_a_failed_refresh_and_a_denied_request_counts_none() {
    for fail_open in [true, false] {
        let (emulator, _) = configured();
        let transport = InProcess::new(emulator);
        let client = Client::builder(SERVICE)
            .fail_open(fail_open)
            .build(transport.clone());
        checked(&client, "api_key:AIza-good", Some(1)).await;
        checked(&client, "api_key:AIza-good", Some(2)).await;
        // The refresh fails: the 2 waiting is kept; the request's own 4 is
        // owed only if it goes on.
        tokio::time::advance(Duration::from_millis(600)).await;
        transport.down.store(true, Ordering::SeqCst);
        let answer = client
            .check(&check("api_key:AIza-good", Some(4)))
            .await
            .unwrap();
        assert_eq!(answer.allowed(), fail_open);
        transport.down.store(false, Ordering::SeqCst);
        tokio::time::advance(Duration::from_millis(600)).await;
        let answer = client
            .check(&check("api_key:AIza-good", Some(8)))
            .await
            .unwrap();
        assert!(matches!(answer.source, Source::Server));
        let statistics = client.shutdown().await;
        let owed = 1 + 2 + 8 + if fail_open { 4 } else { 0 };
        assert_eq!(
            usage_sent(&transport.checks()),
            owed,
            "fail_open {fail_open}"
        );
        assert_eq!(statistics.undelivered, 0);
    }
}

/// The client is shared by a gateway's tasks.
#[test]
fn the_client_is_send_and_sync() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Client>();
}

/// Reports merge by the metric kinds of a service configuration: a GAUGE
/// keeps its latest value, a DELTA adds up.
#[tokio::test(start_paused = true)]
async fn reports_merge_by_the_configurations_metric_kinds() {
    let config = ServiceConfig::from_yaml(
        "type: google.api.Service\nname: kinds.example.com\nmetrics:\n- {name: in_flight, metric_kind: GAUGE, value_type: INT64}\n- {name: calls, metric_kind: DELTA, value_type: INT64}\n",
    )
    .unwrap();
    let emulator = Emulator::new(Config::default());
    let transport = InProcess::new(emulator.clone());
    let client = Client::builder("kinds.example.com")
        .service_config(&config)
        .build(transport);
    for (i, value) in [5, 3].into_iter().enumerate() {
        let at = cloud_report_proto::google::protobuf::Timestamp {
            seconds: 1_700_000_000 + i as i64,
            nanos: 0,
            ..Default::default()
        };
        let int64 = |n| sc::MetricValue {
            value: Some(sc::metric_value::Value::Int64Value(n)),
            end_time: Some(at.clone()),
            ..Default::default()
        };
        client
            .report(sc::Operation {
                operation_id: format!("op-{i}"),
                operation_name: "kinds.v1.Things.Get".into(),
                consumer_id: "project:p".into(),
                start_time: Some(at.clone()),
                end_time: Some(at.clone()),
                metric_value_sets: vec![
                    sc::MetricValueSet {
                        metric_name: "in_flight".into(),
                        metric_values: vec![int64(value)],
                        ..Default::default()
                    },
                    sc::MetricValueSet {
                        metric_name: "calls".into(),
                        metric_values: vec![int64(1)],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    client.shutdown().await;
    let stored = emulator.operations("kinds.example.com");
    assert_eq!(stored.len(), 1, "the two merged");
    let value = |metric: &str| {
        stored[0]
            .metric_value_sets
            .iter()
            .find(|s| s.metric_name == metric)
            .unwrap()
            .metric_values[0]
            .value
            .clone()
    };
    assert_eq!(
        value("in_flight"),
        Some(sc::metric_value::Value::Int64Value(3))
    );
    assert_eq!(value("calls"), Some(sc::metric_value::Value::Int64Value(2)));
}

/// Thousands of requests from many tasks against the emulator answering
/// with injected faults (unavailable, internal errors, a backend said to be
/// unavailable, delays past the timeout) and answers lost after the server
/// acted, some cancelled at random, on tokio's driven clock. At the end:
///
/// - every unit of Check usage let through was counted by the server once
///   by operation id, and at most the usage of the cancelled and refused
///   requests more (their calls may have reached the server before they
///   failed); the same for quota costs, which the emulator deduplicates by
///   operation id;
/// - what was not delivered is in `statistics().undelivered`;
/// - every decision is the table's: failing open exactly on UNAVAILABLE
///   failures, errors only for the others, quota never failing;
/// - once the faults clear, no key is stuck: each is allowed again.
#[tokio::test(start_paused = true)]
async fn a_fault_simulation_loses_nothing_and_decides_as_the_table() {
    for seed in [22, 1, 2, 3, 4] {
        simulate_faults(seed, 5, false).await;
    }
}

/// The simulation without lost answers: no refused call reached the
/// server, so the server counted exactly what was let through (and at most
/// the cancelled requests' usage more).
#[tokio::test(start_paused = true)]
async fn a_fault_simulation_without_lost_answers_counts_exactly() {
    for seed in [7, 8, 9] {
        simulate_faults(seed, 0, false).await;
    }
}

/// The simulation with quota denials too (a tenth of AllocateQuota calls
/// answered RESOURCE_EXHAUSTED): no ask waits, denied keys included, and
/// nothing is given up. What a denial refuses of costs already let through
/// is not charged (cxx's rule), so the quota count is not the question.
#[tokio::test(start_paused = true)]
async fn a_fault_simulation_with_quota_denials_never_waits_on_quota() {
    for seed in [11, 12] {
        simulate_faults(seed, 5, true).await;
    }
}

/// The fault simulation, drawn from `seed`, with `lose_percent` of the
/// answers lost after the server acted, quota denials when `denials`, and
/// always a token outage: the source fails from 2 s to 5 s, its tokens
/// lasting 1 s, so that for a while Check and AllocateQuota have no token.
/// No Check waits past its policy (two calls' worth: one it waited on,
/// given up, and its own), no quota ask waits at all.
async fn simulate_faults(seed: u64, lose_percent: usize, denials: bool) {
    use cloud_report_proto::client::is_unavailable;
    use cloud_report_proto::emulator::Fault;
    fastrand::seed(seed);
    // The example configuration, its quota limits out of reach: every
    // cost let through is to be counted.
    let yaml =
        include_str!("../examples/service-config.yaml").replace("STANDARD: ", "STANDARD: 1000000");
    let clock = ManualClock::new(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_040));
    let emulator = Emulator::new(
        Config::default()
            .clock(clock)
            .state_json(include_str!("../examples/service-state.json"))
            .unwrap()
            .service_config(ServiceConfig::from_yaml(&yaml).unwrap()),
    );
    let faults = [
        r#"{"method": "check", "fraction": 0.3, "seed": 1, "status": {"code": "UNAVAILABLE"}}"#,
        r#"{"method": "check", "fraction": 0.1, "seed": 2, "status": {"code": "INTERNAL"}}"#,
        r#"{"method": "check", "fraction": 0.1, "seed": 3, "checkError": "SERVICE_STATUS_UNAVAILABLE"}"#,
        r#"{"method": "check", "fraction": 0.04, "seed": 4, "delay": "3s"}"#,
        r#"{"method": "allocateQuota", "fraction": 0.3, "seed": 5, "status": {"code": "UNAVAILABLE"}}"#,
        r#"{"method": "allocateQuota", "fraction": 0.04, "seed": 6, "delay": "3s"}"#,
    ];
    let denial = r#"{"method": "allocateQuota", "fraction": 0.1, "seed": 7, "response": {"allocateErrors": [{"code": "RESOURCE_EXHAUSTED"}]}}"#;
    for fault in faults.into_iter().chain(denials.then_some(denial)) {
        emulator
            .add_fault(SERVICE, Fault::from_json(fault).unwrap())
            .unwrap();
    }
    let mut transport = InProcess::new(emulator.clone());
    transport.lose_percent.store(lose_percent, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let token_down = move || {
        let t = started.elapsed();
        t >= Duration::from_secs(2) && t < Duration::from_secs(5)
    };
    transport.token = Some(cloud_report_proto::TokenSource::expiring(move || {
        let down = token_down();
        async move {
            if down {
                Err("the metadata server answers 503".to_owned())
            } else {
                Ok(cloud_report_proto::Token::new("t").expires_in(Duration::from_secs(1)))
            }
        }
    }));
    // Short intervals and one retry, so that many calls meet the faults.
    let mut check_options = CheckOptions::default();
    check_options.flush_interval = Duration::from_millis(50);
    check_options.expiration = Duration::from_millis(200);
    let mut quota_options = QuotaOptions::default();
    quota_options.refresh_interval = Duration::from_millis(100);
    let client = Client::builder(SERVICE)
        .check_options(check_options)
        .quota_options(quota_options)
        .check_policy(CallPolicy::check().retries(1))
        .quota_policy(CallPolicy::quota().retries(1))
        .build(transport.clone());

    #[derive(Default)]
    struct Tally {
        check_owed: i64,
        quota_owed: i64,
        cancelled_usage: i64,
        refused_usage: i64,
        cancelled_costs: i64,
        failed_open: usize,
        errors: usize,
        denied: usize,
        no_token: usize,
        quota_denied: usize,
    }
    let tally = Arc::new(Mutex::new(Tally::default()));
    let consumers = [
        "api_key:AIza-good",
        "project:my-project",
        "api_key:AIza-expired",
    ];
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (client, tally) = (client.clone(), tally.clone());
            tokio::spawn(async move {
                for _ in 0..50 {
                    let consumer = consumers[fastrand::usize(..consumers.len())];
                    let good = consumer != "api_key:AIza-expired";
                    // Denied consumers carry no usage: what a denial counts
                    // is not the question here.
                    let n = fastrand::i64(1..4);
                    let usage = good.then_some(n);
                    let request = async {
                        let asked = tokio::time::Instant::now();
                        let checked = client.check(&check(consumer, usage)).await;
                        assert!(
                            asked.elapsed() <= Duration::from_millis(4400),
                            "a Check waited {:?}",
                            asked.elapsed()
                        );
                        {
                            let mut t = tally.lock().unwrap();
                            let answer = checked.as_ref().expect("a Check is always answered");
                            match &answer.source {
                                Source::FailedOpen(status) => {
                                    assert!(is_unavailable(status), "failed open on {status:?}");
                                    t.failed_open += 1;
                                }
                                Source::Failed(status) => {
                                    assert!(
                                        !is_unavailable(status),
                                        "an UNAVAILABLE failure refused: {status:?}"
                                    );
                                    // The caller is not blamed.
                                    let told = answer.denial().unwrap().code();
                                    assert_eq!(told, tonic::Code::Internal, "{status:?}");
                                    t.errors += 1;
                                    if status.message().starts_with("Missing access token") {
                                        t.no_token += 1;
                                    }
                                    // An attempt may have reached the
                                    // server before the one that failed.
                                    t.refused_usage += usage.unwrap_or(0);
                                }
                                _ if !answer.allowed() => {
                                    assert!(!good, "{consumer} denied: {:?}", answer.response);
                                    t.denied += 1;
                                }
                                _ => {}
                            }
                            if answer.allowed() {
                                t.check_owed += usage.unwrap_or(0);
                            }
                        }
                        let go_on = good && checked.is_ok_and(|a| a.allowed());
                        if go_on {
                            let asked = tokio::time::Instant::now();
                            let answer = client.allocate_quota(&ask(consumer, n)).await;
                            assert!(
                                asked.elapsed() < Duration::from_millis(1),
                                "a quota ask waited"
                            );
                            let answer = answer.expect("quota fails open on every failure");
                            assert!(!matches!(answer.source, Source::Failed(_)), "{answer:?}");
                            let mut t = tally.lock().unwrap();
                            if answer.allowed() {
                                t.quota_owed += n;
                            } else {
                                t.quota_denied += 1;
                            }
                        }
                    };
                    if fastrand::u8(..10) < 2 {
                        // Cancelled somewhere in its awaits, or not at all.
                        let within = Duration::from_millis(fastrand::u64(..1500));
                        if tokio::time::timeout(within, request).await.is_err() {
                            let mut t = tally.lock().unwrap();
                            t.cancelled_usage += usage.unwrap_or(0);
                            t.cancelled_costs += n;
                        }
                    } else {
                        request.await;
                    }
                    tokio::time::sleep(Duration::from_millis(fastrand::u64(..300))).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    // The faults clear: every key is asked again and let through, none
    // stuck in a call that never lands.
    emulator.clear_faults(SERVICE);
    transport.lose_percent.store(0, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for consumer in &consumers[..2] {
        let checked = tokio::time::timeout(
            Duration::from_secs(5),
            client.check(&check(consumer, Some(1))),
        )
        .await
        .expect("a Check of a key is stuck")
        .unwrap();
        assert!(
            checked.allowed() && checked.api_key_checked(),
            "{consumer}: {checked:?}"
        );
        tally.lock().unwrap().check_owed += 1;
        // A key still denying is probed by the ask that finds it due, and
        // allows by the next refresh.
        let mut answer = client.allocate_quota(&ask(consumer, 1)).await.unwrap();
        if !answer.allowed() {
            tokio::time::sleep(Duration::from_millis(150)).await;
            answer = client.allocate_quota(&ask(consumer, 1)).await.unwrap();
        }
        assert!(
            answer.allowed() && !matches!(answer.source, Source::FailedOpen(_)),
            "{consumer}: {answer:?}"
        );
        tally.lock().unwrap().quota_owed += 1;
    }
    let statistics = client.shutdown().await;

    let t = tally.lock().unwrap();
    assert!(
        t.failed_open > 0 && t.errors > 0 && t.denied > 0 && t.no_token > 0,
        "every decision met: failed open {}, errors {}, denied {}, no token {}",
        t.failed_open,
        t.errors,
        t.denied,
        t.no_token
    );
    assert!(statistics.token.missing > 0 && statistics.token.failed > 0);
    assert_eq!(t.quota_denied > 0, denials, "quota denials met");
    let counted: i64 = transport.counted.lock().unwrap().values().sum();
    let used: i64 = emulator.quota_usage(SERVICE).iter().map(|u| u.used).sum();
    eprintln!(
        "seed {seed}: check: owed {} counted {counted} (+{} cancelled, +{} refused); quota: owed {} counted {used} (+{} cancelled); {statistics:?}",
        t.check_owed, t.cancelled_usage, t.refused_usage, t.quota_owed, t.cancelled_costs
    );
    assert_eq!(
        statistics.undelivered, 0,
        "nothing given up once the faults cleared"
    );
    assert!(t.check_owed <= counted);
    let refused = if lose_percent == 0 {
        0
    } else {
        t.refused_usage
    };
    assert!(counted <= t.check_owed + t.cancelled_usage + refused);
    if !denials {
        assert!(t.quota_owed <= used && used <= t.quota_owed + t.cancelled_costs);
    }
}

/// A gateway's answers to Service Control's, as ESPv2 gives them: the first
/// error alone decides, and an allocate error of code UNSPECIFIED denies
/// nothing (the cache does not turn to denying on it either).
#[test]
fn denials_are_espv2s() {
    use cloud_report_proto::client::{CheckAnswer, QuotaAnswer};
    use sc::{check_error, quota_error};
    let quota = |codes: &[quota_error::Code]| {
        let errors = codes
            .iter()
            .map(|&c| sc::QuotaError {
                code: c as i32,
                ..Default::default()
            })
            .collect();
        QuotaAnswer::new(
            sc::AllocateQuotaResponse {
                allocate_errors: errors,
                ..Default::default()
            },
            Source::Server,
        )
    };
    let unspecified = quota(&[
        quota_error::Code::Unspecified,
        quota_error::Code::ResourceExhausted,
    ]);
    assert!(unspecified.allowed() && unspecified.denial().is_none());
    let exhausted = quota(&[quota_error::Code::ResourceExhausted]);
    assert_eq!(
        exhausted.denial().unwrap().code(),
        tonic::Code::ResourceExhausted
    );
    assert_eq!(
        quota(&[quota_error::Code::BillingNotActive])
            .denial()
            .unwrap()
            .code(),
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        quota(&[quota_error::Code::ProjectDeleted])
            .denial()
            .unwrap()
            .code(),
        tonic::Code::InvalidArgument
    );
    let check = |code: i32| {
        CheckAnswer::new(
            sc::CheckResponse {
                check_errors: vec![sc::CheckError {
                    code,
                    ..Default::default()
                }],
                ..Default::default()
            },
            Source::Server,
        )
        .denial()
        .unwrap()
    };
    for (code, expected) in [
        (check_error::Code::NotFound, tonic::Code::InvalidArgument),
        (
            check_error::Code::ApiKeyNotFound,
            tonic::Code::InvalidArgument,
        ),
        (
            check_error::Code::ServiceNotActivated,
            tonic::Code::PermissionDenied,
        ),
        (
            check_error::Code::ResourceExhausted,
            tonic::Code::ResourceExhausted,
        ),
        (
            check_error::Code::ClientAppBlocked,
            tonic::Code::PermissionDenied,
        ),
        (
            check_error::Code::ProjectInvalid,
            tonic::Code::InvalidArgument,
        ),
        (
            check_error::Code::BillingStatusUnavailable,
            tonic::Code::Unavailable,
        ),
    ] {
        assert_eq!(check(code as i32).code(), expected, "{code:?}");
    }
    let unknown = check(9999);
    assert_eq!(unknown.code(), tonic::Code::Internal);
    assert!(unknown.message().contains("code 9999"), "{unknown:?}");
}

/// A call's Report is sent when its handler's future is dropped at any
/// await (the caller gone, an outer timeout), as ESPv2 reports from the
/// access log whatever happened: with no response code and Envoy's
/// `downstream_remote_disconnect`; a call answered reports its answer.
#[tokio::test(start_paused = true)]
async fn a_dropped_handler_still_reports_its_call() {
    use cloud_report_proto::client::gateway::{CallInfo, CallReport, ReportInfo, RequestBuilder};
    let (emulator, _) = configured();
    let transport = InProcess::new(emulator.clone());
    let client = Client::builder(SERVICE).build(transport.clone());
    let requests = RequestBuilder::new(SERVICE, "");
    let handle = |id: &'static str, backend: Duration| {
        let (client, requests) = (&client, &requests);
        async move {
            let mut call = CallInfo::new(id, "1.bookstore.GetShelf");
            call.api_key = "AIza-good".into();
            let mut report = CallReport::new(client, requests, ReportInfo::new(call));
            let check = requests
                .check_request(&report.peek().call, std::time::SystemTime::now())
                .unwrap();
            let answer = client.check(&check).await.unwrap();
            report.info().record_check(&answer);
            // The backend.
            tokio::time::sleep(backend).await;
            report.info().response_code = 200;
        }
    };
    // The caller gives up while the backend works: the future is dropped.
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        handle("dropped", Duration::from_secs(5)),
    )
    .await;
    assert!(dropped.is_err());
    handle("answered", Duration::from_millis(10)).await;
    let statistics = client.shutdown().await;
    assert_eq!(statistics.reports.sent, 2, "{statistics:?}");
    let operations = emulator.operations(SERVICE);
    let find = |id: &str| {
        operations
            .iter()
            .find(|op| op.operation_id == id)
            .unwrap_or_else(|| panic!("{id} was not reported"))
    };
    let dropped = find("dropped");
    assert_eq!(dropped.labels["/response_code"], "0");
    assert_eq!(dropped.labels["/credential_id"], "apikey:AIza-good");
    let payload = |op: &sc::Operation| {
        let Some(sc::log_entry::Payload::StructPayload(payload)) = &op.log_entries[0].payload
        else {
            panic!("a struct payload");
        };
        payload.clone()
    };
    assert_eq!(
        payload(dropped).fields["response_code_detail"].kind,
        Some(
            cloud_report_proto::google::protobuf::value::Kind::StringValue(
                "downstream_remote_disconnect".into()
            )
        )
    );
    let answered = find("answered");
    assert_eq!(answered.labels["/response_code"], "200");
    assert!(
        !payload(answered)
            .fields
            .contains_key("response_code_detail")
    );
}
