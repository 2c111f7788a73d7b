//! Service configurations: the YAML and JSON forms read as Python tools read
//! them (PyYAML and the reference's JSON mapping), and bad configurations
//! refused with one line naming where.
#![cfg(feature = "service-config")]

use crate::support;

use cloud_report_proto::google::api::Service;
use cloud_report_proto::json;
use cloud_report_proto::service_config::ServiceConfig;
use serde_json::json;
use support::reference::Reference;

const EXAMPLE: &str = include_str!("../examples/service-config.yaml");

/// What the reference makes of a YAML configuration: canonical JSON, or
/// `None` when it refuses it.
fn reference(yaml: &str) -> Option<serde_json::Value> {
    let answer = Reference::get().call(json!({"op": "service_yaml", "yaml": yaml}));
    answer["json"]
        .as_str()
        .map(|text| serde_json::from_str(text).unwrap())
}

fn ours(service: &Service) -> serde_json::Value {
    serde_json::from_str(&json::to_string(service).unwrap()).unwrap()
}

#[test]
fn the_example_reads_as_the_reference_reads_it() {
    let config = ServiceConfig::from_yaml(EXAMPLE).unwrap();
    let mut theirs = reference(EXAMPLE).expect("the reference reads the example");
    // The control plane (and ServiceConfig) gives a metric declared by
    // `name` that name as its `type`; the reference reads the file as is.
    for metric in theirs["metrics"].as_array_mut().unwrap() {
        let name = metric["name"].clone();
        metric["type"] = name;
    }
    assert_eq!(ours(config.service()), theirs);
    assert_eq!(config.name(), "bookstore.endpoints.my-project.cloud.goog");
    assert!(config.metric("read-requests").is_some());
    assert!(config.monitored_resource("api").is_some());
    assert!(config.log("endpoints_log").is_some());
}

#[test]
fn the_json_form_reads_back() {
    let config = ServiceConfig::from_yaml(EXAMPLE).unwrap();
    let text = json::to_string(config.service()).unwrap();
    let again = ServiceConfig::parse(&text).unwrap();
    assert_eq!(again.service(), config.service());
    // From a file, by content.
    let dir = std::env::temp_dir().join(format!("service-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("service.json");
    std::fs::write(&file, &text).unwrap();
    assert_eq!(
        ServiceConfig::load(&file).unwrap().service(),
        config.service()
    );
}

/// YAML scalars as both readers type them, where the YAML is unambiguous;
/// both agree on the message.
#[test]
fn yaml_scalars_agree_with_the_reference() {
    for yaml in [
        "type: google.api.Service\nname: a.example.com\nconfig_version: 3\n",
        "type: google.api.Service\nname: a.example.com\nmetrics:\n- {name: m, metric_kind: DELTA, value_type: INT64}\nquota:\n  limits:\n  - name: x\n    metric: m\n    unit: 1/min/{project}\n    values: {STANDARD: -1, PREMIUM: \"900\"}\n",
        "type: google.api.Service\nname: a.example.com\nusage:\n  rules:\n  - selector: '*'\n    allow_unregistered_calls: true\n",
        "type: google.api.Service\nname: a.example.com\nmetrics:\n- type: t\n  metric_kind: 2\n  valueType: DOUBLE\n  metadata: {sample_period: 60s}\n",
        "type: google.api.Service\nname: a.example.com\ndocumentation:\n  summary: >\n    Folded\n    text.\n  pages:\n  - name: Overview\n    content: |\n      Literal\n      text.\n",
        "type: google.api.Service\nname: a.example.com\nbackend:\n  rules:\n  - selector: '*'\n    address: https://x\n    deadline: 2.5\n",
        "type: google.api.Service\nname: anchors.example.com\nlogs:\n- &log {name: a, description: shared}\n- {name: b}\n",
    ] {
        let theirs = reference(yaml).unwrap_or_else(|| panic!("reference refused {yaml}"));
        let ours = ours(
            ServiceConfig::from_yaml(yaml)
                .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
                .service(),
        );
        // The control plane's `type` from `name` aside.
        let mut theirs = theirs;
        if let Some(metrics) = theirs.get_mut("metrics").and_then(|m| m.as_array_mut()) {
            for m in metrics {
                if m.get("type").is_none() {
                    m["type"] = m["name"].clone();
                }
            }
        }
        assert_eq!(ours, theirs, "{yaml}");
    }
}

/// Each bad configuration: a one-line error with the file, line, column and
/// path, and nothing half-read.
#[test]
fn bad_configurations_are_one_line_errors() {
    let dir = std::env::temp_dir().join(format!("bad-configs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: &[(&str, &str)] = &[
        ("name: [unclosed\n", "not YAML"),
        (
            "type: google.api.Service\n",
            "name: a service configuration names its service",
        ),
        (
            "type: google.api.Other\nname: a\n",
            "1:7: type: \"google.api.Other\" is not",
        ),
        (
            "type: google.api.Service\nname: a\ntitle: [1]\n",
            "3:8: title:",
        ),
        (
            "type: google.api.Service\nname: a\nnope: 1\n",
            "3:7: nope: unknown field",
        ),
        (
            "type: google.api.Service\nname: a\nquota:\n  limits:\n  - name: x\n    values:\n      STANDARD: lots\n",
            "7:17: quota.limits[0].values.STANDARD: \"lots\" is not a valid int64",
        ),
        (
            "type: google.api.Service\nname: a\nmetrics:\n- name: m\n  metric_kind: DELTA\n  value_type: NOPE\n",
            "6:15: metrics[0].value_type:",
        ),
        (
            "type: google.api.Service\nname: a\nmetrics:\n- name: m\n  value_type: INT64\n",
            "metrics[0].metric_kind: metric \"m\" has no metric_kind",
        ),
        (
            "type: google.api.Service\nname: a\nmetrics:\n- {name: m, metric_kind: DELTA, value_type: INT64}\nquota:\n  limits:\n  - {name: l, metric: other, unit: '1/min/{project}'}\n",
            "7:23: quota.limits[0].metric: \"other\" is not a metric of the service",
        ),
        (
            "type: google.api.Service\nname: a\nmetrics:\n- {name: m, metric_kind: DELTA, value_type: INT64}\nquota:\n  limits:\n  - {name: l, metric: m, unit: '1/fortnight/{project}'}\n",
            "quota.limits[0].unit: unit \"1/fortnight/{project}\" is not \"1/min/{project}\"",
        ),
        (
            "type: google.api.Service\nname: a\nmetrics:\n- {name: m, metric_kind: DELTA, value_type: INT64}\nquota:\n  limits:\n  - {name: l, metric: m, unit: '1/d/{project}'}\n",
            "quota.limits[0].unit: unit \"1/d/{project}\" is not \"1/min/{project}\"",
        ),
        (
            "type: google.api.Service\nname: a\nmetrics:\n- {name: m, metric_kind: DELTA, value_type: INT64}\nquota:\n  limits:\n  - {name: l, metric: m, duration: 100s}\n",
            "quota.limits[0].duration: a limit needs unit",
        ),
        (
            "type: google.api.Service\nname: a\nmetrics:\n- {name: m, metric_kind: DELTA, value_type: INT64}\nquota:\n  limits:\n  - {name: l, metric: m, unit: '1/min/{project}', values: {STANDARD: -2}}\n",
            "quota.limits[0].values.STANDARD: -2 is neither a limit nor -1 (unlimited)",
        ),
        (
            "type: google.api.Service\nname: a\nmetrics:\n- {name: m, metric_kind: DELTA, value_type: INT64}\nquota:\n  limits:\n  - {name: l, metric: m, unit: '1/min/{project}', default_limit: -5}\n",
            "quota.limits[0].default_limit: -5 is neither",
        ),
        (
            "type: google.api.Service\nname: a\nmetrics:\n- {name: m, metric_kind: DELTA, value_type: INT64}\nquota:\n  metric_rules:\n  - {selector: '*', metric_costs: {m: -1}}\n",
            "quota.metric_rules[0].metric_costs.m: a cost cannot be negative",
        ),
        (
            "type: google.api.Service\nname: a\nname: b\n",
            "3:1: name: given twice",
        ),
        (
            "type: google.api.Service\nname: a\nmonitored_resources:\n- type: api\nmonitoring:\n  producer_destinations:\n  - monitored_resource: api\n    metrics: [nope]\n",
            "8:15: monitoring.producer_destinations[0].metrics[0]: \"nope\" is not a metric of the service",
        ),
        (
            "type: google.api.Service\nname: a\nlogging:\n  producer_destinations:\n  - monitored_resource: gone\n",
            "5:25: logging.producer_destinations[0].monitored_resource: \"gone\" is not a monitored resource",
        ),
        ("swagger: '2.0'\nhost: a\n", "an OpenAPI document"),
        ("{\"name\": 1}", "name: invalid type"),
        (
            "- just\n- a list\n",
            "a mapping of google.api.Service fields",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad-{i}.yaml"));
        std::fs::write(&file, text).unwrap();
        let error = ServiceConfig::load(&file).unwrap_err().to_string();
        assert!(!error.contains('\n'), "{error}");
        assert!(error.starts_with(&file.display().to_string()), "{error}");
        assert!(
            error.contains(expected),
            "{text:?}: {error} lacks {expected:?}"
        );
    }
    let missing = ServiceConfig::load(dir.join("missing.yaml")).unwrap_err();
    assert!(missing.to_string().contains("missing.yaml"), "{missing}");
}
