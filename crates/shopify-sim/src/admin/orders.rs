//! Orders placed and edited through the admin API, as a customer or a merchant in Shopify's
//! admin would: the order's lines and locations, then tags, email, address, payment, refunds,
//! cancellation and quantity edits, each sending the webhooks Shopify sends.

use super::{Admin, Check, bad_request, not_found};
use crate::payloads::{self, order as order_payload};
use crate::store::{self, Shop};
use crate::webhooks::trigger;
use crate::{money, orders};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlaceOrder {
    #[serde(default)]
    customer_email: Option<String>,
    lines: Vec<PlaceLine>,
    #[serde(default = "paid")]
    financial_status: String,
    /// Backdate the order (e.g. to test the 60-day window of apps without `read_all_orders`).
    #[serde(default)]
    placed_days_ago: u32,
    /// Shopify's risk assessment: high, medium or low (default).
    #[serde(default)]
    risk: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceLine {
    sku: String,
    /// The line's units (the sum of `splits` when they are given).
    #[serde(default)]
    quantity: Option<i64>,
    /// The location the line is fulfilled from (name, numeric id or gid; default: the shop's
    /// first location).
    #[serde(default)]
    location: Option<String>,
    /// One line item whose units are fulfilled from several locations.
    #[serde(default)]
    splits: Option<Vec<Split>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Split {
    location: String,
    quantity: i64,
}

/// A line's SKU and a quantity (order edits).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuQuantity {
    sku: String,
    quantity: i64,
}

/// A line to refund: units of a SKU, back to stock or not.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundLine {
    sku: String,
    quantity: i64,
    #[serde(default)]
    restock: bool,
}

/// A location by name (case-insensitive), numeric id or gid.
fn find_location(shop: &Shop, key: &str) -> Option<u64> {
    let id = key.parse::<u64>().ok().or_else(|| store::parse_gid("Location", key));
    id.filter(|id| shop.locations.contains_key(id)).or_else(|| {
        shop.locations.values().find(|l| l.name.eq_ignore_ascii_case(key.trim())).map(|l| l.id)
    })
}

fn paid() -> String {
    "PAID".into()
}

/// Place an order as a customer would (tests and the demo).
pub(super) async fn place_order(admin: Admin<PlaceOrder>) -> Response {
    let (sim, req) = (&admin.shop.sim, &admin.body);
    let mut shop = admin.shop.lock();
    let Some(first_location) = shop.locations.keys().next().copied() else {
        return bad_request("the shop has no location (seed it or add one)");
    };
    let mut lines = Vec::new();
    for l in &req.lines {
        let v =
            shop.products.values().flat_map(|p| &p.variants).find(|v| v.sku == l.sku).map(|v| v.id);
        let Some(v) = v else {
            return bad_request(format!("no variant with sku {:?}", l.sku));
        };
        let location = |key: &str| {
            find_location(&shop, key)
                .ok_or_else(|| format!("line {:?}: no location {key:?}", l.sku))
        };
        let parts = match (&l.splits, &l.location) {
            (Some(_), Some(_)) => {
                return bad_request(format!(
                    "line {:?}: give either location or splits, not both",
                    l.sku
                ));
            }
            (Some(splits), None) => {
                if splits.is_empty() {
                    return bad_request(format!("line {:?}: splits must not be empty", l.sku));
                }
                let mut parts = Vec::new();
                for s in splits {
                    match location(&s.location) {
                        Ok(loc) => parts.push((loc, s.quantity)),
                        Err(e) => return bad_request(e),
                    }
                }
                let sum: i64 = parts.iter().map(|(_, q)| q).sum();
                if l.quantity.is_some_and(|q| q != sum) {
                    return bad_request(format!(
                        "line {:?}: quantity is not the sum of its splits ({sum})",
                        l.sku
                    ));
                }
                parts
            }
            (None, loc) => {
                let Some(q) = l.quantity else {
                    return bad_request(format!("line {:?}: quantity is missing", l.sku));
                };
                let at = match loc {
                    Some(key) => match location(key) {
                        Ok(loc) => loc,
                        Err(e) => return bad_request(e),
                    },
                    None => first_location,
                };
                vec![(at, q)]
            }
        };
        lines.push((v, parts));
    }
    let customer = req.customer_email.as_deref().and_then(|e| {
        shop.customers.values().find(|c| c.email.eq_ignore_ascii_case(e)).map(|c| c.id)
    });
    if req.placed_days_ago > 3650 {
        return bad_request("placed_days_ago: at most 3650");
    }
    let risk = match risk_level(req.risk.as_deref()) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match shop.place_order_at(customer, &lines, &req.financial_status.to_ascii_uppercase()) {
        Ok(id) => {
            if let Some(o) = shop.orders.get_mut(&id) {
                o.created_at -= chrono::TimeDelta::days(i64::from(req.placed_days_ago));
                o.risk_level = risk;
            }
            trigger(sim, &shop, vec![("ORDERS_CREATE", order_payload(&shop, id))]);
            let o = &shop.orders[&id];
            let fulfillment_orders: Vec<Value> = o
                .fulfillment_orders
                .iter()
                .map(|fo| {
                    json!({
                        "id": store::gid("FulfillmentOrder", fo.id),
                        "location_id": store::gid("Location", fo.location_id),
                        "request_status": fo.request_status,
                    })
                })
                .collect();
            let body = json!({
                "id": store::gid("Order", id),
                "name": o.name(),
                "fulfillment_orders": fulfillment_orders,
            });
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EditOrder {
    /// Replaces the order's tags.
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    shipping_address: Option<store::Address>,
    /// Record the payment of a pending or authorized order.
    #[serde(default)]
    mark_paid: bool,
    /// Refund this amount (a decimal string in the shop's currency) to the original gateway;
    /// with `refund_lines` or `refund_shipping` it replaces their computed amount.
    #[serde(default)]
    refund: Option<String>,
    /// Refund units of lines (by SKU), back to stock or not.
    #[serde(default)]
    refund_lines: Option<Vec<RefundLine>>,
    /// Refund the shipping in full (with its tax).
    #[serde(default)]
    refund_shipping: bool,
    /// The refund's note.
    #[serde(default)]
    refund_note: Option<String>,
    /// Cancel the order (only without fulfillments); `restock` returns committed stock.
    #[serde(default)]
    cancel: Option<CancelOrder>,
    /// An order edit: set lines' quantities (by SKU; 0 removes the line's units).
    #[serde(default)]
    quantities: Option<Vec<SkuQuantity>>,
    /// Shopify's risk assessment: high, medium or low.
    #[serde(default)]
    risk: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelOrder {
    #[serde(default)]
    restock: bool,
    /// Refund what was paid (one refund of every line and the shipping), as `orderCancel`
    /// with `refundMethod: {originalPaymentMethodsRefund: true}` does.
    #[serde(default)]
    refund: bool,
}

/// Edit an order as a merchant or customer would in Shopify's admin: tags, email, shipping
/// address, a payment, a refund, a cancellation. Everything is checked before anything changes;
/// each edit bumps `updatedAt` and sends the webhooks Shopify would (orders/updated,
/// orders/paid, refunds/create, orders/cancelled).
pub(super) async fn edit_order(
    Path((_, order)): Path<(String, String)>,
    admin: Admin<EditOrder>,
) -> Response {
    let (sim, req) = (&admin.shop.sim, admin.body);
    let mut shop = admin.shop.lock();
    let id = order.parse::<u64>().ok().or_else(|| store::parse_gid("Order", &order));
    let Some(o) = id.and_then(|id| shop.orders.get(&id)) else {
        return not_found(format!("no order {order:?}"));
    };
    let id = o.id;
    let gid = store::gid("Order", id);
    if req.mark_paid && !matches!(o.financial_status.as_str(), "PENDING" | "AUTHORIZED") {
        return bad_request(format!("mark_paid: the order is {}", o.financial_status));
    }
    if req.cancel.is_some() && o.cancelled {
        return bad_request("cancel: the order is already cancelled");
    }
    if req.cancel.is_some() && !o.fulfillments.is_empty() {
        return bad_request("cancel: the order has fulfillments");
    }
    if req.email.as_deref().is_some_and(|e| !e.contains('@')) {
        return bad_request("email: not an email address");
    }
    if req.tags.as_ref().is_some_and(|t| t.len() > 250 || t.iter().any(|t| t.len() > 255)) {
        return bad_request("tags: at most 250 tags of at most 255 characters");
    }
    let risk = match risk_level(req.risk.as_deref()) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut edits = Vec::new();
    for q in req.quantities.iter().flatten() {
        match o.line_items.iter().find(|l| l.sku == q.sku) {
            Some(l) => edits.push((l.id, q.quantity)),
            None => {
                return bad_request(format!(
                    "quantities: the order has no line with sku {:?}",
                    q.sku
                ));
            }
        }
    }
    let (refund, refund_lines) = match planned_refund(&shop, id, &req) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut events: Vec<(&'static str, Value)> = Vec::new();
    if !edits.is_empty() {
        if let Err(e) = shop.edit_quantities(id, &edits) {
            return bad_request(format!("quantities: {e}"));
        }
        events.push(("ORDERS_EDITED", order_payload(&shop, id)));
    }
    if let Some(r) = risk {
        let at = shop.stamp();
        if let Some(o) = shop.orders.get_mut(&id) {
            o.risk_level = Some(r);
            o.updated_at = at;
        }
    }
    if req.tags.is_some() || req.email.is_some() || req.shipping_address.is_some() {
        let at = shop.stamp();
        if let Some(o) = shop.orders.get_mut(&id) {
            if let Some(tags) = req.tags {
                o.tags = tags;
            }
            if let Some(email) = req.email {
                o.email = email;
            }
            if let Some(a) = req.shipping_address {
                o.address = Some(a);
            }
            o.updated_at = at;
        }
    }
    if req.mark_paid {
        // Checked above: the order is pending or authorized.
        let _ = orders::mark_as_paid(&mut shop, &json!({ "id": gid }));
        events.push(("ORDERS_PAID", order_payload(&shop, id)));
    }
    if let Some(cents) = refund {
        orders::refund_with(
            &mut shop,
            id,
            cents,
            &refund_lines,
            req.refund_shipping,
            req.refund_note.clone(),
        );
        if let Some(r) = shop.orders[&id].refunds.last() {
            events.push(("REFUNDS_CREATE", payloads::refund(&shop, id, r)));
        }
    }
    if let Some(c) = req.cancel {
        // Checked above: not cancelled, no fulfillments.
        let before = shop.orders[&id].refunds.len();
        let _ = orders::cancel(&mut shop, &gid, c.restock, c.refund);
        events.extend(payloads::refund_since(&shop, id, before));
        events.push(("ORDERS_CANCELLED", order_payload(&shop, id)));
    }
    events.push(("ORDERS_UPDATED", order_payload(&shop, id)));
    trigger(sim, &shop, events);
    let o = &shop.orders[&id];
    Json(json!({
        "id": gid,
        "name": o.name(),
        "financial_status": o.financial_status,
        "cancelled": o.cancelled,
        "tags": o.tags,
        "updated_at": o.updated_at.to_rfc3339(),
        "refunds": o.refunds.iter().map(|r| store::gid("Refund", r.id)).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// The refund an edit asks for, checked: its amount in minor units (None for no refund) and
/// its lines, or the 400 answer.
#[allow(clippy::result_large_err)] // the error is the handler's answer, built once, on the error path
fn planned_refund(
    shop: &Shop,
    id: u64,
    req: &EditOrder,
) -> Result<(Option<i64>, Vec<orders::RefundLineInput>), Response> {
    let units = shop.units();
    let o = &shop.orders[&id];
    let mut refund_lines = Vec::new();
    for r in req.refund_lines.iter().flatten() {
        match o.line_items.iter().find(|l| l.sku == r.sku) {
            Some(l) => refund_lines.push(orders::RefundLineInput {
                line_item_id: l.id,
                quantity: r.quantity,
                restock: r.restock,
            }),
            None => {
                return Err(bad_request(format!(
                    "refund_lines: the order has no line with sku {:?}",
                    r.sku
                )));
            }
        }
    }
    let itemized = !refund_lines.is_empty() || req.refund_shipping;
    if itemized && o.cancelled {
        return Err(bad_request("refund_lines: the order is cancelled"));
    }
    if req.refund_note.as_ref().is_some_and(|n| n.chars().count() > 5000) {
        return Err(bad_request("refund_note: at most 5000 characters"));
    }
    let computed = if itemized {
        match orders::refund_amount(shop, id, &refund_lines, req.refund_shipping) {
            Ok(c) => Some(c),
            Err(e) => return Err(bad_request(format!("refund_lines: {e}"))),
        }
    } else {
        None
    };
    let refundable = if req.mark_paid {
        money::to_minor(&o.total, units).unwrap_or(0)
    } else {
        orders::refundable_cents(o, units)
    };
    let refund = match req.refund.as_deref().map(|r| parse_minor(r, units)) {
        // Itemized without an amount: what the lines and shipping come to, up to what was
        // paid and not refunded yet (nothing for an unpaid order).
        None => computed.map(|c| c.min(refundable)),
        Some(None) => {
            return Err(bad_request(format!(
                "refund: expected a positive amount with at most {units} decimals (the shop's currency, {})",
                shop.currency
            )));
        }
        Some(Some(minor)) => {
            if minor > refundable {
                return Err(bad_request(format!(
                    "refund: {} exceeds what can be refunded ({})",
                    req.refund.as_deref().unwrap_or_default(),
                    money::format(refundable, units)
                )));
            }
            Some(minor)
        }
    };
    Ok((refund, refund_lines))
}

/// Shopify's risk level of an order (high, medium or low, any case), or the 400 answer.
#[allow(clippy::result_large_err)] // the error is the handler's answer, built once, on the error path
fn risk_level(risk: Option<&str>) -> Result<Option<String>, Response> {
    match risk.map(str::to_ascii_uppercase) {
        None => Ok(None),
        Some(r) if matches!(r.as_str(), "HIGH" | "MEDIUM" | "LOW") => Ok(Some(r)),
        Some(r) => Err(bad_request(format!("risk: {r:?} is not high, medium or low"))),
    }
}

/// "12.50" → 1250 at 2 decimals; None unless a positive amount with at most `units`
/// decimals.
fn parse_minor(s: &str, units: u32) -> Option<i64> {
    if !money::exact(s, units) || s.starts_with('-') {
        return None;
    }
    money::to_minor(s, units).filter(|m| *m > 0)
}

/// Everything a shop holds, in the save format: to read back what a client wrote.
impl Check for PlaceOrder {}
impl Check for EditOrder {}
