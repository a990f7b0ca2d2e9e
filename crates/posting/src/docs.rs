//! Sales documents (orders, invoices, credit memos): create (idempotent per Shopify order,
//! credit memos per Shopify refund), release, reopen, delete, read, list, tracking, and
//! everything made for one Shopify order.

use crate::error::{ErpError, Result, is_unique_violation};
use crate::master::{LEDGER_COLS, LedgerRow, Uom, Variant};
use crate::util::*;
use shopsync_common::quoted;
use shopsync_proto::{CheckText, pb};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;

pub fn doc_type_str(t: i32, field: &str) -> Result<&'static str> {
    match pb::DocumentType::try_from(t) {
        Ok(pb::DocumentType::Order) => Ok("order"),
        Ok(pb::DocumentType::Invoice) => Ok("invoice"),
        Ok(pb::DocumentType::CreditMemo) => Ok("credit_memo"),
        _ => Err(ErpError::invalid(field, "must be ORDER, INVOICE or CREDIT_MEMO")),
    }
}

fn doc_type_pb(s: &str) -> pb::DocumentType {
    match s {
        "invoice" => pb::DocumentType::Invoice,
        "credit_memo" => pb::DocumentType::CreditMemo,
        _ => pb::DocumentType::Order,
    }
}

/// A document's tracking as stored: (company, number, url); all empty when it has none.
pub fn tracking_cols(t: Option<&pb::Tracking>) -> (String, String, String) {
    t.map(|t| (t.company.clone(), t.number.clone(), t.url.clone())).unwrap_or_default()
}

/// Stored tracking columns as the API shows them: unset when all are empty.
pub fn tracking_pb(company: String, number: String, url: String) -> Option<pb::Tracking> {
    (!company.is_empty() || !number.is_empty() || !url.is_empty()).then_some(pb::Tracking {
        company,
        number,
        url,
    })
}

pub fn status_pb(s: &str) -> pb::DocumentStatus {
    match s {
        "open" => pb::DocumentStatus::Open,
        "released" => pb::DocumentStatus::Released,
        "posted" => pb::DocumentStatus::Posted,
        _ => pb::DocumentStatus::Unspecified,
    }
}

fn status_str(s: i32) -> Option<&'static str> {
    match pb::DocumentStatus::try_from(s) {
        Ok(pb::DocumentStatus::Open) => Some("open"),
        Ok(pb::DocumentStatus::Released) => Some("released"),
        Ok(pb::DocumentStatus::Posted) => Some("posted"),
        _ => None,
    }
}

/// Line amount: quantity x unit price - discount, checked.
fn line_amount(qty: i64, price: i64, discount: i64, field: &str) -> Result<i64> {
    let gross = i128::from(qty) * i128::from(price);
    let net = gross - i128::from(discount);
    if net < 0 {
        return Err(ErpError::invalid(
            format!("{field}.line_discount_minor"),
            "is larger than quantity x unit price",
        ));
    }
    i64::try_from(net)
        .map_err(|_| ErpError::invalid(format!("{field}.quantity"), "amount overflows"))
}

#[derive(serde::Deserialize, Clone)]
struct ItemForSale {
    no: String,
    description: String,
    blocked: bool,
    currency: String,
    unit_price_minor: i64,
    base_uom: String,
    uoms: Vec<Uom>,
    variants: Vec<Variant>,
    /// Every sales price of the item: [(variant, price group, currency, min qty, price)].
    prices: Vec<(String, String, String, i64, i64)>,
}

/// (no, blocked, currency, price group, ship-to)
type CustomerForSale = (String, bool, String, String, serde_json::Value);

/// The best (lowest) applicable price per unit of measure: the item's list price (same
/// currency) and the sales prices in the currency for every customer or the customer's price
/// group, for the line's variant or all variants, from their minimum quantity up.
fn best_price(
    item: &ItemForSale,
    variant: &str,
    price_group: &str,
    qty_base: i64,
    qty_per_uom: i64,
    currency: &str,
) -> Option<i64> {
    let list = (item.currency == currency).then_some(item.unit_price_minor);
    item.prices
        .iter()
        .filter(|(v, g, c, min, _)| {
            (v.is_empty() || v == variant)
                && (g.is_empty() || g == price_group)
                && c == currency
                && *min <= qty_base
        })
        .map(|(_, _, _, _, p)| *p)
        .chain(list)
        .min()
        .map(|p| p.saturating_mul(qty_per_uom))
}

/// What the documents of one call refer to, and the master epoch (see the migration
/// `posting_master_epoch`) it is valid for.
struct Refs {
    customers: HashMap<String, Arc<CustomerForSale>>,
    items: HashMap<String, Arc<ItemForSale>>,
    locations: std::collections::HashSet<String>,
    /// Posted invoices credit memos apply to (they are never deleted, so a cached one stays).
    invoices: std::collections::HashSet<String>,
    epoch: i64,
}

/// The master data keys the documents of one call refer to (sorted, distinct, no blanks).
struct Keys {
    customers: Vec<String>,
    items: Vec<String>,
    locations: Vec<String>,
    invoices: Vec<String>,
}

impl Keys {
    fn of(docs: &[&pb::SalesDocument]) -> Keys {
        let mut k = Keys {
            customers: Vec::new(),
            items: Vec::new(),
            locations: Vec::new(),
            invoices: Vec::new(),
        };
        for d in docs {
            k.customers.push(d.sell_to_customer_no.clone());
            k.customers.push(d.bill_to_customer_no.clone());
            k.invoices.push(d.applies_to_doc_no.clone());
            for l in &d.lines {
                k.items.push(l.item_no.clone());
                k.locations.push(l.location_code.clone());
            }
        }
        for v in [&mut k.customers, &mut k.items, &mut k.locations, &mut k.invoices] {
            v.retain(|x| !x.is_empty());
            v.sort();
            v.dedup();
        }
        k
    }
}

/// Master data for building sales documents, cached in the process. Entries are valid for one
/// master epoch; a document built from them is written only if the epoch is unchanged (checked
/// in the same statement), otherwise the cache is dropped and the document is built again from
/// a fresh read. Only what exists is cached: an unknown key always goes to the database.
/// Entries are shared (`Arc`), so a cached create copies no master data.
#[derive(Default)]
pub struct RefCache(std::sync::Mutex<Cached>);

#[derive(Default)]
struct Cached {
    epoch: i64,
    customers: HashMap<String, Arc<CustomerForSale>>,
    items: HashMap<String, Arc<ItemForSale>>,
    locations: std::collections::HashSet<String>,
    invoices: std::collections::HashSet<String>,
}

/// Entries kept before the cache starts over (items, customers and locations together).
const CACHE_MAX: usize = 100_000;

impl RefCache {
    fn state(&self) -> std::sync::MutexGuard<'_, Cached> {
        // Plain data: a panic elsewhere cannot leave it half-updated in a harmful way.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything `keys` names, if all of it is cached.
    fn lookup(&self, keys: &Keys) -> Option<Refs> {
        let c = self.state();
        if c.epoch == 0 {
            return None;
        }
        let mut refs = Refs {
            customers: HashMap::with_capacity(keys.customers.len()),
            items: HashMap::with_capacity(keys.items.len()),
            locations: std::collections::HashSet::with_capacity(keys.locations.len()),
            invoices: std::collections::HashSet::with_capacity(keys.invoices.len()),
            epoch: c.epoch,
        };
        for k in &keys.customers {
            refs.customers.insert(k.clone(), c.customers.get(k)?.clone());
        }
        for k in &keys.items {
            refs.items.insert(k.clone(), c.items.get(k)?.clone());
        }
        for k in &keys.locations {
            if !c.locations.contains(k) {
                return None;
            }
            refs.locations.insert(k.clone());
        }
        for k in &keys.invoices {
            if !c.invoices.contains(k) {
                return None;
            }
            refs.invoices.insert(k.clone());
        }
        Some(refs)
    }

    fn store(&self, refs: &Refs) {
        let mut c = self.state();
        let size = c.customers.len() + c.items.len() + c.locations.len() + c.invoices.len();
        if refs.epoch != c.epoch || size > CACHE_MAX {
            *c = Cached { epoch: refs.epoch, ..Cached::default() };
        }
        c.customers.extend(refs.customers.iter().map(|(k, v)| (k.clone(), v.clone())));
        c.items.extend(refs.items.iter().map(|(k, v)| (k.clone(), v.clone())));
        c.locations.extend(refs.locations.iter().cloned());
        c.invoices.extend(refs.invoices.iter().cloned());
    }

    fn clear(&self) {
        *self.state() = Cached::default();
    }
}

/// Read what `keys` names, with the current master epoch, in one round trip.
async fn load_refs(pool: &PgPool, keys: &Keys) -> Result<Refs> {
    type Row = (
        sqlx::types::Json<Vec<CustomerForSale>>,
        sqlx::types::Json<Vec<ItemForSale>>,
        Vec<String>,
        Vec<String>,
        i64,
    );
    let (c, i, l, inv, epoch): Row = sqlx::query_as(
        "SELECT \
           (SELECT COALESCE(jsonb_agg(jsonb_build_array(no, blocked, currency, price_group, \
              ship_to)), '[]') FROM posting.customers WHERE no = ANY($1)), \
           (SELECT COALESCE(jsonb_agg(jsonb_build_object('no', i.no, 'description', \
              i.description, 'blocked', i.blocked, 'currency', i.currency, 'unit_price_minor', \
              i.unit_price_minor, 'base_uom', i.base_uom, 'uoms', i.uoms, 'variants', \
              i.variants, 'prices', COALESCE((SELECT jsonb_agg(jsonb_build_array( \
                p.variant_code, p.price_group, p.currency, p.minimum_quantity, \
                p.unit_price_minor)) FROM posting.sales_prices p WHERE p.item_no = i.no), \
              '[]'))), '[]') FROM posting.items i WHERE i.no = ANY($2)), \
           ARRAY(SELECT code FROM posting.locations WHERE code = ANY($3)), \
           ARRAY(SELECT no FROM posting.posted_invoices WHERE no = ANY($4)), \
           (SELECT n FROM posting.master_epoch)",
    )
    .bind(&keys.customers)
    .bind(&keys.items)
    .bind(&keys.locations)
    .bind(&keys.invoices)
    .fetch_one(pool)
    .await?;
    Ok(Refs {
        customers: c.0.into_iter().map(|c| (c.0.clone(), Arc::new(c))).collect(),
        items: i.0.into_iter().map(|i| (i.no.clone(), Arc::new(i))).collect(),
        locations: l.into_iter().collect(),
        invoices: inv.into_iter().collect(),
        epoch,
    })
}

/// A validated document, ready to insert.
struct Built {
    doc: pb::SalesDocument,
    status: &'static str,
    dtype: &'static str,
    ship_to: serde_json::Value,
    order_date: chrono::NaiveDate,
    posting_date: chrono::NaiveDate,
    /// Per line: base units per unit of measure.
    qty_per_uom: Vec<i32>,
}

fn build(r: &pb::CreateSalesDocumentRequest, refs: &Refs, f0: &str) -> Result<Built> {
    let d = r
        .document
        .as_ref()
        .ok_or_else(|| ErpError::invalid(format!("{f0}document"), "required"))?;
    let fd = format!("{f0}document");
    let dtype = doc_type_str(d.r#type, &format!("{fd}.type"))?;
    if !d.no.is_empty() {
        check_code(&d.no, &format!("{fd}.no"), 50)?;
    }
    check_len(&d.shop, &format!("{fd}.shop"), 255)?;
    if d.shopify_order_id < 0 {
        return Err(ErpError::invalid(format!("{fd}.shopify_order_id"), "must be positive"));
    }
    if d.shopify_order_id > 0 && d.shop.is_empty() {
        return Err(ErpError::invalid(format!("{fd}.shop"), "required with a Shopify order id"));
    }
    check_len(&d.shopify_order_no, &format!("{fd}.shopify_order_no"), 50)?;
    let is_cm = dtype == "credit_memo";
    if d.shopify_refund_id < 0 {
        return Err(ErpError::invalid(format!("{fd}.shopify_refund_id"), "must be positive"));
    }
    if !is_cm && d.shopify_refund_id != 0 {
        return Err(ErpError::invalid(
            format!("{fd}.shopify_refund_id"),
            "only credit memos carry a Shopify refund id",
        ));
    }
    if !is_cm && !d.applies_to_doc_no.is_empty() {
        return Err(ErpError::invalid(
            format!("{fd}.applies_to_doc_no"),
            "only credit memos apply to an invoice",
        ));
    }
    if is_cm && d.shopify_order_id > 0 && d.shopify_refund_id == 0 {
        return Err(ErpError::invalid(
            format!("{fd}.shopify_refund_id"),
            "required for a credit memo of a Shopify order (one credit memo per refund)",
        ));
    }
    if d.shopify_refund_id > 0 && d.shopify_order_id == 0 {
        return Err(ErpError::invalid(
            format!("{fd}.shopify_order_id"),
            "required with a Shopify refund id",
        ));
    }
    if !d.applies_to_doc_no.is_empty() {
        check_code(&d.applies_to_doc_no, &format!("{fd}.applies_to_doc_no"), 50)?;
        if !refs.invoices.contains(&d.applies_to_doc_no) {
            return Err(ErpError::invalid(
                format!("{fd}.applies_to_doc_no"),
                format!("posted invoice {} does not exist", quoted(&d.applies_to_doc_no)),
            ));
        }
    }
    let tracking = match &d.tracking {
        Some(t) => {
            check_tracking(t, &format!("{fd}.tracking"))?;
            tracking_pb(t.company.clone(), t.number.clone(), t.url.clone())
        }
        None => None,
    };
    if tracking.is_some() && dtype != "order" {
        return Err(ErpError::invalid(format!("{fd}.tracking"), "only sales orders are shipped"));
    }
    check_len(&d.external_document_no, &format!("{fd}.external_document_no"), 50)?;
    check_code(&d.sell_to_customer_no, &format!("{fd}.sell_to_customer_no"), 50)?;
    if d.lines.is_empty() {
        return Err(ErpError::invalid(format!("{fd}.lines"), "at least one line is required"));
    }
    if d.lines.len() > 1000 {
        return Err(ErpError::invalid(format!("{fd}.lines"), "at most 1000 lines"));
    }
    let order_date = parse_date(&d.order_date, &format!("{fd}.order_date"))?.unwrap_or_else(today);
    let posting_date =
        parse_date(&d.posting_date, &format!("{fd}.posting_date"))?.unwrap_or(order_date);
    let bill_to = if d.bill_to_customer_no.is_empty() {
        d.sell_to_customer_no.clone()
    } else {
        d.bill_to_customer_no.clone()
    };
    let doc_currency = if d.currency.is_empty() {
        String::new()
    } else {
        check_currency(&d.currency, &format!("{fd}.currency"))?
    };
    let sell = refs.customers.get(&d.sell_to_customer_no).ok_or_else(|| {
        ErpError::invalid(
            format!("{fd}.sell_to_customer_no"),
            format!("customer {} does not exist", quoted(&d.sell_to_customer_no)),
        )
    })?;
    let bill = refs.customers.get(&bill_to).ok_or_else(|| {
        ErpError::invalid(
            format!("{fd}.bill_to_customer_no"),
            format!("customer {} does not exist", quoted(&bill_to)),
        )
    })?;
    for c in [sell, bill] {
        if c.1 {
            return Err(ErpError::Precondition(format!("customer {} is blocked", c.0)));
        }
    }
    let currency = if doc_currency.is_empty() { bill.2.clone() } else { doc_currency };
    let price_group = bill.3.clone();
    let ship_to = match &d.ship_to {
        Some(a) => address_to_json(Some(a), &format!("{fd}.ship_to"))?,
        None => sell.4.clone(),
    };

    let mut lines = Vec::with_capacity(d.lines.len());
    let mut qty_per_uom = Vec::with_capacity(d.lines.len());
    let mut total: i64 = 0;
    for (i, l) in d.lines.iter().enumerate() {
        let f = format!("{fd}.lines[{i}]");
        let item = refs.items.get(&l.item_no).ok_or_else(|| {
            ErpError::invalid(
                format!("{f}.item_no"),
                format!("item {} does not exist", quoted(&l.item_no)),
            )
        })?;
        if item.blocked {
            return Err(ErpError::Precondition(format!("{f}: item {} is blocked", item.no)));
        }
        if !l.variant_code.is_empty() && !item.variants.iter().any(|v| v.code == l.variant_code) {
            return Err(ErpError::invalid(
                format!("{f}.variant_code"),
                format!("item {} has no variant {}", item.no, quoted(&l.variant_code)),
            ));
        }
        if l.location_code.is_empty() {
            return Err(ErpError::invalid(format!("{f}.location_code"), "required"));
        }
        if !refs.locations.contains(&l.location_code) {
            return Err(ErpError::invalid(
                format!("{f}.location_code"),
                format!("location {} does not exist", quoted(&l.location_code)),
            ));
        }
        if l.quantity <= 0 {
            return Err(ErpError::invalid(format!("{f}.quantity"), "must be positive"));
        }
        if l.line_discount_minor < 0 {
            return Err(ErpError::invalid(
                format!("{f}.line_discount_minor"),
                "must not be negative",
            ));
        }
        if l.shopify_order_line_id < 0 {
            return Err(ErpError::invalid(
                format!("{f}.shopify_order_line_id"),
                "must be positive",
            ));
        }
        if l.return_to_stock && !is_cm {
            return Err(ErpError::invalid(
                format!("{f}.return_to_stock"),
                "only credit memo lines return stock",
            ));
        }
        let u = if l.unit_of_measure.is_empty() {
            item.base_uom.as_str()
        } else {
            l.unit_of_measure.as_str()
        };
        let q_per = match item.uoms.iter().find(|x| x.code == u) {
            Some(x) => i64::from(x.qty_per_unit),
            None if u == item.base_uom => 1,
            None => {
                return Err(ErpError::invalid(
                    format!("{f}.unit_of_measure"),
                    format!("item {} has no unit {u:?}", item.no),
                ));
            }
        };
        let qty_base = l
            .quantity
            .checked_mul(q_per)
            .ok_or_else(|| ErpError::invalid(format!("{f}.quantity"), "too large"))?;
        let unit_price = match l.unit_price_minor {
            Some(p) if p < 0 => {
                return Err(ErpError::invalid(
                    format!("{f}.unit_price_minor"),
                    "must not be negative",
                ));
            }
            Some(p) => p,
            None => best_price(item, &l.variant_code, &price_group, qty_base, q_per, &currency)
                .ok_or_else(|| {
                    ErpError::invalid(
                        format!("{f}.unit_price_minor"),
                        format!("no sales price for item {} in {currency}; give one", item.no),
                    )
                })?,
        };
        let amt = line_amount(l.quantity, unit_price, l.line_discount_minor, &f)?;
        total = total
            .checked_add(amt)
            .ok_or_else(|| ErpError::invalid(format!("{fd}.lines"), "amount overflows"))?;
        let description =
            if l.description.is_empty() { item.description.clone() } else { l.description.clone() };
        check_len(&description, &format!("{f}.description"), 250)?;
        qty_per_uom.push(
            i32::try_from(q_per)
                .map_err(|_| ErpError::invalid(format!("{f}.unit_of_measure"), "too large"))?,
        );
        lines.push(pb::SalesLine {
            line_no: (i as u32 + 1) * 10000,
            item_no: item.no.clone(),
            variant_code: l.variant_code.clone(),
            location_code: l.location_code.clone(),
            description,
            quantity: l.quantity,
            unit_of_measure: u.to_owned(),
            unit_price_minor: Some(unit_price),
            line_discount_minor: l.line_discount_minor,
            amount_minor: amt,
            quantity_shipped: 0,
            quantity_invoiced: 0,
            shopify_order_line_id: l.shopify_order_line_id,
            shopify_order_no: if l.shopify_order_no.is_empty() {
                d.shopify_order_no.clone()
            } else {
                l.shopify_order_no.clone()
            },
            return_to_stock: l.return_to_stock,
        });
    }
    // Blank: numbered from the document type's series when it is written.
    let no = d.no.clone();
    let status = if r.release { "released" } else { "open" };
    Ok(Built {
        doc: pb::SalesDocument {
            r#type: doc_type_pb(dtype) as i32,
            no,
            shop: d.shop.clone(),
            shopify_order_id: d.shopify_order_id,
            shopify_order_no: d.shopify_order_no.clone(),
            external_document_no: d.external_document_no.clone(),
            sell_to_customer_no: d.sell_to_customer_no.clone(),
            bill_to_customer_no: bill_to,
            ship_to: address_from_json(&ship_to),
            currency,
            status: status_pb(status) as i32,
            order_date: fmt_date(order_date),
            posting_date: fmt_date(posting_date),
            lines,
            amount_minor: total,
            version: 1,
            created_at: None,
            shopify_refund_id: d.shopify_refund_id,
            applies_to_doc_no: d.applies_to_doc_no.clone(),
            tracking,
        },
        status,
        dtype,
        ship_to,
        order_date,
        posting_date,
        qty_per_uom,
    })
}

/// Create one document (see [`create_many`]).
pub async fn create(
    pool: &PgPool,
    cache: &RefCache,
    r: &pb::CreateSalesDocumentRequest,
) -> Result<(pb::SalesDocument, bool)> {
    create_many(pool, cache, std::slice::from_ref(r), "").await?.remove(0)
}

/// One document of a batch: created (or the existing one of its Shopify order, `false`), or
/// why not.
pub type DocResult = Result<(pb::SalesDocument, bool)>;

/// Field prefix of the i-th request of a call (`documents[3].`, or nothing for one document).
fn at(prefix: &str, i: usize) -> String {
    if prefix.is_empty() { String::new() } else { format!("{prefix}[{i}].") }
}

/// Build every document of a call from `refs`, each on its own: a bad one gets its error.
fn build_all(
    reqs: &[pb::CreateSalesDocumentRequest],
    refs: &Refs,
    prefix: &str,
) -> Vec<Result<Built>> {
    // The same Shopify order (or refund) twice in one call: the first one counts.
    let mut seen = std::collections::HashSet::new();
    reqs.iter()
        .enumerate()
        .map(|(i, r)| {
            let f = at(prefix, i);
            r.check_text_at(&f)?;
            let b = build(r, refs, &f)?;
            let d = &b.doc;
            if d.shopify_refund_id > 0 {
                if !seen.insert((d.shop.clone(), true, d.shopify_refund_id)) {
                    return Err(ErpError::invalid(
                        format!("{f}document.shopify_refund_id"),
                        "the same Shopify refund is in this call twice",
                    ));
                }
            } else if d.shopify_order_id > 0
                && b.dtype != "credit_memo"
                && !seen.insert((d.shop.clone(), false, d.shopify_order_id))
            {
                return Err(ErpError::invalid(
                    format!("{f}document.shopify_order_id"),
                    "the same Shopify order is in this call twice",
                ));
            }
            Ok(b)
        })
        .collect()
}

/// Create documents, one result per request in order. Each is validated against the master
/// data it refers to; the valid ones are numbered and inserted, headers and lines, in one
/// statement, and a bad one is reported without holding up the others. The master data comes
/// from the process cache when it has all of it, and the statement then writes only if the
/// master epoch is unchanged; otherwise (or when a cached build refused a document, to never
/// refuse on stale data) it is read in one round trip. A document of a Shopify order that
/// already has one is not created again: its existing document comes back with `created`
/// false, also when callers race. Only a database failure fails the call.
pub async fn create_many(
    pool: &PgPool,
    cache: &RefCache,
    reqs: &[pb::CreateSalesDocumentRequest],
    prefix: &str,
) -> Result<Vec<DocResult>> {
    // Strings that fail their checks never reach the database (a NUL byte is an error there).
    let docs: Vec<&pb::SalesDocument> = reqs
        .iter()
        .filter(|r| r.check_text().is_ok())
        .filter_map(|r| r.document.as_ref())
        .collect();
    let keys = Keys::of(&docs);
    let mut cached = cache.lookup(&keys);
    loop {
        let (built, guard) = match cached.take() {
            Some(refs) => {
                let built = build_all(reqs, &refs, prefix);
                if built.iter().any(Result::is_err) {
                    // Confirm the refusals against the database.
                    continue;
                }
                (built, Some(refs.epoch))
            }
            None => {
                let refs = load_refs(pool, &keys).await?;
                cache.store(&refs);
                (build_all(reqs, &refs, prefix), None)
            }
        };
        let written = match insert(pool, &built, guard).await {
            Ok(Some(rows)) => finish(pool, built, rows).await?,
            // The master data changed since it was cached: build again from a fresh read.
            Ok(None) => {
                cache.clear();
                continue;
            }
            // A number given in the call is taken: find out which, one document at a time,
            // from fresh master data (so that no write of it can be refused and repeated).
            Err(ErpError::AlreadyExists(_)) if built.iter().filter(|b| b.is_ok()).count() > 1 => {
                if guard.is_some() {
                    cache.clear();
                    continue;
                }
                insert_each(pool, built).await?
            }
            Err(e) => return Err(e),
        };
        return Ok(written);
    }
}

/// [`insert`] each valid document on its own, so a taken number fails only its own document.
async fn insert_each(pool: &PgPool, built: Vec<Result<Built>>) -> Result<Vec<DocResult>> {
    let mut out = Vec::with_capacity(built.len());
    for b in built {
        let one = vec![b];
        match insert(pool, &one, None).await {
            Ok(Some(rows)) => out.extend(finish(pool, one, rows).await?),
            Ok(None) => unreachable_epoch(&mut out),
            Err(e @ ErpError::AlreadyExists(_)) => out.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// An unguarded insert always writes; should it not, the document gets an error rather than
/// a wrong answer.
fn unreachable_epoch(out: &mut Vec<DocResult>) {
    out.push(Err(ErpError::Precondition("the document was not written; retry".to_owned())));
}

/// (batch position from 1, number, created at: None when the Shopify order had a document).
type InsertedRow = (i64, String, Option<chrono::DateTime<chrono::Utc>>);

/// Number and insert the valid built documents in one statement. With `guard`, nothing is written
/// (and None returned) unless the master epoch still has that value.
async fn insert(
    pool: &PgPool,
    built: &[Result<Built>],
    guard: Option<i64>,
) -> Result<Option<Vec<InsertedRow>>> {
    if !built.iter().any(Result::is_ok) {
        return Ok(Some(Vec::new()));
    }
    let mut h = HeaderCols::default();
    let mut l = LineCols::default();
    // Positions count the valid documents only, as in `finish`.
    for (ord, b) in (1i64..).zip(built.iter().filter_map(|b| b.as_ref().ok())) {
        let d = &b.doc;
        h.dtype.push(b.dtype.to_owned());
        h.no.push(d.no.clone());
        h.shop.push(d.shop.clone());
        // A credit memo's Shopify order goes to `refund_order_id` (see the migration
        // `posting_credit_memos`): `shopify_order_id` is the one order or invoice per order.
        let sid = (d.shopify_order_id > 0).then_some(d.shopify_order_id);
        let cm = b.dtype == "credit_memo";
        h.sid.push(if cm { None } else { sid });
        h.roid.push(if cm { sid } else { None });
        h.rid.push((d.shopify_refund_id > 0).then_some(d.shopify_refund_id));
        h.applies.push(d.applies_to_doc_no.clone());
        let (tc, tn, tu) = tracking_cols(d.tracking.as_ref());
        h.tc.push(tc);
        h.tn.push(tn);
        h.tu.push(tu);
        h.sno.push(d.shopify_order_no.clone());
        h.ext.push(d.external_document_no.clone());
        h.sell.push(d.sell_to_customer_no.clone());
        h.bill.push(d.bill_to_customer_no.clone());
        h.ship_to.push(b.ship_to.clone());
        h.currency.push(d.currency.clone());
        h.status.push(b.status.to_owned());
        h.order_date.push(b.order_date);
        h.posting_date.push(b.posting_date);
        h.amount.push(d.amount_minor);
        for (x, per_uom) in d.lines.iter().zip(&b.qty_per_uom) {
            l.hord.push(ord);
            l.line_no.push(x.line_no as i32);
            l.item.push(x.item_no.clone());
            l.variant.push(x.variant_code.clone());
            l.location.push(x.location_code.clone());
            l.descr.push(x.description.clone());
            l.qty.push(x.quantity);
            l.uom.push(x.unit_of_measure.clone());
            l.per_uom.push(*per_uom);
            l.price.push(x.unit_price_minor.unwrap_or(0));
            l.disc.push(x.line_discount_minor);
            l.amount.push(x.amount_minor);
            l.sol_id.push((x.shopify_order_line_id > 0).then_some(x.shopify_order_line_id));
            l.sol_no.push(x.shopify_order_no.clone());
            l.ret.push(x.return_to_stock);
        }
    }
    // Headers and lines in one statement: atomic without a transaction round trip. Blank
    // numbers are drawn here, in batch order. A racing create of the same Shopify order (of
    // the same refund, for credit memos) waits on the unique index and then does nothing:
    // orders and invoices and credit memos go through two inserts, one per arbiter.
    type Row = (bool, Option<i64>, Option<String>, Option<chrono::DateTime<chrono::Utc>>);
    let rows: std::result::Result<Vec<Row>, sqlx::Error> = sqlx::query_as(
        "WITH g AS (SELECT $29::bigint IS NULL \
                      OR $29 = (SELECT n FROM posting.master_epoch) AS ok), \
         x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], \
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[], $10::text[], \
                 $11::text[], $12::date[], $13::date[], $14::bigint[], $30::bigint[], \
                 $31::bigint[], $32::text[], $33::text[], $34::text[], $35::text[]) \
                 WITH ORDINALITY \
                 AS x(dtype, no, shop, sid, sno, ext, sell, bill, ship_to, currency, status, \
                      od, pd, amount, rid, roid, applies, tc, tn, tu, ord) \
               WHERE (SELECT ok FROM g)), \
         n AS MATERIALIZED ( \
           SELECT ord, CASE WHEN no <> '' THEN no \
                            WHEN dtype = 'invoice' \
                              THEN posting.next_no('SI', 'posting.sales_invoice_nos') \
                            WHEN dtype = 'credit_memo' \
                              THEN posting.next_no('SCR', 'posting.sales_credit_memo_nos') \
                            ELSE posting.next_no('SO', 'posting.sales_order_nos') END AS no \
           FROM x ORDER BY ord), \
         ho AS ( \
           INSERT INTO posting.sales_headers (document_type, no, shop, shopify_order_id, \
             shopify_order_no, external_document_no, sell_to_customer_no, \
             bill_to_customer_no, ship_to, currency, status, order_date, posting_date, \
             amount_minor, tracking_company, tracking_number, tracking_url) \
           SELECT x.dtype, n.no, x.shop, x.sid, x.sno, x.ext, x.sell, x.bill, x.ship_to, \
             x.currency, x.status, x.od, x.pd, x.amount, x.tc, x.tn, x.tu \
           FROM x JOIN n USING (ord) WHERE x.dtype <> 'credit_memo' \
           ON CONFLICT ON CONSTRAINT sales_headers_shopify_order DO NOTHING \
           RETURNING id, no, created_at), \
         hc AS ( \
           INSERT INTO posting.sales_headers (document_type, no, shop, refund_order_id, \
             shopify_order_no, external_document_no, sell_to_customer_no, \
             bill_to_customer_no, ship_to, currency, status, order_date, posting_date, \
             amount_minor, shopify_refund_id, applies_to_doc_no) \
           SELECT x.dtype, n.no, x.shop, x.roid, x.sno, x.ext, x.sell, x.bill, x.ship_to, \
             x.currency, x.status, x.od, x.pd, x.amount, x.rid, x.applies \
           FROM x JOIN n USING (ord) WHERE x.dtype = 'credit_memo' \
           ON CONFLICT ON CONSTRAINT sales_headers_shopify_refund DO NOTHING \
           RETURNING id, no, created_at), \
         h AS (SELECT * FROM ho UNION ALL SELECT * FROM hc), \
         l AS ( \
           INSERT INTO posting.sales_lines (header_id, line_no, item_no, variant_code, \
             location_code, description, quantity, uom, qty_per_uom, unit_price_minor, \
             line_discount_minor, amount_minor, shopify_order_line_id, shopify_order_no, \
             return_to_stock) \
           SELECT h.id, y.line_no, y.item, y.variant, y.loc, y.descr, y.qty, y.uom, \
             y.per_uom, y.price, y.disc, y.amount, y.sol_id, y.sol_no, y.ret \
           FROM unnest($15::bigint[], $16::int[], $17::text[], $18::text[], $19::text[], \
             $20::text[], $21::bigint[], $22::text[], $23::int[], $24::bigint[], \
             $25::bigint[], $26::bigint[], $27::bigint[], $28::text[], $36::bool[]) \
             AS y(hord, line_no, item, variant, loc, descr, qty, uom, per_uom, price, disc, \
                  amount, sol_id, sol_no, ret) \
           JOIN n ON n.ord = y.hord JOIN h ON h.no = n.no) \
         SELECT g.ok, n.ord, n.no, h.created_at \
         FROM g LEFT JOIN n ON true LEFT JOIN h ON h.no = n.no",
    )
    .bind(&h.dtype)
    .bind(&h.no)
    .bind(&h.shop)
    .bind(&h.sid)
    .bind(&h.sno)
    .bind(&h.ext)
    .bind(&h.sell)
    .bind(&h.bill)
    .bind(&h.ship_to)
    .bind(&h.currency)
    .bind(&h.status)
    .bind(&h.order_date)
    .bind(&h.posting_date)
    .bind(&h.amount)
    .bind(&l.hord)
    .bind(&l.line_no)
    .bind(&l.item)
    .bind(&l.variant)
    .bind(&l.location)
    .bind(&l.descr)
    .bind(&l.qty)
    .bind(&l.uom)
    .bind(&l.per_uom)
    .bind(&l.price)
    .bind(&l.disc)
    .bind(&l.amount)
    .bind(&l.sol_id)
    .bind(&l.sol_no)
    .bind(guard)
    .bind(&h.rid)
    .bind(&h.roid)
    .bind(&h.applies)
    .bind(&h.tc)
    .bind(&h.tn)
    .bind(&h.tu)
    .bind(&l.ret)
    .fetch_all(pool)
    .await;
    let rows = match rows {
        Err(e) if is_unique_violation(&e, "sales_headers_no_key") => {
            let mut valid = built.iter().filter_map(|b| b.as_ref().ok());
            let msg = match (valid.next(), valid.next()) {
                (Some(one), None) => {
                    format!("sales document {} already exists", quoted(&one.doc.no))
                }
                _ => "a sales document with one of these numbers already exists".to_owned(),
            };
            return Err(ErpError::AlreadyExists(msg));
        }
        r => r?,
    };
    if rows.first().is_some_and(|r| !r.0) {
        return Ok(None);
    }
    Ok(Some(rows.into_iter().filter_map(|(_, ord, no, at)| Some((ord?, no?, at))).collect()))
}

/// The documents as created, or the existing document of a Shopify order that had one.
async fn finish(
    pool: &PgPool,
    built: Vec<Result<Built>>,
    rows: Vec<InsertedRow>,
) -> Result<Vec<DocResult>> {
    let rows: HashMap<i64, (String, Option<chrono::DateTime<chrono::Utc>>)> =
        rows.into_iter().map(|(ord, no, at)| (ord, (no, at))).collect();
    let mut out = Vec::with_capacity(built.len());
    let mut ord = 0i64;
    for b in built {
        let b = match b {
            Ok(b) => b,
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        };
        ord += 1;
        match rows.get(&ord) {
            Some((no, Some(at))) => {
                let mut d = b.doc;
                d.no = no.clone();
                d.created_at = Some(timestamp(*at));
                out.push(Ok((d, true)));
            }
            _ => {
                // The Shopify order (refund, for a credit memo) already has its document.
                let existing: String = if b.dtype == "credit_memo" {
                    sqlx::query_scalar(
                        "SELECT no FROM posting.sales_headers \
                         WHERE shop = $1 AND shopify_refund_id = $2",
                    )
                    .bind(&b.doc.shop)
                    .bind(b.doc.shopify_refund_id)
                    .fetch_one(pool)
                    .await?
                } else {
                    sqlx::query_scalar(
                        "SELECT no FROM posting.sales_headers \
                         WHERE shop = $1 AND shopify_order_id = $2",
                    )
                    .bind(&b.doc.shop)
                    .bind(b.doc.shopify_order_id)
                    .fetch_one(pool)
                    .await?
                };
                out.push(Ok((get(pool, &existing).await?, false)));
            }
        }
    }
    Ok(out)
}

#[derive(Default)]
struct HeaderCols {
    dtype: Vec<String>,
    no: Vec<String>,
    shop: Vec<String>,
    sid: Vec<Option<i64>>,
    sno: Vec<String>,
    ext: Vec<String>,
    sell: Vec<String>,
    bill: Vec<String>,
    ship_to: Vec<serde_json::Value>,
    currency: Vec<String>,
    status: Vec<String>,
    order_date: Vec<chrono::NaiveDate>,
    posting_date: Vec<chrono::NaiveDate>,
    amount: Vec<i64>,
    rid: Vec<Option<i64>>,
    roid: Vec<Option<i64>>,
    applies: Vec<String>,
    tc: Vec<String>,
    tn: Vec<String>,
    tu: Vec<String>,
}

#[derive(Default)]
struct LineCols {
    hord: Vec<i64>,
    line_no: Vec<i32>,
    item: Vec<String>,
    variant: Vec<String>,
    location: Vec<String>,
    descr: Vec<String>,
    qty: Vec<i64>,
    uom: Vec<String>,
    per_uom: Vec<i32>,
    price: Vec<i64>,
    disc: Vec<i64>,
    amount: Vec<i64>,
    sol_id: Vec<Option<i64>>,
    sol_no: Vec<String>,
    ret: Vec<bool>,
}

#[derive(sqlx::FromRow, Clone)]
pub struct HeaderRow {
    pub id: i64,
    pub document_type: String,
    pub no: String,
    pub shop: String,
    pub shopify_order_id: Option<i64>,
    pub shopify_order_no: String,
    pub external_document_no: String,
    pub sell_to_customer_no: String,
    pub bill_to_customer_no: String,
    pub ship_to: serde_json::Value,
    pub currency: String,
    pub status: String,
    pub order_date: chrono::NaiveDate,
    pub posting_date: chrono::NaiveDate,
    pub amount_minor: i64,
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub shopify_refund_id: Option<i64>,
    /// A credit memo's Shopify order (its `shopify_order_id` is NULL).
    pub refund_order_id: Option<i64>,
    pub applies_to_doc_no: String,
    pub tracking_company: String,
    pub tracking_number: String,
    pub tracking_url: String,
    /// Only read when posting.
    #[sqlx(default)]
    pub customer_blocked: bool,
}

impl HeaderRow {
    /// The Shopify order the document was made for, whatever its type.
    pub fn shopify_order(&self) -> Option<i64> {
        self.shopify_order_id.or(self.refund_order_id)
    }
}

pub const HEADER_COLS: &str = "id, document_type, no, shop, shopify_order_id, shopify_order_no, \
    external_document_no, sell_to_customer_no, bill_to_customer_no, ship_to, currency, status, \
    order_date, posting_date, amount_minor, version, created_at, shopify_refund_id, \
    refund_order_id, applies_to_doc_no, tracking_company, tracking_number, tracking_url";

#[derive(sqlx::FromRow)]
struct LineRow {
    header_id: i64,
    line_no: i32,
    item_no: String,
    variant_code: String,
    location_code: String,
    description: String,
    quantity: i64,
    uom: String,
    unit_price_minor: i64,
    line_discount_minor: i64,
    amount_minor: i64,
    quantity_shipped: i64,
    quantity_invoiced: i64,
    shopify_order_line_id: Option<i64>,
    shopify_order_no: String,
    return_to_stock: bool,
}

impl From<LineRow> for pb::SalesLine {
    fn from(l: LineRow) -> Self {
        pb::SalesLine {
            line_no: l.line_no as u32,
            item_no: l.item_no,
            variant_code: l.variant_code,
            location_code: l.location_code,
            description: l.description,
            quantity: l.quantity,
            unit_of_measure: l.uom,
            unit_price_minor: Some(l.unit_price_minor),
            line_discount_minor: l.line_discount_minor,
            amount_minor: l.amount_minor,
            quantity_shipped: l.quantity_shipped,
            quantity_invoiced: l.quantity_invoiced,
            shopify_order_line_id: l.shopify_order_line_id.unwrap_or(0),
            shopify_order_no: l.shopify_order_no,
            return_to_stock: l.return_to_stock,
        }
    }
}

fn header_pb(h: HeaderRow, lines: Vec<pb::SalesLine>) -> pb::SalesDocument {
    pb::SalesDocument {
        r#type: doc_type_pb(&h.document_type) as i32,
        shopify_order_id: h.shopify_order().unwrap_or(0),
        shopify_refund_id: h.shopify_refund_id.unwrap_or(0),
        applies_to_doc_no: h.applies_to_doc_no,
        tracking: tracking_pb(h.tracking_company, h.tracking_number, h.tracking_url),
        no: h.no,
        shop: h.shop,
        shopify_order_no: h.shopify_order_no,
        external_document_no: h.external_document_no,
        sell_to_customer_no: h.sell_to_customer_no,
        bill_to_customer_no: h.bill_to_customer_no,
        ship_to: address_from_json(&h.ship_to),
        currency: h.currency,
        status: status_pb(&h.status) as i32,
        order_date: fmt_date(h.order_date),
        posting_date: fmt_date(h.posting_date),
        lines,
        amount_minor: h.amount_minor,
        version: h.version,
        created_at: Some(timestamp(h.created_at)),
    }
}

async fn with_lines(pool: &PgPool, headers: Vec<HeaderRow>) -> Result<Vec<pb::SalesDocument>> {
    let ids: Vec<i64> = headers.iter().map(|h| h.id).collect();
    let lines: Vec<LineRow> = sqlx::query_as(
        "SELECT header_id, line_no, item_no, variant_code, location_code, description, quantity, \
         uom, unit_price_minor, line_discount_minor, amount_minor, quantity_shipped, \
         quantity_invoiced, shopify_order_line_id, shopify_order_no, return_to_stock \
         FROM posting.sales_lines WHERE header_id = ANY($1) ORDER BY header_id, line_no",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut by: HashMap<i64, Vec<pb::SalesLine>> = HashMap::new();
    for l in lines {
        by.entry(l.header_id).or_default().push(l.into());
    }
    Ok(headers
        .into_iter()
        .map(|h| {
            let lines = by.remove(&h.id).unwrap_or_default();
            header_pb(h, lines)
        })
        .collect())
}

pub async fn get(pool: &PgPool, no: &str) -> Result<pb::SalesDocument> {
    let h: Option<HeaderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {HEADER_COLS} FROM posting.sales_headers WHERE no = $1"
    )))
    .bind(no)
    .fetch_optional(pool)
    .await?;
    let h =
        h.ok_or_else(|| ErpError::NotFound(format!("sales document {} not found", quoted(no))))?;
    Ok(with_lines(pool, vec![h]).await?.remove(0))
}

pub async fn list(
    pool: &PgPool,
    r: &pb::ListSalesDocumentsRequest,
) -> Result<(Vec<pb::SalesDocument>, String)> {
    let dtype = if r.r#type == 0 { None } else { Some(doc_type_str(r.r#type, "type")?) };
    let status = if r.status == 0 {
        None
    } else {
        Some(status_str(r.status).ok_or_else(|| ErpError::invalid("status", "unknown status"))?)
    };
    let limit = page_size(r.page_size);
    let rows: Vec<HeaderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {HEADER_COLS} FROM posting.sales_headers \
         WHERE no > $1 AND ($2::text IS NULL OR document_type = $2) \
           AND ($3::text IS NULL OR status = $3) AND ($4 = '' OR shop = $4) \
           AND ($5 = '' OR sell_to_customer_no = $5) AND (NOT $6 OR shopify_order_no <> '') \
         ORDER BY no LIMIT $7"
    )))
    .bind(&r.page_token)
    .bind(dtype)
    .bind(status)
    .bind(&r.shop)
    .bind(&r.customer_no)
    .bind(r.shopify_only)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let next = if rows.len() as i64 == limit { rows.last().map(|r| r.no.clone()) } else { None };
    Ok((with_lines(pool, rows).await?, next.unwrap_or_default()))
}

/// Move a document between open and released.
pub async fn set_status(
    pool: &PgPool,
    r: &pb::DocumentRef,
    release: bool,
) -> Result<pb::SalesDocument> {
    check_code(&r.no, "no", 50)?;
    let cur = get(pool, &r.no).await?;
    let (from, to) = if release { ("open", "released") } else { ("released", "open") };
    if r.expected_version != 0 && r.expected_version != cur.version {
        return Err(ErpError::Stale(format!(
            "sales document {} is at version {}, not {}",
            r.no, cur.version, r.expected_version
        )));
    }
    if cur.status == status_pb(to) as i32 {
        return Ok(cur);
    }
    if cur.status == pb::DocumentStatus::Posted as i32 {
        return Err(ErpError::Precondition(format!("sales document {} is fully posted", r.no)));
    }
    let n = sqlx::query(
        "UPDATE posting.sales_headers SET status = $2, version = version + 1, updated_at = now() \
         WHERE no = $1 AND status = $3 AND version = $4",
    )
    .bind(&r.no)
    .bind(to)
    .bind(from)
    .bind(cur.version)
    .execute(pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ErpError::Stale(format!("sales document {} changed meanwhile; retry", r.no)));
    }
    get(pool, &r.no).await
}

/// Set (or clear) how a sales order's next shipment travels. Open and released orders only;
/// a posting running at the same time is waited for (its lock), and then the order may be
/// fully posted: refused.
pub async fn set_tracking(pool: &PgPool, r: &pb::SetTrackingRequest) -> Result<pb::SalesDocument> {
    check_code(&r.no, "no", 50)?;
    if let Some(t) = &r.tracking {
        check_tracking(t, "tracking")?;
    }
    let (company, number, url) = tracking_cols(r.tracking.as_ref());
    let n = sqlx::query(
        "UPDATE posting.sales_headers SET tracking_company = $2, tracking_number = $3, \
           tracking_url = $4, version = version + 1, updated_at = now() \
         WHERE no = $1 AND document_type = 'order' AND status <> 'posted' \
           AND ($5 = 0 OR version = $5)",
    )
    .bind(&r.no)
    .bind(&company)
    .bind(&number)
    .bind(&url)
    .bind(r.expected_version)
    .execute(pool)
    .await?
    .rows_affected();
    let cur = get(pool, &r.no).await?;
    if n == 1 {
        return Ok(cur);
    }
    if cur.r#type != pb::DocumentType::Order as i32 {
        return Err(ErpError::Precondition(format!(
            "sales document {} is not an order; only orders are shipped",
            r.no
        )));
    }
    if cur.status == pb::DocumentStatus::Posted as i32 {
        return Err(ErpError::Precondition(format!(
            "sales document {} is fully posted; its shipments are made",
            r.no
        )));
    }
    Err(ErpError::Stale(format!(
        "sales document {} is at version {}, not {}",
        r.no, cur.version, r.expected_version
    )))
}

pub async fn delete(pool: &PgPool, r: &pb::DocumentRef) -> Result<()> {
    check_code(&r.no, "no", 50)?;
    let cur = get(pool, &r.no).await?;
    if cur.status != pb::DocumentStatus::Open as i32 {
        return Err(ErpError::Precondition(format!(
            "sales document {} is {}; only open documents can be deleted (reopen it first)",
            r.no,
            if cur.status == pb::DocumentStatus::Posted as i32 { "posted" } else { "released" }
        )));
    }
    let n = sqlx::query(
        "DELETE FROM posting.sales_headers h WHERE no = $1 AND status = 'open' \
           AND ($2 = 0 OR version = $2) \
           AND NOT EXISTS (SELECT 1 FROM posting.sales_lines l WHERE l.header_id = h.id \
                           AND (l.quantity_shipped > 0 OR l.quantity_invoiced > 0))",
    )
    .bind(&r.no)
    .bind(r.expected_version)
    .execute(pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ErpError::Precondition(format!(
            "sales document {} has posted lines or changed meanwhile",
            r.no
        )));
    }
    Ok(())
}

type CleRow = (i64, String, chrono::NaiveDate, String, String, String, i64, i64, bool, String);

pub async fn by_shopify_order(
    pool: &PgPool,
    r: &pb::ShopifyOrderRef,
) -> Result<pb::ShopifyOrderDocuments> {
    if r.shop.is_empty() {
        return Err(ErpError::invalid("shop", "required"));
    }
    if r.shopify_order_id <= 0 {
        return Err(ErpError::invalid("shopify_order_id", "must be positive"));
    }
    let headers: Vec<HeaderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {HEADER_COLS} FROM posting.sales_headers WHERE shop = $1 AND shopify_order_id = $2 \
         UNION ALL \
         SELECT {HEADER_COLS} FROM posting.sales_headers WHERE shop = $1 AND refund_order_id = $2 \
         ORDER BY id"
    )))
    .bind(&r.shop)
    .bind(r.shopify_order_id)
    .fetch_all(pool)
    .await?;
    let documents = with_lines(pool, headers).await?;
    let list = pb::ListPostedRequest {
        shop: r.shop.clone(),
        shopify_order_id: r.shopify_order_id,
        page_size: 1000,
        ..Default::default()
    };
    let (shipments, _) = crate::post::list_shipments(pool, &list).await?;
    let (invoices, _) = crate::post::list_invoices(pool, &list).await?;
    let (credit_memos, _) = crate::post::list_credit_memos(pool, &list).await?;
    let cle: Vec<CleRow> = sqlx::query_as(
        "SELECT entry_no, customer_no, posting_date, document_type, document_no, currency, \
             amount_minor, remaining_amount_minor, open, shopify_order_no \
             FROM posting.customer_ledger_entries WHERE shop = $1 AND shopify_order_id = $2 \
             ORDER BY entry_no",
    )
    .bind(&r.shop)
    .bind(r.shopify_order_id)
    .fetch_all(pool)
    .await?;
    let ile: Vec<LedgerRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LEDGER_COLS} FROM posting.item_ledger_entries \
         WHERE shop = $1 AND shopify_order_id = $2 ORDER BY entry_no"
    )))
    .bind(&r.shop)
    .bind(r.shopify_order_id)
    .fetch_all(pool)
    .await?;
    Ok(pb::ShopifyOrderDocuments {
        documents,
        shipments,
        invoices,
        customer_ledger: cle
            .into_iter()
            .map(|c| pb::CustomerLedgerEntry {
                entry_no: c.0,
                customer_no: c.1,
                posting_date: fmt_date(c.2),
                document_type: c.3,
                document_no: c.4,
                currency: c.5,
                amount_minor: c.6,
                remaining_amount_minor: c.7,
                open: c.8,
                shopify_order_no: c.9,
            })
            .collect(),
        item_ledger: ile.into_iter().map(Into::into).collect(),
        credit_memos,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn item(prices: Vec<(&str, &str, &str, i64, i64)>) -> ItemForSale {
        ItemForSale {
            no: "A".into(),
            description: String::new(),
            blocked: false,
            currency: "EUR".into(),
            unit_price_minor: 1000,
            base_uom: "PCS".into(),
            uoms: vec![],
            variants: vec![],
            prices: prices
                .into_iter()
                .map(|(v, g, c, m, p)| (v.into(), g.into(), c.into(), m, p))
                .collect(),
        }
    }

    #[test]
    fn the_lowest_applicable_price_wins() {
        let i = item(vec![
            ("", "VIP", "EUR", 2, 900),
            ("RED", "", "EUR", 0, 950),
            ("", "", "USD", 0, 100),
        ]);
        // List price only: not VIP, no variant, other currency's price ignored.
        assert_eq!(best_price(&i, "", "", 1, 1, "EUR"), Some(1000));
        // VIP from 2 pieces, not below.
        assert_eq!(best_price(&i, "", "VIP", 1, 1, "EUR"), Some(1000));
        assert_eq!(best_price(&i, "", "VIP", 2, 1, "EUR"), Some(900));
        // The variant's own price; per box of 6.
        assert_eq!(best_price(&i, "RED", "", 6, 6, "EUR"), Some(5700));
        // No list price in another currency: only that currency's sales prices.
        assert_eq!(best_price(&i, "", "", 1, 1, "USD"), Some(100));
        assert_eq!(best_price(&i, "", "", 1, 1, "GBP"), None);
    }

    #[test]
    fn line_amounts_refuse_a_discount_above_the_gross() {
        assert_eq!(line_amount(3, 900, 100, "l").ok(), Some(2600));
        let e = line_amount(1, 100, 101, "lines[0]").unwrap_err();
        assert!(e.to_string().starts_with("lines[0].line_discount_minor:"), "{e}");
    }
}
