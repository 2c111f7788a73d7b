//! The `google.api.http` binding of every method of the crate, generated
//! from the descriptors: what the REST client and the gateway share.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use super::template::{PathTemplate, TemplateError};

/// The media type of binary protobuf bodies, as ESP and ESPv2 send them.
pub const PROTO_CONTENT_TYPE: &str = "application/x-protobuf";

/// How a request field takes a query parameter's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// `true` or `false`.
    Bool,
    /// A number, string or enum: the text is the field's JSON string form.
    Scalar,
    /// A message: not bindable from a query parameter.
    Message,
}

/// A top-level field of a request message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestField {
    /// The proto name, as path templates and query parameters use it.
    pub(crate) name: &'static str,
    /// The JSON name.
    pub(crate) json_name: &'static str,
    /// How a query parameter's text becomes the field's value.
    pub(crate) kind: FieldKind,
    /// Whether the field is repeated (the parameter may be given repeatedly).
    #[cfg_attr(not(feature = "rest"), allow(dead_code))]
    pub(crate) repeated: bool,
    /// The field number, for a binary body that is this field.
    #[cfg_attr(not(feature = "rest"), allow(dead_code))]
    pub(crate) number: u32,
}

/// One method's `google.api.http` binding, from [`bindings`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Binding {
    pub(crate) service: &'static str,
    pub(crate) method: &'static str,
    pub(crate) verb: &'static str,
    pub(crate) template: &'static str,
    pub(crate) body: &'static str,
    pub(crate) request: &'static str,
    pub(crate) response: &'static str,
    pub(crate) fields: &'static [RequestField],
}

impl Binding {
    /// The service's full name, e.g. `google.api.servicecontrol.v1.ServiceController`.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The method's name, e.g. `Check`.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The HTTP verb, e.g. `POST`.
    pub fn verb(&self) -> &'static str {
        self.verb
    }

    /// The path template, e.g. `/v1/services/{service_name}:check`.
    pub fn template(&self) -> &'static str {
        self.template
    }

    /// Which request field is the body: `*` for all fields not in the path,
    /// empty for none.
    pub fn body(&self) -> &'static str {
        self.body
    }

    /// The request message's full name.
    pub fn request(&self) -> &'static str {
        self.request
    }

    /// The response message's full name.
    pub fn response(&self) -> &'static str {
        self.response
    }
}

/// The binding of every method of the crate that has one.
pub(crate) const BINDINGS: &[Binding] = include!(concat!(env!("OUT_DIR"), "/http_bindings.rs"));

/// The binding of every method of the crate that has one, in the order of
/// the `.proto` files.
///
/// ```
/// let check = cloud_report_proto::rest::bindings()
///     .iter()
///     .find(|b| b.method() == "Check")
///     .unwrap();
/// assert_eq!(check.template(), "/v1/services/{service_name}:check");
/// ```
pub fn bindings() -> &'static [Binding] {
    BINDINGS
}

/// The parsed path template of every binding in [`BINDINGS`], by its text;
/// parsed once, on first use.
fn parsed_templates() -> &'static HashMap<&'static str, PathTemplate> {
    static TEMPLATES: OnceLock<HashMap<&'static str, PathTemplate>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        BINDINGS
            .iter()
            .map(|b| {
                let template =
                    PathTemplate::parse(b.template).expect("the build checks every binding");
                (b.template, template)
            })
            .collect()
    })
}

impl Binding {
    /// The binding of a method, by the service's full name and the method's
    /// name.
    ///
    /// ```
    /// use cloud_report_proto::rest::Binding;
    /// let b = Binding::find("google.api.servicecontrol.v1.ServiceController", "Report").unwrap();
    /// assert_eq!(b.template(), "/v1/services/{service_name}:report");
    /// ```
    pub fn find(service: &str, method: &str) -> Option<&'static Binding> {
        BINDINGS
            .iter()
            .find(|b| b.service == service && b.method == method)
    }

    /// The JSON name of a top-level request field, by its proto name.
    pub(crate) fn field_json_name(&self, name: &str) -> Option<&'static str> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.json_name)
    }

    /// The JSON names along a path variable's field path (proto names, as
    /// templates write them): the request field's own JSON name at the top,
    /// lowerCamelCase below. The one rule the client and the gateway bind
    /// path variables by.
    pub(crate) fn json_path(&self, path: &[String]) -> Vec<String> {
        path.iter()
            .enumerate()
            .map(
                |(i, name)| match self.field_json_name(name).filter(|_| i == 0) {
                    Some(json_name) => json_name.to_owned(),
                    None => crate::google::protobuf::lower_camel(name),
                },
            )
            .collect()
    }

    /// The parsed path template, parsed once.
    pub fn path_template(&self) -> Result<Cow<'static, PathTemplate>, TemplateError> {
        match parsed_templates().get(self.template) {
            Some(parsed) => Ok(Cow::Borrowed(parsed)),
            None => PathTemplate::parse(self.template).map(Cow::Owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry;

    #[test]
    fn every_binding_parses_and_names_registered_types() {
        assert!(BINDINGS.len() >= 6);
        for binding in BINDINGS {
            binding.path_template().unwrap();
            assert!(
                registry::lookup(binding.request).is_some(),
                "{}",
                binding.request
            );
            assert!(
                registry::lookup(binding.response).is_some(),
                "{}",
                binding.response
            );
        }
    }
}
