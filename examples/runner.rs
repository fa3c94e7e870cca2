//! A small, honest workflow runner that embeds apikey-task through its `Task` trait.
//!
//! It reads a workflow (a list of steps, each with a name, a task type and parameters), runs
//! the steps in order, and adds each step's output to the state under the step's name, so
//! that later steps can use `${createKey.output.response.body.id}`. Retryable failures are
//! retried after the time they ask for; anything else stops the workflow.
//!
//! ```sh
//! cargo run --example runner -- fixtures/workflows/create-and-read.json            # against an in-process emulator
//! REBILLY_API_KEY=... cargo run --example runner -- WORKFLOW.json --server sandbox  # against Rebilly
//! ```

use apikey_task::emulator::Emulator;
use apikey_task::secrets::Redact;
use apikey_task::task::TaskRegistry;
use apikey_task::{
    Credentials, CredentialsSource, Endpoint, Executor, Secret, TaskError, TaskOutput,
    WorkflowState,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::Duration;

/// A workflow definition: the workflow's input and its steps.
#[derive(Debug, Deserialize)]
struct Workflow {
    #[serde(default)]
    input: Value,
    steps: Vec<StepDefinition>,
}

#[derive(Debug, Deserialize)]
struct StepDefinition {
    /// The reference name later steps use: `${name.output...}`.
    name: String,
    /// The task type: `CreateApiKey`, `GetApiKey`, `ListApiKeys`, `UpsertApiKey`, `DeleteApiKey`.
    #[serde(rename = "type")]
    task_type: String,
    parameters: Map<String, Value>,
}

/// How a run ended: each step's name with its output, or the step that failed and why.
#[derive(Debug)]
struct Run {
    outputs: Vec<(String, TaskOutput)>,
    failed: Option<(String, TaskError)>,
}

const MAX_ATTEMPTS: u32 = 3;

/// Runs `workflow` against `server` (a base URL or a server name), step after step.
async fn run(
    registry: &TaskRegistry,
    workflow: Workflow,
    server: Option<&str>,
    credentials: &dyn CredentialsSource,
) -> Result<Run, String> {
    let mut state = WorkflowState::new("runner-example", workflow.input);
    let mut outputs = Vec::new();
    for step in workflow.steps {
        let task = registry
            .get(&step.task_type)
            .ok_or_else(|| format!("step {}: no task type {:?}", step.name, step.task_type))?;
        let span = tracing::info_span!("step", name = %step.name, task = %step.task_type);
        let mut attempt = 1;
        let outcome = loop {
            let mut parameters = step.parameters.clone();
            if let Some(server) = server {
                parameters.insert("server".into(), Value::String(server.to_owned()));
            }
            let ctx = state
                .context(credentials, &Redact)
                .with_attempt(attempt)
                .with_span(span.clone());
            match task.execute(parameters, &ctx).await {
                Err(error) if error.is_retryable() && attempt < MAX_ATTEMPTS => {
                    let wait = error.retry_after().unwrap_or(Duration::from_millis(500));
                    eprintln!("{}: {error}; retrying in {wait:?}", step.name);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                outcome => break outcome,
            }
        };
        match outcome {
            Ok(output) => {
                state.record(step.name.clone(), &output);
                outputs.push((step.name, output));
            }
            Err(error) => {
                return Ok(Run {
                    outputs,
                    failed: Some((step.name, error)),
                });
            }
        }
    }
    Ok(Run {
        outputs,
        failed: None,
    })
}

fn registry() -> Result<TaskRegistry, Box<dyn std::error::Error>> {
    let executor = Executor::builder().build()?;
    // Every task type the definition names: CreateApiKey, GetApiKey, ListApiKeys, ...
    Ok(TaskRegistry::from_definition(
        Endpoint::builder(),
        executor,
    )?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: runner WORKFLOW.json [--server URL|sandbox|live]")?;
    let server = match (args.next().as_deref(), args.next()) {
        (Some("--server"), Some(server)) => Some(server),
        (None, _) => None,
        _ => return Err("usage: runner WORKFLOW.json [--server URL|sandbox|live]".into()),
    };
    let workflow: Workflow = serde_json::from_str(&std::fs::read_to_string(&path)?)?;

    // Without --server, an in-process emulator stands in for Rebilly.
    let emulator = match server {
        Some(_) => None,
        None => Some(Emulator::builder().build().start("127.0.0.1:0").await?),
    };
    let server = match &emulator {
        Some(running) => format!("{}/organizations/{{organizationId}}", running.url()),
        None => server.unwrap_or_default(),
    };
    let local = Credentials::ApiKey(Secret::new("sk_local_emulator_only"));
    let from_env = Credentials::from_env();
    let credentials: &dyn CredentialsSource = match (&emulator, &from_env) {
        (Some(_), _) => &local,
        (None, Some(credentials)) => credentials,
        (None, None) => return Err("set REBILLY_API_KEY or REBILLY_JWT".into()),
    };

    let run = run(&registry()?, workflow, Some(&server), credentials).await?;
    for (name, output) in &run.outputs {
        println!("== {name}\n{}", serde_json::to_string_pretty(output)?);
    }
    if let Some((name, error)) = run.failed {
        println!(
            "== {name} failed\n{}",
            serde_json::to_string_pretty(&error)?
        );
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow() -> Workflow {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/workflows/create-and-read.json"
        );
        let text = std::fs::read_to_string(path).expect("workflow file");
        serde_json::from_str(&text).expect("workflow JSON")
    }

    #[tokio::test]
    async fn step_two_reads_back_the_key_step_one_created() {
        let emulator = Emulator::builder()
            .build()
            .start("127.0.0.1:0")
            .await
            .expect("emulator");
        let server = format!("{}/organizations/{{organizationId}}", emulator.url());
        let credentials = Credentials::ApiKey(Secret::new("sk_test"));
        let run = run(
            &registry().expect("registry"),
            workflow(),
            Some(&server),
            &credentials,
        )
        .await
        .expect("runs");
        assert!(run.failed.is_none(), "{:?}", run.failed);
        let [(first, created), (second, read)] = &run.outputs[..] else {
            panic!("two outputs expected: {:?}", run.outputs);
        };
        assert_eq!((first.as_str(), second.as_str()), ("createKey", "readKey"));
        assert_eq!(created.response.status_code, 201);
        assert_eq!(read.response.status_code, 200);
        assert_eq!(read.response.body["id"], created.response.body["id"]);
        assert_eq!(
            read.response.body["description"],
            "Checkout key for the payments team"
        );
        assert!(
            read.request
                .url
                .ends_with(created.response.body["id"].as_str().unwrap_or("?")),
            "{}",
            read.request.url
        );
    }

    #[tokio::test]
    async fn a_failing_step_stops_the_workflow_and_says_why() {
        let emulator = Emulator::builder()
            .accept("sk_right")
            .build()
            .start("127.0.0.1:0")
            .await
            .expect("emulator");
        let credentials = Credentials::ApiKey(Secret::new("sk_wrong"));
        let run = run(
            &registry().expect("registry"),
            workflow(),
            Some(&emulator.url()),
            &credentials,
        )
        .await
        .expect("runs");
        assert!(run.outputs.is_empty());
        let (name, error) = run.failed.expect("failed");
        assert_eq!(name, "createKey");
        assert_eq!(error.kind(), apikey_task::ErrorKind::Unauthorized);
    }
}
