//! Import and export: a curl command line or a Conductor HTTP task to a [`Step`], and a step
//! to either.
//!
//! A request is recognised by its method and URL against the definition's operations (path
//! templates), so `PUT https://api-sandbox.rebilly.com/organizations/org-1/api-keys/abc`
//! becomes an `UpsertApiKey` step with `server: "sandbox"`, `organizationId` and `id`.
//! Credential headers are never copied into a step: they are left out with a warning.
//!
//! ```
//! use apikey_task::{Definition, convert};
//!
//! let line = "curl -X DELETE https://api.rebilly.com/organizations/org-1/api-keys/old-key \
//!             -H 'REB-APIKEY: sk_live_not_copied'";
//! let converted = convert::from_curl(line, &Definition::embedded())?;
//! assert_eq!(converted.task_type.as_deref(), Some("DeleteApiKey"));
//! assert_eq!(converted.step.parameters["server"], "live");
//! assert_eq!(converted.step.parameters["id"], "old-key");
//! assert!(!format!("{converted:?}").contains("sk_live_not_copied"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - `shell`: a command line's words, quoted as a shell quotes them;
//! - `curl`: curl's options to a request;
//! - `conductor`: a Conductor HTTP task to a request, and the task for a request;
//! - `matching`: a request to the step of the operation it calls;
//! - `error`: [`ConvertError`].

mod conductor;
mod curl;
mod error;
mod matching;
mod shell;

pub use error::{ConvertError, ConvertErrorKind};

use crate::definition::{AuthScheme, Definition};
use crate::endpoint::{Endpoint, Step};
use serde_json::{Map, Value};

/// A step converted from elsewhere, the operation it calls, and what was left out on the way.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Converted {
    /// `{"parameters": ..., "context": {}}`: expressions are kept as written.
    pub step: Step,
    /// The operation's `operationId`, e.g. `PutApiKey`.
    pub operation_id: Option<String>,
    /// Its task type (`x-task-type`), e.g. `UpsertApiKey`: what `--task` takes.
    pub task_type: Option<String>,
    /// What was left out or changed, e.g. a credential header (never its value).
    pub warnings: Vec<String>,
}

/// A curl command line as a step of the `definition`'s operation with that method and path.
pub fn from_curl(text: &str, definition: &Definition) -> Result<Converted, ConvertError> {
    let mut warnings = Vec::new();
    let request = curl::parse(text, &mut warnings)?;
    converted(definition, request, warnings)
}

/// A Conductor HTTP task (`{"type": "HTTP", "inputParameters": {"http_request": {"uri",
/// "method", "headers", "body"}}}`, or those fields directly under `inputParameters`) as a
/// step. Errors name the field at fault by JSON Pointer.
pub fn from_conductor(task: &Value, definition: &Definition) -> Result<Converted, ConvertError> {
    let mut warnings = Vec::new();
    let request = conductor::parse(task, &mut warnings)?;
    converted(definition, request, warnings)
}

fn converted(
    definition: &Definition,
    request: matching::RawRequest,
    mut warnings: Vec<String>,
) -> Result<Converted, ConvertError> {
    let (parameters, operation) = matching::to_step(definition, request, &mut warnings)?;
    // As a report's problems are: a line of many repeats gets a hundred warnings and a count.
    let max = crate::problem::MAX_PROBLEMS;
    if warnings.len() > max {
        let more = warnings.len() - max;
        warnings.truncate(max);
        warnings.push(format!(
            "{more} more warnings not listed (a conversion lists the first {max})"
        ));
    }
    Ok(Converted {
        step: Step {
            parameters,
            context: Map::new(),
        },
        operation_id: operation.id().map(str::to_owned),
        task_type: operation.task_type().map(str::to_owned),
        warnings,
    })
}

/// The curl line of the step's test request: expressions rendered with the step's context,
/// the credential read from `$REBILLY_API_KEY` (or `$REBILLY_JWT`), never written in.
pub fn to_curl(step: Step, endpoint: &Endpoint) -> Result<String, ConvertError> {
    let parameters = Value::Object(step.parameters.clone());
    let report = endpoint.test_request(step, None);
    refuse_invalid(&report, &parameters)?;
    Ok(report.curl)
}

/// An invalid step is not exported: its request would not be the step's (a body left out, a
/// server the credentials may not go to, a path parameter not filled in). A problem at a
/// string with an expression is not held against it: the workflow's state fills that in. A
/// problem at an object or array is, whatever expressions it holds: they do not make a
/// missing field appear, nor a long member name short. So is any problem with the server:
/// where the credentials go is never left to the workflow's state.
fn refuse_invalid(
    report: &crate::endpoint::TestReport,
    parameters: &Value,
) -> Result<(), ConvertError> {
    // A real expression: `$${` is a literal `${`, and text that does not parse as one is not
    // filled in by anything.
    let has_expression = |value: &Value| {
        matches!(value, Value::String(text)
            if crate::endpoint::render::before_first_expression(text).is_some())
    };
    let errors: Vec<&crate::Problem> = report
        .errors
        .iter()
        .filter(|problem| {
            problem.path.is_empty()
                || problem.path == "/server"
                || parameters
                    .pointer(&problem.path)
                    .is_none_or(|value| !has_expression(value))
        })
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = errors
        .iter()
        .take(5)
        .map(|problem| format!("{}: {}", problem.path, problem.message))
        .collect();
    let more = errors.len().saturating_sub(shown.len());
    Err(ConvertError::new(
        ConvertErrorKind::InvalidStep,
        format!(
            "the step is invalid, so it is not exported: {}{}",
            shown.join("; "),
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        ),
    ))
}

/// A Conductor HTTP task named `name` that sends the step's request. Expressions are left for
/// Conductor to evaluate (the step's context is not used), including in the URL; the
/// credential header is `${workflow.secrets.REBILLY_API_KEY}` (or `Bearer
/// ${workflow.secrets.REBILLY_JWT}`), a Conductor secret of that name, never a value.
pub fn to_conductor(step: Step, endpoint: &Endpoint, name: &str) -> Result<Value, ConvertError> {
    // Checked with its own context first, as a runner would render it.
    let whole = Value::Object(step.parameters.clone());
    refuse_invalid(&endpoint.test_request(step.clone(), None), &whole)?;
    let mut parameters = step.parameters;
    // The body and the headers go as the step writes them: Conductor reads `${...}` and the
    // literal `$${` as a step does, where rendering would turn the literal into `${`.
    let written_body = parameters.get("body").cloned();
    let written_headers = parameters
        .get("headers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // A URL percent-encodes an expression's `${}`: stand-ins of plain letters go through
    // instead, and the expressions are put back in the URL.
    let mut stand_ins: Vec<(String, String)> = Vec::new();
    for (key, value) in parameters.iter_mut() {
        if matches!(key.as_str(), "body" | "headers" | "server") {
            continue;
        }
        let mut replace = |text: &mut String| {
            if text.contains("${") {
                let stand_in = format!("{STAND_IN}{}zz", stand_ins.len());
                stand_ins.push((stand_in.clone(), std::mem::replace(text, stand_in)));
            }
        };
        match value {
            Value::String(text) => replace(text),
            Value::Array(items) => items.iter_mut().for_each(|item| {
                if let Value::String(text) = item {
                    replace(text);
                }
            }),
            _ => {}
        }
    }
    let routed = endpoint.route(&parameters);
    let scheme = routed.operation().security.first().cloned();
    let report = endpoint.test_request(
        Step {
            parameters,
            context: Map::new(),
        },
        None,
    );
    let uri = put_back(&report.request.url, &stand_ins);
    let mut headers = Map::new();
    let mut content_type = None;
    for (header, value) in report.request.headers {
        // The step's own headers keep their names in the report: found at once. Only a
        // header the definition added is looked for without case.
        let written = written_headers
            .get(&header)
            .or_else(|| {
                written_headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(&header))
                    .map(|(_, value)| value)
            })
            .and_then(Value::as_str);
        let value = written.map_or(value, str::to_owned);
        if header.eq_ignore_ascii_case("content-type") {
            content_type = Some(value);
        } else {
            headers.insert(header, Value::String(value));
        }
    }
    match scheme {
        Some(AuthScheme::ApiKeyHeader { header }) => {
            headers.insert(
                header,
                Value::String("${workflow.secrets.REBILLY_API_KEY}".into()),
            );
        }
        Some(AuthScheme::Bearer) => {
            headers.insert(
                "Authorization".into(),
                Value::String("Bearer ${workflow.secrets.REBILLY_JWT}".into()),
            );
        }
        None => {}
    }
    Ok(conductor::task(
        name,
        &report.request.method,
        &uri,
        headers,
        content_type,
        report.request.body.and(written_body),
    ))
}

/// What a stand-in for an expression starts with: plain letters, which a URL keeps as they
/// are; its number and `zz` follow.
const STAND_IN: &str = "zzapikeytaskexpr";

/// `url` with each stand-in (`zzapikeytaskexprNzz`) replaced by the expression it stands for,
/// in one pass: replacing them in turn would read the URL again for each.
fn put_back(url: &str, stand_ins: &[(String, String)]) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(at) = rest.find(STAND_IN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + STAND_IN.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let expression = after[digits..]
            .starts_with("zz")
            .then(|| after[..digits].parse::<usize>().ok())
            .flatten()
            .and_then(|index| stand_ins.get(index));
        match expression {
            Some((_, expression)) => {
                out.push_str(expression);
                rest = &after[digits + 2..];
            }
            None => {
                out.push_str(STAND_IN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition() -> Definition {
        Definition::embedded()
    }

    fn from(line: &str) -> Converted {
        from_curl(line, &definition()).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// Warnings are listed as a report's problems are: the first hundred, and a count.
    #[test]
    fn warnings_are_capped() {
        let headers: String = (0..150).map(|_| " -H 'X-A: 1'").collect();
        let converted = from(&format!(
            "curl -X POST https://api-sandbox.rebilly.com/organizations/o/api-keys{headers} -d '{{}}'"
        ));
        assert_eq!(converted.warnings.len(), 101, "{:?}", converted.warnings);
        assert_eq!(
            converted.warnings[100],
            "49 more warnings not listed (a conversion lists the first 100)"
        );
    }

    /// One pass puts back what replacing each stand-in in turn did.
    #[test]
    fn stand_ins_are_put_back_in_one_pass() {
        let stand_ins: Vec<(String, String)> = (0..12)
            .map(|i| {
                (
                    format!("{STAND_IN}{i}zz"),
                    format!("${{workflow.input.x{i}}}"),
                )
            })
            .collect();
        for url in [
            "",
            "https://h/p?a=zzapikeytaskexpr0zz",
            "https://h/p?a=zzapikeytaskexpr1zz&b=zzapikeytaskexpr10zz&c=zzapikeytaskexpr11zz",
            "zzapikeytaskexpr2zzzzapikeytaskexpr3zz",
            "zzapikeytaskexpr zzapikeytaskexpr99zz zzapikeytaskexpr4z zzapikeytaskexpr",
            "zzapikeytaskexprzzapikeytaskexpr5zz",
        ] {
            let mut in_turn = url.to_owned();
            for (stand_in, expression) in &stand_ins {
                in_turn = in_turn.replace(stand_in, expression);
            }
            assert_eq!(put_back(url, &stand_ins), in_turn, "{url}");
        }
    }

    #[test]
    fn the_operation_is_recognised_by_method_and_path() {
        let url = "https://api-sandbox.rebilly.com/organizations/org-1/api-keys/abc";
        for (method, id, task) in [
            ("GET", "GetApiKey", "GetApiKey"),
            ("PUT", "PutApiKey", "UpsertApiKey"),
            ("DELETE", "DeleteApiKey", "DeleteApiKey"),
        ] {
            let converted = from(&format!("curl -X {method} {url}"));
            assert_eq!(converted.operation_id.as_deref(), Some(id));
            assert_eq!(converted.task_type.as_deref(), Some(task));
            assert_eq!(
                Value::Object(converted.step.parameters),
                json!({"server": "sandbox", "organizationId": "org-1", "id": "abc"})
            );
        }
    }

    #[test]
    fn query_parameters_are_typed() {
        let converted = from(
            "curl 'https://api.rebilly.com/organizations/o/api-keys?filter=description%3ACI&sort=-createdTime,id&limit=5&offset=10&x=1'",
        );
        assert_eq!(converted.task_type.as_deref(), Some("ListApiKeys"));
        let parameters = Value::Object(converted.step.parameters);
        assert_eq!(parameters["filter"], "description:CI");
        assert_eq!(parameters["sort"], json!(["-createdTime", "id"]));
        assert_eq!(parameters["limit"], 5);
        assert_eq!(parameters["offset"], 10);
        assert_eq!(parameters["server"], "live");
        assert_eq!(converted.warnings.len(), 1, "{:?}", converted.warnings);
    }

    #[test]
    fn headers_default_content_type_and_credentials() {
        let converted = from(
            r#"curl https://api-sandbox.rebilly.com/organizations/o/api-keys -H 'Content-Type: application/json' -H "REB-APIKEY: $REBILLY_API_KEY" -H 'X-Trace: 1' -d '{"description": "k"}'"#,
        );
        assert_eq!(converted.task_type.as_deref(), Some("CreateApiKey"));
        let parameters = Value::Object(converted.step.parameters);
        assert_eq!(parameters["headers"], json!({"X-Trace": "1"}));
        assert_eq!(parameters["body"], json!({"description": "k"}));
        assert_eq!(converted.warnings.len(), 1);
        assert!(converted.warnings[0].contains("REB-APIKEY"));
    }

    #[test]
    fn another_base_url_is_the_server() {
        let converted = from("curl -X DELETE http://127.0.0.1:4010/api-keys/k1");
        let parameters = Value::Object(converted.step.parameters);
        assert_eq!(
            parameters,
            json!({"server": "http://127.0.0.1:4010", "id": "k1"})
        );
    }

    #[test]
    fn no_operation_says_what_there_is() {
        let error = from_curl("curl -X PATCH https://h/api-keys/a", &definition()).err();
        assert_eq!(
            error.as_ref().map(|e| e.kind()),
            Some(ConvertErrorKind::NoOperation)
        );
        assert!(error.is_some_and(|e| e.message().contains("GET /api-keys/{id}")));
    }

    #[test]
    fn conductor_expressions_are_kept_both_ways() {
        let task = json!({
            "name": "create", "taskReferenceName": "create", "type": "HTTP",
            "inputParameters": {
                "uri": "https://api-sandbox.rebilly.com/organizations/${workflow.input.org}/api-keys",
                "method": "POST",
                "headers": {"REB-APIKEY": "${workflow.secrets.KEY}"},
                "body": {"description": "Key for ${workflow.input.name}"}
            }
        });
        let converted = from_conductor(&task, &definition()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            converted.step.parameters["organizationId"],
            "${workflow.input.org}"
        );
        assert_eq!(converted.warnings.len(), 1);
        let endpoint = Endpoint::builder()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let exported = to_conductor(converted.step, &endpoint, "create").expect("valid");
        let request = &exported["inputParameters"]["http_request"];
        assert_eq!(
            request["uri"],
            "https://api-sandbox.rebilly.com/organizations/${workflow.input.org}/api-keys"
        );
        assert_eq!(request["method"], "POST");
        assert_eq!(
            request["body"]["description"],
            "Key for ${workflow.input.name}"
        );
        assert_eq!(
            request["headers"]["REB-APIKEY"],
            "${workflow.secrets.REBILLY_API_KEY}"
        );
        assert_eq!(request["contentType"], "application/json");
    }

    /// A literal `${` is `$${` in a Conductor task too: the body and the headers go as the
    /// step writes them, and come back the same.
    #[test]
    fn a_literal_expression_is_exported_as_conductor_writes_it() {
        let endpoint = Endpoint::builder()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let step = Step::from_json(
            &json!({"parameters": {"organizationId": "org-1",
                    "headers": {"X-Note": "$${kept} and ${workflow.input.x}"},
                    "body": {"description": "costs $${price}",
                             "acl": [{"scope": {}, "permissions": ["*"]}]}}})
            .to_string(),
        )
        .expect("step");
        let task = to_conductor(step.clone(), &endpoint, "create").expect("exported");
        let request = &task["inputParameters"]["http_request"];
        assert_eq!(request["body"]["description"], "costs $${price}");
        assert_eq!(
            request["headers"]["X-Note"],
            "$${kept} and ${workflow.input.x}"
        );
        let back = from_conductor(&task, &definition()).expect("imported");
        assert_eq!(back.step.parameters["body"], step.parameters["body"]);
        assert_eq!(back.step.parameters["headers"], step.parameters["headers"]);
    }

    #[test]
    fn conductor_shape_errors_are_located() {
        let pointer = |task: Value| {
            from_conductor(&task, &definition())
                .err()
                .and_then(|e| e.pointer().map(str::to_owned))
        };
        assert_eq!(pointer(json!({"type": "SIMPLE"})).as_deref(), Some("/type"));
        assert_eq!(
            pointer(json!({"type": "HTTP"})).as_deref(),
            Some("/inputParameters")
        );
        assert_eq!(
            pointer(json!({"inputParameters": {"http_request": {"uri": 1}}})).as_deref(),
            Some("/inputParameters/http_request/uri")
        );
        assert_eq!(
            pointer(json!({"inputParameters": {"uri": "https://h/api-keys", "headers": {"a": 1}}}))
                .as_deref(),
            Some("/inputParameters/headers/a")
        );
    }
}
