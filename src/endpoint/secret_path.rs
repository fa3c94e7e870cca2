//! Where a definition's secret fields (`x-secret: true`) sit in a body: a path of property
//! names that may pass through every item of a list or every member of a map, and may be
//! reached through `allOf`/`anyOf`/`oneOf`, as definitions write response schemas.

use crate::util::pointer::{append_index, append_token};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Key(String),
    /// Every item of an array, or every member of an object (`additionalProperties`).
    Each,
}

/// A path to a secret field, found in a schema and applied to bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretPath(Vec<Token>);

impl SecretPath {
    /// Every secret field in `schema` (`$ref`s already inlined).
    pub fn find_all(schema: &Value) -> Vec<SecretPath> {
        let mut out = Vec::new();
        walk(schema, &mut Vec::new(), &mut out);
        out
    }

    /// Whether it names one field, not one per list item or map member.
    pub fn is_single(&self) -> bool {
        !self.0.contains(&Token::Each)
    }

    /// The JSON Pointers of this field in `body`, one per list item or map member it passes.
    pub fn pointers(&self, body: &Value) -> Vec<String> {
        let mut out = Vec::new();
        visit(body, &self.0, &mut String::new(), &mut out);
        out
    }
}

fn walk(schema: &Value, path: &mut Vec<Token>, out: &mut Vec<SecretPath>) {
    let Some(fields) = schema.as_object() else {
        return;
    };
    if fields.get("x-secret") == Some(&Value::Bool(true)) {
        if !path.is_empty() && !out.iter().any(|p: &SecretPath| p.0 == *path) {
            out.push(SecretPath(path.clone()));
        }
        return;
    }
    if let Some(properties) = fields.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            path.push(Token::Key(name.clone()));
            walk(property, path, out);
            path.pop();
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(each) = fields.get(key).filter(|s| s.is_object()) {
            path.push(Token::Each);
            walk(each, path, out);
            path.pop();
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for member in fields
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(member, path, out);
        }
    }
}

fn visit(value: &Value, rest: &[Token], pointer: &mut String, out: &mut Vec<String>) {
    let Some((first, rest)) = rest.split_first() else {
        out.push(pointer.clone());
        return;
    };
    let len = pointer.len();
    match (first, value) {
        (Token::Key(name), Value::Object(fields)) => {
            if let Some(child) = fields.get(name) {
                append_token(pointer, name);
                visit(child, rest, pointer, out);
            }
        }
        (Token::Each, Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                append_index(pointer, index);
                visit(item, rest, pointer, out);
                pointer.truncate(len);
            }
        }
        (Token::Each, Value::Object(fields)) => each_member(fields, rest, pointer, out),
        _ => {}
    }
    pointer.truncate(len);
}

fn each_member(
    fields: &Map<String, Value>,
    rest: &[Token],
    pointer: &mut String,
    out: &mut Vec<String>,
) {
    let len = pointer.len();
    for (name, member) in fields {
        append_token(pointer, name);
        visit(member, rest, pointer, out);
        pointer.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_found_through_composition_lists_and_maps() {
        let schema = json!({
            "allOf": [
                { "properties": { "secretKey": { "type": "string", "x-secret": true } } },
                { "properties": {
                    "keys": { "type": "array", "items": { "oneOf": [
                        { "properties": { "secret": { "x-secret": true } } } ] } },
                    "byName": { "type": "object", "additionalProperties": {
                        "properties": { "token": { "x-secret": true } } } }
                } }
            ]
        });
        let paths = SecretPath::find_all(&schema);
        assert_eq!(paths.len(), 3);
        let body = json!({
            "secretKey": "a",
            "keys": [{ "secret": "b" }, { "other": 1 }, { "secret": "c" }],
            "byName": { "x/y": { "token": "d" } }
        });
        let pointers: Vec<String> = paths.iter().flat_map(|p| p.pointers(&body)).collect();
        assert_eq!(
            pointers,
            [
                "/secretKey",
                "/keys/0/secret",
                "/keys/2/secret",
                "/byName/x~1y/token"
            ]
        );
    }
}
