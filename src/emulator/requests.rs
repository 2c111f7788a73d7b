//! The request log: every Check, AllocateQuota and Report the emulator
//! received, in order, with what it answered (the response or the error),
//! the fault that answered it, the caller and the latency; bounded in bytes
//! (oldest dropped first, and counted).

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use bytes::Bytes;

use super::faults::Method;
use super::store::decode_stored;
use crate::google::api::servicecontrol::v1 as sc;
use crate::rest::WireFormat;

/// What a logged request costs beside its encoding and service name.
const ENTRY_OVERHEAD: usize = 64;
/// The most services whose dropped entries are counted: any name may be
/// called, so the counts are bounded apart from the log.
const MAX_DROPPED_SERVICES: usize = 1024;

/// What an entry costs: its encoding, its service's name, and the fixed
/// cost of an entry.
fn cost(service: &str, encoded_len: usize) -> usize {
    service.len() + encoded_len + ENTRY_OVERHEAD
}

/// A request as it was received.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ReceivedMessage {
    /// A `services.check` request.
    Check(sc::CheckRequest),
    /// A `services.allocateQuota` request.
    AllocateQuota(sc::AllocateQuotaRequest),
    /// A `services.report` request.
    Report(sc::ReportRequest),
    /// An Apigee `instances.reportStatus` request.
    ReportInstanceStatus(crate::google::cloud::apigee::v1::ReportInstanceStatusRequest),
    /// An Apigee `generateDeployChangeReport` request.
    GenerateDeployChangeReport(crate::google::cloud::apigee::v1::GenerateDeployChangeReportRequest),
    /// An Apigee `generateUndeployChangeReport` request.
    GenerateUndeployChangeReport(
        crate::google::cloud::apigee::v1::GenerateUndeployChangeReportRequest,
    ),
}

impl ReceivedMessage {
    /// The consumer the request names: a Check's or AllocateQuota's
    /// operation's, a report's first operation's; none for Apigee's calls.
    pub fn consumer(&self) -> &str {
        match self {
            Self::Check(m) => m.operation.as_ref().map_or("", |o| &o.consumer_id),
            Self::AllocateQuota(m) => m.allocate_operation.as_ref().map_or("", |o| &o.consumer_id),
            Self::Report(m) => m.operations.first().map_or("", |o| &o.consumer_id),
            Self::ReportInstanceStatus(_)
            | Self::GenerateDeployChangeReport(_)
            | Self::GenerateUndeployChangeReport(_) => "",
        }
    }
}

/// One request the emulator received, from [`Emulator::requests`](super::Emulator::requests).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReceivedRequest {
    /// The method called.
    pub method: Method,
    /// How the call arrived.
    pub wire: WireFormat,
    /// When, by the emulator's clock.
    pub receive_time: SystemTime,
    /// The request message.
    pub request: ReceivedMessage,
    /// What the emulator answered.
    pub answer: Answer,
    /// The fault that answered or delayed the call, in its JSON form.
    pub fault: Option<String>,
    /// Who called: `serviceAccount:<email>` for a service account's
    /// self-signed token, `token` for the required fixed token (never the
    /// token itself), `anonymous` for none.
    pub caller: String,
    /// From receiving the call to answering it; `None` while unanswered.
    pub latency: Option<std::time::Duration>,
}

/// What the emulator answered a logged call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Answer {
    /// Not yet: the call is under way.
    Pending,
    /// A response, encoded (decode it as the method's response type).
    Response(Bytes),
    /// An error.
    Error {
        /// Its code.
        code: crate::google::rpc::Code,
        /// Its message.
        message: String,
    },
    /// None: the caller went away (or the call was cut) before the answer.
    Dropped,
}

/// One entry of the log, the request as encoded.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub(super) service: String,
    pub(super) method: Method,
    pub(super) wire: WireFormat,
    pub(super) time: SystemTime,
    pub(super) encoded: Bytes,
    pub(super) answer: Answer,
    pub(super) fault: Option<String>,
    pub(super) caller: String,
    pub(super) latency: Option<std::time::Duration>,
}

impl Entry {
    fn cost(&self) -> usize {
        let answer = match &self.answer {
            Answer::Response(bytes) => bytes.len(),
            Answer::Error { message, .. } => message.len(),
            Answer::Pending | Answer::Dropped => 0,
        };
        cost(&self.service, self.encoded.len())
            + answer
            + self.fault.as_ref().map_or(0, String::len)
            + self.caller.len()
    }

    /// The consumer the request names (a report's first operation's).
    pub(super) fn consumer(&self) -> String {
        self.received().request.consumer().to_owned()
    }

    /// The answer's status name: `OK`, an error's code name, `PENDING` or
    /// `DROPPED`.
    pub(super) fn status(&self) -> &'static str {
        match &self.answer {
            Answer::Response(_) => "OK",
            Answer::Error { code, .. } => code.as_str_name(),
            Answer::Pending => "PENDING",
            Answer::Dropped => "DROPPED",
        }
    }

    /// The request, decoded again (the emulator encoded it).
    pub(super) fn received(&self) -> ReceivedRequest {
        let bytes = &self.encoded[..];
        let request = match self.method {
            Method::Check => ReceivedMessage::Check(decode_stored(bytes)),
            Method::AllocateQuota => ReceivedMessage::AllocateQuota(decode_stored(bytes)),
            Method::Report => ReceivedMessage::Report(decode_stored(bytes)),
            Method::ReportInstanceStatus => {
                ReceivedMessage::ReportInstanceStatus(decode_stored(bytes))
            }
            Method::GenerateDeployChangeReport => {
                ReceivedMessage::GenerateDeployChangeReport(decode_stored(bytes))
            }
            Method::GenerateUndeployChangeReport => {
                ReceivedMessage::GenerateUndeployChangeReport(decode_stored(bytes))
            }
        };
        ReceivedRequest {
            method: self.method,
            wire: self.wire,
            receive_time: self.time,
            request,
            answer: self.answer.clone(),
            fault: self.fault.clone(),
            caller: self.caller.clone(),
            latency: self.latency,
        }
    }

    /// `{"method", "wire", "receiveTime", "request", "caller", "status",
    /// "latency", "fault", "response" or "error"}`, the messages in
    /// canonical JSON; `latency` and the answer absent while the call is
    /// under way, `fault` when none applied.
    pub(super) fn to_json(&self) -> Result<Vec<u8>, String> {
        let request = self.method.json_of(&self.encoded, false)?;
        let mut tail = format!(
            ",\"caller\":{},\"status\":\"{}\"",
            serde_json::Value::from(self.caller.as_str()),
            self.status()
        );
        if let Some(latency) = self.latency {
            let latency = crate::google::protobuf::Duration::try_from(latency).unwrap_or_default();
            tail.push_str(&format!(",\"latency\":\"{latency}\""));
        }
        if let Some(fault) = &self.fault {
            tail.push_str(",\"fault\":");
            tail.push_str(fault);
        }
        match &self.answer {
            Answer::Response(bytes) => {
                let response = self.method.json_of(bytes, true)?;
                tail.push_str(",\"response\":");
                tail.push_str(&String::from_utf8_lossy(&response));
            }
            Answer::Error { code, message } => {
                tail.push_str(&format!(
                    ",\"error\":{{\"code\":\"{}\",\"message\":{}}}",
                    code.as_str_name(),
                    serde_json::Value::from(message.as_str())
                ));
            }
            Answer::Pending | Answer::Dropped => {}
        }
        let time = crate::google::protobuf::Timestamp::from(self.time);
        let mut out = format!(
            "{{\"method\":\"{}\",\"wire\":\"{}\",\"receiveTime\":\"{time}\",\"request\":",
            self.method.as_str(),
            self.wire.as_str()
        )
        .into_bytes();
        out.extend_from_slice(&request);
        out.extend_from_slice(tail.as_bytes());
        out.push(b'}');
        Ok(out)
    }
}

/// The log of every service, oldest first.
#[derive(Debug, Default)]
pub(super) struct RequestLog {
    entries: VecDeque<Entry>,
    /// The sequence number of the first entry (each entry's is its place
    /// since the log began).
    first: u64,
    bytes: usize,
    /// Entries dropped for room, by service.
    dropped: HashMap<String, u64>,
}

impl RequestLog {
    /// Whether a request of `encoded_len` bytes for `service` can be held
    /// in a log of `max_bytes` (so whether to encode it at all).
    pub(super) fn fits(service: &str, encoded_len: usize, max_bytes: usize) -> bool {
        cost(service, encoded_len) <= max_bytes
    }

    /// Logs a request (`None`: one too large to hold, counted as dropped),
    /// dropping the oldest entries until the log fits in `max_bytes`; its
    /// sequence number, to record the answer by.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record(
        &mut self,
        service: &str,
        method: Method,
        wire: WireFormat,
        time: SystemTime,
        encoded: Option<Bytes>,
        caller: String,
        fault: Option<String>,
        max_bytes: usize,
    ) -> Option<u64> {
        let Some(encoded) = encoded else {
            self.count_dropped(service);
            return None;
        };
        let entry = Entry {
            service: service.to_owned(),
            method,
            wire,
            time,
            encoded,
            answer: Answer::Pending,
            fault,
            caller,
            latency: None,
        };
        self.push(entry, max_bytes);
        Some(self.first + self.entries.len() as u64 - 1)
    }

    /// Empties the log and its dropped counts, numbering on.
    pub(super) fn clear(&mut self) {
        self.first += self.entries.len() as u64;
        self.entries.clear();
        self.bytes = 0;
        self.dropped.clear();
    }

    /// Adds a whole entry (one restored from a snapshot).
    pub(super) fn push(&mut self, entry: Entry, max_bytes: usize) {
        let cost = entry.cost();
        self.make_room(cost, max_bytes);
        self.bytes += cost;
        self.entries.push_back(entry);
    }

    fn make_room(&mut self, cost: usize, max_bytes: usize) {
        while self.bytes + cost > max_bytes {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.first += 1;
            self.bytes -= oldest.cost();
            self.count_dropped(&oldest.service);
        }
    }

    /// Records the answer to the call logged as `seq`, while its entry is
    /// still in the log (an answer past the log's room drops older
    /// entries, never this one).
    pub(super) fn answer(
        &mut self,
        seq: u64,
        answer: Answer,
        latency: std::time::Duration,
        max_bytes: usize,
    ) {
        let Some(index) = seq
            .checked_sub(self.first)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        let Some(entry) = self.entries.get_mut(index) else {
            return;
        };
        // In place: the entry's cost before and after.
        let before = entry.cost();
        entry.answer = answer;
        entry.latency = Some(latency);
        let after = entry.cost();
        self.bytes = self.bytes - before + after;
        // Room for what the answer added, from older entries only.
        while self.bytes > max_bytes && self.first < seq {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.first += 1;
            self.bytes -= oldest.cost();
            self.count_dropped(&oldest.service);
        }
    }
    fn count_dropped(&mut self, service: &str) {
        if let Some(n) = self.dropped.get_mut(service) {
            *n += 1;
        } else if self.dropped.len() < MAX_DROPPED_SERVICES {
            self.dropped.insert(service.to_owned(), 1);
        }
    }

    /// A service's entries, oldest first (sharing their encodings).
    /// Whether a service has entries.
    pub(super) fn has(&self, service: &str) -> bool {
        self.entries.iter().any(|e| e.service == service)
    }

    pub(super) fn of(&self, service: &str) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.service == service)
            .cloned()
            .collect()
    }

    /// Every entry, oldest first, with its service, and the dropped
    /// counts by service: what a snapshot keeps.
    pub(super) fn all(&self) -> (Vec<Entry>, Vec<(String, u64)>) {
        let mut dropped: Vec<(String, u64)> =
            self.dropped.iter().map(|(s, n)| (s.clone(), *n)).collect();
        dropped.sort();
        (self.entries.iter().cloned().collect(), dropped)
    }

    /// Sets a service's dropped count (a snapshot restored).
    pub(super) fn set_dropped(&mut self, service: &str, n: u64) {
        if n > 0
            && (self.dropped.contains_key(service) || self.dropped.len() < MAX_DROPPED_SERVICES)
        {
            self.dropped.insert(service.to_owned(), n);
        }
    }

    /// What the log holds, as `max_request_log_bytes` counts it.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many of a service's entries were dropped for room.
    pub(super) fn dropped(&self, service: &str) -> u64 {
        self.dropped.get(service).copied().unwrap_or(0)
    }
}
