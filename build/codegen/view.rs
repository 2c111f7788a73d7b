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

/// The block that refills `target` (an expression of type `&mut T`, `T`
/// the owned value) with the view's `value`, keeping the room it has:
/// strings and bytes are cleared and copied into, messages filled in place.
/// `None` for a kind that is copied in as it is.
fn refill(kind: &Kind, target: &str, value: &str) -> Option<String> {
    match kind {
        Kind::String => Some(format!(
            "{{ let m = {target}; m.clear(); m.push_str({value}); }}"
        )),
        Kind::Bytes => Some(format!(
            "{{ let m = {target}; m.clear(); m.extend_from_slice({value}); }}"
        )),
        Kind::Message(_) => Some(format!(
            "{{ crate::view::View::fill(&{value}, {target}); }}"
        )),
        _ => None,
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

/// Where each field's words are in its message's record (after the
/// header): one word for a singular field (its value, or its message's
/// record), two for a field with presence (set, value), a list or map
/// (first node and count, last node) and a oneof (case, value).
struct Layout {
    /// Each field's first word, by its place in `message.fields` (a oneof
    /// member's is its oneof's).
    fields: Vec<usize>,
    /// Each oneof's first word.
    oneofs: Vec<usize>,
    slots: usize,
}

/// The words a field not in a oneof takes in its message's record.
fn words(field: &Field) -> usize {
    match (&field.storage, &field.kind) {
        (Storage::Member { .. }, _) => 0,
        (Storage::Implicit | Storage::Optional, Kind::Message(_)) | (Storage::Implicit, _) => 1,
        _ => 2,
    }
}

impl Layout {
    fn of(message: &Message) -> Self {
        let oneof_base: usize = message.fields.iter().map(words).sum();
        let oneofs: Vec<usize> = (0..message.oneofs.len())
            .map(|i| oneof_base + 2 * i)
            .collect();
        let mut next = 0;
        let fields = message
            .fields
            .iter()
            .map(|field| match field.storage {
                Storage::Member { oneof, .. } => oneofs[oneof],
                _ => {
                    next += words(field);
                    next - words(field)
                }
            })
            .collect();
        Layout {
            fields,
            oneofs,
            slots: oneof_base + 2 * message.oneofs.len(),
        }
    }
}

pub(super) fn write_message(out: &mut String, message: &Message) {
    let path = &message.path;
    let name = to_upper_camel(message.descriptor.name());
    let proto_name = message.descriptor.name();
    let layout = Layout::of(message);

    // The struct: where it reads, and its record.
    writeln!(
        out,
        "{CFG}
/// A borrowed view of [`{name}`]: its encoding, checked, read where it is
/// (see [`crate::view`]).
#[derive(Clone, Copy)]
pub struct {name}View<'a> {{
    cx: crate::view::Cx<'a>,
    rec: usize,
}}
{CFG}
impl ::core::default::Default for {name}View<'_> {{
    /// The view of the empty message.
    fn default() -> Self {{
        Self {{ cx: crate::view::Cx::EMPTY, rec: crate::view::Cx::record(0) }}
    }}
}}
{CFG}
impl ::core::fmt::Debug for {name}View<'_> {{
    /// As the owned message prints.
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{
        f.write_str(\"{name}View \")?;
        ::core::fmt::Debug::fmt(&self.to_owned_message(), f)
    }}
}}"
    )
    .unwrap();

    // Accessors.
    writeln!(
        out,
        "{CFG}
#[allow(deprecated, unused_imports, unused_variables, dead_code, clippy::all)]
impl<'a> {name}View<'a> {{
    /// Checks `buf` as a `{proto_name}`: the answer's
    /// [`view()`](crate::view::Decoded::view) is its view.
    ///
    /// # Errors
    /// Bytes that are not the message's encoding (or nest more than
    /// [`crate::view::RECURSION_LIMIT`] deep), with the byte offset.
    pub fn decode_view(buf: &'a [u8]) -> ::core::result::Result<crate::view::Decoded<'a, {path}>, crate::view::DecodeViewError> {{
        crate::view::decode_view(buf)
    }}
    /// Checks `buf` as a `{proto_name}` into `arena` (emptied first, its
    /// room kept) and views it.
    ///
    /// # Errors
    /// As [`decode_view`](Self::decode_view).
    pub fn decode_view_in(buf: &'a [u8], arena: &'a mut crate::view::Arena) -> ::core::result::Result<Self, crate::view::DecodeViewError> {{
        crate::view::decode_view_in::<{path}>(buf, arena)
    }}
    /// The owned message, identical to decoding the bytes.
    pub fn to_owned_message(&self) -> {path} {{
        <Self as crate::view::View<'a>>::to_owned_message(self)
    }}
    /// The bytes the message was read from, as they came (to keep or
    /// pass on without encoding again), when they are one piece of the
    /// input: always for the message decoded and for those in repeated
    /// fields; `None` for a message field (or map value) sent more than
    /// once, whose parts merge.
    pub fn encoded(&self) -> ::core::option::Option<&'a [u8]> {{
        self.cx.encoded(self.rec)
    }}
    /// The fields the `.proto` does not define, as they came.
    pub fn unknown_fields(&self) -> crate::view::UnknownFields<'a> {{
        crate::view::UnknownFields::new(self.cx, self.rec, Self::known)
    }}
    #[inline]
    fn word(&self, slot: usize) -> u64 {{
        self.cx.word(self.rec + crate::view::HEADER + slot)
    }}"
    )
    .unwrap();
    for (index, field) in message.fields.iter().enumerate() {
        let ident = &field.holder;
        let proto = &field.name;
        let slot = layout.fields[index];
        let mark = marker(&field.kind);
        let code = match (&field.storage, &field.kind) {
            (Storage::Implicit | Storage::Optional, Kind::Message(m)) => format!(
                "    /// `{proto}`, when set.
    pub fn {ident}(&self) -> ::core::option::Option<{}> {{
        match self.word({slot}) {{
            0 => ::core::option::Option::None,
            w => ::core::option::Option::Some(<{mark} as crate::view::Kind<'a>>::from_word(self.cx, w)),
        }}
    }}",
                view_type(m)
            ),
            (Storage::Implicit, kind) => format!(
                "    /// `{proto}`.
    pub fn {ident}(&self) -> {} {{
        <{mark} as crate::view::Kind<'a>>::from_word(self.cx, self.word({slot}))
    }}",
                item_type(kind)
            ),
            (Storage::Optional, kind) => format!(
                "    /// `{proto}`, when set.
    pub fn {ident}(&self) -> ::core::option::Option<{}> {{
        (self.word({slot}) != 0).then(|| <{mark} as crate::view::Kind<'a>>::from_word(self.cx, self.word({slot} + 1)))
    }}",
                item_type(kind)
            ),
            (Storage::Packed | Storage::Repeated, _) => format!(
                "    /// `{proto}`.
    pub fn {ident}(&self) -> crate::view::Repeated<'a, {mark}> {{
        crate::view::Repeated::new(self.cx, self.word({slot}))
    }}"
            ),
            (Storage::Map(key, value), _) => format!(
                "    /// `{proto}`.
    pub fn {ident}(&self) -> crate::view::Map<'a, {}, {}> {{
        crate::view::Map::new(self.cx, self.word({slot}))
    }}",
                marker(key),
                marker(value)
            ),
            (Storage::Member { .. }, _) => continue,
        };
        writeln!(out, "{code}").unwrap();
    }
    for (index, oneof) in message.oneofs.iter().enumerate() {
        let slot = layout.oneofs[index];
        let mut arms = String::new();
        for field in message.members(index) {
            writeln!(
                arms,
                "            {} => ::core::option::Option::Some({}View::{}(<{} as crate::view::Kind<'a>>::from_word(self.cx, value))),",
                field.number,
                oneof.path,
                to_upper_camel(&field.name),
                marker(&field.kind)
            )
            .unwrap();
        }
        writeln!(
            out,
            "    /// The oneof `{}`, when a member is set.
    pub fn {}(&self) -> ::core::option::Option<{}View<'a>> {{
        let value = self.word({slot} + 1);
        match self.word({slot}) {{
{arms}            _ => ::core::option::Option::None,
        }}
    }}",
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
    writeln!(out, "            _ => false,\n        }}\n    }}\n}}").unwrap();

    writeln!(
        out,
        "{CFG}
impl crate::view::Viewed for {path} {{
    type View<'a> = {name}View<'a>;
}}"
    )
    .unwrap();
    // The trait: the walk that checks the bytes and fills the record, and
    // the owned message.
    writeln!(
        out,
        "{CFG}
#[allow(deprecated, unused_variables, unused_parens, clippy::all)]
impl<'a> crate::view::View<'a> for {name}View<'a> {{
    type Owned = {path};
    const NAME: &'static str = {proto_name:?};
    const SLOTS: usize = {};
    #[inline]
    fn at(cx: crate::view::Cx<'a>, rec: usize) -> Self {{
        Self {{ cx, rec }}
    }}
    fn walk(b: &mut crate::view::Builder<'a>, rec: usize, start: usize, end: usize, depth: u32) -> ::core::result::Result<(), crate::view::DecodeViewError> {{
        let base = rec + crate::view::HEADER;
        crate::view::fields(b, start, end, depth, |b, number, value, at| match number {{",
        layout.slots
    )
    .unwrap();
    for (index, field) in message.fields.iter().enumerate() {
        let slot = layout.fields[index];
        let number = field.number;
        let mark = marker(&field.kind);
        let call = match (&field.storage, &field.kind) {
            (Storage::Implicit | Storage::Optional, Kind::Message(_)) | (Storage::Implicit, _) => {
                format!("b.singular::<{mark}>(base + {slot}, value, at, depth)")
            }
            (Storage::Optional, _) => {
                format!("b.optional::<{mark}>(base + {slot}, value, at, depth)")
            }
            (Storage::Packed | Storage::Repeated, _) => {
                format!("b.repeated::<{mark}>(base + {slot}, value, at, depth)")
            }
            (Storage::Map(key, value), _) => format!(
                "b.map::<{}, {}>(base + {slot}, value, at, depth)",
                marker(key),
                marker(value)
            ),
            (Storage::Member { .. }, _) => {
                format!("b.oneof::<{mark}>(base + {slot}, {number}, value, at, depth)")
            }
        };
        writeln!(
            out,
            "            {number} => {call}.map_err(|e| e.within({proto_name:?}, {:?})),",
            to_snake(&field.name)
        )
        .unwrap();
    }
    writeln!(
        out,
        "            _ => b.unknown(),
        }})
    }}
    fn to_owned_message(&self) -> {path} {{
        let mut owned = {path}::default();
        crate::view::View::fill(self, &mut owned);
        owned
    }}
    fn fill(&self, into: &mut {path}) {{"
    )
    .unwrap();
    for field in message.declared().filter(|f| !f.in_oneof()) {
        let ident = &field.holder;
        let code = match (&field.storage, &field.kind) {
            (Storage::Implicit | Storage::Optional, kind @ Kind::Message(_)) => {
                let (new, inner) = if field.boxed {
                    (
                        "::prost::alloc::boxed::Box::new(v.to_owned_message())",
                        "&mut **m",
                    )
                } else {
                    ("v.to_owned_message()", "m")
                };
                let fill = refill(kind, inner, "v").unwrap_or_default();
                format!(
                    "match (self.{ident}(), &mut into.{ident}) {{
            (::core::option::Option::Some(v), ::core::option::Option::Some(m)) => {fill},
            (::core::option::Option::Some(v), slot) => *slot = ::core::option::Option::Some({new}),
            (::core::option::Option::None, slot) => *slot = ::core::option::Option::None,
        }}"
                )
            }
            (Storage::Implicit, kind) => {
                let value = format!("self.{ident}()");
                refill(kind, &format!("&mut into.{ident}"), &value)
                    .unwrap_or_else(|| format!("into.{ident} = {};", owned(kind, &value)))
            }
            (Storage::Optional, kind) => {
                format!(
                    "into.{ident} = self.{ident}().map(|v| {});",
                    owned(kind, "v")
                )
            }
            (Storage::Packed | Storage::Repeated, kind) => {
                // Strings, bytes and messages refill the values there are
                // (keeping their room); the rest are copied in.
                match refill(kind, "m", "v") {
                    Some(refill) => format!(
                        "let mut n = 0;
        for v in self.{ident}().iter() {{
            match into.{ident}.get_mut(n) {{
                ::core::option::Option::Some(m) => {refill},
                ::core::option::Option::None => into.{ident}.push({}),
            }}
            n += 1;
        }}
        into.{ident}.truncate(n);",
                        owned(kind, "v")
                    ),
                    None => format!(
                        "into.{ident}.clear();\n        into.{ident}.extend(self.{ident}().iter());"
                    ),
                }
            }
            (Storage::Map(k, v), _) => {
                // The entries there were give their keys and values to the
                // new ones, in order, to refill (a map keeps no room of its
                // own to reuse).
                // A scalar is taken from the new entry as it is: only strings,
                // bytes and messages refill what the old entry held.
                let part =
                    |kind: &Kind, m: &str, v: &str| match refill(kind, &format!("&mut {m}"), v) {
                        Some(fill) => (format!("mut {m}"), fill),
                        None => ("_".to_owned(), format!("let {m} = {v};")),
                    };
                let (key_pattern, key_fill) = part(k, "key", "k");
                let (value_pattern, value_fill) = part(v, "value", "v");
                // The same keys as the map holds, sent in its order (a
                // stream of like messages): each value refilled where it
                // is, and no entry made anew. One pass: at the first key
                // that differs, the map is built anew from the entries
                // there are (those refilled already are refilled again).
                let value_in_place = refill(v, "m", "v").unwrap_or_else(|| "*m = v".to_owned());
                format!(
                    "let mut same = into.{ident}.len() == self.{ident}().len();
        if same {{
            for ((a, m), (k, v)) in into.{ident}.iter_mut().zip(self.{ident}().iter()) {{
                if *a != k {{
                    same = false;
                    break;
                }}
                {value_in_place};
            }}
        }}
        if !same {{
            let mut old = ::core::mem::take(&mut into.{ident}).into_iter();
            for (k, v) in self.{ident}().iter() {{
                let ({key_pattern}, {value_pattern}) = old.next().unwrap_or_default();
                {key_fill}
                {value_fill}
                into.{ident}.insert(key, value);
            }}
        }}"
                )
            }
            (Storage::Member { .. }, _) => continue,
        };
        writeln!(out, "        {code}").unwrap();
    }
    for (index, oneof) in message.oneofs.iter().enumerate() {
        let ident = &oneof.holder;
        let mut arms = String::new();
        for field in message.members(index) {
            let variant = to_upper_camel(&field.name);
            let view = format!("{}View::{variant}", oneof.path);
            let owned_variant = format!("{}::{variant}", oneof.path);
            let (boxed_new, inner) = if field.boxed {
                (
                    format!(
                        "::prost::alloc::boxed::Box::new({})",
                        owned(&field.kind, "v")
                    ),
                    "&mut **m",
                )
            } else {
                (owned(&field.kind, "v"), "m")
            };
            let arm = match refill(&field.kind, inner, "v") {
                Some(refill) => format!(
                    "::core::option::Option::Some({view}(v)) => match &mut into.{ident} {{
                ::core::option::Option::Some({owned_variant}(m)) => {refill},
                slot => *slot = ::core::option::Option::Some({owned_variant}({boxed_new})),
            }},"
                ),
                None => format!(
                    "::core::option::Option::Some({view}(v)) => into.{ident} = ::core::option::Option::Some({owned_variant}({boxed_new})),"
                ),
            };
            writeln!(arms, "            {arm}").unwrap();
        }
        writeln!(
            out,
            "        match self.{ident}() {{
{arms}            ::core::option::Option::None => into.{ident} = ::core::option::Option::None,
        }}"
        )
        .unwrap();
    }
    writeln!(
        out,
        "        into.{0} = self.unknown_fields().to_owned_fields();
    }}
}}",
        super::types::UNKNOWN_FIELDS
    )
    .unwrap();
    // Reusable owned decoding, through the view.
    writeln!(
        out,
        "{CFG}
impl {path} {{
    /// Replaces the message with the decoding of `buf`, keeping the room it
    /// can: its strings, bytes and lists, and the messages in its lists
    /// and singular message fields, are refilled in place (a map is built
    /// anew from the old entries' keys and values, refilled; the unknown
    /// fields are made anew). The result is exactly
    /// `{name}::decode(buf)`; on an error the message is left unchanged.
    /// Unlike `merge`, nothing of the message before is kept.
    ///
    /// The bytes are checked and read through a [`{name}View`] (see
    /// [`crate::view`]); [`clear_and_parse_in`](Self::clear_and_parse_in)
    /// reuses its arena too.
    ///
    /// # Errors
    /// Bytes that are not the message's encoding, with the byte offset.
    pub fn clear_and_parse(&mut self, buf: &[u8]) -> ::core::result::Result<(), crate::view::DecodeViewError> {{
        self.clear_and_parse_in(buf, &mut crate::view::Arena::new())
    }}
    /// [`clear_and_parse`](Self::clear_and_parse), with `arena` for the
    /// view (emptied first, its room kept): a loop that decodes message
    /// after message into one allocates little after the first.
    ///
    /// # Errors
    /// As [`clear_and_parse`](Self::clear_and_parse).
    pub fn clear_and_parse_in(&mut self, buf: &[u8], arena: &mut crate::view::Arena) -> ::core::result::Result<(), crate::view::DecodeViewError> {{
        crate::view::clear_and_parse_in(self, buf, arena)
    }}
}}"
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
#[derive(Clone, Copy, Debug)]
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
