//! `ServiceController`: Check and Report, judged by the API's own rules and
//! the service's configuration, with their scripted answers.
//!
//! A report is received as its bytes (over gRPC by a codec of its own, over
//! REST as its binary body or its JSON read and encoded), checked and read
//! through its view, and its operations stored as they came: nothing of it
//! is decoded into owned messages or encoded again.

use std::collections::HashSet;
use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::codegen::BoxFuture;
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response};

use super::answers::{exhausted, invalid, scripted};
use super::config::ConsumerErrors;
use super::faults::{Action, Method};
use super::operation::MAX_REPORT_BYTES;
use super::rules::{self, ServiceRules};
use super::shared::Emulator;
use super::store::{ITEM_OVERHEAD, Live, SERVICE_OVERHEAD};
use super::{consumers, operation};
use crate::google::api::servicecontrol::v1 as sc;
use crate::google::api::servicecontrol::v1::service_controller_server::ServiceController;
use crate::google::rpc::{Code, Status};
use crate::rest::clip;

/// Requests larger than this are validated on the blocking pool, so that the
/// async workers keep answering other clients meanwhile.
const VALIDATE_ON_POOL_BYTES: usize = 64 << 10;

/// A Check answered with one injected check error.
fn injected_check_error(
    live: &Live,
    request: &sc::CheckRequest,
    code: sc::check_error::Code,
) -> sc::CheckResponse {
    sc::CheckResponse {
        operation_id: request
            .operation
            .as_ref()
            .map(|o| o.operation_id.clone())
            .unwrap_or_default(),
        check_errors: vec![sc::CheckError {
            code: code as i32,
            detail: format!("{} injected by the emulator", code.as_str_name()),
            ..Default::default()
        }],
        service_config_id: live.config_id(&request.service_name),
        service_rollout_id: live.rollout_id(&request.service_name),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl ServiceController for Emulator {
    async fn check(
        &self,
        request: Request<sc::CheckRequest>,
    ) -> Result<Response<sc::CheckResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let (call, fault, logged) =
            self.receive(Method::Check, &request.get_ref().service_name, &request);
        let answer = self.answer_check(call, fault, request.into_inner()).await;
        logged.answered(&answer);
        answer
    }

    /// The report encoded, then judged as one received over the wire (the
    /// emulator's own servers hand it the bytes they received).
    async fn report(
        &self,
        request: Request<sc::ReportRequest>,
    ) -> Result<Response<sc::ReportResponse>, tonic::Status> {
        self.report_encoded(request.map(|r| Bytes::from(r.encode_to_vec())))
            .await
    }
}

impl Emulator {
    async fn answer_check(
        &self,
        call: Option<crate::rest::CallContext>,
        fault: Option<Action>,
        request: sc::CheckRequest,
    ) -> Result<Response<sc::CheckResponse>, tonic::Status> {
        if let Some(Action::CheckError(code)) = fault {
            return Ok(Response::new(injected_check_error(
                &self.live(),
                &request,
                code,
            )));
        }
        if let Some(answer) = scripted(fault, call.as_ref()).await? {
            return Ok(Response::new(answer));
        }
        if request.service_name.is_empty() {
            return Err(invalid("service_name is required"));
        }
        let operation = request
            .operation
            .ok_or_else(|| invalid("operation is required"))?;
        let live = self.live();
        let rules = Self::rules_of(&live, &request.service_name)?;
        let consumer_error = |why: String| match self.config.consumer_errors {
            ConsumerErrors::Refuse => Err(invalid(format!("operation.consumer_id: {why}"))),
            ConsumerErrors::CheckError => Ok(consumers::check_error(
                sc::check_error::Code::ConsumerInvalid,
                &operation.consumer_id,
                format!("consumer_id {why}"),
            )),
        };
        let mut check_errors = Vec::new();
        if let Some(why) = consumers::malformed(&operation.consumer_id) {
            check_errors.push(consumer_error(why)?);
        }
        if let Some(code) = self.config.denied_consumers.get(&operation.consumer_id) {
            check_errors.push(consumers::check_error(
                *code,
                &operation.consumer_id,
                format!(
                    "{} is denied by the emulator's configuration",
                    clip(&operation.consumer_id)
                ),
            ));
        }
        let consumers = &live.consumers;
        let judged = !consumers.projects.is_empty() || !consumers.api_keys.is_empty();
        let unregistered = operation.consumer_id.is_empty()
            && rules
                .as_ref()
                .is_some_and(|r| rules::allows_unregistered(&r.config, &operation.operation_name));
        let mut check_info = sc::check_response::CheckInfo {
            consumer_info: Some(sc::check_response::ConsumerInfo::default()),
            ..Default::default()
        };
        if check_errors.is_empty() && judged && !unregistered {
            let judgement = consumers.judge(&request.service_name, &operation);
            check_errors = match judgement.malformed {
                Some(why) => vec![consumer_error(why)?],
                None => judgement.errors,
            };
            check_info.consumer_info = judgement.consumer.or(check_info.consumer_info);
            check_info.api_key_uid = judgement.api_key_uid.unwrap_or_default();
        }
        Ok(Response::new(sc::CheckResponse {
            operation_id: operation.operation_id,
            check_errors,
            service_config_id: live.config_id(&request.service_name),
            service_rollout_id: live.rollout_id(&request.service_name),
            check_info: Some(check_info),
            ..Default::default()
        }))
    }

    /// `Report` of a request received as its binary encoding: checked by
    /// one walk over the bytes (the wire format, then the API's rules and
    /// the configuration's through the report's view), its valid
    /// operations stored as they came, the request logged as it came.
    pub(super) async fn report_encoded(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<sc::ReportResponse>, tonic::Status> {
        self.authorize(request.metadata().as_ref())?;
        let bytes = request.get_ref().clone();
        let decoded = sc::ReportRequestView::decode_view(&bytes).map_err(|e| {
            let binary_body = request
                .extensions()
                .get::<crate::rest::CallContext>()
                .is_some_and(|c| c.wire() == crate::rest::WireFormat::Binary);
            // Worded as Google's front end and the gateway word a body
            // that does not decode.
            if binary_body {
                invalid(format!("Invalid proto payload received. {e}"))
            } else {
                invalid(e.to_string())
            }
        })?;
        let service = decoded.view().service_name();
        let (call, fault, logged) = self.receive_kept(
            Method::Report,
            service,
            &request,
            &super::requests::AsReceived(&bytes),
        );
        let answer = self.answer_report(call, fault, &bytes, decoded).await;
        logged.answered(&answer);
        answer
    }

    async fn answer_report(
        &self,
        call: Option<crate::rest::CallContext>,
        fault: Option<Action>,
        bytes: &Bytes,
        decoded: crate::view::Decoded<'_, sc::ReportRequest>,
    ) -> Result<Response<sc::ReportResponse>, tonic::Status> {
        if let Some(answer) = scripted(fault, call.as_ref()).await? {
            return Ok(Response::new(answer));
        }
        let size = bytes.len();
        if size > MAX_REPORT_BYTES {
            return Err(invalid(format!(
                "ReportRequest is {size} bytes; the limit is {MAX_REPORT_BYTES}"
            )));
        }
        let service = decoded.view().service_name();
        if service.is_empty() {
            return Err(invalid("service_name is required"));
        }
        let live = self.live();
        let rules = Self::rules_of(&live, service)?;
        let checked = if size > VALIDATE_ON_POOL_BYTES {
            // The pool's task owns what it reads: the bytes, walked again
            // there (a walk costs little beside the rules).
            drop(decoded);
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || {
                let decoded = sc::ReportRequestView::decode_view(&bytes)
                    .map_err(|e| invalid(e.to_string()))?;
                check_report(decoded.view(), rules.as_deref())
            })
            .await
            .map_err(|e| {
                tonic::Status::from(Status::new(
                    Code::Internal,
                    format!("validation failed: {e}"),
                ))
            })?
        } else {
            check_report(decoded.view(), rules.as_deref())
        }?;
        self.store(&checked)?;
        Ok(Response::new(sc::ReportResponse {
            report_errors: checked.report_errors,
            service_config_id: live.config_id(&checked.service_name),
            service_rollout_id: live.rollout_id(&checked.service_name),
            ..Default::default()
        }))
    }
}

/// A report that passed the checks of the whole request: its valid
/// operations, encoded, and an error for each invalid one.
pub(super) struct CheckedReport {
    pub(super) service_name: String,
    /// (operation id, encoded operation) of each valid operation, its
    /// bytes as they came.
    pub(super) valid: Vec<(String, Bytes)>,
    pub(super) report_errors: Vec<sc::report_response::ReportError>,
}

/// Every rule of `Report` that needs no stored state, the configuration's
/// when the service has one; time linear in the request.
fn check_report(
    request: sc::ReportRequestView<'_>,
    rules: Option<&ServiceRules>,
) -> Result<CheckedReport, tonic::Status> {
    for op in request.operations().iter() {
        if let Some(metric) = operation::duplicate_in_operation(op) {
            return Err(invalid(format!(
                "operation \"{}\" has more than one value of metric {} with identical labels",
                clip(op.operation_id()),
                clip(metric)
            )));
        }
    }
    let mut checked = CheckedReport {
        service_name: request.service_name().to_owned(),
        valid: Vec::new(),
        report_errors: Vec::new(),
    };
    for op in request.operations().iter() {
        let problem =
            operation::operation_problem(op).or_else(|| rules.and_then(|rules| rules.problem(op)));
        let operation_id = op.operation_id().to_owned();
        match problem {
            Some(problem) => checked
                .report_errors
                .push(sc::report_response::ReportError {
                    operation_id,
                    status: Some(Status::new(Code::InvalidArgument, problem)),
                    ..Default::default()
                }),
            None => {
                // An operation of a list is always one piece of the input.
                let encoded = match op.encoded() {
                    Some(bytes) => Bytes::copy_from_slice(bytes),
                    None => Bytes::from(op.to_owned_message().encode_to_vec()),
                };
                checked.valid.push((operation_id, encoded));
            }
        }
    }
    Ok(checked)
}

impl Emulator {
    /// Stores a checked report's new operations, all or none.
    pub(super) fn store(&self, report: &CheckedReport) -> Result<(), tonic::Status> {
        let mut state = self.state();
        let known = state.services.get(&report.service_name);
        let mut fresh: Vec<&(String, Bytes)> = Vec::with_capacity(report.valid.len());
        let mut ids_now = HashSet::new();
        let mut cost = 0;
        for op in &report.valid {
            let stored = known.is_some_and(|s| s.ids.contains(&op.0));
            if !stored && ids_now.insert(op.0.as_str()) {
                cost += op.0.len() + op.1.len() + ITEM_OVERHEAD;
                fresh.push(op);
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        if known.is_none() {
            cost += report.service_name.len() + SERVICE_OVERHEAD;
        }
        if state.operation_count + fresh.len() > self.config.max_operations {
            return Err(exhausted(format!(
                "the emulator stores at most {} operations; this report would exceed it",
                self.config.max_operations
            )));
        }
        if state.bytes + cost > self.config.max_bytes {
            return Err(exhausted(format!(
                "the emulator stores at most {} bytes; this report would exceed it",
                self.config.max_bytes
            )));
        }
        state.operation_count += fresh.len();
        state.bytes += cost;
        let service = state
            .services
            .entry(report.service_name.clone())
            .or_default();
        for (id, encoded) in fresh {
            service.ids.insert(id.clone());
            service.operations.push(encoded.clone());
        }
        Ok(())
    }
}

/// The path of `Report` over gRPC.
const REPORT_PATH: &str = "/google.api.servicecontrol.v1.ServiceController/Report";

/// The emulator's `ServiceController` over REST and gRPC: the generated
/// servers, but for `Report`, which it receives as bytes
/// ([`Emulator::report_encoded`]).
#[derive(Clone)]
pub(super) struct ServiceControl {
    emulator: Emulator,
    generated: sc::ServiceControllerRestServer<Emulator>,
}

impl ServiceControl {
    pub(super) fn new(emulator: Emulator) -> Self {
        Self {
            generated: sc::ServiceControllerRestServer::new(emulator.clone()),
            emulator,
        }
    }
}

impl crate::rest::RestService for ServiceControl {
    type Server = ServiceControlGrpc;

    fn grpc_server(&self) -> ServiceControlGrpc {
        ServiceControlGrpc {
            emulator: self.emulator.clone(),
            generated: self.generated.grpc_server(),
        }
    }

    fn call(
        &self,
        method: &'static str,
        call: crate::rest::dispatch::TypedCall,
    ) -> crate::rest::dispatch::Reply<'_> {
        if method != "Report" {
            return self.generated.call(method, call);
        }
        Box::pin(async move {
            let request = call.request_encoded::<sc::ReportRequest>().await?;
            call.reply(self.emulator.report_encoded(request).await)
        })
    }
}

/// The gRPC server of [`ServiceControl`].
#[derive(Clone)]
pub(super) struct ServiceControlGrpc {
    emulator: Emulator,
    generated: sc::service_controller_server::ServiceControllerServer<Emulator>,
}

impl NamedService for ServiceControlGrpc {
    const NAME: &'static str =
        <sc::service_controller_server::ServiceControllerServer<Emulator> as NamedService>::NAME;
}

impl tower::Service<http::Request<tonic::body::Body>> for ServiceControlGrpc {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != REPORT_PATH {
            return self.generated.call(request);
        }
        let report = EncodedReport(self.emulator.clone());
        Box::pin(async move {
            // As the generated server makes its own: tonic's default limits.
            let mut grpc = tonic::server::Grpc::new(EncodedReportCodec);
            Ok(grpc.unary(report, request).await)
        })
    }
}

/// `Report` over gRPC, called with the request's bytes.
struct EncodedReport(Emulator);

impl UnaryService<Bytes> for EncodedReport {
    type Response = sc::ReportResponse;
    type Future = BoxFuture<Response<sc::ReportResponse>, tonic::Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let emulator = self.0.clone();
        Box::pin(async move { emulator.report_encoded(request).await })
    }
}

/// gRPC's codec for `Report` received as bytes: the request as it came,
/// the response encoded as prost encodes it.
#[derive(Clone, Copy, Default)]
struct EncodedReportCodec;

impl Codec for EncodedReportCodec {
    type Encode = sc::ReportResponse;
    type Decode = Bytes;
    type Encoder = tonic_prost::ProstEncoder<sc::ReportResponse>;
    type Decoder = AsReceivedDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        AsReceivedDecoder
    }
}

/// Hands a gRPC message's bytes on as they came.
struct AsReceivedDecoder;

impl Decoder for AsReceivedDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}
