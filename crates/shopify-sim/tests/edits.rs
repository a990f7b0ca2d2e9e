//! A merchant's order edit (`PATCH /sim/shops/{shop}/orders/{id}` with `quantities`) changes the
//! lines' current quantities, the totals and tax, and the fulfillment order, as Shopify's order
//! editing does; a risk assessment set on an order reads back through `risk`.

#![allow(clippy::unwrap_used)] // test fixtures

use serde_json::{Value, json};
use shopsync_shopify_sim::{Sim, SimConfig};

const TOKEN: &str = "shpat_edits_0123456789";

const ORDER: &str = r#"query($id: ID!) { order(id: $id) { updatedAt
  totalPriceSet { shopMoney { amount } } subtotalPriceSet { shopMoney { amount } }
  totalTaxSet { shopMoney { amount } } totalShippingPriceSet { shopMoney { amount } }
  risk { recommendation assessments { riskLevel } }
  lineItems(first: 5) { nodes { sku quantity currentQuantity originalUnitPriceSet { shopMoney { amount } } } }
  fulfillmentOrders(first: 2) { nodes { lineItems(first: 5) { nodes { totalQuantity remainingQuantity } } } } } }"#;

async fn gql(url: &str, id: u64) -> Value {
    let v: Value = reqwest::Client::new()
        .post(format!("{url}/admin/api/2026-10/graphql.json"))
        .header("X-Shopify-Access-Token", TOKEN)
        .json(
            &json!({ "query": ORDER, "variables": { "id": format!("gid://shopify/Order/{id}") } }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["order"].clone()
}

fn cents(v: &Value, p: &str) -> i64 {
    shopsync_shopify_sim::money::to_minor(v.pointer(p).unwrap().as_str().unwrap(), 2).unwrap()
}

#[tokio::test]
async fn an_order_edit_changes_quantities_totals_and_risk_reads_back() {
    let sim = Sim::new(SimConfig::default());
    sim.add_shop("edits", TOKEN, "standard").unwrap();
    let (order, a, b) = {
        let shop = sim.shop("edits").unwrap();
        let mut shop = shop.lock().unwrap();
        shop.seed(3, 2, 0);
        let v: Vec<(u64, String)> = shop
            .products
            .values()
            .flat_map(|p| p.variants.iter().map(|v| (v.id, v.sku.clone())))
            .collect();
        let order = shop.place_order(None, &[(v[0].0, 3), (v[1].0, 1)], "PAID").unwrap();
        (order, v[0].1.clone(), v[1].1.clone())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(shopsync_shopify_sim::serve(
        sim.clone(),
        listener,
        tokio_util::sync::CancellationToken::new(),
    ));
    let before = gql(&url, order).await;
    assert_eq!(before["risk"]["recommendation"], "ACCEPT");

    let patch = |body: Value| {
        let url = format!("{url}/sim/shops/edits/orders/{order}");
        async move { reqwest::Client::new().patch(url).json(&body).send().await.unwrap() }
    };
    // Unknown SKUs and negative quantities are refused, and nothing changes.
    assert_eq!(
        patch(json!({ "quantities": [{ "sku": "nope", "quantity": 1 }] })).await.status(),
        400
    );
    assert_eq!(patch(json!({ "quantities": [{ "sku": a, "quantity": -1 }] })).await.status(), 400);
    assert_eq!(patch(json!({ "risk": "extreme" })).await.status(), 400);
    assert_eq!(gql(&url, order).await, before);

    let r = patch(json!({ "quantities": [{ "sku": a, "quantity": 1 }, { "sku": b, "quantity": 4 }], "risk": "high" })).await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let after = gql(&url, order).await;
    assert!(after["updatedAt"].as_str() >= before["updatedAt"].as_str());
    let lines = after["lineItems"]["nodes"].as_array().unwrap();
    let line = |sku: &str| lines.iter().find(|l| l["sku"] == sku).unwrap().clone();
    assert_eq!(
        (line(&a)["quantity"].as_i64(), line(&a)["currentQuantity"].as_i64()),
        (Some(3), Some(1))
    );
    assert_eq!(line(&b)["currentQuantity"].as_i64(), Some(4));
    let subtotal: i64 = lines
        .iter()
        .map(|l| {
            cents(l, "/originalUnitPriceSet/shopMoney/amount")
                * l["currentQuantity"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(cents(&after, "/subtotalPriceSet/shopMoney/amount"), subtotal);
    assert_eq!(
        cents(&after, "/totalPriceSet/shopMoney/amount"),
        subtotal
            + cents(&after, "/totalShippingPriceSet/shopMoney/amount")
            + cents(&after, "/totalTaxSet/shopMoney/amount")
    );
    let fo: Vec<(i64, i64)> = after["fulfillmentOrders"]["nodes"][0]["lineItems"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["totalQuantity"].as_i64().unwrap(), l["remainingQuantity"].as_i64().unwrap()))
        .collect();
    assert!(fo.contains(&(1, 1)) && fo.contains(&(4, 4)), "{fo:?}");
    assert_eq!(after["risk"]["recommendation"], "CANCEL");
    assert_eq!(after["risk"]["assessments"][0]["riskLevel"], "HIGH");
}
