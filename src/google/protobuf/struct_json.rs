//! `google.protobuf.Struct`, `Value`, `ListValue`, `NullValue`: plain JSON.

use std::collections::BTreeMap;

use crate::json::codec::{Fields, read_message, unknown_member, with_stack, write_message};
use crate::json::read::{Number, Scalar};
use crate::json::write;
use crate::json::{ReadError, ReadJson, Reader, WriteError, WriteJson, Writer};

use super::value::Kind;
use super::{Empty, ListValue, NullValue, Struct, Value};

impl Value {
    /// The JSON `null` value.
    pub fn null() -> Self {
        Self {
            kind: Some(Kind::NullValue(NullValue::NullValue as i32)),
            ..Default::default()
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
            ..Default::default()
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self {
            kind: Some(Kind::BoolValue(v)),
            ..Default::default()
        }
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self {
            kind: Some(Kind::StringValue(v)),
            ..Default::default()
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
            ..Default::default()
        }
    }
}

impl From<ListValue> for Value {
    fn from(v: ListValue) -> Self {
        Self {
            kind: Some(Kind::ListValue(v)),
            ..Default::default()
        }
    }
}

impl FromIterator<(String, Value)> for Struct {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self {
            fields: iter.into_iter().collect(),
            ..Default::default()
        }
    }
}

impl FromIterator<Value> for ListValue {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Self {
            values: iter.into_iter().collect(),
            ..Default::default()
        }
    }
}

/// A Value is any JSON value; an unset `kind` is written as `null`, as the
/// reference implementation does. Numbers that JSON cannot hold (NaN and the
/// infinities) are an error: written as strings they would read back as
/// string values.
impl crate::json::Sealed for Value {}
impl crate::json::Sealed for Struct {}
impl crate::json::Sealed for ListValue {}
impl crate::json::Sealed for Empty {}

impl WriteJson for Value {
    fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        with_stack(|| match &self.kind {
            None | Some(Kind::NullValue(_)) => {
                writer.out().extend_from_slice(b"null");
                Ok(())
            }
            Some(Kind::NumberValue(v)) if !v.is_finite() => Err(WriteError::new(format_args!(
                "a google.protobuf.Value cannot hold {v}: JSON has no such number"
            ))),
            Some(Kind::NumberValue(v)) => {
                write::write_f64(writer.out(), *v);
                Ok(())
            }
            Some(Kind::StringValue(v)) => {
                write::write_str(writer.out(), v);
                Ok(())
            }
            Some(Kind::BoolValue(v)) => {
                writer
                    .out()
                    .extend_from_slice(if *v { b"true" } else { b"false" });
                Ok(())
            }
            Some(Kind::StructValue(v)) => v.write_json(writer),
            Some(Kind::ListValue(v)) => v.write_json(writer),
        })
    }
}

impl WriteJson for Struct {
    fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        writer.out().push(b'{');
        for (i, (k, v)) in self.fields.iter().enumerate() {
            let out = writer.out();
            if i > 0 {
                out.push(b',');
            }
            write::write_str(out, k);
            out.push(b':');
            v.write_json(writer)?;
        }
        writer.out().push(b'}');
        Ok(())
    }
}

impl WriteJson for ListValue {
    fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        self.values.write_json(writer)
    }
}

/// `google.protobuf.Empty` is `{}`: a message with no fields, written by
/// hand as it has a well-known type's `Any` registration.
impl Fields for Empty {
    fn write_fields(&self, _: &mut Writer<'_>, _: &mut bool) -> Result<(), WriteError> {
        Ok(())
    }

    fn read_members(
        &mut self,
        reader: &mut Reader<'_>,
        mut first: bool,
        in_any: bool,
    ) -> Result<(), ReadError> {
        // Every member is unknown: an error, or skipped when the parse
        // ignores unknown fields.
        while let Some(name) = reader.member_name(&mut first)? {
            let name = name.as_str().to_owned();
            reader.colon()?;
            unknown_member(reader, "google.protobuf.Empty", &name, in_any)?;
        }
        Ok(())
    }
}

impl WriteJson for Empty {
    fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
        write_message(self, writer)
    }
}

impl ReadJson for Empty {
    fn read_json(reader: &mut Reader<'_>) -> Result<Self, ReadError> {
        let mut empty = Empty {
            ..Default::default()
        };
        read_message(reader, &mut empty)?;
        Ok(empty)
    }
}

#[allow(clippy::cast_precision_loss)]
impl ReadJson for Value {
    fn read_json(reader: &mut Reader<'_>) -> Result<Self, ReadError> {
        // Only nesting needs room on the stack.
        match reader.next_byte() {
            Some(b'{') => with_stack(|| Struct::read_json(reader).map(Value::from)),
            Some(b'[') => with_stack(|| ListValue::read_json(reader).map(Value::from)),
            _ => Ok(match reader.scalar("any JSON value")? {
                Scalar::Null => Value::null(),
                Scalar::Bool(b) => b.into(),
                Scalar::Number(Number::U64(v)) => (v as f64).into(),
                Scalar::Number(Number::I64(v)) => (v as f64).into(),
                Scalar::Number(Number::F64(v)) => v.into(),
                Scalar::Str(s) => s.as_str().into(),
            }),
        }
    }
}

impl ReadJson for Struct {
    fn read_json(reader: &mut Reader<'_>) -> Result<Self, ReadError> {
        reader.enter_object()?;
        let mut fields = BTreeMap::new();
        let mut first = true;
        while let Some(name) = reader.member_name(&mut first)? {
            let key = name.as_str().to_owned();
            reader.colon()?;
            let value = Value::read_json(reader).map_err(|e| e.at_key(&key))?;
            if let Some(_previous) = fields.insert(key, value) {
                return Err(ReadError::new("an object member is given more than once"));
            }
        }
        Ok(Struct {
            fields,
            ..Default::default()
        })
    }
}

impl ReadJson for ListValue {
    fn read_json(reader: &mut Reader<'_>) -> Result<Self, ReadError> {
        reader.enter_array()?;
        let mut values = Vec::new();
        let mut first = true;
        while reader.next_element(&mut first)? {
            let index = values.len();
            values.push(Value::read_json(reader).map_err(|e| e.at_index(index))?);
        }
        Ok(ListValue {
            values,
            ..Default::default()
        })
    }
}

serde_over_json!(Value, Struct, ListValue, Empty);

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
