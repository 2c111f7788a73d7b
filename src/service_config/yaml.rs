//! YAML to JSON values, typed by the message schema, with the position of
//! every value kept for errors.
//!
//! The YAML is parsed by `yaml-rust2`'s event parser into a tree (aliases
//! expanded within a budget, so a "billion laughs" document is an error, not
//! gigabytes), then converted: where the schema says a field is text, a plain
//! scalar is its text; where it is a number, the text goes to the JSON
//! mapping as a quoted number (which the mapping accepts for every numeric
//! type, exactly); a bool takes the YAML 1.2 `true`/`false` forms; `null`,
//! `~` and nothing are null. Where the schema has no say (`Struct`, `Value`,
//! `Any`, unknown keys), scalars are typed by the YAML 1.2 core schema.

use std::collections::HashMap;

use prost_types::field_descriptor_proto::Type;
use serde_json::Value;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::error::ConfigError;
use crate::schema::{self, Kind};

/// The most nodes a document may hold once its aliases are expanded.
pub(super) const MAX_NODES: usize = 250_000;

/// The deepest nesting of mappings and sequences.
pub(super) const MAX_DEPTH: usize = 64;

/// A YAML document as JSON, and the 1-based line and column of each value
/// by its JSON path (as the JSON reader writes paths).
pub(super) struct Document {
    pub(super) value: Value,
    pub(super) positions: HashMap<String, (usize, usize)>,
}

#[derive(Clone)]
enum Node {
    Scalar {
        text: String,
        quoted: bool,
        at: (usize, usize),
    },
    Sequence {
        items: Vec<Node>,
        at: (usize, usize),
    },
    Mapping {
        entries: Vec<(Node, Node)>,
        at: (usize, usize),
    },
}

impl Node {
    fn at(&self) -> (usize, usize) {
        match self {
            Node::Scalar { at, .. } | Node::Sequence { at, .. } | Node::Mapping { at, .. } => *at,
        }
    }
}

fn position(mark: &Marker) -> (usize, usize) {
    (mark.line(), mark.col() + 1)
}

fn error_at(at: (usize, usize), path: &str, message: impl Into<String>) -> ConfigError {
    let mut error = ConfigError::at(path, message);
    error.position = Some(at);
    error
}

/// Converts a one-document YAML text to the JSON form of `message_type`.
pub(super) fn to_json(text: &str, message_type: &str) -> Result<Document, ConfigError> {
    let root = parse(text)?;
    let mut positions = HashMap::new();
    let value = convert(
        &root,
        Expect::Message(message_type),
        &mut String::new(),
        &mut positions,
    )?;
    Ok(Document { value, positions })
}

enum Frame {
    Sequence {
        items: Vec<Node>,
        at: (usize, usize),
        anchor: usize,
    },
    Mapping {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        at: (usize, usize),
        anchor: usize,
    },
}

/// Parses the events into one tree; nodes counted with aliases expanded.
fn parse(text: &str) -> Result<Node, ConfigError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    // Nodes made so far, and per open frame the count when it opened.
    let mut nodes = 0usize;
    let mut opened: Vec<usize> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| error_at(position(e.marker()), "", format!("not YAML: {}", e.info())))?;
        let at = position(&mark);
        // A finished node, with its size in nodes and its anchor.
        let finished: Option<(Node, usize, usize)> = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => None,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(error_at(
                        at,
                        "",
                        "more than one YAML document; a configuration is one",
                    ));
                }
                None
            }
            Event::Alias(id) => {
                let (node, size) = anchors
                    .get(&id)
                    .ok_or_else(|| error_at(at, "", "an alias of no anchor"))?;
                if nodes + size > MAX_NODES {
                    return Err(error_at(
                        at,
                        "",
                        format!("aliases expand the document past {MAX_NODES} nodes"),
                    ));
                }
                nodes += size;
                Some((node.clone(), *size, 0))
            }
            Event::Scalar(text, style, anchor, tag) => {
                let quoted = style != TScalarStyle::Plain
                    || match &tag {
                        None => false,
                        Some(tag) => {
                            let standard = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
                            if !standard {
                                return Err(error_at(
                                    at,
                                    "",
                                    format!(
                                        "the YAML tag {}{} is not supported",
                                        tag.handle, tag.suffix
                                    ),
                                ));
                            }
                            tag.suffix == "str"
                        }
                    };
                nodes += 1;
                Some((Node::Scalar { text, quoted, at }, 1, anchor))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(error_at(
                        at,
                        "",
                        format!("nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                nodes += 1;
                opened.push(nodes);
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Sequence {
                        items: Vec::new(),
                        at,
                        anchor,
                    }
                } else {
                    Frame::Mapping {
                        entries: Vec::new(),
                        key: None,
                        at,
                        anchor,
                    }
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let start = opened.pop().unwrap_or(nodes);
                let size = nodes - start + 1;
                match stack.pop() {
                    Some(Frame::Sequence { items, at, anchor }) => {
                        Some((Node::Sequence { items, at }, size, anchor))
                    }
                    Some(Frame::Mapping {
                        entries,
                        at,
                        anchor,
                        ..
                    }) => Some((Node::Mapping { entries, at }, size, anchor)),
                    None => None,
                }
            }
        };
        if nodes > MAX_NODES {
            return Err(error_at(at, "", format!("more than {MAX_NODES} nodes")));
        }
        let Some((node, size, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), size));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Sequence { items, .. }) => items.push(node),
            Some(Frame::Mapping { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    match root {
        Some(node) if !matches!(&node, Node::Scalar { text, quoted: false, .. } if is_null(text)) => {
            Ok(node)
        }
        _ => Err(ConfigError::at("", "an empty document")),
    }
}

/// What the schema expects of a value.
#[derive(Clone, Copy)]
enum Expect<'a> {
    Message(&'a str),
    Scalar(Type),
    Enum,
    /// No schema: YAML's own core schema.
    Free,
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn core_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// A YAML 1.2 core-schema number as JSON, when the text is one.
fn core_number(text: &str) -> Option<Value> {
    let digits = text.trim_start_matches(['-', '+']);
    let sign = if text.starts_with('-') { -1i128 } else { 1 };
    let radix = |prefix: &str, radix: u32| {
        text.strip_prefix(prefix)
            .and_then(|d| i128::from_str_radix(d, radix).ok())
    };
    if let Some(n) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return integer(n);
    }
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = digits.parse::<i128>()
    {
        return integer(sign * n);
    }
    let looks_float = !digits.is_empty()
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if looks_float {
        let f: f64 = text.parse().ok()?;
        return serde_json::Number::from_f64(f).map(Value::Number);
    }
    None
}

fn integer(n: i128) -> Option<Value> {
    if let Ok(n) = i64::try_from(n) {
        Some(Value::from(n))
    } else if let Ok(n) = u64::try_from(n) {
        Some(Value::from(n))
    } else {
        serde_json::Number::from_f64(n as f64).map(Value::Number)
    }
}

/// The text YAML's special floats have in the JSON mapping.
fn special_float(text: &str) -> Option<&'static str> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some("Infinity"),
        "-.inf" | "-.Inf" | "-.INF" => Some("-Infinity"),
        ".nan" | ".NaN" | ".NAN" => Some("NaN"),
        _ => None,
    }
}

fn scalar(text: &str, quoted: bool, expect: Expect<'_>) -> Value {
    if quoted {
        return Value::String(text.to_owned());
    }
    if is_null(text) {
        return Value::Null;
    }
    match expect {
        Expect::Scalar(Type::Bool) => core_bool(text)
            .map(Value::Bool)
            .unwrap_or_else(|| Value::String(text.to_owned())),
        Expect::Scalar(Type::String | Type::Bytes) => Value::String(text.to_owned()),
        // The mapping reads every number type from text, exactly.
        Expect::Scalar(_) => Value::String(special_float(text).unwrap_or(text).to_owned()),
        Expect::Enum => match core_number(text) {
            Some(n @ Value::Number(_)) if !text.contains(['.', 'e', 'E']) => n,
            _ => Value::String(text.to_owned()),
        },
        Expect::Message(_) | Expect::Free => {
            if let Some(b) = core_bool(text) {
                Value::Bool(b)
            } else if let Some(n) = core_number(text) {
                n
            } else {
                Value::String(text.to_owned())
            }
        }
    }
}

/// How a value of this kind is expected; `Free` for a message whose JSON
/// form is not an object of its fields.
fn expect_of(kind: &Kind) -> Expect<'_> {
    match kind {
        Kind::Scalar(t) => Expect::Scalar(*t),
        Kind::Enum => Expect::Enum,
        Kind::Message(name) => expect_message(name),
        // Maps are handled by the caller.
        Kind::Map(..) => Expect::Free,
    }
}

fn expect_message(name: &str) -> Expect<'_> {
    match name.strip_prefix("google.protobuf.") {
        Some("Timestamp" | "Duration" | "FieldMask" | "StringValue") => {
            Expect::Scalar(Type::String)
        }
        Some("BytesValue") => Expect::Scalar(Type::Bytes),
        Some("BoolValue") => Expect::Scalar(Type::Bool),
        Some("DoubleValue") => Expect::Scalar(Type::Double),
        Some("FloatValue") => Expect::Scalar(Type::Float),
        Some("Int64Value") => Expect::Scalar(Type::Int64),
        Some("UInt64Value") => Expect::Scalar(Type::Uint64),
        Some("Int32Value") => Expect::Scalar(Type::Int32),
        Some("UInt32Value") => Expect::Scalar(Type::Uint32),
        Some("Struct" | "Value" | "ListValue" | "Any" | "Empty") => Expect::Free,
        _ => Expect::Message(name),
    }
}

fn key_text<'n>(key: &'n Node, path: &str) -> Result<&'n str, ConfigError> {
    match key {
        Node::Scalar { text, .. } => Ok(text),
        other => Err(error_at(other.at(), path, "a mapping key must be a scalar")),
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn convert(
    node: &Node,
    expect: Expect<'_>,
    path: &mut String,
    positions: &mut HashMap<String, (usize, usize)>,
) -> Result<Value, ConfigError> {
    positions.insert(path.clone(), node.at());
    match node {
        Node::Scalar { text, quoted, .. } => Ok(scalar(text, *quoted, expect)),
        Node::Sequence { items, .. } => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let mut item_path = format!("{path}[{i}]");
                // A list's elements are expected as the list's field says.
                out.push(convert(item, expect, &mut item_path, positions)?);
            }
            Ok(Value::Array(out))
        }
        Node::Mapping { entries, .. } => {
            let fields = match expect {
                Expect::Message(name) => schema::message(name),
                _ => None,
            };
            let mut out = serde_json::Map::new();
            for (key, value) in entries {
                let name = key_text(key, path)?;
                if out.contains_key(name) {
                    return Err(error_at(
                        key.at(),
                        &child(path, name),
                        "given twice in one mapping",
                    ));
                }
                let field = fields
                    .and_then(|fields| fields.get(name).or_else(|| fields.get_by_json_name(name)));
                let mut value_path = child(path, name);
                let converted = match field.map(|f| (&f.kind, f.list)) {
                    Some((Kind::Map(_, value_kind), _)) => {
                        convert_map(value, expect_of(value_kind), &mut value_path, positions)?
                    }
                    Some((kind, _)) => convert(value, expect_of(kind), &mut value_path, positions)?,
                    None => convert(value, Expect::Free, &mut value_path, positions)?,
                };
                out.insert(name.to_owned(), converted);
            }
            Ok(Value::Object(out))
        }
    }
}

/// A map field: keys as text, values as the map's value type says.
fn convert_map(
    node: &Node,
    value_expect: Expect<'_>,
    path: &mut String,
    positions: &mut HashMap<String, (usize, usize)>,
) -> Result<Value, ConfigError> {
    let Node::Mapping { entries, at } = node else {
        return convert(node, Expect::Free, path, positions);
    };
    positions.insert(path.clone(), *at);
    let mut out = serde_json::Map::new();
    for (key, value) in entries {
        let name = key_text(key, path)?;
        let mut value_path = child(path, name);
        if out.contains_key(name) {
            return Err(error_at(
                key.at(),
                &value_path,
                "given twice in one mapping",
            ));
        }
        let converted = convert(value, value_expect, &mut value_path, positions)?;
        out.insert(name.to_owned(), converted);
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Result<Value, ConfigError> {
        to_json(text, "google.api.Service").map(|d| d.value)
    }

    #[test]
    fn scalars_take_the_type_of_their_field() {
        let value = json(
            "name: 2024\ntitle: 'x'\nconfig_version: 3\nusage:\n  rules:\n  - selector: \"*\"\n    allow_unregistered_calls: true\nquota:\n  limits:\n  - values: {STANDARD: 1000}\n",
        )
        .unwrap();
        assert_eq!(value["name"], "2024");
        assert_eq!(value["config_version"], "3");
        assert_eq!(value["usage"]["rules"][0]["allow_unregistered_calls"], true);
        assert_eq!(value["quota"]["limits"][0]["values"]["STANDARD"], "1000");
    }

    #[test]
    fn positions_follow_json_paths() {
        let document = to_json(
            "name: a\nquota:\n  limits:\n  - name: x\n    values:\n      STANDARD: lots\n",
            "google.api.Service",
        )
        .unwrap();
        assert_eq!(
            document.positions["quota.limits[0].values.STANDARD"],
            (6, 17)
        );
    }

    #[test]
    fn hostile_documents_are_errors() {
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            laughs.push_str(&format!(
                "{}: &{} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
                (b'a' + i) as char,
                (b'a' + i) as char,
                p = (b'a' + i - 1) as char
            ));
        }
        let error = json(&laughs).unwrap_err();
        assert!(error.message.contains("aliases expand"), "{error}");
        let deep = "[".repeat(10_000);
        assert!(json(&deep).is_err());
        let deep_block: String = (0..200)
            .map(|i| format!("{}- \n", " ".repeat(i * 2)))
            .collect();
        assert!(json(&deep_block).is_err());
        for bad in [
            "a: 1\na: 2\n",
            "--- {}\n--- {}\n",
            "",
            "~",
            "!custom x: 1",
            "{[1]: 2}",
        ] {
            assert!(json(bad).is_err(), "{bad:?}");
        }
    }
}
