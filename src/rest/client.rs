//! The REST client behind the generated `...RestClient` types.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;

use super::bindings::{BINDINGS, Binding, PROTO_CONTENT_TYPE};
use super::error::RestError;
use super::message::RequestMessage;
use super::template::PathTemplate;
use crate::google::rpc::Code;
use crate::json::{ParseOptions, WriteOptions};
use crate::registry::TypeRegistry;

use crate::token::TokenSource;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL is not an http(s) URL.
    #[error("invalid base URL \"{0}\": it must start with http:// or https://")]
    BaseUrl(String),
    /// TLS or the HTTP client could not be set up.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Settings of a [`RestClient`].
#[must_use]
pub struct RestClientBuilder {
    base_url: String,
    timeout: Duration,
    reach: crate::reach::Reach,
    binary: bool,
    types: Option<Arc<TypeRegistry>>,
}

impl std::fmt::Debug for RestClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClientBuilder")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.reach.connect_timeout)
            .field("binary", &self.binary)
            .finish_non_exhaustive()
    }
}

impl RestClientBuilder {
    /// The time a whole call may take (default 30 s); past it the call fails
    /// with DEADLINE_EXCEEDED.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Speaks binary protobuf over HTTP, as ESP and ESPv2 call Service
    /// Control: request bodies as `application/x-protobuf` (path variables
    /// still in the path), answers and errors read as binary. A method
    /// without a body asks for a binary answer with `$alt=proto`. Off by
    /// default (canonical JSON).
    pub fn binary(mut self, binary: bool) -> Self {
        self.binary = binary;
        self
    }

    crate::reach::reach_setters!(
        connecting: "Building",
        without_token: "a call without a valid token waits for the next fetch, and fails with UNAVAILABLE when it fails."
    );

    /// Writes and reads `Any` values of the user's own types in `types`
    /// (see [`TypeRegistry`]) in requests and answers.
    pub fn type_registry(mut self, types: impl Into<Arc<TypeRegistry>>) -> Self {
        self.types = Some(types.into());
        self
    }

    /// Builds the client: HTTP/1.1 and HTTP/2, TLS by rustls with the ring
    /// provider and Mozilla's roots (`webpki-roots`) plus any added (and the
    /// platform's, when asked). Given Google's endpoint of an API whose
    /// emulator variable is set ([`crate::emulator_env`]), it calls the
    /// emulator in plain text without a token.
    pub fn build(self) -> Result<RestClient, ClientError> {
        // Google's endpoint with an emulator variable set: the emulator, no
        // token (see `emulator_env`).
        let (base_url, emulated) =
            crate::emulator_env::resolve(self.base_url.trim_end_matches('/'));
        let token = if emulated { None } else { self.reach.token };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ClientError::BaseUrl(self.base_url));
        }
        let tls = super::tls::client_config(&self.reach.roots, self.reach.native_roots)
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(self.timeout)
            .connect_timeout(self.reach.connect_timeout)
            .user_agent(concat!("cloud-report-proto/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let (mut write, mut parse) = (WriteOptions::default(), ParseOptions::default());
        if let Some(types) = self.types {
            write = write.type_registry(types.clone());
            parse = parse.type_registry(types);
        }
        Ok(RestClient {
            http,
            base_url: base_url.into(),
            token,
            token_now: false,
            binary: self.binary,
            write,
            // Servers add fields over time; a client reads what it knows.
            parse: parse.ignore_unknown_fields(true),
            templates: Arc::new(
                BINDINGS
                    .iter()
                    .filter_map(|b| Some((b.template, b.path_template().ok()?)))
                    .collect(),
            ),
        })
    }
}

/// Calls methods over REST: the request as canonical JSON in the body (or
/// binary protobuf, with [`RestClientBuilder::binary`]), path and query of
/// the method's `google.api.http` binding. Cheap to clone.
///
/// ```no_run
/// use cloud_report_proto::google::api::servicecontrol::v1::{ReportRequest, ServiceControllerRestClient};
/// use cloud_report_proto::rest::RestClient;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = ServiceControllerRestClient::new(
///     RestClient::builder(ServiceControllerRestClient::DEFAULT_BASE_URL)
///         .bearer_token("ya29.token")
///         .build()?,
/// );
/// let request = ReportRequest { service_name: "my-api.example.com".into(), ..Default::default() };
/// let response = client.report(request).await?;
/// println!("{} report errors", response.report_errors.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base_url: Arc<str>,
    token: Option<TokenSource>,
    /// Calls take the token at hand, never waiting for one (the gateway
    /// client's Check and AllocateQuota).
    token_now: bool,
    binary: bool,
    /// How requests are written, and answers read (the user's `Any` types
    /// among them).
    write: WriteOptions,
    parse: ParseOptions,
    /// The crate's bindings' path templates, parsed when the client was
    /// built, by template text.
    templates: Arc<HashMap<&'static str, PathTemplate>>,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RestClient {
    /// Settings for a client of the API at `base_url`, such as
    /// `https://servicecontrol.googleapis.com` or `http://127.0.0.1:8080`.
    pub fn builder(base_url: impl Into<String>) -> RestClientBuilder {
        RestClientBuilder {
            base_url: base_url.into(),
            timeout: Duration::from_secs(30),
            reach: crate::reach::Reach::default(),
            binary: false,
            types: None,
        }
    }

    /// The client, its calls taking the token at hand: without a valid
    /// one, a call fails at once with INTERNAL and is not made.
    #[cfg(feature = "client")]
    pub(crate) fn token_now(&self) -> Self {
        Self {
            token_now: true,
            ..self.clone()
        }
    }

    /// The token source of the calls, when they carry a token.
    #[cfg(feature = "client")]
    pub(crate) fn tokens_of(&self) -> Option<&TokenSource> {
        self.token.as_ref()
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Calls the method of `binding` with `request`. The errors are the ones a
    /// gRPC client gives: the server's status with its details, or
    /// UNAVAILABLE / DEADLINE_EXCEEDED for transport failures, INVALID_ARGUMENT
    /// when the request does not fit the binding.
    pub async fn call<Req, Resp>(
        &self,
        binding: &Binding,
        request: Req,
    ) -> Result<Resp, tonic::Status>
    where
        Req: RequestMessage + crate::json::WriteJson,
        Resp: crate::json::ReadJson + prost::Message + Default,
    {
        let parsed;
        let template = match self.templates.get(binding.template) {
            Some(template) => template,
            None => {
                parsed = binding
                    .path_template()
                    .map_err(|e| tonic::Status::internal(e.to_string()))?;
                &parsed
            }
        };
        let Bound { path, query, body } =
            bind(binding, template, request, self.binary, &self.write)?;
        let query = {
            let mut pairs = form_urlencoded::Serializer::new(String::new());
            pairs.extend_pairs(query);
            if self.binary && !body.as_ref().is_some_and(|(_, proto)| *proto) {
                pairs.append_pair("$alt", "proto");
            }
            pairs.finish()
        };
        let url = if query.is_empty() {
            format!("{}{path}", self.base_url)
        } else {
            format!("{}{path}?{query}", self.base_url)
        };
        let method = reqwest::Method::from_bytes(binding.verb.as_bytes())
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        let mut call = self.http.request(method, url);
        if let Some((body, proto)) = body {
            let content_type = if proto {
                PROTO_CONTENT_TYPE
            } else {
                "application/json"
            };
            call = call.header("content-type", content_type).body(body);
        }
        if let Some(source) = &self.token {
            let header = if self.token_now {
                source.authorization_now()?
            } else {
                source.authorization().await?
            };
            call = call.header(http::header::AUTHORIZATION, header);
        }
        let response = call.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        if status == 401
            && let Some(source) = &self.token
        {
            source.refused();
        }
        let proto_answer = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(PROTO_CONTENT_TYPE.as_bytes()));
        let bytes = response.bytes().await.map_err(transport_error)?;
        let unreadable = |e: &dyn std::fmt::Display| {
            crate::failure::settled(
                tonic::Code::Internal,
                format!("cannot read the {} response: {e}", binding.response),
                crate::failure::Settled::Unreadable,
            )
        };
        // Google's APIs answer 200; any other status is no answer, a 2xx
        // included (ESPv2's `http_call.cc` takes 200 alone).
        if status == 200 {
            if proto_answer {
                return Resp::decode(&bytes[..]).map_err(|e| unreadable(&e));
            }
            return crate::json::from_slice_with(&bytes, &self.parse).map_err(|e| unreadable(&e));
        }
        if status < 300 {
            // A success that is no answer (ESPv2 tries again, then fails
            // closed: UNKNOWN by Envoy's httpToGrpcStatus).
            let error = RestError::new(
                Code::Unknown,
                format!(
                    "HTTP {status} is not an answer: Google's APIs answer 200 ({} bytes of body)",
                    bytes.len()
                ),
            );
            return Err(error.with_http_status(status).into());
        }
        let error = if proto_answer {
            crate::google::rpc::Status::decode(&bytes[..])
                .ok()
                .map(|s| RestError::from(s).with_http_status(status))
        } else {
            RestError::from_json(status, &bytes)
        };
        let error = error.unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&bytes);
            let text: String = text.chars().take(500).collect();
            RestError::new(
                Code::from_http_status(status),
                format!("HTTP {status}: {text}"),
            )
            .with_http_status(status)
        });
        Err(error.into())
    }
}

/// The status of a REST call that got no answer: DEADLINE_EXCEEDED when it
/// timed out, UNAVAILABLE when no connection could be made (what a gateway
/// answers as 504 and 503), INTERNAL when the exchange broke off after it
/// began (a reset stream, a connection closed mid-answer), as ESPv2's HTTP
/// client takes a failure after connecting.
fn transport_error(error: reqwest::Error) -> tonic::Status {
    let mut status = if error.is_timeout() {
        tonic::Status::deadline_exceeded(format!("REST call timed out: {error}"))
    } else if error.is_connect() {
        tonic::Status::unavailable(format!("REST call could not connect: {error}"))
    } else {
        tonic::Status::internal(format!("REST call broke off: {error}"))
    };
    status.set_source(std::sync::Arc::new(error));
    status
}

/// A request under its binding: what goes in the URL and the body.
struct Bound {
    path: String,
    query: Vec<(&'static str, String)>,
    /// The body and whether it is binary.
    body: Option<(Vec<u8>, bool)>,
}

/// The path, query parameters and body of a request under a binding: the
/// path variables' fields taken out of the request as text, the body the
/// rest of it (a binary call sends the whole message, path fields
/// included, as ESPv2 does), or, without a body, its set fields as query
/// parameters.
fn bind<Req: RequestMessage + crate::json::WriteJson>(
    binding: &Binding,
    template: &PathTemplate,
    mut request: Req,
    binary: bool,
    options: &WriteOptions,
) -> Result<Bound, tonic::Status> {
    let invalid = |m: String| tonic::Status::invalid_argument(m);
    let whole_binary = (binary && binding.body == "*").then(|| request.encode_to_vec());
    let mut path_values = Vec::with_capacity(template.variables().len());
    for variable in template.variables() {
        let path: Vec<&str> = variable.iter().map(String::as_str).collect();
        let text = request
            .take_parameter(&path)
            .map_err(|e| invalid(format!("path variable {}: {e}", variable.join("."))))?;
        path_values.push(text);
    }
    let refs: Vec<&str> = path_values.iter().map(String::as_str).collect();
    let path = template.expand(&refs).map_err(|e| invalid(e.to_string()))?;
    let mut query = Vec::new();
    let body = match (binding.body, whole_binary) {
        (_, Some(binary)) => Some((binary, true)),
        ("*", None) => {
            let json = crate::json::to_vec_with(&request, options)
                .map_err(|e| invalid(format!("cannot write the request as JSON: {e}")))?;
            Some((json, false))
        }
        _ => {
            request.query_parameters(&mut query).map_err(|e| {
                invalid(format!(
                    "{e}, which {} {} cannot carry in the query",
                    binding.verb, binding.template
                ))
            })?;
            None
        }
    };
    Ok(Bound { path, query, body })
}

/// The error a REST client reports, as a `tonic::Status` so that code handling
/// both wires handles one error type; the details ride along.
/// The status of the error, which keeps the error (and so its HTTP status)
/// as its source.
impl From<RestError> for tonic::Status {
    fn from(error: RestError) -> Self {
        let mut status: tonic::Status = error.status.clone().into();
        status.set_source(std::sync::Arc::new(error));
        status
    }
}
