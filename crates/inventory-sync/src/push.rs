//! Writing levels to Shopify: `inventorySetQuantities` of `on_hand` in batches of ≤ 250, each
//! line's `changeFromQuantity` the value we last know Shopify has (compare-and-swap), an
//! `@idempotent` key per batch ([`crate::map::idempotency_key`]). A stale compare value: each
//! level of the batch is read again, a value that is neither ours nor the one we are sending
//! is recorded as drift, and the batch is sent again with what Shopify has.

use crate::error::Failure;
use crate::map::{BATCH, PushLine, idempotency_key};
use crate::repo;
use shopsync_shopify::{ShopifyClient, ShopifyError, documents, ops};
use sqlx::PgPool;

/// How often one batch is sent again after stale compare values before its lines are left for
/// the next round.
const ATTEMPTS: u32 = 5;

/// What a push did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Levels written.
    pub sent: u64,
    /// Levels that already had their quantity.
    pub unchanged: u64,
    pub reads: u64,
    pub mutations: u64,
    pub drift: u64,
    /// Levels that could not be written, with why (a per-record error).
    pub errors: Vec<(PushLine, String)>,
}

/// A level's on_hand quantity; none when the item is not stocked at the location (or gone).
pub async fn read_level(
    shopify: &ShopifyClient,
    item: &str,
    location: &str,
) -> Result<Option<i64>, Failure> {
    let data = shopify
        .run::<ops::InventoryLevel>(ops::inventory_level::Variables {
            item: item.to_owned(),
            location: location.to_owned(),
        })
        .await?;
    Ok(data
        .inventory_item
        .and_then(|i| i.inventory_level)
        .and_then(|l| l.quantities.into_iter().find(|q| q.name == "on_hand"))
        .map(|q| q.quantity))
}

pub struct Pusher<'a> {
    pub shopify: &'a ShopifyClient,
    pub db: &'a PgPool,
    pub shop: &'a str,
    /// `follow` or `reconcile`, kept with drift records.
    pub source: &'a str,
}

impl Pusher<'_> {
    /// Give every line a compare value: lines without one (or all, with `read_all`) are read
    /// from Shopify; a read that differs from what we knew is drift. Lines whose level already
    /// has their quantity are dropped (unless `force`). Returns the lines to send.
    pub async fn prepare(
        &self,
        lines: Vec<PushLine>,
        read_all: bool,
        force: bool,
        out: &mut Outcome,
    ) -> Result<Vec<PushLine>, Failure> {
        let mut ready = Vec::new();
        let mut read = Vec::new();
        for mut l in lines {
            if read_all || l.compare.is_none() {
                out.reads += 1;
                match read_level(self.shopify, &l.inventory_item_id, &l.location_id).await? {
                    Some(now) => {
                        if l.compare.is_some_and(|c| c != now) {
                            out.drift += 1;
                            repo::record_drift(self.db, self.shop, &l, l.compare, now, self.source)
                                .await?;
                        }
                        l.compare = Some(now);
                        read.push((l.clone(), now));
                    }
                    None => {
                        out.errors
                            .push((l, "the item is not stocked at this Shopify location".into()));
                        continue;
                    }
                }
            }
            if l.compare == Some(l.quantity) && !force {
                out.unchanged += 1;
            } else {
                ready.push(l);
            }
        }
        let known: Vec<(&PushLine, i64)> = read.iter().map(|(l, q)| (l, *q)).collect();
        repo::set_known(self.db, self.shop, &known, false).await?;
        Ok(ready)
    }

    /// Levels read in bulk: a value other than the one we knew is drift; each is known now
    /// and becomes the line's compare value.
    pub async fn observe(
        &self,
        reads: Vec<(PushLine, i64)>,
        out: &mut Outcome,
    ) -> Result<Vec<PushLine>, Failure> {
        for (l, now) in &reads {
            if l.compare.is_some_and(|c| c != *now) {
                out.drift += 1;
                repo::record_drift(self.db, self.shop, l, l.compare, *now, self.source).await?;
            }
        }
        let known: Vec<(&PushLine, i64)> = reads.iter().map(|(l, q)| (l, *q)).collect();
        repo::set_known(self.db, self.shop, &known, false).await?;
        Ok(reads
            .into_iter()
            .map(|(mut l, now)| {
                l.compare = Some(now);
                l
            })
            .collect())
    }

    /// Send `lines` (each with its compare value) in batches.
    pub async fn send(&self, lines: Vec<PushLine>, out: &mut Outcome) -> Result<(), Failure> {
        for chunk in lines.chunks(BATCH) {
            self.send_batch(chunk.to_vec(), out).await?;
        }
        Ok(())
    }

    async fn send_batch(&self, mut lines: Vec<PushLine>, out: &mut Outcome) -> Result<(), Failure> {
        let mut attempt = 0u32;
        while !lines.is_empty() {
            if attempt >= ATTEMPTS {
                for l in lines {
                    out.errors.push((
                        l,
                        "the level kept changing in Shopify; left for the next round".into(),
                    ));
                }
                return Ok(());
            }
            let key = idempotency_key(self.shop, attempt, &lines);
            use ops::inventory_set_quantities as isq;
            let input = isq::InventorySetQuantitiesInput {
                name: "on_hand".into(),
                reason: "correction".into(),
                reference_document_uri: Some(format!("shopsync://inventory/{}", self.shop)),
                quantities: lines
                    .iter()
                    .map(|l| isq::InventoryQuantityInput {
                        inventory_item_id: l.inventory_item_id.clone(),
                        location_id: l.location_id.clone(),
                        quantity: l.quantity,
                        // null: no compare value (a level we never knew and could not read).
                        change_from_quantity: l.compare,
                    })
                    .collect(),
            };
            out.mutations += 1;
            let r = self
                .shopify
                .run::<ops::InventorySetQuantities>(isq::Variables { input, key })
                .await;
            match r {
                Ok(_) => {
                    let done: Vec<(&PushLine, i64)> =
                        lines.iter().map(|l| (l, l.quantity)).collect();
                    repo::set_known(self.db, self.shop, &done, true).await?;
                    repo::record_sent(self.db, self.shop, &lines, self.source).await?;
                    out.sent += lines.len() as u64;
                    return Ok(());
                }
                Err(ShopifyError::UserErrors { errors, .. }) => {
                    // Lines Shopify refuses for themselves leave the batch with the reason;
                    // stale ones (or a key whose first attempt failed) are read again.
                    let mut bad = std::collections::BTreeMap::new();
                    let mut reread = false;
                    for e in &errors {
                        let code = e.code.as_deref().unwrap_or("");
                        if code == "CHANGE_FROM_QUANTITY_STALE"
                            || code == "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"
                        {
                            reread = true;
                            continue;
                        }
                        let index = e
                            .field
                            .as_ref()
                            .and_then(|f| f.get(2))
                            .and_then(|i| i.parse::<usize>().ok());
                        match index {
                            Some(i) if i < lines.len() => {
                                bad.insert(i, e.to_string());
                            }
                            _ => {
                                return Err(Failure::Shopify(ShopifyError::UserErrors {
                                    operation: documents::INVENTORY_SET_QUANTITIES.name,
                                    errors,
                                }));
                            }
                        }
                    }
                    let mut rest = Vec::new();
                    for (i, l) in lines.into_iter().enumerate() {
                        match bad.remove(&i) {
                            Some(reason) => out.errors.push((l, reason)),
                            None => rest.push(l),
                        }
                    }
                    lines = if reread { self.reread(rest, out).await? } else { rest };
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// After a stale compare value: each level as Shopify has it now. One that already holds
    /// what we send is done (our own earlier write); another value than we knew is drift.
    async fn reread(
        &self,
        lines: Vec<PushLine>,
        out: &mut Outcome,
    ) -> Result<Vec<PushLine>, Failure> {
        let mut again = Vec::new();
        let mut known = Vec::new();
        for mut l in lines {
            out.reads += 1;
            let Some(now) = read_level(self.shopify, &l.inventory_item_id, &l.location_id).await?
            else {
                out.errors.push((l, "the item is not stocked at this Shopify location".into()));
                continue;
            };
            if now == l.quantity {
                known.push((l, now));
                out.unchanged += 1;
                continue;
            }
            if Some(now) != l.compare {
                out.drift += 1;
                tracing::info!(shop = self.shop, item = %l.inventory_item_id, location = %l.location_id,
                    ours = ?l.compare, shopify = now, "inventory level drifted in shopify");
                repo::record_drift(self.db, self.shop, &l, l.compare, now, self.source).await?;
            }
            l.compare = Some(now);
            again.push(l);
        }
        let k: Vec<(&PushLine, i64)> = known.iter().map(|(l, q)| (l, *q)).collect();
        repo::set_known(self.db, self.shop, &k, false).await?;
        Ok(again)
    }
}
