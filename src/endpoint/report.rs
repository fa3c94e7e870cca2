//! The test request's answer: what would be sent and everything wrong with it.

use super::request::HttpRequest;
use crate::problem::{AppliedDefault, Problem};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// The report's JSON Schema (2020-12), for clients of the test-request API in any
    /// language. Published as `schemas/test-report.schema.json`.
    pub fn schema() -> Value {
        serde_json::to_value(schemars::schema_for!(TestReport)).unwrap_or(Value::Null)
    }
}
