//! What the benchmark binaries share.

/// The crate's messages as prost's derived code (`#[derive(Message)]`),
/// compiled from the same `.proto` files by `build.rs`: the baseline of the
/// binary benchmarks.
#[allow(clippy::all, missing_docs)]
pub mod derived {
    include!(concat!(env!("OUT_DIR"), "/derived.rs"));
}

/// The crate's messages as buffa (the field's view crate) generates them,
/// owned and views, for the view benchmarks.
#[allow(clippy::all, missing_docs, dead_code)]
pub mod buffa_peer {
    include!(concat!(env!("OUT_DIR"), "/buffa.rs"));
}

/// Reads every field of a report's view (so that a view's lazy lists do
/// not win by skipping work): a sum of lengths and values.
pub fn touch_report(
    report: &cloud_report_proto::google::api::servicecontrol::v1::ReportRequestView<'_>,
) -> u64 {
    use cloud_report_proto::google::api::servicecontrol::v1::{
        distribution::BucketOptionView, log_entry::PayloadView, metric_value::ValueView,
    };
    use cloud_report_proto::google::protobuf::{StructView, ValueView as JsonValueView, value};
    fn time(t: Option<cloud_report_proto::google::protobuf::TimestampView<'_>>) -> u64 {
        t.map_or(0, |t| t.seconds() as u64 + t.nanos() as u64)
    }
    fn labels<'a>(map: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
        map.map(|(k, v)| (k.len() + v.len()) as u64).sum()
    }
    fn json_value(v: &JsonValueView<'_>) -> u64 {
        match v.kind() {
            Some(value::KindView::NullValue(n)) => n as u64,
            Some(value::KindView::NumberValue(x)) => x.to_bits() & 1,
            Some(value::KindView::StringValue(s)) => s.len() as u64,
            Some(value::KindView::BoolValue(b)) => u64::from(b),
            Some(value::KindView::StructValue(s)) => json_struct(&s),
            Some(value::KindView::ListValue(l)) => l.values().iter().map(|v| json_value(&v)).sum(),
            None => 0,
        }
    }
    fn json_struct(s: &StructView<'_>) -> u64 {
        s.fields()
            .iter()
            .map(|(k, v)| k.len() as u64 + json_value(&v))
            .sum()
    }
    let mut sum = report.service_name().len() as u64 + report.service_config_id().len() as u64;
    for op in report.operations().iter() {
        sum +=
            (op.operation_id().len() + op.operation_name().len() + op.consumer_id().len()) as u64;
        sum += time(op.start_time()) + time(op.end_time()) + op.importance() as u64;
        sum += labels(op.labels().iter()) + labels(op.user_labels().iter());
        for set in op.metric_value_sets().iter() {
            sum += set.metric_name().len() as u64;
            for value in set.metric_values().iter() {
                sum += labels(value.labels().iter())
                    + time(value.start_time())
                    + time(value.end_time());
                sum += match value.value() {
                    Some(ValueView::BoolValue(b)) => u64::from(b),
                    Some(ValueView::Int64Value(n)) => n as u64,
                    Some(ValueView::DoubleValue(x)) => x.to_bits() & 1,
                    Some(ValueView::StringValue(s)) => s.len() as u64,
                    Some(ValueView::DistributionValue(d)) => {
                        let buckets: u64 = d.bucket_counts().iter().map(|c| c as u64).sum();
                        let layout = match d.bucket_option() {
                            Some(BucketOptionView::LinearBuckets(l)) => {
                                l.num_finite_buckets() as u64
                            }
                            Some(BucketOptionView::ExponentialBuckets(e)) => {
                                e.num_finite_buckets() as u64
                            }
                            Some(BucketOptionView::ExplicitBuckets(e)) => e.bounds().len() as u64,
                            None => 0,
                        };
                        d.count() as u64
                            + (d.mean() + d.minimum() + d.maximum() + d.sum_of_squared_deviation())
                                .to_bits()
                                % 2
                            + buckets
                            + layout
                            + d.exemplars().len() as u64
                    }
                    None => 0,
                };
            }
        }
        for entry in op.log_entries().iter() {
            sum += (entry.name().len() + entry.trace().len() + entry.insert_id().len()) as u64;
            sum +=
                time(entry.timestamp()) + entry.severity() as u64 + labels(entry.labels().iter());
            if let Some(http) = entry.http_request() {
                sum += (http.request_method().len()
                    + http.request_url().len()
                    + http.user_agent().len()
                    + http.remote_ip().len()
                    + http.server_ip().len()
                    + http.referer().len()
                    + http.protocol().len()) as u64
                    + http.status() as u64
                    + http.response_size() as u64
                    + http.request_size() as u64
                    + http
                        .latency()
                        .map_or(0, |d| d.seconds() as u64 + d.nanos() as u64)
                    + u64::from(http.cache_lookup())
                    + u64::from(http.cache_hit())
                    + u64::from(http.cache_validated_with_origin_server())
                    + http.cache_fill_bytes() as u64;
            }
            if let Some(o) = entry.operation() {
                sum += (o.id().len() + o.producer().len()) as u64
                    + u64::from(o.first())
                    + u64::from(o.last());
            }
            if let Some(s) = entry.source_location() {
                sum += (s.file().len() + s.function().len()) as u64 + s.line() as u64;
            }
            sum += match entry.payload() {
                Some(PayloadView::TextPayload(t)) => t.len() as u64,
                Some(PayloadView::StructPayload(s)) => json_struct(&s),
                Some(PayloadView::ProtoPayload(any)) => {
                    (any.type_url().len() + any.value().len()) as u64
                }
                None => 0,
            };
        }
        sum += op
            .extensions()
            .iter()
            .map(|e| (e.type_url().len() + e.value().len()) as u64)
            .sum::<u64>();
    }
    sum
}

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python interpreter with the reference packages: `CLOUD_REPORT_PYTHON`,
/// or the test suite's venv, or one made here from the test suite's
/// requirements.
pub fn python(root: &Path) -> PathBuf {
    if let Some(python) = std::env::var_os("CLOUD_REPORT_PYTHON") {
        return python.into();
    }
    let tests = root.join("target/tmp/python-reference/venv/bin/python");
    if tests.exists() {
        return tests;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python-bench");
    let python = venv.join("bin/python");
    if !python.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "cannot make a venv at {}",
            venv.display()
        );
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(root.join("tests/reference/requirements.txt"))
            .status();
        assert!(status.is_ok_and(|s| s.success()), "pip install failed");
    }
    python
}

/// Reads every field of a report's buffa view, as [`touch_report`] reads
/// the crate's: the same sum, so that both do the same work.
pub fn touch_buffa_report(
    report: &buffa_peer::google::api::servicecontrol::v1::__buffa::view::ReportRequestView<'_>,
) -> u64 {
    use buffa_peer::google::api::servicecontrol::v1::__buffa::view::oneof::{
        distribution::BucketOption, log_entry::Payload, metric_value::Value,
    };
    use buffa_types::google::protobuf::__buffa::view::{
        StructView, TimestampView, ValueView as JsonValueView, oneof::value::Kind,
    };
    fn time(t: &buffa::MessageFieldView<TimestampView<'_>>) -> u64 {
        t.as_option()
            .map_or(0, |t| t.seconds as u64 + t.nanos as u64)
    }
    fn labels(map: &buffa::MapView<'_, &str, &str>) -> u64 {
        map.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum()
    }
    fn json_value(v: &JsonValueView<'_>) -> u64 {
        match &v.kind {
            Some(Kind::NullValue(n)) => n.to_i32() as u64,
            Some(Kind::NumberValue(x)) => x.to_bits() & 1,
            Some(Kind::StringValue(s)) => s.len() as u64,
            Some(Kind::BoolValue(b)) => u64::from(*b),
            Some(Kind::StructValue(s)) => json_struct(s),
            Some(Kind::ListValue(l)) => l.values.iter().map(json_value).sum(),
            None => 0,
        }
    }
    fn json_struct(s: &StructView<'_>) -> u64 {
        s.fields
            .iter()
            .map(|(k, v)| k.len() as u64 + json_value(v))
            .sum()
    }
    let mut sum = report.service_name.len() as u64 + report.service_config_id.len() as u64;
    for op in report.operations.iter() {
        sum += (op.operation_id.len() + op.operation_name.len() + op.consumer_id.len()) as u64;
        sum += time(&op.start_time) + time(&op.end_time) + op.importance.to_i32() as u64;
        sum += labels(&op.labels) + labels(&op.user_labels);
        for set in op.metric_value_sets.iter() {
            sum += set.metric_name.len() as u64;
            for value in set.metric_values.iter() {
                sum += labels(&value.labels) + time(&value.start_time) + time(&value.end_time);
                sum += match &value.value {
                    Some(Value::BoolValue(b)) => u64::from(*b),
                    Some(Value::Int64Value(n)) => *n as u64,
                    Some(Value::DoubleValue(x)) => x.to_bits() & 1,
                    Some(Value::StringValue(s)) => s.len() as u64,
                    Some(Value::DistributionValue(d)) => {
                        let buckets: u64 = d.bucket_counts.iter().map(|c| *c as u64).sum();
                        let layout = match &d.bucket_option {
                            Some(BucketOption::LinearBuckets(l)) => l.num_finite_buckets as u64,
                            Some(BucketOption::ExponentialBuckets(e)) => {
                                e.num_finite_buckets as u64
                            }
                            Some(BucketOption::ExplicitBuckets(e)) => e.bounds.len() as u64,
                            None => 0,
                        };
                        d.count as u64
                            + (d.mean + d.minimum + d.maximum + d.sum_of_squared_deviation)
                                .to_bits()
                                % 2
                            + buckets
                            + layout
                            + d.exemplars.len() as u64
                    }
                    None => 0,
                };
            }
        }
        for entry in op.log_entries.iter() {
            sum += (entry.name.len() + entry.trace.len() + entry.insert_id.len()) as u64;
            sum += time(&entry.timestamp) + entry.severity.to_i32() as u64 + labels(&entry.labels);
            if let Some(http) = entry.http_request.as_option() {
                sum += (http.request_method.len()
                    + http.request_url.len()
                    + http.user_agent.len()
                    + http.remote_ip.len()
                    + http.server_ip.len()
                    + http.referer.len()
                    + http.protocol.len()) as u64
                    + http.status as u64
                    + http.response_size as u64
                    + http.request_size as u64
                    + http
                        .latency
                        .as_option()
                        .map_or(0, |d| d.seconds as u64 + d.nanos as u64)
                    + u64::from(http.cache_lookup)
                    + u64::from(http.cache_hit)
                    + u64::from(http.cache_validated_with_origin_server)
                    + http.cache_fill_bytes as u64;
            }
            if let Some(o) = entry.operation.as_option() {
                sum +=
                    (o.id.len() + o.producer.len()) as u64 + u64::from(o.first) + u64::from(o.last);
            }
            if let Some(s) = entry.source_location.as_option() {
                sum += (s.file.len() + s.function.len()) as u64 + s.line as u64;
            }
            sum += match &entry.payload {
                Some(Payload::TextPayload(t)) => t.len() as u64,
                Some(Payload::StructPayload(s)) => json_struct(s),
                Some(Payload::ProtoPayload(any)) => (any.type_url.len() + any.value.len()) as u64,
                None => 0,
            };
        }
        sum += op
            .extensions
            .iter()
            .map(|e| (e.type_url.len() + e.value.len()) as u64)
            .sum::<u64>();
    }
    sum
}
