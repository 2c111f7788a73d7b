//! REST JSON, REST binary (ESPv2's wire) and gRPC on the same server, report
//! and load generator, side by side in one run: h2load over h2c on 127.0.0.1
//! (8 connections x 16 streams), one ESPv2 report
//! (`benches/data/espv2-report.json`), against
//! the REST gateway over a no-op Service Control, and against the emulator
//! with its request log off, emptied and full: what the log costs is the
//! ratio of their rates.
//!
//! `cargo bench --bench rest_load --features emulator` (h2load from Debian's
//! nghttp2-client must be on the PATH). `REST_LOAD_SECONDS` sets each
//! measurement's duration (default 5), `REST_LOAD_ROUNDS` how many rounds
//! the servers and wires take turns in (default 3; the median is printed).

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cloud_report_proto::emulator::{Config, Emulator};
use cloud_report_proto::google::api::servicecontrol::v1::ServiceControllerRestServer;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::ServiceController;
use cloud_report_proto::google::api::servicecontrol::v1::{
    CheckRequest, CheckResponse, ReportRequest, ReportResponse,
};
use cloud_report_proto::json;
use cloud_report_proto::rest::{Gateway, Server};
use prost::Message;
use tonic::{Request, Response, Status};

/// Answers every call with the empty response, counting the reports.
#[derive(Clone, Default)]
struct NoOp(Arc<AtomicU64>);

#[tonic::async_trait]
impl ServiceController for NoOp {
    async fn check(&self, _: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        Ok(Response::new(CheckResponse::default()))
    }

    async fn report(&self, _: Request<ReportRequest>) -> Result<Response<ReportResponse>, Status> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(ReportResponse::default()))
    }
}

/// Requests a second that h2load reached, and how many requests succeeded
/// (HTTP-wise: a gRPC error comes with status 200, so the caller counts
/// what the server took); fails unless every answer was a 2xx.
fn h2load(url: &str, body: &std::path::Path, headers: &[&str], seconds: u32) -> (f64, u64) {
    let mut command = Command::new("h2load");
    command
        .args(["-c", "8", "-m", "16", "-t", "1"])
        .args(["-D", &seconds.to_string(), "--warm-up-time", "1"])
        .arg("-d")
        .arg(body);
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command
        .arg(url)
        .output()
        .expect("h2load runs (Debian: apt-get install nghttp2-client)");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str, after: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.trim_start().starts_with(prefix))?;
        let rest = line.split(after).nth(1)?;
        rest.split_whitespace()
            .next()?
            .trim_end_matches(',')
            .parse()
            .ok()
    };
    let rate = field("finished in", ", ").unwrap_or_else(|| panic!("no rate in:\n{text}"));
    let succeeded: u64 = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .and_then(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words.iter().position(|w| w.starts_with("succeeded"))?;
            words.get(at.checked_sub(1)?)?.parse().ok()
        })
        .unwrap_or(0);
    let codes = text
        .lines()
        .find(|l| l.starts_with("status codes:"))
        .unwrap_or_default();
    assert!(
        codes.contains(" 0 3xx, 0 4xx, 0 5xx") && succeeded > 0,
        "{url}: not every answer was a 2xx:\n{text}"
    );
    (rate, succeeded)
}

/// The CPU time this process (the servers; h2load is a child of its own)
/// has used, from `/proc/self/stat` (Linux; zero elsewhere).
fn cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis: utime and stime
    // are the 12th and 13th of them, in clock ticks (100 a second).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    std::time::Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The middle of the rates measured (the upper one of an even count).
fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    let seconds: u32 = std::env::var("REST_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rounds: usize = std::env::var("REST_LOAD_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/rest-load");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data/espv2-report.json"),
    )
    .unwrap();
    let report: ReportRequest = json::from_slice(&text).unwrap();
    let compact = json::to_vec(&report).unwrap();
    let binary = report.encode_to_vec();
    let json_body = dir.join("report.json");
    std::fs::write(&json_body, &compact).unwrap();
    // gRPC's framing: an uncompressed flag and the length, then the message.
    let mut framed = vec![0];
    framed.extend_from_slice(&u32::try_from(binary.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&binary);
    let grpc_body = dir.join("report.grpc");
    std::fs::write(&grpc_body, &framed).unwrap();
    let binary_body = dir.join("report.bin");
    std::fs::write(&binary_body, &binary).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let no_op = NoOp::default();
    let gateway: SocketAddr = runtime.block_on(async {
        let router = Gateway::new()
            .add_rest_service(ServiceControllerRestServer::new(no_op.clone()))
            .into_router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(Server::new(router).serve(listener));
        addr
    });
    // Room for every report of the run: a full emulator refuses reports.
    // The request log three ways, at its default size (64 MiB): off;
    // emptied before each measurement (a few seconds fill it); and filled
    // before each measurement, so that every call drops the oldest entry.
    let start = |log_bytes: usize| {
        runtime
            .block_on(Emulator::start(
                Config::default()
                    .max_operations(usize::MAX)
                    .max_bytes(usize::MAX)
                    .max_request_log_bytes(log_bytes),
            ))
            .unwrap()
    };
    let unlogged = start(0);
    let emptied = start(cloud_report_proto::emulator::DEFAULT_MAX_REQUEST_LOG_BYTES);
    let full = start(cloud_report_proto::emulator::DEFAULT_MAX_REQUEST_LOG_BYTES);
    // A gRPC error comes with HTTP status 200, so what the servers took is
    // checked: the reports the no-op service was called with; the emulator
    // keeps one operation per id, so it is called once here instead, and
    // must take the report (over REST, a refusal is a 4xx h2load sees).
    for running in [&unlogged, &emptied, &full] {
        runtime.block_on(async {
            let mut client = ServiceControllerClient::connect(running.url())
                .await
                .unwrap();
            client
                .report(report.clone())
                .await
                .expect("the emulator takes the report");
        });
    }
    let service = report.service_name.clone();
    let rest_url = |addr: SocketAddr| format!("http://{addr}/v1/services/{service}:report");
    let grpc_url = |addr: SocketAddr| {
        format!("http://{addr}/google.api.servicecontrol.v1.ServiceController/Report")
    };
    const GRPC_HEADERS: &[&str] = &["content-type: application/grpc", "te: trailers"];
    const REST_HEADERS: &[&str] = &["content-type: application/json"];
    const BINARY_HEADERS: &[&str] = &["content-type: application/x-protobuf"];

    struct Measured<'a> {
        name: &'static str,
        addr: SocketAddr,
        emulator: Option<&'a Emulator>,
        /// Before each measurement: emptied (`false`) or filled (`true`).
        fill: Option<bool>,
        /// The rates of each wire (REST JSON, REST binary, gRPC).
        rates: [Vec<f64>; 3],
        /// The servers' CPU time per request answered, in microseconds.
        cpu: [Vec<f64>; 3],
    }
    impl<'a> Measured<'a> {
        fn new(
            name: &'static str,
            addr: SocketAddr,
            emulator: Option<&'a Emulator>,
            fill: Option<bool>,
        ) -> Self {
            Self {
                name,
                addr,
                emulator,
                fill,
                rates: Default::default(),
                cpu: Default::default(),
            }
        }
    }
    let mut servers = [
        Measured::new("gateway over a no-op service", gateway, None, None),
        Measured::new(
            "emulator, request log off",
            unlogged.addr(),
            Some(unlogged.emulator()),
            None,
        ),
        Measured::new(
            "emulator, request log emptied before each run",
            emptied.addr(),
            Some(emptied.emulator()),
            Some(false),
        ),
        Measured::new(
            "emulator, request log full before each run",
            full.addr(),
            Some(full.emulator()),
            Some(true),
        ),
    ];

    println!(
        "One ESPv2 report ({} bytes of JSON, {} binary); h2load, h2c, 8 connections x 16 streams, {seconds} s each; in each of {rounds} rounds every server takes each wire in turn; the median of each:\n",
        compact.len(),
        binary.len()
    );
    // The servers and wires take turns, so that none gets the quieter
    // moments of a shared machine or a warmer state; the median of each.
    for _ in 0..rounds {
        for server in &mut servers {
            for wire in 0..3 {
                let (url, body, headers) = match wire {
                    0 => (rest_url(server.addr), &json_body, REST_HEADERS),
                    1 => (rest_url(server.addr), &binary_body, BINARY_HEADERS),
                    _ => (grpc_url(server.addr), &grpc_body, GRPC_HEADERS),
                };
                match (server.emulator, server.fill) {
                    (Some(emulator), Some(false)) => emulator.reset(),
                    (Some(emulator), Some(true)) => {
                        // Full once one entry was dropped for room.
                        while emulator.dropped_requests(&service) == 0 {
                            h2load(&url, body, headers, 1);
                        }
                    }
                    _ => {}
                }
                let before = no_op.0.load(Ordering::Relaxed);
                let cpu_before = cpu_time();
                let (rate, succeeded) = h2load(&url, body, headers, seconds);
                // Per request, counting the warm-up second's too.
                let requests = rate * f64::from(seconds + 1);
                let cpu = (cpu_time() - cpu_before).as_secs_f64() * 1e6 / requests;
                if server.emulator.is_none() {
                    // Every request the no-op service answered was taken.
                    let taken = no_op.0.load(Ordering::Relaxed) - before;
                    assert!(
                        taken >= succeeded,
                        "{}: {succeeded} requests answered, {taken} taken: some failed",
                        server.name
                    );
                }
                server.rates[wire].push(rate);
                server.cpu[wire].push(cpu);
            }
        }
    }
    println!(
        "| server | REST JSON | REST binary | gRPC | REST JSON / gRPC | server CPU a request: REST JSON, REST binary, gRPC |"
    );
    println!("|---|---|---|---|---|---|");
    let mut medians = Vec::new();
    let mut cpus = Vec::new();
    for server in servers {
        let [rest, binary, grpc] = server.rates.map(median);
        let [rest_cpu, binary_cpu, grpc_cpu] = server.cpu.map(median);
        println!(
            "| {} | {rest:.0} req/s | {binary:.0} req/s | {grpc:.0} req/s | {:.2} | {rest_cpu:.1} / {binary_cpu:.1} / {grpc_cpu:.1} µs |",
            server.name,
            rest / grpc
        );
        medians.push((rest, grpc));
        cpus.push((rest_cpu, grpc_cpu));
    }
    // Rows 1 to 3: the log off, emptied, full.
    let cost = |what: &str, of: &[(f64, f64)]| {
        let (off, emptied, full) = (of[1], of[2], of[3]);
        println!(
            "{what}: emptied {:.2} (REST) {:.2} (gRPC); full {:.2} (REST) {:.2} (gRPC)",
            emptied.0 / off.0,
            emptied.1 / off.1,
            full.0 / off.0,
            full.1 / off.1
        );
    };
    println!();
    cost(
        "The request log's cost, the rate with it over the rate without",
        &medians,
    );
    cost(
        "and the servers' CPU time a request with it over that without",
        &cpus,
    );
}
