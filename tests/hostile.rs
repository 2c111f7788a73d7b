//! Hostile input: every decoder answers with a clear error (or the right
//! result), never a crash, a hang or memory the input does not account for.
#![cfg(feature = "json")]

use cloud_report_proto::google::api::servicecontrol::v1::{LogEntry, ReportRequest};
use cloud_report_proto::google::protobuf::{Struct, Value};
use cloud_report_proto::json;
use cloud_report_proto::registry;
use prost::Message;

fn parse_error<T: cloud_report_proto::json::ReadJson + std::fmt::Debug>(text: &[u8]) -> String {
    json::from_slice::<T>(text).unwrap_err().to_string()
}

#[test]
fn json_nested_100000_deep_is_refused() {
    let depth = 100_000;
    let arrays = format!(
        "{{\"structPayload\": {{\"a\": {}1{}}}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(parse_error::<LogEntry>(arrays.as_bytes()).contains("recursion limit"));
    let objects = format!("{}1{}", "{\"a\": ".repeat(depth), "}".repeat(depth));
    assert!(parse_error::<Struct>(objects.as_bytes()).contains("recursion limit"));
    let values = format!("{}null{}", "[".repeat(depth), "]".repeat(depth));
    assert!(parse_error::<Value>(values.as_bytes()).contains("recursion limit"));
    let any = r#"{"@type": "type.googleapis.com/google.rpc.Status", "details": ["#;
    let messages = format!(
        "{{\"details\": [{}{}]}}",
        any.repeat(depth),
        "]}".repeat(depth)
    );
    let err = parse_error::<cloud_report_proto::google::rpc::Status>(messages.as_bytes());
    assert!(err.contains("recursion limit"), "{err}");
}

#[test]
fn a_50_mb_string_is_read_whole() {
    let payload = "x".repeat(50 << 20);
    let text = format!("{{\"textPayload\": \"{payload}\"}}");
    let entry: LogEntry = json::from_str(&text).unwrap();
    let binary = entry.encode_to_vec();
    assert_eq!(LogEntry::decode(binary.as_slice()).unwrap(), entry);
    assert_eq!(json::to_string(&entry).unwrap().len(), text.len() - 1);
}

#[test]
fn invalid_utf8_and_broken_json_are_errors_with_positions() {
    for (text, what) in [
        (&b"{\"serviceName\": \"\xff\xfe\"}"[..], "invalid unicode"),
        (b"{\"serviceName\": \"\\ud800\"}", "hex escape"),
        (b"{\"serviceName\": \"a\"", "EOF"),
        (b"{\"serviceName\": \"a\"} trailing", "trailing characters"),
        (b"", "EOF"),
    ] {
        let err = parse_error::<ReportRequest>(text);
        assert!(err.contains(what), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }
}

#[test]
fn numbers_at_and_past_the_limits() {
    let digits = "9".repeat(10_000);
    for field in ["requestSize", "status"] {
        for text in [
            format!("{{\"{field}\": {digits}}}"),
            format!("{{\"{field}\": \"{digits}\"}}"),
        ] {
            let err = parse_error::<cloud_report_proto::google::api::servicecontrol::v1::HttpRequest>(
                text.as_bytes(),
            );
            assert!(err.contains(field), "{err}");
        }
    }
    for text in [
        &br#"{"requestSize": "-9223372036854775809"}"#[..],
        br#"{"requestSize": -9223372036854775809}"#,
    ] {
        let err =
            parse_error::<cloud_report_proto::google::api::servicecontrol::v1::HttpRequest>(text);
        assert!(err.contains("not a valid int64"), "{err}");
    }
    let err = parse_error::<LogEntry>(br#"{"timestamp": "10000-01-01T00:00:00Z"}"#);
    assert!(err.contains("timestamp"), "{err}");
    let err = parse_error::<cloud_report_proto::google::api::servicecontrol::v1::HttpRequest>(
        br#"{"latency": "999999999999999999999999999s"}"#,
    );
    assert!(err.contains("latency"), "{err}");
}

#[test]
fn binary_nesting_and_lengths_are_checked_before_allocating() {
    // Struct -> Value -> Struct ... 200 levels: past prost's limit of 100.
    let mut value = Value::from(1.0);
    for _ in 0..200 {
        value = Value::from(Struct::from_iter([("a".to_owned(), value)]));
    }
    let deep = value.encode_to_vec();
    let entry = registry::lookup("google.protobuf.Value").unwrap();
    let err = entry.binary_to_json(&deep, false).unwrap_err().to_string();
    assert!(err.contains("recursion limit"), "{err}");

    // A length prefix claiming far more than the input holds.
    let mut claim = vec![0x0a]; // field 1 (service_name), length-delimited
    prost::encoding::encode_varint(1 << 40, &mut claim);
    claim.extend_from_slice(b"abc");
    let err = registry::lookup("google.api.servicecontrol.v1.ReportRequest")
        .unwrap()
        .binary_to_json(&claim, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("at byte 1 (field 1: a length of 1099511627776 bytes where 3 remain)"),
        "{err}"
    );

    // Invalid UTF-8 in a string field, nested.
    let mut bad = Vec::new();
    let inner = [0x0a, 0x02, 0xff, 0xfe]; // Operation.operation_id = b"\xff\xfe"
    bad.push(0x12);
    prost::encoding::encode_varint(inner.len() as u64, &mut bad);
    bad.extend_from_slice(&inner);
    let err = ReportRequest::decode(bad.as_slice())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("operation_id") && err.contains("UTF-8"),
        "{err}"
    );
}

#[test]
fn a_report_over_one_megabyte_parses_but_is_sized_honestly() {
    let ops: Vec<String> = (0..4000)
        .map(|i| {
            format!(
                "{{\"operationId\": \"op-{i}\", \"labels\": {{\"k\": \"{}\"}}}}",
                "v".repeat(300)
            )
        })
        .collect();
    let text = format!(
        "{{\"serviceName\": \"s\", \"operations\": [{}]}}",
        ops.join(",")
    );
    let request: ReportRequest = json::from_str(&text).unwrap();
    assert_eq!(request.operations.len(), 4000);
    assert!(request.encoded_len() > 1_000_000);
}
