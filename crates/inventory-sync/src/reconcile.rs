//! SyncInventory as reconciliation: for the shop's linked variants, the ERP's stock
//! (`Erp.GetStock`) against Shopify's levels; differences are written the way the follower
//! writes them, levels Shopify holds at another value than we knew are recorded as drift, and
//! records that cannot be synced are reported with their reason (never a failed run).
//!
//! Options: `skip_import` trusts the values we last know Shopify has (a stale one is still
//! caught by the compare-and-swap and read then); `variant_ids` limits the run to those
//! variants; `force` writes even equal quantities. Shopify's levels are read one level at a
//! time for now; the bulk query is the next step for large catalogs.

use crate::error::Failure;
use crate::map::{self, PushLine};
use crate::push::{Outcome, Pusher};
use crate::repo;
use shopsync_common::params::SyncInventory;
use shopsync_common::report::{RecordError, RunReport};
use shopsync_proto::pb;
use shopsync_runtime::shop::ShopContext;
use shopsync_runtime::worker::RunContext;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};

pub async fn run(
    ctx: &RunContext,
    shop: &ShopContext,
    db: &PgPool,
    locks: &crate::ShopLocks,
    p: &SyncInventory,
) -> Result<RunReport, Failure> {
    let name = shop.shop.name.as_str();
    let mut report = RunReport::default();
    let (mappings, skipped) = map::active_mappings(&shop.shop.settings);
    for m in skipped {
        report.record_error(RecordError {
            record: format!("Shopify location {}", m.shopify_location_id),
            reason: "stock calculation 'free' is not computed yet; the location is not synced"
                .into(),
            retryable: false,
        });
    }
    let links = item_links(shop, name).await?;
    let mut lines = Vec::new();
    let mut stock: HashMap<String, BTreeMap<(String, String), i64>> = HashMap::new();
    for l in links {
        if !p.variant_ids.is_empty() && !p.variant_ids.contains(&l.shopify_id) {
            continue;
        }
        report.count("variants", 1);
        if l.shopify_inventory_item_id.is_empty() {
            report.record_error(RecordError {
                record: format!("variant {} (item {})", l.shopify_id, l.erp_id),
                reason: "the link has no inventory item: link the variant again".into(),
                retryable: false,
            });
            continue;
        }
        if !stock.contains_key(&l.erp_id) {
            let levels = shop
                .erp
                .clone()
                .get_stock(pb::GetStockRequest {
                    item_no: l.erp_id.clone(),
                    location_code: String::new(),
                })
                .await;
            let levels = match levels {
                Ok(r) => r.into_inner().levels,
                Err(s) if s.code() == tonic::Code::NotFound => {
                    report.record_error(RecordError {
                        record: format!("variant {} (item {})", l.shopify_id, l.erp_id),
                        reason: "the ERP item does not exist".into(),
                        retryable: false,
                    });
                    continue;
                }
                Err(s) => return Err(Failure::Api("reading ERP stock", s)),
            };
            stock.insert(
                l.erp_id.clone(),
                levels
                    .into_iter()
                    .map(|s| ((s.variant_code, s.location_code), s.quantity_on_hand))
                    .collect(),
            );
        }
        let of_item = &stock[&l.erp_id];
        for m in &mappings {
            let q = map::target(m, |loc| {
                of_item.get(&(l.erp_variant.clone(), loc.to_owned())).copied().unwrap_or(0)
            });
            lines.push(PushLine {
                inventory_item_id: l.shopify_inventory_item_id.clone(),
                location_id: m.shopify_location_id.clone(),
                item_no: l.erp_id.clone(),
                variant_code: l.erp_variant.clone(),
                quantity: q,
                compare: None,
                change: format!("reconcile:{}", ctx.run_id),
            });
        }
    }
    let keys: Vec<(String, String)> =
        lines.iter().map(|l| (l.inventory_item_id.clone(), l.location_id.clone())).collect();
    let known = repo::known(db, name, &keys).await?;
    for l in &mut lines {
        l.compare = known.get(&(l.inventory_item_id.clone(), l.location_id.clone())).copied();
    }
    let lock = locks.of(name);
    let _held = lock.lock().await;
    // Across replicas too (a follower's round is short: wait for it).
    let _shop_lock = repo::lock_shop(db, name, true).await?;
    let pusher = Pusher { shopify: &shop.shopify, db, shop: name, source: "reconcile" };
    let mut out = Outcome::default();
    let ready = pusher.prepare(lines, !p.skip_import, p.force, &mut out).await?;
    pusher.send(ready, &mut out).await?;
    report.count("levels_read", out.reads as i64);
    report.count("levels_sent", out.sent as i64);
    report.count("levels_unchanged", out.unchanged as i64);
    report.count("mutations", out.mutations as i64);
    report.count("drift", out.drift as i64);
    for (l, reason) in out.errors {
        report.record_error(RecordError {
            record: format!(
                "item {}{} at {}",
                l.item_no,
                if l.variant_code.is_empty() {
                    String::new()
                } else {
                    format!("/{}", l.variant_code)
                },
                l.location_id
            ),
            reason,
            retryable: false,
        });
    }
    Ok(report)
}

/// Every item link of the shop.
async fn item_links(shop: &ShopContext, name: &str) -> Result<Vec<pb::Link>, Failure> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let r = shop
            .shops
            .clone()
            .list_links(pb::ListLinksRequest {
                shop: name.to_owned(),
                kind: pb::LinkKind::Item as i32,
                page_size: 1000,
                after: after.clone(),
            })
            .await
            .map_err(|s| Failure::Api("listing item links", s))?
            .into_inner();
        out.extend(r.links);
        if r.next_after.is_empty() {
            return Ok(out);
        }
        after = r.next_after;
    }
}
