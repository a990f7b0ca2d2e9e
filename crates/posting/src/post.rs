//! Posting a sales document, and the posted documents: shipments (with their Shopify
//! fulfillment state) and invoices.
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
    pub amount_invoiced: i64,
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
    amount_minor: i64,
    quantity_shipped: i64,
    quantity_invoiced: i64,
    shopify_order_line_id: Option<i64>,
    blocked: bool,
    unit_cost_minor: i64,
}

/// The part of a line's amount that belongs to quantities `from..to` (cumulative shares,
/// so the parts of a fully posted line add up to its amount exactly).
fn share(amount: i64, quantity: i64, from: i64, to: i64) -> i64 {
    let a = i128::from(amount);
    let q = i128::from(quantity.max(1));
    ((a * i128::from(to)) / q - (a * i128::from(from)) / q) as i64
}

pub async fn post_document(pool: &PgPool, no: &str, opts: PostOptions) -> Result<Posted> {
    check_code(no, "no", 50)?;
    let mut tx = pool.begin().await?;
    let h: Option<HeaderRow> = match sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {HEADER_COLS} FROM posting.sales_headers WHERE no = $1 FOR UPDATE NOWAIT"
    )))
    .bind(no)
    .fetch_optional(&mut *tx)
    .await
    {
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("55P03") => {
            return Err(ErpError::Precondition(format!(
                "sales document {no} is being posted by another caller"
            )));
        }
        r => r?,
    };
    let h = h.ok_or_else(|| ErpError::NotFound(format!("sales document {no:?} not found")))?;
    let is_order = h.document_type == "order";
    let (ship, invoice) = if is_order { (opts.ship, opts.invoice) } else { (true, true) };
    if !ship && !invoice {
        return Err(ErpError::invalid("ship", "choose ship, invoice or both"));
    }
    if h.status == "posted" {
        return Err(ErpError::Precondition(format!(
            "sales document {no} is fully posted; nothing to post"
        )));
    }
    let blocked: bool = sqlx::query_scalar("SELECT blocked FROM posting.customers WHERE no = $1")
        .bind(&h.bill_to_customer_no)
        .fetch_one(&mut *tx)
        .await?;
    if blocked {
        return Err(ErpError::Precondition(format!(
            "sales document {no}: customer {} is blocked",
            h.bill_to_customer_no
        )));
    }
    let lines: Vec<PostLine> = sqlx::query_as(
        "SELECT l.line_no, l.item_no, l.variant_code, l.location_code, l.quantity, l.qty_per_uom, \
                l.unit_price_minor, l.amount_minor, l.quantity_shipped, l.quantity_invoiced, \
                l.shopify_order_line_id, i.blocked, i.unit_cost_minor \
         FROM posting.sales_lines l JOIN posting.items i ON i.no = l.item_no \
         WHERE l.header_id = $1 ORDER BY l.line_no",
    )
    .bind(h.id)
    .fetch_all(&mut *tx)
    .await?;
    let posting_date = opts.posting_date.unwrap_or(h.posting_date);

    // What each line ships (to_ship) and invoices (to_invoice) now.
    let plan: Vec<(i64, i64)> = lines
        .iter()
        .map(|l| {
            let to_ship = if ship { l.quantity - l.quantity_shipped } else { 0 };
            let to_invoice = if !invoice {
                0
            } else if is_order {
                l.quantity_shipped + to_ship - l.quantity_invoiced
            } else {
                l.quantity - l.quantity_invoiced
            };
            (to_ship, to_invoice)
        })
        .collect();
    if plan.iter().all(|(s, i)| *s == 0 && *i == 0) {
        return Err(ErpError::Precondition(format!(
            "sales document {no}: nothing to {}",
            match (ship, invoice) {
                (true, true) => "ship or invoice",
                (true, false) => "ship",
                _ => "invoice (ship it first)",
            }
        )));
    }
    for (l, (s, i)) in lines.iter().zip(&plan) {
        if (*s > 0 || *i > 0) && l.blocked {
            return Err(ErpError::Precondition(format!(
                "sales document {no} line {}: item {} is blocked",
                l.line_no, l.item_no
            )));
        }
    }

    // Stock leaves when shipped (orders) or when invoiced (invoices, which ship on posting).
    let out_qty: Vec<i64> = lines
        .iter()
        .zip(&plan)
        .map(|(l, (s, i))| if is_order { *s } else { *i } * i64::from(l.qty_per_uom))
        .collect();
    let mut need: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for (l, q) in lines.iter().zip(&out_qty) {
        if *q > 0 {
            *need
                .entry((l.item_no.clone(), l.variant_code.clone(), l.location_code.clone()))
                .or_default() += q;
        }
    }
    if !need.is_empty() {
        let locs: Vec<String> = need.keys().map(|k| k.2.clone()).collect();
        let guarded: Vec<String> = sqlx::query_scalar(
            "SELECT code FROM posting.locations WHERE code = ANY($1) AND prevent_negative_stock",
        )
        .bind(&locs)
        .fetch_all(&mut *tx)
        .await?;
        // BTreeMap order: every poster takes the advisory locks in the same order.
        for ((item, variant, loc), q) in &need {
            if guarded.contains(loc) {
                crate::master::check_stock(
                    &mut tx,
                    item,
                    variant,
                    loc,
                    -q,
                    &format!("sales document {no}"),
                )
                .await?;
            }
        }
    }

    let any_ship = is_order && plan.iter().any(|(s, _)| *s > 0);
    let any_invoice = plan.iter().any(|(_, i)| *i > 0);
    let (shipment_no, invoice_no): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT CASE WHEN $1 THEN posting.next_no('SSH', 'posting.posted_shipment_nos') END, \
                CASE WHEN $2 THEN posting.next_no('SINV', 'posting.posted_invoice_nos') END",
    )
    .bind(any_ship)
    .bind(any_invoice)
    .fetch_one(&mut *tx)
    .await?;

    // Item ledger: one sale entry per line that moves stock.
    let ledger_doc = if is_order { shipment_no.clone() } else { invoice_no.clone() };
    let mut le = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for ((l, (s, i)), q) in lines.iter().zip(&plan).zip(&out_qty) {
        if *q == 0 {
            continue;
        }
        let (from, to) = if is_order {
            (l.quantity_shipped, l.quantity_shipped + s)
        } else {
            (l.quantity_invoiced, l.quantity_invoiced + i)
        };
        le.0.push(l.item_no.clone());
        le.1.push(l.variant_code.clone());
        le.2.push(l.location_code.clone());
        le.3.push(-q);
        le.4.push(-(q * l.unit_cost_minor));
        le.5.push(share(l.amount_minor, l.quantity, from, to));
    }
    if !le.0.is_empty() {
        sqlx::query(
            "INSERT INTO posting.item_ledger_entries (entry_type, item_no, variant_code, \
               location_code, posting_date, quantity, cost_amount_minor, sales_amount_minor, \
               currency, document_type, document_no, shop, shopify_order_id, shopify_order_no) \
             SELECT 'sale', x.item, x.variant, x.loc, $7, x.qty, x.cost, x.sales, $8, $9, $10, \
               $11, $12, $13 \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) \
               AS x(item, variant, loc, qty, cost, sales)",
        )
        .bind(&le.0)
        .bind(&le.1)
        .bind(&le.2)
        .bind(&le.3)
        .bind(&le.4)
        .bind(&le.5)
        .bind(posting_date)
        .bind(&h.currency)
        .bind(if is_order { "shipment" } else { "invoice" })
        .bind(ledger_doc.as_deref().unwrap_or(""))
        .bind(&h.shop)
        .bind(h.shopify_order_id)
        .bind(&h.shopify_order_no)
        .execute(&mut *tx)
        .await?;
    }

    if let Some(sno) = &shipment_no {
        let shipped: Vec<(&PostLine, i64)> = lines
            .iter()
            .zip(&plan)
            .filter(|(_, (s, _))| *s > 0)
            .map(|(l, (s, _))| (l, *s))
            .collect();
        let linked = h.shopify_order_id.is_some()
            && shipped.iter().any(|(l, _)| l.shopify_order_line_id.is_some());
        sqlx::query(
            "WITH s AS ( \
               INSERT INTO posting.posted_shipments (no, order_no, shop, shopify_order_id, \
                 shopify_order_no, customer_no, posting_date, fulfillment_state) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id) \
             INSERT INTO posting.posted_shipment_lines (shipment_id, line_no, item_no, \
               variant_code, location_code, quantity, shopify_order_line_id) \
             SELECT s.id, x.* FROM s, unnest($9::int[], $10::text[], $11::text[], $12::text[], \
               $13::bigint[], $14::bigint[]) AS x",
        )
        .bind(sno)
        .bind(&h.no)
        .bind(&h.shop)
        .bind(h.shopify_order_id)
        .bind(&h.shopify_order_no)
        .bind(&h.sell_to_customer_no)
        .bind(posting_date)
        .bind(if linked { "pending" } else { "nothing_to_send" })
        .bind(shipped.iter().map(|(l, _)| l.line_no).collect::<Vec<_>>())
        .bind(shipped.iter().map(|(l, _)| l.item_no.clone()).collect::<Vec<_>>())
        .bind(shipped.iter().map(|(l, _)| l.variant_code.clone()).collect::<Vec<_>>())
        .bind(shipped.iter().map(|(l, _)| l.location_code.clone()).collect::<Vec<_>>())
        .bind(shipped.iter().map(|(_, s)| *s).collect::<Vec<_>>())
        .bind(shipped.iter().map(|(l, _)| l.shopify_order_line_id).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }

    let mut amount_invoiced = 0i64;
    if let Some(ino) = &invoice_no {
        let inv: Vec<(&PostLine, i64, i64)> = lines
            .iter()
            .zip(&plan)
            .filter(|(_, (_, i))| *i > 0)
            .map(|(l, (_, i))| {
                (
                    l,
                    *i,
                    share(l.amount_minor, l.quantity, l.quantity_invoiced, l.quantity_invoiced + i),
                )
            })
            .collect();
        amount_invoiced = inv.iter().map(|(_, _, a)| a).sum();
        sqlx::query(
            "WITH i AS ( \
               INSERT INTO posting.posted_invoices (no, order_no, shop, shopify_order_id, \
                 shopify_order_no, customer_no, posting_date, currency, amount_minor) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id), \
             l AS ( \
               INSERT INTO posting.posted_invoice_lines (invoice_id, line_no, item_no, \
                 variant_code, quantity, unit_price_minor, amount_minor, shopify_order_line_id) \
               SELECT i.id, x.* FROM i, unnest($10::int[], $11::text[], $12::text[], \
                 $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[]) AS x) \
             INSERT INTO posting.customer_ledger_entries (customer_no, posting_date, \
               document_type, document_no, currency, amount_minor, remaining_amount_minor, shop, \
               shopify_order_id, shopify_order_no) \
             VALUES ($6, $7, 'invoice', $1, $8, $9, $9, $3, $4, $5)",
        )
        .bind(ino)
        .bind(&h.no)
        .bind(&h.shop)
        .bind(h.shopify_order_id)
        .bind(&h.shopify_order_no)
        .bind(&h.bill_to_customer_no)
        .bind(posting_date)
        .bind(&h.currency)
        .bind(amount_invoiced)
        .bind(inv.iter().map(|(l, _, _)| l.line_no).collect::<Vec<_>>())
        .bind(inv.iter().map(|(l, _, _)| l.item_no.clone()).collect::<Vec<_>>())
        .bind(inv.iter().map(|(l, _, _)| l.variant_code.clone()).collect::<Vec<_>>())
        .bind(inv.iter().map(|(_, q, _)| *q).collect::<Vec<_>>())
        .bind(inv.iter().map(|(l, _, _)| l.unit_price_minor).collect::<Vec<_>>())
        .bind(inv.iter().map(|(_, _, a)| *a).collect::<Vec<_>>())
        .bind(inv.iter().map(|(l, _, _)| l.shopify_order_line_id).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }

    // Line quantities, then the header: posted once every line is shipped and invoiced.
    let done = lines.iter().zip(&plan).all(|(l, (s, i))| {
        let shipped = if is_order { l.quantity_shipped + s } else { l.quantity_invoiced + i };
        shipped == l.quantity && l.quantity_invoiced + i == l.quantity
    });
    sqlx::query(
        "WITH u AS ( \
           UPDATE posting.sales_lines l SET \
             quantity_shipped = l.quantity_shipped + x.s, quantity_invoiced = l.quantity_invoiced + x.i \
           FROM unnest($2::int[], $3::bigint[], $4::bigint[]) AS x(line_no, s, i) \
           WHERE l.header_id = $1 AND l.line_no = x.line_no) \
         UPDATE posting.sales_headers SET status = CASE WHEN $5 THEN 'posted' ELSE status END, \
           posting_date = $6, version = version + 1, updated_at = now() WHERE id = $1",
    )
    .bind(h.id)
    .bind(lines.iter().map(|l| l.line_no).collect::<Vec<_>>())
    .bind(
        lines
            .iter()
            .zip(&plan)
            .map(|(_, (s, i))| if is_order { *s } else { *i })
            .collect::<Vec<_>>(),
    )
    .bind(plan.iter().map(|(_, i)| *i).collect::<Vec<_>>())
    .bind(done)
    .bind(posting_date)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Posted { shipment_no, invoice_no, amount_invoiced })
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
    #[sqlx(default)]
    xid: i64,
}

const SHIPMENT_COLS: &str = "id, no, order_no, shop, shopify_order_id, shopify_order_no, \
    customer_no, posting_date, fulfillment_state, fulfillment_id, fulfillment_error";

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
        ErpError::NotFound(format!("posted shipment {:?} not found", r.shipment_no))
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
    let row: ShipmentRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SHIPMENT_COLS}, change_xid::text::bigint AS xid FROM posting.posted_shipments WHERE no = $1"
    )))
    .bind(&r.shipment_no)
    .fetch_one(pool)
    .await?;
    Ok(shipments_pb(pool, vec![row]).await?.remove(0))
}
