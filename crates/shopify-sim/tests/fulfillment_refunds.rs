//! What order sync needs for shipments, refunds and webhooks: orders whose lines are assigned to
//! several locations (one fulfillment order per location, a line split across two), fulfillment
//! requests a fulfillment service must accept, fulfilments with tracking, refunds of line items
//! and shipping (restocked or not), cancelling with a refund, closing, and webhook deliveries
//! switched off — all driven through the HTTP API.

#![allow(clippy::unwrap_used)] // test fixtures

use anyhow::ensure;
use serde_json::{Value, json};
use shopsync_shopify_sim::{SharedSim, Sim, SimConfig};
use shopsync_testkit::{eventually, until};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "shpat_fulfil_0123456789";
const SHOP: &str = "fulfil";
/// How long a webhook delivery may take to arrive.
const SOON: Duration = Duration::from_secs(10);

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

/// A plus shop seeded with products (two locations) and customers.
async fn start() -> Running {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = SimConfig { webhook_retry: Duration::from_millis(20), ..SimConfig::default() };
    let sim = Sim::new(config);
    sim.add_shop(SHOP, TOKEN, "plus").unwrap();
    sim.shop(SHOP).unwrap().lock().unwrap().seed(11, 4, 2);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim.clone(), listener, stop.clone()));
    Running { url, sim, stop }
}

impl Running {
    async fn gql(&self, query: &str, variables: Value) -> Value {
        let v: Value = reqwest::Client::new()
            .post(format!("{}/admin/api/2026-10/graphql.json", self.url))
            .header("X-Shopify-Access-Token", TOKEN)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v.get("errors").is_none(), "unexpected errors: {v:#}");
        v["data"].clone()
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .request(method, format!("{}/sim/shops/{SHOP}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.admin(reqwest::Method::POST, path, body).await
    }

    async fn patch(&self, order: &str, body: Value) -> (u16, Value) {
        let id = order.rsplit('/').next().unwrap().to_owned();
        self.admin(reqwest::Method::PATCH, &format!("/orders/{id}"), body).await
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}/sim/shops/{SHOP}{path}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// (sku, price in cents, inventory item) of the shop's first `n` variants.
    fn variants(&self, n: usize) -> Vec<(String, i64, u64)> {
        let shop = self.sim.shop(SHOP).unwrap();
        let shop = shop.lock().unwrap();
        shop.products
            .values()
            .flat_map(|p| &p.variants)
            .take(n)
            .map(|v| {
                let cents = shopsync_shopify_sim::money::to_minor(&v.price, 2).unwrap();
                (v.sku.clone(), cents, v.inventory_item_id)
            })
            .collect()
    }

    /// (committed, available) of an inventory item at a location (numeric ids).
    fn stock(&self, item: u64, location: u64) -> (i64, i64) {
        let shop = self.sim.shop(SHOP).unwrap();
        let shop = shop.lock().unwrap();
        let q = shop.levels.get(&(item, location)).cloned().unwrap_or_default();
        (q.committed, q.available)
    }

    /// The shop's locations: name -> numeric id.
    fn location(&self, name: &str) -> u64 {
        let shop = self.sim.shop(SHOP).unwrap();
        let shop = shop.lock().unwrap();
        shop.locations.values().find(|l| l.name == name).unwrap().id
    }
}

fn num(gid: &str) -> u64 {
    gid.rsplit('/').next().unwrap().parse().unwrap()
}

fn cents(v: &Value) -> i64 {
    shopsync_shopify_sim::money::to_minor(v.as_str().unwrap(), 2).unwrap()
}

/// A webhook receiver: `/ok` answers 200 and keeps (topic, body); `/fail` answers 500.
async fn receiver() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    use axum::routing::post;
    let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new()
        .route(
            "/ok",
            post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    let topic = headers
                        .get("x-shopify-topic")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    keep.lock().unwrap().push((topic, body));
                    axum::http::StatusCode::OK
                }
            }),
        )
        .route("/fail", post(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

async fn subscribe(r: &Running, topic: &str, uri: &str) {
    let q = format!(
        r#"mutation {{ webhookSubscriptionCreate(topic: {topic}, webhookSubscription: {{ uri: "{uri}" }}) {{ userErrors {{ message }} }} }}"#
    );
    let v = r.gql(&q, json!({})).await;
    assert_eq!(v["webhookSubscriptionCreate"]["userErrors"], json!([]), "{v:#}");
}

const FULFILLMENT_ORDERS: &str = r#"query($id: ID!) { order(id: $id) {
  lineItems(first: 10) { nodes { id sku quantity currentQuantity } }
  fulfillmentOrders(first: 10) { nodes { id status requestStatus supportedActions { action }
    assignedLocation { location { id name isFulfillmentService } }
    lineItems(first: 10) { nodes { id totalQuantity remainingQuantity lineItem { sku } } } } } } }"#;

const FULFILL: &str = r#"mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) {
  fulfillment { id status } userErrors { field message } } }"#;

/// The fulfillment order assigned to `location` (by name) in a FULFILLMENT_ORDERS answer.
fn fo_at<'v>(order: &'v Value, location: &str) -> &'v Value {
    order["fulfillmentOrders"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|fo| fo["assignedLocation"]["location"]["name"] == location)
        .unwrap_or_else(|| panic!("no fulfillment order at {location}: {order:#}"))
}

/// (sku, totalQuantity) of a fulfillment order's lines.
fn fo_lines(fo: &Value) -> Vec<(String, i64)> {
    fo["lineItems"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["lineItem"]["sku"].as_str().unwrap().to_owned(),
                l["totalQuantity"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn lines_at_several_locations_get_a_fulfillment_order_each_and_a_line_can_be_split() {
    let r = start().await;
    let v = r.variants(3);
    let (a, b, c) = (&v[0], &v[1], &v[2]);
    let (status, outlet) = r.post("/locations", json!({ "name": "Outlet" })).await;
    assert_eq!(status, 201, "{outlet}");
    let outlet_gid = outlet["id"].as_str().unwrap().to_owned();
    assert_eq!(r.post("/locations", json!({ "name": "outlet" })).await.0, 409);
    let main = r.location("Main warehouse");
    let store = r.location("Copenhagen store");
    let before = [r.stock(a.2, store), r.stock(b.2, main), r.stock(c.2, main)];

    // Unknown locations and contradictory lines are refused.
    for bad in [
        json!({ "lines": [{ "sku": a.0, "quantity": 1, "location": "Nowhere" }] }),
        json!({ "lines": [{ "sku": a.0, "quantity": 2, "splits": [{ "location": "Outlet", "quantity": 1 }] }] }),
        json!({ "lines": [{ "sku": a.0, "location": "Outlet", "splits": [{ "location": "Outlet", "quantity": 1 }] }] }),
        json!({ "lines": [{ "sku": a.0 }] }),
    ] {
        assert_eq!(r.post("/orders", bad.clone()).await.0, 400, "{bad}");
    }

    let (status, placed) = r
        .post(
            "/orders",
            json!({ "lines": [
                { "sku": a.0, "quantity": 2, "location": "Copenhagen store" },
                { "sku": b.0, "quantity": 1 },
                { "sku": c.0, "splits": [
                    { "location": main.to_string(), "quantity": 1 },
                    { "location": outlet_gid, "quantity": 2 },
                ] },
            ] }),
        )
        .await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["fulfillment_orders"].as_array().unwrap().len(), 3, "{placed}");
    let order = placed["id"].as_str().unwrap().to_owned();
    let o = r.gql(FULFILLMENT_ORDERS, json!({ "id": order })).await["order"].clone();

    // One line item of 3 units for the split line.
    let skus: Vec<(String, i64)> = o["lineItems"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["sku"].as_str().unwrap().to_owned(), l["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(skus, vec![(a.0.clone(), 2), (b.0.clone(), 1), (c.0.clone(), 3)]);
    assert_eq!(fo_lines(fo_at(&o, "Copenhagen store")), vec![(a.0.clone(), 2)]);
    assert_eq!(fo_lines(fo_at(&o, "Main warehouse")), vec![(b.0.clone(), 1), (c.0.clone(), 1)]);
    assert_eq!(fo_lines(fo_at(&o, "Outlet")), vec![(c.0.clone(), 2)]);
    for fo in o["fulfillmentOrders"]["nodes"].as_array().unwrap() {
        assert_eq!(fo["status"], "OPEN");
        assert_eq!(fo["requestStatus"], "UNSUBMITTED");
        assert_eq!(fo["assignedLocation"]["location"]["isFulfillmentService"], false);
    }

    // Committed at each fulfillment order's location.
    assert_eq!(r.stock(a.2, store), (before[0].0 + 2, before[0].1 - 2));
    assert_eq!(r.stock(b.2, main), (before[1].0 + 1, before[1].1 - 1));
    assert_eq!(r.stock(c.2, main), (before[2].0 + 1, before[2].1 - 1));
    assert_eq!(r.stock(c.2, num(&outlet_gid)), (2, -2));

    // One fulfilment per location: the Outlet's part of the split line ships on its own.
    let outlet_fo = fo_at(&o, "Outlet")["id"].clone();
    let f = r.gql(FULFILL, json!({ "f": { "lineItemsByFulfillmentOrder": [{ "fulfillmentOrderId": outlet_fo }] } })).await;
    assert_eq!(f["fulfillmentCreate"]["userErrors"], json!([]), "{f:#}");
    assert_eq!(r.stock(c.2, num(&outlet_gid)), (0, -2));
    let both = json!({ "f": { "lineItemsByFulfillmentOrder": [
        { "fulfillmentOrderId": fo_at(&o, "Main warehouse")["id"] },
        { "fulfillmentOrderId": fo_at(&o, "Copenhagen store")["id"] },
    ] } });
    let f = r.gql(FULFILL, both).await;
    assert_eq!(
        f["fulfillmentCreate"]["userErrors"][0]["message"],
        "All fulfillment orders must be assigned to the same location."
    );

    // The summary lists the locations.
    let summary = r.get("").await;
    assert_eq!(summary["locations"].as_array().unwrap().len(), 3, "{summary:#}");
}

#[tokio::test]
async fn a_fulfillment_service_fulfils_only_what_it_accepted() {
    let r = start().await;
    let v = r.variants(2);
    let (status, wh) =
        r.post("/locations", json!({ "name": "3PL", "fulfillment_service": true })).await;
    assert_eq!(status, 201, "{wh}");
    assert_eq!(wh["fulfillment_service"], true);
    let (_, placed) = r
        .post(
            "/orders",
            json!({ "lines": [{ "sku": v[0].0, "quantity": 2, "location": "3PL" }, { "sku": v[1].0, "quantity": 1 }] }),
        )
        .await;
    let order = placed["id"].as_str().unwrap().to_owned();
    let o = r.gql(FULFILLMENT_ORDERS, json!({ "id": order })).await["order"].clone();
    let service = fo_at(&o, "3PL");
    assert_eq!(service["status"], "OPEN");
    assert_eq!(service["requestStatus"], "SUBMITTED");
    assert_eq!(service["supportedActions"], json!([{ "action": "REQUEST_CANCELLATION" }]));
    assert_eq!(service["assignedLocation"]["location"]["isFulfillmentService"], true);
    let own = fo_at(&o, "Main warehouse");
    assert_eq!(own["requestStatus"], "UNSUBMITTED");
    let fo = service["id"].clone();

    // Not accepted yet: no fulfilment.
    let input = json!({ "f": { "lineItemsByFulfillmentOrder": [{ "fulfillmentOrderId": fo }] } });
    let f = r.gql(FULFILL, input.clone()).await;
    assert!(f["fulfillmentCreate"]["fulfillment"].is_null(), "{f:#}");
    assert_eq!(f["fulfillmentCreate"]["userErrors"][0]["field"], json!(["fulfillment"]), "{f:#}");

    let accept = r#"mutation($id: ID!) { fulfillmentOrderAcceptFulfillmentRequest(id: $id, message: "on it", estimatedShippedAt: "2026-12-01T10:00:00Z") {
      fulfillmentOrder { id status requestStatus supportedActions { action } } userErrors { field message } } }"#;
    let a = r.gql(accept, json!({ "id": fo })).await;
    let p = &a["fulfillmentOrderAcceptFulfillmentRequest"];
    assert_eq!(p["userErrors"], json!([]), "{a:#}");
    assert_eq!(p["fulfillmentOrder"]["id"], fo);
    assert_eq!(p["fulfillmentOrder"]["status"], "IN_PROGRESS");
    assert_eq!(p["fulfillmentOrder"]["requestStatus"], "ACCEPTED");
    assert_eq!(
        p["fulfillmentOrder"]["supportedActions"],
        json!([{ "action": "CREATE_FULFILLMENT" }, { "action": "REQUEST_CANCELLATION" }])
    );
    // Twice, or for a fulfillment order nobody requested: a user error.
    let again = r.gql(accept, json!({ "id": fo })).await;
    assert!(again["fulfillmentOrderAcceptFulfillmentRequest"]["fulfillmentOrder"].is_null());
    assert_eq!(
        again["fulfillmentOrderAcceptFulfillmentRequest"]["userErrors"][0]["field"],
        json!(["id"])
    );
    let other = r.gql(accept, json!({ "id": own["id"] })).await;
    assert_eq!(
        other["fulfillmentOrderAcceptFulfillmentRequest"]["userErrors"].as_array().unwrap().len(),
        1
    );
    let none = r.gql(accept, json!({ "id": "gid://shopify/FulfillmentOrder/1" })).await;
    assert_eq!(
        none["fulfillmentOrderAcceptFulfillmentRequest"]["userErrors"][0]["message"],
        "Fulfillment order does not exist."
    );

    let f = r.gql(FULFILL, input).await;
    assert_eq!(f["fulfillmentCreate"]["userErrors"], json!([]), "{f:#}");
    assert_eq!(f["fulfillmentCreate"]["fulfillment"]["status"], "SUCCESS");
    let o = r.gql(FULFILLMENT_ORDERS, json!({ "id": order })).await["order"].clone();
    assert_eq!(fo_at(&o, "3PL")["status"], "CLOSED");
}

const ORDER_FULFILLMENTS: &str = r#"query($id: ID!) { order(id: $id) { closed closedAt displayFulfillmentStatus
  fulfillments(first: 5) { id name status createdAt trackingInfo { company number url } location { id }
    fulfillmentLineItems(first: 5) { nodes { lineItem { id sku } quantity } } } } }"#;

#[tokio::test]
async fn fulfilments_keep_tracking_and_notify_and_closing_sets_closed_at() {
    let r = start().await;
    let v = r.variants(1);
    let (_, placed) =
        r.post("/orders", json!({ "lines": [{ "sku": v[0].0, "quantity": 3 }] })).await;
    let order = placed["id"].as_str().unwrap().to_owned();
    let o = r.gql(FULFILLMENT_ORDERS, json!({ "id": order })).await["order"].clone();
    let fo = &o["fulfillmentOrders"]["nodes"][0];
    let line = fo["lineItems"]["nodes"][0]["id"].clone();
    let f = r
        .gql(
            FULFILL,
            json!({ "f": {
                "lineItemsByFulfillmentOrder": [{ "fulfillmentOrderId": fo["id"], "fulfillmentOrderLineItems": [{ "id": line, "quantity": 2 }] }],
                "notifyCustomer": true,
                "trackingInfo": { "company": "DHL Express", "number": "JD0123456789", "url": "https://track.example/JD0123456789" },
            } }),
        )
        .await;
    assert_eq!(f["fulfillmentCreate"]["userErrors"], json!([]), "{f:#}");
    let o = r.gql(ORDER_FULFILLMENTS, json!({ "id": order })).await["order"].clone();
    assert_eq!(o["displayFulfillmentStatus"], "PARTIALLY_FULFILLED");
    let fu = &o["fulfillments"][0];
    assert_eq!(fu["status"], "SUCCESS");
    assert!(fu["name"].as_str().unwrap().ends_with("-F1"), "{fu}");
    assert!(fu["createdAt"].is_string());
    assert_eq!(
        fu["trackingInfo"],
        json!([{ "company": "DHL Express", "number": "JD0123456789", "url": "https://track.example/JD0123456789" }])
    );
    let main = r.location("Main warehouse");
    assert_eq!(fu["location"]["id"], format!("gid://shopify/Location/{main}"));
    assert_eq!(fu["fulfillmentLineItems"]["nodes"][0]["quantity"], 2);
    assert_eq!(fu["fulfillmentLineItems"]["nodes"][0]["lineItem"]["sku"], v[0].0);

    // The export shows the fulfilment with its tracking, notify flag, location and lines.
    let export = r.get("/export").await;
    let ef = &export["orders"][num(&order).to_string()]["fulfillments"][0];
    assert_eq!(ef["notify_customer"], true, "{ef:#}");
    assert_eq!(ef["location_id"], main);
    assert_eq!(ef["tracking_info"]["number"], "JD0123456789");
    assert_eq!(ef["tracking_info"]["company"], "DHL Express");
    assert_eq!(ef["tracking_info"]["url"], "https://track.example/JD0123456789");
    assert_eq!(ef["line_items"][0]["sku"], v[0].0);
    assert_eq!(ef["line_items"][0]["quantity"], 2);

    assert_eq!(o["closed"], false);
    assert!(o["closedAt"].is_null());
    let close = r#"mutation($id: ID!) { orderClose(input: { id: $id }) { order { closed closedAt } userErrors { message } } }"#;
    let c = r.gql(close, json!({ "id": order })).await;
    let closed_at = c["orderClose"]["order"]["closedAt"].clone();
    assert_eq!(c["orderClose"]["order"]["closed"], true, "{c:#}");
    assert!(closed_at.is_string(), "{c:#}");
    // A later change does not move closedAt; closing again keeps it.
    assert_eq!(r.patch(&order, json!({ "tags": ["later"] })).await.0, 200);
    let c = r.gql(close, json!({ "id": order })).await;
    assert_eq!(c["orderClose"]["order"]["closedAt"], closed_at);
    let o = r.gql(ORDER_FULFILLMENTS, json!({ "id": order })).await["order"].clone();
    assert_eq!(o["closedAt"], closed_at);
}

const REFUNDS: &str = r#"query($id: ID!) { order(id: $id) { displayFinancialStatus
  totalRefundedSet { shopMoney { amount } } totalRefundedShippingSet { shopMoney { amount } }
  lineItems(first: 5) { nodes { sku quantity currentQuantity refundableQuantity unfulfilledQuantity nonFulfillableQuantity } }
  fulfillmentOrders(first: 5) { nodes { status lineItems(first: 5) { nodes { totalQuantity remainingQuantity } } } }
  refunds(first: 5) { id createdAt note totalRefundedSet { shopMoney { amount } }
    refundLineItems(first: 5) { nodes { id lineItem { id sku } quantity restockType restocked location { id }
      subtotalSet { shopMoney { amount } } totalTaxSet { shopMoney { amount } } priceSet { shopMoney { amount } } }
      pageInfo { hasNextPage endCursor } }
    refundShippingLines(first: 2) { nodes { id shippingLine { title } subtotalAmountSet { shopMoney { amount } } taxAmountSet { shopMoney { amount } } } }
    transactions(first: 2) { nodes { kind status amountSet { shopMoney { amount } } } } } } }"#;

/// 25 % VAT of an amount in cents, rounded as the simulator does.
fn vat(c: i64) -> i64 {
    (c as f64 * 0.25).round() as i64
}

#[tokio::test]
async fn refunds_of_lines_and_shipping_restock_release_and_are_delivered() {
    let r = start().await;
    let (hooks, got) = receiver().await;
    subscribe(&r, "REFUNDS_CREATE", &format!("{hooks}/ok")).await;
    let v = r.variants(2);
    let (a, b) = (&v[0], &v[1]);
    let main = r.location("Main warehouse");
    let (_, placed) = r
        .post(
            "/orders",
            json!({ "lines": [{ "sku": a.0, "quantity": 3 }, { "sku": b.0, "quantity": 2 }] }),
        )
        .await;
    let order = placed["id"].as_str().unwrap().to_owned();
    // Ship b in full; a stays unfulfilled.
    let o = r.gql(FULFILLMENT_ORDERS, json!({ "id": order })).await["order"].clone();
    let fo = &o["fulfillmentOrders"]["nodes"][0];
    let b_line = fo["lineItems"]["nodes"][1]["id"].clone();
    let f = r
        .gql(FULFILL, json!({ "f": { "lineItemsByFulfillmentOrder": [{ "fulfillmentOrderId": fo["id"], "fulfillmentOrderLineItems": [{ "id": b_line, "quantity": 2 }] }] } }))
        .await;
    assert_eq!(f["fulfillmentCreate"]["userErrors"], json!([]), "{f:#}");
    let (a_before, b_before) = (r.stock(a.2, main), r.stock(b.2, main));

    // More units than the line has, or an unknown SKU: refused, nothing changes.
    let (s, e) = r.patch(&order, json!({ "refund_lines": [{ "sku": a.0, "quantity": 4 }] })).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(
        r.patch(&order, json!({ "refund_lines": [{ "sku": "nope", "quantity": 1 }] })).await.0,
        400
    );

    let (s, body) = r
        .patch(
            &order,
            json!({
                "refund_lines": [{ "sku": a.0, "quantity": 1, "restock": true }, { "sku": b.0, "quantity": 1, "restock": false }],
                "refund_shipping": true,
                "refund_note": "damaged box",
            }),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["financial_status"], "PARTIALLY_REFUNDED");
    let shipping = 495;
    let expected = a.1 + vat(a.1) + b.1 + vat(b.1) + shipping + vat(shipping);

    let o = r.gql(REFUNDS, json!({ "id": order })).await["order"].clone();
    assert_eq!(o["displayFinancialStatus"], "PARTIALLY_REFUNDED");
    assert_eq!(cents(&o["totalRefundedSet"]["shopMoney"]["amount"]), expected);
    assert_eq!(cents(&o["totalRefundedShippingSet"]["shopMoney"]["amount"]), shipping);
    let lines = o["lineItems"]["nodes"].as_array().unwrap();
    assert_eq!(lines[0]["quantity"], 3);
    assert_eq!(lines[0]["currentQuantity"], 2);
    assert_eq!(lines[0]["refundableQuantity"], 2);
    assert_eq!(lines[0]["unfulfilledQuantity"], 2);
    assert_eq!(lines[0]["nonFulfillableQuantity"], 1);
    assert_eq!(lines[1]["currentQuantity"], 1);
    let fo_line = &o["fulfillmentOrders"]["nodes"][0]["lineItems"]["nodes"][0];
    assert_eq!(
        (fo_line["totalQuantity"].as_i64(), fo_line["remainingQuantity"].as_i64()),
        (Some(2), Some(2))
    );

    let refund = &o["refunds"][0];
    assert!(refund["createdAt"].is_string());
    assert_eq!(refund["note"], "damaged box");
    assert_eq!(cents(&refund["totalRefundedSet"]["shopMoney"]["amount"]), expected);
    let rl = refund["refundLineItems"]["nodes"].as_array().unwrap();
    assert_eq!(rl.len(), 2);
    assert_eq!(refund["refundLineItems"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(rl[0]["lineItem"]["sku"], a.0);
    assert_eq!(rl[0]["quantity"], 1);
    assert_eq!(rl[0]["restockType"], "CANCEL");
    assert_eq!(rl[0]["restocked"], true);
    assert_eq!(rl[0]["location"]["id"], format!("gid://shopify/Location/{main}"));
    assert_eq!(cents(&rl[0]["subtotalSet"]["shopMoney"]["amount"]), a.1);
    assert_eq!(cents(&rl[0]["priceSet"]["shopMoney"]["amount"]), a.1);
    assert_eq!(cents(&rl[0]["totalTaxSet"]["shopMoney"]["amount"]), vat(a.1));
    assert_eq!(rl[1]["lineItem"]["sku"], b.0);
    assert_eq!(rl[1]["restockType"], "NO_RESTOCK");
    assert_eq!(rl[1]["restocked"], false);
    let ship = &refund["refundShippingLines"]["nodes"][0];
    assert!(ship["id"].as_str().unwrap().starts_with("gid://shopify/RefundShippingLine/"));
    assert_eq!(cents(&ship["subtotalAmountSet"]["shopMoney"]["amount"]), shipping);
    assert_eq!(cents(&ship["taxAmountSet"]["shopMoney"]["amount"]), vat(shipping));
    let tx = &refund["transactions"]["nodes"];
    assert_eq!(tx.as_array().unwrap().len(), 1, "{tx}");
    assert_eq!(tx[0]["kind"], "REFUND");
    assert_eq!(cents(&tx[0]["amountSet"]["shopMoney"]["amount"]), expected);

    // a's unit leaves the committed stock back to available; b's shipped unit stays gone.
    assert_eq!(r.stock(a.2, main), (a_before.0 - 1, a_before.1 + 1));
    assert_eq!(r.stock(b.2, main), b_before);

    // refunds/create carries Shopify's REST shape.
    until(SOON, "no delivery", || !got.lock().unwrap().is_empty()).await.unwrap();
    let (topic, hook) = got.lock().unwrap()[0].clone();
    assert_eq!(topic, "refunds/create");
    assert_eq!(hook["order_id"], num(&order));
    assert_eq!(hook["note"], "damaged box");
    let items = hook["refund_line_items"].as_array().unwrap();
    assert_eq!(items[0]["restock_type"], "cancel");
    assert_eq!(items[0]["line_item_id"], num(rl[0]["lineItem"]["id"].as_str().unwrap()));
    assert_eq!(items[0]["quantity"], 1);
    assert_eq!(cents(&items[0]["subtotal"]), a.1);
    assert_eq!(cents(&items[0]["total_tax"]), vat(a.1));
    assert_eq!(items[0]["id"], num(rl[0]["id"].as_str().unwrap()));
    assert_eq!(items[1]["restock_type"], "no_restock");
    let adj = &hook["order_adjustments"][0];
    assert_eq!(adj["kind"], "shipping_refund");
    assert_eq!(adj["amount"], "-4.95");
    assert_eq!(adj["tax_amount"], "-1.24");
    assert_eq!(cents(&hook["transactions"][0]["amount"]), expected);

    // Shipping refunded once only.
    assert_eq!(r.patch(&order, json!({ "refund_shipping": true })).await.0, 400);

    // The rest: a's two unfulfilled units restocked (CANCEL), b's shipped unit returned.
    let (s, body) = r
        .patch(
            &order,
            json!({ "refund_lines": [{ "sku": a.0, "quantity": 2, "restock": true }, { "sku": b.0, "quantity": 1, "restock": true }] }),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["financial_status"], "REFUNDED");
    let o = r.gql(REFUNDS, json!({ "id": order })).await["order"].clone();
    let rl = &o["refunds"][1]["refundLineItems"]["nodes"];
    assert_eq!(rl[0]["restockType"], "CANCEL");
    assert_eq!(rl[1]["restockType"], "RETURN");
    assert_eq!(o["fulfillmentOrders"]["nodes"][0]["status"], "CLOSED");
    assert_eq!(r.stock(a.2, main), (a_before.0 - 3, a_before.1 + 3));
    assert_eq!(r.stock(b.2, main), (b_before.0, b_before.1 + 1));
    let lines = o["lineItems"]["nodes"].as_array().unwrap();
    assert!(lines.iter().all(|l| l["currentQuantity"] == 0), "{o:#}");
    // Nothing left to refund.
    assert_eq!(
        r.patch(&order, json!({ "refund_lines": [{ "sku": a.0, "quantity": 1 }] })).await.0,
        400
    );

    // The export shows the refunds with their lines.
    let export = r.get("/export").await;
    let refunds = &export["orders"][num(&order).to_string()]["refunds"];
    assert_eq!(refunds[0]["lines"][0]["sku"], a.0);
    assert_eq!(refunds[0]["lines"][0]["restock_type"], "CANCEL");
    assert_eq!(refunds[0]["shipping"]["subtotal"], "4.95");
}

#[tokio::test]
async fn an_amount_only_refund_still_works_and_an_explicit_amount_wins() {
    let r = start().await;
    let v = r.variants(1);
    let (_, placed) =
        r.post("/orders", json!({ "lines": [{ "sku": v[0].0, "quantity": 2 }] })).await;
    let order = placed["id"].as_str().unwrap().to_owned();
    let (s, body) = r.patch(&order, json!({ "refund": "1.00" })).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = r
        .patch(
            &order,
            json!({ "refund": "2.50", "refund_lines": [{ "sku": v[0].0, "quantity": 1 }] }),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let o = r.gql(REFUNDS, json!({ "id": order })).await["order"].clone();
    assert_eq!(o["refunds"][0]["refundLineItems"]["nodes"], json!([]));
    assert_eq!(o["refunds"][0]["totalRefundedSet"]["shopMoney"]["amount"], "1.00");
    assert_eq!(o["refunds"][1]["totalRefundedSet"]["shopMoney"]["amount"], "2.50");
    assert_eq!(o["refunds"][1]["refundLineItems"]["nodes"][0]["quantity"], 1);
    assert_eq!(o["totalRefundedSet"]["shopMoney"]["amount"], "3.50");
    assert_eq!(o["lineItems"]["nodes"][0]["currentQuantity"], 1);
}

#[tokio::test]
async fn cancelling_a_paid_order_with_a_refund_refunds_all_of_it() {
    let r = start().await;
    let (hooks, got) = receiver().await;
    subscribe(&r, "REFUNDS_CREATE", &format!("{hooks}/ok")).await;
    let v = r.variants(2);
    let main = r.location("Main warehouse");
    let before = r.stock(v[0].2, main);
    let place = || {
        r.post("/orders", json!({ "lines": [{ "sku": v[0].0, "quantity": 2 }, { "sku": v[1].0, "quantity": 1 }] }))
    };
    let (_, first) = place().await;
    let (_, second) = place().await;
    let (first, second) =
        (first["id"].as_str().unwrap().to_owned(), second["id"].as_str().unwrap().to_owned());

    let cancel = r#"mutation($id: ID!) { orderCancel(orderId: $id, reason: CUSTOMER, restock: true, refundMethod: { originalPaymentMethodsRefund: true }) {
      job { id } orderCancelUserErrors { field message code } } }"#;
    let c = r.gql(cancel, json!({ "id": first })).await;
    assert_eq!(c["orderCancel"]["orderCancelUserErrors"], json!([]), "{c:#}");
    let (s, body) =
        r.patch(&second, json!({ "cancel": { "restock": false, "refund": true } })).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["financial_status"], "REFUNDED");

    let q = r#"query($id: ID!) { order(id: $id) { displayFinancialStatus cancelledAt closed
      totalPriceSet { shopMoney { amount } } totalRefundedSet { shopMoney { amount } }
      refunds(first: 2) { refundLineItems(first: 5) { nodes { quantity restockType } } refundShippingLines(first: 1) { nodes { id } } } } }"#;
    for (order, restock_type) in [(&first, "CANCEL"), (&second, "NO_RESTOCK")] {
        let o = r.gql(q, json!({ "id": order })).await["order"].clone();
        assert_eq!(o["displayFinancialStatus"], "REFUNDED", "{o:#}");
        assert!(o["cancelledAt"].is_string());
        assert_eq!(o["closed"], true);
        assert_eq!(
            o["totalRefundedSet"]["shopMoney"]["amount"],
            o["totalPriceSet"]["shopMoney"]["amount"]
        );
        let lines = o["refunds"][0]["refundLineItems"]["nodes"].as_array().unwrap();
        assert_eq!(lines.len(), 2, "{o:#}");
        assert!(lines.iter().all(|l| l["restockType"] == restock_type), "{o:#}");
        assert_eq!(o["refunds"][0]["refundShippingLines"]["nodes"].as_array().unwrap().len(), 1);
    }
    // The first went back to available, the second's units are gone; nothing stays committed.
    assert_eq!(r.stock(v[0].2, main), (before.0, before.1 - 2));
    until(SOON, "expected 2 deliveries", || got.lock().unwrap().len() == 2).await.unwrap();

    // An unpaid order cancelled with a refund gets none (nothing was paid).
    let (_, pending) = r
        .post(
            "/orders",
            json!({ "lines": [{ "sku": v[0].0, "quantity": 1 }], "financial_status": "pending" }),
        )
        .await;
    let pending = pending["id"].as_str().unwrap().to_owned();
    let (s, body) =
        r.patch(&pending, json!({ "cancel": { "restock": true, "refund": true } })).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["refunds"], json!([]));
}

#[tokio::test]
async fn webhooks_switched_off_are_dropped_counted_and_never_sent_later() {
    let r = start().await;
    let (hooks, got) = receiver().await;
    subscribe(&r, "ORDERS_UPDATED", &format!("{hooks}/ok")).await;
    let v = r.variants(1);
    let (_, placed) =
        r.post("/orders", json!({ "lines": [{ "sku": v[0].0, "quantity": 1 }] })).await;
    let order = placed["id"].as_str().unwrap().to_owned();

    let (s, f) = r.post("/faults", json!({ "webhooks_off": true })).await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["faults"]["webhooks_off"], true);
    assert_eq!(r.patch(&order, json!({ "tags": ["one"] })).await.0, 200);
    assert_eq!(r.patch(&order, json!({ "tags": ["two"] })).await.0, 200);
    let w = r.get("").await["webhooks"].clone();
    assert_eq!(
        w,
        json!({ "attempted": 0, "delivered": 0, "failed": 0, "given_up": 0, "dropped": 2 })
    );

    // Back on: the next change is delivered, the dropped ones never are.
    assert_eq!(r.post("/faults", json!({})).await.0, 200);
    assert_eq!(r.patch(&order, json!({ "tags": ["three"] })).await.0, 200);
    until(SOON, "no delivery", || !got.lock().unwrap().is_empty()).await.unwrap();
    let delivered = counters_when(&r, |w| w["delivered"] == 1).await;
    assert_eq!(
        delivered,
        json!({ "attempted": 1, "delivered": 1, "failed": 0, "given_up": 0, "dropped": 2 })
    );
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "orders/updated");

    // A receiver that answers 500: each attempt counts as failed.
    subscribe(&r, "ORDERS_UPDATED", &format!("{hooks}/fail")).await;
    assert_eq!(r.patch(&order, json!({ "tags": ["four"] })).await.0, 200);
    // Failed attempts are retried (every 20 ms here, doubling) and counted, then given up.
    let w = counters_when(&r, |w| w["given_up"] == 1).await;
    assert_eq!(w["failed"], 9, "{w}");
    assert_eq!(w["delivered"], 2, "{w}");
    assert_eq!(w["attempted"], 11, "{w}");
}

/// The shop's webhook counters once `check` holds (polling the summary), or fail after 30 s.
async fn counters_when(r: &Running, check: impl Fn(&Value) -> bool) -> Value {
    eventually(Duration::from_secs(30), || async {
        let w = r.get("").await["webhooks"].clone();
        ensure!(check(&w), "webhook counters never got there: {w}");
        Ok(w)
    })
    .await
    .unwrap()
}
