//! Cross-implementation tests against the official Python implementation
//! (protobuf upb with googleapis-common-protos, google-cloud-service-control
//! and google-cloud-audit-log): random messages in both directions and both
//! wire formats, the schemas field by field, and JSON edge cases.
#![cfg(feature = "json")]

use crate::support;

use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::google::cloud::audit::AuditLog;
use cloud_report_proto::google::rpc::Status;
use cloud_report_proto::json;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use prost::Message;
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

/// Whether our encoding of this message differs from upb's deterministic
/// one, though both decode to the same message. One documented case (see
/// README, "Known differences"): where one string map key is a prefix of
/// another, upb's deterministic mode writes the longer first; we (like C++)
/// write the shorter first. Fields come in number order (oneof members at
/// their own number) and map entries hold both key and value, as upb writes
/// them.
fn prost_encodes_differently(binary: &[u8], type_name: &str) -> bool {
    use prost_reflect::{DynamicMessage, MapKey, Value};
    fn walk(m: &DynamicMessage) -> bool {
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
                }) || entries
                    .values()
                    .any(|v| matches!(v, Value::Message(m) if walk(m)))
            }
            _ => false,
        })
    }
    let desc = arbitrary::pool().get_message_by_name(type_name).unwrap();
    walk(&DynamicMessage::decode(desc, binary).unwrap())
}

/// A runner of [`cases`] cases, none of them kept.
fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Rust → Python and Python → Rust, binary and JSON, for random messages.
fn cross_check<T>(type_name: &str)
where
    T: Message + Default + PartialEq + std::fmt::Debug + json::WriteJson + json::ReadJson,
{
    let mut runner = runner();
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

/// Unknown fields through a relay: random messages with unknown fields added
/// at every nesting level and of every wire type (and known numbers arriving
/// with a wire type their kind cannot have) decode and encode in Rust to the
/// bytes the reference re-encodes them to, and the reference's bytes decode
/// to the same message, unknown fields included.
fn relay_check<T>(type_name: &str)
where
    T: Message + Default + PartialEq + std::fmt::Debug + json::WriteJson + json::ReadJson,
{
    let mut runner = runner();
    let strategy = (arbitrary::message_bytes(type_name, 3), any::<u64>());
    runner
        .run(&strategy, |(generated, seed)| {
            let (input, added) = arbitrary::with_unknown_fields(
                type_name,
                &generated,
                &mut arbitrary::Rng::new(seed),
            );
            let message = T::decode(input.as_slice())
                .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
            let ours = message.encode_to_vec();
            prop_assert_eq!(message.encoded_len(), ours.len());
            let text = json::to_string(&message).unwrap();

            let answer = Reference::get().call(json!({
                "op": "roundtrip", "type": type_name,
                "binary": base64_encode(&input), "json": text,
            }));
            prop_assert!(
                answer.get("error").is_none(),
                "reference failed: {}",
                answer
            );
            // JSON has no place for unknown fields: both leave them out.
            prop_assert!(
                answer["equal"].as_bool().unwrap(),
                "JSON differs\njson: {}",
                text
            );
            prop_assert_eq!(answer["unknown"].as_bool().unwrap(), added > 0);

            let theirs = b64(answer["binary"].as_str().unwrap());
            // (The known fields decide, which the generated bytes hold.)
            if !prost_encodes_differently(&generated, type_name) {
                prop_assert_eq!(&theirs, &ours, "binary differs\njson: {}", text);
            }
            prop_assert_eq!(T::decode(theirs.as_slice()).unwrap(), message);
            Ok(())
        })
        .unwrap();
}

#[test]
fn unknown_fields_report_request() {
    relay_check::<sc::ReportRequest>("google.api.servicecontrol.v1.ReportRequest");
}

#[test]
fn unknown_fields_check_response() {
    relay_check::<sc::CheckResponse>("google.api.servicecontrol.v1.CheckResponse");
}

#[test]
fn unknown_fields_allocate_quota_request() {
    relay_check::<sc::AllocateQuotaRequest>("google.api.servicecontrol.v1.AllocateQuotaRequest");
}

#[test]
fn unknown_fields_audit_log() {
    relay_check::<AuditLog>("google.cloud.audit.AuditLog");
}

#[test]
fn unknown_fields_service_config() {
    relay_check::<cloud_report_proto::google::api::Service>("google.api.Service");
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One test a message type, checked by [`cross_check`] under the type's
/// full name.
macro_rules! cross_checked {
    ($($(#[$doc:meta])* $test:ident: $t:ty;)*) => {$(
        $(#[$doc])*
        #[test]
        fn $test() {
            cross_check::<$t>(&<$t as prost::Name>::full_name());
        }
    )*};
}

cross_checked! {
    report_request: sc::ReportRequest;
    report_response: sc::ReportResponse;
    check_request: sc::CheckRequest;
    check_response: sc::CheckResponse;
    allocate_quota_request: sc::AllocateQuotaRequest;
    allocate_quota_response: sc::AllocateQuotaResponse;
    status: Status;
    audit_log: AuditLog;
    /// A service configuration, and through it `google.protobuf.Api`, `Type`
    /// and `Enum`, whose JSON is generated like any message's.
    service_config: cloud_report_proto::google::api::Service;
}

/// Every message and enum we define that the reference also defines has the
/// same fields: number, name, JSON name, type, cardinality, oneof, presence.
/// What makes our binary Google's binary.
#[test]
fn schemas_match_the_reference_field_by_field() {
    use prost_reflect::{Kind, MessageDescriptor};
    let pool = arbitrary::pool();
    let roots: Vec<String> = pool
        .all_messages()
        .filter(|m| !m.package_name().starts_with("google.cloud.apigee"))
        // descriptor.proto is the compiler's, used only for the http option.
        .filter(|m| m.parent_file().name() != "google/protobuf/descriptor.proto")
        .filter(|m| !m.is_map_entry())
        .map(|m| m.full_name().to_owned())
        .collect();
    let answer = Reference::get().call(json!({"op": "describe", "types": roots}));
    assert!(answer.get("error").is_none(), "{answer}");
    let messages = answer["messages"].as_object().unwrap();
    let enums = answer["enums"].as_object().unwrap();

    let field_facts = |m: &MessageDescriptor| -> Vec<serde_json::Value> {
        let mut fields: Vec<serde_json::Value> = m
            .fields()
            .map(|f| {
                let oneof = f
                    .containing_oneof()
                    .filter(|o| !o.is_synthetic())
                    .map(|o| o.name().to_owned())
                    .unwrap_or_default();
                let type_name = match f.kind() {
                    Kind::Message(m) => m.full_name().to_owned(),
                    Kind::Enum(e) => e.full_name().to_owned(),
                    _ => String::new(),
                };
                json!({
                    "number": f.number(), "name": f.name(), "json_name": f.json_name(),
                    "type": f.field_descriptor_proto().r#type() as i32, "type_name": type_name,
                    "repeated": f.is_list() || f.is_map(), "oneof": oneof,
                    "presence": f.supports_presence(),
                })
            })
            .collect();
        fields.sort_by_key(|f| f["number"].as_i64());
        fields
    };

    let mut compared = 0;
    for name in &roots {
        let ours = pool.get_message_by_name(name).unwrap();
        let theirs = messages
            .get(name.as_str())
            .unwrap_or_else(|| panic!("the reference does not know {name}"));
        let mut their_fields = theirs["fields"].as_array().unwrap().clone();
        their_fields.sort_by_key(|f| f["number"].as_i64());
        for field in &mut their_fields {
            // proto-plus registers fields named like Python builtins with a
            // trailing underscore (`type_`); upstream, and on the wire, the
            // name is `type`.
            let name = field["name"].as_str().unwrap();
            if name.ends_with('_') && field["json_name"] == name.trim_end_matches('_') {
                field["name"] = json!(name.trim_end_matches('_'));
            }
        }
        assert_eq!(field_facts(&ours), their_fields, "fields of {name}");
        compared += 1;
    }
    for (name, values) in enums {
        if name.starts_with("google.protobuf.FieldDescriptorProto") {
            continue;
        }
        let ours = pool
            .get_enum_by_name(name)
            .unwrap_or_else(|| panic!("we do not define {name}"));
        let ours: serde_json::Map<String, serde_json::Value> = ours
            .values()
            .map(|v| (v.name().to_owned(), json!(v.number())))
            .collect();
        assert_eq!(&serde_json::Value::Object(ours), values, "values of {name}");
    }
    assert!(compared > 80, "only {compared} messages compared");
}

/// The Service Control services have the reference's methods and HTTP
/// bindings.
#[test]
fn service_bindings_match_the_reference() {
    use cloud_report_proto::google::api::HttpRule;
    let pool = arbitrary::pool();
    let http = pool.get_extension_by_name("google.api.http").unwrap();
    for service in [
        "google.api.servicecontrol.v1.ServiceController",
        "google.api.servicecontrol.v1.QuotaController",
    ] {
        let answer = Reference::get().call(json!({"op": "describe_service", "service": service}));
        let theirs = answer["methods"].as_object().unwrap();
        let ours = pool.get_service_by_name(service).unwrap();
        assert_eq!(ours.methods().count(), theirs.len(), "methods of {service}");
        for method in ours.methods() {
            let options = method.options();
            let rule = options.get_extension(&http);
            let rule = rule.as_message().unwrap();
            let rule = HttpRule::decode(rule.encode_to_vec().as_slice()).unwrap();
            let rule: serde_json::Value =
                serde_json::from_str(&json::to_string(&rule).unwrap()).unwrap();
            assert_eq!(
                json!([rule]),
                theirs[method.name()],
                "binding of {}",
                method.full_name()
            );
        }
    }
}

/// Parses with this crate: the binary encoding, or the error.
fn ours(type_name: &str, text: &str, ignore_unknown: bool) -> Result<Vec<u8>, String> {
    let entry = cloud_report_proto::registry::lookup(type_name).unwrap();
    let options = json::ParseOptions::default().ignore_unknown_fields(ignore_unknown);
    entry
        .json_to_binary_with(text.as_bytes(), &options)
        .map_err(|e| e.to_string())
}

/// JSON inputs at the edges of the mapping: both implementations accept them
/// and read the same message, or both reject them.
#[test]
fn json_edge_cases_agree_with_the_reference() {
    const STATUS: &str = "google.rpc.Status";
    const LOG: &str = "google.api.servicecontrol.v1.LogEntry";
    const HTTP: &str = "google.api.servicecontrol.v1.HttpRequest";
    const OP: &str = "google.api.servicecontrol.v1.Operation";
    const REPORT: &str = "google.api.servicecontrol.v1.ReportRequest";
    const DIST: &str = "google.api.servicecontrol.v1.Distribution";
    const METRIC: &str = "google.api.servicecontrol.v1.MetricValue";
    const MASK: &str = "google.protobuf.FieldMask";
    let cases: &[(&str, &str)] = &[
        // null is "unset" for every kind of field
        (
            STATUS,
            r#"{"code": null, "message": null, "details": null}"#,
        ),
        (
            LOG,
            r#"{"labels": null, "severity": null, "httpRequest": null, "textPayload": null}"#,
        ),
        (
            LOG,
            r#"{"structPayload": {"a": null, "b": [null, 1, "x", true, {}]}}"#,
        ),
        (STATUS, r#"{"details": [null]}"#),
        (LOG, r#"{"labels": {"a": null}}"#),
        // integers
        (STATUS, r#"{"code": "5"}"#),
        (STATUS, r#"{"code": 5.0}"#),
        (STATUS, r#"{"code": 5.5}"#),
        (STATUS, r#"{"code": "1e1"}"#),
        (STATUS, r#"{"code": 1e1}"#),
        (STATUS, r#"{"code": 2147483647}"#),
        (STATUS, r#"{"code": 2147483648}"#),
        (STATUS, r#"{"code": -2147483649}"#),
        (STATUS, r#"{"code": true}"#),
        (STATUS, r#"{"code": ""}"#),
        (STATUS, r#"{"code": "0x10"}"#),
        (HTTP, r#"{"requestSize": "9223372036854775807"}"#),
        (HTTP, r#"{"requestSize": 9223372036854775807}"#),
        (HTTP, r#"{"requestSize": "-9223372036854775808"}"#),
        (HTTP, r#"{"requestSize": "9223372036854775808"}"#),
        (HTTP, r#"{"requestSize": "-9223372036854775809"}"#),
        (HTTP, r#"{"requestSize": -9223372036854775809}"#),
        (HTTP, r#"{"requestSize": -9223372036854775808}"#),
        (HTTP, r#"{"requestSize": "18446744073709551615"}"#),
        (HTTP, r#"{"requestSize": 1e18}"#),
        (HTTP, r#"{"requestSize": "1e18"}"#),
        (HTTP, r#"{"requestSize": 1.5}"#),
        (HTTP, r#"{"status": 404, "cacheHit": true}"#),
        (HTTP, r#"{"cacheHit": "true"}"#),
        (HTTP, r#"{"cacheHit": 1}"#),
        // doubles
        (METRIC, r#"{"doubleValue": "NaN"}"#),
        (METRIC, r#"{"doubleValue": "Infinity"}"#),
        (METRIC, r#"{"doubleValue": "-Infinity"}"#),
        (METRIC, r#"{"doubleValue": "1.5"}"#),
        (METRIC, r#"{"doubleValue": 1e400}"#),
        (METRIC, r#"{"doubleValue": "nan"}"#),
        (METRIC, r#"{"int64Value": "-1", "labels": {"k": "v"}}"#),
        (
            DIST,
            r#"{"count": "3", "bucketCounts": ["1", 2, "0"], "linearBuckets": {"numFiniteBuckets": 1, "width": 1, "offset": 0}}"#,
        ),
        // enums
        (LOG, r#"{"severity": "INFO"}"#),
        (LOG, r#"{"severity": 200}"#),
        (LOG, r#"{"severity": 999}"#),
        (LOG, r#"{"severity": "NOPE"}"#),
        (LOG, r#"{"severity": "info"}"#),
        (OP, r#"{"importance": "HIGH"}"#),
        // durations
        (HTTP, r#"{"latency": "3.5s"}"#),
        (HTTP, r#"{"latency": "-0.5s"}"#),
        (HTTP, r#"{"latency": "0.000000001s"}"#),
        (HTTP, r#"{"latency": "315576000000.999999999s"}"#),
        (HTTP, r#"{"latency": "315576000001s"}"#),
        (HTTP, r#"{"latency": "3.5"}"#),
        (HTTP, r#"{"latency": 3.5}"#),
        // timestamps
        (LOG, r#"{"timestamp": "2014-10-02T15:01:23Z"}"#),
        (LOG, r#"{"timestamp": "2014-10-02T15:01:23.045123456Z"}"#),
        (LOG, r#"{"timestamp": "2014-10-02T15:01:23.045+01:00"}"#),
        (LOG, r#"{"timestamp": "2014-10-02T15:01:23-08:30"}"#),
        (LOG, r#"{"timestamp": "0001-01-01T00:00:00Z"}"#),
        (LOG, r#"{"timestamp": "9999-12-31T23:59:59.999999999Z"}"#),
        (LOG, r#"{"timestamp": "0000-12-31T00:00:00Z"}"#),
        (LOG, r#"{"timestamp": "2014-10-02T15:01:23"}"#),
        (LOG, r#"{"timestamp": "2014-10-02 15:01:23Z"}"#),
        (LOG, r#"{"timestamp": "2014-02-30T15:01:23Z"}"#),
        (LOG, r#"{"timestamp": 1412262083}"#),
        // names, unknown and repeated fields, oneofs
        (
            REPORT,
            r#"{"service_name": "x", "operations": [{"operation_id": "a"}]}"#,
        ),
        (REPORT, r#"{"serviceName": "a", "serviceName": "b"}"#),
        (REPORT, r#"{"serviceName": "a", "futureField": 1}"#),
        (LOG, r#"{"textPayload": "a", "structPayload": {}}"#),
        (LOG, r#"{"textPayload": "a", "text_payload": "b"}"#),
        (LOG, r#"{"textPayload": null, "structPayload": {}}"#),
        (LOG, r#"{"textPayload": null}"#),
        (REPORT, "null"),
        (REPORT, r#"{"operations": {}}"#),
        // Any
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "R", "metadata": {"k": "v"}}]}"#,
        ),
        (
            STATUS,
            r#"{"details": [{"reason": "R", "@type": "type.googleapis.com/google.rpc.ErrorInfo"}]}"#,
        ),
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1.5s"}]}"#,
        ),
        (
            STATUS,
            r#"{"details": [{"value": "1.5s", "@type": "type.googleapis.com/google.protobuf.Duration"}]}"#,
        ),
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.protobuf.Struct", "value": {"a": [1]}}]}"#,
        ),
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.protobuf.Empty"}]}"#,
        ),
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.rpc.Status", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}]}"#,
        ),
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/no.such.Type"}]}"#,
        ),
        (STATUS, r#"{"details": [{"reason": "R"}]}"#),
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "nope": 1}]}"#,
        ),
        (STATUS, r#"{"details": [{}]}"#),
        (
            LOG,
            r#"{"protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "serviceName": "s", "request": {"@type": "x"}}}"#,
        ),
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.protobuf.BytesValue", "value": "-_8="}]}"#,
        ),
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.protobuf.Int64Value", "value": "-9223372036854775808"}]}"#,
        ),
        // FieldMask: lowerCamelCase paths joined by commas
        (MASK, r#""fooBar,baz.quxQuux""#),
        (MASK, r#""""#),
        (MASK, r#""a,,b""#),
        (MASK, r#""Foo.Bar""#),
        (MASK, r#""foo_bar""#),
        (MASK, r#""foo bar""#),
        (MASK, r#"["fooBar"]"#),
        (MASK, r#"{"paths": ["foo_bar"]}"#),
        (MASK, "null"),
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.protobuf.FieldMask", "value": "a.bC,d"}]}"#,
        ),
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.protobuf.FieldMask", "paths": ["a"]}]}"#,
        ),
    ];
    let mut reference = Reference::get();
    let mut disagreements = Vec::new();
    for &(type_name, text) in cases {
        for ignore in [false, true] {
            let theirs = reference.parse_json(type_name, text, ignore);
            let ours = ours(type_name, text, ignore);
            let agree = match (&theirs, &ours) {
                (Ok(a), Ok(b)) => a == b,
                (Err(_), Err(_)) => true,
                _ => false,
            };
            if !agree {
                disagreements.push(format!(
                    "{type_name} {text} (ignore unknown: {ignore})\n  reference: {theirs:?}\n  ours: {ours:?}"
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// Where we deliberately differ from the reference: inputs it accepts that the
/// proto3 JSON mapping does not allow, or that would lose data silently. Each
/// entry asserts both sides, so a change in either shows up here.
#[test]
fn known_differences_from_the_reference() {
    const STATUS: &str = "google.rpc.Status";
    const HTTP: &str = "google.api.servicecontrol.v1.HttpRequest";
    const REPORT: &str = "google.api.servicecontrol.v1.ReportRequest";
    let cases: &[(&str, &str, &str)] = &[
        // The reference truncates a tenth fraction digit; the mapping allows
        // only what fits in nanoseconds.
        (HTTP, r#"{"latency": "3.1234567891s"}"#, "not a duration"),
        // The reference lets the proto name overwrite the JSON name of the
        // same field (last wins), dropping "a" silently.
        (
            REPORT,
            r#"{"serviceName": "a", "service_name": "b"}"#,
            "more than once",
        ),
        // The reference reads a JSON array as an empty message.
        (REPORT, "[]", "expected a JSON object"),
        // The reference ignores members beside "value" in an Any of a
        // well-known type; they are unknown fields (skipped when asked to).
        (
            STATUS,
            r#"{"details": [{"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1.5s", "x": 1}]}"#,
            "unknown field \"x\"",
        ),
    ];
    let mut reference = Reference::get();
    for &(type_name, text, our_error) in cases {
        assert!(
            reference.parse_json(type_name, text, false).is_ok(),
            "the reference now rejects {text}: remove it from the known differences"
        );
        let err = ours(type_name, text, false).unwrap_err();
        assert!(err.contains(our_error), "{text}: {err}");
    }
    // Under "ignore unknown fields" both skip the extra member.
    let text = r#"{"details": [{"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1.5s", "x": 1}]}"#;
    assert_eq!(
        ours(STATUS, text, true),
        reference.parse_json(STATUS, text, true)
    );
}

/// A FieldMask writes as the reference writes it, and paths that have no
/// JSON form fail on both sides.
#[test]
fn field_masks_write_as_the_reference_writes_them() {
    use cloud_report_proto::google::protobuf::FieldMask;
    let mut reference = Reference::get();
    for paths in [
        &["foo_bar", "baz.qux_quux"][..],
        &[],
        &[""],
        &["a", "", "b"],
        &["_baz"],
        &["fooBar"],
        &["foo_3"],
        &["foo__bar"],
        &["foo_"],
        &["a.b_c.d_e_f"],
    ] {
        let mask = FieldMask::new(paths.iter().copied());
        let binary = mask.encode_to_vec();
        let theirs = reference.json_of("google.protobuf.FieldMask", &binary);
        let ours = json::to_string(&mask);
        match (&theirs, &ours) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{paths:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{paths:?}: reference {theirs:?}, ours {ours:?}"),
        }
    }
}

/// The reference writes f32::MAX as "3.4028235e+38" and then rejects that
/// text as too large; we read it back as f32::MAX (it rounds to it).
#[test]
fn float_max_round_trips_where_the_reference_cannot() {
    use cloud_report_proto::google::protobuf::FloatValue;
    let binary = FloatValue {
        value: f32::MAX,
        ..Default::default()
    }
    .encode_to_vec();
    let mut reference = Reference::get();
    let text = reference
        .json_of("google.protobuf.FloatValue", &binary)
        .unwrap();
    assert!(
        reference
            .parse_json("google.protobuf.FloatValue", &text, false)
            .is_err()
    );
    assert_eq!(json::from_str::<FloatValue>(&text).unwrap().value, f32::MAX);
}

/// The reference reads every golden file (all but Apigee's, which it does not
/// know) as the message we read.
#[test]
fn golden_files_read_the_same_in_the_reference() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut reference = Reference::get();
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let type_name = stem.split("--").next().unwrap();
        if type_name.starts_with("google.cloud.apigee") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let theirs = reference
            .parse_json(type_name, &text, false)
            .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let ours = ours(type_name, &text, false).unwrap();
        if !prost_encodes_differently(&ours, type_name) {
            assert_eq!(theirs, ours, "{stem}");
        }
        assert_eq!(
            reference.json_of(type_name, &ours).unwrap(),
            reference.json_of(type_name, &theirs).unwrap(),
            "{stem}"
        );
        checked += 1;
    }
    assert!(checked >= 25, "{checked}");
}

/// Negative zero is not a field's default: implicit presence writes it in
/// both wire formats, as the reference does (only positive zero is left
/// out).
#[test]
fn negative_zero_is_written_like_the_reference() {
    let type_name = "google.api.servicecontrol.v1.Distribution";
    let message = sc::Distribution {
        mean: -0.0,
        ..Default::default()
    };
    let binary = message.encode_to_vec();
    assert_eq!(binary, [0x11, 0, 0, 0, 0, 0, 0, 0, 0x80]);
    let mut reference = Reference::get();
    let answer = reference.call(json!({
        "op": "roundtrip", "type": type_name,
        "binary": base64_encode(&binary), "json": json::to_string(&message).unwrap(),
    }));
    assert_eq!(b64(answer["binary"].as_str().unwrap()), binary);
    // The reference separates with ", " and ": ".
    assert_eq!(
        reference
            .json_of(type_name, &binary)
            .unwrap()
            .replace(' ', ""),
        json::to_string(&message).unwrap()
    );
    let positive = sc::Distribution::default();
    assert!(positive.encode_to_vec().is_empty());
    assert_eq!(json::to_string(&positive).unwrap(), "{}");
}
