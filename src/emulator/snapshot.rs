//! Snapshots: everything an emulator keeps, written to a directory and
//! read back, so that a restart (`serve --data-dir`), a CI failure handed
//! to a developer (`--export-on-exit`, `--import`) or a running emulator
//! (`POST /emulator/v1:export`) loses nothing.
//!
//! A snapshot is a directory of three files (format version
//! [`SNAPSHOT_VERSION`]):
//!
//! - `manifest.json`: `{"format": "cloud-report-emulator-snapshot",
//!   "version": 1, "writtenAt", "store": {"file", "bytes", "sha256",
//!   "records"}, "requests": {...}, "clock", "rollouts", "state", "faults",
//!   "quota", "droppedRequests"}`. `clock` is the manual clock's time (RFC
//!   3339; null for the system clock), `rollouts` the rollout ids set by
//!   service, `state` the state file's JSON text the deployments and
//!   consumers were read from (null when none was given as JSON), `faults`
//!   the faults waiting in their documented JSON form with a `"service"`
//!   member (what is left of `times`; a `fraction`'s generator starts again
//!   from its seed), `quota` each consumer's windows (`[start, seconds,
//!   used]` per limit of the service) and the allocations answered for
//!   retries (base64 of the `AllocateQuotaResponse`), `droppedRequests` the
//!   request log's dropped counts by service.
//! - `store-<id>.pb`: length-delimited `google.protobuf.Any` records: a
//!   `google.api.Service` per configuration loaded, a
//!   `google.api.servicecontrol.v1.ReportRequest` (service name and up to
//!   about 1 MB of operations) per chunk of a service's stored operations in
//!   arrival order, a `google.cloud.apigee.v1.ReportInstanceStatusRequest`
//!   per instance status kept.
//! - `requests-<id>.jsonl`: the request log, oldest first, one entry a line
//!   in the form `GET .../requests` answers, with a `"service"` member.
//!
//! Writing is atomic: the data files are new files each time (their names
//! carry the snapshot's id), each written whole and synced before the
//! manifest naming them replaces the old one by rename; the old data files
//! are removed after. A reader trusts nothing: every file's length and
//! SHA-256 must be the manifest's, every record must decode, and what is
//! restored is held to the emulator's bounds as calls are; the first
//! problem is refused in one line naming the file and the byte offset (or
//! the manifest's member), and nothing is applied. A snapshot's service
//! configurations and state file replace those given on the command line
//! for the same services.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;
use serde::{Deserialize, Serialize};

use super::faults::Fault;
use super::faults::Method;
use super::quota::{LedgerSnapshot, QuotaLedger};
use super::requests::{Answer, Entry};
use super::service_control::CheckedReport;
use super::shared::Emulator;
use crate::google::api::Service;
use crate::google::api::servicecontrol::v1 as sc;
use crate::google::cloud::apigee::v1 as apigee;
use crate::google::protobuf::{Any, Timestamp};
use crate::rest::WireFormat;
use crate::service_config::ServiceConfig;

/// The `format` of a snapshot's manifest.
pub const SNAPSHOT_FORMAT: &str = "cloud-report-emulator-snapshot";
/// The version of the snapshot format this crate writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

const MANIFEST: &str = "manifest.json";
/// Operations per `ReportRequest` record: about this many bytes.
const CHUNK_BYTES: usize = 1 << 20;
/// About how much of the request log an export reads at a time.
const LOG_BATCH_BYTES: usize = 1 << 20;
/// The largest manifest read: its quota windows, state text and faults are
/// bounded by the emulator's own bounds, far below this.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

const SERVICE_TYPE: &str = "type.googleapis.com/google.api.Service";
const REPORT_TYPE: &str = "type.googleapis.com/google.api.servicecontrol.v1.ReportRequest";
const STATUS_TYPE: &str = "type.googleapis.com/google.cloud.apigee.v1.ReportInstanceStatusRequest";

/// A snapshot that could not be written or read, in one line naming the
/// file and where in it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SnapshotError(String);

/// What a snapshot held, once written or read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotSummary {
    /// Operations stored, over all services.
    pub operations: usize,
    /// Instance statuses kept.
    pub statuses: usize,
    /// Requests in the log.
    pub requests: usize,
    /// Service configurations loaded.
    pub services: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Manifest {
    format: String,
    version: u32,
    written_at: String,
    store: DataFile,
    requests: DataFile,
    clock: Option<String>,
    rollouts: BTreeMap<String, String>,
    state: Option<String>,
    faults: Vec<serde_json::Value>,
    quota: LedgerSnapshot,
    dropped_requests: BTreeMap<String, u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DataFile {
    file: String,
    bytes: u64,
    sha256: String,
    records: u64,
}

/// Writes a data file whole: to a temporary name, synced, then renamed.
struct Writer {
    path: PathBuf,
    temporary: PathBuf,
    out: BufWriter<File>,
    digest: ring::digest::Context,
    bytes: u64,
    records: u64,
}

impl Writer {
    fn create(dir: &Path, name: &str) -> Result<Self, SnapshotError> {
        let path = dir.join(name);
        let temporary = dir.join(format!("{name}.tmp"));
        let file = File::create(&temporary).map_err(|e| io_error(&temporary, &e))?;
        Ok(Self {
            path,
            temporary,
            out: BufWriter::with_capacity(1 << 16, file),
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            bytes: 0,
            records: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        self.out
            .write_all(bytes)
            .map_err(|e| io_error(&self.temporary, &e))?;
        self.digest.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// A length-delimited `Any` of `type_url` holding `value`.
    fn record(&mut self, type_url: &str, value: Vec<u8>) -> Result<(), SnapshotError> {
        let any = Any {
            type_url: type_url.to_owned(),
            value,
            ..Default::default()
        };
        self.write(&any.encode_length_delimited_to_vec())?;
        self.records += 1;
        Ok(())
    }

    /// A line of the request log: `{"service": ...,` then the members the
    /// log's endpoint gives the entry.
    fn logged(&mut self, entry: &Entry) -> Result<(), SnapshotError> {
        let line = entry
            .to_json()
            .map_err(|e| SnapshotError(format!("the request log: {e}")))?;
        let service = serde_json::to_string(&*entry.service).unwrap_or_default();
        self.write(format!("{{\"service\":{service},").as_bytes())?;
        self.write(&line[1..])?;
        self.write(b"\n")?;
        self.records += 1;
        Ok(())
    }

    fn finish(self) -> Result<DataFile, SnapshotError> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| io_error(&self.temporary, e.error()))?;
        file.sync_all().map_err(|e| io_error(&self.temporary, &e))?;
        std::fs::rename(&self.temporary, &self.path).map_err(|e| io_error(&self.path, &e))?;
        Ok(DataFile {
            file: file_name(&self.path),
            bytes: self.bytes,
            sha256: hex(self.digest.finish().as_ref()),
            records: self.records,
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(path: &Path, error: &std::io::Error) -> SnapshotError {
    SnapshotError(format!("{}: {error}", path.display()))
}

/// What a snapshot holds, read and checked whole before anything is
/// applied.
struct Loaded {
    manifest: Manifest,
    services: Vec<ServiceConfig>,
    /// Chunks of stored operations, as (service, [(id, encoded)]).
    operations: Vec<(String, Vec<(String, Bytes)>)>,
    statuses: Vec<apigee::ReportInstanceStatusRequest>,
    requests: Vec<Entry>,
    faults: Vec<(String, Fault)>,
}

impl Emulator {
    /// Writes everything the emulator keeps to `dir` (made if missing), as
    /// the [module documentation](self) says, replacing the snapshot there.
    /// The store is read under its lock only to take its items' handles;
    /// the writing is outside it.
    ///
    /// # Errors
    ///
    /// A file that cannot be written, named.
    pub fn export(&self, dir: &Path) -> Result<SnapshotSummary, SnapshotError> {
        // One at a time: an export removes the data files of others.
        let _one = self
            .exporting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
        // What to write: handles to the encodings, taken under the locks.
        let live = self.live();
        let (operations, statuses, quota) = {
            let state = self.state();
            let mut services: Vec<(String, Vec<Bytes>)> = state
                .services
                .iter()
                .map(|(name, s)| (name.clone(), s.operations.clone()))
                .collect();
            services.sort_by(|a, b| a.0.cmp(&b.0));
            let statuses: Vec<Bytes> = state.statuses.values().map(|s| s.encoded.clone()).collect();
            (services, statuses, state.quota.snapshot())
        };
        // The request log is read a batch at a time, up to the entries it
        // held now: an export keeps no more of it alive than a batch when
        // calls go on arriving (and dropping the oldest) meanwhile.
        let (mut seq, end, faults) = {
            let calls = self.calls();
            let end = calls.requests.next_seq();
            (0, end, calls.faults.all())
        };
        let id = format!(
            "{:x}-{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
            std::process::id()
        );
        let mut summary = SnapshotSummary::default();
        let mut store = Writer::create(dir, &format!("store-{id}.pb"))?;
        let mut configs: Vec<(&String, &ServiceConfig)> = live
            .rules
            .iter()
            .map(|(name, rules)| (name, &rules.config))
            .collect();
        configs.sort_by(|a, b| a.0.cmp(b.0));
        for (_, config) in configs {
            store.record(SERVICE_TYPE, config.service().encode_to_vec())?;
            summary.services += 1;
        }
        for (service, stored) in &operations {
            // A ReportRequest of the service's operations, about a
            // megabyte at a time, written from their stored encodings.
            let mut chunk: Vec<u8> = Vec::new();
            let head = sc::ReportRequest {
                service_name: service.clone(),
                ..Default::default()
            }
            .encode_to_vec();
            for operation in stored {
                prost::encoding::encode_key(
                    2,
                    prost::encoding::WireType::LengthDelimited,
                    &mut chunk,
                );
                prost::encoding::encode_varint(operation.len() as u64, &mut chunk);
                chunk.extend_from_slice(operation);
                summary.operations += 1;
                if chunk.len() >= CHUNK_BYTES {
                    let mut value = head.clone();
                    value.append(&mut chunk);
                    store.record(REPORT_TYPE, value)?;
                }
            }
            if !chunk.is_empty() {
                let mut value = head.clone();
                value.append(&mut chunk);
                store.record(REPORT_TYPE, value)?;
            }
        }
        for status in &statuses {
            store.record(STATUS_TYPE, status.to_vec())?;
            summary.statuses += 1;
        }
        let store = store.finish()?;
        let mut log = Writer::create(dir, &format!("requests-{id}.jsonl"))?;
        loop {
            let (entries, next) = self.calls().requests.batch(seq, end, LOG_BATCH_BYTES);
            if entries.is_empty() {
                break;
            }
            seq = next;
            for entry in &entries {
                log.logged(entry)?;
                summary.requests += 1;
            }
        }
        let dropped = self.calls().requests.dropped_counts();
        let requests = log.finish()?;
        let manifest = Manifest {
            format: SNAPSHOT_FORMAT.to_owned(),
            version: SNAPSHOT_VERSION,
            written_at: Timestamp::from(std::time::SystemTime::now()).to_string(),
            store,
            requests,
            clock: self
                .config
                .clock
                .manual()
                .map(|clock| Timestamp::from(clock.now()).to_string()),
            rollouts: live.rollouts.clone().into_iter().collect(),
            state: live.state_text.as_deref().map(str::to_owned),
            faults: faults
                .iter()
                .map(|(service, fault)| {
                    let mut json = fault.to_json();
                    json["service"] = service.clone().into();
                    json
                })
                .collect(),
            quota,
            dropped_requests: dropped.into_iter().collect(),
        };
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| SnapshotError(format!("the manifest: {e}")))?;
        let temporary = dir.join(format!("{MANIFEST}.{id}.tmp"));
        let mut file = File::create(&temporary).map_err(|e| io_error(&temporary, &e))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(&temporary, &e))?;
        drop(file);
        std::fs::rename(&temporary, dir.join(MANIFEST))
            .map_err(|e| io_error(&dir.join(MANIFEST), &e))?;
        if let Ok(directory) = File::open(dir) {
            let _ = directory.sync_all();
        }
        // The data files of earlier snapshots.
        let keep = [&manifest.store.file, &manifest.requests.file];
        if let Ok(listing) = std::fs::read_dir(dir) {
            for entry in listing.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let ours = (name.starts_with("store-") && name.ends_with(".pb"))
                    || (name.starts_with("requests-") && name.ends_with(".jsonl"));
                if ours && !keep.contains(&&name) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(summary)
    }

    /// Whether `dir` holds a snapshot (its manifest).
    pub fn has_snapshot(dir: &Path) -> bool {
        dir.join(MANIFEST).is_file()
    }

    /// Restores the snapshot in `dir` into this emulator, which must keep
    /// nothing yet (no operation, status, quota, request or fault): the
    /// whole snapshot is read and checked first, then applied, held to
    /// this emulator's bounds as calls are.
    ///
    /// # Errors
    ///
    /// A missing, corrupt or truncated file, another format or version, a
    /// record that cannot be read, more than the bounds hold, or an
    /// emulator that already keeps something: one line naming the file and
    /// the byte offset or member. A snapshot that cannot be read changes
    /// nothing; one read whole that the bounds refuse leaves the emulator
    /// empty of stored items (the configurations and state it carried,
    /// applied first, stay).
    pub fn import(&self, dir: &Path) -> Result<SnapshotSummary, SnapshotError> {
        {
            let state = self.state();
            let calls = self.calls();
            if state.operation_count > 0
                || !state.statuses.is_empty()
                || state.bytes > 0
                || calls.requests.bytes() > 0
                || !calls.faults.is_empty()
            {
                return Err(SnapshotError(format!(
                    "{}: a snapshot is restored into an emulator that keeps nothing yet",
                    dir.display()
                )));
            }
        }
        let read = self.read_snapshot(dir)?;
        let applied = self.apply(dir, read);
        if applied.is_err() {
            self.reset();
        }
        applied
    }

    /// Reads and checks a snapshot whole.
    fn read_snapshot(&self, dir: &Path) -> Result<Loaded, SnapshotError> {
        let manifest_path = dir.join(MANIFEST);
        let text = read_bounded(&manifest_path, MAX_MANIFEST_BYTES)?;
        let fail = |what: String| SnapshotError(format!("{}: {what}", manifest_path.display()));
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| fail(format!("not JSON: {e}")))?;
        if value["format"] != SNAPSHOT_FORMAT {
            return Err(fail(format!(
                "format {}: not a snapshot of this emulator ({SNAPSHOT_FORMAT})",
                value["format"]
            )));
        }
        if value["version"] != SNAPSHOT_VERSION {
            return Err(fail(format!(
                "version {}: this emulator reads version {SNAPSHOT_VERSION}",
                value["version"]
            )));
        }
        let manifest: Manifest = serde_path_to_error::deserialize(value)
            .map_err(|e| fail(format!("{}: {}", e.path(), e.inner())))?;
        // The data files, checked against the manifest and the bounds.
        let budget = self.config.max_bytes as u64 + self.config.max_request_log_bytes as u64;
        let store = read_data_file(dir, &manifest.store, "store-", ".pb", budget)?;
        let requests = read_data_file(dir, &manifest.requests, "requests-", ".jsonl", budget)?;
        let store_path = dir.join(&manifest.store.file);
        let mut read = Loaded {
            services: Vec::new(),
            operations: Vec::new(),
            statuses: Vec::new(),
            requests: Vec::new(),
            faults: Vec::new(),
            manifest,
        };
        let mut at = 0usize;
        while at < store.len() {
            let offset = at;
            let bad = |what: String| {
                SnapshotError(format!(
                    "{}: byte offset {offset}: {what}",
                    store_path.display()
                ))
            };
            let mut rest = &store[at..];
            let length = prost::encoding::decode_varint(&mut rest)
                .map_err(|e| bad(format!("a record's length cannot be read: {e}")))?;
            let header = store.len() - at - rest.len();
            let length = usize::try_from(length)
                .ok()
                .filter(|&n| n <= rest.len())
                .ok_or_else(|| bad(format!("a record of {length} bytes runs past the end")))?;
            let any = Any::decode(&rest[..length])
                .map_err(|e| bad(format!("a record is no google.protobuf.Any: {e}")))?;
            at += header + length;
            match any.type_url.as_str() {
                SERVICE_TYPE => {
                    let service = Service::decode(&any.value[..]).map_err(|e| {
                        bad(format!("a google.api.Service that cannot be read: {e}"))
                    })?;
                    let config = ServiceConfig::new(service)
                        .map_err(|e| bad(format!("a service configuration: {e}")))?;
                    read.services.push(config);
                }
                REPORT_TYPE => {
                    let report = sc::ReportRequest::decode(&any.value[..])
                        .map_err(|e| bad(format!("a ReportRequest that cannot be read: {e}")))?;
                    let operations = report
                        .operations
                        .into_iter()
                        .map(|op| (op.operation_id.clone(), Bytes::from(op.encode_to_vec())))
                        .collect();
                    read.operations.push((report.service_name, operations));
                }
                STATUS_TYPE => {
                    let status = apigee::ReportInstanceStatusRequest::decode(&any.value[..])
                        .map_err(|e| {
                            bad(format!(
                                "a ReportInstanceStatusRequest that cannot be read: {e}"
                            ))
                        })?;
                    read.statuses.push(status);
                }
                other => {
                    return Err(bad(format!(
                        "a record of type {} this version does not write",
                        crate::rest::clip(other)
                    )));
                }
            }
        }
        let requests_path = dir.join(&read.manifest.requests.file);
        let mut at = 0usize;
        for line in requests.split(|&b| b == b'\n') {
            let offset = at;
            at += line.len() + 1;
            if line.is_empty() {
                continue;
            }
            let bad = |what: String| {
                SnapshotError(format!(
                    "{}: byte offset {offset}: {what}",
                    requests_path.display()
                ))
            };
            read.requests.push(logged_request(line).map_err(bad)?);
        }
        for (i, fault) in read.manifest.faults.iter().enumerate() {
            let bad = |what: String| fail(format!("faults[{i}]: {what}"));
            let service = fault["service"]
                .as_str()
                .ok_or_else(|| bad("no service".to_owned()))?
                .to_owned();
            let mut fault = fault.clone();
            if let Some(object) = fault.as_object_mut() {
                object.remove("service");
            }
            let fault = Fault::from_json(&fault.to_string()).map_err(|e| bad(e.to_string()))?;
            read.faults.push((service, fault));
        }
        Ok(read)
    }

    /// Applies a snapshot read whole.
    fn apply(&self, dir: &Path, read: Loaded) -> Result<SnapshotSummary, SnapshotError> {
        let manifest_path = dir.join(MANIFEST);
        let fail = |what: String| SnapshotError(format!("{}: {what}", manifest_path.display()));
        let mut summary = SnapshotSummary::default();
        for config in read.services {
            self.replace_service_config(config);
            summary.services += 1;
        }
        if let Some(text) = &read.manifest.state {
            self.replace_state_json(text)
                .map_err(|e| fail(format!("state: {e}")))?;
        }
        for (service, rollout) in &read.manifest.rollouts {
            self.set_rollout_id(service, rollout)
                .map_err(|e| fail(format!("rollouts.{service}: {e}")))?;
        }
        if let Some(time) = &read.manifest.clock {
            let time: Timestamp = time.parse().map_err(|e| fail(format!("clock: {e}")))?;
            let time = std::time::SystemTime::try_from(time)
                .map_err(|_| fail("clock: out of range".to_owned()))?;
            match self.config.clock.manual() {
                Some(clock) => clock.set(time),
                None => {
                    return Err(fail(
                        "clock: the snapshot's clock is manual; restore it into an emulator with a manual clock (--manual-clock)"
                            .to_owned(),
                    ));
                }
            }
        }
        let store_path = dir.join(&read.manifest.store.file);
        for (service_name, valid) in read.operations {
            summary.operations += valid.len();
            self.store(&CheckedReport {
                service_name,
                valid,
                report_errors: Vec::new(),
            })
            .map_err(|e| SnapshotError(format!("{}: {}", store_path.display(), e.message())))?;
        }
        for status in read.statuses {
            self.keep_status(status)
                .map_err(|e| SnapshotError(format!("{}: {}", store_path.display(), e.message())))?;
            summary.statuses += 1;
        }
        let live = self.live();
        let ledger = QuotaLedger::restore(read.manifest.quota, |service| {
            live.rules.get(service).map(|r| r.quota.limit_count())
        })
        .map_err(fail)?;
        {
            let mut state = self.state();
            if state.bytes + ledger.usage_bytes > self.config.max_bytes {
                return Err(fail(format!(
                    "quota: more than the emulator's {} bytes",
                    self.config.max_bytes
                )));
            }
            state.bytes += ledger.usage_bytes;
            state.quota = ledger;
        }
        let mut calls = self.calls();
        for entry in read.requests {
            calls
                .requests
                .push(entry, self.config.max_request_log_bytes);
            summary.requests += 1;
        }
        for (service, n) in &read.manifest.dropped_requests {
            calls.requests.set_dropped(service, *n);
        }
        for (i, (service, fault)) in read.faults.into_iter().enumerate() {
            if !calls.faults.add(&service, fault) {
                return Err(fail(format!(
                    "faults[{i}]: more faults than the emulator holds"
                )));
            }
        }
        Ok(summary)
    }
}

/// Asks the running emulator at `base_url` to write a snapshot at `path`
/// under its data directory (`POST /emulator/v1:export`, with `token` as
/// the bearer token when given); its answer, `{"path", "operations",
/// "statuses", "requests", "services"}`.
///
/// # Errors
///
/// No answer, or the emulator's refusal (no data directory, a path outside
/// it, a file it could not write), in one line.
pub async fn request_export(
    base_url: &str,
    path: &str,
    token: Option<&str>,
) -> Result<serde_json::Value, SnapshotError> {
    let url = format!("{}/emulator/v1:export", base_url.trim_end_matches('/'));
    let fail = |what: String| SnapshotError(format!("{url}: {what}"));
    let client =
        super::health::http_client(None, std::time::Duration::from_secs(600)).map_err(fail)?;
    let mut call = client
        .post(&url)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "path": path }).to_string());
    if let Some(token) = token {
        call = call.bearer_auth(token);
    }
    let response = call
        .send()
        .await
        .map_err(|e| fail(format!("no answer: {e}")))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| fail(format!("the answer broke off: {e}")))?;
    if status != 200 {
        return Err(fail(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    serde_json::from_slice(&body).map_err(|e| fail(format!("not the emulator's answer: {e}")))
}

/// A file read whole, refused past `limit` bytes.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, SnapshotError> {
    let file = File::open(path).map_err(|e| io_error(path, &e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, &e))?;
    if bytes.len() as u64 > limit {
        return Err(SnapshotError(format!(
            "{}: more than {limit} bytes, past the emulator's bounds",
            path.display()
        )));
    }
    Ok(bytes)
}

/// A data file the manifest names, checked against it: its name, its
/// length (a shorter one was cut off), its SHA-256, within `budget`.
fn read_data_file(
    dir: &Path,
    entry: &DataFile,
    prefix: &str,
    suffix: &str,
    budget: u64,
) -> Result<Vec<u8>, SnapshotError> {
    let named_well = entry.file.starts_with(prefix)
        && entry.file.ends_with(suffix)
        && !entry.file.contains(['/', '\\'])
        && entry.file != "..";
    if !named_well {
        return Err(SnapshotError(format!(
            "{}: file {:?} is not a data file of a snapshot",
            dir.join(MANIFEST).display(),
            entry.file
        )));
    }
    let path = dir.join(&entry.file);
    if entry.bytes > budget {
        return Err(SnapshotError(format!(
            "{}: {} bytes, more than the emulator's bounds ({budget} bytes: --max-bytes and --max-request-log-bytes)",
            path.display(),
            entry.bytes
        )));
    }
    let bytes = read_bounded(&path, budget)?;
    if (bytes.len() as u64) < entry.bytes {
        return Err(SnapshotError(format!(
            "{}: truncated at byte offset {}: the manifest says {} bytes",
            path.display(),
            bytes.len(),
            entry.bytes
        )));
    }
    if bytes.len() as u64 > entry.bytes {
        return Err(SnapshotError(format!(
            "{}: {} bytes, more than the manifest's {} (from byte offset {} on, nothing belongs)",
            path.display(),
            bytes.len(),
            entry.bytes,
            entry.bytes
        )));
    }
    let sha256 = hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
    if sha256 != entry.sha256 {
        return Err(SnapshotError(format!(
            "{}: corrupt: its SHA-256 is {sha256}, the manifest says {}",
            path.display(),
            entry.sha256
        )));
    }
    Ok(bytes)
}

/// One line of the request log's file: the entry as `GET .../requests`
/// writes it, with its service.
fn logged_request(line: &[u8]) -> Result<Entry, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Line {
        service: String,
        method: String,
        wire: String,
        receive_time: String,
        request: serde_json::Value,
        caller: String,
        status: String,
        latency: Option<String>,
        fault: Option<serde_json::Value>,
        response: Option<serde_json::Value>,
        error: Option<ErrorLine>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ErrorLine {
        code: String,
        message: String,
    }
    let line: Line =
        serde_json::from_slice(line).map_err(|e| format!("a request log line: {e}"))?;
    let method: Method = line
        .method
        .parse()
        .map_err(|e: super::faults::FaultError| e.to_string())?;
    let wire = match line.wire.as_str() {
        "grpc" => WireFormat::Grpc,
        "json" => WireFormat::Json,
        "binary" => WireFormat::Binary,
        other => {
            return Err(format!(
                "wire {:?} is not grpc, json or binary",
                crate::rest::clip(other)
            ));
        }
    };
    let time: Timestamp = line
        .receive_time
        .parse()
        .map_err(|e| format!("receiveTime: {e}"))?;
    let time = std::time::SystemTime::try_from(time)
        .map_err(|_| "receiveTime: out of range".to_owned())?;
    let binary = |json: &serde_json::Value, response: bool| -> Result<Vec<u8>, String> {
        method.binary_of(&json.to_string(), response)
    };
    let encoded = binary(&line.request, false).map_err(|e| format!("request: {e}"))?;
    let answer = match (line.status.as_str(), line.response, line.error) {
        ("OK", Some(response), None) => Answer::Response(Bytes::from(
            binary(&response, true).map_err(|e| format!("response: {e}"))?,
        )),
        ("PENDING", None, None) => Answer::Pending,
        ("DROPPED", None, None) => Answer::Dropped,
        (status, None, Some(error)) if status == error.code => Answer::Error {
            code: crate::google::rpc::Code::from_str_name(&error.code)
                .ok_or_else(|| format!("error.code {:?} is no code", error.code))?,
            message: error.message,
        },
        (status, ..) => {
            return Err(format!(
                "status {:?} does not go with the answer given",
                crate::rest::clip(status)
            ));
        }
    };
    let latency = match line.latency {
        Some(text) => {
            let duration: crate::google::protobuf::Duration =
                text.parse().map_err(|e| format!("latency: {e}"))?;
            Some(
                std::time::Duration::try_from(duration)
                    .map_err(|_| "latency: negative".to_owned())?,
            )
        }
        None => None,
    };
    Ok(Entry {
        service: line.service.into(),
        method,
        wire,
        time,
        encoded: Bytes::from(encoded),
        answer,
        fault: line.fault.map(|f| f.to_string()),
        caller: line.caller.into(),
        latency,
    })
}
