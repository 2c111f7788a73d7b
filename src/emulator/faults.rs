//! Scripted answers and faults: what a gateway test tells the emulator to do
//! with the next calls of a method instead of (or before) answering them.
//!
//! A fault is written as JSON, the same in `POST
//! /emulator/v1/services/{service}/faults`, in `serve --faults FILE` (with a
//! `"service"` member) and in [`Fault::from_json`]; [`Fault`] shows the forms.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use serde::Deserialize;

use crate::google::api::servicecontrol::v1 as sc;
use crate::google::rpc::Code;
use crate::rest::Abort;

/// Runs `$body` with `$m` the type of `$method`'s request, or of its
/// response when `$response`: the one place a method's message types are
/// named.
macro_rules! by_method {
    ($method:expr, $response:expr, $m:ident => $body:expr) => {{
        use crate::google::api::servicecontrol::v1 as sc_;
        use crate::google::cloud::apigee::v1 as apigee_;
        match ($method, $response) {
            (Method::Check, false) => {
                type $m = sc_::CheckRequest;
                $body
            }
            (Method::Check, true) => {
                type $m = sc_::CheckResponse;
                $body
            }
            (Method::AllocateQuota, false) => {
                type $m = sc_::AllocateQuotaRequest;
                $body
            }
            (Method::AllocateQuota, true) => {
                type $m = sc_::AllocateQuotaResponse;
                $body
            }
            (Method::Report, false) => {
                type $m = sc_::ReportRequest;
                $body
            }
            (Method::Report, true) => {
                type $m = sc_::ReportResponse;
                $body
            }
            (Method::ReportInstanceStatus, false) => {
                type $m = apigee_::ReportInstanceStatusRequest;
                $body
            }
            (Method::ReportInstanceStatus, true) => {
                type $m = apigee_::ReportInstanceStatusResponse;
                $body
            }
            (Method::GenerateDeployChangeReport, false) => {
                type $m = apigee_::GenerateDeployChangeReportRequest;
                $body
            }
            (Method::GenerateUndeployChangeReport, false) => {
                type $m = apigee_::GenerateUndeployChangeReportRequest;
                $body
            }
            (Method::GenerateDeployChangeReport | Method::GenerateUndeployChangeReport, true) => {
                type $m = apigee_::DeploymentChangeReport;
                $body
            }
        }
    }};
}

/// A method the emulator serves, as the request log and faults name it:
/// Service Control's (which faults apply to) and Apigee's (logged under
/// the service [`APIGEE_SERVICE`](super::requests::APIGEE_SERVICE)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `services.check`.
    Check,
    /// `services.allocateQuota`.
    AllocateQuota,
    /// `services.report`.
    Report,
    /// Apigee's `organizations.instances.reportStatus`.
    ReportInstanceStatus,
    /// Apigee's `...deployments.generateDeployChangeReport`.
    GenerateDeployChangeReport,
    /// Apigee's `...deployments.generateUndeployChangeReport`.
    GenerateUndeployChangeReport,
}

impl Method {
    /// The REST method's name: `check`, `allocateQuota`, `report`,
    /// `reportStatus`, `generateDeployChangeReport`,
    /// `generateUndeployChangeReport`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Check => "check",
            Self::AllocateQuota => "allocateQuota",
            Self::Report => "report",
            Self::ReportInstanceStatus => "reportStatus",
            Self::GenerateDeployChangeReport => "generateDeployChangeReport",
            Self::GenerateUndeployChangeReport => "generateUndeployChangeReport",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::Check,
            Self::AllocateQuota,
            Self::Report,
            Self::ReportInstanceStatus,
            Self::GenerateDeployChangeReport,
            Self::GenerateUndeployChangeReport,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
    }

    /// A message of the method, encoded (its request, or its response when
    /// `response`), written in canonical JSON.
    pub(super) fn json_of(self, encoded: &[u8], response: bool) -> Result<Vec<u8>, String> {
        use crate::json::to_vec;
        fn json<M: Message + Default + crate::json::WriteJson>(
            encoded: &[u8],
        ) -> Result<Vec<u8>, String> {
            let message = M::decode(encoded).map_err(|e| e.to_string())?;
            to_vec(&message).map_err(|e| e.to_string())
        }
        by_method!(self, response, M => json::<M>(encoded))
    }

    /// A message of the method from canonical JSON (its request, or its
    /// response when `response`), encoded.
    pub(super) fn binary_of(self, json: &str, response: bool) -> Result<Vec<u8>, String> {
        fn binary<M: Message + Default + crate::json::ReadJson>(
            json: &str,
        ) -> Result<Vec<u8>, String> {
            crate::json::from_str::<M>(json)
                .map(|m| m.encode_to_vec())
                .map_err(|e| e.to_string())
        }
        by_method!(self, response, M => binary::<M>(json))
    }

    /// Whether faults apply to it (Service Control's methods).
    pub(super) fn takes_faults(self) -> bool {
        matches!(self, Self::Check | Self::AllocateQuota | Self::Report)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = FaultError;

    /// A method's name ([`Method::as_str`]).
    fn from_str(text: &str) -> Result<Self, FaultError> {
        Self::parse(text).ok_or_else(|| {
            error(format!(
                "\"{}\" is not check, allocateQuota, report, reportStatus, generateDeployChangeReport or generateUndeployChangeReport",
                crate::rest::clip(text)
            ))
        })
    }
}

/// What a fault does with a call it applies to.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// Fails the call with this status (REST: the HTTP status of its code,
    /// Google's error body).
    Status {
        /// The code.
        code: Code,
        /// The message.
        message: String,
    },
    /// Fails the call with this HTTP status and Google's error body on REST;
    /// on gRPC with the code `google.rpc.Code` maps the status to.
    HttpStatus(u16),
    /// Answers a Check with one `CheckError` of this code.
    CheckError(sc::check_error::Code),
    /// Answers with this message (the method's response type), encoded.
    Response(Bytes),
    /// Waits this long, then answers as usual.
    Delay(Duration),
    /// Leaves the call unanswered: the stream reset or the connection
    /// closed.
    Drop(Abort),
    /// Answers with success (HTTP 200, gRPC OK) and a body that cannot be
    /// read.
    Garble,
}

/// Which calls a fault applies to, after its method.
#[derive(Clone, Debug, PartialEq)]
enum Trigger {
    /// The next calls, this many.
    Times(u64),
    /// Each call with this probability, drawn from a generator of this
    /// seed, until the fault is cleared.
    Fraction(f64, u64),
}

/// One scripted answer or fault: the method it applies to, which calls
/// (`"times": N`, or `"fraction"` with a `"seed"`), and one action. Its JSON
/// form, as `POST /emulator/v1/services/{service}/faults` takes it:
///
/// ```json
/// {"method": "check", "times": 2, "status": {"code": "UNAVAILABLE", "message": "down"}}
/// {"method": "report", "fraction": 0.1, "seed": 7, "httpStatus": 503}
/// {"method": "check", "checkError": "SERVICE_STATUS_UNAVAILABLE"}
/// {"method": "allocateQuota", "response": {"allocateErrors": [{"code": "RESOURCE_EXHAUSTED"}]}}
/// {"method": "report", "delay": "2s"}
/// {"method": "check", "drop": "reset"}
/// {"method": "check", "garble": true}
/// ```
///
/// ```
/// use cloud_report_proto::emulator::{Fault, Method};
///
/// let fault = Fault::from_json(r#"{"method": "check", "times": 2, "httpStatus": 503}"#)?;
/// assert_eq!(fault.method(), Method::Check);
/// assert!(Fault::from_json(r#"{"method": "check", "httpStatus": 99}"#).is_err());
/// # Ok::<(), cloud_report_proto::emulator::FaultError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    method: Method,
    trigger: Trigger,
    action: Action,
}

/// A fault that is not of the documented form: where and why, on one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FaultError(String);

/// The longest `delay`: a test that waits longer is waiting for nothing.
const MAX_DELAY: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    method: String,
    times: Option<u64>,
    fraction: Option<f64>,
    seed: Option<u64>,
    status: Option<StatusSpec>,
    http_status: Option<u16>,
    check_error: Option<String>,
    response: Option<serde_json::Value>,
    delay: Option<String>,
    drop: Option<String>,
    garble: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusSpec {
    code: serde_json::Value,
    #[serde(default)]
    message: Option<String>,
}

/// An error on one line, whatever the text it quotes holds.
fn error(message: impl std::fmt::Display) -> FaultError {
    FaultError(crate::service_config::one_line(&message.to_string()))
}

impl Fault {
    /// A fault applying once to the next call of `method`.
    ///
    /// # Errors
    ///
    /// An action the method cannot take: a status of OK, an HTTP status
    /// outside 400 to 599, a check error for another method than Check, a
    /// response that is not the method's response message, a delay over an
    /// hour.
    pub fn new(method: Method, action: Action) -> Result<Self, FaultError> {
        if !method.takes_faults() {
            return Err(error(format!(
                "method: faults apply to check, allocateQuota and report, not {method}"
            )));
        }
        match &action {
            Action::Status { code: Code::Ok, .. } => {
                return Err(error("status.code: OK is not a fault"));
            }
            Action::HttpStatus(http) if !(400..=599).contains(http) => {
                return Err(error(format!(
                    "httpStatus: {http} is not an error status (400 to 599)"
                )));
            }
            Action::CheckError(_) if method != Method::Check => {
                return Err(error("checkError: only a check answers with check errors"));
            }
            Action::Response(encoded) => {
                method.json_of(encoded, true).map_err(|e| {
                    error(format!(
                        "response: not a {} response message: {e}",
                        method.as_str()
                    ))
                })?;
            }
            Action::Delay(delay) if *delay > MAX_DELAY => {
                return Err(error(format!(
                    "delay: {delay:?} is longer than {MAX_DELAY:?}"
                )));
            }
            _ => {}
        }
        Ok(Self {
            method,
            trigger: Trigger::Times(1),
            action,
        })
    }

    /// Applies to the next `times` calls instead (at least one).
    #[must_use]
    pub fn times(mut self, times: u64) -> Self {
        self.trigger = Trigger::Times(times.max(1));
        self
    }

    /// Applies to each call with probability `fraction` (0 to 1), drawn
    /// from a generator seeded with `seed`, until cleared.
    #[must_use]
    pub fn fraction(mut self, fraction: f64, seed: u64) -> Self {
        self.trigger = Trigger::Fraction(fraction.clamp(0.0, 1.0), seed);
        self
    }

    /// The method it applies to.
    pub fn method(&self) -> Method {
        self.method
    }

    /// How many more calls it applies to; `None` for a fraction of calls.
    pub fn times_left(&self) -> Option<u64> {
        match self.trigger {
            Trigger::Times(n) => Some(n),
            Trigger::Fraction(..) => None,
        }
    }

    /// What it does.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// Reads a fault from its JSON form.
    ///
    /// # Errors
    ///
    /// Not JSON, an unknown member, no action or more than one, a value out
    /// of range: one line naming the member.
    pub fn from_json(text: &str) -> Result<Self, FaultError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| error(format!("not JSON: {e}")))?;
        Self::from_value(value)
    }

    pub(super) fn from_value(value: serde_json::Value) -> Result<Self, FaultError> {
        let spec: Spec = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                error(inner)
            } else {
                error(format!("{path}: {inner}"))
            }
        })?;
        let method: Method = spec
            .method
            .parse()
            .map_err(|e| error(format!("method: {e}")))?;
        let trigger = match (spec.times, spec.fraction, spec.seed) {
            (Some(_), Some(_), _) => return Err(error("times and fraction exclude each other")),
            (Some(0), ..) => return Err(error("times: must be at least 1")),
            (Some(times), None, None) => Trigger::Times(times),
            (Some(_), None, Some(_)) => return Err(error("seed goes with fraction")),
            (None, Some(f), seed) if (0.0..=1.0).contains(&f) => {
                Trigger::Fraction(f, seed.unwrap_or(0))
            }
            (None, Some(f), _) => {
                return Err(error(format!("fraction: {f} is not between 0 and 1")));
            }
            (None, None, Some(_)) => return Err(error("seed goes with fraction")),
            (None, None, None) => Trigger::Times(1),
        };
        let mut actions = Vec::new();
        if let Some(status) = spec.status {
            let code = match &status.code {
                serde_json::Value::String(name) => Code::from_str_name(name),
                serde_json::Value::Number(n) => n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .and_then(|n| Code::try_from(n).ok()),
                _ => None,
            }
            .ok_or_else(|| {
                error(format!(
                    "status.code: {} is not a google.rpc.Code",
                    status.code
                ))
            })?;
            let message = status
                .message
                .unwrap_or_else(|| format!("{} injected by the emulator", code.as_str_name()));
            actions.push(Action::Status { code, message });
        }
        if let Some(http) = spec.http_status {
            actions.push(Action::HttpStatus(http));
        }
        if let Some(name) = spec.check_error {
            let code = sc::check_error::Code::from_str_name(&name).ok_or_else(|| {
                error(format!(
                    "checkError: \"{}\" is not a CheckError code",
                    crate::rest::clip(&name)
                ))
            })?;
            actions.push(Action::CheckError(code));
        }
        if let Some(response) = spec.response {
            let encoded = method
                .binary_of(&response.to_string(), true)
                .map_err(|e| error(format!("response: {e}")))?;
            actions.push(Action::Response(Bytes::from(encoded)));
        }
        if let Some(delay) = spec.delay {
            let duration: crate::google::protobuf::Duration =
                delay.parse().map_err(|e| error(format!("delay: {e}")))?;
            let duration = Duration::try_from(duration)
                .map_err(|_| error(format!("delay: {delay} is negative")))?;
            actions.push(Action::Delay(duration));
        }
        if let Some(drop) = spec.drop {
            let how = match drop.as_str() {
                "reset" => Abort::Reset,
                "close" => Abort::Close,
                other => {
                    return Err(error(format!(
                        "drop: \"{}\" is not reset or close",
                        crate::rest::clip(other)
                    )));
                }
            };
            actions.push(Action::Drop(how));
        }
        match spec.garble {
            Some(true) => actions.push(Action::Garble),
            Some(false) => return Err(error("garble: only true garbles")),
            None => {}
        }
        let action = match actions.len() {
            1 => actions.remove(0),
            0 => {
                return Err(error(
                    "no action: one of status, httpStatus, checkError, response, delay, drop, garble",
                ));
            }
            _ => {
                return Err(error(
                    "more than one action: one of status, httpStatus, checkError, response, delay, drop, garble",
                ));
            }
        };
        let mut fault = Self::new(method, action)?;
        fault.trigger = trigger;
        Ok(fault)
    }

    /// An action as the request log names the fault that took a call:
    /// the fault's JSON form without its trigger.
    pub(super) fn describe(method: Method, action: &Action) -> String {
        let mut json = Self {
            method,
            trigger: Trigger::Times(1),
            action: action.clone(),
        }
        .to_json();
        if let Some(object) = json.as_object_mut() {
            object.remove("times");
        }
        json.to_string()
    }

    /// The JSON form, with what is left of `times`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::json!({ "method": self.method.as_str() });
        match self.trigger {
            Trigger::Times(n) => out["times"] = n.into(),
            Trigger::Fraction(f, seed) => {
                out["fraction"] = f.into();
                out["seed"] = seed.into();
            }
        }
        match &self.action {
            Action::Status { code, message } => {
                out["status"] = serde_json::json!({"code": code.as_str_name(), "message": message});
            }
            Action::HttpStatus(n) => out["httpStatus"] = (*n).into(),
            Action::CheckError(code) => out["checkError"] = code.as_str_name().into(),
            Action::Response(encoded) => {
                out["response"] = self
                    .method
                    .json_of(encoded, true)
                    .ok()
                    .and_then(|json| serde_json::from_slice(&json).ok())
                    .unwrap_or_default();
            }
            Action::Delay(d) => {
                let d = crate::google::protobuf::Duration::try_from(*d).unwrap_or_default();
                out["delay"] = d.to_string().into();
            }
            Action::Drop(how) => {
                out["drop"] = match how {
                    Abort::Close => "close",
                    _ => "reset",
                }
                .into();
            }
            Action::Garble => out["garble"] = true.into(),
        }
        out
    }
}

/// A fault waiting for calls, with its generator when it draws.
#[derive(Debug)]
struct Pending {
    fault: Fault,
    rng: Option<fastrand::Rng>,
}

/// The most faults waiting, over all services.
pub(super) const MAX_FAULTS: usize = 10_000;

/// The faults waiting for the calls of each service, in the order given.
#[derive(Debug, Default)]
pub(super) struct Faults {
    by_service: std::collections::HashMap<String, Vec<Pending>>,
    count: usize,
}

impl Faults {
    /// Adds a fault for a service's calls, after those already waiting;
    /// `false` when [`MAX_FAULTS`] are waiting.
    /// Every fault waiting, by service (sorted) then in order: what a
    /// snapshot keeps.
    pub(super) fn all(&self) -> Vec<(String, Fault)> {
        let mut services: Vec<&String> = self.by_service.keys().collect();
        services.sort();
        services
            .into_iter()
            .flat_map(|service| {
                self.by_service[service]
                    .iter()
                    .map(move |p| (service.clone(), p.fault.clone()))
            })
            .collect()
    }

    /// Whether no fault waits.
    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(super) fn add(&mut self, service: &str, fault: Fault) -> bool {
        if self.count >= MAX_FAULTS {
            return false;
        }
        self.count += 1;
        let rng = match fault.trigger {
            Trigger::Fraction(_, seed) => Some(fastrand::Rng::with_seed(seed)),
            Trigger::Times(_) => None,
        };
        self.by_service
            .entry(service.to_owned())
            .or_default()
            .push(Pending { fault, rng });
        true
    }

    /// What the next call of `method` on `service` meets: the first waiting
    /// fault of that method that applies, counted down (and gone after its
    /// last time).
    pub(super) fn take(&mut self, service: &str, method: Method) -> Option<Action> {
        let pending = self.by_service.get_mut(service)?;
        let mut found = None;
        for (i, p) in pending.iter_mut().enumerate() {
            if p.fault.method != method {
                continue;
            }
            match &mut p.fault.trigger {
                Trigger::Times(n) => {
                    *n -= 1;
                    found = Some((i, *n == 0));
                    break;
                }
                Trigger::Fraction(f, _) => {
                    let draw = p.rng.as_mut().map_or(1.0, fastrand::Rng::f64);
                    if draw < *f {
                        found = Some((i, false));
                        break;
                    }
                }
            }
        }
        let (i, spent) = found?;
        let action = pending[i].fault.action.clone();
        if spent {
            pending.remove(i);
            self.count -= 1;
            if pending.is_empty() {
                self.by_service.remove(service);
            }
        }
        Some(action)
    }

    /// The faults waiting for a service's calls.
    pub(super) fn list(&self, service: &str) -> Vec<Fault> {
        self.by_service
            .get(service)
            .map(|p| p.iter().map(|p| p.fault.clone()).collect())
            .unwrap_or_default()
    }

    /// Drops the faults of a service.
    pub(super) fn clear(&mut self, service: &str) {
        if let Some(dropped) = self.by_service.remove(service) {
            self.count -= dropped.len();
        }
    }
}

/// Reads a faults file (`serve --faults`): `{"faults": [{"service": ...,
/// <fault>}, ...]}`, every fault checked before any is used.
///
/// # Errors
///
/// The file's form, or a fault's, with the fault's index.
pub fn read_faults_file(text: &str) -> Result<Vec<(String, Fault)>, FaultError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        faults: Vec<serde_json::Value>,
    }
    let file: File = serde_json::from_str(text).map_err(|e| error(format!("faults file: {e}")))?;
    file.faults
        .into_iter()
        .enumerate()
        .map(|(i, mut value)| {
            let service = value
                .as_object_mut()
                .and_then(|o| o.remove("service"))
                .and_then(|s| s.as_str().map(str::to_owned))
                .filter(|s| !s.is_empty())
                .ok_or_else(|| error(format!("faults[{i}]: \"service\" (a string) is required")))?;
            let fault = Fault::from_value(value).map_err(|e| error(format!("faults[{i}]: {e}")))?;
            Ok((service, fault))
        })
        .collect()
}
