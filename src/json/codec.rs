//! The rules of the proto3 JSON mapping for each kind of value, in one
//! place each.
//!
//! `build/codegen.rs` names one codec per field (`Repeated<I64>`,
//! `Map<Str, Enum<Code>>`, `Msg<Operation>`, ...) and this module does the
//! work, reading from the crate's [`Reader`] and writing to its [`Writer`]:
//! int64 as strings, NaN and infinities as strings, bytes as base64, open
//! enums, `null` as "unset", and the accepted input forms. The messages'
//! field loops (names, presence, oneofs) are generated; the well-known types
//! with special forms are written by hand in `src/google/protobuf/`.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;

use super::read::{Number, ReadError, ReadJson, Reader, Scalar};
use super::write::{self, WriteError, WriteJson, Writer};

/// How one kind of proto value is read and written.
pub(crate) trait Codec {
    /// The Rust type prost stores the value as.
    type Value;
    /// Whether the value is the proto3 default, which canonical JSON omits.
    fn is_default(value: &Self::Value) -> bool;
    /// Reads a value that is not `null`: `None` when it is to be left out
    /// (an enum name the schema does not know, under "ignore unknown
    /// fields").
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<Self::Value>, ReadError>;
    /// What a JSON `null` stands for: `None` (the field stays unset) for every
    /// type but `google.protobuf.Value` and `NullValue`.
    fn from_null() -> Option<Self::Value> {
        None
    }
    /// Reads a field's value: `None` leaves the field unset.
    #[inline]
    fn read(reader: &mut Reader<'_>) -> Result<Option<Self::Value>, ReadError> {
        if reader.null()? {
            return Ok(Self::from_null());
        }
        Self::read_value(reader)
    }
    /// Reads a list element or a map value, where `null` is an error unless
    /// the type gives it a meaning: `None` leaves the item out.
    #[inline]
    fn read_item(reader: &mut Reader<'_>) -> Result<Option<Self::Value>, ReadError> {
        if reader.null()? {
            return match Self::from_null() {
                Some(value) => Ok(Some(value)),
                None => Err(ReadError::new("null is not allowed here")),
            };
        }
        Self::read_value(reader)
    }
    /// Reads a list element into `out`; messages override it to be read in
    /// place.
    #[inline]
    fn push_item(reader: &mut Reader<'_>, out: &mut Vec<Self::Value>) -> Result<(), ReadError> {
        if let Some(value) = Self::read_item(reader)? {
            out.push(value);
        }
        Ok(())
    }
    /// Writes the value.
    fn write(value: &Self::Value, writer: &mut Writer<'_>) -> Result<(), WriteError>;
    /// Whether a value's text form (a path variable's or query parameter's,
    /// see [`super::text`]) is its JSON literal: `true` and `false` for
    /// bools. For every other scalar it is what its JSON string form holds.
    #[cfg_attr(not(feature = "rest-client"), allow(dead_code))]
    const LITERAL_TEXT: bool = false;
}

/// A codec of map keys, which JSON always writes as strings.
pub(crate) trait KeyCodec {
    /// The Rust type of the key.
    type Key: Ord;
    /// Parses a key from its JSON string.
    fn parse_key(key: &str) -> Result<Self::Key, String>;
    /// A key's JSON string, for an error's path.
    fn key_text(key: &Self::Key) -> String;
    /// Writes a key as its quoted JSON string.
    fn write_key(key: &Self::Key, out: &mut Vec<u8>);
}

/// A protobuf enum: its names and numbers, from its descriptor (aliases
/// included).
pub(crate) trait ProtoEnum {
    /// The enum's full proto name, for error messages.
    const FULL_NAME: &'static str;
    /// The name a known number is written with (the first declared).
    fn name_of(number: i32) -> Option<&'static str>;
    /// The number of a known name.
    fn number_of(name: &str) -> Option<i32>;
}

/// Runs `f` with enough stack for one more level of recursive values (Any,
/// Struct, Value), moving to a fresh heap-allocated segment when the current
/// stack runs low. Depth stays bounded by the reader's recursion limit and
/// the Any limit; this keeps those limits reachable without overflowing
/// small (or debug-build) stacks.
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(128 * 1024, 1024 * 1024, f)
}

// ---------------------------------------------------------------------------
// Messages: what the generated code of each one implements

/// A message whose JSON form is an object of its fields: every generated
/// message. (The well-known types with special forms implement
/// [`ReadJson`] and [`WriteJson`] by hand instead.)
pub(crate) trait Fields: Default {
    /// Writes the set fields, in field number order, as members of an open
    /// object; `first` says whether no member was written yet.
    fn write_fields(&self, writer: &mut Writer<'_>, first: &mut bool) -> Result<(), WriteError>;
    /// Reads the members of an entered object into `self` (a fresh value),
    /// and leaves the object. `first` says whether no member was read yet;
    /// `in_any` that the object is an `Any`'s, whose `"@type"` is skipped.
    fn read_members(
        &mut self,
        reader: &mut Reader<'_>,
        first: bool,
        in_any: bool,
    ) -> Result<(), ReadError>;
}

/// Writes a generated message as a JSON object of its fields.
#[inline]
pub(crate) fn write_message<T: Fields>(
    message: &T,
    writer: &mut Writer<'_>,
) -> Result<(), WriteError> {
    writer.out().push(b'{');
    message.write_fields(writer, &mut true)?;
    writer.out().push(b'}');
    Ok(())
}

/// Reads a generated message from a JSON object into `place`.
#[inline(always)]
pub(crate) fn read_message<T: Fields>(
    reader: &mut Reader<'_>,
    place: &mut T,
) -> Result<(), ReadError> {
    reader.enter_object()?;
    place.read_members(reader, true, false)
}

/// Writes one member: the prepared key (`"name":`) and the value.
#[inline]
pub(crate) fn write_field<C: Codec>(
    writer: &mut Writer<'_>,
    first: &mut bool,
    key: &'static str,
    value: &C::Value,
) -> Result<(), WriteError> {
    if let Some(mask) = writer.mask() {
        // The key is `"name":`; a member the mask leaves out is not written.
        let name = key.get(1..key.len().saturating_sub(2)).unwrap_or_default();
        let Some(kept) = mask.member(name).cloned() else {
            return Ok(());
        };
        return writer.masked(kept, |writer| write_member::<C>(writer, first, key, value));
    }
    write_member::<C>(writer, first, key, value)
}

#[inline]
fn write_member<C: Codec>(
    writer: &mut Writer<'_>,
    first: &mut bool,
    key: &'static str,
    value: &C::Value,
) -> Result<(), WriteError> {
    let out = writer.out();
    if !std::mem::replace(first, false) {
        out.push(b',');
    }
    out.extend_from_slice(key.as_bytes());
    C::write(value, writer)
}

/// Records that field `index` (JSON name `json_name`, named `named` in the
/// input) was read, failing when it was read before (also once by JSON name
/// and once by proto name).
#[inline]
pub(crate) fn mark_seen(
    seen: &mut [bool],
    index: usize,
    json_name: &'static str,
    named: &'static str,
) -> Result<(), ReadError> {
    #[cold]
    fn twice(json_name: &str, named: &'static str) -> ReadError {
        ReadError::new(format_args!(
            "field \"{json_name}\" is given more than once"
        ))
        .in_field(named)
    }
    if std::mem::replace(&mut seen[index], true) {
        return Err(twice(json_name, named));
    }
    Ok(())
}

/// Handles a member whose name is no field of `message`: skipped under
/// "ignore unknown fields" (and an `Any`'s `"@type"`, when `in_any`), an
/// error otherwise. The reader stands after the colon.
#[cold]
pub(crate) fn unknown_member(
    reader: &mut Reader<'_>,
    message: &str,
    name: &str,
    in_any: bool,
) -> Result<(), ReadError> {
    if reader.ignores_unknown() || in_any && name == "@type" {
        return reader.skip_value();
    }
    Err(ReadError::new(format_args!("unknown field \"{name}\" in {message}")).at_key(name))
}

/// Records that a oneof got a value, or fails when another field of it has
/// one already. Called once the value is read: a `null` member sets
/// nothing, so it may stand beside the field that is set
/// (`{"oneofString": "x", "oneofUint32": null}`).
#[inline]
pub(crate) fn set_oneof(set: &mut [bool], group: usize, names: &[&str]) -> Result<(), ReadError> {
    if std::mem::replace(&mut set[group], true) {
        return Err(ReadError::new(format_args!(
            "more than one field of oneof \"{}\" is set",
            names[group]
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Integers

/// Integer types of the JSON mapping, with the conversions a reader needs.
trait Integer: Sized + Copy + Default + PartialEq + fmt::Display + itoa::Integer {
    const NAME: &'static str;
    const EXPECTED: &'static str;
    fn from_i64(v: i64) -> Option<Self>;
    fn from_u64(v: u64) -> Option<Self>;
    fn from_f64(v: f64) -> Option<Self>;
    fn parse(s: &str) -> Option<Self>;
}

macro_rules! integer {
    ($t:ty, $name:literal, $min:expr, $max_exclusive:expr) => {
        impl Integer for $t {
            const NAME: &'static str = $name;
            const EXPECTED: &'static str = concat!("an ", $name, " as a number or a string");
            fn from_i64(v: i64) -> Option<Self> {
                Self::try_from(v).ok()
            }
            fn from_u64(v: u64) -> Option<Self> {
                Self::try_from(v).ok()
            }
            fn from_f64(v: f64) -> Option<Self> {
                // Exact bounds as f64: the minimum and one past the maximum are
                // both powers of two (or zero), so the comparison is exact.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                (v.fract() == 0.0 && ($min..$max_exclusive).contains(&v)).then(|| v as $t)
            }
            fn parse(s: &str) -> Option<Self> {
                s.parse().ok()
            }
        }
    };
}

integer!(i32, "int32", -2147483648.0, 2147483648.0);
integer!(u32, "uint32", 0.0, 4294967296.0);
// The float form of -2^63 is refused: an integer literal below i64::MIN
// reads as a float, which rounds to exactly -2^63 (in-range integer literals
// never read as floats). The next float up is the lowest accepted.
integer!(i64, "int64", -9223372036854774784.0, 9223372036854775808.0);
integer!(u64, "uint64", 0.0, 18446744073709551616.0);

/// Whether `s` has the shape of a JSON number (so "inf", "nan", " 1" and the
/// like are refused even where Rust's parser would take them).
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

fn out_of_range<T: Integer>(value: impl fmt::Display) -> ReadError {
    ReadError::new(format_args!("{value} is not a valid {}", T::NAME))
}

/// An integer from a JSON number.
fn integer_from_number<T: Integer>(number: Number) -> Result<T, ReadError> {
    match number {
        Number::U64(v) => T::from_u64(v).ok_or_else(|| out_of_range::<T>(v)),
        Number::I64(v) => T::from_i64(v).ok_or_else(|| out_of_range::<T>(v)),
        Number::F64(v) => T::from_f64(v).ok_or_else(|| out_of_range::<T>(v)),
    }
}

/// An integer from a JSON string: its decimal digits, or an exponent or
/// fraction form whose value is integral (`"1e3"`, `"5.0"`).
fn integer_from_str<T: Integer>(s: &str) -> Result<T, ReadError> {
    if let Some(v) = T::parse(s) {
        return Ok(v);
    }
    // A plain integer that did not parse is out of range; only exponent and
    // fraction forms go through a float.
    let plain = s
        .strip_prefix('-')
        .unwrap_or(s)
        .bytes()
        .all(|b| b.is_ascii_digit());
    if !plain
        && is_json_number(s)
        && let Ok(f) = s.parse::<f64>()
        && let Some(v) = T::from_f64(f)
    {
        return Ok(v);
    }
    Err(out_of_range::<T>(format_args!("\"{s}\"")))
}

/// An integer from the next value: a number or a string.
#[inline]
fn read_integer<T: Integer>(reader: &mut Reader<'_>) -> Result<T, ReadError> {
    // The two forms first, without the general dispatch.
    if let Some(text) = reader.string_value()? {
        return integer_from_str(text.as_str());
    }
    if matches!(reader.next_byte(), Some(b'-' | b'0'..=b'9')) {
        return integer_from_number(reader.number()?);
    }
    match reader.scalar(T::EXPECTED)? {
        Scalar::Number(n) => integer_from_number(n),
        Scalar::Str(s) => integer_from_str(s.as_str()),
        other => Err(other.invalid(T::EXPECTED)),
    }
}

/// int32, sint32, sfixed32: a JSON number.
pub(crate) struct I32;
/// uint32, fixed32: a JSON number.
pub(crate) struct U32;
/// int64, sint64, sfixed64: a JSON string of decimal digits.
pub(crate) struct I64;
/// uint64, fixed64: a JSON string of decimal digits.
pub(crate) struct U64;

macro_rules! integer_codec {
    ($codec:ty, $t:ty, quoted: $quoted:literal) => {
        impl Codec for $codec {
            type Value = $t;
            fn is_default(value: &$t) -> bool {
                *value == 0
            }
            #[inline]
            fn read_value(reader: &mut Reader<'_>) -> Result<Option<$t>, ReadError> {
                read_integer::<$t>(reader).map(Some)
            }
            #[inline]
            fn write(value: &$t, writer: &mut Writer<'_>) -> Result<(), WriteError> {
                let out = writer.out();
                if $quoted {
                    out.push(b'"');
                    write::write_integer(out, *value);
                    out.push(b'"');
                } else {
                    write::write_integer(out, *value);
                }
                Ok(())
            }
        }
        impl KeyCodec for $codec {
            type Key = $t;
            fn parse_key(key: &str) -> Result<$t, String> {
                // Map keys are the integer's decimal digits; nothing else.
                key.parse()
                    .map_err(|_| format!("map key \"{key}\" is not a valid {}", <$t>::NAME))
            }
            fn key_text(key: &$t) -> String {
                key.to_string()
            }
            fn write_key(key: &$t, out: &mut Vec<u8>) {
                out.push(b'"');
                write::write_integer(out, *key);
                out.push(b'"');
            }
        }
    };
}

integer_codec!(I32, i32, quoted: false);
integer_codec!(U32, u32, quoted: false);
integer_codec!(I64, i64, quoted: true);
integer_codec!(U64, u64, quoted: true);

// ---------------------------------------------------------------------------
// Floating point

/// double: a JSON number, or "NaN", "Infinity", "-Infinity".
pub(crate) struct F64;
/// float: like double, and the value must fit in 32 bits.
pub(crate) struct F32;

const FLOAT_EXPECTED: &str = "a number, \"NaN\", \"Infinity\" or \"-Infinity\"";

/// A double from the next value: a number, a numeric string, or one of the
/// non-finite names.
#[allow(clippy::cast_precision_loss)]
fn read_float(reader: &mut Reader<'_>) -> Result<f64, ReadError> {
    match reader.scalar(FLOAT_EXPECTED)? {
        Scalar::Number(Number::U64(v)) => Ok(v as f64),
        Scalar::Number(Number::I64(v)) => Ok(v as f64),
        Scalar::Number(Number::F64(v)) => Ok(v),
        Scalar::Str(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            s if is_json_number(s) => match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(ReadError::new(format_args!(
                    "\"{s}\" is out of range for a double"
                ))),
            },
            s => Err(ReadError::new(format_args!("\"{s}\" is not a number"))),
        },
        other => Err(other.invalid(FLOAT_EXPECTED)),
    }
}

/// Writes a double or float widened to one: finite values as numbers, the
/// others by name.
fn write_non_finite(value: f64, out: &mut Vec<u8>) {
    out.extend_from_slice(if value.is_nan() {
        b"\"NaN\""
    } else if value > 0.0 {
        b"\"Infinity\""
    } else {
        b"\"-Infinity\""
    });
}

impl Codec for F64 {
    type Value = f64;
    fn is_default(value: &f64) -> bool {
        crate::wire::is_default_f64(*value)
    }
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<f64>, ReadError> {
        read_float(reader).map(Some)
    }
    fn write(value: &f64, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        if value.is_finite() {
            write::write_f64(writer.out(), *value);
        } else {
            write_non_finite(*value, writer.out());
        }
        Ok(())
    }
}

impl Codec for F32 {
    type Value = f32;
    fn is_default(value: &f32) -> bool {
        crate::wire::is_default_f32(*value)
    }
    #[allow(clippy::cast_possible_truncation)]
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<f32>, ReadError> {
        let v = read_float(reader)?;
        // A value is in range when it rounds to a finite float: the shortest
        // text of f32::MAX ("3.4028235e38") lies just above it.
        let rounded = v as f32;
        if v.is_finite() && !rounded.is_finite() {
            return Err(ReadError::new(format_args!(
                "{v:e} is out of range for a float"
            )));
        }
        Ok(Some(rounded))
    }
    fn write(value: &f32, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        if value.is_finite() {
            write::write_f32(writer.out(), *value);
        } else {
            write_non_finite(f64::from(*value), writer.out());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// bool, string, bytes

/// bool: `true` or `false`.
pub(crate) struct Bool;

impl Codec for Bool {
    type Value = bool;
    const LITERAL_TEXT: bool = true;
    fn is_default(value: &bool) -> bool {
        !*value
    }
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<bool>, ReadError> {
        match reader.scalar("a boolean")? {
            Scalar::Bool(b) => Ok(Some(b)),
            other => Err(other.invalid("a boolean")),
        }
    }
    fn write(value: &bool, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        writer
            .out()
            .extend_from_slice(if *value { b"true" } else { b"false" });
        Ok(())
    }
}

impl KeyCodec for Bool {
    type Key = bool;
    fn parse_key(key: &str) -> Result<bool, String> {
        match key {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("map key \"{key}\" is not \"true\" or \"false\"")),
        }
    }
    fn key_text(key: &bool) -> String {
        key.to_string()
    }
    fn write_key(key: &bool, out: &mut Vec<u8>) {
        out.extend_from_slice(if *key { b"\"true\"" } else { b"\"false\"" });
    }
}

/// string: a JSON string.
pub(crate) struct Str;

impl Codec for Str {
    type Value = String;
    fn is_default(value: &String) -> bool {
        value.is_empty()
    }
    #[inline]
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<String>, ReadError> {
        match reader.scalar("a string")? {
            Scalar::Str(s) => Ok(Some(s.as_str().to_owned())),
            other => Err(other.invalid("a string")),
        }
    }
    #[inline]
    fn read(reader: &mut Reader<'_>) -> Result<Option<String>, ReadError> {
        // Strings first: the common case skips the null check.
        if let Some(text) = reader.string_value()? {
            return Ok(Some(text.as_str().to_owned()));
        }
        if reader.null()? {
            return Ok(None);
        }
        Self::read_value(reader)
    }
    #[inline]
    fn write(value: &String, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        write::write_str(writer.out(), value);
        Ok(())
    }
}

impl KeyCodec for Str {
    type Key = String;
    fn parse_key(key: &str) -> Result<String, String> {
        Ok(key.to_owned())
    }
    fn key_text(key: &String) -> String {
        key.clone()
    }
    fn write_key(key: &String, out: &mut Vec<u8>) {
        write::write_str(out, key);
    }
}

/// bytes: standard base64 with padding; URL-safe and unpadded input accepted.
pub(crate) struct Bytes;

/// Decodes base64 in either alphabet, with or without padding, ignoring the
/// unused low bits of the last character (`"-_"` is one byte, 0xfb), as
/// the conformance suite and every reference decoder do.
pub(crate) fn decode_base64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);
    if s.contains(['-', '_']) {
        URL_SAFE.decode(s)
    } else {
        STANDARD.decode(s)
    }
}

impl Codec for Bytes {
    type Value = Vec<u8>;
    fn is_default(value: &Vec<u8>) -> bool {
        value.is_empty()
    }
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<Vec<u8>>, ReadError> {
        match reader.scalar("a base64 string")? {
            Scalar::Str(s) => decode_base64(s.as_str())
                .map(Some)
                .map_err(|e| ReadError::new(format_args!("invalid base64: {e}"))),
            other => Err(other.invalid("a base64 string")),
        }
    }
    fn write(value: &Vec<u8>, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        // Base64 needs no escaping: it is encoded straight into the output.
        let len = base64::encoded_len(value.len(), true)
            .ok_or_else(|| WriteError::new("a bytes value too long for base64"))?;
        let out = writer.out();
        out.push(b'"');
        let start = out.len();
        out.resize(start + len, 0);
        base64::engine::general_purpose::STANDARD
            .encode_slice(value, &mut out[start..])
            .map_err(WriteError::new)?;
        out.push(b'"');
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Enums

/// An open enum: written by name when the number is known and as a number
/// otherwise (always as a number under [`WriteOptions::enums_as_ints`]);
/// read from a name or any number.
///
/// [`WriteOptions::enums_as_ints`]: crate::json::WriteOptions::enums_as_ints
pub(crate) struct Enum<E>(PhantomData<E>);

impl<E: ProtoEnum> Codec for Enum<E> {
    type Value = i32;
    fn is_default(value: &i32) -> bool {
        *value == 0
    }
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<i32>, ReadError> {
        let ignore_unknown = reader.ignores_unknown();
        let expected = format_args!("a value name or number of {}", E::FULL_NAME);
        match reader.scalar(expected)? {
            Scalar::Number(n) => integer_from_number::<i32>(n).map(Some),
            Scalar::Str(s) => {
                let s = s.as_str();
                if let Some(number) = E::number_of(s) {
                    return Ok(Some(number));
                }
                if let Ok(number) = s.parse::<i32>() {
                    return Ok(Some(number));
                }
                if ignore_unknown {
                    // As the reference implementations do, an unknown name
                    // under "ignore unknown fields" is left out: the field
                    // stays unset, the list element or map entry is dropped.
                    return Ok(None);
                }
                Err(ReadError::new(format_args!(
                    "\"{s}\" is not a value of {}",
                    E::FULL_NAME
                )))
            }
            other => Err(other.invalid(format_args!("a value name or number of {}", E::FULL_NAME))),
        }
    }
    fn write(value: &i32, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        match E::name_of(*value) {
            Some(name) if !writer.enums_as_ints() => write::write_str(writer.out(), name),
            _ => write::write_integer(writer.out(), *value),
        }
        Ok(())
    }
}

/// `google.protobuf.NullValue`: always JSON `null`. None of the crate's
/// schemas has a `NullValue` field (only `Value` holds one, written by hand),
/// but the conformance suite's messages do.
#[cfg_attr(not(any(test, conformance_protos)), allow(dead_code))]
pub(crate) struct Null;

impl Codec for Null {
    type Value = i32;
    fn is_default(_: &i32) -> bool {
        true
    }
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<i32>, ReadError> {
        const EXPECTED: &str = "null or \"NULL_VALUE\"";
        match reader.scalar(EXPECTED)? {
            Scalar::Str(s) if s.as_str() == "NULL_VALUE" => Ok(Some(0)),
            Scalar::Str(s) => Err(ReadError::new(format_args!(
                "\"{}\" is not a value of google.protobuf.NullValue",
                s.as_str()
            ))),
            other => Err(other.invalid(EXPECTED)),
        }
    }
    fn from_null() -> Option<i32> {
        Some(0)
    }
    fn write(_: &i32, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        writer.out().extend_from_slice(b"null");
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Messages, lists, maps

/// A message field: the message's own reading and writing.
pub(crate) struct Msg<T>(PhantomData<T>);

impl<T: WriteJson + ReadJson + Default> Codec for Msg<T> {
    type Value = T;
    fn is_default(_: &T) -> bool {
        false
    }
    #[inline]
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<T>, ReadError> {
        let mut message = T::default();
        T::read_json_in_place(reader, &mut message)?;
        Ok(Some(message))
    }
    fn push_item(reader: &mut Reader<'_>, out: &mut Vec<T>) -> Result<(), ReadError> {
        if reader.null()? {
            return Err(ReadError::new("null is not allowed here"));
        }
        // Read into a default pushed first, rather than moving a large
        // message into the list once read.
        out.push(T::default());
        match out.last_mut() {
            Some(place) => T::read_json_in_place(reader, place),
            None => Ok(()),
        }
    }
    #[inline]
    fn write(value: &T, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        value.write_json(writer)
    }
}

/// A message type for which JSON `null` is a value (`google.protobuf.Value`).
#[cfg_attr(not(any(test, conformance_protos)), allow(dead_code))]
pub(crate) trait JsonNull {
    /// The value JSON `null` stands for.
    fn json_null() -> Self;
}

/// A field of a type for which JSON `null` is a value. None of the crate's
/// schemas has a singular `Value` field, but the conformance suite's do.
#[cfg_attr(not(any(test, conformance_protos)), allow(dead_code))]
pub(crate) struct NullableMsg<T>(PhantomData<T>);

impl<T: WriteJson + ReadJson + Default + JsonNull> Codec for NullableMsg<T> {
    type Value = T;
    fn is_default(_: &T) -> bool {
        false
    }
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<T>, ReadError> {
        Msg::<T>::read_value(reader)
    }
    fn from_null() -> Option<T> {
        Some(T::json_null())
    }
    fn write(value: &T, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        value.write_json(writer)
    }
}

/// A repeated field: a JSON array.
pub(crate) struct Repeated<C>(PhantomData<C>);

impl<C: Codec> Codec for Repeated<C> {
    type Value = Vec<C::Value>;
    fn is_default(value: &Self::Value) -> bool {
        value.is_empty()
    }
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<Self::Value>, ReadError> {
        reader.enter_array()?;
        let mut out = Vec::new();
        let mut first = true;
        let mut index = 0;
        while reader.next_element(&mut first)? {
            C::push_item(reader, &mut out).map_err(|e| e.at_index(index))?;
            index += 1;
        }
        Ok(Some(out))
    }
    fn write(value: &Self::Value, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        writer.out().push(b'[');
        for (i, v) in value.iter().enumerate() {
            if i > 0 {
                writer.out().push(b',');
            }
            C::write(v, writer)?;
        }
        writer.out().push(b']');
        Ok(())
    }
}

/// A map field: a JSON object whose member names are the keys.
pub(crate) struct Map<K, V>(PhantomData<(K, V)>);

impl<K: KeyCodec, V: Codec> Codec for Map<K, V> {
    type Value = BTreeMap<K::Key, V::Value>;
    fn is_default(value: &Self::Value) -> bool {
        value.is_empty()
    }
    fn read_value(reader: &mut Reader<'_>) -> Result<Option<Self::Value>, ReadError> {
        reader.enter_object()?;
        let mut out = BTreeMap::new();
        let mut first = true;
        loop {
            let (key, value) = {
                let Some(name) = reader.member_name(&mut first)? else {
                    return Ok(Some(out));
                };
                let name = name.as_str();
                let key = K::parse_key(name).map_err(|e| ReadError::new(e).at_key(name))?;
                reader.colon()?;
                let value = V::read_item(reader).map_err(|e| e.at_key(&K::key_text(&key)))?;
                (key, value)
            };
            if let Some(value) = value
                && out.insert(key, value).is_some()
            {
                return Err(ReadError::new("a map key is given more than once"));
            }
        }
    }
    fn write(value: &Self::Value, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        writer.out().push(b'{');
        for (i, (k, v)) in value.iter().enumerate() {
            let out = writer.out();
            if i > 0 {
                out.push(b',');
            }
            K::write_key(k, out);
            out.push(b':');
            V::write(v, writer)?;
        }
        writer.out().push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::ParseOptions;

    fn read<C: Codec>(json: &str) -> Result<Option<C::Value>, String> {
        let mut reader = Reader::new(json.as_bytes(), &ParseOptions::default());
        C::read(&mut reader)
            .and_then(|v| reader.end().map(|()| v))
            .map_err(|e| e.to_string())
    }

    fn write<C: Codec>(value: &C::Value) -> String {
        let mut out = Vec::new();
        C::write(value, &mut Writer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn base64_ignores_the_last_characters_unused_bits() {
        // "-_" is 12 bits: one byte, 0xfb, and 4 bits that carry nothing.
        assert_eq!(decode_base64("-_").unwrap(), [0xfb]);
        assert_eq!(decode_base64("+/").unwrap(), [0xfb]);
        assert_eq!(decode_base64("AQI=").unwrap(), [1, 2]);
        assert!(decode_base64("A").is_err());
    }

    #[test]
    fn json_number_shapes() {
        for ok in ["0", "-1", "1.5", "1e3", "1E+3", "-2.5e-3"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "+1", "1.", ".5", "1e", "inf", "NaN", " 1", "0x10", "1_000",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn null_means_unset_except_for_value_and_null_value() {
        assert_eq!(read::<I64>("null").unwrap(), None);
        assert_eq!(read::<Repeated<Str>>("null").unwrap(), None);
        assert_eq!(read::<Map<Str, Str>>("null").unwrap(), None);
        assert_eq!(read::<Null>("null").unwrap(), Some(0));
        assert_eq!(write::<Null>(&0), "null");
        type V = crate::google::protobuf::Value;
        assert_eq!(read::<NullableMsg<V>>("null").unwrap(), Some(V::null()));
        assert_eq!(
            read::<Repeated<NullableMsg<V>>>("[null]").unwrap(),
            Some(vec![V::null()])
        );
        assert!(read::<Repeated<Str>>("[null]").is_err());
        assert!(read::<Map<Str, I32>>(r#"{"a": null}"#).is_err());
    }

    #[test]
    fn maps_keys_and_duplicates() {
        let m = read::<Map<I32, Bool>>(r#"{"-5": true, "7": false}"#)
            .unwrap()
            .unwrap();
        assert_eq!(write::<Map<I32, Bool>>(&m), r#"{"-5":true,"7":false}"#);
        assert!(read::<Map<I32, Bool>>(r#"{"1.0": true}"#).is_err());
        assert!(read::<Map<Str, I32>>(r#"{"a": 1, "a": 2}"#).is_err());
        let b = read::<Map<Bool, U64>>(r#"{"true": "18446744073709551615"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(b[&true], u64::MAX);
        assert!(read::<Map<Bool, U64>>(r#"{"True": 1}"#).is_err());
    }

    #[test]
    fn integers_accept_canonical_input_forms() {
        assert_eq!(
            read::<I64>(r#""-9223372036854775808""#).unwrap(),
            Some(i64::MIN)
        );
        assert_eq!(read::<I64>("1e3").unwrap(), Some(1000));
        assert_eq!(read::<I64>(r#""1e3""#).unwrap(), Some(1000));
        assert_eq!(read::<I32>("5.0").unwrap(), Some(5));
        assert!(read::<I32>("5.5").is_err());
        assert!(read::<I32>("2147483648").is_err());
        assert!(read::<I64>(r#""9223372036854775808""#).is_err());
        assert!(read::<I64>(r#""-9223372036854775809""#).is_err());
        assert!(read::<I64>("-9223372036854775809").is_err());
        assert_eq!(read::<I64>("-9223372036854775808").unwrap(), Some(i64::MIN));
        assert!(read::<U64>(r#""18446744073709551616""#).is_err());
        assert!(read::<U64>("-1").is_err());
        assert!(read::<I32>("true").is_err());
        assert!(read::<I32>(r#""""#).is_err());
        assert!(read::<I32>(r#"" 1""#).is_err());
        assert_eq!(write::<I64>(&i64::MIN), r#""-9223372036854775808""#);
        assert_eq!(write::<I32>(&-7), "-7");
        assert_eq!(
            read::<I32>("[1]").unwrap_err(),
            "invalid type: sequence, expected an int32 as a number or a string"
        );
    }

    #[test]
    fn floats_write_non_finite_values_as_strings() {
        assert_eq!(write::<F64>(&f64::NAN), r#""NaN""#);
        assert_eq!(write::<F64>(&f64::INFINITY), r#""Infinity""#);
        assert_eq!(write::<F32>(&f32::NEG_INFINITY), r#""-Infinity""#);
        assert!(read::<F64>(r#""NaN""#).unwrap().unwrap().is_nan());
        assert_eq!(
            read::<F64>(r#""-Infinity""#).unwrap(),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(read::<F64>(r#""1.5""#).unwrap(), Some(1.5));
        assert!(read::<F64>(r#""inf""#).is_err());
        assert!(read::<F32>("3.5e38").is_err());
        assert_eq!(read::<F32>("3.4028235e38").unwrap(), Some(f32::MAX));
        assert_eq!(write::<F32>(&f32::MAX), "3.4028235e+38");
        assert_eq!(write::<F32>(&0.1), "0.1");
    }

    #[test]
    fn bytes_accept_both_alphabets() {
        assert_eq!(write::<Bytes>(&vec![0xfb, 0xff, 0x01]), r#""+/8B""#);
        for text in [r#""+/8B""#, r#""-_8B""#] {
            assert_eq!(read::<Bytes>(text).unwrap(), Some(vec![0xfb, 0xff, 0x01]));
        }
        assert_eq!(read::<Bytes>(r#""AQ""#).unwrap(), Some(vec![1]));
        assert_eq!(read::<Bytes>(r#""AQ==""#).unwrap(), Some(vec![1]));
        assert!(read::<Bytes>(r#""A*==""#).is_err());
    }

    #[test]
    fn integer_bounds_are_exact() {
        assert_eq!(i64::from_f64(-9223372036854775808.0), None);
        assert_eq!(
            i64::from_f64(-9223372036854774784.0),
            Some(-9223372036854774784)
        );
        assert_eq!(i64::from_f64(9223372036854775808.0), None);
        assert_eq!(u64::from_f64(-1.0), None);
        assert_eq!(i32::from_f64(2147483647.0), Some(i32::MAX));
        assert_eq!(i32::from_f64(1.5), None);
    }

    #[test]
    fn unknown_enum_names_are_left_out_when_ignored() {
        type E = Enum<crate::google::rpc::Code>;
        let lenient = ParseOptions::default().ignore_unknown_fields(true);
        let read_with = |json: &str| {
            let mut reader = Reader::new(json.as_bytes(), &lenient);
            let value = Repeated::<E>::read(&mut reader).unwrap();
            (
                value,
                Map::<Str, E>::read(&mut Reader::new(br#"{"a":"NOPE","b":"OK"}"#, &lenient))
                    .unwrap(),
            )
        };
        let (list, map) = read_with(r#"["NOPE", "NOT_FOUND", 7]"#);
        assert_eq!(list, Some(vec![5, 7]));
        assert_eq!(map, Some(BTreeMap::from([("b".to_owned(), 0)])));
        assert!(read::<E>(r#""NOPE""#).is_err());
    }
}
