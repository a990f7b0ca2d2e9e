//! The `main` every service binary shares: its own configuration (serde defaults, then the
//! optional TOML file named by `SHOPSYNC_CONFIG`, then `SHOPSYNC_*` variables; a bad one is one
//! line on stderr and exit 64), telemetry (flushed last), signals (the first drains, a second
//! exits), then the service's `run(config, shutdown)`.

use crate::ConfigError;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// A service's configuration.
pub trait ServiceConfig: DeserializeOwned {
    /// Checks serde cannot express (a required token, consistent intervals).
    fn check(&self) -> Result<(), ConfigError>;
}

/// Run a service binary: `name` names it in telemetry and logs.
pub fn main<C, F, Fut>(name: &str, run: F) -> ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let cfg = match crate::load_config::<C>().and_then(|c| c.check().map(|_| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            return ExitCode::from(64);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let _telemetry = match crate::telemetry::init(name) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("telemetry: {e:#}");
                return ExitCode::from(64);
            }
        };
        let shutdown = crate::shutdown_on_signals();
        match run(cfg, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = ?e, "service failed");
                ExitCode::FAILURE
            }
        }
    })
}
