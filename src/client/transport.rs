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

    /// What the transport's token source did, when it has one (the
    /// client's [`Statistics::token`](super::Statistics::token)).
    fn token_statistics(&self) -> Option<TokenStatistics> {
        None
    }
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

use crate::token::{TokenSource, TokenStatistics};

/// The three calls over gRPC, on one channel: plain for `http://`, TLS
/// (rustls with ring, Mozilla's roots plus any added, and the platform's
/// when asked) for `https://`, with a
/// bearer token from a source when one is given.
///
/// ```no_run
/// use cloud_report_proto::client::GrpcTransport;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = GrpcTransport::builder("https://servicecontrol.googleapis.com")
///     .token_source(|| async { Ok::<_, String>("ya29.token".to_owned()) })
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GrpcTransport {
    control: ControlClient,
    quota: QuotaClient,
    token: Option<TokenSource>,
}

impl std::fmt::Debug for GrpcTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTransport")
            .field("token", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

/// Settings of a [`GrpcTransport`].
#[must_use]
pub struct GrpcTransportBuilder {
    url: String,
    reach: crate::reach::Reach,
}

impl std::fmt::Debug for GrpcTransportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTransportBuilder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl GrpcTransportBuilder {
    crate::reach::reach_setters!(
        connecting: "Connecting",
        without_token: "Check and AllocateQuota never wait for a token, and fail at once with INTERNAL, not made, while there is none."
    );

    /// Points the transport at the emulator when Google's endpoint was
    /// given and its variable is set ([`crate::emulator_env`]): plain
    /// text, no token.
    fn honour_emulator(mut self) -> Self {
        let (url, emulated) = crate::emulator_env::resolve(&self.url);
        if emulated {
            self.url = url;
            self.reach.token = None;
        }
        self
    }

    fn endpoint(&self) -> Result<tonic::transport::Endpoint, tonic::transport::Error> {
        let mut endpoint = tonic::transport::Endpoint::from_shared(self.url.clone())?
            .connect_timeout(self.reach.connect_timeout)
            .user_agent(concat!("cloud-report-proto/", env!("CARGO_PKG_VERSION")))?;
        if self.url.starts_with("https://") {
            let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
            if self.reach.native_roots {
                #[cfg(feature = "native-roots")]
                {
                    tls = tls.with_native_roots();
                }
            }
            for pem in &self.reach.roots {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls)?;
        }
        Ok(endpoint)
    }

    fn with(self, channel: tonic::transport::Channel) -> GrpcTransport {
        GrpcTransport {
            control: ControlClient::new(channel.clone()),
            quota: QuotaClient::new(channel),
            token: self.reach.token,
        }
    }

    /// Connects now, and waits for the token source's first token within
    /// the connect timeout, as a gateway starts serving with a token at
    /// hand (ESPv2 waits for its first token before it listens). A source
    /// with no token by then is logged, not fatal: Check and AllocateQuota
    /// are refused until it gives one.
    ///
    /// # Errors
    ///
    /// An invalid URL or TLS setting, or a failed connection.
    pub async fn connect(self) -> Result<GrpcTransport, tonic::transport::Error> {
        let this = self.honour_emulator();
        let channel = this.endpoint()?.connect().await?;
        if let Some(source) = &this.reach.token
            && let Err(error) = source.ready(this.reach.connect_timeout).await
        {
            tracing::warn!(%error, "no access token yet: Check and AllocateQuota are refused until there is one");
        }
        Ok(this.with(channel))
    }

    /// Connects on the first call (and again whenever the connection is
    /// lost); the token source's first token is fetched from the first call
    /// on, not waited for.
    ///
    /// # Errors
    ///
    /// An invalid URL or TLS setting.
    pub fn connect_lazy(self) -> Result<GrpcTransport, tonic::transport::Error> {
        let this = self.honour_emulator();
        let channel = this.endpoint()?.connect_lazy();
        Ok(this.with(channel))
    }
}

impl GrpcTransport {
    /// Settings for a transport to `url`, such as
    /// `https://servicecontrol.googleapis.com` (the emulator's instead, in
    /// plain text and without a token, when that is the URL and
    /// `SERVICE_CONTROL_EMULATOR_HOST` is set: [`crate::emulator_env`]).
    pub fn builder(url: impl Into<String>) -> GrpcTransportBuilder {
        GrpcTransportBuilder {
            url: url.into(),
            reach: crate::reach::Reach::default(),
        }
    }

    /// The transport over a channel built elsewhere (TLS, interceptors and
    /// all, as the channel was built).
    pub fn new(channel: tonic::transport::Channel) -> Self {
        Self {
            control: ControlClient::new(channel.clone()),
            quota: QuotaClient::new(channel),
            token: None,
        }
    }

    /// The request with the bearer token, when there is a source: the
    /// token at hand for a call that must not wait (`now`), else the one
    /// the source has or is fetching.
    async fn request<T>(
        token: Option<TokenSource>,
        now: bool,
        message: T,
    ) -> Result<tonic::Request<T>, tonic::Status> {
        let mut request = tonic::Request::new(message);
        if let Some(source) = token {
            let value = if now {
                source.authorization_now()?
            } else {
                source.authorization().await?
            };
            let value = tonic::metadata::MetadataValue::try_from(value.as_bytes())
                .map_err(|_| tonic::Status::internal("the token is not a header value"))?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }

    /// A call's answer: a token refused starts a refresh; an answer that
    /// cannot be decoded is settled (INTERNAL, never tried again).
    fn answer<T>(
        token: Option<&TokenSource>,
        result: Result<tonic::Response<T>, tonic::Status>,
    ) -> Result<T, tonic::Status> {
        result.map(tonic::Response::into_inner).map_err(|status| {
            if status.code() == tonic::Code::Unauthenticated
                && let Some(source) = token
            {
                source.refused();
            }
            // prost's DecodeError, as tonic-prost's codec reports it.
            if status.code() == tonic::Code::Internal
                && status
                    .message()
                    .starts_with("failed to decode Protobuf message")
            {
                return crate::failure::settled(
                    tonic::Code::Internal,
                    format!("cannot read the answer: {}", status.message()),
                    crate::failure::Settled::Unreadable,
                );
            }
            status
        })
    }
}

impl Transport for GrpcTransport {
    fn check(&self, request: CheckRequest) -> CallFuture<CheckResponse> {
        let (mut client, token) = (self.control.clone(), self.token.clone());
        Box::pin(async move {
            let request = Self::request(token.clone(), true, request).await?;
            Self::answer(token.as_ref(), client.check(request).await)
        })
    }

    fn allocate_quota(&self, request: AllocateQuotaRequest) -> CallFuture<AllocateQuotaResponse> {
        let (mut client, token) = (self.quota.clone(), self.token.clone());
        Box::pin(async move {
            let request = Self::request(token.clone(), true, request).await?;
            Self::answer(token.as_ref(), client.allocate_quota(request).await)
        })
    }

    fn report(&self, request: ReportRequest) -> CallFuture<ReportResponse> {
        let (mut client, token) = (self.control.clone(), self.token.clone());
        Box::pin(async move {
            let request = Self::request(token.clone(), false, request).await?;
            Self::answer(token.as_ref(), client.report(request).await)
        })
    }

    fn token_statistics(&self) -> Option<TokenStatistics> {
        self.token.as_ref().map(TokenSource::statistics)
    }
}

/// The three calls over REST, as canonical JSON or, with
/// [`RestClientBuilder::binary`](crate::rest::RestClientBuilder::binary),
/// binary protobuf over HTTP the way ESP and ESPv2 call Service Control.
/// Check and AllocateQuota take the client's token at hand, never waiting
/// for one; reports wait for the fetch under way.
#[cfg(feature = "rest-client")]
#[derive(Clone, Debug)]
pub struct RestTransport {
    control: crate::google::api::servicecontrol::v1::ServiceControllerRestClient,
    reports: crate::google::api::servicecontrol::v1::ServiceControllerRestClient,
    quota: crate::google::api::servicecontrol::v1::QuotaControllerRestClient,
    token: Option<TokenSource>,
}

#[cfg(feature = "rest-client")]
impl RestTransport {
    /// The transport over a REST client.
    pub fn new(client: crate::rest::RestClient) -> Self {
        use crate::google::api::servicecontrol::v1::{
            QuotaControllerRestClient, ServiceControllerRestClient,
        };
        let now = client.token_now();
        Self {
            control: ServiceControllerRestClient::new(now.clone()),
            quota: QuotaControllerRestClient::new(now),
            token: client.tokens_of().cloned(),
            reports: ServiceControllerRestClient::new(client),
        }
    }
}

#[cfg(feature = "rest-client")]
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
        let client = self.reports.clone();
        Box::pin(async move { client.report(request).await })
    }

    fn token_statistics(&self) -> Option<TokenStatistics> {
        self.token.as_ref().map(TokenSource::statistics)
    }
}
