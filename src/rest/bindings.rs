//! The `google.api.http` binding of every method of the crate, generated
//! from the descriptors: what the REST client and the gateway share. With
//! `rest`, also how the gateway reads a REST call's request under its
//! binding ([`read_request`]: the body, then the path values and the query
//! set on the typed request through its [`RequestMessage`]).

#[cfg(feature = "rest")]
use super::message::{FieldError, RequestMessage};
use super::template::{PathTemplate, TemplateError};

/// The media type of binary protobuf bodies, as ESP and ESPv2 send them.
pub const PROTO_CONTENT_TYPE: &str = "application/x-protobuf";

/// How a REST call's request becomes the binary encoding of the binding's
/// request type ([`encode_request`] of it).
#[cfg(feature = "rest")]
pub(crate) type EncodeRequest = fn(&Incoming<'_>) -> Result<Vec<u8>, RequestError>;

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
    /// A REST call's request, encoded ([`encode_request`] of the request
    /// type).
    #[cfg(feature = "rest")]
    pub(crate) encode_request: EncodeRequest,
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

    /// The parsed path template (the gateway and the REST client parse
    /// each once and keep it).
    pub fn path_template(&self) -> Result<PathTemplate, TemplateError> {
        PathTemplate::parse(self.template)
    }
}

/// Query parameters every Google API accepts besides request fields.
#[cfg(feature = "rest")]
pub(crate) const SYSTEM_PARAMETERS: &[&str] = &[
    "$.xgafv",
    "alt",
    "$alt",
    "$ct",
    "fields",
    "$fields",
    "key",
    "prettyPrint",
    "$prettyPrint",
    "quotaUser",
    "userProject",
    "access_token",
];

#[cfg(feature = "rest")]
impl Binding {
    /// Sets the fields of `message` that the path values (one per variable
    /// of `template`, the binding's, in order) and the query parameters bind, the system
    /// parameters aside: the one way the gateway binds them, on the typed
    /// request. The error says which parameter, and why.
    pub(crate) fn bind<M: RequestMessage>(
        &self,
        template: &PathTemplate,
        message: &mut M,
        path_values: &[String],
        query: &str,
    ) -> Result<(), String> {
        // Singular fields set so far: a second value for one is an error.
        let mut set: Vec<&'static str> = Vec::new();
        for (variable, value) in template.variables().iter().zip(path_values) {
            let path: Vec<&str> = variable.iter().map(String::as_str).collect();
            let field = message
                .set_parameter(&path, value)
                .map_err(|e| format!("invalid path variable {}: {e}", variable.join(".")))?;
            set.extend(field);
        }
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if SYSTEM_PARAMETERS.contains(&name.as_ref()) {
                continue;
            }
            if self.body == "*" {
                return Err(format!(
                    "cannot bind query parameter \"{name}\": the body holds every field"
                ));
            }
            // A query parameter names a top-level field: a dotted name
            // reaches no field, so none that the path sets is set again.
            match message.set_parameter(&[name.as_ref()], &value) {
                Ok(Some(field)) if set.contains(&field) => {
                    return Err(format!(
                        "query parameter \"{name}\" sets \"{field}\" a second time"
                    ));
                }
                Ok(field) => set.extend(field),
                Err(FieldError::Invalid(e)) => {
                    return Err(format!("invalid query parameter \"{name}\": {e}"));
                }
                Err(e) => return Err(format!("cannot bind query parameter \"{name}\": {e}")),
            }
        }
        Ok(())
    }
}

/// Why a REST call's request message could not be read.
#[cfg(feature = "rest")]
#[derive(Debug)]
pub(crate) enum RequestError {
    /// The JSON body is not the message.
    Json(crate::json::JsonError),
    /// The binary body is not the message.
    Proto(prost::DecodeError),
    /// A path variable or query parameter (the message says which).
    Parameters(String),
}

/// A REST call's request body: its bytes, and whether they are binary
/// protobuf (JSON otherwise). `None` for a call without a message body.
#[cfg(feature = "rest")]
pub(crate) type Body<'a> = Option<(&'a [u8], bool)>;

/// A REST call as the gateway has it for its binding: what
/// [`read_request`] reads.
#[cfg(feature = "rest")]
pub(crate) struct Incoming<'a> {
    /// The method's binding.
    pub(crate) binding: &'a Binding,
    /// Its path template, parsed.
    pub(crate) template: &'a PathTemplate,
    /// The body, when the binding takes one.
    pub(crate) body: Body<'a>,
    /// The values of the template's variables, in its order.
    pub(crate) path_values: &'a [String],
    /// The query, as sent.
    pub(crate) query: &'a str,
    /// How a JSON body is read.
    pub(crate) options: &'a crate::json::ParseOptions,
}

/// The request message of a REST call under its binding: the body read as
/// `M`, then the path values and the query bound on it ([`Binding::bind`]).
/// The one way the gateway reads a REST request, for a typed call and
/// (encoded, [`encode_request`]) for a tonic server alike.
#[cfg(feature = "rest")]
pub(crate) fn read_request<M: RequestMessage + crate::json::ReadJson>(
    call: &Incoming<'_>,
) -> Result<M, RequestError> {
    let mut message = match call.body {
        Some((json, false)) => {
            crate::json::from_slice_with::<M>(json, call.options).map_err(RequestError::Json)?
        }
        Some((binary, true)) => M::decode(binary).map_err(RequestError::Proto)?,
        None => M::default(),
    };
    call.binding
        .bind(call.template, &mut message, call.path_values, call.query)
        .map_err(RequestError::Parameters)?;
    Ok(message)
}

/// [`read_request`], encoded: what the gateway hands a tonic server.
#[cfg(feature = "rest")]
pub(crate) fn encode_request<M: RequestMessage + crate::json::ReadJson>(
    call: &Incoming<'_>,
) -> Result<Vec<u8>, RequestError> {
    read_request::<M>(call).map(|message| message.encode_to_vec())
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
