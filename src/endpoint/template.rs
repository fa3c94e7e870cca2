//! A step's parameters checked once and executed many times against different workflow
//! state, as a runner executes the same step of a workflow in run after run.
//!
//! Only the strings holding `$` can change from one state to the next. When they all sit in
//! the body, at places whose schema can be checked on its own (see
//! [`BodyValidator::site`](super::validate::BodyValidator::site)), a template remembers the
//! first request that passed the whole check (its URL, headers and method, none of which an
//! expression reached) and from then on renders and checks only those strings, writing each
//! one's JSON into the body's JSON written once around them. Anything else, and any problem,
//! takes the whole check, so what is sent and what is reported are exactly what [`Endpoint`]
//! gives for the same parameters.

use super::render;
use super::validate::{SiteCheck, SiteStep};
use super::{Endpoint, HttpRequest, Prepared};
use crate::credentials::Credentials;
use crate::problem::Problem;
use crate::util::json;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The most strings with `$` a template checks in parts; one with more is checked whole.
/// Each site's schema is compiled when the first template to need it is made, once for the
/// endpoint.
const MAX_SITES: usize = 1_000;

/// The most bytes the sites' paths of a template may hold (each site keeps its own): deep
/// sites under long member names are checked whole.
const MAX_PATH_BYTES: usize = 256 << 10;

/// The deepest body checked in parts, in nested arrays and objects: a prepared body is read
/// back from its JSON for the reconcile data of a failure, and serde_json reads fewer than
/// 128 levels.
const MAX_READ_BACK_DEPTH: usize = 127;

/// A step's parameters, checked once for executing many times: see
/// [`Endpoint::template`] and [`Executor::execute_template`](crate::Executor::execute_template).
pub struct StepTemplate<'e> {
    endpoint: Held<'e>,
    compiled: Arc<Compiled>,
}

/// What a template keeps of its parameters, apart from the endpoint, so that the endpoint
/// itself can keep it ([`Endpoint`]'s kept templates) without holding itself.
pub(super) struct Compiled {
    parameters: Map<String, Value>,
    /// How the body is rendered and checked each time, when the template can be checked in
    /// parts; `None` sends every execution through the whole check.
    parts: Option<Parts>,
    /// What the first execution that passed the whole check sent, but its body.
    sent: OnceLock<Sent>,
}

impl Compiled {
    pub(super) fn parameters(&self) -> &Map<String, Value> {
        &self.parameters
    }

    pub(super) fn checks_in_parts(&self) -> bool {
        self.parts.is_some()
    }

    /// About how many bytes of memory it holds beside its parameters.
    pub(super) fn held_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.parts.as_ref().map_or(0, |parts| parts.held)
    }
}

/// A body checked in parts: its JSON written once, with a gap for each string holding `$`,
/// whose JSON is written into it each time. Nothing else in the body can change.
struct Parts {
    /// The body's JSON without its sites, as [`json::write_value`] writes it.
    frame: Vec<u8>,
    /// In document order, the order of their gaps in `frame`.
    sites: Vec<Site>,
    /// What the frame, the sites and their paths hold in memory, about.
    held: usize,
}

struct Site {
    /// The string as the step gives it.
    text: String,
    /// Where in `frame` its JSON goes.
    at: usize,
    /// How many arrays and objects hold it.
    depth: usize,
    /// Shared by the sites at the same path (the items of one array): compiled once.
    check: Arc<SiteCheck>,
}

/// The endpoint, borrowed or shared: a runner that keeps templates between executions holds
/// them with the endpoint they need.
enum Held<'e> {
    Borrowed(&'e Endpoint),
    Shared(Arc<Endpoint>),
}

impl std::ops::Deref for Held<'_> {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        match self {
            Held::Borrowed(endpoint) => endpoint,
            Held::Shared(endpoint) => endpoint,
        }
    }
}

/// The parts of a request that no expression reaches.
struct Sent {
    /// Method, URL and headers (no body): the same for every run checked in parts.
    request: HttpRequest,
    parsed: Option<::url::Url>,
    /// What the executor derives from `request` for the wire, made once.
    wire: WireSlot,
}

/// A slot where the executor keeps what it derives once from a template's kept request (its
/// headers in the HTTP stack's form). Opaque here, so that this module needs no HTTP types.
pub(crate) type WireSlot = OnceLock<Box<dyn std::any::Any + Send + Sync>>;

impl std::fmt::Debug for StepTemplate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepTemplate")
            .field("endpoint", &*self.endpoint)
            .field("compiled", &self.compiled)
            .finish()
    }
}

/// Not the parameters: they may hold what a log should not.
impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("sites", &self.parts.as_ref().map(|parts| parts.sites.len()))
            .field("checked_once", &self.sent.get().is_some())
            .finish_non_exhaustive()
    }
}

impl StepTemplate<'static> {
    /// [`Endpoint::template`] holding the endpoint by an `Arc`, for a template kept as long as
    /// the runner likes, apart from the endpoint's owner.
    pub fn shared(endpoint: Arc<Endpoint>, parameters: Map<String, Value>) -> Self {
        StepTemplate::holding(Held::Shared(endpoint), parameters)
    }
}

impl<'e> StepTemplate<'e> {
    pub(super) fn new(endpoint: &'e Endpoint, parameters: Map<String, Value>) -> Self {
        StepTemplate::holding(Held::Borrowed(endpoint), parameters)
    }

    fn holding(endpoint: Held<'e>, parameters: Map<String, Value>) -> Self {
        let parts = parts(&endpoint, &parameters);
        StepTemplate {
            endpoint,
            compiled: Arc::new(Compiled {
                parameters,
                parts,
                sent: OnceLock::new(),
            }),
        }
    }

    /// A template the endpoint kept, for executing with it.
    pub(super) fn kept(endpoint: &'e Endpoint, compiled: Arc<Compiled>) -> Self {
        StepTemplate {
            endpoint: Held::Borrowed(endpoint),
            compiled,
        }
    }

    /// What it keeps apart from the endpoint.
    pub(super) fn compiled(&self) -> &Arc<Compiled> {
        &self.compiled
    }

    /// The endpoint it was made for.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The parameters it was made from.
    pub fn parameters(&self) -> &Map<String, Value> {
        &self.compiled.parameters
    }

    /// Whether executions check only the strings holding `$`, once one has passed the whole
    /// check. `false` when such a string sits outside the body; below a schema with a keyword
    /// other than `type`, `properties`, `required`, `additionalProperties`, `items`, the
    /// counts of members and items and annotations (an `enum`, `oneOf` or `uniqueItems`
    /// judges values together); at a place whose schema holds a `$` keyword such as `$ref`
    /// (cut out of the body schema, it would mean something else); when the step is sent as
    /// another operation (a create at a chosen id); and for a step without a body, with a
    /// member name too long to render, with more than 1,000 such strings or more than 256 KiB
    /// in their paths, or with a body nested deeper than 127 levels. An execution whose
    /// values would nest the body deeper than that is checked whole too.
    pub fn checks_in_parts(&self) -> bool {
        self.compiled.checks_in_parts()
    }

    /// Renders and checks the template against `state` for sending: in parts when it can,
    /// else (and on any problem) as [`Endpoint::prepare`] does. Not for a template sent as
    /// another operation (`checks_in_parts` is false): the executor gives it to `execute_in`.
    pub(crate) fn prepare(
        &self,
        state: &Map<String, Value>,
        credentials: Option<Credentials>,
    ) -> Result<Prepared<'_>, Vec<Problem>> {
        let credentials = match self.prepare_in_parts(state, credentials) {
            Ok(prepared) => return Ok(prepared),
            Err(credentials) => credentials,
        };
        let compiled = &*self.compiled;
        let prepared = self
            .endpoint
            .prepare(compiled.parameters.clone(), state, credentials)?;
        // Kept once, from whichever first execution passes.
        if compiled.parts.is_some()
            && compiled.sent.get().is_none()
            && prepared.request.body.is_some()
        {
            let request = &prepared.request;
            let _ = compiled.sent.set(Sent {
                request: HttpRequest {
                    method: request.method.clone(),
                    url: request.url.clone(),
                    headers: request.headers.clone(),
                    body: None,
                },
                parsed: prepared.url.as_deref().cloned(),
                wire: OnceLock::new(),
            });
        }
        Ok(prepared)
    }

    /// The request checked in parts, or the credentials back when it cannot be: before a
    /// first execution has passed the whole check, for credentials the operation does not
    /// accept (the only way they change the check), or when a string renders with a problem
    /// or fails a check at its place.
    fn prepare_in_parts(
        &self,
        state: &Map<String, Value>,
        credentials: Option<Credentials>,
    ) -> Result<Prepared<'_>, Option<Credentials>> {
        let endpoint = &*self.endpoint;
        let (Some(parts), Some(sent)) = (&self.compiled.parts, self.compiled.sent.get()) else {
            return Err(credentials);
        };
        let accepted = credentials.as_ref().is_none_or(|credentials| {
            super::headers::credential_scheme(&endpoint.operation, credentials).is_some()
        });
        if !accepted {
            return Err(credentials);
        }
        let Some(body) = self.body_in_parts(parts, state) else {
            return Err(credentials);
        };
        Ok(Prepared {
            request: Cow::Borrowed(&sent.request),
            credential: endpoint.credential(credentials),
            url: sent.parsed.as_ref().map(Cow::Borrowed),
            wire: Some(&sent.wire),
            body_json: Some(body.into()),
        })
    }

    /// The body's JSON rendered against `state`, if each string rendered without a problem
    /// and passes the checks at its place: the frame with each site's JSON in its gap.
    fn body_in_parts(&self, parts: &Parts, state: &Map<String, Value>) -> Option<Vec<u8>> {
        let endpoint = &*self.endpoint;
        let validator = endpoint.body.as_ref()?;
        let mut body = Vec::with_capacity(parts.frame.len() + 32 * parts.sites.len());
        let mut renderer = render::SiteRenderer::new(state, &endpoint.options.limits);
        let mut written = 0;
        for site in &parts.sites {
            let mut value = Value::String(site.text.clone());
            if !renderer.render(&mut value)
                || deeper_than(&value, MAX_READ_BACK_DEPTH.saturating_sub(site.depth))
                || !validator.check_site(&site.check, &value)
            {
                return None;
            }
            body.extend_from_slice(parts.frame.get(written..site.at)?);
            json::write_value(&mut body, &value);
            written = site.at;
        }
        body.extend_from_slice(parts.frame.get(written..)?);
        Some(body)
    }
}

/// The body's frame and the strings holding `$` with how to check each at its place, or
/// `None` when the template cannot be checked in parts.
fn parts(endpoint: &Endpoint, parameters: &Map<String, Value>) -> Option<Parts> {
    if !endpoint.sends_as_itself(parameters) {
        return None;
    }
    let validator = endpoint.body.as_ref()?;
    // No expression outside the body: the URL, headers and destination stay as checked.
    for (name, value) in parameters {
        if name != "body" && holds_dollar(value) {
            return None;
        }
    }
    let body = parameters.get("body")?;
    let mut collected = Collected::default();
    collect(body, 0, &mut collected)?;
    let Collected { frame, found, .. } = collected;
    let mut checks: HashMap<Vec<SiteStep>, Arc<SiteCheck>> = HashMap::new();
    let sites = found
        .into_iter()
        .map(|found| {
            let depth = found.path.len();
            let check = match checks.get(&found.path) {
                Some(check) => Arc::clone(check),
                None => {
                    let check = Arc::new(validator.site(&found.path)?);
                    checks.insert(found.path, Arc::clone(&check));
                    check
                }
            };
            Some(Site {
                text: found.text.to_owned(),
                at: found.at,
                depth,
                check,
            })
        })
        .collect::<Option<Vec<Site>>>()?;
    let held = frame.capacity()
        + sites
            .iter()
            .map(|site| std::mem::size_of::<Site>() + site.text.len())
            .sum::<usize>()
        + checks
            .keys()
            .map(|path| {
                std::mem::size_of::<SiteCheck>()
                    + path
                        .iter()
                        .map(|step| match step {
                            SiteStep::Key(name) => std::mem::size_of::<SiteStep>() + name.len(),
                            SiteStep::Index => std::mem::size_of::<SiteStep>(),
                        })
                        .sum::<usize>()
            })
            .sum::<usize>();
    Some(Parts { frame, sites, held })
}

fn holds_dollar(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('$'),
        Value::Array(items) => items.iter().any(holds_dollar),
        Value::Object(fields) => fields
            .iter()
            .any(|(name, value)| name.contains('$') || holds_dollar(value)),
        _ => false,
    }
}

/// Whether `value` nests more than `levels` arrays and objects. Only a whole value put in
/// place of a string nests at all, so the walk is over what the step substituted.
fn deeper_than(value: &Value, levels: usize) -> bool {
    match value {
        Value::Array(items) => {
            levels == 0 || items.iter().any(|item| deeper_than(item, levels - 1))
        }
        Value::Object(fields) => {
            levels == 0 || fields.values().any(|item| deeper_than(item, levels - 1))
        }
        _ => false,
    }
}

/// A string holding `$`, where it is in the body and where its gap is in the frame.
struct Found<'v> {
    text: &'v str,
    path: Vec<SiteStep>,
    at: usize,
}

/// The body written around its sites, and the sites found, as [`collect`] goes.
#[derive(Default)]
struct Collected<'v> {
    frame: Vec<u8>,
    found: Vec<Found<'v>>,
    /// Where the walk is.
    path: Vec<SiteStep>,
    /// What the sites' paths hold, in bytes: each site keeps its own copy.
    path_bytes: usize,
}

/// Writes `value` into the frame as [`json::write_value`] would, but for the strings holding
/// `$`: each is left out and found, in document order (the order rendering meets them), with
/// its path and its gap. `here` is what the path to `value` holds. `None` for a member name
/// too long to render, for arrays and objects nested deeper than [`MAX_READ_BACK_DEPTH`],
/// once more than [`MAX_SITES`] are found, and once their paths hold more than
/// [`MAX_PATH_BYTES`].
fn collect<'v>(value: &'v Value, here: usize, out: &mut Collected<'v>) -> Option<()> {
    const STEP: usize = std::mem::size_of::<SiteStep>();
    match value {
        Value::String(text) if text.contains('$') => {
            out.path_bytes += here;
            if out.found.len() == MAX_SITES || out.path_bytes > MAX_PATH_BYTES {
                return None;
            }
            out.found.push(Found {
                text,
                path: out.path.clone(),
                at: out.frame.len(),
            });
        }
        // A body nested deeper than serde_json reads back is checked whole.
        Value::Array(_) | Value::Object(_) if out.path.len() >= MAX_READ_BACK_DEPTH => {
            return None;
        }
        Value::Array(items) => {
            out.frame.push(b'[');
            out.path.push(SiteStep::Index);
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.frame.push(b',');
                }
                collect(item, here + STEP, out)?;
            }
            out.path.pop();
            out.frame.push(b']');
        }
        Value::Object(fields) => {
            out.frame.push(b'{');
            for (index, (name, item)) in fields.iter().enumerate() {
                if name.len() > render::MAX_NAME_BYTES {
                    return None;
                }
                if index > 0 {
                    out.frame.push(b',');
                }
                json::write_str(&mut out.frame, name);
                out.frame.push(b':');
                out.path.push(SiteStep::Key(name.clone()));
                collect(item, here + STEP + name.len(), out)?;
                out.path.pop();
            }
            out.frame.push(b'}');
        }
        other => json::write_value(&mut out.frame, other),
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;
    use crate::definition::{BodySpec, Version};
    use crate::endpoint::validate::{BodyValidator, OperationIds};
    use crate::util::json::object;
    use proptest::prelude::*;
    use serde_json::json;

    fn state(input: Map<String, Value>) -> Map<String, Value> {
        object(json!({ "workflow": { "input": input } }))
    }

    /// Steps whose strings with `$` all sit where they can be checked on their own.
    fn in_parts() -> Vec<Value> {
        vec![
            json!({ "organizationId": "org-1", "body": {
                "description": "Key ${workflow.input.a}",
                "acl": [{ "scope": { "planId": ["plan-1"] }, "permissions": ["GetCustomer"] }],
                "allowedIps": ["153.12.32.33"]
            }}),
            json!({ "organizationId": "org-1", "body": {
                "description": "${workflow.input.a}",
                "type": "${workflow.input.b}",
                "acl": [{
                    "scope": {
                        "planId": ["${workflow.input.c}", "p-${workflow.input.a}"],
                        "customFieldName": ["${workflow.input.c}"]
                    },
                    "permissions": ["${workflow.input.d}", "GetCustomer"]
                }],
                "allowedIps": ["${workflow.input.e}", "${workflow.input.a}"]
            }}),
            json!({ "organizationId": "org-1", "body": {
                "description": "$${literal} ${workflow.input.a} costs $5",
                "acl": "${workflow.input.b}",
                "allowedIps": "${workflow.input.c}"
            }}),
        ]
    }

    /// For each of [`in_parts`], input that passes the whole check.
    fn passing() -> Vec<Value> {
        vec![
            json!({ "a": "first" }),
            json!({ "a": "153.12.32.34", "b": "secret", "c": "plan_1", "d": "GetCustomer",
                    "e": "153.12.32.33" }),
            json!({ "a": "first", "b": [], "c": null }),
        ]
    }

    /// Input for each variable of [`in_parts`]'s steps: mostly what passes at its place, so
    /// that one wrong value among right ones is common; else anything, including values only
    /// the plugin's own rules refuse (a private address, an unknown permission).
    fn input(step: usize) -> impl Strategy<Value = Vec<Option<Value>>> {
        let right: Vec<Vec<Value>> = match step {
            0 => vec![vec![json!("x"), json!("first"), json!(7), json!(true)]],
            1 => vec![
                vec![json!("153.12.32.34"), json!("201.54.122.0/24")],
                vec![json!("secret"), json!("publishable")],
                vec![json!("plan_1"), json!("p-2")],
                vec![json!("GetCustomer"), json!("*")],
                vec![json!("153.12.32.33"), json!("2001:db8:abcd:12::0/64")],
            ],
            _ => vec![
                vec![json!("first"), json!(7)],
                vec![json!([]), json!([{ "scope": {}, "permissions": ["*"] }])],
                vec![Value::Null, json!([]), json!(["153.12.32.33"])],
            ],
        };
        right
            .into_iter()
            .map(|right| {
                prop_oneof![
                    3 => proptest::sample::select(right).prop_map(Some),
                    1 => anything(),
                ]
            })
            .collect::<Vec<_>>()
    }

    fn anything() -> impl Strategy<Value = Option<Value>> {
        let pool = vec![
            json!("ok"),
            json!(""),
            json!("GetCustomer"),
            json!("*"),
            json!("NotAnOperation"),
            json!("secret"),
            json!("publishable"),
            json!("10.0.0.1"),
            json!("153.12.32.33"),
            json!("x".repeat(60)),
            json!("not a name!"),
            json!("${workflow.input.a}"),
            json!("line\nbreak \u{1}"),
            json!(7),
            json!(-2.5),
            json!(true),
            Value::Null,
            json!([]),
            json!(["GetCustomer"]),
            json!(["153.12.32.33", "10.0.0.0/8"]),
            json!([1, 2]),
            json!({}),
            json!([{ "scope": {}, "permissions": ["*"] }]),
            json!([{ "scope": { "planId": ["p"] }, "permissions": ["Nope"] }]),
            json!([{ "permissions": ["*"] }]),
        ];
        prop_oneof![
            1 => Just(None),
            8 => proptest::sample::select(pool).prop_map(Some),
        ]
    }

    fn credentials(api_key: bool) -> Option<Credentials> {
        api_key.then(|| Credentials::ApiKey(Secret::new("sk_test_template")))
    }

    /// What a prepared request is, or the problems found, in comparable form: the body as
    /// a value and as the bytes sent.
    fn outcome(prepared: Result<Prepared, Vec<Problem>>) -> Result<Value, Vec<Problem>> {
        prepared.map(|prepared| {
            let body = prepared.body().map(std::borrow::Cow::into_owned);
            let sent = match (&prepared.body_json, &body) {
                (Some(written), _) => Some(written.to_vec()),
                (None, Some(body)) => {
                    let mut written = Vec::new();
                    json::write_value(&mut written, body);
                    Some(written)
                }
                (None, None) => None,
            };
            let mut request = prepared.request.into_owned();
            request.body = body;
            json!({
                "request": serde_json::to_value(&request).unwrap_or_default(),
                "sent": sent.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
                "parsed": prepared.url.map(|url| url.to_string()),
                "credential": prepared.credential.map(|(name, secret)| (name, secret.expose().to_owned())),
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Checked in parts or whole, a template gives what the whole check gives: the same
        /// request, or the same problems.
        #[test]
        fn parts_give_what_the_whole_check_gives(
            (step, given) in (0..3usize).prop_flat_map(|step| (Just(step), input(step))),
            api_key in any::<bool>(),
        ) {
            let endpoint = crate::Endpoint::builder().build().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let parameters = object(in_parts()[step].clone());
            let template = endpoint.template(parameters.clone());
            prop_assert!(template.checks_in_parts());
            // A first execution that passes the whole check.
            let first = state(object(passing()[step].clone()));
            let passed = template.prepare(&first, credentials(api_key));
            prop_assert!(passed.is_ok(), "{:?}", passed.err());
            prop_assert!(template.compiled.sent.get().is_some());

            let mut input = Map::new();
            for (name, value) in ["a", "b", "c", "d", "e"].into_iter().zip(given) {
                if let Some(value) = value {
                    input.insert(name.to_owned(), value);
                }
            }
            let context = state(input);
            let whole = outcome(endpoint.prepare(parameters, &context, credentials(api_key)));
            // Checked in parts when it could be, and then valid as a whole too.
            if let Ok(prepared) = template.prepare_in_parts(&context, credentials(api_key)) {
                prop_assert!(whole.is_ok(), "passed in parts, not whole: {:?}", whole);
                prop_assert_eq!(outcome(Ok(prepared)), whole.clone());
            }
            let parts = outcome(template.prepare(&context, credentials(api_key)));
            prop_assert_eq!(parts, whole);
        }
    }

    /// Valid input after a first execution is checked in parts, with or without credentials.
    #[test]
    fn valid_input_is_checked_in_parts() {
        let endpoint = crate::Endpoint::builder().build().expect("endpoint");
        for (step, passing) in in_parts().into_iter().zip(passing()) {
            let template = endpoint.template(object(step));
            let context = state(object(passing));
            assert!(
                template.prepare_in_parts(&context, None).is_err(),
                "nothing passed yet"
            );
            assert!(template.prepare(&context, credentials(true)).is_ok());
            assert!(
                template
                    .prepare_in_parts(&context, credentials(true))
                    .is_ok()
            );
            assert!(template.prepare_in_parts(&context, None).is_ok());
        }
    }

    /// A runner shares one template between the tasks executing it.
    #[test]
    fn a_template_is_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<StepTemplate<'static>>();
    }

    /// An endpoint of a definition whose body takes anything in `data` and a map of strings
    /// in `meta`.
    fn free_form() -> crate::Endpoint {
        with_data(json!({}))
    }

    /// The same, with `data` under this schema.
    fn with_data(data: Value) -> crate::Endpoint {
        let definition = crate::Definition::from_value(
            json!({
                "openapi": "3.1.0",
                "servers": [{ "url": "https://api.example.com" }],
                "paths": { "/things": { "post": { "operationId": "PostThing",
                    "requestBody": { "required": true, "content": { "application/json": {
                        "schema": { "type": "object", "properties": {
                            "description": { "type": "string" },
                            "data": data,
                            "meta": { "type": "object",
                                      "additionalProperties": { "type": "string" } } } } } } },
                    "responses": { "201": { "description": "made" } } } } }
            }),
            "test",
        )
        .expect("definition");
        crate::Endpoint::builder()
            .definition(definition)
            .build()
            .expect("endpoint")
    }

    /// A prepared body is read back from its JSON for reconcile data, and serde_json reads
    /// fewer than 128 nested levels: a deeper body is checked whole and kept as a value.
    #[test]
    fn a_body_too_deep_to_read_back_is_checked_whole() {
        let endpoint = free_form();
        let template = endpoint.template(object(
            json!({ "body": { "description": "d", "data": "${workflow.input.deep}" } }),
        ));
        assert!(template.checks_in_parts());
        let nested = |levels: usize| {
            let mut value = json!("bottom");
            for _ in 0..levels {
                value = json!([value]);
            }
            state(object(json!({ "deep": value })))
        };
        assert!(template.prepare(&nested(0), None).is_ok());
        // `data` sits in the body's object: one level, so 126 more fit.
        let fits = template
            .prepare_in_parts(&nested(MAX_READ_BACK_DEPTH - 1), None)
            .expect("checked in parts");
        assert!(fits.body_json.is_some());
        assert_eq!(fits.body().expect("reads back")["description"], "d");
        assert!(
            template
                .prepare_in_parts(&nested(MAX_READ_BACK_DEPTH), None)
                .is_err()
        );
        let whole = template
            .prepare(&nested(MAX_READ_BACK_DEPTH + 20), None)
            .expect("valid");
        assert!(whole.body_json.is_none());
        assert_eq!(whole.body().expect("a value")["description"], "d");
    }

    /// The same for a body whose own arrays nest too deep (a limit raised above 127).
    #[test]
    fn a_body_nested_too_deep_around_its_sites_is_checked_whole() {
        let nested = |levels: usize| {
            let mut value = json!("${workflow.input.v}");
            for _ in 0..levels {
                value = json!([value]);
            }
            value
        };
        let mut schema = json!({ "type": "string" });
        for _ in 0..MAX_READ_BACK_DEPTH + 4 {
            schema = json!({ "type": "array", "items": schema });
        }
        let endpoint = with_data(schema);
        // `data` is in the body's object: one level, and the string in 126 more arrays.
        let fits = endpoint.template(object(
            json!({ "body": { "data": nested(MAX_READ_BACK_DEPTH - 1) } }),
        ));
        assert!(fits.checks_in_parts());
        let deeper = endpoint.template(object(
            json!({ "body": { "data": nested(MAX_READ_BACK_DEPTH) } }),
        ));
        assert!(!deeper.checks_in_parts());
    }

    /// Each site keeps its path: deep sites under long names are checked whole past a
    /// budget.
    #[test]
    fn sites_whose_paths_hold_too_much_are_checked_whole() {
        const LEVELS: usize = 20;
        let name = "n".repeat(200);
        let mut schema = json!({ "type": "array", "items": { "type": "string" } });
        for _ in 0..LEVELS {
            schema = json!({ "type": "object", "additionalProperties": schema });
        }
        let endpoint = with_data(schema);
        let data = |sites: usize| {
            let mut value = json!(vec![json!("${workflow.input.v}"); sites]);
            for _ in 0..LEVELS {
                value = json!({ name.clone(): value });
            }
            value
        };
        let per_site = LEVELS * (std::mem::size_of::<SiteStep>() + name.len());
        let fits = MAX_PATH_BYTES / per_site - 1;
        let template = endpoint.template(object(json!({ "body": { "data": data(fits) } })));
        assert!(template.checks_in_parts());
        let over = endpoint.template(object(json!({ "body": { "data": data(fits + 2) } })));
        assert!(!over.checks_in_parts());
    }

    #[test]
    fn more_than_max_sites_are_checked_whole() {
        let endpoint = free_form();
        let meta = |sites: usize| -> Value {
            (0..sites)
                .map(|n| (format!("k{n}"), json!("${workflow.input.v}")))
                .collect::<Map<String, Value>>()
                .into()
        };
        let at_most = endpoint.template(object(json!({ "body": { "meta": meta(MAX_SITES) } })));
        assert!(at_most.checks_in_parts());
        let over = endpoint.template(object(json!({ "body": { "meta": meta(MAX_SITES + 1) } })));
        assert!(!over.checks_in_parts());
    }

    #[test]
    fn a_first_execution_that_fails_is_not_remembered() {
        let endpoint = crate::Endpoint::builder().build().expect("endpoint");
        let template = endpoint.template(object(in_parts()[0].clone()));
        let missing = state(Map::new());
        assert!(template.prepare(&missing, None).is_err());
        assert!(template.compiled.sent.get().is_none());
        let given = state(object(json!({ "a": 1 })));
        assert!(template.prepare(&given, None).is_ok());
        assert!(template.compiled.sent.get().is_some());
    }

    #[test]
    fn expressions_outside_the_body_take_the_whole_check() {
        let endpoint = crate::Endpoint::builder().build().expect("endpoint");
        for step in [
            json!({ "organizationId": "${workflow.input.org}", "body": { "description": "d" } }),
            json!({ "organizationId": "o", "headers": { "X-Trace": "${workflow.input.t}" },
                    "body": { "description": "d" } }),
            json!({ "organizationId": "o", "keyId": "${workflow.input.id}",
                    "body": { "description": "d" } }),
        ] {
            let template = endpoint.template(object(step.clone()));
            assert!(!template.checks_in_parts(), "{step}");
        }
    }

    /// The members of a map share the schema of `additionalProperties`, compiled once for the
    /// endpoint.
    #[test]
    fn sites_under_one_schema_share_its_compiled_validator() {
        let schema = json!({ "type": "object", "properties": {
            "description": { "type": "string" },
            "meta": { "type": "object", "additionalProperties": { "type": "string" } } } });
        let spec = BodySpec {
            required: true,
            media_type: "application/json".to_owned(),
            schema: schema.clone(),
        };
        let validator =
            BodyValidator::new(&spec, Version::V31, OperationIds::embedded()).expect("validator");
        for key in ["a", "b", "c"] {
            let path = [
                SiteStep::Key("meta".to_owned()),
                SiteStep::Key(key.to_owned()),
            ];
            assert!(validator.site(&path).is_some());
        }
        assert_eq!(validator.sites_compiled(), 1);
        let description = [SiteStep::Key("description".to_owned())];
        assert!(validator.site(&description).is_some());
        assert!(validator.site(&description).is_some());
        assert_eq!(validator.sites_compiled(), 2);
    }

    /// Only schemas that judge which members and items exist may lie on the way to a site.
    #[test]
    fn a_site_is_checked_alone_only_below_schemas_that_do_not_judge_values_together() {
        let site = |schema: Value, path: &[SiteStep]| {
            let spec = BodySpec {
                required: true,
                media_type: "application/json".to_owned(),
                schema: schema.clone(),
            };
            let validator = BodyValidator::new(&spec, Version::V31, OperationIds::embedded())
                .expect("validator");
            validator.site(path).is_some()
        };
        let key = |name: &str| SiteStep::Key(name.to_owned());
        let plain = json!({ "type": "object", "required": ["a"], "additionalProperties": false,
                            "properties": { "a": { "type": "array", "maxItems": 3,
                                                   "items": { "type": "string", "enum": ["x"] } } } });
        assert!(site(plain.clone(), &[key("a"), SiteStep::Index]));
        assert!(!site(plain, &[key("b")]), "a member the schema refuses");
        for judged in [
            json!({ "uniqueItems": true }),
            json!({ "enum": [["x"]] }),
            json!({ "oneOf": [{ "maxItems": 1 }, { "minItems": 2 }] }),
            json!({ "contains": { "const": "x" } }),
            json!({ "not": { "maxItems": 0 } }),
        ] {
            let mut schema = json!({ "type": "object", "properties": {
                "a": { "type": "array", "items": { "type": "string" } } } });
            if let (Some(a), Value::Object(extra)) =
                (schema.pointer_mut("/properties/a"), judged.clone())
            {
                a.as_object_mut().expect("object").extend(extra);
            }
            assert!(!site(schema, &[key("a"), SiteStep::Index]), "{judged}");
        }
        // Keywords that mean something else cut out of the body schema: another root,
        // another draft.
        for cut_out in [
            json!({ "$ref": "#" }),
            json!({ "$schema": "http://json-schema.org/draft-04/schema#", "format": "ipv4" }),
            json!({ "type": "object", "properties": { "child": { "$dynamicRef": "#" } } }),
            json!({ "$id": "https://example.com/a", "type": "string" }),
        ] {
            let schema = json!({ "type": "object", "properties": { "a": cut_out.clone() } });
            assert!(!site(schema, &[key("a")]), "{cut_out}");
        }
        let named = json!({ "type": "object", "properties": { "a": {
            "type": "object", "$comment": "a note", "properties": { "$id": { "type": "string" } } } } });
        assert!(
            site(named, &[key("a")]),
            "a member named $id, and a $comment"
        );
    }
}
