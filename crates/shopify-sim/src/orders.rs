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
        // A fulfillment service fulfils only what it accepted.
        if fo.request_status != "UNSUBMITTED" && fo.request_status != "ACCEPTED" {
            return Err(err(&format!(
                "Fulfillment order {fo_id} has an unfulfillable request status= {}.",
                fo.request_status.to_ascii_lowercase()
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
    let notify = input.get("notifyCustomer").and_then(Value::as_bool).unwrap_or(false);
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
            notify_customer: notify,
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

/// `fulfillmentOrderAcceptFulfillmentRequest`: the fulfillment service accepts a submitted
/// request; the fulfillment order is then IN_PROGRESS and can be fulfilled.
pub fn accept_fulfillment_request(shop: &mut Shop, fo_gid: &str) -> Result<(u64, u64), Vec<Value>> {
    let error = |m: &str| vec![json!({ "field": ["id"], "message": m })];
    let found = parse_gid("FulfillmentOrder", fo_gid).and_then(|fo_id| {
        shop.orders.values().find_map(|o| {
            o.fulfillment_orders.iter().position(|fo| fo.id == fo_id).map(|i| (o.id, i, fo_id))
        })
    });
    let Some((oid, idx, fo_id)) = found else {
        return Err(error("Fulfillment order does not exist."));
    };
    let fo = &shop.orders[&oid].fulfillment_orders[idx];
    if fo.request_status != "SUBMITTED" || fo.status != "OPEN" {
        return Err(error(&format!(
            "Cannot accept fulfillment request for the fulfillment order {fo_id}: its request status is {}.",
            fo.request_status.to_ascii_lowercase()
        )));
    }
    let at = shop.stamp();
    if let Some(o) = shop.orders.get_mut(&oid) {
        let fo = &mut o.fulfillment_orders[idx];
        fo.request_status = "ACCEPTED".into();
        fo.status = "IN_PROGRESS".into();
        o.updated_at = at;
    }
    Ok((oid, fo_id))
}

/// `orderClose`: archive the order (closing twice is harmless).
pub fn close(shop: &mut Shop, input: &Value) -> Result<u64, Vec<Value>> {
    let Some(id) = input.get("id").and_then(Value::as_str).and_then(|g| order_id(shop, g)) else {
        return Err(vec![json!({ "field": ["id"], "message": "Order does not exist" })]);
    };
    let at = shop.stamp();
    if let Some(o) = shop.orders.get_mut(&id)
        && !o.closed
    {
        o.closed = true;
        o.closed_at = Some(at);
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
/// close; with `restock`, what was committed goes back to available. With `refund`, what was
/// paid goes back first, as one refund of every line's units and the shipping.
pub fn cancel(
    shop: &mut Shop,
    order: &str,
    restock: bool,
    refund: bool,
) -> Result<u64, Vec<Value>> {
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
    let units = shop.units();
    if refund && refundable_cents(o, units) > 0 {
        let lines: Vec<RefundLineInput> = o
            .line_items
            .iter()
            .filter(|l| l.current() > 0)
            .map(|l| RefundLineInput { line_item_id: l.id, quantity: l.current(), restock })
            .collect();
        let shipping = !o.refunds.iter().any(|r| r.shipping.is_some());
        let cents = refundable_cents(o, units);
        refund_with(shop, id, cents, &lines, shipping, None);
    }
    let o = &shop.orders[&id];
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
        o.cancelled_at = Some(at);
        if !o.closed {
            o.closed = true;
            o.closed_at = Some(at);
        }
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

/// One line item of a refund: how many units, and whether they go back to stock.
#[derive(Debug, Clone)]
pub struct RefundLineInput {
    pub line_item_id: u64,
    pub quantity: i64,
    pub restock: bool,
}

/// What refunding these lines (and the shipping) would give back, in minor units: each line's
/// price × quantity plus its share of tax at the order's rate (no discounts are simulated),
/// and the shipping with its tax. Errors name what cannot be refunded.
pub fn refund_amount(
    shop: &Shop,
    id: u64,
    lines: &[RefundLineInput],
    shipping: bool,
) -> Result<i64, String> {
    let units = shop.units();
    let o = shop.orders.get(&id).ok_or_else(|| format!("no order {id}"))?;
    let rate = o.tax_lines.first().map_or(0.0, |t| t.1);
    let minor = |a: &str| crate::money::to_minor(a, units).unwrap_or(0);
    let mut total = 0;
    for l in lines {
        let li = o
            .line_items
            .iter()
            .find(|x| x.id == l.line_item_id)
            .ok_or_else(|| format!("no line item {}", l.line_item_id))?;
        let asked: i64 = lines.iter().filter(|x| x.line_item_id == li.id).map(|x| x.quantity).sum();
        if l.quantity <= 0 {
            return Err(format!("line {}: quantity {} must be positive", li.sku, l.quantity));
        }
        if asked > li.current() {
            return Err(format!(
                "line {}: {asked} units asked, {} can be refunded",
                li.sku,
                li.current()
            ));
        }
        let subtotal = minor(&li.price) * l.quantity;
        total += subtotal + (subtotal as f64 * rate).round() as i64;
    }
    if shipping {
        if o.refunds.iter().any(|r| r.shipping.is_some()) {
            return Err("the shipping was refunded already".into());
        }
        let s = minor(&o.shipping);
        total += s + (s as f64 * rate).round() as i64;
    }
    Ok(total)
}

/// A refund of `cents` to the original gateway: a REFUND transaction, a refund record, the
/// financial status (PARTIALLY_REFUNDED or REFUNDED) and, for Shopify Payments, a balance
/// transaction. The caller has checked `cents <= refundable_cents`.
pub fn refund(shop: &mut Shop, id: u64, cents: i64) {
    refund_with(shop, id, cents, &[], false, None);
}

/// A refund of `cents` (none when 0) with line items and the shipping (checked by
/// `refund_amount` and `cents <= refundable_cents`). Refunded units leave the line's current
/// quantity: unfulfilled ones first, out of their fulfillment orders, releasing what was
/// committed (back to available with `restock`: CANCEL), then fulfilled ones (back to stock
/// at the fulfilment's location with `restock`: RETURN). Returns the refund's id.
pub fn refund_with(
    shop: &mut Shop,
    id: u64,
    cents: i64,
    lines: &[RefundLineInput],
    shipping: bool,
    note: Option<String>,
) -> u64 {
    let tx = (cents > 0).then(|| shop.next_id());
    let refund = shop.next_id();
    let at = shop.stamp();
    let units = shop.units();
    let money = |m: i64| crate::money::format(m, units);
    let minor = |a: &str| crate::money::to_minor(a, units).unwrap_or(0);
    let amount = money(cents);
    let mut refund_lines = Vec::new();
    // (inventory item, location, committed change, available change)
    let mut stock: Vec<(u64, u64, i64, i64)> = Vec::new();
    let line_ids: Vec<u64> = lines.iter().map(|_| shop.next_id()).collect();
    let shipping_id = shipping.then(|| shop.next_id());
    let inventory_item = |shop: &Shop, variant: Option<u64>| {
        variant.and_then(|v| {
            shop.products
                .values()
                .find_map(|p| p.variants.iter().find(|x| x.id == v).map(|x| x.inventory_item_id))
        })
    };
    let Some(o) = shop.orders.get(&id) else { return refund };
    let rate = o.tax_lines.first().map_or(0.0, |t| t.1);
    let mut o = o.clone();
    for (l, rid) in lines.iter().zip(line_ids) {
        let Some(li) = o.line_items.iter_mut().find(|x| x.id == l.line_item_id) else { continue };
        li.refunded += l.quantity;
        let (price, variant) = (li.price.clone(), li.variant_id);
        let inv = inventory_item(shop, variant);
        let mut left = l.quantity;
        let mut location = None;
        for fo in o.fulfillment_orders.iter_mut().filter(|f| f.status != "CANCELLED") {
            for fl in fo.lines.iter_mut().filter(|x| x.line_item_id == l.line_item_id) {
                let take = left.min(fl.remaining);
                if take == 0 {
                    continue;
                }
                fl.remaining -= take;
                fl.total -= take;
                left -= take;
                location.get_or_insert(fo.location_id);
                if let Some(inv) = inv {
                    stock.push((inv, fo.location_id, -take, if l.restock { take } else { 0 }));
                }
            }
            if fo.lines.iter().all(|x| x.remaining == 0)
                && matches!(fo.status.as_str(), "OPEN" | "IN_PROGRESS")
            {
                fo.status = "CLOSED".into();
            }
        }
        let from_fulfilled = left;
        if from_fulfilled > 0 {
            // Back where the units were shipped from.
            let loc = location.or_else(|| shipped_from(&o, l.line_item_id));
            location = loc;
            if let (Some(inv), Some(loc), true) = (inv, loc, l.restock) {
                stock.push((inv, loc, 0, from_fulfilled));
            }
        }
        let subtotal = minor(&price) * l.quantity;
        refund_lines.push(crate::store::RefundLine {
            id: rid,
            line_item_id: l.line_item_id,
            quantity: l.quantity,
            restock_type: match (l.restock, from_fulfilled) {
                (false, _) => "NO_RESTOCK",
                (true, 0) => "CANCEL",
                (true, _) => "RETURN",
            }
            .into(),
            restocked: l.restock,
            location_id: location,
            price,
            subtotal: money(subtotal),
            total_tax: money((subtotal as f64 * rate).round() as i64),
        });
    }
    let shipping = shipping_id.map(|sid| {
        let s = minor(&o.shipping);
        crate::store::RefundShipping {
            id: sid,
            subtotal: money(s),
            tax: money((s as f64 * rate).round() as i64),
        }
    });
    let gateway = o
        .transactions
        .iter()
        .find(|t| t.status == "SUCCESS" && (t.kind == "SALE" || t.kind == "CAPTURE"))
        .map(|t| t.gateway.clone())
        .unwrap_or_else(|| "manual".into());
    if let Some(tx) = tx {
        o.transactions.push(crate::store::Transaction {
            id: tx,
            kind: "REFUND".into(),
            status: "SUCCESS".into(),
            gateway: gateway.clone(),
            amount: amount.clone(),
            created_at: at,
        });
        o.financial_status =
            if refundable_cents(&o, units) == 0 { "REFUNDED" } else { "PARTIALLY_REFUNDED" }.into();
    }
    o.refunds.push(crate::store::Refund {
        id: refund,
        amount: amount.clone(),
        created_at: at,
        note,
        lines: refund_lines,
        shipping,
        transaction: tx,
    });
    o.updated_at = at;
    shop.orders.insert(id, o);
    for (inv, loc, committed, available) in stock {
        let level = shop.levels.entry((inv, loc)).or_default();
        level.committed += committed;
        level.available += available;
    }
    if let Some(tx) = tx.filter(|_| gateway == "shopify_payments") {
        let balance = crate::store::BalanceTx {
            id: tx,
            order_id: id,
            kind: "REFUND".into(),
            amount: format!("-{amount}"),
            fee: "0.00".into(),
            net: format!("-{amount}"),
            at,
            payout: None,
        };
        shop.balance_txs.insert(tx, balance);
    }
    refund
}

/// The location a fulfilment shipped a line item's units from, if one did.
fn shipped_from(o: &crate::store::Order, line_item: u64) -> Option<u64> {
    let fo_lines: Vec<u64> = o
        .fulfillment_orders
        .iter()
        .flat_map(|f| &f.lines)
        .filter(|x| x.line_item_id == line_item)
        .map(|x| x.id)
        .collect();
    o.fulfillments
        .iter()
        .find(|fu| fu.lines.iter().any(|(x, _)| fo_lines.contains(x)))
        .map(|fu| fu.location_id)
}
