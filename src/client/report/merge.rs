//! How operations aggregate: which ones merge, and how their metric values
//! combine. Pure functions, so the rules can be checked on their own.

use std::collections::{BTreeMap, HashMap};

use prost::Message;

use crate::google::api::servicecontrol::v1::metric_value::Value;
use crate::google::api::servicecontrol::v1::{
    Distribution, MetricValue, MetricValueSet, Operation,
};
use crate::google::protobuf::Timestamp;

/// How a metric's values combine, as declared in the service configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// A change over the value's interval: values add up and the interval
    /// widens. Metrics not configured otherwise are DELTA.
    #[default]
    Delta,
    /// A point-in-time reading: the value with the latest end time wins.
    Gauge,
    /// A running total: the value with the latest end time wins.
    Cumulative,
}

/// What operations must share to merge: consumer, operation name, labels and
/// user labels (the last so that merging never drops a label), and the
/// fields the crate's protos do not know, of the operation and of its start
/// and end times: an aggregate keeps one copy of them, so only operations
/// with the same ones merge.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Signature {
    consumer_id: String,
    operation_name: String,
    labels: Vec<(String, String)>,
    user_labels: Vec<(String, String)>,
    /// Those of the operation, its start and its end time; `None` when all
    /// three are empty, as they nearly always are (a signature is held
    /// twice per aggregate).
    unknown_fields: Option<Box<[Vec<u8>; 3]>>,
}

impl Signature {
    pub(crate) fn of(op: &Operation) -> Self {
        Self {
            consumer_id: op.consumer_id.clone(),
            operation_name: op.operation_name.clone(),
            labels: op
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            user_labels: op
                .user_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            unknown_fields: {
                let three = [
                    op.unknown_fields.as_bytes(),
                    unknown_of(op.start_time.as_ref()),
                    unknown_of(op.end_time.as_ref()),
                ];
                (!three.iter().all(|u| u.is_empty())).then(|| Box::new(three.map(<[u8]>::to_vec)))
            },
        }
    }
}

fn unknown_of(ts: Option<&Timestamp>) -> &[u8] {
    ts.map_or(&[], |t| t.unknown_fields.as_bytes())
}

/// Whether two messages merged into one lose nothing the crate's protos do
/// not know: their unknown fields are the same (the merged message keeps one
/// copy), and so are those of their start and end times (the merged message
/// keeps one of each).
fn same_unknown(a: &MetricValue, b: &MetricValue) -> bool {
    a.unknown_fields == b.unknown_fields
        && same_unknown_of(a.start_time.as_ref(), b.start_time.as_ref())
        && same_unknown_of(a.end_time.as_ref(), b.end_time.as_ref())
}

/// Whether two times carry the same unknown fields (an absent time has
/// none), without comparing bytes when neither has any.
fn same_unknown_of(a: Option<&Timestamp>, b: Option<&Timestamp>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.unknown_fields == b.unknown_fields,
        (Some(t), None) | (None, Some(t)) => t.unknown_fields.is_empty(),
        (None, None) => true,
    }
}

fn key(ts: Option<&Timestamp>) -> Option<(i64, i32)> {
    ts.map(|t| (t.seconds, t.nanos))
}

fn earliest(a: &Option<Timestamp>, b: &Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if key(Some(a)) <= key(Some(b)) { a } else { b }.clone()),
        (a, b) => a.as_ref().or(b.as_ref()).cloned(),
    }
}

fn latest(a: &Option<Timestamp>, b: &Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if key(Some(a)) >= key(Some(b)) { a } else { b }.clone()),
        (a, b) => a.as_ref().or(b.as_ref()).cloned(),
    }
}

/// Merges distribution `b` into `a`: counts and bucket counts add, the mean
/// is the weighted mean, and the sum of squared deviations combines exactly
/// (Chan et al.'s parallel formula). `None` when the bucket layouts differ,
/// or the two carry different unknown fields.
pub(crate) fn merge_distributions(a: &Distribution, b: &Distribution) -> Option<Distribution> {
    if a.unknown_fields != b.unknown_fields {
        return None;
    }
    if b.count == 0 {
        return Some(a.clone());
    }
    if a.count == 0 {
        return Some(b.clone());
    }
    let buckets = match (a.bucket_counts.is_empty(), b.bucket_counts.is_empty()) {
        (true, true) => Vec::new(),
        (false, false) if a.bucket_option == b.bucket_option => {
            let len = a.bucket_counts.len().max(b.bucket_counts.len());
            (0..len)
                .map(|i| {
                    a.bucket_counts.get(i).copied().unwrap_or(0)
                        + b.bucket_counts.get(i).copied().unwrap_or(0)
                })
                .collect()
        }
        _ => return None,
    };
    #[allow(clippy::cast_precision_loss)]
    let (na, nb) = (a.count as f64, b.count as f64);
    let n = na + nb;
    let delta = b.mean - a.mean;
    let mut exemplars = a.exemplars.clone();
    exemplars.extend(b.exemplars.iter().cloned());
    Some(Distribution {
        count: a.count + b.count,
        mean: a.mean + delta * nb / n,
        minimum: a.minimum.min(b.minimum),
        maximum: a.maximum.max(b.maximum),
        sum_of_squared_deviation: a.sum_of_squared_deviation
            + b.sum_of_squared_deviation
            + delta * delta * na * nb / n,
        bucket_counts: buckets,
        bucket_option: a.bucket_option.clone().or_else(|| b.bucket_option.clone()),
        exemplars,
        unknown_fields: a.unknown_fields.clone(),
    })
}

/// Merges two values of one metric with identical labels; `None` when they
/// cannot merge without losing something (different value types,
/// distributions with different bucket layouts, different unknown fields).
pub(crate) fn merge_values(
    kind: MetricKind,
    a: &MetricValue,
    b: &MetricValue,
) -> Option<MetricValue> {
    if !same_unknown(a, b) {
        return None;
    }
    match kind {
        MetricKind::Gauge | MetricKind::Cumulative => {
            let same_type = std::mem::discriminant(a.value.as_ref()?)
                == std::mem::discriminant(b.value.as_ref()?);
            if !same_type {
                return None;
            }
            // The latest end time wins; on a tie, the later report.
            Some(if key(b.end_time.as_ref()) >= key(a.end_time.as_ref()) {
                b.clone()
            } else {
                a.clone()
            })
        }
        MetricKind::Delta => {
            let value = match (a.value.as_ref()?, b.value.as_ref()?) {
                (Value::Int64Value(x), Value::Int64Value(y)) => {
                    Value::Int64Value(x.checked_add(*y)?)
                }
                (Value::DoubleValue(x), Value::DoubleValue(y)) => Value::DoubleValue(x + y),
                (Value::DistributionValue(x), Value::DistributionValue(y)) => {
                    Value::DistributionValue(merge_distributions(x, y)?)
                }
                _ => return None,
            };
            Some(MetricValue {
                labels: a.labels.clone(),
                start_time: earliest(&a.start_time, &b.start_time),
                end_time: latest(&a.end_time, &b.end_time),
                value: Some(value),
                unknown_fields: a.unknown_fields.clone(),
            })
        }
    }
}

/// An aggregate indexes its metric values once it holds more than this
/// many; below it, looking values up one by one is cheaper than hashing.
const INDEX_FROM: usize = 16;

/// Where each metric value of an aggregate is, by its metric name and
/// labels, so a merge costs what the merged operation holds rather than what
/// the aggregate has gathered.
#[derive(Debug, Default)]
struct MetricIndex {
    hasher: std::collections::hash_map::RandomState,
    /// Metric value set position by metric name.
    sets: HashMap<String, usize>,
    /// (set, value) positions by the hash of (metric name, labels); equal
    /// hashes are told apart by comparing the values' labels.
    values: HashMap<u64, Vec<(usize, usize)>>,
}

impl MetricIndex {
    fn of(op: &Operation) -> Self {
        let mut index = Self::default();
        for (s, set) in op.metric_value_sets.iter().enumerate() {
            index.sets.entry(set.metric_name.clone()).or_insert(s);
            for (v, value) in set.metric_values.iter().enumerate() {
                // The first of values with equal labels is the one merged into.
                if index.find(op, &set.metric_name, &value.labels).is_none() {
                    index.insert(&set.metric_name, &value.labels, (s, v));
                }
            }
        }
        index
    }

    fn hash(&self, metric: &str, labels: &BTreeMap<String, String>) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one((metric, labels))
    }

    fn find(
        &self,
        op: &Operation,
        metric: &str,
        labels: &BTreeMap<String, String>,
    ) -> Option<(usize, usize)> {
        let s = *self.sets.get(metric)?;
        self.values
            .get(&self.hash(metric, labels))?
            .iter()
            .copied()
            .find(|&(set, v)| {
                set == s && op.metric_value_sets[s].metric_values[v].labels == *labels
            })
    }

    fn insert(&mut self, metric: &str, labels: &BTreeMap<String, String>, at: (usize, usize)) {
        let hash = self.hash(metric, labels);
        self.values.entry(hash).or_default().push(at);
    }
}

/// An operation gathering the operations of one [`Signature`]; with an
/// index of its metric values once it holds many.
#[derive(Debug)]
pub(crate) struct Aggregate {
    operation: Operation,
    index: Option<Box<MetricIndex>>,
    /// How many metric values the operation holds.
    values: usize,
    /// At least the operation's encoded length, once measured: the exact
    /// length after the last measure plus the encoded lengths merged since,
    /// which a merge never exceeds.
    len_bound: Option<usize>,
}

impl Aggregate {
    /// Starts an aggregate from one operation. Two values of one metric with
    /// identical labels in it stay as they are; later values merge into the
    /// first.
    pub(crate) fn new(operation: Operation) -> Self {
        let values = operation
            .metric_value_sets
            .iter()
            .map(|s| s.metric_values.len())
            .sum();
        let mut aggregate = Self {
            operation,
            index: None,
            values,
            len_bound: None,
        };
        aggregate.reindex();
        aggregate
    }

    fn reindex(&mut self) {
        self.index = (self.values > INDEX_FROM).then(|| Box::new(MetricIndex::of(&self.operation)));
    }

    /// The operation as aggregated so far.
    pub(crate) fn operation(&self) -> &Operation {
        &self.operation
    }

    /// The aggregated operation.
    pub(crate) fn into_operation(self) -> Operation {
        self.operation
    }

    /// Whether merging an operation of `added` encoded bytes keeps the
    /// aggregate within `limit`, measuring it again only when the bound says
    /// it might not.
    pub(crate) fn fits(&mut self, added: usize, limit: usize) -> bool {
        if self
            .len_bound
            .is_some_and(|bound| bound + added + 10 <= limit)
        {
            return true;
        }
        let exact = self.operation.encoded_len();
        self.len_bound = Some(exact);
        exact + added + 10 <= limit
    }

    /// The position of a metric's value set, when held.
    fn find_set(&self, metric: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.sets.get(metric).copied(),
            None => self
                .operation
                .metric_value_sets
                .iter()
                .position(|s| s.metric_name == metric),
        }
    }

    /// The position, in a set, of the value with these labels, when held.
    fn find(&self, set: usize, labels: &BTreeMap<String, String>) -> Option<usize> {
        let s = &self.operation.metric_value_sets[set];
        match &self.index {
            Some(index) => index
                .find(&self.operation, &s.metric_name, labels)
                .map(|(_, v)| v),
            None => s.metric_values.iter().position(|v| v.labels == *labels),
        }
    }

    /// Merges `b` (of the same [`Signature`], `b_len` bytes encoded) into the
    /// aggregate; `false`, leaving it unchanged, when some metric value
    /// cannot merge. Costs time linear in `b` once the aggregate is indexed.
    pub(crate) fn merge(
        &mut self,
        b: &Operation,
        b_len: usize,
        kinds: &BTreeMap<String, MetricKind>,
    ) -> bool {
        // Changes are made in place; what they replaced is kept to undo them.
        let sets_before = self.operation.metric_value_sets.len();
        let mut lens_before: Vec<(usize, usize)> = Vec::new();
        let mut replaced: Vec<((usize, usize), MetricValue)> = Vec::new();
        let values_before = self.values;
        let mut ok = true;
        'sets: for set in &b.metric_value_sets {
            let kind = kinds.get(&set.metric_name).copied().unwrap_or_default();
            for value in &set.metric_values {
                let s = match self.find_set(&set.metric_name) {
                    // A set keeps one copy of its unknown fields.
                    Some(s)
                        if self.operation.metric_value_sets[s].unknown_fields
                            != set.unknown_fields =>
                    {
                        ok = false;
                        break 'sets;
                    }
                    Some(s) => s,
                    None => {
                        self.operation.metric_value_sets.push(MetricValueSet {
                            metric_name: set.metric_name.clone(),
                            metric_values: Vec::new(),
                            unknown_fields: set.unknown_fields.clone(),
                        });
                        let s = self.operation.metric_value_sets.len() - 1;
                        if let Some(index) = &mut self.index {
                            index.sets.insert(set.metric_name.clone(), s);
                        }
                        s
                    }
                };
                match self.find(s, &value.labels) {
                    Some(v) => {
                        let slot = &mut self.operation.metric_value_sets[s].metric_values[v];
                        let Some(merged) = merge_values(kind, slot, value) else {
                            ok = false;
                            break 'sets;
                        };
                        replaced.push(((s, v), std::mem::replace(slot, merged)));
                    }
                    None => {
                        let values = &mut self.operation.metric_value_sets[s].metric_values;
                        if s < sets_before && !lens_before.iter().any(|(set, _)| *set == s) {
                            lens_before.push((s, values.len()));
                        }
                        values.push(value.clone());
                        let at = (s, values.len() - 1);
                        self.values += 1;
                        match &mut self.index {
                            Some(index) => index.insert(&set.metric_name, &value.labels, at),
                            None if self.values > INDEX_FROM => self.reindex(),
                            None => {}
                        }
                    }
                }
            }
        }
        let op = &mut self.operation;
        if !ok {
            for ((s, v), value) in replaced.into_iter().rev() {
                op.metric_value_sets[s].metric_values[v] = value;
            }
            for (s, len) in lens_before {
                op.metric_value_sets[s].metric_values.truncate(len);
            }
            op.metric_value_sets.truncate(sets_before);
            self.values = values_before;
            self.reindex();
            return false;
        }
        op.start_time = earliest(&op.start_time, &b.start_time);
        op.end_time = latest(&op.end_time, &b.end_time);
        op.log_entries.extend(b.log_entries.iter().cloned());
        op.extensions.extend(b.extensions.iter().cloned());
        self.len_bound = self.len_bound.map(|bound| bound + b_len);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(samples: &[f64]) -> Distribution {
        #[allow(clippy::cast_precision_loss)]
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        Distribution {
            count: samples.len() as i64,
            mean,
            minimum: samples.iter().copied().fold(f64::INFINITY, f64::min),
            maximum: samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            sum_of_squared_deviation: samples.iter().map(|x| (x - mean).powi(2)).sum(),
            ..Default::default()
        }
    }

    #[test]
    fn distributions_merge_as_if_computed_over_all_samples() {
        let merged = merge_distributions(&dist(&[1.0, 2.0, 3.0]), &dist(&[10.0, 20.0])).unwrap();
        let all = dist(&[1.0, 2.0, 3.0, 10.0, 20.0]);
        assert_eq!(merged.count, all.count);
        assert!((merged.mean - all.mean).abs() < 1e-12);
        assert!((merged.sum_of_squared_deviation - all.sum_of_squared_deviation).abs() < 1e-9);
        assert_eq!((merged.minimum, merged.maximum), (1.0, 20.0));
    }

    #[test]
    fn different_bucket_layouts_do_not_merge() {
        use crate::google::api::servicecontrol::v1::distribution::{BucketOption, ExplicitBuckets};
        let mut a = dist(&[1.0]);
        a.bucket_counts = vec![1, 0];
        a.bucket_option = Some(BucketOption::ExplicitBuckets(ExplicitBuckets {
            bounds: vec![5.0],
            ..Default::default()
        }));
        let mut b = a.clone();
        assert_eq!(
            merge_distributions(&a, &b).unwrap().bucket_counts,
            vec![2, 0]
        );
        b.bucket_option = Some(BucketOption::ExplicitBuckets(ExplicitBuckets {
            bounds: vec![6.0],
            ..Default::default()
        }));
        assert!(merge_distributions(&a, &b).is_none());
    }

    fn wide(values: usize, value: i64) -> Operation {
        Operation {
            labels: (0..values).map(|i| (format!("l{i}"), "v".into())).collect(),
            metric_value_sets: vec![MetricValueSet {
                metric_name: "m".into(),
                metric_values: (0..values)
                    .map(|i| MetricValue {
                        labels: [("n".to_owned(), i.to_string())].into(),
                        value: Some(Value::Int64Value(value)),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn wide_operations_merge_value_by_value_through_the_index() {
        // 20,000 values each side: a search of the aggregate per value would
        // compare 400 million label sets.
        let mut aggregate = Aggregate::new(wide(20_000, 1));
        let b = wide(20_000, 2);
        assert!(aggregate.merge(&b, b.encoded_len(), &BTreeMap::new()));
        let mut more = wide(1, 5);
        more.metric_value_sets[0].metric_values[0].labels =
            [("n".to_owned(), "new".to_owned())].into();
        assert!(aggregate.merge(&more, more.encoded_len(), &BTreeMap::new()));
        let values = &aggregate.operation().metric_value_sets[0].metric_values;
        assert_eq!(values.len(), 20_001);
        assert!(
            values[..20_000]
                .iter()
                .all(|v| v.value == Some(Value::Int64Value(3)))
        );
        assert_eq!(values[20_000].value, Some(Value::Int64Value(5)));
    }

    #[test]
    fn a_merge_that_fails_part_way_changes_nothing() {
        let mut aggregate = Aggregate::new(wide(3, 1));
        let before = aggregate.operation().clone();
        let mut b = wide(3, 1);
        // The first values would merge; the last cannot (another type).
        b.metric_value_sets[0].metric_values[2].value = Some(Value::StringValue("x".into()));
        b.metric_value_sets.push(MetricValueSet {
            metric_name: "other".into(),
            metric_values: vec![MetricValue::default()],
            ..Default::default()
        });
        b.metric_value_sets.swap(0, 1);
        assert!(!aggregate.merge(&b, b.encoded_len(), &BTreeMap::new()));
        assert_eq!(aggregate.operation(), &before);
        // The same when the aggregate is indexed, and the index still finds
        // every value afterwards.
        let mut indexed = Aggregate::new(wide(40, 1));
        let before = indexed.operation().clone();
        let mut bad = wide(41, 1);
        // n=5 cannot merge, and comes last, after a new value (n=40).
        bad.metric_value_sets[0].metric_values[5].value = Some(Value::StringValue("x".into()));
        bad.metric_value_sets[0].metric_values.swap(5, 40);
        assert!(!indexed.merge(&bad, bad.encoded_len(), &BTreeMap::new()));
        assert_eq!(indexed.operation(), &before);
        let good = wide(41, 1);
        assert!(indexed.merge(&good, good.encoded_len(), &BTreeMap::new()));
        let values = &indexed.operation().metric_value_sets[0].metric_values;
        assert_eq!(values.len(), 41);
        assert!(
            values[..40]
                .iter()
                .all(|v| v.value == Some(Value::Int64Value(2)))
        );
        // Values repeated within one merged operation combine with each other.
        let mut twice = wide(1, 2);
        let value = twice.metric_value_sets[0].metric_values[0].clone();
        twice.metric_value_sets[0].metric_values.push(value);
        assert!(aggregate.merge(&twice, twice.encoded_len(), &BTreeMap::new()));
        assert_eq!(
            aggregate.operation().metric_value_sets[0].metric_values[0].value,
            Some(Value::Int64Value(5))
        );
    }

    #[test]
    fn unknown_fields_are_kept_or_the_operations_stay_apart() {
        use crate::wire::{UnknownField, UnknownValue};
        let newer = |op: &mut Operation, number: u32| {
            let field = UnknownField {
                number,
                value: UnknownValue::Varint(1),
            };
            op.unknown_fields.push(field).unwrap();
            let set = &mut op.metric_value_sets[0];
            set.unknown_fields.push(field).unwrap();
            set.metric_values[0].unknown_fields.push(field).unwrap();
        };
        let kinds = BTreeMap::new();

        // The same unknown fields: the aggregate keeps one copy of each.
        let (mut a, mut b) = (wide(1, 1), wide(1, 2));
        newer(&mut a, 900);
        newer(&mut b, 900);
        assert_eq!(Signature::of(&a), Signature::of(&b));
        let mut aggregate = Aggregate::new(a.clone());
        assert!(aggregate.merge(&b, b.encoded_len(), &kinds));
        let merged = aggregate.into_operation();
        assert_eq!(merged.unknown_fields, a.unknown_fields);
        let set = &merged.metric_value_sets[0];
        assert_eq!(set.unknown_fields, a.metric_value_sets[0].unknown_fields);
        assert_eq!(set.metric_values[0].value, Some(Value::Int64Value(3)));
        assert_eq!(
            set.metric_values[0].unknown_fields,
            a.metric_value_sets[0].metric_values[0].unknown_fields
        );

        // Different ones on the operations: different signatures.
        let (mut a, mut b) = (wide(1, 1), wide(1, 2));
        newer(&mut a, 900);
        newer(&mut b, 901);
        assert_ne!(Signature::of(&a), Signature::of(&b));
        // Only on a time of the operation: different signatures too.
        let (mut a, b) = (wide(1, 1), wide(1, 2));
        a.start_time
            .get_or_insert_default()
            .unknown_fields
            .push(UnknownField {
                number: 9,
                value: UnknownValue::Varint(9),
            })
            .unwrap();
        assert_ne!(Signature::of(&a), Signature::of(&b));
        // Different ones below, on a set or a value: the merge is refused
        // and changes nothing.
        for level in 0..3 {
            let (a, mut b) = (wide(1, 1), wide(1, 2));
            let field = UnknownField {
                number: 7,
                value: UnknownValue::Fixed32(7),
            };
            match level {
                0 => b.metric_value_sets[0].unknown_fields.push(field),
                1 => b.metric_value_sets[0].metric_values[0]
                    .unknown_fields
                    .push(field),
                _ => b.metric_value_sets[0].metric_values[0]
                    .end_time
                    .get_or_insert_default()
                    .unknown_fields
                    .push(field),
            }
            .unwrap();
            let mut aggregate = Aggregate::new(a.clone());
            assert!(
                !aggregate.merge(&b, b.encoded_len(), &kinds),
                "level {level}"
            );
            assert_eq!(aggregate.operation(), &a);
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::google::api::servicecontrol::v1::metric_value::Value as V;

        /// An operation holding one value of each DELTA kind, built from its
        /// samples.
        fn operation(int: i64, double: f64, samples: &[f64]) -> Operation {
            let set = |name: &str, value: V| MetricValueSet {
                metric_name: name.into(),
                metric_values: vec![MetricValue {
                    value: Some(value),
                    ..Default::default()
                }],
                ..Default::default()
            };
            Operation {
                operation_id: "op".into(),
                consumer_id: "project:p".into(),
                metric_value_sets: vec![
                    set("requests", V::Int64Value(int)),
                    set("bytes", V::DoubleValue(double)),
                    set("latency", V::DistributionValue(dist(samples))),
                ],
                ..Default::default()
            }
        }

        fn value<'a>(op: &'a Operation, name: &str) -> &'a V {
            op.metric_value_sets
                .iter()
                .find(|s| s.metric_name == name)
                .unwrap()
                .metric_values[0]
                .value
                .as_ref()
                .unwrap()
        }

        fn parts() -> impl Strategy<Value = Vec<(i64, f64, Vec<f64>)>> {
            prop::collection::vec(
                (
                    -1_000_000_000i64..1_000_000_000,
                    -1e6f64..1e6,
                    prop::collection::vec(0f64..1000.0, 1..8),
                ),
                2..10,
            )
        }

        fn merged(parts: &[(i64, f64, Vec<f64>)], order: &[usize]) -> Operation {
            let kinds = BTreeMap::new();
            let mut ops = order
                .iter()
                .map(|&i| operation(parts[i].0, parts[i].1, &parts[i].2));
            let mut acc = Aggregate::new(ops.next().unwrap());
            for op in ops {
                assert!(acc.merge(&op, op.encoded_len(), &kinds));
            }
            acc.into_operation()
        }

        fn close(a: f64, b: f64) -> bool {
            (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
        }

        proptest! {
            #[test]
            fn merging_preserves_totals_in_any_order(parts in parts(), seed in any::<u64>()) {
                let forward: Vec<usize> = (0..parts.len()).collect();
                let mut shuffled = forward.clone();
                let mut rng = seed;
                for i in (1..shuffled.len()).rev() {
                    rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    shuffled.swap(i, (rng >> 33) as usize % (i + 1));
                }
                let all: Vec<f64> = parts.iter().flat_map(|p| p.2.iter().copied()).collect();
                let expected = dist(&all);
                for order in [&forward, &shuffled] {
                    let op = merged(&parts, order);
                    prop_assert_eq!(value(&op, "requests"), &V::Int64Value(parts.iter().map(|p| p.0).sum()));
                    let V::DoubleValue(sum) = value(&op, "bytes") else { panic!() };
                    prop_assert!(close(*sum, parts.iter().map(|p| p.1).sum()));
                    let V::DistributionValue(d) = value(&op, "latency") else { panic!() };
                    prop_assert_eq!(d.count, expected.count);
                    prop_assert!(close(d.mean, expected.mean), "{} vs {}", d.mean, expected.mean);
                    prop_assert!(
                        (d.sum_of_squared_deviation - expected.sum_of_squared_deviation).abs()
                            <= 1e-6 * expected.sum_of_squared_deviation.max(1.0)
                    );
                    prop_assert_eq!((d.minimum, d.maximum), (expected.minimum, expected.maximum));
                }
            }
        }

        #[test]
        fn gauges_keep_the_latest_and_mismatches_refuse() {
            let at = |seconds| {
                Some(Timestamp {
                    seconds,
                    nanos: 0,
                    ..Default::default()
                })
            };
            let a = MetricValue {
                end_time: at(10),
                value: Some(V::Int64Value(1)),
                ..Default::default()
            };
            let b = MetricValue {
                end_time: at(5),
                value: Some(V::Int64Value(2)),
                ..Default::default()
            };
            assert_eq!(
                merge_values(MetricKind::Gauge, &a, &b).unwrap().value,
                Some(V::Int64Value(1))
            );
            assert_eq!(
                merge_values(MetricKind::Cumulative, &b, &a).unwrap().value,
                Some(V::Int64Value(1))
            );
            let text = MetricValue {
                value: Some(V::StringValue("x".into())),
                ..Default::default()
            };
            assert!(merge_values(MetricKind::Delta, &a, &text).is_none());
            assert!(merge_values(MetricKind::Gauge, &a, &text).is_none());
            let max = MetricValue {
                value: Some(V::Int64Value(i64::MAX)),
                ..Default::default()
            };
            assert!(
                merge_values(MetricKind::Delta, &max, &a).is_none(),
                "an overflowing sum is refused"
            );
            let widened = merge_values(
                MetricKind::Delta,
                &MetricValue {
                    start_time: at(3),
                    end_time: at(4),
                    ..a.clone()
                },
                &MetricValue {
                    start_time: at(1),
                    end_time: at(2),
                    ..b.clone()
                },
            )
            .unwrap();
            assert_eq!((widened.start_time, widened.end_time), (at(1), at(4)));
        }
    }
}
