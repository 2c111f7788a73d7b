//! The crate's message schemas at run time: every message of
//! [`FILE_DESCRIPTOR_SET`](crate::FILE_DESCRIPTOR_SET) by full name, with its
//! fields by proto name, read once. What walks a message by its field names
//! without a typed Rust path (the `fields` mask of the REST front end, a YAML
//! service configuration) asks here.

use std::collections::HashMap;
use std::sync::OnceLock;

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};

/// What a field holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A scalar of this type (never `Message`, `Group` or `Enum`).
    Scalar(Type),
    /// An enum value.
    Enum,
    /// A message, by full name without the leading dot.
    Message(String),
    /// A map with keys of a scalar type and values of the given kind.
    Map(Type, Box<Kind>),
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    /// Its JSON name (lowerCamelCase unless the `.proto` says otherwise).
    pub json_name: String,
    /// What one value holds (for a map: the whole map).
    pub kind: Kind,
    /// Repeated (a list; maps are not counted as lists). Read by the
    /// service configuration loader only.
    #[cfg_attr(not(feature = "service-config"), allow(dead_code))]
    pub list: bool,
}

/// The fields of one message, by proto name.
pub(crate) type Fields = HashMap<String, Field>;

/// The fields of the message with this full name (no leading dot).
pub(crate) fn message(full_name: &str) -> Option<&'static Fields> {
    messages().get(full_name)
}

fn messages() -> &'static HashMap<String, Fields> {
    static MESSAGES: OnceLock<HashMap<String, Fields>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        // The set is the build's own output: it always decodes.
        let set =
            prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap_or_default();
        let mut entries = HashMap::new();
        for file in &set.file {
            for message in &file.message_type {
                collect_entries(&mut entries, file.package(), message);
            }
        }
        let mut out = HashMap::new();
        for file in &set.file {
            for message in &file.message_type {
                add(&mut out, &entries, file.package(), message);
            }
        }
        out
    })
}

fn scoped(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

/// Map entry types by full name: their key type and value field.
type Entries = HashMap<String, (Type, prost_types::FieldDescriptorProto)>;

fn collect_entries(out: &mut Entries, scope: &str, message: &prost_types::DescriptorProto) {
    let name = scoped(scope, message.name());
    if message.options.as_ref().is_some_and(|o| o.map_entry())
        && let [key, value] = message.field.as_slice()
    {
        out.insert(name.clone(), (key.r#type(), value.clone()));
    }
    for nested in &message.nested_type {
        collect_entries(out, &name, nested);
    }
}

fn kind_of(field: &prost_types::FieldDescriptorProto) -> Kind {
    match field.r#type() {
        Type::Message | Type::Group => {
            Kind::Message(field.type_name().trim_start_matches('.').to_owned())
        }
        Type::Enum => Kind::Enum,
        scalar => Kind::Scalar(scalar),
    }
}

fn add(
    out: &mut HashMap<String, Fields>,
    entries: &Entries,
    scope: &str,
    message: &prost_types::DescriptorProto,
) {
    let name = scoped(scope, message.name());
    let fields = message
        .field
        .iter()
        .map(|f| {
            let repeated = f.label() == Label::Repeated;
            let entry = entries.get(f.type_name().trim_start_matches('.'));
            let (kind, list) = match entry {
                Some((key, value)) if repeated && f.r#type() == Type::Message => {
                    (Kind::Map(*key, Box::new(kind_of(value))), false)
                }
                _ => (kind_of(f), repeated),
            };
            let field = Field {
                json_name: f.json_name().to_owned(),
                kind,
                list,
            };
            (f.name().to_owned(), field)
        })
        .collect();
    for nested in &message.nested_type {
        add(out, entries, &name, nested);
    }
    out.insert(name, fields);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_maps_and_lists() {
        let quota = message("google.api.QuotaLimit").unwrap();
        assert_eq!(
            quota["values"].kind,
            Kind::Map(Type::String, Box::new(Kind::Scalar(Type::Int64)))
        );
        assert!(!quota["values"].list);
        let service = message("google.api.Service").unwrap();
        assert_eq!(
            service["metrics"].kind,
            Kind::Message("google.api.MetricDescriptor".into())
        );
        assert!(service["metrics"].list);
        assert_eq!(service["config_version"].json_name, "configVersion");
        let metric = message("google.api.MetricDescriptor").unwrap();
        assert_eq!(metric["value_type"].kind, Kind::Enum);
    }
}
