//! `google.protobuf.Struct`, `Value`, `ListValue`, `NullValue`: plain JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::value::Kind;
use super::{Empty, ListValue, NullValue, Struct, Value};

impl Value {
    /// The JSON `null` value.
    pub fn null() -> Self {
        Self {
            kind: Some(Kind::NullValue(NullValue::NullValue as i32)),
        }
    }
}

impl crate::json::codec::JsonNull for Value {
    fn json_null() -> Self {
        Self::null()
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self {
            kind: Some(Kind::NumberValue(v)),
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self {
            kind: Some(Kind::BoolValue(v)),
        }
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self {
            kind: Some(Kind::StringValue(v)),
        }
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::from(v.to_owned())
    }
}

impl From<Struct> for Value {
    fn from(v: Struct) -> Self {
        Self {
            kind: Some(Kind::StructValue(v)),
        }
    }
}

impl From<ListValue> for Value {
    fn from(v: ListValue) -> Self {
        Self {
            kind: Some(Kind::ListValue(v)),
        }
    }
}

impl FromIterator<(String, Value)> for Struct {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self {
            fields: iter.into_iter().collect(),
        }
    }
}

impl FromIterator<Value> for ListValue {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Self {
            values: iter.into_iter().collect(),
        }
    }
}

/// A Value is any JSON value; an unset `kind` is written as `null`, as the
/// reference implementation does. Numbers that JSON cannot hold (NaN and the
/// infinities) are an error: written as strings they would read back as
/// string values.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::json::codec::with_stack(|| self.serialize_kind(serializer))
    }
}

impl Value {
    fn serialize_kind<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.kind {
            None | Some(Kind::NullValue(_)) => serializer.serialize_unit(),
            Some(Kind::NumberValue(v)) if !v.is_finite() => Err(serde::ser::Error::custom(
                format_args!("a google.protobuf.Value cannot hold {v}: JSON has no such number"),
            )),
            Some(Kind::NumberValue(v)) => serializer.serialize_f64(*v),
            Some(Kind::StringValue(v)) => serializer.serialize_str(v),
            Some(Kind::BoolValue(v)) => serializer.serialize_bool(*v),
            Some(Kind::StructValue(v)) => v.serialize(serializer),
            Some(Kind::ListValue(v)) => v.serialize(serializer),
        }
    }
}

impl Serialize for Struct {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Serialize for ListValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.values.len()))?;
        for v in &self.values {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::null())
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::null())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(v.into())
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok((v as f64).into())
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok((v as f64).into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        ListVisitor.visit_seq(seq).map(Value::from)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        StructVisitor.visit_map(map).map(Value::from)
    }
}

struct StructVisitor;

impl<'de> Visitor<'de> for StructVisitor {
    type Value = Struct;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Struct, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Value>()?;
            if fields.insert(key, value).is_some() {
                return Err(de::Error::custom(
                    "an object member is given more than once",
                ));
            }
        }
        Ok(Struct { fields })
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = ListValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ListValue, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element::<Value>()? {
            values.push(v);
        }
        Ok(ListValue { values })
    }
}

impl crate::json::WriteJson for Value {}
impl crate::json::WriteJson for Struct {}
impl crate::json::WriteJson for ListValue {}
impl crate::json::WriteJson for Empty {}
impl crate::json::ReadJson for Value {}
impl crate::json::ReadJson for Struct {}
impl crate::json::ReadJson for ListValue {}
impl crate::json::ReadJson for Empty {}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::json::codec::with_stack(|| deserializer.deserialize_any(ValueVisitor))
    }
}

impl<'de> Deserialize<'de> for Struct {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StructVisitor)
    }
}

impl<'de> Deserialize<'de> for ListValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ListVisitor)
    }
}

/// `google.protobuf.Empty` is `{}`.
impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fn no_fields(_: &str) -> Option<usize> {
            None
        }
        struct EmptyVisitor;
        impl<'de> Visitor<'de> for EmptyVisitor {
            type Value = Empty;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an empty JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Empty, A::Error> {
                // Every member is unknown: an error, or skipped when the parse
                // ignores unknown fields.
                while map
                    .next_key_seed(crate::json::codec::FieldKey {
                        message: "google.protobuf.Empty",
                        lookup: no_fields,
                        names: &[],
                        seen: &mut [],
                    })?
                    .is_some()
                {
                    map.next_value::<de::IgnoredAny>()?;
                }
                Ok(Empty {})
            }
        }
        deserializer.deserialize_map(EmptyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_json_round_trips() {
        let text = r#"{"a":[1.5,"x",true,null,{"b":{}}],"c":-0.0,"d":"NaN"}"#;
        let s: Struct = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), text);
        assert!(serde_json::from_str::<Struct>(r#"{"a":1,"a":2}"#).is_err());
        assert!(serde_json::from_str::<Struct>("[1]").is_err());
        let nan = Value::from(f64::NAN);
        assert!(serde_json::to_string(&nan).is_err());
    }
}
