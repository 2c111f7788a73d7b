//! Decoding an Apigee instance status with many revisions, the shape of
//! `organizations.instances.reportStatus` from a busy runtime: 40 proxies
//! and shared flows, 25 revisions each, each revision with its replicas, a
//! JSON spec and, for one in five, two errors.
//!
//! `cargo run --release --bin apigee [-- SECONDS]` from bench/peers writes
//! the document to `target/apigee-revisions.bin`, times the crate's owned
//! decode, its view with every field read and `clear_and_parse_in` (the best
//! of five rounds over SECONDS each, default 2), then Python upb's
//! `FromString` on the same bytes (the interpreter `ratios` uses), its
//! message class made from the crate's own descriptors (Apigee publishes no
//! Python package), and prints the ratios.

use cloud_report_proto::google::cloud::apigee::v1::{
    ReportInstanceStatusRequest, ReportInstanceStatusRequestView, ResourceStatus, RevisionStatus,
    UpdateError,
};
use cloud_report_proto::google::protobuf::Timestamp;
use cloud_report_proto::view::Arena;
use prost::Message;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn document() -> ReportInstanceStatusRequest {
    let resources = (0..40)
        .map(|r| ResourceStatus {
            resource: format!("organizations/acme/environments/prod/apis/orders-{r}"),
            total_replicas: 3,
            revisions: (0..25)
                .map(|v| RevisionStatus {
                    revision_id: format!("{}", v + 1),
                    replicas: 3,
                    json_spec: format!(
                        r#"{{"name":"orders-{r}","revision":"{}","basePath":"/v1/orders-{r}","targets":["https://backend-{r}.internal"]}}"#,
                        v + 1
                    ),
                    errors: if v % 5 == 0 {
                        (0..2)
                            .map(|e| UpdateError {
                                code: 9,
                                message: format!("revision {} of orders-{r} failed to deploy: step {e}", v + 1),
                                resource: format!("organizations/acme/environments/prod/apis/orders-{r}/revisions/{}", v + 1),
                                r#type: "DEPLOYMENT_FAILED".into(),
                                ..Default::default()
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ReportInstanceStatusRequest {
        instance: "organizations/acme/instances/us-west1".into(),
        instance_uid: "9f2c0d6a-3b1e-4b8e-a1f4-5a6c2e7d8b90".into(),
        report_time: Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 500_000_000,
            ..Default::default()
        }),
        resources,
        ..Default::default()
    }
}

/// Reads every field of the view, as a reader of the status would.
fn touch(view: ReportInstanceStatusRequestView<'_>) -> usize {
    let mut sum = view.instance().len() + view.instance_uid().len();
    sum += view
        .report_time()
        .map_or(0, |t| t.seconds() as usize + t.nanos() as usize);
    for resource in view.resources().iter() {
        sum += resource.resource().len() + resource.total_replicas() as usize;
        for revision in resource.revisions().iter() {
            sum += revision.revision_id().len() + revision.json_spec().len();
            sum += revision.replicas() as usize;
            for error in revision.errors().iter() {
                sum += error.code() as usize + error.message().len();
                sum += error.resource().len() + error.r#type().len();
            }
        }
    }
    sum
}

/// The best of five rounds of `seconds` each, in MiB/s of `bytes`.
fn best(seconds: f64, bytes: usize, mut run: impl FnMut()) -> f64 {
    let mut best = 0f64;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs_f64(seconds) {
            run();
            n += 1;
        }
        let rate = bytes as f64 * n as f64 / start.elapsed().as_secs_f64() / (1 << 20) as f64;
        best = best.max(rate);
    }
    best
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let binary = document().encode_to_vec();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = dir.join("target/apigee-revisions.bin");
    std::fs::write(&file, &binary).unwrap();
    let descriptors = dir.join("target/apigee-descriptors.bin");
    std::fs::write(&descriptors, cloud_report_proto::FILE_DESCRIPTOR_SET).unwrap();
    let decoded = ReportInstanceStatusRequestView::decode_view(&binary).unwrap();
    assert_eq!(decoded.to_owned_message(), document());
    let expected = touch(decoded.view());

    let owned = best(seconds, binary.len(), || {
        black_box(ReportInstanceStatusRequest::decode(black_box(binary.as_slice())).unwrap());
    });
    let view = best(seconds, binary.len(), || {
        let decoded = ReportInstanceStatusRequestView::decode_view(black_box(&binary)).unwrap();
        assert_eq!(black_box(touch(decoded.view())), expected);
    });
    let mut arena = Arena::new();
    let mut reused = ReportInstanceStatusRequest::default();
    let reparse = best(seconds, binary.len(), || {
        cloud_report_proto::view::clear_and_parse_in(&mut reused, black_box(&binary), &mut arena)
            .unwrap();
        black_box(&reused);
    });

    let python = cloud_report_proto_peers::python(&dir.join("../.."));
    let script = r#"
import sys, time
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
fds = descriptor_pb2.FileDescriptorSet.FromString(open(sys.argv[1], "rb").read())
pool = descriptor_pool.DescriptorPool()
for f in fds.file:
    pool.Add(f)
cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("google.cloud.apigee.v1.ReportInstanceStatusRequest"))
data = open(sys.argv[2], "rb").read()
seconds = float(sys.argv[3])
best = 0.0
for _ in range(5):
    start = time.perf_counter(); n = 0
    while time.perf_counter() - start < seconds:
        cls.FromString(data); n += 1
    best = max(best, len(data) * n / (time.perf_counter() - start) / (1 << 20))
print(best)
"#;
    let output = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&descriptors)
        .arg(&file)
        .arg(seconds.to_string())
        .output()
        .expect("runs the Python reference");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let upb: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();

    println!(
        "apigee-revisions ({} bytes binary; 40 resources x 25 revisions)\n",
        binary.len()
    );
    println!("| operation | cloud-report-proto | Python upb FromString | vs Python |");
    println!("|---|---|---|---|");
    for (name, rate) in [
        ("owned decode", owned),
        ("view decode, every field read", view),
        ("reusable owned decode (clear_and_parse_in)", reparse),
    ] {
        println!(
            "| {name} | {rate:.0} MiB/s | {upb:.1} MiB/s | {:.2}x |",
            rate / upb
        );
    }
}
