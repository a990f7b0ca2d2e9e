//! Exact lookups: items by SKU and barcode (their own and their variants'), customers by
//! normalised e-mail address and phone number. Answers are keyed by the values as sent.
//! Indexes and the normalisation functions: migration `…_posting_lookups`; statements:
//! `repo::{items, customers}`.

use crate::error::{ErpError, Result};
use crate::master::items_with_prices;
use crate::repo::customers::{self, ContactKind};
use crate::repo::items::{self, CodeKind};
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
    let matches = items::find_by_codes(pool, &r.skus, &r.barcodes).await?;
    let mut nos: Vec<String> = matches.iter().map(|m| m.no.clone()).collect();
    nos.sort();
    nos.dedup();
    let rows = items::by_nos(pool, &nos).await?;
    let items: HashMap<String, pb::Item> =
        items_with_prices(pool, rows).await?.into_iter().map(|i| (i.no.clone(), i)).collect();
    let mut out = pb::FindItemsResponse { by_sku: empty(&r.skus), by_barcode: empty(&r.barcodes) };
    for m in matches {
        let Some(item) = items.get(&m.no) else { continue };
        let map = match m.kind {
            CodeKind::Sku => &mut out.by_sku,
            CodeKind::Barcode => &mut out.by_barcode,
        };
        map.entry(m.key)
            .or_default()
            .matches
            .push(pb::ItemMatch { item: Some(item.clone()), variant_code: m.variant_code });
    }
    Ok(out)
}

/// An answer with an empty entry for every value asked for.
fn empty<T: Default>(keys: &[String]) -> HashMap<String, T> {
    keys.iter().map(|k| (k.clone(), T::default())).collect()
}

/// Customers whose normalised e-mail address or phone number is that of one asked for.
pub async fn find_customers(
    pool: &PgPool,
    r: &pb::FindCustomersRequest,
) -> Result<pb::FindCustomersResponse> {
    keys(&r.emails, "emails", false)?;
    keys(&r.phones, "phones", true)?;
    let rows = customers::find_by_contacts(pool, &r.emails, &r.phones).await?;
    let mut out =
        pb::FindCustomersResponse { by_email: empty(&r.emails), by_phone: empty(&r.phones) };
    for row in rows {
        let map = match row.kind {
            ContactKind::Email => &mut out.by_email,
            ContactKind::Phone => &mut out.by_phone,
        };
        map.entry(row.key).or_default().customers.push(row.customer.into());
    }
    Ok(out)
}
