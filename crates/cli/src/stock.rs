//! `shopsync stock`: inventory-sync's `Stock` API — what a reconciliation would change (a
//! preview that writes nothing), the drift list, and one level's history.

use crate::{print_json, rpc};
use anyhow::Result;
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use shopsync_proto::pb;
use shopsync_runtime::client::AuthedChannel;

pub type StockClient = pb::stock_client::StockClient<AuthedChannel>;

#[derive(Subcommand)]
pub enum Stock {
    /// The levels a sync-inventory run would change now (ERP value, Shopify value, reason);
    /// writes nothing.
    Diff {
        #[arg(long)]
        shop: String,
    },
    /// Levels found in Shopify at another value than we last knew, newest first.
    Drift {
        #[arg(long)]
        shop: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// What was sent to and seen at one level, newest first.
    History {
        #[arg(long)]
        shop: String,
        /// The inventory item (gid://shopify/InventoryItem/…).
        #[arg(long)]
        item: String,
        /// The Shopify location (gid://shopify/Location/…).
        #[arg(long)]
        location: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn at(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map_or_else(String::new, |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

pub async fn stock(c: &mut StockClient, cmd: &Stock, json: bool) -> Result<()> {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    match cmd {
        Stock::Diff { shop } => {
            let r = c.diff(pb::DiffRequest { shop: shop.clone() }).await.map_err(rpc)?.into_inner();
            if json {
                print_json(&r);
                return Ok(());
            }
            t.set_header(["ITEM", "LOCATION", "INVENTORY ITEM", "ERP", "SHOPIFY", "REASON"]);
            for d in &r.differences {
                let item = if d.variant_code.is_empty() {
                    d.item_no.clone()
                } else {
                    format!("{}/{}", d.item_no, d.variant_code)
                };
                t.add_row([
                    item,
                    d.location_id.clone(),
                    d.inventory_item_id.clone(),
                    d.erp_quantity.to_string(),
                    d.shopify_quantity.to_string(),
                    d.reason.clone(),
                ]);
            }
            out!("{t}");
            out!("{} to change, {} unchanged", r.differences.len(), r.unchanged);
            for u in &r.unsynced {
                out!("not synced: {}: {}", u.record, u.reason);
            }
        }
        Stock::Drift { shop, limit } => {
            let r = c
                .list_drift(pb::ListDriftRequest { shop: shop.clone(), limit: *limit })
                .await
                .map_err(rpc)?
                .into_inner();
            if json {
                print_json(&r.drift);
                return Ok(());
            }
            t.set_header(["SEEN", "INVENTORY ITEM", "LOCATION", "OURS", "SHOPIFY", "SOURCE"]);
            for d in &r.drift {
                t.add_row([
                    at(&d.seen_at),
                    d.inventory_item_id.clone(),
                    d.location_id.clone(),
                    opt(d.ours),
                    d.shopify.to_string(),
                    d.source.clone(),
                ]);
            }
            out!("{t}");
        }
        Stock::History { shop, item, location, limit } => {
            let r = c
                .get_level_history(pb::GetLevelHistoryRequest {
                    shop: shop.clone(),
                    inventory_item_id: item.clone(),
                    location_id: location.clone(),
                    limit: *limit,
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json {
                print_json(&r.events);
                return Ok(());
            }
            t.set_header(["AT", "KIND", "QUANTITY", "COMPARE", "CHANGE", "SOURCE"]);
            for e in &r.events {
                t.add_row([
                    at(&e.at),
                    e.kind.clone(),
                    e.quantity.to_string(),
                    opt(e.compare),
                    e.change.clone(),
                    e.source.clone(),
                ]);
            }
            out!("{t}");
        }
    }
    Ok(())
}
