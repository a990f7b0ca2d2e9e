//! Locations: their rows (address as typed jsonb), writes, reads, and what stock checks ask
//! of them.

use super::Query;
use crate::util::StoredAddress;
use sqlx::PgExecutor;
use sqlx::postgres::PgQueryResult;
use sqlx::types::Json;

#[derive(sqlx::FromRow)]
pub struct LocationRow {
    pub code: String,
    pub name: String,
    pub address: Json<StoredAddress>,
    pub prevent_negative_stock: bool,
    pub version: i64,
}

/// A validated location, ready to store: binds $1..$4 of [`insert`] and [`update`] in field
/// order.
pub struct LocationIn {
    pub code: String,
    pub name: String,
    pub address: StoredAddress,
    pub prevent_negative_stock: bool,
}

impl LocationIn {
    fn bind<'q>(&self, q: Query<'q>) -> Query<'q> {
        q.bind(&self.code)
            .bind(&self.name)
            .bind(Json(&self.address))
            .bind(self.prevent_negative_stock)
    }
}

pub async fn insert(db: impl PgExecutor<'_>, l: &LocationIn) -> sqlx::Result<PgQueryResult> {
    l.bind(sqlx::query(
        "INSERT INTO posting.locations (code, name, address, prevent_negative_stock) VALUES ($1,$2,$3,$4)",
    ))
    .execute(db)
    .await
}

/// Rows changed: 0 when the location is missing or not at `expected_version` (0: any).
pub async fn update(
    db: impl PgExecutor<'_>,
    l: &LocationIn,
    expected_version: i64,
) -> sqlx::Result<u64> {
    let q = l.bind(sqlx::query(
        "UPDATE posting.locations SET name=$2, address=$3, prevent_negative_stock=$4, \
         version = version + 1, updated_at = now() WHERE code = $1 AND ($5 = 0 OR version = $5)",
    ));
    Ok(q.bind(expected_version).execute(db).await?.rows_affected())
}

pub async fn get(db: impl PgExecutor<'_>, code: &str) -> sqlx::Result<Option<LocationRow>> {
    sqlx::query_as(
        "SELECT code, name, address, prevent_negative_stock, version FROM posting.locations WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(db)
    .await
}

/// One page of locations after code `after`, those whose code or name contain `search` (all
/// when it is empty).
pub async fn list(
    db: impl PgExecutor<'_>,
    after: &str,
    search: &str,
    limit: i64,
) -> sqlx::Result<Vec<LocationRow>> {
    sqlx::query_as(
        "SELECT code, name, address, prevent_negative_stock, version FROM posting.locations \
         WHERE code > $1 AND ($2 = '' OR code ILIKE '%' || $2 || '%' OR name ILIKE '%' || $2 || '%') \
         ORDER BY code LIMIT $3",
    )
    .bind(after)
    .bind(search)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn exists(db: impl PgExecutor<'_>, code: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM posting.locations WHERE code = $1)")
        .bind(code)
        .fetch_one(db)
        .await
}

/// Whether the location refuses negative stock; None when it does not exist.
pub async fn prevents_negative_stock(
    db: impl PgExecutor<'_>,
    code: &str,
) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar("SELECT prevent_negative_stock FROM posting.locations WHERE code = $1")
        .bind(code)
        .fetch_optional(db)
        .await
}
