//! A step as a runner or editor hands it over: parameters and the workflow state.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A workflow step as a runner or editor hands it over: the parameters as written in the
/// workflow definition, and the workflow state their expressions read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// `organizationId`, `server`, `headers` and `body`, possibly with `${...}` expressions.
    pub parameters: Map<String, Value>,
    /// `workflow` (with `input`, `workflowId`, ...) and each earlier step's reference name.
    #[serde(default)]
    pub context: Map<String, Value>,
}

impl Step {
    /// Reads a step from JSON: an object with `parameters` and optional `context`, both objects.
    pub fn from_json(text: &str) -> Result<Step, serde_json::Error> {
        serde_json::from_str(text)
    }
}
