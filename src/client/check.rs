//! The Check cache, after `service-control-client-cxx`'s check aggregator:
//!
//! - only `LOW` importance operations are answered from the cache;
//! - an answer is found by the request's [signature](super::signature);
//! - a cached answer is reused; once the flush interval has passed since the
//!   last call for it, the next request goes to the server while the others
//!   keep the cached answer;
//! - answers with `check_errors` are cached too (negative caching); a
//!   failed call never is;
//! - repeat requests of an allowed answer add up their metric values, which
//!   go to the server with the next call for the entry, or on their own when
//!   the entry is evicted, expires or the client shuts down: usage is sent
//!   once, never lost while the server can be reached;
//! - a call that fails while its request is let through (failing open) is
//!   kept whole, operation id and all, and sent again on its own after the
//!   next answer for its entry: a server that had counted it before its
//!   answer was lost knows the retry by its id;
//! - what all entries hold, added up and kept, is bounded in bytes
//!   ([`CheckOptions::max_held_bytes`]); usage past it goes at once on its
//!   own;
//! - an entry unused for the expiration time is dropped; the cache holds at
//!   most a given number of entries, the least recently used evicted first.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hashlink::LruCache;
use prost::Message;
use tokio::time::Instant;

use super::report::{Aggregate, MetricKind};
use super::signature::Signer;
use crate::google::api::servicecontrol::v1::operation::Importance;
use crate::google::api::servicecontrol::v1::{CheckRequest, CheckResponse, Operation};

/// How the Check cache behaves. The defaults are the library's; ESPv2 runs
/// with [`CheckOptions::espv2`].
///
/// ```
/// use std::time::Duration;
/// use cloud_report_proto::client::CheckOptions;
///
/// let options = CheckOptions::default();
/// assert_eq!(options.flush_interval, Duration::from_millis(500));
/// assert_eq!(CheckOptions::espv2().expiration, Duration::from_secs(3600));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckOptions {
    /// The most answers held; 0 turns the cache off (every Check goes to the
    /// server).
    pub entries: usize,
    /// How long an answer is reused before the next request for it goes to
    /// the server.
    pub flush_interval: Duration,
    /// How long an unused answer is kept; at least the flush interval.
    pub expiration: Duration,
    /// The most bytes of usage all entries hold at once (each operation
    /// counted by its encoded length as it joins); usage that would pass
    /// it is sent at once on its own instead of being held.
    pub max_held_bytes: usize,
}

/// The default of [`CheckOptions::max_held_bytes`]: 64 MiB.
const DEFAULT_MAX_HELD_BYTES: usize = 64 << 20;

impl Default for CheckOptions {
    /// 10,000 entries, flushed after 500 ms, expired after 1 s, holding at
    /// most 64 MiB of usage.
    fn default() -> Self {
        Self {
            entries: 10_000,
            flush_interval: Duration::from_millis(500),
            expiration: Duration::from_secs(1),
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
        }
    }
}

impl CheckOptions {
    /// ESPv2's: 10,000 entries, flushed after 5 minutes, expired after an
    /// hour (safe because Check answers change slowly); at most 64 MiB of
    /// usage held (ESPv2 sends no usage in Check).
    pub fn espv2() -> Self {
        Self {
            entries: 10_000,
            flush_interval: Duration::from_secs(300),
            expiration: Duration::from_secs(3600),
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
        }
    }

    /// Turns the cache off.
    pub fn disabled() -> Self {
        Self {
            entries: 0,
            ..Self::default()
        }
    }
}

/// A cached answer.
struct Entry {
    answer: Arc<CheckResponse>,
    /// When a call for it last went to the server.
    last_call: Instant,
    /// When a request last used it.
    last_use: Instant,
    /// Usage of the requests it answered since the last call, not yet sent.
    pending: Option<Aggregate>,
    /// The bytes `pending` counts against the held bound.
    pending_bytes: usize,
    /// Calls that failed while their request was let through, each kept
    /// as it was sent, to send again after the next answer.
    unsent: Vec<Operation>,
    /// The bytes `unsent` counts against the held bound.
    unsent_bytes: usize,
}

impl Entry {
    fn new(answer: Arc<CheckResponse>, now: Instant) -> Self {
        Self {
            answer,
            last_call: now,
            last_use: now,
            pending: None,
            pending_bytes: 0,
            unsent: Vec::new(),
            unsent_bytes: 0,
        }
    }
}

/// The entries, the usage whose entry is gone, and the bytes of usage they
/// hold in all.
struct Entries {
    lru: LruCache<u128, Entry>,
    /// Calls to send again whose entry is gone (expired, evicted), or whose
    /// own send failed: sent again at every tick until delivered.
    orphans: Vec<Operation>,
    held: usize,
}

impl Entries {
    /// The calls kept without an entry, out of the bound.
    fn take_orphans(&mut self) -> Vec<Aggregate> {
        let orphans = std::mem::take(&mut self.orphans);
        for op in &orphans {
            self.held -= op.encoded_len();
        }
        orphans.into_iter().map(Aggregate::new).collect()
    }

    /// Everything a leaving entry holds, out of the bound: its calls to
    /// send again, then its waiting usage.
    fn release(&mut self, entry: Entry) -> Vec<Aggregate> {
        self.held -= entry.pending_bytes + entry.unsent_bytes;
        entry
            .unsent
            .into_iter()
            .map(Aggregate::new)
            .chain(entry.pending)
            .collect()
    }
}

/// What the cache says about a request.
pub(crate) enum Lookup {
    /// Answered from the cache.
    Hit(Arc<CheckResponse>),
    /// Ask the server: no answer is cached, or it is time to refresh it.
    Call(Box<Call>),
    /// Another request is asking the server for the same key: wait for its
    /// landing, then look up again (or fail as it failed).
    Wait(Flight),
}

/// How a call for a key ended, as the requests waiting on it hear: its
/// failure, or `None` for an answer (now cached) or a call given up (one
/// of the waiters asks again).
pub(crate) type Landing = Option<tonic::Status>;

/// A call others wait on: they hear its landing.
pub(crate) type Flight = tokio::sync::watch::Receiver<Option<Landing>>;

/// A Check to send for a request.
pub(crate) struct Call {
    /// The request to send: the operation, with the usage waiting merged in.
    pub(crate) request: CheckRequest,
    /// The key to store the answer under (`None`: do not cache it).
    pub(crate) key: Option<u128>,
    /// The usage of earlier requests the call carries, to keep for the next
    /// call if this one fails.
    pub(crate) earlier: Option<Operation>,
    /// Whether requests of the key wait for this call (a miss of a key not
    /// cached, which registered its flight): only such a call lands one.
    pub(crate) flight: bool,
}

/// The cache of Check answers; see the module documentation.
pub(crate) struct CheckCache {
    options: CheckOptions,
    /// The service and configuration id the usage requests are sent for.
    service: (String, String),
    signer: Signer,
    metric_kinds: Arc<BTreeMap<String, MetricKind>>,
    entries: Mutex<Entries>,
    /// The calls under way for keys not cached yet, by key: concurrent
    /// misses of one key share one call (cxx and ESPv2 send each). Locked
    /// after `entries`, never before.
    flights: Mutex<HashMap<u128, tokio::sync::watch::Sender<Option<Landing>>>>,
}

/// The largest aggregated operation: the `ReportRequest` limit, as a Check
/// carries one operation.
const MAX_AGGREGATE_BYTES: usize = 1_000_000;

impl CheckCache {
    pub(crate) fn new(
        options: CheckOptions,
        metric_kinds: Arc<BTreeMap<String, MetricKind>>,
        service: (String, String),
    ) -> Self {
        Self {
            service,
            entries: Mutex::new(Entries {
                lru: LruCache::new(options.entries.max(1)),
                orphans: Vec::new(),
                held: 0,
            }),
            flights: Mutex::new(HashMap::new()),
            options,
            signer: Signer::default(),
            metric_kinds,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Every update is whole before anything can panic.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks a request up at `now`. Usage that could not join an entry's
    /// waiting usage is returned to be sent on its own.
    pub(crate) fn lookup(
        &self,
        request: &CheckRequest,
        now: Instant,
    ) -> (Lookup, Option<CheckRequest>) {
        let call = |key, flight| {
            Lookup::Call(Box::new(Call {
                request: request.clone(),
                key,
                earlier: None,
                flight,
            }))
        };
        let Some(operation) = request.operation.as_ref() else {
            return (call(None, false), None);
        };
        if self.options.entries == 0 || operation.importance != Importance::Low as i32 {
            return (call(None, false), None);
        }
        let key = self.signer.check(request);
        let mut guard = self.entries();
        let entries = &mut *guard;
        let Some(entry) = entries.lru.get_mut(&key) else {
            // A cold key: the first miss calls, the others wait for it.
            let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(flight) = flights.get(&key) {
                return (Lookup::Wait(flight.subscribe()), None);
            }
            flights.insert(key, tokio::sync::watch::channel(None).0);
            return (call(Some(key), true), None);
        };
        entry.last_use = now;
        let due = now.saturating_duration_since(entry.last_call) >= self.options.flush_interval;
        if !entry.answer.check_errors.is_empty() {
            // Denied: the cached denial, until it is time to ask again.
            if !due {
                return (Lookup::Hit(entry.answer.clone()), None);
            }
            entry.last_call = now;
            return (call(Some(key), false), None);
        }
        if !due {
            let overflow = if operation.metric_value_sets.is_empty() {
                None
            } else {
                self.add_usage(&mut entries.held, entry, operation)
                    .map(|usage| self.usage_request(usage))
            };
            return (Lookup::Hit(entry.answer.clone()), overflow);
        }
        // The first request after the flush interval goes to the server,
        // carrying the usage waiting; the others keep the cached answer
        // meanwhile.
        entry.last_call = now;
        entries.held -= std::mem::take(&mut entry.pending_bytes);
        let mut earlier = entry.pending.take().map(Aggregate::into_operation);
        let mut sent = Aggregate::new(operation.clone());
        let mut overflow = None;
        if let Some(usage) = &earlier {
            let len = usage.encoded_len();
            if !(sent.fits(len, MAX_AGGREGATE_BYTES) && sent.merge(usage, len, &self.metric_kinds))
            {
                // It cannot join the call: it goes on its own.
                overflow = earlier
                    .take()
                    .map(|u| self.usage_request(Aggregate::new(u)));
            }
        }
        let request = CheckRequest {
            service_name: request.service_name.clone(),
            operation: Some(sent.into_operation()),
            service_config_id: request.service_config_id.clone(),
            ..Default::default()
        };
        let call = Call {
            request,
            key: Some(key),
            earlier,
            flight: false,
        };
        (Lookup::Call(Box::new(call)), overflow)
    }

    /// Adds an operation's usage to an entry's, within the bound of bytes
    /// held (`held`, all entries'). Usage handed back is to send on its own:
    /// the operation itself when holding it would pass the bound, or the
    /// usage waiting before when the operation cannot join it.
    fn add_usage(
        &self,
        held: &mut usize,
        entry: &mut Entry,
        operation: &Operation,
    ) -> Option<Aggregate> {
        let len = operation.encoded_len();
        if held.saturating_add(len) > self.options.max_held_bytes {
            return Some(Aggregate::new(operation.clone()));
        }
        *held += len;
        let Some(pending) = entry.pending.as_mut() else {
            entry.pending = Some(Aggregate::new(operation.clone()));
            entry.pending_bytes = len;
            return None;
        };
        if pending.fits(len, MAX_AGGREGATE_BYTES)
            && pending.merge(operation, len, &self.metric_kinds)
        {
            entry.pending_bytes += len;
            return None;
        }
        *held -= std::mem::replace(&mut entry.pending_bytes, len);
        entry.pending.replace(Aggregate::new(operation.clone()))
    }

    /// Tells the requests waiting on a call for `key` how it landed, and
    /// lets the next miss call again. Nothing when no one waits.
    pub(crate) fn land(&self, key: u128, landing: Landing) {
        let flight = self
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        if let Some(flight) = flight {
            flight.send_replace(Some(landing));
        }
    }

    /// Keeps a call owed whole (it failed, or was dropped, while its request
    /// was let through; or its own send failed), operation id and all, to
    /// send again on its own: after the next answer for its entry, or at the
    /// next tick when it has no entry (`key` `None`, or the entry gone).
    /// Handed back, to send now or count as undelivered, when the bound of
    /// bytes held is reached.
    pub(crate) fn keep_unsent(
        &self,
        key: Option<u128>,
        operation: Operation,
    ) -> Option<CheckRequest> {
        if operation.metric_value_sets.is_empty() {
            return None;
        }
        let mut guard = self.entries();
        let entries = &mut *guard;
        let len = operation.encoded_len();
        if entries.held.saturating_add(len) > self.options.max_held_bytes {
            return Some(self.usage_request(Aggregate::new(operation)));
        }
        entries.held += len;
        match key.and_then(|key| entries.lru.get_mut(&key)) {
            Some(entry) => {
                entry.unsent_bytes += len;
                entry.unsent.push(operation);
            }
            None => entries.orphans.push(operation),
        }
        None
    }

    /// Usage to send on its own (no entry to keep it in).
    pub(crate) fn restore_unkeyed(&self, operation: Operation) -> Option<CheckRequest> {
        (!operation.metric_value_sets.is_empty())
            .then(|| self.usage_request(Aggregate::new(operation)))
    }

    /// Caches the server's answer to a request looked up under `key`. What
    /// to send now comes back: the calls of the entry kept to send again
    /// (the server answers), and the usage of an entry evicted to make room.
    pub(crate) fn store(
        &self,
        key: u128,
        answer: Arc<CheckResponse>,
        now: Instant,
    ) -> Vec<CheckRequest> {
        let mut guard = self.entries();
        let entries = &mut *guard;
        if let Some(entry) = entries.lru.get_mut(&key) {
            entry.answer = answer;
            entry.last_call = entry.last_call.max(now);
            entries.held -= std::mem::take(&mut entry.unsent_bytes);
            let unsent = std::mem::take(&mut entry.unsent);
            return unsent
                .into_iter()
                .map(|op| self.usage_request(Aggregate::new(op)))
                .collect();
        }
        let evicted = if entries.lru.len() >= self.options.entries {
            entries
                .lru
                .remove_lru()
                .map_or_else(Vec::new, |(_, e)| entries.release(e))
        } else {
            Vec::new()
        };
        entries.lru.insert(key, Entry::new(answer, now));
        evicted
            .into_iter()
            .map(|usage| self.usage_request(usage))
            .collect()
    }

    /// Drops the entries unused for the expiration time; what they held,
    /// and the calls kept without an entry, to send.
    pub(crate) fn expire(&self, now: Instant) -> Vec<CheckRequest> {
        let expiration = self.options.expiration.max(self.options.flush_interval);
        let mut entries = self.entries();
        let mut usage = entries.take_orphans();
        while let Some((_, entry)) = entries.lru.iter().next() {
            if now.saturating_duration_since(entry.last_use) < expiration {
                break;
            }
            if let Some((_, entry)) = entries.lru.remove_lru() {
                usage.extend(entries.release(entry));
            }
        }
        usage
            .into_iter()
            .map(|usage| self.usage_request(usage))
            .collect()
    }

    /// Empties the cache; what it held, to send.
    pub(crate) fn drain(&self) -> Vec<CheckRequest> {
        let mut entries = self.entries();
        let mut usage = entries.take_orphans();
        while let Some((_, entry)) = entries.lru.remove_lru() {
            usage.extend(entries.release(entry));
        }
        usage
            .into_iter()
            .map(|usage| self.usage_request(usage))
            .collect()
    }

    /// How many answers are held.
    pub(crate) fn len(&self) -> usize {
        self.entries().lru.len()
    }

    /// How many bytes of usage the entries hold.
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.entries().held
    }

    /// A Check carrying waiting usage.
    fn usage_request(&self, usage: Aggregate) -> CheckRequest {
        CheckRequest {
            service_name: self.service.0.clone(),
            service_config_id: self.service.1.clone(),
            operation: Some(usage.into_operation()),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::google::api::servicecontrol::v1::{MetricValue, MetricValueSet, metric_value};

    fn request(consumer: &str, n: i64) -> CheckRequest {
        CheckRequest {
            operation: Some(Operation {
                operation_id: format!("op-{n}"),
                operation_name: "m".into(),
                consumer_id: consumer.into(),
                importance: Importance::Low as i32,
                metric_value_sets: vec![MetricValueSet {
                    metric_name: "calls".into(),
                    metric_values: vec![MetricValue {
                        value: Some(metric_value::Value::Int64Value(n)),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The bytes held come back to zero whichever way the usage leaves: a
    /// call, a failure kept and sent again, eviction, expiry, drain.
    #[test]
    fn held_bytes_are_accounted_both_ways() {
        let options = CheckOptions {
            entries: 2,
            ..CheckOptions::default()
        };
        let cache = CheckCache::new(options, Arc::default(), Default::default());
        let now = Instant::now();
        let mut keys = Vec::new();
        for consumer in ["a", "b"] {
            let (Lookup::Call(call), _) = cache.lookup(&request(consumer, 1), now) else {
                panic!("a miss calls");
            };
            let key = call.key.unwrap();
            assert!(cache.store(key, Arc::default(), now).is_empty());
            keys.push(key);
        }
        for n in 0..5 {
            let (lookup, overflow) = cache.lookup(&request(["a", "b"][n % 2], 1), now);
            assert!(matches!(lookup, Lookup::Hit(_)) && overflow.is_none());
        }
        assert!(cache.held_bytes() > 0);
        // Due: the call takes the waiting usage out.
        let later = now + Duration::from_millis(600);
        let (Lookup::Call(call), _) = cache.lookup(&request("a", 1), later) else {
            panic!("due");
        };
        let held = cache.held_bytes();
        let sent = call.request.operation.unwrap();
        assert!(cache.keep_unsent(call.key, sent).is_none());
        assert!(cache.held_bytes() > held);
        assert_eq!(cache.store(keys[0], Arc::default(), later).len(), 1);
        assert_eq!(cache.held_bytes(), held);
        // A third consumer evicts the least recently used, its usage out.
        let (Lookup::Call(call), _) = cache.lookup(&request("c", 1), later) else {
            panic!("a miss calls");
        };
        assert_eq!(
            cache.store(call.key.unwrap(), Arc::default(), later).len(),
            1
        );
        let (lookup, _) = cache.lookup(&request("c", 2), later);
        assert!(matches!(lookup, Lookup::Hit(_)));
        assert!(cache.held_bytes() > 0);
        assert!(!cache.expire(later + Duration::from_secs(5)).is_empty());
        assert_eq!(cache.held_bytes(), 0);
        assert_eq!(cache.len(), 0);
        assert!(cache.drain().is_empty());
    }
}
