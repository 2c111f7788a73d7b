//! `google.cloud.audit`: `AuditLog`, the payload Service Control accepts in a
//! log entry's `proto_payload`.

include_package!("google.cloud.audit");
