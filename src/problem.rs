//! Located problems: what is wrong, and where in the step's parameters.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One problem found in a step, located by a JSON Pointer into the step's `parameters`.
///
/// Errors make a step invalid; warnings do not. Both have this shape so an editor can show
/// each one beside the field its `path` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct Problem {
    /// JSON Pointer (RFC 6901) into the step's parameters, e.g. `/body/acl/0/permissions/1`.
    /// The empty string is the parameters object itself.
    pub path: String,
    /// What is wrong, for a person. Never contains a credential.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(parameters)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Everything a check found, gathered along the data's path.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    pub defaults: Vec<AppliedDefault>,
}

impl Findings {
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Problem::new(path, message));
    }

    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem::new(path, message));
    }
}

/// A value the definition supplied because the step did not, shown so nothing is implicit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct AppliedDefault {
    /// Where the value went, as a JSON Pointer into the parameters.
    pub path: String,
    /// The value applied.
    pub value: serde_json::Value,
}

/// A JSON value's kind with its article, for messages: "a string", "null".
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
