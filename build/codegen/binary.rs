//! Each message's `prost::Message` implementation: the binary wire format,
//! owned by the crate instead of derived by prost.
//!
//! - Decoding (`merge_field`) reads each known field with prost's public
//!   encoding functions; a field the message does not define, or a known
//!   number arriving with a wire type its kind cannot have, goes to
//!   `unknown_fields` (as upb and C++ keep it).
//! - Encoding writes back to front (`crate::wire::Encoder`), so a nested
//!   message's length prefix is written after its content, in one pass.
//!   Fields come out in number order (oneof members at their own number),
//!   then the unknown fields; map entries always hold both key and value.
//!   This is the order and form of upb and C++.
//! - `encoded_len` sums the same fields; the `encode*` methods are
//!   overridden to use the back-to-front writer.

use std::fmt::Write as _;

use protox::prost_reflect::Kind;

use super::model::{Field, Message, Storage, is_packable};
use super::naming::{to_snake, to_upper_camel};
use super::types::UNKNOWN_FIELDS;

/// The wire types, as prost names them.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Wire {
    Varint = 0,
    SixtyFourBit = 1,
    LengthDelimited = 2,
    ThirtyTwoBit = 5,
}

impl Wire {
    pub(super) fn of(kind: &Kind) -> Wire {
        match kind {
            Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => Wire::SixtyFourBit,
            Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => Wire::ThirtyTwoBit,
            Kind::String | Kind::Bytes | Kind::Message(_) => Wire::LengthDelimited,
            _ => Wire::Varint,
        }
    }

    fn prost(self) -> &'static str {
        match self {
            Wire::Varint => "WireType::Varint",
            Wire::SixtyFourBit => "WireType::SixtyFourBit",
            Wire::LengthDelimited => "WireType::LengthDelimited",
            Wire::ThirtyTwoBit => "WireType::ThirtyTwoBit",
        }
    }
}

/// prost's encoding module for a kind (enums are `int32` on the wire).
fn prost_module(kind: &Kind) -> &'static str {
    match kind {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 | Kind::Enum(_) => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Message(_) => "message",
    }
}

/// The function reading one value of a kind (`merge_field`'s, and a map
/// entry's key and value).
fn merge_function(kind: &Kind) -> String {
    match kind {
        Kind::String => "crate::codegen::wire::merge_string".to_owned(),
        Kind::Bytes => "crate::codegen::wire::merge_bytes".to_owned(),
        other => format!("::prost::encoding::{}::merge", prost_module(other)),
    }
}

/// A field key's bytes: the varint of `number << 3 | wire type`.
fn key_bytes(number: u32, wire: Wire) -> Vec<u8> {
    let mut bytes = Vec::new();
    prost::encoding::encode_varint(u64::from(number << 3 | wire as u32), &mut bytes);
    bytes
}

/// Code writing a key in front.
fn put_key(number: u32, wire: Wire) -> String {
    match key_bytes(number, wire).as_slice() {
        [byte] => format!("encoder.put_u8({byte:#04x});"),
        bytes => format!("encoder.put_slice(&{bytes:#04x?});"),
    }
}

/// The value of a varint kind as the `u64` on the wire, from `v: &T`.
fn varint_of(kind: &Kind, v: &str) -> String {
    match kind {
        Kind::Int32 | Kind::Enum(_) => format!("(*{v} as i64 as u64)"),
        Kind::Int64 => format!("(*{v} as u64)"),
        Kind::Uint32 => format!("u64::from(*{v})"),
        Kind::Uint64 => format!("*{v}"),
        Kind::Sint32 => format!("u64::from(((*{v} << 1) ^ (*{v} >> 31)) as u32)"),
        Kind::Sint64 => format!("(((*{v} << 1) ^ (*{v} >> 63)) as u64)"),
        Kind::Bool => format!("u64::from(*{v})"),
        other => unreachable!("{other:?} is not a varint"),
    }
}

/// Code writing one value (without its key) in front, from `v: &T`.
fn put_value(kind: &Kind, v: &str) -> String {
    match kind {
        Kind::Double | Kind::Float => {
            let put = if *kind == Kind::Double {
                "put_fixed64"
            } else {
                "put_fixed32"
            };
            format!("encoder.{put}({v}.to_bits());")
        }
        Kind::Fixed64 => format!("encoder.put_fixed64(*{v});"),
        Kind::Sfixed64 => format!("encoder.put_fixed64(*{v} as u64);"),
        Kind::Fixed32 => format!("encoder.put_fixed32(*{v});"),
        Kind::Sfixed32 => format!("encoder.put_fixed32(*{v} as u32);"),
        Kind::Bool => format!("encoder.put_u8(u8::from(*{v}));"),
        Kind::String => format!("encoder.put_delimited({v}.as_bytes());"),
        Kind::Bytes => format!("encoder.put_delimited({v});"),
        Kind::Message(_) => format!(
            "let end = encoder.len(); {v}.encode_reverse(encoder); encoder.put_length_since(end);"
        ),
        varint => format!("encoder.put_varint({});", varint_of(varint, v)),
    }
}

/// The encoded length of one value (without its key), from `v: &T`: a
/// constant for the fixed-width kinds.
fn value_len(kind: &Kind, v: &str) -> String {
    match kind {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => "8".into(),
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => "4".into(),
        Kind::Bool => "1".into(),
        Kind::String | Kind::Bytes => format!("crate::codegen::wire::delimited_len({v}.len())"),
        Kind::Message(_) => format!("crate::codegen::wire::delimited_len({v}.encoded_len())"),
        varint => format!(
            "::prost::encoding::encoded_len_varint({})",
            varint_of(varint, v)
        ),
    }
}

/// The width of a packed value of the kind: its bytes, or 0 for varints.
pub(super) fn packed_width(kind: &Kind) -> usize {
    match Wire::of(kind) {
        Wire::SixtyFourBit => 8,
        Wire::ThirtyTwoBit => 4,
        _ => 0,
    }
}

/// Whether every value of the kind has the same length.
fn fixed_width(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::Double
            | Kind::Fixed64
            | Kind::Sfixed64
            | Kind::Float
            | Kind::Fixed32
            | Kind::Sfixed32
            | Kind::Bool
    )
}

/// The test that an implicit-presence field holds a value other than its
/// default, which is what gets it written.
fn is_set(kind: &Kind, field: &str) -> String {
    match kind {
        Kind::Double => format!("!crate::codegen::wire::is_default_f64({field})"),
        Kind::Float => format!("!crate::codegen::wire::is_default_f32({field})"),
        Kind::Bool => field.to_owned(),
        Kind::String | Kind::Bytes => format!("!{field}.is_empty()"),
        Kind::Message(_) => unreachable!("message fields have presence"),
        _ => format!("{field} != 0"),
    }
}

/// `v`, or `&**v` when the value is boxed.
fn unboxed(field: &Field, v: &str) -> String {
    if field.boxed {
        format!("&**{v}")
    } else {
        v.to_owned()
    }
}

pub(super) fn write_message(out: &mut String, message: &Message) {
    let path = &message.path;
    let fields = &message.fields;

    writeln!(
        out,
        "#[allow(deprecated, unused_imports, unused_parens, unused_variables, unused_mut, dead_code, clippy::all)]
const _: () = {{
    use ::prost::Message as _;
    use ::prost::encoding::WireType;
    use crate::codegen::wire::EncodeReverse as _;
    impl ::prost::Message for {path} {{
        fn encode_raw(&self, buf: &mut impl ::prost::bytes::BufMut) {{
            crate::codegen::wire::encode_raw(self, buf)
        }}
        fn encode(&self, buf: &mut impl ::prost::bytes::BufMut) -> ::core::result::Result<(), ::prost::EncodeError> {{
            crate::codegen::wire::encode(self, false, buf)
        }}
        fn encode_to_vec(&self) -> ::prost::alloc::vec::Vec<u8> {{
            crate::codegen::wire::encode_to_vec(self, false)
        }}
        fn encode_length_delimited(&self, buf: &mut impl ::prost::bytes::BufMut) -> ::core::result::Result<(), ::prost::EncodeError> {{
            crate::codegen::wire::encode(self, true, buf)
        }}
        fn encode_length_delimited_to_vec(&self) -> ::prost::alloc::vec::Vec<u8> {{
            crate::codegen::wire::encode_to_vec(self, true)
        }}"
    )
    .unwrap();
    write_merge_field(out, message);
    write_encoded_len(out, fields);
    write_clear(out, message);
    writeln!(
        out,
        "    }}
    impl crate::codegen::wire::EncodeReverse for {path} {{
        fn encode_reverse(&self, encoder: &mut crate::codegen::wire::Encoder) {{
            if !self.{UNKNOWN_FIELDS}.is_empty() {{
                encoder.put_slice(self.{UNKNOWN_FIELDS}.as_bytes());
            }}"
    )
    .unwrap();
    for field in fields.iter().rev() {
        write_encode_field(out, field);
    }
    writeln!(out, "        }}\n    }}\n}};").unwrap();
}

fn write_merge_field(out: &mut String, message: &Message) {
    writeln!(
        out,
        "        fn merge_field(
            &mut self,
            tag: u32,
            wire_type: WireType,
            buf: &mut impl ::prost::bytes::Buf,
            ctx: ::prost::encoding::DecodeContext,
        ) -> ::core::result::Result<(), ::prost::DecodeError> {{
            const MESSAGE: &str = {:?};
            match tag {{",
        to_upper_camel(message.descriptor.name())
    )
    .unwrap();
    for field in &message.fields {
        let kind = field.kind.clone();
        let number = field.number;
        let module = format!("::prost::encoding::{}", prost_module(&kind));
        // Strings and bytes have a faster reader of the crate's own.
        let merge_fn = merge_function(&kind);
        let name = &field.holder;
        let wire = Wire::of(&kind).prost();
        let (guard, merge) = match &field.storage {
            Storage::Implicit => (
                format!("wire_type == {wire}"),
                format!("{merge_fn}(wire_type, &mut self.{name}, buf, ctx)"),
            ),
            Storage::Optional => (
                format!("wire_type == {wire}"),
                format!(
                    "{merge_fn}(wire_type, self.{name}.get_or_insert_with(::core::default::Default::default), buf, ctx)"
                ),
            ),
            Storage::Packed => (
                format!("wire_type == {wire} || wire_type == WireType::LengthDelimited"),
                format!(
                    "crate::codegen::wire::merge_numbers(wire_type, &mut self.{name}, buf, ctx, {}, {module}::merge_repeated)",
                    packed_width(&kind)
                ),
            ),
            Storage::Repeated => {
                let guard = if is_packable(&kind) {
                    // Unpacked on the wire, but packed input is read too.
                    format!("wire_type == {wire} || wire_type == WireType::LengthDelimited")
                } else {
                    format!("wire_type == {wire}")
                };
                let merge = if let Kind::Message(_) = kind {
                    format!(
                        "crate::codegen::wire::merge_messages(wire_type, &mut self.{name}, buf, ctx, &{:#04x?})",
                        key_bytes(number, Wire::LengthDelimited)
                    )
                } else if matches!(kind, Kind::String | Kind::Bytes) {
                    format!(
                        "crate::codegen::wire::merge_element(wire_type, &mut self.{name}, buf, ctx, {merge_fn})"
                    )
                } else {
                    format!("{module}::merge_repeated(wire_type, &mut self.{name}, buf, ctx)")
                };
                (guard, merge)
            }
            Storage::Map(key, value) => (
                "wire_type == WireType::LengthDelimited".to_owned(),
                format!(
                    "::prost::encoding::btree_map::merge({}, {}, &mut self.{name}, buf, ctx)",
                    merge_function(key),
                    merge_function(value)
                ),
            ),
            Storage::Member { variant, .. } => {
                let fresh = if field.boxed {
                    "::prost::alloc::boxed::Box::<_>::default()"
                } else {
                    "::core::default::Default::default()"
                };
                let (target, fresh_target) = if field.boxed {
                    ("&mut **value", "&mut *value")
                } else {
                    ("value", "&mut value")
                };
                (
                    format!("wire_type == {wire}"),
                    format!(
                        "match &mut self.{name} {{
                    ::core::option::Option::Some({variant}(value)) => {merge_fn}(wire_type, {target}, buf, ctx),
                    _ => {{
                        let mut value = {fresh};
                        let merged = {merge_fn}(wire_type, {fresh_target}, buf, ctx);
                        self.{name} = ::core::option::Option::Some({variant}(value));
                        merged
                    }}
                }}"
                    ),
                )
            }
        };
        writeln!(
            out,
            "                {number} if {guard} => ({merge}).map_err(|mut error| {{
                    error.push(MESSAGE, {:?});
                    error
                }}),",
            to_snake(&field.name)
        )
        .unwrap();
    }
    writeln!(
        out,
        "                _ => self.{UNKNOWN_FIELDS}.merge_field(tag, wire_type, buf, ctx),
            }}
        }}"
    )
    .unwrap();
}

fn write_encoded_len(out: &mut String, fields: &[Field]) {
    writeln!(
        out,
        "        fn encoded_len(&self) -> usize {{
            let mut len = self.{UNKNOWN_FIELDS}.encoded_len();"
    )
    .unwrap();
    for field in fields {
        let kind = &field.kind;
        let name = &field.holder;
        let key_len = key_bytes(field.number, Wire::of(kind)).len();
        let code = match &field.storage {
            Storage::Implicit => format!(
                "if {} {{ len += {key_len} + {}; }}",
                is_set(kind, &format!("self.{name}")),
                value_len(kind, &format!("(&self.{name})"))
            ),
            Storage::Optional => format!(
                "if let ::core::option::Option::Some(v) = &self.{name} {{ len += {key_len} + {}; }}",
                value_len(kind, "v")
            ),
            Storage::Packed => {
                let key_len = key_bytes(field.number, Wire::LengthDelimited).len();
                let data = if fixed_width(kind) {
                    format!("self.{name}.len() * {}", value_len(kind, "v"))
                } else {
                    format!(
                        "self.{name}.iter().map(|v| {}).sum::<usize>()",
                        value_len(kind, "v")
                    )
                };
                format!(
                    "if !self.{name}.is_empty() {{ len += {key_len} + crate::codegen::wire::delimited_len({data}); }}"
                )
            }
            Storage::Repeated => {
                if fixed_width(kind) {
                    format!(
                        "len += self.{name}.len() * ({key_len} + {});",
                        value_len(kind, "v")
                    )
                } else {
                    format!(
                        "len += self.{name}.iter().map(|v| {key_len} + {}).sum::<usize>();",
                        value_len(kind, "v")
                    )
                }
            }
            Storage::Map(key, value) => format!(
                "len += self.{name}.iter().map(|(k, v)| {key_len} + crate::codegen::wire::delimited_len(2 + {} + {})).sum::<usize>();",
                value_len(key, "k"),
                value_len(value, "v")
            ),
            Storage::Member { variant, .. } => format!(
                "if let ::core::option::Option::Some({variant}(v)) = &self.{name} {{ len += {key_len} + {}; }}",
                value_len(kind, "v")
            ),
        };
        writeln!(out, "            {code}").unwrap();
    }
    writeln!(out, "            len\n        }}").unwrap();
}

fn write_clear(out: &mut String, message: &Message) {
    writeln!(out, "        fn clear(&mut self) {{").unwrap();
    let mut cleared: Vec<&str> = Vec::new();
    for field in &message.fields {
        let name = field.holder.as_str();
        if cleared.contains(&name) {
            continue;
        }
        let code = match (&field.storage, &field.kind) {
            (Storage::Packed | Storage::Repeated | Storage::Map(..), _)
            | (Storage::Implicit, Kind::String | Kind::Bytes) => format!("self.{name}.clear();"),
            _ => format!("self.{name} = ::core::default::Default::default();"),
        };
        writeln!(out, "            {code}").unwrap();
        cleared.push(name);
    }
    writeln!(
        out,
        "            self.{UNKNOWN_FIELDS}.clear();\n        }}"
    )
    .unwrap();
}

fn write_encode_field(out: &mut String, field: &Field) {
    let kind = &field.kind;
    let name = &field.holder;
    let key = put_key(field.number, Wire::of(kind));
    let v = unboxed(field, "v");
    let code = match &field.storage {
        Storage::Implicit => format!(
            "if {} {{ let v = &self.{name}; {} {key} }}",
            is_set(kind, &format!("self.{name}")),
            put_value(kind, "v")
        ),
        Storage::Optional => format!(
            "if let ::core::option::Option::Some(v) = &self.{name} {{ let v = {v}; {} {key} }}",
            put_value(kind, "v")
        ),
        Storage::Packed => format!(
            "if !self.{name}.is_empty() {{ let end = encoder.len(); for v in self.{name}.iter().rev() {{ {} }} encoder.put_length_since(end); {} }}",
            put_value(kind, "v"),
            put_key(field.number, Wire::LengthDelimited)
        ),
        Storage::Repeated => format!(
            "for v in self.{name}.iter().rev() {{ {} {key} }}",
            put_value(kind, "v")
        ),
        Storage::Map(k, value) => format!(
            "for (k, v) in self.{name}.iter().rev() {{ let end = encoder.len(); {{ {} }} {} {{ {} }} {} encoder.put_length_since(end); {key} }}",
            put_value(value, "v"),
            put_key(2, Wire::of(value)),
            put_value(k, "k"),
            put_key(1, Wire::of(k)),
        ),
        Storage::Member { variant, .. } => format!(
            "if let ::core::option::Option::Some({variant}(v)) = &self.{name} {{ let v = {v}; {} {key} }}",
            put_value(kind, "v")
        ),
    };
    writeln!(out, "            {code}").unwrap();
}
