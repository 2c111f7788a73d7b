//! How an emulator behaves: [`Config`], its setters, and the state file.

use std::collections::BTreeMap;

use super::clock::Clock;
use super::consumers::{ApiKey, ConsumerState, Project};
use super::deployments::{DeploymentState, Organization, StateError};

use super::deployments;
use super::trust::TrustedServiceAccount;
use crate::google::api::servicecontrol::v1 as sc;
use crate::service_config::ServiceConfig;

/// The default of [`Config::max_bytes`]: 512 MiB.
pub const DEFAULT_MAX_BYTES: usize = 512 << 20;

/// The default of [`Config::max_request_log_bytes`]: 64 MiB.
pub const DEFAULT_MAX_REQUEST_LOG_BYTES: usize = 64 << 20;

/// How an [`Emulator`](super::shared::Emulator) behaves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Calls without `Authorization: Bearer <token>` fail with
    /// UNAUTHENTICATED when set (unless their token is one a
    /// [`trusted_service_accounts`](Self::trusted_service_accounts) signed).
    pub require_token: Option<String>,
    /// Service accounts whose self-signed JWTs (what Google's auth
    /// libraries make from a key file) are accepted as bearer tokens, as
    /// Google's front end checks them (see [`TrustedServiceAccount`]). With
    /// some, a call needs such a token or [`require_token`](Self::require_token)'s.
    pub trusted_service_accounts: Vec<TrustedServiceAccount>,
    /// The most operations stored, over all services.
    pub max_operations: usize,
    /// The most instance statuses stored.
    pub max_statuses: usize,
    /// The most bytes stored: operations and statuses as encoded, their ids
    /// and names, and a fixed cost per stored item and per service.
    pub max_bytes: usize,
    /// Consumers (`project:...`, `api_key:...`) that Check denies, with the
    /// code to deny them with; AllocateQuota refuses them quota with the
    /// matching `QuotaError` code where there is one (a denial that is
    /// Check's alone, such as `SERVICE_NOT_ACTIVATED`, refuses no quota).
    pub denied_consumers: BTreeMap<String, sc::check_error::Code>,
    /// What deployment change reports are computed from.
    pub deployments: DeploymentState,
    /// The services' configurations. With none, any service name is
    /// accepted and reports are checked only against the API's own rules
    /// (the lenient mode); with some, a service without one is NOT_FOUND and
    /// reports are checked against its configuration.
    pub service_configs: Vec<ServiceConfig>,
    /// The projects and API keys Check judges consumers by. With none, Check
    /// allows every consumer not in [`denied_consumers`](Self::denied_consumers).
    pub consumers: ConsumerState,
    /// The time quota windows are counted by.
    pub clock: Clock,
    /// How Check answers a consumer id of no consumer form, or none where
    /// the method needs one: Google documents nothing, so the emulator's
    /// choice is switchable.
    pub consumer_errors: ConsumerErrors,
    /// The most bytes the request log holds (each request as encoded, its
    /// service name, and a fixed cost an entry); the oldest entries are
    /// dropped, and counted, to make room.
    pub max_request_log_bytes: usize,
    /// The directory `POST /emulator/v1:export` writes snapshots under
    /// (`serve --data-dir`); without one, the endpoint is refused.
    pub data_dir: Option<std::path::PathBuf>,
    /// The state file's text [`state_json`](Self::state_json) read, kept
    /// for snapshots.
    pub(super) state_text: Option<std::sync::Arc<str>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            require_token: None,
            trusted_service_accounts: Vec::new(),
            max_operations: 1_000_000,
            max_statuses: 100_000,
            max_bytes: DEFAULT_MAX_BYTES,
            denied_consumers: BTreeMap::new(),
            deployments: DeploymentState::default(),
            service_configs: Vec::new(),
            consumers: ConsumerState::default(),
            clock: Clock::system(),
            max_request_log_bytes: DEFAULT_MAX_REQUEST_LOG_BYTES,
            consumer_errors: ConsumerErrors::default(),
            state_text: None,
            data_dir: None,
        }
    }
}

/// Setters, so a configuration can be written in one expression outside the
/// crate (the struct is `#[non_exhaustive]`).
///
/// ```
/// use cloud_report_proto::emulator::Config;
/// use cloud_report_proto::google::api::servicecontrol::v1::check_error::Code;
///
/// let config = Config::default()
///     .require_token("s3cret")
///     .max_bytes(64 << 20)
///     .deny_consumer("project:blocked", Code::ServiceNotActivated);
/// assert_eq!(config.max_bytes, 64 << 20);
/// ```
impl Config {
    /// Sets [`require_token`](Self::require_token).
    #[must_use]
    pub fn require_token(mut self, token: impl Into<String>) -> Self {
        self.require_token = Some(token.into());
        self
    }

    /// Adds to [`trusted_service_accounts`](Self::trusted_service_accounts).
    #[must_use]
    pub fn trust_service_account(mut self, account: TrustedServiceAccount) -> Self {
        self.trusted_service_accounts.push(account);
        self
    }

    /// Sets [`max_operations`](Self::max_operations).
    #[must_use]
    pub fn max_operations(mut self, max: usize) -> Self {
        self.max_operations = max;
        self
    }

    /// Sets [`max_statuses`](Self::max_statuses).
    #[must_use]
    pub fn max_statuses(mut self, max: usize) -> Self {
        self.max_statuses = max;
        self
    }

    /// Sets [`max_bytes`](Self::max_bytes).
    #[must_use]
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// Adds a consumer to [`denied_consumers`](Self::denied_consumers).
    #[must_use]
    pub fn deny_consumer(
        mut self,
        consumer: impl Into<String>,
        code: sc::check_error::Code,
    ) -> Self {
        self.denied_consumers.insert(consumer.into(), code);
        self
    }

    /// Sets [`deployments`](Self::deployments).
    #[must_use]
    pub fn deployments(mut self, state: DeploymentState) -> Self {
        self.deployments = state;
        self
    }

    /// Adds a configuration to [`service_configs`](Self::service_configs);
    /// a later one of the same service replaces an earlier one.
    #[must_use]
    pub fn service_config(mut self, config: ServiceConfig) -> Self {
        self.service_configs.push(config);
        self
    }

    /// Reads a state file: the organizations of [`DeploymentState`] and the
    /// projects and API keys of [`ConsumerState`], in one JSON object
    /// (`{"organizations": ..., "projects": ..., "apiKeys": ...}`, each
    /// optional), replacing [`deployments`](Self::deployments) and
    /// [`consumers`](Self::consumers).
    ///
    /// # Errors
    ///
    /// A member that is not of the documented form, with its JSON path; a
    /// deployment, group or key naming what the file does not define.
    pub fn state_json(mut self, text: &str) -> Result<Self, StateError> {
        (self.deployments, self.consumers) = read_state_file(text)?;
        self.state_text = Some(text.into());
        Ok(self)
    }

    /// Sets [`data_dir`](Self::data_dir).
    #[must_use]
    pub fn data_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Sets [`consumers`](Self::consumers).
    #[must_use]
    pub fn consumers(mut self, state: ConsumerState) -> Self {
        self.consumers = state;
        self
    }

    /// Sets [`clock`](Self::clock): a [`ManualClock`](super::clock::ManualClock) lets a test open the
    /// next quota window when it chooses.
    #[must_use]
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Sets [`consumer_errors`](Self::consumer_errors).
    #[must_use]
    pub fn consumer_errors(mut self, answer: ConsumerErrors) -> Self {
        self.consumer_errors = answer;
        self
    }

    /// Sets [`max_request_log_bytes`](Self::max_request_log_bytes).
    #[must_use]
    pub fn max_request_log_bytes(mut self, max: usize) -> Self {
        self.max_request_log_bytes = max;
        self
    }
}

/// How Check answers a consumer id of no consumer form (`garbage`,
/// `project_number:x`, `api_key:`), or none where the method does not
/// allow unregistered calls. Google documents no answer for either, so the
/// emulator offers both plausible ones. AllocateQuota, which has no error
/// code for them, fails the call with INVALID_ARGUMENT either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerErrors {
    /// The call fails with INVALID_ARGUMENT naming `operation.consumer_id`,
    /// as AllocateQuota's does.
    #[default]
    Refuse,
    /// The call is answered with a `CONSUMER_INVALID` check error (the
    /// emulator's answer before version 0.2, kept for tests written for it).
    CheckError,
}

/// A state file read and checked whole (see [`Config::state_json`]).
pub(super) fn read_state_file(text: &str) -> Result<(DeploymentState, ConsumerState), StateError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct StateFile {
        #[serde(default)]
        organizations: BTreeMap<String, Organization>,
        #[serde(default)]
        projects: BTreeMap<String, Project>,
        #[serde(default)]
        api_keys: BTreeMap<String, ApiKey>,
    }
    let file: StateFile = deployments::read_state(text)?;
    let deployments = DeploymentState {
        organizations: file.organizations,
    };
    deployments.check()?;
    let consumers = ConsumerState {
        projects: file.projects,
        api_keys: file.api_keys,
    };
    consumers.check().map_err(StateError::Inconsistent)?;
    Ok((deployments, consumers))
}
