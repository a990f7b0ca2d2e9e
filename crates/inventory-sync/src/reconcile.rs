//! SyncInventory as reconciliation: for the shop's linked variants, the ERP's stock (one
//! snapshot of the stock feed, or `Erp.GetStock` per item for some variants) against
//! Shopify's levels; differences are written the way the follower
//! writes them, levels Shopify holds at another value than we knew are recorded as drift, and
//! records that cannot be synced are reported with their reason (never a failed run).
//!
//! Options: `skip_import` trusts the values we last know Shopify has (a stale one is still
//! caught by the compare-and-swap and read then); `variant_ids` limits the run to those
//! variants; `force` writes even equal quantities; `dry_run` computes the same differences and
//! writes nothing (each level it would change is a record: ERP value, Shopify value, reason).
//! Shopify's levels are read in one bulk operation ([`crate::bulk`]); variants deleted in
//! Shopify, untracked items, bundles and items not stocked at a mapped location are records
//! with their reason. A whole-catalogue run that read Shopify also links variants by SKU and
//! reports Shopify locations no mapping names ([`crate::discover`]). The plan is built,
//! compared and written a page of links at a time, so memory stays flat with the catalogue.

use crate::bulk;
use crate::discover;
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
use std::collections::{BTreeMap, HashMap, HashSet};

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

/// Levels of a shop's linked variants: what each should hold, what Shopify has (read in
/// bulk; none when not read), and the records that cannot be synced with why.
pub struct Planned {
    /// Each line's `compare` is the value we last knew.
    pub lines: Vec<(PushLine, Option<i64>)>,
    pub unsynced: Vec<RecordError>,
}

/// Links asked for per page, and so the levels planned and written per chunk (two mapped
/// locations: twice as many). A run holds the ERP's stock and Shopify's levels for the whole
/// catalogue, but builds, compares and writes the lines a chunk at a time.
const CHUNK: u32 = 1_000;

/// One item's ERP figures by (variant, location).
type ItemStock = BTreeMap<(String, String), map::Stock>;

/// A reconciliation planned a chunk of links at a time: the ERP's stock for every linked
/// variant (or those in `p`), and Shopify's levels in one bulk read unless `p.skip_import` and
/// every level of the catalogue is known.
pub struct Planner<'a> {
    shop: &'a ShopContext,
    db: &'a PgPool,
    p: &'a SyncInventory,
    change: String,
    /// A whole-catalogue run: the ERP's stock of the linked items, read as one snapshot.
    snapshot: Option<HashMap<String, ItemStock>>,
    catalogue: Option<bulk::Catalogue>,
    /// The next page of links; none when every page has been planned.
    after: Option<String>,
    /// Variants of the pages planned so far (those not in it may be linked by SKU).
    linked: HashSet<String>,
    /// Whether variants were matched by SKU (after the last page).
    discovered: bool,
    /// Records to report with the next chunk (unmapped Shopify locations).
    pending: Vec<RecordError>,
    pub variants: i64,
    /// Variants linked by SKU in this run (a dry run: that would be).
    pub linked_by_sku: i64,
}

impl<'a> Planner<'a> {
    pub async fn new(
        shop: &'a ShopContext,
        db: &'a PgPool,
        p: &'a SyncInventory,
        change: &str,
    ) -> Result<Self, Failure> {
        let mut planner = Planner {
            shop,
            db,
            p,
            change: change.to_owned(),
            snapshot: None,
            catalogue: None,
            after: Some(String::new()),
            linked: HashSet::new(),
            discovered: false,
            pending: Vec::new(),
            variants: 0,
            linked_by_sku: 0,
        };
        if p.variant_ids.is_empty() {
            planner.snapshot = Some(planner.erp_snapshot().await?);
        }
        if !p.skip_import || p.dry_run {
            planner.read_shopify().await?;
        }
        Ok(planner)
    }

    /// Whether Shopify was read (in bulk).
    pub fn read(&self) -> bool {
        self.catalogue.is_some()
    }

    /// Shopify's levels in bulk, and its locations no mapping names (a whole-catalogue run).
    async fn read_shopify(&mut self) -> Result<(), Failure> {
        self.catalogue = Some(bulk::read(&self.shop.shopify, BULK_POLL).await?);
        if self.p.variant_ids.is_empty() {
            self.pending.extend(discover::unmapped_locations(self.shop).await?);
        }
        Ok(())
    }

    /// The links of the next chunk: a page of the shop's links, then (a whole-catalogue run
    /// that read Shopify) the variants matched by SKU; none when done.
    async fn next_links(&mut self) -> Result<Option<Vec<pb::Link>>, Failure> {
        if let Some(after) = self.after.take() {
            let name = self.shop.shop.name.as_str();
            let (links, next) = links_page(self.shop, name, after).await?;
            self.after = next;
            if self.p.variant_ids.is_empty() {
                self.linked.extend(links.iter().map(|l| l.shopify_id.clone()));
            }
            return Ok(Some(links));
        }
        if self.discovered || !self.p.variant_ids.is_empty() {
            return Ok(None);
        }
        self.discovered = true;
        let Some(catalogue) = self.catalogue.as_ref() else { return Ok(None) };
        let found =
            discover::links_by_sku(self.shop, catalogue, &self.linked, !self.p.dry_run).await?;
        self.linked = HashSet::new();
        self.pending.extend(found.records);
        self.linked_by_sku = found.links.len() as i64;
        for l in &found.links {
            if let Some(stock) = self.snapshot.as_mut() {
                // Not in the snapshot's linked items: read on its own.
                if !stock.contains_key(&l.erp_id)
                    && let Some(levels) = erp_stock(self.shop, &l.erp_id).await?
                {
                    stock.insert(l.erp_id.clone(), levels);
                }
            }
        }
        Ok(Some(found.links))
    }

    /// A whole-catalogue run reads the ERP's stock in one streamed read (its stock feed from
    /// the start has every level once, at its quantity now) instead of one call per item,
    /// keeping the levels of linked items only.
    async fn erp_snapshot(&self) -> Result<HashMap<String, ItemStock>, Failure> {
        let name = self.shop.shop.name.as_str();
        let mut linked: HashMap<String, ItemStock> = HashMap::new();
        let mut after = Some(String::new());
        while let Some(a) = after {
            let (links, next) = links_page(self.shop, name, a).await?;
            for l in links {
                linked.entry(l.erp_id).or_default();
            }
            after = next;
        }
        let mut feed = self
            .shop
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
            if let Some(levels) = linked.get_mut(&l.item_no) {
                let figures = map::stock_of(name, &l);
                levels.insert((l.variant_code, l.location_code), figures);
            }
        }
        Ok(linked)
    }

    /// The next chunk of the plan; none when done.
    pub async fn next(&mut self) -> Result<Option<Planned>, Failure> {
        let Some(links) = self.next_links().await? else { return Ok(None) };
        let name = self.shop.shop.name.as_str();
        let mappings = map::active_mappings(&self.shop.shop.settings);
        let mut unsynced = std::mem::take(&mut self.pending);
        let mut lines = Vec::new();
        let mut per_item: HashMap<String, ItemStock> = HashMap::new();
        for l in links {
            if !self.p.variant_ids.is_empty() && !self.p.variant_ids.contains(&l.shopify_id) {
                continue;
            }
            self.variants += 1;
            if l.shopify_inventory_item_id.is_empty() {
                unsynced.push(RecordError {
                    record: format!("variant {} (item {})", l.shopify_id, l.erp_id),
                    reason: "the link has no inventory item: link the variant again".into(),
                    retryable: false,
                });
                continue;
            }
            let of_item = match self.snapshot.as_ref().and_then(|s| s.get(&l.erp_id)) {
                Some(levels) => levels,
                None => {
                    if !per_item.contains_key(&l.erp_id) {
                        match erp_stock(self.shop, &l.erp_id).await? {
                            Some(levels) => per_item.insert(l.erp_id.clone(), levels),
                            None => {
                                unsynced.push(RecordError {
                                    record: format!("variant {} (item {})", l.shopify_id, l.erp_id),
                                    reason: "the ERP item does not exist".into(),
                                    retryable: false,
                                });
                                continue;
                            }
                        };
                    }
                    &per_item[&l.erp_id]
                }
            };
            for m in &mappings {
                let q = map::target(m, |loc| {
                    of_item
                        .get(&(l.erp_variant.clone(), loc.to_owned()))
                        .copied()
                        .unwrap_or_default()
                });
                let line = PushLine {
                    inventory_item_id: l.shopify_inventory_item_id.clone(),
                    location_id: m.shopify_location_id.clone(),
                    item_no: l.erp_id.clone(),
                    variant_code: l.erp_variant.clone(),
                    quantity: q,
                    compare: None,
                    change: self.change.clone(),
                };
                lines.push((line, l.shopify_id.clone()));
            }
        }
        let keys: Vec<(String, String)> = lines
            .iter()
            .map(|(l, _)| (l.inventory_item_id.clone(), l.location_id.clone()))
            .collect();
        let known = repo::known(self.db, name, &keys).await?;
        for (l, _) in &mut lines {
            l.compare = known.get(&(l.inventory_item_id.clone(), l.location_id.clone())).copied();
        }
        if self.catalogue.is_none() && lines.iter().any(|(l, _)| l.compare.is_none()) {
            // skip_import, but a level we never knew: read Shopify after all (once).
            self.read_shopify().await?;
            unsynced.append(&mut self.pending);
        }
        let Some(catalogue) = self.catalogue.as_ref() else {
            let lines = lines.into_iter().map(|(l, _)| (l, None)).collect();
            return Ok(Some(Planned { lines, unsynced }));
        };
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
        Ok(Some(Planned { lines: out, unsynced }))
    }
}

/// The whole plan at once (a preview: `Stock.Diff`).
pub async fn plan(
    shop: &ShopContext,
    db: &PgPool,
    p: &SyncInventory,
    change: &str,
) -> Result<Planned, Failure> {
    let mut planner = Planner::new(shop, db, p, change).await?;
    let mut all = Planned { lines: Vec::new(), unsynced: Vec::new() };
    while let Some(mut chunk) = planner.next().await? {
        all.lines.append(&mut chunk.lines);
        all.unsynced.append(&mut chunk.unsynced);
    }
    Ok(all)
}

/// One item's ERP stock (a run for some variants); none when the item does not exist.
async fn erp_stock(shop: &ShopContext, item: &str) -> Result<Option<ItemStock>, Failure> {
    let name = shop.shop.name.as_str();
    let levels = shop
        .erp
        .clone()
        .get_stock(pb::GetStockRequest { item_no: item.to_owned(), location_code: String::new() })
        .await;
    match levels {
        Ok(r) => Ok(Some(
            r.into_inner()
                .levels
                .into_iter()
                .map(|s| {
                    let figures = map::stock_of(name, &s);
                    ((s.variant_code, s.location_code), figures)
                })
                .collect(),
        )),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(Failure::Api("reading ERP stock", s)),
    }
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
    let mut planner = Planner::new(shop, db, p, &format!("reconcile:{}", ctx.run_id)).await?;
    if p.dry_run {
        // A preview: the same differences, nothing written (no mutation, no state).
        let (mut to_change, mut unchanged) = (0, 0);
        while let Some(chunk) = planner.next().await? {
            let (diffs, same) = differences(&chunk, p.force);
            to_change += diffs.len() as i64;
            unchanged += same as i64;
            for e in chunk.unsynced {
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
        }
        report.count("variants", planner.variants);
        report.count("bulk_reads", i64::from(planner.read()));
        report.count("variants_linked_by_sku", planner.linked_by_sku);
        report.count("levels_to_change", to_change);
        report.count("levels_unchanged", unchanged);
        report.count("mutations", 0);
        return Ok(report);
    }
    let lock = locks.of(name);
    let _held = lock.lock().await;
    // Across replicas too (a follower's round is short: wait for it).
    let _shop_lock = repo::lock_shop(db, name, true).await?;
    let pusher = Pusher { shopify: &shop.shopify, db, shop: name, source: "reconcile" };
    let mut out = Outcome::default();
    let mut read = 0;
    let mut ready = Vec::new();
    while let Some(chunk) = planner.next().await? {
        for e in chunk.unsynced {
            report.record_error(e);
        }
        let mut lines = Vec::new();
        let mut reads = Vec::new();
        for (l, shopify) in chunk.lines {
            match shopify {
                Some(now) => reads.push((l, now)),
                None => lines.push(l),
            }
        }
        read += reads.len() as i64;
        lines.extend(pusher.observe(reads, &mut out).await?);
        ready.extend(pusher.prepare(lines, false, p.force, &mut out).await?);
        // Full batches go now; a rest waits for the next chunk's lines, so a few changes
        // spread over the catalogue still take one mutation per 250 levels.
        let full = ready.len() - ready.len() % map::BATCH;
        if full > 0 {
            let rest = ready.split_off(full);
            pusher.send(std::mem::replace(&mut ready, rest), &mut out).await?;
        }
    }
    pusher.send(ready, &mut out).await?;
    report.count("variants", planner.variants);
    report.count("bulk_reads", i64::from(planner.read()));
    report.count("variants_linked_by_sku", planner.linked_by_sku);
    report.count("levels_read", read);
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

/// One page of the shop's item links and the cursor of the next (none: the last page).
async fn links_page(
    shop: &ShopContext,
    name: &str,
    after: String,
) -> Result<(Vec<pb::Link>, Option<String>), Failure> {
    let r = shop
        .shops
        .clone()
        .list_links(pb::ListLinksRequest {
            shop: name.to_owned(),
            kind: pb::LinkKind::Item as i32,
            page_size: CHUNK,
            after,
        })
        .await
        .map_err(|s| Failure::Api("listing item links", s))?
        .into_inner();
    let next = (!r.next_after.is_empty()).then_some(r.next_after);
    Ok((r.links, next))
}
