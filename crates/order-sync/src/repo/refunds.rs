//! The refunds table: each Shopify refund recorded when the import first sees it (see
//! `orders::store_page`), and what became of it.

use sqlx::PgPool;

/// An order with refunds still to turn into ERP documents.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenOrder {
    pub order_id: i64,
    pub name: String,
    /// The order's state in the mirror (processed, changed, cancelled, ...).
    pub state: String,
    pub refund_ids: Vec<i64>,
    /// Per refund (same order): its lines and shipping are in the order's document.
    pub in_document: Vec<bool>,
    /// The order's body says it is cancelled.
    pub cancelled: bool,
    /// Its prices include tax (so do its document's amounts).
    pub taxes_included: bool,
}

/// Orders after `after` with pending refunds, among the orders that have a document or were
/// cancelled before one was made; at most `limit` (held ones wait for their group's retry).
pub async fn open_orders(
    pool: &PgPool,
    shop: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<OpenOrder>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.order_id, o.name, o.state, \
           array_agg(r.refund_id ORDER BY r.refund_id) AS refund_ids, \
           array_agg(r.in_document ORDER BY r.refund_id) AS in_document, \
           coalesce((o.body->>'cancelled')::boolean, false) AS cancelled, \
           coalesce((o.body->>'taxes_included')::boolean, false) AS taxes_included \
         FROM order_sync.refunds r \
         JOIN order_sync.orders o ON o.shop = r.shop AND o.order_id = r.order_id \
         WHERE r.shop = $1 AND r.state = 'pending' AND r.order_id > $2 \
           AND o.state IN ('processed', 'changed', 'cancelled') \
         GROUP BY o.shop, o.order_id ORDER BY o.order_id LIMIT $3",
    )
    .bind(shop)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// What became of one refund: credited (a credit memo), applied (the order's unposted
/// document holds it), or held with the reason.
pub async fn resolve(
    pool: &PgPool,
    shop: &str,
    refund_id: i64,
    state: &str,
    document_no: Option<&str>,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_sync.refunds SET state = $3, document_no = $4, reason = $5, \
         updated_at = now() WHERE shop = $1 AND refund_id = $2",
    )
    .bind(shop)
    .bind(refund_id)
    .bind(state)
    .bind(document_no)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// An order changed after posting only by refunds that are credited: its document stands as
/// posted and the credit memos carry the change, so it is processed again as it is now.
pub async fn accept_refunded(pool: &PgPool, shop: &str, order_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_sync.orders SET state = 'processed', processed_hash = content_hash, \
         processed_content = content, changes = NULL, updated_at = now() \
         WHERE shop = $1 AND order_id = $2 AND state = 'changed'",
    )
    .bind(shop)
    .bind(order_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Refunds held with a reason (for the cues).
pub async fn held_count(pool: &PgPool, shop: Option<&str>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM order_sync.refunds WHERE state = 'held' \
           AND ($1::text IS NULL OR shop = $1)",
    )
    .bind(shop)
    .fetch_one(pool)
    .await
}

/// Held refunds grouped by reason, largest first.
pub async fn held_groups(
    pool: &PgPool,
    shop: Option<&str>,
    limit: i64,
) -> Result<Vec<crate::repo::cues::Group>, sqlx::Error> {
    let rows: Vec<(String, String, i64, Vec<String>)> = sqlx::query_as(
        "SELECT r.shop, coalesce(r.reason, ''), count(*), \
           (array_agg('refund ' || r.refund_id || ' of order ' || o.name \
                      ORDER BY r.refund_id))[1:20] \
         FROM order_sync.refunds r \
         JOIN order_sync.orders o ON o.shop = r.shop AND o.order_id = r.order_id \
         WHERE r.state = 'held' AND ($1::text IS NULL OR r.shop = $1) \
         GROUP BY r.shop, r.reason ORDER BY count(*) DESC, r.shop LIMIT $2",
    )
    .bind(shop)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(shop, reason, count, records)| crate::repo::cues::Group {
            shop,
            // The reason names the group (a retry puts back the refunds held for it).
            key: reason.clone(),
            kind: "held_refund".into(),
            reason,
            count,
            records,
        })
        .collect())
}

/// Put the refunds held for `reason` back to be turned into documents.
pub async fn retry_held(pool: &PgPool, shop: &str, reason: &str) -> Result<i64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE order_sync.refunds SET state = 'pending', reason = NULL, updated_at = now() \
         WHERE shop = $1 AND state = 'held' AND reason = $2",
    )
    .bind(shop)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() as i64)
}
