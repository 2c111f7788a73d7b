//! A call's Report sent whatever happens to the call: [`CallReport`].

use std::time::{Instant, SystemTime};

use super::builder::RequestBuilder;
use super::info::ReportInfo;
use crate::client::Client;

/// The Report of one call, sent when it is dropped: at the end of the
/// handler, or when the handler's future is dropped before it ends (its
/// caller gone, an outer timeout), as ESPv2 reports from the access log
/// whatever happened to the stream. Fill in its [`info`](Self::info) as
/// the call goes; what is unknown when it is sent is left out. The request
/// time is measured from when it was made, unless set.
///
/// A call reported without a response code (dropped before it was
/// answered) is reported with code `0` and the detail
/// `downstream_remote_disconnect` (Envoy's words for a caller that went
/// away), unless the handler gave a detail of its own.
///
/// ```no_run
/// use cloud_report_proto::client::Client;
/// use cloud_report_proto::client::gateway::{CallInfo, CallReport, ReportInfo, RequestBuilder};
///
/// async fn handle(client: &Client, requests: &RequestBuilder, call: CallInfo) -> u16 {
///     let mut report = CallReport::new(client, requests, ReportInfo::new(call));
///     // ... Check, quota, the backend: if this future is dropped at any
///     // await, the Report is still sent.
///     report.info().response_code = 200;
///     200
/// } // sent here
/// ```
#[must_use = "the Report is sent when this is dropped"]
pub struct CallReport<'a> {
    client: &'a Client,
    builder: &'a RequestBuilder,
    info: ReportInfo,
    started: Instant,
}

impl std::fmt::Debug for CallReport<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallReport")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<'a> CallReport<'a> {
    /// The Report of a call, to send through `client` as `builder` builds
    /// it, its request time measured from now.
    pub fn new(client: &'a Client, builder: &'a RequestBuilder, info: ReportInfo) -> Self {
        Self {
            client,
            builder,
            info,
            started: Instant::now(),
        }
    }

    /// What the Report will say, to fill in as the call goes: a response
    /// code (or a refusal, [`ReportInfo::refused_with`]) once the call is
    /// answered.
    pub fn info(&mut self) -> &mut ReportInfo {
        &mut self.info
    }

    /// What the Report says so far.
    pub fn peek(&self) -> &ReportInfo {
        &self.info
    }

    /// Sends the Report now (what dropping it does).
    pub fn send(self) {}
}

impl Drop for CallReport<'_> {
    fn drop(&mut self) {
        let info = &mut self.info;
        if info.request_time.is_none() {
            info.request_time = Some(self.started.elapsed());
        }
        if info.response_code == 0
            && info.grpc_status.is_none()
            && info.response_code_detail.is_empty()
        {
            info.response_code_detail = "downstream_remote_disconnect".to_owned();
        }
        match self.builder.report_operations(info, SystemTime::now()) {
            Ok(operations) => {
                for operation in operations {
                    // Never waits; what the reporter cannot take is counted
                    // and warned about by the client.
                    let _ = self.client.try_report(operation);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "a call's Report could not be built");
            }
        }
    }
}
