//! Shipments back to Shopify end to end with real processes (the simulator, the scheduler,
//! order-sync, the posting service, PostgreSQL): a posted shipment becomes a fulfillment with
//! its tracking; an order fulfilled from two Shopify locations (and a line split over them)
//! becomes one fulfillment per location; a second run sends nothing again; a paid, fulfilled
//! and invoiced order is closed in Shopify; and `kill -9` of order-sync between sending
//! `fulfillmentCreate` and recording it, repeatedly, leaves exactly one fulfillment per
//! shipment and location, none missing.

#![allow(clippy::unwrap_used)] // a test: a missing value is a failure

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use shopsync_e2e::orders::*;
use shopsync_e2e::*;
use shopsync_proto::pb;
use std::collections::BTreeMap;
use std::time::Duration;

/// The shop's two locations (gid, name), the first being the one orders default to.
async fn locations(s: &Stack, shop: &str) -> Result<Vec<(String, String)>> {
    let v = sim_export(&s.sim, shop).await?;
    let mut out: Vec<(u64, String)> = v["locations"]
        .as_object()
        .context("locations")?
        .iter()
        .map(|(id, l)| (id.parse().unwrap(), l["name"].as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    Ok(out.into_iter().map(|(id, n)| (format!("gid://shopify/Location/{id}"), n)).collect())
}

/// The order's fulfillments as the simulator has them.
fn fulfillments<'a>(export: &'a Value, order_gid: &str) -> &'a Vec<Value> {
    let id = order_gid.rsplit('/').next().unwrap();
    export["orders"][id]["fulfillments"].as_array().unwrap()
}

/// A seeded shop with its ERP side, connected with shipping confirmation and archiving on.
async fn shop_ready(s: &Stack, shop: &str) -> Result<(Vec<String>, String)> {
    sim_post(
        &s.sim,
        &format!("/sim/shops/{shop}/seed"),
        json!({"seed": 11, "products": 4, "customers": 2}),
    )
    .await?;
    let (skus, location) = catalogue(&s.sim, shop).await?;
    let skus: Vec<String> = skus.keys().cloned().collect();
    erp_setup(s, &skus.iter().collect::<Vec<_>>()).await?;
    connect_shop_with(s, shop, &location, None, |st| {
        st.auto_create_sales_orders = true;
        st.send_shipping_confirmation = true;
        st.archive_processed_orders = true;
    })
    .await?;
    Ok((skus, first_email(&s.sim, shop).await?))
}

#[tokio::test]
async fn posted_shipments_become_fulfillments_per_location_with_tracking_and_orders_close()
-> Result<()> {
    let s = Stack::start("shipments_flow", &["acme"]).await?;
    let (skus, email) = shop_ready(&s, "acme").await?;
    let locs = locations(&s, "acme").await?;
    assert!(locs.len() >= 2, "the seed makes two locations: {locs:?}");
    let (l1, l2) = (&locs[0].1, &locs[1].1);
    let place = |lines: Value| json!({"customer_email": email, "lines": lines});
    // One location; two locations; one line split over both.
    let simple =
        sim_post(&s.sim, "/sim/shops/acme/orders", place(json!([{"sku": skus[0], "quantity": 2}])))
            .await?;
    let two = sim_post(
        &s.sim,
        "/sim/shops/acme/orders",
        place(json!([
            {"sku": skus[1], "quantity": 1, "location": l1},
            {"sku": skus[2], "quantity": 2, "location": l2},
        ])),
    )
    .await?;
    let split = sim_post(
        &s.sim,
        "/sim/shops/acme/orders",
        place(json!([{"sku": skus[3], "quantity": 3,
            "splits": [{"location": l1, "quantity": 1}, {"location": l2, "quantity": 2}]}])),
    )
    .await?;
    let mut q = queue(&s.scheduler).await?;
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let docs = documents(&s, "acme").await?;
    assert_eq!(docs.len(), 3, "{docs:?}");

    // The warehouse enters the simple order's tracking, then everything is posted.
    let (mut erp, _) = erp_clients(&s.posting).await?;
    let simple_doc =
        docs.iter().find(|d| d.shopify_order_no == simple["name"].as_str().unwrap()).unwrap();
    erp.set_sales_document_tracking(pb::SetTrackingRequest {
        no: simple_doc.no.clone(),
        tracking: Some(pb::Tracking {
            company: "DHL Express".into(),
            number: "JD0123456789".into(),
            url: "https://www.dhl.com/track?id=JD0123456789".into(),
        }),
        expected_version: 0,
    })
    .await?;
    assert_eq!(post_all(&s, "acme").await?, 3);

    // Shipments before the sync: three unprocessed.
    let mut cues = s.cues().await?;
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::UnprocessedShipments), 3, "{c:?}");

    let run = sync_now(&mut q, "acme", shipment_params()).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("sent"), Some(&3), "{counters:?}");
    assert_eq!(counters.get("fulfillments_created"), Some(&5), "{counters:?}");

    let export = sim_export(&s.sim, "acme").await?;
    let f = fulfillments(&export, simple["id"].as_str().unwrap());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["tracking_info"]["number"], "JD0123456789", "{f:?}");
    assert_eq!(f[0]["tracking_info"]["company"], "DHL Express", "{f:?}");
    assert_eq!(f[0]["tracking_info"]["url"], "https://www.dhl.com/track?id=JD0123456789");
    assert_eq!(f[0]["notify_customer"], true, "the shop sends shipping confirmations");
    for (order, units) in [(&two, [1i64, 2]), (&split, [1, 2])] {
        let f = fulfillments(&export, order["id"].as_str().unwrap());
        assert_eq!(f.len(), 2, "one fulfillment per location: {f:?}");
        let mut by_location: BTreeMap<u64, i64> = BTreeMap::new();
        for x in f {
            let q: i64 = x["line_items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["quantity"].as_i64().unwrap())
                .sum();
            *by_location.entry(x["location_id"].as_u64().unwrap()).or_default() += q;
        }
        let mut got: Vec<i64> = by_location.values().copied().collect();
        got.sort();
        assert_eq!(got, units, "{f:?}");
    }
    // The ERP knows each shipment went.
    let (_, mut posting) = erp_clients(&s.posting).await?;
    let shipped = posting
        .list_posted_shipments(pb::ListPostedRequest { shop: "acme".into(), ..Default::default() })
        .await?
        .into_inner()
        .shipments;
    assert_eq!(shipped.len(), 3);
    assert!(
        shipped.iter().all(|x| x.fulfillment_state == pb::FulfillmentState::Sent as i32),
        "{shipped:?}"
    );

    // Nothing is sent twice.
    let run = sync_now(&mut q, "acme", shipment_params()).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let export = sim_export(&s.sim, "acme").await?;
    for (o, n) in [(&simple, 1), (&two, 2), (&split, 2)] {
        assert_eq!(fulfillments(&export, o["id"].as_str().unwrap()).len(), n);
    }
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::UnprocessedShipments), 0, "{c:?}");
    assert_eq!(count(&c, pb::CueKind::ShipmentErrors), 0, "{c:?}");

    // The next order sync sees them paid, fulfilled and invoiced: they are closed in Shopify.
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("archived"), Some(&3), "{counters:?}");
    let export = sim_export(&s.sim, "acme").await?;
    for o in [&simple, &two, &split] {
        let id = o["id"].as_str().unwrap().rsplit('/').next().unwrap();
        assert_eq!(export["orders"][id]["closed"], true, "{}", export["orders"][id]);
    }
    Ok(())
}

#[tokio::test]
async fn a_shipment_shopify_cannot_take_waits_in_the_cue_and_a_reset_tries_it_again() -> Result<()>
{
    let s = Stack::start("shipments_errors", &["acme"]).await?;
    let (skus, email) = shop_ready(&s, "acme").await?;
    let placed = sim_post(
        &s.sim,
        "/sim/shops/acme/orders",
        json!({"customer_email": email, "lines": [
            {"sku": skus[0], "quantity": 2}, {"sku": skus[1], "quantity": 1}]}),
    )
    .await?;
    let mut q = queue(&s.scheduler).await?;
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    post_all(&s, "acme").await?;
    // The first line is fulfilled by hand in Shopify's admin first: the shipment's units of
    // it have nothing open left; its second line still goes.
    let gid = placed["id"].as_str().unwrap();
    let fos = shopify_client(&s, "acme")?.order_fulfillment_orders(gid).await?.unwrap();
    let fo = &fos.fulfillment_orders.nodes[0];
    let first = fo.line_items.nodes.iter().find(|l| l.line_item.sku.as_deref() == Some(&skus[0]));
    sim_graphql(
        &s,
        "acme",
        "mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id } userErrors { message } } }",
        json!({"f": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo.id,
            "fulfillmentOrderLineItems": [{"id": first.unwrap().id, "quantity": 2}]}]}}),
    )
    .await?;
    let run = sync_now(&mut q, "acme", shipment_params()).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "one bad shipment never fails a run");
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("failed"), Some(&1), "{counters:?}");
    assert_eq!(counters.get("fulfillments_created"), Some(&1), "the open line went: {counters:?}");
    let mut cues = s.cues().await?;
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::ShipmentErrors), 1, "{c:?}");
    let groups = cues
        .list_cue_groups(pb::ListCueGroupsRequest {
            shop: "acme".into(),
            kind: pb::CueKind::ShipmentErrors as i32,
            limit: 0,
        })
        .await?
        .into_inner()
        .groups;
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert!(groups[0].reason.contains("nothing left open"), "{groups:?}");
    assert!(!groups[0].action.is_empty());
    // A person looks, decides the shipment should be tried again: reset and retried.
    let r = cues
        .retry_cue_group(pb::RetryCueGroupRequest {
            shop: "acme".into(),
            kind: pb::CueKind::ShipmentErrors as i32,
            key: groups[0].key.clone(),
            requested_by: "e2e".into(),
        })
        .await?
        .into_inner();
    assert_eq!(r.retried, 1);
    assert!(!r.entry_id.is_empty(), "a sync-shipments job is queued");
    let run = ended_run(&mut q, &r.entry_id, 0).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    // Still nothing open for the first line: it fails again with the same reason, and the
    // line that went is not sent a second time.
    let c = cues.get_cues(pb::GetCuesRequest { shop: "acme".into() }).await?.into_inner();
    assert_eq!(count(&c, pb::CueKind::ShipmentErrors), 1, "{c:?}");
    let export = sim_export(&s.sim, "acme").await?;
    assert_eq!(fulfillments(&export, gid).len(), 2, "the one made by hand and ours");
    Ok(())
}

fn shopify_client(s: &Stack, shop: &str) -> Result<shopsync_shopify::ShopifyClient> {
    Ok(shopsync_shopify::ShopifyClient::new(
        shopsync_shopify::ClientConfig::new(
            s.sim.url(),
            secrecy::SecretString::from(token_of(shop)),
        ),
        std::sync::Arc::new(shopsync_shopify::Budget::default()),
    )?)
}

/// A GraphQL call to the simulator as a merchant's other app would make it.
async fn sim_graphql(s: &Stack, shop: &str, query: &str, variables: Value) -> Result<Value> {
    let r: Value = reqwest::Client::new()
        .post(format!("{}/admin/api/2026-10/graphql.json", s.sim.url()))
        .header("X-Shopify-Access-Token", token_of(shop))
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await?
        .json()
        .await?;
    if r.get("errors").is_some() {
        bail!("{r}");
    }
    Ok(r)
}

#[tokio::test]
async fn kill_9_between_sending_and_recording_makes_exactly_one_fulfillment_each() -> Result<()> {
    let mut s = Stack::start("shipments_kill", &["acme"]).await?;
    let (skus, email) = shop_ready(&s, "acme").await?;
    let locs = locations(&s, "acme").await?;
    const ORDERS: usize = 12;
    let mut placed = Vec::new();
    for i in 0..ORDERS {
        let o = sim_post(
            &s.sim,
            "/sim/shops/acme/orders",
            json!({"customer_email": email, "lines": [
                {"sku": skus[i % skus.len()], "quantity": 1, "location": locs[0].1},
                {"sku": skus[(i + 1) % skus.len()], "quantity": 2, "location": locs[1].1},
            ]}),
        )
        .await?;
        placed.push(o["id"].as_str().unwrap().to_owned());
    }
    let mut q = queue(&s.scheduler).await?;
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    assert_eq!(post_all(&s, "acme").await?, ORDERS);
    // Shopify answers slowly: it has made the fulfillment well before the answer arrives,
    // and some answers are lost altogether after the mutation ran.
    sim_post(
        &s.sim,
        "/sim/shops/acme/faults",
        json!({"answer_delay_ms": 400, "lost_answer_rate": 0.1, "seed": 5}),
    )
    .await?;
    let entry = create(&mut q, retrying("acme", shipment_params())).await?;
    let pool = sqlx::PgPool::connect(&s.db.url).await?;
    // Kill order-sync while a fulfillment it asked for is made in Shopify but not yet
    // answered (its intent is written, 150 ms old, the answer takes 400 ms).
    let mut kills = 0;
    for _ in 0..4 {
        let caught = eventually(Duration::from_secs(60), || {
            let pool = pool.clone();
            async move {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM order_sync.fulfillment_sends \
                     WHERE state = 'sending' AND updated_at < now() - interval '150 ms'",
                )
                .fetch_one(&pool)
                .await?;
                let left: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM posting.posted_shipments \
                     WHERE fulfillment_state = 'pending'",
                )
                .fetch_one(&pool)
                .await?;
                if n == 0 && left > 0 {
                    bail!("no request in flight yet");
                }
                Ok(n > 0)
            }
        })
        .await?;
        if !caught {
            break;
        }
        s.order_sync.kill().await?;
        kills += 1;
        s.restart_order_sync().await?;
    }
    assert!(kills >= 2, "the kills landed mid-request ({kills})");
    succeeded(&mut q, &entry.id).await?;
    // Every shipment went, each as exactly one fulfillment per location.
    let export = sim_export(&s.sim, "acme").await?;
    for gid in &placed {
        let f = fulfillments(&export, gid);
        assert_eq!(f.len(), 2, "order {gid}: {f:?}");
    }
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM posting.posted_shipments WHERE fulfillment_state <> 'sent'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(pending, 0);
    // The runs after the kills found the fulfillments made before each kill in Shopify.
    let reconciled: i64 = runs(&mut q, &entry.id)
        .await?
        .iter()
        .filter_map(|r| r.counters.as_ref()?.values.get("reconciled").copied())
        .sum();
    assert!(reconciled >= 1, "fulfillments found again after kills: {reconciled}");
    Ok(())
}

#[tokio::test]
async fn a_request_to_our_fulfillment_service_is_accepted_then_fulfilled() -> Result<()> {
    let s = Stack::start("shipments_service", &["acme"]).await?;
    let (skus, email) = shop_ready(&s, "acme").await?;
    sim_post(
        &s.sim,
        "/sim/shops/acme/locations",
        json!({"name": "ERP warehouse service", "fulfillment_service": true}),
    )
    .await?;
    let placed = sim_post(
        &s.sim,
        "/sim/shops/acme/orders",
        json!({"customer_email": email, "lines": [
            {"sku": skus[0], "quantity": 2, "location": "ERP warehouse service"}]}),
    )
    .await?;
    assert_eq!(placed["fulfillment_orders"][0]["request_status"], "SUBMITTED", "{placed}");
    let mut q = queue(&s.scheduler).await?;
    let run = sync_now(&mut q, "acme", sync_params(false)).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    post_all(&s, "acme").await?;
    let run = sync_now(&mut q, "acme", shipment_params()).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let counters = run.counters.clone().unwrap_or_default().values;
    assert_eq!(counters.get("requests_accepted"), Some(&1), "{counters:?}");
    assert_eq!(counters.get("sent"), Some(&1), "{counters:?}");
    let export = sim_export(&s.sim, "acme").await?;
    assert_eq!(fulfillments(&export, placed["id"].as_str().unwrap()).len(), 1);
    Ok(())
}
