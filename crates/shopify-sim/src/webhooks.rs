//! Webhook deliveries as Shopify makes them: a POST of the REST-shaped JSON to every
//! subscription of the topic, with `X-Shopify-*` headers and a base64 HMAC-SHA256 of the body
//! signed with the app's client secret; a delivery that is not answered 2xx within 5 s is
//! retried (8 times, back-off doubling; the schedule shrinks with the simulator's clock).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A shop's webhook delivery counters (`GET /sim/shops/{shop}` reports them).
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP attempts made (first tries and retries).
    pub attempted: AtomicU64,
    /// Attempts answered 2xx.
    pub delivered: AtomicU64,
    /// Attempts not answered 2xx in time (each is retried until the retries run out).
    pub failed: AtomicU64,
    /// Deliveries abandoned after the last retry failed.
    pub given_up: AtomicU64,
    /// Deliveries never sent because the shop's webhooks were switched off
    /// (`Faults::webhooks_off`).
    pub dropped: AtomicU64,
}

impl Stats {
    pub fn snapshot(&self) -> serde_json::Value {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "attempted": n(&self.attempted),
            "delivered": n(&self.delivered),
            "failed": n(&self.failed),
            "given_up": n(&self.given_up),
            "dropped": n(&self.dropped),
        })
    }

    pub fn count_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// One delivery, fixed at trigger time (payload and address do not change on retries).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub uri: String,
    /// Slash form, e.g. `customers/create`.
    pub topic: String,
    pub shop_domain: String,
    pub secret: String,
    pub body: Vec<u8>,
    pub webhook_id: String,
    pub event_id: String,
    pub triggered_at: String,
    /// Held this long before the first attempt (fault injection: reordering).
    pub delay: Duration,
}

pub const RETRIES: u32 = 8;

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `CUSTOMERS_CREATE` -> `customers/create`.
pub fn slash_topic(topic: &str) -> String {
    let lower = topic.to_ascii_lowercase();
    match lower.rsplit_once('_') {
        Some((a, b)) => format!("{a}/{b}"),
        None => lower,
    }
}

pub fn payload(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Deliver in the background, retrying; `first_retry` is the first back-off; every attempt
/// is counted in `stats`.
pub fn spawn(d: Delivery, first_retry: Duration, stats: Arc<Stats>) {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "webhook client");
                return;
            }
        };
        tokio::time::sleep(d.delay).await;
        let signature = sign(&d.secret, &d.body);
        let mut wait = first_retry;
        for attempt in 0..=RETRIES {
            stats.attempted.fetch_add(1, Ordering::Relaxed);
            let r = client
                .post(&d.uri)
                .header("Content-Type", "application/json")
                .header("X-Shopify-Topic", &d.topic)
                .header("X-Shopify-Hmac-Sha256", &signature)
                .header("X-Shopify-Shop-Domain", &d.shop_domain)
                .header("X-Shopify-API-Version", crate::schema::API_VERSION)
                .header("X-Shopify-Webhook-Id", &d.webhook_id)
                .header("X-Shopify-Event-Id", &d.event_id)
                .header("X-Shopify-Triggered-At", &d.triggered_at)
                .body(d.body.clone())
                .send()
                .await;
            match r {
                Ok(r) if r.status().is_success() => {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(r) => {
                    tracing::debug!(uri = %d.uri, status = %r.status(), attempt, "webhook refused")
                }
                Err(e) => tracing::debug!(uri = %d.uri, error = %e, attempt, "webhook failed"),
            }
            stats.failed.fetch_add(1, Ordering::Relaxed);
            if attempt == RETRIES {
                break;
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        stats.given_up.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(uri = %d.uri, topic = %d.topic, "webhook given up after {RETRIES} retries");
    });
}

/// Queue a delivery of each event to every subscription of its topic (or drop it, counted,
/// while the shop's webhooks are switched off).
pub(crate) fn trigger(
    sim: &crate::Sim,
    shop: &crate::store::Shop,
    events: Vec<(&'static str, Value)>,
) {
    let stats = sim.webhook_stats(&shop.name);
    let off = sim.webhooks_off(&shop.name);
    for (topic, body) in events {
        let event_id = uuid::Uuid::new_v4().to_string();
        let body = payload(&body);
        for sub in shop.subscriptions.values().filter(|s| s.topic == topic) {
            if off {
                stats.count_dropped();
                continue;
            }
            let (dup, delay) = sim.webhook_dice(&shop.name);
            let d = Delivery {
                uri: sub.uri.clone(),
                topic: slash_topic(topic),
                shop_domain: shop.domain(),
                secret: shop.client_secret.clone(),
                body: body.clone(),
                webhook_id: uuid::Uuid::new_v4().to_string(),
                event_id: event_id.clone(),
                triggered_at: chrono::Utc::now().to_rfc3339(),
                delay,
            };
            if dup {
                spawn(d.clone(), sim.config.webhook_retry, stats.clone());
            }
            spawn(d, sim.config.webhook_retry, stats.clone());
        }
    }
}
