//! The request log: every Check, AllocateQuota and Report the emulator
//! received, in order, bounded in bytes (oldest dropped first, and counted).

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
}

/// One entry of the log, the request as encoded.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub(super) service: String,
    pub(super) method: Method,
    pub(super) wire: WireFormat,
    pub(super) time: SystemTime,
    pub(super) encoded: Bytes,
}

impl Entry {
    fn cost(&self) -> usize {
        cost(&self.service, self.encoded.len())
    }

    /// The request, decoded again (the emulator encoded it).
    pub(super) fn received(&self) -> ReceivedRequest {
        let bytes = &self.encoded[..];
        let request = match self.method {
            Method::Check => ReceivedMessage::Check(decode_stored(bytes)),
            Method::AllocateQuota => ReceivedMessage::AllocateQuota(decode_stored(bytes)),
            Method::Report => ReceivedMessage::Report(decode_stored(bytes)),
        };
        ReceivedRequest {
            method: self.method,
            wire: self.wire,
            receive_time: self.time,
            request,
        }
    }

    /// `{"method", "wire", "receiveTime", "request"}`, the request in
    /// canonical JSON.
    pub(super) fn to_json(&self) -> Result<Vec<u8>, String> {
        use crate::json::to_vec;
        let request = match self.received().request {
            ReceivedMessage::Check(m) => to_vec(&m),
            ReceivedMessage::AllocateQuota(m) => to_vec(&m),
            ReceivedMessage::Report(m) => to_vec(&m),
        }
        .map_err(|e| e.to_string())?;
        let time = crate::google::protobuf::Timestamp::from(self.time);
        let mut out = format!(
            "{{\"method\":\"{}\",\"wire\":\"{}\",\"receiveTime\":\"{time}\",\"request\":",
            self.method.as_str(),
            self.wire.as_str()
        )
        .into_bytes();
        out.extend_from_slice(&request);
        out.push(b'}');
        Ok(out)
    }
}

/// The log of every service, oldest first.
#[derive(Debug, Default)]
pub(super) struct RequestLog {
    entries: VecDeque<Entry>,
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
    /// dropping the oldest entries until the log fits in `max_bytes`.
    pub(super) fn record(
        &mut self,
        service: &str,
        method: Method,
        wire: WireFormat,
        time: SystemTime,
        encoded: Option<Bytes>,
        max_bytes: usize,
    ) {
        let Some(encoded) = encoded else {
            self.count_dropped(service);
            return;
        };
        let entry = Entry {
            service: service.to_owned(),
            method,
            wire,
            time,
            encoded,
        };
        let cost = entry.cost();
        while self.bytes + cost > max_bytes {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= oldest.cost();
            self.count_dropped(&oldest.service);
        }
        self.bytes += cost;
        self.entries.push_back(entry);
    }

    fn count_dropped(&mut self, service: &str) {
        if let Some(n) = self.dropped.get_mut(service) {
            *n += 1;
        } else if self.dropped.len() < MAX_DROPPED_SERVICES {
            self.dropped.insert(service.to_owned(), 1);
        }
    }

    /// A service's entries, oldest first (sharing their encodings).
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
