//! The webhook endpoint: identify the shop, verify, de-duplicate, open or join the shop's
//! debounce window, answer. Nothing is stored and no job is queued before the signature is
//! verified; the answer never waits for a sync.

use super::debounce::Debouncer;
use crate::repo::webhooks::{self as repo, Delivery, Received};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use shopsync_proto::pb;
use shopsync_proto::pb::shops_client::ShopsClient;
use shopsync_runtime::client::AuthedChannel;
use shopsync_runtime::secrets::{Keyring, Sealed, aad};
use shopsync_shopify::webhook::{self, WebhookError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a shop's secret and settings are trusted before they are read again (a failed
/// signature reads them again sooner: a rotated secret takes effect within a second).
const SHOP_TTL: Duration = Duration::from_secs(10);
const REFRESH_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// What the endpoint knows of a shop.
#[derive(Clone)]
struct ShopEntry {
    name: String,
    secret: Option<SecretString>,
    enabled: bool,
    order_webhooks: bool,
    /// The store domain, lowercased, when it is a myshopify domain.
    domain: Option<String>,
    read: Instant,
}

/// The endpoint's state.
pub struct Endpoint {
    pub db: sqlx::PgPool,
    pub shops: ShopsClient<AuthedChannel>,
    pub keyring: Keyring,
    pub debouncer: Arc<Debouncer>,
    cache: Mutex<HashMap<String, ShopEntry>>,
    /// Every shop (for domains not learned yet): when it was listed.
    listed: Mutex<Option<(Instant, Vec<String>)>>,
}

/// The payload fields the endpoint reads (orders/*: `id`, `updated_at`; refunds and
/// fulfillments: `order_id`).
#[derive(Debug, Default, serde::Deserialize)]
struct Payload {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    order_id: Option<i64>,
    #[serde(default)]
    updated_at: Option<DateTime<chrono::FixedOffset>>,
}

/// The domain as Shopify sends it, or a store domain as configured: lowercase, no scheme, no
/// path.
pub fn normalize_domain(d: &str) -> String {
    let d = d.trim().to_ascii_lowercase();
    let d = d.strip_prefix("https://").or_else(|| d.strip_prefix("http://")).unwrap_or(&d);
    d.split('/').next().unwrap_or_default().to_owned()
}

impl Endpoint {
    pub fn new(
        db: sqlx::PgPool,
        shops: ShopsClient<AuthedChannel>,
        keyring: Keyring,
        debouncer: Arc<Debouncer>,
    ) -> Self {
        Self { db, shops, keyring, debouncer, cache: Mutex::default(), listed: Mutex::default() }
    }

    async fn shop(&self, name: &str, max_age: Duration) -> Result<Option<ShopEntry>, Status> {
        if let Some(hit) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(name).filter(|e| e.read.elapsed() < max_age).cloned())
        {
            return Ok(Some(hit));
        }
        let creds = match self
            .shops
            .clone()
            .get_shop_credentials(pb::GetShopRequest { name: name.to_owned() })
            .await
        {
            Ok(c) => c.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
            Err(s) => {
                tracing::warn!(shop = name, error = %s, "webhooks: shops API");
                return Err(Status::Unavailable);
            }
        };
        let Some(shop) = creds.shop else { return Ok(None) };
        let secret = match creds.webhook_secret {
            Some(s) => {
                let sealed = Sealed { key_id: s.key_id, nonce: s.nonce, ciphertext: s.ciphertext };
                match self.keyring.open(&sealed, &aad(name, "webhook_secret")) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!(shop = name, error = %e, "webhooks: the webhook secret does not open");
                        None
                    }
                }
            }
            None => None,
        };
        let domain = normalize_domain(&shop.store_domain);
        let entry = ShopEntry {
            name: name.to_owned(),
            secret,
            enabled: shop.enabled,
            order_webhooks: shop.settings.as_ref().is_some_and(|s| s.order_webhooks),
            domain: domain.ends_with(".myshopify.com").then_some(domain),
            read: Instant::now(),
        };
        if let Ok(mut c) = self.cache.lock() {
            c.insert(name.to_owned(), entry.clone());
        }
        Ok(Some(entry))
    }

    /// The shops Shopify may mean by `domain`: those whose subscriptions learned it, else those
    /// whose store domain it is.
    async fn candidates(&self, domain: &str) -> Result<Vec<String>, Status> {
        let learned = repo::shops_of_domain(&self.db, domain).await.map_err(|e| {
            tracing::warn!(error = %e, "webhooks: database");
            Status::Unavailable
        })?;
        if !learned.is_empty() {
            return Ok(learned);
        }
        if !domain.ends_with(".myshopify.com") {
            return Ok(Vec::new());
        }
        let names = self.listed_shops().await?;
        let mut out = Vec::new();
        for n in names {
            if let Some(e) = self.shop(&n, SHOP_TTL).await?
                && e.domain.as_deref() == Some(domain)
            {
                out.push(n);
            }
        }
        Ok(out)
    }

    async fn listed_shops(&self) -> Result<Vec<String>, Status> {
        if let Some(names) = self.listed.lock().ok().and_then(|l| {
            l.as_ref().filter(|(t, _)| t.elapsed() < SHOP_TTL).map(|(_, n)| n.clone())
        }) {
            return Ok(names);
        }
        let r = self
            .shops
            .clone()
            .list_shops(pb::ListShopsRequest { include_disabled: false })
            .await
            .map_err(|s| {
                tracing::warn!(error = %s, "webhooks: shops API");
                Status::Unavailable
            })?
            .into_inner();
        let names: Vec<String> = r.shops.into_iter().map(|s| s.name).collect();
        if let Ok(mut l) = self.listed.lock() {
            *l = Some((Instant::now(), names.clone()));
        }
        Ok(names)
    }

    /// The first candidate whose secret signed the body, and what the headers say.
    async fn verify(
        &self,
        candidates: &[String],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(ShopEntry, webhook::WebhookMeta), Status> {
        for max_age in [SHOP_TTL, REFRESH_AFTER_FAILURE] {
            for name in candidates {
                let Some(shop) = self.shop(name, max_age).await? else { continue };
                let Some(secret) = &shop.secret else { continue };
                match webhook::verify(secret, headers, body) {
                    Ok(meta) => return Ok((shop, meta)),
                    Err(WebhookError::BadSignature) => continue,
                    Err(WebhookError::MissingHeader("X-Shopify-Hmac-Sha256")) => {
                        return Err(Status::Unauthorized);
                    }
                    Err(WebhookError::MissingHeader(_)) => return Err(Status::BadRequest),
                }
            }
        }
        Err(Status::Unauthorized)
    }
}

/// Why a delivery was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Unauthorized,
    BadRequest,
    Unavailable,
}

impl From<Status> for StatusCode {
    fn from(s: Status) -> Self {
        match s {
            Status::Unauthorized => StatusCode::UNAUTHORIZED,
            Status::BadRequest => StatusCode::BAD_REQUEST,
            // Shopify retries: the delivery comes again.
            Status::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// Deliveries handled at once; more are answered 503 at once (Shopify retries them).
const MAX_IN_FLIGHT: usize = 256;
/// From a delivery's arrival to its answer, body read included: a slow sender is cut (408).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The endpoint's routes; bodies over `max_body` bytes are refused (413) before they are read
/// whole; at most [`MAX_IN_FLIGHT`] at once, each within [`DELIVERY_TIMEOUT`].
pub fn router(e: Arc<Endpoint>, max_body: usize) -> axum::Router {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    axum::Router::new()
        .route(super::PATH, axum::routing::post(receive))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(move |req, next| guard(slots.clone(), req, next)))
        .with_state(e)
}

/// Bound the endpoint: unauthenticated senders cannot hold memory or tasks open.
async fn guard(
    slots: Arc<tokio::sync::Semaphore>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(_slot) = slots.try_acquire() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match tokio::time::timeout(DELIVERY_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

async fn receive(State(e): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    match take(&e, &headers, &body).await {
        Ok(code) => code,
        Err(s) => {
            tracing::debug!(status = ?s, "webhook refused");
            s.into()
        }
    }
}

async fn take(e: &Endpoint, headers: &HeaderMap, body: &[u8]) -> Result<StatusCode, Status> {
    if header(headers, "x-shopify-hmac-sha256").is_none() {
        return Err(Status::Unauthorized);
    }
    let domain = header(headers, "x-shopify-shop-domain").ok_or(Status::Unauthorized)?;
    let domain = normalize_domain(domain);
    let candidates = e.candidates(&domain).await?;
    if candidates.is_empty() {
        tracing::debug!(domain, "webhook from a shop not known");
        return Err(Status::Unauthorized);
    }
    let (shop, meta) = e.verify(&candidates, headers, body).await?;
    let Some(topic) = super::TOPICS.iter().map(|(_, t)| *t).find(|t| *t == meta.topic) else {
        tracing::debug!(shop = shop.name, topic = meta.topic, "webhook topic not used");
        return Ok(StatusCode::OK);
    };
    if !shop.enabled || !shop.order_webhooks {
        tracing::debug!(shop = shop.name, topic, "webhook for a shop without order webhooks");
        return Ok(StatusCode::OK);
    }
    // Verified: the body is Shopify's. One it cannot read still announces a change.
    let payload: Payload = serde_json::from_slice(body).unwrap_or_else(|err| {
        tracing::warn!(shop = shop.name, topic, error = %err, "webhook payload not read");
        Payload::default()
    });
    let order_id = if topic.starts_with("orders/") { payload.id } else { payload.order_id };
    let d = Delivery {
        shop: shop.name.clone(),
        webhook_id: meta.webhook_id.clone(),
        topic: topic.to_owned(),
        order_id,
        order_updated_at: payload.updated_at.map(|t| t.with_timezone(&Utc)),
        triggered_at: meta
            .triggered_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
    };
    let received = repo::receive(&e.db, &d).await.map_err(|err| {
        tracing::warn!(shop = shop.name, error = %err, "webhooks: database");
        Status::Unavailable
    })?;
    tracing::debug!(
        monotonic_counter.order_webhooks_received = 1,
        shop = shop.name,
        topic,
        order_id,
        received = ?received,
        "webhook"
    );
    if let Received::Opened(at) = received {
        e.debouncer.opened(&shop.name, at);
    }
    Ok(StatusCode::OK)
}

/// Bind the endpoint (when `SHOPSYNC_WEBHOOK_LISTEN` is set) and serve it, with the window
/// sweeper, until `shutdown`; the task ends after both.
pub async fn start(
    worker: &shopsync_runtime::worker::WorkerConfig,
    cfg: &crate::config::WebhookConfig,
    db: &sqlx::PgPool,
    auth: shopsync_runtime::ClientAuth,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    use anyhow::Context;
    let Some(listen) = cfg.webhook_listen else { return Ok(None) };
    let shops_url =
        worker.shops_url.as_deref().context("the webhook endpoint needs SHOPSYNC_SHOPS_URL")?;
    let keys =
        worker.secret_keys.as_ref().context("the webhook endpoint needs SHOPSYNC_SECRET_KEYS")?;
    let keyring = Keyring::parse(keys).map_err(|e| anyhow::anyhow!("{e}"))?;
    let channel =
        shopsync_runtime::client::connect_lazy(shops_url, auth).context("scheduler address")?;
    let debouncer = Arc::new(Debouncer {
        db: db.clone(),
        queue: pb::job_queue_client::JobQueueClient::new(channel.clone()),
        debounce: Duration::from_millis(cfg.webhook_debounce_ms),
        shutdown: shutdown.clone(),
    });
    let endpoint =
        Arc::new(Endpoint::new(db.clone(), ShopsClient::new(channel), keyring, debouncer.clone()));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("webhook endpoint {listen}"))?;
    tracing::info!(listen = %listener.local_addr()?, "webhook endpoint");
    let app = router(endpoint, cfg.webhook_max_body_bytes);
    let stop = shutdown.clone();
    Ok(Some(tokio::spawn(async move {
        let sweeper = tokio::spawn(debouncer.sweep());
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "webhook endpoint");
        }
        let _ = sweeper.await;
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    const SECRET: &str = "shpss_acme_secret";

    /// An endpoint that knows shop `acme` (domain learned, secret cached) and has a database.
    async fn endpoint(db: sqlx::PgPool) -> Arc<Endpoint> {
        sqlx::query(
            "INSERT INTO order_sync.webhook_shops (shop, domain) VALUES ('acme', 'acme.myshopify.com')",
        )
        .execute(&db)
        .await
        .unwrap();
        let channel = shopsync_runtime::client::connect_lazy(
            "http://127.0.0.1:9",
            shopsync_runtime::ClientAuth::default(),
        )
        .unwrap();
        let debouncer = Arc::new(Debouncer {
            db: db.clone(),
            queue: pb::job_queue_client::JobQueueClient::new(channel.clone()),
            // Longer than the test: no job is queued.
            debounce: Duration::from_secs(600),
            shutdown: CancellationToken::new(),
        });
        let e = Endpoint::new(db, ShopsClient::new(channel), Keyring::generate("t").0, debouncer);
        e.cache.lock().unwrap().insert(
            "acme".into(),
            ShopEntry {
                name: "acme".into(),
                secret: Some(SecretString::from(SECRET.to_owned())),
                enabled: true,
                order_webhooks: true,
                domain: None,
                read: Instant::now() + Duration::from_secs(3600),
            },
        );
        Arc::new(e)
    }

    fn delivery(id: &str, body: &str, signature: Option<String>) -> Request<Body> {
        let mut r = Request::post(super::super::PATH)
            .header("x-shopify-topic", "orders/create")
            .header("x-shopify-shop-domain", "Acme.myshopify.com")
            .header("x-shopify-webhook-id", id)
            .header("x-shopify-triggered-at", "2026-12-08T10:00:00Z");
        if let Some(s) = signature {
            r = r.header("x-shopify-hmac-sha256", s);
        }
        r.body(Body::from(body.to_owned())).unwrap()
    }

    fn signed(body: &str) -> Option<String> {
        Some(webhook::sign(&SecretString::from(SECRET.to_owned()), body.as_bytes()))
    }

    async fn counts(db: &sqlx::PgPool) -> (i64, i64, bool) {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM order_sync.webhook_deliveries")
            .fetch_one(db)
            .await
            .unwrap();
        let (m,): (Option<i64>,) =
            sqlx::query_as("SELECT sum(deliveries)::bigint FROM order_sync.webhook_watermarks")
                .fetch_one(db)
                .await
                .unwrap();
        let (open,): (bool,) = sqlx::query_as(
            "SELECT pending_since IS NOT NULL FROM order_sync.webhook_shops WHERE shop = 'acme'",
        )
        .fetch_one(db)
        .await
        .unwrap();
        (n, m.unwrap_or(0), open)
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn signatures_size_and_duplicates(db: sqlx::PgPool) {
        let app = router(endpoint(db.clone()).await, 1024);
        let body = r#"{"id":42,"updated_at":"2026-12-08T10:00:00Z"}"#;
        let call = |r| app.clone().oneshot(r);

        // Missing or bad signature: 401, nothing stored, no window.
        assert_eq!(call(delivery("w-1", body, None)).await.unwrap().status(), 401);
        let forged =
            Some(webhook::sign(&SecretString::from("not-the-secret".to_owned()), body.as_bytes()));
        assert_eq!(call(delivery("w-1", body, forged)).await.unwrap().status(), 401);
        let tampered = signed(body);
        assert_eq!(call(delivery("w-1", r#"{"id":43}"#, tampered)).await.unwrap().status(), 401);
        assert_eq!(counts(&db).await, (0, 0, false));

        // Too big: 413 before anything is read.
        let big = format!(r#"{{"id":1,"pad":"{}"}}"#, "x".repeat(2048));
        assert_eq!(call(delivery("w-big", &big, signed(&big))).await.unwrap().status(), 413);
        assert_eq!(counts(&db).await, (0, 0, false));

        // Good: stored, the window opens.
        assert_eq!(call(delivery("w-1", body, signed(body))).await.unwrap().status(), 200);
        assert_eq!(counts(&db).await, (1, 1, true));
        // The same delivery again: 200, nothing more.
        assert_eq!(call(delivery("w-1", body, signed(body))).await.unwrap().status(), 200);
        assert_eq!(counts(&db).await, (1, 1, true));
        // Another one joins the open window.
        let (since,): (chrono::DateTime<Utc>,) = sqlx::query_as(
            "SELECT pending_since FROM order_sync.webhook_shops WHERE shop = 'acme'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(call(delivery("w-2", body, signed(body))).await.unwrap().status(), 200);
        assert_eq!(counts(&db).await, (2, 2, true));
        let (again,): (chrono::DateTime<Utc>,) = sqlx::query_as(
            "SELECT pending_since FROM order_sync.webhook_shops WHERE shop = 'acme'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(since, again);
        let (order, at): (Option<i64>, Option<chrono::DateTime<Utc>>) = sqlx::query_as(
            "SELECT order_id, order_updated_at FROM order_sync.webhook_deliveries WHERE webhook_id = 'w-1'",
        )
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(order, Some(42));
        assert_eq!(at.map(|t| t.to_rfc3339()), Some("2026-12-08T10:00:00+00:00".into()));

        // Closing: only the opener's own window, once (claimed, then cleared once its job
        // is queued).
        assert_eq!(repo::close_window(&db, "acme", Some(since), 0).await.unwrap(), Some(since));
        assert_eq!(repo::close_window(&db, "acme", Some(since), 0).await.unwrap(), None);
        assert_eq!(counts(&db).await, (2, 2, true), "claimed, not cleared");
        repo::window_done(&db, "acme", since).await.unwrap();
        assert_eq!(counts(&db).await, (2, 2, false));
    }

    #[test]
    fn domains_compare_without_scheme_case_or_path() {
        assert_eq!(normalize_domain("Acme.myshopify.com"), "acme.myshopify.com");
        assert_eq!(normalize_domain("https://acme.myshopify.com/"), "acme.myshopify.com");
        assert_eq!(normalize_domain("http://127.0.0.1:9/x"), "127.0.0.1:9");
    }

    #[test]
    fn payloads_give_the_order_and_its_time() {
        let p: Payload = serde_json::from_slice(
            br#"{"id":7,"updated_at":"2026-12-08T10:00:00-05:00","line_items":[]}"#,
        )
        .unwrap();
        assert_eq!(p.id, Some(7));
        assert_eq!(
            p.updated_at.map(|t| t.with_timezone(&Utc).to_rfc3339()),
            Some("2026-12-08T15:00:00+00:00".into())
        );
        let r: Payload = serde_json::from_slice(br#"{"id":9,"order_id":7}"#).unwrap();
        assert_eq!(r.order_id, Some(7));
    }
}
