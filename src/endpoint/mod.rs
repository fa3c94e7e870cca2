//! The compiled endpoint: a definition's operation with its validator, ready for many steps.
//!
//! A step goes through the stages in this folder in order: `render` the `${...}` expressions
//! against the workflow state, build the `url` and `headers`, `validate` the body (with
//! `ip` for `allowedIps`), and assemble the `request` with its curl line. This file ties
//! them together; `input_schema` and `output_schema` describe a step and its output to
//! editors.

pub(crate) mod destination;
mod headers;
mod input_schema;
mod ip;
mod kept;
mod output_schema;
pub(crate) mod render;
mod report;
mod request;
pub(crate) mod secret_path;
mod step;
mod template;
mod url;
mod validate;

pub use render::Limits;
pub use report::{ChosenOperation, TestReport};
pub use request::HttpRequest;
pub use step::{Step, StepError};
pub use template::StepTemplate;
pub use validate::OperationIds;

pub(crate) use kept::Lookup;

use crate::credentials::{API_KEY_ENV, Credentials, JWT_ENV, Secret};
use crate::definition::{
    AuthScheme, Definition, DefinitionError, DefinitionErrorKind, IdempotentVariant, Operation,
    ReconcileSpec, Selector,
};
use crate::problem::{Findings, Problem, json_kind};
use crate::util::pointer::{has_name_longer_than, is_within, push_token};
use crate::util::suggest;
use destination::Destinations;
use render::Substitutions;
use secret_path::SecretPath;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;
use validate::{BodyValidator, ParamValidators};

/// Options for compiling an [`Endpoint`]; see [`Endpoint::builder`].
#[derive(Debug, Default, Clone)]
pub struct EndpointBuilder {
    definition: Option<Definition>,
    selector: Option<Selector>,
    operation_ids: Option<OperationIds>,
    limits: Limits,
    allowed_servers: Vec<String>,
    /// `Some(false)` to keep none; kept by default.
    keep_templates: Option<bool>,
}

impl EndpointBuilder {
    /// Lets steps send credentials to this base URL's origin, e.g. `https://gateway.internal`.
    /// Repeatable. Without it, a step's own base URL must be one of the definition's servers
    /// or loopback: workflow data may choose a server, never add one.
    pub fn allow_server(mut self, base_url: impl Into<String>) -> Self {
        self.allowed_servers.push(base_url.into());
        self
    }

    /// The definition it will build from: the one given, or the embedded one.
    pub fn definition_or_embedded(&self) -> Definition {
        self.definition.clone().unwrap_or_else(Definition::embedded)
    }

    /// Uses this definition instead of the embedded API-key one.
    pub fn definition(mut self, definition: Definition) -> Self {
        self.definition = Some(definition);
        self
    }

    /// Selects the operation by `operationId`. Without a selector the definition must have
    /// exactly one operation (the embedded one selects `PostApiKey`).
    pub fn operation_id(mut self, id: impl Into<String>) -> Self {
        self.selector = Some(Selector::OperationId(id.into()));
        self
    }

    /// Selects the operation by method and path template, e.g. `("POST", "/api-keys")`.
    pub fn route(mut self, method: impl Into<String>, path: impl Into<String>) -> Self {
        self.selector = Some(Selector::Route {
            method: method.into(),
            path: path.into(),
        });
        self
    }

    /// The valid values of `format: operationId` strings (ACL permissions). Defaults to the
    /// Rebilly list shipped in `schemas/operation-ids.txt`.
    pub fn operation_ids(mut self, ids: OperationIds) -> Self {
        self.operation_ids = Some(ids);
        self
    }

    /// Bounds on rendering work per step.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether the endpoint keeps templates of the parameters it executes again and again
    /// (on by default): parameters that come again after an execution of them succeeded get
    /// a template ([`Endpoint::template`]), and from the next execution that passes on, only
    /// their strings holding an expression are rendered and checked, with the same requests,
    /// output and errors. Bounded: at most 256 templates, and 8 MiB counted generously for
    /// the endpoint and its siblings ([`Endpoint::sibling`]) together. Off, every execution
    /// checks its step whole.
    pub fn keep_templates(mut self, keep: bool) -> Self {
        self.keep_templates = Some(keep);
        self
    }

    /// Resolves the operation and compiles its body validator, and those of the operations it
    /// refers to (`x-idempotent-variant`, `x-reconcile`).
    pub fn build(self) -> Result<Endpoint, DefinitionError> {
        let (definition, selector) = match self.definition {
            Some(definition) => (definition, self.selector),
            None => (
                Definition::embedded(),
                self.selector
                    .or_else(|| Some(Selector::OperationId("PostApiKey".into()))),
            ),
        };
        let operation = definition.operation(selector.as_ref())?;
        let options = Options {
            operation_ids: self.operation_ids.unwrap_or_else(OperationIds::embedded),
            limits: self.limits,
            allowed_servers: self.allowed_servers,
            keep_templates: self.keep_templates.unwrap_or(true),
            templates_held: Arc::default(),
        };
        Endpoint::compile(definition, operation, &options, true)
    }
}

/// What every endpoint compiled from one builder shares.
#[derive(Clone)]
struct Options {
    operation_ids: OperationIds,
    limits: Limits,
    allowed_servers: Vec<String>,
    keep_templates: bool,
    /// What the templates of the endpoints compiled from one builder hold, together.
    templates_held: Arc<kept::Held>,
}

/// An operation's idempotent variant (`x-idempotent-variant`), compiled.
struct Variant {
    /// The step parameter that selects it, e.g. `keyId`.
    parameter: String,
    /// The variant, its path parameter renamed to `parameter`.
    endpoint: Endpoint,
    /// The operation that reads the resource by id, for a secret the variant's answer lacked.
    read: Option<Endpoint>,
    /// What a report says when the step is sent as the variant, and when as the original:
    /// written once here, not formatted again for every step.
    as_variant: ChosenOperation,
    as_original: ChosenOperation,
}

impl Endpoint {
    fn compile(
        definition: Definition,
        operation: Operation,
        options: &Options,
        with_variant: bool,
    ) -> Result<Endpoint, DefinitionError> {
        let destinations = Destinations::new(&operation, &options.allowed_servers)?;
        let param_validators = ParamValidators::new(
            &operation.param_schemas,
            &operation.path_params,
            definition.version(),
        )?;
        let body = match &operation.body {
            Some(spec) => Some(BodyValidator::new(
                spec,
                definition.version(),
                options.operation_ids.clone(),
            )?),
            None => None,
        };
        let variant = match &operation.idempotent_variant {
            Some(spec) if with_variant => Some(Box::new(Variant::compile(
                &definition,
                &operation,
                spec,
                options,
            )?)),
            _ => None,
        };
        if let Some(spec) = &operation.reconcile {
            // Checked now, so that a failed request never finds the listing missing.
            check_listing(&definition, &operation, spec)?;
        }
        let mut input_schema = input_schema::parameters(&operation);
        if let Some(variant) = &variant {
            variant.describe_in(&mut input_schema);
        }
        let success_body = operation.success_body_schema();
        let secret_fields = success_body.map(SecretPath::find_all).unwrap_or_default();
        let request_secret_fields = operation
            .body
            .as_ref()
            .map(|body| SecretPath::find_all(&body.schema))
            .unwrap_or_default();
        let output_schema = output_schema::schema(success_body);
        let no_credentials = headers::no_credentials_warning(&operation);
        Ok(Endpoint {
            definition,
            operation,
            body,
            input_schema,
            output_schema,
            secret_fields,
            request_secret_fields,
            options: options.clone(),
            destinations,
            known_urls: url::KnownUrls::default(),
            kept: kept::Templates::sharing(Arc::clone(&options.templates_held)),
            no_credentials,
            param_validators,
            variant,
        })
    }
}

/// `x-reconcile` names a `GET` that takes the query parameters it uses.
fn check_listing(
    definition: &Definition,
    original: &Operation,
    spec: &ReconcileSpec,
) -> Result<(), DefinitionError> {
    let unusable = |why: String| {
        DefinitionError::new(
            DefinitionErrorKind::Unsupported,
            format!("{}: x-reconcile: {why}", original.label()),
        )
    };
    let listing = definition
        .operation(Some(&Selector::OperationId(spec.operation_id.clone())))
        .map_err(|error| unusable(error.to_string()))?;
    if listing.method() != "GET" {
        return Err(unusable(format!(
            "{} is a {}, not a GET: reconciling must only read",
            listing.label(),
            listing.method()
        )));
    }
    let takes = |name: &str| listing.query_params.iter().any(|q| q.name == name);
    for name in std::iter::once(&spec.filter_parameter)
        .chain(&spec.sort_parameter)
        .chain(&spec.limit_parameter)
    {
        if !takes(name) {
            return Err(unusable(format!(
                "{} has no query parameter {name:?}",
                listing.label()
            )));
        }
    }
    Ok(())
}

impl Variant {
    fn compile(
        definition: &Definition,
        original: &Operation,
        spec: &IdempotentVariant,
        options: &Options,
    ) -> Result<Variant, DefinitionError> {
        let unusable = |why: String| {
            DefinitionError::new(
                DefinitionErrorKind::Unsupported,
                format!("{}: x-idempotent-variant: {why}", original.label()),
            )
        };
        let select = |id: &str| Selector::OperationId(id.to_owned());
        let mut operation = definition
            .operation(Some(&select(&spec.operation_id)))
            .map_err(|error| unusable(error.to_string()))?;
        if !operation.rename_path_parameter(&spec.path_parameter, &spec.parameter) {
            return Err(unusable(format!(
                "{} has no path parameter {:?}",
                operation.label(),
                spec.path_parameter
            )));
        }
        let endpoint = Endpoint::compile(definition.clone(), operation, options, false)?;
        let read = match &spec.read {
            Some(id) => {
                let operation = definition
                    .operation(Some(&select(id)))
                    .map_err(|error| unusable(error.to_string()))?;
                if operation.method() != "GET" || operation.path_params.len() != 1 {
                    return Err(unusable(format!(
                        "its read, {}, must be a GET that takes exactly one path parameter, the resource's id",
                        operation.label()
                    )));
                }
                Some(Endpoint::compile(
                    definition.clone(),
                    operation,
                    options,
                    false,
                )?)
            }
            None => None,
        };
        let parameter = &spec.parameter;
        let as_variant = ChosenOperation::of(
            &endpoint.operation,
            format!(
                "`{parameter}` is given, so the step is sent as {}: it creates at that id or answers with what is already there, so it is retried after a timeout or a lost answer without making a second one",
                endpoint.operation.label()
            ),
        );
        let as_original = ChosenOperation::of(
            original,
            format!(
                "no `{parameter}`: the step is sent as {}, once; if its answer is lost it is not repeated (a repeat could make a second one) and the error says how to look for what it made. Give `{parameter}` to make it safe to retry",
                original.label()
            ),
        );
        let mut variant = Variant {
            parameter: spec.parameter.clone(),
            endpoint,
            read,
            as_variant,
            as_original,
        };
        if let Some(description) = &spec.description
            && let Some(Value::Object(schema)) = variant
                .endpoint
                .input_schema
                .pointer_mut(&push_token("/properties", &spec.parameter))
        {
            schema.insert("description".into(), Value::String(description.clone()));
        }
        Ok(variant)
    }

    /// Offers the variant's parameter in the original's input schema, as an optional one.
    fn describe_in(&self, input_schema: &mut Value) {
        let pointer = push_token("/properties", &self.parameter);
        let Some(schema) = self.endpoint.input_schema.pointer(&pointer).cloned() else {
            return;
        };
        if let Some(Value::Object(properties)) = input_schema.get_mut("properties") {
            properties.insert(self.parameter.clone(), schema);
        }
    }
}

/// One operation of an endpoint definition, compiled: render, validate and build its requests.
///
/// Build it once and reuse it; it is `Send + Sync` and checking a step does no I/O.
///
/// ```
/// use apikey_task::{Endpoint, Step};
///
/// let endpoint = Endpoint::builder().build()?; // the embedded POST /api-keys
/// let step = Step::from_json(r#"{
///   "parameters": { "organizationId": "org-1",
///                   "body": { "description": "Key for ${workflow.input.name}" } },
///   "context": { "workflow": { "input": { "name": "Ada" } } }
/// }"#)?;
/// let report = endpoint.test_request(step, None);
/// assert!(report.valid);
/// assert_eq!(report.request.url, "https://api-sandbox.rebilly.com/organizations/org-1/api-keys");
/// assert_eq!(report.request.body.unwrap()["description"], "Key for Ada");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Endpoint {
    definition: Definition,
    operation: Operation,
    body: Option<BodyValidator>,
    input_schema: Value,
    output_schema: Value,
    /// JSON Pointers of the success body's `x-secret` fields, e.g. `/secretKey`.
    secret_fields: Vec<SecretPath>,
    /// The same for the request body, redacted in test-request reports.
    request_secret_fields: Vec<SecretPath>,
    /// The builder's options: the limits on rendering, and what [`Endpoint::sibling`] reuses.
    options: Options,
    destinations: Destinations,
    /// Step base URLs found usable, and the last URLs built, kept parsed.
    known_urls: url::KnownUrls,
    /// Templates of the parameters executed again and again.
    kept: kept::Templates,
    /// The warning for a step without credentials, written once.
    no_credentials: Option<String>,
    param_validators: ParamValidators,
    /// Where a step that gives the variant's parameter is sent instead.
    variant: Option<Box<Variant>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("operation", &self.operation.id)
            .field("method", &self.operation.method)
            .field("path", &self.operation.path)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Starts building an endpoint; with no options it is the embedded `POST /api-keys`.
    pub fn builder() -> EndpointBuilder {
        EndpointBuilder::default()
    }

    /// The selected operation.
    pub fn operation(&self) -> &Operation {
        &self.operation
    }

    /// The definition it was built from.
    pub fn definition(&self) -> &Definition {
        &self.definition
    }

    /// Another operation of the same definition, compiled with the same options (allowed
    /// servers, operationIds, limits): how the editor API offers every operation it documents.
    pub fn sibling(&self, operation_id: &str) -> Result<Endpoint, DefinitionError> {
        let selector = Selector::OperationId(operation_id.to_owned());
        let operation = self.definition.operation(Some(&selector))?;
        Endpoint::compile(self.definition.clone(), operation, &self.options, true)
    }

    /// The operationIds an ACL permission may name (besides `*`).
    pub fn operation_ids(&self) -> &OperationIds {
        &self.options.operation_ids
    }

    /// JSON Schema (2020-12) of a step's parameters, for editors: the body without read-only
    /// fields, and `${...}` expressions accepted wherever a value is.
    pub fn input_schema(&self) -> &Value {
        &self.input_schema
    }

    /// JSON Schema (2020-12) of the task output of a successful execution.
    pub fn output_schema(&self) -> &Value {
        &self.output_schema
    }

    /// The problems the API itself would answer 422 for: the body schema and the value rules,
    /// without the client-side strictness (read-only and unknown fields are ignored, as the
    /// API ignores them). Pointers are under `/body`. For the emulator.
    #[cfg(feature = "emulator")]
    pub(crate) fn server_side_problems(&self, body: &Value) -> Vec<Problem> {
        let mut findings = Findings::default();
        if let Some(validator) = &self.body {
            validator.check(body, false, &mut findings);
        }
        findings.errors
    }

    pub(crate) fn secret_fields(&self) -> &[SecretPath] {
        &self.secret_fields
    }

    /// The endpoint a step is sent to: this one, or its idempotent variant (`x-idempotent-variant`
    /// in the definition) when the step gives the variant's parameter, e.g. `PUT
    /// /api-keys/{keyId}` for a `POST /api-keys` step with `keyId`.
    pub fn route(&self, parameters: &Map<String, Value>) -> &Endpoint {
        match &self.variant {
            Some(variant) if parameters.contains_key(&variant.parameter) => &variant.endpoint,
            _ => self,
        }
    }

    /// Whether a step with these parameters is sent as this operation, not as its variant (a
    /// create at an id the step chose, two requests with their own checks).
    pub(crate) fn sends_as_itself(&self, parameters: &Map<String, Value>) -> bool {
        std::ptr::eq(self.route(parameters), self)
    }

    /// The operationId of the listing that reconciles this operation's unknown outcomes
    /// (`x-reconcile`), checked at build to be a `GET`.
    pub fn reconcile_listing(&self) -> Option<&str> {
        self.operation
            .reconcile
            .as_ref()
            .map(|spec| spec.operation_id.as_str())
    }

    /// The parameter that sends a step as the retry-safe variant (`keyId` for the embedded
    /// `POST /api-keys`), when the definition gives the operation one.
    pub fn idempotent_parameter(&self) -> Option<&str> {
        self.variant
            .as_deref()
            .map(|variant| variant.parameter.as_str())
    }

    /// The operation that reads back what `routed` (this endpoint's variant) made, for a
    /// secret its answer lacked.
    pub(crate) fn reader_for(&self, routed: &Endpoint) -> Option<&Endpoint> {
        let variant = self.variant.as_deref()?;
        std::ptr::eq(&variant.endpoint, routed)
            .then_some(variant.read.as_ref())
            .flatten()
    }

    /// Which operation `routed` is and why, when this endpoint offers a choice.
    fn choice(&self, routed: &Endpoint) -> Option<ChosenOperation> {
        let variant = self.variant.as_deref()?;
        Some(if std::ptr::eq(&variant.endpoint, routed) {
            variant.as_variant.clone()
        } else {
            variant.as_original.clone()
        })
    }

    /// Renders and validates a step for sending. The request's headers hold no credential:
    /// the executor adds it at send time, from `credentials` (moved in, not copied).
    pub(crate) fn prepare(
        &self,
        parameters: Map<String, Value>,
        state: &Map<String, Value>,
        credentials: Option<Credentials>,
    ) -> Result<Prepared<'_>, Vec<Problem>> {
        let checked = self.check(parameters, state, credentials.as_ref(), true);
        if !checked.findings.errors.is_empty() {
            return Err(checked.findings.errors);
        }
        Ok(Prepared {
            request: Cow::Owned(checked.request),
            credential: self.credential(credentials),
            url: checked.url.map(Cow::Owned),
            body_json: None,
            wire: None,
        })
    }

    /// The credential header to send and its value, for credentials this operation accepts.
    fn credential(&self, credentials: Option<Credentials>) -> Option<(&str, Secret)> {
        credentials.and_then(|credentials| {
            let scheme = headers::credential_scheme(&self.operation, &credentials)?;
            let header = scheme.header();
            let value = match credentials {
                Credentials::ApiKey(secret) => secret,
                Credentials::Bearer(token) => Secret::new(format!("Bearer {}", token.expose())),
            };
            Some((header, value))
        })
    }

    /// The step's parameters as a template for executing them many times against different
    /// workflow state ([`Executor::execute_template`](crate::Executor::execute_template)):
    /// after the first execution that passes the whole check, only the strings holding an
    /// expression are rendered and checked, where they can be checked on their own (see
    /// [`StepTemplate::checks_in_parts`]). What is sent and reported is what
    /// [`Executor::execute_in`](crate::Executor::execute_in) sends and reports.
    pub fn template(&self, parameters: Map<String, Value>) -> StepTemplate<'_> {
        StepTemplate::new(self, parameters)
    }

    /// How many templates of parameters executed again and again this endpoint keeps now
    /// (see [`EndpointBuilder::keep_templates`]), for a runner's metrics.
    pub fn templates_kept(&self) -> usize {
        self.kept.len()
    }

    /// How to execute these parameters: from the template this endpoint keeps of them, or
    /// as a step, telling [`Endpoint::passed`] the key it gives when the execution succeeds.
    pub(crate) fn kept_template(&self, parameters: &Map<String, Value>) -> kept::Lookup<'_> {
        if !self.options.keep_templates {
            return kept::Lookup::Step(None);
        }
        self.kept.get(self, parameters)
    }

    /// An execution of the parameters with this key (from [`Endpoint::kept_template`])
    /// succeeded: the next one gets a template.
    pub(crate) fn passed(&self, key: u64) {
        self.kept.passed(key);
    }

    /// The test request (dry run): renders and validates the step and shows the request that
    /// would be sent. No network; credentials only say whether they are configured.
    ///
    /// The step is taken by value: rendering happens in place, so the parameters become the
    /// request body without a copy.
    pub fn test_request(&self, step: Step, credentials: Option<&Credentials>) -> TestReport {
        self.test_request_in(step.parameters, &step.context, credentials)
    }

    /// [`Endpoint::test_request`] with the workflow state borrowed, as a runner holds it.
    pub fn test_request_in(
        &self,
        parameters: Map<String, Value>,
        state: &Map<String, Value>,
        credentials: Option<&Credentials>,
    ) -> TestReport {
        self.test_request_parts(parameters, state, credentials).0
    }

    /// [`Endpoint::test_request`], and the report appended to `out` as compact JSON: the bytes
    /// [`TestReport::write_json`] appends, with the body's JSON written once, into the curl
    /// line, and copied from there for the request instead of written again. What the editor
    /// API and `test-request --jsonl` answer with.
    pub fn test_request_json(
        &self,
        step: Step,
        credentials: Option<&Credentials>,
        out: &mut Vec<u8>,
    ) -> TestReport {
        let (report, body_at) = self.test_request_for_json(step, credentials);
        report.write_json_with(out, body_at);
        report
    }

    /// The report, and where its curl line holds the body's JSON (for
    /// [`TestReport::write_json_with`]), with the step's context already freed: the answer
    /// is written next, and the peak is then the smaller.
    pub(crate) fn test_request_for_json(
        &self,
        step: Step,
        credentials: Option<&Credentials>,
    ) -> (TestReport, Option<Range<usize>>) {
        let Step {
            parameters,
            context,
        } = step;
        let parts = self.test_request_parts(parameters, &context, credentials);
        drop(context);
        parts
    }

    /// The report, and where its curl line holds the body's JSON.
    fn test_request_parts(
        &self,
        parameters: Map<String, Value>,
        state: &Map<String, Value>,
        credentials: Option<&Credentials>,
    ) -> (TestReport, Option<Range<usize>>) {
        let routed = self.route(&parameters);
        let (mut report, body_at) = routed.report(parameters, state, credentials);
        report.operation = self.choice(routed);
        (report, body_at)
    }

    fn report(
        &self,
        parameters: Map<String, Value>,
        state: &Map<String, Value>,
        credentials: Option<&Credentials>,
    ) -> (TestReport, Option<Range<usize>>) {
        let mut checked = self.check(parameters, state, credentials, false);
        // A secret pasted into the parameters (a `secretKey`, which is an error anyway) is not
        // echoed: the report and its curl line say `<redacted>`.
        if let Some(body) = &mut checked.request.body {
            SecretPath::redact_all(&self.request_secret_fields, body);
        }
        if let Some(scheme) =
            credentials.and_then(|c| headers::credential_scheme(&self.operation, c))
        {
            checked.request.show_credential(scheme);
        }
        let (curl, body_at) = checked.request.curl_and_body(checked.credential_hint);
        let report = TestReport {
            valid: checked.findings.errors.is_empty(),
            errors: checked.findings.errors,
            warnings: checked.findings.warnings,
            defaults: checked.findings.defaults,
            request: checked.request,
            curl,
            operation: None,
        };
        (report, body_at)
    }

    /// Renders and checks a step. `to_send` asks for the URL parsed, as sending needs it; a
    /// test request to one of the definition's own servers is spared that parse.
    fn check(
        &self,
        mut parameters: Map<String, Value>,
        state: &Map<String, Value>,
        credentials: Option<&Credentials>,
        to_send: bool,
    ) -> Checked<'_> {
        // A base URL as written, before expressions fill it: its authority must be literal.
        // Without an expression it stays as written, and is read after rendering.
        let server_template = match parameters.get("server") {
            Some(Value::String(server)) if server.contains("${") => Some(server.clone()),
            _ => None,
        };
        let rendered = render::render(&mut parameters, state, &self.options.limits);
        let params = &parameters;
        let mut findings = Findings::default();
        findings.keeps_defaults = !to_send;
        self.check_parameter_names(params, &mut findings);
        let url = url::url(&self.operation, &self.known_urls, params, &mut findings);
        self.param_validators.check(params, &mut findings);
        let mut parsed_url = None;
        // Every request's destination, and for a step's own base URL that no expression chose
        // its authority. A test request to a definition server whose origin is written out
        // can only go there: it is spared the parse, which sending needs anyway.
        let fixed = url
            .named_server
            .is_some_and(|index| self.destinations.fixed(index));
        if (to_send || !fixed) && !findings.errors.iter().any(|e| e.path == "/server") {
            let own_base = match params.get("server") {
                Some(Value::String(server)) if server.contains("://") => {
                    Some(server_template.as_deref().unwrap_or(server))
                }
                _ => None,
            };
            // A named server's URL, or one with variables, is parsed here: from last time when
            // the same text was checked before (the destination is checked on it all the same).
            let last_time = match url.parsed {
                Some(_) => None,
                None => self.known_urls.whole(&url.text),
            };
            let new = url.parsed.is_none() && last_time.is_none();
            parsed_url = self.destinations.check(
                own_base,
                &url.text,
                url.parsed.or(last_time),
                &mut findings,
            );
            if new && let Some(parsed) = &parsed_url {
                self.known_urls.remember_whole(&url.text, parsed);
            }
        }
        let headers = headers::headers(
            &self.operation,
            params,
            credentials,
            self.no_credentials.as_deref(),
            &mut findings,
        );
        let sends_body = self.check_body(params, &mut findings);
        // A string whose expression failed is still its raw text; what later checks say about
        // that text is noise next to the rendering error itself.
        findings.errors.retain(|error| {
            !rendered
                .problems
                .iter()
                .any(|failed| is_within(&error.path, &failed.path))
        });
        // A member whose name is too long is reported once, at its object: what later checks
        // say at or below it would spell the name again.
        if !rendered.long_names.is_empty() {
            findings
                .errors
                .retain(|error| !has_name_longer_than(&error.path, render::MAX_NAME_BYTES));
            findings
                .warnings
                .retain(|warning| !has_name_longer_than(&warning.path, render::MAX_NAME_BYTES));
        }
        findings.unlisted_errors(rendered.unlisted);
        findings.errors.splice(0..0, rendered.problems);
        findings.errors.splice(0..0, rendered.long_names);

        relocate(&mut findings.errors, &rendered.substitutions);
        relocate(&mut findings.warnings, &rendered.substitutions);
        findings.finish();
        // The curl line names the environment variable of the configured credentials, or of
        // the operation's first scheme when none are configured.
        let scheme = match credentials {
            Some(credentials) => headers::credential_scheme(&self.operation, credentials),
            None => self.operation.security.first(),
        };
        let credential_hint = scheme.map(|scheme| (scheme.header(), env_var(scheme)));
        Checked {
            findings,
            url: parsed_url,
            request: HttpRequest {
                method: self.operation.method.clone(),
                url: url.text,
                headers,
                // Moved, not cloned: the rendered parameters are ours.
                body: if sends_body {
                    parameters.remove("body")
                } else {
                    None
                },
            },
            credential_hint,
        }
    }

    /// Top-level parameters are `server`, `headers`, `body` and the operation's variables.
    fn check_parameter_names(&self, params: &Map<String, Value>, findings: &mut Findings) {
        let known = || {
            ["server", "headers", "body"]
                .into_iter()
                .chain(self.operation.variables.iter().map(String::as_str))
                .chain(self.operation.path_params.iter().map(String::as_str))
                .chain(self.operation.query_params.iter().map(|q| q.name.as_str()))
                .chain(self.variant.iter().map(|v| v.parameter.as_str()))
        };
        for name in params.keys() {
            if !known().any(|k| k == name) {
                findings.error(
                    push_token("", name),
                    format!(
                        "unknown parameter {name:?}{} (known: {})",
                        suggest::did_you_mean(name, known()),
                        known().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
    }

    /// Validates the body; says whether the request carries one.
    fn check_body(&self, params: &Map<String, Value>, findings: &mut Findings) -> bool {
        let given = params.get("body");
        match (&self.body, &self.operation.body, given) {
            (Some(validator), _, Some(body)) => {
                validator.check(body, true, findings);
                true
            }
            (_, Some(spec), None) if spec.required => {
                findings.error("", "missing required parameter \"body\"");
                false
            }
            (None, None, Some(body)) => {
                findings.error(
                    "/body",
                    format!(
                        "{} {} takes no request body, but the step gives {}",
                        self.operation.method,
                        self.operation.path,
                        json_kind(body)
                    ),
                );
                false
            }
            _ => false,
        }
    }
}

/// A valid request, ready to send, and the credential header to send it with.
#[derive(Debug)]
pub(crate) struct Prepared<'t> {
    /// Borrowed from a template's kept request when the template prepared it in parts (its
    /// method, URL and headers are the same for every run), else the request just checked.
    pub request: Cow<'t, HttpRequest>,
    /// The credential header's name (the definition's) and value.
    pub credential: Option<(&'t str, Secret)>,
    /// `request.url`, parsed once by the destination check.
    pub url: Option<Cow<'t, ::url::Url>>,
    /// The body as JSON, when it was written as it was rendered (a template checked in parts
    /// splices its rendered strings into the JSON it wrote once); `request.body` is then
    /// `None`, and [`Prepared::body`] reads it back for the rare path that needs a value.
    pub body_json: Option<bytes::Bytes>,
    /// Where the executor keeps its wire form of `request`, when `request` is a template's
    /// kept one (the same for every run).
    pub wire: Option<&'t template::WireSlot>,
}

impl Prepared<'_> {
    /// The body as a value, whichever way it was prepared.
    pub fn body(&self) -> Option<Cow<'_, Value>> {
        match (&self.request.body, &self.body_json) {
            (Some(body), _) => Some(Cow::Borrowed(body)),
            // Written by us from a value: it reads back.
            (None, Some(json)) => serde_json::from_slice(json).ok().map(Cow::Owned),
            (None, None) => None,
        }
    }

    /// The method and URL, moved out when the request is its own (for the output's summary).
    pub fn into_method_and_url(self) -> (String, String) {
        match self.request {
            Cow::Owned(HttpRequest { method, url, .. }) => (method, url),
            Cow::Borrowed(request) => (request.method.clone(), request.url.clone()),
        }
    }
}

struct Checked<'e> {
    findings: Findings,
    request: HttpRequest,
    /// The request's URL as the destination check parsed it.
    url: Option<::url::Url>,
    /// The credential header and the environment variable a curl line reads it from.
    credential_hint: Option<(&'e str, &'static str)>,
}

fn env_var(scheme: &AuthScheme) -> &'static str {
    match scheme {
        AuthScheme::Bearer => JWT_ENV,
        AuthScheme::ApiKeyHeader { .. } => API_KEY_ENV,
    }
}

/// A problem found inside a value that came whole from an expression is moved to the
/// parameter that holds the expression: deeper pointers do not exist in the step as written.
fn relocate(problems: &mut [Problem], substitutions: &Substitutions) {
    for problem in problems.iter_mut() {
        let Some(site) = substitutions
            .iter()
            .find(|s| is_within(&problem.path, s.pointer))
        else {
            continue;
        };
        let inner = &problem.path[site.pointer.len()..];
        let at = if inner.is_empty() {
            String::new()
        } else {
            format!(" at {inner}")
        };
        problem.message = format!(
            "in the value of ${{{}}}{at}: {}",
            site.expression, problem.message
        );
        problem.path = site.pointer.to_owned();
    }
}
