//! Cloud Logging.

pub mod r#type;
