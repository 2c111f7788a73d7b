//! The JSON reader of the crate's one JSON engine.
//!
//! A pull reader over a byte slice: the generated code of each message asks
//! it for what the message expects next (an object's member names, a
//! string, a number), so a document is read in one pass straight into the
//! message. It accepts exactly the JSON grammar (tests compare it with
//! `serde_json` on random and broken documents), with `serde_json`'s number
//! forms, escapes, recursion limit and error wording. It is built for the
//! shape of canonical proto3 JSON, many short strings: a string is scanned
//! sixteen bytes at a time for its end, escapes and non-ASCII bytes in one
//! pass, borrowed from the input when it has no escapes, and checked as UTF-8
//! only when it is not ASCII.
//!
//! The parse options travel in the reader; an error carries its message and
//! collects the JSON path on its way out of the values it fails in.

use std::fmt;

use super::limits::AnyDepth;
use super::options::ParseOptions;
#[cfg(target_arch = "x86_64")]
use super::scan::sse2;
use super::scan::{HIGHS, escape_flags};

/// How deep arrays and objects may nest, as in `serde_json`: the 128th level
/// is refused.
const RECURSION_LIMIT: u32 = 128;

/// One step of a JSON path.
#[derive(Debug, Clone)]
enum Segment {
    /// A message field, by JSON name.
    Field(&'static str),
    /// A list element.
    Index(usize),
    /// A map entry, by key.
    Key(String),
}

/// Why a document could not be read: what is wrong, and the JSON path of the
/// value at fault, gathered innermost first as the error leaves each value.
#[derive(Debug)]
pub struct ReadError {
    message: String,
    path: Vec<Segment>,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReadError {}

impl ReadError {
    /// An error with `message` at the value being read.
    pub(crate) fn new(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            path: Vec::new(),
        }
    }

    /// The error as it leaves field `name` (its JSON name).
    #[cold]
    pub(crate) fn in_field(mut self, name: &'static str) -> Self {
        self.path.push(Segment::Field(name));
        self
    }

    /// The error as it leaves element `index` of a list.
    #[cold]
    pub(crate) fn at_index(mut self, index: usize) -> Self {
        self.path.push(Segment::Index(index));
        self
    }

    /// The error as it leaves the map entry of `key`.
    #[cold]
    pub(crate) fn at_key(mut self, key: &str) -> Self {
        self.path.push(Segment::Key(key.to_owned()));
        self
    }

    /// What is wrong.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// The JSON path, outermost first: `operations[0].startTime`; empty at
    /// the top level.
    pub(crate) fn path(&self) -> String {
        let mut path = String::new();
        for segment in self.path.iter().rev() {
            match segment {
                Segment::Field(name) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                }
                Segment::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Segment::Index(index) => {
                    path.push('[');
                    path.push_str(itoa::Buffer::new().format(*index));
                    path.push(']');
                }
            }
        }
        path
    }
}

type Result<T, E = ReadError> = std::result::Result<T, E>;

fn error(message: &str) -> ReadError {
    ReadError::new(message)
}

/// A JSON number as the grammar gives it: an integer literal that fits is
/// an integer, anything else a float (as `serde_json` reads them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
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

/// A value that is neither an array nor an object.
pub(crate) enum Scalar<'de, 's> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Text<'de, 's>),
}

impl Scalar<'_, '_> {
    /// The error for a value of the wrong kind, worded as serde words it:
    /// `invalid type: string "x", expected an int32`.
    pub(crate) fn invalid(&self, expected: impl fmt::Display) -> ReadError {
        let found = match self {
            Scalar::Null => "null".to_owned(),
            Scalar::Bool(b) => format!("boolean `{b}`"),
            Scalar::Number(Number::U64(v)) => format!("integer `{v}`"),
            Scalar::Number(Number::I64(v)) => format!("integer `{v}`"),
            Scalar::Number(Number::F64(v)) => format!("floating point `{v}`"),
            Scalar::Str(s) => format!("string {:?}", s.as_str()),
        };
        ReadError::new(format_args!("invalid type: {found}, expected {expected}"))
    }
}

/// The line and column (both 1-based, the column counted in bytes) of byte
/// `index` of `input`.
pub(crate) fn line_column(input: &[u8], index: usize) -> (usize, usize) {
    let done = &input[..index.min(input.len())];
    let start_of_line = done.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = 1 + done[..start_of_line]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    (line, done.len() - start_of_line)
}

/// A type the crate's JSON reader can read: every message and well-known
/// type of the crate, and lists and options of these.
/// [`from_slice`](super::from_slice) and friends take one. Sealed: no other
/// type can implement it.
pub trait ReadJson: Sized + super::sealed::Sealed {
    /// Reads a value from `reader`.
    #[doc(hidden)]
    fn read_json(reader: &mut Reader<'_>) -> Result<Self>;

    /// Reads a value from `reader` into `place`, which holds a fresh value
    /// (a message's default), so that large values are not moved.
    #[doc(hidden)]
    fn read_json_in_place(reader: &mut Reader<'_>, place: &mut Self) -> Result<()> {
        *place = Self::read_json(reader)?;
        Ok(())
    }
}

impl<T: ReadJson> ReadJson for Vec<T> {
    fn read_json(reader: &mut Reader<'_>) -> Result<Self> {
        reader.enter_array()?;
        let mut out = Vec::new();
        let mut first = true;
        while reader.next_element(&mut first)? {
            let index = out.len();
            out.push(T::read_json(reader).map_err(|e| e.at_index(index))?);
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

/// Reads one document from a byte slice, with the options of its parse.
pub struct Reader<'de> {
    input: &'de [u8],
    index: usize,
    depth_left: u32,
    scratch: Vec<u8>,
    /// Whether a value is being skipped.
    skipping: bool,
    /// Whether fields and enum names the schema does not know are skipped.
    ignore_unknown: bool,
    /// How many more `Any` levels may be entered.
    any_depth: AnyDepth,
    /// The user's types for `Any` values, from the options.
    pub(super) types: Option<super::options::Types>,
}

impl<'de> Reader<'de> {
    pub(crate) fn new(input: &'de [u8], options: &ParseOptions) -> Self {
        Self {
            input,
            index: 0,
            depth_left: RECURSION_LIMIT,
            scratch: Vec::new(),
            skipping: false,
            ignore_unknown: options.ignores_unknown_fields(),
            any_depth: AnyDepth::new(),
            types: options.types.clone(),
        }
    }

    /// Whether fields and enum value names the schema does not know are
    /// skipped rather than refused.
    #[inline]
    pub(crate) fn ignores_unknown(&self) -> bool {
        self.ignore_unknown
    }

    /// Runs `read` one `Any` level deeper; an error past
    /// [`MAX_ANY_DEPTH`](super::limits::MAX_ANY_DEPTH) levels.
    pub(crate) fn in_any<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.any_depth.enter().map_err(ReadError::new)?;
        let value = read(self);
        self.any_depth.leave();
        value
    }

    /// Checks that only whitespace follows the document.
    pub(crate) fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(error("trailing characters")),
        }
    }

    /// The byte offset where reading stopped.
    pub(crate) fn offset(&self) -> usize {
        self.index
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

    /// The input from `start` (a [`Reader::mark`]) to where the reader
    /// stands.
    pub(crate) fn text_since(&self, (start, _): (usize, u32)) -> &'de [u8] {
        &self.input[start..self.index]
    }

    /// The first byte of the next value (after whitespace), not consumed.
    #[inline]
    pub(crate) fn next_byte(&mut self) -> Option<u8> {
        self.peek()
    }

    /// Reads the next value, which must not be an array or an object:
    /// `expected` says what was (for the error).
    pub(crate) fn scalar(&mut self, expected: impl fmt::Display) -> Result<Scalar<'de, '_>> {
        match self.peek() {
            None => Err(error("EOF while parsing a value")),
            Some(b'n') => {
                self.literal(b"null")?;
                Ok(Scalar::Null)
            }
            Some(b't') => {
                self.literal(b"true")?;
                Ok(Scalar::Bool(true))
            }
            Some(b'f') => {
                self.literal(b"false")?;
                Ok(Scalar::Bool(false))
            }
            Some(b'-' | b'0'..=b'9') => self.number().map(Scalar::Number),
            Some(b'"') => {
                self.index += 1;
                self.string().map(Scalar::Str)
            }
            Some(b'[') => Err(ReadError::new(format_args!(
                "invalid type: sequence, expected {expected}"
            ))),
            Some(b'{') => Err(ReadError::new(format_args!(
                "invalid type: map, expected {expected}"
            ))),
            Some(_) => Err(error("expected value")),
        }
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
        self.enter(b'{', "a JSON object")
    }

    /// Enters the array that must come next, for [`Reader::next_element`].
    #[inline]
    pub(crate) fn enter_array(&mut self) -> Result<()> {
        self.enter(b'[', "a JSON array")
    }

    #[inline]
    fn enter(&mut self, open: u8, expected: &str) -> Result<()> {
        match self.peek() {
            Some(b) if b == open => {
                self.descend()?;
                self.index += 1;
                Ok(())
            }
            Some(_) => Err(self.wrong_type(expected)),
            None => Err(error("EOF while parsing a value")),
        }
    }

    /// The error for a value of another kind than `expected`, naming what
    /// was found as serde does (`invalid type: string "x", expected a JSON
    /// object`).
    #[cold]
    fn wrong_type(&mut self, expected: &str) -> ReadError {
        match self.scalar(expected) {
            Ok(found) => found.invalid(expected),
            Err(e) => e,
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
    pub(crate) fn number(&mut self) -> Result<Number> {
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

    /// Skips one value, checking its syntax, and returns its text.
    pub(crate) fn raw_value(&mut self) -> Result<&'de [u8]> {
        self.peek();
        let start = self.index;
        self.skip_value()?;
        Ok(&self.input[start..self.index])
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads any JSON value with the reader's primitives, as
    /// `google.protobuf.Value` does.
    fn value(reader: &mut Reader<'_>) -> Result<serde_json::Value> {
        match reader.next_byte() {
            Some(b'[') => {
                reader.enter_array()?;
                let mut items = Vec::new();
                let mut first = true;
                while reader.next_element(&mut first)? {
                    items.push(value(reader)?);
                }
                Ok(serde_json::Value::Array(items))
            }
            Some(b'{') => {
                reader.enter_object()?;
                let mut members = serde_json::Map::new();
                let mut first = true;
                while let Some(name) = reader.member_name(&mut first)? {
                    let name = name.as_str().to_owned();
                    reader.colon()?;
                    members.insert(name, value(reader)?);
                }
                Ok(serde_json::Value::Object(members))
            }
            _ => Ok(match reader.scalar("a value")? {
                Scalar::Null => serde_json::Value::Null,
                Scalar::Bool(b) => serde_json::Value::Bool(b),
                Scalar::Number(Number::U64(v)) => v.into(),
                Scalar::Number(Number::I64(v)) => v.into(),
                Scalar::Number(Number::F64(v)) => v.into(),
                Scalar::Str(s) => s.as_str().into(),
            }),
        }
    }

    /// Reads `text` with both readers into a `serde_json::Value`.
    fn both(
        text: &[u8],
    ) -> (
        Result<serde_json::Value, String>,
        Result<serde_json::Value, String>,
    ) {
        let mut reader = Reader::new(text, &ParseOptions::default());
        let ours = value(&mut reader)
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
        let mut reader = Reader::new(text, &ParseOptions::default());
        let skipped = reader.skip_value().and_then(|()| reader.end());
        // serde_json skips invalid UTF-8; JSON text is UTF-8, and Python's
        // reader refuses it too.
        let valid = std::str::from_utf8(text).is_ok();
        assert_eq!(
            skipped.is_ok(),
            serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok() && valid,
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
