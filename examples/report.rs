//! A Service Control report built in Rust, written on both of Google's
//! wires (binary protobuf for gRPC, canonical JSON for REST) and read back.
//!
//! ```sh
//! cargo run --example report
//! ```

use std::collections::BTreeMap;

use cloud_report_proto::google::api::servicecontrol::v1::{
    MetricValue, MetricValueSet, Operation, ReportRequest, metric_value,
};
use cloud_report_proto::json;
use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let request_count = MetricValue {
        labels: BTreeMap::from([("/response_code".to_owned(), "200".to_owned())]),
        value: Some(metric_value::Value::Int64Value(1)),
        ..Default::default()
    };
    let request = ReportRequest {
        service_name: "library.endpoints.my-project.cloud.goog".into(),
        operations: vec![Operation {
            operation_id: "5ba3f2ae-35c5-4a0a-8d86-7f1b2d61a1c4".into(),
            operation_name: "google.example.library.v1.LibraryService.GetBook".into(),
            consumer_id: "project:my-project".into(),
            start_time: Some("2014-10-02T15:01:23Z".parse()?),
            end_time: Some("2014-10-02T15:01:23.045123456Z".parse()?),
            metric_value_sets: vec![MetricValueSet {
                metric_name: "serviceruntime.googleapis.com/api/consumer/request_count".into(),
                metric_values: vec![request_count],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };

    // gRPC's body: binary protobuf.
    let binary = request.encode_to_vec();
    assert_eq!(ReportRequest::decode(binary.as_slice())?, request);
    println!("binary: {} bytes", binary.len());

    // REST's body: canonical proto3 JSON.
    let text = json::to_string_pretty(&request)?;
    assert_eq!(json::from_str::<ReportRequest>(&text)?, request);
    println!("JSON:\n{text}");
    Ok(())
}
