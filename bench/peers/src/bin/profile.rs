//! Repeats one operation on one document, for profiling and quick
//! comparisons: `profile <op> <file> <seconds | nN>`. With seconds, prints the
//! best MiB/s of five rounds; with `nN`, runs exactly N times (for
//! instruction counts under callgrind).
//!
//! Operations: `parse`, `write`, `decode`, `encode` (cloud-report-proto),
//! `vdecode` (a view, every field read), `vdecode_in` (the same into an arena
//! reused from one decode to the next), `reparse` (`clear_and_parse_in` into
//! one message and one arena), `pdecode`, `pencode` (prost's derived code on the same messages), `oparse`,
//! `owrite` (the official crate), `skip`, `value` (serde_json alone, as
//! floors).

use cloud_report_proto::google::api::servicecontrol::v1::ReportRequest;
use cloud_report_proto::json;
use cloud_report_proto_peers::derived;
use google_cloud_api_servicecontrol_v1::model as official;
use prost::Message;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Counts allocations, for `profile allocs`.
struct Counting;

static ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, op, file, amount] = args.as_slice() else {
        panic!("usage: profile <op> <file> <seconds | nN>");
    };
    let text = std::fs::read(file).unwrap();
    let ours: ReportRequest = json::from_slice(&text).unwrap();
    let theirs: official::ReportRequest = serde_json::from_slice(&text).unwrap();
    let binary = ours.encode_to_vec();
    let decoded = ReportRequest::decode(binary.as_slice()).unwrap();
    let derived =
        derived::google::api::servicecontrol::v1::ReportRequest::decode(binary.as_slice()).unwrap();
    let mut arena = cloud_report_proto::view::Arena::new();
    let mut reused = ReportRequest::default();
    let mut run = || match op.as_str() {
        "parse" => drop(black_box(json::from_slice::<ReportRequest>(&text).unwrap())),
        "write" => drop(black_box(json::to_vec(&ours).unwrap())),
        "decode" => drop(black_box(ReportRequest::decode(binary.as_slice()).unwrap())),
        "encode" => drop(black_box(black_box(&decoded).encode_to_vec())),
        "pdecode" => drop(black_box(
            derived::google::api::servicecontrol::v1::ReportRequest::decode(binary.as_slice())
                .unwrap(),
        )),
        "vdecode" => {
            let decoded = cloud_report_proto::google::api::servicecontrol::v1::ReportRequestView::decode_view(
                binary.as_slice(),
            )
            .unwrap();
            black_box(cloud_report_proto_peers::touch_report(&decoded.view()));
        }
        "vdecode_in" => {
            let view = cloud_report_proto::google::api::servicecontrol::v1::ReportRequestView::decode_view_in(
                binary.as_slice(),
                &mut arena,
            )
            .unwrap();
            black_box(cloud_report_proto_peers::touch_report(&view));
        }
        "reparse" => {
            reused
                .clear_and_parse_in(binary.as_slice(), &mut arena)
                .unwrap();
            black_box(&reused);
        }
        "pencode" => drop(black_box(black_box(&derived).encode_to_vec())),
        "oparse" => drop(black_box(
            serde_json::from_slice::<official::ReportRequest>(&text).unwrap(),
        )),
        "owrite" => drop(black_box(serde_json::to_vec(&theirs).unwrap())),
        "skip" => drop(black_box(
            serde_json::from_slice::<serde::de::IgnoredAny>(&text).unwrap(),
        )),
        "value" => drop(black_box(
            serde_json::from_slice::<serde_json::Value>(&text).unwrap(),
        )),
        other => panic!("unknown operation {other}"),
    };
    if amount == "allocs" {
        // The second run: a reused arena has grown in the first.
        run();
        let before = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
        run();
        let after = ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
        println!("{op}: {} allocations", after - before);
        if op == "vdecode_in" {
            println!(
                "arena: {} bytes for {} bytes of input",
                arena.capacity_bytes(),
                binary.len()
            );
        }
        return;
    }
    if let Some(n) = amount.strip_prefix('n') {
        for _ in 0..n.parse::<u32>().unwrap() {
            run();
        }
        return;
    }
    let seconds: f64 = amount.parse().unwrap();
    let mut best = 0f64;
    for _round in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs_f64(seconds / 5.0) {
            run();
            n += 1;
        }
        // In MiB/s of the document's JSON text, or of its binary encoding
        // for the binary operations.
        let size = if op.contains("code") || op == "reparse" {
            binary.len()
        } else {
            text.len()
        };
        let rate = (n as f64 * size as f64) / start.elapsed().as_secs_f64() / (1 << 20) as f64;
        best = best.max(rate);
    }
    println!("{op} best {best:.0} MiB/s");
}
