//! Borrowed views against owned decoding: random messages of the crate's
//! types (with unknown fields at every level, of every wire type), their
//! bytes cut or changed, decode to a view exactly when they decode to an
//! owned message; the view's owned message equals the owned decode and
//! encodes to the same bytes; and a view walks every field without
//! allocating.
#![cfg(feature = "views")]

use crate::support::arbitrary;
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::google::cloud::apigee::v1 as apigee;
use cloud_report_proto::google::protobuf as pb;
use cloud_report_proto::view::{Arena, View, Viewed};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use prost::Message;

fn cases() -> u32 {
    std::env::var("CLOUD_REPORT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// `decode_view` and owned decoding agree on `bytes`: both fail, or the
/// view's owned message is the decoded one and encodes the same; and so
/// does a view decoded into `arena`, an arena used before.
/// And `clear_and_parse` into `reused`, a message decoded before, gives
/// the decoded message too (or fails, leaving it as it was).
fn agree<M>(bytes: &[u8], arena: &mut Arena, reused: &mut M) -> Result<(), TestCaseError>
where
    M: Viewed + Message + Default + Clone + PartialEq + std::fmt::Debug,
{
    let owned = M::decode(bytes);
    let before = reused.clone();
    match (
        &owned,
        cloud_report_proto::view::clear_and_parse_in(reused, bytes, arena),
    ) {
        (Ok(owned), Ok(())) => prop_assert_eq!(reused.encode_to_vec(), owned.encode_to_vec()),
        (Err(_), Err(_)) => prop_assert_eq!(reused.encode_to_vec(), before.encode_to_vec()),
        (_, parsed) => {
            return Err(TestCaseError::fail(format!(
                "clear_and_parse {parsed:?}, owned decoding {:?}",
                owned.as_ref().map(|_| ())
            )));
        }
    }
    let view = cloud_report_proto::view::decode_view::<M>(bytes);
    match (owned, view) {
        (Ok(owned), Ok(view)) => {
            // Compared as encoded and as printed: a changed byte may make a
            // NaN, which is not equal to itself.
            let from_view = view.to_owned_message();
            prop_assert_eq!(from_view.encode_to_vec(), owned.encode_to_vec());
            prop_assert_eq!(format!("{from_view:?}"), format!("{owned:?}"));
            let reused = cloud_report_proto::view::decode_view_in::<M>(bytes, arena)
                .map_err(|e| TestCaseError::fail(format!("only the arena's view failed: {e}")))?;
            prop_assert_eq!(
                reused.to_owned_message().encode_to_vec(),
                owned.encode_to_vec()
            );
        }
        (Err(_), Err(_)) => {
            prop_assert!(cloud_report_proto::view::decode_view_in::<M>(bytes, arena).is_err());
        }
        (Ok(_), Err(e)) => return Err(TestCaseError::fail(format!("only the view failed: {e}"))),
        (Err(e), Ok(_)) => {
            return Err(TestCaseError::fail(format!(
                "only owned decoding failed: {e}"
            )));
        }
    }
    Ok(())
}

macro_rules! view_agrees {
    ($($test:ident: $owned:ty, $name:literal;)*) => {$(
        #[test]
        fn $test() {
            let mut runner = TestRunner::new(Config {
                cases: cases(),
                failure_persistence: None,
                ..Config::default()
            });
            let strategy = (arbitrary::message_bytes($name, 3), any::<u64>(), any::<u16>(), any::<u8>());
            runner
                .run(&strategy, |(generated, seed, at, byte)| {
                    let (input, _) = arbitrary::with_unknown_fields(
                        $name,
                        &generated,
                        &mut arbitrary::Rng::new(seed),
                    );
                    let mut arena = Arena::new();
                    // Refilled by every case: first a random message of its
                    // own, so that the first case refills one too.
                    let (other, _) = arbitrary::with_unknown_fields(
                        $name,
                        &generated,
                        &mut arbitrary::Rng::new(seed ^ 1),
                    );
                    let mut reused = <$owned>::decode(&other[..]).unwrap_or_default();
                    agree::<$owned>(&input, &mut arena, &mut reused)?;
                    // Twice over: the second merges into the first (singular
                    // messages merge, lists and maps append, oneofs replace
                    // or merge).
                    agree::<$owned>(&[input.clone(), input.clone()].concat(), &mut arena, &mut reused)?;
                    // Cut short, and one byte changed.
                    if !input.is_empty() {
                        let at = usize::from(at) % input.len();
                        agree::<$owned>(&input[..at], &mut arena, &mut reused)?;
                        let mut changed = input.clone();
                        changed[at] = byte;
                        agree::<$owned>(&changed, &mut arena, &mut reused)?;
                    }
                    Ok(())
                })
                .unwrap();
        }
    )*};
}

view_agrees! {
    view_report_request: sc::ReportRequest, "google.api.servicecontrol.v1.ReportRequest";
    view_check_request: sc::CheckRequest, "google.api.servicecontrol.v1.CheckRequest";
    view_check_response: sc::CheckResponse, "google.api.servicecontrol.v1.CheckResponse";
    view_allocate_quota_request: sc::AllocateQuotaRequest, "google.api.servicecontrol.v1.AllocateQuotaRequest";
    view_allocate_quota_response: sc::AllocateQuotaResponse, "google.api.servicecontrol.v1.AllocateQuotaResponse";
    view_report_response: sc::ReportResponse, "google.api.servicecontrol.v1.ReportResponse";
    view_log_entry: sc::LogEntry, "google.api.servicecontrol.v1.LogEntry";
    view_report_instance_status: apigee::ReportInstanceStatusRequest, "google.cloud.apigee.v1.ReportInstanceStatusRequest";
    view_deployment_change_report: apigee::DeploymentChangeReport, "google.cloud.apigee.v1.DeploymentChangeReport";
    view_struct: pb::Struct, "google.protobuf.Struct";
    view_any: pb::Any, "google.protobuf.Any";
}

/// A string that is not UTF-8 is refused with the byte offset and the
/// field, as owned decoding refuses it.
#[test]
fn a_string_that_is_not_utf8_names_its_offset_and_field() {
    // operations[0].operation_id = "a\xff"
    let bytes = [0x12, 0x04, 0x0a, 0x02, b'a', 0xff];
    assert!(sc::ReportRequest::decode(&bytes[..]).is_err());
    let error = sc::ReportRequestView::decode_view(&bytes).unwrap_err();
    assert_eq!(error.offset(), 5);
    let text = error.to_string();
    assert!(text.contains("ReportRequest.operations"), "{text}");
    assert!(text.contains("Operation.operation_id"), "{text}");
}

/// A length-delimited field: its one-byte `key`, the length, `content`.
fn delimited(key: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![key];
    prost::encoding::encode_varint(content.len() as u64, &mut out);
    out.extend_from_slice(content);
    out
}

/// Nesting past the recursion limit is refused, as owned decoding does.
#[test]
fn nesting_past_the_limit_is_refused() {
    // Value { list_value { values { list_value { ... } } } }, 60 pairs deep.
    let mut bytes = Vec::new();
    for _ in 0..60 {
        // Value.list_value (6), ListValue.values (1).
        bytes = delimited(0x32, &delimited(0x0a, &bytes));
    }
    assert!(pb::Value::decode(&bytes[..]).is_err());
    let error = pb::ValueView::decode_view(&bytes).unwrap_err();
    assert!(error.to_string().contains("recursion limit"), "{error}");
    // Around the limit, the two agree at every depth; a map entry counts
    // as a level, as it does for owned decoding.
    let mut bytes = Vec::new();
    for depth in 0..60 {
        assert_eq!(
            pb::Value::decode(&bytes[..]).is_ok(),
            pb::ValueView::decode_view(&bytes).is_ok(),
            "{depth} pairs"
        );
        bytes = delimited(0x32, &delimited(0x0a, &bytes));
    }
    let mut bytes = Vec::new();
    for depth in 0..40 {
        assert_eq!(
            pb::Value::decode(&bytes[..]).is_ok(),
            pb::ValueView::decode_view(&bytes).is_ok(),
            "{depth} structs"
        );
        // Value.struct_value (5), Struct.fields (1) entry {key 1, value 2}.
        let entry = [vec![0x0a, 0x01, b'k'], delimited(0x12, &bytes)].concat();
        bytes = delimited(0x2a, &delimited(0x0a, &entry));
    }
}

/// `clear_and_parse` keeps nothing of the message before: a oneof member,
/// fields with presence and map entries the new bytes lack are gone, a map
/// key sent twice keeps its last value, and unknown fields are the new
/// bytes' own; exactly as decoding the bytes afresh.
#[test]
fn clear_and_parse_keeps_nothing_of_the_message_before() {
    let old = sc::LogEntry {
        name: "a much longer name than the new one".into(),
        labels: [
            ("kept".to_owned(), "old".to_owned()),
            ("gone".to_owned(), "x".to_owned()),
        ]
        .into(),
        http_request: Some(sc::HttpRequest {
            request_url: "https://example.com/".into(),
            ..Default::default()
        }),
        payload: Some(sc::log_entry::Payload::StructPayload(
            pb::Struct::from_iter([("k".to_owned(), pb::Value::from("v"))]),
        )),
        operation: Some(sc::LogEntryOperation {
            id: "op".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut message = old.clone();
    message.unknown_fields = {
        // Field 99 (varint 7): unknown to LogEntry.
        let mut with_unknown = Vec::new();
        old.encode(&mut with_unknown).unwrap();
        with_unknown.extend_from_slice(&[0x98, 0x06, 0x07]);
        sc::LogEntry::decode(&with_unknown[..])
            .unwrap()
            .unknown_fields
    };
    // name "b", labels kept=first then kept=last, text payload, and an
    // unknown field 100 (fixed32).
    let entry = |key: &str, value: &str| {
        let entry = [
            delimited(0x0a, key.as_bytes()),
            delimited(0x12, value.as_bytes()),
        ]
        .concat();
        delimited(0x6a, &entry)
    };
    let mut bytes = delimited(0x52, b"b");
    bytes.extend(entry("kept", "first"));
    bytes.extend(entry("kept", "last"));
    bytes.extend(delimited(0x1a, b"hi"));
    bytes.extend_from_slice(&[0xa5, 0x06, 1, 2, 3, 4]);
    let fresh = sc::LogEntry::decode(&bytes[..]).unwrap();
    message.clear_and_parse(&bytes).unwrap();
    assert_eq!(message, fresh);
    assert_eq!(message.encode_to_vec(), fresh.encode_to_vec());
    assert_eq!(message.labels.get("kept").map(String::as_str), Some("last"));
    assert!(message.http_request.is_none() && message.operation.is_none());
    // And bytes that are not a LogEntry leave it as it was.
    let before = message.clone();
    assert!(message.clear_and_parse(&bytes[..bytes.len() - 1]).is_err());
    assert_eq!(message, before);
}

/// A map sent with the keys it holds, in its order, has its values
/// refilled where they are; sent in another order, with a key more or
/// less, another key after the same first one, or a key twice, it is made anew: each time as a decode gives it.
#[test]
fn clear_and_parse_refills_a_map_of_the_same_keys() {
    let entry = |key: &str, value: &[u8]| {
        let entry = [delimited(0x0a, key.as_bytes()), delimited(0x12, value)].concat();
        delimited(0x0a, &entry)
    };
    let text = |t: &str| delimited(0x1a, t.as_bytes());
    let number = |n: f64| [&[0x11][..], &n.to_le_bytes()].concat();
    let mut message = pb::Struct::from_iter([
        ("a".to_owned(), pb::Value::from("one")),
        ("b".to_owned(), pb::Value::from(2.0)),
    ]);
    for bytes in [
        // Same keys, same order; each value of another kind than before.
        [entry("a", &number(1.5)), entry("b", &text("two"))].concat(),
        // The same again, values of the same kinds.
        [entry("a", &number(3.0)), entry("b", &text("three"))].concat(),
        // Another order.
        [entry("b", &number(4.0)), entry("a", &text("four"))].concat(),
        // The first key the same, the second another: the first value is
        // refilled before the difference is seen.
        [entry("a", &number(4.5)), entry("c", &text("other"))].concat(),
        // A key less, then a key more.
        entry("a", &text("five")),
        [entry("a", &text("six")), entry("c", &text("new"))].concat(),
        // A key twice, as many entries as the map holds.
        [entry("a", &text("first")), entry("a", &text("last"))].concat(),
    ] {
        message.clear_and_parse(&bytes).unwrap();
        let fresh = pb::Struct::decode(&bytes[..]).unwrap();
        assert_eq!(message, fresh);
        assert_eq!(message.encode_to_vec(), fresh.encode_to_vec());
    }
    assert_eq!(message.fields.len(), 1);
    assert_eq!(message.fields["a"], pb::Value::from("last"));
}

/// `encoded()` gives the bytes a message was read from (what the emulator
/// stores), `None` for a message sent in parts; `Map::entries()` gives a
/// map as the owned map holds it.
#[test]
fn encoded_bytes_and_map_entries_are_what_was_sent() {
    let first = sc::Operation {
        operation_id: "op-1".into(),
        ..Default::default()
    };
    let second = sc::Operation {
        operation_id: "op-2".into(),
        labels: [("b".to_owned(), "2".to_owned())].into(),
        ..Default::default()
    };
    let report = sc::ReportRequest {
        service_name: "s".into(),
        operations: vec![first.clone(), second.clone()],
        ..Default::default()
    };
    let bytes = report.encode_to_vec();
    let decoded = sc::ReportRequestView::decode_view(&bytes).unwrap();
    let view = decoded.view();
    assert_eq!(view.encoded(), Some(&bytes[..]));
    let ops: Vec<_> = view.operations().iter().collect();
    assert_eq!(ops[0].encoded(), Some(&first.encode_to_vec()[..]));
    assert_eq!(ops[1].encoded(), Some(&second.encode_to_vec()[..]));

    // A singular message sent twice merges: no one piece of bytes is it.
    let time = |seconds: u8| delimited(0x22, &[0x08, seconds]);
    let parts = [time(1), time(2)].concat();
    let decoded = sc::OperationView::decode_view(&parts).unwrap();
    let start = decoded.view().start_time().unwrap();
    assert_eq!((start.seconds(), start.encoded()), (2, None));

    // Keys out of order and one sent twice: sorted, each key's last value.
    let entry = |key: &str, value: &str| {
        let entry = [
            delimited(0x0a, key.as_bytes()),
            delimited(0x12, value.as_bytes()),
        ]
        .concat();
        delimited(0x32, &entry)
    };
    let labels = [entry("z", "1"), entry("a", "first"), entry("a", "last")].concat();
    let decoded = sc::OperationView::decode_view(&labels).unwrap();
    let map = decoded.view().labels();
    assert_eq!(map.len(), 3);
    assert_eq!(map.entries(), [("a", "last"), ("z", "1")]);
    assert_eq!(map.get(&"a"), Some("last"));
}

/// A singular message sent in three parts reads as a decode merges them:
/// each part's fields, the later replacing the earlier, and the unknown
/// fields of the first and the last kept in their order; `encoded()` is
/// `None`, since no one piece of the bytes is it.
#[test]
fn a_message_sent_in_parts_keeps_every_parts_fields() {
    let part = |content: &[u8]| delimited(0x22, content);
    let bytes = [
        part(&[0x08, 1, 0x48, 7]),
        part(&[0x10, 5]),
        part(&[0x52, 1, b'x', 0x08, 3]),
    ]
    .concat();
    let fresh = sc::Operation::decode(&bytes[..]).unwrap();
    let decoded = sc::OperationView::decode_view(&bytes).unwrap();
    let view = decoded.view();
    let start = view.start_time().unwrap();
    assert_eq!(
        (start.seconds(), start.nanos(), start.encoded()),
        (3, 5, None)
    );
    let owned = view.to_owned_message();
    assert_eq!(owned, fresh);
    assert_eq!(owned.encode_to_vec(), fresh.encode_to_vec());
    assert_eq!(
        owned.start_time.as_ref().unwrap().unknown_fields.as_bytes(),
        [0x48, 7, 0x52, 1, b'x']
    );
    let mut reused = sc::Operation::default();
    reused.clear_and_parse(&bytes).unwrap();
    assert_eq!(reused, fresh);
}
