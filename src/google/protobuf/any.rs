//! `google.protobuf.Any`: packing, unpacking, and its JSON form.
//!
//! In JSON an Any is the packed message's own JSON object with an extra
//! `"@type"` member; a well-known type whose JSON is not an object (Timestamp,
//! Duration, Struct, Value, ...) sits under `"value"` instead. Both directions
//! need the packed type, which [`crate::registry`] provides.

use prost::Message;

use super::Any;

/// Why an Any could not be unpacked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnyError {
    /// The Any holds another type than the one asked for.
    #[error("the Any holds {actual}, not {expected}")]
    TypeMismatch {
        /// The type asked for.
        expected: String,
        /// The type URL of the Any.
        actual: String,
    },
    /// The packed bytes do not decode as the type.
    #[error("the Any's {type_url} payload does not decode: {source}")]
    Decode {
        /// The type URL of the Any.
        type_url: String,
        /// What prost reported.
        #[source]
        source: prost::DecodeError,
    },
}

impl Any {
    /// Packs a message, with the `type.googleapis.com/` type URL.
    ///
    /// ```
    /// use cloud_report_proto::google::protobuf::Any;
    /// use cloud_report_proto::google::rpc::ErrorInfo;
    ///
    /// let info = ErrorInfo { reason: "API_DISABLED".into(), ..Default::default() };
    /// let any = Any::from_msg(&info);
    /// assert_eq!(any.type_url, "type.googleapis.com/google.rpc.ErrorInfo");
    /// assert_eq!(any.to_msg::<ErrorInfo>()?, info);
    /// # Ok::<(), cloud_report_proto::google::protobuf::AnyError>(())
    /// ```
    pub fn from_msg<M: Message + prost::Name>(message: &M) -> Self {
        Self {
            type_url: M::type_url(),
            value: message.encode_to_vec(),
        }
    }

    /// The full name of the packed type: what follows the last `/` of the
    /// type URL.
    pub fn type_name(&self) -> &str {
        self.type_url.rsplit('/').next().unwrap_or_default()
    }

    /// Unpacks the message, checking that the Any holds type `M`.
    pub fn to_msg<M: Message + prost::Name + Default>(&self) -> Result<M, AnyError> {
        if self.type_name() != M::full_name() {
            return Err(AnyError::TypeMismatch {
                expected: M::full_name(),
                actual: self.type_url.clone(),
            });
        }
        M::decode(self.value.as_slice()).map_err(|source| AnyError::Decode {
            type_url: self.type_url.clone(),
            source,
        })
    }
}

#[cfg(feature = "json")]
mod json {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
    use serde::ser::{self, Impossible, SerializeMap, Serializer};
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::json::JsonError;
    use crate::json::codec::{AnyLevel, StreamedAny, any_depth, with_new_any_chain, with_stack};
    use crate::json::read::{RAW_ANY, ReadError, Reader, take_raw_handoff};
    use crate::json::write::{Writer, write_str};
    use crate::registry::{self, Entry};

    fn entry_for<E: fmt::Display, F: FnOnce(String) -> E>(
        type_url: &str,
        error: F,
    ) -> Result<Entry, E> {
        if type_url.is_empty() || !type_url.contains('/') && !type_url.contains('.') {
            return Err(error(format!(
                "\"{type_url}\" is not a type URL such as \"type.googleapis.com/google.rpc.ErrorInfo\""
            )));
        }
        registry::lookup(type_url).ok_or_else(|| {
            error(format!(
                "unknown Any type \"{type_url}\": register it with cloud_report_proto::registry::register"
            ))
        })
    }

    impl Serialize for Any {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            if self.type_url.is_empty() && self.value.is_empty() {
                return serializer.serialize_map(Some(0))?.end();
            }
            let _level = AnyLevel::enter().map_err(<S::Error as ser::Error>::custom)?;
            let entry = entry_for(&self.type_url, <S::Error as ser::Error>::custom)?;
            let Some(_streamed) = StreamedAny::enter() else {
                // Deep in a chain of Anys: write the payload from a buffered
                // value (its members then come in key order).
                let value = with_new_any_chain(|| entry.binary_to_value(&self.value))
                    .map_err(<S::Error as ser::Error>::custom)?;
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("@type", &self.type_url)?;
                match value {
                    serde_json::Value::Object(members) if !entry.is_special_json() => {
                        for (k, v) in &members {
                            map.serialize_entry(k, v)?;
                        }
                    }
                    value => map.serialize_entry("value", &value)?,
                }
                return map.end();
            };
            let message = entry
                .decode(&self.value)
                .map_err(<S::Error as ser::Error>::custom)?;
            with_stack(|| {
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("@type", &self.type_url)?;
                if entry.is_special_json() {
                    map.serialize_entry("value", &*message)?;
                } else {
                    erased_serde::serialize(&*message, FlatMap(&mut map))?;
                }
                map.end()
            })
        }
    }

    impl crate::json::ReadJson for Any {
        fn read_json(reader: &mut Reader<'_>) -> Result<Self, ReadError> {
            // The outermost Any in the usual order (`"@type"` first, a
            // message type) is read straight from the reader, its payload
            // through the registry without type erasure. Anything else reads
            // the object again from its start, through the serde impl.
            if any_depth() == 0 {
                let mark = reader.mark();
                let level = AnyLevel::enter().map_err(<ReadError as de::Error>::custom)?;
                if let Some(any) = with_stack(|| read_in_order(reader))? {
                    return Ok(any);
                }
                drop(level);
                reader.rewind(mark);
            }
            Self::deserialize(reader)
        }
    }

    impl crate::json::WriteJson for Any {
        fn write_json(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
            // The outermost Any of a message type of the crate: its fields are
            // written straight into the object, with no type erasure. The
            // steps are those of the `Serialize` impl, which does everything
            // else, errors included (at the outermost level, entering
            // `AnyLevel` cannot fail, so the type is resolved first).
            let entry = (any_depth() == 0 && !(self.type_url.is_empty() && self.value.is_empty()))
                .then(|| entry_for(&self.type_url, |message| message).ok())
                .flatten()
                .filter(Entry::writes_fields);
            let Some(entry) = entry else {
                return Ok(self.serialize(Writer::new(out))?);
            };
            let _level = AnyLevel::enter().map_err(|message| JsonError::Serialize { message })?;
            let _streamed = StreamedAny::enter();
            with_stack(|| {
                out.extend_from_slice(b"{\"@type\":");
                write_str(out, &self.type_url);
                entry.write_fields(&self.value, out)?;
                out.push(b'}');
                Ok(())
            })
        }
    }

    impl<'de> Deserialize<'de> for Any {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let _level = AnyLevel::enter().map_err(<D::Error as de::Error>::custom)?;
            if any_depth() == 1 {
                // The outermost Any: the crate's reader hands its raw text
                // over, to be read again without type erasure; any other
                // deserializer reads it as a map.
                return with_stack(|| deserializer.deserialize_newtype_struct(RAW_ANY, RawOrMap));
            }
            with_stack(|| deserializer.deserialize_map(AnyVisitor))
        }
    }

    /// An Any from the crate's reader as raw text, or from anything else as a
    /// map.
    struct RawOrMap;

    impl<'de> Visitor<'de> for RawOrMap {
        type Value = Any;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            AnyVisitor.expecting(f)
        }

        fn visit_newtype_struct<D: serde::Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Any, D::Error> {
            deserializer.deserialize_map(AnyVisitor)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Any, A::Error> {
            AnyVisitor.visit_map(map)
        }

        fn visit_borrowed_bytes<E: de::Error>(self, raw: &'de [u8]) -> Result<Any, E> {
            match take_raw_handoff() {
                Some(depth_left) => read_raw(raw, depth_left).map_err(E::custom),
                None => Err(E::invalid_type(de::Unexpected::Bytes(raw), &self)),
            }
        }
    }

    /// Reads an Any's raw text with the crate's reader, as [`AnyVisitor`]
    /// reads a map: the usual order (`"@type"` first, a message type) reads
    /// the payload through the registry without type erasure; anything else
    /// goes through [`AnyVisitor`].
    fn read_raw(raw: &[u8], depth_left: u32) -> Result<Any, ReadError> {
        let mut reader = Reader::nested(raw, depth_left);
        if let Some(any) = read_in_order(&mut reader)? {
            reader.end()?;
            return Ok(any);
        }
        // Anything else: the text again, through `AnyVisitor`.
        let mut reader = Reader::nested(raw, depth_left);
        let any = de::Deserializer::deserialize_map(&mut reader, AnyVisitor)?;
        reader.end()?;
        Ok(any)
    }

    /// Reads an Any object in the usual order (`"@type"` first, a message
    /// type whose JSON is an object of fields) straight from `reader`;
    /// `None`, with the reader somewhere inside the object, when it is not
    /// in that order or the chain of Anys is too long to stream.
    fn read_in_order(reader: &mut Reader<'_>) -> Result<Option<Any>, ReadError> {
        reader.enter_object()?;
        let type_first = reader
            .member_name(&mut true)?
            .is_some_and(|name| name.as_str() == "@type");
        if !type_first {
            return Ok(None);
        }
        reader.colon()?;
        let type_url = String::deserialize(&mut *reader)?;
        let entry = entry_for(&type_url, <ReadError as de::Error>::custom)?;
        if entry.is_special_json() {
            return Ok(None);
        }
        let Some(_streamed) = StreamedAny::enter() else {
            return Ok(None);
        };
        let value = entry.read_members(reader)?;
        Ok(Some(Any { type_url, value }))
    }

    struct AnyVisitor;

    impl<'de> Visitor<'de> for AnyVisitor {
        type Value = Any;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object with an \"@type\" member")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Any, A::Error> {
            let Some(first) = map.next_key::<String>()? else {
                return Ok(Any::default());
            };
            let streamed = if first == "@type" {
                StreamedAny::enter()
            } else {
                None
            };
            if let Some(_streamed) = streamed {
                // The usual order: read the rest of the object as the packed
                // type, straight from the input.
                let type_url: String = map.next_value()?;
                let entry = entry_for(&type_url, <A::Error as de::Error>::custom)?;
                let value = if entry.is_special_json() {
                    let mut value = None;
                    while let Some(key) = map.next_key::<String>()? {
                        if key == "value" && value.is_none() {
                            value = Some(map.next_value_seed(entry)?);
                        } else if key != "value" && crate::json::ignoring_unknown_fields() {
                            map.next_value::<de::IgnoredAny>()?;
                        } else {
                            return Err(unexpected_member(&key, &type_url));
                        }
                    }
                    value.ok_or_else(|| missing_value(&type_url))?
                } else {
                    entry.deserialize(de::value::MapAccessDeserializer::new(map))?
                };
                return Ok(Any { type_url, value });
            }
            // "@type" comes later, or the chain of streamed Anys is long:
            // buffer the object and read it without type erasure.
            let mut object = serde_json::Map::new();
            if first == "@type" {
                object.insert(first, serde_json::Value::String(map.next_value()?));
            } else {
                object.insert(first, map.next_value()?);
            }
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value()?;
                if let Some(_previous) = object.insert(key.clone(), value) {
                    return Err(de::Error::custom(format_args!(
                        "member \"{key}\" is given more than once"
                    )));
                }
            }
            let type_url = match object.remove("@type") {
                Some(serde_json::Value::String(url)) => url,
                Some(_) => return Err(de::Error::custom("\"@type\" must be a string")),
                None => return Err(de::Error::custom("an Any needs an \"@type\" member")),
            };
            let entry = entry_for(&type_url, <A::Error as de::Error>::custom)?;
            let body = if entry.is_special_json() {
                let value = object
                    .remove("value")
                    .ok_or_else(|| missing_value(&type_url))?;
                match object.keys().next() {
                    Some(other) if !crate::json::ignoring_unknown_fields() => {
                        return Err(unexpected_member(other, &type_url));
                    }
                    _ => value,
                }
            } else {
                serde_json::Value::Object(object)
            };
            let value =
                with_new_any_chain(|| entry.value_to_binary(body)).map_err(de::Error::custom)?;
            Ok(Any { type_url, value })
        }
    }

    fn unexpected_member<E: de::Error>(member: &str, type_url: &str) -> E {
        E::custom(format_args!(
            "unknown field \"{member}\" in an Any of {type_url}, which holds only \"@type\" and \"value\""
        ))
    }

    fn missing_value<E: de::Error>(type_url: &str) -> E {
        E::custom(format_args!(
            "an Any of {type_url} needs a \"value\" member"
        ))
    }

    /// A serializer that writes the members of a JSON object into a map that
    /// is already open, so a packed message's fields sit beside `"@type"`.
    struct FlatMap<'a, M>(&'a mut M);

    fn not_an_object<E: ser::Error>() -> E {
        E::custom("an Any's payload must be written as a JSON object")
    }

    impl<'a, M: SerializeMap> Serializer for FlatMap<'a, M> {
        type Ok = ();
        type Error = M::Error;
        type SerializeSeq = Impossible<(), M::Error>;
        type SerializeTuple = Impossible<(), M::Error>;
        type SerializeTupleStruct = Impossible<(), M::Error>;
        type SerializeTupleVariant = Impossible<(), M::Error>;
        type SerializeMap = Self;
        type SerializeStruct = Self;
        type SerializeStructVariant = Impossible<(), M::Error>;

        fn serialize_map(self, _: Option<usize>) -> Result<Self, M::Error> {
            Ok(self)
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, M::Error> {
            Ok(self)
        }
        fn serialize_bool(self, _: bool) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_i8(self, _: i8) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_i16(self, _: i16) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_i32(self, _: i32) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_i64(self, _: i64) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_u8(self, _: u8) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_u16(self, _: u16) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_u32(self, _: u32) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_u64(self, _: u64) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_f32(self, _: f32) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_f64(self, _: f64) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_char(self, _: char) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_str(self, _: &str) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_bytes(self, _: &[u8]) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_none(self) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), M::Error> {
            value.serialize(self)
        }
        fn serialize_unit(self) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
        ) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<(), M::Error> {
            value.serialize(self)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), M::Error> {
            Err(not_an_object())
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, M::Error> {
            Err(not_an_object())
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, M::Error> {
            Err(not_an_object())
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, M::Error> {
            Err(not_an_object())
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, M::Error> {
            Err(not_an_object())
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, M::Error> {
            Err(not_an_object())
        }
    }

    impl<M: SerializeMap> SerializeMap for FlatMap<'_, M> {
        type Ok = ();
        type Error = M::Error;

        fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), M::Error> {
            self.0.serialize_key(key)
        }
        fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), M::Error> {
            self.0.serialize_value(value)
        }
        fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
            &mut self,
            key: &K,
            value: &V,
        ) -> Result<(), M::Error> {
            self.0.serialize_entry(key, value)
        }
        fn end(self) -> Result<(), M::Error> {
            Ok(())
        }
    }

    impl<M: SerializeMap> ser::SerializeStruct for FlatMap<'_, M> {
        type Ok = ();
        type Error = M::Error;

        fn serialize_field<T: Serialize + ?Sized>(
            &mut self,
            key: &'static str,
            value: &T,
        ) -> Result<(), M::Error> {
            self.0.serialize_entry(key, value)
        }
        fn end(self) -> Result<(), M::Error> {
            Ok(())
        }
    }
}
