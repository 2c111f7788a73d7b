//! REST calls handed to a service implementation with their typed messages.
//!
//! A service added with `Gateway::add_service` (a tonic server) is called
//! through gRPC's encoding: the REST request becomes a binary message that
//! tonic decodes again. A service added with `Gateway::add_rest_service`
//! (its generated `<Service>RestServer`, a [`RestService`]) is also called
//! straight: the JSON (or binary) body is read into the request type and the
//! implementation's method is called with it. The generated code
//! (`build/codegen/rest.rs`) matches the method name to the typed call;
//! everything else, the same for every method, is here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use prost::Message;

use super::bindings::{Incoming, read_request};
use super::error::RestError;
use super::error::grpc_status_of;
use super::message::RequestMessage;
use super::route::{
    Encoding, PARSE_ON_POOL_BYTES, Reading, body_of, message_too_large, request_error,
};
use crate::google::rpc::Code;
use crate::json::{JsonError, ReadJson, WriteJson, WriteOptions};

/// What a typed call answers.
pub(crate) type Reply<'a> = Pin<Box<dyn Future<Output = Result<Answer, RestError>> + Send + 'a>>;

/// A service's answer: the typed response of a typed call, written straight
/// in the answer's encoding, or the binary encoding a gRPC call gave.
pub enum Answer {
    /// The response message of a typed call.
    Typed(Box<dyn TypedAnswer>),
    /// The response's binary encoding.
    Binary(Vec<u8>),
}

/// A response message, written as JSON or binary protobuf.
pub trait TypedAnswer: Send {
    /// The JSON form, as `options` say (a fields mask among them).
    fn to_json(&self, options: &WriteOptions) -> Result<Vec<u8>, JsonError>;
    /// The binary encoding.
    fn to_binary(&self) -> Vec<u8>;
}

impl<R: Message + WriteJson> TypedAnswer for R {
    fn to_json(&self, options: &WriteOptions) -> Result<Vec<u8>, JsonError> {
        crate::json::to_vec_with(self, options)
    }

    fn to_binary(&self) -> Vec<u8> {
        self.encode_to_vec()
    }
}

/// A service implementation the gateway calls with the typed messages of
/// REST requests, beside its tonic server for gRPC: the generated
/// `<Service>RestServer` of each service of the crate
/// (`ServiceControllerRestServer`, `QuotaControllerRestServer`,
/// `RuntimeServiceRestServer`, `DeploymentServiceRestServer`). Give one to
/// [`Gateway::add_rest_service`](super::Gateway::add_rest_service). Sealed in effect: its methods take the
/// gateway's internal types.
pub trait RestService: Send + Sync + 'static {
    /// The implementation's tonic server, for gRPC calls.
    type Server: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static;

    /// The tonic server of the same implementation.
    #[doc(hidden)]
    fn grpc_server(&self) -> Self::Server;

    /// Calls `method` (its gRPC name, such as `Report`) with `call`.
    #[doc(hidden)]
    fn call(&self, method: &'static str, call: TypedCall) -> Reply<'_>;
}

/// A service implementation, called by method name with a REST request:
/// what the gateway keeps of a [`RestService`].
pub(super) trait Dispatch: Send + Sync {
    /// Calls `method` (its gRPC name, such as `Report`) with `call`.
    fn call(&self, method: &'static str, call: TypedCall) -> Reply<'_>;
}

impl<S: RestService> Dispatch for S {
    fn call(&self, method: &'static str, call: TypedCall) -> Reply<'_> {
        RestService::call(self, method, call)
    }
}

/// One REST request bound for a typed call: its body and what the route
/// bound from the path and query.
#[derive(Clone)]
pub struct TypedCall {
    /// The gateway's routes and settings, and the index of the call's route.
    pub(super) reading: Arc<Reading>,
    pub(super) route: usize,
    pub(super) values: Vec<String>,
    pub(super) query: String,
    pub(super) body: Bytes,
    pub(super) encoding: Encoding,
    pub(super) headers: HeaderMap,
    /// The request's extensions (its [`CallContext`](super::CallContext)).
    pub(super) extensions: http::Extensions,
}

impl TypedCall {
    /// The request message: the body read as `M`, the path and query
    /// parameters bound on it (the one rule of `read_request`, which the
    /// gateway also encodes for a tonic server), and the caller's headers
    /// as metadata. A large body is read on the blocking pool, where it holds
    /// up no other request.
    pub(crate) async fn request<M>(&self) -> Result<tonic::Request<M>, RestError>
    where
        M: RequestMessage + ReadJson + Send + 'static,
    {
        let message = if self.body.len() > PARSE_ON_POOL_BYTES {
            let call = self.clone();
            tokio::task::spawn_blocking(move || call.read::<M>())
                .await
                .map_err(|e| RestError::new(Code::Internal, format!("parsing failed: {e}")))??
        } else {
            self.read::<M>()?
        };
        Ok(tonic::Request::from_parts(
            tonic::metadata::MetadataMap::from_headers(self.headers.clone()),
            self.extensions.clone(),
            message,
        ))
    }

    /// The request message as its binary encoding, for an implementation
    /// that reads requests where their bytes are: a binary body as it came,
    /// with the fields the path binds encoded after it (a later value of a
    /// field replaces the earlier, as [`request`](Self::request) sets
    /// them); a JSON body read by [`request`](Self::request) and encoded.
    /// A binary body is not checked here: the implementation's decoding
    /// says what is wrong with it.
    #[cfg(feature = "emulator")]
    pub(crate) async fn request_encoded<M>(&self) -> Result<tonic::Request<Bytes>, RestError>
    where
        M: RequestMessage + ReadJson + Send + 'static,
    {
        let route = &self.reading.routes[self.route];
        let bytes = match body_of(route, &self.body, self.encoding)? {
            // A binary body is one of a binding whose body is every field
            // ("*"): the query binds none, and the path's values are fields
            // of one value each.
            Some((binary, true)) => {
                let mut bound = M::default();
                route
                    .binding
                    .bind(&route.template, &mut bound, &self.values, &self.query)
                    .map_err(|e| {
                        request_error(route, None, super::bindings::RequestError::Parameters(e))
                    })?;
                let size = binary.len() + bound.encoded_len();
                if size > self.reading.max_message_bytes {
                    return Err(message_too_large(size, self.reading.max_message_bytes));
                }
                let mut out = bytes::BytesMut::with_capacity(size);
                out.extend_from_slice(binary);
                bound
                    .encode(&mut out)
                    .map_err(|e| RestError::new(Code::Internal, e.to_string()))?;
                out.freeze()
            }
            _ => {
                let request = self.request::<M>().await?;
                return Ok(request.map(|message| Bytes::from(message.encode_to_vec())));
            }
        };
        Ok(tonic::Request::from_parts(
            tonic::metadata::MetadataMap::from_headers(self.headers.clone()),
            self.extensions.clone(),
            bytes,
        ))
    }

    fn read<M: RequestMessage + ReadJson>(&self) -> Result<M, RestError> {
        let route = &self.reading.routes[self.route];
        let body = body_of(route, &self.body, self.encoding)?;
        let message = read_request::<M>(&Incoming {
            binding: &route.binding,
            template: &route.template,
            body,
            path_values: &self.values,
            query: &self.query,
            options: &self.reading.parse,
        })
        .map_err(|e| request_error(route, body, e))?;
        let size = message.encoded_len();
        if size > self.reading.max_message_bytes {
            return Err(message_too_large(size, self.reading.max_message_bytes));
        }
        Ok(message)
    }

    /// The answer of the call: the typed response, or the error the status
    /// stands for.
    pub(crate) fn reply<R: Message + WriteJson + 'static>(
        &self,
        result: Result<tonic::Response<R>, tonic::Status>,
    ) -> Result<Answer, RestError> {
        match result {
            Ok(response) => Ok(Answer::Typed(Box::new(response.into_inner()))),
            Err(status) => Err(RestError::from(grpc_status_of(&status))),
        }
    }

    /// The error for a method the dispatch does not bind.
    pub(crate) fn unbound(&self, method: &str) -> RestError {
        RestError::new(
            Code::Unimplemented,
            format!("method {method} is not served over REST"),
        )
    }
}
