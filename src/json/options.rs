//! The options of a JSON parse, carried by the reader, and of a JSON write,
//! carried by the writer.
//!
//! A user's types for `Any` values travel here as [`Types`], behind the
//! [`UserTypes`] trait: the registry's entries read and write through the
//! reader and the writer, so the options, the reader and the writer do not
//! name the registry (`type_registry.rs` sets it and finds it again), and
//! none of them imports a module that imports it back.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A user's types for `Any` values, as the options carry them: a
/// `TypeRegistry`, the one implementation.
pub(crate) trait UserTypes: Any + Send + Sync + fmt::Debug {
    /// The full names of the types, sorted (what two options compare by).
    fn type_names(&self) -> Vec<&str>;
    /// The value itself, for `type_registry.rs` to find the registry again.
    fn as_any(&self) -> &dyn Any;
}

/// The user's types the options, the reader and the writer carry; equal
/// when they hold the same names.
#[derive(Clone)]
pub(crate) struct Types(pub(crate) Arc<dyn UserTypes>);

impl fmt::Debug for Types {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for Types {
    fn eq(&self, other: &Self) -> bool {
        self.0.type_names() == other.0.type_names()
    }
}

impl Eq for Types {}

/// Options of a JSON parse.
///
/// ```
/// use cloud_report_proto::json::ParseOptions;
/// let options = ParseOptions::default().ignore_unknown_fields(true);
/// assert!(options.ignores_unknown_fields());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    ignore_unknown_fields: bool,
    pub(super) types: Option<Types>,
}

impl ParseOptions {
    /// Skip fields and enum value names the schema does not know instead of
    /// failing (an unknown enum name leaves its field unset, and drops its
    /// list element or map entry). Google's REST front ends reject them, so
    /// the default is to reject too.
    #[must_use]
    pub fn ignore_unknown_fields(mut self, ignore: bool) -> Self {
        self.ignore_unknown_fields = ignore;
        self
    }

    /// Whether unknown fields are skipped.
    pub fn ignores_unknown_fields(&self) -> bool {
        self.ignore_unknown_fields
    }
}

/// Options of a JSON write.
///
/// Canonical JSON writes an enum by its value's name. Google's generated
/// REST clients ask for numbers instead (`$alt=json;enum-encoding=int`), as
/// Java's `JsonFormat.printer().printingEnumsAsInts()` and Go's
/// `protojson.MarshalOptions{UseEnumNumbers: true}` write them.
///
/// ```
/// use cloud_report_proto::google::api::servicecontrol::v1::{CheckError, check_error::Code};
/// use cloud_report_proto::json::{self, WriteOptions};
///
/// let error = CheckError { code: Code::ApiKeyInvalid as i32, ..Default::default() };
/// assert_eq!(json::to_string(&error)?, r#"{"code":"API_KEY_INVALID"}"#);
/// let numbers = WriteOptions::default().enums_as_ints(true);
/// assert_eq!(json::to_string_with(&error, &numbers)?, r#"{"code":105}"#);
/// # Ok::<(), json::JsonError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteOptions {
    enums_as_ints: bool,
    pretty: bool,
    pub(super) types: Option<Types>,
    /// What a field mask keeps of the value written (the REST gateway's
    /// `fields`); everything when `None`.
    pub(super) mask: Option<Arc<super::mask::Mask>>,
}

impl WriteOptions {
    /// Write enum values as their numbers rather than their names.
    #[must_use]
    pub fn enums_as_ints(mut self, numbers: bool) -> Self {
        self.enums_as_ints = numbers;
        self
    }

    /// Indent the output by two spaces, one member or element a line.
    #[must_use]
    pub fn pretty(mut self, pretty: bool) -> Self {
        self.pretty = pretty;
        self
    }

    /// Whether enum values are written as numbers.
    pub fn writes_enums_as_ints(&self) -> bool {
        self.enums_as_ints
    }

    /// Writes only what `mask` keeps.
    #[cfg(feature = "rest")]
    #[must_use]
    pub(crate) fn mask(mut self, mask: Arc<super::mask::Mask>) -> Self {
        self.mask = Some(mask);
        self
    }

    /// Whether the output is indented.
    pub fn is_pretty(&self) -> bool {
        self.pretty
    }
}
