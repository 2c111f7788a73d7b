//! REST (HTTP/JSON) for the crate's services, driven by each method's
//! `google.api.http` binding ([`bindings`]).
//!
//! With `rest-client`, [`RestClient`] calls them (JSON or binary protobuf),
//! and each service package has a `...RestClient` of typed methods. With
//! `rest`, `Gateway` serves service implementations over REST as well as gRPC, on
//! one port: a REST request is matched against the bindings' path templates,
//! its request message is assembled from the JSON body, the path variables
//! and the query parameters, and it is handed to the implementation; the
//! answer, or the error status with its details, comes back as canonical JSON
//! or as Google's error form. Requests with a gRPC content type go to the
//! services untouched. Nothing is written per method: the bindings are read
//! from the descriptors at build time.
//!
//! An implementation added with `Gateway::add_rest_service` and its
//! generated `<Service>RestServer` (`ServiceControllerRestServer`,
//! `QuotaControllerRestServer`, `RuntimeServiceRestServer`,
//! `DeploymentServiceRestServer`, each a [`RestService`]) gets REST requests
//! as typed messages, read by the JSON engine; a tonic server added with `Gateway::add_service` (any
//! of them, the crate's or others') gets them as an in-process gRPC call,
//! through the binary encoding.
//!
//! ```no_run
//! # #[cfg(feature = "rest")] mod gateway {
//! use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::ServiceController;
//! use cloud_report_proto::rest::{BearerToken, Gateway, Limits, Server};
//! # use cloud_report_proto::google::api::servicecontrol::v1::*;
//! # #[derive(Clone)] struct MyService;
//! # #[tonic::async_trait] impl ServiceController for MyService {
//! #   async fn check(&self, _: tonic::Request<CheckRequest>) -> Result<tonic::Response<CheckResponse>, tonic::Status> { todo!() }
//! #   async fn report(&self, _: tonic::Request<ReportRequest>) -> Result<tonic::Response<ReportResponse>, tonic::Status> { todo!() }
//! # }
//! # async fn run() -> std::io::Result<()> {
//! let router = Gateway::new()
//!     .add_rest_service(ServiceControllerRestServer::new(MyService))
//!     .authenticate(BearerToken::new("s3cret"))
//!     .into_router();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // POST /v1/services/{service_name}:report with JSON, or gRPC, on one port,
//! // with timeouts and caps on connections and request bodies.
//! Server::new(router).limits(Limits::default()).serve(listener).await
//! # }
//! # }
//! ```
//!
//! `Authenticate` decides from the headers, before any body byte is read;
//! `Server` holds every connection to `Limits`.

mod bindings;
mod client;
mod error;
mod message;
mod template;
pub(crate) mod tls;

#[cfg(feature = "rest")]
mod auth;
#[cfg(feature = "rest")]
mod call;
#[cfg(feature = "rest")]
pub(crate) mod dispatch;
#[cfg(feature = "rest")]
mod fields;
#[cfg(feature = "rest")]
mod gateway;
#[cfg(feature = "rest")]
mod grpc;
#[cfg(feature = "rest")]
mod route;
#[cfg(feature = "rest")]
mod server;

pub(crate) use bindings::BINDINGS;
#[cfg(feature = "rest")]
pub(crate) use bindings::encode_request;
pub use bindings::{Binding, PROTO_CONTENT_TYPE, bindings};
pub use client::{ClientError, RestClient, RestClientBuilder};
pub use error::RestError;
#[cfg(feature = "emulator")]
pub(crate) use error::clip;
pub use message::RequestMessage;
pub(crate) use message::{FieldError, path_text, read_text, write_text};
pub use template::{BindingError, PathTemplate, TemplateError};
pub use tls::{TlsError, TlsIdentity};

#[cfg(feature = "emulator")]
pub(crate) use auth::missing_credential;
#[cfg(feature = "rest")]
pub use auth::{Authenticate, BearerToken, bearer};
#[cfg(feature = "rest")]
pub use call::{Abort, CallContext, WireFormat};
#[cfg(feature = "rest")]
pub use dispatch::RestService;
#[cfg(feature = "rest")]
pub use gateway::Gateway;
#[cfg(feature = "rest")]
pub use server::{Limits, Server};
