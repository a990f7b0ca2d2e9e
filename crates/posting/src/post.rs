//! Posting a sales document, and the posted documents: shipments (with their Shopify
//! fulfillment state and tracking), invoices and credit memos.
//!
//! One document is posted in one transaction: the header is locked with NOWAIT (a second
//! caller posting the same document at the same time is refused at once instead of waiting
//! and then posting again), quantities are computed from what the lines still have to ship
//! or invoice, and everything (item ledger, posted shipment, posted invoice, customer
//! ledger, line quantities, header status) commits together or not at all.

use crate::docs::HEADER_COLS;
use crate::docs::HeaderRow;
use crate::error::{ErpError, Result};
use crate::util::*;
use chrono::NaiveDate;
use shopsync_common::quoted;
use shopsync_proto::pb;
use sqlx::PgPool;
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

#[derive(sqlx::FromRow)]
struct HeaderAndLine {
    #[sqlx(flatten)]
    header: HeaderRow,
    #[sqlx(flatten)]
    line: PostLine,
}

#[derive(sqlx::FromRow)]
struct PostLine {
    line_no: i32,
    item_no: String,
    variant_code: String,
    location_code: String,
    quantity: i64,
    qty_per_uom: i32,
    unit_price_minor: i64,
    #[sqlx(rename = "line_amount_minor")]
    amount_minor: i64,
    quantity_shipped: i64,
    quantity_invoiced: i64,
    shopify_order_line_id: Option<i64>,
    return_to_stock: bool,
    blocked: bool,
    unit_cost_minor: i64,
    /// The line's location refuses negative stock.
    guarded: bool,
}

/// The part of a line's amount that belongs to quantities `from..to` (cumulative shares,
/// so the parts of a fully posted line add up to its amount exactly).
fn share(amount: i64, quantity: i64, from: i64, to: i64) -> i64 {
    let a = i128::from(amount);
    let q = i128::from(quantity.max(1));
    ((a * i128::from(to)) / q - (a * i128::from(from)) / q) as i64
}

/// Per-line arrays for the posting statement.
#[derive(Default)]
struct Cols {
    line_no: Vec<i32>,
    item: Vec<String>,
    variant: Vec<String>,
    location: Vec<String>,
    sol: Vec<Option<i64>>,
    price: Vec<i64>,
    /// Added to quantity_shipped / quantity_invoiced (line unit of measure).
    ship_inc: Vec<i64>,
    inv_inc: Vec<i64>,
    /// Shipped now, for the shipment lines (orders only).
    shipped: Vec<i64>,
    inv_amount: Vec<i64>,
    /// Base units leaving stock (negative: coming back), their cost and sales amount.
    out_qty: Vec<i64>,
    out_cost: Vec<i64>,
    sales: Vec<i64>,
    /// Credit memo lines: returned to stock.
    ret: Vec<bool>,
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

/// [`post_document`] inside its transaction.
async fn post_in(
    tx: &mut sqlx::PgConnection,
    no: &str,
    opts: PostOptions,
    tracking: Option<&pb::Tracking>,
) -> Result<Posted> {
    // The header with its lines in one query, the header locked without waiting: a second
    // poster is refused at once.
    let rows: Vec<HeaderAndLine> = match sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {}, c.blocked AS customer_blocked, \
                l.line_no, l.item_no, l.variant_code, l.location_code, l.quantity, l.qty_per_uom, \
                l.unit_price_minor, l.amount_minor AS line_amount_minor, l.quantity_shipped, \
                l.quantity_invoiced, l.shopify_order_line_id, l.return_to_stock, i.blocked, \
                i.unit_cost_minor, \
                lo.prevent_negative_stock AS guarded \
         FROM posting.sales_headers h \
         JOIN posting.customers c ON c.no = h.bill_to_customer_no \
         JOIN posting.sales_lines l ON l.header_id = h.id \
         JOIN posting.items i ON i.no = l.item_no \
         JOIN posting.locations lo ON lo.code = l.location_code \
         WHERE h.no = $1 ORDER BY l.line_no FOR UPDATE OF h NOWAIT",
        HEADER_COLS.split(", ").map(|c| format!("h.{c}")).collect::<Vec<_>>().join(", ")
    )))
    .bind(no)
    .fetch_all(&mut *tx)
    .await
    {
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("55P03") => {
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
    let posting_date = opts.posting_date.unwrap_or(h.posting_date);

    // What each line ships and invoices now.
    let mut c = Cols::default();
    let mut need: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    let mut done = true;
    for l in &lines {
        let to_ship = if ship { l.quantity - l.quantity_shipped } else { 0 };
        let to_invoice = if !invoice {
            0
        } else if is_order {
            l.quantity_shipped + to_ship - l.quantity_invoiced
        } else {
            l.quantity - l.quantity_invoiced
        };
        // Stock leaves when shipped (orders) or when invoiced (invoices ship on posting); a
        // credit memo brings back what its return lines credit.
        let (out, from) = if is_order {
            (to_ship, l.quantity_shipped)
        } else if is_cm {
            (if l.return_to_stock { -to_invoice } else { 0 }, l.quantity_invoiced)
        } else {
            (to_invoice, l.quantity_invoiced)
        };
        // Shipped (orders), or shipped and invoiced at once (invoices, credit memos).
        let ship_inc = if is_order { to_ship } else { to_invoice };
        if (out != 0 || to_invoice > 0) && l.blocked {
            return Err(ErpError::Precondition(format!(
                "sales document {no} line {}: item {} is blocked",
                l.line_no, l.item_no
            )));
        }
        let out_base = out * i64::from(l.qty_per_uom);
        if out_base > 0 && l.guarded {
            *need
                .entry((l.item_no.clone(), l.variant_code.clone(), l.location_code.clone()))
                .or_default() += out_base;
        }
        done &= l.quantity_shipped + ship_inc == l.quantity
            && l.quantity_invoiced + to_invoice == l.quantity;
        c.line_no.push(l.line_no);
        c.item.push(l.item_no.clone());
        c.variant.push(l.variant_code.clone());
        c.location.push(l.location_code.clone());
        c.sol.push(l.shopify_order_line_id);
        c.price.push(l.unit_price_minor);
        c.ship_inc.push(ship_inc);
        c.inv_inc.push(to_invoice);
        c.shipped.push(if is_order { to_ship } else { 0 });
        c.inv_amount.push(share(
            l.amount_minor,
            l.quantity,
            l.quantity_invoiced,
            l.quantity_invoiced + to_invoice,
        ));
        c.out_qty.push(out_base);
        c.out_cost.push(out_base * l.unit_cost_minor);
        c.sales.push(if out >= 0 {
            share(l.amount_minor, l.quantity, from, from + out)
        } else {
            -share(l.amount_minor, l.quantity, from, from - out)
        });
        c.ret.push(l.return_to_stock);
    }
    let any_ship = is_order && c.shipped.iter().any(|q| *q > 0);
    let any_invoice = c.inv_inc.iter().any(|q| *q > 0);
    if !any_ship && !any_invoice {
        return Err(ErpError::Precondition(format!(
            "sales document {no}: nothing to {}",
            match (ship, invoice) {
                (true, true) => "ship or invoice",
                (true, false) => "ship",
                _ => "invoice (ship it first)",
            }
        )));
    }
    // BTreeMap order: every poster takes the advisory locks in the same order.
    for ((item, variant, loc), q) in &need {
        crate::master::lock_and_check_stock(
            &mut *tx,
            item,
            variant,
            loc,
            -q,
            &format!("sales document {no}"),
        )
        .await?;
    }
    let linked = h.shopify_order_id.is_some()
        && lines.iter().zip(&c.shipped).any(|(l, s)| *s > 0 && l.shopify_order_line_id.is_some());
    let amount_invoiced: i64 = c.inv_amount.iter().sum();
    // The shipment's tracking: this call's, else the order's.
    let (tc, tn, tu) = match tracking {
        Some(t) => crate::docs::tracking_cols(Some(t)),
        None => (h.tracking_company.clone(), h.tracking_number.clone(), h.tracking_url.clone()),
    };

    // Every write in one statement: posted shipment and its lines, posted invoice (or credit
    // memo), its lines and the customer ledger entry, the item ledger, line quantities, the
    // header.
    type Nos = (Option<String>, Option<String>, Option<String>);
    let (shipment_no, invoice_no, credit_memo_no): Nos = sqlx::query_as(
        "WITH x AS ( \
           SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
             $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], \
             $11::bigint[], $12::bigint[], $13::bigint[], $29::bool[]) \
           AS t(line_no, item, variant, loc, sol, price, ship_inc, inv_inc, shipped, \
                inv_amount, out_qty, out_cost, sales, ret)), \
         s AS ( \
           INSERT INTO posting.posted_shipments (no, order_no, shop, shopify_order_id, \
             shopify_order_no, customer_no, posting_date, fulfillment_state, \
             tracking_company, tracking_number, tracking_url) \
           SELECT posting.next_no('SSH', 'posting.posted_shipment_nos'), $14, $15, $16, $17, \
             $18, $19, $20, $31, $32, $33 WHERE $21 \
           RETURNING id, no), \
         sl AS ( \
           INSERT INTO posting.posted_shipment_lines (shipment_id, line_no, item_no, \
             variant_code, location_code, quantity, shopify_order_line_id) \
           SELECT s.id, x.line_no, x.item, x.variant, x.loc, x.shipped, x.sol \
           FROM s, x WHERE x.shipped > 0), \
         i AS ( \
           INSERT INTO posting.posted_invoices (no, order_no, shop, shopify_order_id, \
             shopify_order_no, customer_no, posting_date, currency, amount_minor) \
           SELECT posting.next_no('SINV', 'posting.posted_invoice_nos'), $14, $15, $16, $17, \
             $22, $19, $23, $24 WHERE $25 AND NOT $30 \
           RETURNING id, no), \
         il AS ( \
           INSERT INTO posting.posted_invoice_lines (invoice_id, line_no, item_no, \
             variant_code, quantity, unit_price_minor, amount_minor, shopify_order_line_id) \
           SELECT i.id, x.line_no, x.item, x.variant, x.inv_inc, x.price, x.inv_amount, x.sol \
           FROM i, x WHERE x.inv_inc > 0), \
         c AS ( \
           INSERT INTO posting.posted_credit_memos (no, document_no, shop, shopify_order_id, \
             shopify_order_no, shopify_refund_id, applies_to_doc_no, customer_no, \
             posting_date, currency, amount_minor) \
           SELECT posting.next_no('SCM', 'posting.posted_credit_memo_nos'), $14, $15, $16, \
             $17, $34, $35, $22, $19, $23, $24 WHERE $25 AND $30 \
           RETURNING id, no), \
         cl AS ( \
           INSERT INTO posting.posted_credit_memo_lines (credit_memo_id, line_no, item_no, \
             variant_code, location_code, quantity, unit_price_minor, amount_minor, \
             return_to_stock, shopify_order_line_id) \
           SELECT c.id, x.line_no, x.item, x.variant, x.loc, x.inv_inc, x.price, \
             x.inv_amount, x.ret, x.sol \
           FROM c, x WHERE x.inv_inc > 0), \
         cle AS ( \
           INSERT INTO posting.customer_ledger_entries (customer_no, posting_date, \
             document_type, document_no, currency, amount_minor, remaining_amount_minor, shop, \
             shopify_order_id, shopify_order_no) \
           SELECT $22, $19, 'invoice', i.no, $23, $24::bigint, $24::bigint, $15, $16, $17 \
           FROM i \
           UNION ALL \
           SELECT $22, $19, 'credit_memo', c.no, $23, -$24::bigint, -$24::bigint, $15, $16, \
             $17 FROM c), \
         le AS ( \
           INSERT INTO posting.item_ledger_entries (entry_type, item_no, variant_code, \
             location_code, posting_date, quantity, cost_amount_minor, sales_amount_minor, \
             currency, document_type, document_no, shop, shopify_order_id, shopify_order_no) \
           SELECT 'sale', x.item, x.variant, x.loc, $19, -x.out_qty, -x.out_cost, x.sales, $23, \
             CASE WHEN $26 THEN 'shipment' WHEN $30 THEN 'credit_memo' ELSE 'invoice' END, \
             CASE WHEN $26 THEN (SELECT no FROM s) WHEN $30 THEN (SELECT no FROM c) \
                  ELSE (SELECT no FROM i) END, $15, $16, $17 \
           FROM x WHERE x.out_qty <> 0), \
         u AS ( \
           UPDATE posting.sales_lines l SET quantity_shipped = l.quantity_shipped + x.ship_inc, \
             quantity_invoiced = l.quantity_invoiced + x.inv_inc \
           FROM x WHERE l.header_id = $27 AND l.line_no = x.line_no \
             AND (x.ship_inc > 0 OR x.inv_inc > 0)) \
         UPDATE posting.sales_headers SET status = CASE WHEN $28 THEN 'posted' ELSE status END, \
           posting_date = $19, version = version + 1, updated_at = now() WHERE id = $27 \
         RETURNING (SELECT no FROM s), (SELECT no FROM i), (SELECT no FROM c)",
    )
    .bind(&c.line_no)
    .bind(&c.item)
    .bind(&c.variant)
    .bind(&c.location)
    .bind(&c.sol)
    .bind(&c.price)
    .bind(&c.ship_inc)
    .bind(&c.inv_inc)
    .bind(&c.shipped)
    .bind(&c.inv_amount)
    .bind(&c.out_qty)
    .bind(&c.out_cost)
    .bind(&c.sales)
    .bind(&h.no)
    .bind(&h.shop)
    .bind(h.shopify_order())
    .bind(&h.shopify_order_no)
    .bind(&h.sell_to_customer_no)
    .bind(posting_date)
    .bind(if linked { "pending" } else { "nothing_to_send" })
    .bind(any_ship)
    .bind(&h.bill_to_customer_no)
    .bind(&h.currency)
    .bind(amount_invoiced)
    .bind(any_invoice)
    .bind(is_order)
    .bind(h.id)
    .bind(done)
    .bind(&c.ret)
    .bind(is_cm)
    .bind(&tc)
    .bind(&tn)
    .bind(&tu)
    .bind(h.shopify_refund_id)
    .bind(&h.applies_to_doc_no)
    .fetch_one(&mut *tx)
    .await?;
    let (amount_invoiced, amount_credited) =
        if is_cm { (0, amount_invoiced) } else { (amount_invoiced, 0) };
    Ok(Posted { shipment_no, invoice_no, credit_memo_no, amount_invoiced, amount_credited })
}

#[derive(sqlx::FromRow)]
struct ShipmentRow {
    id: i64,
    no: String,
    order_no: String,
    shop: String,
    shopify_order_id: Option<i64>,
    shopify_order_no: String,
    customer_no: String,
    posting_date: NaiveDate,
    fulfillment_state: String,
    fulfillment_id: String,
    fulfillment_error: String,
    tracking_company: String,
    tracking_number: String,
    tracking_url: String,
    #[sqlx(default)]
    xid: i64,
}

const SHIPMENT_COLS: &str = "id, no, order_no, shop, shopify_order_id, shopify_order_no, \
    customer_no, posting_date, fulfillment_state, fulfillment_id, fulfillment_error, \
    tracking_company, tracking_number, tracking_url";

fn state_pb(s: &str) -> pb::FulfillmentState {
    match s {
        "pending" => pb::FulfillmentState::Pending,
        "sent" => pb::FulfillmentState::Sent,
        "failed" => pb::FulfillmentState::Failed,
        "nothing_to_send" => pb::FulfillmentState::NothingToSend,
        _ => pb::FulfillmentState::Unspecified,
    }
}

type ShipLineRow = (i64, i32, String, String, String, i64, Option<i64>);
type InvLineRow = (i64, i32, String, String, i64, i64, i64, Option<i64>);

async fn shipments_pb(pool: &PgPool, rows: Vec<ShipmentRow>) -> Result<Vec<pb::PostedShipment>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let lines: Vec<ShipLineRow> = sqlx::query_as(
        "SELECT shipment_id, line_no, item_no, variant_code, location_code, quantity, \
         shopify_order_line_id FROM posting.posted_shipment_lines WHERE shipment_id = ANY($1) \
         ORDER BY shipment_id, line_no",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut by: std::collections::HashMap<i64, Vec<pb::PostedShipmentLine>> = Default::default();
    for l in lines {
        by.entry(l.0).or_default().push(pb::PostedShipmentLine {
            line_no: l.1 as u32,
            item_no: l.2,
            variant_code: l.3,
            location_code: l.4,
            quantity: l.5,
            shopify_order_line_id: l.6.unwrap_or(0),
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| pb::PostedShipment {
            cursor: cursor(r.xid, &r.id.to_string()),
            lines: by.remove(&r.id).unwrap_or_default(),
            no: r.no,
            order_no: r.order_no,
            shop: r.shop,
            shopify_order_id: r.shopify_order_id.unwrap_or(0),
            shopify_order_no: r.shopify_order_no,
            customer_no: r.customer_no,
            posting_date: fmt_date(r.posting_date),
            fulfillment_state: state_pb(&r.fulfillment_state) as i32,
            fulfillment_id: r.fulfillment_id,
            fulfillment_error: r.fulfillment_error,
            tracking: crate::docs::tracking_pb(
                r.tracking_company,
                r.tracking_number,
                r.tracking_url,
            ),
        })
        .collect())
}

pub async fn list_shipments(
    pool: &PgPool,
    r: &pb::ListPostedRequest,
) -> Result<(Vec<pb::PostedShipment>, String)> {
    let limit = page_size(r.page_size);
    let after: i64 = if r.page_token.is_empty() {
        0
    } else {
        r.page_token.parse().map_err(|_| ErpError::invalid("page_token", "not a page token"))?
    };
    let rows: Vec<ShipmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SHIPMENT_COLS} FROM posting.posted_shipments WHERE id > $1 \
         AND ($2 = '' OR shop = $2) AND ($3 = 0 OR shopify_order_id = $3) \
         AND ($4 = '' OR order_no = $4) ORDER BY id LIMIT $5"
    )))
    .bind(after)
    .bind(&r.shop)
    .bind(r.shopify_order_id)
    .bind(&r.order_no)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let next =
        if rows.len() as i64 == limit { rows.last().map(|r| r.id.to_string()) } else { None };
    Ok((shipments_pb(pool, rows).await?, next.unwrap_or_default()))
}

pub async fn list_invoices(
    pool: &PgPool,
    r: &pb::ListPostedRequest,
) -> Result<(Vec<pb::PostedInvoice>, String)> {
    let limit = page_size(r.page_size);
    let after: i64 = if r.page_token.is_empty() {
        0
    } else {
        r.page_token.parse().map_err(|_| ErpError::invalid("page_token", "not a page token"))?
    };
    type Row = (i64, String, String, String, Option<i64>, String, String, NaiveDate, String, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, no, order_no, shop, shopify_order_id, shopify_order_no, customer_no, \
         posting_date, currency, amount_minor FROM posting.posted_invoices WHERE id > $1 \
         AND ($2 = '' OR shop = $2) AND ($3 = 0 OR shopify_order_id = $3) \
         AND ($4 = '' OR order_no = $4) ORDER BY id LIMIT $5",
    )
    .bind(after)
    .bind(&r.shop)
    .bind(r.shopify_order_id)
    .bind(&r.order_no)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let lines: Vec<InvLineRow> = sqlx::query_as(
        "SELECT invoice_id, line_no, item_no, variant_code, quantity, unit_price_minor, \
         amount_minor, shopify_order_line_id FROM posting.posted_invoice_lines \
         WHERE invoice_id = ANY($1) ORDER BY invoice_id, line_no",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut by: std::collections::HashMap<i64, Vec<pb::PostedInvoiceLine>> = Default::default();
    for l in lines {
        by.entry(l.0).or_default().push(pb::PostedInvoiceLine {
            line_no: l.1 as u32,
            item_no: l.2,
            variant_code: l.3,
            quantity: l.4,
            unit_price_minor: l.5,
            amount_minor: l.6,
            shopify_order_line_id: l.7.unwrap_or(0),
        });
    }
    let next = if rows.len() as i64 == limit { rows.last().map(|r| r.0.to_string()) } else { None };
    Ok((
        rows.into_iter()
            .map(|r| pb::PostedInvoice {
                lines: by.remove(&r.0).unwrap_or_default(),
                no: r.1,
                order_no: r.2,
                shop: r.3,
                shopify_order_id: r.4.unwrap_or(0),
                shopify_order_no: r.5,
                customer_no: r.6,
                posting_date: fmt_date(r.7),
                currency: r.8,
                amount_minor: r.9,
            })
            .collect(),
        next.unwrap_or_default(),
    ))
}

#[derive(sqlx::FromRow)]
struct CreditMemoRow {
    id: i64,
    no: String,
    document_no: String,
    shop: String,
    shopify_order_id: Option<i64>,
    shopify_order_no: String,
    shopify_refund_id: Option<i64>,
    applies_to_doc_no: String,
    customer_no: String,
    posting_date: NaiveDate,
    currency: String,
    amount_minor: i64,
}

#[derive(sqlx::FromRow)]
struct CreditMemoLineRow {
    credit_memo_id: i64,
    line_no: i32,
    item_no: String,
    variant_code: String,
    location_code: String,
    quantity: i64,
    unit_price_minor: i64,
    amount_minor: i64,
    return_to_stock: bool,
    shopify_order_line_id: Option<i64>,
}

/// Posted credit memos; `order_no` of the request filters by the credit memo posted from.
pub async fn list_credit_memos(
    pool: &PgPool,
    r: &pb::ListPostedRequest,
) -> Result<(Vec<pb::PostedCreditMemo>, String)> {
    let limit = page_size(r.page_size);
    let after: i64 = if r.page_token.is_empty() {
        0
    } else {
        r.page_token.parse().map_err(|_| ErpError::invalid("page_token", "not a page token"))?
    };
    let rows: Vec<CreditMemoRow> = sqlx::query_as(
        "SELECT id, no, document_no, shop, shopify_order_id, shopify_order_no, \
         shopify_refund_id, applies_to_doc_no, customer_no, posting_date, currency, \
         amount_minor FROM posting.posted_credit_memos WHERE id > $1 \
         AND ($2 = '' OR shop = $2) AND ($3 = 0 OR shopify_order_id = $3) \
         AND ($4 = '' OR document_no = $4) ORDER BY id LIMIT $5",
    )
    .bind(after)
    .bind(&r.shop)
    .bind(r.shopify_order_id)
    .bind(&r.order_no)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let lines: Vec<CreditMemoLineRow> = sqlx::query_as(
        "SELECT credit_memo_id, line_no, item_no, variant_code, location_code, quantity, \
         unit_price_minor, amount_minor, return_to_stock, shopify_order_line_id \
         FROM posting.posted_credit_memo_lines WHERE credit_memo_id = ANY($1) \
         ORDER BY credit_memo_id, line_no",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut by: std::collections::HashMap<i64, Vec<pb::PostedCreditMemoLine>> = Default::default();
    for l in lines {
        by.entry(l.credit_memo_id).or_default().push(pb::PostedCreditMemoLine {
            line_no: l.line_no as u32,
            item_no: l.item_no,
            variant_code: l.variant_code,
            location_code: l.location_code,
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
            amount_minor: l.amount_minor,
            return_to_stock: l.return_to_stock,
            shopify_order_line_id: l.shopify_order_line_id.unwrap_or(0),
        });
    }
    let next =
        if rows.len() as i64 == limit { rows.last().map(|r| r.id.to_string()) } else { None };
    Ok((
        rows.into_iter()
            .map(|r| pb::PostedCreditMemo {
                lines: by.remove(&r.id).unwrap_or_default(),
                no: r.no,
                document_no: r.document_no,
                shop: r.shop,
                shopify_order_id: r.shopify_order_id.unwrap_or(0),
                shopify_order_no: r.shopify_order_no,
                shopify_refund_id: r.shopify_refund_id.unwrap_or(0),
                applies_to_doc_no: r.applies_to_doc_no,
                customer_no: r.customer_no,
                posting_date: fmt_date(r.posting_date),
                currency: r.currency,
                amount_minor: r.amount_minor,
            })
            .collect(),
        next.unwrap_or_default(),
    ))
}

/// Posted shipments of Shopify orders still to be sent as fulfillments, after the cursor.
pub async fn awaiting_fulfillment(
    pool: &PgPool,
    cursor: &str,
    shop: &str,
    include_failed: bool,
    limit: i64,
) -> Result<Vec<pb::PostedShipment>> {
    let (xid, key) = parse_cursor(cursor)?;
    let id: i64 = if key.is_empty() {
        0
    } else {
        key.parse().map_err(|_| ErpError::invalid("cursor", "not a cursor of this feed"))?
    };
    let rows: Vec<ShipmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SHIPMENT_COLS}, change_xid::text::bigint AS xid FROM posting.posted_shipments \
         WHERE fulfillment_state IN ('pending', 'failed') \
           AND (fulfillment_state = 'pending' OR $3) \
           AND (change_xid, id) > ($1::text::xid8, $2) \
           AND change_xid < pg_snapshot_xmin(pg_current_snapshot()) \
           AND ($4 = '' OR shop = $4) \
         ORDER BY change_xid, id LIMIT $5"
    )))
    .bind(xid)
    .bind(id)
    .bind(include_failed)
    .bind(shop)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    shipments_pb(pool, rows).await
}

pub async fn record_fulfillment(
    pool: &PgPool,
    r: &pb::FulfillmentResultRequest,
) -> Result<pb::PostedShipment> {
    use pb::fulfillment_result_request::Result as R;
    check_code(&r.shipment_no, "shipment_no", 50)?;
    let (state, id, error) = match &r.result {
        Some(R::Sent(id)) if !id.trim().is_empty() => ("sent", id.clone(), String::new()),
        Some(R::Sent(_)) => {
            return Err(ErpError::invalid("sent", "the fulfillment id is required"));
        }
        Some(R::Failed(reason)) if !reason.trim().is_empty() => {
            ("failed", String::new(), reason.clone())
        }
        Some(R::Failed(_)) => return Err(ErpError::invalid("failed", "a reason is required")),
        Some(R::NothingToSend(true)) => ("nothing_to_send", String::new(), String::new()),
        _ => {
            return Err(ErpError::invalid(
                "result",
                "one of sent, failed, nothing_to_send is required",
            ));
        }
    };
    let mut tx = pool.begin().await?;
    let cur: Option<(String, String)> = sqlx::query_as(
        "SELECT fulfillment_state, fulfillment_id FROM posting.posted_shipments WHERE no = $1 FOR UPDATE",
    )
    .bind(&r.shipment_no)
    .fetch_optional(&mut *tx)
    .await?;
    let (cur_state, cur_id) = cur.ok_or_else(|| {
        ErpError::NotFound(format!("posted shipment {} not found", quoted(&r.shipment_no)))
    })?;
    match cur_state.as_str() {
        "sent" if state == "sent" && cur_id == id => {}
        "sent" => {
            return Err(ErpError::Precondition(format!(
                "posted shipment {} was already sent as fulfillment {cur_id}",
                r.shipment_no
            )));
        }
        _ => {
            sqlx::query(
                "UPDATE posting.posted_shipments SET fulfillment_state = $2, fulfillment_id = $3, \
                 fulfillment_error = $4, updated_at = now() WHERE no = $1",
            )
            .bind(&r.shipment_no)
            .bind(state)
            .bind(&id)
            .bind(&error)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    shipment(pool, &r.shipment_no).await
}

/// A failed or nothing-to-send shipment back to pending, its error cleared. Its `change_xid`
/// moves to this transaction, so the awaiting feed sends it again after any cursor saved
/// before (the feed's order is `(change_xid, id)`).
pub async fn reset_fulfillment(
    pool: &PgPool,
    r: &pb::ResetFulfillmentRequest,
) -> Result<pb::PostedShipment> {
    check_code(&r.shipment_no, "shipment_no", 50)?;
    let mut tx = pool.begin().await?;
    let cur: Option<(String, String)> = sqlx::query_as(
        "SELECT fulfillment_state, fulfillment_id FROM posting.posted_shipments \
         WHERE no = $1 FOR UPDATE",
    )
    .bind(&r.shipment_no)
    .fetch_optional(&mut *tx)
    .await?;
    let (state, id) = cur.ok_or_else(|| {
        ErpError::NotFound(format!("posted shipment {} not found", quoted(&r.shipment_no)))
    })?;
    match state.as_str() {
        "sent" => {
            return Err(ErpError::Precondition(format!(
                "posted shipment {} was already sent as fulfillment {id}",
                r.shipment_no
            )));
        }
        "pending" => {}
        _ => {
            sqlx::query(
                "UPDATE posting.posted_shipments SET fulfillment_state = 'pending', \
                 fulfillment_id = '', fulfillment_error = '', \
                 change_xid = pg_current_xact_id(), updated_at = now() WHERE no = $1",
            )
            .bind(&r.shipment_no)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    shipment(pool, &r.shipment_no).await
}

async fn shipment(pool: &PgPool, no: &str) -> Result<pb::PostedShipment> {
    let row: ShipmentRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SHIPMENT_COLS}, change_xid::text::bigint AS xid FROM posting.posted_shipments \
         WHERE no = $1"
    )))
    .bind(no)
    .fetch_one(pool)
    .await?;
    Ok(shipments_pb(pool, vec![row]).await?.remove(0))
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
