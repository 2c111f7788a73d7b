//! [`TypeRegistry`]: the message types of a user's own that `Any` JSON
//! may hold, a value the JSON options carry. Its `lookup`, which also
//! searches the crate's own table, is in `registry`, which exports it.
//! The options, the reader and the writer carry it as `options::Types`,
//! without naming it: the options' setters and getters for it, and the
//! reader's and writer's getters, are here.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::options::{ParseOptions, Types, UserTypes, WriteOptions};
use super::read::Reader;
use super::transcode::Entry;
use super::write::Writer;

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

    /// The entry of a type added, by its full name (what
    /// [`lookup`](Self::lookup), in `registry`, finds first).
    pub(crate) fn own(&self, full_name: &str) -> Option<Entry> {
        self.entries.get(full_name).copied()
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

impl UserTypes for TypeRegistry {
    fn type_names(&self) -> Vec<&str> {
        self.names()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The registry the options, a reader or a writer carry.
fn registry(types: Option<&Types>) -> Option<&TypeRegistry> {
    types?.0.as_any().downcast_ref()
}

/// The setter and getter of the user's types, the same on `ParseOptions`
/// and `WriteOptions` (`$verb` says the direction in their docs): each
/// options type carries the user's types for its own direction.
macro_rules! carries_types {
    ($($options:ident => $verb:literal;)*) => {$(
        impl $options {
            #[doc = concat!($verb, " `Any` values of the user's types in `types` too (see")]
            /// [`TypeRegistry`]).
            #[must_use]
            pub fn type_registry(mut self, types: impl Into<Arc<TypeRegistry>>) -> Self {
                let types: Arc<TypeRegistry> = types.into();
                self.types = Some(Types(types));
                self
            }

            /// The user's types, when given.
            pub fn types(&self) -> Option<&TypeRegistry> {
                registry(self.types.as_ref())
            }
        }
    )*};
}

carries_types! {
    ParseOptions => "Read";
    WriteOptions => "Write";
}

impl Reader<'_> {
    /// The user's types for `Any` values, when the options gave some.
    pub(crate) fn types(&self) -> Option<&TypeRegistry> {
        registry(self.types.as_ref())
    }
}

impl Writer<'_> {
    /// The user's types for `Any` values, when the options gave some.
    pub(crate) fn types(&self) -> Option<&TypeRegistry> {
        registry(self.types.as_ref())
    }
}
