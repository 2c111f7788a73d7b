//! What the client counts: [`Statistics`], read from counters the calls
//! bump without locking.

use std::sync::atomic::{AtomicU64, Ordering};

use super::report::Counters;
use crate::token::TokenStatistics;

/// Counts of what the client did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics {
    /// Checks asked of the client.
    pub checks: u64,
    /// Checks answered from the cache.
    pub check_hits: u64,
    /// Check calls made for requests (misses and refreshes).
    pub check_calls: u64,
    /// Check calls made only to send the usage cached answers counted.
    pub check_usage_calls: u64,
    /// Checks let through because the server could not be reached.
    pub check_failed_open: u64,
    /// Checks answered with a failure that refuses the request
    /// ([`Source::Failed`](super::Source::Failed): failing closed, no
    /// token, an error of the service).
    pub check_failures: u64,
    /// Quota asks of the client.
    pub quotas: u64,
    /// Quota asks answered from the cache.
    pub quota_hits: u64,
    /// Quota asks let through optimistically on a miss.
    pub quota_optimistic: u64,
    /// AllocateQuota calls made (misses, refreshes, asks that wait).
    pub quota_calls: u64,
    /// Quota asks let through because the server could not be reached.
    pub quota_failed_open: u64,
    /// Quota asks answered with a failure.
    pub quota_failures: u64,
    /// Usage or costs given up: still undelivered when the client shut
    /// down (or its shutdown's deadline passed), or past the bounds of what
    /// is held and sent at once during an outage (each a request; the error
    /// log says which). Until then, what fails is kept and sent again.
    pub undelivered: u64,
    /// Check and AllocateQuota calls tried again after a network failure.
    pub retries: u64,
    /// What the reporter did.
    pub reports: Counters,
    /// What the transport's token source did: fetches, failures, and calls
    /// not made for want of a token (all zero without a source).
    pub token: TokenStatistics,
}

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) checks: AtomicU64,
    pub(crate) check_hits: AtomicU64,
    pub(crate) check_calls: AtomicU64,
    pub(crate) check_usage_calls: AtomicU64,
    pub(crate) check_failed_open: AtomicU64,
    pub(crate) check_failures: AtomicU64,
    pub(crate) quotas: AtomicU64,
    pub(crate) quota_hits: AtomicU64,
    pub(crate) quota_optimistic: AtomicU64,
    pub(crate) quota_calls: AtomicU64,
    pub(crate) quota_failed_open: AtomicU64,
    pub(crate) quota_failures: AtomicU64,
    pub(crate) undelivered: AtomicU64,
    pub(crate) retries: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(counter: &AtomicU64, n: u32) {
    counter.fetch_add(u64::from(n), Ordering::Relaxed);
}

impl Stats {
    /// The counts now, with the reporter's and the token source's.
    pub(crate) fn read(&self, reports: Counters, token: TokenStatistics) -> Statistics {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Statistics {
            checks: load(&self.checks),
            check_hits: load(&self.check_hits),
            check_calls: load(&self.check_calls),
            check_usage_calls: load(&self.check_usage_calls),
            check_failed_open: load(&self.check_failed_open),
            check_failures: load(&self.check_failures),
            quotas: load(&self.quotas),
            quota_hits: load(&self.quota_hits),
            quota_optimistic: load(&self.quota_optimistic),
            quota_calls: load(&self.quota_calls),
            quota_failed_open: load(&self.quota_failed_open),
            quota_failures: load(&self.quota_failures),
            undelivered: load(&self.undelivered),
            retries: load(&self.retries),
            reports,
            token,
        }
    }
}
