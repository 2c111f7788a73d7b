//! The compact JSON writer behind [`to_vec`](super::to_vec) and friends.
//!
//! A [`serde::Serializer`] that produces exactly the bytes of
//! `serde_json`'s compact serializer (tests compare the two on random
//! messages), built for the shape of canonical proto3 JSON: many short
//! strings. Strings are scanned for characters that need escaping eight bytes
//! at a time and copied in runs; numbers use `itoa` and `serde_json`'s own
//! float formatting, so both writers agree digit for digit.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};
use serde_json::ser::Formatter as _;

use super::JsonError;
use super::codec::{Codec, FieldSink, Fields};

/// Why a value could not be written.
#[derive(Debug)]
pub(crate) struct WriteError(String);

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WriteError {}

impl ser::Error for WriteError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

impl From<WriteError> for JsonError {
    fn from(e: WriteError) -> Self {
        JsonError::Serialize { message: e.0 }
    }
}

/// A value the crate's compact JSON writer ([`to_vec`](super::to_vec) and
/// friends) can write: every message of the crate, the well-known types, the
/// type-erased messages of the [`registry`](crate::registry), lists and
/// options of these, and `serde_json` values.
///
/// The writer produces exactly the bytes `serde_json` writes from the
/// value's [`Serialize`] impl; the crate's messages take a faster path with
/// their field names written as prepared bytes. Any other `Serialize` type
/// can opt in with an empty impl (`impl WriteJson for MyType {}`), which
/// writes it through serde.
pub trait WriteJson: Serialize {
    /// Appends the value's compact JSON to `out`. On error, `out` holds a
    /// partial document.
    #[doc(hidden)]
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        Ok(self.serialize(Writer { out })?)
    }
}

impl WriteJson for dyn erased_serde::Serialize + '_ {}
impl WriteJson for serde_json::Value {}
impl WriteJson for serde_json::Map<String, serde_json::Value> {}

impl<T: WriteJson> WriteJson for [T] {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        out.push(b'[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write_json(out)?;
        }
        out.push(b']');
        Ok(())
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        self.as_slice().write_json(out)
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        match self {
            Some(value) => value.write_json(out),
            None => {
                out.extend_from_slice(b"null");
                Ok(())
            }
        }
    }
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        (**self).write_json(out)
    }
}

impl<T: WriteJson + ?Sized> WriteJson for Box<T> {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        (**self).write_json(out)
    }
}

/// Writes a message of the crate: its fields through [`FieldWriter`].
pub(crate) fn write_message<T: Fields>(message: &T, out: &mut Vec<u8>) -> Result<(), JsonError> {
    out.push(b'{');
    message.fields(&mut FieldWriter { out, first: true })?;
    out.push(b'}');
    Ok(())
}

/// Writes a message's fields straight into the output: the field name comes
/// prepared (quoted, with its colon), the value from its codec.
pub(crate) struct FieldWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> FieldWriter<'a> {
    /// Writes fields into an object that already has members (an Any's
    /// `"@type"`).
    pub(crate) fn continuing(out: &'a mut Vec<u8>) -> Self {
        Self { out, first: false }
    }
}

impl FieldSink for FieldWriter<'_> {
    type Error = JsonError;

    #[inline]
    fn field<C: Codec>(
        &mut self,
        _name: &'static str,
        key: &'static str,
        value: &C::Value,
    ) -> Result<(), JsonError> {
        if !std::mem::replace(&mut self.first, false) {
            self.out.push(b',');
        }
        self.out.extend_from_slice(key.as_bytes());
        C::write_json(value, self.out)
    }
}

/// Appends the compact JSON of any serde value to `out`, as `serde_json`
/// writes it.
#[cfg(test)]
fn write_serde<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), JsonError> {
    Ok(value.serialize(Writer { out })?)
}

/// What follows a backslash to escape each byte; 0 for bytes written as they
/// are, `u` for `\u00XX`. The same set as `serde_json`: control characters,
/// `"` and `\`.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
pub(super) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Flags (high bits) marking bytes of `word` that need escaping: below 0x20,
/// `"` or `\\`. These are the classic "has a byte less than n" and "has a
/// zero byte" tests: a flag can be spurious only above a real one, so the
/// word has a flag exactly when one of its bytes needs escaping.
#[inline]
pub(super) fn escape_flags(word: u64) -> u64 {
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    below_space
        | zero_bytes(word ^ (ONES * u64::from(b'"')))
        | zero_bytes(word ^ (ONES * u64::from(b'\\')))
}

/// Sixteen bytes at a time with SSE2, which every x86-64 CPU has.
#[cfg(target_arch = "x86_64")]
pub(super) mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// Two bit masks over the bytes of `chunk` (bit `n` for byte `n`): the
    /// bytes that end a plain run of string text (a quote, a backslash or a
    /// control character), and the bytes that are not ASCII.
    #[inline]
    pub(in crate::json) fn stops_and_highs(chunk: &[u8; 16]) -> (u32, u32) {
        // SAFETY: SSE2 is part of every x86-64 target, and the load reads
        // the sixteen bytes `chunk` refers to, unaligned.
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Unsigned: max(b, 0x1F) == 0x1F exactly when b <= 0x1F.
            let limit = _mm_set1_epi8(0x1F);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(v, limit), limit);
            let stops = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control));
            // The sign bit of each byte is its high bit.
            let highs = _mm_movemask_epi8(v);
            (stops as u32, highs as u32)
        }
    }
}

/// Appends `\\` and the escape of byte `b`.
#[inline]
fn write_escape(out: &mut Vec<u8>, b: u8, escape: u8) {
    if escape == b'u' {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]);
    } else {
        out.extend_from_slice(&[b'\\', escape]);
    }
}

/// Whether any byte of `bytes` needs escaping, looking at eight bytes at a
/// time (the last chunk overlaps the one before it; short strings are read
/// as two overlapping halves).
#[inline]
fn needs_escaping(bytes: &[u8]) -> bool {
    let n = bytes.len();
    // Sixteen bytes at a time where the CPU has SSE2, likewise.
    #[cfg(target_arch = "x86_64")]
    if n >= 16 {
        let mut stops = 0;
        let mut chunks = bytes.chunks_exact(16);
        for chunk in &mut chunks {
            if let Some(chunk) = chunk.first_chunk::<16>() {
                stops |= sse2::stops_and_highs(chunk).0;
            }
        }
        if !chunks.remainder().is_empty()
            && let Some(last) = bytes[n - 16..].first_chunk::<16>()
        {
            stops |= sse2::stops_and_highs(last).0;
        }
        return stops != 0;
    }
    if n >= 8 {
        let mut flags = 0;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            if let Some(chunk) = chunk.first_chunk::<8>() {
                flags |= escape_flags(u64::from_le_bytes(*chunk));
            }
        }
        if !chunks.remainder().is_empty()
            && let Some(last) = bytes[n - 8..].first_chunk::<8>()
        {
            flags |= escape_flags(u64::from_le_bytes(*last));
        }
        flags != 0
    } else if n >= 4 {
        match (bytes.first_chunk::<4>(), bytes[n - 4..].first_chunk::<4>()) {
            (Some(low), Some(high)) => {
                let word = u64::from(u32::from_le_bytes(*low))
                    | u64::from(u32::from_le_bytes(*high)) << 32;
                escape_flags(word) != 0
            }
            _ => true,
        }
    } else {
        bytes.iter().any(|&b| ESCAPE[usize::from(b)] != 0)
    }
}

/// Appends the escaped contents of a string, without quotes.
#[inline]
fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !needs_escaping(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = ESCAPE[usize::from(b)];
        if escape != 0 {
            out.extend_from_slice(&bytes[start..i]);
            write_escape(out, b, escape);
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

#[inline]
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

/// Escapes `Display` output as it comes (for `collect_str`).
struct Escaping<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.0, s);
        Ok(())
    }
}

pub(crate) fn write_integer<I: itoa::Integer>(out: &mut Vec<u8>, value: I) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

pub(crate) fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        // Writing to a Vec cannot fail.
        let _ = serde_json::ser::CompactFormatter.write_f64(out, value);
    } else {
        out.extend_from_slice(b"null");
    }
}

pub(crate) fn write_f32(out: &mut Vec<u8>, value: f32) {
    if value.is_finite() {
        let _ = serde_json::ser::CompactFormatter.write_f32(out, value);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// The serializer: one per value, borrowing the output.
pub(crate) struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out }
    }
}

/// An array or object being written. `close` ends it (two bytes when a
/// variant's wrapping object ends with it).
pub(crate) struct Compound<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    close: &'static [u8],
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut Vec<u8>, open: &[u8], close: &'static [u8]) -> Self {
        out.extend_from_slice(open);
        Self {
            out,
            first: true,
            close,
        }
    }

    #[inline]
    fn separate(&mut self) {
        if !std::mem::replace(&mut self.first, false) {
            self.out.push(b',');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        self.separate();
        value.serialize(Writer { out: self.out })
    }

    fn member<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), WriteError> {
        self.separate();
        write_str(self.out, key);
        self.out.push(b':');
        value.serialize(Writer { out: self.out })
    }

    fn close(self) -> Result<(), WriteError> {
        self.out.extend_from_slice(self.close);
        Ok(())
    }
}

/// The `serialize_<integer>` methods of a serializer, each handing the value
/// to the serializer's method `$write`.
macro_rules! integers {
    ($write:ident) => {
        integers!($write: serialize_i8 i8, serialize_i16 i16, serialize_i32 i32,
            serialize_i64 i64, serialize_i128 i128, serialize_u8 u8, serialize_u16 u16,
            serialize_u32 u32, serialize_u64 u64, serialize_u128 u128);
    };
    ($write:ident: $($method:ident $t:ty),*) => {$(
        fn $method(self, v: $t) -> Result<(), WriteError> {
            self.$write(v)
        }
    )*};
}

/// Writes an integer.
impl Writer<'_> {
    fn integer<I: itoa::Integer>(self, value: I) -> Result<(), WriteError> {
        write_integer(self.out, value);
        Ok(())
    }
}

/// Opens `{"variant":` for the externally tagged forms of enum variants.
fn open_variant<'a>(
    out: &'a mut Vec<u8>,
    variant: &str,
    open: &[u8],
    close: &'static [u8],
) -> Compound<'a> {
    out.push(b'{');
    write_str(out, variant);
    out.push(b':');
    Compound::open(out, open, close)
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), WriteError> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    integers!(integer);

    fn serialize_f32(self, v: f32) -> Result<(), WriteError> {
        write_f32(self.out, v);
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), WriteError> {
        write_f64(self.out, v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), WriteError> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), WriteError> {
        write_str(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), WriteError> {
        // As serde_json: an array of numbers.
        let mut seq = Compound::open(self.out, b"[", b"]");
        for byte in v {
            seq.separate();
            write_integer(seq.out, *byte);
        }
        seq.close()
    }

    fn serialize_none(self) -> Result<(), WriteError> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), WriteError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), WriteError> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), WriteError> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), WriteError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        let mut map = Compound::open(self.out, b"{", b"}");
        map.member(variant, value)?;
        map.close()
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, WriteError> {
        Ok(Compound::open(self.out, b"[", b"]"))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, WriteError> {
        Ok(Compound::open(self.out, b"[", b"]"))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, WriteError> {
        Ok(Compound::open(self.out, b"[", b"]"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, WriteError> {
        Ok(open_variant(self.out, variant, b"[", b"]}"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, WriteError> {
        Ok(Compound::open(self.out, b"{", b"}"))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, WriteError> {
        Ok(Compound::open(self.out, b"{", b"}"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, WriteError> {
        Ok(open_variant(self.out, variant, b"{", b"}}"))
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), WriteError> {
        use fmt::Write as _;
        self.out.push(b'"');
        write!(Escaping(self.out), "{value}")
            .map_err(|_| WriteError("a Display implementation failed".to_owned()))?;
        self.out.push(b'"');
        Ok(())
    }
}

/// The array-like compounds: each element written as a value.
macro_rules! array_like {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = WriteError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
                self.element(value)
            }

            fn end(self) -> Result<(), WriteError> {
                self.close()
            }
        }
    )*};
}

array_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), WriteError> {
        self.separate();
        key.serialize(KeyWriter { out: self.out })?;
        self.out.push(b':');
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        value.serialize(Writer { out: self.out })
    }

    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), WriteError> {
        self.serialize_key(key)?;
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), WriteError> {
        self.close()
    }
}

/// The struct-like compounds: each field written as a member.
macro_rules! struct_like {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = WriteError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), WriteError> {
                self.member(key, value)
            }

            fn end(self) -> Result<(), WriteError> {
                self.close()
            }
        }
    )*};
}

struct_like!(SerializeStruct, SerializeStructVariant);

/// Writes an object member name: strings as they are; integers, booleans and
/// chars quoted, as `serde_json` does; anything else is an error.
struct KeyWriter<'a> {
    out: &'a mut Vec<u8>,
}

fn key_must_be_a_string() -> WriteError {
    WriteError("key must be a string".to_owned())
}

impl KeyWriter<'_> {
    fn quoted_integer<I: itoa::Integer>(self, value: I) -> Result<(), WriteError> {
        self.out.push(b'"');
        write_integer(self.out, value);
        self.out.push(b'"');
        Ok(())
    }
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Impossible<(), WriteError>;
    type SerializeTuple = Impossible<(), WriteError>;
    type SerializeTupleStruct = Impossible<(), WriteError>;
    type SerializeTupleVariant = Impossible<(), WriteError>;
    type SerializeMap = Impossible<(), WriteError>;
    type SerializeStruct = Impossible<(), WriteError>;
    type SerializeStructVariant = Impossible<(), WriteError>;

    fn serialize_str(self, v: &str) -> Result<(), WriteError> {
        write_str(self.out, v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), WriteError> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_bool(self, v: bool) -> Result<(), WriteError> {
        self.out
            .extend_from_slice(if v { b"\"true\"" } else { b"\"false\"" });
        Ok(())
    }

    integers!(quoted_integer);

    fn serialize_f32(self, _v: f32) -> Result<(), WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_f64(self, _v: f64) -> Result<(), WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<(), WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_none(self) -> Result<(), WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit(self) -> Result<(), WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), WriteError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, WriteError> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, WriteError> {
        Err(key_must_be_a_string())
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), WriteError> {
        Writer { out: self.out }.collect_str(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn both<T: Serialize + ?Sized>(value: &T) -> String {
        let mut ours = Vec::new();
        write_serde(&mut ours, value).unwrap();
        let theirs = serde_json::to_vec(value).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
        String::from_utf8(ours).unwrap()
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        let mut all_bytes = String::new();
        for c in (0u32..0x80).chain([0xe9, 0x2028, 0x1f600]) {
            all_bytes.push(char::from_u32(c).unwrap());
        }
        for s in [
            "",
            "plain",
            "exactly8",
            "a \"quoted\" \\ word",
            "tab\there\nnewline\r\u{8}\u{c}\u{1}\u{1f}\u{7f}",
            "0123456789abcdef\"0123456789abcdef\\",
            "éèê ✓ 😀 \u{2028}",
            &all_bytes,
        ] {
            both(s);
            both(&BTreeMap::from([(s, s)]));
        }
        assert_eq!(both("a\u{1}\"\\"), r#""a\u0001\"\\""#);
    }

    #[test]
    fn the_rest_of_the_data_model_as_serde_json() {
        #[derive(Serialize)]
        enum E {
            Unit,
            New(u8),
            Tuple(i32, String),
            Struct { a: f64, b: Option<bool> },
        }
        #[derive(Serialize)]
        struct S<'a> {
            ints: (i8, i16, i32, i64, i128, u8, u16, u32, u64, u128),
            floats: Vec<f64>,
            single: f32,
            c: char,
            bytes: &'a serde_bytes_like::Bytes,
            unit: (),
            none: Option<u8>,
            variants: Vec<E>,
            keys: BTreeMap<i64, bool>,
            bool_keys: BTreeMap<bool, ()>,
        }
        mod serde_bytes_like {
            pub(super) struct Bytes(pub(super) Vec<u8>);
            impl serde::Serialize for Bytes {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bytes(&self.0)
                }
            }
        }
        both(&S {
            ints: (
                i8::MIN,
                i16::MIN,
                i32::MIN,
                i64::MIN,
                i128::MIN,
                u8::MAX,
                u16::MAX,
                u32::MAX,
                u64::MAX,
                u128::MAX,
            ),
            floats: vec![
                0.0,
                -0.0,
                1.5,
                1e-7,
                1e21,
                123456789.125,
                f64::MAX,
                f64::NAN,
            ],
            single: 0.1,
            c: '"',
            bytes: &serde_bytes_like::Bytes(vec![0, 255]),
            unit: (),
            none: None,
            variants: vec![
                E::Unit,
                E::New(7),
                E::Tuple(-1, "x".into()),
                E::Struct { a: 2.5, b: None },
            ],
            keys: BTreeMap::from([(-3, true), (4, false)]),
            bool_keys: BTreeMap::from([(true, ())]),
        });
        both(&Vec::<u8>::new());
        both(&BTreeMap::<String, u8>::new());
    }

    #[test]
    fn lists_options_and_values_write_as_serde_json_does() {
        use crate::google::rpc::Status;
        let statuses = vec![
            Status {
                code: 5,
                message: "a \"b\"".into(),
                details: vec![],
            },
            Status::default(),
        ];
        let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (
                super::super::to_vec(&statuses).unwrap(),
                serde_json::to_vec(&statuses).unwrap(),
            ),
            (
                super::super::to_vec(&Some(&statuses[0])).unwrap(),
                serde_json::to_vec(&Some(&statuses[0])).unwrap(),
            ),
            (
                super::super::to_vec(&None::<Status>).unwrap(),
                serde_json::to_vec(&None::<Status>).unwrap(),
            ),
            (
                super::super::to_vec(&serde_json::json!({"a": [1, 2.5, null]})).unwrap(),
                serde_json::to_vec(&serde_json::json!({"a": [1, 2.5, null]})).unwrap(),
            ),
        ];
        for (ours, theirs) in cases {
            assert_eq!(String::from_utf8(ours), String::from_utf8(theirs));
        }
    }

    #[test]
    fn collect_str_escapes_display_output() {
        struct Shown;
        impl Serialize for Shown {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&format_args!("a\"b{}", '\n'))
            }
        }
        assert_eq!(both(&Shown), r#""a\"b\n""#);
    }

    #[test]
    fn non_string_keys_are_refused() {
        let mut out = Vec::new();
        let err = write_serde(&mut out, &BTreeMap::from([((1, 2), 3)])).unwrap_err();
        assert_eq!(err.to_string(), "key must be a string");
    }
}
