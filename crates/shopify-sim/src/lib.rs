//! shopify-sim: a local Shopify Admin GraphQL API (2026-10) for tests, benchmarks, the demo and
//! merchants' sandboxes. It shares no code with our client (`crates/shopify`): both are
//! checked against Shopify's schema, so one catches the other's mistakes.
//!
//! - `POST /admin/api/{version}/graphql.json` with `X-Shopify-Access-Token` (401 otherwise);
//!   the shop is found by its token (and by `Host: {shop}.myshopify.com` when given).
//! - Every document is validated against the schema and refused the way Shopify does (an
//!   `errors` array with messages, locations and codes, no `data`).
//! - Cost: requested cost from the fitted model (or the linear rule), `MAX_COST_EXCEEDED` over
//!   1,000, a leaky bucket per shop (THROTTLED with HTTP 200 when it cannot cover a request),
//!   refund to the actual cost, `extensions.cost` on every executed or throttled response.
//! - `/sim/…`: the admin API for tests and the demo (create and seed shops, read counts).

mod admin;
pub mod bucket;
mod bulk;
mod catalogs;
pub mod clock;
pub mod cost;
pub mod coverage;
mod endpoint;
mod exec;
mod gql;
mod inventory;
mod media;
pub mod money;
mod mutate;
mod orders;
mod parties;
mod payloads;
mod products;
mod resolve;
pub mod schema;
mod scopes;
pub mod search;
pub mod store;
pub mod webhooks;
mod writes;

use axum::Router;
use axum::routing::post;
use bucket::Limits;
use clock::Clock;
use cost::CostModel;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use store::Shop;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub cost_model: CostModel,
    /// Simulated seconds per real second (bucket refill).
    pub time_scale: f64,
    /// First back-off of a failed webhook delivery (doubles, 8 retries).
    pub webhook_retry: std::time::Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            cost_model: CostModel::Fitted,
            time_scale: 1.0,
            webhook_retry: std::time::Duration::from_secs(1),
        }
    }
}

/// Faults injected into one shop's Admin API answers (tests and demos of resilience).
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of requests answered HTTP 503.
    pub error_rate: f64,
    /// Share answered HTTP 429 with `Retry-After: 1`.
    pub rate_limit_rate: f64,
    /// Share answered with a body that is not JSON.
    pub malformed_rate: f64,
    /// Share never answered in time (the answer comes after `timeout_ms`).
    pub timeout_rate: f64,
    /// How long a timed-out request hangs before answering 504.
    pub timeout_ms: u64,
    /// Share of webhook deliveries sent twice (same webhook id and event id), as Shopify's
    /// at-least-once delivery does.
    pub webhook_duplicate_rate: f64,
    /// Each webhook delivery waits up to this long before it is sent, so deliveries can
    /// arrive out of order.
    pub webhook_jitter_ms: u64,
    /// Added to every answer.
    pub latency_ms: u64,
    /// Seed of the fault dice (the same seed, the same sequence).
    pub seed: u64,
    /// Webhook deliveries are not sent at all while on (dropped, as when Shopify never
    /// delivers); switching it off again does not send the dropped ones.
    pub webhooks_off: bool,
    /// Held after the request ran, before its answer leaves (Shopify has applied a mutation
    /// well before the caller hears of it).
    pub answer_delay_ms: u64,
    /// Share of requests that run but whose answer is lost (HTTP 504 after running): a
    /// mutation's outcome is unknown to the caller, as after a gateway timeout.
    pub lost_answer_rate: f64,
}

/// The simulator's state: its shops (each behind its own lock) and clock.
pub struct Sim {
    pub config: SimConfig,
    pub clock: Clock,
    shops: Mutex<HashMap<String, Arc<Mutex<Shop>>>>,
    faults: Mutex<HashMap<String, (Faults, rand::rngs::StdRng)>>,
    /// Webhook delivery counters per shop.
    webhook_stats: Mutex<HashMap<String, Arc<webhooks::Stats>>>,
}

pub type SharedSim = Arc<Sim>;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("shop {0:?} exists already")]
    ShopExists(String),
    #[error("shop name {0:?} must be 1-60 characters of a-z, 0-9 and '-'")]
    BadShopName(String),
    #[error("access token must be at least 8 characters")]
    BadToken,
    #[error("unknown plan {0:?}; expected standard, advanced or plus")]
    BadPlan(String),
    #[error(
        "unknown currency {0:?}; expected an ISO 4217 code of Shopify's CurrencyCode (EUR, JPY, KWD, …)"
    )]
    BadCurrency(String),
}

impl Sim {
    pub fn new(config: SimConfig) -> SharedSim {
        // Webhook deliveries use reqwest; its TLS needs a crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let clock = Clock::real(config.time_scale);
        Self::with_clock(config, clock)
    }

    pub fn with_clock(config: SimConfig, clock: Clock) -> SharedSim {
        Arc::new(Self {
            config,
            clock,
            shops: Mutex::new(HashMap::new()),
            faults: Mutex::new(HashMap::new()),
            webhook_stats: Mutex::new(HashMap::new()),
        })
    }

    /// A shop's webhook delivery counters.
    pub fn webhook_stats(&self, shop: &str) -> Arc<webhooks::Stats> {
        self.webhook_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(shop.to_owned())
            .or_default()
            .clone()
    }

    /// Whether the shop's webhook deliveries are switched off (`Faults::webhooks_off`).
    fn webhooks_off(&self, shop: &str) -> bool {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(shop)
            .is_some_and(|(f, _)| f.webhooks_off)
    }

    /// Write every shop (data, tokens, limits) to a JSON file, atomically.
    pub fn save(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let shops: Vec<Arc<Mutex<Shop>>> =
            self.shops.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let guards: Vec<_> =
            shops.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner())).collect();
        let all: Vec<&Shop> = guards.iter().map(|g| &**g).collect();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&all)?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Add the shops saved in a file (a shop of the same name is replaced).
    pub fn load(&self, path: &std::path::Path) -> anyhow::Result<usize> {
        let shops: Vec<Shop> = serde_json::from_slice(&std::fs::read(path)?)?;
        let n = shops.len();
        let mut map = self.shops.lock().unwrap_or_else(|e| e.into_inner());
        for s in shops {
            map.insert(s.name.clone(), Arc::new(Mutex::new(s)));
        }
        Ok(n)
    }

    pub fn set_faults(&self, shop: &str, faults: Faults) {
        use rand::SeedableRng;
        let rng = rand::rngs::StdRng::seed_from_u64(faults.seed);
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shop.to_owned(), (faults, rng));
    }

    /// Roll the dice for one request: which fault, if any, and the added latency.
    fn fault(&self, shop: &str) -> (Option<&'static str>, u64) {
        use rand::Rng;
        let mut all = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let Some((f, rng)) = all.get_mut(shop) else { return (None, 0) };
        let x: f64 = rng.random();
        let kind = if x < f.error_rate {
            Some("error")
        } else if x < f.error_rate + f.rate_limit_rate {
            Some("rate_limit")
        } else if x < f.error_rate + f.rate_limit_rate + f.malformed_rate {
            Some("malformed")
        } else if x < f.error_rate + f.rate_limit_rate + f.malformed_rate + f.timeout_rate {
            Some("timeout")
        } else {
            None
        };
        let latency =
            if kind == Some("timeout") { f.latency_ms + f.timeout_ms.max(1) } else { f.latency_ms };
        (kind, latency)
    }

    /// After a request ran: how long to hold its answer, and whether to lose it.
    fn after_run(&self, shop: &str) -> (u64, bool) {
        use rand::Rng;
        let mut all = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let Some((f, rng)) = all.get_mut(shop) else { return (0, false) };
        let lost = f.lost_answer_rate > 0.0 && rng.random::<f64>() < f.lost_answer_rate;
        (f.answer_delay_ms, lost)
    }

    /// For one webhook delivery: send it twice? and how long to hold it first.
    fn webhook_dice(&self, shop: &str) -> (bool, std::time::Duration) {
        use rand::Rng;
        let mut all = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let Some((f, rng)) = all.get_mut(shop) else { return (false, std::time::Duration::ZERO) };
        let dup = rng.random::<f64>() < f.webhook_duplicate_rate;
        let jitter =
            if f.webhook_jitter_ms > 0 { rng.random_range(0..=f.webhook_jitter_ms) } else { 0 };
        (dup, std::time::Duration::from_millis(jitter))
    }

    /// Add a shop whose currency is EUR.
    pub fn add_shop(&self, name: &str, token: &str, plan: &str) -> Result<(), SimError> {
        self.add_shop_in(name, token, plan, "EUR")
    }

    /// Add a shop with its currency (an ISO 4217 code): every amount of the shop is in it,
    /// with its own number of decimals (JPY 0, EUR 2, KWD 3).
    pub fn add_shop_in(
        &self,
        name: &str,
        token: &str,
        plan: &str,
        currency: &str,
    ) -> Result<(), SimError> {
        if !money::is_currency(currency) {
            return Err(SimError::BadCurrency(currency.chars().take(16).collect()));
        }
        if name.is_empty()
            || name.len() > 60
            || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(SimError::BadShopName(name.to_owned()));
        }
        if token.len() < 8 {
            return Err(SimError::BadToken);
        }
        let limits = Limits::for_plan(plan).ok_or_else(|| SimError::BadPlan(plan.to_owned()))?;
        let mut shops = self.shops.lock().unwrap_or_else(|e| e.into_inner());
        if shops.contains_key(name) {
            return Err(SimError::ShopExists(name.to_owned()));
        }
        let mut shop = Shop::new(name, token, limits);
        shop.currency = currency.to_owned();
        shops.insert(name.to_owned(), Arc::new(Mutex::new(shop)));
        Ok(())
    }

    pub fn shop(&self, name: &str) -> Option<Arc<Mutex<Shop>>> {
        self.shops.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    fn shop_by_token(&self, token: &str, host: Option<&str>) -> Option<Arc<Mutex<Shop>>> {
        let shops = self.shops.lock().unwrap_or_else(|e| e.into_inner());
        let by_host = host
            .and_then(|h| h.split(':').next())
            .and_then(|h| h.strip_suffix(".myshopify.com"))
            .and_then(|name| shops.get(name));
        let candidates: Vec<&Arc<Mutex<Shop>>> = match by_host {
            Some(s) => vec![s],
            None => shops.values().collect(),
        };
        candidates
            .into_iter()
            .find(|s| {
                let s = s.lock().unwrap_or_else(|e| e.into_inner());
                // Constant time: the comparison does not reveal how much of a token matched.
                constant_eq(s.access_token.as_bytes(), token.as_bytes())
            })
            .cloned()
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn router(sim: SharedSim) -> Router {
    admin::routes(Router::new().route("/admin/api/{version}/graphql.json", post(endpoint::graphql)))
        .with_state(sim)
}

/// Serve until `shutdown` is cancelled.
pub async fn serve(
    sim: SharedSim,
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
