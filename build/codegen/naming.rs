//! Rust names of proto items, as prost-build gives them (its `ident`
//! module is not public): a mismatch is a compile error in the crate, never
//! a silent divergence.

use heck::{ToSnakeCase, ToUpperCamelCase};
use protox::prost_reflect::{EnumDescriptor, MessageDescriptor, OneofDescriptor};

/// The file stem prost-build gives a package's output: each segment as a
/// Rust module name, so `google.logging.type` becomes `google.logging.r#type`.
pub(super) fn file_stem(package: &str) -> String {
    package
        .split('.')
        .map(to_snake)
        .collect::<Vec<_>>()
        .join(".")
}

pub(super) fn sanitize(ident: String) -> String {
    match ident.as_str() {
        "as" | "break" | "const" | "continue" | "else" | "enum" | "false" | "fn" | "for" | "if"
        | "impl" | "in" | "let" | "loop" | "match" | "mod" | "move" | "mut" | "pub" | "ref"
        | "return" | "static" | "struct" | "trait" | "true" | "type" | "unsafe" | "use"
        | "where" | "while" | "dyn" | "abstract" | "become" | "box" | "do" | "final" | "macro"
        | "override" | "priv" | "typeof" | "unsized" | "virtual" | "yield" | "async" | "await"
        | "try" | "gen" => format!("r#{ident}"),
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{ident}_"),
        s if s.starts_with(|c: char| c.is_numeric()) => format!("_{ident}"),
        _ => ident,
    }
}

pub(super) fn to_snake(s: &str) -> String {
    sanitize(s.to_snake_case())
}

pub(super) fn to_upper_camel(s: &str) -> String {
    sanitize(s.to_upper_camel_case())
}

/// The absolute Rust path of a message or enum, given its full proto name.
fn rust_path(full_name: &str, package: &str) -> String {
    let mut path = String::from("crate");
    for segment in package.split('.').filter(|s| !s.is_empty()) {
        path.push_str("::");
        path.push_str(&to_snake(segment));
    }
    let relative = full_name
        .strip_prefix(package)
        .unwrap_or(full_name)
        .trim_start_matches('.');
    let parts: Vec<&str> = relative.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push_str("::");
        if i + 1 == parts.len() {
            path.push_str(&to_upper_camel(part));
        } else {
            path.push_str(&to_snake(part));
        }
    }
    path
}

pub(super) fn message_path(m: &MessageDescriptor) -> String {
    rust_path(m.full_name(), m.package_name())
}

pub(super) fn enum_path(e: &EnumDescriptor) -> String {
    rust_path(e.full_name(), e.package_name())
}

/// The module prost puts a message's nested types (and oneof enums) in.
pub(super) fn nested_module(m: &MessageDescriptor) -> String {
    let path = message_path(m);
    let (parent, name) = path.rsplit_once("::").unwrap();
    format!("{parent}::{}", to_snake(name))
}

/// The name of a oneof's enum: prost-build adds `OneOf` when a nested type
/// has the same name.
pub(super) fn oneof_type_name(oneof: &OneofDescriptor) -> String {
    let name = to_upper_camel(oneof.name());
    let parent = oneof.parent_message();
    let clash = parent
        .child_messages()
        .map(|m| to_upper_camel(m.name()))
        .chain(parent.child_enums().map(|e| to_upper_camel(e.name())))
        .any(|n| n == name);
    if clash { format!("{name}OneOf") } else { name }
}

/// The path of a oneof's enum.
pub(super) fn oneof_path(oneof: &OneofDescriptor) -> String {
    format!(
        "{}::{}",
        nested_module(oneof.parent_message()),
        oneof_type_name(oneof)
    )
}
