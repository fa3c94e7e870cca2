//! `apikey-task demo`: the embedded key-rotation workflow against an in-process emulator, so
//! the whole plugin can be tried without an account.
//!
//! The workflow creates the new key idempotently (`keyId`, so `PUT`), reads it back and
//! deletes the key it replaces. The emulator loses the answer to the first create after
//! making the key, as a network might: the step repeats its `PUT` and gets the same key. The
//! workflow then runs a second time with the same workflow id, as an engine's second attempt
//! would: the create finds its key and writes nothing, and the delete finds the old key gone.

use apikey_task::emulator::Emulator;
use apikey_task::secrets::Redact;
use apikey_task::task::TaskRegistry;
use apikey_task::{Credentials, EndpointBuilder, Executor, Secret, WorkflowState};
use serde_json::Value;
use std::io::Write;

use crate::io::{EXIT_FAILED, Unusable, outcome_json, write_error};

const WORKFLOW: &str = include_str!("../../../fixtures/demo/workflow.json");

pub async fn run(builder: EndpointBuilder) -> Result<u8, Unusable> {
    let workflow: Value =
        serde_json::from_str(WORKFLOW).map_err(|e| Unusable(format!("demo workflow: {e}")))?;
    let workflow_id = workflow["workflowId"].as_str().unwrap_or("demo");
    let running = Emulator::builder()
        .build()
        .start("127.0.0.1:0")
        .await
        .map_err(|e| Unusable(format!("cannot start the emulator: {e}")))?;
    let steps = workflow["steps"].as_array().cloned().unwrap_or_default();
    // The key being rotated out, in the organization the steps use.
    let organization = steps
        .iter()
        .find_map(|step| step["parameters"]["organizationId"].as_str())
        .unwrap_or("default");
    if let Some(old) = workflow["input"]["replaces"].as_str() {
        running.insert_key(organization, old, "The key being replaced");
    }
    running.lose_next_creates(1);
    let server = format!("{}/organizations/{{organizationId}}", running.url());
    eprintln!(
        "demo: emulator on {}, holding the key {:?}; it will lose the answer to the first create",
        running.url(),
        workflow["input"]["replaces"].as_str().unwrap_or("")
    );
    let executor = Executor::builder()
        .build()
        .map_err(|e| Unusable(e.to_string()))?;
    let registry =
        TaskRegistry::from_definition(builder, executor).map_err(|e| Unusable(e.to_string()))?;
    let credentials = Credentials::ApiKey(Secret::new("sk_demo_local_emulator_only"));

    // Written, not println!: a reader that went away (`| head`) ends the demo quietly.
    let mut out = std::io::stdout();
    for round in 1..=2 {
        if round == 2 {
            writeln!(
                out,
                "== run 2 of workflow {workflow_id}: the same steps again"
            )
            .map_err(write_error)?;
        }
        let mut state = WorkflowState::new(workflow_id, workflow["input"].clone());
        for step in &steps {
            let name = step["name"].as_str().unwrap_or("step").to_owned();
            let task_type = step["type"].as_str().unwrap_or_default();
            let task = registry
                .get(task_type)
                .ok_or_else(|| Unusable(format!("demo step {name}: no task type {task_type:?}")))?;
            let mut parameters = step["parameters"].as_object().cloned().unwrap_or_default();
            parameters.insert("server".into(), Value::String(server.clone()));
            // Run 2 is the engine's second attempt at the same workflow.
            let ctx = state.context(&credentials, &Redact).with_attempt(round);
            let outcome = task.execute(parameters, &ctx).await;
            match (&outcome, round) {
                (Ok(output), 2) => writeln!(
                    out,
                    "{name} ({task_type}): {} {} -> {} {}",
                    output.request.method,
                    output.request.url,
                    output.response.status_code,
                    output.response.reason_phrase
                ),
                _ => {
                    let (text, _) = outcome_json(&outcome, true)?;
                    writeln!(out, "== {name} ({task_type})\n{text}")
                }
            }
            .map_err(write_error)?;
            let Ok(output) = outcome else {
                return Ok(EXIT_FAILED);
            };
            state.record(name, &output);
        }
    }
    let ids: Vec<String> = running
        .keys()
        .iter()
        .filter_map(|key| key["id"].as_str().map(str::to_owned))
        .collect();
    writeln!(
        out,
        "== the emulator holds {} key{} ({}), after {} create requests",
        ids.len(),
        if ids.len() == 1 { "" } else { "s" },
        ids.join(", "),
        running.create_requests()
    )
    .map_err(write_error)?;
    running.shutdown().await;
    Ok(0)
}
