//! The [`Emulator`]: the state every service of the emulator shares (its
//! configuration, the live state file, what it stored, the request log),
//! what the services ask of it (who is calling, the rules of a service, a
//! call received and answered), and what a test reads back. The services
//! and endpoints sit above it; `mod.rs` assembles them into a router.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use prost::Message;
use tonic::{Request, Response};

use super::config::Config;
use super::encoded::decode_stored;
use super::faults::{self, Action, Method};
use super::quota::QuotaUsage;
use super::requests;
use super::rules::{self, ServiceRules};
use super::store::{Calls, Live, State};
use super::trust;
use crate::google::api::servicecontrol::v1 as sc;
use crate::google::cloud::apigee::v1 as apigee;
use crate::google::rpc::{Code, Status};
use crate::rest::{Authenticate, BearerToken, CallContext, WireFormat, clip};

/// The emulator: implements `ServiceController`, `QuotaController`,
/// `RuntimeService` and `DeploymentService`. Clones share one state.
#[derive(Clone, Default)]
pub struct Emulator {
    pub(super) config: Arc<Config>,
    /// Who may call, when not everyone.
    pub(super) callers: Option<Arc<trust::Callers>>,
    pub(super) live: Arc<std::sync::RwLock<Arc<Live>>>,
    pub(super) state: Arc<Mutex<State>>,
    pub(super) calls: Arc<Mutex<Calls>>,
    pub(super) started: Started,
    /// Held while a snapshot is written: one export at a time.
    pub(super) exporting: Arc<Mutex<()>>,
}

/// When an emulator was made, for its uptime.
#[derive(Clone, Copy, Debug)]
pub(super) struct Started(pub(super) std::time::Instant);

impl Default for Started {
    fn default() -> Self {
        Self(std::time::Instant::now())
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// An emulator with the given configuration and an empty state.
    pub fn new(config: Config) -> Self {
        let rules = config
            .service_configs
            .iter()
            .map(|c| (c.name().to_owned(), Arc::new(ServiceRules::new(c.clone()))))
            .collect();
        let live = Live {
            deployments: config.deployments.clone(),
            consumers: config.consumers.clone(),
            rules,
            rollouts: HashMap::new(),
            state_text: config.state_text.clone(),
        };
        Self {
            live: Arc::new(std::sync::RwLock::new(Arc::new(live))),
            callers: (config.require_token.is_some()
                || !config.trusted_service_accounts.is_empty())
            .then(|| {
                Arc::new(trust::Callers {
                    token: config.require_token.clone().map(BearerToken::new),
                    accounts: config.trusted_service_accounts.clone(),
                    verified: std::sync::Mutex::default(),
                })
            }),
            config: Arc::new(config),
            state: Arc::default(),
            calls: Arc::default(),
            started: Started::default(),
            exporting: Arc::default(),
        }
    }
}

impl Emulator {
    /// The operations stored for a service, in arrival order.
    pub fn operations(&self, service_name: &str) -> Vec<sc::Operation> {
        let stored: Vec<Bytes> = self
            .state()
            .services
            .get(service_name)
            .map(|s| s.operations.clone())
            .unwrap_or_default();
        stored.iter().map(|b| decode_stored(b)).collect()
    }

    /// The latest status report of each uid of an instance
    /// (`organizations/{org}/instances/{instance}`).
    pub fn statuses(&self, instance: &str) -> Vec<apigee::ReportInstanceStatusRequest> {
        let stored: Vec<Bytes> = self
            .state()
            .statuses
            .range((instance.to_owned(), String::new())..)
            .take_while(|((i, _), _)| i == instance)
            .map(|(_, status)| status.encoded.clone())
            .collect();
        stored.iter().map(|b| decode_stored(b)).collect()
    }

    /// What the consumers of a service used of its quota limits in the
    /// current windows, by consumer then limit; limits with nothing used
    /// are left out.
    pub fn quota_usage(&self, service_name: &str) -> Vec<QuotaUsage> {
        let live = self.live();
        let Some(rules) = live.rules.get(service_name) else {
            return Vec::new();
        };
        let now = self.config.clock.unix_seconds();
        self.state().quota.usage(service_name, &rules.quota, now)
    }

    /// What everything stored costs, as [`Config::max_bytes`] counts it.
    pub fn stored_bytes(&self) -> usize {
        self.state().bytes
    }

    /// What calls judge by now.
    pub(super) fn live(&self) -> Arc<Live> {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: every
        // update is applied whole after all checks.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the bearer token, when one is required, in the gRPC metadata or
    /// HTTP headers (the same map). The router checks it before reading a
    /// body; this covers the services served some other way.
    pub(super) fn authorize(&self, headers: &http::HeaderMap) -> Result<(), Status> {
        match &self.callers {
            Some(callers) => callers.authenticate(headers),
            None => Ok(()),
        }
    }

    /// The rules of a service: `None` in the lenient mode (no configuration
    /// loaded), NOT_FOUND for a service without a configuration otherwise.
    pub(super) fn rules_of(
        live: &Live,
        service_name: &str,
    ) -> Result<Option<Arc<ServiceRules>>, tonic::Status> {
        if live.rules.is_empty() {
            return Ok(None);
        }
        match live.rules.get(service_name) {
            Some(rules) => Ok(Some(rules.clone())),
            None => Err(Status::new(
                Code::NotFound,
                format!(
                    "service {:?} is not configured in the emulator (configured: {})",
                    clip(service_name),
                    clip(&rules::names(live.rules.keys().map(String::as_str)))
                ),
            )
            .into()),
        }
    }
}

impl Emulator {
    /// Logs a call of `method` and takes the fault waiting for it, if any;
    /// the call's transport context when it came through the gateway, and
    /// its place in the log, to record the answer in.
    pub(super) fn receive<M: Message>(
        &self,
        method: Method,
        service: &str,
        request: &Request<M>,
    ) -> (Option<CallContext>, Option<Action>, Logged<'_>) {
        self.receive_kept(method, service, request, request.get_ref())
    }

    /// [`receive`](Self::receive) of a request whose message is `message`
    /// (its encoding as it came, for one received as bytes).
    pub(super) fn receive_kept<T>(
        &self,
        method: Method,
        service: &str,
        request: &Request<T>,
        message: &(impl requests::Kept + ?Sized),
    ) -> (Option<CallContext>, Option<Action>, Logged<'_>) {
        let call = request.extensions().get::<CallContext>().cloned();
        let wire = call.as_ref().map_or(WireFormat::Grpc, CallContext::wire);
        let now = self.config.clock.now();
        let max = self.config.max_request_log_bytes;
        // Encoded before the store is locked: a report may be megabytes.
        let encoded = requests::RequestLog::fits(service, message.kept_len(), max)
            .then(|| requests::encode_kept(message));
        // Who called, only for a call the log keeps (reading a token's
        // claims decodes base64 and JSON).
        let caller = match encoded {
            Some(_) => self.caller(request.metadata().as_ref()),
            None => String::new(),
        };
        let mut calls = self.calls();
        let fault = calls.faults.take(service, method);
        let described = fault.as_ref().map(|a| faults::Fault::describe(method, a));
        let seq = calls
            .requests
            .record(service, method, wire, now, encoded, &caller, described, max);
        let logged = Logged {
            emulator: self,
            seq,
            started: std::time::Instant::now(),
        };
        (call, fault, logged)
    }

    /// Who a call's credentials name, without the secret: the service
    /// account of a self-signed token, `token` for the fixed token,
    /// `anonymous` for none.
    fn caller(&self, headers: &http::HeaderMap) -> String {
        use base64::Engine as _;
        let Some(token) = crate::rest::bearer(headers).and_then(|t| std::str::from_utf8(t).ok())
        else {
            return "anonymous".to_owned();
        };
        let claims = token.split('.').nth(1).and_then(|part| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .ok()
        });
        let account = claims
            .and_then(|c| serde_json::from_slice::<serde_json::Value>(&c).ok())
            .and_then(|c| c["iss"].as_str().map(str::to_owned));
        match account {
            Some(account) if token.split('.').count() == 3 => format!("serviceAccount:{account}"),
            _ => "token".to_owned(),
        }
    }
}

/// A call's place in the request log: [`answered`](Self::answered) records
/// what it was answered; dropped before that (the caller gone, the call
/// cut), it records that no answer came.
pub(super) struct Logged<'a> {
    emulator: &'a Emulator,
    seq: Option<u64>,
    started: std::time::Instant,
}

impl Logged<'_> {
    /// Records the call's answer.
    pub(super) fn answered<T: Message>(mut self, result: &Result<Response<T>, tonic::Status>) {
        // Nothing to encode for a call the log does not keep.
        if self.seq.is_none() {
            return;
        }
        let answer = match result {
            Ok(response) => Ok(requests::encode_kept(response.get_ref())),
            Err(status) => Err(requests::Answer::Error {
                code: Code::from_number(status.code() as i32),
                message: status.message().to_owned(),
            }),
        };
        self.record(answer);
    }

    fn record(&mut self, answer: Result<bytes::Bytes, requests::Answer>) {
        if let Some(seq) = self.seq.take() {
            let max = self.emulator.config.max_request_log_bytes;
            self.emulator
                .calls()
                .requests
                .answer(seq, answer, self.started.elapsed(), max);
        }
    }
}

impl Drop for Logged<'_> {
    fn drop(&mut self) {
        self.record(Err(requests::Answer::Dropped));
    }
}
