//! The order-sync service's configuration: the settings every sync service shares (listen
//! address, service token, drain, the shops API, the posting service, the keyring that opens
//! shop credentials, its database: flattened [`SyncConfig`], so their `SHOPSYNC_*` names are
//! unchanged) and the order webhooks' own (`SHOPSYNC_WEBHOOK_*`).

use shopsync_runtime::ConfigError;
use shopsync_runtime::worker::SyncConfig;

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub sync: SyncConfig,
    #[serde(flatten)]
    pub webhooks: WebhookConfig,
}

/// The order webhooks' endpoint and behaviour.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct WebhookConfig {
    /// Where order-sync listens for Shopify's deliveries (`SHOPSYNC_WEBHOOK_LISTEN`); none:
    /// no endpoint (polling only).
    pub webhook_listen: Option<std::net::SocketAddr>,
    /// The address Shopify reaches that endpoint at, e.g. `https://sync.example.com`
    /// (`SHOPSYNC_WEBHOOK_PUBLIC_URL`); subscriptions deliver to `<it>/webhooks/shopify`.
    /// None: no subscriptions are made.
    pub webhook_public_url: Option<String>,
    /// Deliveries of a shop within this long make one sync-orders job
    /// (`SHOPSYNC_WEBHOOK_DEBOUNCE_MS`).
    pub webhook_debounce_ms: u64,
    /// The largest delivery body accepted; larger: 413 (`SHOPSYNC_WEBHOOK_MAX_BODY_BYTES`).
    pub webhook_max_body_bytes: usize,
    /// A shop's subscriptions are compared with the wanted ones (and missing ones made) at most
    /// this often, by its SyncOrders runs (`SHOPSYNC_WEBHOOK_REPAIR_MINUTES`).
    pub webhook_repair_minutes: u64,
    /// An order polling imported that no webhook announced within this long is a gap
    /// (`SHOPSYNC_WEBHOOK_GAP_SECS`).
    pub webhook_gap_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            webhook_listen: None,
            webhook_public_url: None,
            webhook_debounce_ms: 400,
            webhook_max_body_bytes: 1024 * 1024,
            webhook_repair_minutes: 60,
            webhook_gap_secs: 120,
        }
    }
}

impl WebhookConfig {
    /// The address subscriptions deliver to.
    pub fn callback(&self) -> Option<String> {
        self.webhook_public_url
            .as_deref()
            .map(|u| format!("{}{}", u.trim_end_matches('/'), crate::webhooks::PATH))
    }
}

impl shopsync_runtime::service::ServiceConfig for Config {
    fn check(&self) -> Result<(), ConfigError> {
        self.sync.check()?;
        let w = &self.webhooks;
        if let Some(u) = &w.webhook_public_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(ConfigError::new(
                "webhook_public_url must be an http(s) URL (SHOPSYNC_WEBHOOK_PUBLIC_URL)",
            ));
        }
        if !(10..=60_000).contains(&w.webhook_debounce_ms) {
            return Err(ConfigError::new(
                "webhook_debounce_ms must be within 10..60000 (SHOPSYNC_WEBHOOK_DEBOUNCE_MS)",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&w.webhook_max_body_bytes) {
            return Err(ConfigError::new(
                "webhook_max_body_bytes must be within 1 KiB..64 MiB (SHOPSYNC_WEBHOOK_MAX_BODY_BYTES)",
            ));
        }
        if w.webhook_listen.is_some() && (self.sync.worker.shops_url.is_none()) {
            return Err(ConfigError::new(
                "the webhook endpoint needs the scheduler (SHOPSYNC_SHOPS_URL) and the keyring (SHOPSYNC_SECRET_KEYS)",
            ));
        }
        if w.webhook_listen.is_some() && self.sync.worker.secret_keys.is_none() {
            return Err(ConfigError::new(
                "the webhook endpoint needs the keyring that opens the shops' webhook secrets (SHOPSYNC_SECRET_KEYS)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_names_still_read_and_the_webhook_ones_sit_beside_them() {
        let c: Config = serde_json::from_value(serde_json::json!({
            "listen": "127.0.0.1:7000",
            "database_url": "postgres://x",
            "webhook_listen": "127.0.0.1:7001",
            "webhook_debounce_ms": 300,
        }))
        .unwrap();
        assert_eq!(c.sync.worker.listen.port(), 7000);
        assert_eq!(c.sync.worker.database_url, "postgres://x");
        assert_eq!(c.webhooks.webhook_listen.map(|a| a.port()), Some(7001));
        assert_eq!(c.webhooks.webhook_debounce_ms, 300);
        assert_eq!(c.webhooks.webhook_max_body_bytes, 1024 * 1024);
    }
}
