//! Reads a ReportRequest as JSON from stdin and prints how many operations
//! it holds.
use google_cloud_api_servicecontrol_v1::model::ReportRequest;

fn main() {
    let text = std::io::read_to_string(std::io::stdin()).expect("reads stdin");
    let request: ReportRequest = serde_json::from_str(&text).expect("a ReportRequest");
    println!("{} operations", request.operations.len());
}
