//! The resolved operation: method, path, servers, security, headers, body and responses.

use super::error::{DefinitionError, DefinitionErrorKind as ErrorKind};
use super::{Definition, Version, is_json};
use serde_json::{Map, Value};
use std::fmt;

impl Definition {
    pub(super) fn build_operation(
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
            Some(s) => self.inline(s)?,
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
        let mut path_schemas = Vec::new();
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
                Some("path") => {
                    path_params.push(name.to_owned());
                    let mut schema = param.get("schema").cloned().unwrap_or(Value::Bool(true));
                    if self.version == Version::V30 {
                        nullable_to_type(&mut schema);
                    }
                    path_schemas.push((name.to_owned(), schema));
                }
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
            summary: op
                .get("summary")
                .and_then(Value::as_str)
                .filter(|summary| !summary.trim().is_empty())
                .map(str::to_owned),
            method: method.to_uppercase(),
            path,
            servers,
            variables,
            security,
            headers,
            path_params,
            path_schemas,
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
                let scheme = self.inline(scheme)?;
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

/// How to choose an operation in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    pub(crate) summary: Option<String>,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) servers: Vec<Server>,
    /// Every server variable name, once, in order of appearance: each is a step parameter.
    pub(crate) variables: Vec<String>,
    pub(crate) security: Vec<AuthScheme>,
    pub(crate) headers: Vec<HeaderParam>,
    pub(crate) path_params: Vec<String>,
    /// Each path parameter's schema (`$ref`s inlined): its value is validated like a body
    /// field's.
    pub(crate) path_schemas: Vec<(String, Value)>,
    pub(crate) body: Option<BodySpec>,
    pub(crate) responses: Map<String, Value>,
}

impl Operation {
    /// The operationId, if the definition gives one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The summary, e.g. "Create an API key", if the definition gives one.
    pub fn summary(&self) -> Option<&str> {
        self.summary.as_deref()
    }

    /// How messages name the operation, in the definition's own words:
    /// `"Create an API key" (PostApiKey)`, else its operationId, else `POST /api-keys`.
    pub fn label(&self) -> String {
        match (&self.summary, &self.id) {
            (Some(summary), Some(id)) => format!("{summary:?} ({id})"),
            (Some(summary), None) => format!("{summary:?} ({} {})", self.method, self.path),
            (None, Some(id)) => id.clone(),
            (None, None) => format!("{} {}", self.method, self.path),
        }
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
    /// The definition's `enum` for it, if any: the only values a variable in a server's host
    /// may take without an operator allowing more.
    pub allowed: Vec<String>,
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
                allowed: spec
                    .get("enum")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
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
