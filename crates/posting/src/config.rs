//! The posting service's configuration: the worker settings (listen address, service token,
//! drain) and its database (`SHOPSYNC_DATABASE_URL`, required: it owns the `posting` schema).

use serde::Deserialize;
use shopsync_runtime::ConfigError;
use shopsync_runtime::service::ServiceConfig;
use shopsync_runtime::worker::WorkerConfig;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub worker: WorkerConfig,
}

impl ServiceConfig for Config {
    fn check(&self) -> Result<(), ConfigError> {
        self.worker.check()?;
        if self.worker.database_url.trim().is_empty() {
            return Err(ConfigError::new(
                "database_url is required (SHOPSYNC_DATABASE_URL or DATABASE_URL)",
            ));
        }
        Ok(())
    }
}
