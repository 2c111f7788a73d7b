//! `cloud-report`: convert Service Control and Apigee messages between the
//! binary (gRPC) and JSON (REST) wire formats, and list the known types.
//!
//! ```text
//! cloud-report convert --type google.api.servicecontrol.v1.ReportRequest \
//!     --from json --to binary < report.json > report.bin
//! cloud-report types
//! ```
//!
//! Exit status: 0 on success, 1 when the input is invalid (one line on stderr
//! says where and what), 2 for a usage error.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use cloud_report_proto::json::ParseOptions;
use cloud_report_proto::registry;

/// Convert Google Service Control and Apigee messages between wire formats.
#[derive(Parser)]
#[command(name = "cloud-report", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

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
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // One line, whatever the error says.
            eprintln!("cloud-report: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Types => {
            let mut out = io::stdout().lock();
            for name in registry::message_names() {
                writeln!(out, "{name}").map_err(|e| format!("cannot write stdout: {e}"))?;
            }
            Ok(())
        }
        Command::Convert {
            type_name,
            from,
            to,
            pretty,
            ignore_unknown_fields,
            max_input_bytes,
        } => {
            let entry = registry::lookup(&type_name).ok_or_else(|| {
                format!("unknown message type \"{type_name}\" (`cloud-report types` lists them)")
            })?;
            let mut input = Vec::new();
            io::stdin()
                .lock()
                .take(max_input_bytes.saturating_add(1))
                .read_to_end(&mut input)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            if input.len() as u64 > max_input_bytes {
                return Err(format!(
                    "input is larger than --max-input-bytes ({max_input_bytes} bytes)"
                ));
            }
            let options = ParseOptions::default().ignore_unknown_fields(ignore_unknown_fields);
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
                .map_err(|e| format!("cannot write stdout: {e}"))
        }
    }
}
