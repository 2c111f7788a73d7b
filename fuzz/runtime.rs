//! The one-thread tokio runtime the checks that serve (`rest_checks.rs`,
//! `emulator_checks.rs`) run their calls on, made once per process: each
//! checks file is included by path, by a fuzz target and by the corpus
//! replay, and includes this file the same way.

/// The process's runtime for the checks.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}
