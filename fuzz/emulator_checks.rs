#![allow(dead_code)] // the fuzz target and the corpus replay each use part
//! What the `emulator` fuzz target checks, shared with `tests/fuzz_corpus.rs`:
//! the emulator's request validation, given any binary request of each of
//! its methods. It answers (OK or a clean error, never a panic), in work
//! bounded by the request (run the target with `-rss_limit_mb` to hold it to
//! a memory limit), keeps what it stored within its byte bound, and stores
//! only what both wires can carry: every stored operation and status writes
//! as canonical JSON.

use cloud_report_proto::emulator::{Config, Emulator};
use cloud_report_proto::google::api::servicecontrol::v1 as sc;
use cloud_report_proto::google::api::servicecontrol::v1::quota_controller_server::QuotaController;
use cloud_report_proto::google::api::servicecontrol::v1::service_controller_server::ServiceController;
use cloud_report_proto::google::cloud::apigee::v1 as apigee;
use cloud_report_proto::google::cloud::apigee::v1::runtime_service_server::RuntimeService;
use prost::Message;

// The runtime is its includer's (`fuzz/runtime.rs`, declared beside this
// file's module), so that a crate including several checks has one.
use super::runtime::runtime;

/// The byte bound of the emulator under test: small, so the bound is met.
const MAX_BYTES: usize = 256 << 10;

/// The first byte picks the method, the rest is its binary request.
pub fn emulator(data: &[u8]) {
    let Some((&method, body)) = data.split_first() else {
        return;
    };
    let mut config = Config::default();
    config.max_bytes = MAX_BYTES;
    let emulator = Emulator::new(config);
    runtime().block_on(async {
        match method % 4 {
            0 => {
                let Ok(request) = sc::ReportRequest::decode(body) else {
                    return;
                };
                let service = request.service_name.clone();
                let ids: Vec<String> = request
                    .operations
                    .iter()
                    .map(|o| o.operation_id.clone())
                    .collect();
                match emulator.report(tonic::Request::new(request)).await {
                    Ok(answer) => {
                        for error in &answer.get_ref().report_errors {
                            assert!(ids.contains(&error.operation_id), "{error:?}");
                        }
                    }
                    Err(status) => assert!(
                        matches!(
                            status.code(),
                            tonic::Code::InvalidArgument | tonic::Code::ResourceExhausted
                        ),
                        "{status:?}"
                    ),
                }
                for stored in emulator.operations(&service) {
                    if let Err(e) = cloud_report_proto::json::to_vec(&stored) {
                        panic!("stored an operation JSON cannot carry: {e}");
                    }
                }
            }
            1 => {
                let Ok(request) = apigee::ReportInstanceStatusRequest::decode(body) else {
                    return;
                };
                let instance = request.instance.clone();
                let _ = emulator
                    .report_instance_status(tonic::Request::new(request))
                    .await;
                for stored in emulator.statuses(&instance) {
                    if let Err(e) = cloud_report_proto::json::to_vec(&stored) {
                        panic!("stored a status JSON cannot carry: {e}");
                    }
                }
            }
            2 => {
                if let Ok(request) = sc::CheckRequest::decode(body) {
                    let _ = emulator.check(tonic::Request::new(request)).await;
                }
            }
            _ => {
                if let Ok(request) = sc::AllocateQuotaRequest::decode(body) {
                    let _ = emulator.allocate_quota(tonic::Request::new(request)).await;
                }
            }
        }
    });
    assert!(emulator.stored_bytes() <= MAX_BYTES);
}
