//! The official protobuf conformance suite, proto3 with
//! `--enforce_recommended`, through `conformance/run.sh`: the runner built
//! from protobuf's sources (cached outside the repository; about 12 minutes
//! on 2 cores the first time), the testee built from the suite's messages by the crate's
//! own build.rs. There is no failure list: every test must pass.

use std::process::Command;

#[test]
fn proto3_conformance_suite_passes() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new(format!("{root}/../conformance/run.sh"))
        .output()
        .expect("conformance/run.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = stdout
        .lines()
        .chain(stderr.lines())
        .find(|l| l.starts_with("CONFORMANCE SUITE"))
        .unwrap_or("no summary line");
    assert!(
        output.status.success(),
        "{summary}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    println!("{summary}");
}
