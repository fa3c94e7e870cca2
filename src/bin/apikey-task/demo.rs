//! `apikey-task demo`: the embedded two-step workflow against an in-process emulator, so the
//! whole plugin can be tried without an account.

use apikey_task::emulator::Emulator;
use apikey_task::secrets::Redact;
use apikey_task::{Credentials, Endpoint, Executor, Secret, WorkflowState};
use serde_json::Value;

use crate::io::{EXIT_FAILED, Unusable, outcome_json};

const WORKFLOW: &str = include_str!("../../../fixtures/demo/workflow.json");

pub async fn run(endpoint: &Endpoint) -> Result<u8, Unusable> {
    let workflow: Value =
        serde_json::from_str(WORKFLOW).map_err(|e| Unusable(format!("demo workflow: {e}")))?;
    let running = Emulator::builder()
        .build()
        .start("127.0.0.1:0")
        .await
        .map_err(|e| Unusable(format!("cannot start the emulator: {e}")))?;
    let server = format!("{}/organizations/{{organizationId}}", running.url());
    eprintln!(
        "demo: emulator on {}; running fixtures/demo/workflow.json",
        running.url()
    );
    let executor = Executor::builder()
        .build()
        .map_err(|e| Unusable(e.to_string()))?;
    let credentials = Credentials::ApiKey(Secret::new("sk_demo_local_emulator_only"));

    let mut state = WorkflowState::new("demo", workflow["input"].clone());
    for step in workflow["steps"].as_array().into_iter().flatten() {
        let name = step["name"].as_str().unwrap_or("step").to_owned();
        let mut parameters = step["parameters"].as_object().cloned().unwrap_or_default();
        parameters.insert("server".into(), Value::String(server.clone()));
        let outcome = executor
            .execute_in(endpoint, parameters, &state.context(&credentials, &Redact))
            .await;
        let (text, _) = outcome_json(&outcome, true)?;
        println!("== {name}\n{text}");
        let Ok(output) = outcome else {
            return Ok(EXIT_FAILED);
        };
        state.record(name, &output);
    }
    running.shutdown().await;
    Ok(0)
}
