//! Sales documents (orders, invoices, credit memos): create (idempotent per Shopify order,
//! credit memos per Shopify refund), release, reopen, delete, read, list, tracking, and
//! everything made for one Shopify order. Statements: `repo::documents`.

mod build;
mod create;
mod refs;

pub use create::{DocResult, create, create_many};
pub use refs::RefCache;

use crate::error::{ErpError, Result};
use crate::repo::documents::{self, HeaderRow, LineRow, ListFilter, TrackingCols};
use crate::repo::stock;
use crate::util::*;
use shopsync_common::quoted;
use shopsync_proto::pb;
use sqlx::PgPool;
use std::collections::HashMap;

/// Document types: pb and stored, each pair once.
const DOC_TYPES: [(pb::DocumentType, &str); 3] = [
    (pb::DocumentType::Order, "order"),
    (pb::DocumentType::Invoice, "invoice"),
    (pb::DocumentType::CreditMemo, "credit_memo"),
];

/// Document statuses: pb and stored, each pair once.
const STATUSES: [(pb::DocumentStatus, &str); 3] = [
    (pb::DocumentStatus::Open, "open"),
    (pb::DocumentStatus::Released, "released"),
    (pb::DocumentStatus::Posted, "posted"),
];

pub fn doc_type_str(t: i32, field: &str) -> Result<&'static str> {
    stored_as(&DOC_TYPES, t)
        .ok_or_else(|| ErpError::invalid(field, "must be ORDER, INVOICE or CREDIT_MEMO"))
}

fn doc_type_pb(s: &str) -> pb::DocumentType {
    stored_pb(&DOC_TYPES, s).unwrap_or(pb::DocumentType::Order)
}

pub fn status_pb(s: &str) -> pb::DocumentStatus {
    stored_pb(&STATUSES, s).unwrap_or(pb::DocumentStatus::Unspecified)
}

fn status_str(s: i32) -> Option<&'static str> {
    stored_as(&STATUSES, s)
}

impl From<LineRow> for pb::SalesLine {
    fn from(l: LineRow) -> Self {
        pb::SalesLine {
            line_no: l.line_no as u32,
            item_no: l.item_no,
            variant_code: l.variant_code,
            location_code: l.location_code,
            description: l.description,
            quantity: l.quantity,
            unit_of_measure: l.uom,
            unit_price_minor: Some(l.unit_price_minor),
            line_discount_minor: l.line_discount_minor,
            amount_minor: l.amount_minor,
            quantity_shipped: l.quantity_shipped,
            quantity_invoiced: l.quantity_invoiced,
            shopify_order_line_id: l.shopify_order_line_id.unwrap_or(0),
            shopify_order_no: l.shopify_order_no,
            return_to_stock: l.return_to_stock,
        }
    }
}

fn header_pb(h: HeaderRow, lines: Vec<pb::SalesLine>) -> pb::SalesDocument {
    pb::SalesDocument {
        r#type: doc_type_pb(&h.document_type) as i32,
        shopify_order_id: h.shopify_order().unwrap_or(0),
        shopify_refund_id: h.shopify_refund_id.unwrap_or(0),
        applies_to_doc_no: h.applies_to_doc_no,
        tracking: tracking_pb(TrackingCols {
            company: h.tracking_company,
            number: h.tracking_number,
            url: h.tracking_url,
        }),
        no: h.no,
        shop: h.shop,
        shopify_order_no: h.shopify_order_no,
        external_document_no: h.external_document_no,
        sell_to_customer_no: h.sell_to_customer_no,
        bill_to_customer_no: h.bill_to_customer_no,
        ship_to: address_out(&h.ship_to),
        currency: h.currency,
        status: status_pb(&h.status) as i32,
        order_date: fmt_date(h.order_date),
        posting_date: fmt_date(h.posting_date),
        lines,
        amount_minor: h.amount_minor,
        version: h.version,
        created_at: Some(timestamp(h.created_at)),
    }
}

async fn with_lines(pool: &PgPool, headers: Vec<HeaderRow>) -> Result<Vec<pb::SalesDocument>> {
    let ids: Vec<i64> = headers.iter().map(|h| h.id).collect();
    let lines = documents::lines_of(pool, &ids).await?;
    let mut by: HashMap<i64, Vec<pb::SalesLine>> = HashMap::new();
    for l in lines {
        by.entry(l.header_id).or_default().push(l.into());
    }
    Ok(headers
        .into_iter()
        .map(|h| {
            let lines = by.remove(&h.id).unwrap_or_default();
            header_pb(h, lines)
        })
        .collect())
}

pub async fn get(pool: &PgPool, no: &str) -> Result<pb::SalesDocument> {
    let h = documents::header(pool, no).await?;
    let h =
        h.ok_or_else(|| ErpError::NotFound(format!("sales document {} not found", quoted(no))))?;
    Ok(with_lines(pool, vec![h]).await?.remove(0))
}

pub async fn list(
    pool: &PgPool,
    r: &pb::ListSalesDocumentsRequest,
) -> Result<(Vec<pb::SalesDocument>, String)> {
    let dtype = if r.r#type == 0 { None } else { Some(doc_type_str(r.r#type, "type")?) };
    let status = if r.status == 0 {
        None
    } else {
        Some(status_str(r.status).ok_or_else(|| ErpError::invalid("status", "unknown status"))?)
    };
    let limit = page_size(r.page_size);
    let filter = ListFilter {
        after: &r.page_token,
        document_type: dtype,
        status,
        shop: &r.shop,
        customer_no: &r.customer_no,
        shopify_only: r.shopify_only,
        limit,
    };
    let rows = documents::list(pool, &filter).await?;
    let next = next_token(&rows, limit, |r| r.no.clone());
    Ok((with_lines(pool, rows).await?, next))
}

/// Move a document between open and released.
pub async fn set_status(
    pool: &PgPool,
    r: &pb::DocumentRef,
    release: bool,
) -> Result<pb::SalesDocument> {
    check_code(&r.no, "no", 50)?;
    let cur = get(pool, &r.no).await?;
    let (from, to) = if release { ("open", "released") } else { ("released", "open") };
    if r.expected_version != 0 && r.expected_version != cur.version {
        return Err(ErpError::Stale(format!(
            "sales document {} is at version {}, not {}",
            r.no, cur.version, r.expected_version
        )));
    }
    if cur.status == status_pb(to) as i32 {
        return Ok(cur);
    }
    if cur.status == pb::DocumentStatus::Posted as i32 {
        return Err(ErpError::Precondition(format!("sales document {} is fully posted", r.no)));
    }
    if documents::set_status(pool, &r.no, from, to, cur.version).await? == 0 {
        return Err(ErpError::Stale(format!("sales document {} changed meanwhile; retry", r.no)));
    }
    get(pool, &r.no).await
}

/// Set (or clear) how a sales order's next shipment travels. Open and released orders only;
/// a posting running at the same time is waited for (its lock), and then the order may be
/// fully posted: refused.
pub async fn set_tracking(pool: &PgPool, r: &pb::SetTrackingRequest) -> Result<pb::SalesDocument> {
    check_code(&r.no, "no", 50)?;
    if let Some(t) = &r.tracking {
        check_tracking(t, "tracking")?;
    }
    let t = tracking_cols(r.tracking.as_ref());
    let n = documents::set_tracking(pool, &r.no, &t, r.expected_version).await?;
    let cur = get(pool, &r.no).await?;
    if n == 1 {
        return Ok(cur);
    }
    if cur.r#type != pb::DocumentType::Order as i32 {
        return Err(ErpError::Precondition(format!(
            "sales document {} is not an order; only orders are shipped",
            r.no
        )));
    }
    if cur.status == pb::DocumentStatus::Posted as i32 {
        return Err(ErpError::Precondition(format!(
            "sales document {} is fully posted; its shipments are made",
            r.no
        )));
    }
    Err(ErpError::Stale(format!(
        "sales document {} is at version {}, not {}",
        r.no, cur.version, r.expected_version
    )))
}

pub async fn delete(pool: &PgPool, r: &pb::DocumentRef) -> Result<()> {
    check_code(&r.no, "no", 50)?;
    let cur = get(pool, &r.no).await?;
    if cur.status != pb::DocumentStatus::Open as i32 {
        return Err(ErpError::Precondition(format!(
            "sales document {} is {}; only open documents can be deleted (reopen it first)",
            r.no,
            if cur.status == pb::DocumentStatus::Posted as i32 { "posted" } else { "released" }
        )));
    }
    if documents::delete(pool, &r.no, r.expected_version).await? == 0 {
        return Err(ErpError::Precondition(format!(
            "sales document {} has posted lines or changed meanwhile",
            r.no
        )));
    }
    Ok(())
}

pub async fn by_shopify_order(
    pool: &PgPool,
    r: &pb::ShopifyOrderRef,
) -> Result<pb::ShopifyOrderDocuments> {
    if r.shop.is_empty() {
        return Err(ErpError::invalid("shop", "required"));
    }
    if r.shopify_order_id <= 0 {
        return Err(ErpError::invalid("shopify_order_id", "must be positive"));
    }
    let headers = documents::headers_of_order(pool, &r.shop, r.shopify_order_id).await?;
    let documents = with_lines(pool, headers).await?;
    let list = pb::ListPostedRequest {
        shop: r.shop.clone(),
        shopify_order_id: r.shopify_order_id,
        page_size: 1000,
        ..Default::default()
    };
    let (shipments, _) = crate::posted::list_shipments(pool, &list).await?;
    let (invoices, _) = crate::posted::list_invoices(pool, &list).await?;
    let (credit_memos, _) = crate::posted::list_credit_memos(pool, &list).await?;
    let cle = documents::customer_ledger_of_order(pool, &r.shop, r.shopify_order_id).await?;
    let ile = stock::ledger_of_order(pool, &r.shop, r.shopify_order_id).await?;
    Ok(pb::ShopifyOrderDocuments {
        documents,
        shipments,
        invoices,
        customer_ledger: cle
            .into_iter()
            .map(|c| pb::CustomerLedgerEntry {
                entry_no: c.entry_no,
                customer_no: c.customer_no,
                posting_date: fmt_date(c.posting_date),
                document_type: c.document_type,
                document_no: c.document_no,
                currency: c.currency,
                amount_minor: c.amount_minor,
                remaining_amount_minor: c.remaining_amount_minor,
                open: c.open,
                shopify_order_no: c.shopify_order_no,
            })
            .collect(),
        item_ledger: ile.into_iter().map(Into::into).collect(),
        credit_memos,
    })
}
