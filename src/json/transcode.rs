//! One type's transcoding, [`Entry`]: how its binary encoding becomes JSON
//! and back, alone, inside an `Any`, and in pieces for large documents. The
//! tables of entries (the crate's, a user's `TypeRegistry`) are in
//! [`crate::registry`], which exports these types.

use std::borrow::Cow;

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::Fields;
use super::{
    JsonError, ParseOptions, ReadError, ReadJson, Reader, WriteError, WriteJson, WriteOptions,
    Writer,
};

/// Reads the type's JSON value into its binary encoding.
type ReadFn = for<'de> fn(&mut Reader<'de>) -> Result<Vec<u8>, ReadError>;
/// Reads the members of an `Any`'s object into the type's binary encoding;
/// the flag says whether no member was read yet.
type ReadAnyFn = for<'de> fn(&mut Reader<'de>, bool) -> Result<Vec<u8>, ReadError>;
/// Writes the binary encoding as the type's JSON value.
type WriteFn = fn(&[u8], &mut Writer<'_>) -> Result<(), WriteFailure>;
/// Writes the binary encoding as an `Any` object with its type URL.
type WriteAnyFn = fn(&str, &[u8], &mut Writer<'_>) -> Result<(), WriteFailure>;
type ReencodeFn = fn(&[u8]) -> Result<Vec<u8>, prost::DecodeError>;

/// A list of messages, a field of a message type (the generated table names
/// them): what reading a large document into the binary encoding takes one
/// element at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ListField {
    pub(crate) json_name: &'static str,
    pub(crate) name: &'static str,
    pub(crate) number: u32,
    /// The elements' type.
    pub(crate) element: Entry,
}

/// A type's full proto name: whole for the crate's types, in its two
/// parts for a user's (`prost::Name` gives those as constants).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    Full(&'static str),
    Parts {
        package: &'static str,
        name: &'static str,
    },
}

impl Name {
    fn full(self) -> Cow<'static, str> {
        match self {
            Self::Full(name) => Cow::Borrowed(name),
            Self::Parts { package: "", name } => Cow::Borrowed(name),
            Self::Parts { package, name } => Cow::Owned(format!("{package}.{name}")),
        }
    }
}

/// What the registry knows of one message type: how to turn its binary
/// encoding into JSON and back.
#[derive(Clone, Copy)]
pub struct Entry {
    full_name: Name,
    well_known: bool,
    lists: &'static [ListField],
    reencode: ReencodeFn,
    read: ReadFn,
    read_any: ReadAnyFn,
    write: WriteFn,
    write_any: WriteAnyFn,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("full_name", &self.full_name())
            .finish_non_exhaustive()
    }
}

/// An error converting a message between its binary and JSON forms.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// The binary input does not decode as the type.
    #[error(
        "invalid {type_name} binary{}: {error}",
        offset.zip(problem.as_ref()).map(|(o, p)| format!(" at byte {o} ({p})")).unwrap_or_default()
    )]
    Decode {
        /// The message type.
        type_name: String,
        /// Where the encoding stops being well-formed, when that is at the
        /// top level: where the broken key, varint, length or value starts;
        /// prost's message names the field path in any case.
        offset: Option<usize>,
        /// What is broken there.
        problem: Option<String>,
        /// What prost reported, naming the message and field at fault
        /// (printed in the message, not given as its source).
        error: prost::DecodeError,
    },
    /// The JSON input does not parse as the type, or the message cannot be
    /// written as JSON.
    #[error(transparent)]
    Json(#[from] JsonError),
}

/// Why [`Entry::json_to_binary_in_pieces`] failed: the input, or the
/// output.
#[derive(Debug, thiserror::Error)]
pub enum PiecesError<E> {
    /// The input does not convert.
    #[error(transparent)]
    Transcode(#[from] TranscodeError),
    /// The output refused a piece.
    #[error("{0}")]
    Out(E),
}

/// The field number of the top-level field at `*at` of an encoding, and
/// `*at` moved past it; `None` where the encoding breaks.
fn top_level_field(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let mut rest = &bytes[*at..];
    let before = rest.len();
    let (number, wire_type) = prost::encoding::decode_key(&mut rest).ok()?;
    prost::encoding::skip_field(
        wire_type,
        number,
        &mut rest,
        prost::encoding::DecodeContext::default(),
    )
    .ok()?;
    *at += before - rest.len();
    Some(number)
}

/// Why a binary encoding could not be written as JSON.
pub(crate) enum WriteFailure {
    /// The encoding does not decode as the type.
    Decode(prost::DecodeError),
    /// The message has no JSON form (a NaN in a `Value`, an Any of an
    /// unknown type, ...).
    Write(WriteError),
}

impl From<WriteError> for WriteFailure {
    fn from(e: WriteError) -> Self {
        Self::Write(e)
    }
}

fn reencode<T: Message + Default>(bytes: &[u8]) -> Result<Vec<u8>, prost::DecodeError> {
    Ok(T::decode(bytes)?.encode_to_vec())
}

fn read_value<T: Message + ReadJson>(reader: &mut Reader<'_>) -> Result<Vec<u8>, ReadError> {
    Ok(T::read_json(reader)?.encode_to_vec())
}

fn write_value<T: Message + Default + WriteJson>(
    bytes: &[u8],
    writer: &mut Writer<'_>,
) -> Result<(), WriteFailure> {
    let message = T::decode(bytes).map_err(WriteFailure::Decode)?;
    Ok(message.write_json(writer)?)
}

/// Reads a generated message from the members of an Any's object.
fn read_fields<T: Message + Fields>(
    reader: &mut Reader<'_>,
    first: bool,
) -> Result<Vec<u8>, ReadError> {
    let mut message = T::default();
    message.read_members(reader, first, true)?;
    Ok(message.encode_to_vec())
}

/// Writes a generated message's fields beside an Any's `"@type"`.
fn write_fields<T: Message + Fields>(
    type_url: &str,
    bytes: &[u8],
    writer: &mut Writer<'_>,
) -> Result<(), WriteFailure> {
    let message = T::decode(bytes).map_err(WriteFailure::Decode)?;
    open_any(type_url, writer);
    message.write_fields(writer, &mut false)?;
    writer.out().push(b'}');
    Ok(())
}

/// Reads a well-known type from the `"value"` member of an Any's object.
fn read_value_member<T: Message + prost::Name + ReadJson>(
    reader: &mut Reader<'_>,
    mut first: bool,
) -> Result<Vec<u8>, ReadError> {
    let mut value = None;
    while let Some(name) = reader.member_name(&mut first)? {
        let name = name.as_str().to_owned();
        reader.colon()?;
        match name.as_str() {
            "@type" => reader.skip_value()?,
            "value" if value.is_none() => {
                value = Some(T::read_json(reader).map_err(|e| e.in_field("value"))?);
            }
            _ if name != "value" && reader.ignores_unknown() => reader.skip_value()?,
            _ => {
                return Err(ReadError::new(format_args!(
                    "unknown field \"{name}\" in an Any of {}, which holds only \"@type\" and \"value\"",
                    T::full_name()
                ))
                .at_key(&name));
            }
        }
    }
    match value {
        Some(value) => Ok(value.encode_to_vec()),
        None => Err(ReadError::new(format_args!(
            "an Any of {} needs a \"value\" member",
            T::full_name()
        ))),
    }
}

/// Writes a well-known type as an Any's `"value"` member.
fn write_value_member<T: Message + Default + WriteJson>(
    type_url: &str,
    bytes: &[u8],
    writer: &mut Writer<'_>,
) -> Result<(), WriteFailure> {
    let message = T::decode(bytes).map_err(WriteFailure::Decode)?;
    open_any(type_url, writer);
    writer.out().extend_from_slice(b",\"value\":");
    message.write_json(writer)?;
    writer.out().push(b'}');
    Ok(())
}

/// Opens an Any's object with its `"@type"` member.
fn open_any(type_url: &str, writer: &mut Writer<'_>) {
    let out = writer.out();
    out.extend_from_slice(b"{\"@type\":");
    super::write::write_str(out, type_url);
}

/// A document read into the binary encoding with its top-level lists of
/// messages apart: each list's encoded elements, and the document's other
/// members as a JSON object of their own.
struct Split {
    /// `(field number, encoded elements)` of each list given.
    lists: Vec<(u32, Vec<u8>)>,
    /// The other members, as an object.
    rest: Vec<u8>,
}

/// Reads a user's type through its serde impls (with `serde_json`, from
/// the raw text of the value).
fn read_serde<T: Message + DeserializeOwned>(
    reader: &mut Reader<'_>,
) -> Result<Vec<u8>, ReadError> {
    let raw = reader.raw_value()?;
    serde_json::from_slice::<T>(raw)
        .map(|m| m.encode_to_vec())
        .map_err(|e| ReadError::new(serde_message(&e)))
}

/// Reads a user's type from an Any's object (which the reader has entered):
/// the object without `"@type"`, through the type's serde impls.
fn read_serde_any<T: Message + DeserializeOwned>(
    reader: &mut Reader<'_>,
    mut first: bool,
) -> Result<Vec<u8>, ReadError> {
    let mut members = serde_json::Map::new();
    while let Some(name) = reader.member_name(&mut first)? {
        let name = name.as_str().to_owned();
        reader.colon()?;
        let raw = reader.raw_value()?;
        if name != "@type" {
            let value =
                serde_json::from_slice(raw).map_err(|e| ReadError::new(serde_message(&e)))?;
            members.insert(name, value);
        }
    }
    serde_json::from_value::<T>(serde_json::Value::Object(members))
        .map(|m| m.encode_to_vec())
        .map_err(|e| ReadError::new(serde_message(&e)))
}

/// A `serde_json` error without its position, which is not the document's.
fn serde_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

fn write_serde<T: Message + Default + Serialize>(
    bytes: &[u8],
    writer: &mut Writer<'_>,
) -> Result<(), WriteFailure> {
    let message = T::decode(bytes).map_err(WriteFailure::Decode)?;
    serde_json::to_writer(writer.out(), &message).map_err(WriteError::new)?;
    Ok(())
}

fn write_serde_any<T: Message + Default + Serialize>(
    type_url: &str,
    bytes: &[u8],
    writer: &mut Writer<'_>,
) -> Result<(), WriteFailure> {
    let message = T::decode(bytes).map_err(WriteFailure::Decode)?;
    let text = serde_json::to_vec(&message).map_err(WriteError::new)?;
    let members = match text.as_slice() {
        [b'{', b'}'] => &[][..],
        [b'{', members @ .., b'}'] => members,
        _ => {
            return Err(WriteFailure::Write(WriteError::new(
                "an Any's payload must be written as a JSON object",
            )));
        }
    };
    open_any(type_url, writer);
    if !members.is_empty() {
        writer.out().push(b',');
        writer.out().extend_from_slice(members);
    }
    writer.out().push(b'}');
    Ok(())
}

impl Entry {
    // One constructor per form of type (a message, a well-known type, a
    // user's serde type), each naming its monomorphized functions: alike
    // in shape, different in what they name.
    /// The entry of a generated message: its JSON is an object of its
    /// fields, also inside an `Any`.
    pub(crate) const fn message<T>(full_name: &'static str) -> Self
    where
        T: Message + Default + Fields + ReadJson + WriteJson + 'static,
    {
        Self {
            full_name: Name::Full(full_name),
            well_known: false,
            lists: &[],
            reencode: reencode::<T>,
            read: read_value::<T>,
            read_any: read_fields::<T>,
            write: write_value::<T>,
            write_any: write_fields::<T>,
        }
    }

    /// The entry of a well-known type with a JSON form of its own
    /// (Timestamp, Struct, ...), which an `Any` holds under `"value"`.
    pub(crate) const fn well_known<T>(full_name: &'static str) -> Self
    where
        T: Message + Default + prost::Name + ReadJson + WriteJson + 'static,
    {
        Self {
            full_name: Name::Full(full_name),
            well_known: true,
            lists: &[],
            reencode: reencode::<T>,
            read: read_value::<T>,
            read_any: read_value_member::<T>,
            write: write_value::<T>,
            write_any: write_value_member::<T>,
        }
    }

    /// The entry of a user's type, through its serde impls.
    pub(crate) fn serde<T>() -> Self
    where
        T: Message + prost::Name + Default + Serialize + DeserializeOwned + 'static,
    {
        Self {
            full_name: Name::Parts {
                package: T::PACKAGE,
                name: T::NAME,
            },
            well_known: false,
            lists: &[],
            reencode: reencode::<T>,
            read: read_serde::<T>,
            read_any: read_serde_any::<T>,
            write: write_serde::<T>,
            write_any: write_serde_any::<T>,
        }
    }

    /// The same entry, with the message's lists of messages.
    pub(crate) const fn with_lists(self, lists: &'static [ListField]) -> Self {
        Self { lists, ..self }
    }

    /// The full name of one of the crate's types, whole and static.
    pub(crate) fn static_name(&self) -> Option<&'static str> {
        match self.full_name {
            Name::Full(name) => Some(name),
            Name::Parts { .. } => None,
        }
    }

    /// The full proto name of the type, such as `google.rpc.Status`.
    pub fn full_name(&self) -> Cow<'static, str> {
        self.full_name.full()
    }

    /// The type URL an `Any` of this type carries.
    pub fn type_url(&self) -> String {
        format!("type.googleapis.com/{}", self.full_name())
    }

    /// Whether the JSON form is not an object of fields, so that an `Any`
    /// holds it as `{"@type": ..., "value": <json>}`.
    pub fn is_special_json(&self) -> bool {
        self.well_known
    }

    /// Decodes the binary encoding and encodes it again: fields in number
    /// order, map entries in key order, and the fields the type does not
    /// define (at any level) kept, byte for byte, after the known ones.
    pub fn normalize_binary(&self, bytes: &[u8]) -> Result<Vec<u8>, TranscodeError> {
        (self.reencode)(bytes).map_err(|source| self.decode_error(bytes, source))
    }

    fn decode_error(&self, bytes: &[u8], error: prost::DecodeError) -> TranscodeError {
        let (offset, problem) = malformed_at(bytes).unzip();
        TranscodeError::Decode {
            type_name: self.full_name().into_owned(),
            offset,
            problem,
            error,
        }
    }

    /// Reads an `Any` of this type from its object, which `reader` has
    /// entered (its `"@type"` members are skipped wherever they stand), into
    /// the binary encoding, and leaves the object; `first` says whether no
    /// member was read yet.
    pub(crate) fn read_any(
        &self,
        reader: &mut Reader<'_>,
        first: bool,
    ) -> Result<Vec<u8>, ReadError> {
        (self.read_any)(reader, first)
    }

    /// Writes the binary encoding as an `Any` object of this type.
    pub(crate) fn write_any(
        &self,
        type_url: &str,
        bytes: &[u8],
        writer: &mut Writer<'_>,
    ) -> Result<(), WriteError> {
        (self.write_any)(type_url, bytes, writer).map_err(|e| match e {
            WriteFailure::Decode(source) => WriteError::new(self.decode_error(bytes, source)),
            WriteFailure::Write(e) => e,
        })
    }

    /// Converts the binary encoding to canonical JSON, appended to `out`.
    /// Canonical JSON has no place for unknown fields: they are left out, as
    /// the reference leaves them out.
    pub fn write_binary_as_json(
        &self,
        bytes: &[u8],
        pretty: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), TranscodeError> {
        self.write_binary_as_json_with(bytes, &WriteOptions::default().pretty(pretty), out)
    }

    /// Converts the binary encoding to JSON as `options` say, appended to
    /// `out` (unknown fields left out, as for
    /// [`Entry::write_binary_as_json`]).
    pub fn write_binary_as_json_with(
        &self,
        bytes: &[u8],
        options: &WriteOptions,
        out: &mut Vec<u8>,
    ) -> Result<(), TranscodeError> {
        let pretty = options.is_pretty();
        let mut compact = Vec::with_capacity(if pretty { bytes.len() * 2 } else { 0 });
        let target = if pretty { &mut compact } else { &mut *out };
        (self.write)(bytes, &mut Writer::with_options(target, options)).map_err(|e| match e {
            WriteFailure::Decode(source) => self.decode_error(bytes, source),
            WriteFailure::Write(e) => TranscodeError::Json(e.into()),
        })?;
        if pretty {
            out.extend_from_slice(&super::write::indent(&compact));
        }
        Ok(())
    }

    /// Converts the binary encoding to canonical JSON text (unknown fields
    /// left out, as for [`Entry::write_binary_as_json`]).
    pub fn binary_to_json(&self, bytes: &[u8], pretty: bool) -> Result<String, TranscodeError> {
        self.binary_to_json_with(bytes, &WriteOptions::default().pretty(pretty))
    }

    /// Converts the binary encoding to JSON text as `options` say.
    ///
    /// ```
    /// use cloud_report_proto::json::WriteOptions;
    /// use cloud_report_proto::registry;
    ///
    /// let entry = registry::lookup("google.api.servicecontrol.v1.CheckError").unwrap();
    /// let binary = entry.json_to_binary(br#"{"code": "NOT_FOUND"}"#)?;
    /// let numbers = WriteOptions::default().enums_as_ints(true);
    /// assert_eq!(entry.binary_to_json_with(&binary, &numbers)?, r#"{"code":5}"#);
    /// # Ok::<(), registry::TranscodeError>(())
    /// ```
    pub fn binary_to_json_with(
        &self,
        bytes: &[u8],
        options: &WriteOptions,
    ) -> Result<String, TranscodeError> {
        let mut out = Vec::with_capacity(bytes.len() * 2);
        self.write_binary_as_json_with(bytes, options, &mut out)?;
        // The writer writes only UTF-8.
        String::from_utf8(out).map_err(|e| {
            TranscodeError::Json(JsonError::Serialize {
                message: e.to_string(),
            })
        })
    }

    /// Converts canonical JSON text to the binary encoding as
    /// [`json_to_binary_with`](Self::json_to_binary_with) does, byte for
    /// byte and error for error, handing the encoding to `out` in pieces. The
    /// elements of the document's top-level lists of messages (a
    /// `ReportRequest`'s `operations`) are read and encoded one at a time, so
    /// a large document never stands in memory as a whole message: what is
    /// held is the text, the encoding, and one element.
    ///
    /// ```
    /// use cloud_report_proto::registry;
    ///
    /// let entry = registry::lookup("google.api.servicecontrol.v1.ReportRequest").unwrap();
    /// let json = br#"{"operations": [{"operationId": "a"}, {"operationId": "b"}], "serviceName": "s"}"#;
    /// let mut binary = Vec::new();
    /// entry.json_to_binary_in_pieces(json, &Default::default(), |piece| {
    ///     binary.extend_from_slice(piece);
    ///     Ok::<(), std::convert::Infallible>(())
    /// })?;
    /// assert_eq!(binary, entry.json_to_binary(json)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As `json_to_binary_with`, or the first error of `out`.
    pub fn json_to_binary_in_pieces<E>(
        &self,
        json: &[u8],
        options: &ParseOptions,
        mut out: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), PiecesError<E>> {
        // Anything that fails is read again whole, for the error (or, should
        // the two readings ever differ, the answer) of the usual reading.
        let whole = |out: &mut dyn FnMut(&[u8]) -> Result<(), E>| {
            let binary = self.json_to_binary_with(json, options)?;
            out(&binary).map_err(PiecesError::Out)
        };
        if self.lists.is_empty() || !json.trim_ascii_start().starts_with(b"{") {
            return whole(&mut out);
        }
        let Ok(split) = self.split(json, options) else {
            return whole(&mut out);
        };
        let mut reader = Reader::new(&split.rest, options);
        let rest = (self.read)(&mut reader).and_then(|binary| reader.end().map(|()| binary));
        let Ok(rest) = rest else {
            return whole(&mut out);
        };
        // The other members' fields are in number order: each list goes
        // before the first of them with a higher number.
        let mut lists = split.lists;
        lists.sort_by_key(|&(number, _)| number);
        let mut lists = lists.into_iter().peekable();
        let mut at = 0;
        while at < rest.len() {
            let start = at;
            let number = top_level_field(&rest, &mut at).ok_or_else(|| {
                TranscodeError::Json(JsonError::Serialize {
                    message: "the encoding of the other members does not decode".into(),
                })
            })?;
            while let Some((_, encoded)) = lists.next_if(|&(n, _)| n < number) {
                out(&encoded).map_err(PiecesError::Out)?;
            }
            out(&rest[start..at]).map_err(PiecesError::Out)?;
        }
        for (_, encoded) in lists {
            out(&encoded).map_err(PiecesError::Out)?;
        }
        Ok(())
    }

    /// Reads the top-level object of `json`: the lists of messages into
    /// their encoding, element by element, the other members copied out.
    /// Its errors say nothing to the user: on any of them the document is
    /// read again whole, for the usual reading's error.
    fn split(&self, json: &[u8], options: &ParseOptions) -> Result<Split, ReadError> {
        let mut reader = Reader::new(json, options);
        let mut split = Split {
            lists: Vec::new(),
            rest: vec![b'{'],
        };
        let mut seen = vec![false; self.lists.len()];
        reader.enter_object()?;
        let mut first = true;
        while let Some(name) = reader.member_name(&mut first)? {
            let list = self
                .lists
                .iter()
                .position(|l| l.json_name == name.as_str() || l.name == name.as_str());
            let Some(index) = list else {
                // Copied as it stands, `"name":value`, once the value is
                // read whole.
                let mut member = Vec::new();
                super::write::write_str(&mut member, name.as_str());
                member.push(b':');
                reader.colon()?;
                let raw = reader.raw_value()?;
                if split.rest.len() > 1 {
                    split.rest.push(b',');
                }
                split.rest.extend_from_slice(&member);
                split.rest.extend_from_slice(raw.trim_ascii_start());
                continue;
            };
            reader.colon()?;
            if std::mem::replace(&mut seen[index], true) {
                return Err(ReadError::new("a list given twice"));
            }
            if reader.null()? {
                continue;
            }
            let list = self.lists[index];
            let element = list.element;
            let mut encoded = Vec::new();
            reader.enter_array()?;
            let mut first_element = true;
            while reader.next_element(&mut first_element)? {
                if reader.null()? {
                    return Err(ReadError::new("a null element"));
                }
                let bytes = element.read_json(&mut reader)?;
                prost::encoding::encode_key(
                    list.number,
                    prost::encoding::WireType::LengthDelimited,
                    &mut encoded,
                );
                prost::encoding::encode_varint(bytes.len() as u64, &mut encoded);
                encoded.extend_from_slice(&bytes);
            }
            split.lists.push((list.number, encoded));
        }
        reader.end()?;
        split.rest.push(b'}');
        Ok(split)
    }

    /// Reads the type's JSON value from `reader` into its binary encoding.
    fn read_json(&self, reader: &mut Reader<'_>) -> Result<Vec<u8>, ReadError> {
        (self.read)(reader)
    }

    /// Converts canonical JSON text to the binary encoding, rejecting
    /// unknown fields.
    pub fn json_to_binary(&self, json: &[u8]) -> Result<Vec<u8>, TranscodeError> {
        self.json_to_binary_with(json, &ParseOptions::default())
    }

    /// Converts canonical JSON text to the binary encoding.
    pub fn json_to_binary_with(
        &self,
        json: &[u8],
        options: &ParseOptions,
    ) -> Result<Vec<u8>, TranscodeError> {
        Ok(super::read_with(json, options, self.read)?)
    }
}

/// Where the top level of an encoding first breaks, and how: the byte
/// where the broken key, varint, length or fixed-width value starts;
/// `None` when the top level is well-formed (the fault, if any, is inside a
/// nested message, which prost's error names).
fn malformed_at(bytes: &[u8]) -> Option<(usize, String)> {
    fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(*at)?;
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let Some(key) = varint(bytes, &mut at) else {
            return Some((start, "a field key that is not a complete varint".into()));
        };
        let field = key >> 3;
        if field == 0 {
            return Some((start, "field number 0".into()));
        }
        let value = at;
        let remain = bytes.len() - value;
        let broken = |what: String| Some((value, format!("field {field}: {what}")));
        match key & 7 {
            0 => {
                if varint(bytes, &mut at).is_none() {
                    return broken("a varint value that is not complete".into());
                }
            }
            2 => {
                let Some(length) = varint(bytes, &mut at) else {
                    return broken("a length that is not a complete varint".into());
                };
                let left = bytes.len() - at;
                match usize::try_from(length).ok().filter(|&n| n <= left) {
                    Some(n) => at += n,
                    None => {
                        return broken(format!("a length of {length} bytes where {left} remain"));
                    }
                }
            }
            wire @ (1 | 5) => {
                let width = if wire == 1 { 8 } else { 4 };
                if remain < width {
                    return broken(format!("a {width}-byte value where {remain} remain"));
                }
                at += width;
            }
            wire => {
                return Some((
                    start,
                    format!("field {field}: wire type {wire}, which proto3 does not use"),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::malformed_at;

    #[test]
    fn top_level_lists_are_read_apart_and_put_back_in_field_order() {
        let entry = crate::registry::lookup("google.api.servicecontrol.v1.ReportRequest").unwrap();
        let json = br#"{"serviceConfigId": "c", "operations": [{"operationId": "a"}, {"operationId": "b", "labels": {"k": "v"}}], "serviceName": "s"}"#;
        let options = crate::json::ParseOptions::default();
        // The lists are read apart (not through the whole reading).
        let split = entry.split(json, &options).unwrap();
        assert_eq!(split.lists.len(), 1);
        assert_eq!(split.rest, br#"{"serviceConfigId":"c","serviceName":"s"}"#);
        let mut pieces = Vec::new();
        entry
            .json_to_binary_in_pieces(json, &options, |piece| {
                pieces.push(piece.to_vec());
                Ok::<(), std::convert::Infallible>(())
            })
            .unwrap();
        // Field 1, the list (field 2), field 3.
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.concat(), entry.json_to_binary(json).unwrap());
    }

    #[test]
    fn finds_where_the_top_level_breaks() {
        let at = malformed_at;
        assert_eq!(at(&[0x0a, 0x01, b'x', 0x10, 0x96, 0x01]), None);
        // The second field's length prefix (byte 4) claims 5 bytes; 1 is left.
        assert_eq!(
            at(&[0x0a, 0x01, b'x', 0x12, 0x05, b'a']),
            Some((4, "field 2: a length of 5 bytes where 1 remain".into()))
        );
        assert_eq!(
            at(&[0x08, 0xff]),
            Some((1, "field 1: a varint value that is not complete".into()))
        );
        assert_eq!(
            at(&[0x0b]),
            Some((0, "field 1: wire type 3, which proto3 does not use".into()))
        );
        assert_eq!(at(&[0x00, 0x01]), Some((0, "field number 0".into())));
        assert_eq!(
            at(&[0x09, 1, 2, 3]),
            Some((1, "field 1: a 8-byte value where 3 remain".into()))
        );
        assert_eq!(
            at(&[0x80]),
            Some((0, "a field key that is not a complete varint".into()))
        );
    }
}
