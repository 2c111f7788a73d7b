//! Golden files: `tests/golden/<full.type.Name>[--variant].json` hold
//! canonical JSON. Reading a file and writing it again gives the file byte
//! for byte, and JSON → binary → JSON gives it too.
#![cfg(feature = "json")]

use std::fs;
use std::path::Path;

use cloud_report_proto::registry;

/// The golden files with the type each holds.
pub fn golden_files() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_str().unwrap().to_owned();
            let type_name = stem.split("--").next().unwrap().to_owned();
            (stem, type_name, fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn golden_files_are_canonical_and_stable() {
    let files = golden_files();
    assert!(files.len() >= 35, "only {} golden files", files.len());
    for (name, type_name, text) in files {
        let entry = registry::lookup(&type_name).unwrap_or_else(|| panic!("{name}: unknown type"));
        let binary = entry
            .json_to_binary(text.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let canonical = entry.binary_to_json(&binary, true).unwrap() + "\n";
        assert_eq!(canonical, text, "{name} is not canonical");
        let again = entry.json_to_binary(canonical.as_bytes()).unwrap();
        assert_eq!(again, binary, "{name}: JSON → binary is not stable");
        let compact = entry.binary_to_json(&binary, false).unwrap();
        assert_eq!(
            entry.json_to_binary(compact.as_bytes()).unwrap(),
            binary,
            "{name}"
        );
    }
}

/// Every message type named in the spec pages has a golden file.
#[test]
fn spec_page_types_have_golden_files() {
    let names: Vec<String> = golden_files().into_iter().map(|(_, t, _)| t).collect();
    for type_name in [
        "google.api.servicecontrol.v1.ReportRequest",
        "google.api.servicecontrol.v1.ReportResponse",
        "google.api.servicecontrol.v1.ReportResponse.ReportError",
        "google.api.servicecontrol.v1.Operation",
        "google.api.servicecontrol.v1.LogEntry",
        "google.api.servicecontrol.v1.HttpRequest",
        "google.api.servicecontrol.v1.LogEntryOperation",
        "google.api.servicecontrol.v1.MetricValueSet",
        "google.rpc.Status",
        "google.cloud.apigee.v1.ReportInstanceStatusRequest",
        "google.cloud.apigee.v1.ReportInstanceStatusResponse",
        "google.cloud.apigee.v1.ResourceStatus",
        "google.cloud.apigee.v1.RevisionStatus",
        "google.cloud.apigee.v1.UpdateError",
        "google.cloud.apigee.v1.DeploymentChangeReport",
        "google.cloud.apigee.v1.DeploymentChangeReport.RoutingChange",
        "google.cloud.apigee.v1.DeploymentChangeReport.RoutingConflict",
        "google.cloud.apigee.v1.DeploymentChangeReport.RoutingDeployment",
        "google.rpc.PreconditionFailure",
        "google.cloud.audit.AuditLog",
        "google.rpc.ErrorInfo",
        "google.rpc.RetryInfo",
        "google.rpc.DebugInfo",
        "google.rpc.QuotaFailure",
        "google.rpc.BadRequest",
        "google.rpc.RequestInfo",
        "google.rpc.ResourceInfo",
        "google.rpc.Help",
        "google.rpc.LocalizedMessage",
    ] {
        assert!(
            names.iter().any(|n| n == type_name),
            "no golden file for {type_name}"
        );
    }
}

/// The spec pages' own examples appear in the golden files.
#[test]
fn spec_page_examples_are_in_golden_files() {
    let all: String = golden_files().into_iter().map(|(_, _, t)| t).collect();
    for example in [
        r#""2014-10-02T15:01:23Z""#,
        r#""2014-10-02T15:01:23.045123456Z""#,
        r#""latency": "3.500s""#,
        r#""mass": "1.3kg""#,
        r#""@type": "type.googleapis.com/google.cloud.audit.AuditLog""#,
        r#""@type": "type.googleapis.com/google.rpc.ErrorInfo""#,
        r#""validationErrors": {"#,
        r#""code": "FAILED_PRECONDITION""#,
    ] {
        assert!(all.contains(example), "no golden file shows {example}");
    }
}
