//! `fulfillmentCreate` with Shopify's rules: only OPEN or IN_PROGRESS fulfillment orders of one
//! order and one location, quantities within what remains; no idempotency key, so a blind
//! retry of a partial fulfilment creates a second one, as on Shopify. Fulfilling consumes the
//! committed stock at the fulfillment order's location.

use crate::store::{Fulfillment, Shop, parse_gid};
use serde_json::{Value, json};

/// One fulfillment order of the request: its order, its index there, and (line index,
/// quantity) pairs to ship.
struct Step {
    order: u64,
    fo: usize,
    lines: Vec<(usize, i64)>,
}

fn err(message: &str) -> Vec<Value> {
    vec![json!({ "field": ["fulfillment"], "message": message })]
}

/// Returns (order, fulfillment) on success, or the user errors.
pub fn fulfillment_create(shop: &mut Shop, input: &Value) -> Result<(u64, u64), Vec<Value>> {
    let groups = input
        .get("lineItemsByFulfillmentOrder")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if groups.is_empty() {
        return Err(err("Line items by fulfillment order must be present."));
    }
    // Resolve every fulfillment order first: all or nothing.
    let mut plan: Vec<Step> = Vec::new();
    let mut order_id = None;
    let mut location = None;
    for g in &groups {
        let Some(fo_id) = g
            .get("fulfillmentOrderId")
            .and_then(Value::as_str)
            .and_then(|s| parse_gid("FulfillmentOrder", s))
        else {
            return Err(err("Fulfillment order does not exist."));
        };
        let Some((oid, idx)) = shop.orders.values().find_map(|o| {
            o.fulfillment_orders.iter().position(|fo| fo.id == fo_id).map(|i| (o.id, i))
        }) else {
            return Err(err("Fulfillment order does not exist."));
        };
        if *order_id.get_or_insert(oid) != oid {
            return Err(err("All fulfillment orders must belong to the same order."));
        }
        let fo = &shop.orders[&oid].fulfillment_orders[idx];
        if *location.get_or_insert(fo.location_id) != fo.location_id {
            return Err(err("All fulfillment orders must be assigned to the same location."));
        }
        if fo.status != "OPEN" && fo.status != "IN_PROGRESS" {
            return Err(err(&format!(
                "Fulfillment order {fo_id} has an unfulfillable status= {}.",
                fo.status.to_ascii_lowercase()
            )));
        }
        let mut lines = Vec::new();
        match g.get("fulfillmentOrderLineItems").and_then(Value::as_array) {
            None => {
                for (i, l) in fo.lines.iter().enumerate() {
                    if l.remaining > 0 {
                        lines.push((i, l.remaining));
                    }
                }
            }
            Some(items) => {
                for it in items {
                    let line_id = it
                        .get("id")
                        .and_then(Value::as_str)
                        .and_then(|s| parse_gid("FulfillmentOrderLineItem", s));
                    let Some(i) = line_id.and_then(|id| fo.lines.iter().position(|l| l.id == id))
                    else {
                        return Err(err("Fulfillment order line item does not exist."));
                    };
                    let q = it.get("quantity").and_then(Value::as_i64).unwrap_or(0);
                    if q <= 0 || q > fo.lines[i].remaining {
                        return Err(err("Invalid fulfillment order line item quantity requested."));
                    }
                    lines.push((i, q));
                }
            }
        }
        if lines.is_empty() {
            return Err(err("Invalid fulfillment order line item quantity requested."));
        }
        plan.push(Step { order: oid, fo: idx, lines });
    }
    let (Some(oid), Some(loc)) = (order_id, location) else {
        return Err(err("Fulfillment order does not exist."));
    };
    let tracking = input.get("trackingInfo").filter(|t| t.is_object()).map(|t| {
        let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        (s("number"), s("company"), s("url"))
    });
    let fid = shop.next_id();
    let at = shop.stamp();
    let mut consumed = Vec::new();
    let mut fulfilled = Vec::new();
    {
        let order =
            shop.orders.get_mut(&oid).ok_or_else(|| err("Fulfillment order does not exist."))?;
        for step in &plan {
            debug_assert_eq!(step.order, oid);
            let fo = &mut order.fulfillment_orders[step.fo];
            for (i, q) in &step.lines {
                let l = &mut fo.lines[*i];
                l.remaining -= q;
                fulfilled.push((l.id, *q));
                consumed.push((l.line_item_id, *q));
            }
            fo.status =
                if fo.lines.iter().all(|l| l.remaining == 0) { "CLOSED" } else { "IN_PROGRESS" }
                    .into();
        }
        let n = order.fulfillments.len() + 1;
        order.fulfillments.push(Fulfillment {
            id: fid,
            name: format!("{}-F{n}", order.name()),
            status: "SUCCESS".into(),
            created_at: at,
            location_id: loc,
            tracking,
            lines: fulfilled,
        });
        order.updated_at = at;
    }
    // Fulfilled units leave the committed stock (and so on-hand) at the location.
    for (line_item, q) in consumed {
        let variant = shop.orders[&oid]
            .line_items
            .iter()
            .find(|l| l.id == line_item)
            .and_then(|l| l.variant_id);
        let inv = variant.and_then(|v| {
            shop.products
                .values()
                .find_map(|p| p.variants.iter().find(|x| x.id == v).map(|x| x.inventory_item_id))
        });
        if let Some(inv) = inv {
            let level = shop.levels.entry((inv, loc)).or_default();
            level.committed -= q;
        }
    }
    Ok((oid, fid))
}

fn order_id(shop: &Shop, gid: &str) -> Option<u64> {
    parse_gid("Order", gid).filter(|id| shop.orders.contains_key(id))
}

/// `orderClose`: archive the order (closing twice is harmless).
pub fn close(shop: &mut Shop, input: &Value) -> Result<u64, Vec<Value>> {
    let Some(id) = input.get("id").and_then(Value::as_str).and_then(|g| order_id(shop, g)) else {
        return Err(vec![json!({ "field": ["id"], "message": "Order does not exist" })]);
    };
    let at = shop.stamp();
    if let Some(o) = shop.orders.get_mut(&id) {
        o.closed = true;
        o.updated_at = at;
    }
    Ok(id)
}

/// `orderMarkAsPaid`: a pending or authorized order gets a successful sale for its total.
pub fn mark_as_paid(shop: &mut Shop, input: &Value) -> Result<u64, Vec<Value>> {
    let Some(id) = input.get("id").and_then(Value::as_str).and_then(|g| order_id(shop, g)) else {
        return Err(vec![json!({ "field": ["id"], "message": "Order does not exist" })]);
    };
    let status = shop.orders[&id].financial_status.clone();
    if status != "PENDING" && status != "AUTHORIZED" {
        return Err(vec![json!({ "field": ["id"], "message": "Order cannot be marked as paid." })]);
    }
    let tx = shop.next_id();
    let at = shop.stamp();
    if let Some(o) = shop.orders.get_mut(&id) {
        o.financial_status = "PAID".into();
        o.updated_at = at;
        for t in &mut o.transactions {
            if t.status == "PENDING" {
                t.status = "FAILURE".into();
            }
        }
        o.transactions.push(crate::store::Transaction {
            id: tx,
            kind: "SALE".into(),
            status: "SUCCESS".into(),
            gateway: "manual".into(),
            amount: o.total.clone(),
            created_at: at,
        });
    }
    Ok(id)
}

/// `orderCancel`: an order without fulfilments is cancelled and closed; its fulfillment orders
/// close; with `restock`, what was committed goes back to available.
pub fn cancel(shop: &mut Shop, order: &str, restock: bool) -> Result<u64, Vec<Value>> {
    let Some(id) = order_id(shop, order) else {
        return Err(vec![
            json!({ "field": ["orderId"], "message": "Order does not exist", "code": "NOT_FOUND" }),
        ]);
    };
    let o = &shop.orders[&id];
    if o.cancelled {
        return Err(vec![
            json!({ "field": ["orderId"], "message": "Order has already been cancelled", "code": "INVALID" }),
        ]);
    }
    if !o.fulfillments.is_empty() {
        return Err(vec![
            json!({ "field": ["orderId"], "message": "Cannot cancel an order that has fulfillments", "code": "INVALID" }),
        ]);
    }
    // (inventory item, location, quantity) still committed.
    let mut release = Vec::new();
    for fo in &o.fulfillment_orders {
        for l in &fo.lines {
            let variant =
                o.line_items.iter().find(|li| li.id == l.line_item_id).and_then(|li| li.variant_id);
            let inv = variant.and_then(|v| {
                shop.products.values().find_map(|p| {
                    p.variants.iter().find(|x| x.id == v).map(|x| x.inventory_item_id)
                })
            });
            if let Some(inv) = inv {
                release.push((inv, fo.location_id, l.remaining));
            }
        }
    }
    for (inv, loc, q) in release {
        let level = shop.levels.entry((inv, loc)).or_default();
        level.committed -= q;
        if restock {
            level.available += q;
        }
    }
    let at = shop.stamp();
    if let Some(o) = shop.orders.get_mut(&id) {
        o.cancelled = true;
        o.closed = true;
        o.updated_at = at;
        for fo in &mut o.fulfillment_orders {
            fo.status = "CANCELLED".into();
            for l in &mut fo.lines {
                l.remaining = 0;
            }
        }
    }
    Ok(id)
}

/// What a paid order can still give back: successful sales and captures minus refunds.
/// What can still be refunded, in minor units of a currency with `units` decimals.
pub fn refundable_cents(o: &crate::store::Order, units: u32) -> i64 {
    let cents =
        |t: &crate::store::Transaction| crate::money::to_minor(&t.amount, units).unwrap_or(0);
    let ok = o.transactions.iter().filter(|t| t.status == "SUCCESS");
    let paid: i64 = ok.clone().filter(|t| t.kind == "SALE" || t.kind == "CAPTURE").map(cents).sum();
    let back: i64 = ok.filter(|t| t.kind == "REFUND").map(cents).sum();
    paid - back
}

/// A refund of `cents` to the original gateway: a REFUND transaction, a refund record, the
/// financial status (PARTIALLY_REFUNDED or REFUNDED) and, for Shopify Payments, a balance
/// transaction. The caller has checked `cents <= refundable_cents`.
pub fn refund(shop: &mut Shop, id: u64, cents: i64) {
    let tx = shop.next_id();
    let refund = shop.next_id();
    let at = shop.stamp();
    let units = shop.units();
    let amount = crate::money::format(cents, units);
    let Some(o) = shop.orders.get_mut(&id) else { return };
    let gateway = o
        .transactions
        .iter()
        .find(|t| t.status == "SUCCESS" && (t.kind == "SALE" || t.kind == "CAPTURE"))
        .map(|t| t.gateway.clone())
        .unwrap_or_else(|| "manual".into());
    o.transactions.push(crate::store::Transaction {
        id: tx,
        kind: "REFUND".into(),
        status: "SUCCESS".into(),
        gateway: gateway.clone(),
        amount: amount.clone(),
        created_at: at,
    });
    o.refunds.push(crate::store::Refund { id: refund, amount: amount.clone(), created_at: at });
    o.financial_status =
        if refundable_cents(o, units) == 0 { "REFUNDED" } else { "PARTIALLY_REFUNDED" }.into();
    o.updated_at = at;
    if gateway == "shopify_payments" {
        shop.balance_txs.insert(
            tx,
            crate::store::BalanceTx {
                id: tx,
                order_id: id,
                kind: "REFUND".into(),
                amount: format!("-{amount}"),
                fee: "0.00".into(),
                net: format!("-{amount}"),
                at,
                payout: None,
            },
        );
    }
}
