//! The client against the simulator over real HTTP on loopback. Neither shares code with the
//! other; both are held to Shopify's schema and FACTS.md.

#![allow(clippy::unwrap_used)] // test helpers panic on broken fixtures

use anyhow::{Result, ensure};
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use shopsync_shopify::documents::{CUSTOMERS_PAGE, PRODUCTS_PAGE, SHOP};
use shopsync_shopify::{Budget, ClientConfig, Document, ShopifyClient, ShopifyError};
use shopsync_shopify_sim::cost::CostModel;
use shopsync_shopify_sim::{Sim, SimConfig};
use shopsync_testkit::{eventually, until};
use std::collections::HashSet;
use std::sync::Arc;

const TOKEN: &str = "shpat_test_0123456789";
/// How long a webhook delivery or a bulk operation may take to show.
const SOON: std::time::Duration = std::time::Duration::from_secs(10);

struct Running {
    url: String,
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start(config: SimConfig, products: usize) -> Result<Running> {
    let sim = Sim::new(config);
    sim.add_shop("demo", TOKEN, "standard")?;
    sim.shop("demo").unwrap().lock().unwrap().seed(7, products, 0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim, listener, stop.clone()));
    Ok(Running { url, stop })
}

fn client(url: &str) -> ShopifyClient {
    ShopifyClient::new(
        ClientConfig::new(url, SecretString::from(TOKEN.to_owned())),
        Arc::new(Budget::default()),
    )
    .unwrap()
}

async fn raw(url: &str, token: &str, body: Value) -> Result<(u16, Value)> {
    shopsync_shopify::init_tls();
    let r = reqwest::Client::new()
        .post(format!("{url}/admin/api/2026-10/graphql.json"))
        .header("X-Shopify-Access-Token", token)
        .json(&body)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.json().await?))
}

#[tokio::test]
async fn a_wrong_token_gets_401_with_shopifys_body() -> Result<()> {
    let sim = start(SimConfig::default(), 0).await?;
    let (status, body) =
        raw(&sim.url, "wrong-token-123", json!({ "query": "{ shop { name } }" })).await?;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({ "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)" })
    );
    let bad = ShopifyClient::new(
        ClientConfig::new(&sim.url, SecretString::from("wrong-token-123".to_owned())),
        Arc::new(Budget::default()),
    )?;
    let e = bad.execute(&SHOP, json!({})).await.unwrap_err();
    assert!(matches!(e, ShopifyError::Unauthorized { operation: "Shop" }), "{e}");
    assert!(!format!("{e:?}{bad:?}").contains("wrong-token"), "the token must never be printed");
    Ok(())
}

#[tokio::test]
async fn invalid_documents_are_refused_the_way_shopify_does() -> Result<()> {
    let sim = start(SimConfig::default(), 3).await?;
    // Unknown field.
    let (status, body) = raw(&sim.url, TOKEN, json!({ "query": "{ shop { nmae } }" })).await?;
    assert_eq!(status, 200);
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(body["errors"][0]["message"], "Field 'nmae' doesn't exist on type 'Shop'");
    assert_eq!(body["errors"][0]["extensions"]["code"], "undefinedField");
    assert_eq!(body["errors"][0]["locations"][0], json!({ "line": 1, "column": 10 }));
    assert_eq!(body["errors"][0]["path"], json!(["query", "shop", "nmae"]));
    let (_, body) =
        raw(&sim.url, TOKEN, json!({ "query": "query Q { shop { ... on Shop { nmae } } }" }))
            .await?;
    assert_eq!(body["errors"][0]["path"], json!(["query Q", "shop", "... on Shop", "nmae"]));
    // Wrong argument type.
    let (_, body) =
        raw(&sim.url, TOKEN, json!({ "query": "{ products(first: \"ten\") { nodes { id } } }" }))
            .await?;
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "Argument 'first' on Field 'products' has an invalid value (\"ten\"). Expected type 'Int'."
    );
    assert_eq!(body["errors"][0]["extensions"]["code"], "argumentLiteralsIncompatible");
    assert_eq!(body["errors"][0]["path"], json!(["query", "products", "first"]));
    // A required variable without a value.
    let (_, body) = raw(
        &sim.url,
        TOKEN,
        json!({ "query": "query P($id: ID!) { product(id: $id) { id } }", "variables": {} }),
    )
    .await?;
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(body["errors"][0]["message"], "Variable $id of type ID! was provided invalid value");
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_VARIABLE");
    assert_eq!(
        body["errors"][0]["extensions"]["problems"][0]["explanation"],
        "Expected value to not be null"
    );
    // A connection without first/last.
    let (_, body) =
        raw(&sim.url, TOKEN, json!({ "query": "{ products { nodes { id } } }" })).await?;
    assert_eq!(body["errors"][0]["message"], "you must provide one of first or last");
    Ok(())
}

#[tokio::test]
async fn every_answer_carries_its_cost_and_refunds_to_the_actual_cost() -> Result<()> {
    let sim = start(SimConfig::default(), 0).await?;
    // FACTS: an empty customers(first: 200) page requests 12 and costs 2.
    let (_, body) = raw(
        &sim.url,
        TOKEN,
        json!({ "query": "{ customers(first: 200) { edges { cursor node { id updatedAt } } } }" }),
    )
    .await?;
    assert_eq!(body["extensions"]["cost"]["requestedQueryCost"], 12.0);
    assert_eq!(body["extensions"]["cost"]["actualQueryCost"], 2.0);
    assert_eq!(body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"], 2000.0);
    assert_eq!(body["extensions"]["cost"]["throttleStatus"]["restoreRate"], 100.0);
    let c = client(&sim.url);
    let r = c.execute(&CUSTOMERS_PAGE, json!({ "first": 50 })).await?;
    assert_eq!(r.data["customers"]["nodes"], json!([]));
    assert_eq!(r.actual_cost, Some(2.0));
    Ok(())
}

#[tokio::test]
async fn pagination_over_1000_products_returns_each_exactly_once() -> Result<()> {
    let sim = start(SimConfig::default(), 1_000).await?;
    let c = client(&sim.url);
    let ids: Vec<String> = c
        .paginate::<Value>(&PRODUCTS_PAGE, json!({ "first": 50 }), "products")
        .map_ok(|p| p["id"].as_str().unwrap_or_default().to_owned())
        .try_collect()
        .await?;
    assert_eq!(ids.len(), 1_000);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1_000, "no product twice");
    assert_eq!(c.stats().requests, 20);
    Ok(())
}

/// 252 points under Shopify's linear rule, and as dear in fact with 250 products.
const EXPENSIVE: Document = Document {
    name: "Expensive",
    text: "query Expensive { products(first: 250) { nodes { id } } }",
    retry: shopsync_shopify::Retry::Query,
    cost_hint: 300,
};

#[tokio::test]
async fn a_burst_beyond_the_bucket_is_throttled_but_the_paced_client_never_is() -> Result<()> {
    // The linear cost rule, so nothing is refunded: 12 x 252 points cannot fit at once.
    let linear = SimConfig { cost_model: CostModel::Linear, ..SimConfig::default() };
    let sim = start(linear.clone(), 250).await?;
    let burst = (0..12).map(|_| raw(&sim.url, TOKEN, json!({ "query": EXPENSIVE.text })));
    let answers = futures::future::try_join_all(burst).await?;
    let throttled = answers
        .iter()
        .filter(|(_, b)| b["errors"][0]["extensions"]["code"] == "THROTTLED")
        .inspect(|(s, b)| {
            assert_eq!(*s, 200);
            assert!(b.get("data").is_none());
            assert!(b["extensions"]["cost"]["actualQueryCost"].is_null());
        })
        .count();
    assert!(throttled > 0, "12 x 252 points cannot fit a 2,000-point bucket at once");

    // The paced client: the same burst, against a clock running 10x (1,000 points per second).
    let sim = start(SimConfig { time_scale: 10.0, ..linear }, 250).await?;
    let c = client(&sim.url);
    let paced = (0..12).map(|_| c.execute(&EXPENSIVE, json!({})));
    let results = futures::future::try_join_all(paced).await?;
    assert_eq!(results.len(), 12);
    assert_eq!(c.stats().throttled, 0, "the client waited for the bucket instead");
    assert_eq!(results[0].requested_cost, Some(252.0));
    assert_eq!(results[0].actual_cost, Some(252.0));
    Ok(())
}

#[tokio::test]
async fn a_bulk_query_streams_its_jsonl_with_children_after_their_parents() -> Result<()> {
    let sim = start(SimConfig::default(), 40).await?;
    let c = client(&sim.url);
    let query =
        "{ products { edges { node { id title variants { edges { node { id sku } } } } } } }";
    let records: Vec<_> =
        c.bulk_query(query, std::time::Duration::from_millis(100)).await?.try_collect().await?;
    let products: Vec<_> = records.iter().filter(|r| r.parent_id.is_none()).collect();
    let variants: Vec<_> = records.iter().filter(|r| r.parent_id.is_some()).collect();
    assert_eq!(products.len(), 40);
    assert!(variants.len() >= 40, "every seeded product has at least one variant");
    let mut seen = HashSet::new();
    for r in &records {
        match &r.parent_id {
            None => {
                assert!(r.id.as_deref().is_some_and(|id| id.starts_with("gid://shopify/Product/")));
                assert!(r.data["title"].is_string());
                assert!(
                    r.data.get("variants").is_none(),
                    "nested connections are lines of their own"
                );
                seen.insert(r.id.clone());
            }
            Some(parent) => {
                assert!(seen.contains(&Some(parent.clone())), "a child comes after its parent");
                assert!(
                    r.id.as_deref()
                        .is_some_and(|id| id.starts_with("gid://shopify/ProductVariant/"))
                );
                assert!(r.data["sku"].is_string());
            }
        }
    }
    // A bulk query that does not validate comes back as userErrors, typed.
    let e = c
        .bulk_query(
            "{ products { edges { node { nope } } } }",
            std::time::Duration::from_millis(10),
        )
        .await;
    let Err(ShopifyError::UserErrors { operation: "BulkRunQuery", errors }) = e else {
        panic!("expected userErrors");
    };
    assert_eq!(errors[0].code.as_deref(), Some("INVALID"));
    Ok(())
}

#[tokio::test]
async fn inventory_set_quantities_is_compare_and_set_and_idempotent() -> Result<()> {
    use shopsync_shopify::documents::{INVENTORY_LEVEL, INVENTORY_SET_QUANTITIES, LOCATIONS};
    let sim = start(SimConfig::default(), 2).await?;
    let c = client(&sim.url);
    let products = c.execute(&PRODUCTS_PAGE, json!({ "first": 1 })).await?;
    let item = products.data["products"]["nodes"][0]["variants"]["nodes"][0]["inventoryItem"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let locations = c.execute(&LOCATIONS, json!({ "first": 10 })).await?;
    let location = locations.data["locations"]["nodes"][0]["id"].as_str().unwrap().to_owned();
    let available = |r: &shopsync_shopify::GqlResponse| {
        r.data["inventoryItem"]["inventoryLevel"]["quantities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == "available")
            .unwrap()["quantity"]
            .as_i64()
            .unwrap()
    };
    let level_vars = json!({ "item": item, "location": location });
    let level = || c.execute(&INVENTORY_LEVEL, level_vars.clone());
    let before = available(&level().await?);

    let input = |to: i64, from: Value| {
        json!({ "name": "available", "reason": "correction",
                "quantities": [{ "inventoryItemId": item, "locationId": location, "quantity": to, "changeFromQuantity": from }] })
    };
    let key = "6f1c0a2e-7d7a-4b1e-9d7e-1f2a3b4c5d6e";
    let set = |input: Value, key: &str| {
        c.mutate(
            &INVENTORY_SET_QUANTITIES,
            json!({ "input": input, "key": key }),
            "inventorySetQuantities",
        )
    };
    let first = set(input(before + 5, json!(before)), key).await?;
    assert_eq!(first["inventoryAdjustmentGroup"]["changes"][0]["delta"], 5);
    assert_eq!(available(&level().await?), before + 5);

    // The same key and input again (a blind retry): the first outcome, applied once.
    let again = set(input(before + 5, json!(before)), key).await?;
    assert_eq!(again["inventoryAdjustmentGroup"]["id"], first["inventoryAdjustmentGroup"]["id"]);
    assert_eq!(available(&level().await?), before + 5);

    // The same key with other input.
    let e = set(input(before + 9, json!(before + 5)), key).await.unwrap_err();
    let ShopifyError::UserErrors { errors, .. } = e else { panic!("{e}") };
    assert_eq!(errors[0].code.as_deref(), Some("IDEMPOTENCY_KEY_PARAMETER_MISMATCH"));

    // A stale compare-and-set: nothing changes.
    let e = set(input(0, json!(before)), "0b8f5f7c-1111-4c1e-8d7e-000000000002").await.unwrap_err();
    let ShopifyError::UserErrors { errors, .. } = e else { panic!("{e}") };
    assert_eq!(errors[0].code.as_deref(), Some("CHANGE_FROM_QUANTITY_STALE"));
    assert_eq!(available(&level().await?), before + 5);

    // changeFromQuantity left out entirely is refused; null opts out of the check.
    let mut missing = input(1, Value::Null);
    missing["quantities"][0].as_object_mut().unwrap().remove("changeFromQuantity");
    assert!(set(missing, "0b8f5f7c-1111-4c1e-8d7e-000000000003").await.is_err());
    set(input(1, Value::Null), "0b8f5f7c-1111-4c1e-8d7e-000000000004").await?;
    assert_eq!(available(&level().await?), 1);

    // Without @idempotent the mutation is refused outright.
    let (_, body) = raw(
        &sim.url,
        TOKEN,
        json!({ "query": "mutation($i: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $i) { userErrors { code } } }",
                "variables": { "i": input(2, Value::Null) } }),
    )
    .await?;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("@idempotent"), "{body}");
    assert_eq!(available(&level().await?), 1);
    Ok(())
}

#[tokio::test]
async fn the_client_rides_out_injected_faults() -> Result<()> {
    let sim = Sim::new(SimConfig::default());
    sim.add_shop("demo", TOKEN, "standard")?;
    sim.shop("demo").unwrap().lock().unwrap().seed(7, 30, 0);
    sim.set_faults(
        "demo",
        shopsync_shopify_sim::Faults {
            error_rate: 0.3,
            rate_limit_rate: 0.05,
            malformed_rate: 0.1,
            timeout_rate: 0.1,
            timeout_ms: 300,
            latency_ms: 5,
            seed: 11,
            ..Default::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim, listener, stop.clone()));
    let mut config = ClientConfig::new(&url, SecretString::from(TOKEN.to_owned()));
    config.backoff = std::time::Duration::from_millis(10);
    config.max_attempts = 12;
    config.timeout = std::time::Duration::from_millis(200);
    let c = ShopifyClient::new(config, Arc::new(Budget::default()))?;
    for _ in 0..20 {
        let r = c.execute(&SHOP, json!({})).await?;
        assert_eq!(r.data["shop"]["name"], "demo");
    }
    let stats = c.stats();
    assert!(stats.retried > 0, "with 55 % faults some requests were retried: {stats:?}");
    stop.cancel();
    Ok(())
}

#[tokio::test]
async fn shops_survive_a_save_and_a_load() -> Result<()> {
    let sim = Sim::new(SimConfig::default());
    sim.add_shop("demo", TOKEN, "plus")?;
    sim.shop("demo").unwrap().lock().unwrap().seed(5, 10, 4);
    let dir = std::env::temp_dir().join(format!("shopify-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("state.json");
    sim.save(&path)?;
    let again = Sim::new(SimConfig::default());
    assert_eq!(again.load(&path)?, 1);
    {
        let (a, b) = (sim.shop("demo").unwrap(), again.shop("demo").unwrap());
        let (a, b) = (a.lock().unwrap(), b.lock().unwrap());
        assert_eq!(serde_json::to_value(&*a)?, serde_json::to_value(&*b)?);
        assert_eq!(b.products.len(), 10);
        assert_eq!(b.customers.len(), 4);
        assert_eq!(b.limits, shopsync_shopify_sim::bucket::Limits::PLUS);
    }
    // The export reads back everything but the credentials.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(again, listener, stop.clone()));
    shopsync_shopify::init_tls();
    let export: Value = reqwest::get(format!("{url}/sim/shops/demo/export")).await?.json().await?;
    assert_eq!(export["products"].as_object().unwrap().len(), 10);
    assert!(export.get("access_token").is_none() && export.get("client_secret").is_none());
    stop.cancel();
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A webhook endpoint of ours: verifies each delivery, refuses the first one (to see the
/// retry), records the verified ones.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<std::sync::Mutex<Vec<(shopsync_shopify::webhook::WebhookMeta, Value)>>>,
    calls: Arc<std::sync::atomic::AtomicU32>,
    accept_first: bool,
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: reqwest::header::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let secret = SecretString::from("shpss_demo_secret".to_owned());
    let Ok(meta) = shopsync_shopify::webhook::verify(&secret, &headers, &body) else {
        return axum::http::StatusCode::UNAUTHORIZED;
    };
    if r.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 && !r.accept_first {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.seen.lock().unwrap().push((meta, serde_json::from_slice(&body).unwrap()));
    axum::http::StatusCode::OK
}

#[tokio::test]
async fn webhooks_arrive_signed_and_are_retried_and_a_forged_one_is_rejected() -> Result<()> {
    use shopsync_shopify::documents::WEBHOOK_SUBSCRIPTION_CREATE;
    let receiver = Receiver::default();
    let app = axum::Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(receiver.clone());
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hooks", hook_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(hook_listener, app).await });

    let sim = start(
        SimConfig { webhook_retry: std::time::Duration::from_millis(50), ..SimConfig::default() },
        0,
    )
    .await?;
    let c = client(&sim.url);
    let sub = c
        .mutate(
            &WEBHOOK_SUBSCRIPTION_CREATE,
            json!({ "topic": "CUSTOMERS_CREATE", "subscription": { "uri": hook_url, "format": "JSON" } }),
            "webhookSubscriptionCreate",
        )
        .await?;
    assert_eq!(sub["webhookSubscription"]["topic"], "CUSTOMERS_CREATE");

    let (_, body) = raw(
        &sim.url,
        TOKEN,
        json!({ "query": "mutation { customerCreate(input: { firstName: \"Grace\", email: \"grace@example.com\" }) { customer { id } userErrors { message } } }" }),
    )
    .await?;
    let customer = body["data"]["customerCreate"]["customer"]["id"].as_str().unwrap().to_owned();

    until(SOON, "no verified delivery", || !receiver.seen.lock().unwrap().is_empty()).await?;
    let (meta, payload) = receiver.seen.lock().unwrap()[0].clone();
    assert_eq!(meta.topic, "customers/create");
    assert_eq!(meta.shop_domain, "demo.myshopify.com");
    assert_eq!(payload["admin_graphql_api_id"], customer);
    assert_eq!(payload["email"], "grace@example.com");
    assert_eq!(
        receiver.calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "refused once, then retried"
    );

    // A delivery forged without the secret never gets past verification.
    let forged = reqwest::Client::new()
        .post(&hook_url)
        .header("X-Shopify-Topic", "customers/create")
        .header("X-Shopify-Shop-Domain", "demo.myshopify.com")
        .header("X-Shopify-Webhook-Id", "forged")
        .header("X-Shopify-Hmac-Sha256", "bm90IGEgc2lnbmF0dXJl")
        .body(r#"{"email":"mallory@example.com"}"#)
        .send()
        .await?;
    assert_eq!(forged.status().as_u16(), 401);
    assert_eq!(receiver.seen.lock().unwrap().len(), 1);
    Ok(())
}

#[tokio::test]
async fn orders_commit_stock_and_fulfilments_follow_shopifys_rules() -> Result<()> {
    use shopsync_shopify::documents::{FULFILLMENT_CREATE, ORDER_FULFILLMENT_ORDERS, ORDERS_PAGE};
    let sim = start(SimConfig::default(), 3).await?;
    let c = client(&sim.url);
    let http = reqwest::Client::new();
    // The seeded mix: 30 orders, most of them paid.
    let seeded: Value = http
        .post(format!("{}/sim/shops/demo/seed", sim.url))
        .json(&json!({ "seed": 9, "customers": 5, "orders": 30 }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(seeded["orders"], 30);
    let all: Vec<Value> =
        c.paginate(&ORDERS_PAGE, json!({ "first": 7 }), "orders").try_collect().await?;
    assert_eq!(all.len(), 30);
    let paid: Vec<Value> = c
        .paginate(&ORDERS_PAGE, json!({ "first": 50, "query": "financial_status:paid" }), "orders")
        .try_collect()
        .await?;
    assert!(!paid.is_empty() && paid.len() < 30, "a mix of payment states: {} paid", paid.len());
    assert!(paid.iter().all(|o| o["displayFinancialStatus"] == "PAID"));
    for o in &paid {
        let sale = &o["transactions"][0];
        assert_eq!(
            (sale["kind"].as_str(), sale["status"].as_str()),
            (Some("SALE"), Some("SUCCESS"))
        );
        assert_eq!(
            sale["amountSet"]["shopMoney"]["amount"],
            o["currentTotalPriceSet"]["shopMoney"]["amount"]
        );
        let cents =
            |v: &Value| (v.as_str().unwrap().parse::<f64>().unwrap() * 100.0).round() as i64;
        let sum = cents(&o["currentSubtotalPriceSet"]["shopMoney"]["amount"])
            + cents(&o["currentShippingPriceSet"]["shopMoney"]["amount"])
            + cents(&o["currentTotalTaxSet"]["shopMoney"]["amount"]);
        assert!((sum - cents(&o["currentTotalPriceSet"]["shopMoney"]["amount"])).abs() <= 1, "{o}");
        assert_eq!(o["shippingAddress"]["countryCodeV2"], "DK");
    }
    let refunded: Vec<Value> = c
        .paginate(
            &ORDERS_PAGE,
            json!({ "first": 50, "query": "financial_status:partially_refunded" }),
            "orders",
        )
        .try_collect()
        .await?;
    assert!(refunded.iter().all(|o| o["refunds"].as_array().is_some_and(|r| r.len() == 1)));

    // A customer orders 2 of one SKU: the stock is committed at the location.
    let product = c.execute(&PRODUCTS_PAGE, json!({ "first": 1 })).await?;
    let variant = &product.data["products"]["nodes"][0]["variants"]["nodes"][0];
    let sku = variant["sku"].as_str().unwrap().to_owned();
    let item = variant["inventoryItem"]["id"].as_str().unwrap().to_owned();
    let placed: Value = http
        .post(format!("{}/sim/shops/demo/orders", sim.url))
        .json(&json!({ "lines": [{ "sku": sku, "quantity": 2 }] }))
        .send()
        .await?
        .json()
        .await?;
    let order = placed["id"].as_str().unwrap().to_owned();
    let fos = c.execute(&ORDER_FULFILLMENT_ORDERS, json!({ "id": order })).await?;
    let fo = &fos.data["order"]["fulfillmentOrders"]["nodes"][0];
    assert_eq!(fo["status"], "OPEN");
    let fo_id = fo["id"].as_str().unwrap().to_owned();
    let line = fo["lineItems"]["nodes"][0]["id"].as_str().unwrap().to_owned();
    let location = fo["assignedLocation"]["location"]["id"].as_str().unwrap().to_owned();
    let stock = || async {
        let (_, b) = raw(
            &sim.url,
            TOKEN,
            json!({ "query": "query($i: ID!, $l: ID!) { inventoryItem(id: $i) { inventoryLevel(locationId: $l) { quantities(names: [\"available\", \"committed\", \"on_hand\"]) { name quantity } } } }",
                    "variables": { "i": item, "l": location } }),
        )
        .await
        .unwrap();
        let q = |n: &str| {
            b["data"]["inventoryItem"]["inventoryLevel"]["quantities"]
                .as_array()
                .unwrap()
                .iter()
                .find(|q| q["name"] == n)
                .unwrap()["quantity"]
                .as_i64()
                .unwrap()
        };
        (q("available"), q("committed"), q("on_hand"))
    };
    let (avail, committed, on_hand) = stock().await;
    assert!(committed >= 2, "the order committed its units");
    assert_eq!(on_hand, avail + committed);

    let ship = |qty: i64| {
        c.mutate(
            &FULFILLMENT_CREATE,
            json!({ "fulfillment": {
                "lineItemsByFulfillmentOrder": [{ "fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": [{ "id": line, "quantity": qty }] }],
                "trackingInfo": { "number": "1Z999", "company": "UPS", "url": "https://ups.example/1Z999" } } }),
            "fulfillmentCreate",
        )
    };
    // More than remains is refused; nothing changes.
    let e = ship(3).await.unwrap_err();
    assert!(e.to_string().contains("Invalid fulfillment order line item quantity"), "{e}");
    // One of two: in progress, partially fulfilled, one unit leaves the shelf.
    let first = ship(1).await?;
    assert_eq!(first["fulfillment"]["totalQuantity"], 1);
    assert_eq!(first["fulfillment"]["trackingInfo"][0]["number"], "1Z999");
    let fos = c.execute(&ORDER_FULFILLMENT_ORDERS, json!({ "id": order })).await?;
    assert_eq!(fos.data["order"]["displayFulfillmentStatus"], "PARTIALLY_FULFILLED");
    assert_eq!(fos.data["order"]["fulfillmentOrders"]["nodes"][0]["status"], "IN_PROGRESS");
    assert_eq!(stock().await, (avail, committed - 1, on_hand - 1));
    // A blind retry of the same request ships the last unit again: a second fulfilment.
    let retry = ship(1).await?;
    assert_ne!(retry["fulfillment"]["id"], first["fulfillment"]["id"]);
    let fos = c.execute(&ORDER_FULFILLMENT_ORDERS, json!({ "id": order })).await?;
    assert_eq!(fos.data["order"]["displayFulfillmentStatus"], "FULFILLED");
    assert_eq!(fos.data["order"]["fulfillmentOrders"]["nodes"][0]["status"], "CLOSED");
    // A closed fulfillment order takes no more.
    let e = ship(1).await.unwrap_err();
    assert!(e.to_string().contains("unfulfillable status"), "{e}");
    assert_eq!(stock().await, (avail, committed - 2, on_hand - 2));
    Ok(())
}

#[tokio::test]
async fn payments_balance_transactions_follow_the_orders_and_their_payout() -> Result<()> {
    use shopsync_shopify::documents::{BALANCE_TRANSACTIONS, PAYOUTS};
    let sim = start(SimConfig::default(), 5).await?;
    let seeded: Value = reqwest::Client::new()
        .post(format!("{}/sim/shops/demo/seed", sim.url))
        .json(&json!({ "seed": 4, "customers": 3, "orders": 25 }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(seeded["orders"], 25);
    let c = client(&sim.url);
    // The account is nested: page through it with a raw loop over the client.
    let mut txs = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let r = c.execute(&BALANCE_TRANSACTIONS, json!({ "first": 10, "after": after })).await?;
        let conn = &r.data["shopifyPaymentsAccount"]["balanceTransactions"];
        txs.extend(conn["nodes"].as_array().unwrap().iter().cloned());
        if conn["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert!(!txs.is_empty());
    let cents = |v: &Value| (v.as_str().unwrap().parse::<f64>().unwrap() * 100.0).round() as i64;
    for t in &txs {
        assert!(t["type"] == "CHARGE" || t["type"] == "REFUND", "{t}");
        assert_eq!(
            cents(&t["amount"]["amount"]) - cents(&t["fee"]["amount"]),
            cents(&t["net"]["amount"])
        );
        assert!(t["associatedOrder"]["name"].as_str().unwrap().starts_with('#'));
        assert_eq!(t["associatedPayout"]["status"], "PAID");
    }
    // Incremental: only what came after a known id.
    let last_but_two =
        txs[txs.len() - 3]["id"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let newer = c
        .execute(
            &BALANCE_TRANSACTIONS,
            json!({ "first": 50, "query": format!("id:>{last_but_two}") }),
        )
        .await?;
    assert_eq!(
        newer.data["shopifyPaymentsAccount"]["balanceTransactions"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The payout adds up its transactions.
    let payouts = c.execute(&PAYOUTS, json!({ "first": 10 })).await?;
    let p = &payouts.data["shopifyPaymentsAccount"]["payouts"]["nodes"][0];
    assert_eq!(p["status"], "PAID");
    let total: i64 = txs.iter().map(|t| cents(&t["net"]["amount"])).sum();
    assert!(
        (cents(&p["net"]["amount"]) - total).abs() <= txs.len() as i64,
        "payout {p} vs {total}"
    );
    Ok(())
}

#[tokio::test]
async fn b2b_companies_catalogs_and_fixed_prices() -> Result<()> {
    use shopsync_shopify::documents::{CATALOGS_PAGE, COMPANIES_PAGE, PRICE_LIST_FIXED_PRICES_ADD};
    let sim = start(SimConfig::default(), 6).await?;
    reqwest::Client::new()
        .post(format!("{}/sim/shops/demo/seed", sim.url))
        .json(&json!({ "seed": 2, "companies": 4 }))
        .send()
        .await?
        .error_for_status()?;
    let c = client(&sim.url);
    let companies: Vec<Value> =
        c.paginate(&COMPANIES_PAGE, json!({ "first": 3 }), "companies").try_collect().await?;
    assert_eq!(companies.len(), 4);
    for co in &companies {
        assert!(
            co["mainContact"]["customer"]["defaultEmailAddress"]["emailAddress"]
                .as_str()
                .unwrap()
                .contains('@')
        );
        assert!(!co["locations"]["nodes"].as_array().unwrap().is_empty());
    }
    let one =
        c.execute(&COMPANIES_PAGE, json!({ "first": 5, "query": "external_id:C0002" })).await?;
    assert_eq!(one.data["companies"]["nodes"].as_array().unwrap().len(), 1);

    let catalogs: Vec<Value> =
        c.paginate(&CATALOGS_PAGE, json!({ "first": 10 }), "catalogs").try_collect().await?;
    assert_eq!(catalogs.len(), 4);
    let list = catalogs[0]["priceList"]["id"].as_str().unwrap().to_owned();
    let before = catalogs[0]["priceList"]["fixedPricesCount"].as_i64().unwrap();

    let product = c.execute(&PRODUCTS_PAGE, json!({ "first": 6 })).await?;
    let variants: Vec<String> = product.data["products"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["variants"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_owned())
        })
        .collect();
    let set = |prices: Value| {
        c.mutate(
            &PRICE_LIST_FIXED_PRICES_ADD,
            json!({ "priceListId": list, "prices": prices }),
            "priceListFixedPricesAdd",
        )
    };
    // Wrong currency: refused, all or nothing.
    let e = set(json!([
        { "variantId": variants[0], "price": { "amount": "10.00", "currencyCode": "EUR" } },
        { "variantId": variants[1], "price": { "amount": "10.00", "currencyCode": "USD" } },
    ]))
    .await
    .unwrap_err();
    let ShopifyError::UserErrors { errors, .. } = e else { panic!("{e}") };
    assert_eq!(errors[0].code.as_deref(), Some("PRICE_LIST_CURRENCY_MISMATCH"));
    let ok =
        set(json!(variants
        .iter()
        .map(|v| json!({ "variantId": v, "price": { "amount": "9.99", "currencyCode": "EUR" } }))
        .collect::<Vec<_>>()))
        .await?;
    assert_eq!(ok["prices"].as_array().unwrap().len(), variants.len());
    assert_eq!(ok["prices"][0]["price"]["amount"], "9.99");
    let after: Vec<Value> =
        c.paginate(&CATALOGS_PAGE, json!({ "first": 10 }), "catalogs").try_collect().await?;
    let count = after.iter().find(|k| k["priceList"]["id"] == list.as_str()).unwrap()["priceList"]
        ["fixedPricesCount"]
        .as_i64()
        .unwrap();
    assert!(
        count >= before
            && count <= before + variants.len() as i64
            && count >= variants.len() as i64
    );
    let e = set(json!([{ "variantId": "gid://shopify/ProductVariant/1", "price": { "amount": "1.00", "currencyCode": "EUR" } }]))
        .await
        .unwrap_err();
    let ShopifyError::UserErrors { errors, .. } = e else { panic!("{e}") };
    assert_eq!(errors[0].code.as_deref(), Some("VARIANT_NOT_FOUND"));
    Ok(())
}

#[tokio::test]
async fn product_set_upserts_by_handle_and_replaces_variants_then_prices_update() -> Result<()> {
    use shopsync_shopify::documents::{PRODUCT_SET, VARIANT_PRICES_UPDATE};
    let sim = start(SimConfig::default(), 1).await?;
    let c = client(&sim.url);
    let set = |input: Value| {
        c.mutate(&PRODUCT_SET, json!({ "handle": "erp-item-1000", "input": input }), "productSet")
    };
    let variant = |size: &str, sku: &str, price: &str| json!({ "optionValues": [{ "optionName": "Size", "name": size }], "price": price, "inventoryItem": { "sku": sku, "tracked": true } });
    let created = set(json!({
        "title": "Oak chair", "status": "ACTIVE", "vendor": "Nordic Goods",
        "productOptions": [{ "name": "Size", "values": [{ "name": "S" }, { "name": "M" }] }],
        "variants": [variant("S", "1000-S", "49.00"), variant("M", "1000-M", "59.00")],
    }))
    .await?;
    let id = created["product"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["product"]["handle"], "erp-item-1000");
    assert_eq!(created["product"]["variants"]["nodes"].as_array().unwrap().len(), 2);
    let m_id = created["product"]["variants"]["nodes"][1]["id"].clone();
    // The same handle again: the same product; M kept (same id), S dropped, L added.
    let updated = set(json!({ "title": "Oak chair", "variants": [variant("M", "1000-M", "55.00"), variant("L", "1000-L", "69.00")] })).await?;
    assert_eq!(updated["product"]["id"], id.as_str());
    let nodes = updated["product"]["variants"]["nodes"].as_array().unwrap();
    assert_eq!(
        nodes.iter().map(|n| n["sku"].as_str().unwrap()).collect::<Vec<_>>(),
        ["1000-M", "1000-L"]
    );
    assert_eq!(nodes[0]["id"], m_id);
    assert_eq!(nodes[0]["price"], "55.00");
    // A product without variants gets Shopify's default variant.
    let plain = c
        .mutate(
            &PRODUCT_SET,
            json!({ "handle": "erp-item-2000", "input": { "title": "Lamp" } }),
            "productSet",
        )
        .await?;
    assert_eq!(plain["product"]["variants"]["nodes"].as_array().unwrap().len(), 1);
    // A title is needed to create.
    let e = c
        .mutate(
            &PRODUCT_SET,
            json!({ "handle": "erp-item-3000", "input": { "vendor": "x" } }),
            "productSet",
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Title can't be blank"), "{e}");

    // Prices of existing variants; an unknown variant fails the whole call.
    let upd = |variants: Value| {
        c.mutate(
            &VARIANT_PRICES_UPDATE,
            json!({ "productId": id, "variants": variants }),
            "productVariantsBulkUpdate",
        )
    };
    let e = upd(json!([{ "id": m_id, "price": "1.00" }, { "id": "gid://shopify/ProductVariant/1", "price": "2.00" }]))
        .await
        .unwrap_err();
    let ShopifyError::UserErrors { errors, .. } = e else { panic!("{e}") };
    assert_eq!(errors[0].code.as_deref(), Some("PRODUCT_VARIANT_DOES_NOT_EXIST"));
    let ok = upd(json!([{ "id": m_id, "price": "52.50" }])).await?;
    assert_eq!(ok["productVariants"][0]["price"], "52.50");
    Ok(())
}

#[tokio::test]
async fn order_write_backs_mark_paid_cancel_with_restock_and_close() -> Result<()> {
    use shopsync_shopify::documents::{ORDER_CANCEL, ORDER_CLOSE, ORDER_MARK_AS_PAID};
    let sim = start(SimConfig::default(), 1).await?;
    let c = client(&sim.url);
    let product = c.execute(&PRODUCTS_PAGE, json!({ "first": 1 })).await?;
    let sku = product.data["products"]["nodes"][0]["variants"]["nodes"][0]["sku"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let place = |status: &str| {
        http.post(format!("{}/sim/shops/demo/orders", sim.url))
            .json(&json!({ "lines": [{ "sku": sku, "quantity": 3 }], "financial_status": status }))
            .send()
    };
    let export = || async {
        let v: Value = http
            .get(format!("{}/sim/shops/demo/export", sim.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v
    };
    let committed_and_available = |v: &Value| {
        v["levels"].as_array().unwrap().iter().fold((0, 0), |acc, l| {
            (
                acc.0 + l[1]["committed"].as_i64().unwrap(),
                acc.1 + l[1]["available"].as_i64().unwrap(),
            )
        })
    };
    let before = committed_and_available(&export().await);
    let pending: Value = place("pending").await?.json().await?;
    let id = pending["id"].as_str().unwrap().to_owned();
    let paid = c.mutate(&ORDER_MARK_AS_PAID, json!({ "id": id }), "orderMarkAsPaid").await?;
    assert_eq!(paid["order"]["displayFinancialStatus"], "PAID");
    let e =
        c.mutate(&ORDER_MARK_AS_PAID, json!({ "id": id }), "orderMarkAsPaid").await.unwrap_err();
    assert!(e.to_string().contains("cannot be marked as paid"), "{e}");

    assert_eq!(committed_and_available(&export().await), (before.0 + 3, before.1 - 3));
    let cancel = |restock: bool| {
        c.mutate(
            &ORDER_CANCEL,
            json!({ "orderId": id, "reason": "CUSTOMER", "restock": restock }),
            "orderCancel",
        )
    };
    let done = cancel(true).await?;
    assert_eq!(done["job"]["done"], true);
    assert_eq!(committed_and_available(&export().await), before, "restocked");
    let e = cancel(true).await.unwrap_err();
    let ShopifyError::UserErrors { errors, .. } = e else { panic!("{e}") };
    assert_eq!(errors[0].code.as_deref(), Some("INVALID"));

    let other: Value = place("paid").await?.json().await?;
    let closed = c.mutate(&ORDER_CLOSE, json!({ "id": other["id"] }), "orderClose").await?;
    assert_eq!(closed["order"]["closed"], true);
    Ok(())
}

#[tokio::test]
async fn injected_duplicate_webhooks_share_their_webhook_id() -> Result<()> {
    use shopsync_shopify::documents::WEBHOOK_SUBSCRIPTION_CREATE;
    let receiver = Receiver { accept_first: true, ..Receiver::default() };
    let app = axum::Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(receiver.clone());
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hooks", hook_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(hook_listener, app).await });
    let sim = start(SimConfig::default(), 0).await?;
    let http = reqwest::Client::new();
    http.post(format!("{}/sim/shops/demo/faults", sim.url))
        .json(&json!({ "webhook_duplicate_rate": 1.0, "webhook_jitter_ms": 30, "seed": 3 }))
        .send()
        .await?
        .error_for_status()?;
    let c = client(&sim.url);
    c.mutate(
        &WEBHOOK_SUBSCRIPTION_CREATE,
        json!({ "topic": "CUSTOMERS_CREATE", "subscription": { "uri": hook_url, "format": "JSON" } }),
        "webhookSubscriptionCreate",
    )
    .await?;
    for i in 0..3 {
        raw(
            &sim.url,
            TOKEN,
            json!({ "query": format!("mutation {{ customerCreate(input: {{ email: \"dup{i}@example.com\" }}) {{ userErrors {{ message }} }} }}") }),
        )
        .await?;
    }
    until(SOON, "expected 6 deliveries", || receiver.seen.lock().unwrap().len() >= 6).await?;
    let seen = receiver.seen.lock().unwrap().clone();
    let ids: HashSet<String> = seen.iter().map(|(m, _)| m.webhook_id.clone()).collect();
    assert_eq!(
        ids.len(),
        3,
        "each delivery came twice with the same webhook id: de-duplicate on it"
    );
    let events: HashSet<Option<String>> = seen.iter().map(|(m, _)| m.event_id.clone()).collect();
    assert_eq!(events.len(), 3);
    Ok(())
}

#[tokio::test]
async fn order_and_fulfilment_webhooks_arrive_for_their_topics() -> Result<()> {
    use shopsync_shopify::documents::{
        FULFILLMENT_CREATE, ORDER_FULFILLMENT_ORDERS, WEBHOOK_SUBSCRIPTION_CREATE,
    };
    let receiver = Receiver { accept_first: true, ..Receiver::default() };
    let app = axum::Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(receiver.clone());
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hooks", hook_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(hook_listener, app).await });
    let sim = start(SimConfig::default(), 1).await?;
    let c = client(&sim.url);
    for topic in ["ORDERS_CREATE", "ORDERS_UPDATED", "FULFILLMENTS_CREATE"] {
        c.mutate(
            &WEBHOOK_SUBSCRIPTION_CREATE,
            json!({ "topic": topic, "subscription": { "uri": hook_url, "format": "JSON" } }),
            "webhookSubscriptionCreate",
        )
        .await?;
    }
    let product = c.execute(&PRODUCTS_PAGE, json!({ "first": 1 })).await?;
    let sku = product.data["products"]["nodes"][0]["variants"]["nodes"][0]["sku"]
        .as_str()
        .unwrap()
        .to_owned();
    let placed: Value = reqwest::Client::new()
        .post(format!("{}/sim/shops/demo/orders", sim.url))
        .json(&json!({ "lines": [{ "sku": sku, "quantity": 1 }] }))
        .send()
        .await?
        .json()
        .await?;
    let order = placed["id"].as_str().unwrap().to_owned();
    let fos = c.execute(&ORDER_FULFILLMENT_ORDERS, json!({ "id": order })).await?;
    let fo = fos.data["order"]["fulfillmentOrders"]["nodes"][0]["id"].as_str().unwrap().to_owned();
    c.mutate(
        &FULFILLMENT_CREATE,
        json!({ "fulfillment": { "lineItemsByFulfillmentOrder": [{ "fulfillmentOrderId": fo }] } }),
        "fulfillmentCreate",
    )
    .await?;
    let topics = eventually(SOON, || async {
        let topics: HashSet<String> =
            receiver.seen.lock().unwrap().iter().map(|(m, _)| m.topic.clone()).collect();
        ensure!(topics.len() == 3, "topics seen: {topics:?}");
        Ok(topics)
    })
    .await?;
    assert!(
        topics.contains("orders/create")
            && topics.contains("orders/updated")
            && topics.contains("fulfillments/create")
    );
    let seen = receiver.seen.lock().unwrap().clone();
    let updated = seen.iter().find(|(m, _)| m.topic == "orders/updated").unwrap();
    assert_eq!(updated.1["admin_graphql_api_id"], order.as_str());
    assert_eq!(updated.1["fulfillment_status"], "fulfilled");
    Ok(())
}

#[tokio::test]
async fn inventory_adjust_quantities_moves_by_deltas_with_ledger_rules() -> Result<()> {
    use shopsync_shopify::documents::{INVENTORY_ADJUST_QUANTITIES, LOCATIONS};
    let sim = start(SimConfig::default(), 1).await?;
    let c = client(&sim.url);
    let products = c.execute(&PRODUCTS_PAGE, json!({ "first": 1 })).await?;
    let item = products.data["products"]["nodes"][0]["variants"]["nodes"][0]["inventoryItem"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let locations = c.execute(&LOCATIONS, json!({ "first": 1 })).await?;
    let location = locations.data["locations"]["nodes"][0]["id"].as_str().unwrap().to_owned();
    let adjust = |name: &str, delta: i64, ledger: Value, key: &str| {
        c.mutate(
            &INVENTORY_ADJUST_QUANTITIES,
            json!({ "key": key, "input": { "name": name, "reason": "correction",
                "changes": [{ "inventoryItemId": item, "locationId": location, "delta": delta, "changeFromQuantity": null, "ledgerDocumentUri": ledger }] } }),
            "inventoryAdjustQuantities",
        )
    };
    let r = adjust("available", 4, Value::Null, "a1").await?;
    let changes = r["inventoryAdjustmentGroup"]["changes"].as_array().unwrap();
    assert_eq!(changes[0]["name"], "available");
    assert_eq!(changes[0]["delta"], 4);
    assert_eq!(changes[1]["name"], "on_hand");
    assert_eq!(changes[1]["delta"], 4);
    // The same key and input: replayed, not applied twice.
    let again = adjust("available", 4, Value::Null, "a1").await?;
    assert_eq!(again["inventoryAdjustmentGroup"]["id"], r["inventoryAdjustmentGroup"]["id"]);
    // Other names need a ledger document, and not a Shopify one.
    let e = adjust("damaged", 1, Value::Null, "a2").await.unwrap_err();
    let ShopifyError::UserErrors { errors, .. } = e else { panic!("{e}") };
    assert_eq!(errors[0].code.as_deref(), Some("INVALID_LEDGER_DOCUMENT"));
    let e = adjust("damaged", 1, json!("gid://shopify/Order/1"), "a3").await.unwrap_err();
    let ShopifyError::UserErrors { errors, .. } = e else { panic!("{e}") };
    assert_eq!(errors[0].code.as_deref(), Some("INTERNAL_LEDGER_DOCUMENT"));
    let ok = adjust("damaged", 2, json!("erp://returns/R-17"), "a4").await?;
    assert_eq!(ok["inventoryAdjustmentGroup"]["changes"][0]["quantityAfterChange"], 2);
    let e = adjust("on_hand", 1, json!("erp://x"), "a5").await.unwrap_err();
    assert!(e.to_string().contains("INVALID_QUANTITY_NAME"), "{e}");
    Ok(())
}

/// A simulator whose clock the test moves by hand, with one seeded shop.
async fn start_manual(products: usize) -> Result<(Running, shopsync_shopify_sim::SharedSim)> {
    let sim = Sim::with_clock(SimConfig::default(), shopsync_shopify_sim::clock::Clock::manual());
    sim.add_shop("demo", TOKEN, "standard")?;
    sim.shop("demo").unwrap().lock().unwrap().seed(7, products, 0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim.clone(), listener, stop.clone()));
    Ok((Running { url, stop }, sim))
}

#[tokio::test]
async fn product_images_are_staged_uploaded_attached_and_processed_asynchronously() -> Result<()> {
    use shopsync_shopify::documents::{PRODUCT_ATTACH_MEDIA, PRODUCT_MEDIA, STAGED_UPLOADS_CREATE};
    let (sim, handle) = start_manual(2).await?;
    let c = client(&sim.url);
    let page = c.execute(&PRODUCTS_PAGE, json!({ "first": 1 })).await?;
    let product = page.data["products"]["nodes"][0]["id"].as_str().unwrap().to_owned();

    // Seeded products come with processed images.
    let media = c.execute(&PRODUCT_MEDIA, json!({ "id": product, "first": 10 })).await?;
    let seeded = media.data["product"]["media"]["nodes"].as_array().unwrap().clone();
    assert!(!seeded.is_empty());
    assert_eq!(media.data["product"]["mediaCount"]["count"], json!(seeded.len()));
    assert!(seeded.iter().all(|m| m["status"] == "READY" && m["mediaContentType"] == "IMAGE"));
    assert!(seeded[0]["image"]["url"].as_str().unwrap().starts_with("https://"));

    // Bad staged upload input: user errors naming the field, no targets.
    let bad = c
        .mutate(
            &STAGED_UPLOADS_CREATE,
            json!({ "input": [{ "resource": "IMAGE", "filename": "x.txt", "mimeType": "text/plain", "httpMethod": "PUT" }] }),
            "stagedUploadsCreate",
        )
        .await;
    let Err(ShopifyError::UserErrors { errors, .. }) = bad else { panic!("{bad:?}") };
    let field = |p: &[&str]| Some(p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert_eq!(errors[0].field, field(&["input", "0", "mimeType"]), "{errors:?}");

    let staged = c
        .mutate(
            &STAGED_UPLOADS_CREATE,
            json!({ "input": [
                { "resource": "IMAGE", "filename": "front.png", "mimeType": "image/png", "httpMethod": "PUT", "fileSize": "4" },
                { "resource": "IMAGE", "filename": "never.png", "mimeType": "image/png" },
            ] }),
            "stagedUploadsCreate",
        )
        .await?;
    let targets = staged["stagedTargets"].as_array().unwrap().clone();
    assert_eq!(targets.len(), 2);
    assert!(
        targets[0]["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "content_type")
    );
    let http = reqwest::Client::new();
    let put = http
        .put(targets[0]["url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(vec![0x89, b'P', b'N', b'G'])
        .send()
        .await?;
    assert_eq!(put.status().as_u16(), 201);
    let unknown = http.put(format!("{}/sim/uploads/demo/nope", sim.url)).body("x").send().await?;
    assert_eq!(unknown.status().as_u16(), 404);

    let attach = |media: Value| {
        c.mutate(
            &PRODUCT_ATTACH_MEDIA,
            json!({ "product": { "id": product }, "media": media }),
            "productUpdate",
        )
    };
    let attached = attach(json!([
        { "originalSource": targets[0]["resourceUrl"], "mediaContentType": "IMAGE", "alt": "Front" },
        { "originalSource": targets[1]["resourceUrl"], "mediaContentType": "IMAGE" },
        { "originalSource": "https://example.com/spec-sheet.pdf", "mediaContentType": "IMAGE" },
    ]))
    .await?;
    let nodes = attached["product"]["media"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), seeded.len() + 3);
    let fresh: Vec<&Value> = nodes[seeded.len()..].iter().collect();
    assert!(fresh.iter().all(|m| m["status"] == "UPLOADED"), "{fresh:?}");

    // Invalid media input is refused whole, with the field named.
    let refused =
        attach(json!([{ "originalSource": "ftp://x/y.png", "mediaContentType": "IMAGE" }])).await;
    let Err(ShopifyError::UserErrors { errors, .. }) = refused else { panic!("{refused:?}") };
    assert_eq!(errors[0].field, field(&["media", "0", "originalSource"]));
    let missing = c
        .mutate(
            &PRODUCT_ATTACH_MEDIA,
            json!({ "product": { "id": "gid://shopify/Product/1" }, "media": [] }),
            "productUpdate",
        )
        .await;
    assert!(matches!(missing, Err(ShopifyError::UserErrors { .. })), "{missing:?}");

    handle.clock.advance(1.0);
    let processing = c.execute(&PRODUCT_MEDIA, json!({ "id": product, "first": 10 })).await?;
    let statuses: Vec<&str> = processing.data["product"]["media"]["nodes"].as_array().unwrap()
        [seeded.len()..]
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["PROCESSING"; 3]);
    assert!(processing.data["product"]["media"]["nodes"][seeded.len()]["image"].is_null());

    handle.clock.advance(2.0);
    let done = c.execute(&PRODUCT_MEDIA, json!({ "id": product, "first": 10 })).await?;
    let fresh = &done.data["product"]["media"]["nodes"].as_array().unwrap()[seeded.len()..];
    assert_eq!(fresh[0]["status"], "READY");
    assert_eq!(fresh[0]["alt"], "Front");
    assert!(fresh[0]["image"]["url"].as_str().unwrap().ends_with(".png"));
    assert_eq!(fresh[1]["status"], "FAILED");
    assert_eq!(fresh[1]["mediaErrors"][0]["code"], "IMAGE_DOWNLOAD_FAILURE");
    assert_eq!(fresh[2]["status"], "FAILED");
    assert_eq!(fresh[2]["mediaErrors"][0]["code"], "UNSUPPORTED_IMAGE_FILE_TYPE");

    // productSet replaces the list: only the named image stays, a new one is added.
    let keep = fresh[0]["id"].as_str().unwrap();
    let (_, set) = raw(
        &sim.url,
        TOKEN,
        json!({
            "query": "mutation($id: ID!, $input: ProductSetInput!) { productSet(identifier: { id: $id }, input: $input) { product { media(first: 10) { nodes { id status } } } userErrors { field message } } }",
            "variables": { "id": product, "input": { "files": [
                { "id": keep },
                { "originalSource": "https://cdn.example.com/back.jpg", "contentType": "IMAGE" },
            ] } },
        }),
    )
    .await?;
    let after = set["data"]["productSet"]["product"]["media"]["nodes"].as_array().unwrap();
    assert_eq!(after.len(), 2, "{set}");
    assert_eq!(after[0]["id"], keep);
    assert_eq!(after[1]["status"], "UPLOADED");
    Ok(())
}

#[tokio::test]
async fn access_scopes_deny_fields_and_hide_orders_older_than_60_days() -> Result<()> {
    let sim = start(SimConfig::default(), 0).await?;
    let http = reqwest::Client::new();
    let token = "shpat_scoped_0123456789";
    let created = http
        .post(format!("{}/sim/shops", sim.url))
        .json(&json!({ "name": "scoped", "access_token": token, "scopes": ["read_products", "write_orders"] }))
        .send()
        .await?;
    assert_eq!(created.status().as_u16(), 201);
    let bad = http
        .post(format!("{}/sim/shops", sim.url))
        .json(&json!({ "name": "bad", "access_token": token, "scopes": ["everything"] }))
        .send()
        .await?;
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().await?.contains("scopes"));
    http.post(format!("{}/sim/shops/scoped/seed", sim.url))
        .json(&json!({ "seed": 3, "products": 2, "customers": 2 }))
        .send()
        .await?
        .error_for_status()?;
    let (_, products) = raw(&sim.url, token, json!({ "query": "{ products(first: 5) { nodes { id variants(first: 1) { nodes { sku } } } } }" })).await?;
    let sku = products["data"]["products"]["nodes"][0]["variants"]["nodes"][0]["sku"].clone();
    let mut ids = Vec::new();
    for days in [0, 90] {
        let placed: Value = http
            .post(format!("{}/sim/shops/scoped/orders", sim.url))
            .json(&json!({ "lines": [{ "sku": sku, "quantity": 1 }], "placed_days_ago": days }))
            .send()
            .await?
            .json()
            .await?;
        ids.push(placed["id"].as_str().unwrap().to_owned());
    }

    // write_orders grants read_orders; without read_all_orders only the last 60 days show.
    let (_, orders) =
        raw(&sim.url, token, json!({ "query": "{ orders(first: 10) { nodes { id } } }" })).await?;
    assert_eq!(orders["data"]["orders"]["nodes"], json!([{ "id": ids[0] }]), "{orders}");
    let (_, old) = raw(
        &sim.url,
        token,
        json!({ "query": "query($id: ID!) { order(id: $id) { id } }", "variables": { "id": ids[1] } }),
    )
    .await?;
    assert!(old["data"]["order"].is_null(), "{old}");

    // A field the app has no scope for: null, ACCESS_DENIED naming the access, the rest answered.
    let (status, denied) = raw(
        &sim.url,
        token,
        json!({ "query": "{ shop { name } customers(first: 1) { nodes { id } } }" }),
    )
    .await?;
    assert_eq!(status, 200);
    assert!(denied["data"]["customers"].is_null(), "{denied}");
    assert!(denied["data"]["shop"]["name"].is_string(), "{denied}");
    let e = &denied["errors"][0];
    assert_eq!(e["extensions"]["code"], "ACCESS_DENIED");
    assert_eq!(e["path"], json!(["customers"]));
    assert!(e["message"].as_str().unwrap().contains("read_customers"), "{e}");
    assert!(denied["extensions"]["cost"]["actualQueryCost"].is_number());

    // A nested field whose type needs a scope denies its root field, the path names it.
    let (_, nested) = raw(
        &sim.url,
        token,
        json!({ "query": "{ orders(first: 1) { nodes { id customer { id } } } }" }),
    )
    .await?;
    assert_eq!(nested["errors"][0]["path"], json!(["orders", "nodes", "customer"]), "{nested}");

    // A mutation without its scope is not executed.
    let level = |v: &Value| v["levels"].clone();
    let before: Value =
        http.get(format!("{}/sim/shops/scoped/export", sim.url)).send().await?.json().await?;
    let (_, m) = raw(
        &sim.url,
        token,
        json!({ "query": "mutation { inventoryAdjustQuantities(input: { name: \"available\", reason: \"correction\", changes: [] }) { userErrors { field message } } }" }),
    )
    .await?;
    assert_eq!(m["errors"][0]["extensions"]["code"], "ACCESS_DENIED", "{m}");
    assert!(m["data"]["inventoryAdjustQuantities"].is_null());
    let after: Value =
        http.get(format!("{}/sim/shops/scoped/export", sim.url)).send().await?.json().await?;
    assert_eq!(level(&before), level(&after));

    // A bulk query the app lacks a scope for is accepted and then fails with ACCESS_DENIED.
    let (_, bulk) = raw(
        &sim.url,
        token,
        json!({ "query": "mutation { bulkOperationRunQuery(query: \"{ customers { edges { node { id } } } }\") { bulkOperation { id } userErrors { message } } }" }),
    )
    .await?;
    let bulk_id = bulk["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"].clone();
    let status = eventually(SOON, || async {
        let (_, b) = raw(
            &sim.url,
            token,
            json!({ "query": "query($id: ID!) { bulkOperation(id: $id) { status errorCode url } }", "variables": { "id": bulk_id } }),
        )
        .await?;
        ensure!(b["data"]["bulkOperation"]["status"] != "RUNNING", "bulk operation still running");
        Ok(b)
    })
    .await?;
    assert_eq!(status["data"]["bulkOperation"]["status"], "FAILED", "{status}");
    assert_eq!(status["data"]["bulkOperation"]["errorCode"], "ACCESS_DENIED");
    assert!(status["data"]["bulkOperation"]["url"].is_null());

    // The default shop (all scopes) sees old orders.
    let placed: Value = http
        .post(format!("{}/sim/shops/demo/orders", sim.url))
        .json(&json!({ "lines": [{ "sku": "nope", "quantity": 1 }], "placed_days_ago": 90 }))
        .send()
        .await?
        .json()
        .await?;
    assert!(placed["error"].as_str().unwrap().contains("sku"));
    Ok(())
}

#[tokio::test]
async fn the_admin_api_edits_orders_like_a_merchant_and_checks_before_it_writes() -> Result<()> {
    let sim = start(SimConfig::default(), 1).await?;
    let c = client(&sim.url);
    let product = c.execute(&PRODUCTS_PAGE, json!({ "first": 1 })).await?;
    let sku = product.data["products"]["nodes"][0]["variants"]["nodes"][0]["sku"].clone();
    let http = reqwest::Client::new();
    let placed: Value = http
        .post(format!("{}/sim/shops/demo/orders", sim.url))
        .json(&json!({ "lines": [{ "sku": sku, "quantity": 2 }], "financial_status": "PENDING" }))
        .send()
        .await?
        .json()
        .await?;
    let order = placed["id"].as_str().unwrap().to_owned();
    let numeric = order.rsplit('/').next().unwrap().to_owned();
    let read = || async {
        let (_, v) = raw(
            &sim.url,
            TOKEN,
            json!({ "query": "query($id: ID!) { order(id: $id) { updatedAt tags displayFinancialStatus cancelledAt refunds { totalRefundedSet { shopMoney { amount } } } totalPriceSet { shopMoney { amount } } } }", "variables": { "id": order } }),
        )
        .await
        .unwrap();
        v["data"]["order"].clone()
    };
    let edit = |body: Value| {
        http.patch(format!("{}/sim/shops/demo/orders/{numeric}", sim.url)).json(&body).send()
    };
    let first = read().await;
    let total: f64 = first["totalPriceSet"]["shopMoney"]["amount"].as_str().unwrap().parse()?;

    // Refunding more than was paid, or an unknown field: 400 with the reason, nothing changed.
    let r = edit(
        json!({ "tags": ["vip"], "mark_paid": true, "refund": format!("{:.2}", total + 1.0) }),
    )
    .await?;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await?.contains("refund"));
    let r = edit(json!({ "colour": "red" })).await?;
    assert_eq!(r.status().as_u16(), 400);
    let r = edit(json!({ "shipping_address": { "street": "Main St 1" } })).await?;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await?.contains("street"));
    assert_eq!(read().await, first);
    let r =
        http.patch(format!("{}/sim/shops/demo/orders/42", sim.url)).json(&json!({})).send().await?;
    assert_eq!(r.status().as_u16(), 404);

    let r = edit(json!({ "tags": ["vip", "gift"], "mark_paid": true, "refund": "10.00" })).await?;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await?);
    let now = read().await;
    assert_eq!(now["tags"], json!(["vip", "gift"]));
    assert_eq!(now["displayFinancialStatus"], "PARTIALLY_REFUNDED");
    assert_eq!(now["refunds"][0]["totalRefundedSet"]["shopMoney"]["amount"], "10.00");
    assert!(now["updatedAt"].as_str().unwrap() >= first["updatedAt"].as_str().unwrap());

    let r = edit(json!({ "cancel": { "restock": true } })).await?;
    assert_eq!(r.status().as_u16(), 200);
    assert!(read().await["cancelledAt"].is_string());
    let r = edit(json!({ "cancel": {} })).await?;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await?.contains("already cancelled"));
    Ok(())
}

#[tokio::test]
async fn customers_and_companies_are_upserted_and_updated_with_shopifys_user_errors() -> Result<()>
{
    use shopsync_shopify::documents::{
        COMPANY_CREATE, COMPANY_UPDATE, CUSTOMER_SET, CUSTOMER_UPDATE,
    };
    let sim = start(SimConfig::default(), 0).await?;
    let c = client(&sim.url);
    let codes = |r: &Result<Value, ShopifyError>| match r {
        Err(ShopifyError::UserErrors { errors, .. }) => errors
            .iter()
            .map(|e| (e.field.clone().unwrap_or_default().join("."), e.code.clone()))
            .collect::<Vec<_>>(),
        other => panic!("expected user errors, got {other:?}"),
    };

    // customerSet by email creates, then updates the same customer.
    let set = |email: &str, input: Value| {
        c.mutate(&CUSTOMER_SET, json!({ "email": email, "input": input }), "customerSet")
    };
    let created = set(
        "ada@example.com",
        json!({ "firstName": "Ada", "lastName": "Lovelace", "phone": "+4512345678" }),
    )
    .await?;
    let id = created["customer"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["customer"]["defaultEmailAddress"]["emailAddress"], "ada@example.com");
    assert_eq!(created["customer"]["defaultPhoneNumber"]["phoneNumber"], "+4512345678");
    let updated = set("ADA@example.com", json!({ "lastName": "King" })).await?;
    assert_eq!(updated["customer"]["id"], id.as_str());
    assert_eq!(updated["customer"]["lastName"], "King");
    assert_eq!(updated["customer"]["firstName"], "Ada");
    // Bad input: the schema's codes, the field under `input`, nothing written.
    let taken = set("bob@example.com", json!({ "firstName": "Bob", "phone": "+4512345678" })).await;
    assert_eq!(codes(&taken), [("input.phone".to_owned(), Some("TAKEN".to_owned()))]);
    let mismatch = set("bob@example.com", json!({ "email": "carl@example.com" })).await;
    assert_eq!(codes(&mismatch), [("input.email".to_owned(), Some("INPUT_MISMATCH".to_owned()))]);
    let (_, count) =
        raw(&sim.url, TOKEN, json!({ "query": "{ customers(first: 10) { nodes { id } } }" }))
            .await?;
    assert_eq!(count["data"]["customers"]["nodes"].as_array().unwrap().len(), 1);

    // customerUpdate by id: a taken email is refused, a note is kept.
    let second = set("bob@example.com", json!({ "firstName": "Bob" })).await?;
    let bob = second["customer"]["id"].as_str().unwrap().to_owned();
    let clash = c
        .mutate(
            &CUSTOMER_UPDATE,
            json!({ "input": { "id": bob, "email": "ada@example.com" } }),
            "customerUpdate",
        )
        .await;
    assert_eq!(codes(&clash), [("email".to_owned(), None)]);
    c.mutate(
        &CUSTOMER_UPDATE,
        json!({ "input": { "id": bob, "note": "ERP C-0002" } }),
        "customerUpdate",
    )
    .await?;
    let (_, b) = raw(
        &sim.url,
        TOKEN,
        json!({ "query": "query($id: ID!) { customer(id: $id) { note defaultEmailAddress { emailAddress } } }", "variables": { "id": bob } }),
    )
    .await?;
    assert_eq!(b["data"]["customer"]["note"], "ERP C-0002", "{b}");
    assert_eq!(b["data"]["customer"]["defaultEmailAddress"]["emailAddress"], "bob@example.com");

    // companyCreate: the contact's email finds the existing customer; the location gets its id.
    let company = c
        .mutate(
            &COMPANY_CREATE,
            json!({ "input": {
                "company": { "name": "Acme A/S", "externalId": "C-0100" },
                "companyContact": { "email": "ada@example.com" },
                "companyLocation": { "name": "Acme HQ", "externalId": "C-0100-1" },
            } }),
            "companyCreate",
        )
        .await?;
    let co = &company["company"];
    assert_eq!(co["mainContact"]["customer"]["id"], id.as_str());
    assert_eq!(co["locations"]["nodes"][0]["externalId"], "C-0100-1");
    let dup = c
        .mutate(
            &COMPANY_CREATE,
            json!({ "input": { "company": { "name": "", "externalId": "C-0100" } } }),
            "companyCreate",
        )
        .await;
    assert_eq!(
        codes(&dup),
        [
            ("input.company.name".to_owned(), Some("BLANK".to_owned())),
            ("input.company.externalId".to_owned(), Some("TAKEN".to_owned())),
        ]
    );
    let renamed = c
        .mutate(
            &COMPANY_UPDATE,
            json!({ "companyId": co["id"], "input": { "name": "Acme Holding A/S" } }),
            "companyUpdate",
        )
        .await?;
    assert_eq!(renamed["company"]["name"], "Acme Holding A/S");
    assert_eq!(renamed["company"]["externalId"], "C-0100");
    let missing = c
        .mutate(
            &COMPANY_UPDATE,
            json!({ "companyId": "gid://shopify/Company/1", "input": { "name": "X" } }),
            "companyUpdate",
        )
        .await;
    assert_eq!(codes(&missing), [("companyId".to_owned(), Some("RESOURCE_NOT_FOUND".to_owned()))]);
    Ok(())
}

/// 16 expensive queries, alternately from `a` and `b`, all at once.
async fn burst(a: &ShopifyClient, b: &ShopifyClient) -> Result<usize> {
    let all = (0..16).map(|i| if i % 2 == 0 { a } else { b }.execute(&EXPENSIVE, json!({})));
    Ok(futures::future::try_join_all(all).await?.len())
}

/// Two processes on one shop, each with its own client: on their own they overdraw Shopify's
/// bucket and get THROTTLED; sharing the shop's budget through PostgreSQL, they never do.
#[sqlx::test(migrator = "shopsync_shopify::MIGRATOR")]
async fn replicas_sharing_the_shops_budget_in_postgres_are_never_throttled(
    pool: sqlx::PgPool,
) -> Result<()> {
    let linear =
        SimConfig { cost_model: CostModel::Linear, time_scale: 10.0, ..SimConfig::default() };
    let config = |url: &str| ClientConfig::new(url, SecretString::from(TOKEN.to_owned()));

    // Each with its own view of the bucket: together they overdraw it.
    let sim = start(linear.clone(), 250).await?;
    let (a, b) = (
        ShopifyClient::new(config(&sim.url), Arc::new(Budget::default()))?,
        ShopifyClient::new(config(&sim.url), Arc::new(Budget::default()))?,
    );
    burst(&a, &b).await?;
    assert!(
        a.stats().throttled + b.stats().throttled > 0,
        "two unshared budgets should have overdrawn the bucket"
    );

    // One budget row per shop in PostgreSQL, read and written by both.
    let sim = start(linear, 250).await?;
    let (a, b) = (
        ShopifyClient::new(config(&sim.url), Arc::new(Budget::shared(pool.clone(), "demo")))?,
        ShopifyClient::new(config(&sim.url), Arc::new(Budget::shared(pool.clone(), "demo")))?,
    );
    assert_eq!(burst(&a, &b).await?, 16);
    assert_eq!(a.stats().throttled + b.stats().throttled, 0, "the shared budget paced both");
    let (reserved, available): (f64, f64) =
        sqlx::query_as("SELECT reserved, available FROM shopify.rate_budget WHERE shop = 'demo'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(reserved, 0.0, "every reservation was settled");
    assert!(available < 2000.0, "the row follows the server's throttleStatus");
    Ok(())
}

#[tokio::test]
async fn a_bulk_query_puts_connections_inside_objects_on_lines_of_their_own() -> Result<()> {
    let sim = start(SimConfig::default(), 3).await?;
    let c = client(&sim.url);
    // One more product whose inventory is not tracked.
    let (_, made) = raw(
        &sim.url,
        TOKEN,
        json!({ "query": r#"mutation { productSet(input: { title: "Gift wrap", productOptions: [{ name: "Title", values: [{ name: "Default" }] }], variants: [{ optionValues: [{ optionName: "Title", name: "Default" }], price: "1.00", inventoryItem: { sku: "WRAP", tracked: false } }] }) { product { id } userErrors { field message } } }"# }),
    )
    .await?;
    assert!(made["data"]["productSet"]["product"]["id"].is_string(), "{made}");
    let query = r#"{ productVariants { edges { node { id inventoryItem { id tracked inventoryLevels { edges { node { location { id } quantities(names: ["available", "on_hand", "committed"]) { name quantity } } } } } } } } }"#;
    let records: Vec<_> =
        c.bulk_query(query, std::time::Duration::from_millis(100)).await?.try_collect().await?;
    let mut variant = None;
    let (mut variants, mut levels, mut untracked) = (0, 0, 0);
    for r in &records {
        match &r.parent_id {
            None => {
                variants += 1;
                let item = &r.data["inventoryItem"];
                assert!(item["id"].as_str().unwrap().starts_with("gid://shopify/InventoryItem/"));
                assert!(item.get("inventoryLevels").is_none(), "a connection is never inlined");
                if item["tracked"] == false {
                    untracked += 1;
                }
                variant = r.id.clone();
            }
            Some(parent) => {
                // The nearest node above the connection is its parent (the variant).
                assert_eq!(Some(parent), variant.as_ref(), "a level follows its variant");
                assert!(
                    r.data["location"]["id"]
                        .as_str()
                        .unwrap()
                        .starts_with("gid://shopify/Location/")
                );
                let q: std::collections::HashMap<&str, i64> = r.data["quantities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|q| (q["name"].as_str().unwrap(), q["quantity"].as_i64().unwrap()))
                    .collect();
                assert_eq!(q.len(), 3, "{q:?}");
                assert_eq!(q["on_hand"], q["available"] + q["committed"], "{q:?}");
                levels += 1;
            }
        }
    }
    assert!(variants >= 4, "{variants}");
    assert!(levels >= variants - 1, "every tracked variant is stocked somewhere: {levels}");
    assert_eq!(untracked, 1);
    Ok(())
}
