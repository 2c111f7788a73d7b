//! Unknown fields in the binary wire (`cloud_report_proto::wire`): every
//! wire type kept in arrival order and written back, known numbers with
//! a foreign wire type kept as unknown, malformed ones refused with prost's
//! errors (never a panic, never unbounded recursion).

use cloud_report_proto::google::api::servicecontrol::v1::{Operation, ReportRequest};
use cloud_report_proto::google::protobuf::Duration;
use cloud_report_proto::wire::{InvalidUnknownField, UnknownField, UnknownFields, UnknownValue};
use prost::Message;

fn varint(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_varint(n, &mut out);
    out
}

fn key(number: u32, wire_type: u32) -> Vec<u8> {
    varint(u64::from(number << 3 | wire_type))
}

#[test]
fn every_wire_type_is_kept_in_arrival_order() {
    let group_content = [key(1, 0), varint(5), key(2, 5), vec![1, 2, 3, 4]].concat();
    let input = [
        key(1, 0),
        varint(7), // seconds: known
        key(100, 0),
        varint(u64::MAX),
        key(101, 1),
        vec![8; 8],
        key(102, 2),
        varint(3),
        b"abc".to_vec(),
        key(103, 3),
        group_content.clone(),
        key(103, 4),
        key(104, 5),
        vec![4; 4],
        key(2, 0),
        varint(9), // nanos: known, after unknown ones
    ]
    .concat();
    let duration = Duration::decode(input.as_slice()).unwrap();
    assert_eq!((duration.seconds, duration.nanos), (7, 9));
    let fields: Vec<UnknownField<'_>> = duration.unknown_fields.iter().collect();
    assert_eq!(
        fields,
        [
            UnknownField {
                number: 100,
                value: UnknownValue::Varint(u64::MAX)
            },
            UnknownField {
                number: 101,
                value: UnknownValue::Fixed64(u64::from_le_bytes([8; 8]))
            },
            UnknownField {
                number: 102,
                value: UnknownValue::LengthDelimited(b"abc")
            },
            UnknownField {
                number: 103,
                value: UnknownValue::Group(&group_content)
            },
            UnknownField {
                number: 104,
                value: UnknownValue::Fixed32(u32::from_le_bytes([4; 4]))
            },
        ]
    );
    // Written back after the known fields, in arrival order, byte for byte.
    let known = [key(1, 0), varint(7), key(2, 0), varint(9)].concat();
    let unknown = &input[known.len() - 2..input.len() - 2];
    assert_eq!(duration.encode_to_vec(), [&known[..], unknown].concat());
    assert_eq!(duration.encoded_len(), input.len());
    // The same fields pushed one by one make the same message.
    let mut rebuilt = UnknownFields::new();
    for field in &fields {
        rebuilt.push(*field).unwrap();
    }
    assert_eq!(rebuilt, duration.unknown_fields);
    assert!(format!("{duration:?}").contains("unknown_fields"));
}

#[test]
fn a_known_number_with_a_foreign_wire_type_is_kept_as_unknown() {
    // operation_id (1, a string) as a varint: the reference keeps it as an
    // unknown field rather than failing the message.
    let input = [key(1, 0), varint(1)].concat();
    let operation = Operation::decode(input.as_slice()).unwrap();
    assert_eq!(operation.operation_id, "");
    assert_eq!(operation.encode_to_vec(), input);
}

#[test]
fn merging_appends_and_equality_counts_them() {
    let mut a = Duration::decode([key(50, 0), varint(1)].concat().as_slice()).unwrap();
    let b = Duration::decode([key(50, 0), varint(2)].concat().as_slice()).unwrap();
    assert_ne!(a, b);
    a.merge(b.encode_to_vec().as_slice()).unwrap();
    assert_eq!(
        a.unknown_fields.iter().map(|f| f.value).collect::<Vec<_>>(),
        [UnknownValue::Varint(1), UnknownValue::Varint(2)]
    );
    a.unknown_fields.clear();
    assert_eq!(a, Duration::default());
    assert!(a.encode_to_vec().is_empty());
    a.unknown_fields.extend(&b.unknown_fields);
    assert_eq!(a, b);
}

#[test]
fn malformed_unknown_fields_are_refused() {
    let cases: [(&str, Vec<u8>); 5] = [
        (
            "truncated bytes",
            [key(100, 2), varint(10), b"abc".to_vec()].concat(),
        ),
        ("truncated fixed64", [key(100, 1), vec![0; 3]].concat()),
        (
            "unterminated group",
            [key(100, 3), key(1, 0), varint(1)].concat(),
        ),
        ("stray end group", key(100, 4)),
        ("mismatched end group", [key(100, 3), key(101, 4)].concat()),
    ];
    for (what, input) in cases {
        assert!(ReportRequest::decode(input.as_slice()).is_err(), "{what}");
    }
    // Groups nested far deeper than any message may: an error, not a stack
    // overflow.
    let depth = 100_000;
    let input = [key(100, 3).repeat(depth), key(100, 4).repeat(depth)].concat();
    assert!(ReportRequest::decode(input.as_slice()).is_err());
}

#[test]
fn push_checks_what_it_adds() {
    let mut fields = UnknownFields::new();
    let field = |number, value| UnknownField { number, value };
    assert_eq!(
        fields.push(field(0, UnknownValue::Varint(1))),
        Err(InvalidUnknownField::Number(0))
    );
    assert_eq!(
        fields.push(field(1 << 29, UnknownValue::Varint(1))),
        Err(InvalidUnknownField::Number(1 << 29))
    );
    // A group's content holding its own end key.
    let bad = [key(7, 4)].concat();
    assert_eq!(
        fields.push(field(7, UnknownValue::Group(&bad))),
        Err(InvalidUnknownField::Group(7))
    );
    assert!(fields.is_empty());
}
