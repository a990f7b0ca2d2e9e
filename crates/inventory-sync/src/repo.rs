//! All of inventory-sync's SQL (the `inventory` schema).

use crate::map::{ErpLevel, PushLine, Stock};
use sqlx::PgPool;
use sqlx::types::Json;
use std::collections::HashMap;

type Result<T> = std::result::Result<T, sqlx::Error>;

/// A pending push as stored.
#[derive(sqlx::FromRow)]
struct PendingRow {
    cursor: String,
    lines: Json<Vec<PushLine>>,
    erp_levels: Json<Vec<ErpLevel>>,
}

/// The push a follower was making when it stopped.
#[derive(Debug, Clone)]
pub struct Pending {
    pub cursor: String,
    pub lines: Vec<PushLine>,
    pub erp_levels: Vec<ErpLevel>,
}

pub async fn cursor(db: &PgPool, shop: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT cursor FROM inventory.feed_cursors WHERE shop = $1")
        .bind(shop)
        .fetch_optional(db)
        .await
}

pub async fn pending(db: &PgPool, shop: &str) -> Result<Option<Pending>> {
    let row: Option<PendingRow> = sqlx::query_as(
        "SELECT cursor, lines, erp_levels FROM inventory.pending_pushes WHERE shop = $1",
    )
    .bind(shop)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Pending { cursor: r.cursor, lines: r.lines.0, erp_levels: r.erp_levels.0 }))
}

/// Write the push before its first request.
pub async fn save_pending(db: &PgPool, shop: &str, p: &Pending) -> Result<()> {
    sqlx::query(
        "INSERT INTO inventory.pending_pushes (shop, cursor, lines, erp_levels) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(shop)
    .bind(&p.cursor)
    .bind(Json(&p.lines))
    .bind(Json(&p.erp_levels))
    .execute(db)
    .await?;
    Ok(())
}

/// The writes of the changes up to `cursor` are done: store the ERP levels they carried, move
/// the cursor and drop the pending push, in one transaction.
pub async fn finish(db: &PgPool, shop: &str, cursor: &str, erp: &[ErpLevel]) -> Result<()> {
    let mut tx = db.begin().await?;
    if !erp.is_empty() {
        let col = |f: fn(&ErpLevel) -> String| erp.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO inventory.erp_levels \
               (shop, item_no, variant_code, location_code, quantity, change_cursor, free) \
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::int8[], $6::text[], \
                                      $7::int8[]) \
             ON CONFLICT (shop, item_no, variant_code, location_code) \
             DO UPDATE SET quantity = EXCLUDED.quantity, change_cursor = EXCLUDED.change_cursor, \
                           free = EXCLUDED.free",
        )
        .bind(shop)
        .bind(col(|e| e.item_no.clone()))
        .bind(col(|e| e.variant_code.clone()))
        .bind(col(|e| e.location_code.clone()))
        .bind(erp.iter().map(|e| e.quantity).collect::<Vec<_>>())
        .bind(col(|e| e.cursor.clone()))
        .bind(erp.iter().map(|e| e.free).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO inventory.feed_cursors (shop, cursor) VALUES ($1, $2) \
         ON CONFLICT (shop) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()",
    )
    .bind(shop)
    .bind(cursor)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM inventory.pending_pushes WHERE shop = $1")
        .bind(shop)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// One stored ERP level's figures.
#[derive(sqlx::FromRow)]
struct StoredLevel {
    item_no: String,
    variant_code: String,
    location_code: String,
    quantity: i64,
    free: i64,
}

/// The ERP quantities stored for these items (every variant and location).
pub async fn erp_quantities(
    db: &PgPool,
    shop: &str,
    items: &[String],
) -> Result<HashMap<(String, String, String), Stock>> {
    let rows: Vec<StoredLevel> = sqlx::query_as(
        "SELECT item_no, variant_code, location_code, quantity, COALESCE(free, quantity) AS free \
         FROM inventory.erp_levels WHERE shop = $1 AND item_no = ANY($2)",
    )
    .bind(shop)
    .bind(items)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let s = Stock { on_hand: r.quantity, free: r.free };
            ((r.item_no, r.variant_code, r.location_code), s)
        })
        .collect())
}

/// The on_hand quantity we last know Shopify has, per (inventory item, location).
pub async fn known(
    db: &PgPool,
    shop: &str,
    levels: &[(String, String)],
) -> Result<HashMap<(String, String), i64>> {
    let (items, locs): (Vec<String>, Vec<String>) = levels.iter().cloned().unzip();
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT l.inventory_item_id, l.location_id, l.shopify_quantity \
         FROM inventory.levels l \
         JOIN unnest($2::text[], $3::text[]) AS k(item, loc) \
           ON l.inventory_item_id = k.item AND l.location_id = k.loc \
         WHERE l.shop = $1 AND l.shopify_quantity IS NOT NULL",
    )
    .bind(shop)
    .bind(items)
    .bind(locs)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(i, l, q)| ((i, l), q)).collect())
}

/// Shopify has `quantity` at the line's level (read there, or written by us when `sent`).
pub async fn set_known(
    db: &PgPool,
    shop: &str,
    lines: &[(&PushLine, i64)],
    sent: bool,
) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let col =
        |f: fn(&PushLine) -> &String| lines.iter().map(|(l, _)| f(l).clone()).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO inventory.levels AS l \
           (shop, inventory_item_id, location_id, item_no, variant_code, shopify_quantity, \
            sent_quantity, sent_change, sent_at) \
         SELECT $1, k.item, k.loc, k.no, k.var, k.q, \
                CASE WHEN $7 THEN k.q END, CASE WHEN $7 THEN k.change END, \
                CASE WHEN $7 THEN now() END \
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $8::text[]) \
              AS k(item, loc, no, var, q, change) \
         ON CONFLICT (shop, inventory_item_id, location_id) DO UPDATE SET \
           item_no = EXCLUDED.item_no, variant_code = EXCLUDED.variant_code, \
           shopify_quantity = EXCLUDED.shopify_quantity, \
           sent_quantity = CASE WHEN $7 THEN EXCLUDED.sent_quantity ELSE l.sent_quantity END, \
           sent_change = CASE WHEN $7 THEN EXCLUDED.sent_change ELSE l.sent_change END, \
           sent_at = CASE WHEN $7 THEN EXCLUDED.sent_at ELSE l.sent_at END, \
           updated_at = now()",
    )
    .bind(shop)
    .bind(col(|l| &l.inventory_item_id))
    .bind(col(|l| &l.location_id))
    .bind(col(|l| &l.item_no))
    .bind(col(|l| &l.variant_code))
    .bind(lines.iter().map(|(_, q)| *q).collect::<Vec<_>>())
    .bind(sent)
    .bind(col(|l| &l.change))
    .execute(db)
    .await?;
    Ok(())
}

/// Shopify had `shopify` at a level where we knew `ours`.
pub async fn record_drift(
    db: &PgPool,
    shop: &str,
    line: &PushLine,
    ours: Option<i64>,
    shopify: i64,
    source: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO inventory.drift (shop, inventory_item_id, location_id, ours, shopify, source) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(shop)
    .bind(&line.inventory_item_id)
    .bind(&line.location_id)
    .bind(ours)
    .bind(shopify)
    .bind(source)
    .execute(db)
    .await?;
    sqlx::query(
        "INSERT INTO inventory.level_history \
           (shop, inventory_item_id, location_id, kind, quantity, compare, source) \
         VALUES ($1, $2, $3, 'seen', $4, $5, $6)",
    )
    .bind(shop)
    .bind(&line.inventory_item_id)
    .bind(&line.location_id)
    .bind(shopify)
    .bind(ours)
    .bind(source)
    .execute(db)
    .await?;
    Ok(())
}

/// These lines were written to Shopify (each level's history).
pub async fn record_sent(db: &PgPool, shop: &str, lines: &[PushLine], source: &str) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&PushLine) -> &String| lines.iter().map(|l| f(l).clone()).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO inventory.level_history \
           (shop, inventory_item_id, location_id, kind, quantity, compare, change, source) \
         SELECT $1, k.item, k.loc, 'sent', k.q, k.cmp, k.change, $7 \
         FROM unnest($2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[]) \
              AS k(item, loc, q, cmp, change)",
    )
    .bind(shop)
    .bind(col(|l| &l.inventory_item_id))
    .bind(col(|l| &l.location_id))
    .bind(lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.compare).collect::<Vec<_>>())
    .bind(col(|l| &l.change))
    .bind(source)
    .execute(db)
    .await?;
    Ok(())
}

/// A drift record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DriftRow {
    pub inventory_item_id: String,
    pub location_id: String,
    pub ours: Option<i64>,
    pub shopify: i64,
    pub source: String,
    pub seen_at: chrono::DateTime<chrono::Utc>,
}

/// The shop's drift, newest first.
pub async fn list_drift(db: &PgPool, shop: &str, limit: i64) -> Result<Vec<DriftRow>> {
    sqlx::query_as(
        "SELECT inventory_item_id, location_id, ours, shopify, source, seen_at \
         FROM inventory.drift WHERE shop = $1 ORDER BY seen_at DESC, id DESC LIMIT $2",
    )
    .bind(shop)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One event of a level's history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HistoryRow {
    pub kind: String,
    pub quantity: i64,
    pub compare: Option<i64>,
    pub change: Option<String>,
    pub source: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// What we sent to and saw at one level, newest first.
pub async fn history(
    db: &PgPool,
    shop: &str,
    item: &str,
    location: &str,
    limit: i64,
) -> Result<Vec<HistoryRow>> {
    sqlx::query_as(
        "SELECT kind, quantity, compare, change, source, at FROM inventory.level_history \
         WHERE shop = $1 AND inventory_item_id = $2 AND location_id = $3 \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(shop)
    .bind(item)
    .bind(location)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The right to write a shop's levels, across replicas: a session advisory lock on a
/// connection closed (never pooled) when the holder goes, so a crash releases it too.
pub struct ShopWriteLock {
    _conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
}

/// Take the shop's write lock: waiting for it (`wait`), or `None` when another holds it.
pub async fn lock_shop(db: &PgPool, shop: &str, wait: bool) -> Result<Option<ShopWriteLock>> {
    let mut conn = db.acquire().await?;
    conn.close_on_drop();
    let key = format!("inventory.levels:{shop}");
    let got = if wait {
        sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 22))")
            .bind(&key)
            .execute(&mut *conn)
            .await?;
        true
    } else {
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 22))")
            .bind(&key)
            .fetch_one(&mut *conn)
            .await?
    };
    Ok(got.then_some(ShopWriteLock { _conn: conn }))
}
