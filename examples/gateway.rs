//! A gateway's use of Service Control in production: for each call it
//! serves, what ESPv2 does (the plan its configuration gives the method,
//! then Check, quota, the backend and the Report), built from the service's
//! configuration, through the client's caches, over gRPC and TLS with
//! application default credentials.
//!
//! ```sh
//! GOOGLE_APPLICATION_CREDENTIALS=key.json cargo run --example gateway \
//!     --features client,auth,service-config,native-roots -- \
//!     examples/service-config.yaml endpoints.examples.bookstore.Bookstore.GetShelf AIza...
//! ```
//!
//! `SERVICE_CONTROL_URL` points it elsewhere: the emulator, for one
//! (`tests/native_roots.rs` runs this file against it, over TLS, with a
//! service-account key the emulator trusts).

use std::future::Future;
use std::time::{Duration, SystemTime};

use cloud_report_proto::client::gateway::{
    CallInfo, CallPlan, CallReport, Protocol, ReportInfo, RequestBuilder,
};
use cloud_report_proto::client::{
    CheckOptions, Client, GoogleCredentials, GrpcTransport, Status, caller_status,
};
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
    println!("credentials: {}", credentials.source());
    // Tokens are refreshed in the background; `connect` waits for the first.
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

/// One call, as ESPv2 serves it: what the caller gets is the backend's HTTP
/// status, or the gateway's refusal. The call is reported whatever happens,
/// even when this future is dropped before it ends.
pub async fn handle<F, Fut>(
    client: &Client,
    requests: &RequestBuilder,
    call: CallInfo,
    backend: F,
) -> Result<u16, Status>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = u16>,
{
    let plan = requests.plan(&call);
    if matches!(plan, CallPlan::Skip) {
        return Ok(backend().await);
    }
    // Sent when dropped: at the end, or wherever this future is dropped.
    let mut report = CallReport::new(client, requests, ReportInfo::new(call));
    report.info().frontend_protocol = Protocol::Https;
    // Check and quota: the refusal, if any; an error of the gateway's own
    // (a call it cannot build, a client shut down) refuses too.
    let decided = async {
        let mut refusal = match plan {
            CallPlan::Refuse(status) => Some(status),
            CallPlan::Check => {
                let check = requests.check_request(&report.peek().call, SystemTime::now())?;
                let answer = client.check(&check).await?;
                // What Check said of the key and the consumer, for the Report.
                report.info().record_check(&answer);
                // ESPv2's codes for Service Control's errors; INTERNAL or
                // UNAVAILABLE for the gateway's own failures.
                answer.denial()
            }
            _ => None,
        };
        if refusal.is_none()
            && let Some(ask) = requests.quota_request(&report.peek().call)?
        {
            // At once: costs are added up, and a denied key never waits.
            refusal = client.allocate_quota(&ask).await?.denial();
        }
        Ok::<_, Status>(refusal)
    };
    match decided
        .await
        .unwrap_or_else(|error| Some(caller_status(&error)))
    {
        None => {
            let status = backend().await;
            report.info().response_code = status;
            Ok(status)
        }
        Some(status) => {
            report.info().refused_with(&status);
            Err(status)
        }
    }
}

/// Service Control's address: `SERVICE_CONTROL_URL` (the emulator's, in a
/// test), else Google's.
pub fn service_control_url() -> String {
    std::env::var("SERVICE_CONTROL_URL").unwrap_or_else(|_| SERVICE_CONTROL.into())
}

#[tokio::main]
#[allow(dead_code)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(config), Some(method)) = (args.next(), args.next()) else {
        return Err("usage: gateway SERVICE_CONFIG.yaml METHOD [API_KEY]".into());
    };
    let config = ServiceConfig::from_yaml(&std::fs::read_to_string(config)?)?;
    let (client, requests) = connect(&service_control_url(), &config).await?;
    let mut call = CallInfo::new(format!("{:032x}", fastrand::u128(..)), method);
    call.api_key = args.next().unwrap_or_default();
    match handle(&client, &requests, call, || async { 200 }).await {
        Ok(status) => println!("let through; the backend answered {status}"),
        Err(status) => println!("refused: {status}"),
    }
    let statistics = client.shutdown_within(Duration::from_secs(10)).await;
    println!("{statistics:?}");
    Ok(())
}
