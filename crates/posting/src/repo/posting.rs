//! Posting one sales document: its header and lines read and locked (NOWAIT), and the one
//! statement that writes everything a posting makes (posted shipment, invoice or credit memo
//! with their lines, customer and item ledger entries, line quantities, the header).

use super::documents::{HEADER_COLS, HeaderRow};
use super::qualified;
use chrono::NaiveDate;
use sqlx::PgConnection;

#[derive(sqlx::FromRow)]
pub struct HeaderAndLine {
    #[sqlx(flatten)]
    pub header: HeaderRow,
    #[sqlx(flatten)]
    pub line: PostLine,
}

/// A line as posting reads it, with what it needs of its item and location.
#[derive(sqlx::FromRow)]
pub struct PostLine {
    pub line_no: i32,
    pub item_no: String,
    pub variant_code: String,
    pub location_code: String,
    pub quantity: i64,
    pub qty_per_uom: i32,
    pub unit_price_minor: i64,
    #[sqlx(rename = "line_amount_minor")]
    pub amount_minor: i64,
    pub quantity_shipped: i64,
    pub quantity_invoiced: i64,
    pub shopify_order_line_id: Option<i64>,
    pub return_to_stock: bool,
    pub blocked: bool,
    pub unit_cost_minor: i64,
    /// The line's location refuses negative stock.
    pub guarded: bool,
}

/// The header with its lines in one query, the header locked without waiting: a second
/// poster gets the database's "lock not available" at once. No rows: no such document.
pub async fn lock_document(tx: &mut PgConnection, no: &str) -> sqlx::Result<Vec<HeaderAndLine>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
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
        qualified(HEADER_COLS, "h")
    )))
    .bind(no)
    .fetch_all(tx)
    .await
}

unnest_columns! {
    /// What posting does to one line.
    LinePosting,
    /// The lines of [`post`]: `x`, parameters $1..$14 in field order.
    LinePostings {
        /// $1
        line_no: i32,
        /// $2
        item: String,
        /// $3
        variant: String,
        /// $4
        loc: String,
        /// $5: the Shopify order line.
        sol: Option<i64>,
        /// $6
        price: i64,
        /// $7: added to quantity_shipped (line unit of measure).
        ship_inc: i64,
        /// $8: added to quantity_invoiced (line unit of measure).
        inv_inc: i64,
        /// $9: shipped now, for the shipment lines (orders only).
        shipped: i64,
        /// $10
        inv_amount: i64,
        /// $11: base units leaving stock (negative: coming back).
        out_qty: i64,
        /// $12: their cost.
        out_cost: i64,
        /// $13: their sales amount.
        sales: i64,
        /// $14: credit memo lines: returned to stock.
        ret: bool,
    }
}

/// What posting does to the document: parameters $15..$35 of [`post`], bound in field order.
pub struct DocumentPosting<'a> {
    /// $15: the document (order_no, document_no of what is posted).
    pub no: &'a str,
    /// $16
    pub shop: &'a str,
    /// $17
    pub shopify_order_id: Option<i64>,
    /// $18
    pub shopify_order_no: &'a str,
    /// $19: the shipment's customer (sell-to).
    pub ship_customer_no: &'a str,
    /// $20
    pub posting_date: NaiveDate,
    /// $21: the shipment's fulfillment state.
    pub fulfillment_state: &'static str,
    /// $22: a shipment is made.
    pub any_ship: bool,
    /// $23: the invoiced customer (bill-to).
    pub bill_customer_no: &'a str,
    /// $24
    pub currency: &'a str,
    /// $25: the amount invoiced (credited, for a credit memo).
    pub amount: i64,
    /// $26: an invoice (credit memo) is made.
    pub any_invoice: bool,
    /// $27: an order (stock leaves with the shipment).
    pub is_order: bool,
    /// $28: the header's id.
    pub header_id: i64,
    /// $29: fully posted now.
    pub done: bool,
    /// $30: a credit memo.
    pub is_cm: bool,
    /// $31..$33: the shipment's tracking.
    pub tracking_company: &'a str,
    pub tracking_number: &'a str,
    pub tracking_url: &'a str,
    /// $34
    pub shopify_refund_id: Option<i64>,
    /// $35
    pub applies_to_doc_no: &'a str,
}

impl<'a> DocumentPosting<'a> {
    fn bind<'q, O>(&self, q: super::QueryAs<'q, O>) -> super::QueryAs<'q, O>
    where
        'a: 'q,
    {
        q.bind(self.no)
            .bind(self.shop)
            .bind(self.shopify_order_id)
            .bind(self.shopify_order_no)
            .bind(self.ship_customer_no)
            .bind(self.posting_date)
            .bind(self.fulfillment_state)
            .bind(self.any_ship)
            .bind(self.bill_customer_no)
            .bind(self.currency)
            .bind(self.amount)
            .bind(self.any_invoice)
            .bind(self.is_order)
            .bind(self.header_id)
            .bind(self.done)
            .bind(self.is_cm)
            .bind(self.tracking_company)
            .bind(self.tracking_number)
            .bind(self.tracking_url)
            .bind(self.shopify_refund_id)
            .bind(self.applies_to_doc_no)
    }
}

/// The numbers of what [`post`] made.
#[derive(sqlx::FromRow)]
pub struct PostedNos {
    pub shipment_no: Option<String>,
    pub invoice_no: Option<String>,
    pub credit_memo_no: Option<String>,
}

/// Every write of a posting in one statement: posted shipment and its lines, posted invoice
/// (or credit memo), its lines and the customer ledger entry, the item ledger, line
/// quantities, the header.
pub async fn post(
    tx: &mut PgConnection,
    lines: LinePostings,
    doc: &DocumentPosting<'_>,
) -> sqlx::Result<PostedNos> {
    let q = sqlx::query_as(
        "WITH x AS ( \
           SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
             $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], \
             $11::bigint[], $12::bigint[], $13::bigint[], $14::bool[]) \
           AS t(line_no, item, variant, loc, sol, price, ship_inc, inv_inc, shipped, \
                inv_amount, out_qty, out_cost, sales, ret)), \
         s AS ( \
           INSERT INTO posting.posted_shipments (no, order_no, shop, shopify_order_id, \
             shopify_order_no, customer_no, posting_date, fulfillment_state, \
             tracking_company, tracking_number, tracking_url) \
           SELECT posting.next_no('SSH', 'posting.posted_shipment_nos'), $15, $16, $17, $18, \
             $19, $20, $21, $31, $32, $33 WHERE $22 \
           RETURNING id, no), \
         sl AS ( \
           INSERT INTO posting.posted_shipment_lines (shipment_id, line_no, item_no, \
             variant_code, location_code, quantity, shopify_order_line_id) \
           SELECT s.id, x.line_no, x.item, x.variant, x.loc, x.shipped, x.sol \
           FROM s, x WHERE x.shipped > 0), \
         i AS ( \
           INSERT INTO posting.posted_invoices (no, order_no, shop, shopify_order_id, \
             shopify_order_no, customer_no, posting_date, currency, amount_minor) \
           SELECT posting.next_no('SINV', 'posting.posted_invoice_nos'), $15, $16, $17, $18, \
             $23, $20, $24, $25 WHERE $26 AND NOT $30 \
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
           SELECT posting.next_no('SCM', 'posting.posted_credit_memo_nos'), $15, $16, $17, \
             $18, $34, $35, $23, $20, $24, $25 WHERE $26 AND $30 \
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
           SELECT $23, $20, 'invoice', i.no, $24, $25::bigint, $25::bigint, $16, $17, $18 \
           FROM i \
           UNION ALL \
           SELECT $23, $20, 'credit_memo', c.no, $24, -$25::bigint, -$25::bigint, $16, $17, \
             $18 FROM c), \
         le AS ( \
           INSERT INTO posting.item_ledger_entries (entry_type, item_no, variant_code, \
             location_code, posting_date, quantity, cost_amount_minor, sales_amount_minor, \
             currency, document_type, document_no, shop, shopify_order_id, shopify_order_no) \
           SELECT 'sale', x.item, x.variant, x.loc, $20, -x.out_qty, -x.out_cost, x.sales, $24, \
             CASE WHEN $27 THEN 'shipment' WHEN $30 THEN 'credit_memo' ELSE 'invoice' END, \
             CASE WHEN $27 THEN (SELECT no FROM s) WHEN $30 THEN (SELECT no FROM c) \
                  ELSE (SELECT no FROM i) END, $16, $17, $18 \
           FROM x WHERE x.out_qty <> 0), \
         u AS ( \
           UPDATE posting.sales_lines l SET quantity_shipped = l.quantity_shipped + x.ship_inc, \
             quantity_invoiced = l.quantity_invoiced + x.inv_inc \
           FROM x WHERE l.header_id = $28 AND l.line_no = x.line_no \
             AND (x.ship_inc > 0 OR x.inv_inc > 0)) \
         UPDATE posting.sales_headers SET status = CASE WHEN $29 THEN 'posted' ELSE status END, \
           posting_date = $20, version = version + 1, updated_at = now() WHERE id = $28 \
         RETURNING (SELECT no FROM s) AS shipment_no, (SELECT no FROM i) AS invoice_no, \
           (SELECT no FROM c) AS credit_memo_no",
    );
    doc.bind(lines.bind(q)).fetch_one(tx).await
}
