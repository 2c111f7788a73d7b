//! The Apigee services: `RuntimeService.ReportInstanceStatus` (the newest
//! status of each instance uid kept) and the deployment change reports of
//! `DeploymentService`, computed from the state (see `deployments`).

use bytes::Bytes;
use prost::Message;
use tonic::{Request, Response};

use super::answers::{exhausted, invalid};
use super::deployments::{Deployment, DeploymentState, Organization};
use super::encoded::time_of;
use super::shared::Emulator;
use super::store::{ITEM_OVERHEAD, Live, StoredStatus};
use crate::google::cloud::apigee::v1 as apigee;
use crate::google::cloud::apigee::v1::deployment_service_server::DeploymentService;
use crate::google::cloud::apigee::v1::runtime_service_server::RuntimeService;
use crate::google::rpc::{Code, Status};
use crate::rest::{Binding, clip};

#[tonic::async_trait]
impl RuntimeService for Emulator {
    async fn report_instance_status(
        &self,
        request: Request<apigee::ReportInstanceStatusRequest>,
    ) -> Result<Response<apigee::ReportInstanceStatusResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let (_, _, logged) = self.receive(
            super::faults::Method::ReportInstanceStatus,
            super::requests::APIGEE_SERVICE,
            &request,
        );
        let answer = self
            .keep_status(request.into_inner())
            .map(|()| Response::new(apigee::ReportInstanceStatusResponse::default()));
        logged.answered(&answer);
        answer
    }
}

impl Emulator {
    /// Judges a status report and keeps it when it is the newest of its
    /// instance uid (an older one is answered OK and not kept).
    pub(super) fn keep_status(
        &self,
        request: apigee::ReportInstanceStatusRequest,
    ) -> Result<(), tonic::Status> {
        // The instance must fit the method's own path template.
        let fits = Binding::find(
            "google.cloud.apigee.v1.RuntimeService",
            "ReportInstanceStatus",
        )
        .and_then(|b| b.path_template().ok())
        .is_some_and(|t| t.expand(&[request.instance.as_str()]).is_ok());
        if !fits {
            return Err(invalid(format!(
                "instance \"{}\" is not of the form organizations/{{org}}/instances/{{instance}}",
                clip(&request.instance)
            )));
        }
        let Some(time) = time_of(request.report_time.as_ref()) else {
            return Err(invalid("report_time is required"));
        };
        if let Err(e) = crate::json::to_vec(&request) {
            return Err(invalid(format!(
                "the report cannot be written as JSON: {e}"
            )));
        }
        let encoded = Bytes::from(request.encode_to_vec());
        let cost = status_cost(&request.instance, &request.instance_uid, encoded.len());
        let mut state = self.state();
        let key = (request.instance, request.instance_uid);
        let replaced = match state.statuses.get(&key) {
            // An older report never replaces a newer one; it is still OK.
            Some(current) if current.time >= time => return Ok(()),
            Some(current) => status_cost(&key.0, &key.1, current.encoded.len()),
            None if state.statuses.len() >= self.config.max_statuses => {
                return Err(exhausted(format!(
                    "the emulator stores at most {} instance statuses",
                    self.config.max_statuses
                )));
            }
            None => 0,
        };
        if state.bytes - replaced + cost > self.config.max_bytes {
            return Err(exhausted(format!(
                "the emulator stores at most {} bytes; this status would exceed it",
                self.config.max_bytes
            )));
        }
        state.bytes = state.bytes - replaced + cost;
        state.statuses.insert(key, StoredStatus { time, encoded });
        Ok(())
    }
}

impl Emulator {
    /// The organization and deployment a change-report request names.
    fn deployment_target<'a>(
        live: &'a Live,
        name: &str,
    ) -> Result<(&'a Organization, Deployment), tonic::Status> {
        let target = DeploymentState::target(name).ok_or_else(|| {
            invalid(format!(
                "name \"{}\" is not of the form organizations/{{org}}/environments/{{env}}/apis/{{api}}/revisions/{{rev}}",
                clip(name)
            ))
        })?;
        let org = live
            .deployments
            .organizations
            .get(target.org)
            .ok_or_else(|| {
                tonic::Status::from(Status::new(
                    Code::NotFound,
                    format!("organization {} does not exist", clip(target.org)),
                ))
            })?;
        Ok((org, target.deployment))
    }
}

#[tonic::async_trait]
impl DeploymentService for Emulator {
    async fn generate_deploy_change_report(
        &self,
        request: Request<apigee::GenerateDeployChangeReportRequest>,
    ) -> Result<Response<apigee::DeploymentChangeReport>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let (_, _, logged) = self.receive(
            super::faults::Method::GenerateDeployChangeReport,
            super::requests::APIGEE_SERVICE,
            &request,
        );
        let answer = self.deploy_change_report(request);
        logged.answered(&answer);
        answer
    }

    async fn generate_undeploy_change_report(
        &self,
        request: Request<apigee::GenerateUndeployChangeReportRequest>,
    ) -> Result<Response<apigee::DeploymentChangeReport>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let (_, _, logged) = self.receive(
            super::faults::Method::GenerateUndeployChangeReport,
            super::requests::APIGEE_SERVICE,
            &request,
        );
        let answer = self.undeploy_change_report(request);
        logged.answered(&answer);
        answer
    }
}

impl Emulator {
    fn deploy_change_report(
        &self,
        request: Request<apigee::GenerateDeployChangeReportRequest>,
    ) -> Result<Response<apigee::DeploymentChangeReport>, tonic::Status> {
        let request = request.into_inner();
        let live = self.live();
        let (org, target) = Self::deployment_target(&live, &request.name)?;
        Ok(Response::new(
            org.deploy_report(&target, request.r#override),
        ))
    }

    fn undeploy_change_report(
        &self,
        request: Request<apigee::GenerateUndeployChangeReportRequest>,
    ) -> Result<Response<apigee::DeploymentChangeReport>, tonic::Status> {
        let request = request.into_inner();
        let live = self.live();
        let (org, target) = Self::deployment_target(&live, &request.name)?;
        Ok(Response::new(org.undeploy_report(&target)))
    }
}

fn status_cost(instance: &str, uid: &str, encoded: usize) -> usize {
    instance.len() + uid.len() + encoded + ITEM_OVERHEAD
}
