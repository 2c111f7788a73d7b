//! Canonical proto3 JSON, the wire format of Google's REST APIs.
//!
//! One engine reads and writes every message of the crate following the
//! [proto3 JSON mapping]: the functions here, the `Any` registry (and so the
//! CLI), the REST gateway and clients all go through it. A parse error names
//! the JSON path, line and column of the value at fault; options travel
//! explicitly ([`ParseOptions`], [`WriteOptions`]). Every message also implements
//! [`serde::Serialize`] and [`serde::Deserialize`] as adapters over the
//! engine, for messages embedded in a user's own serde structures.
//!
//! What the mapping gives, and this crate guarantees:
//! - field names in lowerCamelCase on output; JSON names and proto names both
//!   accepted on input; fields at their default value omitted;
//! - `int64`/`uint64` as strings (numbers and strings accepted); `bytes` as
//!   base64; `NaN`, `Infinity`, `-Infinity` as strings;
//! - enums by name, or by number when the number is not a known value (a
//!   reader accepts names and any number);
//! - `Timestamp` as RFC 3339 with `Z`, `Duration` as `"3.5s"`, `Any` as
//!   `{"@type": ..., fields}`, `Struct`/`Value` as plain JSON;
//! - `null` means "unset" for every field (for a `google.protobuf.Value` it is
//!   the JSON null value);
//! - unknown fields are an error naming the field and its path, unless
//!   [`ParseOptions::ignore_unknown_fields`] is set;
//! - output is deterministic: fields in field-number order, map entries in key
//!   order.
//!
//! ```
//! use cloud_report_proto::google::api::servicecontrol::v1::ReportRequest;
//! use cloud_report_proto::json;
//!
//! let request: ReportRequest = json::from_str(
//!     r#"{"serviceName": "pubsub.googleapis.com",
//!         "operations": [{"operationId": "op-1", "startTime": "2014-10-02T15:01:23.045123456Z"}]}"#,
//! )?;
//! assert_eq!(request.operations[0].operation_id, "op-1");
//!
//! let text = json::to_string(&request)?;
//! assert_eq!(
//!     text,
//!     r#"{"serviceName":"pubsub.googleapis.com","operations":[{"operationId":"op-1","startTime":"2014-10-02T15:01:23.045123456Z"}]}"#
//! );
//!
//! let err = json::from_str::<ReportRequest>(r#"{"operations": [{"startTime": "yesterday"}]}"#)
//!     .unwrap_err();
//! assert_eq!(err.path(), Some("operations[0].startTime"));
//! # Ok::<(), json::JsonError>(())
//! ```
//!
//! [proto3 JSON mapping]: https://protobuf.dev/programming-guides/json/

pub(crate) mod codec;
mod limits;
pub(crate) mod mask;
mod options;
pub(crate) mod read;
mod scan;
pub(crate) mod serde_bridge;
#[cfg(feature = "rest-client")]
pub(crate) mod text;
pub(crate) mod transcode;
pub(crate) mod type_registry;
pub(crate) mod write;

pub use options::{ParseOptions, WriteOptions};
pub(crate) use sealed::Sealed;

mod sealed;
pub use read::ReadJson;
pub(crate) use read::{ReadError, Reader};
pub use write::WriteJson;
pub(crate) use write::{WriteError, Writer};

impl From<WriteError> for JsonError {
    fn from(e: WriteError) -> Self {
        JsonError::Serialize {
            message: e.into_message(),
        }
    }
}

/// An error reading or writing canonical JSON.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The input is not valid JSON for the message type.
    #[error("{}{message} (line {line}, column {column})", path_prefix(path))]
    Parse {
        /// The JSON path of the value at fault, such as
        /// `operations[0].startTime`; empty at the top level.
        path: String,
        /// What is wrong.
        message: String,
        /// The line of the input where reading stopped, 1-based.
        line: usize,
        /// The column of the input where reading stopped, 1-based.
        column: usize,
    },
    /// The message cannot be written as JSON (for example a `Value` holding
    /// NaN, or an `Any` of a type no registry entry knows).
    #[error("{message}")]
    Serialize {
        /// What is wrong.
        message: String,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

impl JsonError {
    /// The JSON path of a parse error, `None` for a write error.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Parse { path, .. } => Some(path),
            Self::Serialize { .. } => None,
        }
    }

    fn parse(path: String, message: String, line: usize, column: usize) -> Self {
        Self::Parse {
            path,
            message,
            line,
            column,
        }
    }
}

/// Parses a message from canonical JSON text, rejecting unknown fields.
pub fn from_str<T: ReadJson>(text: &str) -> Result<T, JsonError> {
    from_slice_with(text.as_bytes(), &ParseOptions::default())
}

/// Parses a message from canonical JSON bytes, rejecting unknown fields.
pub fn from_slice<T: ReadJson>(bytes: &[u8]) -> Result<T, JsonError> {
    from_slice_with(bytes, &ParseOptions::default())
}

/// Parses a message from canonical JSON bytes with the given options.
///
/// ```
/// use cloud_report_proto::google::rpc::Status;
/// use cloud_report_proto::json::{self, ParseOptions};
///
/// let text = br#"{"code": 5, "futureField": true}"#;
/// assert!(json::from_slice::<Status>(text).is_err());
/// let lenient = ParseOptions::default().ignore_unknown_fields(true);
/// let status: Status = json::from_slice_with(text, &lenient)?;
/// assert_eq!(status.code, 5);
/// # Ok::<(), json::JsonError>(())
/// ```
pub fn from_slice_with<T: ReadJson>(bytes: &[u8], options: &ParseOptions) -> Result<T, JsonError> {
    read_with(bytes, options, T::read_json)
}

/// Reads one document of `bytes` with `read`, which must read one value;
/// only whitespace may follow it.
pub(crate) fn read_with<T>(
    bytes: &[u8],
    options: &ParseOptions,
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, ReadError>,
) -> Result<T, JsonError> {
    let mut reader = Reader::new(bytes, options);
    let result = read(&mut reader).and_then(|value| reader.end().map(|()| value));
    result.map_err(|e| parse_error(bytes, reader.offset(), &e))
}

/// The error of a parse of `input` that stopped at byte `offset`.
pub(crate) fn parse_error(input: &[u8], offset: usize, error: &ReadError) -> JsonError {
    let (line, column) = read::line_column(input, offset);
    JsonError::parse(error.path(), error.message().to_owned(), line, column)
}

/// Writes a message as compact canonical JSON.
pub fn to_string<T: WriteJson + ?Sized>(message: &T) -> Result<String, JsonError> {
    to_string_with(message, &WriteOptions::default())
}

/// Writes a message as canonical JSON indented by two spaces.
pub fn to_string_pretty<T: WriteJson + ?Sized>(message: &T) -> Result<String, JsonError> {
    to_string_with(message, &WriteOptions::default().pretty(true))
}

/// Writes a message as JSON text with the given options.
pub fn to_string_with<T: WriteJson + ?Sized>(
    message: &T,
    options: &WriteOptions,
) -> Result<String, JsonError> {
    let bytes = to_vec_with(message, options)?;
    // The writer writes only UTF-8.
    String::from_utf8(bytes).map_err(|e| JsonError::Serialize {
        message: e.to_string(),
    })
}

/// Writes a message as compact canonical JSON bytes.
pub fn to_vec<T: WriteJson + ?Sized>(message: &T) -> Result<Vec<u8>, JsonError> {
    to_vec_with(message, &WriteOptions::default())
}

/// Appends a message's compact canonical JSON to `out`, for a caller that
/// keeps one buffer for many messages (on an error, `out` holds part).
#[cfg(feature = "emulator")]
pub(crate) fn append_to<T: WriteJson + ?Sized>(
    message: &T,
    out: &mut Vec<u8>,
) -> Result<(), JsonError> {
    message.write_json(&mut Writer::with_options(out, &WriteOptions::default()))?;
    Ok(())
}

/// Writes a message as JSON bytes with the given options.
pub fn to_vec_with<T: WriteJson + ?Sized>(
    message: &T,
    options: &WriteOptions,
) -> Result<Vec<u8>, JsonError> {
    let mut out = Vec::with_capacity(128);
    message.write_json(&mut Writer::with_options(&mut out, options))?;
    if options.is_pretty() {
        out = write::indent(&out);
    }
    Ok(out)
}

/// Writes a message as compact canonical JSON to `writer`.
///
/// The text is built in memory first: a message that cannot be written
/// leaves `writer` untouched.
pub fn to_writer<W: std::io::Write, T: WriteJson + ?Sized>(
    writer: W,
    message: &T,
) -> Result<(), JsonError> {
    to_writer_with(writer, message, &WriteOptions::default())
}

/// Writes a message as indented canonical JSON to `writer`.
pub fn to_writer_pretty<W: std::io::Write, T: WriteJson + ?Sized>(
    writer: W,
    message: &T,
) -> Result<(), JsonError> {
    to_writer_with(writer, message, &WriteOptions::default().pretty(true))
}

/// Writes a message as JSON to `writer` with the given options; a message
/// that cannot be written leaves `writer` untouched.
pub fn to_writer_with<W: std::io::Write, T: WriteJson + ?Sized>(
    mut writer: W,
    message: &T,
    options: &WriteOptions,
) -> Result<(), JsonError> {
    let bytes = to_vec_with(message, options)?;
    writer.write_all(&bytes).map_err(|e| JsonError::Serialize {
        message: e.to_string(),
    })
}
