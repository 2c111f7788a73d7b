//! Where the client's calls go: one trait over the three Service Control
//! methods, implemented by the gRPC clients, the REST clients (JSON or
//! binary protobuf over HTTP, as ESP calls it) and anything else of the same
//! shape.

use std::future::Future;
use std::pin::Pin;

use crate::google::api::servicecontrol::v1::{
    AllocateQuotaRequest, AllocateQuotaResponse, CheckRequest, CheckResponse, ReportRequest,
    ReportResponse,
};

/// A boxed future of one call.
pub type CallFuture<T> = Pin<Box<dyn Future<Output = Result<T, tonic::Status>> + Send>>;

/// Sends the three Service Control calls. Implementations must be cheap to
/// call from many tasks at once.
///
/// A closure from `ReportRequest` to a future of `ReportResponse` is a
/// transport that only reports (Check and AllocateQuota answer
/// FAILED_PRECONDITION, never a failure to fail open on), which is all a
/// [`Reporter`](super::Reporter) needs.
pub trait Transport: Send + Sync + 'static {
    /// Sends one `Check` call.
    fn check(&self, request: CheckRequest) -> CallFuture<CheckResponse> {
        let _ = request;
        unimplemented_call("check")
    }

    /// Sends one `AllocateQuota` call.
    fn allocate_quota(&self, request: AllocateQuotaRequest) -> CallFuture<AllocateQuotaResponse> {
        let _ = request;
        unimplemented_call("allocateQuota")
    }

    /// Sends one `Report` call.
    fn report(&self, request: ReportRequest) -> CallFuture<ReportResponse>;
}

fn unimplemented_call<T: Send + 'static>(method: &'static str) -> CallFuture<T> {
    Box::pin(async move {
        Err(tonic::Status::failed_precondition(format!(
            "this transport does not send {method}"
        )))
    })
}

impl<F, Fut> Transport for F
where
    F: Fn(ReportRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ReportResponse, tonic::Status>> + Send + 'static,
{
    fn report(&self, request: ReportRequest) -> CallFuture<ReportResponse> {
        Box::pin(self(request))
    }
}

type ControlClient =
    crate::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient<
        tonic::transport::Channel,
    >;
type QuotaClient =
    crate::google::api::servicecontrol::v1::quota_controller_client::QuotaControllerClient<
        tonic::transport::Channel,
    >;

/// The three calls over gRPC, on one channel.
///
/// ```no_run
/// use cloud_report_proto::client::GrpcTransport;
/// use tonic::transport::Channel;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let channel = Channel::from_static("http://127.0.0.1:8080").connect().await?;
/// let transport = GrpcTransport::new(channel);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct GrpcTransport {
    control: ControlClient,
    quota: QuotaClient,
}

impl GrpcTransport {
    /// The transport over a channel (TLS, interceptors and all, as the
    /// channel was built).
    pub fn new(channel: tonic::transport::Channel) -> Self {
        Self {
            control: ControlClient::new(channel.clone()),
            quota: QuotaClient::new(channel),
        }
    }
}

impl Transport for GrpcTransport {
    fn check(&self, request: CheckRequest) -> CallFuture<CheckResponse> {
        let mut client = self.control.clone();
        Box::pin(async move { client.check(request).await.map(tonic::Response::into_inner) })
    }

    fn allocate_quota(&self, request: AllocateQuotaRequest) -> CallFuture<AllocateQuotaResponse> {
        let mut client = self.quota.clone();
        Box::pin(async move {
            client
                .allocate_quota(request)
                .await
                .map(tonic::Response::into_inner)
        })
    }

    fn report(&self, request: ReportRequest) -> CallFuture<ReportResponse> {
        let mut client = self.control.clone();
        Box::pin(async move {
            client
                .report(request)
                .await
                .map(tonic::Response::into_inner)
        })
    }
}

/// The three calls over REST, as canonical JSON or, with
/// [`RestClientBuilder::binary`](crate::rest::RestClientBuilder::binary),
/// binary protobuf over HTTP the way ESP and ESPv2 call Service Control.
#[cfg(feature = "rest")]
#[derive(Clone, Debug)]
pub struct RestTransport {
    control: crate::google::api::servicecontrol::v1::ServiceControllerRestClient,
    quota: crate::google::api::servicecontrol::v1::QuotaControllerRestClient,
}

#[cfg(feature = "rest")]
impl RestTransport {
    /// The transport over a REST client.
    pub fn new(client: crate::rest::RestClient) -> Self {
        use crate::google::api::servicecontrol::v1::{
            QuotaControllerRestClient, ServiceControllerRestClient,
        };
        Self {
            control: ServiceControllerRestClient::new(client.clone()),
            quota: QuotaControllerRestClient::new(client),
        }
    }
}

#[cfg(feature = "rest")]
impl Transport for RestTransport {
    fn check(&self, request: CheckRequest) -> CallFuture<CheckResponse> {
        let client = self.control.clone();
        Box::pin(async move { client.check(request).await })
    }

    fn allocate_quota(&self, request: AllocateQuotaRequest) -> CallFuture<AllocateQuotaResponse> {
        let client = self.quota.clone();
        Box::pin(async move { client.allocate_quota(request).await })
    }

    fn report(&self, request: ReportRequest) -> CallFuture<ReportResponse> {
        let client = self.control.clone();
        Box::pin(async move { client.report(request).await })
    }
}
