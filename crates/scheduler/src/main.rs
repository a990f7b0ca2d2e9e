#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cfg = match shopsync_scheduler::Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::from(64);
        }
    };
    let _telemetry = match shopsync_runtime::telemetry::init("shopsync-scheduler") {
        Ok(g) => g,
        Err(e) => {
            eprintln!("telemetry: {e:#}");
            return ExitCode::from(64);
        }
    };
    let shutdown = shopsync_runtime::shutdown_on_signals();
    match shopsync_scheduler::run(cfg, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "scheduler failed");
            ExitCode::FAILURE
        }
    }
}
