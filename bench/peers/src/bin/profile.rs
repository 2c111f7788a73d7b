//! Loops one JSON operation for profiling: `profile <parse|write|oparse|owrite> <file> <seconds>`.
use cloud_report_proto::google::api::servicecontrol::v1::ReportRequest;
use cloud_report_proto::json;
use google_cloud_api_servicecontrol_v1::model as official;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read(&args[2]).unwrap();
    let arg3 = args.get(3).cloned().unwrap_or_else(|| "3".into());
    let ours: ReportRequest = json::from_slice(&text).unwrap();
    let theirs: official::ReportRequest = serde_json::from_slice(&text).unwrap();
    if let Some(n) = arg3.strip_prefix('n') {
        // A fixed number of iterations, for instruction counts (callgrind).
        for _ in 0..n.parse::<u32>().unwrap() {
            match args[1].as_str() {
                "parse" => drop(std::hint::black_box(
                    json::from_slice::<ReportRequest>(&text).unwrap(),
                )),
                "write" => drop(std::hint::black_box(json::to_vec(&ours).unwrap())),
                "oparse" => drop(std::hint::black_box(
                    serde_json::from_slice::<official::ReportRequest>(&text).unwrap(),
                )),
                "owrite" => drop(std::hint::black_box(serde_json::to_vec(&theirs).unwrap())),
                _ => panic!(),
            }
        }
        return;
    }
    let secs: f64 = arg3.parse().unwrap();
    let ours: ReportRequest = json::from_slice(&text).unwrap();
    let theirs: official::ReportRequest = serde_json::from_slice(&text).unwrap();
    let mut best = 0f64;
    for _round in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs_f64(secs / 5.0) {
            for _ in 0..10 {
                match args[1].as_str() {
                    "parse" => drop(std::hint::black_box(
                        json::from_slice::<ReportRequest>(&text).unwrap(),
                    )),
                    "write" => drop(std::hint::black_box(json::to_vec(&ours).unwrap())),
                    "oparse" => drop(std::hint::black_box(
                        serde_json::from_slice::<official::ReportRequest>(&text).unwrap(),
                    )),
                    "owrite" => drop(std::hint::black_box(serde_json::to_vec(&theirs).unwrap())),
                    _ => panic!(),
                }
                n += 1;
            }
        }
        let mbs = (n as f64 * text.len() as f64) / start.elapsed().as_secs_f64() / (1 << 20) as f64;
        best = best.max(mbs);
    }
    println!("{} best {:.0} MiB/s", args[1], best);
}
