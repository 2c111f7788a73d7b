//! The quota cache, after `service-control-client-cxx`'s quota aggregator:
//!
//! - an ask is found by the request's [signature](super::signature)
//!   (method, consumer, metric names);
//! - a miss is answered at once with a positive (optimistic) answer while the
//!   real call, carrying the ask's own costs, runs; asks meanwhile join it;
//! - while the cached answer is positive, costs add up and are sent every
//!   refresh interval, in `BEST_EFFORT` mode (they were let through, so all
//!   that can be counted is);
//! - while it is negative, asks get the cached denial without counting;
//!   once the refresh interval has passed, the next ask goes to the server
//!   in `NORMAL` mode and waits for it, so a granted ask is counted once and
//!   a denied one not at all;
//! - an answer is negative when it has `allocate_errors` or says, in its
//!   `serviceruntime.googleapis.com/quota/exceeded` metric, that a limit was
//!   reached (a BEST_EFFORT refresh granted less than it carried); asks then
//!   get it with a RESOURCE_EXHAUSTED error per such metric;
//! - costs of a failed refresh go with the next; an entry not refreshed for
//!   the expiration time is dropped, its costs sent first, and the least
//!   recently used one is evicted, its costs sent, when the cache is full.
//!
//! An ask without `quota_metrics` (costs left to the server's metric rules)
//! cannot be added up and always goes to the server.

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
/// use cloud_report_proto::client::QuotaOptions;
///
/// assert_eq!(QuotaOptions::default().refresh_interval, Duration::from_secs(1));
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
}

impl Default for QuotaOptions {
    /// 10,000 entries, refreshed every second, expired after 10 minutes.
    fn default() -> Self {
        Self {
            entries: 10_000,
            refresh_interval: Duration::from_secs(1),
            expiration: Duration::from_secs(600),
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
    /// Denied by a cached failure.
    Failed(tonic::Status),
    /// Ask the server and wait: the cache is off, the ask cannot be added
    /// up, or a denial is due to be asked again (then with its key).
    Call(AllocateQuotaRequest, Option<u128>),
}

/// A call the cache wants made, and the key to store its answer under.
pub(crate) struct Refresh {
    pub(crate) key: u128,
    pub(crate) request: AllocateQuotaRequest,
}

/// The quota cache; see the module documentation.
pub(crate) struct QuotaCache {
    options: QuotaOptions,
    signer: Signer,
    entries: Mutex<LruCache<u128, Entry>>,
}

/// Whether an ask's costs can be added up: it charges (neither CHECK_ONLY
/// nor QUERY_ONLY), and it has `quota_metrics`, each amount an int64.
fn countable(op: &QuotaOperation) -> bool {
    // CHECK_ONLY and QUERY_ONLY asks charge nothing: adding their costs up
    // would charge them. They go to the server as they are, each waiting.
    let charges = !matches!(
        QuotaMode::try_from(op.quota_mode),
        Ok(QuotaMode::CheckOnly | QuotaMode::QueryOnly)
    );
    charges
        && !op.quota_metrics.is_empty()
        && op
            .quota_metrics
            .iter()
            .flat_map(|s| &s.metric_values)
            .all(|v| matches!(v.value, Some(Value::Int64Value(_))))
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

/// Whether an answer lets asks through.
pub(crate) fn is_positive(answer: &AllocateQuotaResponse) -> bool {
    answer.allocate_errors.is_empty()
        && !answer.quota_metrics.iter().any(|set| {
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
    ) -> (Lookup, Option<Refresh>) {
        let operation = match &request.allocate_operation {
            Some(op) if self.options.entries > 0 && countable(op) => op,
            _ => return (Lookup::Call(request.clone(), None), None),
        };
        let key = self.signer.quota(request);
        let mut entries = self.entries();
        let Some(entry) = entries.get_mut(&key) else {
            let evicted = if entries.len() >= self.options.entries {
                entries
                    .remove_lru()
                    .and_then(|(key, entry)| final_refresh(key, entry, request))
            } else {
                None
            };
            let template = QuotaOperation {
                quota_metrics: Vec::new(),
                ..operation.clone()
            };
            entries.insert(
                key,
                Entry {
                    answer: Arc::default(),
                    positive: true,
                    failure: None,
                    in_flight: true,
                    last_refresh: now,
                    template,
                    pending: BTreeMap::new(),
                },
            );
            let answer = Lookup::Answer {
                answer: Arc::default(),
                optimistic: true,
                refresh: Some(Refresh {
                    key,
                    request: request.clone(),
                }),
            };
            return (answer, evicted);
        };
        let due = !entry.in_flight
            && now.saturating_duration_since(entry.last_refresh) >= self.options.refresh_interval;
        if entry.positive && entry.failure.is_none() {
            add_costs(&mut entry.pending, operation);
            let refresh = due.then(|| {
                entry.in_flight = true;
                entry.last_refresh = now;
                Refresh {
                    key,
                    request: refresh_request(request, entry),
                }
            });
            let answer = Lookup::Answer {
                answer: entry.answer.clone(),
                optimistic: false,
                refresh,
            };
            return (answer, None);
        }
        if due {
            // Ask again, in NORMAL mode, and wait.
            entry.in_flight = true;
            entry.last_refresh = now;
            let mut request = request.clone();
            if let Some(op) = request.allocate_operation.as_mut() {
                op.quota_mode = QuotaMode::Normal as i32;
            }
            return (Lookup::Call(request, Some(key)), None);
        }
        let lookup = match &entry.failure {
            Some(status) => Lookup::Failed(status.clone()),
            None => Lookup::Answer {
                answer: entry.answer.clone(),
                optimistic: false,
                refresh: None,
            },
        };
        (lookup, None)
    }

    /// Stores the outcome of a call for `key`. A failed call's costs (those
    /// of `sent`) go with the next refresh; `deny` is the failure that
    /// denies asks until then, or `None` to keep letting them through
    /// (failing open). Whether the entry was still there.
    pub(crate) fn store(
        &self,
        key: u128,
        sent: &AllocateQuotaRequest,
        outcome: Result<Arc<AllocateQuotaResponse>, Option<tonic::Status>>,
    ) -> bool {
        let mut entries = self.entries();
        let Some(entry) = entries.peek_mut(&key) else {
            return false;
        };
        entry.in_flight = false;
        match outcome {
            Ok(answer) => {
                entry.positive = is_positive(&answer);
                entry.answer = if entry.positive || !answer.allocate_errors.is_empty() {
                    answer
                } else {
                    Arc::new(exhausted(&answer, &entry.template.consumer_id))
                };
                entry.failure = None;
            }
            Err(deny) => {
                let normal = sent
                    .allocate_operation
                    .as_ref()
                    .is_some_and(|op| op.quota_mode == QuotaMode::Normal as i32);
                // A BEST_EFFORT refresh carried costs let through: they go
                // again. A NORMAL ask was not let through: nothing to keep.
                if !normal && let Some(op) = &sent.allocate_operation {
                    add_costs(&mut entry.pending, op);
                }
                entry.failure = deny;
                if entry.failure.is_none() {
                    entry.positive = true;
                    entry.answer = Arc::default();
                }
            }
        }
        true
    }

    /// Frees an entry whose call was dropped before its answer: asked again
    /// at its next refresh, its answer and costs as they were.
    pub(crate) fn abandon(&self, key: u128) {
        if let Some(entry) = self.entries().peek_mut(&key) {
            entry.in_flight = false;
        }
    }

    /// The refreshes due at `now` (entries with costs waiting), and the
    /// final ones of entries expired, which are dropped.
    pub(crate) fn tick(&self, now: Instant, template: &AllocateQuotaRequest) -> Vec<Refresh> {
        let mut entries = self.entries();
        let mut refreshes = Vec::new();
        let mut expired = Vec::new();
        for (key, entry) in entries.iter_mut() {
            let age = now.saturating_duration_since(entry.last_refresh);
            if entry.in_flight {
                continue;
            }
            if age >= self.options.expiration {
                expired.push(*key);
            } else if age >= self.options.refresh_interval && !entry.pending.is_empty() {
                entry.in_flight = true;
                entry.last_refresh = now;
                refreshes.push(Refresh {
                    key: *key,
                    request: refresh_request(template, entry),
                });
            }
        }
        for key in expired {
            if let Some(entry) = entries.remove(&key)
                && let Some(refresh) = final_refresh(key, entry, template)
            {
                refreshes.push(refresh);
            }
        }
        refreshes
    }

    /// Empties the cache; the costs still waiting, to send.
    pub(crate) fn drain(&self, template: &AllocateQuotaRequest) -> Vec<Refresh> {
        let mut entries = self.entries();
        let mut refreshes = Vec::new();
        while let Some((key, entry)) = entries.remove_lru() {
            if let Some(refresh) = final_refresh(key, entry, template) {
                refreshes.push(refresh);
            }
        }
        refreshes
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

/// The request sending an entry's waiting costs, in BEST_EFFORT mode; the
/// costs leave the entry.
fn refresh_request(template: &AllocateQuotaRequest, entry: &mut Entry) -> AllocateQuotaRequest {
    let mut operation = entry.template.clone();
    operation.operation_id = format!("{}-{:016x}", operation.operation_id, fastrand::u64(..));
    operation.quota_mode = QuotaMode::BestEffort as i32;
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
    AllocateQuotaRequest {
        service_name: template.service_name.clone(),
        service_config_id: template.service_config_id.clone(),
        allocate_operation: Some(operation),
        ..Default::default()
    }
}

/// The last refresh of an entry leaving the cache, when costs wait.
fn final_refresh(key: u128, mut entry: Entry, template: &AllocateQuotaRequest) -> Option<Refresh> {
    (!entry.pending.is_empty()).then(|| Refresh {
        key,
        request: refresh_request(template, &mut entry),
    })
}
