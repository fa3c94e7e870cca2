//! Body validation: the definition's JSON Schema, compiled once, plus the rules a schema
//! cannot say well: read-only fields, unknown fields with a suggestion, and the `format`s
//! `operationId` (a known Rebilly operation or `*`) and `public-ip-or-cidr`.

use crate::definition::{BodySpec, DefinitionError, ErrorKind, Version};
use crate::ip;
use crate::problem::{Findings, push_index, push_token};
use crate::request::json_kind;
use crate::suggest;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

/// The Rebilly operationIds shipped in `schemas/operation-ids.txt`.
pub const EMBEDDED_OPERATION_IDS: &str = include_str!("../schemas/operation-ids.txt");

/// The valid values of a string with `format: operationId`, besides `*`.
#[derive(Clone)]
pub struct OperationIds {
    ids: Arc<HashSet<String>>,
}

impl OperationIds {
    /// The list shipped with the crate.
    pub fn embedded() -> OperationIds {
        OperationIds::from_lines(EMBEDDED_OPERATION_IDS)
    }

    /// One operationId per line; blank lines and `#` comments are skipped.
    pub fn from_lines(text: &str) -> OperationIds {
        let ids = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect();
        OperationIds { ids: Arc::new(ids) }
    }

    /// Whether `permission` is `*` or a known operationId.
    pub fn allows(&self, permission: &str) -> bool {
        permission == "*" || self.ids.contains(permission)
    }

    /// How many operationIds are known.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl fmt::Debug for OperationIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OperationIds({} known)", self.ids.len())
    }
}

/// A compiled body validator: built once per loaded definition, used for every step.
pub(crate) struct BodyValidator {
    schema: Value,
    compiled: jsonschema::Validator,
    operation_ids: OperationIds,
}

impl BodyValidator {
    pub fn new(
        spec: &BodySpec,
        version: Version,
        operation_ids: OperationIds,
    ) -> Result<Self, DefinitionError> {
        let draft = match version {
            Version::V30 => jsonschema::Draft::Draft4,
            Version::V31 => jsonschema::Draft::Draft202012,
        };
        let compiled = jsonschema::options()
            .with_draft(draft)
            .build(&spec.schema)
            .map_err(|error| {
                DefinitionError::new(
                    ErrorKind::Schema,
                    format!("the request body schema does not compile: {error}"),
                )
            })?;
        Ok(BodyValidator {
            schema: spec.schema.clone(),
            compiled,
            operation_ids,
        })
    }

    /// Every problem in `body`, located under `/body`.
    pub fn check(&self, body: &Value, findings: &mut Findings) {
        for error in self.compiled.iter_errors(body) {
            // Unknown properties are reported by the walk below, with a suggestion.
            if matches!(
                error.kind(),
                ValidationErrorKind::AdditionalProperties { .. }
            ) {
                continue;
            }
            let pointer = format!("/body{}", error.instance_path().as_str());
            findings.error(pointer, schema_message(error.kind(), error.instance()));
        }
        self.walk(&self.schema, body, "/body".to_owned(), findings);
    }

    fn walk(&self, schema: &Value, value: &Value, pointer: String, findings: &mut Findings) {
        let Value::Object(schema) = schema else {
            return;
        };
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.walk(part, value, pointer.clone(), findings);
        }
        match value {
            Value::Object(fields) => self.walk_object(schema, fields, &pointer, findings),
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.walk(item_schema, item, push_index(&pointer, i), findings);
                    }
                }
            }
            Value::String(text) => {
                if let Some(format) = schema.get("format").and_then(Value::as_str) {
                    self.check_format(format, text, &pointer, findings);
                }
            }
            _ => {}
        }
    }

    fn walk_object(
        &self,
        schema: &Map<String, Value>,
        fields: &Map<String, Value>,
        pointer: &str,
        findings: &mut Findings,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        for (name, value) in fields {
            let here = push_token(pointer, name);
            match properties.and_then(|p| p.get(name)) {
                Some(property) if property.get("readOnly") == Some(&Value::Bool(true)) => {
                    let hint = property
                        .get("x-read-only-hint")
                        .and_then(Value::as_str)
                        .map(|hint| format!("; {hint}"))
                        .unwrap_or_default();
                    findings.error(
                        here,
                        format!("{name} is read-only: the server sets it, and a request must not send it{hint}"),
                    );
                }
                Some(property) => self.walk(property, value, here, findings),
                None if closed => {
                    let writable = properties.into_iter().flatten().filter_map(|(k, p)| {
                        (p.get("readOnly") != Some(&Value::Bool(true))).then_some(k.as_str())
                    });
                    let suggestion = suggest::did_you_mean(name, writable);
                    let known = properties
                        .map(|p| {
                            p.iter()
                                .filter(|(_, s)| s.get("readOnly") != Some(&Value::Bool(true)))
                                .map(|(k, _)| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    findings.error(
                        here,
                        format!(
                            "unknown field {name:?}{suggestion} (known: {known}). The API would ignore it silently"
                        ),
                    );
                }
                None => {
                    if let Some(extra) = schema.get("additionalProperties")
                        && extra.is_object()
                    {
                        self.walk(extra, value, here, findings);
                    }
                }
            }
        }
    }

    fn check_format(&self, format: &str, text: &str, pointer: &str, findings: &mut Findings) {
        match format {
            "operationId" if !self.operation_ids.allows(text) => {
                let suggestion =
                    suggest::did_you_mean(text, self.operation_ids.ids.iter().map(String::as_str));
                findings.error(
                    pointer,
                    format!(
                        "unknown permission {text:?}: not an operationId of the Rebilly API, nor *{suggestion}"
                    ),
                );
            }
            "public-ip-or-cidr" => match ip::check(text) {
                Ok(None) => {}
                Ok(Some(warning)) => findings.warn(pointer, warning),
                Err(error) => findings.error(pointer, error),
            },
            _ => {}
        }
    }
}

/// A message for a JSON Schema error that names the rule, not the whole offending value.
fn schema_message(kind: &ValidationErrorKind, instance: &Value) -> String {
    match kind {
        ValidationErrorKind::Required { property } => {
            format!("missing required field {property}")
        }
        ValidationErrorKind::Type { kind } => {
            let expected: Vec<String> = match kind {
                TypeKind::Single(single) => vec![single.to_string()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
            };
            format!(
                "must be of type {}, not {}",
                expected.join(" or "),
                json_kind(instance)
            )
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = match options.as_ref() {
                Value::Array(values) => values.iter().map(Value::to_string).collect(),
                other => vec![other.to_string()],
            };
            let got = match instance {
                Value::String(s) => suggest::did_you_mean(
                    s,
                    options
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str),
                ),
                _ => String::new(),
            };
            format!(
                "must be one of {}, not {}{got}",
                allowed.join(", "),
                short(instance)
            )
        }
        ValidationErrorKind::MaxLength { limit } => format!(
            "is {} characters long; the limit is {limit}",
            instance.as_str().map_or(0, |s| s.chars().count())
        ),
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} characters long")
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!("{} does not match the pattern {pattern}", short(instance))
        }
        ValidationErrorKind::MaxItems { limit } => format!("has more than {limit} items"),
        ValidationErrorKind::MinItems { limit } => format!("has fewer than {limit} items"),
        ValidationErrorKind::UniqueItems => "has duplicate items".to_owned(),
        other => format!("violates the schema's {} rule", other.keyword()),
    }
}

/// A value for a message, shortened so a huge input does not make a huge report.
fn short(value: &Value) -> String {
    const MAX: usize = 80;
    let text = value.to_string();
    if text.chars().count() <= MAX {
        text
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}...")
    }
}
