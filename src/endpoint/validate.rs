//! Body validation: the definition's JSON Schema, compiled once, plus the rules a schema
//! cannot say well: read-only fields, unknown fields with a suggestion, and the `format`s
//! `operationId` (a known Rebilly operation or `*`) and `public-ip-or-cidr`.

use super::ip;
use crate::definition::{BodySpec, DefinitionError, DefinitionErrorKind as ErrorKind, Version};
use crate::problem::{Findings, json_kind};
use crate::util::lock;
use crate::util::pointer::{Location, append_token};
use crate::util::suggest;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

/// The Rebilly operationIds shipped in `schemas/operation-ids.txt`.
pub const EMBEDDED_OPERATION_IDS: &str = include_str!("../../schemas/operation-ids.txt");

/// The valid values of a string with `format: operationId`, besides `*`.
#[derive(Clone)]
pub struct OperationIds {
    ids: Arc<HashSet<String, BuildHasherDefault<Fnv>>>,
}

/// FNV-1a, for a set fixed when it is loaded: a step's text can only look names up in it, so
/// it cannot grow the set's collision chains, and SipHash's defence against that is not
/// needed. A large step looks up a thousand permissions.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = self.0;
        for &byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
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

    /// The known operationIds, sorted: what an editor offers for a permission.
    pub fn sorted(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids
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

/// The path and query parameters' schemas, compiled: an `id` is checked against its
/// `maxLength` and `pattern`, a `limit` against its range, as a body field is, and located at
/// its parameter.
pub(crate) struct ParamValidators {
    params: Vec<(String, jsonschema::Validator)>,
    /// The path parameters' names.
    path: Vec<String>,
}

impl ParamValidators {
    pub fn new(
        schemas: &[(String, Value)],
        path: &[String],
        version: Version,
    ) -> Result<Self, DefinitionError> {
        let path = path.to_vec();
        let params = schemas
            .iter()
            .map(|(name, schema)| {
                let compiled = compile(schema, version).map_err(|error| {
                    DefinitionError::new(
                        ErrorKind::Schema,
                        format!("the schema of parameter {name:?} does not compile: {error}"),
                    )
                })?;
                Ok((name.clone(), compiled))
            })
            .collect::<Result<_, DefinitionError>>()?;
        Ok(ParamValidators { params, path })
    }

    /// Problems with the values given: a path parameter's non-string value and absent ones
    /// are the URL stage's to report.
    pub fn check(&self, params: &serde_json::Map<String, Value>, findings: &mut Findings) {
        for (name, compiled) in &self.params {
            let value = match params.get(name) {
                Some(value @ Value::String(_)) => value,
                Some(value) if !self.path.contains(name) => value,
                _ => continue,
            };
            for error in compiled.iter_errors(value) {
                findings.error_with(|_| {
                    (
                        crate::util::pointer::push_token("", name),
                        format!("{name} {}", schema_message(error.kind(), error.instance())),
                    )
                });
            }
        }
    }
}

/// Compiles a schema in the definition's dialect.
fn compile(
    schema: &Value,
    version: Version,
) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    let draft = match version {
        Version::V30 => jsonschema::Draft::Draft4,
        Version::V31 => jsonschema::Draft::Draft202012,
    };
    jsonschema::options().with_draft(draft).build(schema)
}

/// The keywords a schema on the way to a site may have: they judge which members and items
/// exist, not their values (`format` and `default` on an object or array judge nothing here).
const ON_THE_WAY: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "title",
    "description",
    "example",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "nullable",
    "externalDocs",
    "format",
];

/// The schema of a place no schema describes: anything.
static ANYTHING: Value = Value::Bool(true);

static EMPTY_SHAPE: Shape = Shape {
    properties: Vec::new(),
    closed: false,
    additional: None,
    items: None,
    all_of: Vec::new(),
    format: None,
};

/// Whether a schema holds a `$` keyword (but `$comment`) anywhere: property names under
/// `properties` are names, not keywords, and are passed over.
fn has_keyword_with_dollar(schema: &Value) -> bool {
    match schema {
        Value::Object(fields) => fields.iter().any(|(key, value)| {
            if key == "properties" {
                return value
                    .as_object()
                    .is_some_and(|properties| properties.values().any(has_keyword_with_dollar));
            }
            (key.starts_with('$') && key != "$comment") || has_keyword_with_dollar(value)
        }),
        Value::Array(items) => items.iter().any(has_keyword_with_dollar),
        _ => false,
    }
}

/// One step from a body to a site: a member, or an item (any index: an array's items share a
/// schema).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SiteStep {
    Key(String),
    Index,
}

/// A site's own schema, compiled, and its path for the rule walk.
pub(crate) struct SiteCheck {
    compiled: Arc<jsonschema::Validator>,
    path: Vec<SiteStep>,
}

/// The subschemas compiled for sites, by their JSON Pointer in the body schema: the members of
/// a map (`additionalProperties`) and the items of an array share one, and so do all the
/// templates of an endpoint. At most about three per node of the schema: the node, and the
/// absent `items` and `additionalProperties` below it.
type SiteValidators = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;

impl fmt::Debug for SiteCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiteCheck")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A compiled body validator: built once per loaded definition, used for every step.
pub(crate) struct BodyValidator {
    compiled: jsonschema::Validator,
    /// The body schema, for the sites of step templates.
    schema: Value,
    sites: SiteValidators,
    shape: Shape,
    operation_ids: OperationIds,
    version: Version,
}

impl BodyValidator {
    pub fn new(
        spec: &BodySpec,
        version: Version,
        operation_ids: OperationIds,
    ) -> Result<Self, DefinitionError> {
        let compiled = compile(&spec.schema, version).map_err(|error| {
            DefinitionError::new(
                ErrorKind::Schema,
                format!("the request body schema does not compile: {error}"),
            )
        })?;
        Ok(BodyValidator {
            compiled,
            schema: spec.schema.clone(),
            sites: Mutex::default(),
            shape: Shape::compile(&spec.schema),
            operation_ids,
            version,
        })
    }

    /// How to check the value at `path` in a body on its own, or `None` when that would not
    /// say what checking the whole body says: when a schema on the way there judges its
    /// members' values together (`enum`, `oneOf`, `uniqueItems`, ...) or reaches the place by
    /// a rule other than `properties`, `additionalProperties` and `items`. On the way, only
    /// which members and items exist is judged, and a step template's values never change
    /// that; so a body that was valid once stays valid while each such value is.
    pub fn site(&self, path: &[SiteStep]) -> Option<SiteCheck> {
        let mut node = &self.schema;
        let mut pointer = String::new();
        for step in path {
            let fields = node.as_object()?;
            if fields
                .keys()
                .any(|key| !key.starts_with("x-") && !ON_THE_WAY.contains(&key.as_str()))
            {
                return None;
            }
            node = match step {
                SiteStep::Key(name) => {
                    let declared = fields
                        .get("properties")
                        .and_then(Value::as_object)
                        .and_then(|properties| properties.get(name));
                    match (declared, fields.get("additionalProperties")) {
                        (Some(declared), _) => {
                            pointer.push_str("/properties");
                            append_token(&mut pointer, name);
                            declared
                        }
                        (None, Some(additional @ Value::Object(_))) => {
                            pointer.push_str("/additionalProperties");
                            additional
                        }
                        (None, None | Some(Value::Bool(true))) => {
                            pointer.push_str("/additionalProperties");
                            &ANYTHING
                        }
                        (None, Some(_)) => return None,
                    }
                }
                SiteStep::Index => match fields.get("items") {
                    Some(items @ Value::Object(_)) => {
                        pointer.push_str("/items");
                        items
                    }
                    None => {
                        pointer.push_str("/items");
                        &ANYTHING
                    }
                    Some(_) => return None,
                },
            };
        }
        // Cut out of the body schema, a `$ref`, `$dynamicRef`, `$schema` or `$id` would mean
        // something else than in place (another root, another draft).
        if has_keyword_with_dollar(node) {
            return None;
        }
        let cached = lock(&self.sites).get(&pointer).cloned();
        let compiled = match cached {
            Some(validator) => validator,
            // Compiled outside the lock: two templates made at once may both compile it.
            None => {
                let validator = Arc::new(compile(node, self.version).ok()?);
                lock(&self.sites).insert(pointer, Arc::clone(&validator));
                validator
            }
        };
        Some(SiteCheck {
            compiled,
            path: path.to_vec(),
        })
    }

    /// How many site schemas are compiled.
    #[cfg(test)]
    pub(crate) fn sites_compiled(&self) -> usize {
        lock(&self.sites).len()
    }

    /// Whether `value`, at its site, passes the schema there and the rules below it (the
    /// strict ones, as for a request to send).
    pub fn check_site(&self, site: &SiteCheck, value: &Value) -> bool {
        if !site.compiled.is_valid(value) {
            return false;
        }
        let mut shape = &self.shape;
        for step in &site.path {
            shape = match step {
                SiteStep::Key(name) => match shape.property(name) {
                    Some(property) => &property.shape,
                    None => shape.additional.as_deref().unwrap_or(&EMPTY_SHAPE),
                },
                SiteStep::Index => shape.items.as_deref().unwrap_or(&EMPTY_SHAPE),
            };
        }
        let mut findings = Findings::default();
        let walk = Walk {
            validator: self,
            strict: true,
        };
        walk.value(shape, value, &Location::root("body"), &mut findings);
        findings.errors.is_empty()
    }

    /// Every problem in `body`, located under `/body`. `strict` adds the client-side rules the
    /// API itself does not apply: read-only and unknown fields are errors rather than ignored.
    pub fn check(&self, body: &Value, strict: bool, findings: &mut Findings) {
        // Most bodies are valid, and a yes/no check is far cheaper than collecting errors.
        let errors = (!self.compiled.is_valid(body)).then(|| self.compiled.iter_errors(body));
        for error in errors.into_iter().flatten() {
            // Unknown properties are reported by the walk below, with a suggestion.
            if matches!(
                error.kind(),
                ValidationErrorKind::AdditionalProperties { .. }
            ) {
                continue;
            }
            // The API ignores read-only fields, whatever their values; only the strict
            // client-side check reports them (as read-only, in the walk below).
            if !strict && self.in_read_only_field(error.instance_path().as_str()) {
                continue;
            }
            findings.error_with(|_| {
                (
                    format!("/body{}", error.instance_path().as_str()),
                    schema_message(error.kind(), error.instance()),
                )
            });
        }
        let walk = Walk {
            validator: self,
            strict,
        };
        walk.value(&self.shape, body, &Location::root("body"), findings);
    }

    /// Whether a JSON Pointer into the body lies in a top-level read-only field.
    fn in_read_only_field(&self, pointer: &str) -> bool {
        let first = pointer
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        let name = first.replace("~1", "/").replace("~0", "~");
        self.shape
            .property(&name)
            .is_some_and(|property| property.read_only)
    }

    fn check_format(&self, format: Format, text: &str, at: &Location<'_>, findings: &mut Findings) {
        match format {
            Format::OperationId if !self.operation_ids.allows(text) => {
                findings.error_with(|findings| {
                    let suggestion = if findings.may_suggest() {
                        let known = self.operation_ids.ids.iter().map(String::as_str);
                        suggest::did_you_mean(text, known)
                    } else {
                        String::new()
                    };
                    (
                        at.pointer(),
                        format!(
                            "unknown permission {text:?}: not an operationId of the Rebilly API, nor *{suggestion}"
                        ),
                    )
                });
            }
            Format::OperationId => {}
            Format::PublicIpOrCidr => match ip::check(text) {
                Ok(None) => {}
                Ok(Some(warning)) => findings.warn_with(|| (at.pointer(), warning)),
                Err(error) => findings.error_with(|_| (at.pointer(), error)),
            },
        }
    }
}

/// One walk of a body through the compiled shape.
struct Walk<'v> {
    validator: &'v BodyValidator,
    strict: bool,
}

impl Walk<'_> {
    /// Follows `value`, found `at` that place in the body, through `shape`. The walk's path
    /// is its own stack frames: a pointer is spelled only for a problem, where keeping one
    /// up to date for every value was more than a quarter of checking a large body.
    fn value(&self, shape: &Shape, value: &Value, at: &Location<'_>, findings: &mut Findings) {
        for part in &shape.all_of {
            self.value(part, value, at, findings);
        }
        match value {
            Value::Object(fields) => self.object(shape, fields, at, findings),
            Value::Array(items) => {
                if let Some(item_shape) = &shape.items {
                    for (i, item) in items.iter().enumerate() {
                        self.value(item_shape, item, &at.index(i), findings);
                    }
                }
            }
            Value::String(text) => {
                if let Some(format) = shape.format {
                    self.validator.check_format(format, text, at, findings);
                }
            }
            _ => {}
        }
    }

    fn object(
        &self,
        shape: &Shape,
        fields: &Map<String, Value>,
        at: &Location<'_>,
        findings: &mut Findings,
    ) {
        for (name, value) in fields {
            let at = at.key(name);
            match shape.property(name) {
                Some(property) if property.read_only && !self.strict => {}
                Some(property) if property.read_only => {
                    findings.error_with(|_| {
                        let hint = property
                            .read_only_hint
                            .as_deref()
                            .map(|hint| format!("; {hint}"))
                            .unwrap_or_default();
                        (
                            at.pointer(),
                            format!(
                                "{name} is read-only: the server sets it, and a request must not send it{hint}"
                            ),
                        )
                    });
                }
                Some(property) => self.value(&property.shape, value, &at, findings),
                None if shape.closed && !self.strict => {}
                None if shape.closed => {
                    findings.error_with(|_| {
                        let writable = shape.writable().map(|(name, _)| name.as_str());
                        let suggestion = suggest::did_you_mean(name, writable);
                        let known: Vec<&str> =
                            shape.writable().map(|(n, _)| n.as_str()).collect();
                        (
                            at.pointer(),
                            format!(
                                "unknown field {name:?}{suggestion} (known: {}). The API would ignore it silently",
                                known.join(", ")
                            ),
                        )
                    });
                }
                None => {
                    if let Some(extra) = &shape.additional {
                        self.value(extra, value, &at, findings);
                    }
                }
            }
        }
    }
}

/// What the rule walk needs from a schema node, compiled once so that checking a body does
/// no map lookups into the schema.
#[derive(Debug, Default)]
struct Shape {
    /// Declared properties, in schema order; few enough that a scan beats hashing.
    properties: Vec<(String, Property)>,
    /// `additionalProperties: false`: an undeclared field is an error.
    closed: bool,
    additional: Option<Box<Shape>>,
    items: Option<Box<Shape>>,
    all_of: Vec<Shape>,
    format: Option<Format>,
}

#[derive(Debug)]
struct Property {
    read_only: bool,
    /// `x-read-only-hint`: what to do instead of sending the field.
    read_only_hint: Option<String>,
    shape: Shape,
}

/// The `format`s with a rule of their own; other formats are left to the JSON Schema.
#[derive(Debug, Clone, Copy)]
enum Format {
    /// A Rebilly operationId or `*`.
    OperationId,
    /// A public IPv4/IPv6 address or CIDR range.
    PublicIpOrCidr,
}

impl Shape {
    fn compile(schema: &Value) -> Shape {
        let Value::Object(schema) = schema else {
            return Shape::default();
        };
        let sub = |key: &str| {
            schema
                .get(key)
                .filter(|s| s.is_object())
                .map(|s| Box::new(Shape::compile(s)))
        };
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, property)| {
                (
                    name.clone(),
                    Property {
                        read_only: property.get("readOnly") == Some(&Value::Bool(true)),
                        read_only_hint: property
                            .get("x-read-only-hint")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        shape: Shape::compile(property),
                    },
                )
            })
            .collect();
        Shape {
            properties,
            closed: schema.get("additionalProperties") == Some(&Value::Bool(false)),
            additional: sub("additionalProperties"),
            items: sub("items"),
            all_of: schema
                .get("allOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(Shape::compile)
                .collect(),
            format: match schema.get("format").and_then(Value::as_str) {
                Some("operationId") => Some(Format::OperationId),
                Some("public-ip-or-cidr") => Some(Format::PublicIpOrCidr),
                _ => None,
            },
        }
    }

    fn property(&self, name: &str) -> Option<&Property> {
        self.properties
            .iter()
            .find(|(declared, _)| declared == name)
            .map(|(_, property)| property)
    }

    fn writable(&self) -> impl Iterator<Item = &(String, Property)> {
        self.properties.iter().filter(|(_, p)| !p.read_only)
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
        ValidationErrorKind::Maximum { limit } => format!("is {instance}; the most is {limit}"),
        ValidationErrorKind::Minimum { limit } => format!("is {instance}; the least is {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("is {instance}; it must be below {limit}")
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("is {instance}; it must be above {limit}")
        }
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
