//! The operations of a call's Report, as ESPv2's `FillReportRequest`
//! writes them: its metrics (names, kinds, distributions), labels and log
//! entry.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;

use super::builder::{BuildError, RequestBuilder};
use super::info::{ApiKeyState, Protocol, ReportInfo};
use super::metrics::{
    DEFAULT_LOCATION, LABELS, Label, METRICS, Mark, Measure, SIZE_BUCKETS, TIME_BUCKETS,
};
use crate::google::api::servicecontrol::v1::distribution::{BucketOption, ExponentialBuckets};
use crate::google::api::servicecontrol::v1::log_entry::Payload;
use crate::google::api::servicecontrol::v1::metric_value::Value as MetricKindValue;
use crate::google::api::servicecontrol::v1::{
    Distribution, HttpRequest, LogEntry, MetricValue, MetricValueSet, Operation,
};
use crate::google::logging::r#type::LogSeverity;
use crate::google::protobuf::{Struct, Timestamp, Value, value::Kind};
use crate::google::rpc::Code;

impl RequestBuilder {
    /// The `servicecontrol.googleapis.com/platform` label.
    fn platform_label(&self) -> String {
        self.platform
            .clone()
            .unwrap_or_else(|| format!("UNKNOWN({})", self.user_agent))
    }

    /// The request headers to log ([`log_request_headers`](Self::log_request_headers))
    /// as ESPv2's `fillLoggedHeader` writes them: `name=value;` for each
    /// configured header present, by its configured name, the values of a
    /// repeated header joined by `,`. Empty when none is present.
    pub fn logged_request_headers(&self, headers: &http::HeaderMap) -> String {
        logged_headers(&self.logged_request_headers, headers)
    }

    /// The response headers to log ([`log_response_headers`](Self::log_response_headers)),
    /// as [`logged_request_headers`](Self::logged_request_headers).
    pub fn logged_response_headers(&self, headers: &http::HeaderMap) -> String {
        logged_headers(&self.logged_response_headers, headers)
    }

    /// The JWT claims to log ([`log_jwt_payloads`](Self::log_jwt_payloads))
    /// from the verified token's payload, as ESPv2's `fillJwtPayloads`
    /// writes them: `path=value;` for each configured path found (nested
    /// claims by dotted path), a string as it is, a number as an integer
    /// (truncated), a bool as `true`/`false`, null as nothing; objects
    /// and lists are left out.
    pub fn logged_jwt_payloads(&self, claims: &Struct) -> String {
        let mut out = String::new();
        for path in &self.logged_jwt_payloads {
            let mut fields = &claims.fields;
            let mut found = None;
            let mut parts = path.split('.').peekable();
            while let Some(part) = parts.next() {
                let Some(value) = fields.get(part) else {
                    break;
                };
                match (&value.kind, parts.peek()) {
                    (Some(Kind::StructValue(inner)), Some(_)) => fields = &inner.fields,
                    (_, None) => found = Some(value),
                    _ => break,
                }
            }
            let text = match found.and_then(|v| v.kind.as_ref()) {
                Some(Kind::StringValue(s)) => s.clone(),
                // ESPv2 casts to a C++ long.
                Some(Kind::NumberValue(n)) => (*n as i64).to_string(),
                Some(Kind::BoolValue(b)) => b.to_string(),
                Some(Kind::NullValue(_)) => String::new(),
                _ => continue,
            };
            out.push_str(path);
            out.push('=');
            out.push_str(&text);
            out.push(';');
        }
        out
    }

    /// The operations a call's Report carries (ESPv2's `FillReportRequest`):
    ///
    /// - the call's operation, with the producer metrics, the consumer ones
    ///   when the key was verified (its consumer then `api_key:<key>`), the
    ///   labels, and a log entry per log;
    /// - when Check named the consumer's project, a second, by-consumer
    ///   operation (id the call's plus `1`) with the by-consumer metrics,
    ///   every label and the consumer's project number, and no log.
    ///
    /// Sizes and times not known are left out; `start_time` and `end_time`
    /// are `now`. Give them to [`Client::report`](crate::client::Client::report)
    /// one by one.
    ///
    /// # Errors
    ///
    /// An empty service name, operation id or operation name.
    pub fn report_operations(
        &self,
        info: &ReportInfo,
        now: SystemTime,
    ) -> Result<Vec<Operation>, BuildError> {
        let mut main = self.operation(&info.call, now)?;
        let verified = info.api_key_state == ApiKeyState::Verified;
        if verified && !info.call.api_key.is_empty() {
            main.consumer_id = format!("api_key:{}", info.call.api_key);
        }
        let mut by_consumer = main.clone();
        for &i in &self.labels {
            let (key, label, _) = LABELS[i];
            if let Some(value) = self.label(label, info) {
                if label != Label::ConsumerProject {
                    main.labels.insert(key.to_owned(), value.clone());
                }
                by_consumer.labels.insert(key.to_owned(), value);
            }
        }
        for &i in &self.metrics {
            let (name, mark, measure) = METRICS[i];
            let into = match mark {
                Mark::Producer => &mut main,
                Mark::Consumer if verified => &mut main,
                Mark::Consumer => continue,
                Mark::ProducerByConsumer => &mut by_consumer,
            };
            if let Some(value) = measured(measure, info) {
                into.metric_value_sets.push(MetricValueSet {
                    metric_name: name.to_owned(),
                    metric_values: vec![MetricValue {
                        value: Some(value),
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
        }
        main.log_entries = self
            .logs
            .iter()
            .map(|name| self.log_entry(name, info, now))
            .collect();
        let mut operations = vec![main];
        if info.consumer_project().is_some() {
            by_consumer.operation_id.push('1');
            operations.push(by_consumer);
        }
        Ok(operations)
    }

    /// A label's value for a call, when it has one.
    fn label(&self, label: Label, info: &ReportInfo) -> Option<String> {
        let status = info.http_status();
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        match label {
            Label::CredentialId => self.credential_id(info),
            Label::ErrorType => (status >= 400).then(|| class(status)),
            Label::Protocol => Some(info.frontend_protocol.as_str().to_owned()),
            Label::Referer => nonempty(&info.call.referer),
            Label::ResponseCode => Some(status.to_string()),
            Label::ResponseCodeClass => Some(class(status)),
            Label::StatusCode => Some((info.status as i32).to_string()),
            Label::Location => Some(location(info).to_owned()),
            Label::ApiMethod => nonempty(info.api_method()),
            Label::ApiVersion => nonempty(&info.api_version),
            Label::ServiceAgent => Some(self.service_agent.clone()),
            Label::UserAgent => Some(self.user_agent.clone()),
            Label::Platform => Some(self.platform_label()),
            Label::BackendProtocol => (info.backend_protocol == Protocol::Grpc
                && info.frontend_protocol != Protocol::Grpc)
                .then(|| Protocol::Grpc.as_str().to_owned()),
            Label::ConsumerProject => info.consumer_project().map(|n| n.to_string()),
        }
    }

    /// `/credential_id`: the verified key (or its uid), else the JWT's
    /// issuer and audience, base64url without padding.
    fn credential_id(&self, info: &ReportInfo) -> Option<String> {
        if info.api_key_state == ApiKeyState::Verified && !info.call.api_key.is_empty() {
            if self.api_key_uid_reporting && !info.api_key_uid.is_empty() {
                return Some(info.api_key_uid.clone());
            }
            return Some(format!("apikey:{}", info.call.api_key));
        }
        if info.auth_issuer.is_empty() {
            return None;
        }
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let mut id = format!("jwtauth:issuer={}", b64(&info.auth_issuer));
        if !info.auth_audience.is_empty() {
            id.push_str("&audience=");
            id.push_str(&b64(&info.auth_audience));
        }
        Some(id)
    }

    /// The log entry of a call (ESPv2's `FillLogEntry`).
    fn log_entry(&self, name: &str, info: &ReportInfo, now: SystemTime) -> LogEntry {
        let status = info.http_status();
        let call = &info.call;
        let seconds = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        // Always written, even empty.
        let mut payload = BTreeMap::from([
            (
                "service_config_id".to_owned(),
                text(&self.service_config_id),
            ),
            ("service_agent".to_owned(), text(&self.service_agent)),
            (
                "api_key_state".to_owned(),
                text(info.api_key_state.as_str()),
            ),
        ]);
        let mut string = |key: &str, value: &str| {
            if !value.is_empty() {
                payload.insert(key.to_owned(), text(value));
            }
        };
        string("response_code_detail", &info.response_code_detail);
        string("producer_project_id", &self.producer_project_id);
        string("api_key", &call.api_key);
        string("api_name", &info.api_name);
        string("api_version", &info.api_version);
        string("api_method", info.api_method());
        string("location", &info.location);
        if !info.log_message.is_empty() {
            string("log_message", &info.log_message);
        } else if !info.api_method().is_empty() {
            string("log_message", &format!("{} is called", info.api_method()));
        }
        string("request_headers", &info.request_headers);
        string("response_headers", &info.response_headers);
        string("jwt_payloads", &info.jwt_payloads);
        if info.status != Code::Ok {
            string("error_cause", &info.status_message);
        }
        if let Some(code) = info.grpc_status {
            string("grpc_status_code", grpc_status_name(code));
        }
        payload.insert("timestamp".to_owned(), number(seconds));
        payload.insert(
            "http_status_code".to_owned(),
            number(f64::from(info.response_code)),
        );
        // The tracing project, else the GCP project, else no trace.
        let project = if self.tracing_project.is_empty() {
            &self.gcp_project
        } else {
            &self.tracing_project
        };
        let trace = if info.trace_id.is_empty() || project.is_empty() {
            String::new()
        } else {
            format!("projects/{project}/traces/{}", info.trace_id)
        };
        let severity = if status >= 400 {
            LogSeverity::Error
        } else {
            LogSeverity::Info
        };
        let size = |n: Option<u64>| n.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX));
        LogEntry {
            name: name.to_owned(),
            timestamp: Some(Timestamp::from(now)),
            severity: severity as i32,
            trace,
            http_request: Some(HttpRequest {
                request_method: info.method.clone(),
                request_url: info.url.clone(),
                request_size: size(info.request_size),
                status: i32::from(status),
                response_size: size(info.response_size),
                remote_ip: call.client_ip.clone(),
                referer: call.referer.clone(),
                latency: info
                    .request_time
                    .and_then(|d| crate::google::protobuf::Duration::try_from(whole_ms(d)).ok()),
                protocol: info.frontend_protocol.as_str().to_owned(),
                ..Default::default()
            }),
            payload: Some(Payload::StructPayload(Struct {
                fields: payload,
                ..Default::default()
            })),
            ..Default::default()
        }
    }
}

/// A gRPC status as the log names it, in Envoy's words
/// (`grpcStatusToString`): `Ok`, `NotFound`, `Unavailable`, ...
fn grpc_status_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "Ok",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// `name=value;` for each of `names` present in `headers`.
fn logged_headers(names: &[String], headers: &http::HeaderMap) -> String {
    let mut out = String::new();
    for name in names {
        let values: Vec<&str> = headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            continue;
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&values.join(","));
        out.push(';');
    }
    out
}

/// A time as ESPv2 measures it: whole milliseconds, truncated.
fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The class of an HTTP status: `2xx`, `4xx`, ... (`0xx` for none).
fn class(status: u16) -> String {
    format!("{}xx", (status / 100) % 10)
}

/// Where the gateway runs, `global` when unknown: the label is never sent
/// empty.
fn location(info: &ReportInfo) -> &str {
    if info.location.is_empty() {
        DEFAULT_LOCATION
    } else {
        &info.location
    }
}

fn text(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.to_owned())),
        ..Default::default()
    }
}

fn number(n: f64) -> Value {
    Value {
        kind: Some(Kind::NumberValue(n)),
        ..Default::default()
    }
}

/// A metric's value for a call, when it was measured.
fn measured(measure: Measure, info: &ReportInfo) -> Option<MetricKindValue> {
    let size = |n: Option<u64>| n.map(|n| sample(SIZE_BUCKETS, n as f64));
    let time = |d: Option<Duration>| d.map(|d| sample(TIME_BUCKETS, whole_ms(d).as_secs_f64()));
    let distribution = match measure {
        Measure::Count => return Some(MetricKindValue::Int64Value(1)),
        Measure::RequestSize => size(info.request_size),
        Measure::ResponseSize => size(info.response_size),
        Measure::RequestTime => time(info.request_time),
        Measure::BackendTime => time(info.backend_time),
        Measure::OverheadTime => time(info.overhead_time),
    };
    distribution.map(MetricKindValue::DistributionValue)
}

/// A distribution of one sample over exponential buckets (`buckets` finite
/// ones, `growth`, `scale`), as `distribution.proto` places it: bucket 0
/// holds what is below `scale`, bucket `i` (1 ≤ i ≤ N) what is in
/// `[scale·growth^(i-1), scale·growth^i)`, bucket N+1 the rest.
pub(super) fn sample((buckets, growth, scale): (i32, f64, f64), value: f64) -> Distribution {
    let last = buckets + 1;
    let index = if value < scale {
        0
    } else {
        // The logarithm's estimate, corrected where rounding put it one
        // off at a bound (1000 is log10 2.9999999999999996).
        let mut i = 1
            + ((value / scale).ln() / growth.ln())
                .floor()
                .clamp(0.0, f64::from(last)) as i32;
        if i <= buckets && value >= scale * growth.powi(i) {
            i += 1;
        }
        if i > 1 && value < scale * growth.powi(i - 1) {
            i -= 1;
        }
        i.min(last)
    };
    let mut counts = vec![0; usize::try_from(last + 1).unwrap_or(0)];
    counts[usize::try_from(index).unwrap_or(0)] = 1;
    Distribution {
        count: 1,
        mean: value,
        minimum: value,
        maximum: value,
        sum_of_squared_deviation: 0.0,
        bucket_counts: counts,
        bucket_option: Some(BucketOption::ExponentialBuckets(ExponentialBuckets {
            num_finite_buckets: buckets,
            growth_factor: growth,
            scale,
            ..Default::default()
        })),
        ..Default::default()
    }
}
