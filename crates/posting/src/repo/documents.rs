//! Sales documents: what creating them reads of the master data (in one round trip), the
//! insert of a batch of headers and lines (typed columns, one statement), and the reads and
//! state changes of one document (status, tracking, delete), plus what one Shopify order has.

use super::items::{Uom, Variant};
use crate::util::StoredAddress;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use sqlx::PgExecutor;
use sqlx::types::Json;

/// A sales price as creating a document reads it (a JSON array in the refs statement).
#[derive(Deserialize, Clone, Debug)]
pub struct PriceForSale {
    pub variant_code: String,
    pub price_group: String,
    pub currency: String,
    pub minimum_quantity: i64,
    pub unit_price_minor: i64,
}

/// An item as creating a document reads it, with every sales price of the item.
#[derive(Deserialize, Clone, Debug)]
pub struct ItemForSale {
    pub no: String,
    pub description: String,
    pub blocked: bool,
    pub currency: String,
    pub unit_price_minor: i64,
    pub base_uom: String,
    pub uoms: Vec<Uom>,
    pub variants: Vec<Variant>,
    pub prices: Vec<PriceForSale>,
}

/// A customer as creating a document reads it (a JSON array in the refs statement).
#[derive(Deserialize, Clone, Debug)]
pub struct CustomerForSale {
    pub no: String,
    pub blocked: bool,
    pub currency: String,
    pub price_group: String,
    pub ship_to: StoredAddress,
}

/// What the documents of one call refer to, and the master epoch (see the migration
/// `posting_master_epoch`) it is valid for.
#[derive(sqlx::FromRow)]
pub struct RefsRow {
    pub customers: Json<Vec<CustomerForSale>>,
    pub items: Json<Vec<ItemForSale>>,
    pub locations: Vec<String>,
    pub invoices: Vec<String>,
    pub epoch: i64,
}

/// Read the customers, items, locations and posted invoices named (those that exist), with
/// the current master epoch, in one round trip.
pub async fn load_refs(
    db: impl PgExecutor<'_>,
    customers: &[String],
    items: &[String],
    locations: &[String],
    invoices: &[String],
) -> sqlx::Result<RefsRow> {
    sqlx::query_as(
        "SELECT \
           (SELECT COALESCE(jsonb_agg(jsonb_build_array(no, blocked, currency, price_group, \
              ship_to)), '[]') FROM posting.customers WHERE no = ANY($1)) AS customers, \
           (SELECT COALESCE(jsonb_agg(jsonb_build_object('no', i.no, 'description', \
              i.description, 'blocked', i.blocked, 'currency', i.currency, 'unit_price_minor', \
              i.unit_price_minor, 'base_uom', i.base_uom, 'uoms', i.uoms, 'variants', \
              i.variants, 'prices', COALESCE((SELECT jsonb_agg(jsonb_build_array( \
                p.variant_code, p.price_group, p.currency, p.minimum_quantity, \
                p.unit_price_minor)) FROM posting.sales_prices p WHERE p.item_no = i.no), \
              '[]'))), '[]') FROM posting.items i WHERE i.no = ANY($2)) AS items, \
           ARRAY(SELECT code FROM posting.locations WHERE code = ANY($3)) AS locations, \
           ARRAY(SELECT no FROM posting.posted_invoices WHERE no = ANY($4)) AS invoices, \
           (SELECT n FROM posting.master_epoch) AS epoch",
    )
    .bind(customers)
    .bind(items)
    .bind(locations)
    .bind(invoices)
    .fetch_one(db)
    .await
}

unnest_columns! {
    /// One header of [`insert`].
    NewHeader,
    /// The headers of [`insert`]: `x`, parameters $1..$20 in field order.
    HeaderCols {
        /// $1
        dtype: String,
        /// $2: blank to be numbered from the type's series.
        no: String,
        /// $3
        shop: String,
        /// $4: orders and invoices only.
        sid: Option<i64>,
        /// $5
        sno: String,
        /// $6
        ext: String,
        /// $7
        sell: String,
        /// $8
        bill: String,
        /// $9
        ship_to: Json<StoredAddress>,
        /// $10
        currency: String,
        /// $11
        status: String,
        /// $12
        od: NaiveDate,
        /// $13
        pd: NaiveDate,
        /// $14
        amount: i64,
        /// $15: credit memos only.
        rid: Option<i64>,
        /// $16: a credit memo's Shopify order.
        roid: Option<i64>,
        /// $17
        applies: String,
        /// $18
        tc: String,
        /// $19
        tn: String,
        /// $20
        tu: String,
    }
}

unnest_columns! {
    /// One line of [`insert`].
    NewLine,
    /// The lines of [`insert`]: `y`, parameters $21..$35 in field order.
    LineCols {
        /// $21: the header's position in the batch, from 1.
        hord: i64,
        /// $22
        line_no: i32,
        /// $23
        item: String,
        /// $24
        variant: String,
        /// $25
        loc: String,
        /// $26
        descr: String,
        /// $27
        qty: i64,
        /// $28
        uom: String,
        /// $29
        per_uom: i32,
        /// $30
        price: i64,
        /// $31
        disc: i64,
        /// $32
        amount: i64,
        /// $33
        sol_id: Option<i64>,
        /// $34
        sol_no: String,
        /// $35
        ret: bool,
    }
}

/// A row of [`insert`]: `ok` false when the epoch guard held the write back; per header its
/// batch position and number, and when it was created (None: its Shopify order, or refund,
/// had a document).
#[derive(sqlx::FromRow)]
pub struct InsertedRow {
    pub ok: bool,
    pub ord: Option<i64>,
    pub no: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// Number and insert headers and lines in one statement: atomic without a transaction round
/// trip. Blank numbers are drawn here, in batch order. A racing create of the same Shopify
/// order (of the same refund, for credit memos) waits on the unique index and then does
/// nothing: orders and invoices and credit memos go through two inserts, one per arbiter.
/// With `guard` ($36), nothing is written unless the master epoch still has that value.
pub async fn insert(
    db: impl PgExecutor<'_>,
    headers: HeaderCols,
    lines: LineCols,
    guard: Option<i64>,
) -> sqlx::Result<Vec<InsertedRow>> {
    let q = sqlx::query_as(
        "WITH g AS (SELECT $36::bigint IS NULL \
                      OR $36 = (SELECT n FROM posting.master_epoch) AS ok), \
         x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[], $10::text[], \
                 $11::text[], $12::date[], $13::date[], $14::bigint[], $15::bigint[], \
                 $16::bigint[], $17::text[], $18::text[], $19::text[], $20::text[]) \
                 WITH ORDINALITY \
                 AS x(dtype, no, shop, sid, sno, ext, sell, bill, ship_to, currency, status, \
                      od, pd, amount, rid, roid, applies, tc, tn, tu, ord) \
               WHERE (SELECT ok FROM g)), \
         n AS MATERIALIZED ( \
           SELECT ord, CASE WHEN no <> '' THEN no \
                            WHEN dtype = 'invoice' \
                              THEN posting.next_no('SI', 'posting.sales_invoice_nos') \
                            WHEN dtype = 'credit_memo' \
                              THEN posting.next_no('SCR', 'posting.sales_credit_memo_nos') \
                            ELSE posting.next_no('SO', 'posting.sales_order_nos') END AS no \
           FROM x ORDER BY ord), \
         ho AS ( \
           INSERT INTO posting.sales_headers (document_type, no, shop, shopify_order_id, \
             shopify_order_no, external_document_no, sell_to_customer_no, \
             bill_to_customer_no, ship_to, currency, status, order_date, posting_date, \
             amount_minor, tracking_company, tracking_number, tracking_url) \
           SELECT x.dtype, n.no, x.shop, x.sid, x.sno, x.ext, x.sell, x.bill, x.ship_to, \
             x.currency, x.status, x.od, x.pd, x.amount, x.tc, x.tn, x.tu \
           FROM x JOIN n USING (ord) WHERE x.dtype <> 'credit_memo' \
           ON CONFLICT ON CONSTRAINT sales_headers_shopify_order DO NOTHING \
           RETURNING id, no, created_at), \
         hc AS ( \
           INSERT INTO posting.sales_headers (document_type, no, shop, refund_order_id, \
             shopify_order_no, external_document_no, sell_to_customer_no, \
             bill_to_customer_no, ship_to, currency, status, order_date, posting_date, \
             amount_minor, shopify_refund_id, applies_to_doc_no) \
           SELECT x.dtype, n.no, x.shop, x.roid, x.sno, x.ext, x.sell, x.bill, x.ship_to, \
             x.currency, x.status, x.od, x.pd, x.amount, x.rid, x.applies \
           FROM x JOIN n USING (ord) WHERE x.dtype = 'credit_memo' \
           ON CONFLICT ON CONSTRAINT sales_headers_shopify_refund DO NOTHING \
           RETURNING id, no, created_at), \
         h AS (SELECT * FROM ho UNION ALL SELECT * FROM hc), \
         l AS ( \
           INSERT INTO posting.sales_lines (header_id, line_no, item_no, variant_code, \
             location_code, description, quantity, uom, qty_per_uom, unit_price_minor, \
             line_discount_minor, amount_minor, shopify_order_line_id, shopify_order_no, \
             return_to_stock) \
           SELECT h.id, y.line_no, y.item, y.variant, y.loc, y.descr, y.qty, y.uom, \
             y.per_uom, y.price, y.disc, y.amount, y.sol_id, y.sol_no, y.ret \
           FROM unnest($21::bigint[], $22::int[], $23::text[], $24::text[], $25::text[], \
             $26::text[], $27::bigint[], $28::text[], $29::int[], $30::bigint[], \
             $31::bigint[], $32::bigint[], $33::bigint[], $34::text[], $35::bool[]) \
             AS y(hord, line_no, item, variant, loc, descr, qty, uom, per_uom, price, disc, \
                  amount, sol_id, sol_no, ret) \
           JOIN n ON n.ord = y.hord JOIN h ON h.no = n.no) \
         SELECT g.ok, n.ord, n.no, h.created_at \
         FROM g LEFT JOIN n ON true LEFT JOIN h ON h.no = n.no",
    );
    lines.bind(headers.bind(q)).bind(guard).fetch_all(db).await
}

/// The number of the document that a Shopify order (`refund`: false) or refund (true) has.
pub async fn no_of_shopify(
    db: impl PgExecutor<'_>,
    shop: &str,
    refund: bool,
    id: i64,
) -> sqlx::Result<String> {
    let sql = if refund {
        "SELECT no FROM posting.sales_headers WHERE shop = $1 AND shopify_refund_id = $2"
    } else {
        "SELECT no FROM posting.sales_headers WHERE shop = $1 AND shopify_order_id = $2"
    };
    sqlx::query_scalar(sql).bind(shop).bind(id).fetch_one(db).await
}

#[derive(sqlx::FromRow, Clone)]
pub struct HeaderRow {
    pub id: i64,
    pub document_type: String,
    pub no: String,
    pub shop: String,
    pub shopify_order_id: Option<i64>,
    pub shopify_order_no: String,
    pub external_document_no: String,
    pub sell_to_customer_no: String,
    pub bill_to_customer_no: String,
    pub ship_to: Json<StoredAddress>,
    pub currency: String,
    pub status: String,
    pub order_date: NaiveDate,
    pub posting_date: NaiveDate,
    pub amount_minor: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub shopify_refund_id: Option<i64>,
    /// A credit memo's Shopify order (its `shopify_order_id` is NULL).
    pub refund_order_id: Option<i64>,
    pub applies_to_doc_no: String,
    pub tracking_company: String,
    pub tracking_number: String,
    pub tracking_url: String,
    /// Only read when posting.
    #[sqlx(default)]
    pub customer_blocked: bool,
}

impl HeaderRow {
    /// The Shopify order the document was made for, whatever its type.
    pub fn shopify_order(&self) -> Option<i64> {
        self.shopify_order_id.or(self.refund_order_id)
    }
}

pub const HEADER_COLS: &str = "id, document_type, no, shop, shopify_order_id, shopify_order_no, \
    external_document_no, sell_to_customer_no, bill_to_customer_no, ship_to, currency, status, \
    order_date, posting_date, amount_minor, version, created_at, shopify_refund_id, \
    refund_order_id, applies_to_doc_no, tracking_company, tracking_number, tracking_url";

#[derive(sqlx::FromRow)]
pub struct LineRow {
    pub header_id: i64,
    pub line_no: i32,
    pub item_no: String,
    pub variant_code: String,
    pub location_code: String,
    pub description: String,
    pub quantity: i64,
    pub uom: String,
    pub unit_price_minor: i64,
    pub line_discount_minor: i64,
    pub amount_minor: i64,
    pub quantity_shipped: i64,
    pub quantity_invoiced: i64,
    pub shopify_order_line_id: Option<i64>,
    pub shopify_order_no: String,
    pub return_to_stock: bool,
}

/// The lines of the headers `ids`, by header and line number.
pub async fn lines_of(db: impl PgExecutor<'_>, ids: &[i64]) -> sqlx::Result<Vec<LineRow>> {
    sqlx::query_as(
        "SELECT header_id, line_no, item_no, variant_code, location_code, description, quantity, \
         uom, unit_price_minor, line_discount_minor, amount_minor, quantity_shipped, \
         quantity_invoiced, shopify_order_line_id, shopify_order_no, return_to_stock \
         FROM posting.sales_lines WHERE header_id = ANY($1) ORDER BY header_id, line_no",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}

pub async fn header(db: impl PgExecutor<'_>, no: &str) -> sqlx::Result<Option<HeaderRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {HEADER_COLS} FROM posting.sales_headers WHERE no = $1"
    )))
    .bind(no)
    .fetch_optional(db)
    .await
}

/// The filters of [`list`]: binds $1..$7 in field order.
pub struct ListFilter<'a> {
    /// $1: after this number.
    pub after: &'a str,
    /// $2
    pub document_type: Option<&'static str>,
    /// $3
    pub status: Option<&'static str>,
    /// $4: empty for all.
    pub shop: &'a str,
    /// $5: empty for all.
    pub customer_no: &'a str,
    /// $6
    pub shopify_only: bool,
    /// $7
    pub limit: i64,
}

pub async fn list(db: impl PgExecutor<'_>, f: &ListFilter<'_>) -> sqlx::Result<Vec<HeaderRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {HEADER_COLS} FROM posting.sales_headers \
         WHERE no > $1 AND ($2::text IS NULL OR document_type = $2) \
           AND ($3::text IS NULL OR status = $3) AND ($4 = '' OR shop = $4) \
           AND ($5 = '' OR sell_to_customer_no = $5) AND (NOT $6 OR shopify_order_no <> '') \
         ORDER BY no LIMIT $7"
    )))
    .bind(f.after)
    .bind(f.document_type)
    .bind(f.status)
    .bind(f.shop)
    .bind(f.customer_no)
    .bind(f.shopify_only)
    .bind(f.limit)
    .fetch_all(db)
    .await
}

/// Move a document from status `from` to `to` if it is still at `version`: rows changed.
pub async fn set_status(
    db: impl PgExecutor<'_>,
    no: &str,
    from: &str,
    to: &str,
    version: i64,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE posting.sales_headers SET status = $2, version = version + 1, updated_at = now() \
         WHERE no = $1 AND status = $3 AND version = $4",
    )
    .bind(no)
    .bind(to)
    .bind(from)
    .bind(version)
    .execute(db)
    .await?
    .rows_affected())
}

/// A document's tracking as stored: all empty when it has none.
#[derive(Debug, Clone, Default)]
pub struct TrackingCols {
    pub company: String,
    pub number: String,
    pub url: String,
}

/// Set an unposted order's tracking if it is at `expected_version` (0: any): rows changed.
pub async fn set_tracking(
    db: impl PgExecutor<'_>,
    no: &str,
    t: &TrackingCols,
    expected_version: i64,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE posting.sales_headers SET tracking_company = $2, tracking_number = $3, \
           tracking_url = $4, version = version + 1, updated_at = now() \
         WHERE no = $1 AND document_type = 'order' AND status <> 'posted' \
           AND ($5 = 0 OR version = $5)",
    )
    .bind(no)
    .bind(&t.company)
    .bind(&t.number)
    .bind(&t.url)
    .bind(expected_version)
    .execute(db)
    .await?
    .rows_affected())
}

/// Delete an open document with nothing posted, if it is at `expected_version` (0: any):
/// rows deleted.
pub async fn delete(db: impl PgExecutor<'_>, no: &str, expected_version: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM posting.sales_headers h WHERE no = $1 AND status = 'open' \
           AND ($2 = 0 OR version = $2) \
           AND NOT EXISTS (SELECT 1 FROM posting.sales_lines l WHERE l.header_id = h.id \
                           AND (l.quantity_shipped > 0 OR l.quantity_invoiced > 0))",
    )
    .bind(no)
    .bind(expected_version)
    .execute(db)
    .await?
    .rows_affected())
}

/// The documents made for one Shopify order (its order or invoice, its credit memos), in
/// creation order.
pub async fn headers_of_order(
    db: impl PgExecutor<'_>,
    shop: &str,
    shopify_order_id: i64,
) -> sqlx::Result<Vec<HeaderRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {HEADER_COLS} FROM posting.sales_headers WHERE shop = $1 AND shopify_order_id = $2 \
         UNION ALL \
         SELECT {HEADER_COLS} FROM posting.sales_headers WHERE shop = $1 AND refund_order_id = $2 \
         ORDER BY id"
    )))
    .bind(shop)
    .bind(shopify_order_id)
    .fetch_all(db)
    .await
}

#[derive(sqlx::FromRow)]
pub struct CustomerLedgerRow {
    pub entry_no: i64,
    pub customer_no: String,
    pub posting_date: NaiveDate,
    pub document_type: String,
    pub document_no: String,
    pub currency: String,
    pub amount_minor: i64,
    pub remaining_amount_minor: i64,
    pub open: bool,
    pub shopify_order_no: String,
}

/// The customer ledger entries of one Shopify order, in entry order.
pub async fn customer_ledger_of_order(
    db: impl PgExecutor<'_>,
    shop: &str,
    shopify_order_id: i64,
) -> sqlx::Result<Vec<CustomerLedgerRow>> {
    sqlx::query_as(
        "SELECT entry_no, customer_no, posting_date, document_type, document_no, currency, \
             amount_minor, remaining_amount_minor, open, shopify_order_no \
             FROM posting.customer_ledger_entries WHERE shop = $1 AND shopify_order_id = $2 \
             ORDER BY entry_no",
    )
    .bind(shop)
    .bind(shopify_order_id)
    .fetch_all(db)
    .await
}
