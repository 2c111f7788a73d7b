//! The gateway client's caches under contention, side by side in one run: a
//! Check answered from the cache and a quota ask added up in the cache, as
//! ESPv2 sends them for an API-key call, on 1 OS thread and then on 2 at
//! once sharing one `Client` (on a 2-core machine, a core each), in rounds
//! that alternate so that both see the same neighbours. Three cases:
//!
//! - one key: every thread asks the same question (the worst case: one
//!   entry, its answer's reference count and its costs shared);
//! - a key each: each thread its own consumer, so its own entry, behind the
//!   cache's one lock and the client's shared counters;
//! - a client each: the control, nothing shared, each thread its own
//!   `Client` and key: what a second core gives when nothing is contended.
//!
//! A cached answer completes when first polled, so each thread polls the
//! future once with a no-op waker, as awaiting it in a gateway's task does
//! (a `Pending` stops the bench: not answered from the cache), inside the
//! client's runtime, where the quota refreshes it sends once a second run.
//! Each round runs every thread for about 200 ms; the best of 5 rounds of
//! each is printed, with the ratio of 2 threads' total to 1 thread's and
//! the rate per core with 2 threads. It prints; it asserts no timing.
//!
//! `cargo bench --features client --bench contention`

use std::sync::Barrier;
use std::time::{Duration, Instant};

use cloud_report_proto::client::{CheckOptions, Client, QuotaOptions};

#[path = "support/espv2.rs"]
mod espv2;
use espv2::{Allow, SERVICE, espv2_check, espv2_quota, ready};

/// Operations between two looks at the clock.
const BATCH: u64 = 256;

/// A client with ESPv2's Check cache and the default quota cache, over
/// `Allow`, started on `runtime`.
fn client(runtime: &tokio::runtime::Runtime) -> Client {
    runtime.block_on(async {
        Client::builder(SERVICE)
            .check_options(CheckOptions::espv2())
            .quota_options(QuotaOptions::default())
            .build(Allow)
    })
}

/// Operations a second of `threads` OS threads started together, each
/// calling `work` with its index for `duration` (checking the clock every
/// [`BATCH`] calls): all their operations over the longest thread's time.
/// Each thread is in `runtime`'s context, where what the client spawns
/// runs.
fn rate<F>(runtime: &tokio::runtime::Runtime, threads: usize, duration: Duration, work: F) -> f64
where
    F: Fn(usize) + Sync,
{
    let barrier = Barrier::new(threads);
    let ran: Vec<(u64, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (barrier, work) = (&barrier, &work);
                let handle = runtime.handle().clone();
                scope.spawn(move || {
                    let _entered = handle.enter();
                    barrier.wait();
                    let start = Instant::now();
                    let mut ops = 0;
                    loop {
                        for _ in 0..BATCH {
                            work(i);
                        }
                        ops += BATCH;
                        let elapsed = start.elapsed();
                        if elapsed >= duration {
                            return (ops, elapsed);
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ops: u64 = ran.iter().map(|(ops, _)| ops).sum();
    let longest = ran.iter().map(|&(_, elapsed)| elapsed).max().unwrap();
    ops as f64 / longest.as_secs_f64()
}

/// A measured line: its name and the operation each thread makes.
struct Case<'a> {
    operation: &'static str,
    case: &'static str,
    work: Box<dyn Fn(usize) + Sync + 'a>,
}

fn millions(rate: f64) -> String {
    format!("{:.2} M/s", rate / 1e6)
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`),
    // one short round shows that the bench runs.
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, duration) = if full {
        (5, Duration::from_millis(200))
    } else {
        (1, Duration::from_millis(10))
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        eprintln!("only {cores} core available: 2 threads share it");
    }

    // The client's ticker and the quota refreshes run on their own worker;
    // they wake once a second.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let shared = client(&runtime);
    let own = [client(&runtime), client(&runtime)];
    let consumers = [
        "api_key:AIzaSyB-example-key-0123456789",
        "api_key:AIzaSyB-example-key-9876543210",
    ];
    let checks = consumers.map(espv2_check);
    let quotas = consumers.map(espv2_quota);

    // The first ask of each key misses: the Check goes to `Allow` and its
    // answer is cached, the quota ask is let through while its refresh
    // runs. Every operation measured after is a hit.
    runtime.block_on(async {
        for (check, quota) in checks.iter().zip(&quotas) {
            shared.check(check).await.unwrap();
            shared.allocate_quota(quota).await.unwrap();
        }
        for (client, (check, quota)) in own.iter().zip(checks.iter().zip(&quotas)) {
            client.check(check).await.unwrap();
            client.allocate_quota(quota).await.unwrap();
        }
    });

    let cases = [
        Case {
            operation: "Check, cache hit",
            case: "one key",
            work: Box::new(|_| drop(ready(shared.check(&checks[0])).unwrap())),
        },
        Case {
            operation: "Check, cache hit",
            case: "a key each",
            work: Box::new(|i| drop(ready(shared.check(&checks[i])).unwrap())),
        },
        Case {
            operation: "Check, cache hit",
            case: "a client each",
            work: Box::new(|i| drop(ready(own[i].check(&checks[i])).unwrap())),
        },
        Case {
            operation: "quota ask, aggregated",
            case: "one key",
            work: Box::new(|_| drop(ready(shared.allocate_quota(&quotas[0])).unwrap())),
        },
        Case {
            operation: "quota ask, aggregated",
            case: "a key each",
            work: Box::new(|i| drop(ready(shared.allocate_quota(&quotas[i])).unwrap())),
        },
        Case {
            operation: "quota ask, aggregated",
            case: "a client each",
            work: Box::new(|i| drop(ready(own[i].allocate_quota(&quotas[i])).unwrap())),
        },
    ];

    // Rounds alternate 1 and 2 threads, case after case; the best of each.
    let mut best = vec![(0.0_f64, 0.0_f64); cases.len()];
    for _ in 0..rounds {
        for (case, best) in cases.iter().zip(&mut best) {
            best.0 = best.0.max(rate(&runtime, 1, duration, &case.work));
            best.1 = best.1.max(rate(&runtime, 2, duration, &case.work));
        }
    }

    println!(
        "best of {rounds} rounds of {} ms each, {cores} cores available\n",
        duration.as_millis()
    );
    println!(
        "| operation | case | 1 thread | 2 threads, total | ratio 2/1 | 2 threads, per core |"
    );
    println!("|---|---|---|---|---|---|");
    for (case, &(one, two)) in cases.iter().zip(&best) {
        println!(
            "| {} | {} | {} | {} | {:.2} | {} |",
            case.operation,
            case.case,
            millions(one),
            millions(two),
            two / one,
            millions(two / 2.0),
        );
    }

    // Every measured operation was a hit: one Check call per key (its
    // miss), and one optimistic quota ask per key.
    let statistics: Vec<_> = runtime.block_on(async {
        let mut statistics = vec![shared.shutdown().await];
        for client in &own {
            statistics.push(client.shutdown().await);
        }
        statistics
    });
    let keys = [2, 1, 1];
    for (s, keys) in statistics.iter().zip(keys) {
        assert_eq!(s.check_calls, keys, "{s:?}");
        assert_eq!(s.check_hits, s.checks - keys, "{s:?}");
        assert_eq!(s.quota_optimistic, keys, "{s:?}");
        assert_eq!(s.quota_hits, s.quotas - keys, "{s:?}");
    }
}
