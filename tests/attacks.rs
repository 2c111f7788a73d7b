//! Hostile clients against `cloud-report serve` on 127.0.0.1, one test per
//! attack: each bounded in time, each with a probe client sending one small
//! valid report at a time meanwhile, asserting that the probe keeps being
//! answered (within 100 ms at the median), that the server's memory stays
//! under a stated bound, and that nothing accepted is lost.
#![cfg(feature = "cli")]

use crate::support::serve::Served;
use crate::support::{plain_http, plain_http_builder};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient;
use cloud_report_proto::google::api::servicecontrol::v1::{
    LogEntry, MetricValue, MetricValueSet, Operation, ReportRequest, log_entry, metric_value,
};
use cloud_report_proto::google::cloud::apigee::v1::ReportInstanceStatusRequest;
use cloud_report_proto::google::cloud::apigee::v1::runtime_service_client::RuntimeServiceClient;
use cloud_report_proto::google::protobuf::{Any, Struct, Timestamp, Value, value};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROBE_SERVICE: &str = "probe.example.com";

/// `cloud-report serve` on a port of its choosing, with these extra
/// arguments, and with at most `open_files` file descriptors when given.
fn serve(args: &[&str], open_files: Option<u32>) -> Served {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    Served::start_limited(all, open_files)
}

fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds,
        nanos: 0,
        ..Default::default()
    })
}

fn op(id: &str) -> Operation {
    Operation {
        operation_id: id.into(),
        consumer_id: "project:p".into(),
        start_time: ts(1_700_000_000),
        end_time: ts(1_700_000_001),
        ..Default::default()
    }
}

/// What the probe saw.
struct Probe {
    latencies: Vec<Duration>,
    failures: Vec<String>,
    ids: Vec<String>,
}

impl Probe {
    /// Asserts every probe was answered with success, within 100 ms at the
    /// median.
    fn assert_served(&self) {
        assert!(
            self.latencies.len() >= 3,
            "only {} probes ran",
            self.latencies.len()
        );
        assert!(
            self.failures.is_empty(),
            "probe failures: {:?}",
            self.failures
        );
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        assert!(
            median < Duration::from_millis(100),
            "median probe latency {median:?}"
        );
    }
}

/// Runs `attack` while a probe sends a small valid report every 50 ms on a
/// fresh connection, until the attack ends and for at least `at_least`.
async fn probed<F: std::future::Future>(
    served: &Served,
    token: Option<&str>,
    at_least: Duration,
    attack: F,
) -> (F::Output, Probe) {
    let client = plain_http_builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = served.url(&format!("/v1/services/{PROBE_SERVICE}:report"));
    let token = token.map(str::to_owned);
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let probe = tokio::spawn(async move {
        let mut probe = Probe {
            latencies: Vec::new(),
            failures: Vec::new(),
            ids: Vec::new(),
        };
        let started = Instant::now();
        // The stop, once seen: a later `try_recv` finds the channel empty.
        let mut stopping = false;
        for n in 0.. {
            let id = format!("probe-{n}");
            let body = cloud_report_proto::json::to_vec(&ReportRequest {
                operations: vec![op(&id)],
                ..Default::default()
            })
            .unwrap();
            let mut request = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body);
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            let sent = Instant::now();
            match request.send().await {
                Ok(r) if r.status() == 200 => {
                    probe.latencies.push(sent.elapsed());
                    probe.ids.push(id);
                }
                Ok(r) => probe.failures.push(format!(
                    "{}: {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                )),
                Err(e) => probe.failures.push(e.to_string()),
            }
            // The probe may start after the attack's clock did, so the stop
            // can come before its own `at_least` has passed: it is kept.
            stopping |= stop_rx.try_recv().is_ok();
            // At least the three probes `assert_served` judges: on a loaded
            // machine a probe can take a good part of `at_least`, which
            // says nothing about the server (each has its own timeout, so
            // this ends).
            let tried = probe.latencies.len() + probe.failures.len();
            if stopping && started.elapsed() >= at_least && tried >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        probe
    });
    let started = Instant::now();
    let output = attack.await;
    if let Some(rest) = at_least.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    stop_tx.send(()).unwrap();
    let probe = probe.await.unwrap();
    (output, probe)
}

/// The ids of the operations stored for a service, read back through the
/// inspection endpoint.
async fn stored_ids(served: &Served, service: &str, token: Option<&str>) -> Vec<String> {
    let mut request =
        plain_http().get(served.url(&format!("/emulator/v1/services/{service}/operations")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    body["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["operationId"].as_str().unwrap().to_owned())
        .collect()
}

/// Nothing the probe had accepted is lost.
async fn assert_probes_stored(served: &Served, probe: &Probe, token: Option<&str>) {
    let stored = stored_ids(served, PROBE_SERVICE, token).await;
    for id in &probe.ids {
        assert!(stored.contains(id), "{id} was accepted but is not stored");
    }
}

async fn grpc(served: &Served) -> ServiceControllerClient<tonic::transport::Channel> {
    ServiceControllerClient::connect(served.url(""))
        .await
        .unwrap()
        .max_decoding_message_size(8 << 20)
}

/// An operation with `labels` labels and `values` values of one metric, each
/// value with a label of its own: the shape that once took memory and time
/// of labels x values.
fn wide_operation(id: &str, labels: usize, values: usize) -> Operation {
    Operation {
        labels: (0..labels).map(|i| (format!("l{i}"), "v".into())).collect(),
        metric_value_sets: vec![MetricValueSet {
            metric_name: "m".into(),
            metric_values: (0..values)
                .map(|i| MetricValue {
                    labels: [("n".to_owned(), i.to_string())].into(),
                    value: Some(metric_value::Value::Int64Value(1)),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..op(id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_times_values_costs_what_was_sent() {
    let served = serve(&[], None);
    let before = served.rss_mib();
    let mut client = grpc(&served).await;
    // As many labels and values as fit in the 1 MB report limit.
    let wide = wide_operation("wide", 20_000, 30_000);
    let request = ReportRequest {
        service_name: "wide.example.com".into(),
        operations: vec![wide.clone()],
        ..Default::default()
    };
    assert!(
        request.encoded_len() < 1_000_000,
        "{}",
        request.encoded_len()
    );
    let ((answer, duplicate), probe) = probed(&served, None, Duration::from_secs(1), async {
        let sent = Instant::now();
        let answer = client.report(request.clone()).await;
        let took = sent.elapsed();
        // Two values whose own labels equal the operation's are duplicates.
        let mut twice = wide_operation("twice", 20_000, 2);
        for value in &mut twice.metric_value_sets[0].metric_values {
            value.labels = [("l7".to_owned(), "v".to_owned())].into();
        }
        let duplicate = client
            .report(ReportRequest {
                service_name: "wide.example.com".into(),
                operations: vec![twice],
                ..Default::default()
            })
            .await;
        ((answer, took), duplicate)
    })
    .await;
    let (answer, took) = answer;
    assert!(answer.unwrap().into_inner().report_errors.is_empty());
    assert!(
        took < Duration::from_secs(3),
        "a maximal report took {took:?}"
    );
    assert_eq!(duplicate.unwrap_err().code(), tonic::Code::InvalidArgument);
    probe.assert_served();
    let grown = served.rss_mib().saturating_sub(before);
    assert!(grown < 100, "memory grew by {grown} MiB");
    assert_probes_stored(&served, &probe, None).await;
    assert_eq!(
        stored_ids(&served, "wide.example.com", None).await,
        ["wide"]
    );
}

/// Opens `n` connections and sends each `bytes`, keeping them open.
async fn open_and_send(addr: SocketAddr, n: usize, bytes: &[u8]) -> Vec<TcpStream> {
    let mut streams = Vec::new();
    // Bounded waits: a server at its connection limit leaves connects in
    // the kernel's backlog, where each would wait minutes for a SYN retry.
    let wait = Duration::from_secs(3);
    for _ in 0..n {
        let Ok(Ok(mut stream)) = tokio::time::timeout(wait, TcpStream::connect(addr)).await else {
            continue;
        };
        if !bytes.is_empty() {
            let _ = tokio::time::timeout(wait, stream.write_all(bytes)).await;
        }
        streams.push(stream);
    }
    streams
}

/// How many of the streams the server has closed (or answered and closed)
/// within `wait`.
async fn closed_by_server(streams: &mut [TcpStream], wait: Duration) -> (usize, Vec<String>) {
    let deadline = tokio::time::Instant::now() + wait;
    let mut closed = 0;
    let mut answers = Vec::new();
    for stream in streams {
        let mut buffer = Vec::new();
        let read = tokio::time::timeout_at(deadline, stream.read_to_end(&mut buffer)).await;
        if matches!(read, Ok(Ok(_)) | Ok(Err(_))) {
            closed += 1;
            if !buffer.is_empty() {
                answers.push(
                    String::from_utf8_lossy(&buffer)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    }
    (closed, answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_finish_their_headers_are_closed() {
    let served = serve(&["--header-read-timeout", "1"], None);
    let (mut streams, probe) = probed(&served, None, Duration::from_secs(1), async {
        let mut streams = open_and_send(served.socket_addr(), 300, b"").await;
        streams.extend(
            open_and_send(
                served.socket_addr(),
                200,
                b"POST /v1/services/x:report HTTP/1.1\r\nHost: a\r\nContent-Ty",
            )
            .await,
        );
        streams
    })
    .await;
    probe.assert_served();
    let (closed, _) = closed_by_server(&mut streams, Duration::from_secs(5)).await;
    assert_eq!(closed, streams.len(), "connections left open");
    assert_probes_stored(&served, &probe, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_past_the_file_limit_do_not_lock_clients_out() {
    // 128 file descriptors; idle connections are not timed out during the
    // test, so only closing the longest idle ones lets new clients in.
    let served = serve(
        &[
            "--max-connections",
            "100",
            "--idle-timeout",
            "600",
            "--header-read-timeout",
            "600",
        ],
        Some(128),
    );
    let (mut streams, probe) = probed(&served, None, Duration::from_secs(2), async {
        open_and_send(served.socket_addr(), 250, b"").await
    })
    .await;
    probe.assert_served();
    let (closed, _) = closed_by_server(&mut streams, Duration::from_secs(2)).await;
    assert!(closed >= 150, "only {closed} idle connections were closed");
    assert_probes_stored(&served, &probe, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_never_finish_hold_bounded_memory_and_time_out() {
    let served = serve(
        &[
            "--body-timeout",
            "2",
            "--max-body-bytes-in-flight",
            "33554432",
        ],
        None,
    );
    let before = served.rss_mib();
    let head = "POST /v1/services/slow.example.com:report HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 8000000\r\n\r\n";
    let chunk = vec![b' '; 1 << 20];
    let ((mut streams, peak), probe) = probed(&served, None, Duration::from_secs(1), async {
        let mut streams = open_and_send(served.socket_addr(), 60, head.as_bytes()).await;
        for stream in &mut streams {
            // Two megabytes each, then nothing: far more than the budget.
            for _ in 0..2 {
                if tokio::time::timeout(Duration::from_millis(200), stream.write_all(&chunk))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
        let peak = served.rss_mib();
        (streams, peak)
    })
    .await;
    probe.assert_served();
    let grown = peak.saturating_sub(before);
    assert!(
        grown < 32 + 48,
        "memory grew by {grown} MiB for a 32 MiB budget"
    );
    let (closed, answers) = closed_by_server(&mut streams, Duration::from_secs(6)).await;
    assert_eq!(closed, streams.len());
    assert!(
        answers
            .iter()
            .all(|a| a.contains(" 408 ") || a.contains(" 503 ")),
        "{answers:?}"
    );
    assert!(answers.iter().any(|a| a.contains(" 408 ")), "{answers:?}");
    assert_probes_stored(&served, &probe, None).await;
}

/// An HTTP/2 connection of the `h2` crate, for what tonic's client will not
/// send.
async fn h2_connect(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    send
}

fn grpc_request(path: &str, token: Option<&str>) -> http::Request<()> {
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(()).unwrap()
}

fn grpc_frame(message: &[u8]) -> Bytes {
    let mut out = vec![0];
    out.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    out.extend_from_slice(message);
    out.into()
}

/// Sends a whole gRPC call on an h2 connection; the grpc-status and message.
async fn h2_call(
    send: &mut h2::client::SendRequest<Bytes>,
    path: &str,
    token: Option<&str>,
    body: Bytes,
) -> (String, String) {
    let (response, mut stream) = send
        .clone()
        .ready()
        .await
        .unwrap()
        .send_request(grpc_request(path, token), false)
        .unwrap();
    // The server may answer, and close the stream, before all is sent.
    let _ = stream.send_data(body, true);
    let response = response.await.unwrap();
    let (parts, mut body) = response.into_parts();
    while let Some(data) = body.data().await {
        let data = data.unwrap();
        body.flow_control().release_capacity(data.len()).unwrap();
    }
    let trailers = body.trailers().await.unwrap().unwrap_or_default();
    let get = |name: &str| {
        trailers
            .get(name)
            .or_else(|| parts.headers.get(name))
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (get("grpc-status"), get("grpc-message"))
}

const REPORT: &str = "/google.api.servicecontrol.v1.ServiceController/Report";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_holding_large_bodies_are_bounded() {
    let served = serve(
        &[
            "--body-timeout",
            "2",
            "--max-body-bytes-in-flight",
            "33554432",
            "--http2-max-streams",
            "50",
        ],
        None,
    );
    let before = served.rss_mib();
    let ((refused, peak), probe) = probed(&served, None, Duration::from_secs(1), async {
        let send = h2_connect(served.socket_addr()).await;
        let mut streams = Vec::new();
        let mut refused = 0;
        // 200 streams, each announcing a 4 MB message and sending 1 MiB.
        let mut prefix = vec![0];
        prefix.extend_from_slice(&4_000_000u32.to_be_bytes());
        for _ in 0..200 {
            let Ok(mut ready) = send.clone().ready().await else {
                refused += 1;
                continue;
            };
            match ready.send_request(grpc_request(REPORT, None), false) {
                Ok((response, mut stream)) => {
                    stream.reserve_capacity(1 << 20);
                    let _ = stream.send_data(Bytes::from(prefix.clone()), false);
                    let _ = stream.send_data(Bytes::from(vec![0x0a; 1 << 20]), false);
                    streams.push((response, stream));
                }
                Err(_) => refused += 1,
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let peak = served.rss_mib();
        // Every stream ends: with the body timeout, or refused.
        for (response, _stream) in streams {
            let ended = tokio::time::timeout(Duration::from_secs(6), response).await;
            assert!(ended.is_ok(), "a stream was never answered");
        }
        (refused, peak)
    })
    .await;
    let _ = refused;
    probe.assert_served();
    let grown = peak.saturating_sub(before);
    assert!(
        grown < 32 + 48,
        "memory grew by {grown} MiB for a 32 MiB budget"
    );
    assert_probes_stored(&served, &probe, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_checked_before_any_body_byte() {
    let served = serve(&["--require-token", "s3cret"], None);
    let client = plain_http();
    let report = served.url("/v1/services/t.example.com:report");
    // Invalid JSON without a token: 401, not 400.
    let answer = client.post(&report).body("{not json").send().await.unwrap();
    assert_eq!(answer.status(), 401);
    let text = answer.text().await.unwrap();
    assert!(text.contains("missing"), "{text}");
    let wrong = client
        .post(&report)
        .bearer_auth("guess")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("does not match"));

    // A body announced and never sent: answered at once.
    let mut stream = TcpStream::connect(served.socket_addr()).await.unwrap();
    stream
        .write_all(b"POST /v1/services/t.example.com:report HTTP/1.1\r\nHost: a\r\nContent-Length: 8000000\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut head))
        .await
        .expect("answered before the body")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 401");

    // gRPC: refused from the headers, with most of the body not sent.
    let send = h2_connect(served.socket_addr()).await;
    let (response, mut body) = send
        .ready()
        .await
        .unwrap()
        .send_request(grpc_request(REPORT, None), false)
        .unwrap();
    // The server may have answered, and closed the stream, already.
    let _ = body.send_data(Bytes::from_static(&[0, 0, 0x3d, 0x09, 0x00]), false);
    let response = tokio::time::timeout(Duration::from_secs(2), response)
        .await
        .expect("answered before the body")
        .unwrap();
    assert_eq!(response.headers()["grpc-status"], "16");

    // The scheme in any case; access_token on every route, inspection too.
    for auth in ["bearer s3cret", "BEARER s3cret"] {
        let ok = client
            .post(&report)
            .header("authorization", auth)
            .body(r#"{"operations": []}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{auth}");
    }
    let inspect = client
        .get(served.url("/emulator/v1/services/t.example.com/operations?access_token=s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(inspect.status(), 200);
    let denied = client
        .get(served.url("/emulator/v1/services/t.example.com/operations"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_is_bounded_in_bytes() {
    let served = serve(&["--max-bytes", "3000000"], None);
    let mut client = grpc(&served).await;
    let big = |id: &str| Operation {
        labels: [("blob".to_owned(), "x".repeat(900_000))].into(),
        ..op(id)
    };
    let mut stored = Vec::new();
    let mut refused = None;
    for n in 0..5 {
        let id = format!("big-{n}");
        let answer = client
            .report(ReportRequest {
                service_name: "bytes.example.com".into(),
                operations: vec![big(&id)],
                ..Default::default()
            })
            .await;
        match answer {
            Ok(_) => stored.push(id),
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    assert_eq!(stored.len(), 3);
    let refused = refused.unwrap();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert!(
        refused.message().contains("3000000 bytes"),
        "{}",
        refused.message()
    );
    assert_eq!(stored_ids(&served, "bytes.example.com", None).await, stored);
    // Instance statuses count against the same bound.
    let mut runtime = RuntimeServiceClient::connect(served.url("")).await.unwrap();
    let status = runtime
        .report_instance_status(ReportInstanceStatusRequest {
            instance: "organizations/o/instances/i".into(),
            instance_uid: "u".repeat(400_000),
            report_time: ts(1_700_000_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
}

#[tokio::test]
async fn reports_that_store_nothing_cost_nothing() {
    use cloud_report_proto::emulator::{Config, Emulator};
    use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::ServiceController;
    let emulator = Emulator::new(Config::default());
    let invalid = Operation {
        end_time: None,
        ..op("no-end")
    };
    for n in 0..1000 {
        let answer = emulator
            .report(tonic::Request::new(ReportRequest {
                service_name: format!("nothing-{n}.example.com"),
                operations: vec![invalid.clone()],
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(answer.get_ref().report_errors.len(), 1);
    }
    assert_eq!(emulator.stored_bytes(), 0);
    emulator
        .report(tonic::Request::new(ReportRequest {
            service_name: "something.example.com".into(),
            operations: vec![op("kept")],
            ..Default::default()
        }))
        .await
        .unwrap();
    let cost = emulator.stored_bytes();
    assert!(cost > op("kept").encoded_len(), "{cost}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_that_never_read_do_not_pin_the_store() {
    let served = serve(&[], None);
    let mut client = grpc(&served).await;
    // About 40 MB stored, in operations of 400 KB.
    for n in 0..100 {
        let operation = Operation {
            labels: [("blob".to_owned(), "y".repeat(400_000))].into(),
            ..op(&format!("op-{n}"))
        };
        client
            .report(ReportRequest {
                service_name: "read.example.com".into(),
                operations: vec![operation],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let before = served.rss_mib();
    let request =
        "GET /emulator/v1/services/read.example.com/operations HTTP/1.1\r\nHost: a\r\n\r\n";
    let (_readers, probe) = probed(&served, None, Duration::from_secs(2), async {
        open_and_send(served.socket_addr(), 6, request.as_bytes()).await
    })
    .await;
    probe.assert_served();
    let grown = served.rss_mib().saturating_sub(before);
    // Six whole answers would be about 6 x 40 MB.
    assert!(grown < 40, "memory grew by {grown} MiB");
    assert_eq!(
        stored_ids(&served, "read.example.com", None).await.len(),
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_json_cannot_carry_is_refused_at_the_door() {
    let served = serve(&[], None);
    let mut client = grpc(&served).await;
    let with_log = |id: &str, entry: LogEntry| Operation {
        log_entries: vec![LogEntry {
            name: "log".into(),
            ..entry
        }],
        ..op(id)
    };
    let unknown_any = LogEntry {
        payload: Some(log_entry::Payload::ProtoPayload(Any {
            type_url: "type.googleapis.com/no.such.Type".into(),
            value: vec![1, 2, 3],
            ..Default::default()
        })),
        ..Default::default()
    };
    let nan = LogEntry {
        payload: Some(log_entry::Payload::StructPayload(Struct {
            fields: [(
                "x".to_owned(),
                Value {
                    kind: Some(value::Kind::NumberValue(f64::NAN)),
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let far_future = LogEntry {
        timestamp: Some(Timestamp {
            seconds: 1_200_000_000_000,
            nanos: 0,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut nested = Any {
        type_url: "type.googleapis.com/google.protobuf.Empty".into(),
        value: Vec::new(),
        ..Default::default()
    };
    for _ in 0..150 {
        nested = Any {
            type_url: "type.googleapis.com/google.protobuf.Any".into(),
            value: nested.encode_to_vec(),
            ..Default::default()
        };
    }
    let deep = LogEntry {
        payload: Some(log_entry::Payload::ProtoPayload(nested)),
        ..Default::default()
    };
    let answer = client
        .report(ReportRequest {
            service_name: "door.example.com".into(),
            operations: vec![
                op("good"),
                with_log("unknown-any", unknown_any),
                with_log("nan", nan),
                with_log("year-40000", far_future),
                with_log("deep", deep),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let refused: Vec<&str> = answer
        .report_errors
        .iter()
        .map(|e| e.operation_id.as_str())
        .collect();
    assert_eq!(refused, ["unknown-any", "nan", "year-40000", "deep"]);
    for error in &answer.report_errors {
        let status = error.status.as_ref().unwrap();
        assert_eq!(status.code, 3);
        assert!(
            status.message.contains("log_entries[0]"),
            "{}",
            status.message
        );
    }
    assert_eq!(
        stored_ids(&served, "door.example.com", None).await,
        ["good"]
    );

    // An instance status that JSON cannot carry is refused whole.
    let mut runtime = RuntimeServiceClient::connect(served.url("")).await.unwrap();
    let status = runtime
        .report_instance_status(ReportInstanceStatusRequest {
            instance: "organizations/o/instances/i".into(),
            instance_uid: "u".into(),
            report_time: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: -5,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_grpc_calls_are_the_callers_error() {
    let served = serve(&[], None);
    let mut send = h2_connect(served.socket_addr()).await;
    // Not a protobuf message: INVALID_ARGUMENT, not INTERNAL.
    let (code, message) = h2_call(&mut send, REPORT, None, grpc_frame(&[0xff, 0xff])).await;
    assert_eq!(code, "3", "{message}");
    // A length prefix past the limit: RESOURCE_EXHAUSTED, gRPC's code.
    let mut prefix = vec![0];
    prefix.extend_from_slice(&5_000_000u32.to_be_bytes());
    let (code, message) = h2_call(&mut send, REPORT, None, prefix.into()).await;
    assert_eq!(code, "8", "{message}");
    // An empty body: no message at all.
    let (code, _) = h2_call(&mut send, REPORT, None, Bytes::new()).await;
    assert_eq!(code, "3");
    // Two messages in a unary call: refused, nothing stored.
    let request = |id: &str| {
        ReportRequest {
            service_name: "two.example.com".into(),
            operations: vec![op(id)],
            ..Default::default()
        }
        .encode_to_vec()
    };
    let two = [
        grpc_frame(&request("first")),
        grpc_frame(&request("second")),
    ]
    .concat();
    let (code, message) = h2_call(&mut send, REPORT, None, two.into()).await;
    assert_eq!(code, "3", "{message}");
    assert!(message.contains("more%20than%20one") || message.contains("more than one"));
    // gRPC over HTTP/1.1: not run, and the answer carries a grpc-status.
    let mut stream = TcpStream::connect(served.socket_addr()).await.unwrap();
    let body = grpc_frame(&request("h1"));
    let head = format!(
        "POST {REPORT} HTTP/1.1\r\nHost: a\r\nContent-Type: application/grpc\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.to_ascii_lowercase().contains("grpc-status: 12"),
        "{answer}"
    );
    assert!(
        stored_ids(&served, "two.example.com", None)
            .await
            .is_empty()
    );

    // A REST body that becomes a message past 4 MiB: 413, not OUT_OF_RANGE.
    let operations: Vec<String> = (0..6)
        .map(|n| {
            format!(
                r#"{{"operationId": "o{n}", "labels": {{"blob": "{}"}}}}"#,
                "z".repeat(800_000)
            )
        })
        .collect();
    let body = format!(r#"{{"operations": [{}]}}"#, operations.join(","));
    let answer = plain_http()
        .post(served.url("/v1/services/big.example.com:report"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);

    // An error that would echo 100 KB stays small enough for a header.
    let mut runtime = RuntimeServiceClient::connect(served.url("")).await.unwrap();
    let status = runtime
        .report_instance_status(ReportInstanceStatusRequest {
            instance: "x".repeat(100_000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().len() < 1_000);
}
