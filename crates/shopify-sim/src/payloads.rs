//! The REST-shaped bodies webhooks carry (snake_case, numeric ids, `admin_graphql_api_id`):
//! customers, companies, products, orders, refunds and inventory levels.

use crate::money;
use crate::store::{self, AdjustmentGroup, Change, Shop};
use serde_json::{Value, json};

/// A customer as webhooks carry it (REST-shaped, snake_case, numeric ids).
pub(crate) fn customer(c: &store::Customer) -> Value {
    json!({
        "id": c.id,
        "email": c.email,
        "phone": (!c.phone.is_empty()).then_some(&c.phone),
        "first_name": c.first_name,
        "last_name": c.last_name,
        "note": (!c.note.is_empty()).then_some(&c.note),
        "tags": c.tags.join(", "),
        "created_at": c.created_at.to_rfc3339(),
        "updated_at": c.updated_at.to_rfc3339(),
        "admin_graphql_api_id": store::gid("Customer", c.id),
    })
}

pub(crate) fn company(c: &store::Company) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "external_id": c.external_id,
        "note": (!c.note.is_empty()).then_some(&c.note),
        "created_at": c.created_at.to_rfc3339(),
        "updated_at": c.updated_at.to_rfc3339(),
        "admin_graphql_api_id": store::gid("Company", c.id),
    })
}

/// A product as webhooks carry it (REST-shaped, snake_case, numeric ids).
pub(crate) fn product(p: &store::Product) -> Value {
    json!({
        "id": p.id,
        "title": p.title,
        "handle": p.handle,
        "status": p.status.to_lowercase(),
        "updated_at": p.updated_at.to_rfc3339(),
        "variants": p.variants.iter().map(|v| json!({ "id": v.id, "sku": v.sku, "price": v.price })).collect::<Vec<_>>(),
        "images": p.media.iter().map(|m| json!({ "id": m.id, "alt": m.alt, "src": m.source })).collect::<Vec<_>>(),
        "admin_graphql_api_id": store::gid("Product", p.id),
    })
}

/// An order as webhooks carry it (REST-shaped, snake_case, numeric ids).
pub(crate) fn order(shop: &Shop, id: u64) -> Value {
    let Some(o) = shop.orders.get(&id) else { return Value::Null };
    json!({
        "id": o.id,
        "name": o.name(),
        "email": o.email,
        "financial_status": o.financial_status.to_lowercase(),
        "fulfillment_status": match o.fulfillment_status() {
            "FULFILLED" => Value::from("fulfilled"),
            "PARTIALLY_FULFILLED" => Value::from("partial"),
            _ => Value::Null,
        },
        "cancelled_at": o.cancelled_time().map(|t| t.to_rfc3339()),
        "closed_at": o.closed_time().map(|t| t.to_rfc3339()),
        "total_price": o.total,
        "currency": shop.currency,
        "created_at": o.created_at.to_rfc3339(),
        "updated_at": o.updated_at.to_rfc3339(),
        "line_items": o.line_items.iter().map(|l| json!({
            "id": l.id, "variant_id": l.variant_id, "sku": l.sku, "quantity": l.quantity,
            "current_quantity": l.current(), "price": l.price,
        })).collect::<Vec<_>>(),
        "admin_graphql_api_id": store::gid("Order", o.id),
    })
}

/// A refund as the refunds/create webhook carries it (REST-shaped): its transaction, its
/// `refund_line_items` and, for refunded shipping, an `order_adjustments` entry of kind
/// `shipping_refund` (negative amounts, as Shopify's REST answers them).
pub(crate) fn refund(shop: &Shop, order: u64, r: &store::Refund) -> Value {
    let Some(o) = shop.orders.get(&order) else { return Value::Null };
    let set = |a: &str| {
        let m = json!({ "amount": a, "currency_code": shop.currency });
        json!({ "shop_money": m, "presentment_money": m })
    };
    let negative = |a: &str| {
        if money::to_minor(a, shop.units()).unwrap_or(0) == 0 {
            a.to_owned()
        } else {
            format!("-{a}")
        }
    };
    let transactions: Vec<Value> = o
        .transactions
        .iter()
        .filter(|t| Some(t.id) == r.transaction)
        .map(|t| {
            json!({
                "id": t.id, "order_id": order, "kind": "refund", "status": "success",
                "amount": t.amount, "currency": shop.currency, "gateway": t.gateway,
                "created_at": t.created_at.to_rfc3339(),
                "admin_graphql_api_id": store::gid("OrderTransaction", t.id),
            })
        })
        .collect();
    let lines: Vec<Value> = r
        .lines
        .iter()
        .map(|l| {
            let li = o.line_items.iter().find(|x| x.id == l.line_item_id);
            json!({
                "id": l.id,
                "line_item_id": l.line_item_id,
                "location_id": l.location_id,
                "quantity": l.quantity,
                "restock_type": l.restock_type.to_ascii_lowercase(),
                "subtotal": l.subtotal,
                "subtotal_set": set(&l.subtotal),
                "total_tax": l.total_tax,
                "total_tax_set": set(&l.total_tax),
                "line_item": li.map(|li| json!({
                    "id": li.id, "variant_id": li.variant_id, "sku": li.sku, "quantity": li.quantity,
                    "price": li.price, "admin_graphql_api_id": store::gid("LineItem", li.id),
                })),
            })
        })
        .collect();
    let adjustments: Vec<Value> = r
        .shipping
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "order_id": order, "refund_id": r.id, "kind": "shipping_refund",
                "reason": "Shipping refund", "amount": negative(&s.subtotal),
                "amount_set": set(&negative(&s.subtotal)), "tax_amount": negative(&s.tax),
                "tax_amount_set": set(&negative(&s.tax)),
            })
        })
        .collect();
    json!({
        "id": r.id,
        "order_id": order,
        "created_at": r.created_at.to_rfc3339(),
        "processed_at": r.created_at.to_rfc3339(),
        "note": r.note,
        "restock": r.lines.iter().any(|l| l.restocked),
        "transactions": transactions,
        "refund_line_items": lines,
        "order_adjustments": adjustments,
        "admin_graphql_api_id": store::gid("Refund", r.id),
    })
}

/// refunds/create for the refund an order got since it had `before` refunds, if it got one.
pub(crate) fn refund_since(
    shop: &Shop,
    order: u64,
    before: usize,
) -> Option<(&'static str, Value)> {
    let refunds = &shop.orders.get(&order)?.refunds;
    let r = refunds.last().filter(|_| refunds.len() > before)?;
    Some(("REFUNDS_CREATE", refund(shop, order, r)))
}

/// An inventory level after a change of its `available` quantity.
pub(crate) fn level(g: &AdjustmentGroup, c: &Change) -> Value {
    json!({
        "inventory_item_id": c.item_id,
        "location_id": c.location_id,
        "available": c.quantity_after,
        "updated_at": g.created_at.to_rfc3339(),
        "admin_graphql_api_id": format!("{}?inventory_item_id={}", store::gid("InventoryLevel", c.location_id), c.item_id),
    })
}
