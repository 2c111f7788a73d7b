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

mod entry;

use std::collections::HashMap;

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use entry::ListField;
pub use entry::{Entry, PiecesError, TranscodeError};

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

/// Message types of the user's own, for `Any` values holding them: a value
/// the user builds and hands to [`ParseOptions::type_registry`](crate::json::ParseOptions::type_registry) and
/// [`WriteOptions::type_registry`](crate::json::WriteOptions::type_registry). A type is found here before the crate's
/// table, so a registry may also replace one of the crate's types.
///
/// ```
/// use cloud_report_proto::google::protobuf::Any;
/// use cloud_report_proto::json::{self, ParseOptions, WriteOptions};
/// use cloud_report_proto::registry::TypeRegistry;
///
/// /// A message of the user's own, with serde impls.
/// #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
/// struct Shipped {
///     #[prost(string, tag = "1")]
///     order: String,
/// }
/// impl prost::Name for Shipped {
///     const NAME: &'static str = "Shipped";
///     const PACKAGE: &'static str = "shop.v1";
///     fn type_url() -> String {
///         format!("type.googleapis.com/{}", Self::full_name())
///     }
/// }
///
/// let types = TypeRegistry::new().with::<Shipped>();
/// let any = Any::from_msg(&Shipped { order: "A-1".into() });
/// let text = json::to_string_with(&any, &WriteOptions::default().type_registry(types.clone()))?;
/// assert_eq!(text, r#"{"@type":"type.googleapis.com/shop.v1.Shipped","order":"A-1"}"#);
/// let back: Any = json::from_slice_with(text.as_bytes(), &ParseOptions::default().type_registry(types))?;
/// assert_eq!(back, any);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct TypeRegistry {
    entries: HashMap<String, Entry>,
}

impl TypeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry with `T` added, read and written through its serde
    /// impls.
    #[must_use]
    pub fn with<T>(mut self) -> Self
    where
        T: Message + prost::Name + Default + Serialize + DeserializeOwned + 'static,
    {
        self.add::<T>();
        self
    }

    /// Adds `T`; adding a name again replaces its entry.
    pub fn add<T>(&mut self)
    where
        T: Message + prost::Name + Default + Serialize + DeserializeOwned + 'static,
    {
        let entry = Entry::serde::<T>();
        self.entries.insert(entry.full_name().into_owned(), entry);
    }

    /// Finds a type by its full name or a type URL: the registry's own
    /// first, then the crate's.
    pub fn lookup(&self, name_or_url: &str) -> Option<Entry> {
        let name = name_of(name_or_url);
        self.entries.get(name).copied().or_else(|| lookup(name))
    }

    /// The full names of the types added, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.entries.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl std::fmt::Debug for TypeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// Two registries are equal when they hold the same names.
impl PartialEq for TypeRegistry {
    fn eq(&self, other: &Self) -> bool {
        self.names() == other.names()
    }
}

impl Eq for TypeRegistry {}

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
