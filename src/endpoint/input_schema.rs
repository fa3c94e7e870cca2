//! The JSON Schema of a step's parameters, derived from the operation, for editors.

use crate::definition::Operation;
use serde_json::{Map, Value, json};

/// Parameters schema: `server`, the server variables, `headers` and `body`. The body is the
/// definition's request schema without read-only fields; wherever a non-string value is
/// expected, a `${...}` expression string is accepted too, since it may render to that value.
pub(crate) fn parameters(op: &Operation) -> Value {
    let mut properties = Map::new();
    let names: Vec<&str> = op.servers.iter().map(|s| s.name.as_str()).collect();
    properties.insert(
        "server".into(),
        json!({
            "type": "string",
            "title": "Server",
            "description": format!(
                "A server of the definition ({}), or a base URL (http:// or https://) to which the operation path is appended; `{{organizationId}}` in it is substituted.",
                names.join(", ")
            ),
            "default": names.first(),
            "examples": names,
        }),
    );
    for name in &op.variables {
        let Some(variable) = op
            .servers
            .iter()
            .flat_map(|s| &s.variables)
            .find(|v| &v.name == name)
        else {
            continue;
        };
        let mut spec = json!({ "type": "string", "minLength": 1, "title": label(&variable.name) });
        if let Some(description) = &variable.description {
            spec["description"] = Value::String(format!(
                "{description} Required by the named servers; sent as one percent-encoded path segment."
            ));
        }
        properties.insert(variable.name.clone(), spec);
    }
    let mut required = Vec::new();
    for name in &op.path_params {
        // The definition's own constraints (maxLength, pattern), validated as the test request
        // validates them; a value with an expression may render to a valid one.
        let mut schema = op
            .param_schemas
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| json!({ "type": "string" }), |(_, s)| s.clone());
        if let Value::Object(fields) = &mut schema {
            fields.insert("minLength".into(), json!(1));
            fields.entry("title").or_insert_with(|| json!(label(name)));
        }
        accept_expressions(&mut schema);
        properties.insert(name.clone(), schema);
        required.push(name.as_str());
    }
    for query in &op.query_params {
        let mut schema = op
            .param_schemas
            .iter()
            .find(|(n, _)| *n == query.name)
            .map_or_else(|| json!({}), |(_, s)| s.clone());
        if let Value::Object(fields) = &mut schema {
            fields
                .entry("title")
                .or_insert_with(|| json!(label(&query.name)));
        }
        accept_expressions(&mut schema);
        properties.insert(query.name.clone(), schema);
        if query.required {
            required.push(query.name.as_str());
        }
    }
    let credential_headers: Vec<&str> = op.credential_headers.iter().map(String::as_str).collect();
    let mut headers = json!({
        "type": "object",
        "title": "Extra headers",
        "description": format!(
            "Extra request headers. Credentials ({}) are not allowed here: they come from configuration.",
            credential_headers.join(", ")
        ),
        "additionalProperties": { "type": "string" },
    });
    accept_expressions(&mut headers);
    properties.insert("headers".into(), headers);
    if let Some(body) = &op.body {
        let mut schema = body.schema.clone();
        strip_read_only(&mut schema);
        accept_expressions(&mut schema);
        if let Value::Object(fields) = &mut schema {
            fields
                .entry("title")
                .or_insert_with(|| json!("Request body"));
            fields.entry("description").or_insert_with(|| {
                json!(format!("The request body, sent as {}.", body.media_type))
            });
        }
        properties.insert("body".into(), schema);
        if body.required {
            required.push("body");
        }
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("{} step parameters", op.id.as_deref().unwrap_or(&op.path)),
        "description": "Parameters of a workflow step. Any string may contain ${...} expressions into the workflow state; `$${` is a literal `${`.",
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
        "$defs": {
            "expression": {
                "type": "string",
                "pattern": "^\\$\\{[^}]+\\}$",
                "description": "One ${...} expression: it renders to the referenced value with its JSON type."
            },
            "template": {
                "type": "string",
                "pattern": "\\$\\{[^}]+\\}",
                "description": "Text with ${...} expressions: the rendered text must meet the field's constraints, which the test request checks."
            }
        }
    })
}

fn strip_read_only(schema: &mut Value) {
    let Value::Object(fields) = schema else {
        return;
    };
    let mut removed = Vec::new();
    if let Some(Value::Object(properties)) = fields.get_mut("properties") {
        properties.retain(|name, property| {
            let read_only = property.get("readOnly") == Some(&Value::Bool(true));
            if read_only {
                removed.push(name.clone());
            }
            !read_only
        });
    }
    if let Some(Value::Array(required)) = fields.get_mut("required") {
        required.retain(|name| !removed.iter().any(|r| Some(r.as_str()) == name.as_str()));
    }
    for_each_subschema(fields, strip_read_only);
}

/// Keywords a string's text must meet, which an unrendered `${...}` would fail.
const STRING_CONSTRAINTS: &[&str] = &[
    "enum",
    "const",
    "pattern",
    "maxLength",
    "minLength",
    "format",
];

/// Wraps every schema whose `type` excludes strings in `anyOf: [schema, expression]`, and every
/// constrained string in `anyOf: [schema, template]`: wherever the test request accepts a step
/// whose expressions render to a valid value, so does this schema.
fn accept_expressions(schema: &mut Value) {
    let Value::Object(fields) = schema else {
        return;
    };
    for_each_subschema(fields, accept_expressions);
    let takes_string = match fields.get("type") {
        None => true,
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
        Some(_) => true,
    };
    let constrained_string =
        takes_string && STRING_CONSTRAINTS.iter().any(|k| fields.contains_key(*k));
    if !takes_string || constrained_string {
        let alternative = if takes_string {
            "#/$defs/template"
        } else {
            "#/$defs/expression"
        };
        let mut original = std::mem::take(schema);
        // Annotations describe the field whichever branch its value takes; a form generator
        // reads them at the top.
        let mut wrapper = Map::new();
        if let Value::Object(fields) = &mut original {
            for key in ANNOTATIONS {
                if let Some(value) = fields.remove(*key) {
                    wrapper.insert((*key).into(), value);
                }
            }
        }
        wrapper.insert("anyOf".into(), json!([original, { "$ref": alternative }]));
        *schema = Value::Object(wrapper);
    }
}

/// Keywords that describe a field rather than constrain its value.
const ANNOTATIONS: &[&str] = &["title", "description", "default", "examples", "deprecated"];

/// `organizationId` -> `Organization ID`: a form label for names the definition gives no
/// title (server variables and path parameters have none in OpenAPI).
fn label(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for c in name.chars() {
        match words.last_mut() {
            Some(word) if !c.is_uppercase() && c != '_' && c != '-' => word.push(c),
            _ if c == '_' || c == '-' => words.push(String::new()),
            _ => words.push(c.to_string()),
        }
    }
    let words: Vec<String> = words
        .into_iter()
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(i, w)| match w.to_ascii_lowercase().as_str() {
            "id" => "ID".to_owned(),
            "ids" => "IDs".to_owned(),
            "ip" => "IP".to_owned(),
            "ips" => "IPs".to_owned(),
            "url" => "URL".to_owned(),
            lower if i == 0 => {
                let mut chars = lower.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect())
                    .unwrap_or_default()
            }
            lower => lower.to_owned(),
        })
        .collect();
    words.join(" ")
}

/// `additionalProperties: false` removed everywhere: a response may carry fields the
/// definition does not list, and output consumers should not break on them.
pub(crate) fn open_objects(schema: &mut Value) {
    let Value::Object(fields) = schema else {
        return;
    };
    if fields.get("additionalProperties") == Some(&Value::Bool(false)) {
        fields.remove("additionalProperties");
    }
    for_each_subschema(fields, open_objects);
}

/// Applies `f` to each subschema a body schema can have: properties, items, additional
/// properties and the members of `allOf`/`anyOf`/`oneOf`.
fn for_each_subschema(fields: &mut Map<String, Value>, mut f: impl FnMut(&mut Value)) {
    for (key, value) in fields.iter_mut() {
        match key.as_str() {
            "properties" => value
                .as_object_mut()
                .into_iter()
                .flat_map(|p| p.values_mut())
                .for_each(&mut f),
            "items" | "additionalProperties" => f(value),
            "allOf" | "anyOf" | "oneOf" => {
                value.as_array_mut().into_iter().flatten().for_each(&mut f)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn labels_read_as_words() {
        assert_eq!(label("organizationId"), "Organization ID");
        assert_eq!(label("allowedIps"), "Allowed IPs");
        assert_eq!(label("id"), "ID");
        assert_eq!(label("website_url"), "Website URL");
        assert_eq!(label("x"), "X");
    }
}
