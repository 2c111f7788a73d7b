//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) and the inputs that
//! once failed (`fuzz/regressions/<target>/`) through the fuzz targets'
//! checks, as ordinary tests, on stable Rust.
#![cfg(feature = "json")]

use crate::fuzz_checks as checks;

/// Runs `check` on every file of `fuzz/corpus/<target>` and of
/// `fuzz/regressions/<target>` (inputs that once failed, kept whatever the
/// corpus minimization keeps).
fn replay(target: &str, check: fn(&[u8])) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        let dir = root.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            assert_eq!(kind, "regressions", "{} is missing", dir.display());
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{} fails", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "empty corpus for {target}");
}

#[test]
fn json_corpus() {
    replay("json", checks::json);
}

#[test]
fn binary_corpus() {
    replay("binary", checks::binary);
}

#[test]
fn any_corpus() {
    replay("any", checks::any);
}

/// The runtime the serving checks run on (one for both).
#[cfg(feature = "emulator")]
#[path = "../fuzz/runtime.rs"]
mod runtime;

#[cfg(feature = "emulator")]
#[path = "../fuzz/rest_checks.rs"]
mod rest_checks;

#[cfg(feature = "emulator")]
#[test]
fn rest_corpus() {
    replay("rest", rest_checks::rest);
}

#[cfg(feature = "emulator")]
#[test]
fn template_corpus() {
    replay("template", rest_checks::template);
}

#[cfg(feature = "emulator")]
#[path = "../fuzz/emulator_checks.rs"]
mod emulator_checks;

#[cfg(feature = "emulator")]
#[test]
fn emulator_corpus() {
    replay("emulator", emulator_checks::emulator);
}

#[cfg(feature = "service-config")]
#[path = "../fuzz/service_config_checks.rs"]
mod service_config_checks;

#[cfg(feature = "service-config")]
#[test]
fn service_config_corpus() {
    replay("service_config", service_config_checks::service_config);
}
