//! The AllocateQuota of a call, as ESPv2's `FillAllocateQuotaRequest`
//! writes it, for the method's costs from the configuration.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::builder::{BuildError, RequestBuilder, put};
use super::info::CallInfo;
use super::metrics::{CALLER_IP, REFERER, SERVICE_AGENT, USER_AGENT};
use crate::google::api::servicecontrol::v1::metric_value::Value as MetricKindValue;
use crate::google::api::servicecontrol::v1::quota_operation::QuotaMode;
use crate::google::api::servicecontrol::v1::{
    AllocateQuotaRequest, MetricValue, MetricValueSet, QuotaOperation,
};

impl RequestBuilder {
    /// The metric costs of a method, from the configuration's quota rules:
    /// `None` when it has none (ESPv2 then asks for no quota).
    pub fn metric_costs(&self, operation_name: &str) -> Option<&BTreeMap<String, i64>> {
        self.costs.get(operation_name).filter(|c| !c.is_empty())
    }

    /// The AllocateQuota of a call (ESPv2's `FillAllocateQuotaRequest`), in
    /// `NORMAL` mode, for the method's costs from the configuration
    /// ([`metric_costs`](Self::metric_costs)); `None` when it has none. See
    /// [`quota_request_with`](Self::quota_request_with).
    ///
    /// # Errors
    ///
    /// As [`quota_request_with`](Self::quota_request_with).
    pub fn quota_request(
        &self,
        call: &CallInfo,
    ) -> Result<Option<AllocateQuotaRequest>, BuildError> {
        match self.metric_costs(&call.operation_name) {
            Some(costs) => self.quota_request_with(call, costs).map(Some),
            None => Ok(None),
        }
    }

    /// The AllocateQuota of a call for `costs` (metric name to cost; a cost
    /// of 0 or less counts 1, as ESPv2 sends it): the key as `api_key:<key>`
    /// consumer, else the producer's project as `project:<id>`; `NORMAL`
    /// mode; the caller's address, referer and the gateway's names as
    /// labels.
    ///
    /// # Errors
    ///
    /// An empty service name, operation id or operation name.
    pub fn quota_request_with(
        &self,
        call: &CallInfo,
        costs: &BTreeMap<String, i64>,
    ) -> Result<AllocateQuotaRequest, BuildError> {
        let operation = self.operation(call, SystemTime::UNIX_EPOCH)?;
        let consumer_id = if !call.api_key.is_empty() {
            format!("api_key:{}", call.api_key)
        } else if !self.producer_project_id.is_empty() {
            format!("project:{}", self.producer_project_id)
        } else {
            String::new()
        };
        let mut labels = BTreeMap::new();
        put(&mut labels, CALLER_IP, &call.client_ip);
        put(&mut labels, REFERER, &call.referer);
        put(&mut labels, USER_AGENT, &self.user_agent);
        put(&mut labels, SERVICE_AGENT, &self.service_agent);
        let quota_metrics = costs
            .iter()
            .map(|(metric, &cost)| MetricValueSet {
                metric_name: metric.clone(),
                metric_values: vec![MetricValue {
                    value: Some(MetricKindValue::Int64Value(if cost <= 0 {
                        1
                    } else {
                        cost
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect();
        Ok(AllocateQuotaRequest {
            service_name: self.service_name.clone(),
            service_config_id: self.service_config_id.clone(),
            allocate_operation: Some(QuotaOperation {
                operation_id: operation.operation_id,
                method_name: if call.quota_method.is_empty() {
                    operation.operation_name
                } else {
                    call.quota_method.clone()
                },
                consumer_id,
                labels,
                quota_metrics,
                quota_mode: QuotaMode::Normal as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}
