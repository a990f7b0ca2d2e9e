//! Graceful shutdown: the first SIGTERM/SIGINT cancels the returned token (services stop
//! accepting work, report NOT_SERVING, finish what they run and flush telemetry); a second
//! signal exits at once.

use tokio_util::sync::CancellationToken;

pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            wait_for_signal().await;
            count += 1;
            if count == 1 {
                tracing::info!("shutdown requested, draining (signal again to exit now)");
                t.cancel();
            } else {
                tracing::warn!("second signal, exiting now");
                std::process::exit(130);
            }
        }
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
