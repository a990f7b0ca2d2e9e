//! Inventory sync end to end with real processes (the simulator, the posting service,
//! inventory-sync, the scheduler, PostgreSQL): an ERP stock adjustment reaches Shopify's
//! level within seconds without any job (two Shopify locations fed by three ERP locations),
//! with stock committed to an unfulfilled Shopify order counted once; a level edited in
//! Shopify is recorded as drift and the next change still lands (stale compare value read
//! again), and SyncInventory repairs a later edit; `kill -9` of inventory-sync while its
//! writes are in flight, repeated, leaves every level right and applies none twice; a posted
//! shipment of a Shopify order counts once until fulfilled; free stock.

#![allow(clippy::unwrap_used)] // a test: a missing value is a failure

use anyhow::{Result, ensure};
use serde_json::json;
use shopsync_common::shop::{LocationMapping, StockCalculation};
use shopsync_e2e::inventory::*;
use shopsync_e2e::orders::{self, sim_post, sync_now};
use shopsync_e2e::*;
use shopsync_proto::pb;
use std::time::Duration;

const SOON: Duration = Duration::from_secs(10);

async fn on_hand_is(s: &InvStack, shop: &str, item: &str, loc: &str, want: i64) -> Result<()> {
    let got = sim_level(&s.sim, shop, item, loc).await?;
    ensure!(got["on_hand"] == want, "on_hand {} wanted {want}: {got:?}", got["on_hand"]);
    Ok(())
}

#[tokio::test]
async fn stock_adjustments_reach_shopify_in_seconds_and_committed_stock_counts_once() -> Result<()>
{
    let s = InvStack::start("inventory_push", &["inv"]).await?;
    sim_post(&s.sim, "/sim/shops/inv/seed", json!({"seed": 3, "products": 2, "customers": 1}))
        .await?;
    let (variants, locs) = sim_catalogue(&s.sim, "inv").await?;
    let (l1, l2) = (locs[0].0.clone(), locs[1].0.clone());
    // Two Shopify locations from three ERP locations.
    connect_inventory_shop(&s, "inv", &[(&l1, "EAST|WEST"), (&l2, "NORTH")]).await?;
    let items = erp_items_linked(&s, "inv", &variants, &["EAST", "WEST", "NORTH"]).await?;
    // A Shopify order, not yet in the ERP, commits 2 units at the first location.
    let email = shopsync_e2e::orders::first_email(&s.sim, "inv").await?;
    sim_post(
        &s.sim,
        "/sim/shops/inv/orders",
        json!({"customer_email": email, "lines": [{"sku": variants[0].sku, "quantity": 2, "location": locs[0].1}]}),
    )
    .await?;
    adjust(&s, &[(&items[0], "EAST", 7), (&items[0], "WEST", 3), (&items[0], "NORTH", 4)]).await?;
    let inv0 = variants[0].inventory_item.clone();
    eventually(SOON, || async {
        on_hand_is(&s, "inv", &inv0, &l1, 10).await?;
        on_hand_is(&s, "inv", &inv0, &l2, 4).await
    })
    .await?;
    // on_hand = the ERP's 10 physical units; Shopify keeps the 2 committed and offers 8.
    // (Setting `available` to 10 would have made on_hand 12: the committed units twice.)
    let q = sim_level(&s.sim, "inv", &inv0, &l1).await?;
    assert_eq!((q["available"], q["committed"], q["on_hand"]), (8, 2, 10), "{q:?}");
    // Stock leaving one ERP location of the filter lowers the sum; negative never goes out.
    adjust(&s, &[(&items[0], "WEST", -3), (&items[0], "NORTH", -9)]).await?;
    eventually(SOON, || async {
        on_hand_is(&s, "inv", &inv0, &l1, 7).await?;
        on_hand_is(&s, "inv", &inv0, &l2, 0).await
    })
    .await?;
    // No job ran for any of this.
    let mut q = queue(&s.scheduler).await?;
    let entries = q.list_entries(pb::ListEntriesRequest::default()).await?.into_inner();
    assert!(entries.entries.is_empty(), "{:?}", entries.entries);
    assert!(drift(&s.db, "inv").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_level_edited_in_shopify_is_drift_and_changes_still_land() -> Result<()> {
    let s = InvStack::start("inventory_drift", &["drift"]).await?;
    sim_post(&s.sim, "/sim/shops/drift/seed", json!({"seed": 4, "products": 1, "customers": 1}))
        .await?;
    let (variants, locs) = sim_catalogue(&s.sim, "drift").await?;
    let l1 = locs[0].0.clone();
    connect_inventory_shop(&s, "drift", &[(&l1, "MAIN")]).await?;
    let items = erp_items_linked(&s, "drift", &variants, &["MAIN"]).await?;
    let inv = variants[0].inventory_item.clone();
    adjust(&s, &[(&items[0], "MAIN", 5)]).await?;
    eventually(SOON, || on_hand_is(&s, "drift", &inv, &l1, 5)).await?;
    // Someone sets 42 in the admin; the next ERP change finds its compare value stale.
    set_on_hand_by_hand(&s.sim, "drift", &inv, &l1, 42).await?;
    adjust(&s, &[(&items[0], "MAIN", 1)]).await?;
    eventually(SOON, || on_hand_is(&s, "drift", &inv, &l1, 6)).await?;
    let d = drift(&s.db, "drift").await?;
    assert_eq!(d, vec![(inv.clone(), l1.clone(), Some(5), 42, "follow".to_owned())]);
    // Another edit, no ERP change: the recurring reconciliation (every 2 s) repairs it.
    set_on_hand_by_hand(&s.sim, "drift", &inv, &l1, 50).await?;
    let mut q = queue(&s.scheduler).await?;
    let params =
        pb::TaskParams { params: Some(pb::task_params::Params::SyncInventory(Default::default())) };
    let spec = pb::JobSpec {
        shop: "drift".into(),
        params: Some(params),
        created_by: "e2e".into(),
        recurrence: Some(pb::Recurrence {
            rule: Some(pb::recurrence::Rule::IntervalSeconds(2)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let entry = q
        .create_entry(pb::CreateEntryRequest { spec: Some(spec), ..Default::default() })
        .await?
        .into_inner();
    eventually(Duration::from_secs(30), || on_hand_is(&s, "drift", &inv, &l1, 6)).await?;
    q.set_on_hold(pb::EntryRef { id: entry.id.clone(), ..Default::default() }).await?;
    let d = drift(&s.db, "drift").await?;
    assert_eq!(d.last().unwrap(), &(inv.clone(), l1.clone(), Some(6), 50, "reconcile".to_owned()));
    // Nothing changed: a second reconciliation writes nothing.
    let params =
        pb::TaskParams { params: Some(pb::task_params::Params::SyncInventory(Default::default())) };
    let before = sim_on_hand_changes(&s.sim, "drift").await?.len();
    let run = sync_now(&mut q, "drift", params).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    assert_eq!(sim_on_hand_changes(&s.sim, "drift").await?.len(), before);
    Ok(())
}

async fn levels_are(s: &InvStack, variants: &[SimVariant], l1: &str, want: i64) -> Result<()> {
    for v in variants {
        on_hand_is(s, "kill", &v.inventory_item, l1, want).await?;
    }
    Ok(())
}

#[tokio::test]
async fn kill_9_mid_push_leaves_every_level_right_and_applies_none_twice() -> Result<()> {
    let mut s = InvStack::start("inventory_kill", &["kill"]).await?;
    sim_post(&s.sim, "/sim/shops/kill/seed", json!({"seed": 5, "products": 12, "customers": 1}))
        .await?;
    let (variants, locs) = sim_catalogue(&s.sim, "kill").await?;
    let l1 = locs[0].0.clone();
    connect_inventory_shop(&s, "kill", &[(&l1, "MAIN")]).await?;
    let items = erp_items_linked(&s, "kill", &variants, &["MAIN"]).await?;
    let all = |q: i64| items.iter().map(|i| (i.as_str(), "MAIN", q)).collect::<Vec<_>>();
    adjust(&s, &all(10)).await?;
    eventually(SOON, || levels_are(&s, &variants, &l1, 10)).await?;
    // Shopify holds each answer 1.5 s after applying it: kill inventory-sync in that window.
    sim_post(&s.sim, "/sim/shops/kill/faults", json!({"answer_delay_ms": 1500})).await?;
    let pool = s.db.pool().await?;
    for round in 1..=3i64 {
        adjust(&s, &all(1)).await?;
        eventually(SOON, || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM inventory.pending_pushes")
                .fetch_one(&pool)
                .await?;
            ensure!(n > 0, "no push in flight yet (round {round})");
            Ok(())
        })
        .await?;
        s.inventory.kill().await?;
        s.restart_inventory().await?;
    }
    sim_post(&s.sim, "/sim/shops/kill/faults", json!({})).await?;
    eventually(Duration::from_secs(20), || levels_are(&s, &variants, &l1, 13)).await?;
    // Every write moved its level (a second application would be a 0 change or a stale
    // refusal read as drift), and no level drifted.
    let changes = sim_on_hand_changes(&s.sim, "kill").await?;
    assert!(changes.iter().all(|c| c.3 != 0), "{changes:?}");
    // At most one write per ERP change and level: the first load and the three rounds.
    let loc = l1.rsplit('/').next().unwrap().parse::<u64>()?;
    for v in &variants {
        let item = v.inventory_item.rsplit('/').next().unwrap().parse::<u64>()?;
        let n = changes.iter().filter(|c| c.1 == item && c.2 == loc).count();
        assert!(n <= 4, "{} written {n} times: {changes:?}", v.sku);
    }
    assert!(drift(&s.db, "kill").await?.is_empty(), "{:?}", drift(&s.db, "kill").await?);
    Ok(())
}

fn sync_inventory(p: pb::SyncInventoryParams) -> pb::TaskParams {
    pb::TaskParams { params: Some(pb::task_params::Params::SyncInventory(p)) }
}

#[tokio::test]
async fn a_dry_run_lists_the_differences_and_writes_nothing_and_an_unchanged_resync_costs_no_mutation()
-> Result<()> {
    let s = InvStack::start("inventory_dry_run", &["dry"]).await?;
    sim_post(&s.sim, "/sim/shops/dry/seed", json!({"seed": 6, "products": 2, "customers": 1}))
        .await?;
    let (variants, locs) = sim_catalogue(&s.sim, "dry").await?;
    let l1 = locs[0].0.clone();
    connect_inventory_shop(&s, "dry", &[(&l1, "MAIN")]).await?;
    let items = erp_items_linked(&s, "dry", &variants, &["MAIN"]).await?;
    let all = items.iter().map(|i| (i.as_str(), "MAIN", 4)).collect::<Vec<_>>();
    adjust(&s, &all).await?;
    for v in &variants {
        eventually(SOON, || on_hand_is(&s, "dry", &v.inventory_item, &l1, 4)).await?;
    }
    // Someone sets 42 in the admin.
    let inv = variants[0].inventory_item.clone();
    set_on_hand_by_hand(&s.sim, "dry", &inv, &l1, 42).await?;
    let before = sim_on_hand_changes(&s.sim, "dry").await?.len();
    let mut q = queue(&s.scheduler).await?;
    let run = sync_now(
        &mut q,
        "dry",
        sync_inventory(pb::SyncInventoryParams { dry_run: true, ..Default::default() }),
    )
    .await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let c = &run.counters.as_ref().unwrap().values;
    assert_eq!((c["levels_to_change"], c["mutations"], c["bulk_reads"]), (1, 0, 1), "{c:?}");
    let (diffs, others): (Vec<_>, Vec<_>) =
        run.errors.iter().partition(|e| e.message.contains("would set"));
    assert_eq!(diffs.len(), 1, "{:?}", run.errors);
    assert!(diffs[0].record.contains(&l1), "{:?}", run.errors);
    assert!(diffs[0].message.contains("would set on_hand 4 (Shopify has 42)"), "{diffs:?}");
    // The other Shopify locations feed from nowhere: reported (every run, until mapped).
    assert_eq!(others.len(), locs.len() - 1, "{:?}", run.errors);
    for (gid, _) in &locs[1..] {
        assert!(
            others.iter().any(|e| e.record.contains(gid.as_str())
                && e.message.contains("no ERP location feeds it")),
            "{others:?}"
        );
    }
    // Nothing written: no mutation, no drift recorded, the level as it was.
    assert_eq!(sim_on_hand_changes(&s.sim, "dry").await?.len(), before);
    assert!(drift(&s.db, "dry").await?.is_empty());
    on_hand_is(&s, "dry", &inv, &l1, 42).await?;
    // The real run repairs it with one mutation...
    let run = sync_now(&mut q, "dry", sync_inventory(Default::default())).await?;
    let c = &run.counters.as_ref().unwrap().values;
    assert_eq!((c["levels_sent"], c["mutations"], c["drift"]), (1, 1, 1), "{c:?}");
    on_hand_is(&s, "dry", &inv, &l1, 4).await?;
    // ...and the unchanged catalogue re-synced costs none.
    let before = sim_on_hand_changes(&s.sim, "dry").await?.len();
    let run = sync_now(&mut q, "dry", sync_inventory(Default::default())).await?;
    let c = &run.counters.as_ref().unwrap().values;
    assert_eq!(c["mutations"], 0, "{c:?}");
    assert_eq!(c["levels_unchanged"], variants.len() as i64, "{c:?}");
    assert_eq!(sim_on_hand_changes(&s.sim, "dry").await?.len(), before);
    Ok(())
}

#[tokio::test]
async fn stock_diff_drift_and_history_through_the_api_and_the_cli() -> Result<()> {
    let s = InvStack::start("inventory_stock_api", &["api"]).await?;
    sim_post(&s.sim, "/sim/shops/api/seed", json!({"seed": 7, "products": 2, "customers": 1}))
        .await?;
    let (variants, locs) = sim_catalogue(&s.sim, "api").await?;
    let l1 = locs[0].0.clone();
    connect_inventory_shop(&s, "api", &[(&l1, "MAIN")]).await?;
    let items = erp_items_linked(&s, "api", &variants, &["MAIN"]).await?;
    let inv = variants[0].inventory_item.clone();
    adjust(&s, &items.iter().map(|i| (i.as_str(), "MAIN", 5)).collect::<Vec<_>>()).await?;
    for v in &variants {
        eventually(SOON, || on_hand_is(&s, "api", &v.inventory_item, &l1, 5)).await?;
    }
    let mut api = stock(&s).await?;
    set_on_hand_by_hand(&s.sim, "api", &inv, &l1, 9).await?;
    let before = sim_on_hand_changes(&s.sim, "api").await?.len();
    // Diff: the level edited in Shopify, with both values and why; nothing written.
    let d = api.diff(pb::DiffRequest { shop: "api".into() }).await?.into_inner();
    assert_eq!(d.differences.len(), 1, "{d:?}");
    let x = &d.differences[0];
    assert_eq!(
        (x.inventory_item_id.as_str(), x.location_id.as_str(), x.erp_quantity, x.shopify_quantity),
        (inv.as_str(), l1.as_str(), 5, 9)
    );
    assert!(x.reason.contains("changed in Shopify"), "{}", x.reason);
    assert_eq!(d.unchanged, variants.len() as u64 - 1);
    assert_eq!(sim_on_hand_changes(&s.sim, "api").await?.len(), before);
    assert!(drift(&s.db, "api").await?.is_empty());
    // The same through the CLI.
    let o = stock_cli(&s, &["diff", "--shop", "api"]).await?;
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains(&items[0]) && out.contains("1 to change"), "{out}");
    // The next ERP change meets the edit: drift, then the write; both in the level's history.
    adjust(&s, &[(&items[0], "MAIN", 1)]).await?;
    eventually(SOON, || on_hand_is(&s, "api", &inv, &l1, 6)).await?;
    let dr = api.list_drift(pb::ListDriftRequest { shop: "api".into(), limit: 10 }).await?;
    let dr = dr.into_inner().drift;
    assert_eq!(dr.len(), 1, "{dr:?}");
    assert_eq!((dr[0].ours, dr[0].shopify, dr[0].source.as_str()), (Some(5), 9, "follow"));
    let h = api
        .get_level_history(pb::GetLevelHistoryRequest {
            shop: "api".into(),
            inventory_item_id: inv.clone(),
            location_id: l1.clone(),
            limit: 0,
        })
        .await?
        .into_inner()
        .events;
    let seen: Vec<_> = h.iter().map(|e| (e.kind.as_str(), e.quantity, e.compare)).collect();
    // Newest first: the write of 6 over 9, what we saw, the first write of 5 (over the seeded
    // value the first load's bulk read found).
    assert_eq!(seen[..2], [("sent", 6, Some(9)), ("seen", 9, Some(5))], "{seen:?}");
    assert_eq!((seen.len(), seen[2].0, seen[2].1), (3, "sent", 5), "{seen:?}");
    let o = stock_cli(&s, &["history", "--shop", "api", "--item", &inv, "--location", &l1]).await?;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = stock_cli(&s, &["drift", "--shop", "api"]).await?;
    assert!(String::from_utf8_lossy(&o.stdout).contains("follow"));
    // Request strings are checked first, naming the field.
    let e = api.diff(pb::DiffRequest { shop: "a\0b".into() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("shop"), "{}", e.message());
    let e = api
        .get_level_history(pb::GetLevelHistoryRequest {
            shop: "api".into(),
            inventory_item_id: "42".into(),
            location_id: l1.clone(),
            limit: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("inventory_item_id"), "{}", e.message());
    Ok(())
}

fn mapping(loc: &str, filter: &str, calc: StockCalculation) -> LocationMapping {
    LocationMapping {
        shopify_location_id: loc.into(),
        erp_location_filter: filter.into(),
        stock_calculation: calc,
        default_erp_location: None,
    }
}

/// The whole order flow beside the follower: a Shopify order imported, its ERP shipment posted,
/// then sent as a fulfillment. Shopify's view stays right at every step: the shipped units
/// count once (on hand and committed until the fulfillment, then gone), with no write fighting
/// Shopify and no drift. A `free` location leaves out what another channel's open document
/// reserves, but not the shop's own orders (Shopify holds them as committed already).
#[tokio::test]
async fn a_posted_shipment_counts_once_until_fulfilled_and_free_stock_leaves_other_channels_out()
-> Result<()> {
    let s = orders::Stack::start("inventory_shipment", &["shp"]).await?;
    sim_post(&s.sim, "/sim/shops/shp/seed", json!({"seed": 6, "products": 1, "customers": 1}))
        .await?;
    let (variants, locs) = sim_catalogue(&s.sim, "shp").await?;
    let (l1, l2) = (locs[0].0.clone(), locs[1].0.clone());
    orders::connect_shop_with(&s, "shp", &l1, None, |st| {
        st.locations = vec![
            mapping(&l1, "MAIN", StockCalculation::OnHand),
            mapping(&l2, "SPARE", StockCalculation::Free),
        ];
    })
    .await?;
    let items =
        erp_items_linked_on(&s.posting, &s.scheduler, "shp", &variants, &["MAIN", "SPARE"]).await?;
    orders::erp_setup(&s, &[]).await?;
    let _inventory =
        inventory_sync(s.test, &s.db, s.scheduler.addr, &s.posting, free_addr()?).await?;
    let inv = variants[0].inventory_item.clone();
    let level = |loc: String| {
        let (sim, inv) = (&s.sim, inv.clone());
        async move { sim_level(sim, "shp", &inv, &loc).await }
    };
    let on_hand_is = |loc: String, want: i64| async move {
        let got = level(loc.clone()).await?;
        ensure!(
            got["on_hand"] == want,
            "on_hand at {loc} {} wanted {want}: {got:?}",
            got["on_hand"]
        );
        Ok(())
    };
    adjust_on(&s.posting, &[(&items[0], "MAIN", 10), (&items[0], "SPARE", 6)]).await?;
    eventually(SOON, || async {
        on_hand_is(l1.clone(), 10).await?;
        on_hand_is(l2.clone(), 6).await
    })
    .await?;
    // A Shopify order for 2 units from the first location, imported into the ERP.
    let email = orders::first_email(&s.sim, "shp").await?;
    sim_post(
        &s.sim,
        "/sim/shops/shp/orders",
        json!({"customer_email": email, "lines": [{"sku": variants[0].sku, "quantity": 2, "location": locs[0].1}]}),
    )
    .await?;
    let mut q = queue(&s.scheduler).await?;
    for params in [orders::sync_params(false), orders::create_params()] {
        let run = sync_now(&mut q, "shp", params).await?;
        assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    }
    assert_eq!(orders::documents(&s, "shp").await?.len(), 1);
    // Posted: the ERP has 8, Shopify still counts the 2 on hand and committed until the
    // fulfillment, so the level stays at 10 (8 available, as before).
    assert_eq!(orders::post_all(&s, "shp").await?, 1);
    // A change elsewhere lands after the shipment's (the feed is ordered): it has been seen.
    adjust_on(&s.posting, &[(&items[0], "SPARE", 1)]).await?;
    eventually(SOON, || on_hand_is(l2.clone(), 7)).await?;
    let q1 = level(l1.clone()).await?;
    assert_eq!((q1["on_hand"], q1["committed"], q1["available"]), (10, 2, 8), "{q1:?}");
    // Fulfilled in Shopify: Shopify lowers on_hand itself; our figure drops with it.
    let run = sync_now(&mut q, "shp", orders::shipment_params()).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    adjust_on(&s.posting, &[(&items[0], "SPARE", 1)]).await?;
    eventually(SOON, || on_hand_is(l2.clone(), 8)).await?;
    let q1 = level(l1.clone()).await?;
    assert_eq!((q1["on_hand"], q1["committed"], q1["available"]), (8, 0, 8), "{q1:?}");
    // One more ERP change at the first location: written against the value Shopify has.
    adjust_on(&s.posting, &[(&items[0], "MAIN", 1)]).await?;
    eventually(SOON, || on_hand_is(l1.clone(), 9)).await?;
    assert!(drift(&s.db, "shp").await?.is_empty(), "{:?}", drift(&s.db, "shp").await?);
    // Another channel's open order reserves 3 at SPARE: the free location offers 5; deleted,
    // 8 again.
    let (mut erp, _) = erp_clients(&s.posting).await?;
    let doc = erp
        .create_sales_document(pb::CreateSalesDocumentRequest {
            document: Some(pb::SalesDocument {
                r#type: pb::DocumentType::Order as i32,
                sell_to_customer_no: "TEMPLATE".into(),
                lines: vec![pb::SalesLine {
                    item_no: items[0].clone(),
                    location_code: "SPARE".into(),
                    quantity: 3,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            release: false,
        })
        .await?
        .into_inner()
        .document
        .unwrap();
    eventually(SOON, || on_hand_is(l2.clone(), 5)).await?;
    erp.delete_sales_document(pb::DocumentRef { no: doc.no, ..Default::default() }).await?;
    eventually(SOON, || on_hand_is(l2.clone(), 8)).await?;
    assert!(drift(&s.db, "shp").await?.is_empty());
    Ok(())
}

/// A reconciliation links the variants whose SKU names exactly one ERP item (and from then on
/// the follower pushes their changes); an ambiguous SKU is a record, never a guess.
#[tokio::test]
async fn variants_are_linked_by_sku_and_then_followed() -> Result<()> {
    let s = InvStack::start("inventory_by_sku", &["sku"]).await?;
    sim_post(&s.sim, "/sim/shops/sku/seed", json!({"seed": 7, "products": 4, "customers": 1}))
        .await?;
    let (variants, locs) = sim_catalogue(&s.sim, "sku").await?;
    assert!(variants.len() >= 4, "{variants:?}");
    let l1 = locs[0].0.clone();
    let maps: Vec<(&str, &str)> = std::iter::once((l1.as_str(), "MAIN"))
        .chain(locs[1..].iter().map(|(gid, _)| (gid.as_str(), "")))
        .collect();
    connect_inventory_shop(&s, "sku", &maps).await?;
    let items = erp_items(&s.posting, &variants, &["MAIN"]).await?;
    // Only the first variant is linked; the last one's SKU is on a second ERP item too.
    link_items(&s.scheduler, "sku", &[(&variants[0], &items[0])]).await?;
    let (mut erp, _) = erp_clients(&s.posting).await?;
    let last = variants.last().unwrap();
    erp.create_item(pb::Item {
        no: "TWIN".into(),
        description: "same SKU".into(),
        unit_price_minor: 100,
        currency: "EUR".into(),
        sku: last.sku.clone(),
        ..Default::default()
    })
    .await?;
    let all = items.iter().map(|i| (i.as_str(), "MAIN", 3)).collect::<Vec<_>>();
    adjust(&s, &all).await?;
    eventually(SOON, || on_hand_is(&s, "sku", &variants[0].inventory_item, &l1, 3)).await?;
    let mut q = queue(&s.scheduler).await?;
    let run = sync_now(&mut q, "sku", sync_inventory(Default::default())).await?;
    assert_eq!(run_status(&run), pb::RunStatus::Succeeded, "{run:?}");
    let c = &run.counters.as_ref().unwrap().values;
    let n = variants.len() as i64;
    assert_eq!(c["variants_linked_by_sku"], n - 2, "{c:?}");
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert!(run.errors[0].record.contains(&last.gid), "{:?}", run.errors);
    assert!(run.errors[0].message.contains("matches 2 ERP items"), "{:?}", run.errors);
    let links = item_links(&s.scheduler, "sku").await?;
    assert_eq!(links.len(), variants.len() - 1, "{links:?}");
    for (v, item) in variants.iter().zip(&items).take(variants.len() - 1) {
        assert_eq!(links.get(&v.gid), Some(item), "{links:?}");
        on_hand_is(&s, "sku", &v.inventory_item, &l1, 3).await?;
    }
    // The follower uses the new link for the next change.
    adjust(&s, &[(&items[1], "MAIN", 2)]).await?;
    eventually(SOON, || on_hand_is(&s, "sku", &variants[1].inventory_item, &l1, 5)).await?;
    Ok(())
}
