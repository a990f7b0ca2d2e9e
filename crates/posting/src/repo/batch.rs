//! Batch posting's selection: the numbers of a shop's unposted documents that match the
//! saved filters of a batch posting task.

use sqlx::PgExecutor;

/// The filters of [`select`]: binds $1..$6 in field order.
pub struct BatchFilter<'a> {
    /// $1: document types (stored names).
    pub document_types: &'static [&'static str],
    /// $2
    pub released_only: bool,
    /// $3
    pub posting_date_to: Option<chrono::NaiveDate>,
    /// $4
    pub shopify_order_no_not_blank: bool,
    /// $5
    pub customer_no: Option<&'a str>,
    /// $6
    pub shop: &'a str,
}

/// Document numbers matching the filters, in number order.
pub async fn select(db: impl PgExecutor<'_>, f: &BatchFilter<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT no FROM posting.sales_headers \
         WHERE document_type = ANY($1) AND status <> 'posted' \
           AND (NOT $2 OR status = 'released') \
           AND ($3::date IS NULL OR posting_date <= $3) \
           AND (NOT $4 OR shopify_order_no <> '') \
           AND ($5::text IS NULL OR sell_to_customer_no = $5) \
           AND shop = $6 \
         ORDER BY no",
    )
    .bind(f.document_types)
    .bind(f.released_only)
    .bind(f.posting_date_to)
    .bind(f.shopify_order_no_not_blank)
    .bind(f.customer_no)
    .bind(f.shop)
    .fetch_all(db)
    .await
}
