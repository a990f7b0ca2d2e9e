//! Master data: items (with variants, units of measure and sales prices), customers and
//! locations: their checks, the optimistic versions of their updates, and their pb mapping.
//! Statements: `repo::{items, customers, locations, prices}`.

use crate::error::{ErpError, Result, is_unique_violation};
use crate::repo::customers::{CustomerIn, CustomerRow};
use crate::repo::items::{ItemIn, ItemRow, Uom, Variant};
use crate::repo::locations::{LocationIn, LocationRow};
use crate::repo::prices::{PriceIn, PriceRow};
use crate::repo::{customers, items, locations, prices};
use crate::util::*;
use shopsync_common::quoted;
use shopsync_proto::pb;
use sqlx::PgPool;
use std::collections::HashSet;

// ---- items ----

fn item_pb(r: ItemRow, prices: Vec<pb::SalesPrice>) -> pb::Item {
    pb::Item {
        no: r.no,
        description: r.description,
        unit_price_minor: r.unit_price_minor,
        unit_cost_minor: r.unit_cost_minor,
        currency: r.currency,
        blocked: r.blocked,
        sku: r.sku,
        barcode: r.barcode,
        base_unit_of_measure: r.base_uom,
        units_of_measure: r
            .uoms
            .0
            .into_iter()
            .map(|u| pb::UnitOfMeasure { code: u.code, qty_per_unit: u.qty_per_unit })
            .collect(),
        variants: r
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
        item_category: r.item_category,
        vendor: r.vendor,
        version: r.version,
        updated_at: Some(timestamp(r.updated_at)),
        sales_prices: prices,
    }
}

/// Codes of one list (units of measure, variants): each valid and listed once.
fn unique_code(seen: &mut HashSet<String>, code: &str, field: &str, max: usize) -> Result<()> {
    check_code(code, field, max)?;
    if !seen.insert(code.to_owned()) {
        return Err(ErpError::invalid(field, format!("{} is listed twice", quoted(code))));
    }
    Ok(())
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
        unique_code(&mut seen, &u.code, &format!("{uf}.code"), 10)?;
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
        unique_code(&mut seen, &v.code, &format!("{f}variants[{n}].code"), 20)?;
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
    created(items::insert(pool, &v).await, "items_pkey", || format!("item {}", v.no))?;
    get_item(pool, &v.no).await
}

pub async fn update_item(pool: &PgPool, i: &pb::Item, expected_version: i64) -> Result<pb::Item> {
    let v = validate_item(i, "item.")?;
    let n = items::update(pool, &v, expected_version).await?;
    updated(n, "item", &v.no, expected_version, get_item(pool, &v.no).await?, |x| x.version)
}

fn price_pb(p: PriceRow) -> pb::SalesPrice {
    pb::SalesPrice {
        item_no: p.item_no,
        variant_code: p.variant_code,
        customer_price_group: p.price_group,
        currency: p.currency,
        unit_price_minor: p.unit_price_minor,
        minimum_quantity: p.minimum_quantity,
        delete: false,
    }
}

/// Items with their prices, in the given row order.
pub(crate) async fn items_with_prices(pool: &PgPool, rows: Vec<ItemRow>) -> Result<Vec<pb::Item>> {
    let nos: Vec<String> = rows.iter().map(|r| r.no.clone()).collect();
    let mut prices: Vec<pb::SalesPrice> =
        prices::of_items(pool, &nos).await?.into_iter().map(price_pb).collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine: Vec<pb::SalesPrice> = prices.extract_if(.., |p| p.item_no == r.no).collect();
            item_pb(r, mine)
        })
        .collect())
}

pub async fn get_item(pool: &PgPool, no: &str) -> Result<pb::Item> {
    let row = items::get(pool, no).await?;
    let row = row.ok_or_else(|| ErpError::NotFound(format!("item {} not found", quoted(no))))?;
    Ok(items_with_prices(pool, vec![row]).await?.remove(0))
}

pub async fn list_items(pool: &PgPool, r: &pb::ListRequest) -> Result<(Vec<pb::Item>, String)> {
    let limit = page_size(r.page_size);
    let rows = items::list(pool, r, limit).await?;
    let next = next_token(&rows, limit, |i| i.no.clone());
    Ok((items_with_prices(pool, rows).await?, next))
}

/// Items changed after the cursor, committed changes only (see the migration's note).
pub async fn item_changes(
    pool: &PgPool,
    cursor: &str,
    limit: i64,
) -> Result<Vec<(pb::Item, String)>> {
    let (xid, key) = parse_cursor(cursor)?;
    let rows = items::changed_after(pool, xid, &key, limit).await?;
    let cursors: Vec<String> = rows.iter().map(|r| crate::util::cursor(r.xid, &r.no)).collect();
    let items = items_with_prices(pool, rows).await?;
    Ok(items.into_iter().zip(cursors).collect())
}

/// `code` is empty (all variants) or one of `variants`.
pub(crate) fn check_variant(
    variants: &[Variant],
    item: &str,
    code: &str,
    field: impl FnOnce() -> String,
) -> Result<()> {
    if !code.is_empty() && !variants.iter().any(|v| v.code == code) {
        return Err(ErpError::invalid(
            field(),
            format!("item {item} has no variant {}", quoted(code)),
        ));
    }
    Ok(())
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
    let Some(variants) = items::lock_variants(&mut tx, &p.item_no).await? else {
        return Err(ErpError::invalid(
            "item_no",
            format!("item {} does not exist", quoted(&p.item_no)),
        ));
    };
    check_variant(&variants, &p.item_no, &p.variant_code, || "variant_code".to_owned())?;
    let price = PriceIn {
        item_no: p.item_no.clone(),
        variant_code: p.variant_code.clone(),
        price_group: p.customer_price_group.clone(),
        currency: currency.clone(),
        minimum_quantity: p.minimum_quantity,
        unit_price_minor: p.unit_price_minor,
    };
    if p.delete {
        prices::delete(&mut *tx, &price).await?;
    } else {
        prices::upsert(&mut *tx, &price).await?;
    }
    // A price change is an item change for the product feed.
    items::mark_changed(&mut *tx, &p.item_no).await?;
    tx.commit().await?;
    Ok(pb::SalesPrice { currency, ..p.clone() })
}

/// The record after an optimistic UPDATE that changed `n` rows (`cur`, read after it): none
/// means the version was stale (ABORTED with the current version); a record gone was
/// NOT_FOUND when it was read.
fn updated<T>(
    n: u64,
    what: &str,
    key: &str,
    expected: i64,
    cur: T,
    version: impl Fn(&T) -> i64,
) -> Result<T> {
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
fn created<T>(
    r: std::result::Result<T, sqlx::Error>,
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

impl From<CustomerRow> for pb::Customer {
    fn from(r: CustomerRow) -> Self {
        pb::Customer {
            no: r.no,
            name: r.name,
            email: r.email,
            phone: r.phone,
            bill_to: address_out(&r.bill_to),
            ship_to: address_out(&r.ship_to),
            customer_price_group: r.price_group,
            payment_terms: r.payment_terms,
            blocked: r.blocked,
            currency: r.currency,
            version: r.version,
            updated_at: Some(timestamp(r.updated_at)),
        }
    }
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
        bill_to: address_in(c.bill_to.as_ref(), &format!("{f}bill_to"))?,
        ship_to: address_in(c.ship_to.as_ref(), &format!("{f}ship_to"))?,
        currency: check_currency(&c.currency, &format!("{f}currency"))?,
        no: c.no.clone(),
        name: c.name.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        price_group: c.customer_price_group.clone(),
        payment_terms: c.payment_terms.clone(),
        blocked: c.blocked,
    })
}

pub async fn create_customer(pool: &PgPool, c: &pb::Customer) -> Result<pb::Customer> {
    let v = validate_customer(c, "")?;
    created(customers::insert(pool, &v).await, "customers_pkey", || format!("customer {}", c.no))?;
    get_customer(pool, &c.no).await
}

pub async fn update_customer(
    pool: &PgPool,
    c: &pb::Customer,
    expected_version: i64,
) -> Result<pb::Customer> {
    let v = validate_customer(c, "customer.")?;
    let n = customers::update(pool, &v, expected_version).await?;
    updated(n, "customer", &c.no, expected_version, get_customer(pool, &c.no).await?, |x| x.version)
}

pub async fn get_customer(pool: &PgPool, no: &str) -> Result<pb::Customer> {
    let row = customers::get(pool, no).await?;
    row.map(Into::into)
        .ok_or_else(|| ErpError::NotFound(format!("customer {} not found", quoted(no))))
}

pub async fn list_customers(
    pool: &PgPool,
    r: &pb::ListRequest,
) -> Result<(Vec<pb::Customer>, String)> {
    let limit = page_size(r.page_size);
    let rows = customers::list(pool, r, limit).await?;
    let next = next_token(&rows, limit, |c| c.no.clone());
    Ok((rows.into_iter().map(Into::into).collect(), next))
}

// ---- locations ----

impl From<LocationRow> for pb::Location {
    fn from(r: LocationRow) -> Self {
        pb::Location {
            code: r.code,
            name: r.name,
            address: address_out(&r.address),
            prevent_negative_stock: r.prevent_negative_stock,
            version: r.version,
        }
    }
}

fn validate_location(l: &pb::Location, f: &str) -> Result<LocationIn> {
    check_code(&l.code, &format!("{f}code"), 20)?;
    check_len(&l.name, &format!("{f}name"), 100)?;
    Ok(LocationIn {
        code: l.code.clone(),
        name: l.name.clone(),
        address: address_in(l.address.as_ref(), &format!("{f}address"))?,
        prevent_negative_stock: l.prevent_negative_stock,
    })
}

pub async fn create_location(pool: &PgPool, l: &pb::Location) -> Result<pb::Location> {
    let v = validate_location(l, "")?;
    created(locations::insert(pool, &v).await, "locations_pkey", || {
        format!("location {}", l.code)
    })?;
    get_location(pool, &l.code).await
}

pub async fn update_location(
    pool: &PgPool,
    l: &pb::Location,
    expected_version: i64,
) -> Result<pb::Location> {
    let v = validate_location(l, "location.")?;
    let n = locations::update(pool, &v, expected_version).await?;
    updated(n, "location", &l.code, expected_version, get_location(pool, &l.code).await?, |x| {
        x.version
    })
}

pub async fn get_location(pool: &PgPool, code: &str) -> Result<pb::Location> {
    let row = locations::get(pool, code).await?;
    row.map(Into::into)
        .ok_or_else(|| ErpError::NotFound(format!("location {} not found", quoted(code))))
}

pub async fn list_locations(
    pool: &PgPool,
    r: &pb::ListRequest,
) -> Result<(Vec<pb::Location>, String)> {
    let limit = page_size(r.page_size);
    let rows = locations::list(pool, &r.page_token, &r.search, limit).await?;
    let next = next_token(&rows, limit, |l| l.code.clone());
    Ok((rows.into_iter().map(Into::into).collect(), next))
}
