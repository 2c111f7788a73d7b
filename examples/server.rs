//! A Service Control server of your own, over gRPC: the generated
//! `ServiceController` trait implemented and served with tonic's server
//! (tonic in your own dependencies, with its default features). It allows
//! every Check and prints every Report.
//!
//! ```sh
//! cargo run --example server
//! grpcurl -plaintext -import-path proto -proto google/api/servicecontrol/v1/service_controller.proto \
//!   -d '{"serviceName": "my-api.example.com", "operations": [{"operationId": "op-1"}]}' \
//!   127.0.0.1:50051 google.api.servicecontrol.v1.ServiceController/Report
//! ```
//!
//! To serve REST too, on the same port, give the implementation to
//! `rest::Gateway` (feature `rest`; docs/rest.md).

use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::{
    ServiceController, ServiceControllerServer,
};
use cloud_report_proto::google::api::servicecontrol::v1::{
    CheckRequest, CheckResponse, ReportRequest, ReportResponse,
};
use cloud_report_proto::json;
use tonic::{Request, Response, Status};

struct Printer;

#[tonic::async_trait]
impl ServiceController for Printer {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let operation = request.into_inner().operation.unwrap_or_default();
        Ok(Response::new(CheckResponse {
            operation_id: operation.operation_id,
            ..Default::default()
        }))
    }

    async fn report(
        &self,
        request: Request<ReportRequest>,
    ) -> Result<Response<ReportResponse>, Status> {
        let request = request.into_inner();
        let text = json::to_string(&request).map_err(|e| Status::internal(e.to_string()))?;
        println!("{text}");
        Ok(Response::new(ReportResponse::default()))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = "127.0.0.1:50051".parse()?;
    println!("serving Service Control on {address}");
    tonic::transport::Server::builder()
        .add_service(ServiceControllerServer::new(Printer))
        .serve(address)
        .await?;
    Ok(())
}
