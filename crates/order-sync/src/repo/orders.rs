//! `order_sync.orders`: the imported orders and where each stands (all of order-sync's SQL
//! for them).
//!
//! States: `pending` (to be made a sales document), `held` (waits: `hold_kind`, `hold_key`,
//! `hold_reason`), `processed` (its document exists), `changed` (edited in Shopify after
//! processing: brought up to date while its document is unposted, else left for a person),
//! `cancelled` (cancelled in Shopify before processing: no document).

use crate::mirror::{Content, Order};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;

/// Why a held order waits (the cue it counts in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldKind {
    /// The order could not be read (body null).
    Import,
    UnmappedCustomer,
    UnmappedProduct,
    /// A shop setting is missing (e.g. the shipping charges item).
    Settings,
    /// The document's total does not agree with Shopify's.
    Totals,
    /// Left for a person: released through the cue.
    HighRisk,
    /// The ERP refused the document.
    Erp,
}

impl HoldKind {
    pub const ALL: [HoldKind; 7] = [
        HoldKind::Import,
        HoldKind::UnmappedCustomer,
        HoldKind::UnmappedProduct,
        HoldKind::Settings,
        HoldKind::Totals,
        HoldKind::HighRisk,
        HoldKind::Erp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Import => "import",
            HoldKind::UnmappedCustomer => "unmapped_customer",
            HoldKind::UnmappedProduct => "unmapped_product",
            HoldKind::Settings => "settings",
            HoldKind::Totals => "totals",
            HoldKind::HighRisk => "high_risk",
            HoldKind::Erp => "erp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A hold: the group it counts in and the reason a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub kind: HoldKind,
    pub key: String,
    pub reason: String,
}

/// What storing one imported order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    New,
    Updated,
    /// Seen before with the same `updatedAt`, or an older one.
    Unchanged,
    /// Its document content differs from what was processed: what changed.
    ChangedAfterProcessing(Vec<String>),
    /// Not known, closed, and created before the history the shop imports: left out.
    OutsideHistory,
}

/// What a stored order was when it is read again.
#[derive(sqlx::FromRow)]
struct Seen {
    order_id: i64,
    shopify_updated_at: chrono::DateTime<chrono::Utc>,
    state: String,
    content_hash: String,
    processed_content: Option<Json<Content>>,
    body: Option<Json<Order>>,
}

/// The orders not yet known, inserted with one statement.
#[derive(Default)]
struct NewRows {
    ids: Vec<i64>,
    names: Vec<String>,
    updated: Vec<chrono::DateTime<chrono::Utc>>,
    financial: Vec<String>,
    fulfillment: Vec<String>,
    bodies: Vec<serde_json::Value>,
    hashes: Vec<String>,
    states: Vec<&'static str>,
    contents: Vec<serde_json::Value>,
}

impl NewRows {
    fn push(&mut self, o: &Order, hash: String, content: &Content) {
        self.ids.push(o.id);
        self.names.push(o.name.clone());
        self.updated.push(o.updated_at);
        self.financial.push(o.financial_status.clone());
        self.fulfillment.push(o.fulfillment_status.clone());
        self.bodies.push(serde_json::to_value(o).unwrap_or_default());
        self.hashes.push(hash);
        self.states.push(if o.cancelled { "cancelled" } else { "pending" });
        self.contents.push(serde_json::to_value(content).unwrap_or_default());
    }

    async fn insert(&self, tx: &mut PgConnection, shop: &str) -> Result<(), sqlx::Error> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO order_sync.orders (shop, order_id, name, shopify_updated_at, \
             financial_status, fulfillment_status, body, content_hash, state, content) \
             SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::timestamptz[], $5::text[], \
               $6::text[], $7::jsonb[], $8::text[], $9::text[], $10::jsonb[]) \
             ON CONFLICT (shop, order_id) DO NOTHING",
        )
        .bind(shop)
        .bind(&self.ids)
        .bind(&self.names)
        .bind(&self.updated)
        .bind(&self.financial)
        .bind(&self.fulfillment)
        .bind(&self.bodies)
        .bind(&self.hashes)
        .bind(&self.states)
        .bind(&self.contents)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// Store a page of imported orders in one transaction (the known ones locked and read with
/// one statement, the new ones inserted with another). An order not yet known that is closed
/// and was created before `history` (where the shop's import begins) is left out: archived
/// history the shop did not ask for (an order created since, then closed, is imported).
pub async fn store_page(
    pool: &PgPool,
    shop: &str,
    orders: &[Order],
    history: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Vec<Stored>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut known = lock_known(&mut tx, shop, orders).await?;
    let mut new = NewRows::default();
    let mut out = Vec::with_capacity(orders.len());
    for o in orders {
        let content = o.content();
        let hash = content.hash();
        let stored = match known.remove(&o.id) {
            Some(seen) => update_known(&mut tx, shop, o, seen, &content, hash).await?,
            None if o.closed && history.is_some_and(|h| o.created_at < h) => Stored::OutsideHistory,
            None => {
                new.push(o, hash, &content);
                Stored::New
            }
        };
        out.push(stored);
    }
    new.insert(&mut tx, shop).await?;
    record_refunds(&mut tx, shop, orders, &out).await?;
    tx.commit().await?;
    Ok(out)
}

/// The page's orders already known, locked (in id order: two imports of one shop never
/// deadlock) and read with one statement, by order id.
async fn lock_known(
    tx: &mut PgConnection,
    shop: &str,
    orders: &[Order],
) -> Result<HashMap<i64, Seen>, sqlx::Error> {
    let ids: Vec<i64> = orders.iter().map(|o| o.id).collect();
    let known: Vec<Seen> = sqlx::query_as(
        "SELECT order_id, shopify_updated_at, state, content_hash, processed_content, body \
         FROM order_sync.orders WHERE shop = $1 AND order_id = ANY($2) \
         ORDER BY order_id FOR UPDATE",
    )
    .bind(shop)
    .bind(&ids)
    .fetch_all(tx)
    .await?;
    Ok(known.into_iter().map(|s| (s.order_id, s)).collect())
}

/// Bring a known order up to date (its new state from the old one and what changed).
async fn update_known(
    tx: &mut PgConnection,
    shop: &str,
    o: &Order,
    seen: Seen,
    content: &Content,
    hash: String,
) -> Result<Stored, sqlx::Error> {
    let Seen {
        shopify_updated_at: seen,
        state,
        content_hash: old_hash,
        processed_content: processed,
        body,
        ..
    } = seen;
    // Shopify's updatedAt has whole seconds: an edit in the second of the last read has
    // the same one, so only an older time, or the same time with the same order, is
    // nothing new.
    let same = body.as_ref().is_some_and(|Json(b)| b == o);
    if (seen > o.updated_at || (seen == o.updated_at && same)) && state != "held" {
        return Ok(Stored::Unchanged);
    }
    // processed -> changed when the content moved away from what was processed; a held
    // order whose content changed goes back to be tried again (the edit may be the fix);
    // an import error is read again in any case.
    let changes = match (&state[..], processed) {
        ("processed" | "changed", Some(Json(before))) => content.changes_since(&before),
        _ => Vec::new(),
    };
    let new_state = match &state[..] {
        "processed" | "changed" if !changes.is_empty() => "changed",
        "changed" => "processed",
        "held" if old_hash != hash => "pending",
        s => s,
    };
    let result = sqlx::query(
        "UPDATE order_sync.orders SET name = $3, shopify_updated_at = $4, \
         financial_status = $5, fulfillment_status = $6, body = $7, content_hash = $8, \
         state = $9, changes = $10, content = $11, updated_at = now(), \
         hold_kind = CASE WHEN $9 = 'held' THEN hold_kind END, \
         hold_key = CASE WHEN $9 = 'held' THEN hold_key END, \
         hold_reason = CASE WHEN $9 = 'held' THEN hold_reason END \
         WHERE shop = $1 AND order_id = $2",
    )
    .bind(shop)
    .bind(o.id)
    .bind(&o.name)
    .bind(o.updated_at)
    .bind(&o.financial_status)
    .bind(&o.fulfillment_status)
    .bind(Json(o))
    .bind(&hash)
    .bind(new_state)
    .bind(Some(changes.join("; ")).filter(|c| !c.is_empty()))
    .bind(Json(content))
    .execute(tx)
    .await?;
    debug_assert_eq!(result.rows_affected(), 1);
    Ok(if new_state == "changed" {
        Stored::ChangedAfterProcessing(changes)
    } else {
        Stored::Updated
    })
}

/// Refunds are recorded as they are first seen; the refunds step turns them into documents
/// (a document made from the order afterwards marks them as in it).
async fn record_refunds(
    tx: &mut PgConnection,
    shop: &str,
    orders: &[Order],
    stored: &[Stored],
) -> Result<(), sqlx::Error> {
    let mut refund_ids = Vec::new();
    let mut refund_orders = Vec::new();
    let mut refund_times = Vec::new();
    for (o, stored) in orders.iter().zip(stored) {
        if *stored == Stored::OutsideHistory {
            continue;
        }
        for r in &o.refunds {
            if let Some(id) = crate::mirror::legacy_id(&r.gid) {
                refund_ids.push(id);
                refund_orders.push(o.id);
                refund_times.push(r.created_at);
            }
        }
    }
    if refund_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_sync.refunds (shop, refund_id, order_id, created_at) \
         SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::timestamptz[]) \
         ON CONFLICT (shop, refund_id) DO NOTHING",
    )
    .bind(shop)
    .bind(&refund_ids)
    .bind(&refund_orders)
    .bind(&refund_times)
    .execute(tx)
    .await?;
    Ok(())
}

/// Keep an order that could not be read, with the reason (it counts as unprocessed).
pub async fn store_unreadable(
    pool: &PgPool,
    shop: &str,
    order_id: i64,
    name: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_sync.orders (shop, order_id, name, shopify_updated_at, state, \
         hold_kind, hold_key, hold_reason) \
         VALUES ($1, $2, $3, now(), 'held', 'import', $4, $4) \
         ON CONFLICT (shop, order_id) DO UPDATE SET state = 'held', hold_kind = 'import', \
           hold_key = $4, hold_reason = $4, updated_at = now() \
         WHERE order_sync.orders.state IN ('pending', 'held')",
    )
    .bind(shop)
    .bind(order_id)
    .bind(name)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// An order the create step works on.
#[derive(Debug, Clone)]
pub struct Work {
    pub order: Order,
    pub state: String,
    pub risk_released: bool,
    pub document_no: Option<String>,
}

/// The next orders to make documents of (pending and changed ones), after `after_id`.
pub async fn work(
    pool: &PgPool,
    shop: &str,
    after_id: i64,
    limit: i64,
) -> Result<Vec<Work>, sqlx::Error> {
    let rows: Vec<(Json<Order>, String, bool, Option<String>)> = sqlx::query_as(
        "SELECT body, state, risk_released, document_no FROM order_sync.orders \
         WHERE shop = $1 AND state IN ('pending', 'changed') AND order_id > $2 \
           AND body IS NOT NULL \
         ORDER BY order_id LIMIT $3",
    )
    .bind(shop)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(Json(order), state, risk_released, document_no)| Work {
            order,
            state,
            risk_released,
            document_no,
        })
        .collect())
}

/// The order's document exists and holds `content` (the content it was made of), made from
/// the order as it was with `refund_ids`: those refunds' lines and shipping are in it.
pub async fn mark_processed(
    pool: &PgPool,
    shop: &str,
    order_id: i64,
    document_no: &str,
    document_type: &str,
    content: &Content,
    refund_ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH o AS ( \
           UPDATE order_sync.orders SET state = 'processed', document_no = $3, \
             document_type = $4, processed_hash = $5, processed_content = $6, changes = NULL, \
             hold_kind = NULL, hold_key = NULL, hold_reason = NULL, processed_at = now(), \
             updated_at = now() \
           WHERE shop = $1 AND order_id = $2) \
         UPDATE order_sync.refunds SET in_document = true, updated_at = now() \
         WHERE shop = $1 AND order_id = $2 AND refund_id = ANY($7)",
    )
    .bind(shop)
    .bind(order_id)
    .bind(document_no)
    .bind(document_type)
    .bind(content.hash())
    .bind(Json(content))
    .bind(refund_ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// Hold an order (pending or changed) with its reason.
pub async fn hold(pool: &PgPool, shop: &str, order_id: i64, h: &Hold) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_sync.orders SET state = 'held', hold_kind = $3, hold_key = $4, \
         hold_reason = $5, updated_at = now() WHERE shop = $1 AND order_id = $2",
    )
    .bind(shop)
    .bind(order_id)
    .bind(h.kind.as_str())
    .bind(&h.key)
    .bind(&h.reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// Cancelled in Shopify before processing (no document is made), or after it with the
/// unposted document deleted.
pub async fn mark_cancelled(pool: &PgPool, shop: &str, order_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_sync.orders SET state = 'cancelled', updated_at = now() \
         WHERE shop = $1 AND order_id = $2 AND state IN ('pending', 'changed')",
    )
    .bind(shop)
    .bind(order_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The document of one order, as the mirror knows it.
pub async fn state_of(
    pool: &PgPool,
    shop: &str,
    order_id: i64,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT state, document_no FROM order_sync.orders WHERE shop = $1 AND order_id = $2",
    )
    .bind(shop)
    .bind(order_id)
    .fetch_optional(pool)
    .await
}

/// An order's document content when it was processed, and as it is now.
pub async fn contents(
    pool: &PgPool,
    shop: &str,
    order_id: i64,
) -> Result<Option<(Content, Content)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        processed_content: Option<Json<Content>>,
        content: Option<Json<Content>>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT processed_content, content FROM order_sync.orders \
         WHERE shop = $1 AND order_id = $2",
    )
    .bind(shop)
    .bind(order_id)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(Row { processed_content: Some(Json(before)), content: Some(Json(now)) }) => {
            Some((before, now))
        }
        _ => None,
    })
}

/// An order that may be archived in Shopify: processed, paid, fulfilled, not closed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Archivable {
    pub order_id: i64,
    pub name: String,
}

/// Processed orders after `after` that Shopify shows fully paid and fulfilled and that are
/// neither closed there nor archived by us yet.
pub async fn archivable(
    pool: &PgPool,
    shop: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<Archivable>, sqlx::Error> {
    sqlx::query_as(
        "SELECT order_id, name FROM order_sync.orders \
         WHERE shop = $1 AND order_id > $2 AND state = 'processed' AND archived_at IS NULL \
           AND coalesce((body->>'fully_paid')::boolean, false) \
           AND fulfillment_status = 'fulfilled' \
           AND NOT coalesce((body->>'closed')::boolean, false) \
         ORDER BY order_id LIMIT $3",
    )
    .bind(shop)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Closed in Shopify by us.
pub async fn mark_archived(pool: &PgPool, shop: &str, order_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE order_sync.orders SET archived_at = now(), updated_at = now() \
         WHERE shop = $1 AND order_id = $2",
    )
    .bind(shop)
    .bind(order_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Which of `ids` the mirror has.
pub async fn known(
    pool: &PgPool,
    shop: &str,
    ids: &[i64],
) -> Result<std::collections::HashSet<i64>, sqlx::Error> {
    let rows: Vec<i64> = sqlx::query_scalar(
        "SELECT order_id FROM order_sync.orders WHERE shop = $1 AND order_id = ANY($2)",
    )
    .bind(shop)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}
