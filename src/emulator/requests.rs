//! The request log: every Check, AllocateQuota and Report the emulator
//! received, in order, with what it answered (the response or the error),
//! the fault that answered it, the caller and the latency; bounded in bytes
//! (oldest dropped first, and counted).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use super::encoded::decode_stored;
use super::faults::Method;
use crate::google::api::servicecontrol::v1 as sc;
use crate::rest::WireFormat;

/// The service the request log files Apigee's calls under (the Apigee
/// API's own service name): `GET
/// /emulator/v1/services/apigee.googleapis.com/requests` lists them.
pub const APIGEE_SERVICE: &str = "apigee.googleapis.com";

/// What a logged request costs beside its encoding and service name: its
/// entry, twice over for the room the queue of entries grows by.
const ENTRY_OVERHEAD: usize = 2 * std::mem::size_of::<Entry>();
/// The most services whose dropped entries are counted: any name may be
/// called, so the counts are bounded apart from the log.
const MAX_DROPPED_SERVICES: usize = 1024;
/// The most names (services, callers) the log keeps one copy of for all
/// their entries, and the longest; others are copied into each entry.
const MAX_SHARED_NAMES: usize = 1024;
const MAX_SHARED_NAME_BYTES: usize = 256;
/// The size of the chunks the log's encodings are copied into, and the
/// largest encoding copied (a larger one keeps an allocation of its own).
const CHUNK_BYTES: usize = 64 << 10;
const MAX_CHUNKED_BYTES: usize = 16 << 10;

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

/// One request the emulator received, from [`Emulator::requests`](super::shared::Emulator::requests).
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
    pub(super) service: Arc<str>,
    pub(super) method: Method,
    pub(super) wire: WireFormat,
    pub(super) time: SystemTime,
    pub(super) encoded: Bytes,
    pub(super) answer: Answer,
    pub(super) fault: Option<String>,
    pub(super) caller: Arc<str>,
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
            caller: self.caller.to_string(),
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
            serde_json::Value::from(&*self.caller),
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

/// A message encoded for the log: a small one straight into a chunk of
/// [`CHUNK_BYTES`] that the calls before it on this thread share, the entry
/// keeping a slice of it, so that the log holds no allocation per call,
/// nothing is copied, and dropping the oldest entries frees their memory a
/// chunk at a time; one larger than [`MAX_CHUNKED_BYTES`] in an allocation
/// of its own. Encoded without the log's lock, so that calls under way do
/// not wait on each other's encoding. A chunk lives while any of its slices
/// does; as entries leave in about the order they came, that is at most a
/// chunk per thread beyond what the log holds.
pub(super) fn encode_kept<M: Kept + ?Sized>(message: &M) -> Bytes {
    thread_local! {
        static OPEN: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
    }
    let len = message.kept_len();
    if len > MAX_CHUNKED_BYTES {
        let mut own = BytesMut::with_capacity(len);
        message.keep_into(&mut own);
        return own.freeze();
    }
    OPEN.with_borrow_mut(|open| {
        if open.capacity() < len {
            *open = BytesMut::with_capacity(CHUNK_BYTES);
        }
        message.keep_into(open);
        open.split().freeze()
    })
}

/// What the log keeps of a request or an answer: its binary encoding.
pub(super) trait Kept {
    /// The encoding's length.
    fn kept_len(&self) -> usize;
    /// Appends the encoding (`out` has room for it).
    fn keep_into(&self, out: &mut BytesMut);
}

impl<M: prost::Message> Kept for M {
    fn kept_len(&self) -> usize {
        self.encoded_len()
    }

    fn keep_into(&self, out: &mut BytesMut) {
        // Room is there: encoding cannot fail.
        let _ = self.encode(out);
    }
}

/// A message received as its encoding, kept as it came.
pub(super) struct AsReceived<'a>(pub(super) &'a [u8]);

impl Kept for AsReceived<'_> {
    fn kept_len(&self) -> usize {
        self.0.len()
    }

    fn keep_into(&self, out: &mut BytesMut) {
        out.extend_from_slice(self.0);
    }
}

/// The names entries carry (their service, their caller), one copy of each
/// for all the entries that carry it, as far as [`MAX_SHARED_NAMES`] of up
/// to [`MAX_SHARED_NAME_BYTES`] go.
#[derive(Debug, Default)]
struct Names(HashSet<Arc<str>>);

impl Names {
    fn of(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(name) {
            return shared.clone();
        }
        let name: Arc<str> = Arc::from(name);
        if name.len() <= MAX_SHARED_NAME_BYTES && self.0.len() < MAX_SHARED_NAMES {
            self.0.insert(name.clone());
        }
        name
    }
}

/// The log of every service, oldest first.
#[derive(Debug, Default)]
pub(super) struct RequestLog {
    entries: VecDeque<Entry>,
    names: Names,
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
        caller: &str,
        fault: Option<String>,
        max_bytes: usize,
    ) -> Option<u64> {
        let Some(encoded) = encoded else {
            self.count_dropped(service);
            return None;
        };
        let entry = Entry {
            service: self.names.of(service),
            method,
            wire,
            time,
            encoded,
            answer: Answer::Pending,
            fault,
            caller: self.names.of(caller),
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
    pub(super) fn push(&mut self, mut entry: Entry, max_bytes: usize) {
        entry.service = self.names.of(&entry.service);
        entry.caller = self.names.of(&entry.caller);
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

    /// Records the answer to the call logged as `seq` (a response as
    /// encoded), while its entry is still in the log (an answer past the
    /// log's room drops older entries, never this one).
    pub(super) fn answer(
        &mut self,
        seq: u64,
        answer: Result<Bytes, Answer>,
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
        let answer = match answer {
            Ok(response) => Answer::Response(response),
            Err(other) => other,
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

    /// The newest `n` of a service's entries, newest first (sharing their
    /// encodings), and how many it has.
    pub(super) fn newest(&self, service: &str, n: usize) -> (Vec<Entry>, usize) {
        let mut total = 0;
        let mut newest = Vec::new();
        for entry in self.entries.iter().rev().filter(|e| &*e.service == service) {
            total += 1;
            if newest.len() < n {
                newest.push(entry.clone());
            }
        }
        (newest, total)
    }

    /// Whether a service has entries.
    pub(super) fn has(&self, service: &str) -> bool {
        self.entries.iter().any(|e| &*e.service == service)
    }

    /// A service's entries, oldest first (sharing their encodings).
    pub(super) fn of(&self, service: &str) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| &*e.service == service)
            .cloned()
            .collect()
    }

    /// The sequence number the next entry will have.
    pub(super) fn next_seq(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    /// Entries from `seq` on (from the oldest held, when older ones were
    /// dropped), before `end`, oldest first, as many as cost up to
    /// `max_bytes` (at least one): a reader that goes through the log a
    /// batch at a time keeps no more than a batch of it alive when the log
    /// drops entries meanwhile. The sequence number to go on from.
    pub(super) fn batch(&self, seq: u64, end: u64, max_bytes: usize) -> (Vec<Entry>, u64) {
        let start = seq.max(self.first);
        let mut next = start;
        let mut cost = 0;
        let mut batch = Vec::new();
        for entry in self
            .entries
            .iter()
            .skip(usize::try_from(start - self.first).unwrap_or(usize::MAX))
        {
            if next >= end || (!batch.is_empty() && cost + entry.cost() > max_bytes) {
                break;
            }
            cost += entry.cost();
            batch.push(entry.clone());
            next += 1;
        }
        (batch, next)
    }

    /// The dropped counts by service: what a snapshot keeps beside the
    /// entries.
    pub(super) fn dropped_counts(&self) -> Vec<(String, u64)> {
        let mut dropped: Vec<(String, u64)> =
            self.dropped.iter().map(|(s, n)| (s.clone(), *n)).collect();
        dropped.sort();
        dropped
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

#[cfg(test)]
mod tests {
    use super::*;

    fn log_one(log: &mut RequestLog, service: &str, len: usize, max: usize) -> Option<u64> {
        log_bytes(log, service, Bytes::from(vec![7; len]), max)
    }

    fn log_bytes(log: &mut RequestLog, service: &str, encoded: Bytes, max: usize) -> Option<u64> {
        let time = SystemTime::UNIX_EPOCH;
        log.record(
            service,
            Method::Report,
            WireFormat::Grpc,
            time,
            Some(encoded),
            "anonymous",
            None,
            max,
        )
    }

    /// A report whose encoding is `len` bytes (from 3 on).
    fn report_of(len: usize) -> sc::ReportRequest {
        let name_len = len - 1 - prost::length_delimiter_len(len);
        let report = sc::ReportRequest {
            service_name: "s".repeat(name_len),
            ..Default::default()
        };
        assert_eq!(prost::Message::encoded_len(&report), len);
        report
    }

    #[test]
    fn small_encodings_share_a_chunk_and_large_ones_keep_their_own() {
        let mut log = RequestLog::default();
        for len in [100, 200, 2 * MAX_CHUNKED_BYTES] {
            let encoded = encode_kept(&report_of(len));
            assert_eq!(decode_stored::<sc::ReportRequest>(&encoded), report_of(len));
            log_bytes(&mut log, "a.example.com", encoded, usize::MAX);
        }
        let (entries, total) = log.newest("a.example.com", 10);
        assert_eq!(total, 3);
        let (large, second, first) = (&entries[0], &entries[1], &entries[2]);
        // One after the other in the same chunk (the first may have opened
        // it).
        assert_eq!(
            first.encoded.as_ptr().wrapping_add(100),
            second.encoded.as_ptr()
        );
        assert_eq!(large.encoded.len(), 2 * MAX_CHUNKED_BYTES);
        // One copy of the service's name and of the caller's.
        assert!(Arc::ptr_eq(&first.service, &second.service));
        assert!(Arc::ptr_eq(&first.caller, &large.caller));
    }

    #[test]
    fn a_batch_goes_on_from_the_oldest_held_and_stops_at_its_end() {
        let mut log = RequestLog::default();
        let one = cost("s", 1000) + "anonymous".len();
        for _ in 0..10 {
            log_one(&mut log, "s", 1000, 5 * one);
        }
        // Five held (5 to 9), five dropped.
        assert_eq!((log.next_seq(), log.dropped("s")), (10, 5));
        let (batch, next) = log.batch(0, 8, 2 * one);
        assert_eq!((batch.len(), next), (2, 7));
        let (batch, next) = log.batch(next, 8, 2 * one);
        assert_eq!((batch.len(), next), (1, 8));
        let (batch, next) = log.batch(next, 8, 2 * one);
        assert_eq!((batch.len(), next), (0, 8));
        // At least one, whatever its cost.
        assert_eq!(log.batch(5, 10, 1).0.len(), 1);
    }
}
