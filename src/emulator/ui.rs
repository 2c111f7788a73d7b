//! The page a person reads when a gateway test fails: `GET /emulator/ui/`,
//! HTML rendered by the server from what the emulator keeps (services,
//! stored operations with their metrics and log entries, quota windows,
//! instance statuses, deployments, the request log with each answer, the
//! faults waiting), refreshed every few seconds. No script, no external
//! asset: it works offline and shows the same in any browser. Read-only.
//! Every value reported is clipped and escaped, so a label holding
//! `<script>` stays text and a megabyte payload takes a line. Only the
//! newest rows of each table are read, one at a time: a page costs what it
//! shows, not what the emulator holds. Behind the token check like the
//! other endpoints.

use std::fmt::Write as _;

use super::requests::Answer;
use super::shared::Emulator;
use crate::google::api::servicecontrol::v1 as sc;
use crate::google::protobuf::Timestamp;

/// The page's path.
pub const UI_PATH: &str = "/emulator/ui/";

/// The most rows of each table: the newest are shown, and how many more
/// there are is said.
const MAX_ROWS: usize = 200;

/// Seconds between refreshes.
const REFRESH_SECONDS: u32 = 5;

/// The most characters of one value shown; a longer one is cut and its
/// length said.
const MAX_VALUE_CHARS: usize = 2000;

/// A value as the page shows it: cut to [`MAX_VALUE_CHARS`] and escaped for
/// HTML, in content and in quoted attributes.
fn escape(text: &str) -> String {
    let (shown, cut) = match text.char_indices().nth(MAX_VALUE_CHARS) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    };
    let mut out = String::with_capacity(shown.len() + 32);
    for c in shown.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    if cut {
        let _ = write!(out, "\u{2026} ({} bytes in all)", text.len());
    }
    out
}

fn time(t: Option<&Timestamp>) -> String {
    t.map(ToString::to_string).unwrap_or_default()
}

/// A metric value as a person reads it.
fn metric_value(value: &sc::MetricValue) -> String {
    use sc::metric_value::Value;
    match &value.value {
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::Int64Value(n)) => n.to_string(),
        Some(Value::DoubleValue(x)) => x.to_string(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::DistributionValue(d)) => format!(
            "distribution: count {}, mean {}, min {}, max {}",
            d.count, d.mean, d.minimum, d.maximum
        ),
        None => String::new(),
    }
}

/// A log entry's payload as text: the text payload, or the JSON of a
/// struct or proto payload.
fn payload(entry: &sc::LogEntry) -> String {
    use sc::log_entry::Payload;
    match &entry.payload {
        Some(Payload::TextPayload(text)) => text.clone(),
        Some(Payload::StructPayload(s)) => crate::json::to_string(s).unwrap_or_default(),
        Some(Payload::ProtoPayload(any)) => {
            crate::json::to_string(any).unwrap_or_else(|_| format!("({})", any.type_url))
        }
        None => String::new(),
    }
}

fn labels(map: &std::collections::BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn more(out: &mut String, shown: usize, total: usize) {
    if total > shown {
        let _ = write!(out, "<p class=more>the newest {shown} of {total} shown</p>");
    }
}

/// A response as the request log's answer column says it: `OK`, with the
/// errors an OK answer carries (check errors, allocate errors, report
/// errors), which a person looks for first.
fn answered(method: super::faults::Method, bytes: &[u8]) -> (&'static str, String) {
    use super::encoded::decode_stored;
    use super::faults::Method;
    let errors: Vec<String> = match method {
        Method::Check => decode_stored::<sc::CheckResponse>(bytes)
            .check_errors
            .iter()
            .map(|e| {
                let code = sc::check_error::Code::try_from(e.code)
                    .map_or_else(|_| e.code.to_string(), |c| c.as_str_name().to_owned());
                format!("check error {code}: {}", e.detail)
            })
            .collect(),
        Method::AllocateQuota => decode_stored::<sc::AllocateQuotaResponse>(bytes)
            .allocate_errors
            .iter()
            .map(|e| {
                let code = sc::quota_error::Code::try_from(e.code)
                    .map_or_else(|_| e.code.to_string(), |c| c.as_str_name().to_owned());
                format!("allocate error {code}: {}", e.description)
            })
            .collect(),
        Method::Report => decode_stored::<sc::ReportResponse>(bytes)
            .report_errors
            .iter()
            .map(|e| {
                let message = e.status.as_ref().map_or("", |s| s.message.as_str());
                format!("report error for {}: {message}", e.operation_id)
            })
            .collect(),
        // Apigee's answers carry no errors beside the status.
        _ => Vec::new(),
    };
    if errors.is_empty() {
        ("ok", "OK".to_owned())
    } else {
        ("error", format!("OK, with {}", errors.join("; ")))
    }
}

impl Emulator {
    /// The page (`GET /emulator/ui/`), as HTML.
    pub fn page(&self) -> String {
        let health = self.health();
        let mut out = String::with_capacity(64 << 10);
        let _ = write!(
            out,
            "<!doctype html><html lang=en><head><meta charset=utf-8>\
             <meta http-equiv=refresh content={REFRESH_SECONDS}>\
             <title>cloud-report emulator</title><style>\
             body{{font:14px system-ui,sans-serif;margin:1.5em}}\
             table{{border-collapse:collapse;margin:.5em 0 1.5em}}\
             td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}}\
             th{{background:#f3f3f3}}code,pre{{font:12px ui-monospace,monospace;white-space:pre-wrap;margin:0}}\
             .more{{color:#666}}.error{{color:#a00}}.ok{{color:#060}}\
             </style></head><body>\
             <h1>cloud-report emulator</h1>\
             <p>Version {} &middot; up {} s &middot; {} operations ({} of {} bytes) &middot; \
             request log {} of {} bytes &middot; refreshed every {REFRESH_SECONDS} s</p>",
            escape(&health.version),
            health.uptime_seconds,
            health.stored_operations,
            health.stored_bytes,
            health.max_bytes,
            health.request_log_bytes,
            health.max_request_log_bytes,
        );
        if health.services.is_empty() {
            out.push_str("<p>No service has been configured or called yet.</p>");
        }
        for service in &health.services {
            self.service_section(&mut out, service);
        }
        // Apigee's calls, logged under the API's service name.
        let apigee = super::requests::APIGEE_SERVICE;
        if !health.services.iter().any(|s| s == apigee) && self.calls().requests.has(apigee) {
            self.service_section(&mut out, apigee);
        }
        self.apigee_section(&mut out);
        out.push_str("</body></html>");
        out
    }

    fn service_section(&self, out: &mut String, service: &str) {
        let name = escape(service);
        let _ = write!(out, "<section id=\"service-{name}\"><h2>{name}</h2>");
        // Stored operations, newest first, decoded one at a time.
        let (operations, total) = {
            let state = self.state();
            state.services.get(service).map_or((Vec::new(), 0), |s| {
                let newest: Vec<bytes::Bytes> =
                    s.operations.iter().rev().take(MAX_ROWS).cloned().collect();
                (newest, s.operations.len())
            })
        };
        let _ = write!(out, "<h3>Stored operations ({total})</h3>");
        if !operations.is_empty() {
            out.push_str(
                "<table class=operations><tr><th>id</th><th>name</th><th>consumer</th>\
                 <th>time</th><th>labels</th><th>metrics</th><th>log entries</th></tr>",
            );
            for encoded in &operations {
                let op: sc::Operation = super::encoded::decode_stored(encoded);
                let metrics: Vec<String> = op
                    .metric_value_sets
                    .iter()
                    .flat_map(|set| {
                        set.metric_values.iter().map(move |v| {
                            let labels = if v.labels.is_empty() {
                                String::new()
                            } else {
                                format!(" {{{}}}", labels(&v.labels))
                            };
                            format!("{}{labels} = {}", set.metric_name, metric_value(v))
                        })
                    })
                    .collect();
                let logs: Vec<String> = op
                    .log_entries
                    .iter()
                    .map(|e| {
                        let severity =
                            crate::google::logging::r#type::LogSeverity::try_from(e.severity)
                                .map_or_else(
                                    |_| e.severity.to_string(),
                                    |s| s.as_str_name().to_owned(),
                                );
                        format!("{} [{severity}] {}", e.name, payload(e))
                    })
                    .collect();
                let _ = write!(
                    out,
                    "<tr class=operation><td><code>{}</code></td><td>{}</td><td>{}</td>\
                     <td>{} &ndash; {}</td><td><pre>{}</pre></td><td><pre>{}</pre></td><td><pre>{}</pre></td></tr>",
                    escape(&op.operation_id),
                    escape(&op.operation_name),
                    escape(&op.consumer_id),
                    escape(&time(op.start_time.as_ref())),
                    escape(&time(op.end_time.as_ref())),
                    escape(&labels(&op.labels)),
                    escape(&metrics.join("\n")),
                    escape(&logs.join("\n")),
                );
            }
            out.push_str("</table>");
            more(out, operations.len(), total);
        }
        // Quota windows.
        let usage = self.quota_usage(service);
        if !usage.is_empty() {
            out.push_str(
                "<h3>Quota</h3><table class=quota><tr><th>consumer</th><th>limit</th>\
                 <th>metric</th><th>used</th><th>allowance</th><th>window</th></tr>",
            );
            for u in &usage {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} s from {}</td></tr>",
                    escape(&u.consumer),
                    escape(&u.limit),
                    escape(&u.metric),
                    u.used,
                    u.allowance
                        .map_or_else(|| "unlimited".to_owned(), |a| a.to_string()),
                    u.window_seconds,
                    escape(
                        &Timestamp {
                            seconds: i64::try_from(u.window_start).unwrap_or(i64::MAX),
                            ..Default::default()
                        }
                        .to_string()
                    ),
                );
            }
            out.push_str("</table>");
        }
        // The request log, newest first, with each answer, decoded one at
        // a time.
        let (requests, total) = self.calls().requests.newest(service, MAX_ROWS);
        let _ = write!(out, "<h3>Request log ({total})</h3>");
        if !requests.is_empty() {
            out.push_str(
                "<table class=requests><tr><th>received</th><th>method</th><th>wire</th>\
                 <th>caller</th><th>consumer</th><th>answer</th><th>latency</th><th>fault</th></tr>",
            );
            for entry in &requests {
                let r = entry.received();
                let consumer = r.request.consumer();
                let (class, answer) = match &r.answer {
                    Answer::Response(bytes) => answered(r.method, bytes),
                    Answer::Error { code, message } => {
                        ("error", format!("{}: {message}", code.as_str_name()))
                    }
                    Answer::Pending => ("", "under way".to_owned()),
                    Answer::Dropped => ("error", "no answer: the caller went away".to_owned()),
                };
                let _ = write!(
                    out,
                    "<tr class=request><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                     <td class={class}>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    escape(&Timestamp::from(r.receive_time).to_string()),
                    r.method,
                    r.wire.as_str(),
                    escape(&r.caller),
                    escape(consumer),
                    escape(&answer),
                    r.latency
                        .map_or_else(String::new, |l| format!("{:.1} ms", l.as_secs_f64() * 1e3)),
                    escape(r.fault.as_deref().unwrap_or_default()),
                );
            }
            out.push_str("</table>");
            more(out, requests.len(), total);
        }
        // Faults waiting.
        let faults = self.faults(service);
        if !faults.is_empty() {
            out.push_str("<h3>Faults waiting</h3><ul class=faults>");
            for fault in &faults {
                let _ = write!(
                    out,
                    "<li><code>{}</code></li>",
                    escape(&fault.to_json().to_string())
                );
            }
            out.push_str("</ul>");
        }
        out.push_str("</section>");
    }

    fn apigee_section(&self, out: &mut String) {
        let statuses: Vec<bytes::Bytes> = {
            let state = self.state();
            state
                .statuses
                .values()
                .rev()
                .take(MAX_ROWS)
                .map(|s| s.encoded.clone())
                .collect()
        };
        if !statuses.is_empty() {
            out.push_str(
                "<section id=apigee><h2>Apigee instance statuses</h2><table class=statuses>\
                 <tr><th>instance</th><th>uid</th><th>reported</th><th>resources</th></tr>",
            );
            for encoded in &statuses {
                let status: crate::google::cloud::apigee::v1::ReportInstanceStatusRequest =
                    super::encoded::decode_stored(encoded);
                let resources: Vec<String> = status
                    .resources
                    .iter()
                    .map(|r| {
                        let revisions: Vec<String> = r
                            .revisions
                            .iter()
                            .map(|v| {
                                let errors: Vec<String> =
                                    v.errors.iter().map(|e| e.message.clone()).collect();
                                let errors = if errors.is_empty() {
                                    String::new()
                                } else {
                                    format!(", errors: {}", errors.join("; "))
                                };
                                format!(
                                    "revision {}: {} replicas{errors}",
                                    v.revision_id, v.replicas
                                )
                            })
                            .collect();
                        format!(
                            "{} ({}, {} replicas) {}",
                            r.resource,
                            r.uid,
                            r.total_replicas,
                            revisions.join("; ")
                        )
                    })
                    .collect();
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                    escape(&status.instance),
                    escape(&status.instance_uid),
                    escape(&time(status.report_time.as_ref())),
                    escape(&resources.join("\n")),
                );
            }
            out.push_str("</table></section>");
        }
        let live = self.live();
        if !live.deployments.organizations.is_empty() {
            out.push_str(
                "<section id=deployments><h2>Apigee deployments</h2><table class=deployments>\
                 <tr><th>organization</th><th>environment</th><th>API proxy</th><th>revision</th></tr>",
            );
            for (org, organization) in &live.deployments.organizations {
                for d in &organization.deployments {
                    let _ = write!(
                        out,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(org),
                        escape(&d.environment),
                        escape(&d.api),
                        escape(&d.revision),
                    );
                }
            }
            out.push_str("</table></section>");
        }
    }
}

/// The page's route (behind the token check, merged with the others).
pub(super) fn route(emulator: Emulator) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route(
            UI_PATH,
            get(
                |axum::extract::State(emulator): axum::extract::State<Emulator>| async move {
                    (
                        [
                            (
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static("text/html; charset=utf-8"),
                            ),
                            (
                                http::header::CONTENT_SECURITY_POLICY,
                                http::HeaderValue::from_static(
                                    "default-src 'none'; style-src 'unsafe-inline'",
                                ),
                            ),
                        ],
                        emulator.page(),
                    )
                },
            )
            .fallback(super::inspect::inspection_method_not_allowed),
        )
        .with_state(emulator)
}
