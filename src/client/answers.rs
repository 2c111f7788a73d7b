//! The answers of the client's Check and AllocateQuota, where each came
//! from, and what a gateway answers its caller from them, as ESPv2 does:
//! Service Control's errors by `check_response_convert_utils.cc`, the
//! gateway's own failures by `client_cache.cc` (UNAVAILABLE stays
//! UNAVAILABLE, every other failure is INTERNAL: the caller is never blamed
//! for the gateway's credentials or Service Control's troubles).

use std::sync::Arc;

use super::policy::is_unavailable;
use super::quota;
use crate::google::api::servicecontrol::v1::{AllocateQuotaResponse, CheckResponse};

/// Where an answer came from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Source {
    /// The server answered this request.
    Server,
    /// A cached answer of the server.
    Cache,
    /// A quota ask the cache had no answer for, let through while the server
    /// is asked.
    Optimistic,
    /// The call failed (the failure given) where a failure lets the
    /// request through: the server could not be reached, or quota failing
    /// open. An API key in it was not checked.
    FailedOpen(tonic::Status),
    /// The call failed (the failure given) where a failure refuses the
    /// request: failing closed, or a failure no server's absence explains
    /// (no access token, an unreadable answer, an error status). The
    /// caller is answered [`caller_status`] of it, never the failure
    /// itself; keep the failure for logs and metrics.
    Failed(tonic::Status),
}

impl Source {
    /// The failure behind an answer that did not come from the server or
    /// the cache.
    pub fn failure(&self) -> Option<&tonic::Status> {
        match self {
            Self::FailedOpen(status) | Self::Failed(status) => Some(status),
            _ => None,
        }
    }
}

/// What a gateway answers its caller when its own call to Service Control
/// failed, as ESPv2 does (`client_cache.cc`, `handleCheckResponse`):
/// UNAVAILABLE when Service Control could not be reached or said it is
/// unavailable ([`is_unavailable`]: a 503 to the caller), INTERNAL for every
/// other failure (a 500): an expired service account, a missing token, a
/// 401 or 403 of Service Control, an unreadable answer. The message is the
/// failure's, as ESPv2 keeps it.
///
/// ```
/// use cloud_report_proto::client::caller_status;
///
/// let failure = tonic::Status::unauthenticated("Request had invalid authentication credentials");
/// assert_eq!(caller_status(&failure).code(), tonic::Code::Internal);
/// let outage = tonic::Status::unavailable("connection refused");
/// assert_eq!(caller_status(&outage).code(), tonic::Code::Unavailable);
/// ```
pub fn caller_status(failure: &tonic::Status) -> tonic::Status {
    let code = if is_unavailable(failure) {
        tonic::Code::Unavailable
    } else {
        tonic::Code::Internal
    };
    tonic::Status::new(code, failure.message().to_owned())
}

/// The answer to a Check.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CheckAnswer {
    /// The server's answer (or a cached one; empty when failed open).
    pub response: Arc<CheckResponse>,
    /// Where it came from.
    pub source: Source,
}

impl CheckAnswer {
    /// Whether the request may go on: an answer without `check_errors`, or
    /// a failure that lets it through.
    pub fn allowed(&self) -> bool {
        !matches!(self.source, Source::Failed(_)) && self.response.check_errors.is_empty()
    }

    /// What a gateway answers its caller when the request may not go on,
    /// from the first check error, with ESPv2's codes
    /// (`check_response_convert_utils.cc`): INVALID_ARGUMENT for an API key
    /// not found, expired or invalid, an unknown or invalid project;
    /// PERMISSION_DENIED for a service not enabled, a call blocked by the
    /// key's restrictions or the API's, a project deleted, billing
    /// disabled, an invalid credential or consumer; RESOURCE_EXHAUSTED for
    /// quota; UNAVAILABLE for a backend unavailable; INTERNAL for any
    /// other. A failed call ([`Source::Failed`]) gives [`caller_status`]
    /// of its failure. `None` when it may go on.
    ///
    /// ```
    /// use cloud_report_proto::client::{CheckAnswer, Source};
    /// use cloud_report_proto::google::api::servicecontrol::v1::{check_error, CheckError, CheckResponse};
    ///
    /// let response = CheckResponse {
    ///     check_errors: vec![CheckError { code: check_error::Code::ApiKeyInvalid as i32, ..Default::default() }],
    ///     ..Default::default()
    /// };
    /// let answer = CheckAnswer::new(response, Source::Server);
    /// assert_eq!(answer.denial().unwrap().code(), tonic::Code::InvalidArgument);
    /// ```
    pub fn denial(&self) -> Option<tonic::Status> {
        use crate::google::api::servicecontrol::v1::check_error::Code as C;
        if let Source::Failed(failure) = &self.source {
            return Some(caller_status(failure));
        }
        let first = self.response.check_errors.first()?;
        let Ok(code) = C::try_from(first.code) else {
            let code = format!("code {}", first.code);
            return Some(tonic::Status::internal(denial_message(
                "Service Control refused the call",
                &code,
                &first.detail,
            )));
        };
        let (status, what) = match code {
            C::NotFound => (
                tonic::Code::InvalidArgument,
                "the consumer's project was not found",
            ),
            C::ProjectInvalid => (
                tonic::Code::InvalidArgument,
                "the consumer's project is invalid",
            ),
            C::ApiKeyNotFound | C::ApiKeyExpired | C::ApiKeyInvalid => {
                (tonic::Code::InvalidArgument, "the API key is not valid")
            }
            C::ResourceExhausted => (tonic::Code::ResourceExhausted, "quota exceeded"),
            C::ServiceNotActivated => (
                tonic::Code::PermissionDenied,
                "the API is not enabled for the consumer's project",
            ),
            C::ApiTargetBlocked | C::IpAddressBlocked | C::RefererBlocked | C::ClientAppBlocked => {
                (
                    tonic::Code::PermissionDenied,
                    "the call is blocked by a restriction",
                )
            }
            C::PermissionDenied | C::InvalidCredential | C::ConsumerInvalid => (
                tonic::Code::PermissionDenied,
                "the consumer may not call this API",
            ),
            C::ProjectDeleted => (
                tonic::Code::PermissionDenied,
                "the consumer's project was deleted",
            ),
            C::BillingDisabled => (
                tonic::Code::PermissionDenied,
                "billing is disabled for the consumer's project",
            ),
            C::NamespaceLookupUnavailable
            | C::ServiceStatusUnavailable
            | C::BillingStatusUnavailable
            | C::CloudResourceManagerBackendUnavailable => (
                tonic::Code::Unavailable,
                "a Service Control backend is unavailable",
            ),
            _ => (tonic::Code::Internal, "Service Control refused the call"),
        };
        Some(tonic::Status::new(
            status,
            denial_message(what, code.as_str_name(), &first.detail),
        ))
    }

    /// An answer, as a test of a gateway's decisions builds one.
    pub fn new(response: CheckResponse, source: Source) -> Self {
        Self {
            response: Arc::new(response),
            source,
        }
    }

    /// Whether the consumer's credentials (an API key) were judged by the
    /// server, now or in the cached answer; not when the call failed.
    pub fn api_key_checked(&self) -> bool {
        matches!(self.source, Source::Server | Source::Cache)
    }
}

/// The answer to an AllocateQuota.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct QuotaAnswer {
    /// The server's answer (or a cached one; empty when optimistic or
    /// failed open).
    pub response: Arc<AllocateQuotaResponse>,
    /// Where it came from.
    pub source: Source,
}

impl QuotaAnswer {
    /// Whether the request may go on: no `allocate_errors`, or a first one
    /// of code UNSPECIFIED, which ESPv2 reads as no error (it reads the
    /// first alone), and no failure that refuses it. The same rule as
    /// [`denial`](Self::denial)'s.
    pub fn allowed(&self) -> bool {
        !matches!(self.source, Source::Failed(_)) && !quota::denies(&self.response)
    }

    /// An answer, as a test of a gateway's decisions builds one.
    pub fn new(response: AllocateQuotaResponse, source: Source) -> Self {
        Self {
            response: Arc::new(response),
            source,
        }
    }

    /// What a gateway answers its caller when the request may not go on,
    /// from the first allocate error, with ESPv2's codes
    /// (`check_response_convert_utils.cc`): RESOURCE_EXHAUSTED for quota
    /// exceeded, PERMISSION_DENIED for billing not active,
    /// INVALID_ARGUMENT for a project deleted or an API key invalid or
    /// expired, INTERNAL for any other. A failed call ([`Source::Failed`],
    /// failing closed) gives [`caller_status`] of its failure. `None` when
    /// it may go on (an error of code UNSPECIFIED denies nothing).
    pub fn denial(&self) -> Option<tonic::Status> {
        use crate::google::api::servicecontrol::v1::quota_error::Code as Q;
        if let Source::Failed(failure) = &self.source {
            return Some(caller_status(failure));
        }
        let first = self.response.allocate_errors.first()?;
        let Ok(code) = Q::try_from(first.code) else {
            let code = format!("code {}", first.code);
            return Some(tonic::Status::internal(denial_message(
                "Service Control refused the quota",
                &code,
                &first.description,
            )));
        };
        let (status, what) = match code {
            Q::Unspecified => return None,
            Q::ResourceExhausted => (tonic::Code::ResourceExhausted, "quota exceeded"),
            Q::BillingNotActive => (
                tonic::Code::PermissionDenied,
                "billing is not active for the consumer's project",
            ),
            Q::ProjectDeleted => (
                tonic::Code::InvalidArgument,
                "the consumer's project was deleted",
            ),
            Q::ApiKeyInvalid | Q::ApiKeyExpired => {
                (tonic::Code::InvalidArgument, "the API key is not valid")
            }
        };
        Some(tonic::Status::new(
            status,
            denial_message(what, code.as_str_name(), &first.description),
        ))
    }
}

/// A denial's message: what it means, the error's code, and what the
/// server said, when it said something.
fn denial_message(what: &str, code: &str, detail: &str) -> String {
    if detail.is_empty() {
        format!("{what} ({code})")
    } else {
        format!("{what} ({code}): {detail}")
    }
}

/// The failure an answer stands for when its first check error says a
/// backend of Service Control is unavailable (`NAMESPACE_LOOKUP_UNAVAILABLE`,
/// `SERVICE_STATUS_UNAVAILABLE`, `BILLING_STATUS_UNAVAILABLE`,
/// `CLOUD_RESOURCE_MANAGER_BACKEND_UNAVAILABLE`): UNAVAILABLE, which fails
/// open or closed like an unreachable server, and is never cached as a
/// denial. ESPv2 reads the first error alone and turns these into
/// UNAVAILABLE (`check_response_convert_utils.cc`); ESP let them through.
pub(crate) fn unavailable_check_error(response: &CheckResponse) -> Option<tonic::Status> {
    use crate::google::api::servicecontrol::v1::check_error::Code;
    let first = response.check_errors.first()?;
    let code = Code::try_from(first.code).ok()?;
    matches!(
        code,
        Code::NamespaceLookupUnavailable
            | Code::ServiceStatusUnavailable
            | Code::BillingStatusUnavailable
            | Code::CloudResourceManagerBackendUnavailable
    )
    .then(|| {
        tonic::Status::unavailable(format!(
            "One or more Google Service Control backends are unavailable ({})",
            code.as_str_name()
        ))
    })
}
