//! What a gateway knows about a call: [`CallInfo`] when it asks, and
//! [`ReportInfo`] once it has answered, with the protocols and the key's
//! state they name.

use std::time::Duration;

use crate::google::api::servicecontrol::v1::CheckResponse;
use crate::google::api::servicecontrol::v1::check_error::Code as CheckCode;
use crate::google::rpc::Code;

/// The protocol of one side of a call, as the `/protocol` label and the
/// log's `http_request.protocol` name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// Not known.
    #[default]
    Unknown,
    /// HTTP/1.1 or HTTP/2 without TLS.
    Http,
    /// HTTP over TLS.
    Https,
    /// gRPC.
    Grpc,
}

impl Protocol {
    /// The name ESPv2 reports: `unknown`, `http`, `https`, `grpc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Http => "http",
            Self::Https => "https",
            Self::Grpc => "grpc",
        }
    }
}

/// What the Check of a call said of its API key, which decides the
/// consumer of its Report (ESPv2's `api_key_state`, from `client_cache.cc`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiKeyState {
    /// Not checked: no key, no Check made, or the Check failed (open or
    /// closed).
    #[default]
    NotChecked,
    /// Service Control accepted the key, or refused the call for a reason
    /// that still identified the consumer.
    Verified,
    /// The key is invalid, expired or unknown.
    Invalid,
    /// The service is not enabled in the key's project.
    NotEnabled,
}

impl ApiKeyState {
    /// The state a Check's outcome gives, as ESPv2 decides it: an answer
    /// without errors is `Verified`; a first error of the key
    /// (`API_KEY_INVALID`, `API_KEY_EXPIRED`, `API_KEY_NOT_FOUND`) is
    /// `Invalid`, `SERVICE_NOT_ACTIVATED` is `NotEnabled`, a backend said to
    /// be unavailable is `NotChecked`, any other error `Verified` ("the
    /// consumer was identified"); a failed Check, or one let through without
    /// an answer, is `NotChecked`.
    pub fn of_check(outcome: &Result<crate::client::CheckAnswer, tonic::Status>) -> Self {
        match outcome {
            Ok(answer) => Self::of_answer(answer),
            Err(_) => Self::NotChecked,
        }
    }

    /// The state a Check's answer gives (`NotChecked` for a failed call);
    /// see [`of_check`](Self::of_check).
    pub fn of_answer(answer: &crate::client::CheckAnswer) -> Self {
        if answer.api_key_checked() {
            Self::of_response(&answer.response)
        } else {
            Self::NotChecked
        }
    }

    /// The state a Check answer gives; see [`of_check`](Self::of_check).
    pub fn of_response(response: &CheckResponse) -> Self {
        let Some(first) = response.check_errors.first() else {
            return Self::Verified;
        };
        match CheckCode::try_from(first.code) {
            Ok(CheckCode::ApiKeyInvalid | CheckCode::ApiKeyExpired | CheckCode::ApiKeyNotFound) => {
                Self::Invalid
            }
            Ok(CheckCode::ServiceNotActivated) => Self::NotEnabled,
            Ok(
                CheckCode::NamespaceLookupUnavailable
                | CheckCode::ServiceStatusUnavailable
                | CheckCode::BillingStatusUnavailable
                | CheckCode::CloudResourceManagerBackendUnavailable,
            ) => Self::NotChecked,
            _ => Self::Verified,
        }
    }

    /// The name the log entry gives it: `VERIFIED`, `INVALID`,
    /// `NOT ENABLED`, `NOT CHECKED` (with a space, as ESPv2 writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotChecked => "NOT CHECKED",
            Self::Verified => "VERIFIED",
            Self::Invalid => "INVALID",
            Self::NotEnabled => "NOT ENABLED",
        }
    }
}

/// What a gateway knows about a call when it asks Service Control:
/// enough for Check and AllocateQuota.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallInfo {
    /// Unique per call (ESPv2 draws a UUID); required.
    pub operation_id: String,
    /// The method's selector, e.g. `1.my_api_endpoints_my_project_cloud_goog.GetShelf`; required.
    pub operation_name: String,
    /// The API key the call carried; empty for none.
    pub api_key: String,
    /// The caller's address; empty when unknown.
    pub client_ip: String,
    /// The `Referer` header; empty for none.
    pub referer: String,
    /// The `x-android-package` header (Check only).
    pub android_package_name: String,
    /// The `x-android-cert` header (Check only).
    pub android_cert_fingerprint: String,
    /// The `x-ios-bundle-identifier` header (Check only).
    pub ios_bundle_id: String,
    /// The quota ask's `method_name`; empty for the operation name, as
    /// ESPv2 sends it.
    pub quota_method: String,
}

impl CallInfo {
    /// A call of `operation_name` (the method's selector), under a unique
    /// `operation_id`; set the other fields as known.
    pub fn new(operation_id: impl Into<String>, operation_name: impl Into<String>) -> Self {
        Self {
            operation_id: operation_id.into(),
            operation_name: operation_name.into(),
            ..Self::default()
        }
    }
}

/// What a gateway knows about a call once it has answered: what its Report
/// says.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReportInfo {
    /// The call as Check knew it.
    pub call: CallInfo,
    /// What Check said of the key ([`ApiKeyState::of_check`]).
    pub api_key_state: ApiKeyState,
    /// The key's uid from Check's `check_info.api_key_uid`, reported as
    /// `/credential_id` when [`RequestBuilder::api_key_uid_reporting`](super::RequestBuilder::api_key_uid_reporting) is on.
    pub api_key_uid: String,
    /// The consumer's project number from Check's
    /// `check_info.consumer_info.project_number`: when above 0, a second,
    /// by-consumer operation is reported.
    pub consumer_project_number: Option<i64>,
    /// The `iss` and `aud` of the JWT that authenticated the call (empty
    /// for none): the `/credential_id` of a call without a verified key.
    pub auth_issuer: String,
    /// See [`auth_issuer`](Self::auth_issuer).
    pub auth_audience: String,
    /// The protocol the caller spoke.
    pub frontend_protocol: Protocol,
    /// The protocol the backend spoke.
    pub backend_protocol: Protocol,
    /// The HTTP method (for the log).
    pub method: String,
    /// The path and query (for the log).
    pub url: String,
    /// The HTTP status answered (0 when none was).
    pub response_code: u16,
    /// The gRPC status answered, for a gRPC call: the HTTP status reported
    /// is then the one it maps to.
    pub grpc_status: Option<Code>,
    /// The status of the gateway's own Check and quota decision (`OK` when
    /// it let the call through): the `/status_code` label.
    pub status: Code,
    /// The message of that status, when not `OK` (the log's `error_cause`).
    pub status_message: String,
    /// Why the answer is what it is, as the proxy says (the log's
    /// `response_code_detail`).
    pub response_code_detail: String,
    /// Bytes received, headers included.
    pub request_size: Option<u64>,
    /// Bytes sent, headers and trailers included.
    pub response_size: Option<u64>,
    /// From the first byte received to the last sent.
    pub request_time: Option<Duration>,
    /// Time spent waiting for the backend.
    pub backend_time: Option<Duration>,
    /// The gateway's own time.
    pub overhead_time: Option<Duration>,
    /// The zone or region the gateway runs in; `global` when empty.
    pub location: String,
    /// The API's name and version (labels and log, when set).
    pub api_name: String,
    /// See [`api_name`](Self::api_name).
    pub api_version: String,
    /// The trace id of the call: the log's `trace`, under the builder's
    /// tracing project (or its GCP project).
    pub trace_id: String,
    /// The API method (the `api_method` label and log field); empty for the
    /// operation name, as ESPv2 has them.
    pub api_method: String,
    /// The log's `log_message`; empty for `<api method> is called`.
    pub log_message: String,
    /// The request headers logged, `name=value;` each
    /// ([`RequestBuilder::logged_request_headers`](super::RequestBuilder::logged_request_headers)); none when empty.
    pub request_headers: String,
    /// The response headers logged, as
    /// [`request_headers`](Self::request_headers).
    pub response_headers: String,
    /// The JWT claims logged, `path=value;` each
    /// ([`RequestBuilder::logged_jwt_payloads`](super::RequestBuilder::logged_jwt_payloads)); none when empty.
    pub jwt_payloads: String,
}

impl ReportInfo {
    /// A call's report, everything else unknown or empty: set the fields
    /// as known.
    pub fn new(call: CallInfo) -> Self {
        Self {
            call,
            api_key_state: ApiKeyState::NotChecked,
            api_key_uid: String::new(),
            consumer_project_number: None,
            auth_issuer: String::new(),
            auth_audience: String::new(),
            frontend_protocol: Protocol::Unknown,
            backend_protocol: Protocol::Unknown,
            method: String::new(),
            url: String::new(),
            response_code: 0,
            grpc_status: None,
            status: Code::Ok,
            status_message: String::new(),
            response_code_detail: String::new(),
            request_size: None,
            response_size: None,
            request_time: None,
            backend_time: None,
            overhead_time: None,
            location: String::new(),
            api_name: String::new(),
            api_version: String::new(),
            trace_id: String::new(),
            api_method: String::new(),
            log_message: String::new(),
            request_headers: String::new(),
            response_headers: String::new(),
            jwt_payloads: String::new(),
        }
    }

    /// A call's report with what its Check said: the key's state
    /// ([`ApiKeyState::of_check`]), and from an answer, the key's uid and
    /// the consumer's project number (when Service Control gave one).
    pub fn checked(
        call: CallInfo,
        outcome: &Result<crate::client::CheckAnswer, tonic::Status>,
    ) -> Self {
        let mut info = Self::new(call);
        if let Ok(answer) = outcome {
            info.record_check(answer);
        }
        info
    }

    /// Records what a Check answered: the key's state
    /// ([`ApiKeyState::of_check`]), the key's uid and the consumer's
    /// project number when Service Control gave them.
    pub fn record_check(&mut self, answer: &crate::client::CheckAnswer) {
        self.api_key_state = ApiKeyState::of_answer(answer);
        if let Some(check_info) = &answer.response.check_info {
            self.api_key_uid.clone_from(&check_info.api_key_uid);
            self.consumer_project_number = check_info
                .consumer_info
                .as_ref()
                .map(|c| c.project_number)
                .filter(|&n| n > 0);
        }
    }

    /// The consumer's project number, when Check gave one (above 0).
    pub(super) fn consumer_project(&self) -> Option<i64> {
        self.consumer_project_number.filter(|&n| n > 0)
    }

    /// Records how the gateway answered its caller when it refused the
    /// call itself: `refusal` (a denial, or a failure's
    /// [`caller_status`](crate::client::caller_status)) is the `/status_code` label
    /// and the log's `error_cause`, and its HTTP status the response code,
    /// as ESPv2 reports its own refusals. Returns the HTTP status.
    pub fn refused_with(&mut self, refusal: &tonic::Status) -> u16 {
        self.status = Code::from_number(refusal.code() as i32);
        self.status_message = refusal.message().to_owned();
        self.response_code = self.status.http_status();
        self.response_code
    }

    /// The API method reported: [`api_method`](Self::api_method), or the
    /// operation name.
    pub(super) fn api_method(&self) -> &str {
        if self.api_method.is_empty() {
            &self.call.operation_name
        } else {
            &self.api_method
        }
    }

    /// The HTTP status reported: a gRPC call's status mapped to HTTP
    /// (Envoy's `grpcToHttpStatus`), else the HTTP status answered.
    pub(super) fn http_status(&self) -> u16 {
        self.grpc_status
            .map_or(self.response_code, Code::http_status)
    }
}
