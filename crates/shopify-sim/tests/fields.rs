//! The fields added for issue 19 answer values consistent with each other and with what the
//! shop holds, as Shopify documents them.

#![allow(clippy::unwrap_used)] // test fixtures

use serde_json::{Value, json};
use shopsync_shopify_sim::{Sim, SimConfig};

const TOKEN: &str = "shpat_fields_0123456789";

async fn gql(url: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{url}/admin/api/2026-10/graphql.json"))
        .header("X-Shopify-Access-Token", TOKEN)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn amount(v: &Value) -> f64 {
    v["shopMoney"]["amount"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn order_money_and_quantities_follow_fulfilments_and_refunds() {
    let sim = Sim::new(SimConfig::default());
    sim.add_shop("fields", TOKEN, "plus").unwrap();
    let (order, fo, fo_line, customer) = {
        let shop = sim.shop("fields").unwrap();
        let mut shop = shop.lock().unwrap();
        shop.seed(9, 2, 1);
        let customer = *shop.customers.keys().next().unwrap();
        let variant = shop.products.values().next().unwrap().variants[0].id;
        let order = shop.place_order(Some(customer), &[(variant, 3)], "PAID").unwrap();
        let o = &shop.orders[&order];
        let fo = o.fulfillment_orders[0].id;
        let line = o.fulfillment_orders[0].lines[0].id;
        (order, fo, line, customer)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim.clone(), listener, stop.clone()));

    let ship = format!(
        r#"mutation {{ fulfillmentCreate(fulfillment: {{ lineItemsByFulfillmentOrder: {{ fulfillmentOrderId: "gid://shopify/FulfillmentOrder/{fo}", fulfillmentOrderLineItems: {{ id: "gid://shopify/FulfillmentOrderLineItem/{fo_line}", quantity: 1 }} }} }}) {{ userErrors {{ message }} }} }}"#
    );
    let v = gql(&url, &ship, json!({})).await;
    assert_eq!(v["data"]["fulfillmentCreate"]["userErrors"], json!([]), "{v:#}");
    let patch = reqwest::Client::new()
        .patch(format!("{url}/sim/shops/fields/orders/{order}"))
        .json(&json!({ "refund": "10.00" }))
        .send()
        .await
        .unwrap();
    assert!(patch.status().is_success());

    let q = r#"query($id: ID!) { order(id: $id) { legacyResourceId unpaid fullyPaid
        totalPriceSet { shopMoney { amount } } totalReceivedSet { shopMoney { amount } }
        totalRefundedSet { shopMoney { amount } } netPaymentSet { shopMoney { amount } }
        totalOutstandingSet { shopMoney { amount } } refundable fulfillable
        currentSubtotalLineItemsQuantity fulfillmentsCount { count precision }
        lineItems(first: 5) { nodes { quantity fulfillableQuantity unfulfilledQuantity fulfillmentStatus
          originalTotalSet { shopMoney { amount } } originalUnitPriceSet { shopMoney { amount } } } }
        fulfillments { legacyResourceId totalQuantity fulfillmentLineItems(first: 5) { nodes { quantity lineItem { id } } } }
        refunds { legacyResourceId totalRefundedSet { shopMoney { amount } } order { id } transactions(first: 5) { nodes { kind amountSet { shopMoney { amount } } } } }
        customer { numberOfOrders amountSpent { amount } lastOrder { id } emailMarketingConsent { marketingState } }
        transactions { kind gateway fees { rate amount { amount } } }
      } }"#;
    let v = gql(&url, q, json!({ "id": format!("gid://shopify/Order/{order}") })).await;
    assert!(v.get("errors").is_none(), "{v:#}");
    let o = &v["data"]["order"];
    assert_eq!(o["legacyResourceId"], json!(order.to_string()));
    let total = amount(&o["totalPriceSet"]);
    assert_eq!(amount(&o["totalReceivedSet"]), total, "{o:#}");
    assert_eq!(amount(&o["totalRefundedSet"]), 10.0);
    assert!((amount(&o["netPaymentSet"]) - (total - 10.0)).abs() < 0.005, "{o:#}");
    assert_eq!(amount(&o["totalOutstandingSet"]), 0.0);
    assert_eq!(o["unpaid"], false);
    assert_eq!(o["refundable"], true);
    assert_eq!(o["fulfillable"], true);
    assert_eq!(o["currentSubtotalLineItemsQuantity"], 3);
    assert_eq!(o["fulfillmentsCount"], json!({ "count": 1, "precision": "EXACT" }));
    let l = &o["lineItems"]["nodes"][0];
    assert_eq!(
        (&l["quantity"], &l["fulfillableQuantity"], &l["unfulfilledQuantity"]),
        (&json!(3), &json!(2), &json!(2))
    );
    assert_eq!(l["fulfillmentStatus"], "partial");
    let unit = amount(&l["originalUnitPriceSet"]);
    assert!((amount(&l["originalTotalSet"]) - 3.0 * unit).abs() < 0.005, "{l:#}");
    let fu = &o["fulfillments"][0];
    assert_eq!(fu["totalQuantity"], 1);
    assert_eq!(fu["fulfillmentLineItems"]["nodes"][0]["quantity"], 1);
    let r = &o["refunds"][0];
    assert_eq!(amount(&r["totalRefundedSet"]), 10.0);
    assert_eq!(r["order"]["id"], json!(format!("gid://shopify/Order/{order}")));
    assert_eq!(r["transactions"]["nodes"][0]["kind"], "REFUND");
    let c = &o["customer"];
    assert_eq!(c["numberOfOrders"], "1", "UnsignedInt64 is a string");
    assert!(
        (c["amountSpent"]["amount"].as_str().unwrap().parse::<f64>().unwrap() - (total - 10.0))
            .abs()
            < 0.005
    );
    assert_eq!(c["lastOrder"]["id"], json!(format!("gid://shopify/Order/{order}")));
    assert_eq!(c["emailMarketingConsent"]["marketingState"], "NOT_SUBSCRIBED");
    let sale = o["transactions"].as_array().unwrap().iter().find(|t| t["kind"] == "SALE").unwrap();
    let fee: f64 = sale["fees"][0]["amount"]["amount"].as_str().unwrap().parse().unwrap();
    assert_eq!(sale["gateway"], "shopify_payments");
    assert!((fee - ((total * 0.029 + 0.25) * 100.0).round() / 100.0).abs() < 0.005, "{sale:#}");
    let refund =
        o["transactions"].as_array().unwrap().iter().find(|t| t["kind"] == "REFUND").unwrap();
    assert_eq!(refund["fees"], json!([]), "refunds carry no processing fee");
    let _ = customer;
    stop.cancel();
}

#[tokio::test]
async fn products_variants_and_locations_answer_derived_values() {
    let sim = Sim::new(SimConfig::default());
    sim.add_shop("fields", TOKEN, "plus").unwrap();
    sim.shop("fields").unwrap().lock().unwrap().seed(4, 3, 0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim.clone(), listener, stop.clone()));
    let v = gql(&url, r#"mutation { productSet(input: { title: "Desk", descriptionHtml: "<p>Solid <b>oak</b></p>", productOptions: [{ name: "Colour", values: [{ name: "S" }, { name: "L" }] }], variants: [{ optionValues: [{ optionName: "Colour", name: "S" }], price: "10.00", compareAtPrice: "12.00", barcode: "5701234000017", inventoryItem: { sku: "D-S" } }, { optionValues: [{ optionName: "Colour", name: "L" }], price: "30.00", inventoryItem: { sku: "D-L" } }] }) { product { id } userErrors { field message } } }"#, json!({})).await;
    let id = v["data"]["productSet"]["product"]["id"].clone();
    assert!(id.is_string(), "{v:#}");
    let q = r#"query($id: ID!) { product(id: $id) { legacyResourceId description descriptionHtml hasOnlyDefaultVariant totalInventory tracksInventory
        priceRangeV2 { minVariantPrice { amount } maxVariantPrice { amount } } variantsCount { count }
        options { name values } compareAtPriceRange { maxVariantCompareAtPrice { amount } }
        variants(first: 5) { nodes { id barcode compareAtPrice legacyResourceId displayName inventoryQuantity selectedOptions { name value } inventoryItem { legacyResourceId measurement { weight { unit } } } } } } }"#;
    let v = gql(&url, q, json!({ "id": id })).await;
    assert!(v.get("errors").is_none(), "{v:#}");
    let p = &v["data"]["product"];
    assert_eq!(p["description"], "Solid oak");
    assert_eq!(p["descriptionHtml"], "<p>Solid <b>oak</b></p>");
    assert_eq!(p["hasOnlyDefaultVariant"], false);
    assert_eq!(p["priceRangeV2"]["minVariantPrice"]["amount"], "10.00");
    assert_eq!(p["priceRangeV2"]["maxVariantPrice"]["amount"], "30.00");
    assert_eq!(p["variantsCount"]["count"], 2);
    assert_eq!(p["options"], json!([{ "name": "Colour", "values": ["S", "L"] }]));
    let variants = p["variants"]["nodes"].as_array().unwrap();
    let stock: i64 = variants.iter().map(|v| v["inventoryQuantity"].as_i64().unwrap()).sum();
    assert_eq!(p["totalInventory"], stock);
    assert_eq!(variants[0]["displayName"], "Desk - S");
    assert_eq!(variants[0]["barcode"], "5701234000017");
    assert_eq!(variants[0]["compareAtPrice"], "12.00");
    assert_eq!(variants[1]["compareAtPrice"], Value::Null);
    assert_eq!(p["compareAtPriceRange"]["maxVariantCompareAtPrice"]["amount"], "12.00");
    // A bulk update clears what it is given as null.
    let first = variants[0]["id"].clone();
    let v = gql(&url, "mutation($p: ID!, $v: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $p, variants: $v) { productVariants { barcode compareAtPrice } userErrors { message } } }", json!({ "p": id, "v": [{ "id": first, "barcode": null, "compareAtPrice": "15.00" }] })).await;
    assert_eq!(
        v["data"]["productVariantsBulkUpdate"]["productVariants"],
        json!([{ "barcode": null, "compareAtPrice": "15.00" }]),
        "{v:#}"
    );
    assert_eq!(variants[0]["selectedOptions"], json!([{ "name": "Colour", "value": "S" }]));
    let v = gql(&url, "{ locations(first: 5, sortKey: ID) { nodes { legacyResourceId isPrimary address { city countryCode formatted } } } locationsCount { count } }", json!({})).await;
    assert!(v.get("errors").is_none(), "{v:#}");
    assert_eq!(v["data"]["locationsCount"]["count"], 2);
    let l = &v["data"]["locations"]["nodes"];
    assert_eq!(l[0]["isPrimary"], true);
    assert_eq!(l[1]["isPrimary"], false);
    assert_eq!(l[0]["address"]["countryCode"], "DK");
    stop.cancel();
}

#[tokio::test]
async fn a_company_locations_addresses_note_and_phone_read_back_as_written() {
    let sim = Sim::new(SimConfig::default());
    sim.add_shop("fields", TOKEN, "plus").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(shopsync_shopify_sim::serve(sim.clone(), listener, stop.clone()));
    let create = "mutation($input: CompanyCreateInput!) { companyCreate(input: $input) { company { locations(first: 1) { nodes { note phone
        billingAddress { address1 city zip countryCode country companyName recipient formattedAddress }
        shippingAddress { address1 countryCode } } } } userErrors { field message } } }";
    let input = json!({
        "company": { "name": "Hafnia Bikes", "externalId": "C-77" },
        "companyLocation": {
            "name": "Warehouse", "note": "Ring twice", "phone": "+4511223344",
            "shippingAddress": { "address1": "Havnegade 3", "city": "Copenhagen", "zip": "1058", "countryCode": "DK", "recipient": "Goods in" },
            "billingSameAsShipping": true,
        },
    });
    let v = gql(&url, create, json!({ "input": input })).await;
    assert!(v.get("errors").is_none(), "{v:#}");
    let l = &v["data"]["companyCreate"]["company"]["locations"]["nodes"][0];
    assert_eq!(l["note"], "Ring twice");
    assert_eq!(l["phone"], "+4511223344");
    assert_eq!(l["shippingAddress"], json!({ "address1": "Havnegade 3", "countryCode": "DK" }));
    let b = &l["billingAddress"];
    assert_eq!(b["companyName"], "Hafnia Bikes");
    assert_eq!(b["country"], "Denmark");
    assert_eq!(b["recipient"], "Goods in");
    assert_eq!(
        b["formattedAddress"],
        json!(["Hafnia Bikes", "Havnegade 3", "1058 Copenhagen", "Denmark"])
    );
    stop.cancel();
}
