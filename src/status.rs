//! `google.rpc.Code` and `google.rpc.Status` across the wires: gRPC codes,
//! HTTP statuses, `tonic::Status` (with the details in
//! `grpc-status-details-bin`, as tonic-types and every Google client read
//! them), and typed error details.
//!
//! ```
//! use cloud_report_proto::google::rpc::{Code, ErrorInfo, RetryInfo, Status};
//!
//! let status = Status::new(Code::ResourceExhausted, "quota exceeded")
//!     .with_detail(&ErrorInfo { reason: "RATE_LIMIT_EXCEEDED".into(), ..Default::default() })
//!     .with_detail(&RetryInfo { retry_delay: Some("30s".parse()?), ..Default::default() });
//! assert_eq!(Code::ResourceExhausted.http_status(), 429);
//!
//! // Over gRPC the details travel in grpc-status-details-bin ...
//! let grpc: tonic::Status = status.clone().into();
//! assert_eq!(grpc.code(), tonic::Code::ResourceExhausted);
//! // ... and come back whole.
//! let back = Status::try_from(&grpc)?;
//! assert_eq!(back, status);
//! let retry: RetryInfo = back.detail().unwrap()?;
//! assert_eq!(retry.retry_delay.unwrap().seconds, 30);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use prost::Message;

use crate::google::protobuf::{Any, AnyError};
use crate::google::rpc::{Code, Status};

impl Code {
    /// The HTTP status a REST front end answers with for this code (the
    /// mapping documented with `google.rpc.Code`).
    pub fn http_status(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::Cancelled => 499,
            Self::Unknown | Self::Internal | Self::DataLoss => 500,
            Self::InvalidArgument | Self::FailedPrecondition | Self::OutOfRange => 400,
            Self::DeadlineExceeded => 504,
            Self::NotFound => 404,
            Self::AlreadyExists | Self::Aborted => 409,
            Self::PermissionDenied => 403,
            Self::Unauthenticated => 401,
            Self::ResourceExhausted => 429,
            Self::Unimplemented => 501,
            Self::Unavailable => 503,
        }
    }

    /// The code a REST client reads from an HTTP status when the body says
    /// nothing better. Where several codes share a status the most general
    /// is chosen (400 is INVALID_ARGUMENT, 409 ABORTED, 500 INTERNAL).
    ///
    /// ```
    /// use cloud_report_proto::google::rpc::Code;
    /// assert_eq!(Code::from_http_status(404), Code::NotFound);
    /// assert_eq!(Code::from_http_status(418), Code::FailedPrecondition);
    /// ```
    pub fn from_http_status(status: u16) -> Self {
        match status {
            400 => Self::InvalidArgument,
            401 => Self::Unauthenticated,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            409 => Self::Aborted,
            416 => Self::OutOfRange,
            429 => Self::ResourceExhausted,
            499 => Self::Cancelled,
            501 => Self::Unimplemented,
            503 => Self::Unavailable,
            504 => Self::DeadlineExceeded,
            _ if (200..300).contains(&status) => Self::Ok,
            _ if (400..500).contains(&status) => Self::FailedPrecondition,
            _ if (500..600).contains(&status) => Self::Internal,
            _ => Self::Unknown,
        }
    }

    /// The code of a `Status.code` number; numbers outside the enum are
    /// UNKNOWN, as gRPC reads them.
    pub fn from_number(code: i32) -> Self {
        Self::try_from(code).unwrap_or(Self::Unknown)
    }
}

#[cfg(feature = "grpc")]
impl From<Code> for tonic::Code {
    fn from(code: Code) -> Self {
        // The two enums share their numbering.
        tonic::Code::from(code as i32)
    }
}

#[cfg(feature = "grpc")]
impl From<tonic::Code> for Code {
    fn from(code: tonic::Code) -> Self {
        Self::from_number(code as i32)
    }
}

/// Why a `tonic::Status` could not be read as a `google.rpc.Status`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The `grpc-status-details-bin` payload is not a `google.rpc.Status`.
    #[error("grpc-status-details-bin does not decode as google.rpc.Status: {0}")]
    Details(prost::DecodeError),
}

impl Status {
    /// A status with a code and a message, and no details.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code: code as i32,
            message: message.into(),
            details: Vec::new(),
            ..Default::default()
        }
    }

    /// The status code; numbers outside `google.rpc.Code` read as UNKNOWN.
    pub fn code(&self) -> Code {
        Code::from_number(self.code)
    }

    /// Adds a detail message, packed in an Any.
    #[must_use]
    pub fn with_detail<D: Message + prost::Name>(mut self, detail: &D) -> Self {
        self.details.push(Any::from_msg(detail));
        self
    }

    /// The first detail of type `D`, if there is one: `Some(Err)` when it is
    /// there but does not decode.
    pub fn detail<D: Message + prost::Name + Default>(&self) -> Option<Result<D, AnyError>> {
        self.details_of::<D>().next()
    }

    /// Every detail of type `D`, in order.
    pub fn details_of<'a, D: Message + prost::Name + Default + 'a>(
        &'a self,
    ) -> impl Iterator<Item = Result<D, AnyError>> + 'a {
        let name = D::full_name();
        self.details
            .iter()
            .filter(move |any| any.type_name() == name)
            .map(Any::to_msg::<D>)
    }
}

/// The status as gRPC carries it: code, message, and the whole
/// `google.rpc.Status` in `grpc-status-details-bin` when it has details.
#[cfg(feature = "grpc")]
impl From<Status> for tonic::Status {
    fn from(status: Status) -> Self {
        let code = tonic::Code::from(status.code);
        if status.details.is_empty() {
            tonic::Status::new(code, status.message)
        } else {
            let details = status.encode_to_vec();
            tonic::Status::with_details(code, status.message, details.into())
        }
    }
}

/// Reads code, message and details; fails when `grpc-status-details-bin`
/// holds something that is not a `google.rpc.Status`.
#[cfg(feature = "grpc")]
impl TryFrom<&tonic::Status> for Status {
    type Error = StatusError;

    fn try_from(status: &tonic::Status) -> Result<Self, StatusError> {
        let details = if status.details().is_empty() {
            Vec::new()
        } else {
            Self::decode(status.details())
                .map_err(StatusError::Details)?
                .details
        };
        Ok(Self {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_its_documented_http_status_and_back_where_unique() {
        let table = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::Unauthenticated, 401),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
        ];
        for (code, http) in table {
            assert_eq!(code.http_status(), http, "{code:?}");
            let back = Code::from_http_status(http);
            assert_eq!(back.http_status(), http, "{code:?}");
        }
        assert_eq!(Code::from_number(99), Code::Unknown);
    }

    #[cfg(feature = "grpc")]
    #[test]
    fn codes_match_tonic_numbering() {
        for number in 0..=16 {
            let code = Code::from_number(number);
            let tonic_code = tonic::Code::from(code);
            assert_eq!(tonic_code as i32, number);
            assert_eq!(Code::from(tonic_code), code);
        }
    }
}
