//! Posting a sales document.
//!
//! One document is posted in one transaction: the header is locked with NOWAIT (a second
//! caller posting the same document at the same time is refused at once instead of waiting
//! and then posting again), quantities are computed from what the lines still have to ship
//! or invoice, and everything (item ledger, posted shipment, posted invoice, customer
//! ledger, line quantities, header status) commits together or not at all. Statements:
//! `repo::posting`.

use crate::error::{ErpError, Result, is_lock_not_available};
use crate::repo::documents::{HeaderRow, TrackingCols};
use crate::repo::posting::{self, DocumentPosting, LinePosting, LinePostings, PostLine};
use crate::stock::lock_and_check_stock;
use crate::util::*;
use chrono::NaiveDate;
use shopsync_common::quoted;
use shopsync_proto::pb;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default)]
pub struct PostOptions {
    pub ship: bool,
    pub invoice: bool,
    /// Replaces the document's posting date.
    pub posting_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default)]
pub struct Posted {
    pub shipment_no: Option<String>,
    pub invoice_no: Option<String>,
    pub credit_memo_no: Option<String>,
    pub amount_invoiced: i64,
    pub amount_credited: i64,
}

/// The part of a line's amount that belongs to quantities `from..to` (cumulative shares,
/// so the parts of a fully posted line add up to its amount exactly).
fn share(amount: i64, quantity: i64, from: i64, to: i64) -> i64 {
    let a = i128::from(amount);
    let q = i128::from(quantity.max(1));
    ((a * i128::from(to)) / q - (a * i128::from(from)) / q) as i64
}

/// Post a document; `tracking` replaces the order's own for the shipment this makes.
pub async fn post_document(
    pool: &PgPool,
    no: &str,
    opts: PostOptions,
    tracking: Option<&pb::Tracking>,
) -> Result<Posted> {
    check_code(no, "no", 50)?;
    if let Some(t) = tracking {
        check_tracking(t, "tracking")?;
    }
    let mut tx = pool.begin().await?;
    match post_in(&mut tx, no, opts, tracking).await {
        Ok(posted) => {
            tx.commit().await?;
            Ok(posted)
        }
        Err(e) => {
            // Rolled back now, not when the connection is next used: the header's lock goes
            // with the answer (a caller posting again at once is not told "being posted").
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// What kind of posting a document gets.
#[derive(Clone, Copy)]
struct Mode {
    is_order: bool,
    is_cm: bool,
    ship: bool,
    invoice: bool,
}

/// The document locked, with its lines, and checked: something to post, customer not blocked.
async fn lock(
    tx: &mut PgConnection,
    no: &str,
    opts: PostOptions,
    tracking: Option<&pb::Tracking>,
) -> Result<(HeaderRow, Vec<PostLine>, Mode)> {
    let rows = match posting::lock_document(tx, no).await {
        Err(e) if is_lock_not_available(&e) => {
            return Err(ErpError::Precondition(format!(
                "sales document {no} is being posted by another caller"
            )));
        }
        r => r?,
    };
    let Some(first) = rows.first() else {
        return Err(ErpError::NotFound(format!("sales document {} not found", quoted(no))));
    };
    let h = first.header.clone();
    let lines: Vec<PostLine> = rows.into_iter().map(|r| r.line).collect();
    let is_order = h.document_type == "order";
    let is_cm = h.document_type == "credit_memo";
    let (ship, invoice) = if is_order { (opts.ship, opts.invoice) } else { (true, true) };
    if !ship && !invoice {
        return Err(ErpError::invalid("ship", "choose ship, invoice or both"));
    }
    if tracking.is_some() && !(is_order && ship) {
        return Err(ErpError::invalid(
            "tracking",
            "only a shipment carries tracking (post an order with ship)",
        ));
    }
    if h.status == "posted" {
        return Err(ErpError::Precondition(format!(
            "sales document {no} is fully posted; nothing to post"
        )));
    }
    if h.customer_blocked {
        return Err(ErpError::Precondition(format!(
            "sales document {no}: customer {} is blocked",
            h.bill_to_customer_no
        )));
    }
    Ok((h, lines, Mode { is_order, is_cm, ship, invoice }))
}

/// What posting does to every line, and what it needs of stock.
#[derive(Default)]
struct Plan {
    lines: LinePostings,
    /// Base units leaving guarded stock, by item x variant x location (BTreeMap order: every
    /// poster takes the advisory locks in the same order).
    need: BTreeMap<(String, String, String), i64>,
    /// Every line fully shipped and invoiced afterwards.
    done: bool,
    any_ship: bool,
    any_invoice: bool,
    /// A shipped line is a Shopify order line (the shipment is to be fulfilled in Shopify).
    linked: bool,
    amount: i64,
}

/// What each line ships and invoices now.
fn plan(no: &str, h: &HeaderRow, lines: &[PostLine], m: Mode) -> Result<Plan> {
    let mut p = Plan { done: true, ..Plan::default() };
    for l in lines {
        let to_ship = if m.ship { l.quantity - l.quantity_shipped } else { 0 };
        let to_invoice = if !m.invoice {
            0
        } else if m.is_order {
            l.quantity_shipped + to_ship - l.quantity_invoiced
        } else {
            l.quantity - l.quantity_invoiced
        };
        // Stock leaves when shipped (orders) or when invoiced (invoices ship on posting); a
        // credit memo brings back what its return lines credit.
        let (out, from) = if m.is_order {
            (to_ship, l.quantity_shipped)
        } else if m.is_cm {
            (if l.return_to_stock { -to_invoice } else { 0 }, l.quantity_invoiced)
        } else {
            (to_invoice, l.quantity_invoiced)
        };
        // Shipped (orders), or shipped and invoiced at once (invoices, credit memos).
        let ship_inc = if m.is_order { to_ship } else { to_invoice };
        if (out != 0 || to_invoice > 0) && l.blocked {
            return Err(ErpError::Precondition(format!(
                "sales document {no} line {}: item {} is blocked",
                l.line_no, l.item_no
            )));
        }
        let out_base = out * i64::from(l.qty_per_uom);
        if out_base > 0 && l.guarded {
            *p.need
                .entry((l.item_no.clone(), l.variant_code.clone(), l.location_code.clone()))
                .or_default() += out_base;
        }
        p.done &= l.quantity_shipped + ship_inc == l.quantity
            && l.quantity_invoiced + to_invoice == l.quantity;
        let shipped = if m.is_order { to_ship } else { 0 };
        let inv_amount = share(
            l.amount_minor,
            l.quantity,
            l.quantity_invoiced,
            l.quantity_invoiced + to_invoice,
        );
        p.any_ship |= m.is_order && shipped > 0;
        p.any_invoice |= to_invoice > 0;
        p.linked |=
            h.shopify_order_id.is_some() && shipped > 0 && l.shopify_order_line_id.is_some();
        p.amount += inv_amount;
        p.lines.push(LinePosting {
            line_no: l.line_no,
            item: l.item_no.clone(),
            variant: l.variant_code.clone(),
            loc: l.location_code.clone(),
            sol: l.shopify_order_line_id,
            price: l.unit_price_minor,
            ship_inc,
            inv_inc: to_invoice,
            shipped,
            inv_amount,
            out_qty: out_base,
            out_cost: out_base * l.unit_cost_minor,
            sales: if out >= 0 {
                share(l.amount_minor, l.quantity, from, from + out)
            } else {
                -share(l.amount_minor, l.quantity, from, from - out)
            },
            ret: l.return_to_stock,
        });
    }
    if !p.any_ship && !p.any_invoice {
        return Err(ErpError::Precondition(format!(
            "sales document {no}: nothing to {}",
            match (m.ship, m.invoice) {
                (true, true) => "ship or invoice",
                (true, false) => "ship",
                _ => "invoice (ship it first)",
            }
        )));
    }
    Ok(p)
}

/// [`post_document`] inside its transaction.
async fn post_in(
    tx: &mut PgConnection,
    no: &str,
    opts: PostOptions,
    tracking: Option<&pb::Tracking>,
) -> Result<Posted> {
    let (h, lines, m) = lock(tx, no, opts, tracking).await?;
    let posting_date = opts.posting_date.unwrap_or(h.posting_date);
    let p = plan(no, &h, &lines, m)?;
    for ((item, variant, loc), q) in &p.need {
        lock_and_check_stock(tx, item, variant, loc, -q, &format!("sales document {no}")).await?;
    }
    // The shipment's tracking: this call's, else the order's.
    let t = match tracking {
        Some(t) => tracking_cols(Some(t)),
        None => TrackingCols {
            company: h.tracking_company.clone(),
            number: h.tracking_number.clone(),
            url: h.tracking_url.clone(),
        },
    };
    let doc = DocumentPosting {
        no: &h.no,
        shop: &h.shop,
        shopify_order_id: h.shopify_order(),
        shopify_order_no: &h.shopify_order_no,
        ship_customer_no: &h.sell_to_customer_no,
        posting_date,
        fulfillment_state: if p.linked { "pending" } else { "nothing_to_send" },
        any_ship: p.any_ship,
        bill_customer_no: &h.bill_to_customer_no,
        currency: &h.currency,
        amount: p.amount,
        any_invoice: p.any_invoice,
        is_order: m.is_order,
        header_id: h.id,
        done: p.done,
        is_cm: m.is_cm,
        tracking_company: &t.company,
        tracking_number: &t.number,
        tracking_url: &t.url,
        shopify_refund_id: h.shopify_refund_id,
        applies_to_doc_no: &h.applies_to_doc_no,
    };
    let nos = posting::post(tx, p.lines, &doc).await?;
    let (amount_invoiced, amount_credited) = if m.is_cm { (0, p.amount) } else { (p.amount, 0) };
    Ok(Posted {
        shipment_no: nos.shipment_no,
        invoice_no: nos.invoice_no,
        credit_memo_no: nos.credit_memo_no,
        amount_invoiced,
        amount_credited,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::share;

    #[test]
    fn partial_shares_add_up_to_the_line_amount() {
        // 7 units for 1000: posted as 3 + 1 + 3, the parts sum to the whole exactly.
        let parts = [share(1000, 7, 0, 3), share(1000, 7, 3, 4), share(1000, 7, 4, 7)];
        assert_eq!(parts, [428, 143, 429]);
        assert_eq!(parts.iter().sum::<i64>(), 1000);
        for amount in [0, 1, 99, 12_345, i64::MAX / 8] {
            for q in 1..=9 {
                let total: i64 = (0..q).map(|k| share(amount, q, k, k + 1)).sum();
                assert_eq!(total, amount, "amount {amount} over {q} postings");
            }
        }
    }
}
