//! Stock: the item ledger (entries, adjustment requests, the lock and sum behind negative
//! stock checks) and stock levels with what they carry besides on hand (reservations by
//! shop, shipments awaiting fulfillment) for reads and the stock change feed.

use sqlx::{PgConnection, PgExecutor};

/// Serialise writers of one item x variant x location until the transaction ends.
pub async fn lock_level(
    tx: &mut PgConnection,
    item: &str,
    variant: &str,
    location: &str,
) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind(format!("{item}\u{1f}{variant}\u{1f}{location}"))
        .execute(tx)
        .await?;
    Ok(())
}

/// Quantity on hand of one item x variant x location (base units).
pub async fn on_hand(
    db: impl PgExecutor<'_>,
    item: &str,
    variant: &str,
    location: &str,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COALESCE(sum(quantity), 0)::bigint FROM posting.item_ledger_entries \
         WHERE item_no = $1 AND variant_code = $2 AND location_code = $3",
    )
    .bind(item)
    .bind(variant)
    .bind(location)
    .fetch_one(db)
    .await
}

#[derive(sqlx::FromRow)]
pub struct LedgerRow {
    pub entry_no: i64,
    pub entry_type: String,
    pub item_no: String,
    pub variant_code: String,
    pub location_code: String,
    pub posting_date: chrono::NaiveDate,
    pub quantity: i64,
    pub cost_amount_minor: i64,
    pub sales_amount_minor: i64,
    pub document_no: String,
    pub shopify_order_no: String,
}

pub const LEDGER_COLS: &str = "entry_no, entry_type, item_no, variant_code, location_code, \
    posting_date, quantity, cost_amount_minor, sales_amount_minor, document_no, shopify_order_no";

/// Record an adjustment request's idempotency key: false when it was recorded before.
pub async fn claim_adjustment_request(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "INSERT INTO posting.adjustment_requests (idempotency_key) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(key)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The entries an earlier adjustment request with this key made.
pub async fn adjustment_entries(
    db: impl PgExecutor<'_>,
    key: &str,
) -> sqlx::Result<Vec<LedgerRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LEDGER_COLS} FROM posting.item_ledger_entries WHERE entry_no IN (\
         SELECT unnest(entry_nos) FROM posting.adjustment_requests WHERE idempotency_key = $1) \
         ORDER BY entry_no"
    )))
    .bind(key)
    .fetch_all(db)
    .await
}

pub async fn set_adjustment_entries(
    db: impl PgExecutor<'_>,
    key: &str,
    entry_nos: &[i64],
) -> sqlx::Result<()> {
    sqlx::query("UPDATE posting.adjustment_requests SET entry_nos = $2 WHERE idempotency_key = $1")
        .bind(key)
        .bind(entry_nos)
        .execute(db)
        .await?;
    Ok(())
}

/// An adjustment's ledger entry: binds $1..$9 of [`insert_adjustment`] in field order.
pub struct AdjustmentIn<'a> {
    pub entry_type: &'static str,
    pub item_no: &'a str,
    pub variant_code: &'a str,
    pub location_code: &'a str,
    pub posting_date: chrono::NaiveDate,
    pub quantity: i64,
    pub cost_amount_minor: i64,
    pub currency: &'a str,
    pub document_no: &'a str,
}

pub async fn insert_adjustment(
    db: impl PgExecutor<'_>,
    e: &AdjustmentIn<'_>,
) -> sqlx::Result<LedgerRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO posting.item_ledger_entries (entry_type, item_no, variant_code, \
         location_code, posting_date, quantity, cost_amount_minor, currency, document_type, document_no) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'adjustment',$9) RETURNING {LEDGER_COLS}"
    )))
    .bind(e.entry_type)
    .bind(e.item_no)
    .bind(e.variant_code)
    .bind(e.location_code)
    .bind(e.posting_date)
    .bind(e.quantity)
    .bind(e.cost_amount_minor)
    .bind(e.currency)
    .bind(e.document_no)
    .fetch_one(db)
    .await
}

/// The item ledger entries of one Shopify order, in entry order.
pub async fn ledger_of_order(
    db: impl PgExecutor<'_>,
    shop: &str,
    shopify_order_id: i64,
) -> sqlx::Result<Vec<LedgerRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LEDGER_COLS} FROM posting.item_ledger_entries \
         WHERE shop = $1 AND shopify_order_id = $2 ORDER BY entry_no"
    )))
    .bind(shop)
    .bind(shopify_order_id)
    .fetch_all(db)
    .await
}

/// What a level's row carries besides on hand: base units still to ship on open sales orders
/// and invoices, and base units of posted shipments of Shopify orders not yet fulfilled in
/// Shopify, each by shop. Joined LATERAL on a row `c(item_no, variant_code, location_code)`.
const LEVEL_EXTRAS: &str = "\
  LEFT JOIN LATERAL ( \
    SELECT COALESCE(array_agg(shop ORDER BY shop), '{}') AS rs, \
           COALESCE(array_agg(q ORDER BY shop), '{}') AS rq \
    FROM (SELECT h.shop, sum((sl.quantity - sl.quantity_shipped) * sl.qty_per_uom)::bigint AS q \
          FROM posting.sales_lines sl JOIN posting.sales_headers h ON h.id = sl.header_id \
          WHERE sl.item_no = c.item_no AND sl.variant_code = c.variant_code \
            AND sl.location_code = c.location_code AND sl.quantity > sl.quantity_shipped \
            AND h.status <> 'posted' AND h.document_type IN ('order', 'invoice') \
          GROUP BY h.shop) r) res ON true \
  LEFT JOIN LATERAL ( \
    SELECT COALESCE(array_agg(shop ORDER BY shop), '{}') AS aws, \
           COALESCE(array_agg(q ORDER BY shop), '{}') AS awq \
    FROM (SELECT s.shop, sum(pl.quantity * COALESCE(sl.qty_per_uom, 1))::bigint AS q \
          FROM posting.posted_shipment_lines pl \
          JOIN posting.posted_shipments s ON s.id = pl.shipment_id \
          LEFT JOIN posting.sales_headers h ON h.no = s.order_no \
          LEFT JOIN posting.sales_lines sl ON sl.header_id = h.id AND sl.line_no = pl.line_no \
          WHERE pl.item_no = c.item_no AND pl.variant_code = c.variant_code \
            AND pl.location_code = c.location_code AND s.shopify_order_id IS NOT NULL \
            AND s.fulfillment_state IN ('pending', 'failed') \
          GROUP BY s.shop) a) aw ON true";

/// One level as read with [`LEVEL_EXTRAS`].
#[derive(sqlx::FromRow)]
pub struct LevelRow {
    pub item_no: String,
    pub variant_code: String,
    pub location_code: String,
    pub on_hand: i64,
    /// Reserved: shops and their quantities, in the same order.
    pub rs: Vec<String>,
    pub rq: Vec<i64>,
    /// Awaiting fulfillment: shops and their quantities, in the same order.
    pub aws: Vec<String>,
    pub awq: Vec<i64>,
}

/// The levels of one item, at one location or all (`location` empty).
pub async fn levels(
    db: impl PgExecutor<'_>,
    item: &str,
    location: &str,
) -> sqlx::Result<Vec<LevelRow>> {
    let sql = format!(
        "WITH c AS ( \
           SELECT item_no, variant_code, location_code, sum(quantity)::bigint AS on_hand \
           FROM posting.item_ledger_entries WHERE item_no = $1 AND ($2 = '' OR location_code = $2) \
           GROUP BY 1, 2, 3) \
         SELECT c.*, res.*, aw.* FROM c {LEVEL_EXTRAS} ORDER BY 2, 3"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(item).bind(location).fetch_all(db).await
}

/// A level that changed, with its latest change (the cursor's parts).
#[derive(sqlx::FromRow)]
pub struct ChangedLevel {
    #[sqlx(flatten)]
    pub level: LevelRow,
    pub xid: i64,
    pub entry_no: i64,
}

/// Stock levels whose ledger, reservations or shipments awaiting fulfillment changed after
/// (`xid`, `entry_no`): one row per item x variant x location, at its latest change, with its
/// quantities now. Ledger entries and stock touches share one numbering, so one cursor
/// orders both.
pub async fn changed_after(
    db: impl PgExecutor<'_>,
    xid: i64,
    entry_no: i64,
    limit: i64,
) -> sqlx::Result<Vec<ChangedLevel>> {
    let sql = format!(
        "WITH ev AS ( \
           SELECT item_no, variant_code, location_code, change_xid, entry_no \
           FROM posting.item_ledger_entries \
           WHERE (change_xid, entry_no) > ($1::text::xid8, $2) \
             AND change_xid < pg_snapshot_xmin(pg_current_snapshot()) \
           UNION ALL \
           SELECT item_no, variant_code, location_code, change_xid, entry_no \
           FROM posting.stock_touches \
           WHERE (change_xid, entry_no) > ($1::text::xid8, $2) \
             AND change_xid < pg_snapshot_xmin(pg_current_snapshot())), \
         latest AS ( \
           SELECT DISTINCT ON (item_no, variant_code, location_code) \
                  item_no, variant_code, location_code, change_xid, entry_no \
           FROM ev ORDER BY item_no, variant_code, location_code, change_xid DESC, entry_no DESC), \
         c AS (SELECT * FROM latest ORDER BY change_xid, entry_no LIMIT $3) \
         SELECT c.item_no, c.variant_code, c.location_code, \
                (SELECT COALESCE(sum(quantity), 0)::bigint FROM posting.item_ledger_entries l \
                  WHERE l.item_no = c.item_no AND l.variant_code = c.variant_code \
                    AND l.location_code = c.location_code) AS on_hand, \
                res.*, aw.*, c.change_xid::text::bigint AS xid, c.entry_no \
         FROM c {LEVEL_EXTRAS} ORDER BY c.change_xid, c.entry_no"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(xid)
        .bind(entry_no)
        .bind(limit)
        .fetch_all(db)
        .await
}
