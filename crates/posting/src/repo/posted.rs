//! Posted documents: shipments (with their Shopify fulfillment state and tracking), invoices
//! and credit memos with their lines; their lists, the feed of shipments awaiting
//! fulfillment, and the fulfillment state's changes.

use super::Query;
use chrono::NaiveDate;
use sqlx::{PgConnection, PgExecutor};

#[derive(sqlx::FromRow)]
pub struct ShipmentRow {
    pub id: i64,
    pub no: String,
    pub order_no: String,
    pub shop: String,
    pub shopify_order_id: Option<i64>,
    pub shopify_order_no: String,
    pub customer_no: String,
    pub posting_date: NaiveDate,
    pub fulfillment_state: String,
    pub fulfillment_id: String,
    pub fulfillment_error: String,
    pub tracking_company: String,
    pub tracking_number: String,
    pub tracking_url: String,
    /// Only read by the awaiting feed and single reads.
    #[sqlx(default)]
    pub xid: i64,
}

const SHIPMENT_COLS: &str = "id, no, order_no, shop, shopify_order_id, shopify_order_no, \
    customer_no, posting_date, fulfillment_state, fulfillment_id, fulfillment_error, \
    tracking_company, tracking_number, tracking_url";

#[derive(sqlx::FromRow)]
pub struct ShipmentLineRow {
    pub shipment_id: i64,
    pub line_no: i32,
    pub item_no: String,
    pub variant_code: String,
    pub location_code: String,
    pub quantity: i64,
    pub shopify_order_line_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: i64,
    pub no: String,
    pub order_no: String,
    pub shop: String,
    pub shopify_order_id: Option<i64>,
    pub shopify_order_no: String,
    pub customer_no: String,
    pub posting_date: NaiveDate,
    pub currency: String,
    pub amount_minor: i64,
}

#[derive(sqlx::FromRow)]
pub struct InvoiceLineRow {
    pub invoice_id: i64,
    pub line_no: i32,
    pub item_no: String,
    pub variant_code: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub amount_minor: i64,
    pub shopify_order_line_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub struct CreditMemoRow {
    pub id: i64,
    pub no: String,
    pub document_no: String,
    pub shop: String,
    pub shopify_order_id: Option<i64>,
    pub shopify_order_no: String,
    pub shopify_refund_id: Option<i64>,
    pub applies_to_doc_no: String,
    pub customer_no: String,
    pub posting_date: NaiveDate,
    pub currency: String,
    pub amount_minor: i64,
}

#[derive(sqlx::FromRow)]
pub struct CreditMemoLineRow {
    pub credit_memo_id: i64,
    pub line_no: i32,
    pub item_no: String,
    pub variant_code: String,
    pub location_code: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub amount_minor: i64,
    pub return_to_stock: bool,
    pub shopify_order_line_id: Option<i64>,
}

/// The filters of the posted documents' lists: binds $1..$5 in field order.
pub struct PostedFilter<'a> {
    /// $1: after this id.
    pub after: i64,
    /// $2: empty for all.
    pub shop: &'a str,
    /// $3: 0 for all.
    pub shopify_order_id: i64,
    /// $4: the document posted from; empty for all.
    pub order_no: &'a str,
    /// $5
    pub limit: i64,
}

impl<'a> PostedFilter<'a> {
    fn bind<'q, O>(&self, q: super::QueryAs<'q, O>) -> super::QueryAs<'q, O>
    where
        'a: 'q,
    {
        q.bind(self.after)
            .bind(self.shop)
            .bind(self.shopify_order_id)
            .bind(self.order_no)
            .bind(self.limit)
    }
}

pub async fn shipments(
    db: impl PgExecutor<'_>,
    f: &PostedFilter<'_>,
) -> sqlx::Result<Vec<ShipmentRow>> {
    f.bind(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SHIPMENT_COLS} FROM posting.posted_shipments WHERE id > $1 \
         AND ($2 = '' OR shop = $2) AND ($3 = 0 OR shopify_order_id = $3) \
         AND ($4 = '' OR order_no = $4) ORDER BY id LIMIT $5"
    ))))
    .fetch_all(db)
    .await
}

pub async fn shipment_lines(
    db: impl PgExecutor<'_>,
    ids: &[i64],
) -> sqlx::Result<Vec<ShipmentLineRow>> {
    sqlx::query_as(
        "SELECT shipment_id, line_no, item_no, variant_code, location_code, quantity, \
         shopify_order_line_id FROM posting.posted_shipment_lines WHERE shipment_id = ANY($1) \
         ORDER BY shipment_id, line_no",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}

pub async fn invoices(
    db: impl PgExecutor<'_>,
    f: &PostedFilter<'_>,
) -> sqlx::Result<Vec<InvoiceRow>> {
    f.bind(sqlx::query_as(
        "SELECT id, no, order_no, shop, shopify_order_id, shopify_order_no, customer_no, \
         posting_date, currency, amount_minor FROM posting.posted_invoices WHERE id > $1 \
         AND ($2 = '' OR shop = $2) AND ($3 = 0 OR shopify_order_id = $3) \
         AND ($4 = '' OR order_no = $4) ORDER BY id LIMIT $5",
    ))
    .fetch_all(db)
    .await
}

pub async fn invoice_lines(
    db: impl PgExecutor<'_>,
    ids: &[i64],
) -> sqlx::Result<Vec<InvoiceLineRow>> {
    sqlx::query_as(
        "SELECT invoice_id, line_no, item_no, variant_code, quantity, unit_price_minor, \
         amount_minor, shopify_order_line_id FROM posting.posted_invoice_lines \
         WHERE invoice_id = ANY($1) ORDER BY invoice_id, line_no",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Posted credit memos; the filter's `order_no` is the credit memo posted from.
pub async fn credit_memos(
    db: impl PgExecutor<'_>,
    f: &PostedFilter<'_>,
) -> sqlx::Result<Vec<CreditMemoRow>> {
    f.bind(sqlx::query_as(
        "SELECT id, no, document_no, shop, shopify_order_id, shopify_order_no, \
         shopify_refund_id, applies_to_doc_no, customer_no, posting_date, currency, \
         amount_minor FROM posting.posted_credit_memos WHERE id > $1 \
         AND ($2 = '' OR shop = $2) AND ($3 = 0 OR shopify_order_id = $3) \
         AND ($4 = '' OR document_no = $4) ORDER BY id LIMIT $5",
    ))
    .fetch_all(db)
    .await
}

pub async fn credit_memo_lines(
    db: impl PgExecutor<'_>,
    ids: &[i64],
) -> sqlx::Result<Vec<CreditMemoLineRow>> {
    sqlx::query_as(
        "SELECT credit_memo_id, line_no, item_no, variant_code, location_code, quantity, \
         unit_price_minor, amount_minor, return_to_stock, shopify_order_line_id \
         FROM posting.posted_credit_memo_lines WHERE credit_memo_id = ANY($1) \
         ORDER BY credit_memo_id, line_no",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Posted shipments of Shopify orders still to be sent as fulfillments (failed ones too with
/// `include_failed`), after (`xid`, `id`), of one shop or all (`shop` empty).
pub async fn awaiting_fulfillment(
    db: impl PgExecutor<'_>,
    xid: i64,
    id: i64,
    shop: &str,
    include_failed: bool,
    limit: i64,
) -> sqlx::Result<Vec<ShipmentRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
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
    .fetch_all(db)
    .await
}

pub async fn shipment(db: impl PgExecutor<'_>, no: &str) -> sqlx::Result<ShipmentRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SHIPMENT_COLS}, change_xid::text::bigint AS xid FROM posting.posted_shipments \
         WHERE no = $1"
    )))
    .bind(no)
    .fetch_one(db)
    .await
}

/// A shipment's fulfillment as stored.
#[derive(sqlx::FromRow)]
pub struct Fulfillment {
    pub fulfillment_state: String,
    pub fulfillment_id: String,
}

/// A shipment's fulfillment, the shipment locked for the transaction; None: no such shipment.
pub async fn lock_fulfillment(
    tx: &mut PgConnection,
    no: &str,
) -> sqlx::Result<Option<Fulfillment>> {
    sqlx::query_as(
        "SELECT fulfillment_state, fulfillment_id FROM posting.posted_shipments \
         WHERE no = $1 FOR UPDATE",
    )
    .bind(no)
    .fetch_optional(tx)
    .await
}

/// A fulfillment's outcome: binds $1..$4 of [`set_fulfillment`] in field order.
pub struct FulfillmentIn<'a> {
    pub shipment_no: &'a str,
    pub state: &'static str,
    pub fulfillment_id: &'a str,
    pub error: &'a str,
}

pub async fn set_fulfillment(db: impl PgExecutor<'_>, f: &FulfillmentIn<'_>) -> sqlx::Result<()> {
    let q: Query<'_> = sqlx::query(
        "UPDATE posting.posted_shipments SET fulfillment_state = $2, fulfillment_id = $3, \
         fulfillment_error = $4, updated_at = now() WHERE no = $1",
    );
    q.bind(f.shipment_no).bind(f.state).bind(f.fulfillment_id).bind(f.error).execute(db).await?;
    Ok(())
}

/// A shipment back to pending, its error cleared and its `change_xid` this transaction's.
pub async fn reset_fulfillment(db: impl PgExecutor<'_>, no: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE posting.posted_shipments SET fulfillment_state = 'pending', \
         fulfillment_id = '', fulfillment_error = '', \
         change_xid = pg_current_xact_id(), updated_at = now() WHERE no = $1",
    )
    .bind(no)
    .execute(db)
    .await?;
    Ok(())
}
