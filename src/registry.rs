//! The type registry behind `google.protobuf.Any` JSON, and behind any tool
//! that handles messages by name (the `cloud-report` CLI, for one).
//!
//! Every message of the crate is registered from the start. Users add their
//! own types with [`register`]; an `Any` whose type no entry knows cannot be
//! written as JSON nor read from it, and the error says which type it was.
//!
//! ```
//! use cloud_report_proto::registry;
//!
//! let entry = registry::lookup("type.googleapis.com/google.rpc.ErrorInfo").unwrap();
//! assert_eq!(entry.full_name(), "google.rpc.ErrorInfo");
//!
//! // Convert between the wire formats of a type chosen at run time.
//! let binary = entry.json_to_binary(br#"{"reason": "API_DISABLED"}"#)?;
//! assert_eq!(entry.binary_to_json(&binary, false)?, r#"{"reason":"API_DISABLED"}"#);
//! # Ok::<(), registry::TranscodeError>(())
//! ```

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::json::{JsonError, ParseOptions};

type DecodeFn = fn(&[u8]) -> Result<Box<dyn erased_serde::Serialize>, prost::DecodeError>;
type ReencodeFn = fn(&[u8]) -> Result<Vec<u8>, prost::DecodeError>;
type ToValueFn = fn(&[u8]) -> Result<serde_json::Value, String>;
type FromValueFn = fn(serde_json::Value) -> Result<Vec<u8>, String>;
type ReadMembersFn = for<'de> fn(
    &mut crate::json::read::Reader<'de>,
) -> Result<Vec<u8>, crate::json::read::ReadError>;
type WriteFieldsFn = fn(&[u8], &mut Vec<u8>) -> Result<(), FieldsError>;
type FromJsonFn =
    for<'de> fn(&mut dyn erased_serde::Deserializer<'de>) -> Result<Vec<u8>, erased_serde::Error>;

/// What the registry knows of one message type: how to turn its binary
/// encoding into JSON and back.
#[derive(Clone, Copy)]
pub struct Entry {
    full_name: &'static str,
    well_known: bool,
    decode: DecodeFn,
    reencode: ReencodeFn,
    from_json: FromJsonFn,
    read_members: ReadMembersFn,
    write_fields: Option<WriteFieldsFn>,
    to_value: ToValueFn,
    from_value: FromValueFn,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("full_name", &self.full_name)
            .finish_non_exhaustive()
    }
}

/// An error converting a message between its binary and JSON forms.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// The binary input does not decode as the type.
    #[error(
        "invalid {type_name} binary{}: {source}",
        offset.zip(problem.as_ref()).map(|(o, p)| format!(" at byte {o} ({p})")).unwrap_or_default()
    )]
    Decode {
        /// The message type.
        type_name: &'static str,
        /// Where the encoding stops being well-formed, when that is at the
        /// top level: where the broken key, varint, length or value starts;
        /// prost's message names the field path in any case.
        offset: Option<usize>,
        /// What is broken there.
        problem: Option<String>,
        /// What prost reported, naming the message and field at fault.
        #[source]
        source: prost::DecodeError,
    },
    /// The JSON input does not parse as the type, or the message cannot be
    /// written as JSON.
    #[error(transparent)]
    Json(#[from] JsonError),
}

fn decode<T: Message + Default + Serialize + 'static>(
    bytes: &[u8],
) -> Result<Box<dyn erased_serde::Serialize>, prost::DecodeError> {
    Ok(Box::new(T::decode(bytes)?))
}

fn reencode<T: Message + Default>(bytes: &[u8]) -> Result<Vec<u8>, prost::DecodeError> {
    Ok(T::decode(bytes)?.encode_to_vec())
}

fn to_value<T: Message + Default + Serialize>(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let message = T::decode(bytes).map_err(|e| e.to_string())?;
    serde_json::to_value(&message).map_err(|e| e.to_string())
}

fn from_value<T: Message + DeserializeOwned>(value: serde_json::Value) -> Result<Vec<u8>, String> {
    // The path inside the buffered value goes into the message, since the
    // caller's path ends at the Any.
    serde_path_to_error::deserialize::<_, T>(value)
        .map(|m| m.encode_to_vec())
        .map_err(|e| match e.path().to_string().as_str() {
            "." => e.into_inner().to_string(),
            path => format!("{path}: {}", e.into_inner()),
        })
}

/// Reads the rest of an object (an Any's members after `"@type"`) from the
/// crate's reader, without type erasure, and leaves the object.
fn read_members<T: Message + DeserializeOwned>(
    reader: &mut crate::json::read::Reader<'_>,
) -> Result<Vec<u8>, crate::json::read::ReadError> {
    reader
        .rest_of_object(|members| {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(members))
        })
        .map(|m| m.encode_to_vec())
}

/// [`read_members`] for a message of the crate: straight from the text.
fn read_own_members<T: Message + Default + crate::json::ReadJson>(
    reader: &mut crate::json::read::Reader<'_>,
) -> Result<Vec<u8>, crate::json::read::ReadError> {
    let mut message = T::default();
    T::read_json_members(reader, &mut message)?;
    Ok(message.encode_to_vec())
}

/// Why an Any's fields could not be written.
pub(crate) enum FieldsError {
    Decode(prost::DecodeError),
    Write(crate::json::JsonError),
}

/// Decodes a message of the crate and writes its fields into an open object.
fn write_fields<T: Message + Default + crate::json::codec::Fields>(
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), FieldsError> {
    let message = T::decode(bytes).map_err(FieldsError::Decode)?;
    message
        .fields(&mut crate::json::write::FieldWriter::continuing(out))
        .map_err(FieldsError::Write)
}

fn from_json<T: Message + DeserializeOwned>(
    de: &mut dyn erased_serde::Deserializer<'_>,
) -> Result<Vec<u8>, erased_serde::Error> {
    Ok(erased_serde::deserialize::<T>(de)?.encode_to_vec())
}

impl Entry {
    /// The entry of message type `T`. `well_known` marks the types whose JSON
    /// is not an object of fields (Timestamp, Struct, ...), which an `Any`
    /// holds under a `"value"` member.
    pub(crate) fn of<T>(full_name: &'static str, well_known: bool) -> Self
    where
        T: Message + Default + Serialize + DeserializeOwned + 'static,
    {
        Self {
            full_name,
            well_known,
            decode: decode::<T>,
            reencode: reencode::<T>,
            from_json: from_json::<T>,
            read_members: read_members::<T>,
            write_fields: None,
            to_value: to_value::<T>,
            from_value: from_value::<T>,
        }
    }

    /// The full proto name of the type, such as `google.rpc.Status`.
    pub fn full_name(&self) -> &'static str {
        self.full_name
    }

    /// The type URL an `Any` of this type carries.
    pub fn type_url(&self) -> String {
        format!("type.googleapis.com/{}", self.full_name)
    }

    /// Whether the JSON form is not an object of fields, so that an `Any`
    /// holds it as `{"@type": ..., "value": <json>}`.
    pub fn is_special_json(&self) -> bool {
        self.well_known && !matches!(self.full_name, "google.protobuf.Empty")
    }

    /// Decodes the binary encoding into a value that serializes as the
    /// type's canonical JSON.
    pub fn decode(&self, bytes: &[u8]) -> Result<Box<dyn erased_serde::Serialize>, TranscodeError> {
        (self.decode)(bytes).map_err(|source| self.decode_error(bytes, source))
    }

    /// Decodes the binary encoding and encodes it again: fields in number
    /// order, map entries in key order, unknown fields dropped.
    pub fn normalize_binary(&self, bytes: &[u8]) -> Result<Vec<u8>, TranscodeError> {
        (self.reencode)(bytes).map_err(|source| self.decode_error(bytes, source))
    }

    fn decode_error(&self, bytes: &[u8], source: prost::DecodeError) -> TranscodeError {
        let (offset, problem) = malformed_at(bytes).unzip();
        TranscodeError::Decode {
            type_name: self.full_name,
            offset,
            problem,
            source,
        }
    }

    /// Decodes the binary encoding into its JSON value, without type erasure
    /// (for deeply nested Any payloads).
    pub(crate) fn binary_to_value(&self, bytes: &[u8]) -> Result<serde_json::Value, String> {
        (self.to_value)(bytes)
    }

    /// Reads the type from a buffered JSON value, without type erasure (for
    /// Any payloads that are buffered); errors name the path inside.
    pub(crate) fn value_to_binary(&self, value: serde_json::Value) -> Result<Vec<u8>, String> {
        (self.from_value)(value)
    }

    /// Reads the type from any serde deserializer and returns its binary
    /// encoding.
    pub fn deserialize_to_binary(
        &self,
        deserializer: &mut dyn erased_serde::Deserializer<'_>,
    ) -> Result<Vec<u8>, erased_serde::Error> {
        (self.from_json)(deserializer)
    }

    /// The same entry, writing the fields of `T` (a message of the crate)
    /// straight into an Any's object and reading them straight from one.
    pub(crate) fn with_fields<
        T: Message + Default + crate::json::codec::Fields + crate::json::ReadJson,
    >(
        self,
    ) -> Self {
        Self {
            write_fields: Some(write_fields::<T>),
            read_members: read_own_members::<T>,
            ..self
        }
    }

    /// Whether the fields of an Any of this type can be written straight
    /// into its object (types of the crate, not of the user's).
    pub(crate) fn writes_fields(&self) -> bool {
        self.write_fields.is_some() && !self.is_special_json()
    }

    /// Decodes the binary encoding and writes the message's fields into an
    /// object that already holds `"@type"`. Errors read as
    /// [`Entry::decode`]'s.
    pub(crate) fn write_fields(
        &self,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), crate::json::JsonError> {
        let Some(write) = self.write_fields else {
            return Err(crate::json::JsonError::Serialize {
                message: format!("{} has no field writer", self.full_name),
            });
        };
        write(bytes, out).map_err(|e| match e {
            FieldsError::Decode(source) => crate::json::JsonError::Serialize {
                message: self.decode_error(bytes, source).to_string(),
            },
            FieldsError::Write(e) => e,
        })
    }

    /// Reads the type from the members of an object the crate's reader is
    /// in, and returns its binary encoding.
    pub(crate) fn read_members(
        &self,
        reader: &mut crate::json::read::Reader<'_>,
    ) -> Result<Vec<u8>, crate::json::read::ReadError> {
        (self.read_members)(reader)
    }

    /// Converts the binary encoding to canonical JSON text.
    pub fn binary_to_json(&self, bytes: &[u8], pretty: bool) -> Result<String, TranscodeError> {
        let message = self.decode(bytes)?;
        Ok(if pretty {
            crate::json::to_string_pretty(&*message)?
        } else {
            crate::json::to_string(&*message)?
        })
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
        Ok(crate::json::from_slice_seed(json, options, *self)?)
    }
}

/// Reading through an entry: the seed is the entry, the value the binary
/// encoding.
impl<'de> serde::de::DeserializeSeed<'de> for Entry {
    type Value = Vec<u8>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let mut erased = <dyn erased_serde::Deserializer>::erase(deserializer);
        self.deserialize_to_binary(&mut erased)
            .map_err(serde::de::Error::custom)
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

fn registry() -> &'static RwLock<HashMap<&'static str, Entry>> {
    static REGISTRY: OnceLock<RwLock<HashMap<&'static str, Entry>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let builtins: Vec<Entry> =
            Vec::from(include!(concat!(env!("OUT_DIR"), "/registry_entries.rs")));
        RwLock::new(builtins.into_iter().map(|e| (e.full_name, e)).collect())
    })
}

/// Registers a message type of the user's, so `Any` values holding it can be
/// written and read as JSON. Registering a name again replaces the entry.
///
/// ```
/// use cloud_report_proto::google::rpc::Status;
/// use cloud_report_proto::registry;
///
/// registry::register::<Status>();
/// assert!(registry::lookup("google.rpc.Status").is_some());
/// ```
pub fn register<T>()
where
    T: Message + prost::Name + Default + Serialize + DeserializeOwned + 'static,
{
    let name = T::full_name();
    let mut registry = registry().write().unwrap_or_else(PoisonError::into_inner);
    // prost::Name builds names at run time; a name is kept for the life of
    // the process, once, however often it is registered.
    let full_name = match registry.get_key_value(name.as_str()) {
        Some((existing, _)) => *existing,
        None => Box::leak(name.into_boxed_str()),
    };
    registry.insert(full_name, Entry::of::<T>(full_name, false));
}

/// Finds the entry of a type by its full name or by a type URL (the name is
/// what follows the last `/`).
pub fn lookup(name_or_url: &str) -> Option<Entry> {
    let name = name_or_url.rsplit('/').next().unwrap_or(name_or_url);
    registry()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
        .copied()
}

/// The full names of every registered message type, sorted.
pub fn message_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = registry()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .keys()
        .copied()
        .collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::malformed_at;

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
