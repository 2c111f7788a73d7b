//! What a field mask keeps of an answer: the writer writes only the members
//! a [`Mask`] names, going into messages, and into each element of a list
//! alike (as Google's front end applies `X-Goog-FieldMask` and the `fields`
//! system parameter).

use std::collections::BTreeMap;
use std::sync::Arc;

/// The members a mask keeps of a message, by JSON name, each with what is
/// kept of it; `all` keeps the whole value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mask {
    pub(crate) all: bool,
    pub(crate) members: BTreeMap<String, Arc<Mask>>,
}

impl Mask {
    /// What is kept of member `json_name` of a message this node stands
    /// for: `None` when it is left out.
    pub(crate) fn member(&self, json_name: &str) -> Option<&Arc<Mask>> {
        self.members.get(json_name)
    }
}
