//! `apikey-task serve`: the editor's HTTP API and reference panel on a socket, until
//! interrupted.

use apikey_task::Endpoint;

use crate::cli::ServeArgs;
use crate::io::Unusable;

#[cfg(feature = "serve")]
pub async fn run(endpoint: Endpoint, options: ServeArgs) -> Result<u8, Unusable> {
    use apikey_task::serve::{ConnectionLimits, EditorApi, serve};
    use apikey_task::{Executor, FromEnv};
    use std::io::Write;

    let addr = std::net::SocketAddr::new(options.host, options.port);

    let mut builder = EditorApi::builder(std::sync::Arc::new(endpoint)).credentials(FromEnv);
    if let Some(bytes) = options.max_body_bytes {
        builder = builder.body_limit(bytes);
    }
    if !addr.ip().is_loopback() {
        eprintln!(
            "apikey-task: listening on {}, reachable from other machines",
            addr
        );
        if options.allowed_hosts.is_empty() {
            builder = builder.any_host();
        }
    }
    for name in options.allowed_hosts {
        builder = builder.allowed_host(name);
    }
    if options.allow_run {
        let executor = Executor::builder()
            .build()
            .map_err(|e| Unusable(e.to_string()))?;
        builder = builder.allow_run(executor);
        for base in options.allow_run_to {
            builder = builder.allow_run_to(base);
        }
    }
    for origin in options.cors_origins {
        builder = builder.cors_origin(origin);
    }
    let server = builder.build().map_err(|e| Unusable(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Unusable(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Unusable(format!("cannot listen on {addr}: {e}")))?;
    let stop = crate::io::shutdown_signal();
    let mut out = std::io::stdout();
    let _ = writeln!(out, "serving on http://{bound}/");
    let _ = out.flush();
    let mut limits = ConnectionLimits::default();
    if let Some(connections) = options.max_connections {
        limits = limits.with_max_connections(connections);
    }
    serve(listener, server, limits, stop).await;
    Ok(0)
}

#[cfg(not(feature = "serve"))]
pub async fn run(_endpoint: Endpoint, _options: ServeArgs) -> Result<u8, Unusable> {
    Err(Unusable(
        "this build has no editor server; build with the default `serve` feature".into(),
    ))
}
