//! Task output: the response, Conductor-shaped, for later steps to reference as
//! `${createKey.output.response.body.id}`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a successful execution emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "apikey-task output")]
#[non_exhaustive]
pub struct TaskOutput {
    /// The server's answer. Secret fields hold what the secret sink returned.
    pub response: ResponseOutput,
    /// How the request went.
    pub request: RequestSummary,
    /// Whether the response's secret (e.g. a created key's `secretKey`) reached the secret
    /// sink: when the answer lacked it, it was read back by id first. Absent for operations
    /// whose answer has no secret field of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_obtained: Option<bool>,
}

/// An HTTP response as task output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ResponseOutput {
    /// HTTP status code, e.g. 201.
    pub status_code: u16,
    /// The status's reason phrase, e.g. `Created`.
    pub reason_phrase: String,
    /// Response headers, names in lower case; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The JSON body; a body that is not JSON is kept as a string, an empty one is `null`.
    pub body: Value,
}

/// The request side of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RequestSummary {
    /// HTTP method.
    pub method: String,
    /// The URL the request was sent to.
    pub url: String,
    /// How many times it was sent (retries included).
    pub attempts: u32,
    /// Wall time from the first attempt to the final response, in milliseconds.
    pub duration_ms: u64,
}
