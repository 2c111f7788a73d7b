//! The JSON writer of the crate's one JSON engine.
//!
//! Compact canonical JSON appended to a byte vector, in exactly the bytes
//! `serde_json`'s compact serializer would give (tests compare the two),
//! built for the shape of canonical proto3 JSON: many short strings. Strings
//! are scanned for characters that need escaping sixteen or eight bytes at a
//! time and copied in runs; numbers use `itoa` and `serde_json`'s own float
//! formatting, so both agree digit for digit. Indented output is the compact
//! output re-indented ([`indent`]).

use std::fmt;

use serde_json::ser::Formatter as _;

use super::limits::AnyDepth;
use super::options::WriteOptions;
use super::scan::escape_flags;
#[cfg(target_arch = "x86_64")]
use super::scan::sse2;

/// Why a value could not be written.
#[derive(Debug)]
pub struct WriteError(String);

impl WriteError {
    /// An error saying `message`.
    pub(crate) fn new(message: impl fmt::Display) -> Self {
        Self(message.to_string())
    }

    /// What went wrong, as the error says it.
    pub(crate) fn into_message(self) -> String {
        self.0
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WriteError {}

/// Where JSON is written: the output, and how many more `Any` levels may be
/// entered (binary input can nest Anys without limit; their payloads are
/// opaque bytes to the decoder).
pub struct Writer<'a> {
    /// The output, taken from `target` for as long as the writer lives, so
    /// that writing reaches it with one indirection less.
    out: Vec<u8>,
    target: &'a mut Vec<u8>,
    any_depth: AnyDepth,
    enums_as_ints: bool,
    /// The user's types for `Any` values, from the options.
    pub(super) types: Option<super::options::Types>,
    /// What a field mask keeps, from the root to the value being written;
    /// empty for everything.
    mask: Vec<std::sync::Arc<super::mask::Mask>>,
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        *self.target = std::mem::take(&mut self.out);
    }
}

impl<'a> Writer<'a> {
    /// A writer appending to `out`, which holds the output again once the
    /// writer is dropped.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Self::with_options(out, &WriteOptions::default())
    }

    /// A writer appending to `out` as `options` say (indenting is done on
    /// the compact output afterwards, by [`indent`]).
    pub(crate) fn with_options(out: &'a mut Vec<u8>, options: &WriteOptions) -> Self {
        Self {
            out: std::mem::take(out),
            target: out,
            any_depth: AnyDepth::new(),
            types: options.types.clone(),
            mask: options.mask.iter().cloned().collect(),
            enums_as_ints: options.writes_enums_as_ints(),
        }
    }

    /// What the mask keeps of the message being written: `None` when
    /// everything is (no mask, or a part kept whole).
    #[inline]
    pub(crate) fn mask(&self) -> Option<&std::sync::Arc<super::mask::Mask>> {
        self.mask.last().filter(|m| !m.all)
    }

    /// Writes a member's value under what the mask keeps of it.
    pub(crate) fn masked<T>(
        &mut self,
        kept: std::sync::Arc<super::mask::Mask>,
        write: impl FnOnce(&mut Self) -> Result<T, WriteError>,
    ) -> Result<T, WriteError> {
        self.mask.push(kept);
        let value = write(self);
        self.mask.pop();
        value
    }

    /// Whether enum values are written as numbers
    /// ([`WriteOptions::enums_as_ints`]).
    #[inline]
    pub(crate) fn enums_as_ints(&self) -> bool {
        self.enums_as_ints
    }

    /// The output.
    #[inline]
    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Runs `write` one `Any` level deeper; an error past the limit
    /// ([`AnyDepth`]).
    pub(crate) fn in_any<T>(
        &mut self,
        write: impl FnOnce(&mut Self) -> Result<T, WriteError>,
    ) -> Result<T, WriteError> {
        self.any_depth.enter().map_err(WriteError::new)?;
        let value = write(self);
        self.any_depth.leave();
        value
    }
}

/// A value the crate's JSON writer ([`to_vec`](super::to_vec) and friends)
/// can write: every message and well-known type of the crate, and lists,
/// options and references of these. Sealed: no other type can implement
/// it.
pub trait WriteJson: super::sealed::Sealed {
    /// Appends the value's compact JSON. On error, the output holds a
    /// partial document.
    #[doc(hidden)]
    fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError>;
}

impl<T: WriteJson> WriteJson for [T] {
    fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        writer.out().push(b'[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                writer.out().push(b',');
            }
            item.write_json(writer)?;
        }
        writer.out().push(b']');
        Ok(())
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        self.as_slice().write_json(writer)
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        match self {
            Some(value) => value.write_json(writer),
            None => {
                writer.out().extend_from_slice(b"null");
                Ok(())
            }
        }
    }
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        (**self).write_json(writer)
    }
}

impl<T: WriteJson + ?Sized> WriteJson for Box<T> {
    fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        (**self).write_json(writer)
    }
}

/// Compact JSON re-indented as `serde_json`'s pretty printer lays it out:
/// two spaces a level, `": "` after names, empty arrays and objects kept as
/// `[]` and `{}`. `compact` must be the writer's output (no whitespace
/// outside strings).
pub(crate) fn indent(compact: &[u8]) -> Vec<u8> {
    fn newline(out: &mut Vec<u8>, level: usize) {
        out.push(b'\n');
        out.resize(out.len() + 2 * level, b' ');
    }
    let mut out = Vec::with_capacity(compact.len() + compact.len() / 2);
    let mut level = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < compact.len() {
        let b = compact[i];
        i += 1;
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                out.push(b);
                if compact.get(i) == Some(&close) {
                    out.push(close);
                    i += 1;
                } else {
                    level += 1;
                    newline(&mut out, level);
                }
            }
            b'}' | b']' => {
                level = level.saturating_sub(1);
                newline(&mut out, level);
                out.push(b);
            }
            b',' => {
                out.push(b',');
                newline(&mut out, level);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(b),
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
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
            assert_eq!(ours(s), serde_json::to_string(s).unwrap());
        }
        for len in 0..40 {
            for at in 0..len {
                let mut s: Vec<char> = std::iter::repeat_n('a', len).collect();
                s[at] = '"';
                let s: String = s.into_iter().collect();
                assert_eq!(ours(&s), serde_json::to_string(&s).unwrap());
            }
        }
        assert_eq!(ours("a\u{1}\"\\"), r#""a\u0001\"\\""#);
    }

    #[test]
    fn numbers_as_serde_json_writes_them() {
        for v in [
            0.0,
            -0.0,
            0.1,
            1e21,
            1e-7,
            123456.789,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&v).unwrap()
            );
        }
        for v in [0.1f32, f32::MAX, 3.0e-40] {
            let mut out = Vec::new();
            write_f32(&mut out, v);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&v).unwrap()
            );
        }
        let mut out = Vec::new();
        write_integer(&mut out, i64::MIN);
        assert_eq!(out, b"-9223372036854775808");
    }

    #[test]
    fn indentation_as_serde_json_lays_it_out() {
        // serde_json's Value sorts keys, so the document's are sorted.
        let compact = br#"{"a":[],"b":{},"c":[1,{"d":"x,:{}[]\"\\"}],"e":{"f":null}}"#;
        let value: serde_json::Value = serde_json::from_slice(compact).unwrap();
        assert_eq!(
            String::from_utf8(indent(compact)).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
        assert_eq!(indent(b"[]"), b"[]");
        assert_eq!(indent(b"\"a\""), b"\"a\"");
    }
}
