//! cloud-report-proto against the official Rust crate
//! (google-cloud-api-servicecontrol-v1, serde models) on the same JSON, and
//! the binary wire format against prost's derived code of the same protos,
//! side by side in one run, in MB/s.
//!
//! `cargo bench --bench peers` (from bench/peers).

use cloud_report_proto::google::api::servicecontrol::v1::ReportRequest;
use cloud_report_proto::google::cloud::apigee::v1::{
    DeploymentChangeReport, ReportInstanceStatusRequest,
};
use cloud_report_proto::json;
use cloud_report_proto_peers::derived::google::api::servicecontrol::v1::ReportRequest as DerivedReportRequest;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use google_cloud_api_servicecontrol_v1::model as official;
use prost::Message;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("run the generator first")
}

fn reports(c: &mut Criterion) {
    for name in ["report-100.json", "report-near-1mb.json"] {
        let text = data(name);
        let ours: ReportRequest = json::from_slice(&text).unwrap();
        let theirs: official::ReportRequest = serde_json::from_slice(&text).unwrap();
        let binary = ours.encode_to_vec();

        let mut group = c.benchmark_group(format!("{name} JSON"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function("parse: cloud-report-proto", |b| {
            b.iter(|| json::from_slice::<ReportRequest>(&text).unwrap())
        });
        group.bench_function("parse: official crate", |b| {
            b.iter(|| serde_json::from_slice::<official::ReportRequest>(&text).unwrap())
        });
        group.bench_function("write: cloud-report-proto", |b| {
            b.iter(|| json::to_vec(&ours).unwrap())
        });
        group.bench_function("write: official crate", |b| {
            b.iter(|| serde_json::to_vec(&theirs).unwrap())
        });
        group.finish();

        let mut group = c.benchmark_group(format!("{name} binary"));
        group.throughput(Throughput::Bytes(binary.len() as u64));
        // Both encode messages decoded from the same bytes (see ratios.rs).
        let decoded = ReportRequest::decode(binary.as_slice()).unwrap();
        let derived = DerivedReportRequest::decode(binary.as_slice()).unwrap();
        group.bench_function("encode: cloud-report-proto", |b| {
            b.iter(|| decoded.encode_to_vec())
        });
        group.bench_function("encode: prost derived", |b| {
            b.iter(|| derived.encode_to_vec())
        });
        group.bench_function("decode: cloud-report-proto", |b| {
            b.iter(|| ReportRequest::decode(binary.as_slice()).unwrap())
        });
        group.bench_function("decode: prost derived", |b| {
            b.iter(|| DerivedReportRequest::decode(binary.as_slice()).unwrap())
        });
        group.finish();
    }
}

fn apigee(c: &mut Criterion) {
    let status = data("instance-status-50x3.json");
    let change = data("change-report-100.json");
    let mut group = c.benchmark_group("Apigee JSON (no official Rust crate to compare)");
    group.throughput(Throughput::Bytes(status.len() as u64));
    group.bench_function("parse: ReportInstanceStatusRequest 50x3", |b| {
        b.iter(|| json::from_slice::<ReportInstanceStatusRequest>(&status).unwrap())
    });
    let status_message: ReportInstanceStatusRequest = json::from_slice(&status).unwrap();
    group.bench_function("write: ReportInstanceStatusRequest 50x3", |b| {
        b.iter(|| json::to_vec(&status_message).unwrap())
    });
    group.throughput(Throughput::Bytes(change.len() as u64));
    group.bench_function("parse: DeploymentChangeReport 100", |b| {
        b.iter(|| json::from_slice::<DeploymentChangeReport>(&change).unwrap())
    });
    let change_message: DeploymentChangeReport = json::from_slice(&change).unwrap();
    group.bench_function("write: DeploymentChangeReport 100", |b| {
        b.iter(|| json::to_vec(&change_message).unwrap())
    });
    group.finish();
}

criterion_group!(benches, reports, apigee);
criterion_main!(benches);
