//! The REST gateway: [`Gateway`] serves tonic services over REST and gRPC
//! on one port, assembling each REST request's message from its body, path
//! and query by the method's binding, and writing the answer or the error in
//! the form the call asked for.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::response::{IntoResponse, Response};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use tonic::server::NamedService;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

use super::auth::Authenticate;
use super::bindings::{BINDINGS, Incoming, PROTO_CONTENT_TYPE};
use super::call::{CallContext, WireFormat};
use super::error::BodyError;
use super::error::{RestError, clip, error_response};
use super::route::{
    Encoding, PARSE_ON_POOL_BYTES, Reading, Route, body_of, message_too_large, request_error,
};
use super::{dispatch, fields, grpc, server};
use crate::google::protobuf::FieldMask;
use crate::google::rpc::{Code, Status};
use crate::json::mask::Mask;
use crate::json::{ParseOptions, WriteOptions};
use crate::registry;
use crate::registry::TypeRegistry;

/// The encodings of a REST exchange, decided before the body is read, so
/// that every error is answered in the answer's encoding.
#[derive(Clone, Debug)]
struct Wire {
    /// The request body's: binary when its media type (the `$ct` system
    /// parameter over `Content-Type`) is `application/x-protobuf`, JSON
    /// otherwise.
    body: Encoding,
    /// The answer's: what `alt` (or `$alt`) asks for (see [`answer_alt`]);
    /// the body's when neither is given.
    answer: Encoding,
    /// How a JSON answer is written: indented (`prettyPrint`, `$prettyPrint`
    /// given other than `false`), enums as numbers (`json;enum-encoding=int`).
    json: WriteOptions,
    /// The fields the answer is cut down to (`fields`, `$fields` or the
    /// `X-Goog-FieldMask` header, in the mask's JSON form); all when absent
    /// or empty.
    fields: Option<FieldMask>,
}

impl Wire {
    fn of(headers: &HeaderMap, query: Option<&str>) -> Result<Self, RestError> {
        let mut content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut alt = None;
        let mut pretty = false;
        let mut fields = headers
            .get("x-goog-fieldmask")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match name.as_ref() {
                "fields" | "$fields" => fields = Some(value.into_owned()),
                "$.xgafv" if value != "1" && value != "2" => {
                    return Err(RestError::new(
                        Code::InvalidArgument,
                        format!("$.xgafv={} is not an error format: 1 or 2", clip(&value)),
                    ));
                }
                "$ct" => content_type = Some(value.into_owned()),
                "alt" | "$alt" => alt = Some(value.into_owned()),
                "prettyPrint" | "$prettyPrint" => pretty = value != "false",
                _ => {}
            }
        }
        let media = content_type.as_deref().unwrap_or_default();
        let media = media.split(';').next().unwrap_or_default().trim();
        let body = if media.eq_ignore_ascii_case(PROTO_CONTENT_TYPE) {
            Encoding::Proto
        } else {
            Encoding::Json
        };
        let (answer, enums_as_ints) = match alt.as_deref() {
            None => (body, false),
            Some(alt) => answer_alt(alt)?,
        };
        let fields = match fields.as_deref() {
            None | Some("") => None,
            Some(text) => Some(text.parse::<FieldMask>().map_err(|e| {
                RestError::new(Code::InvalidArgument, format!("invalid fields: {e}"))
            })?),
        };
        Ok(Self {
            body,
            answer,
            json: WriteOptions::default()
                .pretty(pretty)
                .enums_as_ints(enums_as_ints),
            fields,
        })
    }
}

/// What the `alt` system parameter asks of the answer: its encoding, and
/// whether a JSON answer writes enums as numbers. `json` and `proto`, as
/// every Google API takes them, and `json;enum-encoding=int`, which Google's
/// generated REST clients (GAPIC) send on every call and whose answers they
/// read with numeric enums.
fn answer_alt(alt: &str) -> Result<(Encoding, bool), RestError> {
    match alt {
        "json" => Ok((Encoding::Json, false)),
        "json;enum-encoding=int" => Ok((Encoding::Json, true)),
        "proto" => Ok((Encoding::Proto, false)),
        other => Err(RestError::new(
            Code::InvalidArgument,
            format!(
                "alt={} is not supported: json, json;enum-encoding=int or proto",
                clip(other)
            ),
        )),
    }
}

type GrpcService = BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    Infallible,
>;

/// Serves tonic services over REST and gRPC on one router. See the
/// [module documentation](super).
pub struct Gateway {
    services: HashMap<&'static str, GrpcService>,
    /// Services also called straight with typed messages, by name.
    dispatch: HashMap<&'static str, Arc<dyn dispatch::Dispatch>>,
    /// The routes and how bodies are read, which typed calls share.
    reading: Arc<Reading>,
    max_body_bytes: usize,
    authenticator: Option<Arc<dyn Authenticate>>,
    extra: axum::Router,
    /// The user's `Any` types, for answers too.
    types: Option<Arc<TypeRegistry>>,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("services", &self.services.keys().collect::<Vec<_>>())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_message_bytes", &self.reading.max_message_bytes)
            .field("authenticates", &self.authenticator.is_some())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// The default limit of a REST request body: 8 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 8 << 20;

    /// The default limit of the request message a REST call becomes: 4 MiB,
    /// what a tonic service decodes by default.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

    /// A gateway with no services yet.
    pub fn new() -> Self {
        Self {
            services: HashMap::new(),
            dispatch: HashMap::new(),
            reading: Arc::new(Reading {
                routes: Vec::new(),
                parse: ParseOptions::default(),
                max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            }),
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            authenticator: None,
            extra: axum::Router::new(),
            types: None,
        }
    }

    /// Serves a tonic service (a generated `...Server::new(implementation)`),
    /// over gRPC and over REST for each of its methods with a binding. REST
    /// calls reach it through gRPC's binary encoding;
    /// [`add_rest_service`](Self::add_rest_service) with the generated
    /// `<Service>RestServer` of an implementation hands REST calls to it as
    /// typed messages, about twice as cheap per call (BENCHMARKS.md).
    ///
    /// # Panics
    ///
    /// When a binding's template or message types are not the crate's own,
    /// which the build guarantees.
    #[must_use]
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        for binding in BINDINGS.iter().filter(|b| b.service == S::NAME) {
            Arc::make_mut(&mut self.reading).routes.push(Route {
                binding: *binding,
                template: binding.path_template().expect("bindings parse"),
                request: registry::lookup(binding.request).expect("request types are registered"),
                response: registry::lookup(binding.response)
                    .expect("response types are registered"),
            });
        }
        self.services
            .insert(S::NAME, BoxCloneSyncService::new(service));
        self
    }

    /// Serves a service implementation of the crate over gRPC and REST, as
    /// [`add_service`](Self::add_service) with its tonic server, except that
    /// REST calls reach the implementation with their typed messages, read
    /// and written by the JSON engine, not through gRPC's encoding.
    ///
    /// ```no_run
    /// # use cloud_report_proto::google::api::servicecontrol::v1::*;
    /// # use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::ServiceController;
    /// # struct MyService;
    /// # #[tonic::async_trait] impl ServiceController for MyService {
    /// #   async fn check(&self, _: tonic::Request<CheckRequest>) -> Result<tonic::Response<CheckResponse>, tonic::Status> { todo!() }
    /// #   async fn report(&self, _: tonic::Request<ReportRequest>) -> Result<tonic::Response<ReportResponse>, tonic::Status> { todo!() }
    /// # }
    /// use cloud_report_proto::google::api::servicecontrol::v1::ServiceControllerRestServer;
    /// use cloud_report_proto::rest::Gateway;
    ///
    /// let router = Gateway::new()
    ///     .add_rest_service(ServiceControllerRestServer::new(MyService))
    ///     .into_router();
    /// ```
    #[must_use]
    pub fn add_rest_service<S: dispatch::RestService>(mut self, service: S) -> Self {
        let name = <S::Server as NamedService>::NAME;
        self = self.add_service(service.grpc_server());
        self.dispatch.insert(name, Arc::new(service));
        self
    }

    /// Reads and writes `Any` values of the user's own types in `types` (see
    /// [`TypeRegistry`]) in REST requests and answers.
    #[must_use]
    pub fn type_registry(mut self, types: impl Into<Arc<TypeRegistry>>) -> Self {
        let types = types.into();
        Arc::make_mut(&mut self.reading).parse =
            ParseOptions::default().type_registry(types.clone());
        self.types = Some(types);
        self
    }

    /// Sets the largest REST request body accepted; a larger one is refused
    /// with 413 before it is read whole.
    #[must_use]
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Sets the largest request message a REST call may become once
    /// assembled (binary encoding); a larger one is refused with 413. Raise
    /// it with the services' own `max_decoding_message_size`.
    #[must_use]
    pub fn max_message_bytes(mut self, limit: usize) -> Self {
        Arc::make_mut(&mut self.reading).max_message_bytes = limit;
        self
    }

    /// Asks `authenticator` about every request, on every route and both
    /// wires, before any byte of its body is read.
    ///
    /// ```
    /// use cloud_report_proto::rest::{BearerToken, Gateway};
    /// let gateway = Gateway::new().authenticate(BearerToken::new("s3cret"));
    /// ```
    #[must_use]
    pub fn authenticate(mut self, authenticator: impl Authenticate) -> Self {
        self.authenticator = Some(Arc::new(authenticator));
        self
    }

    /// Serves more routes beside the services' (a health check, inspection
    /// endpoints), behind the same authentication. The services' routes
    /// answer whatever these do not match.
    #[must_use]
    pub fn merge(mut self, routes: axum::Router) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    /// The axum router serving everything added. Serve it with [`Server`](super::server::Server)
    /// for timeouts and limits on connections.
    pub fn into_router(mut self) -> axum::Router {
        let extra = std::mem::take(&mut self.extra);
        let authenticator = self.authenticator.clone();
        let services = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::new(self));
        extra
            .fallback_service(services)
            .layer(axum::middleware::from_fn_with_state(
                authenticator,
                authenticate,
            ))
    }

    async fn grpc(&self, request: axum::extract::Request) -> Response {
        let service_name = request
            .uri()
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        let Some(service) = self.services.get(service_name).cloned() else {
            return error_response(
                true,
                RestError::new(
                    Code::Unimplemented,
                    format!("unknown service {}", clip(service_name)),
                ),
            );
        };
        let unary = grpc::UNARY_METHODS.contains(&request.uri().path());
        let request = if unary {
            request.map(|body| tonic::body::Body::new(grpc::OneMessage::new(body)))
        } else {
            request.map(tonic::body::Body::new)
        };
        let mut response = match service.oneshot(request).await {
            Ok(response) => response.map(AxumBody::new),
            Err(never) => match never {},
        };
        grpc::decode_error_codes(response.headers_mut());
        response
    }

    async fn rest(
        self: Arc<Self>,
        request: axum::extract::Request,
        wire: Wire,
    ) -> Result<Response, RestError> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        // A POST may stand for another verb (for clients that can send only
        // GET and POST).
        let method = match parts.headers.get("x-http-method-override") {
            Some(verb) if parts.method == Method::POST => verb
                .to_str()
                .ok()
                .and_then(|v| Method::from_bytes(v.trim().to_ascii_uppercase().as_bytes()).ok())
                .ok_or_else(|| {
                    RestError::new(
                        Code::InvalidArgument,
                        "X-HTTP-Method-Override is not an HTTP method",
                    )
                })?,
            _ => parts.method.clone(),
        };
        let mut path_matched = false;
        let mut found = None;
        for (index, route) in self.reading.routes.iter().enumerate() {
            if let Some(values) = route.template.matches(path) {
                path_matched = true;
                if method.as_str() == route.binding.verb {
                    found = Some((index, values));
                    break;
                }
            }
        }
        let Some((index, values)) = found else {
            return Err(if path_matched {
                RestError::new(
                    Code::Unimplemented,
                    format!("method {method} is not allowed on {}", clip(path)),
                )
                .with_http_status(405)
            } else {
                RestError::new(
                    Code::NotFound,
                    format!("no method is bound to {method} {}", clip(path)),
                )
            });
        };

        let route = &self.reading.routes[index];
        let body = self.read_body(&parts.headers, body).await?;
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let selection = match &wire.fields {
            Some(mask) => Some(Arc::new(fields::selection(route.binding.response, mask)?)),
            None => None,
        };
        let reply = if let Some(service) = self.dispatch.get(route.binding.service).cloned() {
            let call = dispatch::TypedCall {
                reading: self.reading.clone(),
                route: index,
                values,
                query,
                body,
                encoding: wire.body,
                headers: forwarded_headers(&parts.headers),
                extensions: parts.extensions.clone(),
            };
            service.call(route.binding.method, call).await?
        } else {
            dispatch::Answer::Binary(
                self.call_grpc(index, values, query, body, &parts, wire.body)
                    .await?,
            )
        };
        self.answer(index, reply, selection, &wire)
    }

    /// Calls route `index`'s method through the service's gRPC interface:
    /// the request assembled into its binary encoding, the answer unframed.
    async fn call_grpc(
        self: &Arc<Self>,
        index: usize,
        values: Vec<String>,
        query: String,
        body: Bytes,
        parts: &http::request::Parts,
        encoding: Encoding,
    ) -> Result<Vec<u8>, RestError> {
        let route = &self.reading.routes[index];
        let message = if body.len() > PARSE_ON_POOL_BYTES {
            // Parsing takes long enough to hold up other clients' requests.
            let gateway = self.clone();
            tokio::task::spawn_blocking(move || {
                assemble(
                    &gateway.reading.routes[index],
                    &values,
                    &query,
                    &body,
                    encoding,
                    &gateway.reading.parse,
                )
            })
            .await
            .map_err(|e| RestError::new(Code::Internal, format!("parsing failed: {e}")))??
        } else {
            let assembled = assemble(route, &values, &query, &body, encoding, &self.reading.parse);
            drop(body);
            assembled?
        };
        let limit = self.reading.max_message_bytes;
        if message.len() > limit {
            return Err(message_too_large(message.len(), limit));
        }
        // The in-process gRPC call, with the caller's headers as metadata
        // and the request's extensions (its CallContext).
        self.call(route, parts, message).await
    }

    /// The REST answer of route `index`: the response written in the
    /// answer's encoding, cut down by `mask` as it is written (a typed
    /// response straight from its message, a binary one through the
    /// response type's transcoding).
    fn answer(
        &self,
        index: usize,
        reply: dispatch::Answer,
        mask: Option<Arc<Mask>>,
        wire: &Wire,
    ) -> Result<Response, RestError> {
        use dispatch::Answer;
        let route = &self.reading.routes[index];
        let write_error = |e: &dyn std::fmt::Display| {
            RestError::new(Code::Internal, format!("cannot write the response: {e}"))
        };
        let masked = mask.is_some();
        let mut options = wire.json.clone();
        if let Some(mask) = mask {
            options = options.mask(mask);
        }
        let json = |reply: &Answer| match reply {
            Answer::Typed(message) => message.to_json(&options).map_err(|e| write_error(&e)),
            Answer::Binary(bytes) => route
                .response
                .binary_to_json_with(bytes, &options)
                .map(String::into_bytes)
                .map_err(|e| write_error(&e)),
        };
        if wire.answer == Encoding::Proto {
            let reply = match reply {
                // A binary answer cut down: written as JSON under the mask
                // and read back, as the mask's paths are fields of the
                // message.
                reply if masked => route
                    .response
                    .json_to_binary_with(&json(&reply)?, &self.reading.parse)
                    .map_err(|e| write_error(&e))?,
                Answer::Typed(message) => message.to_binary(),
                Answer::Binary(bytes) => bytes,
            };
            return Ok(([(header::CONTENT_TYPE, PROTO_CONTENT_TYPE)], reply).into_response());
        }
        Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            json(&reply)?,
        )
            .into_response())
    }

    async fn read_body(&self, headers: &HeaderMap, body: AxumBody) -> Result<Bytes, RestError> {
        let too_large = || {
            RestError::new(
                Code::InvalidArgument,
                format!("request body is larger than {} bytes", self.max_body_bytes),
            )
            .with_http_status(413)
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes as u64) {
            return Err(too_large());
        }
        match Limited::new(body, self.max_body_bytes).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Err(e) => Err(match BodyError::find(&*e) {
                Some(limit) => limit.rest.clone(),
                None => RestError::new(Code::InvalidArgument, format!("cannot read the body: {e}")),
            }),
        }
    }

    async fn call(
        &self,
        route: &Route,
        parts: &http::request::Parts,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, RestError> {
        let service = self
            .services
            .get(route.binding.service)
            .cloned()
            .ok_or_else(|| RestError::new(Code::Unimplemented, "service not served"))?;
        let mut framed = BytesMut::with_capacity(message.len() + 5);
        framed.put_u8(0);
        framed.put_u32(u32::try_from(message.len()).map_err(|_| {
            RestError::new(
                Code::InvalidArgument,
                "request too large for one gRPC message",
            )
        })?);
        framed.put_slice(&message);
        let mut request = http::Request::builder()
            .method(Method::POST)
            .uri(format!(
                "/{}/{}",
                route.binding.service, route.binding.method
            ))
            .body(tonic::body::Body::new(Full::new(framed.freeze())))
            .map_err(|e| RestError::new(Code::Internal, e.to_string()))?;
        *request.headers_mut() = forwarded_headers(&parts.headers);
        *request.extensions_mut() = parts.extensions.clone();
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        request
            .headers_mut()
            .insert(header::TE, HeaderValue::from_static("trailers"));

        let response = match service.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let collected = body
            .collect()
            .await
            .map_err(|e| RestError::new(Code::Internal, format!("the service failed: {e}")))?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let data = collected.to_bytes();
        // A trailers-only answer carries the status in the headers.
        let status = grpc_status(&trailers).or_else(|| grpc_status(&parts.headers));
        match status {
            Some(status) if status.code != 0 => Err(RestError::from(status)),
            Some(_) => unframe(data),
            None => Err(RestError::new(
                Code::Internal,
                "the service answered without a grpc-status",
            )),
        }
    }
}

/// System parameters that stand for a header, and the header: given in the
/// query, each becomes its header when the request has none, so services,
/// authenticators and inspection routes see one form.
const PARAMETER_HEADERS: &[(&str, &str)] = &[
    ("access_token", "authorization"),
    ("key", "x-goog-api-key"),
    ("userProject", "x-goog-user-project"),
    ("quotaUser", "x-goog-quota-user"),
];

/// Runs before every route: the query's system parameters that stand for
/// headers become them, then the authenticator, if any, decides from the
/// headers alone.
async fn authenticate(
    axum::extract::State(authenticator): axum::extract::State<Option<Arc<dyn Authenticate>>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    parameters_as_headers(&mut request);
    if let Some(authenticator) = authenticator
        && let Err(status) = authenticator.authenticate(request.headers())
    {
        return error_response(server::is_grpc(request.headers()), status.into());
    }
    next.run(request).await
}

fn parameters_as_headers(request: &mut axum::extract::Request) {
    let Some(query) = request.uri().query() else {
        return;
    };
    let mut found = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if let Some(&(_, header)) = PARAMETER_HEADERS.iter().find(|(p, _)| *p == name) {
            let value = if header == "authorization" {
                format!("Bearer {value}")
            } else {
                value.into_owned()
            };
            found.push((header, value));
        }
    }
    for (header, value) in found {
        if !request.headers().contains_key(header)
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            request
                .headers_mut()
                .insert(http::HeaderName::from_static(header), value);
        }
    }
}

async fn handle(
    axum::extract::State(gateway): axum::extract::State<Arc<Gateway>>,
    mut request: axum::extract::Request,
) -> Response {
    let wire = if server::is_grpc(request.headers()) {
        if request.version() < http::Version::HTTP_2 {
            // Trailers cannot be sent: refuse before the service runs.
            return error_response(
                true,
                RestError::new(
                    Code::Unimplemented,
                    format!(
                        "gRPC needs HTTP/2; this call came over {:?} and was not run",
                        request.version()
                    ),
                ),
            );
        }
        None
    } else {
        match Wire::of(request.headers(), request.uri().query()) {
            Ok(mut wire) => {
                if let Some(types) = &gateway.types {
                    wire.json = wire.json.type_registry(types.clone());
                }
                Some(wire)
            }
            Err(error) => return error.into_response(),
        }
    };
    // What the service learns of its call and may ask of it, on either wire.
    let call = CallContext::new(match wire.as_ref().map(|w| w.body) {
        None => WireFormat::Grpc,
        Some(Encoding::Json) => WireFormat::Json,
        Some(Encoding::Proto) => WireFormat::Binary,
    });
    request.extensions_mut().insert(call.clone());
    let mut response = match wire {
        None => gateway.grpc(request).await,
        Some(wire) => {
            let answer = wire.answer;
            match gateway.clone().rest(request, wire).await {
                Ok(response) => response,
                Err(mut error) => {
                    if let Some(status) = call.http_status() {
                        error = error.with_http_status(status);
                    }
                    if answer == Encoding::Proto {
                        error.into_proto_response()
                    } else {
                        error.into_response()
                    }
                }
            }
        }
    };
    if call.garbled() {
        response = garbled(call.wire());
    }
    if let Some(abort) = call.aborted() {
        response.extensions_mut().insert(abort);
    }
    response
}

/// A successful answer whose body cannot be read on `wire`
/// ([`CallContext::garble`]): over gRPC a message frame that is no
/// protobuf, with status OK; over REST an HTTP 200 of broken JSON or
/// protobuf.
fn garbled(wire: WireFormat) -> Response {
    // A varint of eleven bytes: no protobuf reader takes it.
    const NOT_PROTOBUF: &[u8] = &[0xff; 11];
    let (content_type, body): (&str, AxumBody) = match wire {
        WireFormat::Json => ("application/json", AxumBody::from("{\"garbled")),
        WireFormat::Binary => (PROTO_CONTENT_TYPE, AxumBody::from(NOT_PROTOBUF)),
        WireFormat::Grpc => {
            let mut frame = vec![0];
            frame.extend_from_slice(&(NOT_PROTOBUF.len() as u32).to_be_bytes());
            frame.extend_from_slice(NOT_PROTOBUF);
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            (
                "application/grpc",
                AxumBody::new(FrameAndTrailers {
                    frame: Some(Bytes::from(frame)),
                    trailers: Some(trailers),
                }),
            )
        }
    };
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A body of one data frame, then trailers.
struct FrameAndTrailers {
    frame: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl http_body::Body for FrameAndTrailers {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let frame = match self.frame.take() {
            Some(data) => Some(http_body::Frame::data(data)),
            None => self.trailers.take().map(http_body::Frame::trailers),
        };
        std::task::Poll::Ready(frame.map(Ok))
    }
}

/// The request headers passed to the service as gRPC metadata: everything
/// but what describes the HTTP/1.1 or JSON transport.
fn forwarded_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let skip = matches!(
            name.as_str(),
            "host"
                | "connection"
                | "content-length"
                | "content-type"
                | "transfer-encoding"
                | "accept"
                | "accept-encoding"
                | "te"
                | "upgrade"
                | "keep-alive"
        ) || name.as_str().starts_with("grpc-");
        if !skip {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// The binary request message of a REST call to route `route`, for a tonic
/// server: read by the one rule of [`super::bindings::read_request`].
pub(super) fn assemble(
    route: &Route,
    path_values: &[String],
    query: &str,
    body: &[u8],
    encoding: Encoding,
    options: &ParseOptions,
) -> Result<Vec<u8>, RestError> {
    let body = body_of(route, body, encoding)?;
    let binding = &route.binding;
    (binding.encode_request)(&Incoming {
        binding,
        template: &route.template,
        body,
        path_values,
        query,
        options,
    })
    .map_err(|e| request_error(route, body, e))
}

/// The status of a gRPC answer from its headers or trailers.
fn grpc_status(headers: &HeaderMap) -> Option<Status> {
    let code: i32 = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(|m| {
            percent_encoding::percent_decode_str(m)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let details = headers
        .get("grpc-status-details-bin")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::json::codec::decode_base64(v).ok())
        .and_then(|bytes| <Status as prost::Message>::decode(bytes.as_slice()).ok())
        .map(|s| s.details)
        .unwrap_or_default();
    Some(Status {
        code,
        message,
        details,
        ..Default::default()
    })
}

/// The message of a unary gRPC answer body.
fn unframe(mut data: Bytes) -> Result<Vec<u8>, RestError> {
    let internal = |m: &str| RestError::new(Code::Internal, m.to_owned());
    if data.len() < 5 {
        return Err(internal("the service answered without a message"));
    }
    if data.get_u8() != 0 {
        return Err(internal("the service answered with a compressed message"));
    }
    let length = data.get_u32() as usize;
    if data.len() < length {
        return Err(internal("the service's answer is truncated"));
    }
    Ok(data.split_to(length).to_vec())
}
