//! Posted documents as the API shows them: shipments (with their Shopify fulfillment state
//! and tracking), invoices and credit memos; the feed of shipments awaiting fulfillment and
//! the fulfillment results recorded on them. Statements: `repo::posted`.

use crate::error::{ErpError, Result};
use crate::repo::documents::TrackingCols;
use crate::repo::posted::{self, FulfillmentIn, PostedFilter, ShipmentRow};
use crate::util::*;
use shopsync_common::quoted;
use shopsync_proto::pb;
use sqlx::PgPool;
use std::collections::HashMap;

/// Fulfillment states: pb and stored, each pair once.
const FULFILLMENT_STATES: [(pb::FulfillmentState, &str); 4] = [
    (pb::FulfillmentState::Pending, "pending"),
    (pb::FulfillmentState::Sent, "sent"),
    (pb::FulfillmentState::Failed, "failed"),
    (pb::FulfillmentState::NothingToSend, "nothing_to_send"),
];

fn state_pb(s: &str) -> pb::FulfillmentState {
    stored_pb(&FULFILLMENT_STATES, s).unwrap_or(pb::FulfillmentState::Unspecified)
}

/// The filter and page size of a list request.
fn filter(r: &pb::ListPostedRequest) -> Result<PostedFilter<'_>> {
    Ok(PostedFilter {
        after: parse_page_token(&r.page_token)?,
        shop: &r.shop,
        shopify_order_id: r.shopify_order_id,
        order_no: &r.order_no,
        limit: page_size(r.page_size),
    })
}

/// Lines grouped by their document's id.
fn by_document<L, P>(
    lines: Vec<L>,
    id: impl Fn(&L) -> i64,
    pb: impl Fn(L) -> P,
) -> HashMap<i64, Vec<P>> {
    let mut by: HashMap<i64, Vec<P>> = HashMap::new();
    for l in lines {
        by.entry(id(&l)).or_default().push(pb(l));
    }
    by
}

async fn shipments_pb(pool: &PgPool, rows: Vec<ShipmentRow>) -> Result<Vec<pb::PostedShipment>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let lines = posted::shipment_lines(pool, &ids).await?;
    let mut by = by_document(
        lines,
        |l| l.shipment_id,
        |l| pb::PostedShipmentLine {
            line_no: l.line_no as u32,
            item_no: l.item_no,
            variant_code: l.variant_code,
            location_code: l.location_code,
            quantity: l.quantity,
            shopify_order_line_id: l.shopify_order_line_id.unwrap_or(0),
        },
    );
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
            tracking: tracking_pb(TrackingCols {
                company: r.tracking_company,
                number: r.tracking_number,
                url: r.tracking_url,
            }),
        })
        .collect())
}

pub async fn list_shipments(
    pool: &PgPool,
    r: &pb::ListPostedRequest,
) -> Result<(Vec<pb::PostedShipment>, String)> {
    let f = filter(r)?;
    let rows = posted::shipments(pool, &f).await?;
    let next = next_token(&rows, f.limit, |r| r.id.to_string());
    Ok((shipments_pb(pool, rows).await?, next))
}

pub async fn list_invoices(
    pool: &PgPool,
    r: &pb::ListPostedRequest,
) -> Result<(Vec<pb::PostedInvoice>, String)> {
    let f = filter(r)?;
    let rows = posted::invoices(pool, &f).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let lines = posted::invoice_lines(pool, &ids).await?;
    let mut by = by_document(
        lines,
        |l| l.invoice_id,
        |l| pb::PostedInvoiceLine {
            line_no: l.line_no as u32,
            item_no: l.item_no,
            variant_code: l.variant_code,
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
            amount_minor: l.amount_minor,
            shopify_order_line_id: l.shopify_order_line_id.unwrap_or(0),
        },
    );
    let next = next_token(&rows, f.limit, |r| r.id.to_string());
    let invoices = rows
        .into_iter()
        .map(|r| pb::PostedInvoice {
            lines: by.remove(&r.id).unwrap_or_default(),
            no: r.no,
            order_no: r.order_no,
            shop: r.shop,
            shopify_order_id: r.shopify_order_id.unwrap_or(0),
            shopify_order_no: r.shopify_order_no,
            customer_no: r.customer_no,
            posting_date: fmt_date(r.posting_date),
            currency: r.currency,
            amount_minor: r.amount_minor,
        })
        .collect();
    Ok((invoices, next))
}

/// Posted credit memos; `order_no` of the request filters by the credit memo posted from.
pub async fn list_credit_memos(
    pool: &PgPool,
    r: &pb::ListPostedRequest,
) -> Result<(Vec<pb::PostedCreditMemo>, String)> {
    let f = filter(r)?;
    let rows = posted::credit_memos(pool, &f).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let lines = posted::credit_memo_lines(pool, &ids).await?;
    let mut by = by_document(
        lines,
        |l| l.credit_memo_id,
        |l| pb::PostedCreditMemoLine {
            line_no: l.line_no as u32,
            item_no: l.item_no,
            variant_code: l.variant_code,
            location_code: l.location_code,
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
            amount_minor: l.amount_minor,
            return_to_stock: l.return_to_stock,
            shopify_order_line_id: l.shopify_order_line_id.unwrap_or(0),
        },
    );
    let next = next_token(&rows, f.limit, |r| r.id.to_string());
    let credit_memos = rows
        .into_iter()
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
        .collect();
    Ok((credit_memos, next))
}

/// Posted shipments of Shopify orders still to be sent as fulfillments, after the cursor.
pub async fn awaiting_fulfillment(
    pool: &PgPool,
    cursor: &str,
    shop: &str,
    include_failed: bool,
    limit: i64,
) -> Result<Vec<pb::PostedShipment>> {
    let (xid, id) = parse_id_cursor(cursor)?;
    let rows = posted::awaiting_fulfillment(pool, xid, id, shop, include_failed, limit).await?;
    shipments_pb(pool, rows).await
}

fn not_found(no: &str) -> ErpError {
    ErpError::NotFound(format!("posted shipment {} not found", quoted(no)))
}

fn already_sent(no: &str, id: &str) -> ErpError {
    ErpError::Precondition(format!("posted shipment {no} was already sent as fulfillment {id}"))
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
    let cur = posted::lock_fulfillment(&mut tx, &r.shipment_no).await?;
    let cur = cur.ok_or_else(|| not_found(&r.shipment_no))?;
    match cur.fulfillment_state.as_str() {
        "sent" if state == "sent" && cur.fulfillment_id == id => {}
        "sent" => return Err(already_sent(&r.shipment_no, &cur.fulfillment_id)),
        _ => {
            let f = FulfillmentIn {
                shipment_no: &r.shipment_no,
                state,
                fulfillment_id: &id,
                error: &error,
            };
            posted::set_fulfillment(&mut *tx, &f).await?;
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
    let cur = posted::lock_fulfillment(&mut tx, &r.shipment_no).await?;
    let cur = cur.ok_or_else(|| not_found(&r.shipment_no))?;
    match cur.fulfillment_state.as_str() {
        "sent" => return Err(already_sent(&r.shipment_no, &cur.fulfillment_id)),
        "pending" => {}
        _ => posted::reset_fulfillment(&mut *tx, &r.shipment_no).await?,
    }
    tx.commit().await?;
    shipment(pool, &r.shipment_no).await
}

async fn shipment(pool: &PgPool, no: &str) -> Result<pb::PostedShipment> {
    let row = posted::shipment(pool, no).await?;
    Ok(shipments_pb(pool, vec![row]).await?.remove(0))
}
