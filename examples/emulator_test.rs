//! The emulator as a test uses it: started in this process on a free port
//! of 127.0.0.1, sent a first report from Rust over gRPC, and read back.
//! It stops by itself.
//!
//! ```sh
//! cargo run --example emulator_test --features emulator
//! ```
//!
//! In a test, the same lines go in a `#[tokio::test]` (docs/emulator.md).

use cloud_report_proto::emulator::{Config, Emulator};
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_client::ServiceControllerClient;
use cloud_report_proto::google::api::servicecontrol::v1::{Operation, ReportRequest};
use cloud_report_proto::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let running = Emulator::start(Config::default()).await?;
    println!("emulator on {}", running.url());

    let mut client = ServiceControllerClient::connect(running.url()).await?;
    let request = ReportRequest {
        service_name: "my-api.example.com".into(),
        operations: vec![Operation {
            operation_id: "op-1".into(),
            operation_name: "my.api.v1.Shelves.GetShelf".into(),
            start_time: Some("2014-10-02T15:01:23Z".parse()?),
            end_time: Some("2014-10-02T15:01:24Z".parse()?),
            ..Default::default()
        }],
        ..Default::default()
    };
    let answer = client.report(request).await?.into_inner();
    assert!(answer.report_errors.is_empty());

    // What it stored (over HTTP, the same is at
    // GET /emulator/v1/services/my-api.example.com/operations).
    let stored = running.emulator().operations("my-api.example.com");
    assert_eq!(stored.len(), 1);
    println!("stored: {}", json::to_string(&stored[0])?);

    running.shutdown().await;
    Ok(())
}
