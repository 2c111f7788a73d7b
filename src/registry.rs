//! The type registry behind `google.protobuf.Any` JSON, and behind any tool
//! that handles messages by name (the `cloud-report` CLI, for one).
//!
//! Every message of the crate is in an immutable table, [`lookup`] finds
//! it. Types of the user's own go in a [`TypeRegistry`], a value the user
//! owns and hands to the JSON options that need it
//! ([`ParseOptions::type_registry`](crate::json::ParseOptions::type_registry), [`WriteOptions::type_registry`](crate::json::WriteOptions::type_registry)), as
//! Java's `JsonFormat.printer().usingTypeRegistry(registry)` and Go's
//! `protojson.MarshalOptions{Resolver: ...}` take theirs. An `Any` whose
//! type neither knows cannot be written as JSON nor read from it, and the
//! error says which type it was.
//!
//! ```
//! use cloud_report_proto::registry;
//!
//! let entry = registry::lookup("type.googleapis.com/google.rpc.ErrorInfo").unwrap();
//! assert_eq!(entry.full_name(), "google.rpc.ErrorInfo");
//!
//! // Convert between the wire formats of a type chosen at run time.
//! let binary = entry.json_to_binary(br#"{"reason": "API_DISABLED"}"#)?;
//! assert_eq!(entry.binary_to_json(&binary, false)?, r#"{"reason":"API_DISABLED"}"#);
//! # Ok::<(), registry::TranscodeError>(())
//! ```

pub use crate::json::transcode::{Entry, PiecesError, TranscodeError};
pub use crate::json::type_registry::TypeRegistry;

/// The crate's own types, sorted by full name: a table generated at build
/// time, never changed.
static BUILTINS: &[Entry] = &include!(concat!(env!("OUT_DIR"), "/registry_entries.rs"));

/// The entry of one of the crate's types, by full name.
fn builtin(full_name: &str) -> Option<Entry> {
    BUILTINS
        .binary_search_by(|e| e.static_name().unwrap_or_default().cmp(full_name))
        .ok()
        .map(|i| BUILTINS[i])
}

/// The name a type URL (or a full name) names: what follows its last `/`.
fn name_of(name_or_url: &str) -> &str {
    name_or_url.rsplit('/').next().unwrap_or(name_or_url)
}

/// Finds the entry of one of the crate's types by its full name or by a
/// type URL (the name is what follows the last `/`).
pub fn lookup(name_or_url: &str) -> Option<Entry> {
    builtin(name_of(name_or_url))
}

/// The full names of the crate's message types, sorted.
pub fn message_names() -> Vec<&'static str> {
    BUILTINS.iter().filter_map(Entry::static_name).collect()
}

/// Looking up: the one method of [`TypeRegistry`] that reaches the crate's
/// table (the type itself, and the rest of its methods, are in
/// `json/type_registry.rs`, where the JSON options hold it).
impl TypeRegistry {
    /// Finds a type by its full name or a type URL: the registry's own
    /// first, then the crate's.
    pub fn lookup(&self, name_or_url: &str) -> Option<Entry> {
        let name = name_of(name_or_url);
        self.own(name).or_else(|| lookup(name))
    }
}

/// The entry of a type URL or name: in `types` first, when given, then in
/// the crate's table. The one rule the JSON engine resolves `Any` types by.
pub(crate) fn resolve(types: Option<&TypeRegistry>, name_or_url: &str) -> Option<Entry> {
    match types {
        Some(types) => types.lookup(name_or_url),
        None => lookup(name_or_url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_is_sorted_and_found_by_name() {
        let names = message_names();
        assert!(names.len() > 100);
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        for name in names {
            assert_eq!(lookup(name).unwrap().full_name(), name);
            assert_eq!(
                lookup(&format!("type.googleapis.com/{name}"))
                    .unwrap()
                    .full_name(),
                name
            );
        }
        assert!(lookup("google.api.servicecontrol.v1.Nope").is_none());
        assert!(lookup("").is_none());
    }
}
