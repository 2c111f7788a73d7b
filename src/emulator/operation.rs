//! The API's own rules for an operation of a report, whatever the service's
//! configuration: what the `Operation`, `MetricValueSet` and `Distribution`
//! references require, and what the REST wire must be able to carry. They
//! read the operation where its bytes are, through its view.

use std::collections::{BTreeMap, HashSet};

use super::encoded::time_of;
use crate::google::api::servicecontrol::v1 as sc;
use crate::google::api::servicecontrol::v1::distribution::BucketOptionView;
use crate::google::protobuf::{Timestamp, TimestampView};
use crate::rest::clip;
use crate::view::{Map, Str};

/// The largest `ReportRequest` accepted, encoded: the documented 1 MB.
pub const MAX_REPORT_BYTES: usize = 1_000_000;

/// Why an operation cannot be stored, or `None` when it can.
pub(super) fn operation_problem(op: sc::OperationView<'_>) -> Option<String> {
    if op.operation_id().is_empty() {
        return Some("operation_id is required".into());
    }
    let Some(start) = view_time(op.start_time()) else {
        return Some("start_time is required and must be a valid timestamp".into());
    };
    let Some(end) = view_time(op.end_time()) else {
        return Some("end_time is required in Report and must be a valid timestamp".into());
    };
    if end < start {
        return Some("end_time is before start_time".into());
    }
    location_problem("labels", op.labels())
        .or_else(|| values_problem(op))
        .or_else(|| payload_problem(op))
        .or_else(|| json_problem(op))
}

/// [`time_of`] of a timestamp's view.
fn view_time(ts: Option<TimestampView<'_>>) -> Option<(i64, i32)> {
    let ts = ts.map(|t| Timestamp {
        seconds: t.seconds(),
        nanos: t.nanos(),
        ..Default::default()
    });
    time_of(ts.as_ref())
}

/// The label ESPv2 never sends empty: "This label SHOULD not be empty,
/// otherwise the server will fail the call" (`request_builder.cc`).
const LOCATION: &str = "cloud.googleapis.com/location";

fn location_problem(field: &str, labels: Map<'_, Str, Str>) -> Option<String> {
    labels
        .get(&LOCATION)
        .is_some_and(str::is_empty)
        .then(|| format!("{field}: {LOCATION} must not be empty (\"global\" when unknown)"))
}

/// The metric values' own labels and distributions.
fn values_problem(op: sc::OperationView<'_>) -> Option<String> {
    for (i, set) in op.metric_value_sets().iter().enumerate() {
        for (j, value) in set.metric_values().iter().enumerate() {
            let here = || format!("metric_value_sets[{i}].metric_values[{j}]");
            if let Some(p) = location_problem(&format!("{}.labels", here()), value.labels()) {
                return Some(p);
            }
            if let Some(sc::metric_value::ValueView::DistributionValue(d)) = value.value()
                && let Some(p) = distribution_problem(d)
            {
                return Some(format!("{}.distribution_value: {p}", here()));
            }
        }
    }
    None
}

/// What `distribution.proto` requires of a distribution: `count` not
/// negative; with no values, `mean` and `sum_of_squared_deviation` zero;
/// with some, `minimum <= mean <= maximum` and the deviation not negative;
/// a bucket layout that is valid (more than 0 finite buckets, a width above
/// 0, a growth factor above 1 and a scale above 0, explicit bounds strictly
/// increasing) and given whenever `bucket_counts` are; bucket counts not
/// negative, no more than the layout has buckets (underflow, finite,
/// overflow; trailing zeros may be left out), adding up to `count`.
pub(super) fn distribution_problem(d: sc::DistributionView<'_>) -> Option<String> {
    let (count, mean, deviation) = (d.count(), d.mean(), d.sum_of_squared_deviation());
    if count < 0 {
        return Some(format!("count {count} is negative"));
    }
    if count == 0 {
        if mean != 0.0 || deviation != 0.0 {
            return Some("mean and sum_of_squared_deviation must be 0 when count is 0".into());
        }
    } else {
        if !(d.minimum() <= mean && mean <= d.maximum()) {
            return Some(format!(
                "minimum <= mean <= maximum does not hold ({} <= {mean} <= {})",
                d.minimum(),
                d.maximum()
            ));
        }
        if deviation.is_nan() || deviation < 0.0 {
            return Some("sum_of_squared_deviation must not be negative".into());
        }
    }
    let counts = d.bucket_counts();
    let buckets = match d.bucket_option() {
        None if counts.is_empty() => return None,
        None => return Some("bucket_counts are given without a bucket layout".into()),
        Some(BucketOptionView::LinearBuckets(l)) => {
            let n = l.num_finite_buckets();
            if n <= 0 || !above(l.width(), 0.0) || !l.offset().is_finite() {
                return Some(
                    "linear_buckets: num_finite_buckets and width must be above 0, offset finite"
                        .into(),
                );
            }
            n as usize + 2
        }
        Some(BucketOptionView::ExponentialBuckets(e)) => {
            let n = e.num_finite_buckets();
            if n <= 0 || !above(e.growth_factor(), 1.0) || !above(e.scale(), 0.0) {
                return Some(
                    "exponential_buckets: num_finite_buckets must be above 0, growth_factor above 1, scale above 0"
                        .into(),
                );
            }
            n as usize + 2
        }
        Some(BucketOptionView::ExplicitBuckets(x)) => {
            let bounds = x.bounds();
            let mut previous = f64::NEG_INFINITY;
            let increasing = bounds.iter().all(|b| {
                let ok = b.is_finite() && b > previous;
                previous = b;
                ok
            });
            if bounds.is_empty() || !increasing {
                return Some(
                    "explicit_buckets: bounds must be finite and strictly increasing".into(),
                );
            }
            bounds.len() + 1
        }
    };
    if counts.len() > buckets {
        return Some(format!(
            "{} bucket_counts for a layout of {buckets} buckets (underflow and overflow included)",
            counts.len()
        ));
    }
    if counts.is_empty() {
        return None;
    }
    let mut sum: i64 = 0;
    for (k, n) in counts.iter().enumerate() {
        if n < 0 {
            return Some(format!("bucket_counts[{k}] is negative"));
        }
        sum = sum.saturating_add(n);
    }
    (sum != count).then(|| format!("bucket_counts add up to {sum}, not to count {count}"))
}

/// Whether `x` is a number greater than `bound` (NaN is not).
fn above(x: f64, bound: f64) -> bool {
    x.partial_cmp(&bound) == Some(std::cmp::Ordering::Greater)
}

/// The only message a log entry may carry: "The only accepted type
/// currently is AuditLog" (the `Operation` reference, `protoPayload`).
const AUDIT_LOG_URL: &str = "type.googleapis.com/google.cloud.audit.AuditLog";

fn payload_problem(op: sc::OperationView<'_>) -> Option<String> {
    op.log_entries().iter().enumerate().find_map(|(i, entry)| match entry.payload() {
        Some(sc::log_entry::PayloadView::ProtoPayload(any)) if any.type_url() != AUDIT_LOG_URL => {
            Some(format!(
                "log_entries[{i}].proto_payload: {:?} is not {AUDIT_LOG_URL}, the only type accepted",
                clip(any.type_url())
            ))
        }
        _ => None,
    })
}

/// What of an operation cannot be written as canonical JSON, naming the
/// field: the REST wire could not carry it (an `Any` of an unknown type,
/// Anys nested past the limit, NaN in a `Struct`, a time out of range), so it
/// is refused at the door rather than stored to break inspection later.
/// Judged by writing it as the JSON engine writes it, from an owned
/// operation this thread keeps and refills from the view (its strings,
/// lists and the messages in them keep their room from one report to the
/// next), into a buffer kept likewise.
fn json_problem(op: sc::OperationView<'_>) -> Option<String> {
    use crate::json::{WriteJson, append_to, to_vec};
    use std::cell::RefCell;
    thread_local! {
        static SCRATCH: RefCell<(sc::Operation, Vec<u8>)> = RefCell::default();
    }
    fn first_failure<T: WriteJson>(field: &str, items: &[T]) -> Option<String> {
        items.iter().enumerate().find_map(|(i, item)| {
            to_vec(item)
                .err()
                .map(|e| format!("{field}[{i}] cannot be written as JSON: {e}"))
        })
    }
    SCRATCH.with_borrow_mut(|(owned, out)| {
        crate::view::View::fill(&op, owned);
        out.clear();
        let written = append_to(owned, out);
        // What one very large operation took is not kept for every later one.
        if out.capacity() > 1 << 20 {
            *out = Vec::new();
        }
        let error = written.err()?;
        first_failure("log_entries", &owned.log_entries)
            .or_else(|| first_failure("metric_value_sets", &owned.metric_value_sets))
            .or_else(|| first_failure("extensions", &owned.extensions))
            .or_else(|| Some(format!("cannot be written as JSON: {error}")))
    })
}

/// The first metric with two values of identical labels in one operation
/// (of a `Report` or an `AllocateQuota`), given the operation's labels.
/// Labels are the value's own over the operation's, as the service applies
/// them. Two values have the same effective labels exactly when their own
/// labels that differ from the operation's are the same, so each value is
/// keyed by those alone: time and memory linear in what was sent, however
/// many labels the operation has.
///
/// `labels` are the operation's; `values` each metric value as its metric's
/// name and its own labels, in key order, each key once (as a map holds
/// them).
pub(super) fn duplicate_metric_value<'a, L>(
    labels: &BTreeMap<&str, &str>,
    values: impl IntoIterator<Item = (&'a str, L)>,
) -> Option<&'a str>
where
    L: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut seen = HashSet::new();
    for (metric, own_labels) in values {
        let own: Vec<(&str, &str)> = own_labels
            .into_iter()
            .filter(|(k, v)| labels.get(k) != Some(v))
            .collect();
        if !seen.insert((metric, own)) {
            return Some(metric);
        }
    }
    None
}

/// [`duplicate_metric_value`] of a report's operation.
pub(super) fn duplicate_in_operation<'a>(op: sc::OperationView<'a>) -> Option<&'a str> {
    let labels: BTreeMap<&str, &str> = op.labels().entries().into_iter().collect();
    duplicate_metric_value(
        &labels,
        op.metric_value_sets().iter().flat_map(|set| {
            set.metric_values()
                .iter()
                .map(move |value| (set.metric_name(), value.labels().entries()))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use sc::distribution::{BucketOption, ExplicitBuckets, ExponentialBuckets, LinearBuckets};

    /// [`distribution_problem`] of an owned distribution's bytes.
    fn judge(d: &sc::Distribution) -> Option<String> {
        let bytes = d.encode_to_vec();
        let decoded = sc::DistributionView::decode_view(&bytes).unwrap();
        distribution_problem(decoded.view())
    }

    fn distribution(
        count: i64,
        mean: f64,
        counts: &[i64],
        layout: Option<BucketOption>,
    ) -> sc::Distribution {
        sc::Distribution {
            count,
            mean,
            minimum: if count > 0 { mean } else { 0.0 },
            maximum: if count > 0 { mean } else { 0.0 },
            bucket_counts: counts.to_vec(),
            bucket_option: layout,
            ..Default::default()
        }
    }

    #[test]
    fn distributions_are_judged_as_distribution_proto_says() {
        let exponential = |n, g, s| {
            Some(BucketOption::ExponentialBuckets(ExponentialBuckets {
                num_finite_buckets: n,
                growth_factor: g,
                scale: s,
                ..Default::default()
            }))
        };
        let linear = |n, w| {
            Some(BucketOption::LinearBuckets(LinearBuckets {
                num_finite_buckets: n,
                width: w,
                offset: 0.0,
                ..Default::default()
            }))
        };
        let explicit = |bounds: &[f64]| {
            Some(BucketOption::ExplicitBuckets(ExplicitBuckets {
                bounds: bounds.to_vec(),
                ..Default::default()
            }))
        };
        let good = [
            distribution(0, 0.0, &[], None),
            distribution(1, 2.0, &[], None),
            distribution(1, 2.0, &[0, 0, 1, 0], exponential(2, 2.0, 1.0)),
            // Trailing zeros may be left out.
            distribution(1, 2.0, &[0, 1], exponential(2, 2.0, 1.0)),
            distribution(3, 2.0, &[1, 2], linear(1, 5.0)),
            distribution(2, 2.0, &[0, 2, 0], explicit(&[1.0, 5.0])),
        ];
        for d in &good {
            assert_eq!(judge(d), None, "{d:?}");
        }
        let mut skewed = distribution(2, 2.0, &[], None);
        skewed.maximum = 1.0;
        let mut negative_deviation = distribution(2, 2.0, &[], None);
        negative_deviation.sum_of_squared_deviation = -1.0;
        let bad = [
            (distribution(-1, 0.0, &[], None), "negative"),
            (distribution(0, 1.0, &[], None), "must be 0"),
            (skewed, "minimum <= mean <= maximum"),
            (negative_deviation, "sum_of_squared_deviation"),
            (distribution(1, 2.0, &[1], None), "without a bucket layout"),
            (
                distribution(1, 2.0, &[0, 0, 0, 0, 1], exponential(2, 2.0, 1.0)),
                "5 bucket_counts for a layout of 4",
            ),
            (
                distribution(2, 2.0, &[0, 1], exponential(2, 2.0, 1.0)),
                "add up to 1, not to count 2",
            ),
            (
                distribution(1, 2.0, &[0, -1, 2], exponential(2, 2.0, 1.0)),
                "bucket_counts[1] is negative",
            ),
            (
                distribution(1, 2.0, &[1], exponential(0, 2.0, 1.0)),
                "exponential_buckets",
            ),
            (
                distribution(1, 2.0, &[1], exponential(2, 1.0, 1.0)),
                "exponential_buckets",
            ),
            (
                distribution(1, 2.0, &[1], exponential(2, 2.0, f64::NAN)),
                "exponential_buckets",
            ),
            (distribution(1, 2.0, &[1], linear(1, 0.0)), "linear_buckets"),
            (
                distribution(1, 2.0, &[1], explicit(&[2.0, 1.0])),
                "explicit_buckets",
            ),
            (
                distribution(1, 2.0, &[0, 0, 1], explicit(&[1.0])),
                "3 bucket_counts for a layout of 2",
            ),
        ];
        for (d, expected) in &bad {
            let problem = judge(d).unwrap_or_default();
            assert!(problem.contains(expected), "{d:?}: {problem}");
        }
    }
}
