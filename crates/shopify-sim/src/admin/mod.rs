//! The simulator's admin API (`/sim/…`) for tests and the demo: create, seed and inspect
//! shops, inject faults, add locations, place and edit orders, read staged uploads and bulk
//! results. Every handler on one shop starts the same way, through the `Admin` and `AdminShop`
//! extractors: the JSON body (400 when it is wrong), then the shop of the path (404).

mod orders;

use crate::store::{self, Shop};
use crate::{Faults, SharedSim, SimError, media};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The `/sim/…` routes.
pub(crate) fn routes(router: Router<SharedSim>) -> Router<SharedSim> {
    router
        .route("/sim/shops", post(create_shop))
        .route("/sim/shops/{shop}", get(shop_summary))
        .route("/sim/shops/{shop}/seed", post(seed_shop))
        .route("/sim/bulk/{shop}/{file}", get(bulk_file))
        .route(
            "/sim/uploads/{shop}/{key}",
            put(upload).post(upload).layer(axum::extract::DefaultBodyLimit::max(
                media::MAX_IMAGE_BYTES as usize + 64 * 1024,
            )),
        )
        .route("/sim/shops/{shop}/faults", post(set_faults))
        .route("/sim/shops/{shop}/locations", post(create_location))
        .route("/sim/shops/{shop}/orders", post(orders::place_order))
        .route("/sim/shops/{shop}/orders/{order}", patch(orders::edit_order))
        .route("/sim/shops/{shop}/export", get(export_shop))
}

/// What a request body must satisfy beyond its JSON shape, checked before the shop is looked
/// up (a bad body is answered 400 even for a shop that does not exist).
trait Check {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A JSON request body that passed its `Check`, or the 400 answer naming what is wrong.
struct Body<T>(T);

impl<T: DeserializeOwned + Check, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let Json(body) =
            Json::<T>::from_request(req, state).await.map_err(|e| bad_request(e.body_text()))?;
        body.check().map_err(bad_request)?;
        Ok(Body(body))
    }
}

/// The shop named by the path's `{shop}` (404 when there is none), with the simulator.
struct AdminShop {
    sim: SharedSim,
    name: String,
    shop: Arc<Mutex<Shop>>,
}

impl AdminShop {
    /// Look the shop up, or its 404 answer.
    #[allow(clippy::result_large_err)] // the error is the handler's answer, built once, on the error path
    fn find(sim: &SharedSim, name: String) -> Result<Self, Response> {
        match sim.shop(&name) {
            Some(shop) => Ok(Self { sim: sim.clone(), name, shop }),
            None => Err(not_found(format!("no shop {name:?}"))),
        }
    }

    /// The shop, locked for the rest of the request.
    fn lock(&self) -> MutexGuard<'_, Shop> {
        self.shop.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `{shop}` of the path.
async fn shop_param(parts: &mut Parts, sim: &SharedSim) -> Result<String, Response> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, sim)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(params.get("shop").cloned().unwrap_or_default())
}

impl FromRequestParts<SharedSim> for AdminShop {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, sim: &SharedSim) -> Result<Self, Response> {
        let name = shop_param(parts, sim).await?;
        Self::find(sim, name)
    }
}

/// An admin request on one shop with a JSON body: the body first (400), then the shop (404).
struct Admin<T> {
    shop: AdminShop,
    body: T,
}

impl<T: DeserializeOwned + Check> FromRequest<SharedSim> for Admin<T> {
    type Rejection = Response;

    async fn from_request(req: Request, sim: &SharedSim) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let name = shop_param(&mut parts, sim).await?;
        let Body(body) = Body::<T>::from_request(Request::from_parts(parts, body), sim).await?;
        Ok(Self { shop: AdminShop::find(sim, name)?, body })
    }
}

fn not_found(reason: String) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": reason }))).into_response()
}

fn bad_request(reason: impl ToString) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": reason.to_string() }))).into_response()
}

#[derive(Deserialize)]
struct CreateShop {
    name: String,
    access_token: String,
    #[serde(default = "standard")]
    plan: String,
    /// The shop's currency, an ISO 4217 code (default EUR).
    #[serde(default = "euro")]
    currency: String,
    /// The app's client secret webhooks are signed with (default `shpss_{name}_secret`).
    #[serde(default)]
    client_secret: Option<String>,
    /// The access scopes the app was granted (default: all). Without `read_all_orders`, orders
    /// older than 60 days are invisible, as in Shopify.
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

fn standard() -> String {
    "standard".into()
}

fn euro() -> String {
    "EUR".into()
}

impl Check for CreateShop {
    fn check(&self) -> Result<(), String> {
        if self.client_secret.as_deref().is_some_and(|s| s.len() < 8) {
            return Err("client_secret must be at least 8 characters".into());
        }
        if let Some(bad) = self.scopes.iter().flatten().find(|s| {
            !(s.starts_with("read_")
                || s.starts_with("write_")
                || s.starts_with("unauthenticated_"))
                || !s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        }) {
            return Err(format!("scopes: {bad:?} is not an access scope (read_… or write_…)"));
        }
        Ok(())
    }
}

async fn create_shop(State(sim): State<SharedSim>, Body(req): Body<CreateShop>) -> Response {
    match sim.add_shop_in(&req.name, &req.access_token, &req.plan, &req.currency) {
        Ok(()) => {
            if let Some(shop) = sim.shop(&req.name) {
                let mut shop = shop.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(secret) = &req.client_secret {
                    shop.client_secret = secret.clone();
                }
                shop.scopes = req.scopes.clone();
            }
            let body = json!({
                "name": req.name,
                "domain": format!("{}.myshopify.com", req.name),
                "currency": req.currency,
            });
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(e @ SimError::ShopExists(_)) => {
            (StatusCode::CONFLICT, Json(json!({ "error": e.to_string() }))).into_response()
        }
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize)]
struct Seed {
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    products: usize,
    #[serde(default)]
    customers: usize,
    #[serde(default)]
    orders: usize,
    #[serde(default)]
    companies: usize,
}

impl Check for Seed {
    fn check(&self) -> Result<(), String> {
        if self.products > 100_000 || self.customers > 100_000 || self.orders > 100_000 {
            return Err("at most 100000 products, customers and orders per call".into());
        }
        Ok(())
    }
}

async fn seed_shop(req: Admin<Seed>) -> Response {
    let seed = req.body;
    let mut shop = req.shop.lock();
    shop.seed(seed.seed, seed.products, seed.customers);
    shop.seed_orders(seed.seed, seed.orders.min(100_000));
    shop.seed_b2b(seed.seed, seed.companies.min(10_000));
    let counts = json!({
        "products": shop.products.len(),
        "customers": shop.customers.len(),
        "orders": shop.orders.len(),
        "companies": shop.companies.len(),
    });
    Json(counts).into_response()
}

impl Check for Faults {
    fn check(&self) -> Result<(), String> {
        let f = self;
        let rates = [f.error_rate, f.rate_limit_rate, f.malformed_rate, f.timeout_rate];
        if !(0.0..=1.0).contains(&f.webhook_duplicate_rate) || f.webhook_jitter_ms > 600_000 {
            return Err(
                "webhook_duplicate_rate must be within 0..1 and webhook_jitter_ms at most 600000"
                    .into(),
            );
        }
        if rates.iter().any(|r| !(0.0..=1.0).contains(r)) || rates.iter().sum::<f64>() > 1.0 {
            return Err(
                "error_rate, rate_limit_rate and malformed_rate must be within 0..1 and sum to at most 1"
                    .into(),
            );
        }
        if !(0.0..=1.0).contains(&f.lost_answer_rate) {
            return Err("lost_answer_rate must be within 0..1".into());
        }
        if f.latency_ms > 60_000 || f.timeout_ms > 600_000 || f.answer_delay_ms > 60_000 {
            return Err(
                "latency_ms and answer_delay_ms must be at most 60000 and timeout_ms at most 600000"
                    .into(),
            );
        }
        Ok(())
    }
}

async fn set_faults(req: Admin<Faults>) -> Response {
    let (name, f) = (&req.shop.name, req.body);
    req.shop.sim.set_faults(name, f.clone());
    Json(json!({ "shop": name, "faults": f })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateLocation {
    name: String,
    /// Managed by the app's fulfillment service: its fulfillment orders start SUBMITTED.
    #[serde(default)]
    fulfillment_service: bool,
}

impl Check for CreateLocation {}

/// Add a location to a shop (the seed makes two). Stock there starts at nothing.
async fn create_location(req: Admin<CreateLocation>) -> Response {
    let mut shop = req.shop.lock();
    let title = req.body.name.trim();
    if title.is_empty() || title.chars().count() > 100 {
        return bad_request("name: 1 to 100 characters");
    }
    if shop.locations.values().any(|l| l.name.eq_ignore_ascii_case(title)) {
        return (
            StatusCode::CONFLICT,
            Json(json!({ "error": format!("a location named {title:?} exists already") })),
        )
            .into_response();
    }
    let id = shop.next_id();
    let created_at = shop.stamp();
    shop.locations.insert(
        id,
        store::Location {
            id,
            name: title.to_owned(),
            active: true,
            created_at,
            fulfillment_service: req.body.fulfillment_service,
        },
    );
    (
        StatusCode::CREATED,
        Json(json!({
            "id": store::gid("Location", id),
            "name": title,
            "fulfillment_service": req.body.fulfillment_service,
        })),
    )
        .into_response()
}

/// A staged upload target: the bytes of a file, PUT raw or POSTed as a form. Like the signed
/// URLs Shopify hands out, it needs no access token: the key is the credential.
async fn upload(
    State(sim): State<SharedSim>,
    Path((name, key)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(shop) = sim.shop(&name) else {
        return (StatusCode::NOT_FOUND, "no such staged upload target").into_response();
    };
    let mut shop = shop.lock().unwrap_or_else(|e| e.into_inner());
    match media::receive(&mut shop, &key, body.len() as u64) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err((code, reason)) => {
            (StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST), reason).into_response()
        }
    }
}

async fn bulk_file(
    State(sim): State<SharedSim>,
    Path((name, file)): Path<(String, String)>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "no such file").into_response();
    let Some(id) = file.strip_suffix(".jsonl").and_then(|i| i.parse::<u64>().ok()) else {
        return not_found();
    };
    let Some(shop) = sim.shop(&name) else { return not_found() };
    let shop = shop.lock().unwrap_or_else(|e| e.into_inner());
    match shop.bulk_ops.get(&id).filter(|b| sim.clock.now_secs() >= b.ready_at) {
        Some(b) => ([(header::CONTENT_TYPE, "application/jsonl")], b.jsonl.clone()).into_response(),
        None => not_found(),
    }
}

/// Everything a shop holds, in the save format: to read back what a client wrote.
async fn export_shop(req: AdminShop) -> Response {
    let shop = req.lock();
    match serde_json::to_value(&*shop) {
        Ok(mut v) => {
            // The access token is a credential; the export leaves it out.
            if let Some(o) = v.as_object_mut() {
                o.remove("access_token");
                o.remove("client_secret");
            }
            export_details(&shop, &mut v);
            Json(v).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Adds readable details to the exported orders: each fulfilment's `tracking_info` {number,
/// company, url} and `line_items` [{line_item_id, sku, quantity}], each refund line's `sku`.
fn export_details(shop: &Shop, v: &mut Value) {
    let Some(orders) = v.get_mut("orders").and_then(Value::as_object_mut) else { return };
    for (key, ov) in orders.iter_mut() {
        let Some(o) = key.parse::<u64>().ok().and_then(|id| shop.orders.get(&id)) else {
            continue;
        };
        let sku =
            |line_item: u64| o.line_items.iter().find(|l| l.id == line_item).map(|l| l.sku.clone());
        if let Some(list) = ov.get_mut("fulfillments").and_then(Value::as_array_mut) {
            for (fv, fu) in list.iter_mut().zip(&o.fulfillments) {
                let lines: Vec<Value> = fu
                    .lines
                    .iter()
                    .filter_map(|(fo_line, q)| {
                        let l = o
                            .fulfillment_orders
                            .iter()
                            .flat_map(|fo| &fo.lines)
                            .find(|l| l.id == *fo_line)?;
                        Some(json!({ "line_item_id": l.line_item_id, "sku": sku(l.line_item_id), "quantity": q }))
                    })
                    .collect();
                if let Some(m) = fv.as_object_mut() {
                    m.insert(
                        "tracking_info".into(),
                        json!(fu.tracking.as_ref().map(|(number, company, url)| json!({ "number": number, "company": company, "url": url }))),
                    );
                    m.insert("line_items".into(), Value::Array(lines));
                }
            }
        }
        if let Some(list) = ov.get_mut("refunds").and_then(Value::as_array_mut) {
            for (rv, r) in list.iter_mut().zip(&o.refunds) {
                let Some(lines) = rv.get_mut("lines").and_then(Value::as_array_mut) else {
                    continue;
                };
                for (lv, l) in lines.iter_mut().zip(&r.lines) {
                    if let Some(m) = lv.as_object_mut() {
                        m.insert("sku".into(), json!(sku(l.line_item_id)));
                    }
                }
            }
        }
    }
}

async fn shop_summary(req: AdminShop) -> Response {
    let (sim, mut shop) = (&req.sim, req.lock());
    let status = shop.bucket(&sim.clock).status(&sim.clock);
    Json(json!({
        "name": shop.name,
        "domain": shop.domain(),
        "products": shop.products.len(),
        "customers": shop.customers.len(),
        "bucket": { "maximumAvailable": status.maximum_available, "currentlyAvailable": status.currently_available, "restoreRate": status.restore_rate },
        "usage": shop.usage,
        "locations": shop.locations.values().map(|l| json!({
            "id": store::gid("Location", l.id), "name": l.name,
            "fulfillment_service": l.fulfillment_service,
        })).collect::<Vec<_>>(),
        "webhooks": sim.webhook_stats(&shop.name).snapshot(),
    }))
    .into_response()
}
