//! proptest strategies for random messages of any type of the crate, built
//! from its own descriptors (prost-reflect), so every field of every message
//! is covered without a hand-written generator per type.
//!
//! Values are valid for both wire formats: timestamps and durations in range,
//! `Value` numbers finite (JSON has no NaN number), and every `Any` packs a
//! type the reference implementation knows. Doubles include the infinities;
//! NaN is left to targeted tests because NaN != NaN would fail every
//! comparison.

use std::collections::HashMap;
use std::sync::OnceLock;

use proptest::prelude::*;
use prost::Message;
use prost::bytes::Bytes;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value,
};

/// The crate's descriptors.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(cloud_report_proto::FILE_DESCRIPTOR_SET).unwrap())
}

/// Types an `Any` may pack in generated messages: ones the reference knows,
/// with a special JSON form or without.
const ANY_PAYLOADS: &[&str] = &[
    "google.rpc.ErrorInfo",
    "google.rpc.RetryInfo",
    "google.rpc.QuotaFailure",
    "google.rpc.BadRequest",
    "google.rpc.Status",
    "google.rpc.context.AttributeContext",
    "google.cloud.audit.AuditLog",
    "google.api.servicecontrol.v1.HttpRequest",
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Empty",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.FloatValue",
    "google.protobuf.DoubleValue",
    "google.protobuf.BytesValue",
    "google.protobuf.StringValue",
    "google.protobuf.BoolValue",
];

/// Random messages of the named type, nested at most `depth` levels.
pub fn message_bytes(full_name: &str, depth: u32) -> BoxedStrategy<Vec<u8>> {
    let desc = pool().get_message_by_name(full_name).expect("known type");
    message(desc, depth).prop_map(|m| m.encode_to_vec()).boxed()
}

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_./:-]{0,12}",
        1 => prop::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter),
        1 => Just("\"\\\u{0}\u{1f}\u{7f}é😀</script>".to_owned()),
    ]
    .boxed()
}

fn double(finite_only: bool) -> BoxedStrategy<f64> {
    use proptest::num::f64 as f;
    let finite = (f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO).boxed();
    if finite_only {
        prop_oneof![4 => finite, 1 => Just(0.5), 1 => Just(1e300)].boxed()
    } else {
        prop_oneof![6 => finite, 1 => Just(f64::INFINITY), 1 => Just(f64::NEG_INFINITY)].boxed()
    }
}

fn float() -> BoxedStrategy<f32> {
    use proptest::num::f32 as f;
    prop_oneof![
        6 => f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO,
        1 => Just(f32::MIN_POSITIVE),
        1 => Just(f32::INFINITY),
    ]
    .boxed()
}

fn i64s() -> BoxedStrategy<i64> {
    prop_oneof![3 => any::<i64>(), 1 => Just(i64::MIN), 1 => Just(i64::MAX), 2 => -1000i64..1000]
        .boxed()
}

fn u64s() -> BoxedStrategy<u64> {
    prop_oneof![3 => any::<u64>(), 1 => Just(u64::MAX), 2 => 0u64..1000].boxed()
}

fn i32s() -> BoxedStrategy<i32> {
    prop_oneof![3 => any::<i32>(), 1 => Just(i32::MIN), 1 => Just(i32::MAX), 2 => -100i32..100]
        .boxed()
}

/// One value of a field's kind (one element, for a list).
fn single(field: &FieldDescriptor, kind: Kind, depth: u32) -> BoxedStrategy<Value> {
    match kind {
        Kind::Double => double(false).prop_map(Value::F64).boxed(),
        Kind::Float => float().prop_map(Value::F32).boxed(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => i32s().prop_map(Value::I32).boxed(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => i64s().prop_map(Value::I64).boxed(),
        Kind::Uint32 | Kind::Fixed32 => any::<u32>().prop_map(Value::U32).boxed(),
        Kind::Uint64 | Kind::Fixed64 => u64s().prop_map(Value::U64).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::String => text().prop_map(Value::String).boxed(),
        Kind::Bytes => prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(|b| Value::Bytes(Bytes::from(b)))
            .boxed(),
        Kind::Enum(e) => {
            let known: Vec<i32> = e.values().map(|v| v.number()).collect();
            if e.full_name() == "google.protobuf.NullValue" {
                return Just(Value::EnumNumber(0)).boxed();
            }
            prop_oneof![
                8 => prop::sample::select(known).prop_map(Value::EnumNumber),
                1 => (1000i32..2000).prop_map(Value::EnumNumber),
            ]
            .boxed()
        }
        Kind::Message(m) => {
            let _ = field;
            message(m, depth.saturating_sub(1))
                .prop_map(Value::Message)
                .boxed()
        }
    }
}

fn map_key(kind: Kind) -> BoxedStrategy<MapKey> {
    match kind {
        Kind::String => text().prop_map(MapKey::String).boxed(),
        Kind::Bool => any::<bool>().prop_map(MapKey::Bool).boxed(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => i32s().prop_map(MapKey::I32).boxed(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => i64s().prop_map(MapKey::I64).boxed(),
        Kind::Uint32 | Kind::Fixed32 => any::<u32>().prop_map(MapKey::U32).boxed(),
        Kind::Uint64 | Kind::Fixed64 => u64s().prop_map(MapKey::U64).boxed(),
        other => unreachable!("{other:?} is not a map key type"),
    }
}

/// The value of a whole field: a single value, a list, or a map.
fn field_value(field: &FieldDescriptor, depth: u32) -> BoxedStrategy<Value> {
    let nested = matches!(field.kind(), Kind::Message(_));
    let max = if nested && depth == 0 { 0 } else { 3 };
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            unreachable!()
        };
        let key = map_key(entry.map_entry_key_field().kind());
        let value_field = entry.map_entry_value_field();
        let value = single(&value_field, value_field.kind(), depth);
        prop::collection::vec((key, value), 0..=max)
            .prop_map(|entries| Value::Map(entries.into_iter().collect::<HashMap<_, _>>()))
            .boxed()
    } else if field.is_list() {
        prop::collection::vec(single(field, field.kind(), depth), 0..=max)
            .prop_map(Value::List)
            .boxed()
    } else {
        single(field, field.kind(), depth)
    }
}

fn message(desc: MessageDescriptor, depth: u32) -> BoxedStrategy<DynamicMessage> {
    match desc.full_name() {
        "google.protobuf.Timestamp" => {
            let d = desc.clone();
            return (-62_135_596_800i64..=253_402_300_799, 0i32..1_000_000_000)
                .prop_map(move |(s, n)| {
                    let mut m = DynamicMessage::new(d.clone());
                    m.set_field_by_name("seconds", Value::I64(s));
                    m.set_field_by_name("nanos", Value::I32(n));
                    m
                })
                .boxed();
        }
        "google.protobuf.Duration" => {
            let d = desc.clone();
            return (-315_576_000_000i64..=315_576_000_000, 0i32..1_000_000_000)
                .prop_map(move |(s, n)| {
                    let mut m = DynamicMessage::new(d.clone());
                    let n = if s < 0 { -n } else { n };
                    m.set_field_by_name("seconds", Value::I64(s));
                    m.set_field_by_name("nanos", Value::I32(n));
                    m
                })
                .boxed();
        }
        "google.protobuf.Any" => return any_message(desc, depth),
        "google.protobuf.Value" => return value_message(desc, depth),
        _ => {}
    }
    let mut parts: Vec<BoxedStrategy<Vec<(FieldDescriptor, Value)>>> = Vec::new();
    for field in desc.fields() {
        let in_real_oneof = field
            .containing_oneof()
            .is_some_and(|_| !field.field_descriptor_proto().proto3_optional());
        if in_real_oneof {
            continue;
        }
        // Lists and maps of messages are empty at depth 0: leaving their
        // strategies unbuilt ends the recursion of types that contain
        // themselves (a documentation `Page`'s subpages).
        let holds_messages = match field.kind() {
            Kind::Message(entry) if field.is_map() => {
                matches!(entry.map_entry_value_field().kind(), Kind::Message(_))
            }
            Kind::Message(_) => field.is_list(),
            _ => false,
        };
        if depth == 0 && holds_messages {
            continue;
        }
        let f = field.clone();
        parts.push(
            prop::option::weighted(0.6, field_value(&field, depth))
                .prop_map(move |v| v.map(|v| vec![(f.clone(), v)]).unwrap_or_default())
                .boxed(),
        );
    }
    for oneof in desc.oneofs().filter(|o| !o.is_synthetic()) {
        let mut choices: Vec<BoxedStrategy<Vec<(FieldDescriptor, Value)>>> =
            vec![Just(Vec::new()).boxed()];
        for member in oneof.fields() {
            let f = member.clone();
            choices.push(
                field_value(&member, depth)
                    .prop_map(move |v| vec![(f.clone(), v)])
                    .boxed(),
            );
        }
        parts.push(prop::strategy::Union::new(choices).boxed());
    }
    parts
        .prop_map(move |parts| {
            let mut m = DynamicMessage::new(desc.clone());
            for (field, value) in parts.into_iter().flatten() {
                m.set_field(&field, value);
            }
            m
        })
        .boxed()
}

/// A Value with a kind always set (an unset Value has no JSON form of its
/// own) and a finite number.
fn value_message(desc: MessageDescriptor, depth: u32) -> BoxedStrategy<DynamicMessage> {
    let field = |name: &str| desc.get_field_by_name(name).unwrap();
    let mut choices: Vec<BoxedStrategy<(FieldDescriptor, Value)>> = vec![
        Just((field("null_value"), Value::EnumNumber(0))).boxed(),
        {
            let f = field("number_value");
            double(true)
                .prop_map(move |v| (f.clone(), Value::F64(v)))
                .boxed()
        },
        {
            let f = field("string_value");
            text()
                .prop_map(move |v| (f.clone(), Value::String(v)))
                .boxed()
        },
        {
            let f = field("bool_value");
            any::<bool>()
                .prop_map(move |v| (f.clone(), Value::Bool(v)))
                .boxed()
        },
    ];
    if depth > 0 {
        for name in ["struct_value", "list_value"] {
            let f = field(name);
            let Kind::Message(m) = f.kind() else {
                unreachable!()
            };
            choices.push(
                message(m, depth - 1)
                    .prop_map(move |v| (f.clone(), Value::Message(v)))
                    .boxed(),
            );
        }
    }
    prop::strategy::Union::new(choices)
        .prop_map(move |(f, v)| {
            let mut m = DynamicMessage::new(desc.clone());
            m.set_field(&f, v);
            m
        })
        .boxed()
}

/// An Any packing a random message of a type the reference knows; leaf types
/// only, once the depth is used up.
fn any_message(desc: MessageDescriptor, depth: u32) -> BoxedStrategy<DynamicMessage> {
    let payloads: Vec<&str> = if depth == 0 {
        vec![
            "google.protobuf.Empty",
            "google.protobuf.Timestamp",
            "google.protobuf.Int64Value",
        ]
    } else {
        ANY_PAYLOADS.to_vec()
    };
    let choices: Vec<BoxedStrategy<DynamicMessage>> = payloads
        .into_iter()
        .map(|name| {
            let desc = desc.clone();
            let payload = pool().get_message_by_name(name).unwrap();
            message(payload, depth.saturating_sub(1))
                .prop_map(move |p| {
                    let mut any = DynamicMessage::new(desc.clone());
                    any.set_field_by_name(
                        "type_url",
                        Value::String(format!("type.googleapis.com/{name}")),
                    );
                    any.set_field_by_name("value", Value::Bytes(Bytes::from(p.encode_to_vec())));
                    any
                })
                .boxed()
        })
        .collect();
    prop::strategy::Union::new(choices).boxed()
}

/// A small deterministic generator for [`with_unknown_fields`] (proptest
/// gives the seed, so failures shrink and replay).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The encoding of a message of type `full_name` with unknown fields added
/// between its fields, at every nesting level (nested messages, list
/// elements, map values): every wire type (groups nested in groups too),
/// numbers the message does not define, and numbers it defines arriving
/// with a wire type their kind cannot have (which the reference keeps as
/// unknown too). Returns the bytes and how many fields were added. Any
/// payloads are left as they are.
pub fn with_unknown_fields(full_name: &str, bytes: &[u8], rng: &mut Rng) -> (Vec<u8>, usize) {
    let desc = pool().get_message_by_name(full_name).expect("known type");
    let mut added = 0;
    let out = rewrite(&desc, bytes, rng, &mut added);
    (out, added)
}

fn rewrite(
    desc: &MessageDescriptor,
    mut bytes: &[u8],
    rng: &mut Rng,
    added: &mut usize,
) -> Vec<u8> {
    use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};
    let mut out = Vec::new();
    // Map entries are not messages to the reference: it keeps nothing
    // unknown in them.
    let inject = !desc.is_map_entry() && desc.full_name() != "google.protobuf.Any";
    let maybe_add = |out: &mut Vec<u8>, rng: &mut Rng, added: &mut usize| {
        if inject && rng.below(4) == 0 {
            unknown_record(desc, out, rng, 0);
            *added += 1;
        }
    };
    while !bytes.is_empty() {
        maybe_add(&mut out, rng, added);
        let (tag, wire_type) = decode_key(&mut bytes).expect("valid input");
        encode_key(tag, wire_type, &mut out);
        match wire_type {
            WireType::Varint => encode_varint(decode_varint(&mut bytes).unwrap(), &mut out),
            WireType::SixtyFourBit => {
                out.extend_from_slice(&bytes[..8]);
                bytes = &bytes[8..];
            }
            WireType::ThirtyTwoBit => {
                out.extend_from_slice(&bytes[..4]);
                bytes = &bytes[4..];
            }
            WireType::LengthDelimited => {
                let len = decode_varint(&mut bytes).unwrap() as usize;
                let (value, rest) = bytes.split_at(len);
                bytes = rest;
                let nested = desc.get_field(tag).and_then(|f| match f.kind() {
                    Kind::Message(m) => Some(m),
                    _ => None,
                });
                let value = match nested {
                    Some(m) => rewrite(&m, value, rng, added),
                    None => value.to_vec(),
                };
                encode_varint(value.len() as u64, &mut out);
                out.extend_from_slice(&value);
            }
            other => panic!("generated input has {other:?}"),
        }
    }
    maybe_add(&mut out, rng, added);
    out
}

/// One unknown record of a random wire type.
fn unknown_record(desc: &MessageDescriptor, out: &mut Vec<u8>, rng: &mut Rng, depth: u32) {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let wire_types = if depth < 2 { 5 } else { 4 };
    let wire_type = match rng.below(wire_types) {
        0 => WireType::Varint,
        1 => WireType::SixtyFourBit,
        2 => WireType::LengthDelimited,
        3 => WireType::ThirtyTwoBit,
        _ => WireType::StartGroup,
    };
    let number = loop {
        let number = match rng.below(3) {
            0 => 1 + rng.below(20) as u32,
            1 => 1000 + rng.below(100_000) as u32,
            _ => 536_000_000 + rng.below(870_911) as u32,
        };
        match desc.get_field(number) {
            None => break number,
            // A known number with a wire type its kind cannot have.
            Some(field) if depth == 0 && !accepts(&field, wire_type) => break number,
            Some(_) => continue,
        }
    };
    encode_key(number, wire_type, out);
    match wire_type {
        WireType::Varint => {
            let value = match rng.below(3) {
                0 => rng.below(128),
                1 => rng.next(),
                _ => rng.below(1 << 20),
            };
            encode_varint(value, out);
        }
        WireType::SixtyFourBit => out.extend_from_slice(&rng.next().to_le_bytes()),
        WireType::ThirtyTwoBit => out.extend_from_slice(&(rng.next() as u32).to_le_bytes()),
        WireType::LengthDelimited => {
            let len = rng.below(12) as usize;
            encode_varint(len as u64, out);
            out.extend((0..len).map(|_| rng.next() as u8));
        }
        _ => {
            // Groups hold any fields, never checked against a schema.
            let empty = pool().get_message_by_name("google.protobuf.Empty").unwrap();
            for _ in 0..rng.below(3) {
                unknown_record(&empty, out, rng, depth + 1);
            }
            encode_key(number, WireType::EndGroup, out);
        }
    }
}

/// Whether a field of the message reads a value of `wire_type` (a list of
/// numbers reads both packed and single values).
fn accepts(field: &FieldDescriptor, wire_type: prost::encoding::WireType) -> bool {
    use prost::encoding::WireType;
    let own = match field.kind() {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => WireType::SixtyFourBit,
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => WireType::ThirtyTwoBit,
        Kind::String | Kind::Bytes | Kind::Message(_) => WireType::LengthDelimited,
        _ => WireType::Varint,
    };
    wire_type == own || (field.is_list() && wire_type == WireType::LengthDelimited)
}
