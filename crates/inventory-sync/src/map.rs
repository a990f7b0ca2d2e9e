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
//! made stale by every sale. Known gap: between posting an ERP shipment and its Shopify
//! fulfillment the shipped units are gone from the ERP but still committed in Shopify (for that
//! window Shopify shows them as neither available nor gone); the fix is to add the units of
//! shipments awaiting fulfillment (`Posting.StreamShipmentsAwaitingFulfillment`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shopsync_common::shop::{LocationMapping, ShopSettings, StockCalculation};

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

/// One ERP level as the stock feed delivered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpLevel {
    pub item_no: String,
    pub variant_code: String,
    pub location_code: String,
    pub quantity: i64,
    pub cursor: String,
}

/// The shop's location mappings that push stock. `Free` (on hand minus what open sales
/// documents reserve) is not computed yet: such mappings are returned as skipped, since a
/// wrong quantity is worse than none.
pub fn active_mappings(settings: &ShopSettings) -> (Vec<&LocationMapping>, Vec<&LocationMapping>) {
    let mut on_hand = Vec::new();
    let mut skipped = Vec::new();
    for m in &settings.locations {
        match m.stock_calculation {
            StockCalculation::OnHand => on_hand.push(m),
            StockCalculation::Free => skipped.push(m),
            StockCalculation::Disabled => {}
        }
    }
    (on_hand, skipped)
}

/// The Shopify quantity of a level fed by `m`: the sum over its ERP locations (whole base
/// units), negative → 0.
pub fn target(m: &LocationMapping, quantity_at: impl Fn(&str) -> i64) -> i64 {
    m.erp_locations().map(quantity_at).sum::<i64>().max(0)
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

    #[test]
    fn a_level_sums_its_erp_locations_and_never_goes_negative() {
        let m = mapping("EAST|WEST", StockCalculation::OnHand);
        let q = |l: &str| match l {
            "EAST" => 3,
            "WEST" => 4,
            _ => 100,
        };
        assert_eq!(target(&m, q), 7);
        assert_eq!(target(&m, |l| if l == "EAST" { -9 } else { 4 }), 0);
    }

    #[test]
    fn free_stock_is_skipped_and_disabled_ignored() {
        let s = ShopSettings {
            locations: vec![
                mapping("A", StockCalculation::OnHand),
                mapping("B", StockCalculation::Free),
                mapping("C", StockCalculation::Disabled),
            ],
            ..Default::default()
        };
        let (on, skipped) = active_mappings(&s);
        assert_eq!((on.len(), skipped.len()), (1, 1));
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
