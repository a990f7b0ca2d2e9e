//! SyncInventory as reconciliation: for the shop's linked variants, the ERP's stock
//! (`Erp.GetStock`) against Shopify's levels; differences are written the way the follower
//! writes them, levels Shopify holds at another value than we knew are recorded as drift, and
//! records that cannot be synced are reported with their reason (never a failed run).
//!
//! Options: `skip_import` trusts the values we last know Shopify has (a stale one is still
//! caught by the compare-and-swap and read then); `variant_ids` limits the run to those
//! variants; `force` writes even equal quantities; `dry_run` computes the same differences and
//! writes nothing (each level it would change is a record: ERP value, Shopify value, reason).
//! Shopify's levels are read in one bulk operation ([`crate::bulk`]); variants deleted in
//! Shopify, untracked items and items not stocked at a mapped location are records with their
//! reason.

use crate::bulk;
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

/// A level the run would change (a dry run's record, `Stock.Diff`'s answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub line: PushLine,
    /// What the ERP says the level should hold (on_hand).
    pub erp: i64,
    /// What Shopify has (on_hand).
    pub shopify: i64,
    pub reason: String,
}

/// The levels of a shop's linked variants: what each should hold, what Shopify has (read in
/// bulk), and the records that cannot be synced with why.
pub struct Planned {
    /// Each line's `compare` is the value we last knew.
    pub lines: Vec<(PushLine, Option<i64>)>,
    pub unsynced: Vec<RecordError>,
    pub variants: i64,
    /// Whether Shopify was read (in bulk).
    pub read: bool,
}

/// Plan a reconciliation of `name`: ERP stock for every linked variant (or those in `p`),
/// and Shopify's levels in one bulk read unless `p.skip_import` and every level is known.
pub async fn plan(
    shop: &ShopContext,
    db: &PgPool,
    p: &SyncInventory,
    change: &str,
) -> Result<Planned, Failure> {
    let name = shop.shop.name.as_str();
    let mut unsynced = Vec::new();
    let mappings = map::active_mappings(&shop.shop.settings);
    let links = item_links(shop, name).await?;
    let mut lines = Vec::new();
    let mut variants = 0;
    let mut stock: HashMap<String, BTreeMap<(String, String), map::Stock>> = HashMap::new();
    // A whole-catalogue run reads the ERP's stock in one streamed read (its stock feed from the
    // start has every level once, at its quantity now) instead of one call per item; a run
    // for some variants asks for their items only.
    let wanted = links
        .iter()
        .filter(|l| p.variant_ids.is_empty() || p.variant_ids.contains(&l.shopify_id))
        .map(|l| l.erp_id.as_str())
        .collect::<std::collections::HashSet<_>>();
    let snapshot = p.variant_ids.is_empty();
    if snapshot {
        let mut feed = shop
            .posting
            .clone()
            .stream_stock_changes(pb::StreamRequest::default())
            .await
            .map_err(|s| Failure::Api("reading ERP stock", s))?
            .into_inner();
        while let Some(c) =
            feed.message().await.map_err(|s| Failure::Api("reading ERP stock", s))?
        {
            let Some(l) = c.level else { continue };
            if wanted.contains(l.item_no.as_str()) {
                let figures = map::stock_of(name, &l);
                stock
                    .entry(l.item_no)
                    .or_default()
                    .insert((l.variant_code, l.location_code), figures);
            }
        }
    }
    for l in links {
        if !p.variant_ids.is_empty() && !p.variant_ids.contains(&l.shopify_id) {
            continue;
        }
        variants += 1;
        if l.shopify_inventory_item_id.is_empty() {
            unsynced.push(RecordError {
                record: format!("variant {} (item {})", l.shopify_id, l.erp_id),
                reason: "the link has no inventory item: link the variant again".into(),
                retryable: false,
            });
            continue;
        }
        if snapshot && !stock.contains_key(&l.erp_id) {
            // No ledger entry at all: nothing in stock anywhere.
            stock.insert(l.erp_id.clone(), BTreeMap::new());
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
                    unsynced.push(RecordError {
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
                    .map(|s| {
                        let figures = map::stock_of(name, &s);
                        ((s.variant_code, s.location_code), figures)
                    })
                    .collect(),
            );
        }
        let of_item = &stock[&l.erp_id];
        for m in &mappings {
            let q = map::target(m, |loc| {
                of_item.get(&(l.erp_variant.clone(), loc.to_owned())).copied().unwrap_or_default()
            });
            let line = PushLine {
                inventory_item_id: l.shopify_inventory_item_id.clone(),
                location_id: m.shopify_location_id.clone(),
                item_no: l.erp_id.clone(),
                variant_code: l.erp_variant.clone(),
                quantity: q,
                compare: None,
                change: change.to_owned(),
            };
            lines.push((line, l.shopify_id.clone()));
        }
    }
    let keys: Vec<(String, String)> =
        lines.iter().map(|(l, _)| (l.inventory_item_id.clone(), l.location_id.clone())).collect();
    let known = repo::known(db, name, &keys).await?;
    for (l, _) in &mut lines {
        l.compare = known.get(&(l.inventory_item_id.clone(), l.location_id.clone())).copied();
    }
    let read = !p.skip_import || p.dry_run || lines.iter().any(|(l, _)| l.compare.is_none());
    if !read {
        let lines = lines.into_iter().map(|(l, _)| (l, None)).collect();
        return Ok(Planned { lines, unsynced, variants, read });
    }
    let catalogue = bulk::read(&shop.shopify, BULK_POLL).await?;
    let mut out = Vec::new();
    for (l, variant) in lines {
        match catalogue.find(Some(&variant), &l.inventory_item_id, &l.location_id) {
            bulk::Found::Level(q) => out.push((l, Some(q.on_hand))),
            other => unsynced.push(RecordError {
                record: record_of(&l),
                reason: other.reason().unwrap_or_default().to_owned(),
                retryable: false,
            }),
        }
    }
    Ok(Planned { lines: out, unsynced, variants, read })
}

/// How often a bulk operation is asked whether it has completed.
pub const BULK_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// The levels a plan would change, with why (`force`: equal ones too).
pub fn differences(planned: &Planned, force: bool) -> (Vec<Difference>, u64) {
    let mut out = Vec::new();
    let mut unchanged = 0;
    for (l, shopify) in &planned.lines {
        let Some(now) = shopify.or(l.compare) else { continue };
        if now == l.quantity && !force {
            unchanged += 1;
            continue;
        }
        let reason = match l.compare {
            None => "never synced: Shopify's value is not the ERP's".to_owned(),
            Some(k) if k != now => {
                format!(
                    "changed in Shopify since we last knew it ({k}): the ERP's value is put back"
                )
            }
            Some(_) if now == l.quantity => "forced: written although equal".to_owned(),
            Some(_) => "the ERP's stock changed".to_owned(),
        };
        out.push(Difference { line: l.clone(), erp: l.quantity, shopify: now, reason });
    }
    (out, unchanged)
}

pub async fn run(
    ctx: &RunContext,
    shop: &ShopContext,
    db: &PgPool,
    locks: &crate::ShopLocks,
    p: &SyncInventory,
) -> Result<RunReport, Failure> {
    let name = shop.shop.name.as_str();
    let mut report = RunReport::default();
    let planned = plan(shop, db, p, &format!("reconcile:{}", ctx.run_id)).await?;
    report.count("variants", planned.variants);
    if planned.read {
        report.count("bulk_reads", 1);
    }
    if p.dry_run {
        // A preview: the same differences, nothing written (no mutation, no state).
        let (diffs, unchanged) = differences(&planned, p.force);
        report.count("levels_to_change", diffs.len() as i64);
        report.count("levels_unchanged", unchanged as i64);
        report.count("mutations", 0);
        for e in planned.unsynced {
            report.record_error(e);
        }
        for d in diffs {
            report.record_error(RecordError {
                record: record_of(&d.line),
                reason: format!(
                    "would set on_hand {} (Shopify has {}): {}",
                    d.erp, d.shopify, d.reason
                ),
                retryable: false,
            });
        }
        return Ok(report);
    }
    for e in planned.unsynced {
        report.record_error(e);
    }
    let lock = locks.of(name);
    let _held = lock.lock().await;
    // Across replicas too (a follower's round is short: wait for it).
    let _shop_lock = repo::lock_shop(db, name, true).await?;
    let pusher = Pusher { shopify: &shop.shopify, db, shop: name, source: "reconcile" };
    let mut out = Outcome::default();
    let mut lines = Vec::new();
    let mut reads = Vec::new();
    for (l, shopify) in planned.lines {
        match shopify {
            Some(now) => reads.push((l, now)),
            None => lines.push(l),
        }
    }
    report.count("levels_read", reads.len() as i64);
    lines.extend(pusher.observe(reads, &mut out).await?);
    let ready = pusher.prepare(lines, false, p.force, &mut out).await?;
    pusher.send(ready, &mut out).await?;
    report.count("levels_read_again", out.reads as i64);
    report.count("levels_sent", out.sent as i64);
    report.count("levels_unchanged", out.unchanged as i64);
    report.count("mutations", out.mutations as i64);
    report.count("drift", out.drift as i64);
    for (l, reason) in out.errors {
        report.record_error(RecordError { record: record_of(&l), reason, retryable: false });
    }
    Ok(report)
}

/// A level as a user finds it: `item I-1/V at gid://shopify/Location/1`.
pub fn record_of(l: &PushLine) -> String {
    format!(
        "item {}{} at {}",
        l.item_no,
        if l.variant_code.is_empty() { String::new() } else { format!("/{}", l.variant_code) },
        l.location_id
    )
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
