//! How a [`Client`] is set up: [`ClientBuilder`], its caches, call
//! policies and failure settings.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use super::calls::{Client, Inner, tick_until_dropped};
use super::check::{self, CheckOptions};
use super::policy::CallPolicy;
use super::quota::{self, QuotaOptions};
use super::report::{self, Config as ReportConfig, MetricKind, Outcome, Reporter};
use super::stats::Stats;
use super::transport::Transport;

/// How a [`Client`] is set up; from [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    service_name: String,
    service_config_id: String,
    check: CheckOptions,
    quota: QuotaOptions,
    report: ReportConfig,
    check_policy: CallPolicy,
    quota_policy: CallPolicy,
    check_fail_open: bool,
    quota_fail_open: bool,
    on_outcome: report::OnOutcome,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("service_name", &self.service_name)
            .field("check", &self.check)
            .field("quota", &self.quota)
            .field("check_fail_open", &self.check_fail_open)
            .field("quota_fail_open", &self.quota_fail_open)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The service configuration id sent with every call (default: none,
    /// the latest).
    pub fn service_config_id(mut self, id: impl Into<String>) -> Self {
        self.service_config_id = id.into();
        self
    }

    /// The Check cache (default [`CheckOptions::default`]).
    pub fn check_options(mut self, options: CheckOptions) -> Self {
        self.check = options;
        self
    }

    /// The quota cache (default [`QuotaOptions::default`]).
    pub fn quota_options(mut self, options: QuotaOptions) -> Self {
        self.quota = options;
        self
    }

    /// How reports are aggregated and sent; its service name and
    /// configuration id are the client's.
    pub fn report_config(mut self, config: ReportConfig) -> Self {
        self.report = config;
        self
    }

    /// How Check calls are made (default [`CallPolicy::check`]).
    pub fn check_policy(mut self, policy: CallPolicy) -> Self {
        self.check_policy = policy;
        self
    }

    /// How AllocateQuota calls are made (default [`CallPolicy::quota`]).
    pub fn quota_policy(mut self, policy: CallPolicy) -> Self {
        self.quota_policy = policy;
        self
    }

    /// Whether failures let requests through, Check and AllocateQuota
    /// alike ([`check_fail_open`](Self::check_fail_open) and
    /// [`quota_fail_open`](Self::quota_fail_open) at once). `false` closes
    /// both: quota failing closed departs from ESPv2, for a gateway that
    /// must not overspend.
    pub fn fail_open(self, fail_open: bool) -> Self {
        self.check_fail_open(fail_open).quota_fail_open(fail_open)
    }

    /// Whether a Check that fails UNAVAILABLE ([`is_unavailable`](super::is_unavailable):
    /// Service Control unreachable, slow, or saying it is unavailable) lets
    /// the request through (default: yes). ESPv2's `network_fail_open`: any
    /// other failure refuses the request either way.
    pub fn check_fail_open(mut self, fail_open: bool) -> Self {
        self.check_fail_open = fail_open;
        self
    }

    /// Whether an AllocateQuota that fails, however it fails, lets the
    /// request through (default: yes, as ESPv2 always does whatever its
    /// `network_fail_open` says).
    pub fn quota_fail_open(mut self, fail_open: bool) -> Self {
        self.quota_fail_open = fail_open;
        self
    }

    /// The kind of each metric, for merging usage and reports; metrics not
    /// listed are DELTA.
    pub fn metric_kinds(mut self, kinds: BTreeMap<String, MetricKind>) -> Self {
        self.report.metric_kinds = kinds;
        self
    }

    /// The metric kinds of a service configuration.
    #[cfg(feature = "service-config")]
    pub fn service_config(self, config: &crate::service_config::ServiceConfig) -> Self {
        use crate::google::api::metric_descriptor::MetricKind as Kind;
        let kinds = config
            .service()
            .metrics
            .iter()
            .map(|m| {
                let kind = match m.metric_kind() {
                    Kind::Gauge => MetricKind::Gauge,
                    Kind::Cumulative => MetricKind::Cumulative,
                    _ => MetricKind::Delta,
                };
                (m.r#type.clone(), kind)
            })
            .collect();
        self.metric_kinds(kinds)
    }

    /// Hears the outcome of every reported operation.
    pub fn on_report_outcome(mut self, f: impl Fn(Outcome) + Send + Sync + 'static) -> Self {
        self.on_outcome = Arc::new(f);
        self
    }

    /// Starts the client on the current tokio runtime.
    pub fn build(self, transport: impl Transport) -> Client {
        let transport: Arc<dyn Transport> = Arc::new(transport);
        let mut report = self.report;
        report.service_name.clone_from(&self.service_name);
        report.service_config_id.clone_from(&self.service_config_id);
        let kinds = Arc::new(report.metric_kinds.clone());
        let reporter = Reporter::start_shared(transport.clone(), report, self.on_outcome);
        let tick = self
            .check
            .expiration
            .min(self.quota.refresh_interval)
            .max(Duration::from_millis(10));
        let inner = Arc::new(Inner {
            check: check::CheckCache::new(
                self.check,
                kinds,
                (self.service_name.clone(), self.service_config_id.clone()),
            ),
            quota: quota::QuotaCache::new(self.quota),
            service_name: self.service_name,
            service_config_id: self.service_config_id,
            transport,
            check_policy: self.check_policy,
            quota_policy: self.quota_policy,
            check_fail_open: self.check_fail_open,
            quota_fail_open: self.quota_fail_open,
            stats: Stats::default(),
            sends: Mutex::new(JoinSet::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        let ticker = tokio::spawn(tick_until_dropped(Arc::downgrade(&inner), tick));
        Client {
            inner,
            reporter,
            ticker: Arc::new(Mutex::new(Some(ticker))),
        }
    }
}

impl Client {
    /// A client of `service_name` with the defaults: the library's caches,
    /// ESPv2's call policies, failing open.
    pub fn builder(service_name: impl Into<String>) -> ClientBuilder {
        let service_name = service_name.into();
        ClientBuilder {
            report: ReportConfig::new(service_name.clone()),
            service_name,
            service_config_id: String::new(),
            check: CheckOptions::default(),
            quota: QuotaOptions::default(),
            check_policy: CallPolicy::check(),
            quota_policy: CallPolicy::quota(),
            check_fail_open: true,
            quota_fail_open: true,
            on_outcome: Arc::new(|_| {}),
        }
    }
}
