//! shopsync's Shopify Admin GraphQL client (API 2026-10).
//!
//! - One [`ShopifyClient`] per shop: `POST {shop}/admin/api/2026-10/graphql.json` with the
//!   access token in `X-Shopify-Access-Token` (a secret: never logged or printed).
//! - Every document lives in `graphql/`, is validated against Shopify's schema by the tests,
//!   and has a typed operation in [`ops`] (generated at compile time): run it with
//!   [`ShopifyClient::run`].
//! - Every document declares how it may be retried ([`Retry`]): after a failure that leaves
//!   the outcome unknown, a query or an `@idempotent` mutation is sent again (with the same
//!   key), a mutation that is not idempotent is not and returns
//!   [`ShopifyError::Ambiguous`] so the caller reconciles by reading. Back-off with jitter.
//! - Pacing: every request first waits for its cost in the shop's [`Budget`]; the cost of a
//!   document is learned from `extensions.cost.requestedQueryCost`.
//! - [`ShopifyClient::pages`]: a connection page by page, each page with the [`Cursor`] to
//!   resume after it; nested lists read to the end.
//! - [`ShopifyClient::bulk_query`]: bulk results with a read timeout, a maximum line length
//!   and the record count checked against `objectCount`.
//! - [`Money`]: exact decimals in the currency's own minor units.
//!
//! ```no_run
//! # async fn example(client: &shopsync_shopify::ShopifyClient) -> Result<(), Box<dyn std::error::Error>> {
//! use futures::TryStreamExt;
//! use shopsync_shopify::ops::{self, orders_page};
//! let vars = orders_page::Variables { first: 50, after: None, query: Some("updated_at:>'2026-12-01'".into()) };
//! let saved = None; // or the cursor an earlier run stored
//! let mut pages = std::pin::pin!(client.pages::<ops::OrdersPage>(vars, saved));
//! while let Some(page) = pages.try_next().await? {
//!     for order in &page.nodes {
//!         let m = &order.current_total_price_set.shop_money; // amount: Decimal, currency_code: CurrencyCode
//!         let total = shopsync_shopify::Money::new(m.amount, m.currency_code)?; // 1500 JPY, 1.250 KWD
//!         let _ = (total, order.line_items.nodes.len()); // every line, not the first 50
//!     }
//!     let _checkpoint = page.resume; // store it; resume with pages(vars, checkpoint)
//! }
//! # Ok(()) }
//! ```

pub mod budget;
pub mod bulk;
pub mod documents;
pub mod error;
pub mod money;
pub mod ops;
pub mod pages;
pub mod webhook;

pub use budget::{Budget, ThrottleStatus};
pub use documents::{Document, Retry};
pub use error::{GraphQlError, ShopifyError, UserError};
pub use money::{CurrencyCode, Money, MoneyError};
pub use ops::Operation;
pub use pages::{Cursor, Page, Paginated};
pub use rust_decimal::Decimal;

use futures::Stream;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

pub const API_VERSION: &str = "2026-10";

/// The client's migrations: the `shopify` schema (the shared rate budget), applied by every
/// service that shares budgets through the database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
pub static SCHEMA: shopsync_store::Schema =
    shopsync_store::Schema { name: "shopify", migrator: &MIGRATOR };

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://{shop}.myshopify.com`, or a simulator's `http://127.0.0.1:PORT`.
    pub shop_url: String,
    pub access_token: SecretString,
    pub timeout: Duration,
    /// Attempts per request before giving up (THROTTLED waits do not count).
    pub max_attempts: u32,
    /// First back-off after a 5xx, timeout or connection error; doubles each time (with
    /// jitter) up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Bulk result downloads: the longest wait for the next bytes (no total timeout: a large
    /// file may take long, a stalled one fails).
    pub bulk_read_timeout: Duration,
    /// Bulk result downloads: the longest JSONL line accepted.
    pub bulk_max_line: usize,
}

impl ClientConfig {
    pub fn new(shop_url: impl Into<String>, access_token: SecretString) -> Self {
        Self {
            shop_url: shop_url.into(),
            access_token,
            timeout: Duration::from_secs(30),
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            bulk_read_timeout: Duration::from_secs(60),
            bulk_max_line: 16 * 1024 * 1024,
        }
    }
}

/// The answer to a request: its data and what it cost.
#[derive(Debug, Clone)]
pub struct GqlResponse {
    pub data: Value,
    pub requested_cost: Option<f64>,
    pub actual_cost: Option<f64>,
    pub throttle: Option<ThrottleStatus>,
}

/// Counters for tests and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientStats {
    pub requests: u64,
    pub throttled: u64,
    pub retried: u64,
    pub actual_cost: f64,
}

pub struct ShopifyClient {
    http: reqwest::Client,
    /// For bulk result files: a read timeout, no total timeout.
    bulk_http: reqwest::Client,
    endpoint: String,
    config: ClientConfig,
    budget: Arc<Budget>,
    learned: Mutex<HashMap<&'static str, f64>>,
    stats: Mutex<ClientStats>,
}

impl std::fmt::Debug for ShopifyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The access token stays out of debug output.
        f.debug_struct("ShopifyClient").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

/// Why an attempt got no usable answer.
struct Failure {
    cause: String,
    /// The server's `Retry-After`, if any.
    wait: Option<Duration>,
    /// The shop may have run the request (timeout, 5xx, answer lost) or certainly did not
    /// (connection refused, HTTP 429).
    ambiguous: bool,
}

impl Failure {
    fn not_run(cause: String) -> Self {
        Self { cause, wait: None, ambiguous: false }
    }
    fn ambiguous(cause: String) -> Self {
        Self { cause, wait: None, ambiguous: true }
    }
}

/// A transport error with its causes ("timed out" first when it is a timeout).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() { format!("timed out: {e}") } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A wait drawn at random from the upper half of `d` ("equal jitter"), so clients that failed
/// together do not come back together.
fn jitter(d: Duration) -> Duration {
    d / 2 + d.mul_f64(fastrand::f64() / 2.0)
}

/// A mutation's business failures: the `userErrors` of its payload (`orderCancel` has its own
/// list), as an error naming the operation.
fn user_errors(operation: &'static str, data: &Value) -> Result<(), ShopifyError> {
    let payloads = data.as_object().into_iter().flat_map(|o| o.values());
    for p in payloads {
        let errs = ["userErrors", "orderCancelUserErrors"]
            .iter()
            .filter_map(|k| p.get(*k))
            .find(|e| e.as_array().is_some_and(|a| !a.is_empty()));
        if let Some(errs) = errs {
            let errors: Vec<UserError> = serde_json::from_value(errs.clone())
                .map_err(|source| ShopifyError::Decode { operation, source })?;
            return Err(ShopifyError::UserErrors { operation, errors });
        }
    }
    Ok(())
}

/// What one JSON answer means for the request.
enum Answer {
    Done(Result<GqlResponse, ShopifyError>),
    /// THROTTLED: wait for the bucket and send again.
    Throttled,
    /// An error on Shopify's side (`INTERNAL_SERVER_ERROR` with HTTP 200): outcome unknown.
    Failed(Failure),
}

static CRYPTO: Once = Once::new();

/// Install the TLS crypto provider (ring) once per process; [`ShopifyClient::new`] does it,
/// other reqwest clients in the same process need it too.
pub fn init_tls() {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn throttle_status(v: &Value) -> Option<ThrottleStatus> {
    let t = v.pointer("/extensions/cost/throttleStatus")?;
    Some(ThrottleStatus {
        maximum_available: t.get("maximumAvailable")?.as_f64()?,
        currently_available: t.get("currentlyAvailable")?.as_f64()?,
        restore_rate: t.get("restoreRate")?.as_f64()?,
    })
}

impl ShopifyClient {
    /// A client for one shop. Jobs talking to the same shop should share `budget`.
    pub fn new(config: ClientConfig, budget: Arc<Budget>) -> Result<Self, ShopifyError> {
        init_tls();
        let base = url::Url::parse(&config.shop_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| ShopifyError::BadUrl(config.shop_url.clone()))?;
        let endpoint =
            format!("{}/admin/api/{API_VERSION}/graphql.json", base.as_str().trim_end_matches('/'));
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("shopsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ShopifyError::BadUrl(format!("{}: {e}", config.shop_url)))?;
        let bulk_http = reqwest::Client::builder()
            .read_timeout(config.bulk_read_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("shopsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ShopifyError::BadUrl(format!("{}: {e}", config.shop_url)))?;
        Ok(Self {
            http,
            bulk_http,
            endpoint,
            config,
            budget,
            learned: Mutex::new(HashMap::new()),
            stats: Mutex::new(ClientStats::default()),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    pub fn stats(&self) -> ClientStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expected_cost(&self, doc: &Document) -> f64 {
        let learned = self.learned.lock().unwrap_or_else(|e| e.into_inner());
        learned.get(doc.name).copied().unwrap_or(f64::from(doc.cost_hint))
    }

    fn bump(&self, f: impl FnOnce(&mut ClientStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Send one operation, paced and retried as its [`Retry`] class allows; the `data` of a
    /// successful answer.
    ///
    /// - Not run by the shop for certain (connection refused, HTTP 429, THROTTLED): sent again
    ///   whatever the class.
    /// - Outcome unknown (timeout, 5xx, connection lost, a body cut off or garbled): sent again
    ///   with the same variables (so the same idempotency key) unless the document is
    ///   [`Retry::NotIdempotent`]; that one returns [`ShopifyError::Ambiguous`] at once.
    /// - Back-off doubles from `backoff` up to `max_backoff`, each wait drawn at random from
    ///   its upper half (jitter), and never shorter than the server's `Retry-After`.
    pub async fn execute(
        &self,
        doc: &Document,
        variables: Value,
    ) -> Result<GqlResponse, ShopifyError> {
        let op = doc.name;
        let body = json!({ "query": doc.text, "variables": variables, "operationName": op });
        let mut attempts = 0u32;
        let mut backoff = self.config.backoff;
        'request: loop {
            let reservation = self.budget.acquire(self.expected_cost(doc)).await;
            self.bump(|s| s.requests += 1);
            let sent = self
                .http
                .post(&self.endpoint)
                .header("X-Shopify-Access-Token", self.config.access_token.expose_secret())
                .header("Accept", "application/json")
                .json(&body)
                .send()
                .await;
            // Anything below that fails before a usable answer is retried with back-off (or
            // the server's Retry-After) until the attempts are used up, if the class allows.
            let failure: Failure = 'answer: {
                let r = match sent {
                    Ok(r) => r,
                    // Refused before anything was sent: the shop never saw the request.
                    Err(e) if e.is_connect() => break 'answer Failure::not_run(describe(&e)),
                    Err(e) => break 'answer Failure::ambiguous(describe(&e)),
                };
                let status = r.status();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(600.0)));
                let text = match r.text().await {
                    Ok(t) => t,
                    Err(e) => break 'answer Failure::ambiguous(describe(&e)),
                };
                if status.as_u16() == 401 {
                    self.budget.settle(reservation, None, None).await;
                    return Err(ShopifyError::Unauthorized { operation: op });
                }
                if status.as_u16() == 429 {
                    // Rate limited before execution.
                    break 'answer Failure {
                        cause: format!("HTTP {status}"),
                        wait: retry_after.or(Some(Duration::from_secs(1))),
                        ambiguous: false,
                    };
                }
                if status.is_server_error() {
                    break 'answer Failure {
                        cause: format!("HTTP {status}"),
                        wait: retry_after,
                        ambiguous: true,
                    };
                }
                if !status.is_success() {
                    self.budget.settle(reservation, None, None).await;
                    let body: String = text.chars().take(500).collect();
                    return Err(ShopifyError::Http {
                        operation: op,
                        status: status.as_u16(),
                        body,
                    });
                }
                // A cut-off or garbled body: the answer was lost on the way, like a timeout.
                match serde_json::from_str::<Value>(&text) {
                    Ok(v) => {
                        let outcome = self.answer(op, v, reservation).await;
                        match outcome {
                            Answer::Done(r) => return r,
                            Answer::Throttled => continue 'request,
                            Answer::Failed(f) => {
                                // The budget was settled with this answer already.
                                attempts += 1;
                                match self.after_failure(doc, f, attempts, &mut backoff).await {
                                    Ok(()) => continue 'request,
                                    Err(e) => return Err(e),
                                }
                            }
                        }
                    }
                    Err(e) => break 'answer Failure::ambiguous(format!("unreadable answer: {e}")),
                }
            };
            self.budget.settle(reservation, None, None).await;
            attempts += 1;
            self.after_failure(doc, failure, attempts, &mut backoff).await?;
        }
    }

    /// After an attempt without a usable answer: the error to return, or (having waited the
    /// back-off) `Ok` to send again.
    async fn after_failure(
        &self,
        doc: &Document,
        failure: Failure,
        attempts: u32,
        backoff: &mut Duration,
    ) -> Result<(), ShopifyError> {
        let op = doc.name;
        if failure.ambiguous && !doc.retry.resend_when_ambiguous() {
            tracing::warn!(operation = op, error = %failure.cause, "outcome unknown; not idempotent, so not sent again");
            return Err(ShopifyError::Ambiguous {
                operation: op,
                reconcile: true,
                cause: failure.cause,
            });
        }
        if attempts >= self.config.max_attempts {
            return Err(ShopifyError::GaveUp { operation: op, attempts, last: failure.cause });
        }
        let wait = jitter(*backoff).max(failure.wait.unwrap_or_default());
        tracing::debug!(operation = op, error = %failure.cause, attempts, wait_ms = wait.as_millis() as u64, "retrying");
        self.bump(|s| s.retried += 1);
        tokio::time::sleep(wait).await;
        *backoff = (*backoff * 2).min(self.config.max_backoff);
        Ok(())
    }

    /// Read a JSON answer: settle the budget, learn the cost, and sort out the errors.
    async fn answer(&self, op: &'static str, v: Value, reservation: budget::Reservation) -> Answer {
        let throttle = throttle_status(&v);
        let requested = v.pointer("/extensions/cost/requestedQueryCost").and_then(Value::as_f64);
        let actual = v.pointer("/extensions/cost/actualQueryCost").and_then(Value::as_f64);
        // THROTTLED (no actual cost): nothing was charged.
        let charged = actual.or(throttle.map(|_| 0.0));
        self.budget.settle(reservation, throttle, charged).await;
        if let Some(c) = requested {
            self.learned.lock().unwrap_or_else(|e| e.into_inner()).insert(op, c);
        }
        let errors: Vec<GraphQlError> = match v.get("errors") {
            Some(e @ Value::Array(_)) => match serde_json::from_value(e.clone()) {
                Ok(errors) => errors,
                Err(source) => {
                    return Answer::Done(Err(ShopifyError::Decode { operation: op, source }));
                }
            },
            _ => Vec::new(),
        };
        if errors.iter().any(|e| e.code() == Some("THROTTLED")) {
            // Our estimate was off (another client shares the shop); the bucket state just
            // arrived with the answer, so the next acquire waits the right time.
            self.bump(|s| s.throttled += 1);
            tracing::debug!(operation = op, "throttled by the shop, waiting for the bucket");
            return Answer::Throttled;
        }
        if let Some(e) = errors.iter().find(|e| e.code() == Some("MAX_COST_EXCEEDED")) {
            let cost = e
                .extensions
                .as_ref()
                .and_then(|x| x.get("cost"))
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            return Answer::Done(Err(ShopifyError::MaxCostExceeded { operation: op, cost }));
        }
        if let Some(e) = errors.iter().find(|e| e.code() == Some("INTERNAL_SERVER_ERROR")) {
            return Answer::Failed(Failure::ambiguous(format!("Shopify's internal error: {e}")));
        }
        if !errors.is_empty() {
            return Answer::Done(Err(ShopifyError::GraphQl { operation: op, errors }));
        }
        if let Some(a) = actual {
            self.bump(|s| s.actual_cost += a);
        }
        let data = v.get("data").cloned().unwrap_or(Value::Null);
        Answer::Done(Ok(GqlResponse {
            data,
            requested_cost: requested,
            actual_cost: actual,
            throttle,
        }))
    }

    /// Run a typed operation (see [`ops`]): variables and answer are the types generated
    /// from its document; it is retried as its document's [`Retry`] class allows, and a
    /// mutation's `userErrors` become [`ShopifyError::UserErrors`].
    pub async fn run<O: Operation>(
        &self,
        variables: O::Variables,
    ) -> Result<O::ResponseData, ShopifyError> {
        let doc = O::DOCUMENT;
        let vars = serde_json::to_value(&variables)
            .map_err(|source| ShopifyError::Decode { operation: doc.name, source })?;
        let r = self.execute_checked(&doc, vars).await?;
        serde_json::from_value(r.data)
            .map_err(|source| ShopifyError::Decode { operation: doc.name, source })
    }

    /// Run a mutation and turn its payload's user errors into an error.
    pub async fn mutate(
        &self,
        doc: &Document,
        variables: Value,
        payload: &str,
    ) -> Result<Value, ShopifyError> {
        let r = self.execute_checked(doc, variables).await?;
        Ok(r.data.get(payload).cloned().unwrap_or(Value::Null))
    }

    /// [`Self::execute`], then a mutation's `userErrors` as an error. An `@idempotent`
    /// mutation told that its key's first attempt is still running
    /// (`IDEMPOTENCY_CONCURRENT_REQUEST`) waits and is sent again with the same key.
    async fn execute_checked(
        &self,
        doc: &Document,
        variables: Value,
    ) -> Result<GqlResponse, ShopifyError> {
        const CONCURRENT: &str = "IDEMPOTENCY_CONCURRENT_REQUEST";
        let mut attempts = 1u32;
        let mut backoff = self.config.backoff;
        loop {
            let outcome = match self.execute(doc, variables.clone()).await {
                Ok(r) if doc.is_mutation() => user_errors(doc.name, &r.data).map(|()| r),
                other => other,
            };
            let concurrent = match &outcome {
                Err(ShopifyError::UserErrors { errors, .. }) => {
                    errors.iter().any(|e| e.code.as_deref() == Some(CONCURRENT))
                }
                Err(ShopifyError::GraphQl { errors, .. }) => {
                    errors.iter().any(|e| e.code() == Some(CONCURRENT))
                }
                _ => false,
            };
            if !concurrent
                || doc.retry != Retry::IdempotencyKey
                || attempts >= self.config.max_attempts
            {
                return outcome;
            }
            attempts += 1;
            self.bump(|s| s.retried += 1);
            tracing::debug!(
                operation = doc.name,
                attempts,
                "first attempt with this key still running; waiting"
            );
            tokio::time::sleep(jitter(backoff)).await;
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    /// The nodes of the connection at `connection` (a field of `data`), page by page: the
    /// next page is fetched only when the previous one has been consumed.
    pub fn paginate<'a, N: DeserializeOwned + 'a>(
        &'a self,
        doc: &'a Document,
        variables: Value,
        connection: &'static str,
    ) -> impl Stream<Item = Result<N, ShopifyError>> + 'a {
        struct Page<N> {
            nodes: std::vec::IntoIter<N>,
            after: Option<String>,
            done: bool,
        }
        let start = Page { nodes: Vec::new().into_iter(), after: None, done: false };
        futures::stream::try_unfold((start, variables), move |(mut page, vars)| async move {
            loop {
                if let Some(n) = page.nodes.next() {
                    return Ok(Some((n, (page, vars))));
                }
                if page.done {
                    return Ok(None);
                }
                let mut v = vars.clone();
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("after".into(), json!(page.after));
                }
                let r = self.execute(doc, v).await?;
                let conn = r.data.get(connection).cloned().unwrap_or(Value::Null);
                let nodes: Vec<N> =
                    serde_json::from_value(conn.get("nodes").cloned().unwrap_or(json!([])))
                        .map_err(|source| ShopifyError::Decode { operation: doc.name, source })?;
                let info = conn.get("pageInfo");
                let next = info
                    .and_then(|i| i.get("hasNextPage"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                page.after = info
                    .and_then(|i| i.get("endCursor"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                page.done = !next || page.after.is_none();
                page.nodes = nodes.into_iter();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_waits_are_drawn_from_the_upper_half() {
        let d = Duration::from_millis(800);
        let waits: Vec<Duration> = (0..200).map(|_| jitter(d)).collect();
        assert!(waits.iter().all(|w| *w >= d / 2 && *w <= d));
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 100, "spread out, not one value");
    }
}
