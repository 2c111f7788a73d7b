//! Reads a ReportRequest as JSON from stdin and prints how many operations
//! it holds and its binary size.
use cloud_report_proto::google::api::servicecontrol::v1::ReportRequest;
use prost::Message;

fn main() {
    let text = std::io::read_to_string(std::io::stdin()).expect("reads stdin");
    let request: ReportRequest = cloud_report_proto::json::from_str(&text).expect("a ReportRequest");
    println!("{} operations, {} bytes", request.operations.len(), request.encoded_len());
}
