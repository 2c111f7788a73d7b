//! Who may call: decided from the request's headers alone, before any byte
//! of its body is read, on every route and both wires.

use http::HeaderMap;

use crate::google::rpc::{Code, Status};

/// Decides from a request's headers whether it may be served. The
/// [`Gateway`](super::Gateway) asks before it reads a body or hands a gRPC
/// call to a service; a refusal is answered at once (401 with Google's error
/// form, or gRPC status UNAUTHENTICATED).
///
/// Any `Fn(&HeaderMap) -> Result<(), Status>` is one; [`BearerToken`] checks
/// a fixed token. An `access_token` query parameter (one of Google's system
/// parameters) reaches it as an `Authorization: Bearer` header.
pub trait Authenticate: Send + Sync + 'static {
    /// `Ok` to serve the request; the error status to answer otherwise.
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), Status>;
}

impl<F> Authenticate for F
where
    F: Fn(&HeaderMap) -> Result<(), Status> + Send + Sync + 'static,
{
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), Status> {
        self(headers)
    }
}

/// Requires `Authorization: Bearer <token>` with one fixed token. The scheme
/// is matched without regard to case (RFC 9110), the token in constant time.
///
/// ```
/// use cloud_report_proto::rest::{Authenticate, BearerToken};
/// use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
///
/// let auth = BearerToken::new("s3cret");
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer s3cret"));
/// assert!(auth.authenticate(&headers).is_ok());
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer wrong"));
/// assert!(auth.authenticate(&headers).unwrap_err().message.contains("does not match"));
/// ```
#[derive(Clone)]
pub struct BearerToken {
    token: String,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken").finish_non_exhaustive()
    }
}

impl BearerToken {
    /// Requires this token.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
        }
    }
}

/// The credentials of an `Authorization: Bearer` header, the scheme matched
/// without regard to case; `None` when there is no such header.
pub fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(http::header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii())
}

/// The refusal of a request without `Authorization: Bearer`.
pub(crate) fn missing_credential() -> Status {
    Status::new(
        Code::Unauthenticated,
        "Request is missing required authentication credential: expected \"Authorization: Bearer <token>\"",
    )
}

impl Authenticate for BearerToken {
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), Status> {
        use subtle::ConstantTimeEq;
        let refuse = |message: &str| Err(Status::new(Code::Unauthenticated, message));
        match bearer(headers) {
            None => Err(missing_credential()),
            Some(given) if bool::from(given.ct_eq(self.token.as_bytes())) => Ok(()),
            Some(_) => refuse(
                "Request had invalid authentication credentials: the bearer token does not match",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn scheme_is_case_insensitive_and_missing_differs_from_wrong() {
        let auth = BearerToken::new("t");
        for ok in ["Bearer t", "bearer t", "BEARER t", "Bearer  t "] {
            assert!(auth.authenticate(&with(ok)).is_ok(), "{ok}");
        }
        let missing = auth.authenticate(&HeaderMap::new()).unwrap_err();
        assert!(missing.message.contains("missing"), "{}", missing.message);
        for wrong in ["Bearer x", "Bearer tt", "Basic t", "Bearert", "Bearer"] {
            let error = auth.authenticate(&with(wrong)).unwrap_err();
            assert_eq!(error.code(), Code::Unauthenticated, "{wrong}");
        }
        assert!(
            auth.authenticate(&with("Bearer x"))
                .unwrap_err()
                .message
                .contains("does not match")
        );
    }
}
