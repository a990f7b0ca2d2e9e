//! The counts and groups behind the order cues, and the retry of a group (all SQL).

use sqlx::PgPool;

/// Counts per shop or for all shops (`shop` None).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub unmapped_customers: i64,
    pub unmapped_products: i64,
    pub unprocessed_orders: i64,
    pub changed_orders: i64,
    pub high_risk_orders: i64,
}

pub async fn counts(pool: &PgPool, shop: Option<&str>) -> Result<Counts, sqlx::Error> {
    let row: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT \
           count(DISTINCT (shop, hold_key)) FILTER (WHERE hold_kind = 'unmapped_customer'), \
           count(DISTINCT (shop, hold_key)) FILTER (WHERE hold_kind = 'unmapped_product'), \
           count(*) FILTER (WHERE state = 'pending' \
                            OR (state = 'held' AND hold_kind <> 'high_risk')), \
           count(*) FILTER (WHERE state = 'changed'), \
           count(*) FILTER (WHERE hold_kind = 'high_risk') \
         FROM order_sync.orders \
         WHERE state IN ('pending', 'held', 'changed') AND ($1::text IS NULL OR shop = $1)",
    )
    .bind(shop)
    .fetch_one(pool)
    .await?;
    Ok(Counts {
        unmapped_customers: row.0,
        unmapped_products: row.1,
        unprocessed_orders: row.2,
        changed_orders: row.3,
        high_risk_orders: row.4,
    })
}

/// Which orders a cue's groups are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupOf {
    /// Held orders of these hold kinds.
    Held(&'static [&'static str]),
    /// Orders not yet processed: pending ones (one group) and held ones other than high risk.
    Unprocessed,
    Changed,
}

/// One group: records failing for the same cause.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Group {
    pub shop: String,
    /// `<hold kind>:<hold key>`, `pending`, or `changed`.
    pub key: String,
    pub kind: String,
    pub reason: String,
    pub count: i64,
    pub records: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    shop: String,
    kind: String,
    key: String,
    reason: Option<String>,
    n: i64,
    records: Vec<String>,
}

pub async fn groups(
    pool: &PgPool,
    shop: Option<&str>,
    of: GroupOf,
    limit: i64,
) -> Result<Vec<Group>, sqlx::Error> {
    // One row per group: its kind, key and a reason (the commonest text), its size, and the
    // first 20 orders by number.
    let (filter, kinds): (&str, Vec<String>) = match of {
        GroupOf::Held(k) => {
            ("state = 'held' AND hold_kind = ANY($2)", k.iter().map(|s| s.to_string()).collect())
        }
        GroupOf::Unprocessed => (
            "(state = 'pending' OR (state = 'held' AND hold_kind <> 'high_risk')) \
             AND cardinality($2::text[]) = 0",
            Vec::new(),
        ),
        GroupOf::Changed => ("state = 'changed' AND cardinality($2::text[]) = 0", Vec::new()),
    };
    let sql = format!(
        "SELECT shop, \
                CASE WHEN state = 'held' THEN hold_kind ELSE state END AS kind, \
                CASE WHEN state = 'held' THEN hold_key ELSE state END AS key, \
                CASE WHEN state = 'held' THEN min(hold_reason) \
                     WHEN state = 'pending' THEN 'waiting for the next create-sales-orders run' \
                     ELSE 'changed in Shopify after its document was posted: ' || min(changes) \
                END AS reason, \
                count(*) AS n, \
                (array_agg(name ORDER BY order_id))[1:20] AS records \
         FROM order_sync.orders \
         WHERE state IN ('pending', 'held', 'changed') AND ($1::text IS NULL OR shop = $1) \
           AND {filter} \
         GROUP BY shop, state, 2, 3 \
         ORDER BY n DESC, shop, key \
         LIMIT $3"
    );
    let rows: Vec<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(shop)
        .bind(&kinds)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Group {
            shop: r.shop,
            key: format!("{}:{}", r.kind, r.key),
            kind: r.kind,
            reason: r.reason.unwrap_or_default(),
            count: r.n,
            records: r.records,
        })
        .collect())
}

/// Put a group's held orders back to be processed; `release_risk` also releases high-risk
/// ones. Returns how many went back.
pub async fn retry_held(
    pool: &PgPool,
    shop: &str,
    kind: &str,
    key: &str,
) -> Result<i64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE order_sync.orders SET state = 'pending', \
           risk_released = risk_released OR hold_kind = 'high_risk', \
           hold_kind = NULL, hold_key = NULL, hold_reason = NULL, updated_at = now() \
         WHERE shop = $1 AND state = 'held' AND hold_kind = $2 AND hold_key = $3 \
           AND body IS NOT NULL",
    )
    .bind(shop)
    .bind(kind)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() as i64)
}

/// A person accepted the changes of orders whose documents were posted: they count as
/// processed with what Shopify has now.
pub async fn accept_changed(pool: &PgPool, shop: &str) -> Result<i64, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE order_sync.orders SET state = 'processed', processed_hash = content_hash, \
           processed_content = content, \
           changes = NULL, updated_at = now() \
         WHERE shop = $1 AND state = 'changed'",
    )
    .bind(shop)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() as i64)
}
