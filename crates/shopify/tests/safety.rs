//! The client is safe for writes and long reads, against the simulator over real HTTP:
//!
//! - a `fulfillmentCreate` whose outcome is unknown is never sent again; the caller gets
//!   `ShopifyError::Ambiguous` and reconciles by reading, and the shop holds one fulfilment
//!   or none, never two;
//! - an `@idempotent` inventory change whose answer was lost is sent again with the same key
//!   and applied once;
//! - a paged import resumes from its saved cursor; an order's 120 lines are read whole;
//! - a bulk result that is shorter than its `objectCount` is an error.
//!
//! The simulator's own faults (503, timeouts, garbled bodies) strike before it runs a request.
//! To lose an answer *after* the shop has run the request, as a real network can, the tests
//! put a small proxy between the client and the simulator.

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use secrecy::SecretString;
use serde_json::{Value, json};
use shopsync_shopify::ops::{self, Operation};
use shopsync_shopify::{Budget, ClientConfig, Cursor, ShopifyClient, ShopifyError};
use shopsync_shopify_sim::{Faults, SharedSim, Sim, SimConfig};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "shpat_test_0123456789";

struct Running {
    url: String,
    sim: SharedSim,
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start(products: usize) -> Result<Running> {
    let sim = Sim::new(SimConfig::default());
    sim.add_shop("demo", TOKEN, "standard")?;
    sim.shop("demo").unwrap().lock().unwrap().seed(7, products, 0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim.clone(), listener, stop.clone()));
    Ok(Running { url, sim, stop })
}

fn client(url: &str) -> ShopifyClient {
    let mut config = ClientConfig::new(url, SecretString::from(TOKEN.to_owned()));
    config.timeout = Duration::from_millis(700);
    config.backoff = Duration::from_millis(10);
    config.max_attempts = 6;
    ShopifyClient::new(config, Arc::new(Budget::default())).unwrap()
}

/// How the proxy loses an answer after the simulator has run the request.
#[derive(Debug, Clone, Copy)]
enum Loss {
    /// Holds the answer past the client's timeout.
    Hang,
    /// Sends a body cut off in the middle.
    Garble,
    /// Answers 502 as a load balancer would.
    BadGateway,
    /// Does not forward; answers that the key's first attempt is still running.
    Concurrent,
    /// Answers HTTP 200 with Shopify's INTERNAL_SERVER_ERROR instead of the data.
    Internal,
}

#[derive(Default)]
struct Rules {
    /// Operation name -> (answers still to lose, how).
    lose: HashMap<String, (usize, Loss)>,
    /// Every GraphQL request that reached the simulator: operation name and variables.
    seen: Vec<(String, Value)>,
    /// Drop this many lines from the end of every bulk result file.
    truncate_bulk: usize,
    /// Hold bulk result files this long before answering.
    stall_bulk: Option<Duration>,
}

struct Proxy {
    url: String,
    rules: Arc<Mutex<Rules>>,
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Proxy {
    fn lose(&self, operation: &str, times: usize, how: Loss) {
        self.rules.lock().unwrap().lose.insert(operation.to_owned(), (times, how));
    }
    fn seen(&self, operation: &str) -> Vec<Value> {
        let r = self.rules.lock().unwrap();
        r.seen.iter().filter(|(o, _)| o == operation).map(|(_, v)| v.clone()).collect()
    }
}

struct ProxyState {
    upstream: String,
    me: String,
    rules: Arc<Mutex<Rules>>,
    http: reqwest::Client,
}

async fn start_proxy(upstream: &str) -> Result<Proxy> {
    shopsync_shopify::init_tls();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let rules = Arc::new(Mutex::new(Rules::default()));
    let state = Arc::new(ProxyState {
        upstream: upstream.to_owned(),
        me: url.clone(),
        rules: rules.clone(),
        http: reqwest::Client::new(),
    });
    let app = axum::Router::new().fallback(forward).with_state(state);
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, app).with_graceful_shutdown(async move { s.cancelled().await }).await
    });
    Ok(Proxy { url, rules, stop })
}

async fn forward(
    State(st): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    if path.contains("/graphql.json") {
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let op = req["operationName"].as_str().unwrap_or_default().to_owned();
        let mut rules = st.rules.lock().unwrap();
        if let Some((left, Loss::Concurrent)) = rules.lose.get_mut(&op)
            && *left > 0
        {
            *left -= 1;
            rules.seen.push((op.clone(), req["variables"].clone()));
            let root = {
                let mut c = op.chars();
                c.next().map(|f| f.to_lowercase().chain(c).collect::<String>()).unwrap_or_default()
            };
            let answer = json!({ "data": { root: { "inventoryAdjustmentGroup": null, "userErrors": [
                { "field": null, "message": "A request with this idempotency key is still being processed.",
                  "code": "IDEMPOTENCY_CONCURRENT_REQUEST" } ] } } });
            return axum::Json(answer).into_response();
        }
    }
    let mut req = st.http.request(method, format!("{}{path}", st.upstream)).body(body.clone());
    for name in ["x-shopify-access-token", "content-type", "accept"] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v.clone());
        }
    }
    let Ok(resp) = req.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    // Links to the simulator (bulk result URLs) point back through the proxy.
    let mut text = text.replace(&st.upstream, &st.me);
    let mut loss = None;
    let stall = st.rules.lock().unwrap().stall_bulk.filter(|_| path.starts_with("/sim/bulk/"));
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    {
        let mut rules = st.rules.lock().unwrap();
        if path.contains("/graphql.json") {
            let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let op = req["operationName"].as_str().unwrap_or_default().to_owned();
            rules.seen.push((op.clone(), req["variables"].clone()));
            if let Some((left, how)) = rules.lose.get_mut(&op)
                && *left > 0
            {
                *left -= 1;
                loss = Some(*how);
            }
        } else if path.starts_with("/sim/bulk/") && rules.truncate_bulk > 0 {
            let lines: Vec<&str> = text.lines().collect();
            let keep = lines.len().saturating_sub(rules.truncate_bulk);
            text = lines[..keep].iter().map(|l| format!("{l}\n")).collect();
        }
    }
    match loss {
        Some(Loss::Hang) => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (status, text).into_response()
        }
        Some(Loss::Garble) => {
            let cut: String = text.chars().take(text.len() / 2).collect();
            (StatusCode::OK, [("content-type", "application/json")], cut).into_response()
        }
        Some(Loss::BadGateway) => (StatusCode::BAD_GATEWAY, "upstream went away").into_response(),
        Some(Loss::Concurrent) => unreachable!("answered before forwarding"),
        Some(Loss::Internal) => axum::Json(json!({ "errors": [{
            "message": "Internal error. Looks like something went wrong on our end.",
            "extensions": { "code": "INTERNAL_SERVER_ERROR" } }] }))
        .into_response(),
        None => (status, [("content-type", "application/json")], text).into_response(),
    }
}

/// The number of fulfilments the shop holds for `order` (from the simulator's export).
async fn fulfillments_in_export(sim_url: &str, order: &str) -> Result<usize> {
    let export: Value =
        reqwest::get(format!("{sim_url}/sim/shops/demo/export")).await?.json().await?;
    let id = order.rsplit('/').next().unwrap();
    Ok(export["orders"][id]["fulfillments"].as_array().map_or(0, Vec::len))
}

/// An order of 2 units of the shop's first SKU; its fulfillment order and line.
async fn place_order(sim_url: &str, c: &ShopifyClient) -> Result<(String, String, String)> {
    let products = c
        .run::<ops::ProductsPage>(ops::products_page::Variables {
            first: 1,
            after: None,
            query: None,
        })
        .await?;
    let sku = products.products.nodes[0].variants.nodes[0].sku.clone().unwrap();
    let placed: Value = reqwest::Client::new()
        .post(format!("{sim_url}/sim/shops/demo/orders"))
        .json(&json!({ "lines": [{ "sku": sku, "quantity": 2 }] }))
        .send()
        .await?
        .json()
        .await?;
    let order = placed["id"].as_str().unwrap().to_owned();
    let (fo, line, _) = remaining(c, &order).await?;
    Ok((order, fo, line))
}

/// The first fulfillment order of `order`, its first line and that line's remaining quantity.
async fn remaining(c: &ShopifyClient, order: &str) -> Result<(String, String, i64)> {
    let order = c.order_fulfillment_orders(order).await?.unwrap();
    let fo = &order.fulfillment_orders.nodes[0];
    let line = &fo.line_items.nodes[0];
    Ok((fo.id.clone(), line.id.clone(), line.remaining_quantity))
}

fn ship(fo: &str, line: &str, quantity: i64) -> ops::fulfillment_create::Variables {
    use ops::fulfillment_create::*;
    Variables {
        fulfillment: FulfillmentInput {
            line_items_by_fulfillment_order: vec![FulfillmentOrderLineItemsInput {
                fulfillment_order_id: fo.to_owned(),
                fulfillment_order_line_items: Some(vec![FulfillmentOrderLineItemInput {
                    id: line.to_owned(),
                    quantity,
                }]),
            }],
            notify_customer: None,
            origin_address: None,
            tracking_info: None,
        },
    }
}

#[tokio::test]
async fn a_fulfillment_whose_answer_is_lost_is_not_resent_and_the_caller_reconciles() -> Result<()>
{
    let sim = start(3).await?;
    for (loss, hint) in [
        (Loss::Hang, "timed out"),
        (Loss::Garble, "unreadable"),
        (Loss::BadGateway, "502"),
        (Loss::Internal, "internal error"),
    ] {
        let proxy = start_proxy(&sim.url).await?;
        let c = client(&proxy.url);
        let (order, fo, line) = place_order(&sim.url, &c).await?;
        proxy.lose(ops::FulfillmentCreate::DOCUMENT.name, 1, loss);

        // The shop ran it, the answer was lost: not sent again, the caller must reconcile.
        let e = c.run::<ops::FulfillmentCreate>(ship(&fo, &line, 2)).await.unwrap_err();
        assert!(e.must_reconcile(), "{loss:?}: {e}");
        let ShopifyError::Ambiguous { operation, reconcile: true, ref cause } = e else {
            panic!("{e}")
        };
        assert_eq!(operation, "FulfillmentCreate");
        assert!(cause.contains(hint), "{loss:?}: {cause}");
        assert_eq!(proxy.seen("FulfillmentCreate").len(), 1, "{loss:?}: sent once, never again");
        assert_eq!(fulfillments_in_export(&sim.url, &order).await?, 1);

        // Reconciling by reading: nothing remains to ship, so the caller sends nothing.
        let (_, _, left) = remaining(&c, &order).await?;
        assert_eq!(left, 0);
        assert_eq!(fulfillments_in_export(&sim.url, &order).await?, 1, "one fulfilment, not two");
    }
    Ok(())
}

#[tokio::test]
async fn a_fulfillment_against_a_timing_out_simulator_is_not_resent() -> Result<()> {
    let sim = start(3).await?;
    let c = client(&sim.url);
    let (order, fo, line) = place_order(&sim.url, &c).await?;
    // Every answer of the shop now times out (the simulator's fault injection).
    sim.sim.set_faults(
        "demo",
        Faults { timeout_rate: 1.0, timeout_ms: 1_500, seed: 3, ..Faults::default() },
    );
    let e = c.run::<ops::FulfillmentCreate>(ship(&fo, &line, 2)).await.unwrap_err();
    assert!(e.must_reconcile(), "{e}");
    assert_eq!(c.stats().retried, 0, "a non-idempotent mutation is not resent");
    // The same with 503s and garbled bodies.
    for f in [
        Faults { error_rate: 1.0, seed: 4, ..Faults::default() },
        Faults { malformed_rate: 1.0, seed: 5, ..Faults::default() },
    ] {
        sim.sim.set_faults("demo", f);
        let e = c.run::<ops::FulfillmentCreate>(ship(&fo, &line, 2)).await.unwrap_err();
        assert!(e.must_reconcile(), "{e}");
    }
    assert_eq!(c.stats().retried, 0);
    assert!(fulfillments_in_export(&sim.url, &order).await? <= 1);

    // The faults pass; the caller reconciles: the shop did not run it, so it ships once.
    sim.sim.set_faults("demo", Faults::default());
    let (_, _, left) = remaining(&c, &order).await?;
    assert_eq!(left, 2, "the simulator's faults strike before it runs a request");
    assert_eq!(fulfillments_in_export(&sim.url, &order).await?, 0);
    let done = c.run::<ops::FulfillmentCreate>(ship(&fo, &line, left)).await?;
    assert_eq!(done.fulfillment_create.unwrap().fulfillment.unwrap().total_quantity, 2);
    assert_eq!(fulfillments_in_export(&sim.url, &order).await?, 1);
    Ok(())
}

/// The shop's first inventory item and location, and its available quantity there.
async fn stock(c: &ShopifyClient) -> Result<(String, String, i64)> {
    let products = c
        .run::<ops::ProductsPage>(ops::products_page::Variables {
            first: 1,
            after: None,
            query: None,
        })
        .await?;
    let item = products.products.nodes[0].variants.nodes[0].inventory_item.id.clone();
    let locations =
        c.run::<ops::Locations>(ops::locations::Variables { first: 1, after: None }).await?;
    let location = locations.locations.nodes[0].id.clone();
    let available = available(c, &item, &location).await?;
    Ok((item, location, available))
}

async fn available(c: &ShopifyClient, item: &str, location: &str) -> Result<i64> {
    let r = c
        .run::<ops::InventoryLevel>(ops::inventory_level::Variables {
            item: item.to_owned(),
            location: location.to_owned(),
        })
        .await?;
    let level = r.inventory_item.unwrap().inventory_level.unwrap();
    Ok(level.quantities.iter().find(|q| q.name == "available").unwrap().quantity)
}

fn adjust(
    item: &str,
    location: &str,
    delta: i64,
    key: &str,
) -> ops::inventory_adjust_quantities::Variables {
    use ops::inventory_adjust_quantities::*;
    Variables {
        key: key.to_owned(),
        input: InventoryAdjustQuantitiesInput {
            name: "available".into(),
            reason: "correction".into(),
            reference_document_uri: None,
            changes: vec![InventoryChangeInput {
                delta,
                inventory_item_id: item.to_owned(),
                location_id: location.to_owned(),
                ledger_document_uri: None,
                change_from_quantity: None,
            }],
        },
    }
}

#[tokio::test]
async fn an_idempotent_inventory_change_whose_answer_is_lost_is_resent_with_its_key_and_applied_once()
-> Result<()> {
    let sim = start(2).await?;
    let proxy = start_proxy(&sim.url).await?;
    let c = client(&proxy.url);
    let (item, location, before) = stock(&c).await?;

    // inventoryAdjustQuantities: the first two answers are lost after the shop applied it.
    proxy.lose("InventoryAdjustQuantities", 2, Loss::Hang);
    let key = "5d0e2f7a-1b1c-4c7e-9a51-aa0000000001";
    let r = c.run::<ops::InventoryAdjustQuantities>(adjust(&item, &location, 7, key)).await?;
    let group = r.inventory_adjust_quantities.unwrap().inventory_adjustment_group.unwrap();
    assert_eq!(group.changes[0].delta, 7);
    let sent = proxy.seen("InventoryAdjustQuantities");
    assert_eq!(sent.len(), 3, "sent again after each lost answer");
    assert!(sent.iter().all(|v| v["key"] == key), "always with the same key: {sent:?}");
    assert_eq!(available(&c, &item, &location).await?, before + 7, "applied once");

    // Told that the key's first attempt is still running: waits, then the same key again.
    proxy.lose("InventoryAdjustQuantities", 2, Loss::Concurrent);
    let key3 = "5d0e2f7a-1b1c-4c7e-9a51-aa0000000004";
    c.run::<ops::InventoryAdjustQuantities>(adjust(&item, &location, 1, key3)).await?;
    let sent = proxy.seen("InventoryAdjustQuantities");
    assert_eq!(sent.iter().filter(|v| v["key"] == key3).count(), 3);
    assert_eq!(available(&c, &item, &location).await?, before + 8);

    // inventorySetQuantities (compare-and-set): a garbled answer, then a 502.
    use ops::inventory_set_quantities::*;
    let set = |to: i64, from: i64, key: &str| Variables {
        key: key.to_owned(),
        input: InventorySetQuantitiesInput {
            name: "available".into(),
            reason: "correction".into(),
            reference_document_uri: None,
            quantities: vec![InventoryQuantityInput {
                inventory_item_id: item.clone(),
                location_id: location.clone(),
                quantity: to,
                change_from_quantity: Some(from),
            }],
        },
    };
    proxy.lose("InventorySetQuantities", 1, Loss::Garble);
    let key = "5d0e2f7a-1b1c-4c7e-9a51-aa0000000002";
    c.run::<ops::InventorySetQuantities>(set(before + 20, before + 8, key)).await?;
    proxy.lose("InventorySetQuantities", 1, Loss::Internal);
    let key2 = "5d0e2f7a-1b1c-4c7e-9a51-aa0000000003";
    c.run::<ops::InventorySetQuantities>(set(before + 30, before + 20, key2)).await?;
    let sent = proxy.seen("InventorySetQuantities");
    assert_eq!(sent.iter().filter(|v| v["key"] == key).count(), 2);
    assert_eq!(sent.iter().filter(|v| v["key"] == key2).count(), 2);
    assert_eq!(available(&c, &item, &location).await?, before + 30);
    Ok(())
}

#[tokio::test]
async fn an_idempotent_inventory_change_rides_out_the_simulators_faults() -> Result<()> {
    let sim = start(2).await?;
    let c = client(&sim.url);
    let (item, location, before) = stock(&c).await?;
    sim.sim.set_faults(
        "demo",
        Faults {
            error_rate: 0.3,
            malformed_rate: 0.2,
            timeout_rate: 0.1,
            timeout_ms: 1_000,
            seed: 21,
            ..Faults::default()
        },
    );
    for i in 0..5 {
        let key = format!("5d0e2f7a-1b1c-4c7e-9a51-bb000000000{i}");
        c.run::<ops::InventoryAdjustQuantities>(adjust(&item, &location, 1, &key)).await?;
    }
    assert!(c.stats().retried > 0, "some attempts failed and were resent: {:?}", c.stats());
    sim.sim.set_faults("demo", Faults::default());
    assert_eq!(available(&c, &item, &location).await?, before + 5, "each change applied once");
    Ok(())
}

#[tokio::test]
async fn a_paged_import_resumes_from_its_saved_cursor() -> Result<()> {
    let sim = start(100).await?;
    let c = client(&sim.url);
    let vars = ops::products_page::Variables { first: 10, after: None, query: None };

    // Read two pages, keep the cursor after the second, and stop (drop the stream).
    let mut seen: Vec<String> = Vec::new();
    let mut saved: Option<Cursor> = None;
    {
        let mut pages = Box::pin(c.pages::<ops::ProductsPage>(vars.clone(), None));
        for _ in 0..2 {
            let page = pages.next().await.unwrap()?;
            seen.extend(page.nodes.iter().map(|p| p.id.clone()));
            saved = page.resume.clone();
        }
    }
    assert_eq!(seen.len(), 20);
    assert_eq!(c.stats().requests, 2, "nothing read ahead");
    // The checkpoint survives a restart as text.
    let stored = serde_json::to_string(&saved)?;
    let resumed: Option<Cursor> = serde_json::from_str(&stored)?;

    let rest: Vec<String> = c
        .pages::<ops::ProductsPage>(vars, resumed)
        .map_ok(|p| futures::stream::iter(p.nodes.into_iter().map(|n| Ok::<_, ShopifyError>(n.id))))
        .try_flatten()
        .try_collect()
        .await?;
    assert_eq!(rest.len(), 80, "exactly the rest");
    assert_eq!(c.stats().requests, 10);
    seen.extend(rest);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 100, "no product twice");
    Ok(())
}

#[tokio::test]
async fn an_order_with_120_lines_is_read_whole() -> Result<()> {
    let sim = start(130).await?;
    let c = client(&sim.url);
    let products: Vec<_> = c
        .nodes::<ops::ProductsPage>(ops::products_page::Variables {
            first: 250,
            after: None,
            query: None,
        })
        .try_collect()
        .await?;
    let skus: Vec<String> =
        products.iter().filter_map(|p| p.variants.nodes[0].sku.clone()).take(120).collect();
    assert_eq!(skus.len(), 120);
    let lines: Vec<Value> = skus.iter().map(|s| json!({ "sku": s, "quantity": 1 })).collect();
    let placed: Value = reqwest::Client::new()
        .post(format!("{}/sim/shops/demo/orders", sim.url))
        .json(&json!({ "lines": lines }))
        .send()
        .await?
        .json()
        .await?;
    let id = placed["id"].as_str().unwrap().to_owned();

    let before = c.stats().requests;
    let orders: Vec<_> = c
        .nodes::<ops::OrdersPage>(ops::orders_page::Variables {
            first: 10,
            after: None,
            query: None,
        })
        .try_collect()
        .await?;
    let order = orders.iter().find(|o| o.id == id).unwrap();
    assert_eq!(order.line_items.nodes.len(), 120, "all lines, not the first page's 5");
    let ids: HashSet<_> = order.line_items.nodes.iter().map(|l| l.id.clone()).collect();
    assert_eq!(ids.len(), 120, "no line twice");
    let got: HashSet<_> = order.line_items.nodes.iter().filter_map(|l| l.sku.clone()).collect();
    assert_eq!(got, skus.into_iter().collect::<HashSet<_>>());
    assert!(!order.line_items.page_info.has_next_page);
    // One page of orders, one more request for the 70 other lines.
    assert_eq!(c.stats().requests - before, 2);

    // Its fulfillment orders hold the 120 lines too, read past their first page of 50.
    let fos = c.order_fulfillment_orders(&id).await?.unwrap();
    let fo_lines: Vec<_> =
        fos.fulfillment_orders.nodes.iter().flat_map(|fo| &fo.line_items.nodes).collect();
    assert_eq!(fo_lines.len(), 120);
    assert!(fo_lines.iter().all(|l| l.remaining_quantity == 1));
    Ok(())
}

#[tokio::test]
async fn a_product_with_14_variants_is_read_whole() -> Result<()> {
    use shopsync_shopify::documents::PRODUCT_SET;
    let sim = start(0).await?;
    let c = client(&sim.url);
    let sizes: Vec<String> = (1..=14).map(|i| format!("S{i}")).collect();
    let variants: Vec<Value> = sizes
        .iter()
        .map(|s| {
            json!({ "optionValues": [{ "optionName": "Size", "name": s }], "price": "10.00",
                         "inventoryItem": { "sku": format!("V-{s}"), "tracked": true } })
        })
        .collect();
    let values: Vec<Value> = sizes.iter().map(|s| json!({ "name": s })).collect();
    c.mutate(
        &PRODUCT_SET,
        json!({ "handle": "many-sizes", "input": { "title": "Many sizes", "status": "ACTIVE",
                "productOptions": [{ "name": "Size", "values": values }], "variants": variants } }),
        "productSet",
    )
    .await?;
    let products: Vec<_> = c
        .nodes::<ops::ProductsPage>(ops::products_page::Variables {
            first: 50,
            after: None,
            query: None,
        })
        .try_collect()
        .await?;
    let p = products.iter().find(|p| p.handle == "many-sizes").unwrap();
    assert_eq!(p.variants.nodes.len(), 14, "all variants, not the first page's 10");
    let skus: HashSet<_> = p.variants.nodes.iter().filter_map(|v| v.sku.clone()).collect();
    assert_eq!(skus.len(), 14);
    // Prices are exact decimals.
    assert!(p.variants.nodes.iter().all(|v| v.price == shopsync_shopify::Decimal::new(1000, 2)));
    Ok(())
}

const BULK: &str =
    "{ products { edges { node { id title variants { edges { node { id sku } } } } } } }";

#[tokio::test]
async fn a_bulk_result_that_is_silently_short_is_an_error() -> Result<()> {
    let sim = start(20).await?;
    let proxy = start_proxy(&sim.url).await?;
    let c = client(&proxy.url);
    let poll = Duration::from_millis(50);
    // Whole: every announced object arrives.
    let whole: Vec<_> = c.bulk_query(BULK, poll).await?.try_collect().await?;
    assert!(whole.len() >= 40, "20 products and their variants: {}", whole.len());

    // The file loses its last line on the way and ends cleanly: an error, not a success.
    proxy.rules.lock().unwrap().truncate_bulk = 1;
    let mut records = Box::pin(c.bulk_query(BULK, poll).await?);
    let mut read = 0;
    let e = loop {
        match records.next().await {
            Some(Ok(_)) => read += 1,
            Some(Err(e)) => break e,
            None => panic!("a short result ended as a success after {read} records"),
        }
    };
    let ShopifyError::BulkShort { expected, read: counted, .. } = e else { panic!("{e}") };
    assert_eq!((expected, counted), (whole.len() as u64, read));
    assert_eq!(read, whole.len() as u64 - 1);
    Ok(())
}

#[tokio::test]
async fn bulk_lines_have_a_maximum_length_and_a_stalled_download_times_out() -> Result<()> {
    let sim = start(5).await?;
    let proxy = start_proxy(&sim.url).await?;
    let mut config = ClientConfig::new(&proxy.url, SecretString::from(TOKEN.to_owned()));
    config.bulk_max_line = 40;
    config.bulk_read_timeout = Duration::from_millis(300);
    let c = ShopifyClient::new(config, Arc::new(Budget::default()))?;
    let poll = Duration::from_millis(50);
    let e = c.bulk_query(BULK, poll).await?.try_collect::<Vec<_>>().await.unwrap_err();
    assert!(matches!(e, ShopifyError::BulkLineTooLong { line: 1, max: 40, .. }), "{e}");

    // No total timeout, but a read timeout: a download that stalls fails.
    proxy.rules.lock().unwrap().stall_bulk = Some(Duration::from_secs(3));
    let started = std::time::Instant::now();
    let e = match c.bulk_query(BULK, poll).await {
        Err(e) => e,
        Ok(s) => s.try_collect::<Vec<_>>().await.unwrap_err(),
    };
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3), "it did not wait for the stall to end");
    Ok(())
}

#[tokio::test]
async fn interface_selections_decode_by_their_typename() -> Result<()> {
    let sim = start(3).await?;
    let c = client(&sim.url);
    let products = c
        .run::<ops::ProductsPage>(ops::products_page::Variables {
            first: 1,
            after: None,
            query: None,
        })
        .await?;
    let id = products.products.nodes[0].id.clone();
    let nodes: Vec<_> = c
        .nodes::<ops::ProductMedia>(ops::product_media::Variables { id, first: 1, after: None })
        .try_collect()
        .await?;
    assert!(!nodes.is_empty());
    for n in &nodes {
        assert!(
            matches!(n.on, ops::product_media::ProductMediaProductMediaNodesOn::MediaImage(_)),
            "{n:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_repeatable_upsert_is_resent_through_faults_and_creates_nothing_twice() -> Result<()> {
    use shopsync_shopify::documents::PRODUCT_SET;
    let sim = start(0).await?;
    let c = client(&sim.url);
    sim.sim.set_faults(
        "demo",
        Faults { error_rate: 0.4, malformed_rate: 0.2, seed: 8, ..Faults::default() },
    );
    for i in 0..4 {
        c.mutate(
            &PRODUCT_SET,
            json!({ "handle": format!("erp-{i}"), "input": { "title": format!("Item {i}"), "status": "ACTIVE" } }),
            "productSet",
        )
        .await?;
    }
    assert!(c.stats().retried > 0, "some attempts failed and were resent: {:?}", c.stats());
    sim.sim.set_faults("demo", Faults::default());
    let products: Vec<_> = c
        .nodes::<ops::ProductsPage>(ops::products_page::Variables {
            first: 50,
            after: None,
            query: None,
        })
        .try_collect()
        .await?;
    let mut handles: Vec<_> = products.iter().map(|p| p.handle.as_str()).collect();
    handles.sort_unstable();
    assert_eq!(handles, ["erp-0", "erp-1", "erp-2", "erp-3"]);
    Ok(())
}

#[tokio::test]
async fn b2b_and_payments_connections_page_typed_to_the_end() -> Result<()> {
    let sim = start(6).await?;
    let http = reqwest::Client::new();
    for body in
        [json!({ "seed": 2, "companies": 4 }), json!({ "seed": 4, "customers": 3, "orders": 25 })]
    {
        http.post(format!("{}/sim/shops/demo/seed", sim.url))
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
    }
    let c = client(&sim.url);
    let companies: Vec<_> = c
        .nodes::<ops::CompaniesPage>(ops::companies_page::Variables {
            first: 3,
            after: None,
            query: None,
        })
        .try_collect()
        .await?;
    assert_eq!(companies.len(), 4);
    assert!(companies.iter().all(|co| !co.locations.nodes.is_empty()));
    let catalogs: Vec<_> = c
        .nodes::<ops::CatalogsPage>(ops::catalogs_page::Variables {
            first: 2,
            after: None,
            query: None,
        })
        .try_collect()
        .await?;
    assert!(!catalogs.is_empty());
    let txs: Vec<_> = c
        .nodes::<ops::BalanceTransactions>(ops::balance_transactions::Variables {
            first: 10,
            after: None,
            query: None,
        })
        .try_collect()
        .await?;
    assert!(txs.len() > 10, "more than one page: {}", txs.len());
    let ids: HashSet<_> = txs.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids.len(), txs.len(), "no transaction twice");
    // Amounts are exact money in the shop's currency.
    for t in &txs {
        let m = shopsync_shopify::Money::new(t.amount.amount, t.amount.currency_code)?;
        assert_eq!(m.amount(), t.amount.amount);
    }
    let payouts: Vec<_> = c
        .nodes::<ops::Payouts>(ops::payouts::Variables { first: 2, after: None, query: None })
        .try_collect()
        .await?;
    assert!(!payouts.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_order_that_fills_a_nested_list_is_read_whole() -> Result<()> {
    let sim = start(3).await?;
    let c = client(&sim.url);
    let sku = {
        let shop = sim.sim.shop("demo").unwrap();
        let shop = shop.lock().unwrap();
        shop.products.values().next().unwrap().variants[0].sku.clone()
    };
    let http = reqwest::Client::new();
    let placed: Value = http
        .post(format!("{}/sim/shops/demo/orders", sim.url))
        .json(&json!({ "lines": [{ "sku": sku, "quantity": 50 }] }))
        .send()
        .await?
        .json()
        .await?;
    let id = placed["id"].as_str().unwrap().to_owned();
    let order_no = id.rsplit('/').next().unwrap().to_owned();
    // Six partial refunds: seven transactions and six refunds, more than a page reads.
    for _ in 0..6 {
        let r = http
            .patch(format!("{}/sim/shops/demo/orders/{order_no}", sim.url))
            .json(&json!({ "refund": "1.00" }))
            .send()
            .await?;
        assert!(r.status().is_success(), "{}", r.text().await?);
    }
    let before = c.stats().requests;
    let orders: Vec<_> = c
        .nodes::<ops::OrdersPage>(ops::orders_page::Variables {
            first: 10,
            after: None,
            query: None,
        })
        .try_collect()
        .await?;
    let order = orders.iter().find(|o| o.id == id).unwrap();
    assert_eq!(order.transactions.len(), 7, "every transaction, not the first page's 5");
    assert_eq!(order.refunds.len(), 6, "every refund, not the first page's 3");
    // One page of orders, one more request for this order's lists.
    assert_eq!(c.stats().requests - before, 2);
    Ok(())
}
