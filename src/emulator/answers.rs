//! The answers every service of the emulator gives alike: invalid
//! arguments, exhausted bounds, and what a scripted fault makes of a call.

use prost::Message;

use super::encoded::decode_stored;
use super::faults::Action;
use crate::google::rpc::{Code, Status};
use crate::rest::CallContext;

pub(super) fn invalid(message: impl Into<String>) -> tonic::Status {
    Status::new(Code::InvalidArgument, message).into()
}

/// What a call does under a fault: `Ok(Some(answer))` when the script
/// answers it, `Err` when the fault fails it, `Ok(None)` when it goes on to
/// its usual answer (none, or after a delay). A check error is the check's
/// own to answer.
pub(super) async fn scripted<R: Message + Default>(
    fault: Option<Action>,
    call: Option<&CallContext>,
) -> Result<Option<R>, tonic::Status> {
    match fault {
        None | Some(Action::CheckError(_)) => Ok(None),
        Some(Action::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        Some(Action::Status { code, message }) => Err(Status::new(code, message).into()),
        Some(Action::HttpStatus(http)) => {
            if let Some(call) = call {
                call.set_http_status(http);
            }
            Err(Status::new(
                Code::from_http_status(http),
                format!("HTTP {http} injected by the emulator"),
            )
            .into())
        }
        Some(Action::Response(encoded)) => Ok(Some(decode_stored(&encoded))),
        Some(Action::Drop(how)) => {
            // Served some other way than through the gateway, the call
            // cannot be dropped: it fails as a dropped call would.
            if let Some(call) = call {
                call.abort(how);
            }
            Err(Status::new(Code::Unavailable, "the call was dropped by the emulator").into())
        }
        Some(Action::Garble) => {
            // Served some other way than through the gateway, the answer
            // cannot be garbled: the call fails as an unreadable answer
            // does.
            if let Some(call) = call {
                call.garble();
            }
            Err(Status::new(Code::Internal, "the answer was garbled by the emulator").into())
        }
    }
}

pub(super) fn exhausted(message: String) -> tonic::Status {
    Status::new(Code::ResourceExhausted, message).into()
}
