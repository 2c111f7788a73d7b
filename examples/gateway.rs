//! A gateway's use of Service Control in production: for each call it
//! serves, the Check, the quota ask and the Report ESPv2 would send, built
//! from the service's configuration, through the client's caches, over gRPC
//! and TLS with application default credentials.
//!
//! ```sh
//! GOOGLE_APPLICATION_CREDENTIALS=key.json cargo run --example gateway \
//!     --features client,auth,native-roots,service-config -- \
//!     examples/service-config.yaml endpoints.examples.bookstore.Bookstore.GetShelf AIza...
//! ```
//!
//! `SERVICE_CONTROL_URL` points it elsewhere: the emulator, for one
//! (`tests/native_roots.rs` runs this file against it, over TLS, with a
//! service-account key the emulator trusts).

use std::future::Future;
use std::time::{Instant, SystemTime};

use cloud_report_proto::client::gateway::{CallInfo, Protocol, ReportInfo, RequestBuilder};
use cloud_report_proto::client::{CheckOptions, Client, GoogleCredentials, GrpcTransport};
use cloud_report_proto::google::rpc::Code;
use cloud_report_proto::service_config::ServiceConfig;

/// Google's Service Control.
pub const SERVICE_CONTROL: &str = "https://servicecontrol.googleapis.com";

/// A client of Service Control at `url` for the service `config` describes,
/// and the builder of the requests the gateway sends for each call.
pub async fn connect(
    url: &str,
    config: &ServiceConfig,
) -> Result<(Client, RequestBuilder), Box<dyn std::error::Error>> {
    let credentials = GoogleCredentials::application_default()?;
    let transport = GrpcTransport::builder(url)
        .native_roots()
        .tokens(credentials.token_source())
        .connect()
        .await?;
    let service = config.service();
    let client = Client::builder(service.name.clone())
        .service_config_id(service.id.clone())
        .check_options(CheckOptions::espv2())
        .service_config(config)
        .build(transport);
    let requests = RequestBuilder::from_service(service).agent("my-gateway", "my-gateway/1.0");
    Ok((client, requests))
}

/// One call: Check, then quota, then the backend (`backend` answers with an
/// HTTP status), then the Report. What the caller gets: the backend's
/// status, or the gateway's refusal.
pub async fn handle<F, Fut>(
    client: &Client,
    requests: &RequestBuilder,
    call: CallInfo,
    backend: F,
) -> Result<u16, tonic::Status>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = u16>,
{
    let started = Instant::now();
    // As ESPv2: a call with a key is checked; one without is refused unless
    // its method allows unregistered calls.
    let (mut report, mut refusal) = if !call.api_key.is_empty() {
        let checked = client
            .check(&requests.check_request(&call, SystemTime::now())?)
            .await;
        let refusal = match &checked {
            Ok(answer) => answer.denial(),
            Err(status) => Some(status.clone()),
        };
        (ReportInfo::checked(call, &checked), refusal)
    } else if requests.allows_unregistered_calls(&call.operation_name) {
        (ReportInfo::new(call), None)
    } else {
        let refusal = tonic::Status::unauthenticated("this method needs an API key");
        (ReportInfo::new(call), Some(refusal))
    };
    if refusal.is_none()
        && let Some(ask) = requests.quota_request(&report.call)?
    {
        refusal = match client.allocate_quota(&ask).await {
            Ok(answer) => answer.denial(),
            Err(status) => Some(status),
        };
    }
    report.frontend_protocol = Protocol::Https;
    report.response_code = match &refusal {
        None => backend().await,
        Some(status) => {
            report.status = Code::from_number(status.code() as i32);
            report.status_message = status.message().to_owned();
            report.status.http_status()
        }
    };
    report.request_time = Some(started.elapsed());
    for operation in requests.report_operations(&report, SystemTime::now())? {
        // Never waits; what cannot be held is counted and warned about.
        let _ = client.report(operation).await;
    }
    match refusal {
        None => Ok(report.response_code),
        Some(status) => Err(status),
    }
}

#[tokio::main]
#[allow(dead_code)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(config), Some(method)) = (args.next(), args.next()) else {
        return Err("usage: gateway SERVICE_CONFIG.yaml METHOD [API_KEY]".into());
    };
    let config = ServiceConfig::from_yaml(&std::fs::read_to_string(config)?)?;
    let url = std::env::var("SERVICE_CONTROL_URL").unwrap_or_else(|_| SERVICE_CONTROL.into());
    let (client, requests) = connect(&url, &config).await?;
    let mut call = CallInfo::new(format!("{:032x}", fastrand::u128(..)), method);
    call.api_key = args.next().unwrap_or_default();
    match handle(&client, &requests, call, || async { 200 }).await {
        Ok(status) => println!("let through; the backend answered {status}"),
        Err(status) => println!("refused: {status}"),
    }
    let statistics = client.shutdown().await;
    println!("{statistics:?}");
    Ok(())
}
