//! `apikey-task worker`: a Temporal activity worker (cargo feature `temporal`).

use crate::io::Unusable;
use apikey_task::Endpoint;

/// Runs the `CreateApiKey` activity for `endpoint` (the global options select it, e.g.
/// `--allow-server`).
#[cfg(feature = "temporal")]
pub async fn run(
    endpoint: Endpoint,
    address: String,
    namespace: String,
    task_queue: String,
) -> Result<u8, Unusable> {
    use apikey_task::Executor;
    use apikey_task::task::HttpTask;
    use apikey_task::temporal::{WorkerConfig, run_worker};

    // The activity is `CreateApiKey`: an operation the definition names otherwise is not one.
    if let Some(task_type) = endpoint.operation().task_type()
        && task_type != "CreateApiKey"
    {
        return Err(Unusable(format!(
            "the worker runs CreateApiKey; {} is {task_type}",
            endpoint.operation().label()
        )));
    }
    let executor = Executor::builder()
        .build()
        .map_err(|e| Unusable(e.to_string()))?;
    let task = HttpTask::new("CreateApiKey", std::sync::Arc::new(endpoint), executor);
    let mut config = WorkerConfig::default();
    config.address = address;
    config.namespace = namespace;
    config.task_queue = task_queue;
    eprintln!(
        "apikey-task: worker polling {} (queue {})",
        config.address, config.task_queue
    );
    run_worker(config, task)
        .await
        .map_err(|e| Unusable(format!("worker: {e}")))?;
    Ok(0)
}

#[cfg(not(feature = "temporal"))]
pub async fn run(
    _endpoint: Endpoint,
    _address: String,
    _namespace: String,
    _task_queue: String,
) -> Result<u8, Unusable> {
    Err(Unusable(
        "this build has no Temporal worker; build with `cargo build --release --features temporal`"
            .into(),
    ))
}
