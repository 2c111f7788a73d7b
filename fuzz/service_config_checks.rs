//! What the `service_config` fuzz target checks, shared with
//! `tests/fuzz_corpus.rs`: a service configuration read from any text, as
//! `cloud-report serve --service-config` reads it.
//!
//! - Reading answers, in work bounded by the text (aliases are expanded
//!   within a node budget, nesting is capped): a configuration, or an error
//!   of one line.
//! - A configuration read from YAML reads the same from its JSON form: the
//!   YAML reader adds nothing the JSON mapping would not.
//! - Checking is idempotent: a checked configuration checks again as it is.

use cloud_report_proto::json;
use cloud_report_proto::service_config::ServiceConfig;

/// Reads `data` as a configuration, YAML or JSON as gcloud tells them apart.
pub fn service_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match ServiceConfig::parse(text) {
        Ok(config) => config,
        Err(error) => {
            let shown = error.to_string();
            assert!(!shown.is_empty(), "an empty error for {text:?}");
            assert!(
                !shown.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']),
                "an error of more than one line: {shown:?}"
            );
            return;
        }
    };
    let service = config.service();
    let as_json = json::to_string(service).expect("a checked configuration writes as JSON");
    let again = ServiceConfig::from_json(&as_json)
        .unwrap_or_else(|e| panic!("its JSON form {as_json} does not read back: {e}"));
    assert_eq!(
        again.service(),
        service,
        "its JSON form reads back otherwise"
    );
    let rechecked = ServiceConfig::new(service.clone())
        .unwrap_or_else(|e| panic!("a checked configuration fails its check again: {e}"));
    assert_eq!(rechecked.service(), service, "checking again changed it");
}
