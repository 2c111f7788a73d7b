//! The JSON engine against serde_json: random messages of every top-level
//! type, compact, indented and broken by a byte, are read only where
//! serde_json's grammar reads them, to the same binary on every entry point
//! (typed, registry, and serde's `Deserialize` adapter on serde_json's own
//! reader), and written to the same bytes through serde's `Serialize`
//! adapter (see `checks::json`).
#![cfg(feature = "json")]

use crate::fuzz_checks as checks;
use crate::support;

use cloud_report_proto::registry;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::arbitrary;

#[test]
fn random_messages_read_and_write_as_serde_json_does() {
    let cases = std::env::var("CLOUD_REPORT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for (index, type_name) in checks::TYPES.iter().enumerate() {
        let entry = registry::lookup(type_name).unwrap();
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let mutation = (
            any::<prop::sample::Index>(),
            prop::sample::select(&b"\"\\,:[]{}0-e.\x00\x1f\xff n"[..]),
        );
        runner
            .run(
                &(arbitrary::message_bytes(type_name, 3), mutation),
                |(binary, (at, byte))| {
                    // A Value holding NaN has no JSON.
                    let Ok(compact) = entry.binary_to_json(&binary, false) else {
                        return Ok(());
                    };
                    let pretty = entry.binary_to_json(&binary, true).unwrap();
                    let mut broken = compact.clone().into_bytes();
                    let at = at.index(broken.len());
                    broken[at] = byte;
                    for text in [compact.as_bytes(), pretty.as_bytes(), &broken] {
                        let input = [&[u8::try_from(index).unwrap()][..], text].concat();
                        checks::json(&input);
                    }
                    Ok(())
                },
            )
            .unwrap();
    }
}

#[test]
fn any_errors_read_the_same_on_both_writers() {
    use cloud_report_proto::google::protobuf::Any;
    use cloud_report_proto::json;
    let cases = [
        ("type.googleapis.com/google.rpc.Status", vec![0xff]),
        ("type.googleapis.com/no.Such", vec![]),
        ("no-slash-or-dot", vec![1]),
        (
            "type.googleapis.com/google.protobuf.Duration",
            vec![0x08, 0x01],
        ),
    ];
    for (type_url, value) in cases {
        let any = Any {
            type_url: type_url.into(),
            value,
            ..Default::default()
        };
        let ours = json::to_string(&any);
        let theirs = serde_json::to_string(&any);
        match (ours, theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("{type_url}: {a:?} vs {b:?}"),
        }
    }
}

/// `Vec`, `Option` and `Box` of messages read as serde's impls read them.
#[test]
fn containers_of_messages_read_as_serde_json_reads_them() {
    use cloud_report_proto::google::rpc::Status;
    use cloud_report_proto::json::{self, ReadJson};
    use std::fmt::Debug;

    fn same<T: ReadJson + serde::de::DeserializeOwned + PartialEq + Debug>(text: &str) {
        let ours = json::from_str::<T>(text);
        let theirs = serde_json::from_str::<T>(text);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{text}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }
    for text in [
        "[]",
        r#"[{"code": 5}, {"message": "x"}]"#,
        r#"[{"code": 5},]"#,
        "[null]",
        "null",
        r#"{"code": 5}"#,
        r#"[{"code": 5} {"code": 6}]"#,
        "[",
        "",
    ] {
        same::<Vec<Status>>(text);
        same::<Option<Status>>(text);
        same::<Box<Status>>(text);
        same::<Vec<Option<Status>>>(text);
        same::<Option<Vec<Status>>>(text);
    }
}

/// Hand-picked documents at the edges of the generated readers: each must
/// read alike on every entry point (see `checks::json`).
#[test]
fn edge_documents_read_alike_on_every_path() {
    let report = checks::TYPES
        .iter()
        .position(|t| *t == "google.api.servicecontrol.v1.ReportRequest")
        .unwrap();
    let status = checks::TYPES
        .iter()
        .position(|t| *t == "google.rpc.Status")
        .unwrap();
    let audit = checks::TYPES
        .iter()
        .position(|t| *t == "google.cloud.audit.AuditLog")
        .unwrap();
    let any = |type_name: &str, members: &str| {
        format!(r#"{{"details": [{{"@type": "type.googleapis.com/{type_name}"{members}}}]}}"#)
    };
    let cases: Vec<(usize, String)> = vec![
        (report, r#"{"operations": [null]}"#.into()),
        (report, r#"{"operations": null}"#.into()),
        (report, r#"{"operations": [{}, {},]}"#.into()),
        (report, r#"{"operations": [{"labels": {"a": null}}]}"#.into()),
        (report, r#"{"operations": [{"labels": {"a": "1", "a": "2"}}]}"#.into()),
        (report, r#"{"operations": [{"labels": {"\u0061": "1", "a": "2"}}]}"#.into()),
        (report, r#"{"serviceName": "a", "service_name": "b"}"#.into()),
        (report, r#"{"serviceName": "a", "serviceName": null}"#.into()),
        (report, r#"{"s\u0065rviceName": "a"}"#.into()),
        (report, r#"{"serviceName": 5}"#.into()),
        (report, r#"{"unknownField": {"deep": [1, 2, {"x": null}]}}"#.into()),
        (report, r#"{"operations": [{"importance": 1}]}"#.into()),
        (report, r#"{"operations": [{"importance": "HIGH"}]}"#.into()),
        (report, r#"{"operations": [{"importance": "NO_SUCH"}]}"#.into()),
        (
            report,
            r#"{"operations": [{"logEntries": [{"textPayload": "a", "structPayload": {}}]}]}"#
                .into(),
        ),
        (
            report,
            r#"{"operations": [{"logEntries": [{"textPayload": null, "structPayload": {"a": [null, 1.5, "x", {"b": true}]}}]}]}"#
                .into(),
        ),
        (
            report,
            r#"{"operations": [{"logEntries": [{"structPayload": {"a": 1, "a": 2}}]}]}"#.into(),
        ),
        (
            report,
            r#"{"operations": [{"metricValueSets": [{"metricValues": [{"int64Value": "1e3"}]}]}]}"#
                .into(),
        ),
        (
            report,
            r#"{"operations": [{"metricValueSets": [{"metricValues": [{"int64Value": 1.5}]}]}]}"#
                .into(),
        ),
        (
            report,
            r#"{"operations": [{"startTime": "2023-11-14T22:13:20Z", "endTime": null}]}"#.into(),
        ),
        (report, r#"{"operations": [{"startTime": 5}]}"#.into()),
        (status, any("google.rpc.ErrorInfo", r#", "reason": "R""#)),
        (status, any("google.rpc.ErrorInfo", r#", "reason": "R", "reason": "S""#)),
        (status, any("google.rpc.ErrorInfo", r#", "unknown": 1"#)),
        (status, any("google.protobuf.Duration", r#", "value": "1.5s""#)),
        (status, any("google.protobuf.Duration", r#", "seconds": 1"#)),
        (status, any("google.protobuf.Empty", "")),
        (status, any("no.such.Type", "")),
        (
            status,
            r#"{"details": [{"reason": "R", "@type": "type.googleapis.com/google.rpc.ErrorInfo"}]}"#
                .into(),
        ),
        (status, r#"{"details": [{}]}"#.into()),
        (status, r#"{"details": [{"@type": 5}]}"#.into()),
        (status, r#"{"details": [{"@type": null}]}"#.into()),
        (
            status,
            any(
                "google.rpc.Status",
                r#", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "R"}]"#,
            ),
        ),
        (
            audit,
            r#"{"request": {"a": 1}, "response": {"@type": "x"}, "status": {"code": 3}}"#.into(),
        ),
        (audit, r#"{"numResponseItems": "-9223372036854775809"}"#.into()),
    ];
    for (index, text) in cases {
        let input = [&[u8::try_from(index).unwrap()][..], text.as_bytes()].concat();
        checks::json(&input);
    }
}

/// Timestamps and durations out of range fail alike on both writers, and
/// in range write alike.
#[test]
fn time_values_write_alike_on_both_writers() {
    use cloud_report_proto::google::protobuf::{Duration, Timestamp};
    use cloud_report_proto::json;
    fn same<T: json::WriteJson + serde::Serialize + std::fmt::Debug>(value: &T) {
        match (json::to_string(value), serde_json::to_string(value)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("{value:?}: {a:?} vs {b:?}"),
        }
    }
    for (seconds, nanos) in [
        (0, 0),
        (1_412_262_083, 45_000_000),
        (-62_135_596_800, 0),
        (253_402_300_799, 999_999_999),
        (253_402_300_800, 0),
        (-62_135_596_801, 0),
        (0, -1),
        (0, 1_000_000_000),
    ] {
        same(&Timestamp {
            seconds,
            nanos,
            ..Default::default()
        });
    }
    for (seconds, nanos) in [
        (0, 0),
        (3, 500_000_000),
        (-1, -1),
        (315_576_000_000, 0),
        (315_576_000_001, 0),
        (1, -1),
        (0, 1_000_000_000),
    ] {
        same(&Duration {
            seconds,
            nanos,
            ..Default::default()
        });
    }
}
