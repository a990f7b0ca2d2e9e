//! The product-sync service's configuration: the worker settings every sync service shares (listen
//! address, service token, drain, the shops API, the posting service and the keyring that
//! opens shop credentials). Settings of its own (products, prices, images and catalogs) join here as fields.

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
        self.worker.shop_contexts().map(|_| ())
    }
}
