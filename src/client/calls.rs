//! The [`Client`]: Check, AllocateQuota and Report as a gateway makes
//! them, through the Check cache, the quota cache and the reporter, with
//! the client's own failures told apart from the caller's (the crate's
//! `client` module documents it whole).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use super::answers::{CheckAnswer, QuotaAnswer, Source, unavailable_check_error};
use super::check;
use super::policy::{CallPolicy, is_unavailable};
use super::quota;
use super::report::{Reporter, SubmitError};
use super::stats::{Statistics, Stats, add, bump};
use super::transport::{CallFuture, Transport};

use crate::google::api::servicecontrol::v1::{
    AllocateQuotaRequest, AllocateQuotaResponse, CheckRequest, Operation,
};

/// The operation of a request, when it carries usage.
fn usage_of(request: &CheckRequest) -> Option<Operation> {
    request
        .operation
        .as_ref()
        .filter(|op| !op.metric_value_sets.is_empty())
        .cloned()
}

/// The usage of earlier requests a Check call carries, under the call's
/// operation id, held while the call waits. Dropped with it (the call's
/// future dropped: its caller gone, an outer timeout), the usage is owed:
/// it waits in its entry for the next answer, or goes on its own when the
/// entry is gone, under the call's id, so that a server the call reached
/// counts it once. The dropped request's own usage is not owed.
struct HeldUsage<'a> {
    inner: &'a Arc<Inner>,
    key: Option<u128>,
    usage: Option<Operation>,
}

impl Drop for HeldUsage<'_> {
    fn drop(&mut self) {
        if let Some(usage) = self.usage.take() {
            self.inner.owe(self.key, usage);
        }
    }
}

/// A Check call others of its key wait on. Dropped, it tells them how it
/// landed: its failure, or nothing (an answer, now cached; or the call given
/// up, when it is dropped before landing).
struct Flying<'a> {
    inner: &'a Inner,
    key: Option<u128>,
    landing: Option<check::Landing>,
}

impl Drop for Flying<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.inner.check.land(key, self.landing.take().flatten());
        }
    }
}

/// How the call a request waits on landed: its failure, or `None` (look
/// up again).
async fn landing(mut flight: check::Flight) -> check::Landing {
    loop {
        if let Some(landing) = flight.borrow_and_update().clone() {
            return landing;
        }
        if flight.changed().await.is_err() {
            return flight.borrow().clone().flatten();
        }
    }
}

/// A Service Control client; see the [module documentation](super).
#[derive(Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
    pub(super) reporter: Reporter,
    pub(super) ticker: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("service_name", &self.inner.service_name)
            .field("statistics", &self.statistics())
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) service_name: String,
    pub(super) service_config_id: String,
    pub(super) transport: Arc<dyn Transport>,
    pub(super) check: check::CheckCache,
    pub(super) quota: quota::QuotaCache,
    pub(super) check_policy: CallPolicy,
    pub(super) quota_policy: CallPolicy,
    /// Whether a Check failing UNAVAILABLE lets its request through.
    pub(super) check_fail_open: bool,
    /// Whether a failed AllocateQuota lets its request through.
    pub(super) quota_fail_open: bool,
    pub(super) stats: Stats,
    /// Calls made in the background: usage, refreshes.
    pub(super) sends: Mutex<JoinSet<()>>,
    /// Set by `shutdown`: later calls are refused, as their usage could not
    /// be sent.
    pub(super) closed: std::sync::atomic::AtomicBool,
}

/// The most calls sent in the background at once (usage, quota refreshes):
/// an outage makes them pile up, each holding its request.
pub const MAX_BACKGROUND_SENDS: usize = 1024;

/// The sends a shutdown waits for. Dropped before they end (the shutdown's
/// future dropped, its deadline passed), it gives them up and counts them.
struct Draining<'a> {
    inner: &'a Inner,
    sends: JoinSet<()>,
}

impl Drop for Draining<'_> {
    fn drop(&mut self) {
        let cut = self.sends.len();
        if cut > 0 {
            add(
                &self.inner.stats.undelivered,
                u32::try_from(cut).unwrap_or(u32::MAX),
            );
            tracing::error!(service = %self.inner.service_name, cut, "shutdown cut short: usage and quota costs still being sent are given up");
        }
    }
}

/// What the client holds when its last clone is dropped without
/// `shutdown()` goes out in the background, as service-control-client-cxx
/// flushes in its destructor: Check usage and quota costs are sent (with no
/// one to hear how it went), and sends under way go on.
impl Drop for Inner {
    fn drop(&mut self) {
        if self.closed.load(Ordering::Acquire) {
            // Shut down: what a call failing at the same time kept after
            // the shutdown's drain is lost; the log says so.
            let left = self.check.drain().len() + self.quota.drain(&self.quota_template()).len();
            if left > 0 {
                tracing::error!(service = %self.service_name, left, "usage kept while the client shut down could not be sent");
            }
            return;
        }
        let usage = self.check.drain();
        let template = self.quota_template();
        let refreshes = self.quota.drain(&template);
        let held = usage.len() + refreshes.len();
        if tokio::runtime::Handle::try_current().is_err() {
            if held > 0 {
                tracing::error!(service = %self.service_name, held, "client dropped outside a runtime: held usage and quota costs are lost");
            }
            return;
        }
        self.sends
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .detach_all();
        if held == 0 {
            return;
        }
        tracing::warn!(service = %self.service_name, held, "client dropped without shutdown(): sending what it held in the background");
        for request in usage {
            let (transport, policy) = (self.transport.clone(), self.check_policy.clone());
            tokio::spawn(async move {
                let _ = policy.call(|| transport.check(request.clone())).await;
            });
        }
        for refresh in refreshes {
            let (transport, policy) = (self.transport.clone(), self.quota_policy.clone());
            let mut request = refresh.request;
            self.fill_service(&mut request.service_name, &mut request.service_config_id);
            tokio::spawn(async move {
                let _ = policy
                    .call(|| transport.allocate_quota(request.clone()))
                    .await;
            });
        }
    }
}

/// Every tick, expires Check answers and refreshes quota, until the client
/// is gone.
pub(super) async fn tick_until_dropped(inner: Weak<Inner>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let now = Instant::now();
        for usage in inner.check.expire(now) {
            inner.send_usage(usage);
        }
        for refresh in inner.quota.tick(now, &inner.quota_template()) {
            inner.send_refresh(refresh);
        }
    }
}

impl Client {
    /// Checks an operation: from the cache when it can (LOW importance, an
    /// answer cached), from the server otherwise. A failed call is an
    /// answer too: let through ([`Source::FailedOpen`]) or refused
    /// ([`Source::Failed`]), its [`denial`](CheckAnswer::denial) what the
    /// caller is told, as ESPv2 decides it.
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT for a request without an operation or of another
    /// service; FAILED_PRECONDITION once the client is shut down.
    pub async fn check(&self, request: &CheckRequest) -> Result<CheckAnswer, tonic::Status> {
        let inner = &self.inner;
        bump(&inner.stats.checks);
        inner.ours(&request.service_name)?;
        if request.operation.is_none() {
            return Err(tonic::Status::invalid_argument("operation is required"));
        }
        let check::Call {
            request: mut sent,
            key,
            earlier,
            flight,
        } = loop {
            let (lookup, overflow) = inner.check.lookup(request, Instant::now());
            if let Some(usage) = overflow {
                inner.send_usage(usage);
            }
            match lookup {
                check::Lookup::Hit(response) => {
                    bump(&inner.stats.check_hits);
                    return Ok(CheckAnswer {
                        response,
                        source: Source::Cache,
                    });
                }
                check::Lookup::Call(call) => break *call,
                check::Lookup::Wait(flight) => {
                    // Another request of the key is asking: its answer, now
                    // cached, is looked up again; its failure is this
                    // request's too; a call given up is asked again.
                    if let Some(status) = landing(flight).await {
                        return inner.waiter_failed(request, status);
                    }
                }
            }
        };
        // Requests of the key that miss meanwhile wait for this call: the
        // guard tells them how it landed, or that it was given up.
        let mut flying = Flying {
            inner,
            key: key.filter(|_| flight),
            landing: None,
        };
        inner.fill_service(&mut sent.service_name, &mut sent.service_config_id);
        // Others' usage rides on this call: if the call is dropped before
        // its answer, the guard keeps that usage to send again.
        let call_id = sent
            .operation
            .as_ref()
            .map(|op| op.operation_id.clone())
            .unwrap_or_default();
        let mut earlier = earlier.map(|mut usage| {
            usage.operation_id.clone_from(&call_id);
            usage
        });
        let mut held = HeldUsage {
            inner,
            key,
            usage: earlier.clone(),
        };
        bump(&inner.stats.check_calls);
        let transport = inner.transport.clone();
        let span = tracing::debug_span!(
            "servicecontrol.check",
            service = %inner.service_name,
            cached = key.is_some(),
        );
        let result = inner
            .counted(&inner.check_policy, span, || transport.check(sent.clone()))
            .await;
        // An answer saying a backend of Service Control is unavailable is no
        // decision: a failure, never cached as a denial.
        let result = result.and_then(|response| match unavailable_check_error(&response) {
            Some(status) => Err(status),
            None => Ok(response),
        });
        held.usage = None;
        flying.landing = Some(result.as_ref().err().cloned());
        match result {
            Ok(response) => {
                let response = Arc::new(response);
                if let Some(key) = key {
                    for usage in inner.check.store(key, response.clone(), Instant::now()) {
                        inner.send_usage(usage);
                    }
                }
                Ok(CheckAnswer {
                    response,
                    source: Source::Server,
                })
            }
            Err(status) => {
                let fails_open = inner.check_fails_open(&status);
                // What earlier requests used is owed whatever happens; this
                // request's own usage only if it goes on (failing open).
                // Either goes again under the call's operation id: a server
                // that counted the call before the failure (an answer lost,
                // a retry refused) knows it by its id and counts nothing
                // more. Going on, the call is owed whole, as it was sent;
                // not going on, only the earlier usage.
                let owed = if fails_open {
                    sent.operation.take()
                } else {
                    earlier.take()
                };
                if let Some(usage) = owed {
                    inner.owe(key, usage);
                }
                if fails_open {
                    tracing::warn!(service = %inner.service_name, %status, "Service Control Check failed; failing open");
                } else {
                    tracing::warn!(service = %inner.service_name, %status, "Service Control Check failed; the request is refused");
                }
                Ok(inner.failed_check(status, fails_open))
            }
        }
    }

    /// Asks for quota: from the cache when it can (allowing or denying),
    /// optimistically on a miss, from the server only when the ask cannot
    /// be added up (no `quota_metrics`, `CHECK_ONLY`, `QUERY_ONLY`) or the
    /// cache is off. A failed call is an answer too: let through
    /// ([`Source::FailedOpen`], ESPv2's way) or refused ([`Source::Failed`],
    /// with [`ClientBuilder::quota_fail_open`](super::ClientBuilder::quota_fail_open) off).
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT for a request without an operation or of another
    /// service; FAILED_PRECONDITION once the client is shut down.
    pub async fn allocate_quota(
        &self,
        request: &AllocateQuotaRequest,
    ) -> Result<QuotaAnswer, tonic::Status> {
        let inner = &self.inner;
        bump(&inner.stats.quotas);
        inner.ours(&request.service_name)?;
        if request.allocate_operation.is_none() {
            return Err(tonic::Status::invalid_argument(
                "allocate_operation is required",
            ));
        }
        let (lookup, evicted) = inner.quota.lookup(request, Instant::now());
        for refresh in evicted {
            inner.send_refresh(refresh);
        }
        let request = match lookup {
            quota::Lookup::Answer {
                answer,
                optimistic,
                refresh,
            } => {
                if let Some(refresh) = refresh {
                    inner.send_refresh(refresh);
                }
                let source = if optimistic {
                    bump(&inner.stats.quota_optimistic);
                    Source::Optimistic
                } else {
                    bump(&inner.stats.quota_hits);
                    Source::Cache
                };
                return Ok(QuotaAnswer {
                    response: answer,
                    source,
                });
            }
            quota::Lookup::Failed { failure, refresh } => {
                if let Some(refresh) = refresh {
                    inner.send_refresh(refresh);
                }
                bump(&inner.stats.quota_failures);
                return Ok(QuotaAnswer {
                    response: Arc::default(),
                    source: Source::Failed(failure),
                });
            }
            quota::Lookup::Call(mut request) => {
                inner.fill_service(&mut request.service_name, &mut request.service_config_id);
                request
            }
        };
        bump(&inner.stats.quota_calls);
        // An ask outside the cache: nothing of the cache waits on it, so a
        // caller gone leaves nothing behind.
        let transport = inner.transport.clone();
        let span =
            tracing::debug_span!("servicecontrol.allocate_quota", service = %inner.service_name);
        let result = inner
            .counted(&inner.quota_policy, span, || {
                transport.allocate_quota(request.clone())
            })
            .await;
        if inner.quota_fail_open
            && result.is_err()
            && request
                .allocate_operation
                .as_ref()
                .is_some_and(quota::charges)
        {
            // An ask outside the cache let through on a failure: its costs
            // are owed, sent again under its id at the next tick.
            inner.keep_undelivered_costs(quota::Slot::NONE, &request);
        }
        inner.quota_outcome(result)
    }

    /// Queues an operation to report, at once: it never waits, so a request
    /// handler that reports is never held up by Service Control (ESPv2's
    /// report never waits either). An operation the reporter cannot take now
    /// (its queue full during an outage, the client shut down, an operation
    /// too large for a request) is handed back in the error, counted in
    /// [`Statistics::reports`] (`refused`), and warned about.
    ///
    /// # Errors
    ///
    /// See [`Reporter::try_submit`].
    pub async fn report(&self, operation: Operation) -> Result<(), SubmitError> {
        self.try_report(operation)
    }

    /// Queues an operation to report if there is room now: what
    /// [`report`](Self::report) does, without the `async`.
    ///
    /// # Errors
    ///
    /// See [`Reporter::try_submit`].
    pub fn try_report(&self, operation: Operation) -> Result<(), SubmitError> {
        self.reporter.try_submit(operation).inspect_err(|error| {
            tracing::warn!(service = %self.inner.service_name, %error, "an operation to report was refused");
        })
    }

    /// The counts so far.
    pub fn statistics(&self) -> Statistics {
        let token = self.inner.transport.token_statistics().unwrap_or_default();
        self.inner.stats.read(self.reporter.counters(), token)
    }

    /// How many Check answers are cached.
    pub fn cached_checks(&self) -> usize {
        self.inner.check.len()
    }

    /// Stops the background work, sends the usage and quota costs still
    /// held and every report, and waits for all of it. Checks, quota asks
    /// and reports made after it are refused (FAILED_PRECONDITION,
    /// `SubmitError::Closed`): their usage could not be sent. Later calls,
    /// from any clone, return the counts at once.
    pub async fn shutdown(&self) -> Statistics {
        self.inner.closed.store(true, Ordering::Release);
        let ticker = self
            .ticker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(ticker) = ticker {
            ticker.abort();
            let inner = &self.inner;
            for usage in inner.check.drain() {
                inner.send_usage(usage);
            }
            for refresh in inner.quota.drain(&inner.quota_template()) {
                inner.send_refresh(refresh);
            }
            let mut draining = Draining {
                inner,
                sends: std::mem::take(
                    &mut *inner.sends.lock().unwrap_or_else(PoisonError::into_inner),
                ),
            };
            while draining.sends.join_next().await.is_some() {}
            // A send that failed while the shutdown began may have kept its
            // usage after the drain: it is not sent now, but counted.
            let left = inner.check.drain().len() + inner.quota.drain(&inner.quota_template()).len();
            if left > 0 {
                add(
                    &inner.stats.undelivered,
                    u32::try_from(left).unwrap_or(u32::MAX),
                );
                tracing::error!(service = %inner.service_name, left, "usage kept while the client shut down could not be sent");
            }
            self.reporter.shutdown().await;
        }
        self.statistics()
    }

    /// [`shutdown`](Self::shutdown), waiting at most `deadline`. Usage and
    /// quota costs not delivered by then are given up and counted in
    /// [`Statistics::undelivered`] (each call once); report requests under
    /// way go on in the background, their outcomes still told.
    pub async fn shutdown_within(&self, deadline: Duration) -> Statistics {
        let _ = tokio::time::timeout(deadline, self.shutdown()).await;
        self.statistics()
    }
}

impl Inner {
    /// A call made by `policy` within `span`, its retries counted.
    async fn counted<T>(
        &self,
        policy: &CallPolicy,
        span: tracing::Span,
        attempt: impl Fn() -> CallFuture<T>,
    ) -> Result<T, tonic::Status> {
        let (result, retries) = policy.call(attempt).instrument(span).await;
        add(&self.stats.retries, retries);
        result
    }

    /// The answer to a request whose key's call failed while it waited: let
    /// through as that call was (its usage sent on its own), or the same
    /// error.
    fn waiter_failed(
        self: &Arc<Self>,
        request: &CheckRequest,
        status: tonic::Status,
    ) -> Result<CheckAnswer, tonic::Status> {
        let fails_open = self.check_fails_open(&status);
        if fails_open
            && let Some(usage) = usage_of(request).and_then(|u| self.check.restore_unkeyed(u))
        {
            self.send_usage(usage);
        }
        Ok(self.failed_check(status, fails_open))
    }

    /// Whether a Check that failed so lets its request through: failing
    /// open, on a failure that is UNAVAILABLE ([`is_unavailable`]).
    fn check_fails_open(&self, status: &tonic::Status) -> bool {
        self.check_fail_open && is_unavailable(status)
    }

    /// The answer to a Check whose call failed, counted: let through or
    /// refused.
    fn failed_check(&self, status: tonic::Status, fails_open: bool) -> CheckAnswer {
        let source = if fails_open {
            bump(&self.stats.check_failed_open);
            Source::FailedOpen(status)
        } else {
            bump(&self.stats.check_failures);
            Source::Failed(status)
        };
        CheckAnswer {
            response: Arc::default(),
            source,
        }
    }

    /// Refuses a request of another service, or any once shut down.
    fn ours(&self, name: &str) -> Result<(), tonic::Status> {
        if self.closed.load(Ordering::Acquire) {
            return Err(tonic::Status::failed_precondition(
                "the Service Control client is shut down: its usage could not be sent",
            ));
        }
        if name.is_empty() || name == self.service_name {
            Ok(())
        } else {
            Err(tonic::Status::invalid_argument(format!(
                "service_name {name:?} is not the client's ({:?})",
                self.service_name
            )))
        }
    }

    /// Fills in the client's service and configuration id where a request
    /// to send leaves them empty.
    fn fill_service(&self, name: &mut String, config_id: &mut String) {
        if name.is_empty() {
            name.clone_from(&self.service_name);
        }
        if config_id.is_empty() {
            config_id.clone_from(&self.service_config_id);
        }
    }

    fn quota_template(&self) -> AllocateQuotaRequest {
        AllocateQuotaRequest {
            service_name: self.service_name.clone(),
            service_config_id: self.service_config_id.clone(),
            allocate_operation: None,
            ..Default::default()
        }
    }

    /// The answer to an ask from a call's result, failing open or closed.
    fn quota_outcome(
        &self,
        result: Result<AllocateQuotaResponse, tonic::Status>,
    ) -> Result<QuotaAnswer, tonic::Status> {
        match result {
            Ok(response) => Ok(QuotaAnswer {
                response: Arc::new(response),
                source: Source::Server,
            }),
            Err(status) if self.quota_fail_open => {
                bump(&self.stats.quota_failed_open);
                tracing::warn!(service = %self.service_name, %status, "Service Control AllocateQuota failed; failing open");
                Ok(QuotaAnswer {
                    response: Arc::default(),
                    source: Source::FailedOpen(status),
                })
            }
            Err(status) => {
                bump(&self.stats.quota_failures);
                tracing::warn!(service = %self.service_name, %status, "Service Control AllocateQuota failed; the request is refused");
                Ok(QuotaAnswer {
                    response: Arc::default(),
                    source: Source::Failed(status),
                })
            }
        }
    }

    /// The background sends, to spawn one more into, unless
    /// [`MAX_BACKGROUND_SENDS`] are under way (an outage piles them up):
    /// then `None`, and the caller keeps or counts what it was to send.
    fn room(&self) -> Option<std::sync::MutexGuard<'_, JoinSet<()>>> {
        let mut sends = self.sends.lock().unwrap_or_else(PoisonError::into_inner);
        while sends.try_join_next().is_some() {}
        (sends.len() < MAX_BACKGROUND_SENDS).then_some(sends)
    }

    /// Sends a Check carrying usage only, in the background; past the bound
    /// of sends under way, the usage is counted undelivered.
    fn send_usage(self: &Arc<Self>, request: CheckRequest) {
        bump(&self.stats.check_usage_calls);
        let inner = self.clone();
        let span = tracing::debug_span!("servicecontrol.check_usage", service = %self.service_name);
        let Some(mut sends) = self.room() else {
            let busy = tonic::Status::resource_exhausted(format!(
                "{MAX_BACKGROUND_SENDS} sends already under way"
            ));
            self.keep_undelivered_usage(request, &busy);
            return;
        };
        sends.spawn(async move {
            let transport = inner.transport.clone();
            let result = inner
                .counted(&inner.check_policy, span, || {
                    transport.check(request.clone())
                })
                .await;
            if let Err(status) = result {
                inner.keep_undelivered_usage(request, &status);
            }
        });
    }

    /// Owes the usage of a call that failed or was dropped while its usage
    /// was owed: kept to send again under its operation id (in its entry,
    /// or for the next tick), sent now past the bound of bytes held. Once
    /// the client is shut down (or outside a runtime), it can no longer be
    /// sent, and is counted undelivered.
    fn owe(self: &Arc<Self>, key: Option<u128>, usage: Operation) {
        if usage.metric_value_sets.is_empty() {
            return;
        }
        if self.closed.load(Ordering::Acquire) || tokio::runtime::Handle::try_current().is_err() {
            bump(&self.stats.undelivered);
            tracing::error!(service = %self.service_name, "usage of a failed or cancelled Check could not be sent: the client is shut down");
            return;
        }
        if let Some(request) = self.check.keep_unsent(key, usage) {
            self.send_usage(request);
        }
    }

    /// Keeps usage whose send failed, as it was sent, to send again at the
    /// next tick (a server that counted it knows the retry by its id). Once
    /// the client is shut down, or past the bound of bytes held, it is
    /// counted undelivered instead.
    fn keep_undelivered_usage(&self, request: CheckRequest, status: &tonic::Status) {
        let kept = !self.closed.load(Ordering::Acquire)
            && request
                .operation
                .is_some_and(|op| self.check.keep_unsent(None, op).is_none());
        if kept {
            tracing::warn!(service = %self.service_name, %status, "usage counted by cached Check answers could not be sent; trying again at the next tick");
        } else {
            bump(&self.stats.undelivered);
            tracing::error!(service = %self.service_name, %status, "usage counted by cached Check answers could not be sent");
        }
    }

    /// Keeps quota costs let through whose call failed after their entry
    /// was gone, as they were sent, to send again at the next tick. Once
    /// the client is shut down, or past the bound, they are counted
    /// undelivered instead.
    fn keep_undelivered_costs(&self, key: quota::Slot, sent: &AllocateQuotaRequest) {
        if self.closed.load(Ordering::Acquire) || !self.quota.keep_orphan(key, sent) {
            bump(&self.stats.undelivered);
            tracing::error!(service = %self.service_name, "quota costs let through could not be sent");
        } else {
            tracing::warn!(service = %self.service_name, "quota costs let through could not be sent; trying again at the next tick");
        }
    }

    /// Sends a quota refresh in the background and stores its answer.
    fn send_refresh(self: &Arc<Self>, refresh: quota::Refresh) {
        bump(&self.stats.quota_calls);
        let inner = self.clone();
        let span =
            tracing::debug_span!("servicecontrol.quota_refresh", service = %self.service_name);
        let Some(mut sends) = self.room() else {
            // Too many sends under way: a probe is given up (its entry
            // probes again later); costs wait in their entry for the next
            // refresh, as after a failed one (an entry gone counts them).
            if refresh.probe {
                self.quota.abandon(refresh.key);
                return;
            }
            if !self
                .quota
                .store(refresh.key, &refresh.request, quota::Outcome::NotSent)
            {
                self.keep_undelivered_costs(refresh.key, &refresh.request);
            }
            return;
        };
        let probe = refresh.probe;
        sends.spawn(async move {
            let transport = inner.transport.clone();
            let mut request = refresh.request;
            inner.fill_service(&mut request.service_name, &mut request.service_config_id);
            let result = inner
                .counted(&inner.quota_policy, span, || {
                    transport.allocate_quota(request.clone())
                })
                .await;
            // A probe's costs were refused with the cached denial: never
            // kept to send again.
            let (outcome, failed) = match result {
                Ok(response) => (quota::Outcome::Answered(Arc::new(response)), false),
                Err(status) => {
                    tracing::warn!(service = %inner.service_name, %status, "AllocateQuota refresh failed");
                    let deny = (!inner.quota_fail_open).then_some(status);
                    let outcome = quota::Outcome::Failed {
                        deny,
                        let_through: !probe,
                    };
                    (outcome, !probe)
                }
            };
            // Costs of a failed refresh wait in their entry, as they were
            // sent, for the next one; with the entry gone (expired,
            // evicted), for the next tick.
            if !inner.quota.store(refresh.key, &request, outcome) && failed {
                inner.keep_undelivered_costs(refresh.key, &request);
            }
        });
    }
}
