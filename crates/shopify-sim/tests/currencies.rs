//! A shop in a currency with other minor units than two (JPY 0, KWD 3) answers every amount
//! with exactly its currency's decimals, and its totals add up in them, as a single-currency
//! Shopify shop does. Amounts a merchant or client sends with more decimals are refused.

#![allow(clippy::unwrap_used)] // test fixtures

use serde_json::{Value, json};
use shopsync_shopify_sim::{Sim, SimConfig};

const ORDER: &str = r#"query($id: ID!) { order(id: $id) { currencyCode
  totalPriceSet { shopMoney { amount currencyCode } }
  subtotalPriceSet { shopMoney { amount } }
  totalTaxSet { shopMoney { amount } }
  totalShippingPriceSet { shopMoney { amount } }
  lineItems(first: 10) { nodes { quantity originalUnitPriceSet { shopMoney { amount currencyCode } } } }
  taxLines { priceSet { shopMoney { amount } } } } }"#;

fn decimals(s: &str) -> usize {
    s.split_once('.').map_or(0, |(_, f)| f.len())
}

fn minor(s: &str, units: u32) -> i64 {
    shopsync_shopify_sim::money::to_minor(s, units).unwrap()
}

async fn serve(sim: &std::sync::Arc<Sim>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(shopsync_shopify_sim::serve(
        sim.clone(),
        listener,
        tokio_util::sync::CancellationToken::new(),
    ));
    url
}

async fn gql(url: &str, token: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{url}/admin/api/2026-10/graphql.json"))
        .header("X-Shopify-Access-Token", token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn amounts_have_the_currencys_decimals_and_add_up() {
    let sim = Sim::new(SimConfig::default());
    for (name, code) in [("yen", "JPY"), ("dinar", "KWD"), ("euro", "EUR")] {
        sim.add_shop_in(name, &format!("shpat_{name}"), "standard", code).unwrap();
    }
    assert!(sim.add_shop_in("bad", "shpat_bad", "standard", "XYZ").is_err());
    let url = serve(&sim).await;
    for (name, code, units) in [("yen", "JPY", 0u32), ("dinar", "KWD", 3), ("euro", "EUR", 2)] {
        let order = {
            let shop = sim.shop(name).unwrap();
            let mut shop = shop.lock().unwrap();
            shop.seed(5, 4, 1);
            let variants: Vec<u64> =
                shop.products.values().flat_map(|p| p.variants.iter().map(|v| v.id)).collect();
            shop.place_order(None, &[(variants[0], 3), (variants[1], 1)], "PAID").unwrap()
        };
        let v = gql(
            &url,
            &format!("shpat_{name}"),
            ORDER,
            json!({ "id": format!("gid://shopify/Order/{order}") }),
        )
        .await;
        let o = &v["data"]["order"];
        assert_eq!(o["currencyCode"], code, "{v:#}");
        let amt = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap().to_owned();
        let total = amt("/totalPriceSet/shopMoney/amount");
        let parts = [
            amt("/subtotalPriceSet/shopMoney/amount"),
            amt("/totalTaxSet/shopMoney/amount"),
            amt("/totalShippingPriceSet/shopMoney/amount"),
        ];
        for a in parts.iter().chain([&total]) {
            assert_eq!(decimals(a), units as usize, "{code}: {a}");
        }
        assert_eq!(
            minor(&total, units),
            parts.iter().map(|p| minor(p, units)).sum::<i64>(),
            "{code}: the total is its parts"
        );
        for l in o["lineItems"]["nodes"].as_array().unwrap() {
            let p = l["originalUnitPriceSet"]["shopMoney"]["amount"].as_str().unwrap();
            assert_eq!(decimals(p), units as usize, "{code}: {p}");
            assert_eq!(l["originalUnitPriceSet"]["shopMoney"]["currencyCode"], code);
        }
        for t in o["taxLines"].as_array().unwrap() {
            let a = t["priceSet"]["shopMoney"]["amount"].as_str().unwrap();
            assert_eq!(decimals(a), units as usize, "{code}: tax {a}");
        }
        // A refund with more decimals than the currency has is refused.
        let too_precise = if units == 0 { "0.5" } else { "0.0001" };
        let r = reqwest::Client::new()
            .patch(format!("{url}/sim/shops/{name}/orders/{order}"))
            .json(&json!({ "refund": too_precise }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{code}");
        let one = shopsync_shopify_sim::money::format(1, units);
        let r = reqwest::Client::new()
            .patch(format!("{url}/sim/shops/{name}/orders/{order}"))
            .json(&json!({ "refund": one }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{code}: {}", r.text().await.unwrap());
    }
    // A shop created over HTTP names its currency.
    let r = reqwest::Client::new()
        .post(format!("{url}/sim/shops"))
        .json(&json!({ "name": "won", "access_token": "shpat_won", "currency": "KRW" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["currency"], "KRW");
}
