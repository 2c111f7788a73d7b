//! The resolved model every emitter reads: each message's fields as prost
//! stores them (boxing, options, lists, maps, oneof members), their Rust,
//! proto and JSON names, and its oneofs with their enums' paths, worked out
//! once from the descriptors ([`Model::new`]). The questions behind it
//! (which types are written by hand, prost-build's boxing and packing rules)
//! are answered here and nowhere else.

use std::collections::HashMap;

use protox::prost_reflect::{
    Cardinality, DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, OneofDescriptor,
};

use super::naming::{message_path, oneof_path, to_snake, to_upper_camel};

/// Every message of the pool, resolved.
pub struct Model {
    pool: DescriptorPool,
    messages: HashMap<String, Message>,
}

impl Model {
    /// Resolves every message of `pool`.
    pub fn new(pool: &DescriptorPool) -> Self {
        let messages = pool
            .all_messages()
            .map(|m| (m.full_name().to_owned(), Message::resolve(&m)))
            .collect();
        Self {
            pool: pool.clone(),
            messages,
        }
    }

    /// The descriptors the model was resolved from.
    pub(super) fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// A message, by its descriptor.
    pub(super) fn message(&self, descriptor: &MessageDescriptor) -> &Message {
        &self.messages[descriptor.full_name()]
    }
}

/// A message as the emitters write it.
pub(super) struct Message {
    pub(super) descriptor: MessageDescriptor,
    /// The absolute Rust path of its type.
    pub(super) path: String,
    /// Its fields in field-number order (the order of the wire and of JSON
    /// output).
    pub(super) fields: Vec<Field>,
    /// Its real oneofs (not proto3 `optional`'s), in declaration order.
    pub(super) oneofs: Vec<Oneof>,
}

/// A field as prost stores it.
pub(super) struct Field {
    pub(super) descriptor: FieldDescriptor,
    pub(super) kind: Kind,
    /// The proto name.
    pub(super) name: String,
    /// The JSON name.
    pub(super) json_name: String,
    pub(super) number: u32,
    /// The Rust field that holds the value: the field's own, or its
    /// oneof's.
    pub(super) holder: String,
    pub(super) storage: Storage,
    /// Whether the value is a `Box<T>` (prost-build's rule, [`is_boxed`]).
    pub(super) boxed: bool,
}

/// How a field's value is held.
pub(super) enum Storage {
    /// `T`, written when not the default.
    Implicit,
    /// `Option<T>`: proto3 `optional` scalars and singular messages.
    Optional,
    /// `Vec<T>`, packed on the wire.
    Packed,
    /// `Vec<T>`, one record per value.
    Repeated,
    /// `BTreeMap<K, V>`, of the entry's key and value kinds.
    Map(Kind, Kind),
    /// A member of a oneof (its index in [`Message::oneofs`]): the holder is
    /// `Option<Enum>`, set when it is `variant` (the variant's path).
    Member { oneof: usize, variant: String },
}

/// A real oneof.
pub(super) struct Oneof {
    pub(super) descriptor: OneofDescriptor,
    /// The Rust field holding it.
    pub(super) holder: String,
    /// The path of its enum.
    pub(super) path: String,
}

impl Field {
    /// Whether the field is a member of a oneof.
    pub(super) fn in_oneof(&self) -> bool {
        matches!(self.storage, Storage::Member { .. })
    }
}

impl Message {
    fn resolve(descriptor: &MessageDescriptor) -> Self {
        let oneofs: Vec<Oneof> = descriptor
            .oneofs()
            .filter(|o| !o.is_synthetic())
            .map(|o| Oneof {
                holder: to_snake(o.name()),
                path: oneof_path(&o),
                descriptor: o,
            })
            .collect();
        let mut fields: Vec<Field> = descriptor
            .fields()
            .map(|f| {
                let member = real_oneof(&f).map(|o| {
                    let index = oneofs
                        .iter()
                        .position(|known| known.descriptor.name() == o.name())
                        .expect("a real oneof of the message");
                    (
                        index,
                        format!("{}::{}", oneofs[index].path, to_upper_camel(f.name())),
                    )
                });
                let storage = if let Some((oneof, variant)) = member {
                    Storage::Member { oneof, variant }
                } else if f.is_map() {
                    let Kind::Message(entry) = f.kind() else {
                        unreachable!("map fields are messages")
                    };
                    Storage::Map(
                        entry.map_entry_key_field().kind(),
                        entry.map_entry_value_field().kind(),
                    )
                } else if f.is_list() {
                    if is_packed(&f) {
                        Storage::Packed
                    } else {
                        Storage::Repeated
                    }
                } else if is_optional(&f) {
                    Storage::Optional
                } else {
                    Storage::Implicit
                };
                let holder = match &storage {
                    Storage::Member { oneof, .. } => oneofs[*oneof].holder.clone(),
                    _ => to_snake(f.name()),
                };
                Field {
                    kind: f.kind(),
                    name: f.name().to_owned(),
                    json_name: f.json_name().to_owned(),
                    number: f.number(),
                    holder,
                    storage,
                    boxed: is_boxed(&f),
                    descriptor: f,
                }
            })
            .collect();
        fields.sort_by_key(|f| f.number);
        Self {
            descriptor: descriptor.clone(),
            path: message_path(descriptor),
            fields,
            oneofs,
        }
    }

    /// The fields in declaration order (the order of the struct's members).
    pub(super) fn declared(&self) -> impl Iterator<Item = &Field> {
        self.descriptor.fields().map(|f| self.field(f.number()))
    }

    /// The field numbered `number`.
    pub(super) fn field(&self, number: u32) -> &Field {
        self.fields
            .iter()
            .find(|f| f.number == number)
            .expect("a field of the message")
    }

    /// The members of oneof `index`, in declaration order (the order of its
    /// enum's variants).
    pub(super) fn members(&self, index: usize) -> impl Iterator<Item = &Field> {
        self.oneofs[index]
            .descriptor
            .fields()
            .map(|f| self.field(f.number()))
    }
}

/// The package of the well-known types, some of whose JSON forms are
/// written by hand in `src/google/protobuf/`.
const WELL_KNOWN_PACKAGE: &str = "google.protobuf";

/// The file that only the compiler needs (for custom options); it becomes no
/// Rust type.
pub(super) const COMPILER_ONLY_FILE: &str = "google/protobuf/descriptor.proto";

/// Whether a message's JSON form is written by hand: the well-known types
/// with special JSON forms. The others of `google.protobuf` (`Api`, `Type`,
/// ...) are ordinary messages and get generated code.
pub(super) fn hand_written(message: &MessageDescriptor) -> bool {
    message.package_name() == WELL_KNOWN_PACKAGE && WELL_KNOWN_COMPILED.contains(&message.name())
}

/// The well-known types whose JSON forms are written by hand in
/// `src/google/protobuf/` (Empty's `{}` too, so that it is registered as
/// well-known for `Any`'s `"value"` form).
const WELL_KNOWN_COMPILED: &[&str] = &[
    "Any",
    "Duration",
    "Empty",
    "FieldMask",
    "Timestamp",
    "Struct",
    "Value",
    "ListValue",
    "DoubleValue",
    "FloatValue",
    "Int64Value",
    "UInt64Value",
    "Int32Value",
    "UInt32Value",
    "BoolValue",
    "StringValue",
    "BytesValue",
];

/// Whether prost stores the field as `Option<T>`: messages, and proto3
/// `optional` scalars.
fn is_optional(field: &FieldDescriptor) -> bool {
    field.cardinality() != Cardinality::Repeated
        && (matches!(field.kind(), Kind::Message(_)) || is_proto3_optional(field))
}

/// Whether prost boxes the field (`Box<T>`): a singular message field whose
/// type leads back, through singular message fields, to the message holding
/// it (prost-build's rule, so that the type has a finite size).
fn is_boxed(field: &FieldDescriptor) -> bool {
    let Kind::Message(start) = field.kind() else {
        return false;
    };
    if field.is_list() || field.is_map() {
        return false;
    }
    let target = field.parent_message();
    let mut seen = vec![start.full_name().to_owned()];
    let mut queue = vec![start];
    while let Some(message) = queue.pop() {
        if message == *target {
            return true;
        }
        for f in message.fields().filter(|f| !f.is_list() && !f.is_map()) {
            if let Kind::Message(next) = f.kind()
                && !seen.iter().any(|s| s == next.full_name())
            {
                seen.push(next.full_name().to_owned());
                queue.push(next);
            }
        }
    }
    false
}

fn is_proto3_optional(field: &FieldDescriptor) -> bool {
    field.field_descriptor_proto().proto3_optional()
}

/// The oneof a field belongs to, not counting the synthetic oneof of a proto3
/// `optional` field.
fn real_oneof(field: &FieldDescriptor) -> Option<OneofDescriptor> {
    field
        .containing_oneof()
        .filter(|_| !is_proto3_optional(field))
}

/// Whether a repeated field is packed on the wire (prost-build's rule): a
/// numeric, bool or enum kind, unless `[packed = false]` says otherwise
/// (proto2 packs only with `[packed = true]`).
fn is_packed(field: &FieldDescriptor) -> bool {
    let proto3 = field.parent_file().file_descriptor_proto().syntax() == "proto3";
    field.is_list()
        && is_packable(&field.kind())
        && field
            .field_descriptor_proto()
            .options
            .as_ref()
            .and_then(|o| o.packed)
            .unwrap_or(proto3)
}

/// Whether a list of the kind may be packed: numbers, bools and enums (a
/// reader takes such a list packed or not, whatever the field says).
pub(super) fn is_packable(kind: &Kind) -> bool {
    !matches!(kind, Kind::String | Kind::Bytes | Kind::Message(_))
}
