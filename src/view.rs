//! Borrowed views of encoded messages (feature `views`): read a message
//! where its bytes are, allocating nothing per field.
//!
//! Every message `M` of the crate has an `MView<'a>` beside it.
//! `MView::decode_view(&bytes)` checks the bytes and gives a [`Decoded`],
//! whose [`view()`](Decoded::view) is the view and whose
//! `to_owned_message()` is the owned message (the names of the `buffa`
//! crate's views); `MView::decode_view_in(&bytes, &mut arena)` does the same
//! into an [`Arena`] kept from one decode to the next, and gives the view
//! itself. A view:
//!
//! - is checked whole when it is made, with the limits and checks of an owned
//!   decode (the wire format, lengths, nesting to 100 messages deep, UTF-8 of
//!   `string` fields); an error says the byte offset and the field;
//! - is made in one walk over the bytes, which notes in the arena where
//!   each field is (a record of a word or two per field for each message,
//!   a chain for each list), so that reading a field never parses again;
//! - gives `string` and `bytes` fields as `&'a str` and `&'a [u8]` borrowed from
//!   the input, scalars by value, and singular message fields (and oneof
//!   members) as views, all `Copy`;
//! - gives repeated and map fields as [`Repeated`] and [`Map`], which iterate
//!   without collecting and know their length (a map's entries come in
//!   wire order, each key as often as it was sent; the owned map keeps the
//!   last);
//! - keeps unknown fields reachable: `unknown_fields()` iterates them as
//!   [`UnknownField`]s, and `to_owned_message()` keeps them as an owned decode
//!   does.
//!
//! The arena takes 8 bytes a word: for each message, 3 words and one or two
//! a field (its `.proto`'s fields, not those sent); for each value of a
//! list or map, 2 or 3. On reports of ordinary shape that is about the
//! size of the bytes; like an owned decode, a message of many empty nested
//! messages takes many times its size.
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
//! let decoded = ReportRequestView::decode_view(&bytes)?;
//! let view = decoded.view();
//! assert_eq!(view.service_name(), "my-api.example.com");
//! let ids: Vec<&str> = view.operations().iter().map(|op| op.operation_id()).collect();
//! assert_eq!(ids, ["op-1"]);
//! assert_eq!(decoded.to_owned_message(), ReportRequest::decode(&bytes[..])?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::marker::PhantomData;

use crate::wire::{UnknownField, UnknownValue};

/// How deep messages may nest, as for an owned decode (prost's limit).
pub const RECURSION_LIMIT: u32 = 100;

/// Why bytes are not a message, and where.
///
/// Boxed, so that the walk's results (`Ok` nearly always) are a word wide
/// and come back in a register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeViewError(Box<ErrorInner>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct ErrorInner {
    offset: usize,
    reason: &'static str,
    /// The fields from the outermost message in, as `Message.field`.
    path: Vec<(&'static str, &'static str)>,
}

impl DecodeViewError {
    #[cold]
    pub(crate) fn new(offset: usize, reason: &'static str) -> Self {
        Self(Box::new(ErrorInner {
            offset,
            reason,
            path: Vec::new(),
        }))
    }

    /// Adds the field the error was found in (innermost first).
    #[cold]
    pub(crate) fn within(mut self, message: &'static str, field: &'static str) -> Self {
        self.0.path.insert(0, (message, field));
        self
    }

    /// The byte offset, from the start of the bytes given to `decode_view`.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// What was wrong.
    pub fn reason(&self) -> &str {
        self.0.reason
    }
}

impl std::fmt::Display for DecodeViewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "failed to decode Protobuf message at byte {}: {}",
            self.0.offset, self.0.reason
        )?;
        for (i, (message, field)) in self.0.path.iter().enumerate() {
            let sep = if i == 0 { " (in " } else { ", " };
            write!(f, "{sep}{message}.{field}")?;
        }
        if !self.0.path.is_empty() {
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
    // Most varints (keys, lengths, small numbers) are one byte, and most
    // others two (a nested message's length).
    let low = *buf.get(*pos)?;
    if low < 0x80 {
        *pos += 1;
        return Some(u64::from(low));
    }
    match buf.get(*pos + 1) {
        Some(&high) if high < 0x80 => {
            *pos += 2;
            return Some(u64::from(low & 0x7f) | u64::from(high) << 7);
        }
        _ => {}
    }
    // The position comes back by value, so that the caller's stays in a
    // register (a position passed by reference to a call that is not
    // inlined lives in memory through the whole walk).
    let (value, next) = varint_slow(buf, *pos);
    if next == 0 {
        return None;
    }
    *pos = next;
    Some(value)
}

/// A varint of up to eight bytes, read eight bytes at once where eight are
/// there: the first byte under 0x80 ends it, and the seven low bits of each
/// are packed. `None` where fewer than eight bytes are left or it is longer.
#[inline(always)]
fn varint_eight(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let eight = buf.get(*pos..*pos + 8)?;
    let word = u64::from_le_bytes(eight.try_into().unwrap_or_default());
    let ends = !word & 0x8080_8080_8080_8080;
    if ends == 0 {
        return None;
    }
    let bits = ends.trailing_zeros();
    // The bytes up to the one ending it, their high bits cleared.
    let kept = word & (ends ^ (ends - 1)) & 0x7f7f_7f7f_7f7f_7f7f;
    let kept = ((kept & 0x7f00_7f00_7f00_7f00) >> 1) | (kept & 0x007f_007f_007f_007f);
    let kept = ((kept & 0x3fff_0000_3fff_0000) >> 2) | (kept & 0x0000_3fff_0000_3fff);
    let kept = ((kept & 0x0fff_ffff_0000_0000) >> 4) | (kept & 0x0000_0000_0fff_ffff);
    *pos += (bits as usize + 1) / 8;
    Some(kept)
}

/// A longer varint (a time's seconds, a large size) at `pos`: its value
/// and the position after it (0 when it is not whole). Up to eight bytes
/// at once where eight are there, else (and for nine or ten) a byte at a
/// time up to the ten a varint may take, the tenth holding only its lowest
/// bit.
#[inline(never)]
fn varint_slow(buf: &[u8], mut pos: usize) -> (u64, usize) {
    if let Some(value) = varint_eight(buf, &mut pos) {
        return (value, pos);
    }
    let Some(rest) = buf.get(pos..) else {
        return (0, 0);
    };
    let mut value = 0u64;
    for (i, &byte) in rest.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return (0, 0);
            }
            return (value, pos + i + 1);
        }
    }
    (0, 0)
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

/// Checks that a `string` field's bytes are UTF-8.
#[inline]
pub(crate) fn check_str(bytes: &[u8], at: usize) -> Result<(), DecodeViewError> {
    // Most strings here (names, labels, URLs, JSON specs) are ASCII.
    if crate::wire::is_ascii(bytes) {
        return Ok(());
    }
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

/// Checks a packed list's bytes and counts its values: whole values of
/// `width` bytes, or whole varints (`width` 0).
fn count_packed(bytes: &[u8], at: usize, width: usize) -> Result<usize, DecodeViewError> {
    check_packed(bytes, at, width)?;
    // Every varint ends with its one byte under 0x80.
    Ok(bytes
        .len()
        .checked_div(width)
        .unwrap_or_else(|| bytes.iter().filter(|&&b| b < 0x80).count()))
}

/// The fields of checked bytes, in order (stops at anything malformed,
/// which checked bytes never are).
#[derive(Clone)]
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// The next field, with its value's bytes as they came.
    fn next_raw(&mut self) -> Option<(u32, Wire<'a>, &'a [u8])> {
        if self.pos >= self.buf.len() {
            return None;
        }
        match field(self.buf, &mut self.pos, RECURSION_LIMIT) {
            Ok((number, value, at)) => Some((number, value, &self.buf[at..self.pos])),
            Err(_) => {
                self.pos = self.buf.len();
                None
            }
        }
    }
}

/// The index a view's arena gives no record: the first word is never one,
/// so that a singular message field's word is 0 while it is unset.
const NONE: u64 = 0;
/// The record a default view reads: past any arena (records are indexed by
/// `u32`), so every word it reads is 0.
const EMPTY: usize = u32::MAX as usize;
/// A record's header: the next record of its list (and the flags), and the
/// span of its message's bytes; for a singular message field sent more
/// than once (its parts merge), flagged [`PARTS`], the chain of its parts'
/// spans instead (rare: a header word for it in every record cost more
/// than it saved).
#[doc(hidden)]
pub const HEADER: usize = 2;
/// The flag of a list node holding a packed run, in its first word.
const PACKED: u64 = 1 << 32;
/// The flag, in a record's first word, of a message with unknown fields:
/// a message without it has none, found without walking it again.
const UNKNOWN: u64 = 1 << 33;
/// The flag, in a record's first word, of a message read from several
/// parts: its second word is then the head and tail of the chain of their
/// spans, not one span.
const PARTS: u64 = 1 << 34;

/// A span of the input as one word: its start and its end.
fn span_word(start: usize, end: usize) -> u64 {
    start as u64 | (end as u64) << 32
}

/// Where the views of one decode keep what they found: for each message, a
/// record of words, one or two per field, saying where the field's value
/// is or what it is; for each list, the chain of its values. Made by one
/// walk that checks the bytes; read without parsing again.
///
/// `decode_view` makes one; [`decode_view_in`] reuses one given, so that a
/// loop decoding many messages allocates nothing once the arena has grown.
///
/// ```
/// use cloud_report_proto::google::api::servicecontrol::v1::{ReportRequest, ReportRequestView};
/// use cloud_report_proto::view::Arena;
/// use prost::Message;
///
/// let reports: Vec<Vec<u8>> = (0..3)
///     .map(|i| ReportRequest { service_name: format!("api-{i}.example.com"), ..Default::default() }.encode_to_vec())
///     .collect();
/// let mut arena = Arena::new();
/// for bytes in &reports {
///     let view = ReportRequestView::decode_view_in(bytes, &mut arena)?;
///     assert!(view.service_name().starts_with("api-"));
/// }
/// # Ok::<(), cloud_report_proto::view::DecodeViewError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Arena {
    words: Vec<u64>,
}

impl Arena {
    /// An empty arena.
    pub fn new() -> Self {
        Self::default()
    }

    /// What it holds now, in bytes (it keeps its room between decodes).
    pub fn capacity_bytes(&self) -> usize {
        self.words.capacity() * std::mem::size_of::<u64>()
    }
}

/// What a view reads: the input and the arena (for the generated views).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Cx<'a> {
    buf: &'a [u8],
    words: &'a [u64],
}

impl<'a> Cx<'a> {
    /// What a default view reads: nothing.
    pub const EMPTY: Cx<'static> = Cx {
        buf: &[],
        words: &[],
    };

    /// Word `i` of the arena (0 past its end).
    #[inline]
    pub fn word(&self, i: usize) -> u64 {
        self.words.get(i).copied().unwrap_or(0)
    }

    /// The bytes a span word names.
    #[inline]
    fn span(&self, word: u64) -> &'a [u8] {
        self.buf
            .get(word as u32 as usize..(word >> 32) as usize)
            .unwrap_or_default()
    }

    /// The record a message word names, or the empty one.
    #[inline]
    pub fn record(word: u64) -> usize {
        if word == NONE { EMPTY } else { word as usize }
    }

    /// The bytes record `rec`'s message was read from, when they are one
    /// piece of the input (a singular message field sent more than once is
    /// several: `None`); an empty slice for the empty record.
    pub fn encoded(&self, rec: usize) -> Option<&'a [u8]> {
        if rec == EMPTY {
            return Some(&[]);
        }
        (self.word(rec) & PARTS == 0).then(|| self.span(self.word(rec + 1)))
    }
}

/// The one walk that checks bytes and fills the arena (for the generated
/// views).
#[doc(hidden)]
pub struct Builder<'a> {
    buf: &'a [u8],
    words: Vec<u64>,
    /// Whether the message being walked has had an unknown field.
    unknown: bool,
}

impl<'a> Builder<'a> {
    /// A new record of `slots` words after the header, zeroed, for the
    /// message at `start..end`.
    #[inline]
    fn record(&mut self, slots: usize, start: usize, end: usize) -> Result<usize, DecodeViewError> {
        let index = self.words.len();
        let len = index + HEADER + slots;
        if len > EMPTY {
            return Err(DecodeViewError::new(start, "message too large for a view"));
        }
        self.words.resize(len, 0);
        self.words[index + 1] = span_word(start, end);
        Ok(index)
    }

    /// A new list node: its value word.
    #[inline]
    fn node(&mut self, flags: u64, value: u64) -> Result<usize, DecodeViewError> {
        let index = self.words.len();
        // Room for a map entry's third word too.
        if index + 3 > EMPTY {
            return Err(DecodeViewError::new(0, "message too large for a view"));
        }
        self.words.extend_from_slice(&[flags, value]);
        Ok(index)
    }

    /// Adds `node` at the end of the chain whose head (and count, in the
    /// high half) is word `list` and whose tail is word `list + 1`.
    #[inline]
    fn append(&mut self, list: usize, node: usize, count: usize) {
        let head = self.words[list];
        if head as u32 == 0 {
            self.words[list] = node as u64 | (count as u64) << 32;
        } else {
            let tail = self.words[list + 1] as usize;
            self.words[tail] |= node as u64;
            self.words[list] = head.wrapping_add((count as u64) << 32);
        }
        self.words[list + 1] = node as u64;
    }

    /// One more part of record `rec`: a singular message field sent again.
    fn add_part(&mut self, rec: usize, start: usize, end: usize) -> Result<(), DecodeViewError> {
        if self.words[rec] & PARTS == 0 {
            // The first part's span moves into the chain's first node.
            let first = self.node(0, self.words[rec + 1])?;
            self.words[rec] |= PARTS;
            self.words[rec + 1] = first as u64 | (first as u64) << 32;
        }
        let node = self.node(0, span_word(start, end))?;
        let parts = self.words[rec + 1];
        let tail = (parts >> 32) as usize;
        self.words[tail] |= node as u64;
        self.words[rec + 1] = (parts & 0xffff_ffff) | (node as u64) << 32;
        Ok(())
    }

    /// Walks the message at `start..end` into record `rec` (a new one, or
    /// one more part of it), flagging the record when a field is unknown.
    #[inline]
    fn walk<V: View<'a>>(
        &mut self,
        rec: usize,
        start: usize,
        end: usize,
        depth: u32,
    ) -> Result<(), DecodeViewError> {
        let outer = std::mem::replace(&mut self.unknown, false);
        V::walk(self, rec, start, end, depth)?;
        if self.unknown {
            self.words[rec] |= UNKNOWN;
        }
        self.unknown = outer;
        Ok(())
    }

    /// A field the message's `.proto` does not define (or a wire type its
    /// kind cannot have): kept among its unknown fields.
    #[inline]
    pub fn unknown(&mut self) -> Result<(), DecodeViewError> {
        self.unknown = true;
        Ok(())
    }

    /// A singular field (`slot` its word): a later occurrence replaces the
    /// value, or merges into a message.
    #[inline]
    pub fn singular<K: Kind<'a>>(
        &mut self,
        slot: usize,
        value: Wire<'a>,
        at: usize,
        depth: u32,
    ) -> Result<(), DecodeViewError> {
        // Only a message merges into what was there.
        let before = if K::IS_MESSAGE {
            self.words[slot]
        } else {
            NONE
        };
        match K::word(self, value, at, depth, before)? {
            Some(word) => self.words[slot] = word,
            None => self.unknown = true,
        }
        Ok(())
    }

    /// A field with presence (`slot` its flag, then its value).
    #[inline]
    pub fn optional<K: Kind<'a>>(
        &mut self,
        slot: usize,
        value: Wire<'a>,
        at: usize,
        depth: u32,
    ) -> Result<(), DecodeViewError> {
        // A field with presence is a oneof of one member, numbered 1 here.
        self.oneof::<K>(slot, 1, value, at, depth)
    }

    /// A oneof's member `number` (`slot` the oneof's case, then its value):
    /// it replaces another member, or merges into itself when a message.
    #[inline]
    pub fn oneof<K: Kind<'a>>(
        &mut self,
        slot: usize,
        number: u32,
        value: Wire<'a>,
        at: usize,
        depth: u32,
    ) -> Result<(), DecodeViewError> {
        let before = if self.words[slot] == u64::from(number) {
            self.words[slot + 1]
        } else {
            NONE
        };
        match K::word(self, value, at, depth, before)? {
            Some(word) => {
                self.words[slot] = u64::from(number);
                self.words[slot + 1] = word;
            }
            None => self.unknown = true,
        }
        Ok(())
    }

    /// One record of a repeated field (`slot` its list), packed or not.
    #[inline]
    pub fn repeated<K: Kind<'a>>(
        &mut self,
        slot: usize,
        value: Wire<'a>,
        at: usize,
        depth: u32,
    ) -> Result<(), DecodeViewError> {
        if let (Some(width), Wire::Bytes(bytes)) = (K::PACKED_WIDTH, value) {
            let count = count_packed(bytes, at, width)?;
            if count > 0 {
                let node = self.node(PACKED, span_word(at, at + bytes.len()))?;
                self.append(slot, node, count);
            }
            return Ok(());
        }
        match K::word(self, value, at, depth, NONE)? {
            // A message's record is its node.
            Some(rec) if K::IS_MESSAGE => self.append(slot, rec as usize, 1),
            Some(word) => {
                let node = self.node(0, word)?;
                self.append(slot, node, 1);
            }
            None => self.unknown = true,
        }
        Ok(())
    }

    /// One entry of a map field (`slot` its list): a key or value of
    /// another wire type is an error, as owned decoding's map reader says.
    #[inline]
    pub fn map<K: Kind<'a>, V: Kind<'a>>(
        &mut self,
        slot: usize,
        value: Wire<'a>,
        at: usize,
        depth: u32,
    ) -> Result<(), DecodeViewError> {
        let Wire::Bytes(entry) = value else {
            self.unknown = true;
            return Ok(());
        };
        if depth == 0 {
            return Err(DecodeViewError::new(at, "recursion limit reached"));
        }
        let depth = depth - 1;
        let end = at + entry.len();
        // The usual entry, its key then its value, once each: read straight;
        // any other by the generic walk, which judges it.
        let (key, val) = match usual_entry(self.buf, at, end, K::WIRE, V::WIRE) {
            Some((k, k_at, v, v_at)) => (
                K::word(self, k, k_at, depth, NONE)?.unwrap_or(NONE),
                V::word(self, v, v_at, depth, NONE)?.unwrap_or(NONE),
            ),
            None => self.entry::<K, V>(at, end, depth)?,
        };
        let node = self.node(0, key)?;
        self.words.push(val);
        self.append(slot, node, 1);
        Ok(())
    }

    /// A map entry other than the usual one (its fields in another order,
    /// one twice or missing, unknown ones), walked field by field: its key's
    /// and its value's words.
    #[inline(never)]
    fn entry<K: Kind<'a>, V: Kind<'a>>(
        &mut self,
        at: usize,
        end: usize,
        depth: u32,
    ) -> Result<(u64, u64), DecodeViewError> {
        let (mut key, mut val) = (NONE, NONE);
        fields(self, at, end, depth, |b, number, wire, at| match number {
            1 if wire.wire_type() != K::WIRE => Err(DecodeViewError::new(
                at,
                "invalid wire type for a map entry's key",
            )),
            2 if wire.wire_type() != V::WIRE => Err(DecodeViewError::new(
                at,
                "invalid wire type for a map entry's value",
            )),
            1 => {
                key = K::word(b, wire, at, depth, key)?.unwrap_or(key);
                Ok(())
            }
            2 => {
                val = V::word(b, wire, at, depth, val)?.unwrap_or(val);
                Ok(())
            }
            _ => Ok(()),
        })?;
        Ok((key, val))
    }
}

/// A map entry at `start..end` of `buf` that is its key (field 1, of wire
/// type `key_wire`) then its value (field 2, `value_wire`), each once and
/// whole, with wire types 0 or 2: the two values and their offsets. `None`
/// for any other entry, which the generic walk reads (and judges).
#[inline]
fn usual_entry(
    buf: &[u8],
    start: usize,
    end: usize,
    key_wire: u8,
    value_wire: u8,
) -> Option<(Wire<'_>, usize, Wire<'_>, usize)> {
    let buf = buf.get(..end)?;
    let mut pos = start;
    let mut one = |number: u8, wire: u8| {
        if *buf.get(pos)? != number << 3 | wire {
            return None;
        }
        pos += 1;
        let at = pos;
        match wire {
            0 => Some((Wire::Varint(varint(buf, &mut pos)?), at)),
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let at = pos;
                let bytes = buf.get(at..at.checked_add(len)?)?;
                pos = at + len;
                Some((Wire::Bytes(bytes), at))
            }
            _ => None,
        }
    };
    let (key, key_at) = one(1, key_wire)?;
    let (value, value_at) = one(2, value_wire)?;
    (pos == end).then_some((key, key_at, value, value_at))
}

/// Walks the fields of `start..end` of the input, checking their wire
/// format and handing each to `each` with the offset of its value (for the
/// generated views).
#[doc(hidden)]
#[inline]
pub fn fields<'a>(
    b: &mut Builder<'a>,
    start: usize,
    end: usize,
    depth: u32,
    mut each: impl FnMut(&mut Builder<'a>, u32, Wire<'a>, usize) -> Result<(), DecodeViewError>,
) -> Result<(), DecodeViewError> {
    let all: &'a [u8] = b.buf;
    let buf = all.get(..end).unwrap_or_default();
    let mut pos = start;
    while pos < end {
        let field_start = pos;
        // The common cases here; the rest (and every error) by `field`
        // (fixed-width values too: more code in every walk cost more than
        // it saved).
        let key = varint(buf, &mut pos).unwrap_or(0);
        let number = (key >> 3) as u32;
        let value_start = pos;
        let (value, at) = match key & 7 {
            0 if number != 0 && key >> 32 == 0 => match varint(buf, &mut pos) {
                Some(v) => (Wire::Varint(v), value_start),
                None => (Wire::Varint(0), usize::MAX),
            },
            2 if number != 0 && key >> 32 == 0 => {
                let len = varint(buf, &mut pos).unwrap_or(u64::MAX);
                match usize::try_from(len)
                    .ok()
                    .and_then(|len| Some(pos..pos.checked_add(len)?))
                    .and_then(|range| Some((range.start, buf.get(range)?)))
                {
                    Some((at, bytes)) => {
                        pos = at + bytes.len();
                        (Wire::Bytes(bytes), at)
                    }
                    None => (Wire::Varint(0), usize::MAX),
                }
            }
            _ => (Wire::Varint(0), usize::MAX),
        };
        let (number, value, at) = if at != usize::MAX {
            (number, value, at)
        } else {
            pos = field_start;
            let (number, value, at) = field(buf, &mut pos, depth)
                .map_err(|why| DecodeViewError::new(field_start, why))?;
            // A length-delimited value's offset is its content's, after
            // the length.
            let at = match value {
                Wire::Bytes(bytes) => pos - bytes.len(),
                _ => at,
            };
            (number, value, at)
        };
        each(b, number, value, at)?;
    }
    Ok(())
}

/// How a kind of field value is checked, kept and read: the markers of
/// [`Repeated`] and [`Map`] (one per protobuf scalar kind, and [`Message`]
/// for a message's view).
pub trait Kind<'a> {
    /// The value read.
    type Item;
    /// The wire type its values come with.
    #[doc(hidden)]
    const WIRE: u8;
    /// The width of one packed value (0 for varints); `None` when the kind
    /// is never packed.
    #[doc(hidden)]
    const PACKED_WIDTH: Option<usize>;
    /// Whether a value is a message (its word is its record).
    #[doc(hidden)]
    const IS_MESSAGE: bool = false;
    /// Checks a value carried as `value` at `at` and gives its word (`None`
    /// for a value of another wire type: an unknown field); `before` is
    /// the word of the value it replaces (a message merges into it).
    #[doc(hidden)]
    fn word(
        b: &mut Builder<'a>,
        value: Wire<'a>,
        at: usize,
        depth: u32,
        before: u64,
    ) -> Result<Option<u64>, DecodeViewError>;
    /// Reads a value's word.
    #[doc(hidden)]
    fn from_word(cx: Cx<'a>, word: u64) -> Self::Item;
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
            const WIRE: u8 = 0;
            const PACKED_WIDTH: Option<usize> = Some(0);
            #[inline]
            fn word(_: &mut Builder<'a>, value: Wire<'a>, _: usize, _: u32, _: u64) -> Result<Option<u64>, DecodeViewError> {
                Ok(match value {
                    Wire::Varint(v) => Some(v),
                    _ => None,
                })
            }
            #[inline]
            fn from_word(_: Cx<'a>, $v: u64) -> $t {
                $convert
            }
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
    ($(#[$doc:meta] $name:ident => $t:ty, $wire:ident, $number:expr, $bits:ty, $width:expr, |$v:ident| $convert:expr;)*) => {$(
        #[$doc]
        #[derive(Clone, Copy, Debug)]
        pub struct $name;
        impl<'a> Kind<'a> for $name {
            type Item = $t;
            const WIRE: u8 = $number;
            const PACKED_WIDTH: Option<usize> = Some($width);
            #[inline]
            fn word(_: &mut Builder<'a>, value: Wire<'a>, _: usize, _: u32, _: u64) -> Result<Option<u64>, DecodeViewError> {
                Ok(match value {
                    Wire::$wire(v) => Some(u64::from(v)),
                    _ => None,
                })
            }
            #[inline]
            fn from_word(_: Cx<'a>, word: u64) -> $t {
                let $v = word as $bits;
                $convert
            }
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
    Double => f64, Fixed64, 1, u64, 8, |v| f64::from_bits(v);
    /// `float`.
    Float => f32, Fixed32, 5, u32, 4, |v| f32::from_bits(v);
    /// `fixed64`.
    Fixed64 => u64, Fixed64, 1, u64, 8, |v| v;
    /// `sfixed64`.
    Sfixed64 => i64, Fixed64, 1, u64, 8, |v| v as i64;
    /// `fixed32`.
    Fixed32 => u32, Fixed32, 5, u32, 4, |v| v;
    /// `sfixed32`.
    Sfixed32 => i32, Fixed32, 5, u32, 4, |v| v as i32;
}

/// `string`: borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub struct Str;

impl<'a> Kind<'a> for Str {
    type Item = &'a str;
    const WIRE: u8 = 2;
    const PACKED_WIDTH: Option<usize> = None;
    /// A `bytes` value that is UTF-8.
    #[inline]
    fn word(
        b: &mut Builder<'a>,
        value: Wire<'a>,
        at: usize,
        depth: u32,
        before: u64,
    ) -> Result<Option<u64>, DecodeViewError> {
        if let Wire::Bytes(bytes) = value {
            check_str(bytes, at)?;
        }
        Bytes::word(b, value, at, depth, before)
    }
    #[inline]
    fn from_word(cx: Cx<'a>, word: u64) -> &'a str {
        let bytes = cx.span(word);
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: a `Cx` is made only by this module, of an input and the
        // arena its one walk filled; that walk writes a string's word only
        // after `check_str` (in `Str::word`), and the views read a word as a
        // string only where that field's walk wrote it (the same marker
        // generated for both). Any other word read here is 0, the empty
        // span.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
    fn read_packed(_: &mut &'a [u8]) -> Option<&'a str> {
        None
    }
}

/// `bytes`: borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub struct Bytes;

// The `Kind` impls repeat the trait's signatures, one impl per kind; what
// they share (a span's word, a string's check) is one function each.

impl<'a> Kind<'a> for Bytes {
    type Item = &'a [u8];
    const WIRE: u8 = 2;
    const PACKED_WIDTH: Option<usize> = None;
    #[inline]
    fn word(
        _: &mut Builder<'a>,
        value: Wire<'a>,
        at: usize,
        _: u32,
        _: u64,
    ) -> Result<Option<u64>, DecodeViewError> {
        Ok(match value {
            Wire::Bytes(bytes) => Some(span_word(at, at + bytes.len())),
            _ => None,
        })
    }
    #[inline]
    fn from_word(cx: Cx<'a>, word: u64) -> &'a [u8] {
        cx.span(word)
    }
    fn read_packed(_: &mut &'a [u8]) -> Option<&'a [u8]> {
        None
    }
}

/// A message, as its view `V`.
#[derive(Clone, Copy, Debug)]
pub struct Message<V>(PhantomData<V>);

impl<'a, V: View<'a>> Kind<'a> for Message<V> {
    type Item = V;
    const WIRE: u8 = 2;
    const PACKED_WIDTH: Option<usize> = None;
    const IS_MESSAGE: bool = true;
    #[inline]
    fn word(
        b: &mut Builder<'a>,
        value: Wire<'a>,
        at: usize,
        depth: u32,
        before: u64,
    ) -> Result<Option<u64>, DecodeViewError> {
        let Wire::Bytes(bytes) = value else {
            return Ok(None);
        };
        if depth == 0 {
            return Err(DecodeViewError::new(at, "recursion limit reached"));
        }
        let end = at + bytes.len();
        let rec = if before == NONE {
            b.record(V::SLOTS, at, end)?
        } else {
            let rec = before as usize;
            b.add_part(rec, at, end)?;
            rec
        };
        b.walk::<V>(rec, at, end, depth - 1)?;
        Ok(Some(rec as u64))
    }
    #[inline]
    fn from_word(cx: Cx<'a>, word: u64) -> V {
        V::at(cx, Cx::record(word))
    }
    fn read_packed(_: &mut &'a [u8]) -> Option<V> {
        None
    }
}

/// What the generated views have in common.
pub trait View<'a>: Sized + Copy {
    /// The owned message.
    type Owned;
    /// The message's name, for errors.
    #[doc(hidden)]
    const NAME: &'static str;
    /// The words of its record after the header.
    #[doc(hidden)]
    const SLOTS: usize;
    /// The view of record `rec`.
    #[doc(hidden)]
    fn at(cx: Cx<'a>, rec: usize) -> Self;
    /// Checks `start..end` of the input as the message (`depth` levels of
    /// nesting left), filling record `rec`.
    #[doc(hidden)]
    fn walk(
        b: &mut Builder<'a>,
        rec: usize,
        start: usize,
        end: usize,
        depth: u32,
    ) -> Result<(), DecodeViewError>;
    /// The owned message, identical to decoding the bytes.
    fn to_owned_message(&self) -> Self::Owned;
    /// Makes `into` the owned message, keeping the room its strings, lists
    /// and messages have (what `clear_and_parse` does after the walk).
    #[doc(hidden)]
    fn fill(&self, into: &mut Self::Owned);
}

/// The view of an owned message type, for code generic over messages:
/// `<M as Viewed>::View<'a>` is `MView<'a>`.
pub trait Viewed {
    /// The message's view.
    type View<'a>: View<'a, Owned = Self>;
}

/// Checks `buf` as message `M` into `arena` (emptied first) and views it:
/// what every `decode_view_in` does, for code generic over messages.
///
/// # Errors
/// Bytes that are not the message's encoding, with the byte offset.
pub fn decode_view_in<'a, M: Viewed>(
    buf: &'a [u8],
    arena: &'a mut Arena,
) -> Result<M::View<'a>, DecodeViewError> {
    fill::<M>(buf, arena)?;
    Ok(<M::View<'a> as View<'a>>::at(
        Cx {
            buf,
            words: &arena.words,
        },
        ROOT,
    ))
}

/// Replaces `message` with the decoding of `buf`, refilling its strings,
/// lists and messages in place, through a view into `arena`: what every
/// `clear_and_parse_in` does, for code generic over messages. On an error
/// the message is left as it was.
///
/// # Errors
/// Bytes that are not the message's encoding, with the byte offset.
pub fn clear_and_parse_in<M: Viewed>(
    message: &mut M,
    buf: &[u8],
    arena: &mut Arena,
) -> Result<(), DecodeViewError> {
    decode_view_in::<M>(buf, arena)?.fill(message);
    Ok(())
}

/// The root record's index (after the word that is no record).
const ROOT: usize = 1;

fn fill<'a, M: Viewed>(buf: &'a [u8], arena: &mut Arena) -> Result<(), DecodeViewError> {
    let mut words = std::mem::take(&mut arena.words);
    words.clear();
    if buf.len() >= EMPTY {
        return Err(DecodeViewError::new(0, "message too large for a view"));
    }
    // Room for what reports of ordinary shape take (a word for about every
    // five bytes), so that a new arena seldom grows.
    words.reserve(buf.len() / 4 + 16);
    words.push(0);
    let mut b = Builder {
        buf,
        words,
        unknown: false,
    };
    let walked = b
        .record(<M::View<'a> as View<'a>>::SLOTS, 0, buf.len())
        .and_then(|rec| b.walk::<M::View<'a>>(rec, 0, buf.len(), RECURSION_LIMIT));
    arena.words = b.words;
    if walked.is_err() {
        arena.words.clear();
    }
    walked
}

/// Checks `buf` as message `M` and gives what views it: what every
/// `decode_view` does, for code generic over messages.
///
/// # Errors
/// Bytes that are not the message's encoding, with the byte offset.
pub fn decode_view<'a, M: Viewed>(buf: &'a [u8]) -> Result<Decoded<'a, M>, DecodeViewError> {
    let mut arena = Arena::new();
    fill::<M>(buf, &mut arena)?;
    Ok(Decoded {
        buf,
        arena,
        message: PhantomData,
    })
}

/// Bytes checked as message `M`, with the arena their view reads:
/// [`view`](Self::view) gives the view, [`to_owned_message`](Self::to_owned_message)
/// the owned message.
#[derive(Clone)]
pub struct Decoded<'a, M> {
    buf: &'a [u8],
    arena: Arena,
    message: PhantomData<fn() -> M>,
}

impl<'a, M: Viewed> Decoded<'a, M> {
    /// The view of the message.
    pub fn view(&self) -> M::View<'_> {
        <M::View<'_> as View<'_>>::at(
            Cx {
                buf: self.buf,
                words: &self.arena.words,
            },
            ROOT,
        )
    }

    /// The owned message, identical to decoding the bytes.
    pub fn to_owned_message(&self) -> M {
        self.view().to_owned_message()
    }

    /// The arena, to reuse for another decode ([`decode_view_in`]).
    pub fn into_arena(self) -> Arena {
        self.arena
    }
}

impl<M: Viewed> std::fmt::Debug for Decoded<'_, M>
where
    for<'v> M::View<'v>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.view().fmt(f)
    }
}

/// A repeated field of a view: its values, in wire order, packed or not.
#[derive(Clone, Copy, Debug)]
pub struct Repeated<'a, K> {
    cx: Cx<'a>,
    /// The first node, and the count in the high half.
    list: u64,
    kind: PhantomData<K>,
}

impl<'a, K: Kind<'a>> Repeated<'a, K> {
    #[doc(hidden)]
    pub fn new(cx: Cx<'a>, list: u64) -> Self {
        Self {
            cx,
            list,
            kind: PhantomData,
        }
    }

    /// The values, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = K::Item> + use<'a, K> {
        let cx = self.cx;
        let mut next = self.list as u32 as usize;
        let mut packed: &'a [u8] = &[];
        std::iter::from_fn(move || {
            loop {
                if !packed.is_empty() {
                    if let Some(value) = K::read_packed(&mut packed) {
                        return Some(value);
                    }
                    packed = &[];
                }
                if next == 0 {
                    return None;
                }
                let node = next;
                let head = cx.word(node);
                next = head as u32 as usize;
                if K::IS_MESSAGE {
                    return Some(K::from_word(cx, node as u64));
                }
                let value = cx.word(node + 1);
                if head & PACKED != 0 {
                    packed = cx.span(value);
                } else {
                    return Some(K::from_word(cx, value));
                }
            }
        })
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        (self.list >> 32) as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A map field of a view: its entries in wire order (a key sent twice
/// comes twice; the owned map keeps the last).
#[derive(Clone, Copy, Debug)]
pub struct Map<'a, K, V> {
    cx: Cx<'a>,
    list: u64,
    kinds: PhantomData<(K, V)>,
}

impl<'a, K: Kind<'a>, V: Kind<'a>> Map<'a, K, V> {
    #[doc(hidden)]
    pub fn new(cx: Cx<'a>, list: u64) -> Self {
        Self {
            cx,
            list,
            kinds: PhantomData,
        }
    }

    /// The entries, in wire order; a missing key or value is its default.
    pub fn iter(&self) -> impl Iterator<Item = (K::Item, V::Item)> + use<'a, K, V> {
        let cx = self.cx;
        let mut next = self.list as u32 as usize;
        std::iter::from_fn(move || {
            if next == 0 {
                return None;
            }
            let node = next;
            next = cx.word(node) as u32 as usize;
            Some((
                K::from_word(cx, cx.word(node + 1)),
                V::from_word(cx, cx.word(node + 2)),
            ))
        })
    }

    /// The value of the last entry of `key`, as the owned map holds it.
    pub fn get(&self, key: &K::Item) -> Option<V::Item>
    where
        K::Item: PartialEq,
    {
        self.iter().filter(|(k, _)| k == key).last().map(|(_, v)| v)
    }

    /// The entries as the owned map holds them: in key order, each key
    /// once, with the value of its last entry.
    pub fn entries(&self) -> Vec<(K::Item, V::Item)>
    where
        K::Item: Ord,
    {
        let mut entries: Vec<_> = self.iter().collect();
        // Stable: a key's entries stay in wire order, and the last is kept.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                std::mem::swap(later, earlier);
            }
            same
        });
        entries
    }

    /// How many entries were sent.
    pub fn len(&self) -> usize {
        (self.list >> 32) as usize
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A view's unknown fields: those its `.proto` does not define, and known
/// numbers with a wire type their kind cannot have, in wire order.
#[derive(Clone, Copy, Debug)]
pub struct UnknownFields<'a> {
    cx: Cx<'a>,
    rec: usize,
    known: fn(u32, u8) -> bool,
}

impl<'a> UnknownFields<'a> {
    #[doc(hidden)]
    pub fn new(cx: Cx<'a>, rec: usize, known: fn(u32, u8) -> bool) -> Self {
        Self { cx, rec, known }
    }

    /// Whether the walk found an unknown field in the message (without it,
    /// there is none to look for).
    #[inline]
    fn flagged(&self) -> bool {
        self.cx.word(self.rec) & UNKNOWN != 0
    }

    /// The message's parts: the bytes of each occurrence (none when the
    /// walk found no unknown field in them).
    fn parts(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let cx = self.cx;
        let head = cx.word(self.rec);
        // One span, or the chain of the parts' spans (see `PARTS`).
        let (first, mut next) = match (head & UNKNOWN != 0, head & PARTS != 0) {
            (false, _) => (&[][..], 0),
            (true, false) => (cx.span(cx.word(self.rec + 1)), 0),
            (true, true) => (&[][..], cx.word(self.rec + 1) as u32 as usize),
        };
        std::iter::once(first).chain(std::iter::from_fn(move || {
            if next == 0 {
                return None;
            }
            let node = next;
            next = cx.word(node) as u32 as usize;
            Some(cx.span(cx.word(node + 1)))
        }))
    }

    /// Every field of every part with its value's bytes as they came.
    fn raw(&self) -> impl Iterator<Item = (u32, Wire<'a>, &'a [u8])> + 'a {
        let known = self.known;
        self.parts()
            .flat_map(|part| {
                let mut fields = Fields::new(part);
                std::iter::from_fn(move || fields.next_raw())
            })
            .filter(move |(number, value, _)| !known(*number, value.wire_type()))
    }

    /// The fields, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = UnknownField<'a>> + 'a {
        self.raw().map(|(number, value, _)| UnknownField {
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
        !self.flagged() || self.iter().next().is_none()
    }

    /// The owned unknown fields, as an owned decode keeps them: each key in
    /// its shortest form, each value byte for byte.
    #[doc(hidden)]
    #[inline]
    pub fn to_owned_fields(&self) -> crate::wire::UnknownFields {
        // Most messages have none: said by their record's flag, inline.
        if !self.flagged() {
            return crate::wire::UnknownFields::new();
        }
        self.collect_owned()
    }

    #[inline(never)]
    fn collect_owned(&self) -> crate::wire::UnknownFields {
        let mut owned = crate::wire::UnknownFields::new();
        for (number, value, raw) in self.raw() {
            owned.push_raw(number, value.wire_type(), raw);
        }
        owned
    }
}

#[cfg(test)]
mod tests {
    use super::varint;

    /// The walk's varint reader reads what prost's does, wherever the
    /// varint ends (at the end of the bytes too), and refuses what prost
    /// refuses: a varint cut short, longer than ten bytes, or past 64 bits.
    #[test]
    fn varints_read_as_prost_reads_them() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        // Every length: each power of two and each one less.
        let values = (0..64).map(|bits| 1u64 << bits);
        let values = values.chain((0..64).map(|bits| (1u64 << bits) - 1));
        for value in values.chain([16_384, 1_700_000_000, u64::MAX]) {
            let mut bytes = Vec::new();
            prost::encoding::encode_varint(value, &mut bytes);
            for cut in 0..=bytes.len() {
                cases.push(bytes[..cut].to_vec());
            }
            // Followed by more bytes: read eight at a time where eight are
            // there.
            cases.push([&bytes[..], &[0x05]].concat());
            cases.push([&bytes[..], &[0xff; 8]].concat());
            cases.push([&bytes[..], &[0x00; 8]].concat());
        }
        cases.push(vec![0xff; 10]);
        cases.push([&[0xff; 9][..], &[0x02]].concat());
        cases.push([&[0xff; 9][..], &[0x01]].concat());
        cases.push([&[0x80; 10][..], &[0x00]].concat());
        for bytes in cases {
            let mut pos = 0;
            let ours = varint(&bytes, &mut pos).map(|v| (v, pos));
            let mut rest = &bytes[..];
            let theirs = prost::encoding::decode_varint(&mut rest)
                .ok()
                .map(|v| (v, bytes.len() - rest.len()));
            assert_eq!(ours, theirs, "{bytes:02x?}");
        }
    }
}
