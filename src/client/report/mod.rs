//! The aggregating reporter: see [`Reporter`].

mod merge;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::policy::CallPolicy;
use super::transport::Transport;
use crate::google::api::servicecontrol::v1::operation::Importance;
use crate::google::api::servicecontrol::v1::{Operation, ReportRequest, ReportResponse};
pub(crate) use merge::Aggregate;
pub use merge::MetricKind;
use merge::Signature;

/// How a [`Reporter`] aggregates and sends.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The service the operations are reported for.
    pub service_name: String,
    /// The service configuration to use; empty for the latest.
    pub service_config_id: String,
    /// How long an operation may wait to be merged (default 5 s).
    pub window: Duration,
    /// An aggregate is sent once it holds this many log entries (default 100).
    pub max_log_entries: usize,
    /// The largest encoded request (default 1,000,000 bytes, the documented
    /// 1 MB).
    pub max_request_bytes: usize,
    /// The most aggregates held; past it the oldest is sent (default 10,000).
    pub max_cached_entries: usize,
    /// The most operations queued before they are aggregated; past it,
    /// `submit` waits and `try_submit` refuses (default 10,000).
    pub queue_capacity: usize,
    /// The most requests in flight at once (default 4).
    pub max_in_flight: usize,
    /// The kind of each metric; unlisted metrics are DELTA.
    pub metric_kinds: BTreeMap<String, MetricKind>,
    /// The timeout and retries of each request (ESPv2's: 2 s, 5 retries).
    pub retry: CallPolicy,
}

impl Config {
    /// The defaults for a service.
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            service_config_id: String::new(),
            window: Duration::from_secs(5),
            max_log_entries: 100,
            max_request_bytes: 1_000_000,
            max_cached_entries: 10_000,
            queue_capacity: 10_000,
            max_in_flight: 4,
            metric_kinds: BTreeMap::new(),
            retry: CallPolicy::report(),
        }
    }
}

/// What became of submitted operations. The ids are those of the submitted
/// operations (several, when operations merged into one aggregate).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Accepted by the service.
    Delivered {
        /// The operations delivered.
        operation_ids: Vec<String>,
    },
    /// Not accepted, for good.
    Failed {
        /// The operations lost.
        operation_ids: Vec<String>,
        /// Why: the service's `reportErrors` status, the call's error, or the
        /// last transient error once retries ran out.
        status: tonic::Status,
    },
}

/// Why an operation was not taken; the operation is handed back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The queue is full (only from `try_submit`).
    #[error("the reporter's queue is full")]
    Full(Box<Operation>),
    /// The reporter is shutting down or shut down.
    #[error("the reporter is shut down")]
    Closed(Box<Operation>),
    /// The operation alone does not fit in a request.
    #[error("the operation is {size} bytes encoded; requests are limited to {limit}")]
    TooLarge {
        /// The operation.
        operation: Box<Operation>,
        /// Its encoded size.
        size: usize,
        /// The request limit.
        limit: usize,
    },
}

/// Counts of what the reporter did, in operations (retried counts requests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Operations taken by `submit` or `try_submit`.
    pub accepted: u64,
    /// Operations merged into an aggregate of earlier ones.
    pub merged: u64,
    /// Operations delivered.
    pub sent: u64,
    /// Operations failed for good.
    pub failed: u64,
    /// Requests sent again after a transient failure.
    pub retried: u64,
    /// Operations refused when submitted: the queue full, the reporter shut
    /// down, or too large for a request (each handed back to its caller).
    pub refused: u64,
}

#[derive(Default)]
struct AtomicCounters {
    accepted: AtomicU64,
    merged: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    refused: AtomicU64,
}

impl AtomicCounters {
    fn snapshot(&self) -> Counters {
        Counters {
            accepted: self.accepted.load(Ordering::Relaxed),
            merged: self.merged.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

pub(crate) type OnOutcome = Arc<dyn Fn(Outcome) + Send + Sync>;

/// Asks the aggregator to stop, and hears when it has finished.
type Stop = (oneshot::Sender<()>, oneshot::Receiver<()>);

/// An aggregating Service Control reporter, as the `services.report`
/// documentation advises: operations are aggregated for up to 5 seconds,
/// requests stay under 1 MB, and no operation is lost silently.
///
/// Operations with the same consumer, operation name, labels and user labels
/// merge while they wait: the time range widens, log entries append, and
/// metric values of one metric with identical labels combine by the metric's
/// kind: DELTA values add (int64, double, and distributions, whose mean and
/// sum of squared deviations combine exactly), GAUGE and CUMULATIVE keep the
/// value with the latest end time. Operations that cannot merge without
/// losing something (different value types, different bucket layouts, an
/// int64 sum that would overflow, different unknown fields, which an
/// aggregate keeps one copy of) are never forced: the older aggregate is
/// sent first. HIGH importance operations are sent at once.
///
/// Every submitted operation ends in exactly one [`Outcome`]: delivered, or
/// failed with the status that says why (a `reportErrors` entry, a permanent
/// error, or transient errors that outlasted the retry budget). Memory is
/// bounded: a full reporter makes [`Reporter::submit`] wait and
/// [`Reporter::try_submit`] hand the operation back.
///
/// ```no_run
/// use cloud_report_proto::client::{GrpcTransport, Outcome, ReportConfig, Reporter};
/// use cloud_report_proto::google::api::servicecontrol::v1::Operation;
/// use tonic::transport::Channel;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let channel = Channel::from_static("http://127.0.0.1:8080").connect().await?;
/// let config = ReportConfig::new("my-api.endpoints.my-project.cloud.goog");
/// let reporter = Reporter::start(GrpcTransport::new(channel), config, |outcome| {
///     if let Outcome::Failed { operation_ids, status } = outcome {
///         eprintln!("lost {operation_ids:?}: {status}");
///     }
/// });
/// reporter.submit(Operation::default()).await?;
/// let counters = reporter.shutdown().await; // flushes everything and waits
/// println!("{} sent", counters.sent);
/// # Ok(()) }
/// ```
///
/// The handle is cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    queue: mpsc::Sender<Operation>,
    shutdown: Arc<tokio::sync::Mutex<Option<Stop>>>,
    counters: Arc<AtomicCounters>,
    max_operation_bytes: usize,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("counters", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// Starts a reporter on the current tokio runtime; `on_outcome` hears of
    /// every operation's fate.
    pub fn start<T: Transport>(
        transport: T,
        config: Config,
        on_outcome: impl Fn(Outcome) + Send + Sync + 'static,
    ) -> Self {
        Self::start_shared(Arc::new(transport), config, Arc::new(on_outcome))
    }

    /// [`start`](Self::start) with a transport shared with other callers.
    pub(crate) fn start_shared(
        transport: Arc<dyn Transport>,
        config: Config,
        on_outcome: OnOutcome,
    ) -> Self {
        let (queue, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let (stop, stopped) = oneshot::channel();
        let (done, finished) = oneshot::channel();
        let counters = Arc::new(AtomicCounters::default());
        let overhead = ReportRequest {
            service_name: config.service_name.clone(),
            service_config_id: config.service_config_id.clone(),
            operations: Vec::new(),
            ..Default::default()
        }
        .encoded_len();
        // An operation field costs its tag, its length and its bytes.
        let max_operation_bytes = config.max_request_bytes.saturating_sub(overhead + 1 + 5);
        let aggregator = Aggregator {
            transport,
            on_outcome,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            sequence: 0,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            sends: JoinSet::new(),
            counters: counters.clone(),
            overhead,
            config,
        };
        tokio::spawn(aggregator.run(receiver, stopped, done));
        Self {
            queue,
            shutdown: Arc::new(tokio::sync::Mutex::new(Some((stop, finished)))),
            counters,
            max_operation_bytes,
        }
    }

    fn check_size(&self, operation: Operation) -> Result<Operation, SubmitError> {
        let size = operation.encoded_len();
        if size > self.max_operation_bytes {
            return Err(SubmitError::TooLarge {
                operation: Box::new(operation),
                size,
                limit: self.max_operation_bytes,
            });
        }
        Ok(operation)
    }

    /// Submits an operation, waiting while the reporter is full.
    pub async fn submit(&self, operation: Operation) -> Result<(), SubmitError> {
        let taken = match self.check_size(operation) {
            Ok(operation) => self
                .queue
                .send(operation)
                .await
                .map_err(|e| SubmitError::Closed(Box::new(e.0))),
            Err(e) => Err(e),
        };
        self.count(taken)
    }

    /// Submits an operation if there is room now; otherwise hands it back,
    /// at once.
    pub fn try_submit(&self, operation: Operation) -> Result<(), SubmitError> {
        let taken = self.check_size(operation).and_then(|operation| {
            self.queue.try_send(operation).map_err(|e| match e {
                mpsc::error::TrySendError::Full(op) => SubmitError::Full(Box::new(op)),
                mpsc::error::TrySendError::Closed(op) => SubmitError::Closed(Box::new(op)),
            })
        });
        self.count(taken)
    }

    /// Counts a submission taken or refused.
    fn count(&self, taken: Result<(), SubmitError>) -> Result<(), SubmitError> {
        let counter = match taken {
            Ok(()) => &self.counters.accepted,
            Err(_) => &self.counters.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        taken
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        self.counters.snapshot()
    }

    /// Stops taking operations, sends everything held (retries included),
    /// and returns once every operation has its outcome. Later calls, from
    /// any clone, return at once.
    pub async fn shutdown(&self) -> Counters {
        if let Some((stop, finished)) = self.shutdown.lock().await.take() {
            let _ = stop.send(());
            let _ = finished.await;
        }
        self.counters.snapshot()
    }
}

struct Entry {
    aggregate: Aggregate,
    /// The ids of the submitted operations merged into it.
    ids: Vec<String>,
    deadline: Instant,
    sequence: u64,
}

struct Aggregator {
    transport: Arc<dyn Transport>,
    on_outcome: OnOutcome,
    entries: HashMap<Signature, Entry>,
    /// Entries by (deadline, arrival), for expiry and eviction.
    order: BTreeMap<(Instant, u64), Signature>,
    sequence: u64,
    in_flight: Arc<Semaphore>,
    sends: JoinSet<()>,
    counters: Arc<AtomicCounters>,
    overhead: usize,
    config: Config,
}

impl Aggregator {
    async fn run(
        mut self,
        mut queue: mpsc::Receiver<Operation>,
        mut stop: oneshot::Receiver<()>,
        done: oneshot::Sender<()>,
    ) {
        let mut stopping = false;
        loop {
            let next_deadline = self.order.keys().next().map(|(deadline, _)| *deadline);
            tokio::select! {
                operation = queue.recv() => match operation {
                    Some(operation) => self.add(operation).await,
                    None => break,
                },
                _ = &mut stop, if !stopping => {
                    // Take no more, but aggregate what is queued.
                    stopping = true;
                    queue.close();
                }
                () = sleep_until(next_deadline) => self.flush_expired(Instant::now()).await,
            }
        }
        let all: Vec<Signature> = self.order.values().cloned().collect();
        self.flush(all).await;
        while self.sends.join_next().await.is_some() {}
        let _ = done.send(());
    }

    async fn add(&mut self, operation: Operation) {
        if operation.importance == Importance::High as i32 {
            let id = operation.operation_id.clone();
            self.send(vec![(operation, vec![id])]).await;
            return;
        }
        let signature = Signature::of(&operation);
        if let Some(entry) = self.entries.get_mut(&signature) {
            let limit = self.config.max_request_bytes.saturating_sub(self.overhead);
            let len = operation.encoded_len();
            if entry.aggregate.fits(len, limit)
                && entry
                    .aggregate
                    .merge(&operation, len, &self.config.metric_kinds)
            {
                entry.ids.push(operation.operation_id);
                self.counters.merged.fetch_add(1, Ordering::Relaxed);
                if entry.aggregate.operation().log_entries.len() >= self.config.max_log_entries {
                    self.flush(vec![signature]).await;
                }
                return;
            }
            // It cannot join the aggregate: send the aggregate first.
            self.flush(vec![signature.clone()]).await;
        }
        if self.entries.len() >= self.config.max_cached_entries
            && let Some(oldest) = self.order.values().next().cloned()
        {
            self.flush(vec![oldest]).await;
        }
        let deadline = Instant::now() + self.config.window;
        self.sequence += 1;
        let id = operation.operation_id.clone();
        let full = operation.log_entries.len() >= self.config.max_log_entries;
        self.order
            .insert((deadline, self.sequence), signature.clone());
        self.entries.insert(
            signature.clone(),
            Entry {
                aggregate: Aggregate::new(operation),
                ids: vec![id],
                deadline,
                sequence: self.sequence,
            },
        );
        if full {
            self.flush(vec![signature]).await;
        }
    }

    async fn flush_expired(&mut self, now: Instant) {
        let expired: Vec<Signature> = self
            .order
            .range(..=(now, u64::MAX))
            .map(|(_, s)| s.clone())
            .collect();
        self.flush(expired).await;
    }

    /// Sends the given aggregates, several per request.
    async fn flush(&mut self, signatures: Vec<Signature>) {
        let mut batch = Vec::new();
        for signature in signatures {
            if let Some(entry) = self.entries.remove(&signature) {
                self.order.remove(&(entry.deadline, entry.sequence));
                batch.push((entry.aggregate.into_operation(), entry.ids));
            }
        }
        if !batch.is_empty() {
            self.send(batch).await;
        }
    }

    /// Packs operations into requests under the size limit (measured by the
    /// encoded length) and sends them, waiting for room in flight.
    async fn send(&mut self, operations: Vec<(Operation, Vec<String>)>) {
        let limit = self.config.max_request_bytes;
        let mut requests: Vec<Vec<(Operation, Vec<String>)>> = Vec::new();
        let mut size = self.overhead;
        for (operation, ids) in operations {
            let len = operation.encoded_len();
            let cost = 1 + prost::encoding::encoded_len_varint(len as u64) + len;
            match requests.last_mut() {
                Some(current) if size + cost <= limit => current.push((operation, ids)),
                _ => {
                    requests.push(vec![(operation, ids)]);
                    size = self.overhead;
                }
            }
            size += cost;
        }
        for request in requests {
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                return;
            };
            let delivery = Delivery {
                transport: self.transport.clone(),
                on_outcome: self.on_outcome.clone(),
                counters: self.counters.clone(),
                retry: self.config.retry.clone(),
            };
            let request_ids: Vec<Vec<String>> =
                request.iter().map(|(_, ids)| ids.clone()).collect();
            let message = ReportRequest {
                service_name: self.config.service_name.clone(),
                operations: request.into_iter().map(|(op, _)| op).collect(),
                service_config_id: self.config.service_config_id.clone(),
                ..Default::default()
            };
            self.sends.spawn(async move {
                delivery.deliver(message, request_ids).await;
                drop(permit);
            });
        }
        // Reap finished sends so the set does not grow.
        while self.sends.try_join_next().is_some() {}
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

struct Delivery {
    transport: Arc<dyn Transport>,
    on_outcome: OnOutcome,
    counters: Arc<AtomicCounters>,
    retry: CallPolicy,
}

impl Delivery {
    /// Sends one request by the call policy and reports every operation's
    /// outcome.
    async fn deliver(&self, request: ReportRequest, ids: Vec<Vec<String>>) {
        let (result, retries) = self
            .retry
            .call(|| self.transport.report(request.clone()))
            .await;
        add(&self.counters.retried, retries as usize);
        match result {
            Ok(response) => self.settle(&request, ids, &response),
            Err(status) => {
                tracing::warn!(
                    service = %request.service_name,
                    operations = request.operations.len(),
                    %status,
                    "Service Control report failed"
                );
                for operation_ids in ids {
                    add(&self.counters.failed, operation_ids.len());
                    (self.on_outcome)(Outcome::Failed {
                        operation_ids,
                        status: status.clone(),
                    });
                }
            }
        }
    }

    fn settle(&self, request: &ReportRequest, ids: Vec<Vec<String>>, response: &ReportResponse) {
        // The first error per operation id, found in one pass.
        let mut errors = HashMap::new();
        for error in &response.report_errors {
            errors.entry(error.operation_id.as_str()).or_insert(error);
        }
        for (operation, operation_ids) in request.operations.iter().zip(ids) {
            match errors.get(operation.operation_id.as_str()) {
                Some(error) => {
                    add(&self.counters.failed, operation_ids.len());
                    let status = error.status.clone().unwrap_or_else(|| {
                        crate::google::rpc::Status::new(
                            crate::google::rpc::Code::Unknown,
                            "the service reported the operation failed, without a status",
                        )
                    });
                    (self.on_outcome)(Outcome::Failed {
                        operation_ids,
                        status: status.into(),
                    });
                }
                None => {
                    add(&self.counters.sent, operation_ids.len());
                    (self.on_outcome)(Outcome::Delivered { operation_ids });
                }
            }
        }
    }
}
