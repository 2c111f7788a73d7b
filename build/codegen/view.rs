//! Each message's borrowed view (`<Message>View<'a>`, feature `views`) and
//! each oneof's (`<Oneof>View<'a>`): the struct with the singular fields read
//! where they are, the accessors (repeated and map fields as
//! `crate::view::Repeated` and `Map`, walked when iterated), the check of the
//! bytes, and the way back to the owned message. The runtime side is
//! `src/view.rs`.

use std::fmt::Write as _;

use protox::prost_reflect::Kind;

use super::model::{Field, Message, Storage, is_packable};
use super::naming::{to_snake, to_upper_camel};

const CFG: &str = "#[cfg(feature = \"views\")]";

/// The `crate::view` marker reading one value of a kind.
fn marker(kind: &Kind) -> String {
    let name = match kind {
        Kind::Double => "Double",
        Kind::Float => "Float",
        Kind::Int32 | Kind::Enum(_) => "Int32",
        Kind::Int64 => "Int64",
        Kind::Uint32 => "Uint32",
        Kind::Uint64 => "Uint64",
        Kind::Sint32 => "Sint32",
        Kind::Sint64 => "Sint64",
        Kind::Fixed32 => "Fixed32",
        Kind::Fixed64 => "Fixed64",
        Kind::Sfixed32 => "Sfixed32",
        Kind::Sfixed64 => "Sfixed64",
        Kind::Bool => "Bool",
        Kind::String => "Str",
        Kind::Bytes => "Bytes",
        Kind::Message(m) => return format!("crate::view::Message<{}>", view_type(m)),
    };
    format!("crate::view::{name}")
}

/// The view type of a message, with its lifetime.
fn view_type(message: &protox::prost_reflect::MessageDescriptor) -> String {
    format!("{}View<'a>", super::naming::message_path(message))
}

/// The type a view gives one value of a kind as.
fn item_type(kind: &Kind) -> String {
    match kind {
        Kind::String => "&'a str".into(),
        Kind::Bytes => "&'a [u8]".into(),
        Kind::Message(m) => view_type(m),
        other => super::types::value_type(other),
    }
}

/// The owned value of a view's value `v` of a kind.
fn owned(kind: &Kind, v: &str) -> String {
    match kind {
        Kind::String => format!("::prost::alloc::string::String::from({v})"),
        Kind::Bytes => format!("{v}.to_vec()"),
        Kind::Message(_) => format!("{v}.to_owned_message()"),
        _ => v.to_owned(),
    }
}

/// The wire type a kind's values come with, as a number.
fn natural_wire(kind: &Kind) -> u8 {
    super::binary::Wire::of(kind) as u8
}

/// The wire type numbers a known field may come with (others make it an
/// unknown field, as owned decoding does).
fn wire_types(field: &Field) -> String {
    let natural = natural_wire(&field.kind);
    let list = matches!(field.storage, Storage::Packed | Storage::Repeated);
    if list && is_packable(&field.kind) {
        format!("wire == {natural} || wire == 2")
    } else if matches!(field.storage, Storage::Map(..)) {
        "wire == 2".into()
    } else {
        format!("wire == {natural}")
    }
}

/// The struct member holding where a repeated or map field's records are.
fn span(field: &Field) -> String {
    format!("s_{}", field.holder.trim_start_matches("r#"))
}

/// The struct member holding a singular field.
fn member(field: &Field) -> String {
    format!("f_{}", field.holder.trim_start_matches("r#"))
}

/// The check of one value of a kind, `b` its bytes at `at` (length-delimited
/// kinds only; `None` for the others, which need none beyond the wire's).
fn check_value(kind: &Kind, depth: &str) -> Option<String> {
    match kind {
        Kind::String => Some("crate::view::check_str(b, at)".into()),
        Kind::Message(m) => Some(format!(
            "crate::view::check_nested::<{}>(b, at, {depth})",
            view_type(m)
        )),
        _ => None,
    }
}

pub(super) fn write_message(out: &mut String, message: &Message) {
    let path = &message.path;
    let name = to_upper_camel(message.descriptor.name());
    let proto_name = message.descriptor.name();
    let singular: Vec<&Field> = message
        .fields
        .iter()
        .filter(|f| matches!(f.storage, Storage::Implicit | Storage::Optional))
        .collect();

    // The struct.
    writeln!(
        out,
        "{CFG}
/// A borrowed view of [`{name}`]: its encoding, checked, read where it is
/// (see [`crate::view`]).
#[derive(Clone, Debug, Default)]
pub struct {name}View<'a> {{
    parts: crate::view::Parts<'a>,"
    )
    .unwrap();
    for field in &singular {
        let ty = item_type(&field.kind);
        let ty = match (&field.storage, &field.kind) {
            (Storage::Optional, _) => format!("::core::option::Option<{ty}>"),
            _ => ty,
        };
        writeln!(out, "    {}: {ty},", member(field)).unwrap();
    }
    for field in &message.fields {
        if matches!(
            field.storage,
            Storage::Packed | Storage::Repeated | Storage::Map(..)
        ) {
            writeln!(out, "    {}: crate::view::Span,", span(field)).unwrap();
        }
    }
    for oneof in &message.oneofs {
        writeln!(
            out,
            "    o_{}: ::core::option::Option<{}View<'a>>,",
            oneof.holder.trim_start_matches("r#"),
            oneof.path
        )
        .unwrap();
    }
    writeln!(out, "}}").unwrap();

    // Accessors.
    writeln!(
        out,
        "{CFG}
#[allow(deprecated, unused_imports, unused_variables, clippy::all)]
impl<'a> {name}View<'a> {{
    /// Checks `buf` as a `{proto_name}` and views it.
    ///
    /// # Errors
    /// Bytes that are not the message's encoding (or nest more than
    /// [`crate::view::RECURSION_LIMIT`] deep), with the byte offset.
    pub fn decode_view(buf: &'a [u8]) -> ::core::result::Result<Self, crate::view::DecodeViewError> {{
        crate::view::decode_view(buf)
    }}
    /// The owned message, identical to decoding the bytes.
    pub fn to_owned_message(&self) -> {path} {{
        <Self as crate::view::View<'a>>::to_owned_message(self)
    }}
    /// The fields the `.proto` does not define, as they came.
    pub fn unknown_fields(&self) -> crate::view::UnknownFields<'a> {{
        crate::view::UnknownFields::new(&self.parts, Self::known)
    }}"
    )
    .unwrap();
    for field in &message.fields {
        let ident = &field.holder;
        let proto = &field.name;
        let number = field.number;
        let code = match &field.storage {
            Storage::Implicit => {
                let ty = item_type(&field.kind);
                format!(
                    "    /// `{proto}`.\n    pub fn {ident}(&self) -> {ty} {{ self.{} }}",
                    member(field)
                )
            }
            Storage::Optional => match &field.kind {
                Kind::Message(_) => format!(
                    "    /// `{proto}`, when set.\n    pub fn {ident}(&self) -> ::core::option::Option<&{}> {{ self.{}.as_ref() }}",
                    item_type(&field.kind),
                    member(field)
                ),
                other => format!(
                    "    /// `{proto}`, when set.\n    pub fn {ident}(&self) -> ::core::option::Option<{}> {{ self.{} }}",
                    item_type(other),
                    member(field)
                ),
            },
            Storage::Packed | Storage::Repeated => format!(
                "    /// `{proto}`, walked as it is iterated.\n    pub fn {ident}(&self) -> crate::view::Repeated<'a, {}> {{ crate::view::Repeated::new(&self.parts, {number}, self.{}) }}",
                marker(&field.kind),
                span(field)
            ),
            Storage::Map(key, value) => format!(
                "    /// `{proto}`, walked as it is iterated.\n    pub fn {ident}(&self) -> crate::view::Map<'a, {}, {}> {{ crate::view::Map::new(&self.parts, {number}, self.{}) }}",
                marker(key),
                marker(value),
                span(field)
            ),
            Storage::Member { .. } => continue,
        };
        writeln!(out, "{code}").unwrap();
    }
    for oneof in &message.oneofs {
        let bare = oneof.holder.trim_start_matches("r#");
        writeln!(
            out,
            "    /// The oneof `{}`, when a member is set.\n    pub fn {}(&self) -> ::core::option::Option<&{}View<'a>> {{ self.o_{bare}.as_ref() }}",
            oneof.descriptor.name(),
            oneof.holder,
            oneof.path
        )
        .unwrap();
    }
    // Which fields are known, as owned decoding tells them from unknown
    // ones.
    writeln!(
        out,
        "    fn known(number: u32, wire: u8) -> bool {{\n        match number {{"
    )
    .unwrap();
    for field in &message.fields {
        writeln!(
            out,
            "            {} => {},",
            field.number,
            wire_types(field)
        )
        .unwrap();
    }
    writeln!(out, "            _ => false,\n        }}\n    }}").unwrap();
    // Reading one field of checked bytes into the struct.
    writeln!(
        out,
        "    fn read(&mut self, number: u32, value: crate::view::Wire<'a>, at: crate::view::FieldSpan) {{
        use crate::view::Kind as _;
        match number {{"
    )
    .unwrap();
    for field in &message.fields {
        let number = field.number;
        let mark = marker(&field.kind);
        let code = match (&field.storage, &field.kind) {
            (Storage::Implicit | Storage::Optional, Kind::Message(_)) => format!(
                "if let crate::view::Wire::Bytes(b) = value {{ crate::view::merge_message(&mut self.{}, b); }}",
                member(field)
            ),
            (Storage::Implicit, _) => format!(
                "if let ::core::option::Option::Some(v) = <{mark}>::read(&value) {{ self.{} = v; }}",
                member(field)
            ),
            (Storage::Optional, _) => format!(
                "if let ::core::option::Option::Some(v) = <{mark}>::read(&value) {{ self.{} = ::core::option::Option::Some(v); }}",
                member(field)
            ),
            (Storage::Member { oneof, variant }, kind) => {
                let slot = format!(
                    "self.o_{}",
                    message.oneofs[*oneof].holder.trim_start_matches("r#")
                );
                let field_variant = variant.rsplit("::").next().unwrap_or_default();
                let variant = format!("{}View::{field_variant}", message.oneofs[*oneof].path);
                match kind {
                    Kind::Message(_) => format!(
                        "if let crate::view::Wire::Bytes(b) = value {{
                match &mut {slot} {{
                    ::core::option::Option::Some({variant}(v)) => crate::view::View::merge_checked(v, b),
                    _ => {slot} = ::core::option::Option::Some({variant}(crate::view::View::from_checked(crate::view::Parts::One(b)))),
                }}
            }}"
                    ),
                    _ => format!(
                        "if let ::core::option::Option::Some(v) = <{mark}>::read(&value) {{ {slot} = ::core::option::Option::Some({variant}(v)); }}"
                    ),
                }
            }
            (Storage::Packed | Storage::Repeated | Storage::Map(..), _) => {
                format!("self.{}.note(at);", span(field))
            }
        };
        writeln!(out, "            {number} => {{ {code} }}").unwrap();
    }
    writeln!(out, "            _ => {{}}\n        }}\n    }}\n}}").unwrap();

    writeln!(
        out,
        "{CFG}
impl crate::view::Viewed for {path} {{
    type View<'a> = {name}View<'a>;
}}"
    )
    .unwrap();
    // The trait: checking, making, merging, owning.
    writeln!(
        out,
        "{CFG}
#[allow(deprecated, unused_variables, unused_parens, clippy::all)]
impl<'a> crate::view::View<'a> for {name}View<'a> {{
    type Owned = {path};
    const NAME: &'static str = {proto_name:?};
    fn check(buf: &'a [u8], at: usize, depth: u32) -> ::core::result::Result<(), crate::view::DecodeViewError> {{
        crate::view::check_fields(buf, at, depth, |number, value, at| {{
            let b = match value {{
                crate::view::Wire::Bytes(b) => b,
                _ => return ::core::result::Result::Ok(()),
            }};
            let checked = match number {{"
    )
    .unwrap();
    for field in &message.fields {
        let number = field.number;
        let check = match &field.storage {
            Storage::Map(key, value) => {
                // A key or value with another wire type is an error (owned
                // decoding's map reader does not skip it).
                let wrong = format!(
                    "(1, v) if v.wire_type() != {} => ::core::result::Result::Err(crate::view::DecodeViewError::new(at, \"invalid wire type for a map entry's key\")),
                        (2, v) if v.wire_type() != {} => ::core::result::Result::Err(crate::view::DecodeViewError::new(at, \"invalid wire type for a map entry's value\")),",
                    natural_wire(key),
                    natural_wire(value)
                );
                let key = check_value(key, "depth")
                    .map(|c| format!("(1, crate::view::Wire::Bytes(b)) => {c},"))
                    .unwrap_or_default();
                let value = check_value(value, "depth")
                    .map(|c| format!("(2, crate::view::Wire::Bytes(b)) => {c},"))
                    .unwrap_or_default();
                let key = format!("{wrong}\n                        {key}");
                Some(format!(
                    "if depth == 0 {{
                    ::core::result::Result::Err(crate::view::DecodeViewError::new(at, \"recursion limit reached\"))
                }} else {{
                    let depth = depth - 1;
                    crate::view::check_fields(b, at, depth, |number, value, at| match (number, value) {{
                        {key}
                        {value}
                        _ => ::core::result::Result::Ok(()),
                    }})
                }}"
                ))
            }
            Storage::Packed | Storage::Repeated if is_packable(&field.kind) => Some(format!(
                "crate::view::check_packed(b, at, {})",
                super::binary::packed_width(&field.kind)
            )),
            _ => check_value(&field.kind, "depth"),
        };
        if let Some(check) = check {
            writeln!(
                out,
                "                {number} => ({check}).map_err(|e| e.within({proto_name:?}, {:?})),",
                to_snake(&field.name)
            )
            .unwrap();
        }
    }
    writeln!(
        out,
        "                _ => ::core::result::Result::Ok(()),
            }};
            checked
        }})
    }}
    fn from_checked(parts: crate::view::Parts<'a>) -> Self {{
        let mut view = Self::default();
        if let crate::view::Parts::One(bytes) = parts {{
            let mut fields = crate::view::Fields::new(bytes);
            while let ::core::option::Option::Some((number, value, at)) = fields.next_spanned() {{
                view.read(number, value, at);
            }}
        }} else {{
            for part in parts.slices() {{
                view.merge_checked(part);
            }}
        }}
        view.parts = parts;
        view
    }}
    fn merge_checked(&mut self, more: &'a [u8]) {{
        self.parts.push(more);
        let mut fields = crate::view::Fields::new(more);
        while let ::core::option::Option::Some((number, value, at)) = fields.next_spanned() {{
            self.read(number, value, at);
        }}
    }}
    fn to_owned_message(&self) -> {path} {{
        {path} {{"
    )
    .unwrap();
    for field in message.declared().filter(|f| !f.in_oneof()) {
        let ident = &field.holder;
        let value = match (&field.storage, &field.kind) {
            (Storage::Implicit, kind) => owned(kind, &format!("self.{}", member(field))),
            (Storage::Optional, kind) => format!(
                "self.{}.as_ref().map(|v| {})",
                member(field),
                owned(kind, "(*v)")
            ),
            (Storage::Packed | Storage::Repeated, kind) => format!(
                "self.{ident}().iter().map(|v| {}).collect()",
                owned(kind, "v")
            ),
            (Storage::Map(k, v), _) => format!(
                "self.{ident}().iter().map(|(k, v)| ({}, {})).collect()",
                owned(k, "k"),
                owned(v, "v")
            ),
            (Storage::Member { .. }, _) => continue,
        };
        writeln!(out, "            {ident}: {value},").unwrap();
    }
    for (index, oneof) in message.oneofs.iter().enumerate() {
        let bare = oneof.holder.trim_start_matches("r#");
        let mut arms = String::new();
        for field in message.members(index) {
            let variant = to_upper_camel(&field.name);
            writeln!(
                arms,
                "                {}View::{variant}(v) => {}::{variant}({}),",
                oneof.path,
                oneof.path,
                owned(&field.kind, "(*v)")
            )
            .unwrap();
        }
        writeln!(
            out,
            "            {}: self.o_{bare}.as_ref().map(|o| match o {{\n{arms}            }}),",
            oneof.holder
        )
        .unwrap();
    }
    writeln!(
        out,
        "            {}: self.unknown_fields().to_owned_fields(),
        }}
    }}
}}",
        super::types::UNKNOWN_FIELDS
    )
    .unwrap();
}

/// A oneof's view: an enum of its members' view values, beside the oneof's
/// enum (in the message's module).
pub(super) fn write_oneof(out: &mut String, message: &Message, index: usize) {
    let oneof = &message.oneofs[index];
    let name = oneof.path.rsplit("::").next().unwrap_or_default();
    writeln!(
        out,
        "{CFG}
/// A borrowed view of [`{name}`]'s value.
#[derive(Clone, Debug)]
pub enum {name}View<'a> {{"
    )
    .unwrap();
    for field in message.members(index) {
        writeln!(
            out,
            "    /// `{}`.\n    {}({}),",
            field.name,
            to_upper_camel(&field.name),
            item_type(&field.kind)
        )
        .unwrap();
    }
    writeln!(out, "}}").unwrap();
}
