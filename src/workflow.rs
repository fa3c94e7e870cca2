//! The workflow state that expressions read, kept the one way every runner here keeps it.
//!
//! `${workflow.input.team}` reads the workflow's input and `${workflow.workflowId}` its id;
//! `${createKey.output.response.body.id}` reads the output of the step named `createKey`.
//! [`WorkflowState`] seeds the first and records the second, so that the CLI's demo, the
//! example runner and the Temporal worker agree on the shape.

use crate::context::TaskContext;
use crate::credentials::CredentialsSource;
use crate::output::TaskOutput;
use crate::secrets::SecretSink;
use serde_json::{Map, Value, json};

/// What a workflow's expressions can read: `workflow` and each finished step's `output`.
///
/// ```
/// use apikey_task::WorkflowState;
/// use serde_json::json;
///
/// let state = WorkflowState::new("wf-42", json!({ "team": "payments" }));
/// assert_eq!(state.as_map()["workflow"]["workflowId"], "wf-42");
/// assert_eq!(state.as_map()["workflow"]["input"]["team"], "payments");
/// // After a step named `createKey` succeeds: `state.record("createKey", &output)`, and
/// // `${createKey.output.response.body.id}` resolves.
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowState {
    state: Map<String, Value>,
}

impl WorkflowState {
    /// The state at the start of a run: `{"workflow": {"workflowId": ..., "input": ...}}`.
    pub fn new(workflow_id: impl Into<String>, input: Value) -> Self {
        let mut state = Map::new();
        state.insert(
            "workflow".into(),
            json!({ "workflowId": workflow_id.into(), "input": input }),
        );
        WorkflowState { state }
    }

    /// A state as someone else kept it, e.g. a step file's `context`.
    pub fn from_map(state: Map<String, Value>) -> Self {
        WorkflowState { state }
    }

    /// Gives `workflow.workflowId` this value unless the state already has one, e.g. the
    /// engine's own run id for a step file written without it.
    pub fn with_default_workflow_id(mut self, workflow_id: impl Into<String>) -> Self {
        let workflow = self
            .state
            .entry("workflow")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(workflow) = workflow {
            workflow
                .entry("workflowId")
                .or_insert_with(|| Value::String(workflow_id.into()));
        }
        self
    }

    /// Records a finished step's output under its name, for later steps' expressions.
    pub fn record(&mut self, step: impl Into<String>, output: &TaskOutput) {
        // TaskOutput is strings, numbers and JSON values keyed by strings: it always converts.
        let output = serde_json::to_value(output).unwrap_or(Value::Null);
        self.state.insert(step.into(), json!({ "output": output }));
    }

    /// The output a step recorded, as later expressions see it.
    pub fn output(&self, step: &str) -> Option<&Value> {
        self.state.get(step)?.get("output")
    }

    /// The state as expressions read it.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.state
    }

    /// The state, taken apart.
    pub fn into_map(self) -> Map<String, Value> {
        self.state
    }

    /// A [`TaskContext`] for the next step, borrowing this state.
    pub fn context<'a>(
        &'a self,
        credentials: &'a dyn CredentialsSource,
        secrets: &'a dyn SecretSink,
    ) -> TaskContext<'a> {
        TaskContext::new(&self.state, credentials, secrets)
    }
}

impl From<WorkflowState> for Map<String, Value> {
    fn from(state: WorkflowState) -> Self {
        state.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_id_never_replaces_the_given_one() {
        let given = WorkflowState::new("wf-1", Value::Null).with_default_workflow_id("run-9");
        assert_eq!(given.as_map()["workflow"]["workflowId"], "wf-1");
        let missing = WorkflowState::from_map(Map::new()).with_default_workflow_id("run-9");
        assert_eq!(missing.as_map()["workflow"]["workflowId"], "run-9");
    }
}
