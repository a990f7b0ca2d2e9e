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
mod catalogs;
pub mod clock;
pub mod cost;
pub mod coverage;
mod exec;
mod gql;
mod inventory;
mod media;
pub mod money;
mod orders;
mod parties;
mod products;
mod resolve;
pub mod schema;
mod scopes;
pub mod search;
pub mod store;
pub mod webhooks;
mod writes;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bucket::Limits;
use clock::Clock;
use cost::{CostModel, Coster};
use serde::Deserialize;
use serde_json::{Map, Value, json};
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
        Arc::new(Self {
            config,
            clock,
            shops: Mutex::new(HashMap::new()),
            faults: Mutex::new(HashMap::new()),
            webhook_stats: Mutex::new(HashMap::new()),
        })
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
    admin::routes(Router::new().route("/admin/api/{version}/graphql.json", post(graphql)))
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

const INVALID_TOKEN: &str =
    "[API] Invalid API key or access token (unrecognized login or wrong password)";

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r.headers_mut().insert("x-shopify-api-version", HeaderValue::from_static(schema::API_VERSION));
    r
}

#[derive(Deserialize)]
struct GraphqlBody {
    query: Option<String>,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

async fn graphql(
    State(sim): State<SharedSim>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let valid_version = version == "unstable"
        || (version.len() == 7
            && version.as_bytes()[4] == b'-'
            && version[..4].parse::<u16>().is_ok());
    if !valid_version {
        return json_response(StatusCode::NOT_FOUND, json!({ "errors": "Not Found" }));
    }
    let token = headers.get("x-shopify-access-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let Some(shop) = sim.shop_by_token(token, host) else {
        return json_response(StatusCode::UNAUTHORIZED, json!({ "errors": INVALID_TOKEN }));
    };
    let shop_name = shop.lock().unwrap_or_else(|e| e.into_inner()).name.clone();
    let (fault, latency) = sim.fault(&shop_name);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    match fault {
        Some("error") => {
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "errors": "Service Unavailable" }),
            );
        }
        Some("rate_limit") => {
            let mut r = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service." }),
            );
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1.0"));
            return r;
        }
        Some(_) => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"data\": {\"shop\": ",
            )
                .into_response();
        }
        None => {}
    }
    let body: GraphqlBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({ "errors": { "query": format!("Required parameter missing or invalid: {e}") } }),
            );
        }
    };
    let Some(query) = body.query.filter(|q| !q.trim().is_empty()) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({ "errors": { "query": "Required parameter missing or invalid" } }),
        );
    };
    let variables = match body.variables {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({ "errors": { "variables": "must be a JSON object" } }),
            );
        }
    };
    let base = format!("http://{}", host.unwrap_or("127.0.0.1"));
    let (status, body) = run(&sim, &shop, &query, body.operation_name.as_deref(), variables, &base);
    let (delay, lost) = sim.after_run(&shop_name);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if lost {
        return json_response(StatusCode::GATEWAY_TIMEOUT, json!({ "errors": "Gateway Timeout" }));
    }
    json_response(status, body)
}

/// Validate, cost, throttle and execute one request.
fn run(
    sim: &Sim,
    shop: &Mutex<Shop>,
    query: &str,
    operation_name: Option<&str>,
    variables: Map<String, Value>,
    base_url: &str,
) -> (StatusCode, Value) {
    let schema = schema::schema();
    // A document that does not parse gets its syntax errors alone, as graphql-ruby answers.
    if let Err(e) = apollo_compiler::ast::Document::parse(query, "query") {
        let empty = apollo_compiler::ExecutableDocument::new();
        return (
            StatusCode::OK,
            json!({ "errors": gql::validation_errors(&empty, &e.errors, query) }),
        );
    }
    let doc = match apollo_compiler::ExecutableDocument::parse_and_validate(&schema, query, "query")
    {
        Ok(d) => d,
        Err(e) => {
            return (
                StatusCode::OK,
                json!({ "errors": gql::validation_errors(&e.partial, &e.errors, query) }),
            );
        }
    };
    let op = match doc.operations.get(operation_name) {
        Ok(op) => op,
        Err(_) => {
            let message = match operation_name {
                Some(n) => format!("No operation named \"{n}\""),
                None => "An operation name is required".to_owned(),
            };
            return (StatusCode::OK, json!({ "errors": [{ "message": message }] }));
        }
    };
    let variables = match gql::coerce_variables(&schema, op, &variables) {
        Ok(v) => v,
        Err(errors) => return (StatusCode::OK, json!({ "errors": errors })),
    };
    let coster =
        Coster { schema: &schema, doc: &doc, model: sim.config.cost_model, variables: &variables };
    let requested = match coster.requested(op) {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::OK,
                json!({ "errors": [{
                    "message": e.message,
                    "locations": [{ "line": e.line, "column": e.column }],
                    "path": e.path,
                    "extensions": { "code": "BAD_REQUEST" },
                }] }),
            );
        }
    };
    if requested > cost::MAX_COST {
        return (
            StatusCode::OK,
            json!({ "errors": [{
                "message": format!(
                    "Query cost is {requested}, which exceeds the single query max cost limit ({}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n",
                    cost::MAX_COST
                ),
                "extensions": {
                    "code": "MAX_COST_EXCEEDED",
                    "cost": requested,
                    "maxCost": cost::MAX_COST,
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }] }),
        );
    }
    let mut shop = shop.lock().unwrap_or_else(|e| e.into_inner());
    shop.usage.requests += 1;
    // Every amount of this request, queried or written, is in this shop's minor units (the
    // thread may have answered another shop last).
    money::set_current_units(shop.units());
    let now = sim.clock.now_secs();
    shop.usage.first_at.get_or_insert(now);
    shop.usage.last_at = now;
    if !shop.bucket(&sim.clock).take(requested, &sim.clock) {
        shop.usage.throttled += 1;
        let status = shop.bucket(&sim.clock).status(&sim.clock);
        return (
            StatusCode::OK,
            json!({
                "errors": [{
                    "message": "Throttled",
                    "extensions": { "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits" },
                }],
                "extensions": { "cost": cost_json(requested, None, status) },
            }),
        );
    }
    let is_query = op.operation_type == apollo_compiler::executable::OperationType::Query;
    let root_type = if is_query { "QueryRoot" } else { "Mutation" };
    let denied = scopes::denied(&doc, root_type, &op.selection_set, shop.scopes.as_deref());
    let (mut data, mut errors) = if is_query {
        let now = sim.clock.now_secs();
        let mut exec = exec::Exec::new(&doc, &variables, &shop, now);
        let mut data = exec.run(&op.selection_set);
        gql::introspect(&schema, &doc, op, &variables, &mut data, &mut exec.errors);
        if exec.failed_non_null {
            // A non-null field the simulator cannot answer fails the answer (the null
            // propagates to the root), rather than leaving a null where none may be.
            data = Value::Null;
        }
        (data, exec.errors)
    } else {
        mutate(sim, &doc, &variables, &mut shop, &op.selection_set, base_url, &denied)
    };
    for (key, error) in denied {
        if let Some(o) = data.as_object_mut() {
            o.insert(key, Value::Null);
        }
        errors.push(error);
    }
    let actual = coster.actual(op, &data).min(requested);
    shop.usage.requested_points += requested;
    shop.usage.actual_points += actual;
    shop.bucket(&sim.clock).refund(requested - actual, &sim.clock);
    let status = shop.bucket(&sim.clock).status(&sim.clock);
    let mut body = Map::new();
    if !errors.is_empty() {
        body.insert("errors".into(), Value::Array(errors));
    }
    body.insert("data".into(), data);
    body.insert("extensions".into(), json!({ "cost": cost_json(requested, Some(actual), status) }));
    (StatusCode::OK, Value::Object(body))
}

/// Run a mutation's root fields in order. Business failures are `userErrors` in the payload,
/// as Shopify answers them; mutations not simulated yet answer a `NOT_SIMULATED` error.
fn mutate(
    sim: &Sim,
    doc: &apollo_compiler::validation::Valid<apollo_compiler::ExecutableDocument>,
    variables: &Map<String, Value>,
    shop: &mut Shop,
    set: &apollo_compiler::executable::SelectionSet,
    base_url: &str,
    denied: &std::collections::BTreeMap<String, Value>,
) -> (Value, Vec<Value>) {
    let now = sim.clock.now_secs();
    let mut failed_non_null = false;
    let mut data = Map::new();
    let mut errors = Vec::new();
    let mut events: Vec<(&'static str, Value)> = Vec::new();
    for sel in &set.selections {
        let apollo_compiler::executable::Selection::Field(f) = sel else { continue };
        let key = f.response_key().to_string();
        if denied.contains_key(&key) {
            // Not executed: the caller answers null with ACCESS_DENIED.
            continue;
        }
        let arg =
            |shop: &Shop, name: &str| exec::Exec::new(doc, variables, shop, now).argument(f, name);
        let (object, user_errors) = match f.name.as_str() {
            "customerCreate" => {
                let input = arg(shop, "input");
                let (id, errs) = customer_create(shop, &input);
                if let Some(c) = id.and_then(|id| shop.customers.get(&id)) {
                    events.push(("CUSTOMERS_CREATE", customer_payload(c)));
                }
                (id.map(exec::PayloadObject::Customer), errs)
            }
            "customerUpdate" | "customerSet" => {
                let input = arg(shop, "input");
                let r = if f.name == "customerUpdate" {
                    parties::customer_update(shop, &input).map(|id| (id, false))
                } else {
                    parties::customer_set(shop, &arg(shop, "identifier"), &input)
                };
                match r {
                    Ok((id, created)) => {
                        let c = &shop.customers[&id];
                        events.push((
                            if created { "CUSTOMERS_CREATE" } else { "CUSTOMERS_UPDATE" },
                            customer_payload(c),
                        ));
                        (Some(exec::PayloadObject::Customer(id)), Vec::new())
                    }
                    Err(errs) => (None, errs),
                }
            }
            "companyCreate" | "companyUpdate" => {
                let input = arg(shop, "input");
                let r = if f.name == "companyCreate" {
                    parties::company_create(shop, &input)
                } else {
                    let company = arg(shop, "companyId");
                    parties::company_update(shop, company.as_str().unwrap_or(""), &input)
                };
                match r {
                    Ok(id) => {
                        let topic = if f.name == "companyCreate" {
                            "COMPANIES_CREATE"
                        } else {
                            "COMPANIES_UPDATE"
                        };
                        events.push((topic, company_payload(&shop.companies[&id])));
                        (Some(exec::PayloadObject::Company(id)), Vec::new())
                    }
                    Err(errs) => (None, errs),
                }
            }
            "companyLocationUpdate" => {
                let location = arg(shop, "companyLocationId");
                let input = arg(shop, "input");
                match parties::location_update(shop, location.as_str().unwrap_or(""), &input) {
                    Ok((c, l)) => {
                        events.push((
                            "COMPANY_LOCATIONS_UPDATE",
                            json!({ "id": l, "company_id": c }),
                        ));
                        (Some(exec::PayloadObject::CompanyLocation(c, l)), Vec::new())
                    }
                    Err(errs) => (None, errs),
                }
            }
            "companyAssignCustomerAsContact" => {
                let company = arg(shop, "companyId");
                let customer = arg(shop, "customerId");
                match parties::assign_contact(
                    shop,
                    company.as_str().unwrap_or(""),
                    customer.as_str().unwrap_or(""),
                ) {
                    Ok((c, k)) => (Some(exec::PayloadObject::Contact(c, k)), Vec::new()),
                    Err(errs) => (None, errs),
                }
            }
            "priceListFixedPricesAdd" => {
                let list = arg(shop, "priceListId");
                let prices = arg(shop, "prices");
                match catalogs::fixed_prices_add(shop, list.as_str().unwrap_or(""), &prices) {
                    Ok((list, variants)) => {
                        (Some(exec::PayloadObject::Prices(list, variants)), Vec::new())
                    }
                    Err(Ok(errs)) => (None, errs),
                    Err(Err(top)) => {
                        errors.push(json!({ "message": top.0, "path": [key_of(f)], "extensions": { "code": top.1 } }));
                        data.insert(key_of(f), Value::Null);
                        continue;
                    }
                }
            }
            "orderClose" | "orderMarkAsPaid" => {
                let input = arg(shop, "input");
                let r = if f.name == "orderClose" {
                    orders::close(shop, &input)
                } else {
                    orders::mark_as_paid(shop, &input)
                };
                match r {
                    Ok(id) => {
                        events.push(("ORDERS_UPDATED", order_payload(shop, id)));
                        (Some(exec::PayloadObject::Order(id)), Vec::new())
                    }
                    Err(errs) => (None, errs),
                }
            }
            "orderCancel" => {
                let order = arg(shop, "orderId");
                let restock = arg(shop, "restock").as_bool().unwrap_or(false);
                // `refundMethod: {originalPaymentMethodsRefund: true}` or the deprecated
                // `refund: true` refund what was paid to the original payment methods.
                let refund = arg(shop, "refund").as_bool().unwrap_or(false)
                    || arg(shop, "refundMethod")
                        .get("originalPaymentMethodsRefund")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                let order = order.as_str().unwrap_or("");
                let refunds_before = store::parse_gid("Order", order)
                    .and_then(|id| shop.orders.get(&id))
                    .map_or(0, |o| o.refunds.len());
                match orders::cancel(shop, order, restock, refund) {
                    Ok(id) => {
                        if shop.orders[&id].refunds.len() > refunds_before
                            && let Some(r) = shop.orders[&id].refunds.last()
                        {
                            events.push(("REFUNDS_CREATE", refund_payload(shop, id, r)));
                        }
                        events.push(("ORDERS_CANCELLED", order_payload(shop, id)));
                        let job = shop.next_id();
                        (Some(exec::PayloadObject::Job(job)), Vec::new())
                    }
                    Err(errs) => (None, errs),
                }
            }
            "productSet" => {
                let identifier = arg(shop, "identifier");
                let input = arg(shop, "input");
                let files = input.get("files").cloned().unwrap_or(Value::Null);
                let target = identifier
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|g| store::parse_gid("Product", g));
                let errs = media::check_files(shop, target, &files);
                match if errs.is_empty() {
                    products::product_set(shop, &identifier, &input)
                } else {
                    Err(errs)
                } {
                    Ok(id) => {
                        let p = &shop.products[&id];
                        let topic = if p.created_at == p.updated_at {
                            "PRODUCTS_CREATE"
                        } else {
                            "PRODUCTS_UPDATE"
                        };
                        media::set_files(shop, id, &files, now);
                        events.push((topic, product_payload(&shop.products[&id])));
                        (Some(exec::PayloadObject::Product(id)), Vec::new())
                    }
                    Err(errs) => (None, errs),
                }
            }
            "productCreate" | "productUpdate" => 'arm: {
                let input = arg(shop, "product");
                let media_arg = arg(shop, "media");
                let existing = if f.name == "productUpdate" {
                    let identifier = arg(shop, "identifier");
                    let id = input
                        .get("id")
                        .or_else(|| identifier.get("id"))
                        .and_then(Value::as_str)
                        .and_then(|g| store::parse_gid("Product", g))
                        .filter(|id| shop.products.contains_key(id));
                    if id.is_none() {
                        let e = json!({ "field": ["product", "id"], "message": "Product does not exist" });
                        break 'arm (None, vec![e]);
                    }
                    id
                } else {
                    None
                };
                let mut errs = media::check(shop, existing, &media_arg, "media");
                if existing.is_none()
                    && input
                        .get("title")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t.trim().is_empty())
                {
                    errs.push(
                        json!({ "field": ["product", "title"], "message": "Title can't be blank" }),
                    );
                }
                if !errs.is_empty() {
                    break 'arm (None, errs);
                }
                let mut fields = input.clone();
                if let Some(o) = fields.as_object_mut() {
                    o.remove("id");
                }
                let identifier = match existing {
                    Some(id) => json!({ "id": store::gid("Product", id) }),
                    None => json!({}),
                };
                match products::product_set(shop, &identifier, &fields) {
                    Ok(id) => {
                        media::attach(shop, id, &media_arg, now);
                        let topic = if f.name == "productCreate" {
                            "PRODUCTS_CREATE"
                        } else {
                            "PRODUCTS_UPDATE"
                        };
                        events.push((topic, product_payload(&shop.products[&id])));
                        (Some(exec::PayloadObject::Product(id)), Vec::new())
                    }
                    Err(errs) => (
                        None,
                        errs.into_iter()
                            .map(|mut e| {
                                if let Some(o) = e.as_object_mut() {
                                    o.remove("code");
                                }
                                e
                            })
                            .collect(),
                    ),
                }
            }
            "stagedUploadsCreate" => {
                let input = arg(shop, "input");
                match media::staged_uploads_create(shop, &input, base_url) {
                    Ok(targets) => (Some(exec::PayloadObject::StagedTargets(targets)), Vec::new()),
                    Err(errs) => (None, errs),
                }
            }
            "productVariantsBulkUpdate" => {
                let product = arg(shop, "productId");
                let variants = arg(shop, "variants");
                match products::variants_bulk_update(
                    shop,
                    product.as_str().unwrap_or(""),
                    &variants,
                ) {
                    Ok((p, ids)) => (Some(exec::PayloadObject::Variants(p, ids)), Vec::new()),
                    Err(errs) => (None, errs),
                }
            }
            "fulfillmentCreate" => {
                let input = arg(shop, "fulfillment");
                match orders::fulfillment_create(shop, &input) {
                    Ok((order, id)) => {
                        let mut body = order_payload(shop, order);
                        if let Some(o) = body.as_object_mut() {
                            o.insert("fulfillment_id".into(), json!(id));
                        }
                        events.push(("FULFILLMENTS_CREATE", body));
                        events.push(("ORDERS_UPDATED", order_payload(shop, order)));
                        (Some(exec::PayloadObject::Fulfillment(order, id)), Vec::new())
                    }
                    Err(errs) => (None, errs),
                }
            }
            "inventorySetQuantities" | "inventoryAdjustQuantities" => {
                let input = arg(shop, "input");
                let key = exec::Exec::new(doc, variables, shop, now).directive_argument(
                    f,
                    "idempotent",
                    "key",
                );
                match if f.name == "inventorySetQuantities" {
                    inventory::set_quantities(shop, &input, key)
                } else {
                    inventory::adjust_quantities(shop, &input, key)
                } {
                    Ok((group, errs)) => {
                        if let Some(g) = group.and_then(|g| shop.adjustments.get(&g)) {
                            for c in g.changes.iter().filter(|c| c.name == "available") {
                                events.push((
                                    "INVENTORY_LEVELS_UPDATE",
                                    json!({
                                        "inventory_item_id": c.item_id,
                                        "location_id": c.location_id,
                                        "available": c.quantity_after,
                                        "updated_at": g.created_at.to_rfc3339(),
                                        "admin_graphql_api_id": format!("{}?inventory_item_id={}", store::gid("InventoryLevel", c.location_id), c.item_id),
                                    }),
                                ));
                            }
                        }
                        (group.map(exec::PayloadObject::Group), errs)
                    }
                    Err(top) => {
                        errors.push(json!({ "message": top.0, "path": [key_of(f)], "extensions": { "code": top.1 } }));
                        data.insert(key_of(f), Value::Null);
                        continue;
                    }
                }
            }
            "bulkOperationRunQuery" => {
                let query = arg(shop, "query");
                let (id, errs) = bulk_run_query(sim, shop, query.as_str().unwrap_or(""), base_url);
                (id.map(exec::PayloadObject::Bulk), errs)
            }
            name if writes::handler(name).is_some() => {
                let mut args = Map::new();
                for a in &f.definition.arguments {
                    args.insert(a.name.to_string(), arg(shop, a.name.as_str()));
                }
                match writes::handler(name) {
                    Some(h) => h(shop, &args, &mut events),
                    None => (None, Vec::new()),
                }
            }
            _ => {
                errors.push(json!({
                    "message": format!("Mutation '{}' is not simulated by shopify-sim", f.name),
                    "path": [key],
                    "extensions": { "code": "NOT_SIMULATED" },
                }));
                data.insert(key, Value::Null);
                continue;
            }
        };
        let mut e = exec::Exec::new(doc, variables, shop, now);
        let payload = e.payload(f, object, &user_errors);
        failed_non_null |= e.failed_non_null;
        errors.extend(e.errors);
        data.insert(key, payload);
    }
    trigger(sim, shop, events);
    if failed_non_null {
        // The mutations ran; the answer fails as a query's does when a non-null field of a
        // payload's object cannot be answered.
        return (Value::Null, errors);
    }
    (Value::Object(data), errors)
}

/// A customer as webhooks carry it (REST-shaped, snake_case, numeric ids).
fn customer_payload(c: &store::Customer) -> Value {
    json!({
        "id": c.id,
        "email": c.email,
        "phone": (!c.phone.is_empty()).then_some(&c.phone),
        "first_name": c.first_name,
        "last_name": c.last_name,
        "note": (!c.note.is_empty()).then_some(&c.note),
        "tags": c.tags.join(", "),
        "created_at": c.created_at.to_rfc3339(),
        "updated_at": c.updated_at.to_rfc3339(),
        "admin_graphql_api_id": store::gid("Customer", c.id),
    })
}

fn company_payload(c: &store::Company) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "external_id": c.external_id,
        "note": (!c.note.is_empty()).then_some(&c.note),
        "created_at": c.created_at.to_rfc3339(),
        "updated_at": c.updated_at.to_rfc3339(),
        "admin_graphql_api_id": store::gid("Company", c.id),
    })
}

/// A product as webhooks carry it (REST-shaped, snake_case, numeric ids).
fn product_payload(p: &store::Product) -> Value {
    json!({
        "id": p.id,
        "title": p.title,
        "handle": p.handle,
        "status": p.status.to_lowercase(),
        "updated_at": p.updated_at.to_rfc3339(),
        "variants": p.variants.iter().map(|v| json!({ "id": v.id, "sku": v.sku, "price": v.price })).collect::<Vec<_>>(),
        "images": p.media.iter().map(|m| json!({ "id": m.id, "alt": m.alt, "src": m.source })).collect::<Vec<_>>(),
        "admin_graphql_api_id": store::gid("Product", p.id),
    })
}

/// An order as webhooks carry it (REST-shaped, snake_case, numeric ids).
pub(crate) fn order_payload(shop: &Shop, id: u64) -> Value {
    let Some(o) = shop.orders.get(&id) else { return Value::Null };
    json!({
        "id": o.id,
        "name": o.name(),
        "email": o.email,
        "financial_status": o.financial_status.to_lowercase(),
        "fulfillment_status": match o.fulfillment_status() {
            "FULFILLED" => Value::from("fulfilled"),
            "PARTIALLY_FULFILLED" => Value::from("partial"),
            _ => Value::Null,
        },
        "cancelled_at": o.cancelled_time().map(|t| t.to_rfc3339()),
        "closed_at": o.closed_time().map(|t| t.to_rfc3339()),
        "total_price": o.total,
        "currency": shop.currency,
        "created_at": o.created_at.to_rfc3339(),
        "updated_at": o.updated_at.to_rfc3339(),
        "line_items": o.line_items.iter().map(|l| json!({
            "id": l.id, "variant_id": l.variant_id, "sku": l.sku, "quantity": l.quantity,
            "current_quantity": l.current(), "price": l.price,
        })).collect::<Vec<_>>(),
        "admin_graphql_api_id": store::gid("Order", o.id),
    })
}

/// A refund as the refunds/create webhook carries it (REST-shaped): its transaction, its
/// `refund_line_items` and, for refunded shipping, an `order_adjustments` entry of kind
/// `shipping_refund` (negative amounts, as Shopify's REST answers them).
pub(crate) fn refund_payload(shop: &Shop, order: u64, r: &store::Refund) -> Value {
    let Some(o) = shop.orders.get(&order) else { return Value::Null };
    let set = |a: &str| {
        let m = json!({ "amount": a, "currency_code": shop.currency });
        json!({ "shop_money": m, "presentment_money": m })
    };
    let negative = |a: &str| {
        if money::to_minor(a, shop.units()).unwrap_or(0) == 0 {
            a.to_owned()
        } else {
            format!("-{a}")
        }
    };
    let transactions: Vec<Value> = o
        .transactions
        .iter()
        .filter(|t| Some(t.id) == r.transaction)
        .map(|t| {
            json!({
                "id": t.id, "order_id": order, "kind": "refund", "status": "success",
                "amount": t.amount, "currency": shop.currency, "gateway": t.gateway,
                "created_at": t.created_at.to_rfc3339(),
                "admin_graphql_api_id": store::gid("OrderTransaction", t.id),
            })
        })
        .collect();
    let lines: Vec<Value> = r
        .lines
        .iter()
        .map(|l| {
            let li = o.line_items.iter().find(|x| x.id == l.line_item_id);
            json!({
                "id": l.id,
                "line_item_id": l.line_item_id,
                "location_id": l.location_id,
                "quantity": l.quantity,
                "restock_type": l.restock_type.to_ascii_lowercase(),
                "subtotal": l.subtotal,
                "subtotal_set": set(&l.subtotal),
                "total_tax": l.total_tax,
                "total_tax_set": set(&l.total_tax),
                "line_item": li.map(|li| json!({
                    "id": li.id, "variant_id": li.variant_id, "sku": li.sku, "quantity": li.quantity,
                    "price": li.price, "admin_graphql_api_id": store::gid("LineItem", li.id),
                })),
            })
        })
        .collect();
    let adjustments: Vec<Value> = r
        .shipping
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "order_id": order, "refund_id": r.id, "kind": "shipping_refund",
                "reason": "Shipping refund", "amount": negative(&s.subtotal),
                "amount_set": set(&negative(&s.subtotal)), "tax_amount": negative(&s.tax),
                "tax_amount_set": set(&negative(&s.tax)),
            })
        })
        .collect();
    json!({
        "id": r.id,
        "order_id": order,
        "created_at": r.created_at.to_rfc3339(),
        "processed_at": r.created_at.to_rfc3339(),
        "note": r.note,
        "restock": r.lines.iter().any(|l| l.restocked),
        "transactions": transactions,
        "refund_line_items": lines,
        "order_adjustments": adjustments,
        "admin_graphql_api_id": store::gid("Refund", r.id),
    })
}

/// Queue a delivery of each event to every subscription of its topic (or drop it, counted,
/// while the shop's webhooks are switched off).
pub(crate) fn trigger(sim: &Sim, shop: &Shop, events: Vec<(&'static str, Value)>) {
    let stats = sim.webhook_stats(&shop.name);
    let off = sim.webhooks_off(&shop.name);
    for (topic, body) in events {
        let event_id = uuid::Uuid::new_v4().to_string();
        let body = webhooks::payload(&body);
        for sub in shop.subscriptions.values().filter(|s| s.topic == topic) {
            if off {
                stats.count_dropped();
                continue;
            }
            let (dup, delay) = sim.webhook_dice(&shop.name);
            let d = webhooks::Delivery {
                uri: sub.uri.clone(),
                topic: webhooks::slash_topic(topic),
                shop_domain: shop.domain(),
                secret: shop.client_secret.clone(),
                body: body.clone(),
                webhook_id: uuid::Uuid::new_v4().to_string(),
                event_id: event_id.clone(),
                triggered_at: chrono::Utc::now().to_rfc3339(),
                delay,
            };
            if dup {
                webhooks::spawn(d.clone(), sim.config.webhook_retry, stats.clone());
            }
            webhooks::spawn(d, sim.config.webhook_retry, stats.clone());
        }
    }
}

/// Simulated seconds a bulk query runs before it completes.
const BULK_RUN_SECS: f64 = 0.5;
/// Bulk queries running at once per shop (2026-01 and later).
const BULK_CONCURRENCY: usize = 5;

fn bulk_run_query(
    sim: &Sim,
    shop: &mut Shop,
    query: &str,
    base_url: &str,
) -> (Option<u64>, Vec<Value>) {
    let now = sim.clock.now_secs();
    if shop.bulk_ops.values().filter(|b| b.ready_at > now).count() >= BULK_CONCURRENCY {
        return (
            None,
            vec![json!({
                "field": null,
                "message": format!("A shop can run at most {BULK_CONCURRENCY} bulk query operations at a time."),
                "code": "LIMIT_REACHED",
            })],
        );
    }
    let schema = schema::schema();
    let inner =
        match apollo_compiler::ExecutableDocument::parse_and_validate(&schema, query, "bulk") {
            Ok(d) => d,
            Err(e) => {
                let errs = gql::validation_errors(&e.partial, &e.errors, query)
                .into_iter()
                .map(|v| json!({ "field": ["query"], "message": v["message"], "code": "INVALID" }))
                .collect();
                return (None, errs);
            }
        };
    let Ok(op) = inner.operations.get(None) else {
        return (
            None,
            vec![
                json!({ "field": ["query"], "message": "Bulk queries must contain exactly one query operation.", "code": "INVALID" }),
            ],
        );
    };
    if op.operation_type != apollo_compiler::executable::OperationType::Query {
        return (
            None,
            vec![
                json!({ "field": ["query"], "message": "Bulk queries must be queries.", "code": "INVALID" }),
            ],
        );
    }
    // A bulk query the app lacks a scope for is accepted, then fails with ACCESS_DENIED.
    let denied =
        !scopes::denied(&inner, "QueryRoot", &op.selection_set, shop.scopes.as_deref()).is_empty();
    let vars = Map::new();
    let lines = if denied {
        Ok((Vec::new(), 0))
    } else {
        let mut e = exec::Exec::new(&inner, &vars, shop, now);
        e.bulk_lines(&op.selection_set)
    };
    let (lines, roots) = match lines {
        Ok(x) => x,
        Err(message) => {
            return (
                None,
                vec![json!({ "field": ["query"], "message": message, "code": "INVALID" })],
            );
        }
    };
    let id = shop.next_id();
    let mut jsonl = lines.join("\n");
    if !jsonl.is_empty() {
        jsonl.push('\n');
    }
    let op = store::BulkOp {
        id,
        query: query.to_owned(),
        created_at: chrono::Utc::now(),
        ready_at: now + BULK_RUN_SECS,
        object_count: lines.len() as u64,
        root_object_count: roots,
        url: format!("{base_url}/sim/bulk/{}/{id}.jsonl", shop.name),
        jsonl,
        error_code: denied.then(|| "ACCESS_DENIED".to_owned()),
    };
    shop.bulk_ops.insert(id, op);
    (Some(id), Vec::new())
}

fn key_of(f: &apollo_compiler::executable::Field) -> String {
    f.response_key().to_string()
}

fn customer_create(shop: &mut Shop, input: &Value) -> (Option<u64>, Vec<Value>) {
    let text =
        |k: &str| input.get(k).and_then(Value::as_str).map(str::trim).unwrap_or("").to_owned();
    let (first, last, email) = (text("firstName"), text("lastName"), text("email").to_lowercase());
    let mut errs = Vec::new();
    if first.is_empty() && last.is_empty() && email.is_empty() && text("phone").is_empty() {
        errs.push(json!({ "field": null, "message": "A name, phone number, or email address must be present" }));
    }
    if !email.is_empty() && (!email.contains('@') || email.starts_with('@') || email.ends_with('@'))
    {
        errs.push(json!({ "field": ["email"], "message": "Email is invalid" }));
    }
    if !email.is_empty() && shop.customers.values().any(|c| c.email == email) {
        errs.push(json!({ "field": ["email"], "message": "Email has already been taken" }));
    }
    if !errs.is_empty() {
        return (None, errs);
    }
    let id = shop.next_id();
    let at = shop.stamp();
    let tags = input
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    shop.customers.insert(
        id,
        store::Customer {
            id,
            first_name: first,
            last_name: last,
            email,
            tags,
            created_at: at,
            updated_at: at,
            phone: text("phone"),
            note: text("note"),
            addresses: Vec::new(),
        },
    );
    (Some(id), Vec::new())
}

/// `extensions.cost` as Shopify writes it: costs and the available points as integers, the
/// bucket size and restore rate as floats (`2000.0`, `100.0`).
fn cost_json(requested: f64, actual: Option<f64>, s: bucket::ThrottleStatus) -> Value {
    json!({
        "requestedQueryCost": requested.ceil() as i64,
        "actualQueryCost": actual.map(|a| a.ceil() as i64),
        "throttleStatus": {
            "maximumAvailable": s.maximum_available,
            "currentlyAvailable": s.currently_available.floor() as i64,
            "restoreRate": s.restore_rate,
        },
    })
}
