//! `QuotaController`: AllocateQuota, counted by the service's limits (see
//! `quota`) or granted as asked in the lenient mode.

use tonic::{Request, Response};

use super::answers::{exhausted, invalid, scripted};
use super::encoded::decode_stored;
use super::faults::Method;
use super::shared::Emulator;
use super::{consumers, quota};
use crate::google::api::servicecontrol::v1 as sc;
use crate::google::api::servicecontrol::v1::quota_controller_server::QuotaController;

#[tonic::async_trait]
impl QuotaController for Emulator {
    async fn allocate_quota(
        &self,
        request: Request<sc::AllocateQuotaRequest>,
    ) -> Result<Response<sc::AllocateQuotaResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let (call, fault, logged) = self.receive(
            Method::AllocateQuota,
            &request.get_ref().service_name,
            &request,
        );
        let answer = self
            .answer_allocate_quota(call, fault, request.into_inner())
            .await;
        logged.answered(&answer);
        answer
    }
}

impl Emulator {
    async fn answer_allocate_quota(
        &self,
        call: Option<crate::rest::CallContext>,
        fault: Option<super::faults::Action>,
        request: sc::AllocateQuotaRequest,
    ) -> Result<Response<sc::AllocateQuotaResponse>, tonic::Status> {
        if let Some(answer) = scripted(fault, call.as_ref()).await? {
            return Ok(Response::new(answer));
        }
        if request.service_name.is_empty() {
            return Err(invalid("service_name is required"));
        }
        let operation = request
            .allocate_operation
            .ok_or_else(|| invalid("allocate_operation is required"))?;
        let live = self.live();
        let rules = Self::rules_of(&live, &request.service_name)?;
        let mut answer = sc::AllocateQuotaResponse {
            operation_id: operation.operation_id.clone(),
            service_config_id: live.config_id(&request.service_name),
            ..Default::default()
        };
        let quota_error = quota::quota_error;
        let mode = quota::Mode::of(&operation)?;
        let denied = self
            .config
            .denied_consumers
            .get(&operation.consumer_id)
            .and_then(|code| quota::refusal_of(*code));
        if let Some(code) = denied {
            answer.allocate_errors.push(quota_error(
                code,
                &operation.consumer_id,
                "quota refused by the emulator's configuration".into(),
            ));
            return Ok(Response::new(answer));
        }
        let Some(rules) = rules else {
            if let Some(why) = consumers::quota_consumer_problem(&operation.consumer_id) {
                return Err(invalid(format!("allocate_operation.consumer_id: {why}")));
            }
            // The lenient mode: everything asked is granted.
            answer.quota_metrics = quota::granted_as_asked(&operation, mode);
            return Ok(Response::new(answer));
        };
        let service = request.service_name.as_str();
        if mode != quota::Mode::CheckOnly
            && let Some(earlier) = self
                .state()
                .quota
                .remembered(service, &operation.operation_id)
        {
            return Ok(Response::new(decode_stored(&earlier)));
        }
        // The consumer is judged after a retry is recognized, which is
        // answered as the first call whatever it sends.
        let demand = quota::demand(&rules.config, &operation).map_err(invalid)?;
        let consumer = match live.consumers.quota_consumer(&operation.consumer_id) {
            consumers::QuotaConsumer::Counted(consumer) => consumer,
            consumers::QuotaConsumer::Refused(code, description) => {
                answer
                    .allocate_errors
                    .push(quota_error(code, &operation.consumer_id, description));
                return Ok(Response::new(answer));
            }
            consumers::QuotaConsumer::Malformed(why) => {
                return Err(invalid(format!("allocate_operation.consumer_id: {why}")));
            }
        };
        let mut state = self.state();
        // Again under the lock: a retry racing the first call is answered
        // as the first, never allocated twice.
        if mode != quota::Mode::CheckOnly
            && let Some(earlier) = state.quota.remembered(service, &operation.operation_id)
        {
            return Ok(Response::new(decode_stored(&earlier)));
        }
        let room = self.config.max_bytes.saturating_sub(state.bytes);
        let before = state.quota.usage_bytes;
        let now = self.config.clock.unix_seconds();
        let ask = quota::Ask {
            service,
            consumer: &consumer,
            demand: &demand,
            mode,
        };
        let Some(allocation) = state.quota.allocate(&rules.quota, &ask, now, room) else {
            return Err(exhausted(format!(
                "the emulator stores at most {} bytes; counting quota for another consumer would exceed it",
                self.config.max_bytes
            )));
        };
        state.bytes = state.bytes - before + state.quota.usage_bytes;
        (answer.allocate_errors, answer.quota_metrics) =
            quota::answer(&rules.config, &rules.quota, &ask, &allocation);
        if mode != quota::Mode::CheckOnly && answer.allocate_errors.is_empty() {
            state
                .quota
                .remember(service, &operation.operation_id, quota::encoded(&answer));
        }
        Ok(Response::new(answer))
    }
}
