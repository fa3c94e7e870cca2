//! The test request's answer: what would be sent and everything wrong with it.

use super::request::HttpRequest;
use crate::problem::{AppliedDefault, Problem};
use crate::util::json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::ops::Range;

/// The result of a test request (dry run): what would be sent and everything wrong with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(title = "apikey-task test request report")]
#[non_exhaustive]
pub struct TestReport {
    /// True when there are no errors; warnings do not count.
    pub valid: bool,
    /// Problems that stop the request from being sent.
    pub errors: Vec<Problem>,
    /// Problems worth a look that do not stop it.
    pub warnings: Vec<Problem>,
    /// Values the definition filled in because the step did not give them.
    pub defaults: Vec<AppliedDefault>,
    /// The request, rendered as far as possible even when invalid. Credentials are redacted.
    pub request: HttpRequest,
    /// The same request as a curl command; credentials come from an environment variable.
    pub curl: String,
    /// Which operation the step is sent as, and why, when the endpoint offers a choice (a
    /// create that becomes a retry-safe `PUT` when the step names the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<ChosenOperation>,
}

/// The operation a step is sent as, chosen by its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChosenOperation {
    /// Its operationId, e.g. `PutApiKey`.
    pub operation_id: Option<String>,
    /// Its HTTP method.
    pub method: String,
    /// Its path template.
    pub path: String,
    /// Why this one, and what that means for retries.
    pub reason: String,
}

impl ChosenOperation {
    pub(crate) fn of(operation: &crate::definition::Operation, reason: String) -> Self {
        ChosenOperation {
            operation_id: operation.id.clone(),
            method: operation.method.clone(),
            path: operation.path.clone(),
            reason,
        }
    }
}

impl TestReport {
    /// Appends the report as compact JSON: the bytes `serde_json::to_writer` gives, in fewer
    /// steps. A large report is mostly its body and its curl line, which holds the body again
    /// with a `"` to escape every few bytes; serde_json writes a call per escape.
    /// [`Endpoint::test_request_json`](crate::Endpoint::test_request_json) writes the same
    /// bytes with the body written once.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.write_json_with(out, None);
    }

    /// [`TestReport::write_json`], with the request's body copied from the curl line at
    /// `body_at`, where [`HttpRequest::curl_and_body`] wrote it, instead of written again. Only
    /// for a report as it was made: a curl line changed since would be copied from the wrong
    /// place.
    pub(crate) fn write_json_with(&self, out: &mut Vec<u8>, body_at: Option<Range<usize>>) {
        let body_json = body_at.and_then(|at| self.curl.as_bytes().get(at));
        if let Some(body) = body_json {
            // Room at once for the whole answer. Grown piece by piece, the buffer took the
            // body's copy at its exact size and then doubled for the curl line: up to twice
            // the answer.
            out.reserve(self.json_len_about(body.len()));
        }
        // Every field named: a field added to the report does not compile until written here.
        let TestReport {
            valid,
            errors,
            warnings,
            defaults,
            request,
            curl,
            operation,
        } = self;
        out.extend_from_slice(if *valid {
            b"{\"valid\":true"
        } else {
            b"{\"valid\":false"
        });
        for (name, problems) in [
            (&b",\"errors\":["[..], errors),
            (b",\"warnings\":[", warnings),
        ] {
            out.extend_from_slice(name);
            for (i, Problem { path, message }) in problems.iter().enumerate() {
                out.extend_from_slice(if i == 0 {
                    b"{\"path\":"
                } else {
                    b",{\"path\":"
                });
                json::write_str(out, path);
                out.extend_from_slice(b",\"message\":");
                json::write_str(out, message);
                out.push(b'}');
            }
            out.push(b']');
        }
        out.extend_from_slice(b",\"defaults\":[");
        for (i, AppliedDefault { path, value }) in defaults.iter().enumerate() {
            out.extend_from_slice(if i == 0 {
                b"{\"path\":"
            } else {
                b",{\"path\":"
            });
            json::write_str(out, path);
            out.extend_from_slice(b",\"value\":");
            json::write_value(out, value);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"request\":");
        request.write_json(out, body_json);
        out.extend_from_slice(b",\"curl\":");
        json::write_str(out, curl);
        if let Some(ChosenOperation {
            operation_id,
            method,
            path,
            reason,
        }) = operation
        {
            out.extend_from_slice(b",\"operation\":{\"operationId\":");
            match operation_id {
                Some(id) => json::write_str(out, id),
                None => out.extend_from_slice(b"null"),
            }
            for (name, text) in [
                (&b",\"method\":"[..], method),
                (b",\"path\":", path),
                (b",\"reason\":", reason),
            ] {
                out.extend_from_slice(name);
                json::write_str(out, text);
            }
            out.push(b'}');
        }
        out.push(b'}');
    }

    /// About how long the report's JSON is, with a body of `body` bytes: every string's
    /// length, and half the curl line again for its escapes (fewer than one byte in two is a
    /// `"` or `\`, in most JSON).
    fn json_len_about(&self, body: usize) -> usize {
        let problems: usize = (self.errors.iter())
            .chain(&self.warnings)
            .map(|problem| problem.path.len() + problem.message.len() + 24)
            .sum();
        let headers: usize = (self.request.headers.iter())
            .map(|(name, value)| name.len() + value.len() + 6)
            .sum();
        let operation = self.operation.as_ref().map_or(0, |operation| {
            operation.method.len() + operation.path.len() + operation.reason.len() + 80
        });
        body + self.curl.len() * 3 / 2
            + self.request.url.len()
            + problems
            + headers
            + operation
            + 64 * self.defaults.len()
            + 160
    }

    /// The report's JSON Schema (2020-12), for clients of the test-request API in any
    /// language. Published as `schemas/test-report.schema.json`.
    pub fn schema() -> Value {
        serde_json::to_value(schemars::schema_for!(TestReport)).unwrap_or(Value::Null)
    }
}
