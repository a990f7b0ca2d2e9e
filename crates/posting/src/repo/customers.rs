//! Customers: their rows (addresses as typed jsonb), writes, reads, and the lookups by
//! normalised e-mail address and phone number.

use super::{Query, list_page, qualified};
use crate::util::StoredAddress;
use shopsync_proto::pb;
use sqlx::PgExecutor;
use sqlx::postgres::PgQueryResult;
use sqlx::types::Json;

#[derive(sqlx::FromRow)]
pub struct CustomerRow {
    pub no: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub bill_to: Json<StoredAddress>,
    pub ship_to: Json<StoredAddress>,
    pub price_group: String,
    pub payment_terms: String,
    pub blocked: bool,
    pub currency: String,
    pub version: i64,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub const CUSTOMER_COLS: &str = "no, name, email, phone, bill_to, ship_to, price_group, \
    payment_terms, blocked, currency, version, updated_at";

/// A validated customer, ready to store: binds $1..$10 of [`insert`] and [`update`] in field
/// order.
pub struct CustomerIn {
    pub no: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub bill_to: StoredAddress,
    pub ship_to: StoredAddress,
    pub price_group: String,
    pub payment_terms: String,
    pub blocked: bool,
    pub currency: String,
}

impl CustomerIn {
    fn bind<'q>(&self, q: Query<'q>) -> Query<'q> {
        q.bind(&self.no)
            .bind(&self.name)
            .bind(&self.email)
            .bind(&self.phone)
            .bind(Json(&self.bill_to))
            .bind(Json(&self.ship_to))
            .bind(&self.price_group)
            .bind(&self.payment_terms)
            .bind(self.blocked)
            .bind(&self.currency)
    }
}

pub async fn insert(db: impl PgExecutor<'_>, c: &CustomerIn) -> sqlx::Result<PgQueryResult> {
    c.bind(sqlx::query(
        "INSERT INTO posting.customers (no, name, email, phone, bill_to, ship_to, price_group, \
         payment_terms, blocked, currency) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    ))
    .execute(db)
    .await
}

/// Rows changed: 0 when the customer is missing or not at `expected_version` (0: any).
pub async fn update(
    db: impl PgExecutor<'_>,
    c: &CustomerIn,
    expected_version: i64,
) -> sqlx::Result<u64> {
    let q = c.bind(sqlx::query(
        "UPDATE posting.customers SET name=$2, email=$3, phone=$4, bill_to=$5, ship_to=$6, \
         price_group=$7, payment_terms=$8, blocked=$9, currency=$10, version = version + 1, \
         updated_at = now() WHERE no = $1 AND ($11 = 0 OR version = $11)",
    ));
    Ok(q.bind(expected_version).execute(db).await?.rows_affected())
}

pub async fn get(db: impl PgExecutor<'_>, no: &str) -> sqlx::Result<Option<CustomerRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CUSTOMER_COLS} FROM posting.customers WHERE no = $1"
    )))
    .bind(no)
    .fetch_optional(db)
    .await
}

pub async fn list(
    db: impl PgExecutor<'_>,
    r: &pb::ListRequest,
    limit: i64,
) -> sqlx::Result<Vec<CustomerRow>> {
    list_page(
        db,
        "posting.customers",
        CUSTOMER_COLS,
        "no ILIKE '%' || $3 || '%' OR name ILIKE '%' || $3 || '%' \
         OR email ILIKE '%' || $3 || '%'",
        r,
        limit,
    )
    .await
}

/// What a contact found: an e-mail address or a phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    Email,
    Phone,
}

impl TryFrom<String> for ContactKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "e" => Ok(Self::Email),
            "p" => Ok(Self::Phone),
            _ => Err(format!("unknown contact kind {s:?}")),
        }
    }
}

/// A customer whose normalised e-mail address or phone number is that of one asked for.
#[derive(sqlx::FromRow)]
pub struct ContactMatch {
    #[sqlx(try_from = "String")]
    pub kind: ContactKind,
    /// The value as asked for.
    pub key: String,
    #[sqlx(flatten)]
    pub customer: CustomerRow,
}

pub async fn find_by_contacts(
    db: impl PgExecutor<'_>,
    emails: &[String],
    phones: &[String],
) -> sqlx::Result<Vec<ContactMatch>> {
    let cols = qualified(CUSTOMER_COLS, "c");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT 'e' AS kind, k.key, {cols} FROM unnest($1::text[]) AS k(key) \
           JOIN posting.customers c \
             ON c.email <> '' AND posting.norm_email(c.email) = posting.norm_email(k.key) \
         UNION ALL \
         SELECT 'p' AS kind, k.key, {cols} FROM unnest($2::text[]) AS k(key) \
           JOIN posting.customers c \
             ON c.phone <> '' AND posting.norm_phone(c.phone) = posting.norm_phone(k.key) \
         ORDER BY 1, 2, 3"
    )))
    .bind(emails)
    .bind(phones)
    .fetch_all(db)
    .await
}
