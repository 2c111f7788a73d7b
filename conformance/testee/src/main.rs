//! The conformance testee: answers the official protobuf conformance runner's
//! requests with the crate's own code, over the runner's protocol (each
//! message a 4-byte little-endian length, then a `conformance.Conformance*`
//! message in binary, on stdin and stdout).
//!
//! Only proto3 messages are compiled; every other message type (proto2,
//! editions) and every other wire format (JSPB, text format) is answered as
//! skipped.

use std::io::{self, Read, Write};

use cloud_report_proto::conformance::{
    ConformanceRequest, ConformanceResponse, TestCategory, WireFormat, conformance_request,
    conformance_response,
};
use cloud_report_proto::json::{self, ParseOptions};
use cloud_report_proto::protobuf_test_messages::proto3::TestAllTypesProto3;
use prost::{Message, Name};

use conformance_request::Payload;
use conformance_response::Result as Answer;

fn main() -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    loop {
        let mut length = [0; 4];
        match stdin.read_exact(&mut length) {
            Ok(()) => {}
            // The runner closes the pipe when the suite is done.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut request = vec![0; u32::from_le_bytes(length) as usize];
        stdin.read_exact(&mut request)?;
        let result = match ConformanceRequest::decode(request.as_slice()) {
            Ok(request) => answer(&request),
            Err(e) => Answer::RuntimeError(format!("unreadable ConformanceRequest: {e}")),
        };
        let response = ConformanceResponse {
            result: Some(result),
            ..Default::default()
        }
        .encode_to_vec();
        let length = u32::try_from(response.len()).expect("a response under 4 GiB");
        stdout.write_all(&length.to_le_bytes())?;
        stdout.write_all(&response)?;
        stdout.flush()?;
    }
}

/// Parses the payload as the requested type and writes it back in the
/// requested format.
fn answer(request: &ConformanceRequest) -> Answer {
    if request.message_type != TestAllTypesProto3::full_name() {
        return Answer::Skipped(format!(
            "{} is not compiled: only proto3 messages are",
            request.message_type
        ));
    }
    let message = match &request.payload {
        Some(Payload::ProtobufPayload(bytes)) => {
            match TestAllTypesProto3::decode(bytes.as_slice()) {
                Ok(message) => message,
                Err(e) => return Answer::ParseError(e.to_string()),
            }
        }
        Some(Payload::JsonPayload(text)) => {
            let ignore = request.test_category() == TestCategory::JsonIgnoreUnknownParsingTest;
            let options = ParseOptions::default().ignore_unknown_fields(ignore);
            match json::from_slice_with::<TestAllTypesProto3>(text.as_bytes(), &options) {
                Ok(message) => message,
                Err(e) => return Answer::ParseError(e.to_string()),
            }
        }
        Some(Payload::JspbPayload(_)) => return Answer::Skipped("JSPB is not supported".into()),
        Some(Payload::TextPayload(_)) => {
            return Answer::Skipped("the text format is not supported".into());
        }
        None => return Answer::RuntimeError("a request without a payload".into()),
    };
    match request.requested_output_format() {
        WireFormat::Protobuf => Answer::ProtobufPayload(message.encode_to_vec()),
        WireFormat::Json => match json::to_string(&message) {
            Ok(text) => Answer::JsonPayload(text),
            Err(e) => Answer::SerializeError(e.to_string()),
        },
        WireFormat::Jspb => Answer::Skipped("JSPB is not supported".into()),
        WireFormat::TextFormat => Answer::Skipped("the text format is not supported".into()),
        WireFormat::Unspecified => Answer::RuntimeError("no output format requested".into()),
    }
}
