//! Apigee v1 has no public .proto: its messages are checked here, property by
//! property, against the facts of the Apigee v1 REST discovery document
//! (revision 20261006): each schema's properties, their JSON types and
//! formats, referenced schemas and enum values. Field numbers follow the
//! documented rule: 1, 2, 3, ... in alphabetical order of the JSON names.
#![cfg(feature = "json")]

use cloud_report_proto::json;
use prost_reflect::{DescriptorPool, Kind, MessageDescriptor};

/// A discovery property: JSON name, JSON type, and the format, referenced
/// schema or item schema ("" when none).
type Property = (&'static str, &'static str, &'static str);

const CODES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
];

/// (discovery schema, our message, properties in the document's order).
const SCHEMAS: &[(&str, &str, &[Property])] = &[
    (
        "GoogleCloudApigeeV1ReportInstanceStatusRequest",
        "google.cloud.apigee.v1.ReportInstanceStatusRequest",
        &[
            ("instanceUid", "string", ""),
            ("reportTime", "string", "google-datetime"),
            ("resources", "array", "GoogleCloudApigeeV1ResourceStatus"),
        ],
    ),
    (
        "GoogleCloudApigeeV1ReportInstanceStatusResponse",
        "google.cloud.apigee.v1.ReportInstanceStatusResponse",
        &[],
    ),
    (
        "GoogleCloudApigeeV1ResourceStatus",
        "google.cloud.apigee.v1.ResourceStatus",
        &[
            ("resource", "string", ""),
            ("revisions", "array", "GoogleCloudApigeeV1RevisionStatus"),
            ("totalReplicas", "integer", "int32"),
            ("uid", "string", ""),
        ],
    ),
    (
        "GoogleCloudApigeeV1RevisionStatus",
        "google.cloud.apigee.v1.RevisionStatus",
        &[
            ("errors", "array", "GoogleCloudApigeeV1UpdateError"),
            ("jsonSpec", "string", ""),
            ("replicas", "integer", "int32"),
            ("revisionId", "string", ""),
        ],
    ),
    (
        "GoogleCloudApigeeV1UpdateError",
        "google.cloud.apigee.v1.UpdateError",
        &[
            ("code", "string", "enum:google.rpc.Code"),
            ("message", "string", ""),
            ("resource", "string", ""),
            ("type", "string", ""),
        ],
    ),
    (
        "GoogleCloudApigeeV1DeploymentChangeReport",
        "google.cloud.apigee.v1.DeploymentChangeReport",
        &[
            (
                "routingChanges",
                "array",
                "GoogleCloudApigeeV1DeploymentChangeReportRoutingChange",
            ),
            (
                "routingConflicts",
                "array",
                "GoogleCloudApigeeV1DeploymentChangeReportRoutingConflict",
            ),
            ("validationErrors", "", "GoogleRpcPreconditionFailure"),
        ],
    ),
    (
        "GoogleCloudApigeeV1DeploymentChangeReportRoutingChange",
        "google.cloud.apigee.v1.DeploymentChangeReport.RoutingChange",
        &[
            ("description", "string", ""),
            ("environmentGroup", "string", ""),
            (
                "fromDeployment",
                "",
                "GoogleCloudApigeeV1DeploymentChangeReportRoutingDeployment",
            ),
            ("shouldSequenceRollout", "boolean", ""),
            (
                "toDeployment",
                "",
                "GoogleCloudApigeeV1DeploymentChangeReportRoutingDeployment",
            ),
        ],
    ),
    (
        "GoogleCloudApigeeV1DeploymentChangeReportRoutingConflict",
        "google.cloud.apigee.v1.DeploymentChangeReport.RoutingConflict",
        &[
            (
                "conflictingDeployment",
                "",
                "GoogleCloudApigeeV1DeploymentChangeReportRoutingDeployment",
            ),
            ("description", "string", ""),
            ("environmentGroup", "string", ""),
        ],
    ),
    (
        "GoogleCloudApigeeV1DeploymentChangeReportRoutingDeployment",
        "google.cloud.apigee.v1.DeploymentChangeReport.RoutingDeployment",
        &[
            ("apiProxy", "string", ""),
            ("basepath", "string", ""),
            ("environment", "string", ""),
            ("revision", "string", ""),
        ],
    ),
    (
        "GoogleRpcPreconditionFailure",
        "google.rpc.PreconditionFailure",
        &[(
            "violations",
            "array",
            "GoogleRpcPreconditionFailureViolation",
        )],
    ),
    (
        "GoogleRpcPreconditionFailureViolation",
        "google.rpc.PreconditionFailure.Violation",
        &[
            ("description", "string", ""),
            ("subject", "string", ""),
            ("type", "string", ""),
        ],
    ),
];

/// Request fields bound to the URL rather than the JSON body.
const PATH_AND_QUERY_FIELDS: &[(&str, &str)] = &[(
    "google.cloud.apigee.v1.ReportInstanceStatusRequest",
    "instance",
)];

fn pool() -> DescriptorPool {
    DescriptorPool::decode(cloud_report_proto::FILE_DESCRIPTOR_SET).unwrap()
}

fn our_message_of(schema: &str) -> &'static str {
    SCHEMAS.iter().find(|(s, _, _)| *s == schema).unwrap().1
}

fn check_property(message: &MessageDescriptor, (name, json_type, detail): Property) {
    let field = message
        .fields()
        .find(|f| f.json_name() == name)
        .unwrap_or_else(|| panic!("{} has no field with JSON name {name}", message.full_name()));
    let what = format!("{}.{name}", message.full_name());
    match (json_type, detail) {
        ("array", item) => {
            assert!(field.is_list(), "{what} must be repeated");
            let Kind::Message(m) = field.kind() else {
                panic!("{what} must hold messages")
            };
            assert_eq!(m.full_name(), our_message_of(item), "{what} items");
        }
        ("", reference) => {
            let Kind::Message(m) = field.kind() else {
                panic!("{what} must be a message")
            };
            assert!(!field.is_list(), "{what} must be singular");
            assert_eq!(m.full_name(), our_message_of(reference), "{what}");
        }
        ("string", "google-datetime") => {
            let Kind::Message(m) = field.kind() else {
                panic!("{what} must be a Timestamp")
            };
            assert_eq!(m.full_name(), "google.protobuf.Timestamp", "{what}");
        }
        ("string", "enum:google.rpc.Code") => {
            let Kind::Enum(e) = field.kind() else {
                panic!("{what} must be an enum")
            };
            assert_eq!(e.full_name(), "google.rpc.Code", "{what}");
            let mut ours: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            let mut theirs: Vec<String> = CODES.iter().map(|c| (*c).to_owned()).collect();
            ours.sort_unstable();
            theirs.sort_unstable();
            assert_eq!(ours, theirs, "{what} values");
        }
        ("string", "") => assert!(
            matches!(field.kind(), Kind::String) && !field.is_list(),
            "{what} must be a string"
        ),
        ("integer", "int32") => assert!(
            matches!(field.kind(), Kind::Int32) && !field.is_list(),
            "{what} must be an int32"
        ),
        ("boolean", "") => assert!(
            matches!(field.kind(), Kind::Bool) && !field.is_list(),
            "{what} must be a bool"
        ),
        other => panic!("no rule for {other:?}"),
    }
}

#[test]
fn messages_have_exactly_the_discovery_properties() {
    let pool = pool();
    for (schema, message, properties) in SCHEMAS {
        let message = pool
            .get_message_by_name(message)
            .unwrap_or_else(|| panic!("no {message}"));
        let mut ours: Vec<String> = message
            .fields()
            .filter(|f| !PATH_AND_QUERY_FIELDS.contains(&(message.full_name(), f.name())))
            .map(|f| f.json_name().to_owned())
            .collect();
        ours.sort_unstable();
        let theirs: Vec<String> = properties.iter().map(|p| p.0.to_owned()).collect();
        assert_eq!(ours, theirs, "properties of {schema}");
        for property in *properties {
            check_property(&message, *property);
        }
    }
}

/// Apigee field numbers are 1, 2, 3, ... in alphabetical JSON-name order.
#[test]
fn apigee_fields_are_numbered_alphabetically() {
    let pool = pool();
    let mut checked = 0;
    for message in pool
        .all_messages()
        .filter(|m| m.package_name() == "google.cloud.apigee.v1")
    {
        let mut names: Vec<(String, u32)> = message
            .fields()
            .map(|f| (f.json_name().to_owned(), f.number()))
            .collect();
        names.sort();
        for (i, (name, number)) in names.iter().enumerate() {
            assert_eq!(*number as usize, i + 1, "{}.{name}", message.full_name());
        }
        checked += 1;
    }
    assert!(checked >= 10);
}

/// The JSON we write uses the discovery document's JSON types: int32 as a
/// number, Timestamp and enum as strings, booleans as booleans.
#[test]
fn written_json_has_the_discovery_types() {
    use cloud_report_proto::google::cloud::apigee::v1::{
        ReportInstanceStatusRequest, ResourceStatus, RevisionStatus, UpdateError,
    };
    use cloud_report_proto::google::rpc::Code;
    let request = ReportInstanceStatusRequest {
        instance: "organizations/o/instances/i".into(),
        instance_uid: "u".into(),
        report_time: Some("2014-10-02T15:01:23.045123456Z".parse().unwrap()),
        resources: vec![ResourceStatus {
            resource: "organizations/o/envgroups/g".into(),
            revisions: vec![RevisionStatus {
                errors: vec![UpdateError {
                    code: Code::FailedPrecondition as i32,
                    message: "m".into(),
                    resource: "r".into(),
                    r#type: "t".into(),
                    ..Default::default()
                }],
                json_spec: "{}".into(),
                replicas: 2,
                revision_id: "1".into(),
                ..Default::default()
            }],
            total_replicas: 3,
            uid: "x".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let value: serde_json::Value =
        serde_json::from_str(&json::to_string(&request).unwrap()).unwrap();
    assert_eq!(value["reportTime"], "2014-10-02T15:01:23.045123456Z");
    assert_eq!(value["resources"][0]["totalReplicas"], 3);
    assert_eq!(value["resources"][0]["revisions"][0]["replicas"], 2);
    assert_eq!(
        value["resources"][0]["revisions"][0]["errors"][0]["code"],
        "FAILED_PRECONDITION"
    );
    assert_eq!(
        value["resources"][0]["revisions"][0]["errors"][0]["type"],
        "t"
    );
    let back: ReportInstanceStatusRequest = json::from_str(&value.to_string()).unwrap();
    assert_eq!(back, request);
}

/// The HTTP bindings are the REST methods of the discovery document: verb,
/// path template (the `{+name}` parameter with its pattern), body.
#[test]
fn http_bindings_match_the_discovery_methods() {
    use cloud_report_proto::google::api::HttpRule;
    use cloud_report_proto::google::api::http_rule::Pattern;
    use prost::Message;
    let pool = pool();
    let http = pool.get_extension_by_name("google.api.http").unwrap();
    // (method, POST path template, body): the discovery document's
    // `v1/{+name}` with `name` matching its pattern, and its request body.
    let expected = [
        (
            "google.cloud.apigee.v1.RuntimeService.ReportInstanceStatus",
            "/v1/{instance=organizations/*/instances/*}:reportStatus",
            "*",
        ),
        (
            "google.cloud.apigee.v1.DeploymentService.GenerateDeployChangeReport",
            "/v1/{name=organizations/*/environments/*/apis/*/revisions/*}/deployments:generateDeployChangeReport",
            "",
        ),
        (
            "google.cloud.apigee.v1.DeploymentService.GenerateUndeployChangeReport",
            "/v1/{name=organizations/*/environments/*/apis/*/revisions/*}/deployments:generateUndeployChangeReport",
            "",
        ),
    ];
    for (method, path, body) in expected {
        let (service, name) = method.rsplit_once('.').unwrap();
        let service = pool.get_service_by_name(service).unwrap();
        let method_desc = service.methods().find(|m| m.name() == name).unwrap();
        let options = method_desc.options();
        let rule = HttpRule::decode(
            options
                .get_extension(&http)
                .as_message()
                .unwrap()
                .encode_to_vec()
                .as_slice(),
        )
        .unwrap();
        assert_eq!(
            rule.pattern,
            Some(Pattern::Post(path.to_owned())),
            "{method}"
        );
        assert_eq!(rule.body, body, "{method}");
    }
    // `override` is the one query parameter: a field of the request bound
    // neither to the path nor to a body.
    let request = pool
        .get_message_by_name("google.cloud.apigee.v1.GenerateDeployChangeReportRequest")
        .unwrap();
    let fields: Vec<_> = request.fields().collect();
    assert_eq!(fields.len(), 2);
    assert!(fields[0].name() == "name" && matches!(fields[0].kind(), Kind::String));
    assert!(fields[1].name() == "override" && matches!(fields[1].kind(), Kind::Bool));
}
