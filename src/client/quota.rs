//! The quota cache, after `service-control-client-cxx`'s quota aggregator,
//! which ESPv2 runs:
//!
//! - an ask is found by the request's [signature](super::signature)
//!   (method, consumer, metric names);
//! - a miss is answered at once with a positive (optimistic) answer while the
//!   real call, carrying the ask's own costs, runs; asks meanwhile join it;
//! - while the cached answer is positive, costs add up and are sent every
//!   refresh interval, as [`QuotaRefresh`] says: by default in the mode of
//!   the entry's first ask (`NORMAL` from ESPv2), a denial being an answer
//!   with `allocate_errors`;
//! - while it is negative, asks get the cached denial without counting;
//!   once the refresh interval has passed, the next ask is sent again in
//!   `NORMAL` mode in the background (a probe) and gets the cached denial
//!   meanwhile, as cxx does: no ask ever waits once its key is cached. A
//!   probe granted is charged the costs of the ask it carried, which the
//!   asks after it are then let through without adding again (their
//!   `credit`), so that the server counts what went through once;
//! - costs of asks let through whose call failed are kept whole, operation
//!   id and all, and sent again as they were before any new costs: a server
//!   that had counted them before the failure (an answer lost to a timeout)
//!   recognizes the retry by its id and counts them once;
//! - an entry not refreshed for the expiration time is dropped, its costs
//!   sent first, and the least recently used one is evicted, its costs sent,
//!   when the cache is full.
//!
//! An ask without `quota_metrics` (costs left to the server's metric rules),
//! or one that charges nothing (`CHECK_ONLY`, `QUERY_ONLY`), cannot be added
//! up and always goes to the server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hashlink::LruCache;
use tokio::time::Instant;

use super::signature::Signer;
use crate::google::api::servicecontrol::v1::metric_value::Value;
use crate::google::api::servicecontrol::v1::quota_operation::QuotaMode;
use crate::google::api::servicecontrol::v1::{
    AllocateQuotaRequest, AllocateQuotaResponse, MetricValue, MetricValueSet, QUOTA_EXCEEDED,
    QUOTA_NAME_LABEL, QuotaOperation,
};

/// How the quota cache behaves; the defaults are the library's and ESPv2's.
///
/// ```
/// use std::time::Duration;
/// use cloud_report_proto::client::{QuotaOptions, QuotaRefresh};
///
/// let options = QuotaOptions::default();
/// assert_eq!(options.refresh_interval, Duration::from_secs(1));
/// assert_eq!(options.refresh, QuotaRefresh::AsAsked);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaOptions {
    /// The most asks held; 0 turns the cache off (every ask goes to the
    /// server and waits).
    pub entries: usize,
    /// How often added-up costs are sent, and a denial asked again.
    pub refresh_interval: Duration,
    /// How long an entry is kept without a refresh.
    pub expiration: Duration,
    /// In which mode added-up costs are sent, and how a limit reached is
    /// learned.
    pub refresh: QuotaRefresh,
}

/// How the quota cache sends the costs it added up, and learns that a
/// limit was reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaRefresh {
    /// In the mode of the entry's first ask (ESPv2 asks in `NORMAL`), as
    /// service-control-client-cxx sends them; an answer with
    /// `allocate_errors` is a denial, and the costs it refused are not
    /// charged (they were let through already; `NORMAL` charges all or
    /// nothing). ESPv2's scheme, relying only on documented behaviour.
    #[default]
    AsAsked,
    /// In `BEST_EFFORT` mode, which charges what is left of a limit: the
    /// server counts as much of the usage let through as it can. A limit
    /// reached is learned from `allocate_errors` or from a
    /// `serviceruntime.googleapis.com/quota/exceeded` metric set to true in
    /// the answer, which then denies with a RESOURCE_EXHAUSTED error per
    /// such metric. It relies on the server reporting exhaustion of a
    /// `BEST_EFFORT` ask in one of these ways; Google documents neither for
    /// this mode (the emulator does both), and without them quota is never
    /// enforced after a key's first ask.
    BestEffort,
}

impl Default for QuotaOptions {
    /// 10,000 entries, refreshed every second as asked, expired after 10
    /// minutes.
    fn default() -> Self {
        Self {
            entries: 10_000,
            refresh_interval: Duration::from_secs(1),
            expiration: Duration::from_secs(600),
            refresh: QuotaRefresh::AsAsked,
        }
    }
}

impl QuotaOptions {
    /// Turns the cache off.
    pub fn disabled() -> Self {
        Self {
            entries: 0,
            ..Self::default()
        }
    }
}

/// A cached answer to an ask.
struct Entry {
    answer: Arc<AllocateQuotaResponse>,
    /// Whether the answer lets asks through.
    positive: bool,
    /// A call failure that denies asks until the next refresh (failing
    /// closed, or an error of the service other than the network's).
    failure: Option<tonic::Status>,
    /// A call for the entry is under way.
    in_flight: bool,
    last_refresh: Instant,
    /// The first ask's operation, without its costs: what refreshes send.
    template: QuotaOperation,
    /// Costs let through and not yet sent, by metric.
    pending: BTreeMap<String, i64>,
    /// Which entry of its key it is (see [`Slot`]).
    generation: u64,
    /// Costs let through whose call failed, each as it was sent (its
    /// operation id kept), to send again before new costs.
    unsent: Vec<QuotaOperation>,
    /// The call in flight is a probe of a denial: its costs were not let
    /// through (the ask got the cached denial).
    probing: bool,
    /// Costs a granted probe was charged for, by metric: the asks let
    /// through after it use them up before adding costs of their own.
    credit: BTreeMap<String, i64>,
}

impl Entry {
    /// The entry as a call for it finds it.
    fn slot(&self, key: u128) -> Slot {
        Slot {
            key,
            generation: self.generation,
        }
    }
}

/// What the cache says about an ask.
pub(crate) enum Lookup {
    /// Answered now (from the cache, or optimistically on a miss), with a
    /// call to make meanwhile when one is due.
    Answer {
        answer: Arc<AllocateQuotaResponse>,
        optimistic: bool,
        refresh: Option<Refresh>,
    },
    /// Denied by a cached failure (failing closed), with a probe to send
    /// meanwhile when one is due.
    Failed {
        failure: tonic::Status,
        refresh: Option<Refresh>,
    },
    /// Ask the server and wait: the cache is off, or the ask cannot be
    /// added up.
    Call(AllocateQuotaRequest),
}

/// A call the cache wants made, and the entry to store its answer in.
pub(crate) struct Refresh {
    pub(crate) key: Slot,
    pub(crate) request: AllocateQuotaRequest,
    /// A probe of a denial: its costs were not let through, and are never
    /// kept to send again.
    pub(crate) probe: bool,
}

/// An entry as a call for it found it: its key, and which entry of that key
/// (one dropped and made again under the same key is another, and the
/// answer of a call for the first must not land in the second).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    key: u128,
    generation: u64,
}

impl Slot {
    /// No entry: an ask outside the cache.
    pub(crate) const NONE: Slot = Slot {
        key: 0,
        generation: 0,
    };
}

/// How a call for an entry ended, to [`QuotaCache::store`].
pub(crate) enum Outcome {
    /// The server's answer.
    Answered(Arc<AllocateQuotaResponse>),
    /// The call failed. `deny` is the failure that denies asks until the
    /// next refresh (failing closed), or `None` to let them through (failing
    /// open); `let_through` says whether the costs it carried were let
    /// through, and so are to be sent again.
    Failed {
        deny: Option<tonic::Status>,
        let_through: bool,
    },
    /// The call was never made (no room to send it): its costs wait, as
    /// they were, for the next refresh; the answer is unchanged.
    NotSent,
}

/// The quota cache; see the module documentation.
pub(crate) struct QuotaCache {
    options: QuotaOptions,
    signer: Signer,
    entries: Mutex<LruCache<u128, Entry>>,
    /// The generation of the next entry made (from 1: 0 is no entry).
    generations: std::sync::atomic::AtomicU64,
    /// Costs let through whose call failed after their entry was gone
    /// (expired, evicted), each as it was sent: sent again at every tick
    /// until delivered. At most as many as the cache has entries. Never
    /// locked with `entries`.
    orphans: Mutex<Vec<(Slot, QuotaOperation)>>,
}

/// Whether an ask's costs can be added up: it charges (neither CHECK_ONLY
/// nor QUERY_ONLY), and it has `quota_metrics`, each amount an int64.
fn countable(op: &QuotaOperation) -> bool {
    // CHECK_ONLY and QUERY_ONLY asks charge nothing: adding their costs up
    // would charge them. They go to the server as they are, each waiting.
    charges(op)
        && !op.quota_metrics.is_empty()
        && op
            .quota_metrics
            .iter()
            .flat_map(|s| &s.metric_values)
            .all(|v| matches!(v.value, Some(Value::Int64Value(_))))
}

/// Whether an ask charges its costs: it is neither CHECK_ONLY nor
/// QUERY_ONLY.
pub(crate) fn charges(op: &QuotaOperation) -> bool {
    !matches!(
        QuotaMode::try_from(op.quota_mode),
        Ok(QuotaMode::CheckOnly | QuotaMode::QueryOnly)
    )
}

/// Adds an ask's costs to those waiting, by metric (allocating only for a
/// metric not waiting yet).
fn add_costs(into: &mut BTreeMap<String, i64>, op: &QuotaOperation) {
    for set in &op.quota_metrics {
        for value in &set.metric_values {
            let Some(Value::Int64Value(n)) = value.value else {
                continue;
            };
            match into.get_mut(&set.metric_name) {
                Some(total) => *total = total.saturating_add(n),
                None => {
                    into.insert(set.metric_name.clone(), n);
                }
            }
        }
    }
}

/// Adds an ask's costs to those waiting, after using up the credit a
/// granted probe left for its metrics.
fn add_costs_after_credit(
    into: &mut BTreeMap<String, i64>,
    credit: &mut BTreeMap<String, i64>,
    op: &QuotaOperation,
) {
    if credit.is_empty() {
        return add_costs(into, op);
    }
    for set in &op.quota_metrics {
        for value in &set.metric_values {
            let Some(Value::Int64Value(mut n)) = value.value else {
                continue;
            };
            if let Some(left) = credit.get_mut(&set.metric_name) {
                let used = n.min(*left).max(0);
                *left -= used;
                n -= used;
                if *left <= 0 {
                    credit.remove(&set.metric_name);
                }
            }
            if n != 0 {
                let total = into.entry(set.metric_name.clone()).or_insert(0);
                *total = total.saturating_add(n);
            }
        }
    }
}

/// Whether an answer denies: its first allocate error has a code, as ESPv2
/// reads it (`check_response_convert_utils.cc` reads the first error alone,
/// and one of code UNSPECIFIED denies nothing).
pub(crate) fn denies(answer: &AllocateQuotaResponse) -> bool {
    answer.allocate_errors.first().is_some_and(|e| {
        e.code != crate::google::api::servicecontrol::v1::quota_error::Code::Unspecified as i32
    })
}

/// Whether an answer says, in a `quota/exceeded` metric, that a limit was
/// reached.
fn reports_exceeded(answer: &AllocateQuotaResponse) -> bool {
    answer.quota_metrics.iter().any(|set| {
        set.metric_name == QUOTA_EXCEEDED
            && set
                .metric_values
                .iter()
                .any(|v| v.value == Some(Value::BoolValue(true)))
    })
}

impl QuotaCache {
    pub(crate) fn new(options: QuotaOptions) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(options.entries.max(1))),
            orphans: Mutex::new(Vec::new()),
            generations: std::sync::atomic::AtomicU64::new(1),
            options,
            signer: Signer::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, LruCache<u128, Entry>> {
        // Every update is whole before anything can panic.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks an ask up at `now`. An entry evicted to make room hands back
    /// its costs, to send.
    pub(crate) fn lookup(
        &self,
        request: &AllocateQuotaRequest,
        now: Instant,
    ) -> (Lookup, Vec<Refresh>) {
        let operation = match &request.allocate_operation {
            Some(op) if self.options.entries > 0 && countable(op) => op,
            _ => return (Lookup::Call(request.clone()), Vec::new()),
        };
        let key = self.signer.quota(request);
        let mut entries = self.entries();
        let Some(entry) = entries.get_mut(&key) else {
            let evicted = if entries.len() >= self.options.entries {
                entries.remove_lru().map_or_else(Vec::new, |(key, entry)| {
                    self.final_refreshes(key, entry, request)
                })
            } else {
                Vec::new()
            };
            let template = QuotaOperation {
                quota_metrics: Vec::new(),
                ..operation.clone()
            };
            let generation = self
                .generations
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            entries.insert(
                key,
                Entry {
                    generation,
                    answer: Arc::default(),
                    positive: true,
                    failure: None,
                    in_flight: true,
                    last_refresh: now,
                    template,
                    pending: BTreeMap::new(),
                    unsent: Vec::new(),
                    probing: false,
                    credit: BTreeMap::new(),
                },
            );
            let answer = Lookup::Answer {
                answer: Arc::default(),
                optimistic: true,
                refresh: Some(Refresh {
                    key: Slot { key, generation },
                    request: request.clone(),
                    probe: false,
                }),
            };
            return (answer, evicted);
        };
        let due = !entry.in_flight
            && now.saturating_duration_since(entry.last_refresh) >= self.options.refresh_interval;
        if entry.positive && entry.failure.is_none() {
            add_costs_after_credit(&mut entry.pending, &mut entry.credit, operation);
            // Costs a probe's charge covered leave nothing to send.
            let owed = !(entry.pending.is_empty() && entry.unsent.is_empty());
            let refresh = (due && owed).then(|| {
                entry.in_flight = true;
                entry.last_refresh = now;
                Refresh {
                    key: entry.slot(key),
                    request: self.next_send(request, entry),
                    probe: false,
                }
            });
            let answer = Lookup::Answer {
                answer: entry.answer.clone(),
                optimistic: false,
                refresh,
            };
            return (answer, Vec::new());
        }
        // Denying: the cached denial, and once due a probe in the
        // background, in NORMAL mode, carrying this ask's costs.
        let refresh = due.then(|| {
            entry.in_flight = true;
            entry.probing = true;
            entry.last_refresh = now;
            let mut request = request.clone();
            if let Some(op) = request.allocate_operation.as_mut() {
                op.quota_mode = QuotaMode::Normal as i32;
            }
            Refresh {
                key: entry.slot(key),
                request,
                probe: true,
            }
        });
        let lookup = match &entry.failure {
            Some(status) => Lookup::Failed {
                failure: status.clone(),
                refresh,
            },
            None => Lookup::Answer {
                answer: entry.answer.clone(),
                optimistic: false,
                refresh,
            },
        };
        (lookup, Vec::new())
    }

    /// Whether an answer lets asks through, as the refresh scheme reads it.
    fn is_positive(&self, answer: &AllocateQuotaResponse) -> bool {
        !denies(answer)
            && (self.options.refresh == QuotaRefresh::AsAsked || !reports_exceeded(answer))
    }

    /// Stores how a call for `key` ended (`sent` is what it sent). Whether
    /// the entry was still there: when it is not, costs of a failed call
    /// that were let through are the caller's to count as undelivered.
    pub(crate) fn store(&self, key: Slot, sent: &AllocateQuotaRequest, outcome: Outcome) -> bool {
        let mut entries = self.entries();
        let Some(entry) = entries
            .peek_mut(&key.key)
            .filter(|e| e.generation == key.generation)
        else {
            return false;
        };
        entry.in_flight = false;
        let probe = std::mem::take(&mut entry.probing);
        match outcome {
            Outcome::Answered(answer) => {
                entry.positive = self.is_positive(&answer);
                entry.failure = None;
                if entry.positive {
                    if probe && let Some(op) = &sent.allocate_operation {
                        // Charged for an ask that was denied: the next
                        // asks let through use it up.
                        add_costs(&mut entry.credit, op);
                    }
                    entry.answer = answer;
                } else if self.options.refresh == QuotaRefresh::AsAsked {
                    // As cxx does: costs let through since the call was
                    // made would be refused as the call was; they are not
                    // charged.
                    entry.pending.clear();
                    entry.answer = answer;
                } else if !denies(&answer) {
                    entry.answer = Arc::new(exhausted(&answer, &entry.template.consumer_id));
                } else {
                    entry.answer = answer;
                }
            }
            Outcome::Failed { deny, let_through } => {
                if let_through
                    && !probe
                    && let Some(op) = &sent.allocate_operation
                {
                    entry.unsent.push(op.clone());
                }
                entry.failure = deny;
                if entry.failure.is_none() {
                    entry.positive = true;
                    entry.answer = Arc::default();
                }
            }
            Outcome::NotSent => {
                if !probe && let Some(op) = &sent.allocate_operation {
                    entry.unsent.push(op.clone());
                }
            }
        }
        true
    }

    /// Keeps the costs of a failed call whose entry is gone, as they were
    /// sent, to send again at the next tick; `false` when too many wait
    /// already (the caller counts them undelivered).
    pub(crate) fn keep_orphan(&self, key: Slot, sent: &AllocateQuotaRequest) -> bool {
        let Some(op) = &sent.allocate_operation else {
            return true;
        };
        let mut orphans = self.orphans.lock().unwrap_or_else(PoisonError::into_inner);
        if orphans.len() >= self.options.entries.max(1) {
            return false;
        }
        orphans.push((key, op.clone()));
        true
    }

    /// The orphaned costs, to send again.
    fn take_orphans(&self, template: &AllocateQuotaRequest) -> Vec<Refresh> {
        std::mem::take(&mut *self.orphans.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .map(|(key, op)| Refresh {
                key,
                request: request_of(template, op),
                probe: false,
            })
            .collect()
    }

    /// Frees an entry whose call was dropped before its answer: asked again
    /// at its next refresh, its answer and costs as they were.
    pub(crate) fn abandon(&self, key: Slot) {
        if let Some(entry) = self
            .entries()
            .peek_mut(&key.key)
            .filter(|e| e.generation == key.generation)
        {
            entry.in_flight = false;
            entry.probing = false;
        }
    }

    /// The refreshes due at `now` (entries with costs waiting), the final
    /// ones of entries expired, which are dropped, and the orphaned costs.
    pub(crate) fn tick(&self, now: Instant, template: &AllocateQuotaRequest) -> Vec<Refresh> {
        let mut refreshes = self.take_orphans(template);
        let mut entries = self.entries();
        let mut expired = Vec::new();
        for (key, entry) in entries.iter_mut() {
            let age = now.saturating_duration_since(entry.last_refresh);
            if entry.in_flight {
                continue;
            }
            if age >= self.options.expiration {
                expired.push(*key);
            } else if age >= self.options.refresh_interval
                && !(entry.pending.is_empty() && entry.unsent.is_empty())
            {
                entry.in_flight = true;
                entry.last_refresh = now;
                refreshes.push(Refresh {
                    key: entry.slot(*key),
                    request: self.next_send(template, entry),
                    probe: false,
                });
            }
        }
        for key in expired {
            if let Some(entry) = entries.remove(&key) {
                refreshes.extend(self.final_refreshes(key, entry, template));
            }
        }
        refreshes
    }

    /// Empties the cache; the costs still waiting (orphans included), to
    /// send.
    pub(crate) fn drain(&self, template: &AllocateQuotaRequest) -> Vec<Refresh> {
        let mut refreshes = self.take_orphans(template);
        let mut entries = self.entries();
        while let Some((key, entry)) = entries.remove_lru() {
            refreshes.extend(self.final_refreshes(key, entry, template));
        }
        refreshes
    }

    /// What a refresh of an entry sends: the oldest costs whose call
    /// failed, again as they were sent; else the costs waiting, which leave
    /// the entry.
    fn next_send(
        &self,
        template: &AllocateQuotaRequest,
        entry: &mut Entry,
    ) -> AllocateQuotaRequest {
        let operation = if entry.unsent.is_empty() {
            self.costs_operation(entry)
        } else {
            entry.unsent.remove(0)
        };
        request_of(template, operation)
    }

    /// The operation carrying an entry's waiting costs, under a new
    /// operation id, in the mode [`QuotaRefresh`] says; the costs leave the
    /// entry.
    fn costs_operation(&self, entry: &mut Entry) -> QuotaOperation {
        let mut operation = entry.template.clone();
        operation.operation_id = format!("{}-{:016x}", operation.operation_id, fastrand::u64(..));
        if self.options.refresh == QuotaRefresh::BestEffort {
            operation.quota_mode = QuotaMode::BestEffort as i32;
        }
        operation.quota_metrics = std::mem::take(&mut entry.pending)
            .into_iter()
            .map(|(metric, n)| MetricValueSet {
                metric_name: metric,
                metric_values: vec![MetricValue {
                    value: Some(Value::Int64Value(n)),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        operation
    }

    /// The last sends of an entry leaving the cache: its failed costs as
    /// they were, then its waiting ones.
    fn final_refreshes(
        &self,
        key: u128,
        mut entry: Entry,
        template: &AllocateQuotaRequest,
    ) -> Vec<Refresh> {
        let mut operations = std::mem::take(&mut entry.unsent);
        if !entry.pending.is_empty() {
            operations.push(self.costs_operation(&mut entry));
        }
        let key = entry.slot(key);
        operations
            .into_iter()
            .map(|op| Refresh {
                key,
                request: request_of(template, op),
                probe: false,
            })
            .collect()
    }
}

/// A request of `template`'s service carrying `operation`.
fn request_of(template: &AllocateQuotaRequest, operation: QuotaOperation) -> AllocateQuotaRequest {
    AllocateQuotaRequest {
        service_name: template.service_name.clone(),
        service_config_id: template.service_config_id.clone(),
        allocate_operation: Some(operation),
        ..Default::default()
    }
}

/// A BEST_EFFORT answer that reached a limit, as the denial the asks it
/// stands for get: a RESOURCE_EXHAUSTED error per metric short of its
/// amount, so that a gateway reading only `allocate_errors` denies them.
fn exhausted(answer: &AllocateQuotaResponse, consumer: &str) -> AllocateQuotaResponse {
    use crate::google::api::servicecontrol::v1::{QuotaError, quota_error};
    use crate::google::rpc::{Code, Status};
    let mut denial = answer.clone();
    for set in answer
        .quota_metrics
        .iter()
        .filter(|s| s.metric_name == QUOTA_EXCEEDED)
    {
        for value in &set.metric_values {
            let metric = value
                .labels
                .get(QUOTA_NAME_LABEL)
                .map_or("", String::as_str);
            let description =
                format!("Quota exceeded for quota metric '{metric}' for consumer '{consumer}'.");
            denial.allocate_errors.push(QuotaError {
                code: quota_error::Code::ResourceExhausted as i32,
                subject: consumer.to_owned(),
                status: Some(Status::new(Code::ResourceExhausted, description.clone())),
                description,
                ..Default::default()
            });
        }
    }
    denial
}
