//! Cross-implementation tests against the official Python implementation
//! (protobuf upb with googleapis-common-protos, google-cloud-service-control
//! and google-cloud-audit-log): random messages in both directions and both
//! wire formats, the schemas field by field, and JSON edge cases.

mod support;

use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::google::cloud::audit::AuditLog;
use cloud_report_proto::google::rpc::Status;
use cloud_report_proto::json;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use support::arbitrary;
use support::reference::{Reference, b64};

/// Random cases per type and run; `CLOUD_REPORT_CASES` overrides.
fn cases() -> u32 {
    std::env::var("CLOUD_REPORT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// Whether prost's encoding of this message differs from upb's, though both
/// decode to the same message. Two documented cases (see README, "Known
/// differences"):
/// - prost writes a oneof at the position of its lowest field number, upb
///   each member at its own: here a LogEntry with `struct_payload` (6) and
///   `insert_id` (4);
/// - prost leaves a default key or value out of a map entry, upb writes both;
/// - where one string map key is a prefix of another, upb's deterministic
///   mode writes the longer first; we (like C++) write the shorter first.
fn prost_encodes_differently(binary: &[u8], type_name: &str) -> bool {
    use prost_reflect::{DynamicMessage, MapKey, ReflectMessage, Value};
    fn is_default(v: &Value) -> bool {
        match v {
            Value::Message(m) => m.fields().next().is_none(),
            v => v.is_default(&v_kind(v)),
        }
    }
    fn v_kind(v: &Value) -> prost_reflect::Kind {
        use prost_reflect::Kind;
        match v {
            Value::Bool(_) => Kind::Bool,
            Value::I32(_) => Kind::Int32,
            Value::I64(_) => Kind::Int64,
            Value::U32(_) => Kind::Uint32,
            Value::U64(_) => Kind::Uint64,
            Value::F32(_) => Kind::Float,
            Value::F64(_) => Kind::Double,
            Value::String(_) => Kind::String,
            Value::Bytes(_) => Kind::Bytes,
            _ => Kind::Int32,
        }
    }
    fn default_key(k: &MapKey) -> bool {
        match k {
            MapKey::Bool(b) => !b,
            MapKey::I32(v) => *v == 0,
            MapKey::I64(v) => *v == 0,
            MapKey::U32(v) => *v == 0,
            MapKey::U64(v) => *v == 0,
            MapKey::String(s) => s.is_empty(),
        }
    }
    fn walk(m: &DynamicMessage) -> bool {
        if m.descriptor().full_name() == "google.api.servicecontrol.v1.LogEntry"
            && m.has_field_by_name("struct_payload")
            && m.has_field_by_name("insert_id")
        {
            return true;
        }
        m.fields().any(|(_, v)| match v {
            Value::Message(m) => walk(m),
            Value::List(items) => items
                .iter()
                .any(|v| matches!(v, Value::Message(m) if walk(m))),
            Value::Map(entries) => {
                entries.keys().any(|a| {
                    entries.keys().any(|b| match (a, b) {
                        (MapKey::String(a), MapKey::String(b)) => {
                            a != b && b.starts_with(a.as_str())
                        }
                        _ => false,
                    })
                }) || entries.iter().any(|(k, v)| {
                    default_key(k)
                        || match v {
                            Value::EnumNumber(n) => *n == 0,
                            Value::Message(m) => m.fields().next().is_none() || walk(m),
                            v => is_default(v),
                        }
                })
            }
            _ => false,
        })
    }
    let desc = arbitrary::pool().get_message_by_name(type_name).unwrap();
    walk(&DynamicMessage::decode(desc, binary).unwrap())
}

/// Rust → Python and Python → Rust, binary and JSON, for random messages.
fn cross_check<T>(type_name: &str)
where
    T: Message + Default + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned,
{
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&arbitrary::message_bytes(type_name, 3), |generated| {
            let message = T::decode(generated.as_slice()).unwrap();
            let binary = message.encode_to_vec();
            let text = json::to_string(&message).unwrap();

            // Our own round trips are stable.
            prop_assert_eq!(&T::decode(binary.as_slice()).unwrap(), &message);
            let reparsed: T = json::from_str(&text).unwrap();
            prop_assert_eq!(&json::to_string(&reparsed).unwrap(), &text);
            prop_assert_eq!(
                json::to_string(&T::decode(reparsed.encode_to_vec().as_slice()).unwrap()).unwrap(),
                text.clone()
            );

            let answer = Reference::get().call(json!({
                "op": "roundtrip", "type": type_name,
                "binary": base64_encode(&binary), "json": text,
            }));
            prop_assert!(
                answer.get("error").is_none(),
                "reference failed: {}\njson: {}",
                answer,
                text
            );
            // The reference reads our binary and our JSON as the same message,
            // with nothing it does not know.
            prop_assert!(
                answer["equal"].as_bool().unwrap(),
                "binary and JSON differ for the reference\njson: {}",
                text
            );
            prop_assert!(
                !answer["unknown"].as_bool().unwrap(),
                "unknown fields for the reference\njson: {}",
                text
            );

            // Its binary is byte for byte ours, and decodes to our message.
            let theirs = b64(answer["binary"].as_str().unwrap());
            if !prost_encodes_differently(&binary, type_name) {
                prop_assert_eq!(&theirs, &binary, "binary differs\njson: {}", text);
            }
            prop_assert_eq!(T::decode(theirs.as_slice()).unwrap(), message);

            // Its JSON parses to the same message (compared as canonical JSON,
            // since Any payload bytes may be packed in another map order).
            let their_json = answer["json"].as_str().unwrap();
            let parsed: T = json::from_str(their_json).map_err(|e| {
                TestCaseError::fail(format!(
                    "cannot parse the reference's JSON: {e}\n{their_json}"
                ))
            })?;
            prop_assert_eq!(json::to_string(&parsed).unwrap(), text);
            Ok(())
        })
        .unwrap();
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn report_request() {
    cross_check::<sc::ReportRequest>("google.api.servicecontrol.v1.ReportRequest");
}

#[test]
fn report_response() {
    cross_check::<sc::ReportResponse>("google.api.servicecontrol.v1.ReportResponse");
}

#[test]
fn check_request() {
    cross_check::<sc::CheckRequest>("google.api.servicecontrol.v1.CheckRequest");
}

#[test]
fn check_response() {
    cross_check::<sc::CheckResponse>("google.api.servicecontrol.v1.CheckResponse");
}

#[test]
fn allocate_quota_request() {
    cross_check::<sc::AllocateQuotaRequest>("google.api.servicecontrol.v1.AllocateQuotaRequest");
}

#[test]
fn allocate_quota_response() {
    cross_check::<sc::AllocateQuotaResponse>("google.api.servicecontrol.v1.AllocateQuotaResponse");
}

#[test]
fn status() {
    cross_check::<Status>("google.rpc.Status");
}

#[test]
fn audit_log() {
    cross_check::<AuditLog>("google.cloud.audit.AuditLog");
}
