//! Items: their rows (units of measure and variants as typed jsonb), writes, reads, the change
//! feed, and the exact lookups by SKU and barcode (their own and their variants').

use super::{Query, list_page};
use serde::{Deserialize, Serialize};
use shopsync_proto::pb;
use sqlx::postgres::PgQueryResult;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Uom {
    pub code: String,
    pub qty_per_unit: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct Variant {
    pub code: String,
    pub description: String,
    pub sku: String,
    pub barcode: String,
}

#[derive(sqlx::FromRow)]
pub struct ItemRow {
    pub no: String,
    pub description: String,
    pub unit_price_minor: i64,
    pub unit_cost_minor: i64,
    pub currency: String,
    pub blocked: bool,
    pub sku: String,
    pub barcode: String,
    pub base_uom: String,
    pub uoms: Json<Vec<Uom>>,
    pub variants: Json<Vec<Variant>>,
    pub item_category: String,
    pub vendor: String,
    pub version: i64,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Only read by the change feed.
    #[sqlx(default)]
    pub xid: i64,
}

pub const ITEM_COLS: &str = "no, description, unit_price_minor, unit_cost_minor, currency, blocked, \
    sku, barcode, base_uom, uoms, variants, item_category, vendor, version, updated_at";

/// A validated item, ready to store: binds $1..$13 of [`insert`] and [`update`] in field order.
pub struct ItemIn {
    pub no: String,
    pub description: String,
    pub unit_price_minor: i64,
    pub unit_cost_minor: i64,
    pub currency: String,
    pub blocked: bool,
    pub sku: String,
    pub barcode: String,
    pub base_uom: String,
    pub uoms: Vec<Uom>,
    pub variants: Vec<Variant>,
    pub item_category: String,
    pub vendor: String,
}

impl ItemIn {
    fn bind<'q>(&self, q: Query<'q>) -> Query<'q> {
        q.bind(&self.no)
            .bind(&self.description)
            .bind(self.unit_price_minor)
            .bind(self.unit_cost_minor)
            .bind(&self.currency)
            .bind(self.blocked)
            .bind(&self.sku)
            .bind(&self.barcode)
            .bind(&self.base_uom)
            .bind(Json(&self.uoms))
            .bind(Json(&self.variants))
            .bind(&self.item_category)
            .bind(&self.vendor)
    }
}

pub async fn insert(db: impl PgExecutor<'_>, i: &ItemIn) -> sqlx::Result<PgQueryResult> {
    i.bind(sqlx::query(
        "INSERT INTO posting.items (no, description, unit_price_minor, unit_cost_minor, currency, \
         blocked, sku, barcode, base_uom, uoms, variants, item_category, vendor) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
    ))
    .execute(db)
    .await
}

/// Rows changed: 0 when the item is missing or not at `expected_version` (0: any).
pub async fn update(
    db: impl PgExecutor<'_>,
    i: &ItemIn,
    expected_version: i64,
) -> sqlx::Result<u64> {
    let q = i.bind(sqlx::query(
        "UPDATE posting.items SET description=$2, unit_price_minor=$3, unit_cost_minor=$4, \
         currency=$5, blocked=$6, sku=$7, barcode=$8, base_uom=$9, uoms=$10, variants=$11, \
         item_category=$12, vendor=$13, version = version + 1, updated_at = now(), \
         change_xid = pg_current_xact_id() \
         WHERE no = $1 AND ($14 = 0 OR version = $14)",
    ));
    Ok(q.bind(expected_version).execute(db).await?.rows_affected())
}

pub async fn get(db: impl PgExecutor<'_>, no: &str) -> sqlx::Result<Option<ItemRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLS} FROM posting.items WHERE no = $1"
    )))
    .bind(no)
    .fetch_optional(db)
    .await
}

/// Items by number, in number order.
pub async fn by_nos(db: impl PgExecutor<'_>, nos: &[String]) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLS} FROM posting.items WHERE no = ANY($1) ORDER BY no"
    )))
    .bind(nos)
    .fetch_all(db)
    .await
}

pub async fn list(
    db: impl PgExecutor<'_>,
    r: &pb::ListRequest,
    limit: i64,
) -> sqlx::Result<Vec<ItemRow>> {
    list_page(
        db,
        "posting.items",
        ITEM_COLS,
        "no ILIKE '%' || $3 || '%' OR description ILIKE '%' || $3 || '%' \
         OR sku ILIKE '%' || $3 || '%'",
        r,
        limit,
    )
    .await
}

/// Items changed after (`xid`, `no`), committed changes only (see the migration's note).
pub async fn changed_after(
    db: impl PgExecutor<'_>,
    xid: i64,
    no: &str,
    limit: i64,
) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLS}, change_xid::text::bigint AS xid FROM posting.items \
         WHERE (change_xid, no) > ($1::text::xid8, $2) \
           AND change_xid < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY change_xid, no LIMIT $3"
    )))
    .bind(xid)
    .bind(no)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// An item's variants, the item locked for the transaction; None when it does not exist.
pub async fn lock_variants(tx: &mut PgConnection, no: &str) -> sqlx::Result<Option<Vec<Variant>>> {
    let v: Option<Json<Vec<Variant>>> =
        sqlx::query_scalar("SELECT variants FROM posting.items WHERE no = $1 FOR UPDATE")
            .bind(no)
            .fetch_optional(tx)
            .await?;
    Ok(v.map(|v| v.0))
}

/// What a stock adjustment needs of its item.
#[derive(sqlx::FromRow)]
pub struct ItemCost {
    pub unit_cost_minor: i64,
    pub currency: String,
    pub variants: Json<Vec<Variant>>,
}

pub async fn cost(db: impl PgExecutor<'_>, no: &str) -> sqlx::Result<Option<ItemCost>> {
    sqlx::query_as(
        "SELECT unit_cost_minor, currency, blocked, variants FROM posting.items WHERE no = $1",
    )
    .bind(no)
    .fetch_optional(db)
    .await
}

/// An item changed for the product feed without a change of its own (a sales price).
pub async fn mark_changed(db: impl PgExecutor<'_>, no: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE posting.items SET change_xid = pg_current_xact_id(), updated_at = now() WHERE no = $1",
    )
    .bind(no)
    .execute(db)
    .await?;
    Ok(())
}

/// What a code found: a SKU or a barcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    Sku,
    Barcode,
}

impl TryFrom<String> for CodeKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "s" => Ok(Self::Sku),
            "b" => Ok(Self::Barcode),
            _ => Err(format!("unknown code kind {s:?}")),
        }
    }
}

/// An item (or one of its variants) whose SKU or barcode is one asked for.
#[derive(sqlx::FromRow)]
pub struct CodeMatch {
    #[sqlx(try_from = "String")]
    pub kind: CodeKind,
    /// The value as asked for.
    pub key: String,
    /// Empty for the item's own code.
    pub variant_code: String,
    pub no: String,
}

/// Items whose SKU or barcode (or a variant's) is one of `skus` or `barcodes`.
pub async fn find_by_codes(
    db: impl PgExecutor<'_>,
    skus: &[String],
    barcodes: &[String],
) -> sqlx::Result<Vec<CodeMatch>> {
    sqlx::query_as(
        "SELECT 's' AS kind, i.sku AS key, '' AS variant_code, i.no FROM posting.items i \
           WHERE i.sku = ANY($1) AND i.sku <> '' \
         UNION ALL \
         SELECT 's', v ->> 'sku', v ->> 'code', i.no FROM posting.items i, \
           jsonb_array_elements(i.variants) v \
           WHERE posting.variant_values(i.variants, 'sku') && $1 AND v ->> 'sku' = ANY($1) \
         UNION ALL \
         SELECT 'b', i.barcode, '', i.no FROM posting.items i \
           WHERE i.barcode = ANY($2) AND i.barcode <> '' \
         UNION ALL \
         SELECT 'b', v ->> 'barcode', v ->> 'code', i.no FROM posting.items i, \
           jsonb_array_elements(i.variants) v \
           WHERE posting.variant_values(i.variants, 'barcode') && $2 \
             AND v ->> 'barcode' = ANY($2) \
         ORDER BY 1, 2, 4, 3",
    )
    .bind(skus)
    .bind(barcodes)
    .fetch_all(db)
    .await
}
