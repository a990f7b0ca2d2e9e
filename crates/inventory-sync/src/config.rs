//! The inventory-sync service's configuration: the settings every sync service shares
//! (flattened [`SyncConfig`], so their `SHOPSYNC_*` names are unchanged) and the stock
//! follower's own (`SHOPSYNC_STOCK_*`).

use shopsync_runtime::ConfigError;
use shopsync_runtime::worker::SyncConfig;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub sync: SyncConfig,
    /// How long a shop's follower waits after it caught up with the ERP's stock feed before it
    /// asks again (`SHOPSYNC_STOCK_POLL_MS`).
    pub stock_poll_ms: u64,
    /// How often the list of shops to follow is read again (`SHOPSYNC_STOCK_SHOPS_REFRESH_MS`).
    pub stock_shops_refresh_ms: u64,
    /// Follow the stock feed at all (`SHOPSYNC_STOCK_FOLLOW`); off: only the SyncInventory task.
    pub stock_follow: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sync: SyncConfig::default(),
            stock_poll_ms: 250,
            stock_shops_refresh_ms: 2_000,
            stock_follow: true,
        }
    }
}

impl shopsync_runtime::service::ServiceConfig for Config {
    fn check(&self) -> Result<(), ConfigError> {
        self.sync.check()?;
        if !(10..=60_000).contains(&self.stock_poll_ms) {
            return Err(ConfigError::new(
                "stock_poll_ms must be within 10..60000 (SHOPSYNC_STOCK_POLL_MS)",
            ));
        }
        if !(100..=600_000).contains(&self.stock_shops_refresh_ms) {
            return Err(ConfigError::new(
                "stock_shops_refresh_ms must be within 100..600000 (SHOPSYNC_STOCK_SHOPS_REFRESH_MS)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_names_still_read_and_the_stock_ones_sit_beside_them() {
        let c: Config = serde_json::from_value(serde_json::json!({
            "listen": "127.0.0.1:7000",
            "database_url": "postgres://x",
            "stock_poll_ms": 100,
        }))
        .unwrap();
        assert_eq!(c.sync.worker.listen.port(), 7000);
        assert_eq!(c.sync.worker.database_url, "postgres://x");
        assert_eq!(c.stock_poll_ms, 100);
        assert!(c.stock_follow);
    }
}
