//! The crate's message schemas at run time: every message by full name,
//! with its fields, in a static table generated from the descriptors at
//! build time. What walks a message by its field names without a typed Rust
//! path (the `fields` mask of the REST front end, a YAML service
//! configuration) asks here.

pub(crate) use prost_types::field_descriptor_proto::Type;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// A scalar of this type (never `Message`, `Group` or `Enum`).
    Scalar(Type),
    /// An enum value.
    Enum,
    /// A message, by full name.
    Message(&'static str),
    /// A map with keys of a scalar type and values of the given kind.
    Map(Type, &'static Kind),
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    /// Its proto name.
    pub(crate) name: &'static str,
    /// Its JSON name (lowerCamelCase unless the `.proto` says otherwise).
    pub(crate) json_name: &'static str,
    /// What one value holds (for a map: the whole map).
    pub(crate) kind: Kind,
    /// Repeated (a list; maps are not counted as lists). Read by the
    /// service configuration loader only.
    #[cfg_attr(not(feature = "service-config"), allow(dead_code))]
    pub(crate) list: bool,
}

/// A message's fields, in declaration order.
#[derive(Debug)]
pub(crate) struct Message {
    /// Its full name.
    pub(crate) name: &'static str,
    /// Its fields.
    pub(crate) fields: &'static [Field],
}

impl Message {
    /// The field with this proto name.
    pub(crate) fn get(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The field with this JSON name.
    #[cfg_attr(not(feature = "service-config"), allow(dead_code))]
    pub(crate) fn get_by_json_name(&self, json_name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.json_name == json_name)
    }
}

/// Every message of the crate (map entries aside), sorted by full name.
static MESSAGES: &[Message] = include!(concat!(env!("OUT_DIR"), "/schema_table.rs"));

/// The message with this full name (no leading dot).
pub(crate) fn message(full_name: &str) -> Option<&'static Message> {
    MESSAGES
        .binary_search_by(|m| m.name.cmp(full_name))
        .ok()
        .map(|i| &MESSAGES[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_maps_and_lists() {
        assert!(MESSAGES.windows(2).all(|w| w[0].name < w[1].name));
        let quota = message("google.api.QuotaLimit").unwrap();
        let values = quota.get("values").unwrap();
        assert_eq!(
            values.kind,
            Kind::Map(Type::String, &Kind::Scalar(Type::Int64))
        );
        assert!(!values.list);
        let service = message("google.api.Service").unwrap();
        let metrics = service.get("metrics").unwrap();
        assert_eq!(metrics.kind, Kind::Message("google.api.MetricDescriptor"));
        assert!(metrics.list);
        assert_eq!(
            service.get("config_version").unwrap().json_name,
            "configVersion"
        );
        assert_eq!(
            service.get_by_json_name("configVersion").unwrap().name,
            "config_version"
        );
        let metric = message("google.api.MetricDescriptor").unwrap();
        assert_eq!(metric.get("value_type").unwrap().kind, Kind::Enum);
        assert!(message("google.api.QuotaLimit.ValuesEntry").is_none());
        assert!(message("google.api.Nope").is_none());
    }
}
