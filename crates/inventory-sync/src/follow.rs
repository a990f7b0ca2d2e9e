//! The continuous push: for every enabled shop with location mappings, a follower reads the
//! posting service's `Posting.StreamStockChanges` from the shop's durable cursor, maps each
//! changed ERP level to the Shopify levels it feeds (item links; the location mappings' ERP
//! filters, summed), and writes only the changed ones ([`crate::push`]).
//!
//! The cursor is per shop, not global: shops fail independently (a revoked token, a Shopify
//! outage), a new shop starts from the beginning of the feed (its first round is its initial
//! load), and no shop waits for another's writes.
//!
//! Crash safety: a round stores its planned writes (`inventory.pending_pushes`) before the
//! first request, and moves the cursor (with the ERP levels it carried) only after they are
//! done; a follower that finds a pending push re-sends exactly it, with the same idempotency
//! keys, so Shopify replays rather than re-applies it.

use crate::ShopLocks;
use crate::bulk::{Catalogue, Found};
use crate::error::Failure;
use crate::map::{self, ErpLevel, PushLine};
use crate::push::{Outcome, Pusher};
use crate::repo;
use futures::StreamExt;
use shopsync_proto::pb;
use shopsync_runtime::client::AuthedChannel;
use shopsync_runtime::shop::{ShopContext, ShopContexts};
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Changes read per round (one round's writes are ≤ this many levels per mapping).
const ROUND: u32 = 250;

pub struct Followers {
    pub contexts: Arc<ShopContexts>,
    pub shops: pb::shops_client::ShopsClient<AuthedChannel>,
    pub db: PgPool,
    pub locks: ShopLocks,
    pub poll: Duration,
    pub refresh: Duration,
}

impl Followers {
    /// Follow every enabled shop with location mappings until `shutdown` (a round in progress
    /// finishes first).
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let mut running: HashMap<String, (CancellationToken, tokio::task::JoinHandle<()>)> =
            HashMap::new();
        loop {
            match this
                .shops
                .clone()
                .list_shops(pb::ListShopsRequest { include_disabled: false })
                .await
            {
                Ok(r) => {
                    let wanted: BTreeSet<String> = r
                        .into_inner()
                        .shops
                        .into_iter()
                        .filter(|s| s.enabled)
                        .filter(|s| s.settings.as_ref().is_some_and(|st| !st.locations.is_empty()))
                        .map(|s| s.name)
                        .collect();
                    running.retain(|name, (stop, _)| {
                        let keep = wanted.contains(name);
                        if !keep {
                            stop.cancel();
                        }
                        keep
                    });
                    for name in wanted {
                        if running.contains_key(&name) {
                            continue;
                        }
                        tracing::info!(shop = %name, "following stock changes");
                        let stop = shutdown.child_token();
                        let t = tokio::spawn(this.clone().follow(name.clone(), stop.clone()));
                        running.insert(name, (stop, t));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "listing shops to follow"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(this.refresh) => {}
            }
        }
        for (_, (stop, t)) in running {
            stop.cancel();
            let _ = t.await;
        }
    }

    async fn follow(self: Arc<Self>, shop: String, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(500);
        // The first load's bulk read of Shopify's levels, kept until the feed is caught up.
        let mut first_load = None;
        while !stop.is_cancelled() {
            let wait = match self.round(&shop, &mut first_load).await {
                Ok(true) => {
                    backoff = Duration::from_millis(500);
                    continue;
                }
                Ok(false) => {
                    first_load = None;
                    self.poll
                }
                Err(e) => {
                    tracing::warn!(shop = %shop, error = %e, "stock follower round failed");
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    backoff
                }
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One round: finish a pending push, or read the next changes and push them. Whether it
    /// did anything.
    async fn round(&self, shop: &str, first_load: &mut Option<Catalogue>) -> Result<bool, Failure> {
        let ctx = self.contexts.get(shop).await?;
        let lock = self.locks.of(shop);
        let _held = lock.lock().await;
        // One replica at a time writes a shop's levels; the others wait for the next round.
        let Some(_shop_lock) = repo::lock_shop(&self.db, shop, false).await? else {
            return Ok(false);
        };
        let pusher = Pusher { shopify: &ctx.shopify, db: &self.db, shop, source: "follow" };
        let mut out = Outcome::default();
        if let Some(p) = repo::pending(&self.db, shop).await? {
            pusher.send(p.lines, &mut out).await?;
            log_errors(shop, &out);
            repo::finish(&self.db, shop, &p.cursor, &p.erp_levels).await?;
            return Ok(true);
        }
        let cursor = repo::cursor(&self.db, shop).await?;
        if cursor.is_none() && first_load.is_none() {
            // A shop's first load: Shopify's levels in one bulk read, not one query a level.
            *first_load = Some(crate::bulk::read(&ctx.shopify, FIRST_LOAD_POLL).await?);
        }
        let cursor = cursor.unwrap_or_default();
        let mut stream = ctx
            .posting
            .clone()
            .stream_stock_changes(pb::StreamRequest { cursor, limit: ROUND, ..Default::default() })
            .await
            .map_err(|s| Failure::Api("reading stock changes", s))?
            .into_inner();
        let mut changes = Vec::new();
        while let Some(c) = stream.next().await {
            let c = c.map_err(|s| Failure::Api("reading stock changes", s))?;
            let Some(level) = c.level else { continue };
            changes.push(ErpLevel::of(shop, level, c.cursor));
        }
        let Some(last) = changes.last().map(|c| c.cursor.clone()) else {
            return Ok(false);
        };
        let mut lines = plan(&ctx, &self.db, shop, &changes).await?;
        if let Some(c) = first_load.as_ref() {
            lines = from_first_load(c, shop, lines, &pusher, &mut out).await?;
        }
        let ready = pusher.prepare(lines, false, false, &mut out).await?;
        if !ready.is_empty() {
            let p = repo::Pending { cursor: last.clone(), lines: ready, erp_levels: changes };
            repo::save_pending(&self.db, shop, &p).await?;
            pusher.send(p.lines, &mut out).await?;
            changes = p.erp_levels;
        }
        log_errors(shop, &out);
        repo::finish(&self.db, shop, &last, &changes).await?;
        tracing::debug!(
            shop,
            sent = out.sent,
            unchanged = out.unchanged,
            drift = out.drift,
            "stock changes pushed"
        );
        Ok(true)
    }
}

/// How often the first load's bulk operation is asked whether it has completed.
const FIRST_LOAD_POLL: Duration = Duration::from_millis(250);

/// Lines whose level we do not know yet take Shopify's value from the first load's bulk read
/// (known from then on); untracked items and levels Shopify does not stock are left out with
/// their reason. An item the read did not see (made since) is read on its own.
async fn from_first_load(
    c: &Catalogue,
    shop: &str,
    lines: Vec<PushLine>,
    pusher: &Pusher<'_>,
    out: &mut Outcome,
) -> Result<Vec<PushLine>, Failure> {
    let mut keep = Vec::new();
    let mut reads = Vec::new();
    for l in lines {
        if l.compare.is_some() || c.by_inventory_item(&l.inventory_item_id).is_none() {
            keep.push(l);
            continue;
        }
        match c.find(None, &l.inventory_item_id, &l.location_id) {
            Found::Level(q) => reads.push((l, q.on_hand)),
            other => {
                tracing::debug!(shop, item = %l.inventory_item_id, location = %l.location_id,
                    reason = other.reason().unwrap_or_default(), "level not pushed");
                out.errors.push((l, other.reason().unwrap_or_default().to_owned()));
            }
        }
    }
    keep.extend(pusher.observe(reads, out).await?);
    Ok(keep)
}

fn log_errors(shop: &str, out: &Outcome) {
    for (l, reason) in &out.errors {
        tracing::warn!(shop, item = %l.item_no, variant = %l.variant_code,
            location = %l.location_id, reason = %reason, "inventory level not written");
    }
}

/// The Shopify levels the changes touch, with the quantity each gets and what we last knew
/// Shopify has. ERP items not linked to a variant of this shop are not its business.
async fn plan(
    ctx: &ShopContext,
    db: &PgPool,
    shop: &str,
    changes: &[ErpLevel],
) -> Result<Vec<PushLine>, Failure> {
    let mappings = map::active_mappings(&ctx.shop.settings);
    // (item, variant) -> the latest change cursor and the mappings it touches.
    let mut touched: BTreeMap<(String, String), (String, BTreeSet<usize>)> = BTreeMap::new();
    for c in changes {
        for (i, m) in mappings.iter().enumerate() {
            if m.erp_locations().any(|l| l == c.location_code) {
                let e = touched
                    .entry((c.item_no.clone(), c.variant_code.clone()))
                    .or_insert_with(|| (String::new(), BTreeSet::new()));
                e.0 = c.cursor.clone();
                e.1.insert(i);
            }
        }
    }
    if touched.is_empty() {
        return Ok(Vec::new());
    }
    let links = crate::links_by_erp(ctx, shop, touched.keys().cloned().collect()).await?;
    let items: Vec<String> =
        touched.keys().map(|(i, _)| i.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut qty = repo::erp_quantities(db, shop, &items).await?;
    for c in changes {
        qty.insert((c.item_no.clone(), c.variant_code.clone(), c.location_code.clone()), c.stock());
    }
    let mut lines = Vec::new();
    for ((item, variant), (change, maps)) in &touched {
        let Some(inv) = links.get(&(item.clone(), variant.clone())) else { continue };
        for &i in maps {
            let m = mappings[i];
            let q = map::target(m, |loc| {
                qty.get(&(item.clone(), variant.clone(), loc.to_owned()))
                    .copied()
                    .unwrap_or_default()
            });
            lines.push(PushLine {
                inventory_item_id: inv.clone(),
                location_id: m.shopify_location_id.clone(),
                item_no: item.clone(),
                variant_code: variant.clone(),
                quantity: q,
                compare: None,
                change: change.clone(),
            });
        }
    }
    let keys: Vec<(String, String)> =
        lines.iter().map(|l| (l.inventory_item_id.clone(), l.location_id.clone())).collect();
    let known = repo::known(db, shop, &keys).await?;
    for l in &mut lines {
        l.compare = known.get(&(l.inventory_item_id.clone(), l.location_id.clone())).copied();
    }
    Ok(lines)
}
