//! Endpoint definitions: OpenAPI 3.0/3.1 documents, loaded at runtime.
//!
//! The operation's method, path, servers, security schemes, header parameters, body schema and
//! responses all come from data. Local `$ref`s are inlined when an operation is selected, so
//! the rest of the crate never sees a reference.

use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// The project's own definition of `POST /api-keys`, the default endpoint.
pub const EMBEDDED_CREATE_API_KEY: &str = include_str!("../schemas/create-api-key.openapi.json");

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
        match Definition::from_json(
            EMBEDDED_CREATE_API_KEY,
            "embedded create-api-key.openapi.json",
        ) {
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
                shared.insert(key.to_owned(), self.inline(value, &mut Vec::new())?);
            }
        }
        let op = self.inline(&op, &mut Vec::new())?;
        self.build_operation(path, method, &Value::Object(shared), &op)
    }

    fn build_operation(
        &self,
        path: String,
        method: &str,
        item: &Value,
        op: &Value,
    ) -> Result<Operation, DefinitionError> {
        let unusable = |why: String| {
            DefinitionError::new(
                ErrorKind::Unsupported,
                format!("{}: {} {path}: {why}", self.origin, method.to_uppercase()),
            )
        };
        let servers_value = [op.get("servers"), item.get("servers")]
            .into_iter()
            .flatten()
            .find(|s| s.as_array().is_some_and(|a| !a.is_empty()))
            .or_else(|| self.document.get("servers"));
        let servers_value = match servers_value {
            Some(s) => self.inline(s, &mut Vec::new())?,
            None => Value::Array(Vec::new()),
        };
        let mut servers = Vec::new();
        for (index, server) in servers_value.as_array().into_iter().flatten().enumerate() {
            servers.push(Server::from_value(server, index).map_err(unusable)?);
        }

        let mut parameters: Vec<Value> = Vec::new();
        // Operation-level parameters override path-level ones with the same name and location.
        for list in [op.get("parameters"), item.get("parameters")]
            .into_iter()
            .flatten()
        {
            for param in list.as_array().into_iter().flatten() {
                let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
                if !parameters.iter().any(|seen| key(seen) == key(param)) {
                    parameters.push(param.clone());
                }
            }
        }
        let mut headers = Vec::new();
        let mut path_params = Vec::new();
        for param in &parameters {
            let name = param
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| unusable("a parameter has no name".into()))?;
            let required = param.get("required").and_then(Value::as_bool) == Some(true);
            match param.get("in").and_then(Value::as_str) {
                Some("header") => {
                    let schema = param.get("schema").cloned().unwrap_or(Value::Null);
                    headers.push(HeaderParam {
                        name: name.to_owned(),
                        required,
                        default: schema
                            .get("default")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        allowed: schema.get("enum").and_then(Value::as_array).map(|values| {
                            values
                                .iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        }),
                    });
                }
                Some("path") => path_params.push(name.to_owned()),
                Some(other) if required => {
                    return Err(unusable(format!(
                        "required {other} parameter `{name}` is not supported (header and path parameters are)"
                    )));
                }
                _ => {}
            }
        }

        let body = match op.get("requestBody") {
            None => None,
            Some(request_body) => {
                let content = request_body
                    .get("content")
                    .and_then(Value::as_object)
                    .ok_or_else(|| unusable("requestBody has no content".into()))?;
                let (media_type, media) = content
                    .iter()
                    .find(|(media_type, _)| is_json(media_type))
                    .ok_or_else(|| {
                        unusable(
                            "requestBody has no JSON media type; only JSON bodies are supported"
                                .into(),
                        )
                    })?;
                let mut schema = media.get("schema").cloned().unwrap_or(Value::Bool(true));
                if self.version == Version::V30 {
                    nullable_to_type(&mut schema);
                }
                Some(BodySpec {
                    required: request_body.get("required").and_then(Value::as_bool) == Some(true),
                    media_type: media_type.clone(),
                    schema,
                })
            }
        };

        // The body's media type is a Content-Type header, whether or not the definition lists one.
        if let Some(body) = &body
            && !headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("content-type"))
        {
            headers.push(HeaderParam {
                name: "Content-Type".to_owned(),
                required: true,
                default: Some(body.media_type.clone()),
                allowed: Some(vec![body.media_type.clone()]),
            });
        }
        let security = self.security(op)?;
        let responses = op
            .get("responses")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut variables: Vec<String> = Vec::new();
        for variable in servers.iter().flat_map(|s| &s.variables) {
            if !variables.contains(&variable.name) {
                variables.push(variable.name.clone());
            }
        }

        Ok(Operation {
            id: op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            method: method.to_uppercase(),
            path,
            servers,
            variables,
            security,
            headers,
            path_params,
            body,
            responses,
        })
    }

    /// The credential schemes the operation accepts that this crate can send.
    fn security(&self, op: &Value) -> Result<Vec<AuthScheme>, DefinitionError> {
        let requirements = op.get("security").or_else(|| self.document.get("security"));
        let schemes = self
            .document
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object);
        let mut out = Vec::new();
        for requirement in requirements.and_then(Value::as_array).into_iter().flatten() {
            for name in requirement
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                let Some(scheme) = schemes.and_then(|s| s.get(name)) else {
                    return Err(DefinitionError::new(
                        ErrorKind::Unsupported,
                        format!("{}: security scheme `{name}` is not defined", self.origin),
                    ));
                };
                let scheme = self.inline(scheme, &mut Vec::new())?;
                let kind = scheme.get("type").and_then(Value::as_str);
                let found = match kind {
                    Some("apiKey")
                        if scheme.get("in").and_then(Value::as_str) == Some("header") =>
                    {
                        scheme.get("name").and_then(Value::as_str).map(|header| {
                            AuthScheme::ApiKeyHeader {
                                header: header.to_owned(),
                            }
                        })
                    }
                    Some("http")
                        if scheme
                            .get("scheme")
                            .and_then(Value::as_str)
                            .is_some_and(|s| s.eq_ignore_ascii_case("bearer")) =>
                    {
                        Some(AuthScheme::Bearer)
                    }
                    _ => None,
                };
                if let Some(found) = found
                    && !out.contains(&found)
                {
                    out.push(found);
                }
            }
        }
        Ok(out)
    }

    /// A copy of `value` with every local `$ref` replaced by its target.
    fn inline(&self, value: &Value, stack: &mut Vec<String>) -> Result<Value, DefinitionError> {
        match value {
            Value::Object(fields) => {
                if let Some(reference) = fields.get("$ref").and_then(Value::as_str) {
                    let target = self.lookup(reference)?;
                    if stack.iter().any(|seen| seen == reference) {
                        return Err(DefinitionError::new(
                            ErrorKind::Unsupported,
                            format!(
                                "{}: recursive $ref {reference} (through {}) cannot be inlined",
                                self.origin,
                                stack.join(" -> ")
                            ),
                        ));
                    }
                    stack.push(reference.to_owned());
                    let mut resolved = self.inline(target, stack)?;
                    stack.pop();
                    // Siblings of `$ref` (3.1 allows them, e.g. a description) refine the target.
                    if fields.len() > 1
                        && let Value::Object(resolved_fields) = &mut resolved
                    {
                        for (key, sibling) in fields.iter().filter(|(k, _)| *k != "$ref") {
                            resolved_fields.insert(key.clone(), self.inline(sibling, stack)?);
                        }
                    }
                    return Ok(resolved);
                }
                let mut out = Map::with_capacity(fields.len());
                for (key, item) in fields {
                    // Examples are data, not schema: a `$ref` key inside one is literal.
                    let inlined = if key == "example" || key == "examples" {
                        item.clone()
                    } else {
                        self.inline(item, stack)?
                    };
                    out.insert(key.clone(), inlined);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => items
                .iter()
                .map(|item| self.inline(item, stack))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    fn lookup(&self, reference: &str) -> Result<&Value, DefinitionError> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(DefinitionError::new(
                ErrorKind::Unsupported,
                format!(
                    "{}: $ref {reference} points outside the document; only local references (#/...) are supported",
                    self.origin
                ),
            ));
        };
        self.document
            .pointer(&percent_decode(pointer))
            .ok_or_else(|| {
                DefinitionError::new(
                    ErrorKind::Unsupported,
                    format!("{}: $ref {reference} points to nothing", self.origin),
                )
            })
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

/// OpenAPI 3.0's `nullable: true` becomes `null` among the allowed types, as in 3.1.
fn nullable_to_type(schema: &mut Value) {
    match schema {
        Value::Object(fields) => {
            if fields.remove("nullable") == Some(Value::Bool(true)) {
                match fields.get_mut("type") {
                    Some(Value::String(single)) => {
                        let single = std::mem::take(single);
                        fields.insert("type".into(), Value::from(vec![single, "null".into()]));
                    }
                    Some(Value::Array(types)) => types.push("null".into()),
                    _ => {}
                }
                if let Some(Value::Array(values)) = fields.get_mut("enum") {
                    values.push(Value::Null);
                }
            }
            fields.values_mut().for_each(nullable_to_type);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_type),
        _ => {}
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How to choose an operation in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// By its `operationId`, e.g. `PostApiKey`.
    OperationId(String),
    /// By method and path template, e.g. `POST` and `/api-keys`.
    Route {
        /// HTTP method, any case.
        method: String,
        /// Path template as written in the definition.
        path: String,
    },
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::OperationId(id) => write!(f, "with operationId {id:?}"),
            Selector::Route { method, path } => write!(f, "{} {path}", method.to_uppercase()),
        }
    }
}

/// One operation, resolved: everything needed to render and send its requests.
#[derive(Debug, Clone)]
pub struct Operation {
    pub(crate) id: Option<String>,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) servers: Vec<Server>,
    /// Every server variable name, once, in order of appearance: each is a step parameter.
    pub(crate) variables: Vec<String>,
    pub(crate) security: Vec<AuthScheme>,
    pub(crate) headers: Vec<HeaderParam>,
    pub(crate) path_params: Vec<String>,
    pub(crate) body: Option<BodySpec>,
    pub(crate) responses: Map<String, Value>,
}

impl Operation {
    /// The operationId, if the definition gives one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The HTTP method, upper case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path template, e.g. `/api-keys`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The documented responses by status code, `$ref`s inlined.
    pub fn responses(&self) -> &Map<String, Value> {
        &self.responses
    }

    /// The JSON body schema of the first documented 2xx response.
    pub(crate) fn success_body_schema(&self) -> Option<&Value> {
        self.responses
            .iter()
            .filter(|(status, _)| status.starts_with('2'))
            .find_map(|(_, response)| {
                let content = response.get("content")?.as_object()?;
                content
                    .iter()
                    .find(|(media_type, _)| is_json(media_type))
                    .and_then(|(_, media)| media.get("schema"))
            })
    }
}

/// A server from the definition. Its name is what the `server` parameter selects.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub name: String,
    pub url: String,
    pub variables: Vec<Variable>,
}

#[derive(Debug, Clone)]
pub(crate) struct Variable {
    pub name: String,
    pub description: Option<String>,
    /// A usable default; a placeholder default such as `{organizationId}` is none.
    pub default: Option<String>,
}

impl Server {
    fn from_value(server: &Value, index: usize) -> Result<Server, String> {
        let url = server
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("server {index} has no url"))?;
        // Named by `x-name`, else by the first word of its description ("Sandbox server").
        let name = server
            .get("x-name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                server
                    .get("description")
                    .and_then(Value::as_str)
                    .and_then(|d| d.split_whitespace().next())
                    .map(str::to_lowercase)
            })
            .unwrap_or_else(|| format!("server{index}"));
        let mut variables = Vec::new();
        for (var, spec) in server
            .get("variables")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let default = spec
                .get("default")
                .and_then(Value::as_str)
                .filter(|d| !d.contains('{'))
                .map(str::to_owned);
            variables.push(Variable {
                name: var.clone(),
                description: spec
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                default,
            });
        }
        Ok(Server {
            name,
            url: url.to_owned(),
            variables,
        })
    }
}

/// A way to send credentials that the operation accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthScheme {
    /// An API key in a header, e.g. `REB-APIKEY`.
    ApiKeyHeader { header: String },
    /// `Authorization: Bearer <token>`.
    Bearer,
}

impl AuthScheme {
    pub fn header(&self) -> &str {
        match self {
            AuthScheme::ApiKeyHeader { header } => header,
            AuthScheme::Bearer => "Authorization",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct HeaderParam {
    pub name: String,
    pub required: bool,
    pub default: Option<String>,
    pub allowed: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub(crate) struct BodySpec {
    pub required: bool,
    pub media_type: String,
    /// JSON Schema of the body, `$ref`s inlined, in the definition's dialect.
    pub schema: Value,
}

/// A definition that cannot be used: unreadable, not JSON, not OpenAPI 3.x, no such
/// operation, or a construct this crate does not support.
#[derive(Debug)]
pub struct DefinitionError {
    kind: ErrorKind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    Io,
    Syntax,
    Unsupported,
    OperationNotFound,
    Schema,
}

impl DefinitionError {
    pub(crate) fn new(kind: ErrorKind, message: String) -> Self {
        DefinitionError { kind, message }
    }

    /// The file could not be read.
    pub fn is_io(&self) -> bool {
        self.kind == ErrorKind::Io
    }

    /// The file is not JSON.
    pub fn is_syntax(&self) -> bool {
        self.kind == ErrorKind::Syntax
    }

    /// The selected operation is not in the definition, or none was selected among several.
    pub fn is_operation_not_found(&self) -> bool {
        self.kind == ErrorKind::OperationNotFound
    }

    /// The definition is valid JSON but uses something this crate cannot handle, or its body
    /// schema does not compile.
    pub fn is_unsupported(&self) -> bool {
        matches!(self.kind, ErrorKind::Unsupported | ErrorKind::Schema)
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DefinitionError {}

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
}
