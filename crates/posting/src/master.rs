//! Master data: items (with variants, units of measure and sales prices), customers,
//! locations; and stock as an item ledger (adjustments, quantity on hand).

use crate::error::{ErpError, Result, is_unique_violation};
use crate::util::*;
use serde::{Deserialize, Serialize};
use shopsync_common::quoted;
use shopsync_proto::pb;
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::HashSet;

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
pub(crate) struct ItemRow {
    no: String,
    description: String,
    unit_price_minor: i64,
    unit_cost_minor: i64,
    currency: String,
    blocked: bool,
    sku: String,
    barcode: String,
    base_uom: String,
    uoms: sqlx::types::Json<Vec<Uom>>,
    variants: sqlx::types::Json<Vec<Variant>>,
    item_category: String,
    vendor: String,
    version: i64,
    updated_at: chrono::DateTime<chrono::Utc>,
    /// Only read by the change feed.
    #[sqlx(default)]
    xid: i64,
}

pub(crate) const ITEM_COLS: &str = "no, description, unit_price_minor, unit_cost_minor, currency, blocked, \
    sku, barcode, base_uom, uoms, variants, item_category, vendor, version, updated_at";

impl ItemRow {
    fn into_pb(self, prices: Vec<pb::SalesPrice>) -> pb::Item {
        pb::Item {
            no: self.no,
            description: self.description,
            unit_price_minor: self.unit_price_minor,
            unit_cost_minor: self.unit_cost_minor,
            currency: self.currency,
            blocked: self.blocked,
            sku: self.sku,
            barcode: self.barcode,
            base_unit_of_measure: self.base_uom,
            units_of_measure: self
                .uoms
                .0
                .into_iter()
                .map(|u| pb::UnitOfMeasure { code: u.code, qty_per_unit: u.qty_per_unit })
                .collect(),
            variants: self
                .variants
                .0
                .into_iter()
                .map(|v| pb::ItemVariant {
                    code: v.code,
                    description: v.description,
                    sku: v.sku,
                    barcode: v.barcode,
                })
                .collect(),
            item_category: self.item_category,
            vendor: self.vendor,
            version: self.version,
            updated_at: Some(timestamp(self.updated_at)),
            sales_prices: prices,
        }
    }
}

/// A validated item, ready to store.
struct ItemIn {
    no: String,
    description: String,
    unit_price_minor: i64,
    unit_cost_minor: i64,
    currency: String,
    blocked: bool,
    sku: String,
    barcode: String,
    base_uom: String,
    uoms: Vec<Uom>,
    variants: Vec<Variant>,
    item_category: String,
    vendor: String,
}

fn validate_item(i: &pb::Item, f: &str) -> Result<ItemIn> {
    check_code(&i.no, &format!("{f}no"), 50)?;
    check_len(&i.description, &format!("{f}description"), 250)?;
    if i.unit_price_minor < 0 {
        return Err(ErpError::invalid(format!("{f}unit_price_minor"), "must not be negative"));
    }
    if i.unit_cost_minor < 0 {
        return Err(ErpError::invalid(format!("{f}unit_cost_minor"), "must not be negative"));
    }
    let currency = check_currency(&i.currency, &format!("{f}currency"))?;
    let base_uom = if i.base_unit_of_measure.is_empty() {
        "PCS".to_owned()
    } else {
        i.base_unit_of_measure.clone()
    };
    check_code(&base_uom, &format!("{f}base_unit_of_measure"), 10)?;
    let mut seen = HashSet::new();
    let mut uoms = Vec::new();
    for (n, u) in i.units_of_measure.iter().enumerate() {
        let uf = format!("{f}units_of_measure[{n}]");
        check_code(&u.code, &format!("{uf}.code"), 10)?;
        if !seen.insert(u.code.clone()) {
            return Err(ErpError::invalid(
                format!("{uf}.code"),
                format!("{} is listed twice", quoted(&u.code)),
            ));
        }
        if u.qty_per_unit == 0 {
            return Err(ErpError::invalid(format!("{uf}.qty_per_unit"), "must be at least 1"));
        }
        if u.code == base_uom && u.qty_per_unit != 1 {
            return Err(ErpError::invalid(format!("{uf}.qty_per_unit"), "the base unit has 1"));
        }
        uoms.push(Uom { code: u.code.clone(), qty_per_unit: u.qty_per_unit });
    }
    if !seen.contains(&base_uom) {
        uoms.insert(0, Uom { code: base_uom.clone(), qty_per_unit: 1 });
    }
    let mut seen = HashSet::new();
    let mut variants = Vec::new();
    for (n, v) in i.variants.iter().enumerate() {
        let vf = format!("{f}variants[{n}]");
        check_code(&v.code, &format!("{vf}.code"), 20)?;
        if !seen.insert(v.code.clone()) {
            return Err(ErpError::invalid(
                format!("{vf}.code"),
                format!("{} is listed twice", quoted(&v.code)),
            ));
        }
        variants.push(Variant {
            code: v.code.clone(),
            description: v.description.clone(),
            sku: v.sku.clone(),
            barcode: v.barcode.clone(),
        });
    }
    Ok(ItemIn {
        no: i.no.clone(),
        description: i.description.clone(),
        unit_price_minor: i.unit_price_minor,
        unit_cost_minor: i.unit_cost_minor,
        currency,
        blocked: i.blocked,
        sku: i.sku.clone(),
        barcode: i.barcode.clone(),
        base_uom,
        uoms,
        variants,
        item_category: i.item_category.clone(),
        vendor: i.vendor.clone(),
    })
}

pub async fn create_item(pool: &PgPool, i: &pb::Item) -> Result<pb::Item> {
    let v = validate_item(i, "")?;
    let r = sqlx::query(
        "INSERT INTO posting.items (no, description, unit_price_minor, unit_cost_minor, currency, \
         blocked, sku, barcode, base_uom, uoms, variants, item_category, vendor) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
    )
    .bind(&v.no)
    .bind(&v.description)
    .bind(v.unit_price_minor)
    .bind(v.unit_cost_minor)
    .bind(&v.currency)
    .bind(v.blocked)
    .bind(&v.sku)
    .bind(&v.barcode)
    .bind(&v.base_uom)
    .bind(sqlx::types::Json(&v.uoms))
    .bind(sqlx::types::Json(&v.variants))
    .bind(&v.item_category)
    .bind(&v.vendor)
    .execute(pool)
    .await;
    created(r, "items_pkey", || format!("item {}", v.no))?;
    get_item(pool, &v.no).await
}

pub async fn update_item(pool: &PgPool, i: &pb::Item, expected_version: i64) -> Result<pb::Item> {
    let v = validate_item(i, "item.")?;
    let n = sqlx::query(
        "UPDATE posting.items SET description=$2, unit_price_minor=$3, unit_cost_minor=$4, \
         currency=$5, blocked=$6, sku=$7, barcode=$8, base_uom=$9, uoms=$10, variants=$11, \
         item_category=$12, vendor=$13, version = version + 1, updated_at = now(), \
         change_xid = pg_current_xact_id() \
         WHERE no = $1 AND ($14 = 0 OR version = $14)",
    )
    .bind(&v.no)
    .bind(&v.description)
    .bind(v.unit_price_minor)
    .bind(v.unit_cost_minor)
    .bind(&v.currency)
    .bind(v.blocked)
    .bind(&v.sku)
    .bind(&v.barcode)
    .bind(&v.base_uom)
    .bind(sqlx::types::Json(&v.uoms))
    .bind(sqlx::types::Json(&v.variants))
    .bind(&v.item_category)
    .bind(&v.vendor)
    .bind(expected_version)
    .execute(pool)
    .await?
    .rows_affected();
    updated(n, "item", &v.no, expected_version, || get_item(pool, &v.no), |x| x.version).await
}

async fn prices_of(pool: &PgPool, nos: &[String]) -> Result<Vec<pb::SalesPrice>> {
    let rows: Vec<(String, String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT item_no, variant_code, price_group, currency, minimum_quantity, unit_price_minor \
         FROM posting.sales_prices WHERE item_no = ANY($1) \
         ORDER BY item_no, variant_code, price_group, currency, minimum_quantity",
    )
    .bind(nos)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(item_no, variant_code, customer_price_group, currency, minimum_quantity, p)| {
            pb::SalesPrice {
                item_no,
                variant_code,
                customer_price_group,
                currency,
                unit_price_minor: p,
                minimum_quantity,
                delete: false,
            }
        })
        .collect())
}

/// Items with their prices, in the given row order.
pub(crate) async fn items_with_prices(pool: &PgPool, rows: Vec<ItemRow>) -> Result<Vec<pb::Item>> {
    let nos: Vec<String> = rows.iter().map(|r| r.no.clone()).collect();
    let mut prices = prices_of(pool, &nos).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine: Vec<pb::SalesPrice> = prices.extract_if(.., |p| p.item_no == r.no).collect();
            r.into_pb(mine)
        })
        .collect())
}

pub async fn get_item(pool: &PgPool, no: &str) -> Result<pb::Item> {
    let row: Option<ItemRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLS} FROM posting.items WHERE no = $1"
    )))
    .bind(no)
    .fetch_optional(pool)
    .await?;
    let row = row.ok_or_else(|| ErpError::NotFound(format!("item {} not found", quoted(no))))?;
    Ok(items_with_prices(pool, vec![row]).await?.remove(0))
}

pub async fn list_items(pool: &PgPool, r: &pb::ListRequest) -> Result<(Vec<pb::Item>, String)> {
    let (rows, next) = list_page::<ItemRow>(
        pool,
        "posting.items",
        ITEM_COLS,
        "no ILIKE '%' || $3 || '%' OR description ILIKE '%' || $3 || '%' \
         OR sku ILIKE '%' || $3 || '%'",
        r,
        |i| i.no.clone(),
    )
    .await?;
    Ok((items_with_prices(pool, rows).await?, next))
}

/// One page of master records keyed by `no`, blocked ones only when asked, filtered by a
/// search condition on `$3`; the next page token is the last key of a full page.
async fn list_page<R>(
    pool: &PgPool,
    table: &str,
    cols: &str,
    search: &str,
    r: &pb::ListRequest,
    key: impl Fn(&R) -> String,
) -> Result<(Vec<R>, String)>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let limit = page_size(r.page_size);
    let rows: Vec<R> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {cols} FROM {table} WHERE no > $1 AND ($2 OR NOT blocked) \
           AND ($3 = '' OR {search}) ORDER BY no LIMIT $4"
    )))
    .bind(&r.page_token)
    .bind(r.include_blocked)
    .bind(&r.search)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let next = if rows.len() as i64 == limit { rows.last().map(&key) } else { None };
    Ok((rows, next.unwrap_or_default()))
}

/// Items changed after the cursor, committed changes only (see the migration's note).
pub async fn item_changes(
    pool: &PgPool,
    cursor: &str,
    limit: i64,
) -> Result<Vec<(pb::Item, String)>> {
    let (xid, key) = parse_cursor(cursor)?;
    let rows: Vec<ItemRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLS}, change_xid::text::bigint AS xid FROM posting.items \
         WHERE (change_xid, no) > ($1::text::xid8, $2) \
           AND change_xid < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY change_xid, no LIMIT $3"
    )))
    .bind(xid)
    .bind(&key)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let cursors: Vec<String> = rows.iter().map(|r| crate::util::cursor(r.xid, &r.no)).collect();
    let items = items_with_prices(pool, rows).await?;
    Ok(items.into_iter().zip(cursors).collect())
}

pub async fn put_sales_price(pool: &PgPool, p: &pb::SalesPrice) -> Result<pb::SalesPrice> {
    check_code(&p.item_no, "item_no", 50)?;
    let currency = check_currency(&p.currency, "currency")?;
    if p.unit_price_minor < 0 {
        return Err(ErpError::invalid("unit_price_minor", "must not be negative"));
    }
    if p.minimum_quantity < 0 {
        return Err(ErpError::invalid("minimum_quantity", "must not be negative"));
    }
    let mut tx = pool.begin().await?;
    let item: Option<sqlx::types::Json<Vec<Variant>>> =
        sqlx::query_scalar("SELECT variants FROM posting.items WHERE no = $1 FOR UPDATE")
            .bind(&p.item_no)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(variants) = item else {
        return Err(ErpError::invalid(
            "item_no",
            format!("item {} does not exist", quoted(&p.item_no)),
        ));
    };
    if !p.variant_code.is_empty() && !variants.0.iter().any(|v| v.code == p.variant_code) {
        return Err(ErpError::invalid(
            "variant_code",
            format!("item {} has no variant {}", p.item_no, quoted(&p.variant_code)),
        ));
    }
    if p.delete {
        sqlx::query(
            "DELETE FROM posting.sales_prices WHERE item_no=$1 AND variant_code=$2 \
             AND price_group=$3 AND currency=$4 AND minimum_quantity=$5",
        )
        .bind(&p.item_no)
        .bind(&p.variant_code)
        .bind(&p.customer_price_group)
        .bind(&currency)
        .bind(p.minimum_quantity)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO posting.sales_prices \
             (item_no, variant_code, price_group, currency, minimum_quantity, unit_price_minor) \
             VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (item_no, variant_code, price_group, currency, minimum_quantity) \
             DO UPDATE SET unit_price_minor = EXCLUDED.unit_price_minor",
        )
        .bind(&p.item_no)
        .bind(&p.variant_code)
        .bind(&p.customer_price_group)
        .bind(&currency)
        .bind(p.minimum_quantity)
        .bind(p.unit_price_minor)
        .execute(&mut *tx)
        .await?;
    }
    // A price change is an item change for the product feed.
    sqlx::query(
        "UPDATE posting.items SET change_xid = pg_current_xact_id(), updated_at = now() WHERE no = $1",
    )
    .bind(&p.item_no)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(pb::SalesPrice { currency, ..p.clone() })
}

/// The record after an optimistic UPDATE that changed `n` rows: none means the version was
/// stale (ABORTED with the current version) or the record is gone (NOT_FOUND).
async fn updated<T, F, Fut>(
    n: u64,
    what: &str,
    key: &str,
    expected: i64,
    get: F,
    version: impl Fn(&T) -> i64,
) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let cur = get().await?;
    if n == 0 {
        return Err(ErpError::Stale(format!(
            "{what} {key} is at version {}, not {expected}",
            version(&cur)
        )));
    }
    Ok(cur)
}

/// The outcome of an INSERT of a record with a unique key: a duplicate is ALREADY_EXISTS
/// naming the record.
fn created(
    r: std::result::Result<sqlx::postgres::PgQueryResult, sqlx::Error>,
    key: &str,
    what: impl FnOnce() -> String,
) -> Result<()> {
    match r {
        Err(e) if is_unique_violation(&e, key) => {
            Err(ErpError::AlreadyExists(format!("{} already exists", what())))
        }
        r => r.map(|_| ()).map_err(ErpError::from),
    }
}

// ---- customers ----

#[derive(sqlx::FromRow)]
pub(crate) struct CustomerRow {
    no: String,
    name: String,
    email: String,
    phone: String,
    bill_to: serde_json::Value,
    ship_to: serde_json::Value,
    price_group: String,
    payment_terms: String,
    blocked: bool,
    currency: String,
    version: i64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

pub(crate) const CUSTOMER_COLS: &str = "no, name, email, phone, bill_to, ship_to, price_group, \
    payment_terms, blocked, currency, version, updated_at";

impl From<CustomerRow> for pb::Customer {
    fn from(r: CustomerRow) -> Self {
        pb::Customer {
            no: r.no,
            name: r.name,
            email: r.email,
            phone: r.phone,
            bill_to: address_from_json(&r.bill_to),
            ship_to: address_from_json(&r.ship_to),
            customer_price_group: r.price_group,
            payment_terms: r.payment_terms,
            blocked: r.blocked,
            currency: r.currency,
            version: r.version,
            updated_at: Some(timestamp(r.updated_at)),
        }
    }
}

struct CustomerIn {
    bill_to: serde_json::Value,
    ship_to: serde_json::Value,
    currency: String,
}

fn validate_customer(c: &pb::Customer, f: &str) -> Result<CustomerIn> {
    check_code(&c.no, &format!("{f}no"), 50)?;
    if c.name.trim().is_empty() {
        return Err(ErpError::invalid(format!("{f}name"), "required"));
    }
    check_len(&c.name, &format!("{f}name"), 250)?;
    if !c.email.is_empty() {
        let ok = c.email.split_once('@').is_some_and(|(a, d)| !a.is_empty() && d.contains('.'));
        if !ok {
            return Err(ErpError::invalid(
                format!("{f}email"),
                format!("{} is not an email address", quoted(&c.email)),
            ));
        }
    }
    Ok(CustomerIn {
        bill_to: address_to_json(c.bill_to.as_ref(), &format!("{f}bill_to"))?,
        ship_to: address_to_json(c.ship_to.as_ref(), &format!("{f}ship_to"))?,
        currency: check_currency(&c.currency, &format!("{f}currency"))?,
    })
}

pub async fn create_customer(pool: &PgPool, c: &pb::Customer) -> Result<pb::Customer> {
    let v = validate_customer(c, "")?;
    let r = sqlx::query(
        "INSERT INTO posting.customers (no, name, email, phone, bill_to, ship_to, price_group, \
         payment_terms, blocked, currency) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(&c.no)
    .bind(&c.name)
    .bind(&c.email)
    .bind(&c.phone)
    .bind(&v.bill_to)
    .bind(&v.ship_to)
    .bind(&c.customer_price_group)
    .bind(&c.payment_terms)
    .bind(c.blocked)
    .bind(&v.currency)
    .execute(pool)
    .await;
    created(r, "customers_pkey", || format!("customer {}", c.no))?;
    get_customer(pool, &c.no).await
}

pub async fn update_customer(
    pool: &PgPool,
    c: &pb::Customer,
    expected_version: i64,
) -> Result<pb::Customer> {
    let v = validate_customer(c, "customer.")?;
    let n = sqlx::query(
        "UPDATE posting.customers SET name=$2, email=$3, phone=$4, bill_to=$5, ship_to=$6, \
         price_group=$7, payment_terms=$8, blocked=$9, currency=$10, version = version + 1, \
         updated_at = now() WHERE no = $1 AND ($11 = 0 OR version = $11)",
    )
    .bind(&c.no)
    .bind(&c.name)
    .bind(&c.email)
    .bind(&c.phone)
    .bind(&v.bill_to)
    .bind(&v.ship_to)
    .bind(&c.customer_price_group)
    .bind(&c.payment_terms)
    .bind(c.blocked)
    .bind(&v.currency)
    .bind(expected_version)
    .execute(pool)
    .await?
    .rows_affected();
    updated(n, "customer", &c.no, expected_version, || get_customer(pool, &c.no), |x| x.version)
        .await
}

pub async fn get_customer(pool: &PgPool, no: &str) -> Result<pb::Customer> {
    let row: Option<CustomerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CUSTOMER_COLS} FROM posting.customers WHERE no = $1"
    )))
    .bind(no)
    .fetch_optional(pool)
    .await?;
    row.map(Into::into)
        .ok_or_else(|| ErpError::NotFound(format!("customer {} not found", quoted(no))))
}

pub async fn list_customers(
    pool: &PgPool,
    r: &pb::ListRequest,
) -> Result<(Vec<pb::Customer>, String)> {
    let (rows, next) = list_page::<CustomerRow>(
        pool,
        "posting.customers",
        CUSTOMER_COLS,
        "no ILIKE '%' || $3 || '%' OR name ILIKE '%' || $3 || '%' \
         OR email ILIKE '%' || $3 || '%'",
        r,
        |c| c.no.clone(),
    )
    .await?;
    Ok((rows.into_iter().map(Into::into).collect(), next))
}

// ---- locations ----

type LocationRow = (String, String, serde_json::Value, bool, i64);

fn location_pb(r: LocationRow) -> pb::Location {
    pb::Location {
        code: r.0,
        name: r.1,
        address: address_from_json(&r.2),
        prevent_negative_stock: r.3,
        version: r.4,
    }
}

pub async fn create_location(pool: &PgPool, l: &pb::Location) -> Result<pb::Location> {
    check_code(&l.code, "code", 20)?;
    check_len(&l.name, "name", 100)?;
    let address = address_to_json(l.address.as_ref(), "address")?;
    let r = sqlx::query(
        "INSERT INTO posting.locations (code, name, address, prevent_negative_stock) VALUES ($1,$2,$3,$4)",
    )
    .bind(&l.code)
    .bind(&l.name)
    .bind(&address)
    .bind(l.prevent_negative_stock)
    .execute(pool)
    .await;
    created(r, "locations_pkey", || format!("location {}", l.code))?;
    get_location(pool, &l.code).await
}

pub async fn update_location(
    pool: &PgPool,
    l: &pb::Location,
    expected_version: i64,
) -> Result<pb::Location> {
    check_code(&l.code, "location.code", 20)?;
    check_len(&l.name, "location.name", 100)?;
    let address = address_to_json(l.address.as_ref(), "location.address")?;
    let n = sqlx::query(
        "UPDATE posting.locations SET name=$2, address=$3, prevent_negative_stock=$4, \
         version = version + 1, updated_at = now() WHERE code = $1 AND ($5 = 0 OR version = $5)",
    )
    .bind(&l.code)
    .bind(&l.name)
    .bind(&address)
    .bind(l.prevent_negative_stock)
    .bind(expected_version)
    .execute(pool)
    .await?
    .rows_affected();
    updated(n, "location", &l.code, expected_version, || get_location(pool, &l.code), |x| x.version)
        .await
}

pub async fn get_location(pool: &PgPool, code: &str) -> Result<pb::Location> {
    let row: Option<LocationRow> = sqlx::query_as(
        "SELECT code, name, address, prevent_negative_stock, version FROM posting.locations WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(pool)
    .await?;
    row.map(location_pb)
        .ok_or_else(|| ErpError::NotFound(format!("location {} not found", quoted(code))))
}

pub async fn list_locations(
    pool: &PgPool,
    r: &pb::ListRequest,
) -> Result<(Vec<pb::Location>, String)> {
    let limit = page_size(r.page_size);
    let rows: Vec<LocationRow> = sqlx::query_as(
        "SELECT code, name, address, prevent_negative_stock, version FROM posting.locations \
         WHERE code > $1 AND ($2 = '' OR code ILIKE '%' || $2 || '%' OR name ILIKE '%' || $2 || '%') \
         ORDER BY code LIMIT $3",
    )
    .bind(&r.page_token)
    .bind(&r.search)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let next = if rows.len() as i64 == limit { rows.last().map(|r| r.0.clone()) } else { None };
    Ok((rows.into_iter().map(location_pb).collect(), next.unwrap_or_default()))
}

// ---- stock ----

/// Serialise writers of one item x variant x location (only where negative stock is
/// prevented), then check that `delta` keeps its quantity on hand at or above zero.
pub async fn check_stock(
    tx: &mut Transaction<'_, Postgres>,
    item: &str,
    variant: &str,
    location: &str,
    delta: i64,
    field: &str,
) -> Result<()> {
    let prevent: Option<bool> =
        sqlx::query_scalar("SELECT prevent_negative_stock FROM posting.locations WHERE code = $1")
            .bind(location)
            .fetch_optional(&mut **tx)
            .await?;
    if prevent != Some(true) || delta >= 0 {
        return Ok(());
    }
    lock_and_check_stock(tx, item, variant, location, delta, field).await
}

/// [`check_stock`] for a location known to prevent negative stock.
pub async fn lock_and_check_stock(
    tx: &mut sqlx::PgConnection,
    item: &str,
    variant: &str,
    location: &str,
    delta: i64,
    field: &str,
) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind(format!("{item}\u{1f}{variant}\u{1f}{location}"))
        .execute(&mut *tx)
        .await?;
    let on_hand: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(quantity), 0)::bigint FROM posting.item_ledger_entries \
         WHERE item_no = $1 AND variant_code = $2 AND location_code = $3",
    )
    .bind(item)
    .bind(variant)
    .bind(location)
    .fetch_one(&mut *tx)
    .await?;
    if on_hand + delta < 0 {
        return Err(ErpError::Precondition(format!(
            "{field}: item {item}{} at location {location} has {on_hand} on hand, {} needed \
             (negative stock is not allowed there)",
            if variant.is_empty() { String::new() } else { format!(" variant {variant}") },
            -delta
        )));
    }
    Ok(())
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

impl From<LedgerRow> for pb::ItemLedgerEntry {
    fn from(r: LedgerRow) -> Self {
        pb::ItemLedgerEntry {
            entry_no: r.entry_no,
            entry_type: r.entry_type,
            item_no: r.item_no,
            variant_code: r.variant_code,
            location_code: r.location_code,
            posting_date: fmt_date(r.posting_date),
            quantity: r.quantity,
            cost_amount_minor: r.cost_amount_minor,
            sales_amount_minor: r.sales_amount_minor,
            document_no: r.document_no,
            shopify_order_no: r.shopify_order_no,
        }
    }
}

pub async fn post_stock_adjustment(
    pool: &PgPool,
    r: &pb::StockAdjustmentRequest,
) -> Result<(Vec<pb::ItemLedgerEntry>, bool)> {
    if r.lines.is_empty() {
        return Err(ErpError::invalid("lines", "at least one line is required"));
    }
    if r.lines.len() > 1000 {
        return Err(ErpError::invalid("lines", "at most 1000 lines per call"));
    }
    check_len(&r.idempotency_key, "idempotency_key", 200)?;
    check_len(&r.document_no, "document_no", 50)?;
    let posting_date = parse_date(&r.posting_date, "posting_date")?.unwrap_or_else(today);
    let mut tx = pool.begin().await?;
    if !r.idempotency_key.is_empty() {
        let fresh = sqlx::query(
            "INSERT INTO posting.adjustment_requests (idempotency_key) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind(&r.idempotency_key)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            let rows: Vec<LedgerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {LEDGER_COLS} FROM posting.item_ledger_entries WHERE entry_no IN (\
                 SELECT unnest(entry_nos) FROM posting.adjustment_requests WHERE idempotency_key = $1) \
                 ORDER BY entry_no"
            )))
            .bind(&r.idempotency_key)
            .fetch_all(&mut *tx)
            .await?;
            return Ok((rows.into_iter().map(Into::into).collect(), false));
        }
    }
    let mut entries = Vec::with_capacity(r.lines.len());
    for (n, l) in r.lines.iter().enumerate() {
        let f = format!("lines[{n}]");
        if l.quantity == 0 {
            return Err(ErpError::invalid(format!("{f}.quantity"), "must not be zero"));
        }
        let item: Option<(i64, String, bool, sqlx::types::Json<Vec<Variant>>)> = sqlx::query_as(
            "SELECT unit_cost_minor, currency, blocked, variants FROM posting.items WHERE no = $1",
        )
        .bind(&l.item_no)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((unit_cost, currency, _blocked, variants)) = item else {
            return Err(ErpError::invalid(
                format!("{f}.item_no"),
                format!("item {} does not exist", quoted(&l.item_no)),
            ));
        };
        if !l.variant_code.is_empty() && !variants.0.iter().any(|v| v.code == l.variant_code) {
            return Err(ErpError::invalid(
                format!("{f}.variant_code"),
                format!("item {} has no variant {}", l.item_no, quoted(&l.variant_code)),
            ));
        }
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM posting.locations WHERE code = $1)")
                .bind(&l.location_code)
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            return Err(ErpError::invalid(
                format!("{f}.location_code"),
                format!("location {} does not exist", quoted(&l.location_code)),
            ));
        }
        if let Some(c) = l.unit_cost_minor
            && c < 0
        {
            return Err(ErpError::invalid(format!("{f}.unit_cost_minor"), "must not be negative"));
        }
        check_stock(&mut tx, &l.item_no, &l.variant_code, &l.location_code, l.quantity, &f).await?;
        let cost = l.unit_cost_minor.unwrap_or(unit_cost) * l.quantity;
        let row: LedgerRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO posting.item_ledger_entries (entry_type, item_no, variant_code, \
             location_code, posting_date, quantity, cost_amount_minor, currency, document_type, document_no) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'adjustment',$9) RETURNING {LEDGER_COLS}"
        )))
        .bind(if l.quantity > 0 { "positive_adjustment" } else { "negative_adjustment" })
        .bind(&l.item_no)
        .bind(&l.variant_code)
        .bind(&l.location_code)
        .bind(posting_date)
        .bind(l.quantity)
        .bind(cost)
        .bind(&currency)
        .bind(&r.document_no)
        .fetch_one(&mut *tx)
        .await?;
        entries.push(row);
    }
    if !r.idempotency_key.is_empty() {
        let nos: Vec<i64> = entries.iter().map(|e| e.entry_no).collect();
        sqlx::query(
            "UPDATE posting.adjustment_requests SET entry_nos = $2 WHERE idempotency_key = $1",
        )
        .bind(&r.idempotency_key)
        .bind(&nos)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok((entries.into_iter().map(Into::into).collect(), true))
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
struct LevelRow {
    item_no: String,
    variant_code: String,
    location_code: String,
    on_hand: i64,
    rs: Vec<String>,
    rq: Vec<i64>,
    aws: Vec<String>,
    awq: Vec<i64>,
}

impl From<LevelRow> for pb::StockLevel {
    fn from(r: LevelRow) -> Self {
        let by_shop = |shops: Vec<String>, qs: Vec<i64>| {
            shops
                .into_iter()
                .zip(qs)
                .map(|(shop, quantity)| pb::ShopQuantity { shop, quantity })
                .collect()
        };
        pb::StockLevel {
            item_no: r.item_no,
            variant_code: r.variant_code,
            location_code: r.location_code,
            quantity_on_hand: r.on_hand,
            reserved: by_shop(r.rs, r.rq),
            awaiting_fulfillment: by_shop(r.aws, r.awq),
        }
    }
}

pub async fn get_stock(pool: &PgPool, r: &pb::GetStockRequest) -> Result<Vec<pb::StockLevel>> {
    check_code(&r.item_no, "item_no", 50)?;
    let sql = format!(
        "WITH c AS ( \
           SELECT item_no, variant_code, location_code, sum(quantity)::bigint AS on_hand \
           FROM posting.item_ledger_entries WHERE item_no = $1 AND ($2 = '' OR location_code = $2) \
           GROUP BY 1, 2, 3) \
         SELECT c.*, res.*, aw.* FROM c {LEVEL_EXTRAS} ORDER BY 2, 3"
    );
    let rows: Vec<LevelRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&r.item_no)
        .bind(&r.location_code)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Stock levels whose ledger, reservations or shipments awaiting fulfillment changed after the
/// cursor: one message per item x variant x location, at its latest change, with its
/// quantities now. Ledger entries and stock touches share one numbering, so one cursor
/// orders both.
pub async fn stock_changes(
    pool: &PgPool,
    cursor: &str,
    limit: i64,
) -> Result<Vec<(pb::StockLevel, String)>> {
    let (xid, key) = parse_cursor(cursor)?;
    let entry_no: i64 = if key.is_empty() {
        0
    } else {
        key.parse().map_err(|_| ErpError::invalid("cursor", "not a cursor of this feed"))?
    };
    #[derive(sqlx::FromRow)]
    struct Changed {
        #[sqlx(flatten)]
        level: LevelRow,
        xid: i64,
        entry_no: i64,
    }
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
    let rows: Vec<Changed> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(xid)
        .bind(entry_no)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.level.into(), crate::util::cursor(r.xid, &r.entry_no.to_string())))
        .collect())
}
