//! The gateway client per operation, on one core, for a typical ESPv2
//! operation (its labels and metric names): a Check answered from the
//! cache, a quota ask that adds up in the cache, and, side by side in one
//! run, a Check round trip to the emulator on loopback, for the ratio.
//!
//! `cargo bench --features client,emulator --bench client`

use std::time::Duration;

use cloud_report_proto::client::{CheckOptions, Client, GrpcTransport, QuotaOptions};
use cloud_report_proto::emulator::{Config, Emulator};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/espv2.rs"]
mod espv2;
use espv2::{API_KEY, Allow, SERVICE, espv2_check, espv2_quota, ready};

fn client(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("client per operation");
    group.throughput(Throughput::Elements(1));

    let cached = runtime.block_on(async {
        Client::builder(SERVICE)
            .check_options(CheckOptions::espv2())
            .quota_options(QuotaOptions::default())
            .build(Allow)
    });
    let check = espv2_check(API_KEY);
    runtime.block_on(cached.check(&check)).unwrap();
    let _entered = runtime.enter();
    group.bench_function("check, cache hit", |b| {
        b.iter(|| ready(cached.check(&check)).unwrap());
    });
    let quota = espv2_quota(API_KEY);
    runtime.block_on(cached.allocate_quota(&quota)).unwrap();
    group.bench_function("allocate quota, aggregated", |b| {
        b.iter(|| ready(cached.allocate_quota(&quota)).unwrap());
    });
    drop(_entered);

    // The same Check to the emulator over gRPC on loopback, uncached.
    let (running, uncached) = runtime.block_on(async {
        let running = Emulator::start(Config::default()).await.unwrap();
        let transport = GrpcTransport::builder(running.url())
            .connect()
            .await
            .unwrap();
        let client = Client::builder(SERVICE)
            .check_options(CheckOptions::disabled())
            .build(transport);
        (running, client)
    });
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("check, round trip to the emulator (gRPC, loopback)", |b| {
        b.iter(|| runtime.block_on(uncached.check(&check)).unwrap());
    });
    group.finish();
    runtime.block_on(async {
        cached.shutdown().await;
        uncached.shutdown().await;
        running.shutdown().await;
    });
}

criterion_group!(benches, client);
criterion_main!(benches);
