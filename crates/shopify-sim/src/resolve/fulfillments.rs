//! Fulfillment orders, their lines and assigned locations, fulfilments, their lines and
//! tracking. What remains on a fulfillment order is fulfillable; what fulfilments took is
//! fulfilled.

use super::{Exec, Item, Obj, amount, bag, cents, listed, maybe, object};
use crate::exec::time;
use crate::store::{FoLine, Fulfillment, FulfillmentOrder, LineItem, Order, gid};
use apollo_compiler::executable::Field;
use serde_json::{Value, json};

const FO_EMPTY: &[&str] = &[
    "channelId",
    "deliveryMethod",
    "fulfillAt",
    "fulfillBy",
    "fulfillmentHolds",
    "fulfillmentOrdersForMerge",
    "internationalDuties",
    "locationsForMove",
    "merchantRequests",
    "remainingLineItemsWeight",
];

/// `FulfillmentOrder`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `fulfillment_order_more`.
pub(super) fn fulfillment_order<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    fo: &'a FulfillmentOrder,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "lineItems" => super::connection(x, Obj::Fo(o, fo), f, path),
        "id" => json!(gid("FulfillmentOrder", fo.id)),
        "status" => json!(fo.status),
        "orderId" => json!(gid("Order", o.id)),
        "orderName" => json!(o.name()),
        "order" => x.set(Obj::Order(o), &f.selection_set, path),
        "assignedLocation" => x.set(Obj::Assigned(fo.location_id), &f.selection_set, path),
        _ => return fulfillment_order_more(x, o, fo, f, path),
    })
}

fn fulfillment_order_more<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    fo: &'a FulfillmentOrder,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let open = matches!(fo.status.as_str(), "OPEN" | "IN_PROGRESS");
    Some(match f.name.as_str() {
        "createdAt" | "orderProcessedAt" => json!(time(&o.created_at)),
        "updatedAt" => json!(time(&o.updated_at)),
        "requestStatus" => json!(fo.request_status),
        "destination" => match &o.address {
            Some(a) => object(
                x,
                path,
                json!({
                    "id": gid("FulfillmentOrderDestination", fo.id),
                    "firstName": a.first_name, "lastName": a.last_name, "address1": a.address1,
                    "address2": null, "city": a.city, "zip": a.zip, "countryCode": a.country_code,
                    "province": null, "company": null, "phone": null, "email": o.email,
                    "location": null,
                }),
                f,
            ),
            None => Value::Null,
        },
        "fulfillments" => {
            let items = o
                .fulfillments
                .iter()
                .filter(|fu| fu.lines.iter().any(|(l, _)| fo.lines.iter().any(|x| x.id == *l)))
                .map(|fu| Item::by_id(Obj::Fulfillment(o, fu), fu.id))
                .collect();
            x.connection(f, items, path)
        }
        "supportedActions" => {
            let action = |a: &str| json!({ "action": a, "externalUrl": null });
            let actions: Vec<Value> = match fo.request_status.as_str() {
                _ if !open => Vec::new(),
                // Requested of the fulfillment service: the merchant can only ask it back.
                "SUBMITTED" => vec![action("REQUEST_CANCELLATION")],
                "ACCEPTED" => vec![action("CREATE_FULFILLMENT"), action("REQUEST_CANCELLATION")],
                _ => vec![action("CREATE_FULFILLMENT"), action("HOLD"), action("MOVE")],
            };
            Value::Array(actions.iter().map(|a| object(x, path, a.clone(), f)).collect())
        }
        _ => return listed(x, f, path, FO_EMPTY),
    })
}

const FO_LINE_EMPTY: &[&str] =
    &["financialSummaries", "image", "shippingLine", "warnings", "weight"];

/// `FulfillmentOrderLineItem`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `fo_line_more`.
pub(super) fn fo_line<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    l: &'a FoLine,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("FulfillmentOrderLineItem", l.id)),
        "totalQuantity" => json!(l.total),
        "remainingQuantity" => json!(l.remaining),
        "lineItem" => maybe(
            x,
            o.line_items.iter().find(|li| li.id == l.line_item_id).map(|li| Obj::LineItem(o, li)),
            f,
            path,
        ),
        "sku" => {
            json!(o.line_items.iter().find(|li| li.id == l.line_item_id).map(|li| li.sku.clone()))
        }
        _ => return fo_line_more(x, o, l, f, path),
    })
}

fn fo_line_more<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    l: &'a FoLine,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let li = o.line_items.iter().find(|li| li.id == l.line_item_id);
    let shop = x.shop;
    let variant = || {
        li.and_then(|li| li.variant_id).and_then(|v| {
            shop.products
                .values()
                .find_map(|p| p.variants.iter().find(|y| y.id == v).map(|y| (p, y)))
        })
    };
    Some(match f.name.as_str() {
        "inventoryItemId" => {
            json!(variant().map(|(_, v)| gid("InventoryItem", v.inventory_item_id)))
        }
        "originalUnitPriceSet" => bag(x, li.map_or("0.00", |li| li.price.as_str()), f),
        "productTitle" => json!(li.map(|li| li.title.clone()).unwrap_or_default()),
        "requiresShipping" => json!(true),
        "variant" => maybe(x, variant().map(|(p, v)| Obj::Variant(p, v)), f, path),
        "variantTitle" => json!(variant().map(|(_, v)| v.title.clone())),
        "vendor" => json!(variant().map(|(p, _)| p.vendor.clone())),
        _ => return listed(x, f, path, FO_LINE_EMPTY),
    })
}

const FULFILLMENT_EMPTY: &[&str] = &[
    "deliveredAt",
    "displayStatus",
    "estimatedDeliveryAt",
    "events",
    "inTransitAt",
    "originAddress",
    "service",
];

/// `Fulfillment`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `fulfillment_more`.
pub(super) fn fulfillment<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    fu: &'a Fulfillment,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "id" => json!(gid("Fulfillment", fu.id)),
        "name" => json!(fu.name),
        "status" => json!(fu.status),
        "createdAt" | "updatedAt" => json!(time(&fu.created_at)),
        "totalQuantity" => {
            json!(fu.lines.iter().map(|l| l.1).sum::<i64>())
        }
        "order" => x.set(Obj::Order(o), &f.selection_set, path),
        "location" => maybe(x, shop.locations.get(&fu.location_id).map(Obj::Location), f, path),
        "trackingInfo" => Value::Array(
            fu.tracking.iter().map(|_| x.set(Obj::Tracking(fu), &f.selection_set, path)).collect(),
        ),
        _ => return fulfillment_more(x, o, fu, f, path),
    })
}

fn fulfillment_more<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    fu: &'a Fulfillment,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "legacyResourceId" => json!(fu.id.to_string()),
        "requiresShipping" => json!(true),
        "fulfillmentLineItems" => {
            let items = fu
                .lines
                .iter()
                .filter_map(|(fo_line, q)| {
                    let line = o
                        .fulfillment_orders
                        .iter()
                        .flat_map(|fo| &fo.lines)
                        .find(|l| l.id == *fo_line)?;
                    let li = o.line_items.iter().find(|li| li.id == line.line_item_id)?;
                    Some(crate::exec::Item {
                        obj: Obj::FulfillmentLine(o, li, *q, *fo_line),
                        sort: format!("{fo_line:020}"),
                        id: *fo_line,
                    })
                })
                .collect();
            x.connection(f, items, path)
        }
        "fulfillmentOrders" => {
            let items = o
                .fulfillment_orders
                .iter()
                .filter(|fo| fo.lines.iter().any(|l| fu.lines.iter().any(|(x, _)| *x == l.id)))
                .map(|fo| Item::by_id(Obj::Fo(o, fo), fo.id))
                .collect();
            x.connection(f, items, path)
        }
        _ => return listed(x, f, path, FULFILLMENT_EMPTY),
    })
}

/// A line of a fulfilment: how many units of which line item it shipped.
pub(super) fn fulfillment_line<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    li: &'a LineItem,
    quantity: i64,
    id: u64,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let total = amount(cents(&li.price) * quantity);
    Some(match f.name.as_str() {
        "id" => json!(gid("FulfillmentLineItem", id)),
        "quantity" => json!(quantity),
        "lineItem" => x.set(Obj::LineItem(o, li), &f.selection_set, path),
        "originalTotal" | "discountedTotal" => json!(total),
        "originalTotalSet" | "discountedTotalSet" => bag(x, &total, f),
        _ => return None,
    })
}

pub(super) fn tracking(fu: &Fulfillment, f: &Field) -> Option<Value> {
    Some(match f.name.as_str() {
        "number" => json!(fu.tracking.as_ref().map(|t| t.0.clone())),
        "company" => json!(fu.tracking.as_ref().map(|t| t.1.clone())),
        "url" => json!(fu.tracking.as_ref().map(|t| t.2.clone())),
        _ => return None,
    })
}
