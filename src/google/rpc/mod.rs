//! `google.rpc`: the error model (`Status`, `Code`) and the standard error
//! details (`ErrorInfo`, `RetryInfo`, `BadRequest`, ...).

include_package!("google.rpc");

pub mod context;
