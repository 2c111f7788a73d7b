//! `google.protobuf`: the well-known types the other packages use, with their
//! special JSON forms written by hand (RFC 3339 timestamps, `"3.5s"`
//! durations, `Any` with `"@type"`, `Struct` as plain JSON, wrappers as their
//! values).

include_package!("google.protobuf");

/// serde `Serialize` and `Deserialize` of hand-written well-known types, as
/// adapters over their JSON (the generated messages get the same).
#[cfg(feature = "json")]
macro_rules! serde_over_json {
    ($($type:ty),*) => {$(
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                crate::json::serde_bridge::serialize(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::json::serde_bridge::deserialize(deserializer)
            }
        }
    )*};
}

/// JSON as the type's canonical text: written as `Display` does once `check()`
/// passes, read with `FromStr` (which checks too).
macro_rules! json_as_text {
    ($type:ty, $expecting:literal) => {
        #[cfg(feature = "json")]
        impl crate::json::Sealed for $type {}

        #[cfg(feature = "json")]
        impl crate::json::WriteJson for $type {
            fn write_json(
                &self,
                writer: &mut crate::json::Writer<'_>,
            ) -> Result<(), crate::json::WriteError> {
                // The text (digits and punctuation, nothing to escape) is put
                // down whole.
                self.check().map_err(crate::json::WriteError::new)?;
                let out = writer.out();
                out.push(b'"');
                out.extend_from_slice(self.canonical_text().as_bytes());
                out.push(b'"');
                Ok(())
            }
        }

        #[cfg(feature = "json")]
        impl crate::json::ReadJson for $type {
            fn read_json(
                reader: &mut crate::json::Reader<'_>,
            ) -> Result<Self, crate::json::ReadError> {
                match reader.scalar($expecting)? {
                    crate::json::read::Scalar::Str(s) => {
                        s.as_str().parse().map_err(crate::json::ReadError::new)
                    }
                    other => Err(other.invalid($expecting)),
                }
            }
        }

        #[cfg(feature = "json")]
        serde_over_json!($type);
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
pub use timestamp::TimestampError;
