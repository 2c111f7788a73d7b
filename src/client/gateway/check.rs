//! The Check of a call, as ESPv2's `FillCheckRequest` writes it.

use std::time::SystemTime;

use super::builder::{BuildError, RequestBuilder, put};
use super::info::CallInfo;
use super::metrics::{
    ANDROID_CERT, ANDROID_PACKAGE, CALLER_IP, IOS_BUNDLE, REFERER, SERVICE_AGENT, USER_AGENT,
};
use crate::google::api::servicecontrol::v1::CheckRequest;

impl RequestBuilder {
    /// The Check of a call (ESPv2's `FillCheckRequest`): the key as
    /// `api_key:<key>` consumer, the caller's address, referer and client
    /// application headers and the gateway's names as labels; `LOW`
    /// importance, so the client's cache answers it.
    ///
    /// # Errors
    ///
    /// An empty service name, operation id or operation name.
    pub fn check_request(
        &self,
        call: &CallInfo,
        now: SystemTime,
    ) -> Result<CheckRequest, BuildError> {
        let mut operation = self.operation(call, now)?;
        if !call.api_key.is_empty() {
            operation.consumer_id = format!("api_key:{}", call.api_key);
        }
        let labels = &mut operation.labels;
        put(labels, CALLER_IP, &call.client_ip);
        put(labels, REFERER, &call.referer);
        put(labels, USER_AGENT, &self.user_agent);
        put(labels, SERVICE_AGENT, &self.service_agent);
        put(labels, ANDROID_PACKAGE, &call.android_package_name);
        put(labels, ANDROID_CERT, &call.android_cert_fingerprint);
        put(labels, IOS_BUNDLE, &call.ios_bundle_id);
        Ok(CheckRequest {
            service_name: self.service_name.clone(),
            service_config_id: self.service_config_id.clone(),
            operation: Some(operation),
            ..Default::default()
        })
    }
}
