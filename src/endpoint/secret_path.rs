//! Where a definition's secret fields (`x-secret: true`) sit in a body: a path of property
//! names that may pass through every item of a list or every member of a map, and may be
//! reached through `allOf`/`anyOf`/`oneOf`, as definitions write response schemas.

use crate::credentials::REDACTED;
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

    /// The places in `body` that any of `paths` names, each with its JSON Pointer, in the
    /// body's order: found in one walk that builds the pointers on the way down, instead of
    /// writing pointers and parsing them again to reach each place. A place two paths name
    /// comes once. A place that holds places of other paths (a secret object with a secret
    /// field) is not one of them: the places inside it are, and its pointer is in
    /// [`Found::around`], to be redacted whole once they are dealt with, so that no secret
    /// inside another is lost to the sink.
    pub fn slots_mut<'v>(paths: &[SecretPath], body: &'v mut Value) -> Found<'v> {
        let mut found = Found {
            places: Vec::new(),
            around: Vec::new(),
        };
        if !paths.is_empty() {
            // What is left of each path, level after level below the body's: one buffer for
            // the whole walk, and one for the pointer.
            let mut rests: Vec<&[Token]> = Vec::with_capacity(paths.len() * 4);
            rests.extend(paths.iter().map(|path| path.0.as_slice()));
            visit_mut(
                body,
                &mut rests,
                0,
                &mut String::with_capacity(64),
                &mut found,
            );
        }
        found
    }

    /// Puts `<redacted>` in every place of `body` that any of `paths` names.
    pub fn redact_all(paths: &[SecretPath], body: &mut Value) {
        let Found { places, around } = SecretPath::slots_mut(paths, body);
        for (_, slot) in places {
            *slot = Value::String(REDACTED.to_owned());
        }
        redact_around(&around, body);
    }
}

/// What [`SecretPath::slots_mut`] finds.
pub(crate) struct Found<'v> {
    /// Each place, with its pointer, in the body's order.
    pub places: Vec<(String, &'v mut Value)>,
    /// The pointers of secret places that hold other places, outer ones after inner ones.
    pub around: Vec<String>,
}

/// Puts `<redacted>` at each of `around` (from [`Found::around`]), once the places inside them
/// are dealt with.
pub(crate) fn redact_around(around: &[String], body: &mut Value) {
    for pointer in around {
        if let Some(slot) = body.pointer_mut(pointer) {
            *slot = Value::String(REDACTED.to_owned());
        }
    }
}

/// The walk of [`SecretPath::slots_mut`]: `rests[from..]` is what is left of each path that
/// led to `value`. For a member or item, what is left of those that go on into it is pushed
/// after them (`rests[below..]`, the child's), and taken off on the way back.
fn visit_mut<'v>(
    value: &'v mut Value,
    rests: &mut Vec<&[Token]>,
    from: usize,
    pointer: &mut String,
    found: &mut Found<'v>,
) {
    let mut around = false;
    if rests[from..].iter().any(|rest| rest.is_empty()) {
        // A secret here. Rare: another path also goes on inside it, and finds something.
        let holds_others = rests[from..].iter().any(|rest| {
            let mut inside = Vec::new();
            !rest.is_empty() && {
                visit(value, rest, &mut String::new(), &mut inside);
                !inside.is_empty()
            }
        });
        if !holds_others {
            found.places.push((pointer.clone(), value));
            return;
        }
        around = true;
    }
    let len = pointer.len();
    let below = rests.len();
    match value {
        Value::Object(fields) => {
            for (name, member) in fields.iter_mut() {
                for at in from..below {
                    match rests[at].split_first() {
                        Some((Token::Key(key), tail)) if key == name => rests.push(tail),
                        Some((Token::Each, tail)) => rests.push(tail),
                        _ => {}
                    }
                }
                if rests.len() > below {
                    append_token(pointer, name);
                    visit_mut(member, rests, below, pointer, found);
                    pointer.truncate(len);
                    rests.truncate(below);
                }
            }
        }
        Value::Array(items) => {
            for at in from..below {
                if let Some((Token::Each, tail)) = rests[at].split_first() {
                    rests.push(tail);
                }
            }
            if rests.len() > below {
                for (index, item) in items.iter_mut().enumerate() {
                    append_index(pointer, index);
                    visit_mut(item, rests, below, pointer, found);
                    pointer.truncate(len);
                }
                rests.truncate(below);
            }
        }
        _ => {}
    }
    if around {
        found.around.push(pointer.clone());
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

    /// The one walk finds the places the pointers of each path name, in the body's order,
    /// each once; a place that holds others is not one, but is redacted around them.
    #[test]
    fn one_walk_finds_what_the_pointers_name() {
        let schema = json!({
            "properties": {
                "secretKey": { "x-secret": true },
                "keys": { "items": { "properties": { "secret": { "x-secret": true } } } },
                "byName": {
                    // Two paths to the same member, and one inside a secret.
                    "properties": {
                        "a": { "x-secret": true },
                        "b": { "properties": { "inner": { "x-secret": true } } }
                    },
                    "additionalProperties": { "x-secret": true }
                },
                "nested": { "properties": { "deeper": {
                    "properties": { "token": { "x-secret": true } } } } }
            }
        });
        let paths = SecretPath::find_all(&schema);
        let bodies = [
            rich_body(),
            json!({ "keys": { "secret": "an object, not a list" }, "nested": [1] }),
            json!({ "byName": { "b": { "other": "no secret inside" } } }),
            json!(["a list"]),
            json!("text"),
            json!({}),
        ];
        for body in bodies {
            let mut named: Vec<String> = paths.iter().flat_map(|p| p.pointers(&body)).collect();
            named.sort();
            named.dedup();
            let holds_another = |p: &String| named.iter().any(|q| q.starts_with(&format!("{p}/")));
            let (around, places): (Vec<String>, Vec<String>) =
                named.iter().cloned().partition(holds_another);
            let mut walked = body.clone();
            let found = SecretPath::slots_mut(&paths, &mut walked);
            let mut pointers: Vec<String> = found.places.iter().map(|(p, _)| p.clone()).collect();
            pointers.sort();
            assert_eq!(pointers, places, "{body}");
            let mut outer = found.around.clone();
            outer.sort();
            assert_eq!(outer, around, "{body}");
            for (pointer, value) in &found.places {
                assert_eq!(body.pointer(pointer), Some(&**value), "{pointer}");
            }
            let mut redacted = body.clone();
            SecretPath::redact_all(&paths, &mut redacted);
            for pointer in places
                .iter()
                .filter(|p| !around.iter().any(|a| p.starts_with(a.as_str())))
                .chain(&around)
            {
                assert_eq!(
                    redacted.pointer(pointer),
                    Some(&json!(REDACTED)),
                    "{pointer}"
                );
            }
        }
        // In the body's order, not the paths', and the secret holding another after it.
        let mut body = rich_body();
        let found = SecretPath::slots_mut(&paths, &mut body);
        assert_eq!(found.around, ["/byName/b"]);
        let order: Vec<String> = found
            .places
            .into_iter()
            .map(|(pointer, _)| pointer)
            .collect();
        assert_eq!(
            order,
            [
                "/byName/a",
                "/byName/b/inner",
                "/byName/c~0~1",
                "/keys/0/secret",
                "/keys/2/secret",
                "/secretKey",
                "/nested/deeper/token"
            ]
        );
        // No paths, no walk.
        let mut body = json!({ "secretKey": "s" });
        let found = SecretPath::slots_mut(&[], &mut body);
        assert!(found.places.is_empty() && found.around.is_empty());
    }

    fn rich_body() -> Value {
        json!({
            "byName": { "a": "1", "b": { "inner": "2" }, "c~/": 3 },
            "keys": [{ "secret": "k0" }, "not an object", { "secret": { "x": 1 } }],
            "secretKey": "s",
            "nested": { "deeper": { "token": "t", "other": "o" } },
            "unrelated": { "secretKey": "not this one" }
        })
    }
}
