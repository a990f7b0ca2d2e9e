//! The SQL of order webhooks: deliveries (de-duplicated), watermarks, the per-shop debounce
//! window and subscription state, the gap check and the gaps.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// One verified delivery, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub shop: String,
    pub webhook_id: String,
    pub topic: String,
    pub order_id: Option<i64>,
    pub order_updated_at: Option<DateTime<Utc>>,
    pub triggered_at: Option<DateTime<Utc>>,
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Seen before (same webhook id): nothing done.
    Duplicate,
    /// Stored; a debounce window was already open and this delivery joins it.
    Joined,
    /// Stored and it opened the shop's debounce window (at this time).
    Opened(DateTime<Utc>),
}

/// Store a delivery, move its topic's watermark and open the shop's debounce window unless
/// one is open: one transaction. A duplicate does nothing.
pub async fn receive(pool: &PgPool, d: &Delivery) -> Result<Received, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO order_sync.webhook_deliveries \
           (shop, webhook_id, topic, order_id, order_updated_at, triggered_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (shop, webhook_id) DO NOTHING",
    )
    .bind(&d.shop)
    .bind(&d.webhook_id)
    .bind(&d.topic)
    .bind(d.order_id)
    .bind(d.order_updated_at)
    .bind(d.triggered_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Received::Duplicate);
    }
    sqlx::query(
        "INSERT INTO order_sync.webhook_watermarks \
           (shop, topic, last_received_at, last_triggered_at, deliveries) \
         VALUES ($1, $2, now(), $3, 1) \
         ON CONFLICT (shop, topic) DO UPDATE SET last_received_at = now(), \
           last_triggered_at = GREATEST(webhook_watermarks.last_triggered_at, $3), \
           deliveries = webhook_watermarks.deliveries + 1",
    )
    .bind(&d.shop)
    .bind(&d.topic)
    .bind(d.triggered_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO order_sync.webhook_shops (shop) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(&d.shop)
        .execute(&mut *tx)
        .await?;
    // The row lock orders concurrent deliveries: exactly one of them finds no window.
    let opened: Option<(DateTime<Utc>,)> = sqlx::query_as(
        "UPDATE order_sync.webhook_shops SET pending_since = clock_timestamp() \
         WHERE shop = $1 AND pending_since IS NULL RETURNING pending_since",
    )
    .bind(&d.shop)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(match opened {
        Some((at,)) => Received::Opened(at),
        None => Received::Joined,
    })
}

/// Close the shop's window: the one opened at `own`, or any open at least `older_than_ms`
/// (one caller wins); returns when it opened.
pub async fn close_window(
    pool: &PgPool,
    shop: &str,
    own: Option<DateTime<Utc>>,
    older_than_ms: i64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    // Claimed, not cleared: the window is cleared only once its job is queued, so a crash in
    // between leaves it for the sweeper (the job's request id makes a second SyncNow the same
    // job).
    let r: Option<(DateTime<Utc>,)> = sqlx::query_as(
        "UPDATE order_sync.webhook_shops \
         SET closing_until = clock_timestamp() + make_interval(secs => $4::float8) \
         WHERE shop = $1 AND pending_since IS NOT NULL \
           AND ($2::timestamptz IS NULL OR pending_since = $2) \
           AND pending_since <= clock_timestamp() - make_interval(secs => $3::float8 / 1000) \
           AND (closing_until IS NULL OR closing_until < clock_timestamp()) \
         RETURNING pending_since",
    )
    .bind(shop)
    .bind(own)
    .bind(older_than_ms as f64)
    .bind(CLOSING_LEASE_SECS)
    .fetch_optional(pool)
    .await?;
    Ok(r.map(|(t,)| t))
}

/// How long a replica may take to queue a window's job before another takes over.
pub const CLOSING_LEASE_SECS: f64 = 30.0;

/// The window opened at `since` has its job (or never will): it is cleared. Deliveries that
/// joined it meanwhile are read by that job.
pub async fn window_done(
    pool: &PgPool,
    shop: &str,
    since: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_sync.webhook_shops SET pending_since = NULL, closing_until = NULL \
         WHERE shop = $1 AND pending_since = $2",
    )
    .bind(shop)
    .bind(since)
    .execute(pool)
    .await?;
    Ok(())
}

/// Give a window's claim back (its job could not be queued now): the sweeper tries again.
pub async fn reopen_window(
    pool: &PgPool,
    shop: &str,
    since: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_sync.webhook_shops SET closing_until = NULL \
         WHERE shop = $1 AND pending_since = $2",
    )
    .bind(shop)
    .bind(since)
    .execute(pool)
    .await?;
    Ok(())
}

/// The job queued for a window.
pub async fn queued(pool: &PgPool, shop: &str, entry: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_sync.webhook_shops SET last_entry = $2, last_queued_at = now() \
         WHERE shop = $1",
    )
    .bind(shop)
    .bind(entry)
    .execute(pool)
    .await?;
    Ok(())
}

/// Shops whose window has been open longer than `older_than_ms` (its opener is gone).
pub async fn stale_windows(pool: &PgPool, older_than_ms: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT shop FROM order_sync.webhook_shops WHERE pending_since IS NOT NULL \
           AND pending_since <= clock_timestamp() - make_interval(secs => $1::float8 / 1000) \
           AND (closing_until IS NULL OR closing_until < clock_timestamp()) \
         ORDER BY pending_since LIMIT 100",
    )
    .bind(older_than_ms as f64)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}

/// The shops Shopify names by `domain` (their learned myshopify domain).
pub async fn shops_of_domain(pool: &PgPool, domain: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT shop FROM order_sync.webhook_shops WHERE domain = $1 ORDER BY shop")
            .bind(domain)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}

/// A shop's subscription state.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct ShopState {
    pub domain: Option<String>,
    pub callback: Option<String>,
    pub subscribed_at: Option<DateTime<Utc>>,
    pub checked_at: Option<DateTime<Utc>>,
    pub gaps_checked_until: Option<DateTime<Utc>>,
    pub reconcile_from: Option<DateTime<Utc>>,
}

pub async fn shop_state(pool: &PgPool, shop: &str) -> Result<ShopState, sqlx::Error> {
    let s: Option<ShopState> = sqlx::query_as(
        "SELECT domain, callback, subscribed_at, checked_at, gaps_checked_until, reconcile_from \
         FROM order_sync.webhook_shops WHERE shop = $1",
    )
    .bind(shop)
    .fetch_optional(pool)
    .await?;
    Ok(s.unwrap_or_default())
}

/// The subscriptions were checked (and are complete) at this time.
pub async fn subscribed(
    pool: &PgPool,
    shop: &str,
    domain: &str,
    callback: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_sync.webhook_shops (shop, domain, callback, subscribed_at, checked_at, \
           gaps_checked_until) \
         VALUES ($1, $2, $3, now(), now(), date_trunc('second', now())) \
         ON CONFLICT (shop) DO UPDATE SET domain = $2, callback = $3, checked_at = now(), \
           subscribed_at = COALESCE(webhook_shops.subscribed_at, now()), \
           gaps_checked_until = COALESCE(webhook_shops.gaps_checked_until, \
                                         date_trunc('second', now()))",
    )
    .bind(shop)
    .bind(domain)
    .bind(callback)
    .execute(pool)
    .await?;
    Ok(())
}

/// Webhooks were turned off for the shop: the gap check starts afresh when they are on again.
pub async fn unsubscribed(pool: &PgPool, shop: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_sync.webhook_shops SET subscribed_at = NULL, checked_at = NULL, \
           gaps_checked_until = NULL WHERE shop = $1 AND subscribed_at IS NOT NULL",
    )
    .bind(shop)
    .execute(pool)
    .await?;
    Ok(())
}

/// Orders polling stored that no delivery announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unannounced {
    pub orders: i64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub records: Vec<String>,
}

/// count, first and last `updatedAt`, some names.
type UnannouncedRow = (i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<Vec<String>>);

/// The mirror's orders of `shop` updated in `[from, to)` that no delivery announced: none
/// about the order with its `updated_at` at least as new (orders/* topics), nor one about it
/// received since it changed (refunds, fulfillments).
pub async fn unannounced(
    pool: &PgPool,
    shop: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<Unannounced>, sqlx::Error> {
    let row: UnannouncedRow = sqlx::query_as(
        "SELECT count(*), min(o.shopify_updated_at), max(o.shopify_updated_at), \
               (array_agg(o.name ORDER BY o.shopify_updated_at, o.order_id))[1:20] \
             FROM order_sync.orders o \
             WHERE o.shop = $1 AND o.shopify_updated_at >= $2 AND o.shopify_updated_at < $3 \
               AND o.body IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM order_sync.webhook_deliveries d \
                 WHERE d.shop = o.shop AND d.order_id = o.order_id \
                   AND (date_trunc('second', d.order_updated_at) \
                          >= date_trunc('second', o.shopify_updated_at) \
                        OR (d.order_updated_at IS NULL \
                            AND d.received_at >= o.shopify_updated_at)))",
    )
    .bind(shop)
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    Ok(match row {
        (n, Some(from), Some(to), records) if n > 0 => {
            Some(Unannounced { orders: n, from, to, records: records.unwrap_or_default() })
        }
        _ => None,
    })
}

/// The latest delivery of any topic of the shop.
pub async fn last_delivery(
    pool: &PgPool,
    shop: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let r: (Option<DateTime<Utc>>,) = sqlx::query_as(
        "SELECT max(last_received_at) FROM order_sync.webhook_watermarks WHERE shop = $1",
    )
    .bind(shop)
    .fetch_one(pool)
    .await?;
    Ok(r.0)
}

/// Record a gap (the window is to be reconciled) and move the check on to `checked_until`;
/// without a gap, resolve the open ones when deliveries announce orders again, and move on.
pub async fn checked(
    pool: &PgPool,
    shop: &str,
    gap: Option<(&Unannounced, &str)>,
    checked_until: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut id = None;
    match gap {
        Some((g, reason)) => {
            let (new,): (i64,) = sqlx::query_as(
                "INSERT INTO order_sync.webhook_gaps \
                   (shop, window_from, window_to, orders, records, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(shop)
            .bind(g.from)
            .bind(g.to)
            .bind(g.orders)
            .bind(&g.records)
            .bind(reason)
            .fetch_one(&mut *tx)
            .await?;
            id = Some(new);
            sqlx::query(
                "UPDATE order_sync.webhook_shops SET \
                   reconcile_from = LEAST(COALESCE(reconcile_from, $2), $2) WHERE shop = $1",
            )
            .bind(shop)
            .bind(g.from)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            // Deliveries announce orders again: a delivery arrived after the gap's window and
            // nothing in this check went unannounced.
            sqlx::query(
                "UPDATE order_sync.webhook_gaps g SET resolved_at = now() \
                 WHERE g.shop = $1 AND g.resolved_at IS NULL AND EXISTS ( \
                   SELECT 1 FROM order_sync.webhook_deliveries d \
                   WHERE d.shop = g.shop AND d.received_at > g.detected_at)",
            )
            .bind(shop)
            .execute(&mut *tx)
            .await?;
        }
    }
    sqlx::query(
        "UPDATE order_sync.webhook_shops SET gaps_checked_until = $2 WHERE shop = $1 \
           AND (gaps_checked_until IS NULL OR gaps_checked_until < $2)",
    )
    .bind(shop)
    .bind(checked_until)
    .execute(&mut *tx)
    .await?;
    // Deliveries older than Shopify's retry period and then some are no longer needed.
    sqlx::query(
        "DELETE FROM order_sync.webhook_deliveries WHERE shop = $1 \
           AND received_at < now() - interval '7 days'",
    )
    .bind(shop)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A reconciliation covered everything updated since `from`: the gaps in it are backfilled
/// and the pending window (if no older one came meanwhile) is done.
pub async fn reconciled(pool: &PgPool, shop: &str, from: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE order_sync.webhook_gaps SET backfilled_at = now() \
         WHERE shop = $1 AND backfilled_at IS NULL AND window_from >= $2",
    )
    .bind(shop)
    .bind(from)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE order_sync.webhook_shops SET reconcile_from = NULL \
         WHERE shop = $1 AND reconcile_from >= $2",
    )
    .bind(shop)
    .bind(from)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The mirror's `updatedAt` of these orders (absent: not imported).
pub async fn mirror_stamps(
    pool: &PgPool,
    shop: &str,
    ids: &[i64],
) -> Result<Vec<(i64, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT order_id, shopify_updated_at FROM order_sync.orders \
         WHERE shop = $1 AND order_id = ANY($2) AND body IS NOT NULL",
    )
    .bind(shop)
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// An open gap, as the cue shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Gap {
    pub id: i64,
    pub shop: String,
    pub window_from: DateTime<Utc>,
    pub window_to: DateTime<Utc>,
    pub orders: i64,
    pub records: Vec<String>,
    pub reason: String,
    pub backfilled_at: Option<DateTime<Utc>>,
}

/// Open gaps (of `shop`, or all).
pub async fn open_gaps(
    pool: &PgPool,
    shop: Option<&str>,
    limit: i64,
) -> Result<Vec<Gap>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, shop, window_from, window_to, orders, records, reason, backfilled_at \
         FROM order_sync.webhook_gaps WHERE resolved_at IS NULL \
           AND ($1::text IS NULL OR shop = $1) ORDER BY detected_at DESC, id DESC LIMIT $2",
    )
    .bind(shop)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn count_open_gaps(pool: &PgPool, shop: Option<&str>) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM order_sync.webhook_gaps WHERE resolved_at IS NULL \
           AND ($1::text IS NULL OR shop = $1)",
    )
    .bind(shop)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// A person looked at a gap: resolved; its window is reconciled by the job the retry queues.
/// Returns the window's start when the gap was open.
pub async fn resolve_gap(
    pool: &PgPool,
    shop: &str,
    id: i64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let r: Option<(DateTime<Utc>,)> = sqlx::query_as(
        "UPDATE order_sync.webhook_gaps SET resolved_at = now() \
         WHERE shop = $1 AND id = $2 AND resolved_at IS NULL RETURNING window_from",
    )
    .bind(shop)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(r.map(|(t,)| t))
}

/// Orders announced by an orders/* delivery in the last hour that the mirror lacks, or has
/// older than the delivery says (at most 500, newest deliveries first).
pub async fn announced_not_imported(pool: &PgPool, shop: &str) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT d.order_id FROM order_sync.webhook_deliveries d \
         LEFT JOIN order_sync.orders o ON o.shop = d.shop AND o.order_id = d.order_id \
         WHERE d.shop = $1 AND d.order_id IS NOT NULL AND d.topic LIKE 'orders/%' \
           AND d.received_at > now() - interval '1 hour' \
           AND (o.order_id IS NULL \
                OR o.shopify_updated_at < date_trunc('second', d.order_updated_at)) \
         GROUP BY d.order_id ORDER BY max(d.received_at) DESC LIMIT 500",
    )
    .bind(shop)
    .fetch_all(pool)
    .await
}

/// Deliveries older than a week (Shopify retries for 48 hours), of every shop, in batches.
pub async fn prune_deliveries(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let r = sqlx::query(
            "DELETE FROM order_sync.webhook_deliveries WHERE ctid IN ( \
               SELECT ctid FROM order_sync.webhook_deliveries \
               WHERE received_at < now() - interval '7 days' LIMIT 5000)",
        )
        .execute(pool)
        .await?;
        total += r.rows_affected();
        if r.rows_affected() < 5000 {
            return Ok(total);
        }
    }
}
