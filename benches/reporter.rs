//! The reporter's intake: operations per second through `submit` (merging
//! into aggregates, and into distinct ones), and the memory held per 10,000
//! cached aggregates, measured with a counting allocator.
//!
//! `cargo bench --features client --bench reporter`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use cloud_report_proto::client::{ReportConfig as Config, Reporter};
use cloud_report_proto::google::api::servicecontrol::v1::{
    LogEntry, MetricValue, MetricValueSet, Operation, ReportRequest, ReportResponse, metric_value,
};
use cloud_report_proto::google::protobuf::Timestamp;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A typical gateway operation: two labels, a request count, a latency
/// distribution and one log entry. (`bench/peers` builds a like one for its
/// documents: a workspace of its own, which shares no code with this one.)
fn operation(id: u64, consumer: u64) -> Operation {
    Operation {
        operation_id: format!("op-{id}"),
        operation_name: "google.example.library.v1.LibraryService.GetBook".into(),
        consumer_id: format!("project:p{consumer}"),
        start_time: Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
            ..Default::default()
        }),
        end_time: Some(Timestamp {
            seconds: 1_700_000_001,
            nanos: 0,
            ..Default::default()
        }),
        labels: [
            (
                "cloud.googleapis.com/location".to_owned(),
                "us-central1".to_owned(),
            ),
            (
                "servicecontrol.googleapis.com/platform".to_owned(),
                "GKE".to_owned(),
            ),
        ]
        .into(),
        metric_value_sets: vec![
            MetricValueSet {
                metric_name: "serviceruntime.googleapis.com/api/consumer/request_count".into(),
                metric_values: vec![MetricValue {
                    value: Some(metric_value::Value::Int64Value(1)),
                    ..Default::default()
                }],
                ..Default::default()
            },
            MetricValueSet {
                metric_name: "serviceruntime.googleapis.com/api/consumer/total_latencies".into(),
                metric_values: vec![MetricValue {
                    value: Some(metric_value::Value::DistributionValue(
                        cloud_report_proto::google::api::servicecontrol::v1::Distribution {
                            count: 1,
                            mean: 12.5,
                            minimum: 12.5,
                            maximum: 12.5,
                            ..Default::default()
                        },
                    )),
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
        log_entries: vec![LogEntry {
            name: "endpoints_log".into(),
            payload: text_payload_or_default(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn text_payload_or_default()
-> Option<cloud_report_proto::google::api::servicecontrol::v1::log_entry::Payload> {
    Some(
        cloud_report_proto::google::api::servicecontrol::v1::log_entry::Payload::TextPayload(
            "GET /books/1 200".into(),
        ),
    )
}

fn reporter(window: Duration, max_log_entries: usize) -> Reporter {
    let mut config = Config::new("library.example.com");
    config.window = window;
    config.max_log_entries = max_log_entries;
    config.max_cached_entries = 1_000_000;
    config.queue_capacity = 100_000;
    Reporter::start(
        |_: ReportRequest| async { Ok(ReportResponse::default()) },
        config,
        |_| {},
    )
}

fn intake(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("reporter intake");
    const N: u64 = 10_000;
    group.throughput(Throughput::Elements(N));
    for (name, consumers) in [
        ("merging into 100 aggregates", 100),
        ("10,000 distinct aggregates", N),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        let reporter = reporter(Duration::from_secs(3600), usize::MAX);
                        let ops: Vec<Operation> =
                            (0..N).map(|i| operation(i, i % consumers)).collect();
                        let start = Instant::now();
                        for op in ops {
                            reporter.submit(op).await.unwrap();
                        }
                        // Until every operation is aggregated and sent.
                        reporter.shutdown().await;
                        total += start.elapsed();
                    }
                    total
                })
            });
        });
    }
    group.finish();
}

/// Not a timing: prints the bytes held per 10,000 distinct cached aggregates.
fn memory(_: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let reporter = reporter(Duration::from_secs(3600), usize::MAX);
        let ops: Vec<Operation> = (0..10_000).map(|i| operation(i, i)).collect();
        let encoded: usize = ops.iter().map(prost::Message::encoded_len).sum();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = LIVE.load(Ordering::Relaxed);
        for op in ops {
            reporter.submit(op).await.unwrap();
        }
        // Let the aggregator take everything from the queue.
        while reporter.counters().accepted < 10_000 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let held = LIVE.load(Ordering::Relaxed) - before;
        println!(
            "memory: {held} bytes held for 10,000 cached aggregates ({} per aggregate; {} bytes encoded)",
            held / 10_000,
            encoded / 10_000
        );
        reporter.shutdown().await;
    });
}

criterion_group!(benches, intake, memory);
criterion_main!(benches);
