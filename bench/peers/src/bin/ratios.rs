//! Prints the speed ratios, measured side by side in one run:
//! cloud-report-proto against the official Rust crate (JSON), against
//! prost's derived code on the same messages (binary: `derived`, compiled
//! from the same `.proto` files) and against Python protobuf with upb (JSON
//! and binary), on the reference documents.
//!
//! `cargo run --release --bin ratios [-- SECONDS]` from bench/peers. Each
//! Rust number is the best of five rounds of one operation, taken in turns
//! with its peer's over 2 x SECONDS (default 2); Python's, the best of five
//! over SECONDS, in MiB/s of the document (JSON rows: its JSON text; binary
//! rows: its binary encoding).
//!
//! Python: `CLOUD_REPORT_PYTHON` names an interpreter with the reference
//! packages; otherwise the test suite's venv (`target/tmp/python-reference`)
//! is used, or one is made under `bench/peers/target/python-bench` from
//! `tests/reference/requirements.txt`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cloud_report_proto::google::api::servicecontrol::v1;
use cloud_report_proto::google::api::servicecontrol::v1::ReportRequest;
use cloud_report_proto::json;
use cloud_report_proto_peers::derived;
use google_cloud_api_servicecontrol_v1::model as official;
use prost::Message;
use std::hint::black_box;

const DOCUMENTS: [&str; 4] = [
    "report-100.json",
    "report-near-1mb.json",
    "report-logs.json",
    "report-labels.json",
];

/// The rate of one round of `op` over `seconds`, in MiB/s of `size` bytes.
fn round(seconds: f64, size: usize, op: &mut impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        op();
        n += 1;
    }
    let mib = n as f64 * size as f64 / f64::from(1 << 20);
    mib / start.elapsed().as_secs_f64()
}

/// The best rates of `ours` and `peer` over five rounds each, taken in
/// turns (ours, peer, ours, ...) so that both see the same machine: the
/// neighbours of a shared machine come and go within seconds.
fn rates(seconds: f64, size: usize, mut ours: impl FnMut(), mut peer: impl FnMut()) -> (f64, f64) {
    let (mut a, mut b) = (0f64, 0f64);
    for _ in 0..5 {
        a = a.max(round(seconds / 10.0, size, &mut ours));
        b = b.max(round(seconds / 10.0, size, &mut peer));
    }
    (a, b)
}

struct Row {
    operation: &'static str,
    ours: f64,
    /// The official crate (JSON rows) or prost's derived code (binary rows).
    peer: f64,
    python: f64,
}

fn print_table(peer: &str, rows: &[Row]) {
    println!("| operation | cloud-report-proto | {peer} | Python | vs {peer} | vs Python |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {:.0} MiB/s | {:.0} MiB/s | {:.1} MiB/s | {:.2}x | {:.2}x |",
            row.operation,
            row.ours,
            row.peer,
            row.python,
            row.ours / row.peer,
            row.ours / row.python
        );
    }
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map_or(2.0, |s| s.parse().expect("SECONDS is a number"));
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = here.join("../..");
    let paths: Vec<PathBuf> = DOCUMENTS
        .iter()
        .map(|d| here.join("data").join(d))
        .collect();

    // Python first, in one process for all documents.
    let output = Command::new(cloud_report_proto_peers::python(&root))
        .arg(here.join("python/bench.py"))
        .arg(seconds.to_string())
        .args(&paths)
        .output()
        .expect("runs the Python bench");
    assert!(
        output.status.success(),
        "Python bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let python: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();

    for (document, (path, py)) in DOCUMENTS.iter().zip(paths.iter().zip(&python)) {
        let text = std::fs::read(path).expect("run the generator first");
        let ours: ReportRequest = json::from_slice(&text).unwrap();
        let theirs: official::ReportRequest = serde_json::from_slice(&text).unwrap();
        let binary = ours.encode_to_vec();
        let implementation = py["implementation"].as_str().unwrap_or("?").to_owned();
        let py = |key: &str| py[key].as_f64().expect("a rate");
        // Both sides encode messages decoded from the same bytes, so that
        // their strings lie in memory alike (a message parsed from JSON has
        // its own layout, which moves the encoding of a large one by tens of
        // percent).
        let decoded = ReportRequest::decode(binary.as_slice()).unwrap();
        let derived =
            derived::google::api::servicecontrol::v1::ReportRequest::decode(binary.as_slice())
                .unwrap();
        // The same message (prost's derived code writes a message's fields
        // in the order they are declared, the crate's in number order).
        let again = derived.encode_to_vec();
        assert!(
            again.len() == binary.len()
                && ReportRequest::decode(again.as_slice()).ok().as_ref() == Some(&decoded),
            "the baseline encodes the same message"
        );
        let row = |operation, size, ours: &mut dyn FnMut(), peer: &mut dyn FnMut(), python| {
            let (ours, peer) = rates(seconds, size, ours, peer);
            Row {
                operation,
                ours,
                peer,
                python,
            }
        };
        let json_rows = [
            row(
                "JSON parse",
                text.len(),
                &mut || drop(black_box(json::from_slice::<ReportRequest>(&text).unwrap())),
                &mut || {
                    drop(black_box(
                        serde_json::from_slice::<official::ReportRequest>(&text).unwrap(),
                    ))
                },
                py("json_parse"),
            ),
            row(
                "JSON write",
                text.len(),
                &mut || drop(black_box(json::to_vec(&ours).unwrap())),
                &mut || drop(black_box(serde_json::to_vec(&theirs).unwrap())),
                py("json_write"),
            ),
        ];
        // prost's derived code decodes the whole message, the peer of each
        // decoding row.
        let mut derived_decode = || {
            drop(black_box(
                derived::google::api::servicecontrol::v1::ReportRequest::decode(black_box(
                    binary.as_slice(),
                ))
                .unwrap(),
            ))
        };
        let mut arena = cloud_report_proto::view::Arena::new();
        let (mut reused, mut reuse_arena) = (ReportRequest::default(), arena.clone());
        let binary_rows = [
            row(
                "binary encode",
                binary.len(),
                &mut || drop(black_box(black_box(&decoded).encode_to_vec())),
                &mut || drop(black_box(black_box(&derived).encode_to_vec())),
                py("binary_encode"),
            ),
            row(
                "binary decode",
                binary.len(),
                &mut || {
                    drop(black_box(
                        ReportRequest::decode(black_box(binary.as_slice())).unwrap(),
                    ))
                },
                &mut derived_decode,
                py("binary_decode"),
            ),
            row(
                "view decode, every field read",
                binary.len(),
                &mut || {
                    let decoded =
                        v1::ReportRequestView::decode_view(black_box(binary.as_slice())).unwrap();
                    black_box(cloud_report_proto_peers::touch_report(&decoded.view()));
                },
                &mut derived_decode,
                py("binary_decode"),
            ),
            row(
                "view decode into a reused arena, every field read",
                binary.len(),
                &mut || {
                    let view = v1::ReportRequestView::decode_view_in(
                        black_box(binary.as_slice()),
                        &mut arena,
                    )
                    .unwrap();
                    black_box(cloud_report_proto_peers::touch_report(&view));
                },
                &mut derived_decode,
                py("binary_decode"),
            ),
            row(
                "reusable owned decode (clear_and_parse_in)",
                binary.len(),
                &mut || {
                    reused
                        .clear_and_parse_in(black_box(binary.as_slice()), &mut reuse_arena)
                        .unwrap();
                    black_box(&reused);
                },
                &mut derived_decode,
                py("binary_decode"),
            ),
            row(
                "view decode alone (checked, top level read)",
                binary.len(),
                &mut || {
                    drop(black_box(
                        v1::ReportRequestView::decode_view(black_box(binary.as_slice())).unwrap(),
                    ))
                },
                &mut derived_decode,
                py("binary_decode"),
            ),
        ];
        println!(
            "\n{document} ({} bytes JSON, {} bytes binary; Python {})",
            text.len(),
            binary.len(),
            implementation
        );
        print_table("official crate", &json_rows);
        println!();
        print_table("prost derived", &binary_rows);
        println!(
            "\nPython upb, FromString then a pass reading every field: {:.1} MiB/s",
            py("binary_decode_read")
        );

        // buffa, the field's view crate, on the same bytes: its views
        // (decoded whole, lists into vectors) read as ours are, and its
        // owned decode.
        type BuffaView<'a> =
            cloud_report_proto_peers::buffa_peer::google::api::servicecontrol::v1::__buffa::view::ReportRequestView<'a>;
        type BuffaOwned =
            cloud_report_proto_peers::buffa_peer::google::api::servicecontrol::v1::ReportRequest;
        {
            use buffa::{Message as _, MessageView as _};
            let theirs = BuffaView::decode_view(&binary).unwrap();
            let ours = v1::ReportRequestView::decode_view(&binary).unwrap();
            assert_eq!(
                cloud_report_proto_peers::touch_buffa_report(&theirs),
                cloud_report_proto_peers::touch_report(&ours.view()),
                "both views read the same values"
            );
            let pairs = [
                (
                    "view decode, every field read",
                    rates(
                        seconds,
                        binary.len(),
                        || {
                            let decoded =
                                v1::ReportRequestView::decode_view(black_box(binary.as_slice()))
                                    .unwrap();
                            black_box(cloud_report_proto_peers::touch_report(&decoded.view()));
                        },
                        || {
                            let view =
                                BuffaView::decode_view(black_box(binary.as_slice())).unwrap();
                            black_box(cloud_report_proto_peers::touch_buffa_report(&view));
                        },
                    ),
                ),
                (
                    "owned decode",
                    rates(
                        seconds,
                        binary.len(),
                        || {
                            drop(black_box(
                                ReportRequest::decode(black_box(binary.as_slice())).unwrap(),
                            ))
                        },
                        || {
                            drop(black_box(
                                BuffaOwned::decode_from_slice(black_box(binary.as_slice()))
                                    .unwrap(),
                            ))
                        },
                    ),
                ),
            ];
            println!("\n| operation | cloud-report-proto | buffa | vs buffa |");
            println!("|---|---|---|---|");
            for (operation, (ours, theirs)) in pairs {
                println!(
                    "| {operation} | {ours:.0} MiB/s | {theirs:.0} MiB/s | {:.2}x |",
                    ours / theirs
                );
            }
        }
    }
}
