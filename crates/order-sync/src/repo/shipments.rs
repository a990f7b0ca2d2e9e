//! The shipment tables: fulfillments about to be (or already) created in Shopify per shipment
//! and location (`fulfillment_sends`, the intent written before `fulfillmentCreate`), and what
//! sending each shipment gave (`shipment_results`, for the cues).

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::types::Json;

/// One fulfillment-order line of a fulfillment request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendLine {
    /// The fulfillment order (gid).
    pub fulfillment_order: String,
    /// The fulfillment order line (gid).
    pub fulfillment_order_line: String,
    /// Shopify's numeric line item id.
    pub line_item: i64,
    pub quantity: i64,
}

/// A fulfillment of one shipment from one Shopify location (and part).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Send {
    pub location_id: i64,
    pub part: i32,
    pub lines: Json<Vec<SendLine>>,
    pub known_before: Vec<i64>,
    pub state: String,
    pub fulfillment_id: Option<String>,
}

/// The shipment's sends, in location order.
pub async fn sends(pool: &PgPool, shop: &str, shipment: &str) -> Result<Vec<Send>, sqlx::Error> {
    sqlx::query_as(
        "SELECT location_id, part, lines, known_before, state, fulfillment_id \
         FROM order_sync.fulfillment_sends WHERE shop = $1 AND shipment_no = $2 \
         ORDER BY location_id, part",
    )
    .bind(shop)
    .bind(shipment)
    .fetch_all(pool)
    .await
}

/// Record the intent to send (committed before the request leaves): a send not yet confirmed
/// is replaced by the new plan; a confirmed one is never touched.
#[allow(clippy::too_many_arguments)]
pub async fn intend(
    pool: &PgPool,
    shop: &str,
    shipment: &str,
    order_id: i64,
    location_id: i64,
    part: i32,
    lines: &[SendLine],
    known_before: &[i64],
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO order_sync.fulfillment_sends \
           (shop, shipment_no, location_id, part, order_id, lines, known_before, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'sending') \
         ON CONFLICT (shop, shipment_no, location_id, part) DO UPDATE \
           SET lines = EXCLUDED.lines, known_before = EXCLUDED.known_before, \
               attempts = order_sync.fulfillment_sends.attempts + 1, updated_at = now() \
           WHERE order_sync.fulfillment_sends.state = 'sending'",
    )
    .bind(shop)
    .bind(shipment)
    .bind(location_id)
    .bind(part)
    .bind(order_id)
    .bind(Json(lines))
    .bind(known_before)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Shopify made the fulfillment (its answer, or found by reconciliation).
pub async fn mark_sent(
    pool: &PgPool,
    shop: &str,
    shipment: &str,
    location_id: i64,
    part: i32,
    fulfillment_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_sync.fulfillment_sends SET state = 'sent', fulfillment_id = $5, \
         updated_at = now() \
         WHERE shop = $1 AND shipment_no = $2 AND location_id = $3 AND part = $4 \
           AND state = 'sending'",
    )
    .bind(shop)
    .bind(shipment)
    .bind(location_id)
    .bind(part)
    .bind(fulfillment_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The shipment's requests not confirmed, once a full read of the order shows Shopify did
/// not make them.
pub async fn forget_unsent(pool: &PgPool, shop: &str, shipment: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM order_sync.fulfillment_sends \
         WHERE shop = $1 AND shipment_no = $2 AND state = 'sending'",
    )
    .bind(shop)
    .bind(shipment)
    .execute(pool)
    .await?;
    Ok(())
}

/// Shopify refused the request (a user error): nothing was made, the intent goes.
pub async fn forget(
    pool: &PgPool,
    shop: &str,
    shipment: &str,
    location_id: i64,
    part: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM order_sync.fulfillment_sends \
         WHERE shop = $1 AND shipment_no = $2 AND location_id = $3 AND part = $4 \
           AND state = 'sending'",
    )
    .bind(shop)
    .bind(shipment)
    .bind(location_id)
    .bind(part)
    .execute(pool)
    .await?;
    Ok(())
}

/// What sending one shipment gave.
#[derive(Debug, Clone)]
pub struct ShipmentResult<'a> {
    pub shipment_no: &'a str,
    pub order_id: i64,
    pub order_name: &'a str,
    /// sent, failed or nothing_to_send.
    pub state: &'static str,
    pub reason_key: Option<&'a str>,
    pub reason: Option<&'a str>,
}

pub async fn record_result(
    pool: &PgPool,
    shop: &str,
    r: &ShipmentResult<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_sync.shipment_results \
           (shop, shipment_no, order_id, order_name, state, reason_key, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (shop, shipment_no) DO UPDATE SET order_id = EXCLUDED.order_id, \
           order_name = EXCLUDED.order_name, state = EXCLUDED.state, \
           reason_key = EXCLUDED.reason_key, reason = EXCLUDED.reason, updated_at = now()",
    )
    .bind(shop)
    .bind(r.shipment_no)
    .bind(r.order_id)
    .bind(r.order_name)
    .bind(r.state)
    .bind(r.reason_key)
    .bind(r.reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// The failed shipments of one cause (a cue group), to reset.
pub async fn failed_with(
    pool: &PgPool,
    shop: &str,
    reason_key: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT shipment_no FROM order_sync.shipment_results \
         WHERE shop = $1 AND state = 'failed' AND reason_key = $2 ORDER BY shipment_no",
    )
    .bind(shop)
    .bind(reason_key)
    .fetch_all(pool)
    .await
}

/// A reset shipment is no longer failed here (the posting service streams it again), and
/// its unconfirmed requests are dropped: the person who reset it checked Shopify, so what is
/// still open is sent again.
pub async fn clear_result(pool: &PgPool, shop: &str, shipment: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM order_sync.shipment_results WHERE shop = $1 AND shipment_no = $2")
        .bind(shop)
        .bind(shipment)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM order_sync.fulfillment_sends \
         WHERE shop = $1 AND shipment_no = $2 AND state = 'sending'",
    )
    .bind(shop)
    .bind(shipment)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Failed shipments (of `shop`, or all).
pub async fn failed_count(pool: &PgPool, shop: Option<&str>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM order_sync.shipment_results \
         WHERE state = 'failed' AND ($1::text IS NULL OR shop = $1)",
    )
    .bind(shop)
    .fetch_one(pool)
    .await
}

/// Failed shipments grouped by cause, largest first (the reason shown is the latest one).
pub async fn failed_groups(
    pool: &PgPool,
    shop: Option<&str>,
    limit: i64,
) -> Result<Vec<crate::repo::cues::Group>, sqlx::Error> {
    sqlx::query_as(
        "SELECT shop, coalesce(reason_key, 'failed') AS key, 'shipment_error' AS kind, \
           (array_agg(reason ORDER BY updated_at DESC))[1] AS reason, count(*) AS count, \
           (array_agg('shipment ' || shipment_no || ' (order ' || order_name || ')' \
                      ORDER BY shipment_no))[1:20] AS records \
         FROM order_sync.shipment_results \
         WHERE state = 'failed' AND ($1::text IS NULL OR shop = $1) \
         GROUP BY shop, reason_key ORDER BY count(*) DESC, shop LIMIT $2",
    )
    .bind(shop)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The right to send a shop's shipments: one run (or one shipment-error retry) at a time,
/// even when the job queue's lease of a run expired while it still goes on. A session-level
/// advisory lock on a connection that is closed, never pooled, when the holder goes (a crash
/// closes it too): the lock never outlives its holder.
pub struct ShopLock {
    _conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
}

/// Take the shop's shipments lock, or `None` when someone holds it.
pub async fn try_lock_shop(pool: &PgPool, shop: &str) -> Result<Option<ShopLock>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    conn.close_on_drop();
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 21))")
        .bind(format!("order_sync.shipments:{shop}"))
        .fetch_one(&mut *conn)
        .await?;
    Ok(got.then_some(ShopLock { _conn: conn }))
}

/// Fulfillments of the order already recorded as some request's (of any shipment).
pub async fn taken_fulfillments(
    pool: &PgPool,
    shop: &str,
    order_id: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT fulfillment_id FROM order_sync.fulfillment_sends \
         WHERE shop = $1 AND order_id = $2 AND fulfillment_id IS NOT NULL",
    )
    .bind(shop)
    .bind(order_id)
    .fetch_all(pool)
    .await
}
