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
        let mut query_params = Vec::new();
        let mut param_schemas = Vec::new();
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
                Some(place @ ("path" | "query")) => {
                    let mut schema = param.get("schema").cloned().unwrap_or(Value::Bool(true));
                    if self.version == Version::V30 {
                        nullable_to_type(&mut schema);
                    }
                    if place == "path" {
                        path_params.push(name.to_owned());
                    } else {
                        let style = param.get("style").and_then(Value::as_str).unwrap_or("form");
                        if style != "form" {
                            return Err(unusable(format!(
                                "query parameter `{name}` has style {style:?}; only \"form\" is supported"
                            )));
                        }
                        query_params.push(QueryParam {
                            name: name.to_owned(),
                            required,
                            // OpenAPI: form style explodes arrays unless it says otherwise.
                            explode: param
                                .get("explode")
                                .and_then(Value::as_bool)
                                .unwrap_or(true),
                        });
                    }
                    param_schemas.push((name.to_owned(), schema));
                }
                Some(other) if required => {
                    return Err(unusable(format!(
                        "required {other} parameter `{name}` is not supported (header, path and query parameters are)"
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
        let credential_headers = self.credential_headers(&security);
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

        // Every parameter is a top-level name in a step: two with one name would be ambiguous.
        let mut names: Vec<&str> = vec!["server", "headers", "body"];
        for name in variables
            .iter()
            .chain(&path_params)
            .chain(query_params.iter().map(|q| &q.name))
        {
            if names.contains(&name.as_str()) {
                return Err(unusable(format!(
                    "two parameters are named `{name}` (steps name parameters without their location)"
                )));
            }
            names.push(name);
        }
        let idempotent_variant =
            extension::<IdempotentVariant>(op, "x-idempotent-variant").map_err(unusable)?;
        let reconcile = extension::<ReconcileSpec>(op, "x-reconcile").map_err(unusable)?;
        let already_done = extension::<Map<String, Value>>(op, "x-already-done")
            .map_err(unusable)?
            .unwrap_or_default()
            .keys()
            .map(|status| {
                status.parse::<u16>().map_err(|_| {
                    unusable(format!("x-already-done: {status:?} is not an HTTP status"))
                })
            })
            .collect::<Result<Vec<u16>, _>>()?;
        let task_type = match op.get("x-task-type") {
            None => None,
            Some(Value::String(name)) if !name.is_empty() => Some(name.clone()),
            Some(other) => {
                return Err(unusable(format!(
                    "x-task-type must be a non-empty string, not {other}"
                )));
            }
        };
        if let Some(variant) = &idempotent_variant
            && names.contains(&variant.parameter.as_str())
        {
            return Err(unusable(format!(
                "x-idempotent-variant: its parameter {:?} is already a parameter of the operation",
                variant.parameter
            )));
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
            description: op
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            parameters,
            method: method.to_uppercase(),
            path,
            servers,
            variables,
            security,
            credential_headers,
            headers,
            path_params,
            query_params,
            param_schemas,
            body,
            responses,
            idempotent_variant,
            reconcile,
            already_done,
            task_type,
        })
    }

    /// Every header that carries a credential, whichever operation it is for: the headers of
    /// the definition's security schemes (an API key's, `Authorization` for HTTP, OAuth and
    /// OpenID schemes), `Authorization`, `Proxy-Authorization` and `Cookie`. A step holds
    /// none of them, and an import leaves them out.
    fn credential_headers(&self, security: &[AuthScheme]) -> Vec<String> {
        let mut names: Vec<String> = ["Authorization", "Proxy-Authorization", "Cookie"]
            .into_iter()
            .chain(security.iter().map(AuthScheme::header))
            .map(str::to_owned)
            .collect();
        let schemes = self
            .document
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object);
        for scheme in schemes.into_iter().flatten().map(|(_, scheme)| scheme) {
            let Ok(scheme) = self.inline(scheme) else {
                continue;
            };
            let field = |name: &str| scheme.get(name).and_then(Value::as_str);
            if field("type") == Some("apiKey")
                && field("in") == Some("header")
                && let Some(header) = field("name")
            {
                names.push(header.to_owned());
            }
        }
        let mut unique: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            if !unique.iter().any(|seen| seen.eq_ignore_ascii_case(&name)) {
                unique.push(name);
            }
        }
        unique
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
    pub(crate) description: Option<String>,
    /// The parameters as the definition documents them (`$ref`s inlined), for editors.
    pub(crate) parameters: Vec<Value>,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) servers: Vec<Server>,
    /// Every server variable name, once, in order of appearance: each is a step parameter.
    pub(crate) variables: Vec<String>,
    pub(crate) security: Vec<AuthScheme>,
    /// Every header that carries a credential, for this operation or another of the
    /// definition's, and the generic ones (`Authorization`, `Proxy-Authorization`, `Cookie`).
    pub(crate) credential_headers: Vec<String>,
    pub(crate) headers: Vec<HeaderParam>,
    pub(crate) path_params: Vec<String>,
    pub(crate) query_params: Vec<QueryParam>,
    /// Each path and query parameter's schema (`$ref`s inlined): its value is validated like
    /// a body field's.
    pub(crate) param_schemas: Vec<(String, Value)>,
    pub(crate) body: Option<BodySpec>,
    pub(crate) responses: Map<String, Value>,
    /// `x-idempotent-variant`: how the same request is made safe to repeat.
    pub(crate) idempotent_variant: Option<IdempotentVariant>,
    /// `x-reconcile`: how to find what a request of unknown outcome made.
    pub(crate) reconcile: Option<ReconcileSpec>,
    /// `x-already-done`: statuses that mean, for a repeat (a retry, or a runner's later
    /// attempt), that the operation's aim already holds (a delete that finds nothing to
    /// delete), so they end the step as a success.
    pub(crate) already_done: Vec<u16>,
    /// `x-task-type`: the name workflows give a step of this operation, e.g. `CreateApiKey`.
    pub(crate) task_type: Option<String>,
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

    /// The longer description, if the definition gives one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Every header, path and query parameter as the definition documents it (`name`, `in`,
    /// `required`, `description`, `schema`), `$ref`s inlined: what a reference page shows.
    pub fn parameters(&self) -> &[Value] {
        &self.parameters
    }

    /// The request body's JSON Schema (`$ref`s inlined), if the operation takes one.
    pub fn body_schema(&self) -> Option<&Value> {
        self.body.as_ref().map(|body| &body.schema)
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

    /// The task type workflows name it by (`x-task-type`), e.g. `CreateApiKey`.
    pub fn task_type(&self) -> Option<&str> {
        self.task_type.as_deref()
    }

    /// Whether an answer with this status to a repeated request means the operation's aim
    /// already holds (`x-already-done`), e.g. a delete that finds nothing to delete.
    pub fn is_already_done(&self, status: u16) -> bool {
        self.already_done.contains(&status)
    }

    /// The HTTP method, upper case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path template, e.g. `/api-keys`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every header that carries a credential: the definition's security schemes' (this
    /// operation's or another's), `Authorization`, `Proxy-Authorization` and `Cookie`. A step
    /// holds none of them; an editor should not store them either.
    pub fn credential_headers(&self) -> &[String] {
        &self.credential_headers
    }

    /// The documented responses by status code, `$ref`s inlined.
    pub fn responses(&self) -> &Map<String, Value> {
        &self.responses
    }

    /// The same operation with its path parameter `from` named `to`, in the path template
    /// too; `false` when it has no such parameter.
    pub(crate) fn rename_path_parameter(&mut self, from: &str, to: &str) -> bool {
        let Some(at) = self.path_params.iter().position(|name| name == from) else {
            return false;
        };
        self.path_params[at] = to.to_owned();
        for (name, _) in &mut self.param_schemas {
            if name == from {
                *name = to.to_owned();
            }
        }
        self.path = self
            .path
            .replace(&format!("{{{from}}}"), &format!("{{{to}}}"));
        true
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

/// `x-idempotent-variant` on a creating operation (a `POST`): a step that gives `parameter`
/// is sent as `operationId` instead, with the value as its path parameter `pathParameter`.
/// That operation creates at a chosen id or answers with what is there, so repeating it is
/// safe; `read` retrieves the resource by that id (for a secret its answer lacked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct IdempotentVariant {
    pub parameter: String,
    pub operation_id: String,
    pub path_parameter: String,
    #[serde(default)]
    pub read: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// `x-reconcile` on a creating operation: list with `operationId` (a `GET`), its
/// `filterParameter` on the request body's `match` fields and on `createdField` from the time
/// of the request, newest first by `sortParameter`, at most a page by `limitParameter`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReconcileSpec {
    pub operation_id: String,
    pub filter_parameter: String,
    #[serde(default)]
    pub sort_parameter: Option<String>,
    #[serde(default)]
    pub limit_parameter: Option<String>,
    #[serde(default)]
    pub r#match: Vec<String>,
    pub created_field: String,
}

/// An `x-...` extension of an operation, read into its type; a malformed one is an error.
fn extension<T: serde::de::DeserializeOwned>(op: &Value, name: &str) -> Result<Option<T>, String> {
    match op.get(name) {
        None => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|error| format!("{name} is malformed: {error}")),
    }
}

/// A query parameter, sent as `name=value` in the form style.
#[derive(Debug, Clone)]
pub(crate) struct QueryParam {
    pub name: String,
    pub required: bool,
    /// An array value is sent as `name=a&name=b` (exploded) or `name=a,b`.
    pub explode: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct BodySpec {
    pub required: bool,
    pub media_type: String,
    /// JSON Schema of the body, `$ref`s inlined, in the definition's dialect.
    pub schema: Value,
}
