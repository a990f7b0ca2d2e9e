//! Layered configuration: serde defaults, then an optional TOML file named by
//! `SHOPSYNC_CONFIG`, then `SHOPSYNC_*` environment variables (`__` nests:
//! `SHOPSYNC_WORKERS__POSTING=http://posting:50051`). `DATABASE_URL` is honoured as a
//! fallback for `database_url`.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

pub fn load_config<T: DeserializeOwned>() -> Result<T, ConfigError> {
    let mut fig =
        Figment::new().merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database_url".into()));
    if let Ok(path) = std::env::var("SHOPSYNC_CONFIG") {
        if !std::path::Path::new(&path).exists() {
            return Err(ConfigError(format!(
                "SHOPSYNC_CONFIG names {path:?}, which does not exist"
            )));
        }
        fig = fig.merge(Toml::file(path));
    }
    fig = fig.merge(Env::prefixed("SHOPSYNC_").split("__"));
    fig.extract().map_err(|e| ConfigError(e.to_string()))
}
