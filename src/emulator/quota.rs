//! `AllocateQuota` judged by a service configuration's `quota` section.
//!
//! The rules, from the `QuotaOperation` and `AllocateQuotaResponse` comments
//! of `quota_controller.proto`:
//! - what an operation asks for is its `quota_metrics` (each a metric of the
//!   service, amounts in `int64Value`), or else the costs of the metric rule
//!   that selects its `method_name`;
//! - each quota limit counts its metric per consumer project in fixed
//!   windows ([`QuotaWindow`]) up to its allowance ([`quota_allowance`]);
//! - `NORMAL` allocates all or nothing, with a `RESOURCE_EXHAUSTED` error
//!   for each limit that cannot take its amount; `BEST_EFFORT` allocates,
//!   metric by metric, what every limit of the metric still has;
//!   `CHECK_ONLY` answers as `NORMAL` would without allocating;
//! - the answer's `quota_metrics` carry what was allocated as
//!   `serviceruntime.googleapis.com/api/consumer/quota_used_count`, one value
//!   per metric labelled `/quota_name`, and each metric that could not have
//!   all it asked as `serviceruntime.googleapis.com/quota/exceeded`;
//! - the operation id makes a retry idempotent: an allocation made under an
//!   id is answered again, not made again.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use prost::Message;

use crate::google::api::Service;
use crate::google::api::metric_descriptor::ValueType;
use crate::google::api::servicecontrol::v1 as sc;
use crate::google::api::servicecontrol::v1::metric_value::Value;
use crate::google::api::servicecontrol::v1::quota_operation::QuotaMode;
use crate::google::rpc::{Code, Status};
use crate::rest::clip;
use crate::service_config::{QuotaWindow, Selector, ServiceConfig, quota_allowance};

pub use crate::google::api::servicecontrol::v1::{
    QUOTA_EXCEEDED, QUOTA_NAME_LABEL, QUOTA_USED_COUNT,
};

/// What a consumer used of a quota limit in its current window, as
/// [`Emulator::quota_usage`](super::Emulator::quota_usage) and the inspection endpoint show it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaUsage {
    /// Whom the quota is counted against: `project:<id>` for a project of
    /// the state file (however the call named it), the consumer id as given
    /// otherwise.
    pub consumer: String,
    /// The quota limit's name.
    pub limit: String,
    /// The metric the limit counts.
    pub metric: String,
    /// When the window started, in Unix seconds.
    pub window_start: u64,
    /// The window's length in seconds.
    pub window_seconds: u64,
    /// What is used in the window.
    pub used: i64,
    /// What the limit allows in a window; `None` for unlimited.
    pub allowance: Option<i64>,
}

/// What the answers remembered for retries may take, ids included; the
/// oldest are forgotten first.
const REMEMBERED_BYTES: usize = 8 << 20;
/// What a consumer's usage entry costs beside its name and windows.
const USAGE_OVERHEAD: usize = 96;

/// The quota limits of one service, indexed by metric.
#[derive(Debug)]
pub(crate) struct QuotaRules {
    limits: Vec<Limit>,
    by_metric: HashMap<String, Vec<usize>>,
}

impl QuotaRules {
    /// How many limits the service has: a consumer's windows, one each.
    pub(crate) fn limit_count(&self) -> usize {
        self.limits.len()
    }
}

#[derive(Debug)]
struct Limit {
    name: String,
    /// The limit's display name, or its name.
    shown: String,
    metric: String,
    window: QuotaWindow,
    allowance: Option<i64>,
}

impl QuotaRules {
    pub(crate) fn new(service: &Service) -> Self {
        let mut rules = Self {
            limits: Vec::new(),
            by_metric: HashMap::new(),
        };
        for limit in service.quota.iter().flat_map(|q| &q.limits) {
            // A checked configuration gives every limit a window.
            let Ok(window) = QuotaWindow::of(limit) else {
                continue;
            };
            rules
                .by_metric
                .entry(limit.metric.clone())
                .or_default()
                .push(rules.limits.len());
            rules.limits.push(Limit {
                name: limit.name.clone(),
                shown: if limit.display_name.is_empty() {
                    limit.name.clone()
                } else {
                    limit.display_name.clone()
                },
                metric: limit.metric.clone(),
                window,
                allowance: quota_allowance(limit),
            });
        }
        rules
    }
}

/// How quota is allocated: the modes the emulator implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    BestEffort,
    CheckOnly,
}

impl Mode {
    /// The mode of an operation. `UNSPECIFIED` is refused: the `QuotaMode`
    /// reference says it "Must not be used". `QUERY_ONLY` is open only
    /// to services Google allowlists and `ADJUST_ONLY` is not for rate
    /// quota, the only kind a configuration's windowed limits define.
    pub(crate) fn of(op: &sc::QuotaOperation) -> Result<Self, tonic::Status> {
        match QuotaMode::try_from(op.quota_mode) {
            Ok(QuotaMode::Normal) => Ok(Self::Normal),
            Ok(QuotaMode::Unspecified) => Err(Status::new(
                Code::InvalidArgument,
                "allocate_operation.quota_mode: UNSPECIFIED must not be used; NORMAL, BEST_EFFORT or CHECK_ONLY",
            )
            .into()),
            Ok(QuotaMode::BestEffort) => Ok(Self::BestEffort),
            Ok(QuotaMode::CheckOnly) => Ok(Self::CheckOnly),
            Ok(QuotaMode::QueryOnly) => Err(Status::new(
                Code::Unimplemented,
                "allocate_operation.quota_mode: QUERY_ONLY is not implemented (Service Control offers it only to allowlisted services)",
            )
            .into()),
            Ok(QuotaMode::AdjustOnly) => Err(Status::new(
                Code::InvalidArgument,
                "allocate_operation.quota_mode: ADJUST_ONLY is not supported for rate quota",
            )
            .into()),
            Err(_) => Err(Status::new(
                Code::InvalidArgument,
                format!(
                    "allocate_operation.quota_mode: {} is not a QuotaMode",
                    op.quota_mode
                ),
            )
            .into()),
        }
    }
}

/// What an operation asks for, metric by metric in the order first named:
/// its `quota_metrics` when it has any, the costs of the metric rule that
/// decides for its `method_name` otherwise. Errors name the field.
pub(crate) fn demand(
    config: &ServiceConfig,
    op: &sc::QuotaOperation,
) -> Result<Vec<(String, i64)>, String> {
    if op.quota_metrics.is_empty() {
        let rules = config
            .service()
            .quota
            .as_ref()
            .map_or(&[][..], |q| &q.metric_rules[..]);
        return Ok(Selector::deciding(rules, |r| &r.selector, &op.method_name)
            .filter(|_| !op.method_name.is_empty())
            .map(|rule| {
                rule.metric_costs
                    .iter()
                    .map(|(metric, cost)| (metric.clone(), *cost))
                    .collect()
            })
            .unwrap_or_default());
    }
    let labels = op
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let values = op.quota_metrics.iter().flat_map(|set| {
        set.metric_values.iter().map(|value| {
            let own = value.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            (set.metric_name.as_str(), own)
        })
    });
    if let Some(metric) = super::operation::duplicate_metric_value(&labels, values) {
        return Err(format!(
            "allocate_operation.quota_metrics: more than one value of metric {} with identical labels",
            clip(metric)
        ));
    }
    let mut demand: Vec<(String, i64)> = Vec::new();
    for (i, set) in op.quota_metrics.iter().enumerate() {
        let path = format!("allocate_operation.quota_metrics[{i}]");
        let Some(metric) = config.metric(&set.metric_name) else {
            return Err(format!(
                "{path}.metric_name: {:?} is not a metric of service {}",
                clip(&set.metric_name),
                config.name()
            ));
        };
        if metric.value_type() != ValueType::Int64 {
            return Err(format!(
                "{path}.metric_name: {} is a {} metric; quota is counted in INT64 metrics",
                metric.r#type,
                metric.value_type().as_str_name()
            ));
        }
        let mut amount: i64 = 0;
        for (j, value) in set.metric_values.iter().enumerate() {
            match value.value {
                Some(Value::Int64Value(n)) if n >= 0 => {
                    amount = amount.checked_add(n).ok_or_else(|| {
                        format!("{path}: the amounts of {} overflow int64", metric.r#type)
                    })?;
                }
                Some(Value::Int64Value(n)) => {
                    return Err(format!(
                        "{path}.metric_values[{j}].int64_value: {n} is negative"
                    ));
                }
                _ => {
                    return Err(format!(
                        "{path}.metric_values[{j}]: a quota amount is an int64_value"
                    ));
                }
            }
        }
        match demand.iter_mut().find(|(m, _)| *m == metric.r#type) {
            Some((_, total)) => {
                *total = total.checked_add(amount).ok_or_else(|| {
                    format!("{path}: the amounts of {} overflow int64", metric.r#type)
                })?;
            }
            None => demand.push((metric.r#type.clone(), amount)),
        }
    }
    Ok(demand)
}

/// A limit's use in the window it was last used in.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: u64,
    seconds: u64,
    used: i64,
}

impl Window {
    /// What is used in the window holding `now`.
    fn used_at(&self, limit: &Limit, now: u64) -> i64 {
        if self.start == limit.window.start(now) {
            self.used
        } else {
            0
        }
    }

    /// Whether nothing is used in the window holding `now`.
    fn ended(&self, now: u64) -> bool {
        self.used == 0 || self.start.saturating_add(self.seconds) <= now
    }
}

/// Quota used, per service, consumer and limit, and the answers given to
/// allocations, for retries; bounded in bytes.
#[derive(Default)]
pub(crate) struct QuotaLedger {
    /// Windows by service, then consumer, one per limit of the service in
    /// the order of its [`QuotaRules`].
    usage: HashMap<String, HashMap<String, Vec<Window>>>,
    /// What the usage entries cost, as [`super::config::Config::max_bytes`] counts.
    pub(crate) usage_bytes: usize,
    remembered: HashMap<(String, String), Bytes>,
    remembered_order: VecDeque<(String, String)>,
    remembered_bytes: usize,
    /// When entries whose windows have ended were last dropped: at most
    /// one scan a second, however many new consumers knock while full.
    last_drop: Option<u64>,
}

/// An allocation asked for.
#[derive(Debug)]
pub(crate) struct Ask<'a> {
    pub(crate) service: &'a str,
    /// Whom it is counted against.
    pub(crate) consumer: &'a str,
    /// What is asked, per metric ([`demand`]).
    pub(crate) demand: &'a [(String, i64)],
    pub(crate) mode: Mode,
}

/// The result of judging an allocation.
#[derive(Debug, Default)]
pub(crate) struct Allocation {
    /// What was allocated (or, in `CHECK_ONLY`, would be), per metric.
    pub(crate) granted: Vec<(String, i64)>,
    /// The limits that could not take their metric's amount.
    pub(crate) exhausted: Vec<usize>,
    /// The metrics that could not have all they asked.
    pub(crate) short: Vec<String>,
}

/// The ledger as a snapshot keeps it (`quota` of the manifest): each
/// consumer's windows, in the order of its service's limits, and the
/// answers remembered for retries, oldest first.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LedgerSnapshot {
    pub(crate) consumers: Vec<ConsumerWindows>,
    pub(crate) answered: Vec<AnsweredAllocation>,
}

/// One consumer's windows of one service.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ConsumerWindows {
    pub(crate) service: String,
    pub(crate) consumer: String,
    /// `[start, seconds, used]` per limit.
    pub(crate) windows: Vec<[i64; 3]>,
}

/// An allocation's answer remembered for retries: the encoded
/// `AllocateQuotaResponse`, base64.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AnsweredAllocation {
    pub(crate) service: String,
    pub(crate) operation_id: String,
    pub(crate) response: String,
}

impl QuotaLedger {
    /// What a snapshot keeps of the ledger.
    pub(crate) fn snapshot(&self) -> LedgerSnapshot {
        use base64::Engine as _;
        let mut consumers: Vec<ConsumerWindows> = self
            .usage
            .iter()
            .flat_map(|(service, consumers)| {
                consumers
                    .iter()
                    .map(move |(consumer, windows)| ConsumerWindows {
                        service: service.clone(),
                        consumer: consumer.clone(),
                        windows: windows
                            .iter()
                            .map(|w| {
                                let n = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
                                [n(w.start), n(w.seconds), w.used]
                            })
                            .collect(),
                    })
            })
            .collect();
        consumers.sort_by(|a, b| (&a.service, &a.consumer).cmp(&(&b.service, &b.consumer)));
        let answered = self
            .remembered_order
            .iter()
            .filter_map(|key| {
                let answer = self.remembered.get(key)?;
                Some(AnsweredAllocation {
                    service: key.0.clone(),
                    operation_id: key.1.clone(),
                    response: base64::engine::general_purpose::STANDARD.encode(answer),
                })
            })
            .collect();
        LedgerSnapshot {
            consumers,
            answered,
        }
    }

    /// A ledger from a snapshot, its bytes counted as allocations count
    /// them; why it cannot be one (a window of fewer or more limits than
    /// the service configures, a negative number, an answer that is not
    /// base64 of an `AllocateQuotaResponse`).
    pub(crate) fn restore(
        snapshot: LedgerSnapshot,
        limits_of: impl Fn(&str) -> Option<usize>,
    ) -> Result<Self, String> {
        use base64::Engine as _;
        let mut ledger = Self::default();
        for (i, entry) in snapshot.consumers.into_iter().enumerate() {
            let limits = limits_of(&entry.service).ok_or_else(|| {
                format!(
                    "quota.consumers[{i}]: service {} has no configuration",
                    clip(&entry.service)
                )
            })?;
            if entry.windows.len() != limits {
                return Err(format!(
                    "quota.consumers[{i}]: {} windows, but the service has {limits} quota limits",
                    entry.windows.len()
                ));
            }
            let mut windows = Vec::with_capacity(limits);
            for (j, [start, seconds, used]) in entry.windows.into_iter().enumerate() {
                let (Ok(start), Ok(seconds)) = (u64::try_from(start), u64::try_from(seconds))
                else {
                    return Err(format!(
                        "quota.consumers[{i}].windows[{j}]: a negative time"
                    ));
                };
                windows.push(Window {
                    start,
                    seconds,
                    used,
                });
            }
            ledger.usage_bytes += entry_cost(&entry.service, &entry.consumer, limits);
            ledger
                .usage
                .entry(entry.service)
                .or_default()
                .insert(entry.consumer, windows);
        }
        for (i, answered) in snapshot.answered.into_iter().enumerate() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&answered.response)
                .map_err(|e| format!("quota.answered[{i}].response: not base64: {e}"))?;
            sc::AllocateQuotaResponse::decode(&bytes[..]).map_err(|e| {
                format!("quota.answered[{i}].response: not an AllocateQuotaResponse: {e}")
            })?;
            ledger.remember(
                &answered.service,
                &answered.operation_id,
                Bytes::from(bytes),
            );
        }
        Ok(ledger)
    }

    /// The answer given to an earlier allocation with this operation id.
    pub(crate) fn remembered(&self, service: &str, operation_id: &str) -> Option<Bytes> {
        if operation_id.is_empty() {
            return None;
        }
        self.remembered
            .get(&(service.to_owned(), operation_id.to_owned()))
            .cloned()
    }

    /// Remembers the answer to an allocation, forgetting the oldest ones
    /// beyond the budget; an answer larger than the budget is not kept.
    pub(crate) fn remember(&mut self, service: &str, operation_id: &str, answer: Bytes) {
        let cost = service.len() + operation_id.len() + answer.len() + USAGE_OVERHEAD;
        if operation_id.is_empty() || cost > REMEMBERED_BYTES {
            return;
        }
        while self.remembered_bytes + cost > REMEMBERED_BYTES {
            let Some(oldest) = self.remembered_order.pop_front() else {
                break;
            };
            if let Some(answer) = self.remembered.remove(&oldest) {
                self.remembered_bytes -=
                    oldest.0.len() + oldest.1.len() + answer.len() + USAGE_OVERHEAD;
            }
        }
        let key = (service.to_owned(), operation_id.to_owned());
        if self.remembered.insert(key.clone(), answer).is_none() {
            self.remembered_order.push_back(key);
            self.remembered_bytes += cost;
        }
    }

    /// Judges and, unless its mode is `CHECK_ONLY` or `NORMAL` fails,
    /// records an allocation at `now` (Unix seconds). A consumer new to the ledger costs bytes; `room` is what
    /// may still be spent, and `None` is returned when the entry does not
    /// fit even after the entries whose windows have all ended are dropped.
    pub(crate) fn allocate(
        &mut self,
        rules: &QuotaRules,
        ask: &Ask<'_>,
        now: u64,
        room: usize,
    ) -> Option<Allocation> {
        let &Ask {
            service,
            consumer,
            demand,
            mode,
        } = ask;
        let counted = demand
            .iter()
            .any(|(metric, _)| rules.by_metric.contains_key(metric));
        let known = self
            .usage
            .get(service)
            .is_some_and(|s| s.contains_key(consumer));
        if counted && !known && mode != Mode::CheckOnly {
            let cost = entry_cost(service, consumer, rules.limits.len());
            if cost > room && cost > room.saturating_add(self.drop_ended(now)) {
                return None;
            }
        }
        let empty = Vec::new();
        let windows = self
            .usage
            .get(service)
            .and_then(|s| s.get(consumer))
            .unwrap_or(&empty);
        let available = |i: usize| -> Option<i64> {
            let limit = &rules.limits[i];
            let used = windows.get(i).map_or(0, |w| w.used_at(limit, now));
            limit.allowance.map(|a| a.saturating_sub(used).max(0))
        };
        let mut allocation = Allocation::default();
        for (metric, amount) in demand {
            let limits = rules.by_metric.get(metric).map_or(&[][..], Vec::as_slice);
            let mut grant = *amount;
            for &i in limits {
                if let Some(left) = available(i)
                    && left < *amount
                {
                    allocation.exhausted.push(i);
                    grant = grant.min(left);
                }
            }
            if grant < *amount {
                allocation.short.push(metric.clone());
            }
            allocation.granted.push((
                metric.clone(),
                if mode == Mode::BestEffort {
                    grant
                } else {
                    *amount
                },
            ));
        }
        let records = match mode {
            Mode::Normal => allocation.exhausted.is_empty(),
            Mode::BestEffort => true,
            Mode::CheckOnly => false,
        };
        if records && counted {
            self.record(service, rules, consumer, &allocation.granted, now);
        }
        Some(allocation)
    }

    fn record(
        &mut self,
        service: &str,
        rules: &QuotaRules,
        consumer: &str,
        granted: &[(String, i64)],
        now: u64,
    ) {
        let consumers = self.usage.entry(service.to_owned()).or_default();
        let windows = consumers.entry(consumer.to_owned()).or_insert_with(|| {
            self.usage_bytes += entry_cost(service, consumer, rules.limits.len());
            vec![Window::default(); rules.limits.len()]
        });
        for (metric, amount) in granted {
            for &i in rules.by_metric.get(metric).map_or(&[][..], Vec::as_slice) {
                let limit = &rules.limits[i];
                let window = &mut windows[i];
                *window = Window {
                    start: limit.window.start(now),
                    seconds: limit.window.seconds(),
                    used: window.used_at(limit, now).saturating_add(*amount),
                };
            }
        }
    }

    /// Drops the consumers whose windows have all ended, of every service,
    /// unless that was done this second; what that freed.
    fn drop_ended(&mut self, now: u64) -> usize {
        if self.last_drop == Some(now) {
            return 0;
        }
        self.last_drop = Some(now);
        let mut freed = 0;
        for (service, consumers) in &mut self.usage {
            consumers.retain(|consumer, windows| {
                let ended = windows.iter().all(|w| w.ended(now));
                if ended {
                    freed += entry_cost(service, consumer, windows.len());
                }
                !ended
            });
        }
        self.usage.retain(|_, consumers| !consumers.is_empty());
        self.usage_bytes -= freed;
        freed
    }

    /// The usage of a service's consumers in the windows holding `now`, by
    /// consumer then limit.
    pub(crate) fn usage(&self, service: &str, rules: &QuotaRules, now: u64) -> Vec<QuotaUsage> {
        let mut usage = Vec::new();
        let Some(consumers) = self.usage.get(service) else {
            return usage;
        };
        let mut names: Vec<&String> = consumers.keys().collect();
        names.sort_unstable();
        for consumer in names {
            for (window, limit) in consumers[consumer].iter().zip(&rules.limits) {
                let used = window.used_at(limit, now);
                if used != 0 {
                    usage.push(QuotaUsage {
                        consumer: consumer.clone(),
                        limit: limit.name.clone(),
                        metric: limit.metric.clone(),
                        window_start: window.start,
                        window_seconds: limit.window.seconds(),
                        used,
                        allowance: limit.allowance,
                    });
                }
            }
        }
        usage
    }
}

/// What a consumer's usage entry costs: its names, its windows and the
/// tables' entries.
fn entry_cost(service: &str, consumer: &str, limits: usize) -> usize {
    service.len() + consumer.len() + limits * std::mem::size_of::<Window>() + USAGE_OVERHEAD
}

/// The answer's errors and metrics for an allocation.
pub(crate) fn answer(
    config: &ServiceConfig,
    rules: &QuotaRules,
    ask: &Ask<'_>,
    allocation: &Allocation,
) -> (Vec<sc::QuotaError>, Vec<sc::MetricValueSet>) {
    let &Ask {
        service,
        consumer,
        mode,
        ..
    } = ask;
    let fails = mode != Mode::BestEffort && !allocation.exhausted.is_empty();
    let errors = if fails {
        allocation
            .exhausted
            .iter()
            .map(|&i| {
                let limit = &rules.limits[i];
                let metric = config
                    .metric(&limit.metric)
                    .map(|m| m.display_name.as_str())
                    .filter(|name| !name.is_empty())
                    .unwrap_or(&limit.metric);
                let description = format!(
                    "Quota exceeded for quota metric '{metric}' and limit '{}' of service '{service}' for consumer '{consumer}'.",
                    limit.shown
                );
                quota_error(sc::quota_error::Code::ResourceExhausted, consumer, description)
            })
            .collect()
    } else {
        Vec::new()
    };
    let per_metric = |metric: &str, value: Value| sc::MetricValue {
        labels: [(QUOTA_NAME_LABEL.to_owned(), metric.to_owned())].into(),
        value: Some(value),
        ..Default::default()
    };
    let mut metrics = Vec::new();
    let allocated = matches!(mode, Mode::BestEffort) || (mode == Mode::Normal && !fails);
    if allocated && !allocation.granted.is_empty() {
        metrics.push(sc::MetricValueSet {
            metric_name: QUOTA_USED_COUNT.into(),
            metric_values: allocation
                .granted
                .iter()
                .map(|(metric, amount)| per_metric(metric, Value::Int64Value(*amount)))
                .collect(),
            ..Default::default()
        });
    }
    if !allocation.short.is_empty() {
        metrics.push(sc::MetricValueSet {
            metric_name: QUOTA_EXCEEDED.into(),
            metric_values: allocation
                .short
                .iter()
                .map(|metric| per_metric(metric, Value::BoolValue(true)))
                .collect(),
            ..Default::default()
        });
    }
    (errors, metrics)
}

/// A `QuotaError` with the status a gateway answers its client with for
/// the code (ESPv2's `check_response_convert_utils.cc`).
pub(crate) fn quota_error(
    code: sc::quota_error::Code,
    subject: &str,
    description: String,
) -> sc::QuotaError {
    use sc::quota_error::Code as Q;
    let status = match code {
        Q::ResourceExhausted => Code::ResourceExhausted,
        Q::BillingNotActive => Code::PermissionDenied,
        Q::ProjectDeleted | Q::ApiKeyInvalid | Q::ApiKeyExpired => Code::InvalidArgument,
        Q::Unspecified => Code::Internal,
    };
    sc::QuotaError {
        code: code as i32,
        subject: subject.to_owned(),
        status: Some(Status::new(status, description.clone())),
        description,
        ..Default::default()
    }
}

/// The `QuotaError` code AllocateQuota refuses a consumer with that Check
/// denies with `code` (`--deny-consumer`): the quota methods judge only
/// keys, deleted projects, billing and exhaustion (`QuotaError.Code`);
/// other denials are Check's alone, and quota is allocated as usual.
pub(crate) fn refusal_of(code: sc::check_error::Code) -> Option<sc::quota_error::Code> {
    use sc::check_error::Code as C;
    use sc::quota_error::Code as Q;
    match code {
        C::ResourceExhausted => Some(Q::ResourceExhausted),
        C::BillingDisabled => Some(Q::BillingNotActive),
        C::ProjectDeleted => Some(Q::ProjectDeleted),
        C::ApiKeyInvalid | C::ApiKeyNotFound => Some(Q::ApiKeyInvalid),
        C::ApiKeyExpired => Some(Q::ApiKeyExpired),
        _ => None,
    }
}

/// The `quota_metrics` of an answer granting what `op` asks, as the
/// emulator answers without a configuration: `quota_used_count` with one
/// value per metric asked (`/quota_name`, the `int64Value` amounts added
/// up), nothing for `CHECK_ONLY`, which allocates nothing.
pub(crate) fn granted_as_asked(op: &sc::QuotaOperation, mode: Mode) -> Vec<sc::MetricValueSet> {
    let mut amounts: Vec<(&str, i64)> = Vec::new();
    for set in &op.quota_metrics {
        let amount = set
            .metric_values
            .iter()
            .filter_map(|v| match v.value {
                Some(Value::Int64Value(n)) => Some(n),
                _ => None,
            })
            .fold(0i64, i64::saturating_add);
        match amounts.iter_mut().find(|(m, _)| *m == set.metric_name) {
            Some((_, total)) => *total = total.saturating_add(amount),
            None => amounts.push((&set.metric_name, amount)),
        }
    }
    if mode == Mode::CheckOnly || amounts.is_empty() {
        return Vec::new();
    }
    vec![sc::MetricValueSet {
        metric_name: QUOTA_USED_COUNT.into(),
        metric_values: amounts
            .into_iter()
            .map(|(metric, amount)| sc::MetricValue {
                labels: [(QUOTA_NAME_LABEL.to_owned(), metric.to_owned())].into(),
                value: Some(Value::Int64Value(amount)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }]
}

/// The encoded answer, as remembered for retries.
pub(crate) fn encoded(answer: &sc::AllocateQuotaResponse) -> Bytes {
    Bytes::from(answer.encode_to_vec())
}
