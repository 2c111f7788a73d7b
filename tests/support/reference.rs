//! The official Python implementation as a test oracle: a venv with the
//! pinned packages of `tests/reference/requirements.txt`, created on first use,
//! and one long-lived `reference.py` process per test binary that answers JSON
//! lines.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

use serde_json::{Value, json};

const REQUIREMENTS: &str = include_str!("../reference/requirements.txt");

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// The venv's Python, created (once, under a file lock shared by concurrent
/// test binaries) when missing or when the pinned requirements changed.
/// `CLOUD_REPORT_PYTHON` names an interpreter to use instead.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("CLOUD_REPORT_PYTHON") {
        return python.into();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-reference");
    fs::create_dir_all(&dir).unwrap();
    let lock = File::create(dir.join(".lock")).unwrap();
    lock.lock().unwrap();
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let stamp = dir.join("installed-requirements.txt");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(REQUIREMENTS) || !python.exists() {
        let _ = fs::remove_dir_all(&venv);
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/requirements.txt")));
        fs::write(&stamp, REQUIREMENTS).unwrap();
    }
    python
}

/// A running `reference.py`.
pub struct Reference {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Reference {
    /// The process shared by the tests of this binary.
    pub fn get() -> MutexGuard<'static, Reference> {
        static REFERENCE: OnceLock<Mutex<Reference>> = OnceLock::new();
        REFERENCE
            .get_or_init(|| {
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/reference.py");
                let mut child = Command::new(python())
                    .arg(script)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start reference.py");
                let stdin = child.stdin.take().unwrap();
                let stdout = BufReader::new(child.stdout.take().unwrap());
                Mutex::new(Reference {
                    _child: child,
                    stdin,
                    stdout,
                })
            })
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends one request and returns the answer.
    pub fn call(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "reference.py exited");
        serde_json::from_str(&line).unwrap()
    }

    /// Parses JSON as `type_name`: the binary encoding, or the error text.
    pub fn parse_json(
        &mut self,
        type_name: &str,
        json: &str,
        ignore_unknown: bool,
    ) -> Result<Vec<u8>, String> {
        let answer = self.call(json!({"op": "parse_json", "type": type_name, "json": json, "ignore_unknown": ignore_unknown}));
        match answer.get("binary") {
            Some(b) => Ok(b64(b.as_str().unwrap())),
            None => Err(answer["error"].as_str().unwrap_or_default().to_owned()),
        }
    }

    /// The reference's canonical JSON of a binary message, or the error text.
    pub fn json_of(&mut self, type_name: &str, binary: &[u8]) -> Result<String, String> {
        use base64::Engine;
        let answer = self.call(json!({"op": "to_json", "type": type_name,
            "binary": base64::engine::general_purpose::STANDARD.encode(binary)}));
        match answer.get("json") {
            Some(j) => Ok(j.as_str().unwrap().to_owned()),
            None => Err(answer["error"].as_str().unwrap_or_default().to_owned()),
        }
    }
}

/// Decodes standard base64.
pub fn b64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
