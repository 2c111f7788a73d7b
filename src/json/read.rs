//! The JSON reader behind [`from_slice`](super::from_slice) and friends.
//!
//! A [`serde::Deserializer`] over a byte slice that accepts exactly what
//! `serde_json` accepts and hands visitors the same values (tests compare the
//! two on random and broken documents): the same number forms, escapes,
//! recursion limit and error wording. It is built for the shape of canonical
//! proto3 JSON, many short strings: a string is scanned sixteen bytes at a time
//! for its end, escapes and non-ASCII bytes in one pass, borrowed from the
//! input when it has no escapes, and checked as UTF-8 only when it is not
//! ASCII.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer as _, Visitor};
use serde::forward_to_deserialize_any;

#[cfg(target_arch = "x86_64")]
use super::write::sse2;
use super::write::{HIGHS, escape_flags};

/// How deep arrays and objects may nest, as in `serde_json`: the 128th level
/// is refused.
const RECURSION_LIMIT: u32 = 128;

/// The newtype-struct name by which `Any`'s `Deserialize` impl asks this
/// reader for the raw text of the object it stands on (as `serde_json` does
/// for its `RawValue`): the impl then reads the object again with this
/// reader's types known, so its payload is read without type erasure.
/// Other deserializers treat the name as any newtype struct.
pub(crate) const RAW_ANY: &str = "$cloud_report_proto::RawAny";

thread_local! {
    /// Set while raw text is handed to a visitor: the depth budget left at
    /// the object, for reading it again with the same limit.
    static RAW_HANDOFF: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// Takes the hand-off in progress: `Some(depth budget)` when the bytes a
/// visitor was given are raw text from [`RAW_ANY`].
pub(crate) fn take_raw_handoff() -> Option<u32> {
    RAW_HANDOFF.with(std::cell::Cell::take)
}

/// Why a document could not be read.
#[derive(Debug)]
pub struct ReadError(String);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReadError {}

impl de::Error for ReadError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

type Result<T, E = ReadError> = std::result::Result<T, E>;

fn error(message: &str) -> ReadError {
    ReadError(message.to_owned())
}

/// A JSON number as the grammar gives it.
enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A string read from the input: borrowed when it had no escapes.
pub(crate) enum Text<'de, 's> {
    Borrowed(&'de str),
    Copied(&'s str),
}

impl Text<'_, '_> {
    /// The string.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) | Text::Copied(s) => s,
        }
    }
}

/// A type the crate's JSON reader can read: every message and well-known
/// type of the crate, `Vec`, `Option` and `Box` of these, and `serde_json`
/// values. [`from_slice`](super::from_slice) and friends take one.
///
/// Generated messages are read straight from the text; any other type is
/// read through its [`Deserialize`](serde::Deserialize) impl, so an own
/// type opts in with an empty impl:
///
/// ```
/// use cloud_report_proto::json::{self, ReadJson};
///
/// #[derive(serde::Deserialize)]
/// struct Pair {
///     left: String,
///     right: String,
/// }
/// impl ReadJson for Pair {}
///
/// let pair: Pair = json::from_str(r#"{"left": "a", "right": "b"}"#)?;
/// assert_eq!(pair.right, "b");
/// # Ok::<(), json::JsonError>(())
/// ```
pub trait ReadJson: de::DeserializeOwned {
    /// Reads a value from `reader`.
    #[doc(hidden)]
    fn read_json(reader: &mut Reader<'_>) -> Result<Self> {
        Self::deserialize(reader)
    }

    /// Reads a value from `reader` into `place`, which holds a fresh value
    /// (a message's default), so that large values are not moved.
    #[doc(hidden)]
    fn read_json_in_place(reader: &mut Reader<'_>, place: &mut Self) -> Result<()> {
        *place = Self::read_json(reader)?;
        Ok(())
    }

    /// Reads the rest of an object whose first member was read (an `Any`'s
    /// `"@type"`) as this type's fields into `place`, which holds a fresh
    /// value, and leaves the object.
    #[doc(hidden)]
    fn read_json_members(reader: &mut Reader<'_>, place: &mut Self) -> Result<()> {
        *place = reader.rest_of_object(|members| {
            Self::deserialize(de::value::MapAccessDeserializer::new(members))
        })?;
        Ok(())
    }
}

// As serde's impls for these, with the elements read by `T`'s reader.

impl<T: ReadJson> ReadJson for Vec<T> {
    fn read_json(reader: &mut Reader<'_>) -> Result<Self> {
        reader.enter_array()?;
        let mut out = Vec::new();
        let mut first = true;
        while reader.next_element(&mut first)? {
            out.push(T::read_json(reader)?);
        }
        Ok(out)
    }
}

impl<T: ReadJson> ReadJson for Option<T> {
    fn read_json(reader: &mut Reader<'_>) -> Result<Self> {
        if reader.null()? {
            Ok(None)
        } else {
            T::read_json(reader).map(Some)
        }
    }
}

impl<T: ReadJson> ReadJson for Box<T> {
    fn read_json(reader: &mut Reader<'_>) -> Result<Self> {
        T::read_json(reader).map(Box::new)
    }
}

impl ReadJson for serde_json::Value {}
impl ReadJson for serde_json::Map<String, serde_json::Value> {}

/// Reads one document from a byte slice.
pub struct Reader<'de> {
    input: &'de [u8],
    index: usize,
    depth_left: u32,
    scratch: Vec<u8>,
    /// Whether a value is being skipped.
    skipping: bool,
    /// Whether `Any` values may be handed over as raw text ([`RAW_ANY`]).
    raw_any: bool,
}

impl<'de> Reader<'de> {
    pub(crate) fn new(input: &'de [u8]) -> Self {
        Self {
            input,
            index: 0,
            depth_left: RECURSION_LIMIT,
            scratch: Vec::new(),
            skipping: false,
            raw_any: false,
        }
    }

    /// A reader that hands `Any` objects over as raw text, for a pass that
    /// does not need error paths.
    pub(crate) fn fast(input: &'de [u8]) -> Self {
        Self {
            raw_any: true,
            ..Self::new(input)
        }
    }

    /// A reader of raw text handed over at a depth budget of `depth_left`.
    pub(crate) fn nested(input: &'de [u8], depth_left: u32) -> Self {
        Self {
            depth_left,
            ..Self::new(input)
        }
    }

    /// Reads the rest of an object, after its first member, through serde:
    /// `read` gets the members, then the object is left.
    pub(crate) fn rest_of_object<T>(
        &mut self,
        read: impl FnOnce(Members<'_, 'de>) -> Result<T>,
    ) -> Result<T> {
        let value = read(Members {
            reader: self,
            first: false,
        })?;
        self.ascend();
        self.end_map()?;
        Ok(value)
    }

    /// Checks that only whitespace follows the document.
    pub(crate) fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(error("trailing characters")),
        }
    }

    /// The line and column (both 1-based, the column counted in bytes) where
    /// reading stopped.
    pub(crate) fn position(&self) -> (usize, usize) {
        let done = &self.input[..self.index.min(self.input.len())];
        let start_of_line = done.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = 1 + done[..start_of_line]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        (line, done.len() - start_of_line)
    }

    /// Where the reader stands, to come back to with [`Reader::rewind`].
    pub(crate) fn mark(&self) -> (usize, u32) {
        (self.index, self.depth_left)
    }

    /// Goes back to where [`Reader::mark`] was taken, to read the same text
    /// another way.
    pub(crate) fn rewind(&mut self, (index, depth_left): (usize, u32)) {
        self.index = index;
        self.depth_left = depth_left;
    }

    /// Consumes a `null` if one comes next.
    #[inline]
    pub(crate) fn null(&mut self) -> Result<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Reads a string if one comes next; `None` (nothing consumed) if the
    /// next value is something else.
    #[inline]
    pub(crate) fn string_value(&mut self) -> Result<Option<Text<'de, '_>>> {
        if self.peek() == Some(b'"') {
            self.index += 1;
            self.string().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Enters the object that must come next, for [`Reader::member_name`].
    #[inline]
    pub(crate) fn enter_object(&mut self) -> Result<()> {
        self.enter(b'{', "expected an object")
    }

    /// Enters the array that must come next, for [`Reader::next_element`].
    #[inline]
    pub(crate) fn enter_array(&mut self) -> Result<()> {
        self.enter(b'[', "expected an array")
    }

    #[inline]
    fn enter(&mut self, open: u8, expected: &str) -> Result<()> {
        match self.peek() {
            Some(b) if b == open => {
                self.descend()?;
                self.index += 1;
                Ok(())
            }
            Some(_) => Err(error(expected)),
            None => Err(error("EOF while parsing a value")),
        }
    }

    /// The name of the next member of an object entered with
    /// [`Reader::enter_object`] (its colon still to come), or `None` when
    /// the object ends, which leaves it. `first` is true until a name was
    /// read.
    #[inline]
    pub(crate) fn member_name(&mut self, first: &mut bool) -> Result<Option<Text<'de, '_>>> {
        if !self.next_member(first)? {
            self.ascend();
            self.index += 1;
            return Ok(None);
        }
        self.string().map(Some)
    }

    /// Whether another element of an array entered with
    /// [`Reader::enter_array`] follows (the reader then stands on it); at
    /// the end, leaves the array. `first` is true until an element was
    /// announced.
    #[inline]
    pub(crate) fn next_element(&mut self, first: &mut bool) -> Result<bool> {
        if !self.element_follows(first)? {
            self.ascend();
            self.index += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// Steps over the comma before an object's next member and its opening
    /// quote: `false`, with the reader on the `}`, at the end.
    #[inline(always)]
    fn next_member(&mut self, first: &mut bool) -> Result<bool> {
        match self.peek() {
            Some(b'}') => return Ok(false),
            Some(b',') if !*first => {
                self.index += 1;
                match self.peek() {
                    Some(b'"') => {}
                    Some(b'}') => return Err(error("trailing comma")),
                    Some(_) => return Err(error("key must be a string")),
                    None => return Err(error("EOF while parsing a value")),
                }
            }
            Some(b'"') if *first => {}
            Some(_) if *first => return Err(error("key must be a string")),
            Some(_) => return Err(error("expected `,` or `}`")),
            None => return Err(error("EOF while parsing an object")),
        }
        *first = false;
        self.index += 1;
        Ok(true)
    }

    /// Steps over the comma before an array's next element: `false`, with
    /// the reader on the `]`, at the end.
    #[inline(always)]
    fn element_follows(&mut self, first: &mut bool) -> Result<bool> {
        match self.peek() {
            Some(b']') => return Ok(false),
            Some(b',') if !*first => {
                self.index += 1;
                if self.peek() == Some(b']') {
                    return Err(error("trailing comma"));
                }
            }
            Some(_) if *first => {}
            Some(_) => return Err(error("expected `,` or `]`")),
            None => return Err(error("EOF while parsing a list")),
        }
        *first = false;
        Ok(true)
    }

    /// Skips whitespace and returns the next byte, without consuming it.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.input.get(self.index) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.index += 1;
        }
        None
    }

    /// Consumes the rest of a literal (`null`, `true`, `false`) whose first
    /// byte was peeked.
    fn literal(&mut self, word: &[u8]) -> Result<()> {
        for &expected in word {
            match self.input.get(self.index) {
                None => return Err(error("EOF while parsing a value")),
                Some(&b) if b == expected => self.index += 1,
                Some(_) => return Err(error("expected ident")),
            }
        }
        Ok(())
    }

    /// Reads a string whose opening quote was consumed.
    #[inline(always)]
    fn string(&mut self) -> Result<Text<'de, '_>> {
        // Most strings of canonical JSON are short, plain ASCII: those that
        // end within the next sixteen bytes are read here, inline.
        #[cfg(target_arch = "x86_64")]
        if let Some(chunk) = self
            .input
            .get(self.index..)
            .and_then(<[u8]>::first_chunk::<16>)
        {
            let (stops, highs) = sse2::stops_and_highs(chunk);
            let at = stops.trailing_zeros();
            let before = (1u32 << at.min(16)) - 1;
            if chunk.get(at as usize) == Some(&b'"') && highs & before == 0 {
                let start = self.index;
                self.index = start + at as usize + 1;
                // SAFETY: the bytes before the quote have their high bit
                // clear, and ASCII is UTF-8.
                return Ok(Text::Borrowed(unsafe {
                    std::str::from_utf8_unchecked(&self.input[start..start + at as usize])
                }));
            }
        }
        self.long_string()
    }

    /// [`Reader::string`] for a string that is long, escaped, not ASCII or
    /// near the end of the input.
    #[inline(never)]
    fn long_string(&mut self) -> Result<Text<'de, '_>> {
        let input = self.input;
        let start = self.index;
        let mut i = start;
        let mut high_bits = 0u64;
        // To the first quote, backslash or control character, noting any
        // non-ASCII byte on the way: sixteen bytes at a time where the CPU
        // has SSE2, then eight, then one.
        let i = 'scan: {
            #[cfg(target_arch = "x86_64")]
            while let Some(chunk) = input.get(i..).and_then(<[u8]>::first_chunk::<16>) {
                let (stops, highs) = sse2::stops_and_highs(chunk);
                if stops != 0 {
                    let at = stops.trailing_zeros();
                    high_bits |= u64::from(highs & ((1 << at) - 1));
                    break 'scan i + at as usize;
                }
                high_bits |= u64::from(highs);
                i += 16;
            }
            while let Some(chunk) = input.get(i..).and_then(<[u8]>::first_chunk::<8>) {
                let word = u64::from_le_bytes(*chunk);
                let flags = escape_flags(word);
                if flags != 0 {
                    let at = (flags.trailing_zeros() / 8) as usize;
                    high_bits |= word & HIGHS & mask_below(at);
                    break 'scan i + at;
                }
                high_bits |= word & HIGHS;
                i += 8;
            }
            while let Some(&b) = input.get(i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                high_bits |= u64::from(b & 0x80);
                i += 1;
            }
            i
        };
        match input.get(i) {
            None => {
                self.index = i;
                Err(error("EOF while parsing a string"))
            }
            Some(b'"') => {
                let bytes = &input[start..i];
                self.index = i + 1;
                if high_bits == 0 {
                    // SAFETY: every byte of `bytes` was seen above with its
                    // high bit clear, and ASCII is UTF-8.
                    return Ok(Text::Borrowed(unsafe {
                        std::str::from_utf8_unchecked(bytes)
                    }));
                }
                match std::str::from_utf8(bytes) {
                    Ok(s) => Ok(Text::Borrowed(s)),
                    Err(e) => {
                        self.index = start + e.valid_up_to() + 1;
                        Err(error("invalid unicode code point"))
                    }
                }
            }
            Some(b'\\') => {
                self.index = i;
                self.escaped_string(start)
            }
            Some(_) => {
                self.index = i + 1;
                Err(error(
                    "control character (\\u0000-\\u001F) found while parsing a string",
                ))
            }
        }
    }

    /// Finishes a string that has escapes, from `start` (just after the
    /// opening quote); the reader stands on the first backslash.
    #[cold]
    fn escaped_string(&mut self, start: usize) -> Result<Text<'de, '_>> {
        let input = self.input;
        self.scratch.clear();
        let mut run = start;
        loop {
            let Some(&b) = input.get(self.index) else {
                return Err(error("EOF while parsing a string"));
            };
            match b {
                b'"' => {
                    self.scratch.extend_from_slice(&input[run..self.index]);
                    self.index += 1;
                    return match std::str::from_utf8(&self.scratch) {
                        Ok(s) => Ok(Text::Copied(s)),
                        Err(_) => Err(error("invalid unicode code point")),
                    };
                }
                b'\\' => {
                    self.scratch.extend_from_slice(&input[run..self.index]);
                    self.index += 1;
                    self.escape()?;
                    run = self.index;
                }
                0..0x20 => {
                    self.index += 1;
                    return Err(error(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
                _ => self.index += 1,
            }
        }
    }

    /// Decodes one escape (the backslash consumed) into the scratch buffer.
    fn escape(&mut self) -> Result<()> {
        let Some(&b) = self.input.get(self.index) else {
            return Err(error("EOF while parsing a string"));
        };
        self.index += 1;
        let byte = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let c = self.unicode_escape()?;
                self.scratch
                    .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
            _ => return Err(error("invalid escape")),
        };
        self.scratch.push(byte);
        Ok(())
    }

    /// Decodes `XXXX` after `\u`, and the low half of a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char> {
        let high = self.hex4()?;
        if self.skipping && (0xd800..=0xdfff).contains(&high) {
            // As serde_json and Python do, a skipped value's escapes are
            // checked for syntax only: surrogates need not pair.
            return Ok(char::REPLACEMENT_CHARACTER);
        }
        let code = match high {
            0xdc00..=0xdfff => return Err(error("lone leading surrogate in hex escape")),
            0xd800..=0xdbff => {
                if self.input.get(self.index..self.index + 2) != Some(b"\\u") {
                    return Err(match self.input.get(self.index) {
                        None => error("EOF while parsing a string"),
                        Some(_) => error("unexpected end of hex escape"),
                    });
                }
                self.index += 2;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(error("lone leading surrogate in hex escape"));
                }
                0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(low) - 0xdc00)
            }
            other => u32::from(other),
        };
        char::from_u32(code).ok_or_else(|| error("invalid unicode code point"))
    }

    fn hex4(&mut self) -> Result<u16> {
        let mut value = 0u16;
        for _ in 0..4 {
            let Some(&b) = self.input.get(self.index) else {
                return Err(error("EOF while parsing a string"));
            };
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(error("invalid escape")),
            };
            self.index += 1;
            value = value << 4 | u16::from(digit);
        }
        Ok(value)
    }

    /// Reads a number whose first byte (`-` or a digit) was peeked.
    fn number(&mut self) -> Result<Number> {
        let start = self.index;
        let (negative, int_digits, is_float) = self.scan_number()?;
        let input = self.input;
        if !is_float {
            let mut value = 0u64;
            let mut overflow = false;
            for &d in &input[int_digits] {
                match value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(d - b'0')))
                {
                    Some(v) => value = v,
                    None => {
                        overflow = true;
                        break;
                    }
                }
            }
            if !overflow {
                if !negative {
                    return Ok(Number::U64(value));
                }
                // As serde_json: -0 is the float -0.0, and integers below
                // i64::MIN are floats.
                if value != 0
                    && let Some(v) = 0i64.checked_sub_unsigned(value)
                {
                    return Ok(Number::I64(v));
                }
            }
        }
        // SAFETY: `scan_number` stepped only over ASCII digits, signs, `.`,
        // `e` and `E`. The text is a JSON number, which is Rust's float syntax.
        let text = unsafe { std::str::from_utf8_unchecked(&input[start..self.index]) };
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Number::F64(v)),
            _ => Err(error("number out of range")),
        }
    }

    /// Consumes a number's text, checking its syntax: whether it is
    /// negative, where its integer digits are, and whether it has a fraction
    /// or an exponent.
    fn scan_number(&mut self) -> Result<(bool, std::ops::Range<usize>, bool)> {
        let input = self.input;
        let negative = input.get(self.index) == Some(&b'-');
        if negative {
            self.index += 1;
        }
        let digits = |index: &mut usize| {
            let from = *index;
            while input.get(*index).is_some_and(u8::is_ascii_digit) {
                *index += 1;
            }
            *index - from
        };
        let int_start = self.index;
        match input.get(self.index) {
            Some(b'0') => {
                self.index += 1;
                if input.get(self.index).is_some_and(u8::is_ascii_digit) {
                    return Err(error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                digits(&mut self.index);
            }
            None => return Err(error("EOF while parsing a value")),
            Some(_) => return Err(error("invalid number")),
        }
        let int_end = self.index;
        let mut is_float = false;
        if input.get(self.index) == Some(&b'.') {
            self.index += 1;
            if digits(&mut self.index) == 0 {
                return Err(self.number_end_error());
            }
            is_float = true;
        }
        if matches!(input.get(self.index), Some(b'e' | b'E')) {
            self.index += 1;
            if matches!(input.get(self.index), Some(b'+' | b'-')) {
                self.index += 1;
            }
            if digits(&mut self.index) == 0 {
                return Err(self.number_end_error());
            }
            is_float = true;
        }
        Ok((negative, int_start..int_end, is_float))
    }

    fn number_end_error(&self) -> ReadError {
        match self.input.get(self.index) {
            None => error("EOF while parsing a value"),
            Some(_) => error("invalid number"),
        }
    }

    /// Enters an array or object: one level of the recursion limit.
    fn descend(&mut self) -> Result<()> {
        self.depth_left -= 1;
        if self.depth_left == 0 {
            return Err(error("recursion limit exceeded"));
        }
        Ok(())
    }

    fn ascend(&mut self) {
        self.depth_left += 1;
    }

    /// Consumes the `]` that ends an array.
    fn end_seq(&mut self) -> Result<()> {
        self.end_compound(b']', "EOF while parsing a list")
    }

    /// Consumes the `}` that ends an object.
    fn end_map(&mut self) -> Result<()> {
        self.end_compound(b'}', "EOF while parsing an object")
    }

    /// Consumes `close`, which must come next: the visitor has read every
    /// element or member.
    fn end_compound(&mut self, close: u8, eof: &str) -> Result<()> {
        match self.peek() {
            Some(b) if b == close => {
                self.index += 1;
                Ok(())
            }
            Some(b',') => {
                self.index += 1;
                if self.peek() == Some(close) {
                    Err(error("trailing comma"))
                } else {
                    Err(error("trailing characters"))
                }
            }
            Some(_) => Err(error("trailing characters")),
            None => Err(error(eof)),
        }
    }

    /// Skips one value, checking its syntax, without building anything.
    /// Nesting costs no stack: open brackets are kept in a list.
    pub(crate) fn skip_value(&mut self) -> Result<()> {
        self.skipping = true;
        let skipped = self.skip_value_inner();
        self.skipping = false;
        skipped
    }

    fn skip_value_inner(&mut self) -> Result<()> {
        let mut open: Vec<u8> = Vec::new();
        loop {
            // A value.
            match self.peek() {
                None => return Err(error("EOF while parsing a value")),
                Some(b'n') => self.literal(b"null")?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'-' | b'0'..=b'9') => {
                    self.scan_number()?;
                }
                Some(b'"') => {
                    self.index += 1;
                    self.string()?;
                }
                Some(b'[') => {
                    self.index += 1;
                    if self.peek() == Some(b']') {
                        self.index += 1;
                    } else {
                        open.push(b']');
                        continue;
                    }
                }
                Some(b'{') => {
                    self.index += 1;
                    match self.peek() {
                        Some(b'}') => self.index += 1,
                        Some(b'"') => {
                            self.member_name_and_colon()?;
                            open.push(b'}');
                            continue;
                        }
                        Some(_) => return Err(error("key must be a string")),
                        None => return Err(error("EOF while parsing an object")),
                    }
                }
                Some(_) => return Err(error("expected value")),
            }
            // What follows a value inside the open arrays and objects.
            loop {
                let Some(&close) = open.last() else {
                    return Ok(());
                };
                match self.peek() {
                    Some(b',') => {
                        self.index += 1;
                        if close == b'}' {
                            match self.peek() {
                                Some(b'"') => self.member_name_and_colon()?,
                                Some(b'}') => return Err(error("trailing comma")),
                                Some(_) => return Err(error("key must be a string")),
                                None => return Err(error("EOF while parsing an object")),
                            }
                        } else if self.peek() == Some(b']') {
                            return Err(error("trailing comma"));
                        }
                        break;
                    }
                    Some(b) if b == close => {
                        self.index += 1;
                        open.pop();
                    }
                    Some(_) if close == b'}' => return Err(error("expected `,` or `}`")),
                    Some(_) => return Err(error("expected `,` or `]`")),
                    None if close == b'}' => return Err(error("EOF while parsing an object")),
                    None => return Err(error("EOF while parsing a list")),
                }
            }
        }
    }

    /// Reads `"name":` in an object being skipped; the reader stands on the
    /// quote.
    fn member_name_and_colon(&mut self) -> Result<()> {
        self.index += 1;
        self.string()?;
        self.colon()
    }

    /// Consumes the colon after a member name.
    #[inline]
    pub(crate) fn colon(&mut self) -> Result<()> {
        match self.peek() {
            Some(b':') => {
                self.index += 1;
                Ok(())
            }
            Some(_) => Err(error("expected `:`")),
            None => Err(error("EOF while parsing an object")),
        }
    }
}
/// The mask of the bytes of a word below byte `at`.
#[inline]
fn mask_below(at: usize) -> u64 {
    if at >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * at)) - 1
    }
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek() {
            None => Err(error("EOF while parsing a value")),
            Some(b'n') => {
                self.literal(b"null")?;
                visitor.visit_unit()
            }
            Some(b't') => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            Some(b'-' | b'0'..=b'9') => match self.number()? {
                Number::U64(v) => visitor.visit_u64(v),
                Number::I64(v) => visitor.visit_i64(v),
                Number::F64(v) => visitor.visit_f64(v),
            },
            Some(b'"') => {
                self.index += 1;
                match self.string()? {
                    Text::Borrowed(s) => visitor.visit_borrowed_str(s),
                    Text::Copied(s) => visitor.visit_str(s),
                }
            }
            Some(b'[') => {
                self.descend()?;
                self.index += 1;
                let value = visitor.visit_seq(Elements {
                    reader: self,
                    first: true,
                })?;
                self.ascend();
                self.end_seq()?;
                Ok(value)
            }
            Some(b'{') => {
                self.descend()?;
                self.index += 1;
                let value = visitor.visit_map(Members {
                    reader: self,
                    first: true,
                })?;
                self.ascend();
                self.end_map()?;
                Ok(value)
            }
            Some(_) => Err(error("expected value")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == RAW_ANY && self.raw_any && self.peek() == Some(b'{') {
            let (start, depth_left) = (self.index, self.depth_left);
            self.skip_value()?;
            let raw = &self.input[start..self.index];
            RAW_HANDOFF.with(|h| h.set(Some(depth_left)));
            let value = visitor.visit_borrowed_bytes(raw);
            RAW_HANDOFF.with(|h| h.set(None));
            return value;
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek() == Some(b'"') {
            self.index += 1;
            match self.string()? {
                Text::Borrowed(s) => visitor.visit_borrowed_bytes(s.as_bytes()),
                Text::Copied(s) => visitor.visit_bytes(s.as_bytes()),
            }
        } else {
            self.deserialize_any(visitor)
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.peek() {
            Some(b'"') => {
                self.index += 1;
                match self.string()? {
                    Text::Borrowed(s) => visitor.visit_enum(s.into_deserializer()),
                    Text::Copied(s) => visitor.visit_enum(s.into_deserializer()),
                }
            }
            Some(b'{') => {
                // `{"Variant": value}`: rare in this crate's documents, so
                // read through a buffered value.
                let value: serde_json::Value = de::Deserialize::deserialize(&mut *self)?;
                de::Deserializer::deserialize_enum(value, name, variants, visitor)
                    .map_err(de::Error::custom)
            }
            Some(_) => Err(error("expected value")),
            None => Err(error("EOF while parsing a value")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.skip_value()?;
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// The elements of an array.
struct Elements<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if !self.reader.element_follows(&mut self.first)? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.reader).map(Some)
    }
}

/// The members of an object.
pub(crate) struct Members<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> de::MapAccess<'de> for Members<'_, 'de> {
    type Error = ReadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if !self.reader.next_member(&mut self.first)? {
            return Ok(None);
        }
        seed.deserialize(MemberName {
            reader: &mut *self.reader,
        })
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.reader.colon()?;
        seed.deserialize(&mut *self.reader)
    }
}

/// An object member's name (its opening quote consumed): always a string.
struct MemberName<'a, 'de> {
    reader: &'a mut Reader<'de>,
}

impl<'de> de::Deserializer<'de> for MemberName<'_, 'de> {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.reader.string()? {
            Text::Borrowed(s) => visitor.visit_borrowed_str(s),
            Text::Copied(s) => visitor.visit_str(s),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.reader.string()?;
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier enum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    /// Reads `text` with both readers into a `serde_json::Value`.
    fn both(
        text: &[u8],
    ) -> (
        Result<serde_json::Value, String>,
        Result<serde_json::Value, String>,
    ) {
        let mut reader = Reader::new(text);
        let ours = serde_json::Value::deserialize(&mut reader)
            .and_then(|v| reader.end().map(|()| v))
            .map_err(|e| e.to_string());
        let theirs = serde_json::from_slice::<serde_json::Value>(text).map_err(|e| {
            let message = e.to_string();
            match message.rfind(" at line ") {
                Some(at) => message[..at].to_owned(),
                None => message,
            }
        });
        (ours, theirs)
    }

    fn agree(text: &[u8]) {
        let (ours, theirs) = both(text);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(
                a.to_string(),
                b.to_string(),
                "{:?}",
                String::from_utf8_lossy(text)
            ),
            (Err(_), Err(_)) => {}
            _ => panic!(
                "{:?}: ours {ours:?}, serde_json {theirs:?}",
                String::from_utf8_lossy(text)
            ),
        }
        // Skipping accepts what serde_json's skipping accepts (which, unlike
        // reading, has no depth limit).
        let mut reader = Reader::new(text);
        let skipped = de::IgnoredAny::deserialize(&mut reader).and_then(|_| reader.end());
        // serde_json skips invalid UTF-8; JSON text is UTF-8, and Python's
        // reader refuses it too.
        let valid = std::str::from_utf8(text).is_ok();
        assert_eq!(
            skipped.is_ok(),
            serde_json::from_slice::<de::IgnoredAny>(text).is_ok() && valid,
            "skipping {:?}: {skipped:?}",
            String::from_utf8_lossy(text)
        );
    }

    #[test]
    fn edge_cases_read_as_serde_json_reads_them() {
        let cases: &[&[u8]] = &[
            b"0",
            b"-0",
            b"-0.0",
            b"01",
            b"-01",
            b"1.",
            b".5",
            b"-",
            b"+1",
            b"1e",
            b"1e+",
            b"1E-2",
            b"1e400",
            b"-1e400",
            b"1e-400",
            b"18446744073709551615",
            b"18446744073709551616",
            b"-9223372036854775808",
            b"-9223372036854775809",
            b"123456789012345678901234567890",
            b"0.1",
            b"2.5e-3",
            b"1.7976931348623157e308",
            b"\"\"",
            b"\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
            b"\"\\u00e9\\u20ac\\ud83d\\ude00\"",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\ud800\\u0041\"",
            b"\"\\ud800x\"",
            b"\"\\u12\"",
            b"\"\\x\"",
            b"\"a\x01\"",
            b"\"\xff\"",
            b"\"\xc3\xa9 caf\xc3\xa9\"",
            b"\"abc",
            b"\"0123456789abcdef\\n0123456789\"",
            b"[]",
            b"[1,]",
            b"[,1]",
            b"[1 2]",
            b"[",
            b"]",
            b"{}",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{1:2}",
            b"{\"a\":1 \"b\":2}",
            b"{\"a\"",
            b"{\"a\":",
            b"{\"a\":1,\"a\":2}",
            b" \n\t\r null \n",
            b"nul",
            b"nulx",
            b"tru",
            b"true false",
            b"",
            b"   ",
            b"x",
            b"[null,true,false,{\"k\":[{}]}]",
        ];
        for case in cases {
            agree(case);
        }
        let deep = |n: usize| [b"[".repeat(n), b"]".repeat(n)].concat();
        agree(&deep(127));
        agree(&deep(128));
        agree(&deep(100_000));
    }

    /// Every special byte at every offset around the scanner's 16- and
    /// 8-byte steps, in strings that end there or run on, and at the end of
    /// the input.
    #[test]
    fn strings_read_alike_at_every_offset() {
        let specials: &[&[u8]] = &[
            b"\"",
            b"\\n",
            b"\\u00e9",
            b"\x01",
            b"\x1f",
            b"\x7f",
            b"\xc3\xa9",
            b"\xff",
            b"\xe2\x82",
        ];
        for len in 0..40 {
            for special in specials {
                for at in 0..=len {
                    let mut text = b"\"".to_vec();
                    text.extend(std::iter::repeat_n(b'a', at));
                    text.extend_from_slice(special);
                    text.extend(std::iter::repeat_n(b'b', len - at));
                    agree(&text);
                    text.push(b'"');
                    agree(&text);
                }
            }
        }
    }

    #[test]
    fn error_messages_are_serde_json_s() {
        for case in [
            &b"[1,]"[..],
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{1:2}",
            b"\"\\ud800\"",
            b"\"\xff\"",
            b"\"a\x01\"",
            b"1e400",
            b"01",
            b"nulx",
            b"[1 2]",
            b"",
        ] {
            let (ours, theirs) = both(case);
            assert_eq!(ours.unwrap_err(), theirs.unwrap_err(), "{case:?}");
        }
    }

    /// JSON-like text: valid documents with odd spacing, escapes and
    /// numbers, then sometimes broken by a byte.
    fn document() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            any::<i64>().prop_map(|v| v.to_string()),
            any::<u64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:e}")),
            "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
            "\"([a-z0-9 é€😀]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}){0,24}\"",
        ];
        let value = leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("\"[a-z_]{0,6}\"", inner), 0..6).prop_map(|v| {
                    let members: Vec<String> =
                        v.into_iter().map(|(k, v)| format!("{k} : {v}")).collect();
                    format!("{{ {} }}", members.join(" ,\n"))
                }),
            ]
        });
        let mutation = prop_oneof![
            Just(None),
            (
                any::<prop::sample::Index>(),
                prop::sample::select(&b"\"\\,:[]{}0-e.\x00\x1f\xff \xc3"[..])
            )
                .prop_map(Some),
        ];
        (value, mutation, any::<bool>()).prop_map(|(text, mutation, delete)| {
            let mut bytes = text.into_bytes();
            if let Some((at, byte)) = mutation
                && !bytes.is_empty()
            {
                let at = at.index(bytes.len());
                if delete {
                    bytes.remove(at);
                } else {
                    bytes[at] = byte;
                }
            }
            bytes
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_documents_read_as_serde_json_reads_them(text in document()) {
            agree(&text);
        }
    }
}
