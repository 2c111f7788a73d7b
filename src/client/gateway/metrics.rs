//! What a gateway's requests carry, as ESPv2 names it: the labels' names,
//! the metrics a Report sends (which operation each goes in, what it
//! measures, its distribution's buckets) and the labels it sets.

/// The label a gateway's location goes in; never sent empty.
pub const LOCATION_LABEL: &str = "cloud.googleapis.com/location";
/// The location when the gateway does not know its own.
pub const DEFAULT_LOCATION: &str = "global";
/// The label of the consumer's project number, on the by-consumer operation.
pub const CONSUMER_PROJECT_LABEL: &str = "serviceruntime.googleapis.com/consumer_project";

pub(super) const CALLER_IP: &str = "servicecontrol.googleapis.com/caller_ip";
pub(super) const REFERER: &str = "servicecontrol.googleapis.com/referer";
pub(super) const USER_AGENT: &str = "servicecontrol.googleapis.com/user_agent";
pub(super) const SERVICE_AGENT: &str = "servicecontrol.googleapis.com/service_agent";
pub(super) const ANDROID_PACKAGE: &str = "servicecontrol.googleapis.com/android_package_name";
pub(super) const ANDROID_CERT: &str = "servicecontrol.googleapis.com/android_cert_fingerprint";
pub(super) const IOS_BUNDLE: &str = "servicecontrol.googleapis.com/ios_bundle_id";

/// Which operation of a Report a metric goes in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    Producer,
    Consumer,
    ProducerByConsumer,
}

/// What a metric measures.
#[derive(Clone, Copy)]
pub(super) enum Measure {
    /// One per call.
    Count,
    RequestSize,
    ResponseSize,
    RequestTime,
    BackendTime,
    OverheadTime,
}

/// The metrics ESPv2 reports, in the order it reports them; all DELTA.
pub(super) const METRICS: [(&str, Mark, Measure); 16] = [
    (
        "serviceruntime.googleapis.com/api/consumer/request_count",
        Mark::Consumer,
        Measure::Count,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/request_count",
        Mark::Producer,
        Measure::Count,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/request_count",
        Mark::ProducerByConsumer,
        Measure::Count,
    ),
    (
        "serviceruntime.googleapis.com/api/consumer/request_sizes",
        Mark::Consumer,
        Measure::RequestSize,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/request_sizes",
        Mark::Producer,
        Measure::RequestSize,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/request_sizes",
        Mark::ProducerByConsumer,
        Measure::RequestSize,
    ),
    (
        "serviceruntime.googleapis.com/api/consumer/response_sizes",
        Mark::Consumer,
        Measure::ResponseSize,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/response_sizes",
        Mark::Producer,
        Measure::ResponseSize,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/response_sizes",
        Mark::ProducerByConsumer,
        Measure::ResponseSize,
    ),
    (
        "serviceruntime.googleapis.com/api/consumer/total_latencies",
        Mark::Consumer,
        Measure::RequestTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/total_latencies",
        Mark::Producer,
        Measure::RequestTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/total_latencies",
        Mark::ProducerByConsumer,
        Measure::RequestTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/backend_latencies",
        Mark::Producer,
        Measure::BackendTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/backend_latencies",
        Mark::ProducerByConsumer,
        Measure::BackendTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/request_overhead_latencies",
        Mark::Producer,
        Measure::OverheadTime,
    ),
    (
        "serviceruntime.googleapis.com/api/producer/by_consumer/request_overhead_latencies",
        Mark::ProducerByConsumer,
        Measure::OverheadTime,
    ),
];

/// Time distributions: 29 exponential buckets from 1 µs, growing twice;
/// values in seconds.
pub(super) const TIME_BUCKETS: (i32, f64, f64) = (29, 2.0, 1e-6);
/// Size distributions: 8 exponential buckets from 1 byte, growing tenfold.
pub(super) const SIZE_BUCKETS: (i32, f64, f64) = (8, 10.0, 1.0);

/// A label a Report operation can carry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Label {
    CredentialId,
    ErrorType,
    Protocol,
    Referer,
    ResponseCode,
    ResponseCodeClass,
    StatusCode,
    Location,
    ApiMethod,
    ApiVersion,
    ServiceAgent,
    UserAgent,
    Platform,
    BackendProtocol,
    ConsumerProject,
}

/// The labels ESPv2 can set, by key, and whether each is a system label
/// (always set) rather than a user one (set when the configuration names
/// it). The order is ESPv2's.
pub(super) const LABELS: [(&str, Label, bool); 15] = [
    ("/credential_id", Label::CredentialId, false),
    ("/error_type", Label::ErrorType, false),
    ("/protocol", Label::Protocol, false),
    ("/referer", Label::Referer, false),
    ("/response_code", Label::ResponseCode, false),
    ("/response_code_class", Label::ResponseCodeClass, false),
    ("/status_code", Label::StatusCode, false),
    (LOCATION_LABEL, Label::Location, true),
    (
        "serviceruntime.googleapis.com/api_method",
        Label::ApiMethod,
        false,
    ),
    (
        "serviceruntime.googleapis.com/api_version",
        Label::ApiVersion,
        false,
    ),
    (SERVICE_AGENT, Label::ServiceAgent, true),
    (USER_AGENT, Label::UserAgent, true),
    (
        "servicecontrol.googleapis.com/platform",
        Label::Platform,
        true,
    ),
    (
        "servicecontrol.googleapis.com/backend_protocol",
        Label::BackendProtocol,
        true,
    ),
    (CONSUMER_PROJECT_LABEL, Label::ConsumerProject, true),
];
