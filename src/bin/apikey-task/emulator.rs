//! `apikey-task emulator`: serve the local stand-in for the API-key resource until
//! interrupted.

use apikey_task::emulator::Emulator;
use std::io::Write;
use std::time::Duration;

use crate::cli::EmulatorArgs;
use crate::io::Unusable;

pub async fn run(args: EmulatorArgs) -> Result<u8, Unusable> {
    let EmulatorArgs {
        port,
        rate_limit,
        rate_window,
        accept,
        lose_answers,
        slow_creates_ms,
    } = args;
    let mut builder = Emulator::builder().lose_answers(lose_answers);
    builder = match rate_limit {
        Some(0) => builder.unlimited(),
        Some(limit) => builder.rate_limit(limit, Duration::from_secs(rate_window)),
        None => builder,
    };
    if let Some(ms) = slow_creates_ms {
        builder = builder.slow_creates(Duration::from_millis(ms));
    }
    for credential in accept {
        builder = builder.accept(credential);
    }
    let running = builder
        .build()
        .start(&format!("127.0.0.1:{port}"))
        .await
        .map_err(|e| Unusable(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let stop = crate::io::shutdown_signal();
    // Whoever started us may stop reading after the first line; that is no reason to stop
    // serving.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "emulator listening on {}", running.url());
    let _ = writeln!(
        out,
        "try: REBILLY_API_KEY=any apikey-task run STEP.json --server {}",
        running.url()
    );
    let _ = out.flush();
    stop.await;
    running.shutdown().await;
    Ok(0)
}
