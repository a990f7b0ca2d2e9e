//! Stock as an item ledger: adjustments (idempotent per key), the negative stock check that
//! every stock decrease passes, stock levels and the stock change feed, mapped to pb.
//! Statements: `repo::stock`.

use crate::error::{ErpError, Result};
use crate::master::check_variant;
use crate::repo::stock::{AdjustmentIn, LedgerRow, LevelRow};
use crate::repo::{items, locations, stock};
use crate::util::*;
use shopsync_common::quoted;
use shopsync_proto::pb;
use sqlx::{PgConnection, PgPool};

/// Serialise writers of one item x variant x location (only where negative stock is
/// prevented), then check that `delta` keeps its quantity on hand at or above zero.
pub async fn check_stock(
    tx: &mut PgConnection,
    item: &str,
    variant: &str,
    location: &str,
    delta: i64,
    field: &str,
) -> Result<()> {
    let prevent = locations::prevents_negative_stock(&mut *tx, location).await?;
    if prevent != Some(true) || delta >= 0 {
        return Ok(());
    }
    lock_and_check_stock(tx, item, variant, location, delta, field).await
}

/// [`check_stock`] for a location known to prevent negative stock.
pub async fn lock_and_check_stock(
    tx: &mut PgConnection,
    item: &str,
    variant: &str,
    location: &str,
    delta: i64,
    field: &str,
) -> Result<()> {
    stock::lock_level(&mut *tx, item, variant, location).await?;
    let on_hand = stock::on_hand(&mut *tx, item, variant, location).await?;
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
    if !r.idempotency_key.is_empty()
        && !stock::claim_adjustment_request(&mut *tx, &r.idempotency_key).await?
    {
        let rows = stock::adjustment_entries(&mut *tx, &r.idempotency_key).await?;
        return Ok((rows.into_iter().map(Into::into).collect(), false));
    }
    let mut entries = Vec::with_capacity(r.lines.len());
    for (n, l) in r.lines.iter().enumerate() {
        let f = format!("lines[{n}]");
        entries.push(adjust(&mut tx, r, l, posting_date, &f).await?);
    }
    if !r.idempotency_key.is_empty() {
        let nos: Vec<i64> = entries.iter().map(|e| e.entry_no).collect();
        stock::set_adjustment_entries(&mut *tx, &r.idempotency_key, &nos).await?;
    }
    tx.commit().await?;
    Ok((entries.into_iter().map(Into::into).collect(), true))
}

/// One line of an adjustment: checked, then its ledger entry.
async fn adjust(
    tx: &mut PgConnection,
    r: &pb::StockAdjustmentRequest,
    l: &pb::StockAdjustmentLine,
    posting_date: chrono::NaiveDate,
    f: &str,
) -> Result<LedgerRow> {
    if l.quantity == 0 {
        return Err(ErpError::invalid(format!("{f}.quantity"), "must not be zero"));
    }
    let Some(item) = items::cost(&mut *tx, &l.item_no).await? else {
        return Err(ErpError::invalid(
            format!("{f}.item_no"),
            format!("item {} does not exist", quoted(&l.item_no)),
        ));
    };
    check_variant(&item.variants, &l.item_no, &l.variant_code, || format!("{f}.variant_code"))?;
    if !locations::exists(&mut *tx, &l.location_code).await? {
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
    check_stock(tx, &l.item_no, &l.variant_code, &l.location_code, l.quantity, f).await?;
    let entry = AdjustmentIn {
        entry_type: if l.quantity > 0 { "positive_adjustment" } else { "negative_adjustment" },
        item_no: &l.item_no,
        variant_code: &l.variant_code,
        location_code: &l.location_code,
        posting_date,
        quantity: l.quantity,
        cost_amount_minor: l.unit_cost_minor.unwrap_or(item.unit_cost_minor) * l.quantity,
        currency: &item.currency,
        document_no: &r.document_no,
    };
    Ok(stock::insert_adjustment(&mut *tx, &entry).await?)
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
    let rows = stock::levels(pool, &r.item_no, &r.location_code).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Stock levels changed after the cursor (see [`stock::changed_after`]), each with its cursor.
pub async fn stock_changes(
    pool: &PgPool,
    cursor: &str,
    limit: i64,
) -> Result<Vec<(pb::StockLevel, String)>> {
    let (xid, entry_no) = parse_id_cursor(cursor)?;
    let rows = stock::changed_after(pool, xid, entry_no, limit).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.level.into(), crate::util::cursor(r.xid, &r.entry_no.to_string())))
        .collect())
}
