//! `cloud-report convert` (JSON to binary) on an 11.6 MB ReportRequest, as
//! whole processes, against the library doing the same in process and
//! against Python (upb) doing the same as a whole process; with the CLI's
//! peak memory. One run, side by side.
//!
//! `cargo build --release --features cli` in the repository first, then
//! `cargo run --release --bin convert [-- PATH-TO-cloud-report]`.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cloud_report_proto::google::api::servicecontrol::v1::ReportRequest;
use cloud_report_proto::json;
use prost::Message;

/// The document's size: the one the issue measured.
const TARGET_BYTES: usize = 11_600_000;

/// Runs a process with `input` as stdin and stdout discarded: its wall time
/// and peak resident memory (KiB). The peak is the process's own `VmHWM`,
/// read from `/proc` while it runs: `ru_maxrss` would count this bench's
/// memory too, as the kernel records the spawning image's peak at `exec`.
fn run(command: &mut Command, input: &Path) -> (Duration, u64) {
    let start = Instant::now();
    let mut child = command
        .stdin(File::open(input).expect("the input opens"))
        .stdout(Stdio::null())
        .spawn()
        .expect("the command starts");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child is waited for") {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
            && let Some(kib) = line.split_whitespace().nth(1).and_then(|v| v.parse().ok())
        {
            peak = peak.max(kib);
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let elapsed = start.elapsed();
    assert!(status.success(), "{command:?} failed");
    (elapsed, peak)
}

fn best<T>(rounds: usize, mut f: impl FnMut() -> (Duration, T)) -> (Duration, T) {
    let mut best = f();
    for _ in 1..rounds {
        let next = f();
        if next.0 < best.0 {
            best = next;
        }
    }
    best
}

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("../..");
    let cli = std::env::args()
        .nth(1)
        .map_or_else(|| root.join("target/release/cloud-report"), Into::into);
    assert!(
        cli.exists(),
        "{} is missing: run `cargo build --release --features cli` in the repository",
        cli.display()
    );

    // report-100's operations, repeated (with fresh ids) to the size.
    let base: ReportRequest =
        json::from_slice(&std::fs::read(here.join("data/report-100.json")).unwrap()).unwrap();
    let mut report = ReportRequest {
        operations: Vec::new(),
        ..base.clone()
    };
    let mut text = Vec::new();
    for round in 0.. {
        for operation in &base.operations {
            let mut operation = operation.clone();
            operation.operation_id = format!("{}-{round}", operation.operation_id);
            report.operations.push(operation);
        }
        text = json::to_vec(&report).unwrap();
        if text.len() >= TARGET_BYTES {
            break;
        }
    }
    let input = here.join("target/convert-input.json");
    std::fs::write(&input, &text).unwrap();
    let binary_len = report.encode_to_vec().len();
    drop(report);

    let (library, ()) = best(5, || {
        let start = Instant::now();
        let message: ReportRequest = json::from_slice(&text).unwrap();
        std::hint::black_box(message.encode_to_vec());
        (start.elapsed(), ())
    });
    let (process, peak_kib) = best(5, || {
        run(
            Command::new(&cli).args([
                "convert",
                "--type",
                "ReportRequest",
                "--from",
                "json",
                "--to",
                "binary",
            ]),
            &input,
        )
    });
    let script = "import sys\n\
        from google.protobuf import json_format\n\
        from google.cloud.audit import audit_log_pb2\n\
        from google.cloud import servicecontrol_v1\n\
        message = json_format.Parse(sys.stdin.buffer.read(), servicecontrol_v1.ReportRequest.pb()())\n\
        sys.stdout.buffer.write(message.SerializeToString())\n";
    let (python, _) = best(3, || {
        run(
            Command::new(cloud_report_proto_peers::python(&root)).args(["-c", script]),
            &input,
        )
    });

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mb = |bytes: f64| bytes / 1e6;
    println!(
        "ReportRequest of {:.1} MB of JSON ({:.1} MB binary), JSON to binary, best of 5 (Python 3):\n",
        mb(text.len() as f64),
        mb(binary_len as f64)
    );
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| library, in process (parse + encode) | {:.0} ms | |",
        ms(library)
    );
    println!(
        "| `cloud-report convert`, whole process | {:.0} ms | |",
        ms(process)
    );
    println!(
        "| CLI / library | {:.2}x | at most 1.5x |",
        ms(process) / ms(library)
    );
    println!("| Python upb, whole process | {:.0} ms | |", ms(python));
    println!(
        "| Python / CLI | {:.1}x | at least 40x |",
        ms(python) / ms(process)
    );
    println!(
        "| CLI peak memory | {:.1} MB ({:.2}x the input) | about 2x the input |",
        mb(peak_kib as f64 * 1024.0),
        peak_kib as f64 * 1024.0 / text.len() as f64
    );
}
