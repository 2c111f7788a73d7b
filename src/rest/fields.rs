//! The `fields` system parameter: an answer cut down to a
//! `google.protobuf.FieldMask`, each path checked against the answer's
//! message type before the method runs.
//!
//! A path names fields by their proto names, joined by dots; it may go into
//! singular and repeated message fields (a path through a list applies to
//! each element, as Google's front end does for `X-Goog-FieldMask`), and ends
//! anywhere. A name that is not a field, or a path that goes on past a
//! scalar or a map, is INVALID_ARGUMENT.

use std::sync::Arc;

use super::error::RestError;
use crate::google::protobuf::FieldMask;
use crate::google::rpc::Code;
use crate::json::mask::Mask;
use crate::schema::{self, Kind};

/// The mask `mask` makes over answers of the message type `message`, each
/// path checked: what the JSON writer keeps ([`Mask`]).
pub(super) fn selection(message: &str, mask: &FieldMask) -> Result<Mask, RestError> {
    let mut root = Mask::default();
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
            current = match field.kind {
                Kind::Message(name) => Some(name),
                _ => None,
            };
            if !node.all {
                node = Arc::make_mut(node.members.entry(field.json_name.to_owned()).or_default());
            }
        }
        if !node.all {
            node.all = true;
            node.members.clear();
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK: &str = "google.api.servicecontrol.v1.CheckResponse";

    #[test]
    fn paths_are_checked_against_the_message() {
        let ok = |paths: &[&str]| selection(CHECK, &FieldMask::new(paths.iter().copied()));
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
