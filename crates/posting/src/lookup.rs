//! Exact lookups: items by SKU and barcode (their own and their variants'), customers by
//! normalised e-mail address and phone number. Answers are keyed by the values as sent.
//! Indexes and the normalisation functions: migration `…_posting_lookups`.

use crate::error::{ErpError, Result};
use crate::master::{CUSTOMER_COLS, CustomerRow, ITEM_COLS, ItemRow, items_with_prices};
use shopsync_proto::pb;
use sqlx::PgPool;
use std::collections::HashMap;

/// Values of one lookup list: none blank, at most 1000 (the length and NUL checks come first,
/// in `shopsync_proto::limits`); `digits`: must contain a digit (phone numbers).
fn keys(values: &[String], field: &str, digits: bool) -> Result<()> {
    for (i, v) in values.iter().enumerate() {
        if v.trim().is_empty() {
            return Err(ErpError::invalid(format!("{field}[{i}]"), "must not be blank"));
        }
        if digits && !v.bytes().any(|b| b.is_ascii_digit()) {
            return Err(ErpError::invalid(format!("{field}[{i}]"), "has no digits"));
        }
    }
    Ok(())
}

/// Items whose SKU or barcode (or a variant's) is one of those asked for.
pub async fn find_items(pool: &PgPool, r: &pb::FindItemsRequest) -> Result<pb::FindItemsResponse> {
    keys(&r.skus, "skus", false)?;
    keys(&r.barcodes, "barcodes", false)?;
    // (kind, key, variant code, item no.): 's' SKU, 'b' barcode.
    let matches: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT 's', i.sku, '', i.no FROM posting.items i \
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
    .bind(&r.skus)
    .bind(&r.barcodes)
    .fetch_all(pool)
    .await?;
    let mut nos: Vec<String> = matches.iter().map(|m| m.3.clone()).collect();
    nos.sort();
    nos.dedup();
    let rows: Vec<ItemRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLS} FROM posting.items WHERE no = ANY($1) ORDER BY no"
    )))
    .bind(&nos)
    .fetch_all(pool)
    .await?;
    let items: HashMap<String, pb::Item> =
        items_with_prices(pool, rows).await?.into_iter().map(|i| (i.no.clone(), i)).collect();
    let empty = |keys: &[String]| -> HashMap<String, pb::ItemMatches> {
        keys.iter().map(|k| (k.clone(), pb::ItemMatches::default())).collect()
    };
    let mut out = pb::FindItemsResponse { by_sku: empty(&r.skus), by_barcode: empty(&r.barcodes) };
    for (kind, key, variant_code, no) in matches {
        let Some(item) = items.get(&no) else { continue };
        let map = if kind == "s" { &mut out.by_sku } else { &mut out.by_barcode };
        map.entry(key)
            .or_default()
            .matches
            .push(pb::ItemMatch { item: Some(item.clone()), variant_code });
    }
    Ok(out)
}

/// Customers whose normalised e-mail address or phone number is that of one asked for.
pub async fn find_customers(
    pool: &PgPool,
    r: &pb::FindCustomersRequest,
) -> Result<pb::FindCustomersResponse> {
    keys(&r.emails, "emails", false)?;
    keys(&r.phones, "phones", true)?;
    let cols =
        CUSTOMER_COLS.split(',').map(|c| format!("c.{}", c.trim())).collect::<Vec<_>>().join(", ");
    #[derive(sqlx::FromRow)]
    struct Row {
        kind: String,
        key: String,
        #[sqlx(flatten)]
        customer: CustomerRow,
    }
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT 'e' AS kind, k.key, {cols} FROM unnest($1::text[]) AS k(key) \
           JOIN posting.customers c \
             ON c.email <> '' AND posting.norm_email(c.email) = posting.norm_email(k.key) \
         UNION ALL \
         SELECT 'p' AS kind, k.key, {cols} FROM unnest($2::text[]) AS k(key) \
           JOIN posting.customers c \
             ON c.phone <> '' AND posting.norm_phone(c.phone) = posting.norm_phone(k.key) \
         ORDER BY 1, 2, 3"
    )))
    .bind(&r.emails)
    .bind(&r.phones)
    .fetch_all(pool)
    .await?;
    let empty = |keys: &[String]| -> HashMap<String, pb::CustomerMatches> {
        keys.iter().map(|k| (k.clone(), pb::CustomerMatches::default())).collect()
    };
    let mut out =
        pb::FindCustomersResponse { by_email: empty(&r.emails), by_phone: empty(&r.phones) };
    for row in rows {
        let map = if row.kind == "e" { &mut out.by_email } else { &mut out.by_phone };
        map.entry(row.key).or_default().customers.push(row.customer.into());
    }
    Ok(out)
}
