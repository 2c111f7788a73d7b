//! `google.rpc.context`: `AttributeContext`, the attributes of a network
//! request used in policy evaluation and audit logs.

include_package!("google.rpc.context");
