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
        Self::start_limited(args, None)
    }

    /// [`start`](Self::start), with at most `open_files` file descriptors
    /// when given (`ulimit -n`, through `sh`).
    pub fn start_limited<I, S>(args: I, open_files: Option<u32>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let binary = env!("CARGO_BIN_EXE_cloud-report-under-test");
        let mut command = match open_files {
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(binary);
                sh
            }
            None => Command::new(binary),
        };
        let mut child = command
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

    /// The address bound, as a socket address.
    pub fn socket_addr(&self) -> std::net::SocketAddr {
        self.addr.parse().unwrap()
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends the process a signal (`TERM`, `INT`), as `kill -s` does.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name}");
    }

    /// Waits at most `within` for the process to exit: its status, or
    /// `None` while it runs.
    pub fn wait_within(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() >= until {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The server's resident memory, in MiB.
    pub fn rss_mib(&self) -> u64 {
        self.status_mib("VmRSS:").unwrap()
    }

    /// The most resident memory the server has held since it started
    /// (the kernel's high-water mark), in MiB; `None` once it has exited.
    pub fn peak_rss_mib(&self) -> Option<u64> {
        self.status_mib("VmHWM:")
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    fn status_mib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())?;
        Some(kib / 1024)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
