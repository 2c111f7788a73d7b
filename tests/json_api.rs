//! The JSON API as users meet it: errors that say where, the Any registry with
//! users' own types, parse options, determinism.
#![cfg(feature = "json")]

use cloud_report_proto::google::api::servicecontrol::v1::{
    LogEntry, Operation, ReportRequest, log_entry,
};
use cloud_report_proto::google::protobuf::{Any, Struct, Value};
use cloud_report_proto::google::rpc::{ErrorInfo, Status};
use cloud_report_proto::json::{self, JsonError, ParseOptions};
use cloud_report_proto::registry;

fn parse_error<T: cloud_report_proto::json::ReadJson + std::fmt::Debug>(
    text: &str,
) -> (String, String) {
    match json::from_str::<T>(text).unwrap_err() {
        JsonError::Parse { path, message, .. } => (path, message),
        other => panic!("{other}"),
    }
}

#[test]
fn errors_name_the_json_path_and_the_problem() {
    let cases = [
        (
            r#"{"operations": [{}, {"startTime": "yesterday"}]}"#,
            "operations[1].startTime",
            "not an RFC 3339 timestamp",
        ),
        (
            r#"{"operations": [{"labels": {"a": 1}}]}"#,
            "operations[0].labels.a",
            "invalid type",
        ),
        (
            r#"{"operations": [{"metricValueSets": [{"metricValues": [{"int64Value": "1.5"}]}]}]}"#,
            "operations[0].metricValueSets[0].metricValues[0].int64Value",
            "not a valid int64",
        ),
        (
            r#"{"operations": [{"logEntries": [{"severity": "LOUD"}]}]}"#,
            "operations[0].logEntries[0].severity",
            "not a value of google.logging.type.LogSeverity",
        ),
        (
            r#"{"operations": [{"importance": "HIGH", "bogus": true}]}"#,
            "operations[0].bogus",
            "unknown field \"bogus\" in google.api.servicecontrol.v1.Operation",
        ),
        (
            r#"{"serviceName": "a", "serviceName": "b"}"#,
            "serviceName",
            "more than once",
        ),
        (
            r#"{"operations": [{"logEntries": [{"textPayload": "a", "structPayload": {}}]}]}"#,
            "operations[0].logEntries[0].structPayload",
            "oneof \"payload\"",
        ),
        (
            r#"{"operations": [{"extensions": [{"@type": "type.googleapis.com/no.Such"}]}]}"#,
            "operations[0].extensions[0]",
            "unknown Any type \"type.googleapis.com/no.Such\"",
        ),
        (
            r#"{"operations": [{"extensions": [{"@type": "type.googleapis.com/google.rpc.Status", "code": "x"}]}]}"#,
            "operations[0].extensions[0].code",
            "not a valid int32",
        ),
        (
            r#"{"operations": [null]}"#,
            "operations[0]",
            "null is not allowed",
        ),
        (r#"{"operations": "#, "operations", "EOF"),
    ];
    for (text, path, message) in cases {
        let (got_path, got_message) = parse_error::<ReportRequest>(text);
        assert_eq!(got_path, path, "{text}: {got_message}");
        assert!(got_message.contains(message), "{text}: {got_message}");
        assert!(!got_message.contains('\n'));
    }
    // The Display form is one line: path, message, position.
    let err = json::from_str::<ReportRequest>(r#"{"operations": [{"startTime": 5}]}"#).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with("operations[0].startTime: invalid type"),
        "{shown}"
    );
    assert!(shown.ends_with("(line 1, column 31)"), "{shown}");
}

#[test]
fn unknown_fields_can_be_ignored() {
    let text = r#"{"serviceName": "s", "newField": {"deep": [1]}, "operations": [{"operationId": "a", "x": null}]}"#;
    assert!(json::from_str::<ReportRequest>(text).is_err());
    let lenient = ParseOptions::default().ignore_unknown_fields(true);
    let request: ReportRequest = json::from_slice_with(text.as_bytes(), &lenient).unwrap();
    assert_eq!(request.service_name, "s");
    assert_eq!(request.operations[0].operation_id, "a");
    // The option lasts only for that parse.
    assert!(json::from_str::<ReportRequest>(text).is_err());
}

#[test]
fn output_is_deterministic_and_in_field_number_order() {
    let mut op = Operation::default();
    for i in (0..50).rev() {
        op.labels.insert(format!("k{i:02}"), i.to_string());
    }
    op.operation_id = "id".into();
    op.consumer_id = "project:p".into();
    let text = json::to_string(&op).unwrap();
    assert!(
        text.starts_with(
            r#"{"operationId":"id","consumerId":"project:p","labels":{"k00":"0","k01":"1""#
        ),
        "{text}"
    );
    assert_eq!(json::to_string(&op.clone()).unwrap(), text);
}

#[test]
fn unknown_enum_numbers_are_written_as_numbers() {
    let entry = LogEntry {
        severity: 250,
        ..Default::default()
    };
    let text = json::to_string(&entry).unwrap();
    assert_eq!(text, r#"{"severity":250}"#);
    assert_eq!(json::from_str::<LogEntry>(&text).unwrap(), entry);
}

#[test]
fn any_round_trips_with_and_without_special_forms() {
    let info = ErrorInfo {
        reason: "API_DISABLED".into(),
        domain: "googleapis.com".into(),
        ..Default::default()
    };
    let ts: cloud_report_proto::google::protobuf::Timestamp =
        "2014-10-02T15:01:23Z".parse().unwrap();
    let status = Status {
        code: 7,
        message: "denied".into(),
        details: vec![Any::from_msg(&info), Any::from_msg(&ts), Any::default()],
        ..Default::default()
    };
    let text = json::to_string(&status).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"code":7,"message":"denied","details":["#,
            r#"{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_DISABLED","domain":"googleapis.com"},"#,
            r#"{"@type":"type.googleapis.com/google.protobuf.Timestamp","value":"2014-10-02T15:01:23Z"},"#,
            r#"{}]}"#
        )
    );
    assert_eq!(json::from_str::<Status>(&text).unwrap(), status);
}

/// A message of the user's own, as prost-build would generate it, with serde
/// impls of the user's choosing.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StandardId {
    #[prost(int64, tag = "1")]
    id: i64,
}

impl prost::Name for StandardId {
    const NAME: &'static str = "id";
    const PACKAGE: &'static str = "standard";
    fn type_url() -> String {
        "types.example.com/standard.id".into()
    }
}

/// The spec pages' Any example, `{"id": 1234, "@type":
/// "types.example.com/standard/id"}`, names a type (`id`, the URL's last
/// segment) that nobody registered: a clear error.
#[test]
fn the_spec_pages_any_example_names_an_unknown_type() {
    let text = r#"{"details": [{ "id": 1234, "@type": "types.example.com/standard/id" }]}"#;
    let err = json::from_str::<Status>(text).unwrap_err();
    assert_eq!(err.path(), Some("details[0]"));
    assert!(
        err.to_string()
            .contains("unknown Any type \"types.example.com/standard/id\""),
        "{err}"
    );
}

/// Nesting beyond the parser's depth limit (128) is an error, not a stack
/// overflow, through Struct, lists and Any alike.
#[test]
fn deep_nesting_is_an_error() {
    let deep_struct = format!(
        "{{\"structPayload\": {}1{}}}",
        "{\"a\": [".repeat(100),
        "]}".repeat(100)
    );
    assert!(
        json::from_str::<LogEntry>(&deep_struct)
            .unwrap_err()
            .to_string()
            .contains("recursion limit")
    );
    let any = r#"{"@type": "type.googleapis.com/google.rpc.Status", "details": ["#;
    let deep_any = format!("{{\"details\": [{}{}]}}", any.repeat(200), "]}".repeat(200));
    assert!(
        json::from_str::<Status>(&deep_any)
            .unwrap_err()
            .to_string()
            .contains("recursion limit")
    );
    let shallow_any = format!("{{\"details\": [{}{}]}}", any.repeat(20), "]}".repeat(20));
    let status: Status = json::from_str(&shallow_any).unwrap();
    assert_eq!(
        json::from_str::<Status>(&json::to_string(&status).unwrap()).unwrap(),
        status
    );
}

fn nested_status(levels: usize) -> Status {
    let mut status = Status {
        code: 1,
        message: "innermost".into(),
        details: vec![],
        ..Default::default()
    };
    for level in 0..levels {
        status = Status {
            code: 2,
            message: format!("level {level}"),
            details: vec![Any::from_msg(&status)],
            ..Default::default()
        };
    }
    status
}

/// Anys nest without limit in binary (their payloads are opaque bytes to the
/// decoder); JSON output stops at 100 levels with an error, not a crash, and
/// up to the parser's depth they read back exactly (streamed for the first
/// levels of a chain, buffered past them).
#[test]
fn deep_any_nesting_in_output_is_bounded() {
    use prost::Message;
    let deep = nested_status(150);
    let decoded = Status::decode(deep.encode_to_vec().as_slice()).unwrap();
    let err = json::to_string(&decoded).unwrap_err().to_string();
    assert!(err.contains("nest deeper than 100 levels"), "{err}");

    let status = nested_status(60);
    let text = json::to_string(&status).unwrap();
    assert_eq!(json::from_str::<Status>(&text).unwrap(), status);
    // Past the streamed chain the members of a payload come in key order;
    // still deterministic.
    assert_eq!(
        json::to_string(&json::from_str::<Status>(&text).unwrap()).unwrap(),
        text
    );
}

/// A type of the user's, in a `TypeRegistry` given in the options, makes
/// its Any values readable and writable; without it they are an error, and
/// no global state changes.
#[test]
fn users_give_their_own_any_types_in_the_options() {
    use cloud_report_proto::json::{ParseOptions, WriteOptions};
    use cloud_report_proto::registry::TypeRegistry;
    let text =
        r#"{"code": 3, "details": [{"id": 1234, "@type": "types.example.com/standard.id"}]}"#;
    let err = json::from_str::<Status>(text).unwrap_err().to_string();
    assert!(
        err.contains("unknown Any type \"types.example.com/standard.id\""),
        "{err}"
    );

    let types = TypeRegistry::new()
        .with::<StandardId>()
        .with::<StandardId>();
    assert_eq!(types.names(), ["standard.id"]);
    let parse = ParseOptions::default().type_registry(types.clone());
    let status: Status = json::from_slice_with(text.as_bytes(), &parse).unwrap();
    assert_eq!(status.details[0].type_url, "types.example.com/standard.id");
    assert_eq!(
        status.details[0].to_msg::<StandardId>().unwrap(),
        StandardId { id: 1234 }
    );
    let write = WriteOptions::default().type_registry(types);
    assert_eq!(
        json::to_string_with(&status, &write).unwrap(),
        r#"{"code":3,"details":[{"@type":"types.example.com/standard.id","id":1234}]}"#
    );
    // Nothing global: without the registry, still unknown.
    assert!(json::to_string(&status).is_err());
    assert!(registry::lookup("standard.id").is_none());
}

#[test]
fn struct_payloads_keep_json_null_and_reject_unrepresentable_numbers() {
    let entry: LogEntry =
        json::from_str(r#"{"structPayload": {"a": null, "b": [1, null]}}"#).unwrap();
    let Some(log_entry::Payload::StructPayload(s)) = &entry.payload else {
        panic!()
    };
    assert_eq!(s.fields["a"], Value::null());
    assert_eq!(
        json::to_string(&entry).unwrap(),
        r#"{"structPayload":{"a":null,"b":[1.0,null]}}"#
    );

    let bad = LogEntry {
        payload: Some(log_entry::Payload::StructPayload(Struct::from_iter([(
            "n".to_owned(),
            Value::from(f64::NAN),
        )]))),
        ..Default::default()
    };
    let err = json::to_string(&bad).unwrap_err();
    assert!(matches!(err, JsonError::Serialize { .. }));
    assert!(err.to_string().contains("cannot hold NaN"), "{err}");
}

#[test]
fn out_of_range_well_known_values_fail_to_serialize() {
    let op = Operation {
        start_time: Some(cloud_report_proto::google::protobuf::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = json::to_string(&op).unwrap_err().to_string();
    assert!(err.contains("outside 0001-01-01T00:00:00Z"), "{err}");
}

#[test]
fn every_message_type_is_registered() {
    let names = registry::message_names();
    for name in [
        "google.api.servicecontrol.v1.ReportRequest",
        "google.cloud.apigee.v1.ReportInstanceStatusRequest",
        "google.cloud.audit.AuditLog",
        "google.rpc.context.AttributeContext.Request",
        "google.protobuf.Timestamp",
        "google.api.HttpRule",
    ] {
        assert!(names.contains(&name), "{name}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("google.protobuf.FileDescriptor"))
    );
}

/// A `null` member of a oneof sets nothing, so it may stand beside the
/// member that is set, in either order and on every reading path; two
/// members with values may not.
#[test]
fn a_null_oneof_member_beside_the_set_one_is_no_conflict() {
    use cloud_report_proto::google::api::servicecontrol::v1::MetricValue;
    use cloud_report_proto::google::api::servicecontrol::v1::metric_value::Value as V;
    for text in [
        r#"{"int64Value": "5", "doubleValue": null}"#,
        r#"{"doubleValue": null, "int64Value": "5"}"#,
    ] {
        let fast: MetricValue = json::from_str(text).unwrap();
        let serde: MetricValue = serde_json::from_str(text).unwrap();
        let dynamic = registry::lookup("google.api.servicecontrol.v1.MetricValue")
            .unwrap()
            .json_to_binary(text.as_bytes())
            .unwrap();
        assert_eq!(fast.value, Some(V::Int64Value(5)), "{text}");
        assert_eq!(serde, fast);
        assert_eq!(dynamic, prost::Message::encode_to_vec(&fast));
    }
    let both = r#"{"int64Value": "5", "doubleValue": 1}"#;
    let (path, error) = parse_error::<MetricValue>(both);
    assert!(
        error.contains("more than one field of oneof \"value\""),
        "{path}: {error}"
    );
    assert!(serde_json::from_str::<MetricValue>(both).is_err());
}
