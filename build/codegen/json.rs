//! The JSON engine's side of each message and enum: which codec of
//! `crate::json::codec` each field uses, and the per-message plumbing the
//! codecs do not cover (field names, presence, oneofs, boxing).

use std::fmt::Write as _;

use protox::prost_reflect::{EnumDescriptor, Kind};

use super::model::{Field, Message, Storage};
use super::naming::{enum_path, message_path};

/// The codec of one value of the field's kind (ignoring repetition).
pub(super) fn value_codec(kind: &Kind) -> String {
    let c = |name: &str| format!("crate::codegen::json::{name}");
    match kind {
        Kind::Double => c("F64"),
        Kind::Float => c("F32"),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => c("I32"),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => c("I64"),
        Kind::Uint32 | Kind::Fixed32 => c("U32"),
        Kind::Uint64 | Kind::Fixed64 => c("U64"),
        Kind::Bool => c("Bool"),
        Kind::String => c("Str"),
        Kind::Bytes => c("Bytes"),
        Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => c("Null"),
        Kind::Enum(e) => format!("crate::codegen::json::Enum<{}>", enum_path(e)),
        Kind::Message(m) if m.full_name() == "google.protobuf.Value" => {
            format!("crate::codegen::json::NullableMsg<{}>", message_path(m))
        }
        Kind::Message(m) => format!("crate::codegen::json::Msg<{}>", message_path(m)),
    }
}

fn map_key_codec(kind: &Kind) -> &'static str {
    match kind {
        Kind::String => "crate::codegen::json::Str",
        Kind::Bool => "crate::codegen::json::Bool",
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => "crate::codegen::json::I32",
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => "crate::codegen::json::I64",
        Kind::Uint32 | Kind::Fixed32 => "crate::codegen::json::U32",
        Kind::Uint64 | Kind::Fixed64 => "crate::codegen::json::U64",
        other => panic!("{other:?} cannot be a map key"),
    }
}

/// The codec of the whole field as prost stores it (Vec, BTreeMap, Option).
fn field_codec(field: &Field) -> String {
    match &field.storage {
        Storage::Map(key, value) => format!(
            "crate::codegen::json::Map<{}, {}>",
            map_key_codec(key),
            value_codec(value)
        ),
        Storage::Packed | Storage::Repeated => format!(
            "crate::codegen::json::Repeated<{}>",
            value_codec(&field.kind)
        ),
        _ => value_codec(&field.kind),
    }
}

/// A field's JSON name as the writer puts it: quoted, with its colon. JSON
/// names are identifiers, so nothing in them needs escaping.
fn json_key(json_name: &str) -> String {
    assert!(
        json_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "JSON name {json_name:?} would need escaping"
    );
    format!("\"{json_name}\":")
}

pub(super) fn write_message(out: &mut String, message: &Message) {
    let path = &message.path;
    let full_name = message.descriptor.full_name();
    let fields = &message.fields;
    let oneof_names: Vec<&str> = message.oneofs.iter().map(|o| o.descriptor.name()).collect();

    writeln!(
        out,
        "#[allow(deprecated, clippy::match_single_binding)]
const _: () = {{
    /// The index of a field by JSON name or proto name, and whether it was
    /// the proto name (errors name the field as the input did).
    #[inline]
    fn field_index(name: &str) -> ::core::option::Option<(usize, bool)> {{
        match name {{"
    )
    .unwrap();
    for (i, field) in fields.iter().enumerate() {
        writeln!(
            out,
            "            {:?} => Some(({i}, false)),",
            field.json_name
        )
        .unwrap();
        if field.json_name != field.name {
            writeln!(out, "            {:?} => Some(({i}, true)),", field.name).unwrap();
        }
    }
    writeln!(
        out,
        "            _ => None,
        }}
    }}
    #[allow(dead_code)]
    const ONEOF_NAMES: &[&str] = &[{}];

    impl crate::codegen::json::Fields for {path} {{
        #[allow(unused_variables)]
        fn write_fields(&self, writer: &mut crate::codegen::json::Writer<'_>, first: &mut bool) -> Result<(), crate::codegen::json::WriteError> {{",
        oneof_names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
    .unwrap();

    // Writing: fields in number order, defaults omitted, oneof members always.
    let mut written_oneofs = Vec::new();
    for field in fields {
        let key = json_key(&field.json_name);
        if let Storage::Member { oneof, .. } = field.storage {
            if written_oneofs.contains(&oneof) {
                continue;
            }
            written_oneofs.push(oneof);
            let holder = &message.oneofs[oneof];
            writeln!(
                out,
                "            if let Some(v) = &self.{} {{\n                match v {{",
                holder.holder
            )
            .unwrap();
            for member in message.members(oneof) {
                let Storage::Member { variant, .. } = &member.storage else {
                    unreachable!("the members of a oneof")
                };
                writeln!(
                    out,
                    "                    {variant}(v) => crate::codegen::json::write_field::<{}>(writer, first, {:?}, {})?,",
                    value_codec(&member.kind),
                    json_key(&member.json_name),
                    if member.boxed { "&**v" } else { "v" },
                )
                .unwrap();
            }
            writeln!(out, "                }}\n            }}").unwrap();
            continue;
        }
        let name = &field.holder;
        let codec = field_codec(field);
        if matches!(field.storage, Storage::Optional) {
            let v = if field.boxed { "&**v" } else { "v" };
            writeln!(
                out,
                "            if let Some(v) = &self.{name} {{\n                crate::codegen::json::write_field::<{codec}>(writer, first, {key:?}, {v})?;\n            }}"
            )
            .unwrap();
        } else {
            writeln!(
                out,
                "            if !<{codec} as crate::codegen::json::Codec>::is_default(&self.{name}) {{\n                crate::codegen::json::write_field::<{codec}>(writer, first, {key:?}, &self.{name})?;\n            }}"
            )
            .unwrap();
        }
    }

    // Reading: JSON name and proto name both accepted; null leaves a field
    // unset; a field given twice and a second member of a oneof are errors.
    assert!(oneof_names.len() < 255, "{full_name} has too many oneofs");
    writeln!(
        out,
        "            Ok(())
        }}

        #[allow(unused_mut, unused_variables)]
        fn read_members(&mut self, reader: &mut crate::codegen::json::Reader<'_>, mut first: bool, in_any: bool) -> Result<(), crate::codegen::json::ReadError> {{
            let message = self;
            let mut seen = [false; {}];
            let mut oneofs_set = [false; {}];
            loop {{
                let index = match reader.member_name(&mut first)? {{
                    None => return Ok(()),
                    Some(name) => field_index(name.as_str()).ok_or_else(|| name.as_str().to_owned()),
                }};
                reader.colon()?;
                let (index, by_proto_name) = match index {{
                    Ok(found) => found,
                    Err(name) => {{
                        crate::codegen::json::unknown_member(reader, {full_name:?}, &name, in_any)?;
                        continue;
                    }}
                }};
                match index {{",
        fields.len().max(1),
        oneof_names.len(),
    )
    .unwrap();
    for (i, field) in fields.iter().enumerate() {
        let json = &field.json_name;
        // The name errors give: the one the input used.
        let named = if *json == field.name {
            format!("{json:?}")
        } else {
            format!(
                "if by_proto_name {{ {:?} }} else {{ {json:?} }}",
                field.name
            )
        };
        if let Storage::Member {
            oneof: group,
            variant,
        } = &field.storage
        {
            let v = if field.boxed { "Box::new(v)" } else { "v" };
            writeln!(
                out,
                "                    {i} => {{
                        crate::codegen::json::mark_seen(&mut seen, {i}, {json:?}, {named})?;
                        if let Some(v) = <{codec} as crate::codegen::json::Codec>::read(reader).map_err(|e| e.in_field({named}))? {{
                            crate::codegen::json::set_oneof(&mut oneofs_set, {group}, ONEOF_NAMES).map_err(|e| e.in_field({named}))?;
                            message.{oneof_field} = Some({variant}({v}));
                        }}
                    }}",
                codec = value_codec(&field.kind),
                oneof_field = field.holder,
            )
            .unwrap();
        } else {
            let name = &field.holder;
            let assign = if field.boxed {
                format!("message.{name} = Some(Box::new(v))")
            } else if matches!(field.storage, Storage::Optional) {
                format!("message.{name} = Some(v)")
            } else {
                format!("message.{name} = v")
            };
            writeln!(
                out,
                "                    {i} => {{
                        crate::codegen::json::mark_seen(&mut seen, {i}, {json:?}, {named})?;
                        if let Some(v) = <{codec} as crate::codegen::json::Codec>::read(reader).map_err(|e| e.in_field({named}))? {{ {assign}; }}
                    }}",
                codec = field_codec(field),
            )
            .unwrap();
        }
    }
    writeln!(
        out,
        "                    _ => unreachable!(\"field_index returns indexes of fields\"),
                }}
            }}
        }}
    }}

    impl crate::codegen::json::Sealed for {path} {{}}

    impl crate::codegen::json::ReadJson for {path} {{
        fn read_json(reader: &mut crate::codegen::json::Reader<'_>) -> Result<Self, crate::codegen::json::ReadError> {{
            let mut message = Self::default();
            Self::read_json_in_place(reader, &mut message)?;
            Ok(message)
        }}

        #[inline]
        fn read_json_in_place(reader: &mut crate::codegen::json::Reader<'_>, place: &mut Self) -> Result<(), crate::codegen::json::ReadError> {{
            crate::codegen::json::read_message(reader, place)
        }}
    }}

    impl crate::codegen::json::WriteJson for {path} {{
        fn write_json(&self, writer: &mut crate::codegen::json::Writer<'_>) -> Result<(), crate::codegen::json::WriteError> {{
            crate::codegen::json::write_message(self, writer)
        }}
    }}

    impl serde::Serialize for {path} {{
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{
            crate::codegen::json::serde_bridge::serialize(self, serializer)
        }}
    }}

    impl<'de> serde::Deserialize<'de> for {path} {{
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {{
            crate::codegen::json::serde_bridge::deserialize(deserializer)
        }}
    }}
}};"
    )
    .unwrap();
}

// ---------------------------------------------------------------------------
// Enums

pub(super) fn write_enum(out: &mut String, e: &EnumDescriptor) {
    let path = enum_path(e);
    // The names come from the descriptor, not from prost's `as_str_name`:
    // prost drops the aliases of `allow_alias` enums, which JSON readers must
    // accept. A number is written with the first name declared for it.
    let mut numbers = String::new();
    let mut names = String::new();
    let mut written = Vec::new();
    for value in e.values() {
        writeln!(
            names,
            "            {:?} => Some({}),",
            value.name(),
            value.number()
        )
        .unwrap();
        if !written.contains(&value.number()) {
            written.push(value.number());
            writeln!(
                numbers,
                "            {} => Some({:?}),",
                value.number(),
                value.name()
            )
            .unwrap();
        }
    }
    writeln!(
        out,
        "impl crate::codegen::json::ProtoEnum for {path} {{
    const FULL_NAME: &'static str = {:?};
    fn name_of(number: i32) -> ::core::option::Option<&'static str> {{
        match number {{
{numbers}            _ => None,
        }}
    }}
    fn number_of(name: &str) -> ::core::option::Option<i32> {{
        match name {{
{names}            _ => None,
        }}
    }}
}}
impl serde::Serialize for {path} {{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{
        serializer.serialize_str(self.as_str_name())
    }}
}}
impl<'de> serde::Deserialize<'de> for {path} {{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {{
        crate::codegen::json::serde_bridge::deserialize_enum(deserializer)
    }}
}}",
        e.full_name(),
    )
    .unwrap();
}
