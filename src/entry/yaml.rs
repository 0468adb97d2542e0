//! YAML read under bounds: depth, node count, and the node count after alias expansion (the
//! "billion laughs"), counted from the parser's events without expanding anything. Anchors and
//! aliases are legitimate (values.yaml uses them); only their expansion is bounded. The files
//! helm parses small (`Chart.yaml`, `Chart.lock`, `requirements.*`) are also built into JSON.

use std::collections::HashMap;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, Parser};

use super::{Limits, Refusal};

/// One open collection while reading.
struct Open {
    anchor: usize,
    /// Nodes under it so far, aliases expanded.
    expanded: u64,
    /// The JSON being built (when building).
    value: Option<Value>,
    key: Option<String>,
}

/// True when `text` may hold an alias (`*name` where a node can start), judged lexically: what
/// the gate falls back on when the YAML parser cannot read a file Go's decoder would.
pub(crate) fn has_alias(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        b == b'*'
            && bytes.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'_' || *n == b'-')
            && (i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'[' | b'{' | b',' | b':' | b'-'))
    })
}

/// Reads every document of `text` under `limits`; builds the first document as JSON when
/// `build` (plain scalars resolved as YAML 1.2's core schema resolves them).
pub(crate) fn read(text: &str, file: &str, limits: &Limits, build: bool) -> Result<Option<Value>, Refusal> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let refuse = |code, detail: String| Refusal::new(code, Some(file), detail);
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    // Expanded size (and the value, when building) of each anchor.
    let mut anchors: HashMap<usize, (u64, Option<Value>)> = HashMap::new();
    let mut nodes: u64 = 0;
    let mut expanded_total: u64 = 0;
    let mut first: Option<Value> = None;
    let mut documents = 0usize;
    loop {
        let (event, _) = parser.next_token().map_err(|e| refuse("yaml_invalid", format!("not valid YAML: {e}")))?;
        // A finished node: its expanded size, anchor and value.
        let done: Option<(u64, usize, Option<Value>)> = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                None
            }
            Event::Scalar(text, style, anchor, _) => Some((1, anchor, build.then(|| scalar(text, style)))),
            Event::Alias(id) => {
                let (size, value) = anchors.get(&id).cloned().unwrap_or((1, None));
                Some((size, 0, value))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= limits.max_yaml_depth {
                    return Err(refuse("yaml_depth", format!("nested deeper than {} levels", limits.max_yaml_depth)));
                }
                let value = build.then(|| match event {
                    Event::SequenceStart(..) => Value::Array(Vec::new()),
                    _ => Value::Object(Map::new()),
                });
                stack.push(Open { anchor, expanded: 1, value, key: None });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|open| (open.expanded, open.anchor, open.value)),
            _ => None,
        };
        let Some((size, anchor, value)) = done else { continue };
        nodes += 1;
        if nodes > limits.max_yaml_nodes {
            return Err(refuse("yaml_nodes", format!("more than {} nodes", limits.max_yaml_nodes)));
        }
        if anchor != 0 {
            anchors.insert(anchor, (size, value.clone()));
        }
        match stack.last_mut() {
            Some(parent) => {
                parent.expanded = parent.expanded.saturating_add(size);
                if parent.expanded > limits.max_yaml_expanded {
                    return Err(refuse(
                        "yaml_alias_expansion",
                        format!("aliases expand to more than {} nodes", limits.max_yaml_expanded),
                    ));
                }
                if let (Some(container), Some(value)) = (parent.value.as_mut(), value) {
                    match container {
                        Value::Array(items) => items.push(value),
                        Value::Object(map) => match parent.key.take() {
                            None => parent.key = Some(key_text(value)),
                            Some(k) => {
                                map.insert(k, value);
                            }
                        },
                        _ => {}
                    }
                }
            }
            None => {
                expanded_total = expanded_total.saturating_add(size);
                if expanded_total > limits.max_yaml_expanded {
                    return Err(refuse(
                        "yaml_alias_expansion",
                        format!("aliases expand to more than {} nodes", limits.max_yaml_expanded),
                    ));
                }
                if documents <= 1 && first.is_none() {
                    first = value;
                }
            }
        }
    }
    Ok(first)
}

/// A scalar as YAML 1.2's core schema resolves it (what Go's YAML decoders give an untyped
/// field): a plain `null`, `true` or number is not a string.
fn scalar(text: String, style: yaml_rust2::scanner::TScalarStyle) -> Value {
    if style != yaml_rust2::scanner::TScalarStyle::Plain {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        t if t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.') => {
            match serde_json::from_str::<serde_json::Number>(t.strip_prefix('+').unwrap_or(t)) {
                Ok(n) => Value::Number(n),
                Err(_) => Value::String(text),
            }
        }
        _ => Value::String(text),
    }
}

/// A mapping key as a string (a collection key is written as its JSON).
fn key_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}
