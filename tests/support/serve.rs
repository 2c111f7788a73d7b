//! `cloud-report serve` run as a user runs it: spawned, its bound address
//! read from the first line it prints, killed when dropped.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `cloud-report serve`.
pub struct Served {
    child: Child,
    /// The first line printed (`cloud-report serve: listening on ...`).
    pub first_line: String,
    /// The address bound, `127.0.0.1:<port>`.
    pub addr: String,
}

impl Served {
    /// Runs `cloud-report serve` with `args` (`--listen` among them) and
    /// waits for its first line.
    pub fn start<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cloud-report"))
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first_line)
            .unwrap();
        let addr = first_line
            .split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {first_line:?}"))
            .to_owned();
        Self {
            child,
            first_line,
            addr,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
