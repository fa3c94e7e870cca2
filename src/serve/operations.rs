//! Every operation of the served definition, compiled once: what `GET /v1/operations` lists
//! (the reference documentation an editor shows) and what a test request or run selects with
//! `"operationId"` or `"taskType"`.

use super::error::ApiError;
use crate::endpoint::Endpoint;
use crate::util::pointer::push_token;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The operations an editor may choose from; the configured one is the default.
pub(super) struct Catalogue {
    entries: Vec<Entry>,
    default: usize,
    /// The answer of `GET /v1/operations`, built once.
    pub listing: Value,
    /// The answer of `GET /v1/operation-ids`, built once.
    pub operation_ids: Value,
}

struct Entry {
    operation_id: Option<String>,
    task_type: Option<String>,
    endpoint: Arc<Endpoint>,
}

/// How a request body names its operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Choice {
    OperationId(String),
    TaskType(String),
}

impl Catalogue {
    /// The configured endpoint and every other operation of its definition that compiles.
    /// One that does not (a feature this crate cannot send) is left out of the listing and
    /// logged, rather than refusing to serve the rest.
    pub fn new(configured: Arc<Endpoint>) -> Catalogue {
        let mut entries = Vec::new();
        let mut default = 0;
        let own_id = configured.operation().id().map(str::to_owned);
        for (id, method, path) in configured.definition().operations() {
            let endpoint = match id {
                Some(id) if Some(id) == own_id.as_deref() => configured.clone(),
                Some(id) => match configured.sibling(id) {
                    Ok(endpoint) => Arc::new(endpoint),
                    Err(error) => {
                        tracing::warn!(operation = id, %error, "operation left out of the editor API");
                        continue;
                    }
                },
                // Without an operationId nothing could select it; the configured one is kept.
                None if method == configured.operation().method()
                    && path == configured.operation().path() =>
                {
                    configured.clone()
                }
                None => continue,
            };
            if Arc::ptr_eq(&endpoint, &configured) {
                default = entries.len();
            }
            entries.push(Entry {
                operation_id: endpoint.operation().id().map(str::to_owned),
                task_type: endpoint.operation().task_type().map(str::to_owned),
                endpoint,
            });
        }
        if !entries
            .iter()
            .any(|e| Arc::ptr_eq(&e.endpoint, &configured))
        {
            default = entries.len();
            entries.push(Entry {
                operation_id: own_id,
                task_type: configured.operation().task_type().map(str::to_owned),
                endpoint: configured.clone(),
            });
        }
        let listing = json!({
            "default": entries[default].operation_id,
            "operations": entries
                .iter()
                .enumerate()
                .map(|(at, entry)| document(&entry.endpoint, at == default))
                .collect::<Vec<_>>(),
        });
        let ids = configured.operation_ids().sorted();
        let operation_ids = json!({ "wildcard": "*", "count": ids.len(), "operationIds": ids });
        Catalogue {
            entries,
            default,
            listing,
            operation_ids,
        }
    }

    /// Every compiled endpoint, the default first.
    pub fn endpoints(&self) -> impl Iterator<Item = &Arc<Endpoint>> {
        self.entries.iter().map(|entry| &entry.endpoint)
    }

    /// The endpoint `choice` names, or the configured one; a name it does not know is a 422
    /// that lists the known ones.
    pub fn select(&self, choice: Option<&Choice>) -> Result<Arc<Endpoint>, ApiError> {
        let found = match choice {
            None => Some(&self.entries[self.default]),
            Some(Choice::OperationId(id)) => self
                .entries
                .iter()
                .find(|e| e.operation_id.as_deref() == Some(id.as_str())),
            Some(Choice::TaskType(name)) => self
                .entries
                .iter()
                .find(|e| e.task_type.as_deref() == Some(name.as_str())),
        };
        if let Some(entry) = found {
            return Ok(entry.endpoint.clone());
        }
        let (field, name, known): (&str, &str, Vec<&str>) = match choice {
            Some(Choice::TaskType(name)) => (
                "taskType",
                name,
                self.entries
                    .iter()
                    .filter_map(|e| e.task_type.as_deref())
                    .collect(),
            ),
            Some(Choice::OperationId(id)) => (
                "operationId",
                id,
                self.entries
                    .iter()
                    .filter_map(|e| e.operation_id.as_deref())
                    .collect(),
            ),
            None => ("operationId", "", Vec::new()),
        };
        let hint = crate::util::suggest::closest(name, known.iter().copied())
            .map(|s| format!(" (did you mean {s:?}?)"))
            .unwrap_or_default();
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_operation",
            format!(
                "no {field} {name:?} in the definition{hint}; it has: {}",
                known.join(", ")
            ),
        )
        .at(format!("/{field}")))
    }
}

/// One operation's reference documentation, and the schema of its step's parameters.
fn document(endpoint: &Endpoint, default: bool) -> Value {
    let operation = endpoint.operation();
    let parameters: Vec<Value> = operation
        .parameters()
        .iter()
        .map(|param| {
            let field = |name: &str| param.get(name).cloned().unwrap_or(Value::Null);
            json!({
                "name": field("name"),
                "in": field("in"),
                "required": param.get("required").and_then(Value::as_bool).unwrap_or(false),
                "description": field("description"),
                "schema": field("schema"),
            })
        })
        .collect();
    let body = operation.body_schema().map(|schema| {
        let mut fields = Vec::new();
        body_fields(schema, "", true, 0, &mut fields);
        json!({ "schema": schema, "fields": fields })
    });
    let mut responses = Vec::new();
    let mut example = Value::Null;
    for (status, response) in operation.responses() {
        let schema = response
            .get("content")
            .and_then(Value::as_object)
            .and_then(|content| content.iter().find(|(media, _)| media.contains("json")))
            .and_then(|(_, media)| media.get("schema"));
        let headers: Vec<Value> = response
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, header)| json!({ "name": name, "description": header.get("description") }))
            .collect();
        let body = schema.map(|s| example_of(s, 0, &mut 0));
        if example.is_null() && status.starts_with('2') {
            example = json!({ "status": status, "body": body });
        }
        responses.push(json!({
            "status": status,
            "description": response.get("description"),
            "headers": headers,
            "example": body,
        }));
    }
    json!({
        "operationId": operation.id(),
        "taskType": operation.task_type(),
        "method": operation.method(),
        "path": operation.path(),
        "summary": operation.summary(),
        "description": operation.description(),
        "default": default,
        "idempotentParameter": endpoint.idempotent_parameter(),
        // What the panel leaves out of what it stores: a step never holds a credential.
        "credentialHeaders": operation.credential_headers,
        "parameters": parameters,
        "requestBody": body,
        "responses": responses,
        "exampleResponse": example,
        "inputSchema": endpoint.input_schema(),
    })
}

/// The keywords a reference page lists as a field's constraints.
const CONSTRAINTS: [&str; 13] = [
    "format",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "readOnly",
    "writeOnly",
];

/// Each field of a body schema, depth first, as `{pointer, type, required, description,
/// enum, default, constraints}`; list items are at `/name/0`.
fn body_fields(schema: &Value, pointer: &str, required: bool, depth: usize, out: &mut Vec<Value>) {
    if depth > 8 || out.len() > 500 {
        return;
    }
    let schema = merged(schema);
    if !pointer.is_empty() {
        let constraints: Map<String, Value> = CONSTRAINTS
            .iter()
            .filter_map(|key| Some(((*key).to_owned(), schema.get(*key)?.clone())))
            .collect();
        out.push(json!({
            "pointer": pointer,
            "type": schema.get("type"),
            "required": required,
            "description": schema.get("description"),
            "enum": schema.get("enum"),
            "default": schema.get("default"),
            "constraints": constraints,
        }));
    }
    let needed: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (name, inner) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let at = push_token(pointer, name);
        body_fields(inner, &at, needed.contains(&name.as_str()), depth + 1, out);
    }
    if let Some(items) = schema.get("items") {
        body_fields(items, &format!("{pointer}/0"), true, depth + 1, out);
    }
}

/// `allOf` folded into one schema, and the first branch of `oneOf`/`anyOf` that is not just
/// `null`: what a reference page and an example describe.
fn merged(schema: &Value) -> Map<String, Value> {
    let mut out = schema.as_object().cloned().unwrap_or_default();
    if let Some(Value::Array(parts)) = out.remove("allOf") {
        for part in &parts {
            for (key, value) in merged(part) {
                match (out.get_mut(&key), value) {
                    (Some(Value::Object(mine)), Value::Object(theirs)) => mine.extend(theirs),
                    (Some(Value::Array(mine)), Value::Array(theirs)) if key == "required" => {
                        mine.extend(theirs)
                    }
                    (Some(_), _) => {}
                    (None, value) => {
                        out.insert(key, value);
                    }
                }
            }
        }
    }
    for keyword in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = out.remove(keyword) {
            let chosen = branches
                .iter()
                .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .or(branches.first());
            if let Some(branch) = chosen {
                for (key, value) in merged(branch) {
                    out.entry(key).or_insert(value);
                }
            }
        }
    }
    out
}

/// An example value for `schema`: its own `example`, `examples`, `default` or first `enum`
/// value where it gives one, else a value of its type. Bounded in depth and size, since a
/// definition may describe recursive or very wide bodies.
fn example_of(schema: &Value, depth: usize, made: &mut usize) -> Value {
    *made += 1;
    if depth > 8 || *made > 2_000 {
        return Value::Null;
    }
    let schema = merged(schema);
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(Value::Array(examples)) = schema.get("examples")
        && let Some(first) = examples.first()
    {
        return first.clone();
    }
    for key in ["const", "default"] {
        if let Some(value) = schema.get(key) {
            return value.clone();
        }
    }
    if let Some(Value::Array(values)) = schema.get("enum")
        && let Some(first) = values.first()
    {
        return first.clone();
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ if schema.contains_key("properties") => vec!["object"],
        _ => Vec::new(),
    };
    let kind = types
        .iter()
        .find(|t| **t != "null")
        .copied()
        .unwrap_or("null");
    match kind {
        "object" => Value::Object(
            schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(_, inner)| inner.get("writeOnly") != Some(&Value::Bool(true)))
                .map(|(name, inner)| (name.clone(), example_of(inner, depth + 1, made)))
                .collect(),
        ),
        "array" => match schema.get("items") {
            Some(items) => Value::Array(vec![example_of(items, depth + 1, made)]),
            None => Value::Array(Vec::new()),
        },
        "string" => Value::String(
            match schema.get("format").and_then(Value::as_str) {
                Some("date-time") => "2026-01-01T00:00:00Z",
                Some("date") => "2026-01-01",
                Some("uri" | "url") => "https://example.com",
                Some("email") => "user@example.com",
                Some("ipv4") => "153.12.32.33",
                _ => "string",
            }
            .to_owned(),
        ),
        "integer" | "number" => schema.get("minimum").cloned().unwrap_or(json!(0)),
        "boolean" => Value::Bool(true),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_follow_the_schema_and_stay_bounded() {
        let schema = json!({
            "type": "object",
            "properties": {
                "id": {"type": "string", "example": "key-1"},
                "type": {"type": "string", "enum": ["secret", "publishable"]},
                "created": {"type": "string", "format": "date-time", "readOnly": true},
                "password": {"type": "string", "writeOnly": true},
                "tags": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                "owner": {"allOf": [{"type": "object", "properties": {"name": {"type": "string"}}}]},
            },
        });
        assert_eq!(
            example_of(&schema, 0, &mut 0),
            json!({"id": "key-1", "type": "secret", "created": "2026-01-01T00:00:00Z",
                   "tags": [1], "owner": {"name": "string"}})
        );
        // Deep nesting ends in null instead of recursing on.
        let mut deep = json!({"type": "string"});
        for _ in 0..20 {
            deep = json!({"type": "object", "properties": {"a": deep}});
        }
        assert!(example_of(&deep, 0, &mut 0).to_string().contains("null"));
    }

    #[test]
    fn body_fields_name_their_pointer_and_constraints() {
        let schema = json!({
            "type": "object", "required": ["description"],
            "properties": {
                "description": {"type": "string", "maxLength": 255, "description": "What it is for."},
                "acl": {"type": "array", "items": {"type": "object",
                        "properties": {"permissions": {"type": "array"}}}},
            },
        });
        let mut fields = Vec::new();
        body_fields(&schema, "", true, 0, &mut fields);
        let pointers: Vec<&str> = fields
            .iter()
            .filter_map(|f| f["pointer"].as_str())
            .collect();
        assert_eq!(
            pointers,
            ["/description", "/acl", "/acl/0", "/acl/0/permissions"]
        );
        assert_eq!(fields[0]["required"], true);
        assert_eq!(fields[0]["constraints"]["maxLength"], 255);
    }
}
