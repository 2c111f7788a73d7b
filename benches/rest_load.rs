//! REST JSON against gRPC on the same server, report and load generator, side
//! by side in one run: h2load over h2c on 127.0.0.1 (8 connections x 16
//! streams), one ESPv2 report (`benches/data/espv2-report.json`), against
//! the REST gateway over a no-op Service Control, and against the emulator.
//!
//! `cargo bench --bench rest_load --features emulator` (h2load from Debian's
//! nghttp2-client must be on the PATH). `REST_LOAD_SECONDS` sets each
//! measurement's duration (default 5), `REST_LOAD_ROUNDS` how many times
//! the two wires take turns on each server (default 3; the median is
//! printed).

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
    // Once with its request log as it comes (64 MiB, full within the first
    // seconds, so every call then drops the oldest entry) and once without.
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
    let emulator = start(cloud_report_proto::emulator::DEFAULT_MAX_REQUEST_LOG_BYTES);
    let unlogged = start(0);
    // A gRPC error comes with HTTP status 200, so what the servers took is
    // checked: the reports the no-op service was called with; the emulator
    // keeps one operation per id, so it is called once here instead, and
    // must take the report (over REST, a refusal is a 4xx h2load sees).
    for running in [&emulator, &unlogged] {
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
    let taken = |name: &str| -> Option<u64> {
        (!name.starts_with("emulator")).then(|| no_op.0.load(Ordering::Relaxed))
    };

    println!(
        "One ESPv2 report ({} bytes of JSON, {} binary); h2load, h2c, 8 connections x 16 streams, {seconds} s each, the wires in turn {rounds} times, the median of each:\n",
        compact.len(),
        binary.len()
    );
    println!("| server | REST JSON | gRPC | REST / gRPC |");
    println!("|---|---|---|---|");
    for (name, addr) in [
        ("gateway over a no-op service", gateway),
        ("emulator", emulator.addr()),
        ("emulator, request log off", unlogged.addr()),
    ] {
        let measure = |url: String, body: &std::path::Path, headers: &[&str]| {
            let before = taken(name);
            let (rate, succeeded) = h2load(&url, body, headers, seconds);
            if let (Some(before), Some(after)) = (before, taken(name)) {
                assert!(
                    after - before >= succeeded,
                    "{name}: {succeeded} requests answered, {} taken: some failed",
                    after - before
                );
            }
            rate
        };
        // The wires take turns, so that neither gets the quieter moments
        // of a shared machine or the server's warmer state; the median of
        // each.
        let (mut rest, mut grpc) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            rest.push(measure(
                format!("http://{addr}/v1/services/{}:report", report.service_name),
                &json_body,
                &["content-type: application/json"],
            ));
            grpc.push(measure(
                format!("http://{addr}/google.api.servicecontrol.v1.ServiceController/Report"),
                &grpc_body,
                &["content-type: application/grpc", "te: trailers"],
            ));
        }
        let (rest, grpc) = (median(rest), median(grpc));
        println!(
            "| {name} | {rest:.0} req/s | {grpc:.0} req/s | {:.2} |",
            rest / grpc
        );
    }
}
