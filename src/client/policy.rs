//! How each call is made: its timeout, its retries, and which failures are
//! the network's (retried, and let through when failing open).

use std::time::Duration;

use tokio::time::Instant;

use super::transport::CallFuture;

/// The timeout and retries of one kind of call. ESPv2's defaults:
/// [`CallPolicy::check`], [`CallPolicy::quota`], [`CallPolicy::report`].
/// Only network failures ([`is_network_failure`]) are retried, with
/// exponential backoff and full jitter; an answer of the service, an error
/// included, never is.
///
/// ```
/// use std::time::Duration;
/// use cloud_report_proto::client::CallPolicy;
///
/// let patient = CallPolicy::check().timeout(Duration::from_secs(3)).retries(5);
/// assert_eq!(patient.retries, 5);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallPolicy {
    /// How long one attempt may take; past it the attempt fails with
    /// DEADLINE_EXCEEDED.
    pub timeout: Duration,
    /// How many times a call is tried again after a network failure.
    pub retries: u32,
    /// The first wait before trying again; each later wait doubles.
    pub initial_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
    /// The longest time a call may spend, retries and waits included.
    pub max_elapsed: Duration,
}

impl CallPolicy {
    /// Check: 1 s, 3 retries.
    pub fn check() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            retries: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            max_elapsed: Duration::from_secs(5),
        }
    }

    /// AllocateQuota: 1 s, 1 retry (quota fails open, so once is enough).
    pub fn quota() -> Self {
        Self {
            retries: 1,
            ..Self::check()
        }
    }

    /// Report: 2 s, 5 retries, waits from 100 ms up to 5 s, within a minute.
    pub fn report() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(60),
        }
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`retries`](Self::retries).
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets the backoff: the first wait and the longest.
    #[must_use]
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Sets [`max_elapsed`](Self::max_elapsed).
    #[must_use]
    pub fn max_elapsed(mut self, max: Duration) -> Self {
        self.max_elapsed = max;
        self
    }

    /// Makes a call by this policy: `attempt` is asked for each try. The
    /// answer or the last failure, and how many retries were made.
    pub(crate) async fn call<T>(
        &self,
        attempt: impl Fn() -> CallFuture<T>,
    ) -> (Result<T, tonic::Status>, u32) {
        let started = Instant::now();
        let mut backoff = self.initial_backoff;
        let mut retries = 0;
        loop {
            let result = match tokio::time::timeout(self.timeout, attempt()).await {
                Ok(result) => result,
                Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                    "no answer within {:?}",
                    self.timeout
                ))),
            };
            let status = match result {
                Ok(answer) => return (Ok(answer), retries),
                Err(status) => status,
            };
            let wait = backoff.mul_f64(fastrand::f64());
            if !is_network_failure(&status)
                || retries >= self.retries
                || started.elapsed() + wait > self.max_elapsed
            {
                return (Err(status), retries);
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.max_backoff);
            retries += 1;
        }
    }
}

/// Whether a failed call failed for the network's reasons rather than by an
/// answer of the service: the connection failed (which tonic reports under
/// various codes, CANCELLED and UNKNOWN among them, with a transport, HTTP or
/// I/O error as the cause), no answer came in time, or the server failed
/// (UNAVAILABLE, INTERNAL, UNIMPLEMENTED, DEADLINE_EXCEEDED, UNKNOWN; over
/// REST, any HTTP status but 200 that is not 4xx, as ESPv2 retries). These
/// are retried by a [`CallPolicy`]; whether a Check is then let through is
/// [`is_unavailable`]'s to say. A call made without an access token and an
/// answer that cannot be read are not: they are settled at once, failing
/// closed.
///
/// ```
/// use cloud_report_proto::client::is_network_failure;
///
/// assert!(is_network_failure(&tonic::Status::unavailable("connection refused")));
/// assert!(!is_network_failure(&tonic::Status::permission_denied("no")));
/// ```
pub fn is_network_failure(status: &tonic::Status) -> bool {
    use std::error::Error;
    use tonic::Code;
    if crate::failure::settled_by(status).is_some() {
        return false;
    }
    // A REST answer's status says it, as ESPv2's `http_call.cc` reads it:
    // every status but 200 is tried again, except 4xx.
    #[cfg(feature = "rest-client")]
    if let Some(http) = http_status(status) {
        return !(400..500).contains(&http);
    }
    if matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Internal
            | Code::Unimplemented
            | Code::Unknown
    ) {
        return true;
    }
    let mut source = status.source();
    while let Some(error) = source {
        if error.is::<tonic::transport::Error>()
            || error.is::<hyper::Error>()
            || error.is::<std::io::Error>()
        {
            return true;
        }
        source = error.source();
    }
    false
}

/// Whether a failure is what ESPv2 calls UNAVAILABLE, the one failure it lets
/// a Check through on when failing open (`client_cache.cc`,
/// `network_fail_open`):
/// - a REST answer with HTTP 429, 502, 503 or 504 (Envoy's
///   `httpToGrpcStatus`, which ESPv2 applies to Service Control's HTTP
///   status, never reading an error body);
/// - otherwise the codes UNAVAILABLE (a connection that failed, a check
///   error saying a backend is unavailable), DEADLINE_EXCEEDED (no answer in
///   time) and RESOURCE_EXHAUSTED (gRPC's 429).
///
/// Everything else fails closed: HTTP 500 and other 4xx and 5xx, INTERNAL and
/// UNKNOWN (a reset stream, an unreadable answer), UNIMPLEMENTED (404), and
/// UNAUTHENTICATED (no token).
///
/// ```
/// use cloud_report_proto::client::is_unavailable;
///
/// assert!(is_unavailable(&tonic::Status::unavailable("connection refused")));
/// assert!(!is_unavailable(&tonic::Status::internal("HTTP 500")));
/// ```
pub fn is_unavailable(status: &tonic::Status) -> bool {
    use tonic::Code;
    #[cfg(feature = "rest-client")]
    if let Some(http) = http_status(status) {
        return matches!(http, 429 | 502 | 503 | 504);
    }
    matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted
    )
}

/// The HTTP status of a REST answer behind a failure (the REST clients keep
/// the [`RestError`](crate::rest::RestError) as the status's source).
#[cfg(feature = "rest-client")]
fn http_status(status: &tonic::Status) -> Option<u16> {
    use std::error::Error;
    let mut source = status.source();
    while let Some(error) = source {
        if let Some(rest) = error.downcast_ref::<crate::rest::RestError>() {
            return Some(rest.http_status);
        }
        source = error.source();
    }
    None
}
