//! `google.logging.type`: `LogSeverity`.

include_package!("google.logging.r#type");
