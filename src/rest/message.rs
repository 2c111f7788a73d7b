//! The request message's side of a binding: the fields that path variables
//! and query parameters set, set from their text on the typed request (the
//! gateway) and taken out as text (the client). The generated code
//! implements [`RequestMessage`] for every request of a binding, reading and
//! writing each field's text with the field's JSON codec
//! ([`crate::json::text`]), so that the two sides bind by one rule.

use std::fmt;

use crate::json::codec::Codec;

/// A request message of a method with an HTTP binding: the message whose
/// fields the binding's path variables and query parameters set. The
/// generated code implements it for every such message of the crate; sealed.
pub trait RequestMessage: prost::Message + Default + crate::json::Sealed {
    /// Sets the field at `path` (proto names; at the top, the JSON name is
    /// accepted too) from a path variable's or query parameter's text, as
    /// the JSON mapping reads the field's string form. A singular field
    /// answers what a second value would set again, its proto name or its
    /// oneof's (that is an error); a list (the text is appended) or a field
    /// further down (a path variable's) answers none.
    #[doc(hidden)]
    fn set_parameter(
        &mut self,
        path: &[&str],
        text: &str,
    ) -> Result<Option<&'static str>, FieldError>;

    /// Takes out the singular scalar at `path` (proto names) as text, for a
    /// path variable; empty when it is unset (a field without presence: at
    /// its default).
    #[doc(hidden)]
    fn take_parameter(&mut self, path: &[&str]) -> Result<String, FieldError>;

    /// The set top-level fields as query parameters (JSON name, text), in
    /// field order, a list's elements one by one; an error for a set
    /// message field, which a query cannot carry.
    #[doc(hidden)]
    fn query_parameters(&self, out: &mut Vec<(&'static str, String)>) -> Result<(), FieldError>;
}

/// Why a field did not take or give a parameter's text.
#[derive(Debug)]
pub enum FieldError {
    /// No field has the name.
    NoSuchField,
    /// The field (its JSON name) is a message, map or list of messages,
    /// which no text stands for.
    Message(&'static str),
    /// The field is a list, which a path variable does not carry.
    Repeated,
    /// The text is not a value of the field.
    Invalid(String),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::NoSuchField => f.write_str("no such field"),
            FieldError::Message(name) => write!(f, "field {name} is a message"),
            FieldError::Repeated => f.write_str("it is a list"),
            FieldError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for FieldError {}

/// A field's value from its text (for the generated code).
pub(crate) fn read_text<C: Codec>(text: &str) -> Result<Option<C::Value>, FieldError> {
    crate::json::text::read_text::<C>(text).map_err(|e| FieldError::Invalid(e.to_string()))
}

/// A field's value as text (for the generated code).
pub(crate) fn write_text<C: Codec>(value: &C::Value) -> Result<String, FieldError> {
    crate::json::text::write_text::<C>(value).map_err(|e| FieldError::Invalid(e.to_string()))
}

/// A path variable's text of a field's value: empty at the default, as an
/// unset field (the template then refuses it).
pub(crate) fn path_text<C: Codec>(value: &C::Value) -> Result<String, FieldError> {
    if C::is_default(value) {
        return Ok(String::new());
    }
    write_text::<C>(value)
}
