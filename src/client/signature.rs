//! The keys the Check and quota caches find answers by: what makes two
//! requests the same question, as `service-control-client-cxx` signs them.
//!
//! A signature is the 128-bit SipHash-1-3 digest under a key drawn at
//! random per client: a collision would give one consumer another's answer,
//! so it must be at least as unlikely as the anchor's MD5 made it, and,
//! unlike with an unkeyed MD5, no caller can aim at one.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};

use siphasher::sip128::{Hasher128, SipHasher13};

use crate::google::api::servicecontrol::v1::{AllocateQuotaRequest, CheckRequest};

/// Signs requests under a key of its own.
#[derive(Debug)]
pub(crate) struct Signer {
    key: (u64, u64),
}

impl Default for Signer {
    /// A key from the process's random hash seeds (the operating system's
    /// randomness, as `HashMap` draws it).
    fn default() -> Self {
        let draw = || RandomState::new().hash_one(0x5ca1ab1e_u64);
        Self {
            key: (draw(), draw()),
        }
    }
}

/// Feeds what identifies a request to a hasher. Strings hash with a
/// terminator, so no two different sequences feed the same bytes.
trait Signed {
    fn feed(&self, hasher: &mut impl Hasher);
}

impl Signed for CheckRequest {
    /// Operation name, consumer id, the labels in key order, then each
    /// metric by name with the labels of each of its values; and, beyond
    /// the anchor, the fields of the request and operation that the crate's
    /// protos do not know (a newer caller's question is not answered with
    /// another's, and its unknown fields are not lost in an aggregate).
    fn feed(&self, hasher: &mut impl Hasher) {
        self.unknown_fields.as_bytes().hash(hasher);
        let Some(op) = &self.operation else {
            return;
        };
        op.unknown_fields.as_bytes().hash(hasher);
        op.operation_name.hash(hasher);
        op.consumer_id.hash(hasher);
        op.labels.hash(hasher);
        let mut sets: Vec<_> = op.metric_value_sets.iter().collect();
        sets.sort_by(|a, b| a.metric_name.cmp(&b.metric_name));
        for set in sets {
            set.metric_name.hash(hasher);
            hasher.write_usize(set.metric_values.len());
            for value in &set.metric_values {
                value.labels.hash(hasher);
            }
        }
    }
}

impl Signed for AllocateQuotaRequest {
    /// Method name, consumer id and the metric names in order; and, as for
    /// Check, the unknown fields of the request and operation.
    fn feed(&self, hasher: &mut impl Hasher) {
        self.unknown_fields.as_bytes().hash(hasher);
        let Some(op) = &self.allocate_operation else {
            return;
        };
        op.unknown_fields.as_bytes().hash(hasher);
        op.method_name.hash(hasher);
        op.consumer_id.hash(hasher);
        match op.quota_metrics.as_slice() {
            // The common case, one metric, needs no sorting.
            [one] => std::slice::from_ref(&one.metric_name.as_str()).hash(hasher),
            sets => {
                let mut names: Vec<&str> = sets.iter().map(|s| s.metric_name.as_str()).collect();
                names.sort_unstable();
                names.dedup();
                names.hash(hasher);
            }
        }
    }
}

impl Signer {
    fn sign(&self, request: &impl Signed) -> u128 {
        let mut hasher = SipHasher13::new_with_keys(self.key.0, self.key.1);
        request.feed(&mut hasher);
        hasher.finish128().as_u128()
    }

    /// The signature of a Check.
    pub(crate) fn check(&self, request: &CheckRequest) -> u128 {
        self.sign(request)
    }

    /// The signature of an AllocateQuota.
    pub(crate) fn quota(&self, request: &AllocateQuotaRequest) -> u128 {
        self.sign(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::google::api::servicecontrol::v1::{
        MetricValue, MetricValueSet, Operation, QuotaOperation,
    };

    fn check(
        name: &str,
        consumer: &str,
        labels: &[(&str, &str)],
        metrics: &[&str],
    ) -> CheckRequest {
        CheckRequest {
            operation: Some(Operation {
                operation_id: format!("{}", fastrand::u64(..)),
                operation_name: name.into(),
                consumer_id: consumer.into(),
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
                metric_value_sets: metrics
                    .iter()
                    .map(|m| MetricValueSet {
                        metric_name: (*m).into(),
                        metric_values: vec![MetricValue::default()],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn checks_are_the_same_question_when_the_anchor_says() {
        let signer = Signer::default();
        let sign = |r: &CheckRequest| signer.check(r);
        let base = check("m", "api_key:k", &[("a", "1"), ("b", "2")], &["x", "y"]);
        // Ids, times and metric order do not matter.
        assert_eq!(
            sign(&base),
            sign(&check(
                "m",
                "api_key:k",
                &[("b", "2"), ("a", "1")],
                &["y", "x"]
            ))
        );
        for other in [
            check("n", "api_key:k", &[("a", "1"), ("b", "2")], &["x", "y"]),
            check("m", "api_key:j", &[("a", "1"), ("b", "2")], &["x", "y"]),
            check("m", "api_key:k", &[("a", "1"), ("b", "3")], &["x", "y"]),
            check("m", "api_key:k", &[("a", "1")], &["x", "y"]),
            check("m", "api_key:k", &[("a", "1"), ("b", "2")], &["x"]),
            // Fields do not run into each other.
            check("mapi_key:k", "", &[("a", "1"), ("b", "2")], &["x", "y"]),
        ] {
            assert_ne!(sign(&base), sign(&other), "{other:?}");
        }
        // Fields the protos do not know make another question.
        let mut newer = base.clone();
        newer
            .operation
            .as_mut()
            .unwrap()
            .unknown_fields
            .push(crate::wire::UnknownField {
                number: 99,
                value: crate::wire::UnknownValue::Varint(1),
            })
            .unwrap();
        assert_ne!(sign(&base), sign(&newer));
        // Another client signs under other keys.
        assert_ne!(Signer::default().check(&base), sign(&base));
    }

    #[test]
    fn quota_asks_are_the_same_question_by_method_consumer_and_metrics() {
        let signer = Signer::default();
        let ask = |method: &str, consumer: &str, metrics: &[(&str, i64)]| {
            AllocateQuotaRequest {
            allocate_operation: Some(QuotaOperation {
                method_name: method.into(),
                consumer_id: consumer.into(),
                quota_metrics: metrics
                    .iter()
                    .map(|(m, n)| MetricValueSet {
                        metric_name: (*m).into(),
                        metric_values: vec![MetricValue {
                            value: Some(
                                crate::google::api::servicecontrol::v1::metric_value::Value::Int64Value(*n),
                            ),
                            ..Default::default()
                        }], ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
        };
        let base = signer.quota(&ask("m", "project:p", &[("r", 1), ("w", 1)]));
        // Amounts and order do not matter.
        assert_eq!(
            base,
            signer.quota(&ask("m", "project:p", &[("w", 5), ("r", 2)]))
        );
        assert_ne!(
            base,
            signer.quota(&ask("m", "project:q", &[("r", 1), ("w", 1)]))
        );
        assert_ne!(base, signer.quota(&ask("m", "project:p", &[("r", 1)])));
        assert_ne!(
            base,
            signer.quota(&ask("n", "project:p", &[("r", 1), ("w", 1)]))
        );
    }
}
