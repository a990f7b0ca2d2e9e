//! The scheduler's configuration (`SHOPSYNC_*`; see the README's table).

use crate::{creates, dispatch};
use secrecy::SecretString;
use serde::Deserialize;
use shopsync_runtime::ConfigError;
use shopsync_runtime::service::ServiceConfig;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct WorkerEndpoints {
    pub order_sync: Option<String>,
    pub product_sync: Option<String>,
    pub inventory_sync: Option<String>,
    pub posting: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub db_max_connections: u32,
    /// Connections reserved for the dispatcher's claims and completions (its heartbeats,
    /// reaper and maintenance have two more of their own).
    pub db_dispatch_connections: u32,
    /// Shared secret every internal gRPC call carries (`SHOPSYNC_SERVICE_TOKEN`).
    pub service_token: Option<SecretString>,
    /// Accept unauthenticated calls (local development only).
    pub insecure_no_auth: bool,
    /// This replica's name in the run log (default: host name and pid).
    pub replica_name: Option<String>,
    pub workers: WorkerEndpoints,
    /// Dispatch work (false: serve the API only).
    pub dispatch: bool,
    pub max_concurrency: usize,
    pub claim_batch: usize,
    pub lease_ms: u64,
    pub heartbeat_ms: u64,
    pub stall_timeout_ms: u64,
    pub worker_heartbeat_ms: u64,
    pub poll_ms: u64,
    pub reaper_ms: u64,
    pub retention_days: u64,
    pub watch_ms: u64,
    pub drain_secs: u64,
    /// Batched create inserts in flight at once; 0: every create is its own statement.
    pub create_writers: usize,
    /// The keyring that seals shop credentials (`SHOPSYNC_SECRET_KEYS`: `id=BASE64KEY,…`,
    /// the first seals). Without it, shops can be created but not given credentials.
    pub secret_keys: Option<SecretString>,
    /// How often the database is probed for the health status (NOT_SERVING while it fails).
    pub health_check_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50050)),
            database_url: String::new(),
            db_max_connections: 10,
            db_dispatch_connections: 6,
            service_token: None,
            insecure_no_auth: false,
            replica_name: None,
            workers: WorkerEndpoints::default(),
            dispatch: true,
            max_concurrency: 256,
            claim_batch: 500,
            lease_ms: 10_000,
            heartbeat_ms: 1_000,
            stall_timeout_ms: 10_000,
            worker_heartbeat_ms: 1_000,
            poll_ms: 1_000,
            reaper_ms: 1_000,
            retention_days: 30,
            watch_ms: 200,
            drain_secs: 30,
            create_writers: creates::WRITERS,
            secret_keys: None,
            health_check_ms: 1_000,
        }
    }
}

impl ServiceConfig for Config {
    fn check(&self) -> Result<(), ConfigError> {
        if self.database_url.trim().is_empty() {
            return Err(ConfigError::new(
                "database_url is required (SHOPSYNC_DATABASE_URL or DATABASE_URL)",
            ));
        }
        if self.service_token.is_none() && !self.insecure_no_auth {
            return Err(ConfigError::new(
                "service_token is required (SHOPSYNC_SERVICE_TOKEN); set SHOPSYNC_INSECURE_NO_AUTH=true only for local development",
            ));
        }
        if self.db_dispatch_connections < 3 {
            return Err(ConfigError::new(
                "db_dispatch_connections must be at least 3 (claims, completions, and one spare)",
            ));
        }
        if self.max_concurrency == 0 || self.claim_batch == 0 {
            return Err(ConfigError::new("max_concurrency and claim_batch must be positive"));
        }
        if self.heartbeat_ms * 2 > self.lease_ms {
            return Err(ConfigError::new("lease_ms must be at least twice heartbeat_ms"));
        }
        if let Some(k) = &self.secret_keys {
            shopsync_runtime::secrets::Keyring::parse(k)
                .map_err(|e| ConfigError::new(e.to_string()))?;
        }
        Ok(())
    }
}

impl Config {
    pub fn dispatcher(&self) -> dispatch::DispatcherConfig {
        let name = self.replica_name.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "scheduler".into());
            format!("{host}-{}", std::process::id())
        });
        dispatch::DispatcherConfig {
            name,
            max_concurrency: self.max_concurrency,
            claim_batch: self.claim_batch,
            lease: Duration::from_millis(self.lease_ms),
            heartbeat_every: Duration::from_millis(self.heartbeat_ms),
            stall_timeout: Duration::from_millis(self.stall_timeout_ms),
            poll_interval: Duration::from_millis(self.poll_ms),
            reaper_interval: Duration::from_millis(self.reaper_ms),
            retention: Duration::from_secs(self.retention_days * 86_400),
            prune_interval: Duration::from_secs(600),
        }
    }
}
