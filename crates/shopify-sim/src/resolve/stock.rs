//! Stock: inventory items, their levels and named quantities at each location, locations,
//! and inventory adjustment groups with their changes.

use super::{Exec, Item, Obj, count, listed, maybe, object};
use crate::exec::time;
use crate::store::{AdjustmentGroup, Change, Location, Quantities, Variant, gid, parse_gid};
use apollo_compiler::executable::Field;
use serde_json::{Value, json};

/// The inventory quantity names Shopify knows.
const QUANTITY_NAMES: [&str; 8] = [
    "available",
    "on_hand",
    "committed",
    "reserved",
    "damaged",
    "quality_control",
    "safety_stock",
    "incoming",
];

const ITEM_EMPTY: &[&str] = &[
    "countryCodeOfOrigin",
    "countryHarmonizedSystemCodes",
    "harmonizedSystemCode",
    "provinceCodeOfOrigin",
    "unitCost",
];

/// `InventoryItem`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `inventory_item_more`.
pub(super) fn inventory_item<'a>(
    x: &mut Exec<'a>,
    v: &'a Variant,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "inventoryLevels" => super::connection(x, Obj::InventoryItem(v), f, path),
        "inventoryLevel" => {
            let loc = x.arg(f, "locationId");
            let level = loc.as_str().and_then(|g| parse_gid("Location", g)).and_then(|l| {
                Some((shop.locations.get(&l)?, shop.levels.get(&(v.inventory_item_id, l))?))
            });
            match level {
                Some((l, q)) => {
                    x.set(Obj::Level(v.inventory_item_id, l, q), &f.selection_set, path)
                }
                None => Value::Null,
            }
        }
        "id" => json!(gid("InventoryItem", v.inventory_item_id)),
        "tracked" => json!(v.tracked),
        "sku" => json!(v.sku),
        _ => return inventory_item_more(x, v, f, path),
    })
}

fn inventory_item_more<'a>(
    x: &mut Exec<'a>,
    v: &'a Variant,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let owner = x.shop.variant_of(v.inventory_item_id);
    Some(match f.name.as_str() {
        "createdAt" => json!(owner.map(|(p, _)| time(&p.created_at))),
        "updatedAt" => json!(owner.map(|(p, _)| time(&p.updated_at))),
        "legacyResourceId" => json!(v.inventory_item_id.to_string()),
        "duplicateSkuCount" => {
            let same = x.shop.products.values().flat_map(|p| &p.variants);
            json!(same.filter(|o| o.sku == v.sku && o.id != v.id).count())
        }
        "inventoryHistoryUrl" => json!(format!(
            "https://admin.shopify.com/store/{}/products/inventory/{}/inventory_history",
            x.shop.name, v.inventory_item_id
        )),
        "locationsCount" => {
            let n = x
                .shop
                .levels
                .range((v.inventory_item_id, 0)..=(v.inventory_item_id, u64::MAX))
                .count();
            count(x, n, f, path)
        }
        "measurement" => object(
            x,
            path,
            json!({ "id": gid("InventoryItemMeasurement", v.inventory_item_id), "weight": { "unit": "KILOGRAMS", "value": 0.0 } }),
            f,
        ),
        "requiresShipping" => json!(true),
        "trackedEditable" => object(x, path, json!({ "locked": false, "reason": null }), f),
        "variant" => match owner {
            Some((p, v)) => x.set(Obj::Variant(p, v), &f.selection_set, path),
            None => return None,
        },
        "variants" => {
            let items =
                owner.map(|(p, v)| Item::by_id(Obj::Variant(p, v), v.id)).into_iter().collect();
            x.connection(f, items, path)
        }
        _ => return listed(x, f, path, ITEM_EMPTY),
    })
}

/// `InventoryLevel`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `level_more`.
pub(super) fn level<'a>(
    x: &mut Exec<'a>,
    item: u64,
    l: &'a Location,
    q: &'a Quantities,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "id" => {
            json!(format!("{}?inventory_item_id={item}", gid("InventoryLevel", l.id)))
        }
        "isActive" => json!(true),
        "location" => x.set(Obj::Location(l), &f.selection_set, path),
        "item" => maybe(x, shop.variant_of(item).map(|(_, v)| Obj::InventoryItem(v)), f, path),
        "quantities" => {
            let names = x.arg(f, "names");
            let wanted: Vec<&'static str> = names
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter_map(|n| QUANTITY_NAMES.iter().copied().find(|k| *k == n))
                        .collect()
                })
                .unwrap_or_default();
            Value::Array(
                wanted
                    .into_iter()
                    .map(|n| {
                        x.set(
                            Obj::Quantity(n, q.get(n).unwrap_or(0), item, l.id),
                            &f.selection_set,
                            path,
                        )
                    })
                    .collect(),
            )
        }
        _ => return level_more(x, item, l, f, path),
    })
}

fn level_more<'a>(
    x: &mut Exec<'a>,
    item: u64,
    l: &'a Location,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let owner = x.shop.variant_of(item);
    Some(match f.name.as_str() {
        "canDeactivate" => {
            json!(
                x.shop
                    .levels
                    .get(&(item, l.id))
                    .is_none_or(|q| q.committed == 0 && q.incoming == 0)
            )
        }
        "createdAt" => json!(owner.map(|(p, _)| time(&p.created_at))),
        "updatedAt" => json!(owner.map(|(p, _)| time(&p.updated_at))),
        "deactivationAlert" => Value::Null,
        _ => return listed(x, f, path, &["scheduledChanges"]),
    })
}

/// The location's address: every simulated location is in Copenhagen.
fn location_address(l: &Location) -> Value {
    let street = format!("Nørregade {}", l.id % 90 + 1);
    json!({
        "address1": street, "address2": null, "city": "Copenhagen", "country": "Denmark",
        "countryCode": "DK", "province": null, "provinceCode": null, "zip": "1165", "phone": null,
        "latitude": 55.6794, "longitude": 12.5724,
        "formatted": [street, "1165 Copenhagen", "Denmark"],
    })
}

const LOCATION_EMPTY: &[&str] = &[
    "deactivatedAt",
    "fulfillmentService",
    "localPickupSettingsV2",
    "metafieldDefinitions",
    "suggestedAddresses",
];

/// `Location`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `location_more`.
pub(super) fn location<'a>(
    x: &mut Exec<'a>,
    l: &'a Location,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("Location", l.id)),
        "name" => json!(l.name),
        "isActive" => json!(l.active),
        _ => return location_more(x, l, f, path),
    })
}

fn location_more<'a>(
    x: &mut Exec<'a>,
    l: &'a Location,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    // Computed only for the fields that need them: a location's other fields stay cheap.
    let shop = x.shop;
    let primary = || shop.locations.keys().next() == Some(&l.id);
    let has_stock = || shop.levels.iter().any(|((_, loc), q)| *loc == l.id && q.on_hand() != 0);
    let unfulfilled = || {
        shop.orders.values().any(|o| {
            o.fulfillment_orders.iter().any(|fo| {
                fo.location_id == l.id && matches!(fo.status.as_str(), "OPEN" | "IN_PROGRESS")
            })
        })
    };
    Some(match f.name.as_str() {
        "activatable" => json!(!l.active),
        "deactivatable" => json!(l.active && !primary()),
        "deletable" => json!(!l.active),
        "address" => object(x, path, location_address(l), f),
        "addressVerified" => json!(true),
        "createdAt" | "updatedAt" => json!(time(&l.created_at)),
        "fulfillsOnlineOrders" | "shipsInventory" => json!(l.active),
        "hasActiveInventory" => json!(has_stock()),
        "hasUnfulfilledOrders" => json!(unfulfilled()),
        "isPrimary" => json!(primary()),
        "isFulfillmentService" => json!(l.fulfillment_service),
        "legacyResourceId" => json!(l.id.to_string()),
        "inventoryLevel" => {
            let item = x.arg(f, "inventoryItemId");
            let item = item.as_str().and_then(|g| crate::store::parse_gid("InventoryItem", g));
            {
                let found = item
                    .and_then(|i| x.shop.levels.get(&(i, l.id)).map(|q| (i, q)))
                    .map(|(i, q)| Obj::Level(i, l, q));
                maybe(x, found, f, path)
            }
        }
        "inventoryLevels" => {
            let shop = x.shop;
            let items = shop
                .levels
                .iter()
                .filter(|((_, loc), _)| *loc == l.id)
                .map(|((item, _), q)| Item {
                    obj: Obj::Level(*item, l, q),
                    sort: format!("{item:020}"),
                    id: *item,
                })
                .collect();
            x.connection(f, items, path)
        }
        _ => return listed(x, f, path, LOCATION_EMPTY),
    })
}

pub(super) fn adjustment_group<'a>(
    x: &mut Exec<'a>,
    g: &'a AdjustmentGroup,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("InventoryAdjustmentGroup", g.id)),
        "reason" => json!(g.reason),
        "referenceDocumentUri" => json!(g.reference_document_uri),
        "createdAt" => json!(time(&g.created_at)),
        "changes" => Value::Array(
            g.changes.iter().map(|c| x.set(Obj::Change(c), &f.selection_set, path)).collect(),
        ),
        _ => return None,
    })
}

pub(super) fn inventory_change<'a>(
    x: &mut Exec<'a>,
    c: &'a Change,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "name" => json!(c.name),
        "delta" => json!(c.delta),
        "quantityAfterChange" => json!(c.quantity_after),
        "ledgerDocumentUri" => Value::Null,
        "item" => maybe(x, shop.variant_of(c.item_id).map(|(_, v)| Obj::InventoryItem(v)), f, path),
        "location" => maybe(x, shop.locations.get(&c.location_id).map(Obj::Location), f, path),
        _ => return None,
    })
}
