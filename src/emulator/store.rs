//! What the emulator keeps: the operations and statuses stored, the calls
//! logged and the faults waiting, and the live state calls judge by, with
//! what each item costs against the bounds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use super::consumers::ConsumerState;
use super::deployments::DeploymentState;
use super::rules::ServiceRules;

use super::{faults, quota, requests};

/// The rollout id answered for a service none was set for.
pub const DEFAULT_ROLLOUT_ID: &str = "emulator-rollout";

/// The configuration id answered for a service without a configuration, or
/// whose configuration has no `id`.
pub const DEFAULT_CONFIG_ID: &str = "emulator-config";

/// What a stored operation or status costs beside its encoding and names:
/// the entries in the tables that find it.
pub(super) const ITEM_OVERHEAD: usize = 96;
/// What a service's entry costs beside its name.
pub(super) const SERVICE_OVERHEAD: usize = 160;

/// The operations of one service, each as encoded, in arrival order.
#[derive(Default)]
pub(super) struct ServiceOperations {
    pub(super) ids: HashSet<String>,
    pub(super) operations: Vec<Bytes>,
}

/// An instance status report as encoded, with its report time.
pub(super) struct StoredStatus {
    pub(super) time: (i64, i32),
    pub(super) encoded: Bytes,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) services: HashMap<String, ServiceOperations>,
    pub(super) operation_count: usize,
    /// What everything stored costs, as [`Config::max_bytes`] counts it.
    pub(super) bytes: usize,
    /// The latest status report per (instance, instance uid).
    pub(super) statuses: BTreeMap<(String, String), StoredStatus>,
    /// Quota used, and allocations answered, for retries.
    pub(super) quota: quota::QuotaLedger,
}

/// What a test drives and reads of the calls themselves, under a lock of
/// its own so that logging a call does not wait on the store.
#[derive(Default)]
pub(super) struct Calls {
    /// Every Check, AllocateQuota and Report received.
    pub(super) requests: requests::RequestLog,
    /// Scripted answers and faults waiting for calls.
    pub(super) faults: faults::Faults,
}

/// What a running emulator judges by and may have replaced while it runs
/// (`PUT /emulator/v1/state`, `PUT /emulator/v1/services/{service}/config`):
/// each call takes the whole of it as it was when the call began.
#[derive(Clone, Default)]
pub(super) struct Live {
    pub(super) deployments: DeploymentState,
    pub(super) consumers: ConsumerState,
    /// Each configured service's rules, by name.
    pub(super) rules: HashMap<String, Arc<ServiceRules>>,
    /// Each service's rollout id, where one was set.
    pub(super) rollouts: HashMap<String, String>,
    /// The state file's text the deployments and consumers were read
    /// from, when they were (a snapshot keeps it).
    pub(super) state_text: Option<Arc<str>>,
}

impl Live {
    /// The `service_config_id` answers carry: the id of the configuration
    /// in use (not the request's), as Service Control answers it.
    pub(super) fn config_id(&self, service: &str) -> String {
        self.rules
            .get(service)
            .map(|r| r.config.service().id.as_str())
            .filter(|id| !id.is_empty())
            .unwrap_or(DEFAULT_CONFIG_ID)
            .to_owned()
    }

    /// The `service_rollout_id` answers carry.
    pub(super) fn rollout_id(&self, service: &str) -> String {
        self.rollouts
            .get(service)
            .map_or(DEFAULT_ROLLOUT_ID, String::as_str)
            .to_owned()
    }
}
