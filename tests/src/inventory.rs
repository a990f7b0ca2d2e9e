//! The inventory-sync stack for end-to-end tests: the simulator, the posting service,
//! inventory-sync (following the stock feed) and a scheduler that dispatches to them, and
//! helpers to read and edit the simulator's levels.

#![allow(clippy::unwrap_used)] // test support: a missing value is a failure

use crate::orders::{http, start_sim, token_of};
use crate::*;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use shopsync_proto::pb;
use std::collections::BTreeMap;

pub struct InvStack {
    pub sim: Proc,
    pub posting: Proc,
    pub inventory: Proc,
    pub scheduler: Proc,
    pub db: TestDb,
    pub test: &'static str,
}

/// inventory-sync with the stock follower polling every 100 ms and the shop list every 300 ms.
pub async fn inventory_sync(
    test: &str,
    db: &TestDb,
    sched: std::net::SocketAddr,
    posting: &Proc,
    listen: std::net::SocketAddr,
) -> Result<Proc> {
    let env: Vec<(String, String)> = vec![
        ("SHOPSYNC_LISTEN".into(), listen.to_string()),
        ("SHOPSYNC_SERVICE_TOKEN".into(), TOKEN.into()),
        ("SHOPSYNC_DATABASE_URL".into(), db.url.clone()),
        ("SHOPSYNC_SHOPS_URL".into(), format!("http://{sched}")),
        ("SHOPSYNC_POSTING_URL".into(), posting.url()),
        ("SHOPSYNC_SECRET_KEYS".into(), TEST_SECRET_KEYS.into()),
        ("SHOPSYNC_STOCK_POLL_MS".into(), "100".into()),
        ("SHOPSYNC_STOCK_SHOPS_REFRESH_MS".into(), "300".into()),
    ];
    spawn(Spawn { binary: "shopsync-inventory-sync", name: "shopsync-inventory-sync", test, env })
        .await
}

impl InvStack {
    pub async fn start(test: &'static str, shops: &[&str]) -> Result<Self> {
        let db = TestDb::create().await?;
        let sim = start_sim(test, shops, &[]).await?;
        let posting = start_worker(test, Service::Posting, &db).await?;
        let sched_addr = free_addr()?;
        let inventory = inventory_sync(test, &db, sched_addr, &posting, free_addr()?).await?;
        let workers = [("POSTING", &posting), ("INVENTORY_SYNC", &inventory)];
        let scheduler = scheduler_for(test, &db, sched_addr, &workers).await?;
        Ok(Self { sim, posting, inventory, scheduler, db, test })
    }

    /// Start inventory-sync again on the same address (after a kill).
    pub async fn restart_inventory(&mut self) -> Result<()> {
        let listen = self.inventory.addr;
        self.inventory =
            inventory_sync(self.test, &self.db, self.scheduler.addr, &self.posting, listen).await?;
        Ok(())
    }
}

/// A variant of the simulator's shop.
#[derive(Debug, Clone)]
pub struct SimVariant {
    pub sku: String,
    pub gid: String,
    pub product_gid: String,
    pub inventory_item: String,
}

/// The shop's variants (by SKU) and locations (gid, name; by id).
pub async fn sim_catalogue(
    sim: &Proc,
    shop: &str,
) -> Result<(Vec<SimVariant>, Vec<(String, String)>)> {
    let v = crate::orders::sim_export(sim, shop).await?;
    let mut variants = Vec::new();
    for (pid, p) in v["products"].as_object().context("products")? {
        for var in p["variants"].as_array().context("variants")? {
            variants.push(SimVariant {
                sku: var["sku"].as_str().context("sku")?.to_owned(),
                gid: format!("gid://shopify/ProductVariant/{}", var["id"]),
                product_gid: format!("gid://shopify/Product/{pid}"),
                inventory_item: format!("gid://shopify/InventoryItem/{}", var["inventory_item_id"]),
            });
        }
    }
    variants.sort_by(|a, b| a.sku.cmp(&b.sku));
    let mut locs: Vec<(u64, String)> = v["locations"]
        .as_object()
        .context("locations")?
        .iter()
        .map(|(id, l)| (id.parse().unwrap(), l["name"].as_str().unwrap().to_owned()))
        .collect();
    locs.sort();
    let locs =
        locs.into_iter().map(|(id, n)| (format!("gid://shopify/Location/{id}"), n)).collect();
    Ok((variants, locs))
}

fn tail(gid: &str) -> u64 {
    gid.rsplit('/').next().unwrap().parse().unwrap()
}

/// A level's named quantities as the simulator has them (`on_hand` added).
pub async fn sim_level(
    sim: &Proc,
    shop: &str,
    item: &str,
    location: &str,
) -> Result<BTreeMap<String, i64>> {
    let v = crate::orders::sim_export(sim, shop).await?;
    let key = json!([tail(item), tail(location)]);
    let q = v["levels"]
        .as_array()
        .context("levels")?
        .iter()
        .find(|pair| pair[0] == key)
        .map(|pair| pair[1].clone())
        .unwrap_or(Value::Null);
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    if let Some(o) = q.as_object() {
        for (k, v) in o {
            out.insert(k.clone(), v.as_i64().unwrap_or(0));
        }
    }
    let on_hand =
        ["available", "committed", "reserved", "damaged", "quality_control", "safety_stock"]
            .iter()
            .map(|k| out.get(*k).copied().unwrap_or(0))
            .sum();
    out.insert("on_hand".into(), on_hand);
    Ok(out)
}

/// Every on_hand change of the simulator's adjustment groups: (group id, item, location, delta).
pub async fn sim_on_hand_changes(sim: &Proc, shop: &str) -> Result<Vec<(u64, u64, u64, i64)>> {
    let v = crate::orders::sim_export(sim, shop).await?;
    let mut out = Vec::new();
    for (id, g) in v["adjustments"].as_object().context("adjustments")? {
        for c in g["changes"].as_array().context("changes")? {
            if c["name"] == "on_hand" {
                out.push((
                    id.parse()?,
                    c["item_id"].as_u64().context("item_id")?,
                    c["location_id"].as_u64().context("location_id")?,
                    c["delta"].as_i64().context("delta")?,
                ));
            }
        }
    }
    Ok(out)
}

/// Set a level's on_hand as another app (or a person in the admin) would: no compare value.
pub async fn set_on_hand_by_hand(
    sim: &Proc,
    shop: &str,
    item: &str,
    location: &str,
    q: i64,
) -> Result<()> {
    let body = json!({
        "query": "mutation S($input: InventorySetQuantitiesInput!, $key: String!) { inventorySetQuantities(input: $input) @idempotent(key: $key) { userErrors { field message code } } }",
        "variables": {
            "key": uuid::Uuid::new_v4().to_string(),
            "input": {"name": "on_hand", "reason": "correction", "quantities": [
                {"inventoryItemId": item, "locationId": location, "quantity": q, "changeFromQuantity": null}
            ]}
        }
    });
    let r: Value = http()
        .post(format!("{}/admin/api/2026-10/graphql.json", sim.url()))
        .header("X-Shopify-Access-Token", token_of(shop))
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    let errors = &r["data"]["inventorySetQuantities"]["userErrors"];
    if r.get("errors").is_some() || errors.as_array().is_none_or(|e| !e.is_empty()) {
        bail!("setting a level by hand: {r}");
    }
    Ok(())
}

/// Connect `shop` with these location mappings (Shopify location gid, ERP filter; an empty
/// filter maps the location as disabled).
pub async fn connect_inventory_shop(
    s: &InvStack,
    shop: &str,
    maps: &[(&str, &str)],
) -> Result<pb::Shop> {
    let mut shops = shops(&s.scheduler).await?;
    let mut req = shop_request(shop, &s.sim.url());
    req.access_token = token_of(shop);
    let settings = shopsync_common::shop::ShopSettings {
        allow_background_syncs: false,
        locations: maps
            .iter()
            .map(|(loc, filter)| shopsync_common::shop::LocationMapping {
                shopify_location_id: (*loc).into(),
                erp_location_filter: (*filter).into(),
                // No ERP location: mapped as not synced.
                stock_calculation: if filter.is_empty() {
                    shopsync_common::shop::StockCalculation::Disabled
                } else {
                    Default::default()
                },
                default_erp_location: None,
            })
            .collect(),
        ..Default::default()
    };
    req.shop.as_mut().unwrap().settings = Some(shopsync_proto::shops::settings_to_pb(&settings));
    Ok(shops.create_shop(req).await?.into_inner())
}

/// ERP items `INV-<n>` (one per variant, with its SKU), the ERP locations, and item links to
/// the variants.
pub async fn erp_items_linked(
    s: &InvStack,
    shop: &str,
    variants: &[SimVariant],
    locations: &[&str],
) -> Result<Vec<String>> {
    erp_items_linked_on(&s.posting, &s.scheduler, shop, variants, locations).await
}

/// [`erp_items_linked`] on any stack's posting service and scheduler.
pub async fn erp_items_linked_on(
    posting: &Proc,
    scheduler: &Proc,
    shop: &str,
    variants: &[SimVariant],
    locations: &[&str],
) -> Result<Vec<String>> {
    let items = erp_items(posting, variants, locations).await?;
    link_items(scheduler, shop, &variants.iter().zip(&items).collect::<Vec<_>>()).await?;
    Ok(items)
}

/// The ERP locations and items `INV-<n>` (one per variant, with its SKU), not linked.
pub async fn erp_items(
    posting: &Proc,
    variants: &[SimVariant],
    locations: &[&str],
) -> Result<Vec<String>> {
    let (mut erp, _) = erp_clients(posting).await?;
    for code in locations {
        erp.create_location(pb::Location {
            code: (*code).into(),
            name: (*code).into(),
            ..Default::default()
        })
        .await?;
    }
    let mut items = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let no = format!("INV-{i}");
        erp.create_item(pb::Item {
            no: no.clone(),
            description: v.sku.clone(),
            unit_price_minor: 100,
            currency: "EUR".into(),
            sku: v.sku.clone(),
            ..Default::default()
        })
        .await?;
        items.push(no);
    }
    Ok(items)
}

/// Item links: each variant to its ERP item.
pub async fn link_items(
    scheduler: &Proc,
    shop: &str,
    pairs: &[(&SimVariant, &String)],
) -> Result<()> {
    let links = pairs
        .iter()
        .map(|(v, no)| pb::Link {
            kind: pb::LinkKind::Item as i32,
            erp_id: (*no).clone(),
            erp_variant: String::new(),
            shopify_id: v.gid.clone(),
            shopify_parent_id: v.product_gid.clone(),
            shopify_inventory_item_id: v.inventory_item.clone(),
            updated_at: None,
        })
        .collect();
    shops(scheduler).await?.put_links(pb::PutLinksRequest { shop: shop.into(), links }).await?;
    Ok(())
}

/// The shop's item links: (variant gid, ERP item).
pub async fn item_links(scheduler: &Proc, shop: &str) -> Result<BTreeMap<String, String>> {
    let r = shops(scheduler)
        .await?
        .list_links(pb::ListLinksRequest {
            shop: shop.into(),
            kind: pb::LinkKind::Item as i32,
            page_size: 1000,
            after: String::new(),
        })
        .await?
        .into_inner();
    Ok(r.links.into_iter().map(|l| (l.shopify_id, l.erp_id)).collect())
}

/// Post a stock adjustment: (item, location, quantity) lines.
pub async fn adjust(s: &InvStack, lines: &[(&str, &str, i64)]) -> Result<()> {
    adjust_on(&s.posting, lines).await
}

/// [`adjust`] on any stack's posting service.
pub async fn adjust_on(posting: &Proc, lines: &[(&str, &str, i64)]) -> Result<()> {
    let (mut erp, _) = erp_clients(posting).await?;
    erp.post_stock_adjustment(pb::StockAdjustmentRequest {
        lines: lines
            .iter()
            .map(|(i, l, q)| pb::StockAdjustmentLine {
                item_no: (*i).into(),
                location_code: (*l).into(),
                quantity: *q,
                ..Default::default()
            })
            .collect(),
        document_no: "E2E-ADJ".into(),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    })
    .await?;
    Ok(())
}

/// Drift rows inventory-sync recorded: (item, location, ours, shopify, source).
pub async fn drift(
    db: &TestDb,
    shop: &str,
) -> Result<Vec<(String, String, Option<i64>, i64, String)>> {
    let pool = db.pool().await?;
    Ok(sqlx::query_as(
        "SELECT inventory_item_id, location_id, ours, shopify, source FROM inventory.drift \
         WHERE shop = $1 ORDER BY id",
    )
    .bind(shop)
    .fetch_all(&pool)
    .await?)
}

/// inventory-sync's `Stock` API.
pub async fn stock(
    s: &InvStack,
) -> Result<pb::stock_client::StockClient<shopsync_runtime::client::AuthedChannel>> {
    let auth = shopsync_runtime::ClientAuth::new(Some(&secret())).map_err(anyhow::Error::msg)?;
    Ok(pb::stock_client::StockClient::new(
        shopsync_runtime::client::connect(&s.inventory.url(), auth).await?,
    ))
}

/// `shopsync stock …` against the stack's inventory-sync.
pub async fn stock_cli(s: &InvStack, args: &[&str]) -> Result<std::process::Output> {
    Ok(tokio::process::Command::new(bin("shopsync")?)
        .args(["--inventory-sync", &s.inventory.url(), "--token", TOKEN, "stock"])
        .args(args)
        .env_remove("SHOPSYNC_SERVICE_TOKEN")
        .output()
        .await?)
}
