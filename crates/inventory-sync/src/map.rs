//! From ERP stock to Shopify levels (pure): which Shopify locations a shop feeds from which ERP
//! locations, the quantity a level gets, and the idempotency key of a write.
//!
//! **The quantity name.** We set Shopify's `on_hand` to the ERP's quantity on hand over the
//! location's filter. Both count the units physically at the location, including those
//! promised to orders not yet shipped, so Shopify derives `available = on_hand − committed −
//! unavailable` itself: stock committed to an unfulfilled Shopify order is counted once (setting
//! `available` to the ERP's on hand would add it again; the reference compared against
//! `available` and wrote `on_hand`, complaint 6.2). Placing an order moves units from
//! `available` to `committed` and leaves `on_hand` alone, so our compare-and-swap value is not
//! made stale by every sale.
//!
//! **Shipped, not yet fulfilled.** Between posting an ERP shipment of a Shopify order and its
//! fulfillment in Shopify, the units are gone from the ERP but Shopify still counts them on
//! hand and committed. We add them back (the level's `awaiting_fulfillment` for this shop) so
//! that `available` does not drop twice; when the fulfillment is created Shopify lowers
//! `on_hand` itself and our figure drops by the same units.
//!
//! **Free stock** (a mapping's `free` calculation): on hand minus what open ERP sales documents
//! of *other* channels (other shops, documents not from Shopify) reserve. The shop's own
//! orders are not subtracted: Shopify already holds them as committed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shopsync_common::shop::{LocationMapping, ShopSettings, StockCalculation};
use shopsync_proto::pb;

/// Shopify's limit on one `inventorySetQuantities`.
pub const BATCH: usize = 250;

/// One Shopify level to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushLine {
    pub inventory_item_id: String,
    pub location_id: String,
    pub item_no: String,
    pub variant_code: String,
    /// The on_hand quantity the level gets.
    pub quantity: i64,
    /// The on_hand quantity we last know Shopify has (`changeFromQuantity`); none: unknown,
    /// read before sending.
    pub compare: Option<i64>,
    /// The ERP change it comes from (feed cursor, or `reconcile:<run id>`).
    pub change: String,
}

/// One ERP level as the stock feed delivered it, in the shop's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpLevel {
    pub item_no: String,
    pub variant_code: String,
    pub location_code: String,
    /// On hand, plus the shop's units shipped and awaiting fulfillment.
    pub quantity: i64,
    /// `quantity` minus what other channels reserve (absent in pushes stored before it
    /// existed: read as `quantity`).
    #[serde(default)]
    pub free: Option<i64>,
    pub cursor: String,
}

/// The two figures of one ERP level for a shop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stock {
    pub on_hand: i64,
    pub free: i64,
}

impl ErpLevel {
    /// The level for `shop` from the ERP's figures.
    pub fn of(shop: &str, l: pb::StockLevel, cursor: String) -> Self {
        let Stock { on_hand, free } = stock_of(shop, &l);
        ErpLevel {
            item_no: l.item_no,
            variant_code: l.variant_code,
            location_code: l.location_code,
            quantity: on_hand,
            free: Some(free),
            cursor,
        }
    }

    pub fn stock(&self) -> Stock {
        Stock { on_hand: self.quantity, free: self.free.unwrap_or(self.quantity) }
    }
}

/// A level's figures for `shop`: on hand plus the shop's shipped-not-fulfilled units; free is
/// that minus what documents of other channels reserve.
pub fn stock_of(shop: &str, l: &pb::StockLevel) -> Stock {
    let mine = |qs: &[pb::ShopQuantity]| {
        qs.iter().filter(|q| q.shop == shop).map(|q| q.quantity).sum::<i64>()
    };
    let others: i64 = l.reserved.iter().filter(|q| q.shop != shop).map(|q| q.quantity).sum();
    let on_hand = l.quantity_on_hand + mine(&l.awaiting_fulfillment);
    Stock { on_hand, free: on_hand - others }
}

/// The shop's location mappings that push stock (on hand or free; disabled ones are left out).
pub fn active_mappings(settings: &ShopSettings) -> Vec<&LocationMapping> {
    settings
        .locations
        .iter()
        .filter(|m| m.stock_calculation != StockCalculation::Disabled)
        .collect()
}

/// The Shopify quantity of a level fed by `m`: the sum over its ERP locations of the figure
/// its calculation names (whole base units), negative → 0.
pub fn target(m: &LocationMapping, stock_at: impl Fn(&str) -> Stock) -> i64 {
    let pick = |s: Stock| match m.stock_calculation {
        StockCalculation::Free => s.free,
        _ => s.on_hand,
    };
    m.erp_locations().map(|l| pick(stock_at(l))).sum::<i64>().max(0)
}

/// The `@idempotent` key of one write: derived from the shop, the attempt, and each level's
/// inventory item, location, ERP change and compare/target values. The same write (a re-send
/// after a crash or a lost answer) has the same key, so Shopify applies it once; a retry after
/// a stale compare value has other values and so a new key.
pub fn idempotency_key(shop: &str, attempt: u32, lines: &[PushLine]) -> String {
    let mut h = Sha256::new();
    h.update(shop.as_bytes());
    h.update([0]);
    h.update(attempt.to_be_bytes());
    for l in lines {
        for part in [&l.inventory_item_id, &l.location_id, &l.change] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(l.compare.map_or(i64::MIN, |c| c).to_be_bytes());
        h.update(l.quantity.to_be_bytes());
    }
    let d = h.finalize();
    let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("shopsync-inv-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(filter: &str, calc: StockCalculation) -> LocationMapping {
        LocationMapping {
            shopify_location_id: "gid://shopify/Location/1".into(),
            erp_location_filter: filter.into(),
            stock_calculation: calc,
            default_erp_location: None,
        }
    }

    fn st(on_hand: i64, free: i64) -> Stock {
        Stock { on_hand, free }
    }

    #[test]
    fn a_level_sums_its_erp_locations_and_never_goes_negative() {
        let m = mapping("EAST|WEST", StockCalculation::OnHand);
        let q = |l: &str| match l {
            "EAST" => st(3, 1),
            "WEST" => st(4, 0),
            _ => st(100, 100),
        };
        assert_eq!(target(&m, q), 7);
        assert_eq!(target(&m, |l| if l == "EAST" { st(-9, -9) } else { st(4, 4) }), 0);
        let free = mapping("EAST|WEST", StockCalculation::Free);
        assert_eq!(target(&free, q), 1);
    }

    #[test]
    fn free_subtracts_other_channels_and_shipped_units_count_until_fulfilled() {
        let q = |shop: &str, quantity| pb::ShopQuantity { shop: shop.into(), quantity };
        let l = pb::StockLevel {
            quantity_on_hand: 10,
            reserved: vec![q("", 3), q("other", 2), q("s", 4)],
            awaiting_fulfillment: vec![q("s", 1), q("other", 5)],
            ..Default::default()
        };
        // Our own orders are committed in Shopify: not subtracted; our shipped units awaiting
        // fulfillment are still on hand there.
        assert_eq!(stock_of("s", &l), st(11, 6));
        assert_eq!(stock_of("other", &l), st(15, 8));
    }

    #[test]
    fn disabled_mappings_are_left_out() {
        let s = ShopSettings {
            locations: vec![
                mapping("A", StockCalculation::OnHand),
                mapping("B", StockCalculation::Free),
                mapping("C", StockCalculation::Disabled),
            ],
            ..Default::default()
        };
        assert_eq!(active_mappings(&s).len(), 2);
    }

    #[test]
    fn the_key_is_stable_for_the_same_write_and_changes_with_its_values() {
        let l = PushLine {
            inventory_item_id: "gid://shopify/InventoryItem/1".into(),
            location_id: "gid://shopify/Location/1".into(),
            item_no: "I".into(),
            variant_code: String::new(),
            quantity: 5,
            compare: Some(3),
            change: "c1".into(),
        };
        let k = idempotency_key("s", 0, std::slice::from_ref(&l));
        assert_eq!(k, idempotency_key("s", 0, std::slice::from_ref(&l)));
        assert_ne!(k, idempotency_key("s", 1, std::slice::from_ref(&l)));
        assert_ne!(k, idempotency_key("t", 0, std::slice::from_ref(&l)));
        let stale = PushLine { compare: Some(4), ..l };
        assert_ne!(k, idempotency_key("s", 0, &[stale]));
    }
}
