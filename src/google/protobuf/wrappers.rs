//! The scalar wrappers (`Int64Value`, `BytesValue`, ...): in JSON each is its
//! wrapped value, written as that scalar type is.

use super::{
    BoolValue, BytesValue, DoubleValue, FloatValue, Int32Value, Int64Value, StringValue,
    UInt32Value, UInt64Value,
};
use crate::json::codec::{self, Codec};
use crate::json::{ReadError, ReadJson, Reader, WriteError, WriteJson, Writer};

macro_rules! wrapper {
    ($wrapper:ty, $codec:ty) => {
        impl crate::json::Sealed for $wrapper {}

        impl WriteJson for $wrapper {
            fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
                <$codec>::write(&self.value, writer)
            }
        }

        impl ReadJson for $wrapper {
            fn read_json(reader: &mut Reader<'_>) -> Result<Self, ReadError> {
                Ok(Self {
                    value: <$codec>::read_value(reader)?.unwrap_or_default(),
                    ..Default::default()
                })
            }
        }

        serde_over_json!($wrapper);
    };
}

wrapper!(DoubleValue, codec::F64);
wrapper!(FloatValue, codec::F32);
wrapper!(Int64Value, codec::I64);
wrapper!(UInt64Value, codec::U64);
wrapper!(Int32Value, codec::I32);
wrapper!(UInt32Value, codec::U32);
wrapper!(BoolValue, codec::Bool);
wrapper!(StringValue, codec::Str);
wrapper!(BytesValue, codec::Bytes);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_are_their_values() {
        let v = Int64Value {
            value: i64::MIN,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#""-9223372036854775808""#
        );
        let v = UInt64Value {
            value: u64::MAX,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#""18446744073709551615""#
        );
        assert_eq!(
            serde_json::from_str::<UInt64Value>("18446744073709551615").unwrap(),
            v
        );
        let v = BytesValue {
            value: vec![0xfb, 0xff],
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&v).unwrap(), r#""+/8=""#);
        assert_eq!(serde_json::from_str::<BytesValue>(r#""-_8""#).unwrap(), v);
        let v = FloatValue {
            value: f32::NEG_INFINITY,
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&v).unwrap(), r#""-Infinity""#);
        assert!(serde_json::from_str::<FloatValue>("1e39").is_err());
        assert_eq!(
            serde_json::from_str::<UInt32Value>("4294967295")
                .unwrap()
                .value,
            u32::MAX
        );
        assert!(serde_json::from_str::<UInt32Value>("-1").is_err());
        assert_eq!(
            serde_json::from_str::<Int32Value>(r#""1e2""#)
                .unwrap()
                .value,
            100
        );
        assert!(serde_json::from_str::<DoubleValue>(r#""nan""#).is_err());
        assert!(serde_json::from_str::<BoolValue>(r#""true""#).is_err());
        assert_eq!(
            serde_json::to_string(&StringValue {
                value: "é".into(),
                ..Default::default()
            })
            .unwrap(),
            r#""é""#
        );
    }
}
