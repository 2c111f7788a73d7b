//! serde `Serialize` and `Deserialize` for the crate's messages, as adapters
//! over the JSON engine, for users who embed the messages in their own serde
//! structures.
//!
//! Serializing writes the message's canonical JSON with the engine and
//! replays it into the serializer (so any serde format gets the canonical
//! JSON data model: int64 as strings, enums by name, ...). Deserializing
//! captures the input value as JSON text and reads it with the engine; an
//! error names the JSON path inside the message.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};

use super::codec::{Codec, Enum, ProtoEnum};
use super::options::ParseOptions;
use super::read::{Number, ReadError, ReadJson, Reader, Scalar};
use super::write::{self, WriteJson, Writer};

/// Serializes `value` as its canonical JSON, through any serializer.
pub(crate) fn serialize<T: WriteJson + ?Sized, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut text = Vec::new();
    value
        .write_json(&mut Writer::new(&mut text))
        .map_err(ser::Error::custom)?;
    let mut reader = Reader::new(&text, &ParseOptions::default());
    Replay(Cell::new(Some(&mut reader))).serialize(serializer)
}

/// Deserializes a message from any self-describing deserializer.
pub(crate) fn deserialize<'de, T: ReadJson, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    let mut text = Vec::new();
    deserializer.deserialize_any(Capture(&mut text))?;
    let mut reader = Reader::new(&text, &ParseOptions::default());
    T::read_json(&mut reader).map_err(|e| de::Error::custom(Located(&e)))
}

/// Deserializes an enum (by name or number) from any self-describing
/// deserializer.
pub(crate) fn deserialize_enum<'de, E, D>(deserializer: D) -> Result<E, D::Error>
where
    E: ProtoEnum + TryFrom<i32>,
    D: Deserializer<'de>,
{
    let mut text = Vec::new();
    deserializer.deserialize_any(Capture(&mut text))?;
    let mut reader = Reader::new(&text, &ParseOptions::default());
    let number = Enum::<E>::read_item(&mut reader)
        .map_err(|e| de::Error::custom(Located(&e)))?
        .unwrap_or_default();
    E::try_from(number)
        .map_err(|_| de::Error::custom(format_args!("{number} is not a value of {}", E::FULL_NAME)))
}

/// A read error with its path in front, as serde errors show it.
struct Located<'a>(&'a ReadError);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.0.path();
        if !path.is_empty() {
            write!(f, "{path}: ")?;
        }
        f.write_str(self.0.message())
    }
}

/// One value of the engine's output, handed to a serializer once.
struct Replay<'a, 'de>(Cell<Option<&'a mut Reader<'de>>>);

impl Serialize for Replay<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let reader = self
            .0
            .take()
            .ok_or_else(|| ser::Error::custom("a value replayed twice"))?;
        // The text is the writer's own, so reading it cannot fail.
        let failed = |e: ReadError| ser::Error::custom(e);
        match reader.next_byte() {
            Some(b'[') => {
                reader.enter_array().map_err(failed)?;
                let mut seq = serializer.serialize_seq(None)?;
                let mut first = true;
                while reader.next_element(&mut first).map_err(failed)? {
                    seq.serialize_element(&Replay(Cell::new(Some(&mut *reader))))?;
                }
                seq.end()
            }
            Some(b'{') => {
                reader.enter_object().map_err(failed)?;
                let mut map = serializer.serialize_map(None)?;
                let mut first = true;
                loop {
                    let Some(name) = reader.member_name(&mut first).map_err(failed)? else {
                        break;
                    };
                    map.serialize_key(name.as_str())?;
                    reader.colon().map_err(failed)?;
                    map.serialize_value(&Replay(Cell::new(Some(&mut *reader))))?;
                }
                map.end()
            }
            _ => {
                let start = reader.mark();
                match reader.scalar("a value").map_err(failed)? {
                    Scalar::Null => serializer.serialize_unit(),
                    Scalar::Bool(b) => serializer.serialize_bool(b),
                    Scalar::Number(Number::U64(v)) => serializer.serialize_u64(v),
                    Scalar::Number(Number::I64(v)) => serializer.serialize_i64(v),
                    Scalar::Number(Number::F64(v)) => {
                        // A float field's value was written in its shortest
                        // 32-bit form; it is handed on as an f32, so that
                        // the serializer writes the same digits.
                        let mut as_double = Vec::new();
                        write::write_f64(&mut as_double, v);
                        if as_double == reader.text_since(start) {
                            serializer.serialize_f64(v)
                        } else {
                            #[allow(clippy::cast_possible_truncation)]
                            serializer.serialize_f32(v as f32)
                        }
                    }
                    Scalar::Str(s) => serializer.serialize_str(s.as_str()),
                }
            }
        }
    }
}

/// Writes the value a deserializer gives as JSON text.
struct Capture<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for Capture<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A member name, which JSON writes as a string whatever the format had.
struct CaptureKey<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for CaptureKey<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for CaptureKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        write::write_str(self.0, s);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        write::write_str(self.0, if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        write::write_str(self.0, itoa::Buffer::new().format(v));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        write::write_str(self.0, itoa::Buffer::new().format(v));
        Ok(())
    }
}

impl<'de> Visitor<'de> for Capture<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        write::write_integer(self.0, v);
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        write::write_integer(self.0, v);
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        if !v.is_finite() {
            return Err(E::custom(format_args!("{v} has no JSON form")));
        }
        write::write_f64(self.0, v);
        Ok(())
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        write::write_str(self.0, s);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push(b'[');
        let mut first = true;
        loop {
            let at = self.0.len();
            if !first {
                self.0.push(b',');
            }
            if seq.next_element_seed(Capture(self.0))?.is_none() {
                self.0.truncate(at);
                break;
            }
            first = false;
        }
        self.0.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.push(b'{');
        let mut first = true;
        loop {
            let at = self.0.len();
            if !first {
                self.0.push(b',');
            }
            if map.next_key_seed(CaptureKey(self.0))?.is_none() {
                self.0.truncate(at);
                break;
            }
            self.0.push(b':');
            map.next_value_seed(Capture(self.0))?;
            first = false;
        }
        self.0.push(b'}');
        Ok(())
    }
}
