//! Shopify's levels for a whole shop in one bulk operation (a handful of points for the
//! catalogue, instead of a query per level): every variant with its inventory item and the
//! item's levels. Used by SyncInventory and by a follower's first load of a shop; single levels
//! are read only again after a stale compare value ([`crate::push`]).
//!
//! Shopify writes a level on a line of its own after its variant, with `__parentId`; the
//! nearest node above the connection is the variant, but a parent naming the inventory item is
//! taken too.

use crate::error::Failure;
use futures::TryStreamExt;
use serde::Deserialize;
use shopsync_shopify::ShopifyClient;
use shopsync_shopify::bulk::BulkRecord;
use std::collections::HashMap;
use std::time::Duration;

const TEMPLATE: &str = include_str!("../graphql/bulk_levels.graphql");

/// The bulk query (comments dropped).
pub fn query() -> String {
    TEMPLATE.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n")
}

/// A level's named quantities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quantities {
    pub available: i64,
    pub on_hand: i64,
    pub committed: i64,
}

/// A variant's inventory item as Shopify has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopifyItem {
    pub variant: String,
    pub product: String,
    /// None: blank.
    pub sku: Option<String>,
    /// A bundle: Shopify computes its stock from its components; never written.
    pub bundle: bool,
    pub inventory_item: String,
    pub tracked: bool,
    /// By location gid.
    pub levels: HashMap<String, Quantities>,
}

/// The shop's variants and their levels.
#[derive(Debug, Default)]
pub struct Catalogue {
    items: Vec<ShopifyItem>,
    by_variant: HashMap<String, usize>,
    by_item: HashMap<String, usize>,
}

#[derive(Deserialize)]
struct VariantLine {
    id: String,
    #[serde(default)]
    sku: Option<String>,
    #[serde(rename = "requiresComponents", default)]
    requires_components: bool,
    #[serde(default)]
    product: Option<IdOnly>,
    #[serde(rename = "inventoryItem")]
    item: Option<ItemLine>,
}
#[derive(Deserialize)]
struct ItemLine {
    id: String,
    tracked: bool,
}
#[derive(Deserialize)]
struct LevelLine {
    location: Option<IdOnly>,
    quantities: Vec<Named>,
}
#[derive(Deserialize)]
struct IdOnly {
    id: String,
}
#[derive(Deserialize)]
struct Named {
    name: String,
    quantity: i64,
}

/// A line of the file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("bulk levels: {0}")]
pub struct BadRecord(String);

/// How a linked level stands in Shopify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Level(Quantities),
    /// The variant is gone (deleted in Shopify).
    NoVariant,
    Untracked,
    /// The variant is a bundle: its stock is its components'.
    Bundle,
    /// The item is not stocked at the location.
    NotStocked,
}

impl Found {
    /// The per-record reason of a level that cannot be synced.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Found::Level(_) => None,
            Found::NoVariant => Some("the variant no longer exists in Shopify (deleted)"),
            Found::Untracked => Some("Shopify does not track this item's inventory"),
            Found::Bundle => {
                Some("a bundle: Shopify computes its stock from its components' levels")
            }
            Found::NotStocked => Some("the item is not stocked at this Shopify location"),
        }
    }
}

impl Catalogue {
    /// Take one record of the file.
    pub fn push(&mut self, r: BulkRecord) -> Result<(), BadRecord> {
        match r.parent_id {
            None => {
                let v: VariantLine = serde_json::from_value(r.data)
                    .map_err(|e| BadRecord(format!("a variant line: {e}")))?;
                // A variant without an inventory item cannot be stocked: untracked for us.
                let (item, tracked) = v.item.map_or((String::new(), false), |i| (i.id, i.tracked));
                let i = self.items.len();
                self.by_variant.insert(v.id.clone(), i);
                if !item.is_empty() {
                    self.by_item.insert(item.clone(), i);
                }
                self.items.push(ShopifyItem {
                    variant: v.id,
                    product: v.product.map(|p| p.id).unwrap_or_default(),
                    sku: v.sku.filter(|s| !s.trim().is_empty()),
                    bundle: v.requires_components,
                    inventory_item: item,
                    tracked,
                    levels: HashMap::new(),
                });
                Ok(())
            }
            Some(parent) => {
                let i = self
                    .by_variant
                    .get(&parent)
                    .or_else(|| self.by_item.get(&parent))
                    .copied()
                    .ok_or_else(|| BadRecord(format!("a level of {parent} before its variant")))?;
                let l: LevelLine = serde_json::from_value(r.data)
                    .map_err(|e| BadRecord(format!("a level of {parent}: {e}")))?;
                let Some(loc) = l.location else { return Ok(()) };
                let mut q = Quantities::default();
                for n in l.quantities {
                    match n.name.as_str() {
                        "available" => q.available = n.quantity,
                        "on_hand" => q.on_hand = n.quantity,
                        "committed" => q.committed = n.quantity,
                        _ => {}
                    }
                }
                self.items[i].levels.insert(loc.id, q);
                Ok(())
            }
        }
    }

    pub fn variants(&self) -> usize {
        self.items.len()
    }

    /// Every variant, in the file's order.
    pub fn items(&self) -> impl Iterator<Item = &ShopifyItem> {
        self.items.iter()
    }

    pub fn by_variant(&self, gid: &str) -> Option<&ShopifyItem> {
        self.by_variant.get(gid).map(|i| &self.items[*i])
    }

    pub fn by_inventory_item(&self, gid: &str) -> Option<&ShopifyItem> {
        self.by_item.get(gid).map(|i| &self.items[*i])
    }

    /// A level of a linked variant (by variant, else by inventory item).
    pub fn find(&self, variant: Option<&str>, item: &str, location: &str) -> Found {
        let it = match variant {
            Some(v) => self.by_variant(v),
            None => self.by_inventory_item(item),
        };
        match it {
            None => Found::NoVariant,
            Some(it) if it.bundle => Found::Bundle,
            Some(it) if !it.tracked => Found::Untracked,
            Some(it) => it.levels.get(location).map_or(Found::NotStocked, |q| Found::Level(*q)),
        }
    }
}

/// Read the shop's catalogue of levels as one bulk operation.
pub async fn read(shopify: &ShopifyClient, poll: Duration) -> Result<Catalogue, Failure> {
    let mut records = Box::pin(shopify.bulk_query(&query(), poll).await?);
    let mut c = Catalogue::default();
    while let Some(r) = records.try_next().await? {
        c.push(r).map_err(|e| Failure::Unexpected(e.to_string()))?;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(id: Option<&str>, parent: Option<&str>, data: serde_json::Value) -> BulkRecord {
        BulkRecord { id: id.map(str::to_owned), parent_id: parent.map(str::to_owned), data }
    }

    #[test]
    fn levels_join_their_variant_and_missing_ones_say_why() {
        let mut c = Catalogue::default();
        let v1 = "gid://shopify/ProductVariant/1";
        c.push(rec(
            Some(v1),
            None,
            json!({"id": v1, "inventoryItem": {"id": "gid://shopify/InventoryItem/1", "tracked": true}}),
        ))
        .unwrap();
        c.push(rec(
            None,
            Some(v1),
            json!({"location": {"id": "L1"}, "quantities": [
            {"name": "available", "quantity": 3}, {"name": "on_hand", "quantity": 5},
            {"name": "committed", "quantity": 2}]}),
        ))
        .unwrap();
        let v2 = "gid://shopify/ProductVariant/2";
        c.push(rec(
            Some(v2),
            None,
            json!({"id": v2, "inventoryItem": {"id": "gid://shopify/InventoryItem/2", "tracked": false}}),
        ))
        .unwrap();
        // A parent naming the inventory item is taken too.
        c.push(rec(
            None,
            Some("gid://shopify/InventoryItem/2"),
            json!({"location": {"id": "L1"}, "quantities": []}),
        ))
        .unwrap();
        let q = Quantities { available: 3, on_hand: 5, committed: 2 };
        assert_eq!(c.find(Some(v1), "", "L1"), Found::Level(q));
        assert_eq!(c.find(None, "gid://shopify/InventoryItem/1", "L1"), Found::Level(q));
        assert_eq!(c.find(Some(v1), "", "L2"), Found::NotStocked);
        assert_eq!(c.find(Some(v2), "", "L1"), Found::Untracked);
        assert_eq!(c.find(Some("gid://shopify/ProductVariant/3"), "", "L1"), Found::NoVariant);
        let v4 = "gid://shopify/ProductVariant/4";
        c.push(rec(
            Some(v4),
            None,
            json!({"id": v4, "sku": "B-1", "requiresComponents": true, "product": {"id": "P4"},
                   "inventoryItem": {"id": "gid://shopify/InventoryItem/4", "tracked": true}}),
        ))
        .unwrap();
        assert_eq!(c.find(Some(v4), "", "L1"), Found::Bundle);
        let b = c.by_variant(v4).unwrap();
        assert_eq!((b.sku.as_deref(), b.product.as_str()), (Some("B-1"), "P4"));
        assert_eq!(c.by_variant(v1).unwrap().sku, None);
        assert!(c.push(rec(None, Some("nope"), json!({}))).is_err());
        assert!(!query().contains('#'));
    }
}
