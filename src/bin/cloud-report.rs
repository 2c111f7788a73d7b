//! `cloud-report`: convert Service Control and Apigee messages between the
//! binary (gRPC) and JSON (REST) wire formats, and list the known types.
//!
//! ```text
//! cloud-report convert --type google.api.servicecontrol.v1.ReportRequest \
//!     --from json --to binary < report.json > report.bin
//! cloud-report types
//! cloud-report serve --listen 127.0.0.1:8080 --require-token secret
//! cloud-report healthcheck http://127.0.0.1:8080
//! ```
//!
//! Exit status: 0 on success, 1 when the input is invalid (one line on stderr
//! says where and what), 2 for a usage error.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use cloud_report_proto::emulator;
use cloud_report_proto::google::api::servicecontrol::v1::check_error::Code as CheckErrorCode;
use cloud_report_proto::json::ParseOptions;
use cloud_report_proto::registry;
use cloud_report_proto::rest::{Limits, Server};
use cloud_report_proto::service_config::ServiceConfig;
use std::time::Duration;

/// Convert Google Service Control and Apigee messages between wire formats.
#[derive(Parser)]
#[command(name = "cloud-report", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Read a message from stdin in one format and write it to stdout in another.
    Convert {
        /// The full name of the message type, such as
        /// google.api.servicecontrol.v1.ReportRequest.
        #[arg(long = "type", value_name = "NAME")]
        type_name: String,
        /// The format of the input.
        #[arg(long, value_enum)]
        from: Format,
        /// The format of the output.
        #[arg(long, value_enum)]
        to: Format,
        /// Indent JSON output.
        #[arg(long)]
        pretty: bool,
        /// Skip JSON fields the type does not have instead of failing.
        #[arg(long)]
        ignore_unknown_fields: bool,
        /// The largest input accepted, in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
        max_input_bytes: u64,
    },
    /// List the full name of every message type the tool knows.
    Types,
    /// Run the emulator: Service Control and the Apigee runtime control plane,
    /// over gRPC and REST on one port, in memory.
    Serve {
        /// The address to listen on, IP:PORT or HOST:PORT (`localhost:0`);
        /// port 0 picks a free port. The address bound is printed on the
        /// first line of stdout.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Allow listening on an address other than loopback.
        #[arg(long)]
        allow_remote: bool,
        /// Require `Authorization: Bearer TOKEN` on every call.
        #[arg(long, value_name = "TOKEN")]
        require_token: Option<String>,
        /// The most operations stored; reports past it are refused.
        #[arg(long, default_value_t = 1_000_000)]
        max_operations: usize,
        /// The most bytes stored (operations and statuses as encoded, with
        /// their ids and names); reports past it are refused.
        #[arg(long, value_name = "BYTES", default_value_t = emulator::DEFAULT_MAX_BYTES)]
        max_bytes: usize,
        #[command(flatten)]
        limits: LimitArgs,
        /// Deny a consumer in Check and AllocateQuota, as CONSUMER=CODE with a
        /// CheckError code, e.g. project:blocked=SERVICE_NOT_ACTIVATED.
        #[arg(long = "deny-consumer", value_name = "CONSUMER=CODE")]
        deny_consumers: Vec<String>,
        /// A JSON file of organizations, environments, environment groups,
        /// proxy revisions and deployments (for deployment change reports),
        /// and of projects and API keys (for Check); format in docs/emulator.md.
        #[arg(long, value_name = "FILE")]
        state: Option<std::path::PathBuf>,
        /// A service configuration (google.api.Service, YAML or JSON) the
        /// emulator judges reports by; repeatable. With none, any service
        /// name is accepted.
        #[arg(long = "service-config", value_name = "FILE")]
        service_configs: Vec<std::path::PathBuf>,
        /// Serve HTTPS and gRPC over TLS with this certificate chain (PEM,
        /// leaf first); needs --tls-key.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
        /// Accept the self-signed JWTs of a service account as bearer
        /// tokens, checked as Google's front end checks them: its key file
        /// (JSON) or its public certificate (PEM); repeatable. With
        /// --require-token, either is accepted.
        #[arg(long = "trust-service-account", value_name = "FILE")]
        trust_service_accounts: Vec<std::path::PathBuf>,
        /// How Check answers a consumer id of no consumer form, or none where
        /// one is needed (Google documents neither): `refuse`
        /// (INVALID_ARGUMENT, as AllocateQuota) or `check-error`
        /// (a CONSUMER_INVALID check error).
        #[arg(long, value_name = "ANSWER", default_value = "refuse", value_parser = ["refuse", "check-error"])]
        consumer_errors: String,
        /// Hold the clock at the start time until `POST
        /// /emulator/v1/clock:advance` moves it, so quota windows are tested
        /// without waiting.
        #[arg(long)]
        manual_clock: bool,
        /// Scripted answers and faults waiting from the start, as
        /// `{"faults": [{"service": ..., "method": ..., ...}]}` (docs/emulator.md).
        #[arg(long, value_name = "FILE")]
        faults: Option<std::path::PathBuf>,
        /// The most bytes the request log holds; the oldest requests are
        /// dropped past it.
        #[arg(long, value_name = "BYTES", default_value_t = emulator::DEFAULT_MAX_REQUEST_LOG_BYTES)]
        max_request_log_bytes: usize,
        /// Seconds the calls in flight have to finish once SIGTERM or
        /// SIGINT stops the emulator (no new calls are taken); past it they
        /// are cut and the exit status is 1. A second signal ends at once.
        #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
        shutdown_grace: f64,
        /// Start, wait until healthy, run SCRIPT with `sh -c` and the
        /// emulator variables set (`env-init`'s), stop gracefully, and exit
        /// with SCRIPT's status.
        #[arg(long, value_name = "SCRIPT")]
        exec: Option<String>,
        /// Keep everything the emulator stores in DIR: restored from its
        /// snapshot at start (when there is one), written there at a clean
        /// stop; `POST /emulator/v1:export` writes under it.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// Start from the snapshot in DIR (not written back).
        #[arg(long, value_name = "DIR", conflicts_with = "data_dir")]
        import: Option<std::path::PathBuf>,
        /// Write a snapshot to DIR when the emulator stops.
        #[arg(long, value_name = "DIR")]
        export_on_exit: Option<std::path::PathBuf>,
    },
    /// Print a self-signed token of a service account's key file, as
    /// Google's libraries make one: the bearer token an emulator started
    /// with `--trust-service-account KEY` accepts, for a person with curl.
    Token {
        /// The service account's key file (JSON).
        #[arg(long, value_name = "FILE")]
        key_file: std::path::PathBuf,
        /// Seconds the token lives (at most 3600).
        #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
        lifetime: u64,
    },
    /// Ask a running emulator to write a snapshot under its data directory
    /// (`POST URL/emulator/v1:export`); prints where and what it held.
    Export {
        /// The emulator's base URL, such as http://127.0.0.1:8080.
        #[arg(long)]
        url: String,
        /// Where under the emulator's data directory (default: the data
        /// directory itself).
        #[arg(long, default_value = "")]
        path: String,
        /// The bearer token the emulator requires, if any.
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
    },
    /// Print the `export` lines that point the crate's clients (and a
    /// test's own) at an emulator: SERVICE_CONTROL_EMULATOR_HOST and
    /// APIGEE_EMULATOR_HOST, as `eval "$(cloud-report env-init)"` takes
    /// them.
    EnvInit {
        /// The emulator's address, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Exit 0 when the emulator at URL answers its health endpoint
    /// (`GET URL/emulator/v1/health`) as serving, 1 otherwise, saying why
    /// on stderr: a container's HEALTHCHECK, a script waiting for it.
    Healthcheck {
        /// The emulator's base URL, such as http://127.0.0.1:8080.
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
        timeout: f64,
        /// A CA certificate (PEM) to trust beside Mozilla's roots, for an
        /// emulator serving TLS with its own.
        #[arg(long, value_name = "FILE")]
        ca_cert: Option<std::path::PathBuf>,
        /// Print the health (JSON) on stdout.
        #[arg(long)]
        print: bool,
    },
}

/// The server's limits on connections and requests (docs/limits.md).
#[derive(clap::Args)]
struct LimitArgs {
    /// Seconds a connection may take to send a request's headers.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    header_read_timeout: f64,
    /// Seconds a connection may stay with no request in flight.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    idle_timeout: f64,
    /// Seconds a request body may take to arrive whole.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    body_timeout: f64,
    /// Seconds a whole exchange may take; 0 for no limit.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    request_timeout: f64,
    /// The most connections open at once.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    max_connections: usize,
    /// The most request body bytes held at once across all connections.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    max_body_bytes_in_flight: usize,
    /// The most HTTP/2 streams open at once on one connection.
    #[arg(long, value_name = "N", default_value_t = 100)]
    http2_max_streams: u32,
}

impl LimitArgs {
    fn limits(&self) -> Result<Limits, String> {
        let seconds = |flag: &str, value: f64| {
            Duration::try_from_secs_f64(value)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("--{flag} {value}: expected a positive number of seconds"))
        };
        let mut limits = Limits::default();
        limits.header_read_timeout = seconds("header-read-timeout", self.header_read_timeout)?;
        limits.idle_timeout = seconds("idle-timeout", self.idle_timeout)?;
        limits.body_timeout = seconds("body-timeout", self.body_timeout)?;
        limits.request_timeout = if self.request_timeout == 0.0 {
            None
        } else {
            Some(seconds("request-timeout", self.request_timeout)?)
        };
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        limits.max_connections = self.max_connections;
        limits.max_body_bytes_in_flight = self.max_body_bytes_in_flight;
        limits.http2_max_concurrent_streams = self.http2_max_streams;
        Ok(limits)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Canonical proto3 JSON, the REST wire format.
    Json,
    /// The protobuf binary encoding, the gRPC wire format.
    Binary,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            // One line, whatever the error says.
            eprintln!("cloud-report: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Serve {
            listen,
            allow_remote,
            require_token,
            max_operations,
            max_bytes,
            limits,
            deny_consumers,
            state,
            service_configs,
            tls_cert,
            tls_key,
            manual_clock,
            faults,
            max_request_log_bytes,
            trust_service_accounts,
            consumer_errors,
            shutdown_grace,
            exec,
            data_dir,
            import,
            export_on_exit,
        } => {
            set_up_allocator();
            let limits = limits.limits()?;
            let grace = Duration::try_from_secs_f64(shutdown_grace).map_err(|_| {
                format!("--shutdown-grace {shutdown_grace}: expected a number of seconds")
            })?;
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(
                    cloud_report_proto::rest::TlsIdentity::load(&cert, &key)
                        .map_err(|e| e.to_string())?,
                ),
                _ => None,
            };
            let listen = listen_address(&listen)?;
            if !listen.ip().is_loopback() && !allow_remote {
                return Err(format!(
                    "{listen} is not a loopback address; pass --allow-remote to listen on it"
                ));
            }
            let mut config = emulator::Config::default();
            if let Some(path) = state {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                config = config
                    .state_json(&text)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            for path in &service_configs {
                let service = ServiceConfig::load(path).map_err(|e| e.to_string())?;
                config = config.service_config(service);
            }
            if service_configs.is_empty() {
                eprintln!(
                    "no --service-config given: any service name is accepted and reports are checked only against the API's own rules"
                );
            }
            config.require_token = require_token;
            for path in &trust_service_accounts {
                let account =
                    emulator::TrustedServiceAccount::load(path).map_err(|e| e.to_string())?;
                config = config.trust_service_account(account);
            }
            config.max_operations = max_operations;
            config.max_bytes = max_bytes;
            config.max_request_log_bytes = max_request_log_bytes;
            config.consumer_errors = match consumer_errors.as_str() {
                "check-error" => emulator::ConsumerErrors::CheckError,
                _ => emulator::ConsumerErrors::Refuse,
            };
            if manual_clock {
                config.clock = emulator::ManualClock::new(std::time::SystemTime::now()).into();
            }
            let faults = match faults {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    emulator::read_faults_file(&text)
                        .map_err(|e| format!("{}: {e}", path.display()))?
                }
                None => Vec::new(),
            };
            for deny in deny_consumers {
                let (consumer, code) = deny
                    .rsplit_once('=')
                    .ok_or_else(|| format!("--deny-consumer {deny}: expected CONSUMER=CODE"))?;
                let code = CheckErrorCode::from_str_name(code).ok_or_else(|| {
                    let codes: Vec<&str> = (0..=i32::from(u16::MAX))
                        .filter_map(|n| CheckErrorCode::try_from(n).ok())
                        .map(|c| c.as_str_name())
                        .collect();
                    format!(
                        "--deny-consumer {deny}: {code} is not a CheckError code (one of {})",
                        codes.join(", ")
                    )
                })?;
                config.denied_consumers.insert(consumer.to_owned(), code);
            }
            if let Some(dir) = &data_dir {
                config = config.data_dir(dir.clone());
            }
            let emulator = emulator::Emulator::new(config);
            // A snapshot first: it may carry faults of its own.
            let restore = import.clone().or_else(|| {
                data_dir
                    .clone()
                    .filter(|d| emulator::Emulator::has_snapshot(d))
            });
            if let Some(dir) = &restore {
                let restored = emulator
                    .import(dir)
                    .map_err(|e| format!("cannot restore: {e}"))?;
                eprintln!(
                    "cloud-report serve: restored {} operations, {} statuses, {} requests, {} configurations from {}",
                    restored.operations,
                    restored.statuses,
                    restored.requests,
                    restored.services,
                    dir.display()
                );
            } else if let Some(dir) = &import {
                return Err(format!("--import {}: no snapshot there", dir.display()));
            }
            for (i, (service, fault)) in faults.into_iter().enumerate() {
                emulator
                    .add_fault(&service, fault)
                    .map_err(|e| format!("--faults: faults[{i}]: {e}"))?;
            }
            let exports: Vec<std::path::PathBuf> =
                data_dir.into_iter().chain(export_on_exit).collect();
            serve(listen, emulator, limits, tls.as_ref(), grace, exec, exports)
        }
        Command::Token { key_file, lifetime } => {
            let key = std::fs::read_to_string(&key_file)
                .map_err(|e| format!("--key-file {}: {e}", key_file.display()))?;
            let token = emulator::TrustedServiceAccount::sign_token(
                &key,
                std::time::SystemTime::now(),
                Duration::from_secs(lifetime),
            )
            .map_err(|e| format!("--key-file {}: {e}", key_file.display()))?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { url, path, token } => {
            let answer = block_on(emulator::request_export(&url, &path, token.as_deref()))?
                .map_err(|e| e.to_string())?;
            println!("{answer}");
            Ok(ExitCode::SUCCESS)
        }
        Command::EnvInit { listen } => {
            let mut out = io::stdout().lock();
            for line in cloud_report_proto::emulator_env::env_init_lines(&listen) {
                writeln!(out, "{line}").map_err(stdout_error)?;
            }
            out.flush().map_err(stdout_error)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck {
            url,
            timeout,
            ca_cert,
            print,
        } => {
            let timeout = Duration::try_from_secs_f64(timeout)
                .map_err(|_| format!("--timeout {timeout}: expected a number of seconds"))?;
            let ca = match &ca_cert {
                Some(path) => Some(
                    std::fs::read(path)
                        .map_err(|e| format!("--ca-cert {}: {e}", path.display()))?,
                ),
                None => None,
            };
            let health = block_on(emulator::check_health(&url, ca.as_deref(), timeout))?
                .map_err(|e| format!("unhealthy: {e}"))?;
            if print {
                let text = serde_json::to_string(&health).map_err(|e| e.to_string())?;
                println!("{text}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Types => {
            let mut out = io::stdout().lock();
            for name in registry::message_names() {
                writeln!(out, "{name}").map_err(stdout_error)?;
            }
            out.flush().map_err(stdout_error)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Convert {
            type_name,
            from,
            to,
            pretty,
            ignore_unknown_fields,
            max_input_bytes,
        } => {
            let entry = message_type(&type_name)?;
            let input = read_stdin(max_input_bytes)?;
            if input.len() as u64 > max_input_bytes {
                return Err(format!(
                    "input is larger than --max-input-bytes ({max_input_bytes} bytes)"
                ));
            }
            let options = ParseOptions::default().ignore_unknown_fields(ignore_unknown_fields);
            if let (Format::Json, Format::Binary) = (&from, &to) {
                // Large documents: one element of a top-level list at a time,
                // straight to stdout.
                let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
                entry
                    .json_to_binary_in_pieces(&input, &options, |piece| out.write_all(piece))
                    .map_err(|e| match e {
                        registry::PiecesError::Transcode(e) => e.to_string(),
                        registry::PiecesError::Out(e) => stdout_error(e),
                    })?;
                drop(input);
                out.flush().map_err(stdout_error)?;
                return Ok(ExitCode::SUCCESS);
            }
            let binary = match from {
                Format::Json => entry.json_to_binary_with(&input, &options),
                Format::Binary => entry.normalize_binary(&input),
            }
            .map_err(|e| e.to_string())?;
            let output = match to {
                Format::Binary => binary,
                Format::Json => {
                    let mut text = entry
                        .binary_to_json(&binary, pretty)
                        .map_err(|e| e.to_string())?;
                    text.push('\n');
                    text.into_bytes()
                }
            };
            io::stdout()
                .lock()
                .write_all(&output)
                .map_err(stdout_error)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs one client call of a command to its end, on a runtime of its own.
fn block_on<T>(call: impl std::future::Future<Output = T>) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start tokio: {e}"))?;
    Ok(runtime.block_on(call))
}

/// The address `--listen` names: an IP and port, or a host name resolved
/// (its IPv4 address first, so `localhost:0` binds 127.0.0.1).
fn listen_address(listen: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let mut addresses: Vec<std::net::SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| format!("--listen {listen}: not an address (HOST:PORT or IP:PORT): {e}"))?
        .collect();
    addresses.sort_by_key(|a| !a.is_ipv4());
    addresses
        .into_iter()
        .next()
        .ok_or_else(|| format!("--listen {listen}: the name has no address"))
}

/// Reads stdin whole, up to one byte past `limit`. A regular file (a
/// redirect) is read into a buffer of its size, with no regrowing.
fn read_stdin(limit: u64) -> Result<Vec<u8>, String> {
    use std::os::fd::AsFd;
    let failed = |e: io::Error| format!("cannot read stdin: {e}");
    let stdin = io::stdin();
    let file = std::fs::File::from(stdin.as_fd().try_clone_to_owned().map_err(failed)?);
    let size = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let capacity = size.map_or(0, |size| size.min(limit.saturating_add(1)));
    let mut input = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut input)
        .map_err(failed)?;
    Ok(input)
}

/// A failed write to stdout. A reader that closed the pipe early
/// (`cloud-report types | head -1`) has what it wanted: that ends the
/// program quietly, as a Unix filter does.
fn stdout_error(error: io::Error) -> String {
    if error.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    format!("cannot write stdout: {error}")
}

/// The registered message type a name means: a full name
/// (`google.api.servicecontrol.v1.ReportRequest`), a type URL, or a short
/// name (`ReportRequest`) that only one type has; otherwise an error naming
/// the candidates or the nearest names.
fn message_type(name: &str) -> Result<registry::Entry, String> {
    if let Some(entry) = registry::lookup(name) {
        return Ok(entry);
    }
    let names = registry::message_names();
    let short = |full: &str| full.rsplit('.').next().unwrap_or(full).to_owned();
    let same: Vec<&str> = names
        .iter()
        .copied()
        .filter(|full| short(full) == name)
        .collect();
    match same.as_slice() {
        [one] => return registry::lookup(one).ok_or_else(|| format!("{one} vanished")),
        [] => {}
        many => {
            return Err(format!(
                "message type \"{name}\" is ambiguous: {}",
                many.join(", ")
            ));
        }
    }
    let wanted = name.to_ascii_lowercase();
    let near: Vec<&str> = names
        .iter()
        .copied()
        .filter(|full| {
            let short = short(full).to_ascii_lowercase();
            !wanted.is_empty() && (short.contains(&wanted) || wanted.contains(&short))
        })
        .take(5)
        .collect();
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", near.join(", "))
    };
    Err(format!(
        "unknown message type \"{name}\"{hint} (`cloud-report types` lists them)"
    ))
}

/// Sets the allocator up for a long-running emulator: a block of 128 KiB or
/// more (a report of up to a megabyte, its encodings) is always a mapping of
/// its own, returned to the system when freed. Left alone, glibc raises that
/// threshold as such blocks are freed and then carves them from its heaps,
/// where the holes they leave keep tens of megabytes resident beyond what
/// the emulator holds (`--max-bytes`, `--max-request-log-bytes`).
fn set_up_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` sets a parameter of glibc's allocator, under its
    // own lock; no pointer is passed.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn serve(
    listen: std::net::SocketAddr,
    emulator: emulator::Emulator,
    limits: Limits,
    tls: Option<&cloud_report_proto::rest::TlsIdentity>,
    grace: Duration,
    exec: Option<String>,
    exports: Vec<std::path::PathBuf>,
) -> Result<ExitCode, String> {
    let mut server = Server::new(emulator.router()).limits(limits);
    // Snapshots at the stop, once no call is in flight (or the grace
    // period passed).
    let export = move || -> Result<(), String> {
        for dir in &exports {
            let written = emulator
                .export(dir)
                .map_err(|e| format!("cannot write the snapshot: {e}"))?;
            eprintln!(
                "cloud-report serve: wrote {} operations, {} statuses, {} requests to {}",
                written.operations,
                written.statuses,
                written.requests,
                dir.display()
            );
        }
        Ok(())
    };
    if let Some(identity) = tls {
        server = server.tls(identity).map_err(|e| e.to_string())?;
    }
    let scheme = if tls.is_some() { "TLS" } else { "plain text" };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start tokio: {e}"))?;
    let ended = runtime.block_on(async move {
        let mut signals = Signals::new()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        println!("cloud-report serve: listening on {bound} (gRPC and REST, {scheme})");
        io::stdout().flush().map_err(stdout_error)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = server.serve_with_shutdown(listener, async {
            let _ = stopped.await;
        });
        tokio::pin!(serving);
        // With --exec, the script's run ends the emulator as a signal does.
        let has_tls = tls.is_some();
        // The script's process id once it runs, to pass a signal on to.
        let child = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut script = exec.map(|script| {
            tokio::spawn(run_script(script, bound, has_tls, child.clone()))
        });
        let (signal, status) = tokio::select! {
            served = &mut serving => {
                served.map_err(|e| format!("server failed: {e}"))?;
                export()?;
                return Ok(ExitCode::SUCCESS);
            }
            signal = signals.next() => (signal.to_owned(), None),
            ran = async { script.as_mut().expect("only with --exec").await }, if script.is_some() => {
                let status = ran.map_err(|e| format!("--exec: {e}"))??;
                (format!("the script exited with {status}"), Some(status))
            }
        };
        // No new calls; those in flight finish within the grace period.
        let _ = stop.send(());
        eprintln!(
            "cloud-report serve: {signal}: no new calls; waiting up to {grace:?} for the calls in flight"
        );
        if let Some(script) = script.take() {
            // A signal during --exec is passed on to the script, which the
            // emulator no longer waits for.
            script.abort();
            let pid = child.load(std::sync::atomic::Ordering::Acquire);
            if pid != 0 {
                let _ = std::process::Command::new("kill")
                    .args(["-s", "TERM", &pid.to_string()])
                    .status();
            }
        }
        tokio::select! {
            served = &mut serving => {
                served.map_err(|e| format!("server failed: {e}"))?;
                export()?;
                eprintln!("cloud-report serve: stopped");
                // With --exec, the script's own status.
                Ok(status.map_or(ExitCode::SUCCESS, ExitCode::from))
            }
            () = tokio::time::sleep(grace) => {
                // What was stored is whole (each call stores under a
                // lock): kept, though the calls still in flight are cut.
                export()?;
                Err(format!(
                    "the calls still in flight after --shutdown-grace {grace:?} were cut"
                ))
            }
            again = signals.next() => Err(format!("{again} again: stopped at once")),
        }
    });
    // Nothing left running holds the exit up: a script's waiting thread,
    // an export's, connections being cut.
    runtime.shutdown_timeout(Duration::from_millis(100));
    ended
}

/// Waits until the emulator at `bound` answers its health endpoint, then
/// runs `script` with `sh -c` and the emulator variables set; its exit
/// status (128 + the signal for one killed by a signal).
async fn run_script(
    script: String,
    bound: std::net::SocketAddr,
    tls: bool,
    child: std::sync::Arc<std::sync::atomic::AtomicU32>,
) -> Result<u8, String> {
    // A TLS emulator's CA is not known here; its listener being up is
    // enough. A plain one is asked for its health.
    if !tls {
        let url = format!("http://{bound}");
        let mut waited = Duration::ZERO;
        while let Err(error) = emulator::check_health(&url, None, Duration::from_secs(1)).await {
            if waited >= Duration::from_secs(30) {
                return Err(format!("the emulator never became healthy: {error}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
    }
    let host = bound.to_string();
    let status = tokio::task::spawn_blocking(move || {
        let mut running = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .envs(cloud_report_proto::emulator_env::variables(&host))
            .spawn()?;
        child.store(running.id(), std::sync::atomic::Ordering::Release);
        running.wait()
    })
    .await
    .map_err(|e| format!("--exec: {e}"))?
    .map_err(|e| format!("--exec: cannot run sh: {e}"))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(1),
        _ => 1,
    })
}

/// SIGTERM (what `docker stop`, Kubernetes and CI runners send) and SIGINT
/// (Ctrl-C), whichever comes.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, String> {
        Ok(Self {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| format!("cannot listen for SIGTERM: {e}"))?,
        })
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
