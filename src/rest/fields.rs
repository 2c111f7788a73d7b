//! The `fields` system parameter: an answer cut down to a
//! `google.protobuf.FieldMask`, each path checked against the answer's
//! message type before the method runs.
//!
//! A path names fields by their proto names, joined by dots; it may go into
//! singular and repeated message fields (a path through a list applies to
//! each element, as Google's front end does for `X-Goog-FieldMask`), and ends
//! anywhere. A name that is not a field, or a path that goes on past a
//! scalar or a map, is INVALID_ARGUMENT.

use std::collections::BTreeMap;

use super::error::RestError;
use crate::google::protobuf::FieldMask;
use crate::google::rpc::Code;
use crate::schema::{self, Kind};

/// What a mask keeps of a message: by JSON member name, each member with
/// what is kept of it.
#[derive(Debug, Default)]
pub(super) struct Selection {
    /// The whole value is kept.
    all: bool,
    members: BTreeMap<String, Selection>,
}

impl Selection {
    /// The selection of `mask` over answers of the message type `message`.
    pub(super) fn of(message: &str, mask: &FieldMask) -> Result<Self, RestError> {
        let mut root = Self::default();
        for path in &mask.paths {
            let invalid = |why: String| {
                RestError::new(
                    Code::InvalidArgument,
                    format!("invalid fields: {}: {why}", super::error::clip(path)),
                )
            };
            let mut node = &mut root;
            let mut current = Some(message);
            let mut segments = path.split('.').peekable();
            while let Some(segment) = segments.next() {
                let Some(type_name) = current else {
                    return Err(invalid(format!(
                        "\"{segment}\" goes past a field with no fields"
                    )));
                };
                let field = schema::message(type_name)
                    .and_then(|fields| fields.get(segment))
                    .ok_or_else(|| invalid(format!("{type_name} has no field \"{segment}\"")))?;
                if matches!(field.kind, Kind::Map(..)) && segments.peek().is_some() {
                    return Err(invalid(format!(
                        "\"{segment}\" is a map; a path ends there"
                    )));
                }
                current = match &field.kind {
                    Kind::Message(name) => Some(name.as_str()),
                    _ => None,
                };
                if !node.all {
                    node = node.members.entry(field.json_name.clone()).or_default();
                }
            }
            if !node.all {
                node.all = true;
                node.members.clear();
            }
        }
        Ok(root)
    }

    /// Keeps what the selection names: members of objects by name, each
    /// element of a list alike.
    pub(super) fn apply(&self, value: &mut serde_json::Value) {
        if self.all {
            return;
        }
        match value {
            serde_json::Value::Object(members) => {
                members.retain(|name, value| match self.members.get(name) {
                    None => false,
                    Some(inner) => {
                        inner.apply(value);
                        true
                    }
                });
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|item| self.apply(item)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK: &str = "google.api.servicecontrol.v1.CheckResponse";

    #[test]
    fn paths_are_checked_against_the_message() {
        let ok = |paths: &[&str]| Selection::of(CHECK, &FieldMask::new(paths.iter().copied()));
        assert!(ok(&["operation_id", "check_info.consumer_info.project_number"]).is_ok());
        // Through a list, and a shorter path taking the longer one in.
        let selection = ok(&["check_errors.status.code", "check_errors"]).unwrap();
        assert!(selection.members["checkErrors"].all);
        for bad in [
            "nothing",
            "operation_id.more",
            "check_info.nothing",
            "checkInfo",
        ] {
            let error = ok(&[bad]).unwrap_err();
            assert!(error.status.message.contains("invalid fields"), "{bad}");
        }
    }
}
