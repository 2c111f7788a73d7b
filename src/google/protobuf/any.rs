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
    #[error("the Any's {type_url} payload does not decode: {error}")]
    Decode {
        /// The type URL of the Any.
        type_url: String,
        /// What prost reported (printed in the message, not given as its
        /// source).
        error: prost::DecodeError,
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
            ..Default::default()
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
        M::decode(self.value.as_slice()).map_err(|error| AnyError::Decode {
            type_url: self.type_url.clone(),
            error,
        })
    }
}

#[cfg(feature = "json")]
mod json {
    use super::Any;
    use crate::json::codec::with_stack;
    use crate::json::read::Scalar;
    use crate::json::{ReadError, ReadJson, Reader, WriteError, WriteJson, Writer};
    use crate::registry::{self, Entry};

    /// The entry for a type URL, in the user's `types` or the crate's;
    /// `error` makes the error.
    fn entry_for<E>(
        types: Option<&registry::TypeRegistry>,
        type_url: &str,
        error: impl FnOnce(String) -> E,
    ) -> Result<Entry, E> {
        if type_url.is_empty() || !type_url.contains('/') && !type_url.contains('.') {
            return Err(error(format!(
                "\"{type_url}\" is not a type URL such as \"type.googleapis.com/google.rpc.ErrorInfo\""
            )));
        }
        registry::resolve(types, type_url).ok_or_else(|| {
            error(format!(
                "unknown Any type \"{type_url}\": add it to a registry::TypeRegistry given in the JSON options"
            ))
        })
    }

    /// `{"@type": url, fields...}`, or `{"@type": url, "value": json}` for a
    /// well-known type with a form of its own; the empty Any is `{}`.
    impl crate::json::Sealed for Any {}

    impl WriteJson for Any {
        fn write_json(&self, writer: &mut Writer<'_>) -> Result<(), WriteError> {
            if self.type_url.is_empty() && self.value.is_empty() {
                writer.out().extend_from_slice(b"{}");
                return Ok(());
            }
            let entry = entry_for(writer.types(), &self.type_url, WriteError::new)?;
            writer.in_any(|writer| {
                with_stack(|| entry.write_any(&self.type_url, &self.value, writer))
            })
        }
    }

    /// Reads an Any in one pass when `"@type"` comes first (the usual
    /// order); otherwise finds `"@type"` first and reads the object again
    /// from its start.
    impl ReadJson for Any {
        fn read_json(reader: &mut Reader<'_>) -> Result<Self, ReadError> {
            reader.in_any(|reader| with_stack(|| read_any(reader)))
        }
    }

    fn read_any(reader: &mut Reader<'_>) -> Result<Any, ReadError> {
        const EXPECTED: &str = "a type URL";
        let start = reader.mark();
        reader.enter_object()?;
        let mut first = true;
        let mut before_type = 0;
        let type_url = loop {
            let Some(name) = reader.member_name(&mut first)? else {
                if before_type == 0 {
                    // `{}`: the empty Any.
                    return Ok(Any::default());
                }
                return Err(ReadError::new("an Any needs an \"@type\" member"));
            };
            let is_type = name.as_str() == "@type";
            reader.colon()?;
            if is_type {
                match reader.scalar(EXPECTED)? {
                    Scalar::Str(url) => break url.as_str().to_owned(),
                    other => return Err(other.invalid(EXPECTED)),
                }
            }
            reader.skip_value()?;
            before_type += 1;
        };
        let entry = entry_for(reader.types(), &type_url, ReadError::new)?;
        let value = if before_type == 0 {
            // The usual order: the rest of the object is the payload's.
            entry.read_any(reader, false)?
        } else {
            reader.rewind(start);
            reader.enter_object()?;
            entry.read_any(reader, true)?
        };
        Ok(Any {
            type_url,
            value,
            ..Default::default()
        })
    }

    serde_over_json!(Any);
}
