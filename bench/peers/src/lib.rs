//! What the benchmark binaries share.

/// The crate's messages as prost's derived code (`#[derive(Message)]`),
/// compiled from the same `.proto` files by `build.rs`: the baseline of the
/// binary benchmarks.
#[allow(clippy::all, missing_docs)]
pub mod derived {
    include!(concat!(env!("OUT_DIR"), "/derived.rs"));
}

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python interpreter with the reference packages: `CLOUD_REPORT_PYTHON`,
/// or the test suite's venv, or one made here from the test suite's
/// requirements.
pub fn python(root: &Path) -> PathBuf {
    if let Some(python) = std::env::var_os("CLOUD_REPORT_PYTHON") {
        return python.into();
    }
    let tests = root.join("target/tmp/python-reference/venv/bin/python");
    if tests.exists() {
        return tests;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python-bench");
    let python = venv.join("bin/python");
    if !python.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "cannot make a venv at {}",
            venv.display()
        );
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(root.join("tests/reference/requirements.txt"))
            .status();
        assert!(status.is_ok_and(|s| s.success()), "pip install failed");
    }
    python
}
