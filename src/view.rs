//! Borrowed views of encoded messages (feature `views`): read a message
//! where its bytes are, allocating nothing per field.
//!
//! Every message `M` of the crate has an `MView<'a>` beside it, made by
//! `MView::decode_view(&bytes)` and turned into the owned message by
//! `to_owned_message()` (the names of the `buffa` crate's views). A view:
//!
//! - is checked whole when it is made, with the limits and checks of an owned
//!   decode (the wire format, lengths, nesting to 100 messages deep, UTF-8 of
//!   `string` fields); an error says the byte offset and the field;
//! - gives `string` and `bytes` fields as `&'a str` and `&'a [u8]` borrowed from
//!   the input, scalars by value, and singular message fields (and oneof
//!   members) as views;
//! - gives repeated and map fields as [`Repeated`] and [`Map`], which walk the
//!   bytes as they are iterated and collect nothing (a map's entries come in
//!   wire order, each key as often as it was sent; the owned map keeps the
//!   last);
//! - keeps unknown fields reachable: `unknown_fields()` iterates them as
//!   [`UnknownField`]s, and `to_owned_message()` keeps them as an owned decode
//!   does.
//!
//! Which to pick: a view to read some fields of many messages (a relay, a
//! filter, a store that keeps the bytes), an owned message to keep or change
//! one, and `clear()` then `merge()` on one owned message to decode many in
//! turn into it (its own strings and lists keep their room; the messages in
//! its lists are made anew).
//!
//! ```
//! use cloud_report_proto::google::api::servicecontrol::v1::{
//!     Operation, ReportRequest, ReportRequestView,
//! };
//! use prost::Message;
//!
//! let bytes = ReportRequest {
//!     service_name: "my-api.example.com".into(),
//!     operations: vec![Operation {
//!         operation_id: "op-1".into(),
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! }
//! .encode_to_vec();
//! let view = ReportRequestView::decode_view(&bytes)?;
//! assert_eq!(view.service_name(), "my-api.example.com");
//! let ids: Vec<&str> = view.operations().iter().map(|op| op.operation_id()).collect();
//! assert_eq!(ids, ["op-1"]);
//! assert_eq!(view.to_owned_message(), ReportRequest::decode(&bytes[..])?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use crate::wire::{UnknownField, UnknownValue};

/// How deep messages may nest, as for an owned decode (prost's limit).
pub const RECURSION_LIMIT: u32 = 100;

/// Why bytes are not a message, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeViewError {
    offset: usize,
    reason: &'static str,
    /// The fields from the outermost message in, as `Message.field`.
    path: Vec<(&'static str, &'static str)>,
}

impl DecodeViewError {
    pub(crate) fn new(offset: usize, reason: &'static str) -> Self {
        Self {
            offset,
            reason,
            path: Vec::new(),
        }
    }

    /// Adds the field the error was found in (innermost first).
    pub(crate) fn within(mut self, message: &'static str, field: &'static str) -> Self {
        self.path.insert(0, (message, field));
        self
    }

    /// The byte offset, from the start of the bytes given to `decode_view`.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What was wrong.
    pub fn reason(&self) -> &str {
        self.reason
    }
}

impl std::fmt::Display for DecodeViewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "failed to decode Protobuf message at byte {}: {}",
            self.offset, self.reason
        )?;
        for (i, (message, field)) in self.path.iter().enumerate() {
            let sep = if i == 0 { " (in " } else { ", " };
            write!(f, "{sep}{message}.{field}")?;
        }
        if !self.path.is_empty() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeViewError {}

/// A value as the wire carries it (for the generated views).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    /// A group's content, between its start and end keys.
    Group(&'a [u8]),
    Fixed32(u32),
}

impl Wire<'_> {
    /// The wire type's number.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Bytes(_) => 2,
            Wire::Group(_) => 3,
            Wire::Fixed32(_) => 5,
        }
    }
}

#[inline(always)]
fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    // Most varints (keys, lengths, small numbers) are one byte.
    if let Some(&byte) = buf.get(*pos)
        && byte < 0x80
    {
        *pos += 1;
        return Some(u64::from(byte));
    }
    varint_slow(buf, pos)
}

/// A longer varint: prost's reader, on the rest of the bytes.
#[inline(never)]
fn varint_slow(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut rest = buf.get(*pos..)?;
    let value = prost::encoding::decode_varint(&mut rest).ok()?;
    *pos = buf.len() - rest.len();
    Some(value)
}

/// Reads one field at `pos` (advanced past it): its number, value and the
/// offset of its value; `Err` with the reason when the bytes are not a
/// field. `depth` bounds groups nested in groups.
#[inline]
fn field<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    depth: u32,
) -> Result<(u32, Wire<'a>, usize), &'static str> {
    let key = varint(buf, pos).ok_or("invalid varint")?;
    let key = u32::try_from(key).map_err(|_| "invalid key value")?;
    let number = key >> 3;
    if number == 0 {
        return Err("invalid tag value: 0");
    }
    let at = *pos;
    let value = match key & 7 {
        0 => Wire::Varint(varint(buf, pos).ok_or("invalid varint")?),
        1 => {
            let bytes = buf.get(*pos..*pos + 8).ok_or("buffer underflow")?;
            *pos += 8;
            Wire::Fixed64(u64::from_le_bytes(bytes.try_into().unwrap_or_default()))
        }
        2 => {
            let len = varint(buf, pos).ok_or("invalid varint")?;
            let len = usize::try_from(len).map_err(|_| "buffer underflow")?;
            let end = pos.checked_add(len).ok_or("buffer underflow")?;
            let bytes = buf.get(*pos..end).ok_or("buffer underflow")?;
            *pos = end;
            Wire::Bytes(bytes)
        }
        3 => {
            if depth == 0 {
                return Err("recursion limit reached");
            }
            let start = *pos;
            loop {
                let before = *pos;
                let inner = varint(buf, pos).ok_or("invalid varint")?;
                if inner & 7 == 4 {
                    if inner >> 3 != u64::from(number) {
                        return Err("unexpected end group tag");
                    }
                    break Wire::Group(&buf[start..before]);
                }
                *pos = before;
                field(buf, pos, depth - 1)?;
            }
        }
        5 => {
            let bytes = buf.get(*pos..*pos + 4).ok_or("buffer underflow")?;
            *pos += 4;
            Wire::Fixed32(u32::from_le_bytes(bytes.try_into().unwrap_or_default()))
        }
        4 => return Err("unexpected end group tag"),
        _ => return Err("invalid wire type value"),
    };
    Ok((number, value, at))
}

/// Checks every field of `buf` (at byte `base` of the input), handing each
/// to `check` with the offset of its value.
pub(crate) fn check_fields<'a>(
    buf: &'a [u8],
    base: usize,
    depth: u32,
    mut check: impl FnMut(u32, Wire<'a>, usize) -> Result<(), DecodeViewError>,
) -> Result<(), DecodeViewError> {
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let (number, value, at) =
            field(buf, &mut pos, depth).map_err(|why| DecodeViewError::new(base + start, why))?;
        // A length-delimited value's offset is its content's, after the
        // length.
        let at = match value {
            Wire::Bytes(bytes) => pos - bytes.len(),
            _ => at,
        };
        check(number, value, base + at)?;
    }
    Ok(())
}

/// Checks that a `string` field's bytes are UTF-8.
pub(crate) fn check_str(bytes: &[u8], at: usize) -> Result<(), DecodeViewError> {
    std::str::from_utf8(bytes).map(|_| ()).map_err(|e| {
        DecodeViewError::new(
            at + e.valid_up_to(),
            "invalid string value: data is not UTF-8 encoded",
        )
    })
}

/// Checks a packed list's bytes: whole values of `width` bytes, or whole
/// varints (`width` 0).
pub(crate) fn check_packed(bytes: &[u8], at: usize, width: usize) -> Result<(), DecodeViewError> {
    if width > 0 {
        return if bytes.len().is_multiple_of(width) {
            Ok(())
        } else {
            Err(DecodeViewError::new(
                at,
                "packed list of fixed-width values is not whole",
            ))
        };
    }
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        varint(bytes, &mut pos)
            .ok_or_else(|| DecodeViewError::new(at + start, "invalid varint"))?;
    }
    Ok(())
}

/// The fields of checked bytes, in order (stops at anything malformed,
/// which checked bytes never are).
#[derive(Clone)]
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
}

impl<'a> Fields<'a> {
    /// The next field, with its value's bytes as they came.
    fn next_raw(&mut self) -> Option<(u32, Wire<'a>, &'a [u8])> {
        self.next_spanned()
            .map(|(number, value, span)| (number, value, &self.buf[span.value..span.end]))
    }

    /// The next field, with where it is.
    pub(crate) fn next_spanned(&mut self) -> Option<(u32, Wire<'a>, FieldSpan)> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        match field(self.buf, &mut self.pos, RECURSION_LIMIT) {
            Ok((number, value, at)) => Some((
                number,
                value,
                FieldSpan {
                    start,
                    value: at,
                    end: self.pos,
                },
            )),
            Err(_) => {
                self.pos = self.buf.len();
                None
            }
        }
    }
}

/// Where a field is in its message's bytes: its key, its value, its end.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct FieldSpan {
    start: usize,
    value: usize,
    end: usize,
}

/// Where a repeated or map field's records are in a message's bytes (one
/// part's): from the first's start to the last's end, so that walking them
/// skips the rest of the message.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// Takes in one more record of the field.
    pub fn note(&mut self, field: FieldSpan) {
        if self.end == 0 {
            self.start = field.start;
        }
        self.end = field.end;
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (u32, Wire<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        self.next_raw().map(|(number, value, _)| (number, value))
    }
}

/// Where a message's bytes are: one slice, or several when a singular
/// message field arrived more than once (its occurrences merge), which
/// encoders do not do and which costs one small allocation.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub enum Parts<'a> {
    One(&'a [u8]),
    Many(Arc<Vec<&'a [u8]>>),
}

impl Default for Parts<'_> {
    fn default() -> Self {
        Parts::One(&[])
    }
}

impl<'a> Parts<'a> {
    /// Adds another occurrence's bytes after these.
    pub(crate) fn push(&mut self, more: &'a [u8]) {
        *self = match std::mem::take(self) {
            Parts::One([]) => Parts::One(more),
            Parts::One(first) => Parts::Many(Arc::new(vec![first, more])),
            Parts::Many(mut all) => {
                Arc::make_mut(&mut all).push(more);
                Parts::Many(all)
            }
        };
    }

    pub(crate) fn slices(&self) -> &[&'a [u8]] {
        match self {
            Parts::One(one) => std::slice::from_ref(one),
            Parts::Many(all) => all,
        }
    }

    /// Every field of every part, in order.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (u32, Wire<'a>)> + '_ {
        self.slices().iter().flat_map(|part| Fields::new(part))
    }

    /// The fields within `span` of a single part (all of every part when
    /// there are several: spans are of the first alone).
    fn fields_in(&self, span: Span) -> impl Iterator<Item = (u32, Wire<'a>)> + '_ {
        let one = matches!(self, Parts::One(_));
        self.slices().iter().flat_map(move |part| {
            let part = if one {
                part.get(span.start..span.end).unwrap_or_default()
            } else {
                part
            };
            Fields::new(part)
        })
    }

    /// Every field of every part, in order, with its value's bytes as they
    /// came.
    fn raw_fields(&self) -> impl Iterator<Item = (u32, Wire<'a>, &'a [u8])> + '_ {
        self.slices().iter().flat_map(|part| {
            let mut fields = Fields::new(part);
            std::iter::from_fn(move || fields.next_raw())
        })
    }
}

/// How a kind of field value is read from the wire: the markers of
/// [`Repeated`] and [`Map`] (one per protobuf scalar kind, and
/// [`Message`] for a message's view).
pub trait Kind<'a> {
    /// The value read.
    type Item;
    /// Reads a value carried as `value` (checked already); `None` for a
    /// value of another wire type.
    #[doc(hidden)]
    fn read(value: &Wire<'a>) -> Option<Self::Item>;
    /// The width of one packed value (0 for varints); `None` when the kind
    /// is never packed.
    #[doc(hidden)]
    const PACKED_WIDTH: Option<usize>;
    /// Reads one packed value at the front of `bytes`.
    #[doc(hidden)]
    fn read_packed(bytes: &mut &'a [u8]) -> Option<Self::Item>;
}

macro_rules! varint_kind {
    ($(#[$doc:meta] $name:ident => $t:ty, |$v:ident| $convert:expr;)*) => {$(
        #[$doc]
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl<'a> Kind<'a> for $name {
            type Item = $t;
            fn read(value: &Wire<'a>) -> Option<$t> {
                match *value {
                    Wire::Varint($v) => Some($convert),
                    _ => None,
                }
            }
            const PACKED_WIDTH: Option<usize> = Some(0);
            fn read_packed(bytes: &mut &'a [u8]) -> Option<$t> {
                let mut pos = 0;
                let $v = varint(bytes, &mut pos)?;
                *bytes = &bytes[pos..];
                Some($convert)
            }
        }
    )*};
}

varint_kind! {
    /// `int32`, and enums (their numbers).
    Int32 => i32, |v| v as i32;
    /// `int64`.
    Int64 => i64, |v| v as i64;
    /// `uint32`.
    Uint32 => u32, |v| v as u32;
    /// `uint64`.
    Uint64 => u64, |v| v;
    /// `sint32`.
    Sint32 => i32, |v| ((v as u32) >> 1) as i32 ^ -((v as u32 & 1) as i32);
    /// `sint64`.
    Sint64 => i64, |v| (v >> 1) as i64 ^ -((v & 1) as i64);
    /// `bool`.
    Bool => bool, |v| v != 0;
}

macro_rules! fixed_kind {
    ($(#[$doc:meta] $name:ident => $t:ty, $wire:ident, $bits:ty, $width:expr, |$v:ident| $convert:expr;)*) => {$(
        #[$doc]
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl<'a> Kind<'a> for $name {
            type Item = $t;
            fn read(value: &Wire<'a>) -> Option<$t> {
                match *value {
                    Wire::$wire($v) => Some($convert),
                    _ => None,
                }
            }
            const PACKED_WIDTH: Option<usize> = Some($width);
            fn read_packed(bytes: &mut &'a [u8]) -> Option<$t> {
                let (head, rest) = bytes.split_at_checked($width)?;
                *bytes = rest;
                let $v = <$bits>::from_le_bytes(head.try_into().ok()?);
                Some($convert)
            }
        }
    )*};
}

fixed_kind! {
    /// `double`.
    Double => f64, Fixed64, u64, 8, |v| f64::from_bits(v);
    /// `float`.
    Float => f32, Fixed32, u32, 4, |v| f32::from_bits(v);
    /// `fixed64`.
    Fixed64 => u64, Fixed64, u64, 8, |v| v;
    /// `sfixed64`.
    Sfixed64 => i64, Fixed64, u64, 8, |v| v as i64;
    /// `fixed32`.
    Fixed32 => u32, Fixed32, u32, 4, |v| v;
    /// `sfixed32`.
    Sfixed32 => i32, Fixed32, u32, 4, |v| v as i32;
}

/// `string`: borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub struct Str;

impl<'a> Kind<'a> for Str {
    type Item = &'a str;
    fn read(value: &Wire<'a>) -> Option<&'a str> {
        match *value {
            Wire::Bytes(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }
    const PACKED_WIDTH: Option<usize> = None;
    fn read_packed(_: &mut &'a [u8]) -> Option<&'a str> {
        None
    }
}

/// `bytes`: borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub struct Bytes;

impl<'a> Kind<'a> for Bytes {
    type Item = &'a [u8];
    fn read(value: &Wire<'a>) -> Option<&'a [u8]> {
        match *value {
            Wire::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }
    const PACKED_WIDTH: Option<usize> = None;
    fn read_packed(_: &mut &'a [u8]) -> Option<&'a [u8]> {
        None
    }
}

/// A message, as its view `V`.
#[derive(Clone, Copy, Debug)]
pub struct Message<V>(PhantomData<V>);

impl<'a, V: View<'a>> Kind<'a> for Message<V> {
    type Item = V;
    fn read(value: &Wire<'a>) -> Option<V> {
        match *value {
            Wire::Bytes(bytes) => Some(V::from_checked(Parts::One(bytes))),
            _ => None,
        }
    }
    const PACKED_WIDTH: Option<usize> = None;
    fn read_packed(_: &mut &'a [u8]) -> Option<V> {
        None
    }
}

/// What the generated views have in common.
pub trait View<'a>: Sized {
    /// The owned message.
    type Owned;
    /// The message's name, for errors.
    #[doc(hidden)]
    const NAME: &'static str;
    /// Checks bytes as the message (at byte `at` of the input, `depth`
    /// levels of nesting left).
    #[doc(hidden)]
    fn check(buf: &'a [u8], at: usize, depth: u32) -> Result<(), DecodeViewError>;
    /// The view of checked bytes.
    #[doc(hidden)]
    fn from_checked(parts: Parts<'a>) -> Self;
    /// Reads another occurrence's checked bytes into the view (proto's
    /// merge: later scalars win, messages merge, lists append).
    #[doc(hidden)]
    fn merge_checked(&mut self, more: &'a [u8]);
    /// The owned message, identical to decoding the bytes.
    fn to_owned_message(&self) -> Self::Owned;
}

/// The view of an owned message type, for code generic over messages:
/// `<M as Viewed>::View<'a>` is `MView<'a>`.
pub trait Viewed {
    /// The message's view.
    type View<'a>: View<'a, Owned = Self>;
}

/// Checks bytes as message `V` and makes its view: what every
/// `decode_view` does, for code generic over views.
///
/// # Errors
/// Bytes that are not the message's encoding, with the byte offset.
pub fn decode_view<'a, V: View<'a>>(buf: &'a [u8]) -> Result<V, DecodeViewError> {
    V::check(buf, 0, RECURSION_LIMIT)?;
    Ok(V::from_checked(Parts::One(buf)))
}

/// Checks a nested message's bytes, one level deeper.
pub(crate) fn check_nested<'a, V: View<'a>>(
    buf: &'a [u8],
    at: usize,
    depth: u32,
) -> Result<(), DecodeViewError> {
    if depth == 0 {
        return Err(DecodeViewError::new(at, "recursion limit reached"));
    }
    V::check(buf, at, depth - 1)
}

/// A singular message field read into a view: the first occurrence makes
/// it, later ones merge into it.
pub(crate) fn merge_message<'a, V: View<'a>>(slot: &mut Option<V>, bytes: &'a [u8]) {
    match slot {
        Some(view) => view.merge_checked(bytes),
        None => *slot = Some(V::from_checked(Parts::One(bytes))),
    }
}

/// A repeated field of a view: its values, read from the bytes as they are
/// iterated, packed or not.
#[derive(Clone, Debug)]
pub struct Repeated<'a, K> {
    parts: Parts<'a>,
    number: u32,
    span: Span,
    kind: PhantomData<K>,
}

impl<'a, K: Kind<'a>> Repeated<'a, K> {
    pub(crate) fn new(parts: &Parts<'a>, number: u32, span: Span) -> Self {
        Self {
            parts: parts.clone(),
            number,
            span,
            kind: PhantomData,
        }
    }

    /// The values, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = K::Item> + '_ {
        let number = self.number;
        self.parts
            .fields_in(self.span)
            .filter(move |(n, _)| *n == number)
            .flat_map(|(_, value)| {
                let mut packed: Option<&'a [u8]> = None;
                let mut single = None;
                match (K::PACKED_WIDTH, value) {
                    (Some(_), Wire::Bytes(bytes)) => packed = Some(bytes),
                    _ => single = K::read(&value),
                }
                single.into_iter().chain(std::iter::from_fn(move || {
                    let bytes = packed.as_mut()?;
                    if bytes.is_empty() {
                        return None;
                    }
                    K::read_packed(bytes)
                }))
            })
    }

    /// How many values there are (a walk over the bytes).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// A map field of a view: its entries, read from the bytes as they are
/// iterated, in wire order (a key sent twice comes twice; the owned map
/// keeps the last).
#[derive(Clone, Debug)]
pub struct Map<'a, K, V> {
    entries: Repeated<'a, Bytes>,
    kinds: PhantomData<(K, V)>,
}

impl<'a, K: Kind<'a>, V: Kind<'a>> Map<'a, K, V>
where
    K::Item: Default,
    V::Item: Default,
{
    pub(crate) fn new(parts: &Parts<'a>, number: u32, span: Span) -> Self {
        Self {
            entries: Repeated::new(parts, number, span),
            kinds: PhantomData,
        }
    }

    /// The entries, in wire order; a missing key or value is its default.
    pub fn iter(&self) -> impl Iterator<Item = (K::Item, V::Item)> + '_ {
        self.entries.iter().map(|entry| {
            let (mut key, mut value) = (K::Item::default(), V::Item::default());
            for (number, wire) in Fields::new(entry) {
                match number {
                    1 => {
                        if let Some(k) = K::read(&wire) {
                            key = k;
                        }
                    }
                    2 => {
                        if let Some(v) = V::read(&wire) {
                            value = v;
                        }
                    }
                    _ => {}
                }
            }
            (key, value)
        })
    }

    /// The value of the last entry of `key`, as the owned map holds it.
    pub fn get(&self, key: &K::Item) -> Option<V::Item>
    where
        K::Item: PartialEq,
    {
        self.iter().filter(|(k, _)| k == key).last().map(|(_, v)| v)
    }

    /// How many entries were sent (a walk over the bytes).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A view's unknown fields: those its `.proto` does not define, and known
/// numbers with a wire type their kind cannot have, in wire order.
#[derive(Clone, Debug)]
pub struct UnknownFields<'a> {
    parts: Parts<'a>,
    known: fn(u32, u8) -> bool,
}

impl<'a> UnknownFields<'a> {
    pub(crate) fn new(parts: &Parts<'a>, known: fn(u32, u8) -> bool) -> Self {
        Self {
            parts: parts.clone(),
            known,
        }
    }

    /// The fields, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = UnknownField<'a>> + '_ {
        self.parts
            .fields()
            .filter(|(number, value)| !(self.known)(*number, value.wire_type()))
            .map(|(number, value)| UnknownField {
                number,
                value: match value {
                    Wire::Varint(v) => UnknownValue::Varint(v),
                    Wire::Fixed64(v) => UnknownValue::Fixed64(v),
                    Wire::Bytes(b) => UnknownValue::LengthDelimited(b),
                    Wire::Group(g) => UnknownValue::Group(g),
                    Wire::Fixed32(v) => UnknownValue::Fixed32(v),
                },
            })
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The owned unknown fields, as an owned decode keeps them: each key in
    /// its shortest form, each value byte for byte.
    pub(crate) fn to_owned_fields(&self) -> crate::wire::UnknownFields {
        let mut owned = crate::wire::UnknownFields::new();
        for (number, value, raw) in self.parts.raw_fields() {
            if !(self.known)(number, value.wire_type()) {
                owned.push_raw(number, value.wire_type(), raw);
            }
        }
        owned
    }
}
