//! The `fields` system parameter: an answer cut down to a
//! `google.protobuf.FieldMask`, each path checked against the answer's
//! message type before the method runs.
//!
//! A path names fields by their proto names, joined by dots; it may go into
//! singular and repeated message fields (a path through a list applies to
//! each element, as Google's front end does for `X-Goog-FieldMask`), and ends
//! anywhere. A name that is not a field, or a path that goes on past a
//! scalar or a map, is INVALID_ARGUMENT.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};

use super::RestError;
use crate::google::protobuf::FieldMask;
use crate::google::rpc::Code;

/// One field of a message, as a mask path meets it.
struct Field {
    json_name: String,
    /// The message type (full name, no leading dot) of a message field that
    /// is not a map.
    message: Option<String>,
    map: bool,
}

/// Every message of the crate's descriptor set, by full name, with its
/// fields by proto name; read once.
fn messages() -> &'static HashMap<String, HashMap<String, Field>> {
    static MESSAGES: OnceLock<HashMap<String, HashMap<String, Field>>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        let set =
            prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap_or_default();
        let mut out = HashMap::new();
        for file in &set.file {
            let package = file.package();
            for message in &file.message_type {
                add(&mut out, package, message);
            }
        }
        out
    })
}

fn add(
    out: &mut HashMap<String, HashMap<String, Field>>,
    scope: &str,
    message: &prost_types::DescriptorProto,
) {
    let name = if scope.is_empty() {
        message.name().to_owned()
    } else {
        format!("{scope}.{}", message.name())
    };
    let map_entries: Vec<String> = message
        .nested_type
        .iter()
        .filter(|m| m.options.as_ref().is_some_and(|o| o.map_entry()))
        .map(|m| format!(".{name}.{}", m.name()))
        .collect();
    let fields = message
        .field
        .iter()
        .map(|f| {
            let is_message = f.r#type() == Type::Message;
            let map = is_message
                && f.label() == Label::Repeated
                && map_entries.iter().any(|e| e == f.type_name());
            let field = Field {
                json_name: f.json_name().to_owned(),
                message: (is_message && !map)
                    .then(|| f.type_name().trim_start_matches('.').to_owned()),
                map,
            };
            (f.name().to_owned(), field)
        })
        .collect();
    for nested in &message.nested_type {
        add(out, &name, nested);
    }
    out.insert(name, fields);
}

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
        let messages = messages();
        let mut root = Self::default();
        for path in &mask.paths {
            let invalid = |why: String| {
                RestError::new(
                    Code::InvalidArgument,
                    format!("invalid fields: {}: {why}", super::clip(path)),
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
                let field = messages
                    .get(type_name)
                    .and_then(|fields| fields.get(segment))
                    .ok_or_else(|| invalid(format!("{type_name} has no field \"{segment}\"")))?;
                if field.map && segments.peek().is_some() {
                    return Err(invalid(format!(
                        "\"{segment}\" is a map; a path ends there"
                    )));
                }
                current = field.message.as_deref();
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
