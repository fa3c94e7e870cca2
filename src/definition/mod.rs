//! Endpoint definitions: OpenAPI 3.0/3.1 documents, loaded at runtime.
//!
//! The operation's method, path, servers, security schemes, header parameters, body schema and
//! responses all come from data. Local `$ref`s are inlined when an operation is selected, so
//! the rest of the crate never sees a reference.
//!
//! - this file: loading a document and selecting an operation;
//! - `operation`: the resolved [`Operation`] and its parts (servers, security, headers, body);
//! - `refs`: `$ref` resolution;
//! - `error`: [`DefinitionError`].

mod error;
mod operation;
mod refs;

pub use error::{DefinitionError, DefinitionErrorKind};
pub(crate) use operation::{AuthScheme, BodySpec, IdempotentVariant, ReconcileSpec, Server};
pub use operation::{Operation, Selector};

use error::DefinitionErrorKind as ErrorKind;
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// The project's own definition of `POST /api-keys`, the default endpoint.
pub const EMBEDDED_API_KEYS: &str = include_str!("../../schemas/api-keys.openapi.json");

/// A parsed OpenAPI document. Select an operation from it with [`crate::Endpoint::builder`].
#[derive(Clone)]
pub struct Definition {
    document: Value,
    version: Version,
    origin: String,
}

/// The OpenAPI version family, which decides the JSON Schema dialect of its schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// 3.0: schemas are a JSON Schema draft 4 dialect with `nullable`.
    V30,
    /// 3.1: schemas are JSON Schema 2020-12.
    V31,
}

impl Definition {
    /// The embedded definition of Rebilly's "Create an API key".
    pub fn embedded() -> Definition {
        match Definition::from_json(EMBEDDED_API_KEYS, "embedded api-keys.openapi.json") {
            Ok(definition) => definition,
            // A build-time constant, parsed by a unit test on every run.
            Err(error) => panic!("the embedded definition is broken: {error}"),
        }
    }

    /// Reads a definition from a JSON file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Definition, DefinitionError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| {
            DefinitionError::new(
                ErrorKind::Io,
                format!("cannot read definition {}: {error}", path.display()),
            )
            .with_source(error)
        })?;
        Definition::from_json(&text, &path.display().to_string())
    }

    /// Parses a definition from JSON text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Definition, DefinitionError> {
        let document: Value = serde_json::from_str(text).map_err(|error| {
            DefinitionError::new(
                ErrorKind::Syntax,
                format!("{origin} is not valid JSON: {error}"),
            )
            .with_source(error)
        })?;
        Definition::from_value(document, origin)
    }

    /// Uses an already parsed OpenAPI document.
    pub fn from_value(document: Value, origin: &str) -> Result<Definition, DefinitionError> {
        let unusable =
            |why: String| DefinitionError::new(ErrorKind::Unsupported, format!("{origin}: {why}"));
        let version = match document.get("openapi").and_then(Value::as_str) {
            Some(v) if v.starts_with("3.0.") || v == "3.0" => Version::V30,
            Some(v) if v.starts_with("3.1.") || v == "3.1" => Version::V31,
            Some(v) => {
                return Err(unusable(format!(
                    "OpenAPI {v} is not supported (3.0 and 3.1 are)"
                )));
            }
            None => {
                return Err(unusable(
                    "not an OpenAPI document: no `openapi` version field".into(),
                ));
            }
        };
        if !document.get("paths").is_some_and(Value::is_object) {
            return Err(unusable("the document has no `paths` object".into()));
        }
        Ok(Definition {
            document,
            version,
            origin: origin.to_owned(),
        })
    }

    /// The document as loaded.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Every operation in the document, as `(operationId, METHOD, path)`.
    pub fn operations(&self) -> Vec<(Option<&str>, String, &str)> {
        let mut out = Vec::new();
        for (path, item) in self.paths() {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    let id = op.get("operationId").and_then(Value::as_str);
                    out.push((id, method.to_uppercase(), path.as_str()));
                }
            }
        }
        out
    }

    /// The task types the document names (`x-task-type`), each with its operationId.
    pub fn task_types(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        for (_, item) in self.paths() {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                if let (Some(task_type), Some(id)) = (
                    op.get("x-task-type").and_then(Value::as_str),
                    op.get("operationId").and_then(Value::as_str),
                ) {
                    out.push((task_type, id));
                }
            }
        }
        out
    }

    /// An `x-task-type` that [`Definition::task_types`] cannot list (not a non-empty string,
    /// or on an operation without an operationId), described; `None` when all are usable.
    pub(crate) fn unusable_task_type(&self) -> Option<String> {
        for (path, item) in self.paths() {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let Some(task_type) = op.get("x-task-type") else {
                    continue;
                };
                let named = task_type.as_str().is_some_and(|name| !name.is_empty());
                let identified = op.get("operationId").and_then(Value::as_str).is_some();
                if !named || !identified {
                    return Some(format!(
                        "{} {path}: x-task-type {task_type} {}",
                        method.to_uppercase(),
                        if named {
                            "is on an operation without an operationId"
                        } else {
                            "must be a non-empty string"
                        }
                    ));
                }
            }
        }
        None
    }

    fn paths(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.document
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
    }

    pub(crate) fn version(&self) -> Version {
        self.version
    }

    /// Resolves one operation: `by` names it; `None` takes the only operation there is.
    pub(crate) fn operation(&self, by: Option<&Selector>) -> Result<Operation, DefinitionError> {
        let mut found = Vec::new();
        for (path, item) in self.paths() {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let id = op.get("operationId").and_then(Value::as_str);
                let wanted = match by {
                    None => true,
                    Some(Selector::OperationId(want)) => id == Some(want.as_str()),
                    Some(Selector::Route { method: m, path: p }) => {
                        m.eq_ignore_ascii_case(method) && p == path
                    }
                };
                if wanted {
                    found.push((path.clone(), method, item.clone(), op.clone()));
                }
            }
        }
        let listing = || {
            self.operations()
                .iter()
                .map(|(id, m, p)| format!("{} ({m} {p})", id.unwrap_or("no operationId")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match found.len() {
            1 => {}
            0 => {
                return Err(DefinitionError::new(
                    ErrorKind::OperationNotFound,
                    format!(
                        "{}: no operation {}; it has: {}",
                        self.origin,
                        by.map_or_else(String::new, ToString::to_string),
                        listing()
                    ),
                ));
            }
            _ => {
                return Err(DefinitionError::new(
                    ErrorKind::OperationNotFound,
                    format!(
                        "{}: choose an operation (by operationId or method and path); it has: {}",
                        self.origin,
                        listing()
                    ),
                ));
            }
        }
        let (path, method, item, op) = found.remove(0);
        // Inline only what this operation uses: another operation's references are not ours.
        let mut shared = Map::new();
        for key in ["parameters", "servers"] {
            if let Some(value) = item.get(key) {
                shared.insert(key.to_owned(), self.inline(value)?);
            }
        }
        let op = self.inline(&op)?;
        self.build_operation(path, method, &Value::Object(shared), &op)
    }
}

impl fmt::Debug for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Definition")
            .field("origin", &self.origin)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn is_json(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embedded_definition_resolves_post_api_key() {
        let definition = Definition::embedded();
        let op = definition
            .operation(Some(&Selector::OperationId("PostApiKey".into())))
            .expect("PostApiKey");
        assert_eq!((op.method(), op.path()), ("POST", "/api-keys"));
        let names: Vec<&str> = op.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["sandbox", "live"]);
        assert_eq!(
            op.security,
            [
                AuthScheme::ApiKeyHeader {
                    header: "REB-APIKEY".into()
                },
                AuthScheme::Bearer
            ]
        );
        assert_eq!(op.headers[0].default.as_deref(), Some("application/json"));
        let body = op.body.expect("body");
        assert!(body.required);
        assert!(
            body.schema
                .pointer("/properties/acl/items/properties/scope/properties")
                .is_some()
        );
        assert!(!body.schema.to_string().contains("$ref"));
        for status in ["201", "401", "403", "422", "429"] {
            assert!(op.responses.contains_key(status), "{status}");
        }
        assert!(!Value::Object(op.responses).to_string().contains("$ref"));
    }

    fn doc(extra: Value) -> Definition {
        let mut base = json!({
            "openapi": "3.0.3",
            "paths": { "/things": { "post": { "operationId": "PostThing",
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Thing" } } } } },
                "get": { "operationId": "GetThings" } } },
            "components": { "schemas": { "Thing": { "type": "object",
                "properties": { "note": { "type": "string", "nullable": true } } } } }
        });
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
            base.extend(extra);
        }
        Definition::from_value(base, "test").expect("loads")
    }

    #[test]
    fn openapi_30_nullable_and_route_selection() {
        let d = doc(json!({}));
        let op = d
            .operation(Some(&Selector::Route {
                method: "post".into(),
                path: "/things".into(),
            }))
            .expect("found");
        assert_eq!(
            op.body.expect("body").schema["properties"]["note"]["type"],
            json!(["string", "null"])
        );
        let several = d.operation(None).expect_err("two operations");
        assert!(several.is_operation_not_found());
        assert!(several.to_string().contains("PostThing (POST /things)"));
    }

    /// An operation's credential headers are every scheme's of the definition, not only its
    /// own, and HTTP's own: a step for one operation must not carry another's key either.
    #[test]
    fn credential_headers_are_the_whole_definitions() {
        let mut d = doc(json!({}));
        d.document["paths"]["/things"]["get"]["security"] = json!([{ "bearer": [] }]);
        d.document["paths"]["/things"]["post"]["security"] = json!([{ "key": [] }]);
        d.document["components"]["securitySchemes"] = json!({
            "bearer": { "type": "http", "scheme": "bearer" },
            "key": { "type": "apiKey", "in": "header", "name": "X-Thing-Key" },
            "query": { "type": "apiKey", "in": "query", "name": "key" }
        });
        let op = d
            .operation(Some(&Selector::OperationId("GetThings".into())))
            .expect("found");
        assert_eq!(
            op.credential_headers(),
            [
                "Authorization",
                "Proxy-Authorization",
                "Cookie",
                "X-Thing-Key"
            ]
        );
    }

    #[test]
    fn unusable_definitions_say_why() {
        assert!(
            Definition::from_json("{", "x")
                .expect_err("syntax")
                .is_syntax()
        );
        assert!(
            Definition::from_value(json!({"openapi": "2.0", "paths": {}}), "x")
                .expect_err("version")
                .is_unsupported()
        );
        assert!(
            Definition::from_path("/nonexistent/def.json")
                .expect_err("io")
                .is_io()
        );
        let recursive = doc(json!({"components": {"schemas": {"Thing": {
            "type": "object", "properties": {"child": {"$ref": "#/components/schemas/Thing"}}}}}}));
        let error = recursive
            .operation(Some(&Selector::OperationId("PostThing".into())))
            .expect_err("recursive");
        assert!(error.to_string().contains("recursive $ref"), "{error}");
        let external =
            doc(json!({"components": {"schemas": {"Thing": {"$ref": "other.json#/X"}}}}));
        let error = external
            .operation(Some(&Selector::OperationId("PostThing".into())))
            .expect_err("external");
        assert!(
            error.to_string().contains("outside the document"),
            "{error}"
        );
    }

    /// `Thing` refers to `S0`, which refers twice to `S1`, ..., to `S{levels}`: 2^levels
    /// copies once inlined.
    fn fanning_out(levels: usize) -> Definition {
        let mut schemas = serde_json::Map::new();
        schemas.insert("Thing".into(), json!({"$ref": "#/components/schemas/S0"}));
        for level in 0..levels {
            let next = format!("#/components/schemas/S{}", level + 1);
            schemas.insert(
                format!("S{level}"),
                json!({"type": "object", "properties": {"a": {"$ref": next}, "b": {"$ref": next}}}),
            );
        }
        schemas.insert(format!("S{levels}"), json!({"type": "string"}));
        doc(json!({"components": {"schemas": schemas}}))
    }

    #[test]
    fn references_that_fan_out_are_bounded() {
        let select = Some(Selector::OperationId("PostThing".into()));
        assert!(fanning_out(8).operation(select.as_ref()).is_ok());
        let error = fanning_out(30)
            .operation(select.as_ref())
            .expect_err("2^30 copies");
        assert!(error.is_unsupported());
        assert!(
            error.to_string().contains("more than 200000 JSON values"),
            "{error}"
        );
    }

    #[test]
    fn fanned_out_long_text_is_bounded_by_bytes() {
        // 2^8 copies of a 1 MiB description: few values, a lot of text.
        let mut definition = fanning_out(8).document().clone();
        definition["components"]["schemas"]["S8"] =
            json!({"type": "string", "description": "x".repeat(1 << 20)});
        let error = Definition::from_value(definition, "test")
            .expect("loads")
            .operation(Some(&Selector::OperationId("PostThing".into())))
            .expect_err("256 MiB of text");
        assert!(error.to_string().contains("MiB of text"), "{error}");
    }

    #[test]
    fn long_reference_chains_are_bounded() {
        let mut schemas = serde_json::Map::new();
        schemas.insert("Thing".into(), json!({"$ref": "#/components/schemas/C0"}));
        for link in 0..40 {
            schemas.insert(
                format!("C{link}"),
                json!({"$ref": format!("#/components/schemas/C{}", link + 1)}),
            );
        }
        schemas.insert("C40".into(), json!({"type": "object"}));
        let error = doc(json!({"components": {"schemas": schemas}}))
            .operation(Some(&Selector::OperationId("PostThing".into())))
            .expect_err("too deep");
        assert!(
            error.to_string().contains("more than 32 references deep"),
            "{error}"
        );
    }
}
