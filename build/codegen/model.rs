//! Questions about the descriptors that every part of the generator asks:
//! which types are written by hand, how prost stores a field.

use protox::prost_reflect::{
    Cardinality, FieldDescriptor, Kind, MessageDescriptor, OneofDescriptor,
};

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
pub(super) fn is_optional(field: &FieldDescriptor) -> bool {
    field.cardinality() != Cardinality::Repeated
        && (matches!(field.kind(), Kind::Message(_)) || is_proto3_optional(field))
}

/// Whether prost boxes the field (`Box<T>`): a singular message field whose
/// type leads back, through singular message fields, to the message holding
/// it (prost-build's rule, so that the type has a finite size).
pub(super) fn is_boxed(field: &FieldDescriptor) -> bool {
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
pub(super) fn real_oneof(field: &FieldDescriptor) -> Option<OneofDescriptor> {
    field
        .containing_oneof()
        .filter(|_| !is_proto3_optional(field))
}

/// Whether a repeated field is packed on the wire (prost-build's rule): a
/// numeric, bool or enum kind, unless `[packed = false]` says otherwise
/// (proto2 packs only with `[packed = true]`).
pub(super) fn is_packed(field: &FieldDescriptor) -> bool {
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
