//! `google.protobuf`: the well-known types the other packages use, with their
//! special JSON forms written by hand (RFC 3339 timestamps, `"3.5s"`
//! durations, `Any` with `"@type"`, `Struct` as plain JSON, wrappers as their
//! values).

include_package!("google.protobuf");

/// JSON as the type's canonical text: written as `Display` does once `check()`
/// passes, read with `FromStr` (which checks too).
macro_rules! json_as_text {
    ($type:ty, $expecting:literal) => {
        #[cfg(feature = "json")]
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.check().map_err(serde::ser::Error::custom)?;
                serializer.serialize_str(self.canonical_text().as_str())
            }
        }

        #[cfg(feature = "json")]
        impl crate::json::WriteJson for $type {
            fn write_json(&self, out: &mut Vec<u8>) -> Result<(), crate::json::JsonError> {
                // As the serde impl, with the text (digits and punctuation,
                // nothing to escape) put down whole.
                self.check()
                    .map_err(|e| crate::json::JsonError::Serialize {
                        message: e.to_string(),
                    })?;
                out.push(b'"');
                out.extend_from_slice(self.canonical_text().as_bytes());
                out.push(b'"');
                Ok(())
            }
        }

        #[cfg(feature = "json")]
        impl crate::json::ReadJson for $type {}

        #[cfg(feature = "json")]
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $type;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$type, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(Visitor)
            }
        }
    };
}

mod any;
mod duration;
mod field_mask;
#[cfg(feature = "json")]
mod struct_json;
mod timestamp;
#[cfg(feature = "json")]
mod wrappers;

pub use any::AnyError;
pub use duration::DurationError;
pub use field_mask::FieldMaskError;
#[cfg_attr(not(feature = "rest"), allow(unused_imports))]
pub(crate) use field_mask::lower_camel;
pub use timestamp::TimestampError;
