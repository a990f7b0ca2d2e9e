//! Creating sales documents: a call's documents built against the master data (cached or
//! read), numbered and inserted together, each answered on its own (created, the existing
//! document of its Shopify order, or why not).

use super::build::{Built, build};
use super::get;
use super::refs::{Keys, RefCache, Refs, load_refs};
use crate::error::{ErpError, Result, is_unique_violation};
use crate::repo::documents::{self, HeaderCols, LineCols, NewHeader, NewLine};
use crate::util::{timestamp, tracking_cols};
use chrono::{DateTime, Utc};
use shopsync_common::quoted;
use shopsync_proto::{CheckText, pb};
use sqlx::PgPool;
use sqlx::types::Json;
use std::collections::HashMap;

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
type Inserted = (i64, String, Option<DateTime<Utc>>);

/// Number and insert the valid built documents in one statement (see
/// [`documents::insert`]). With `guard`, nothing is written (and None returned) unless the
/// master epoch still has that value.
async fn insert(
    pool: &PgPool,
    built: &[Result<Built>],
    guard: Option<i64>,
) -> Result<Option<Vec<Inserted>>> {
    if !built.iter().any(Result::is_ok) {
        return Ok(Some(Vec::new()));
    }
    let mut h = HeaderCols::default();
    let mut l = LineCols::default();
    // Positions count the valid documents only, as in `finish`.
    for (ord, b) in (1i64..).zip(built.iter().filter_map(|b| b.as_ref().ok())) {
        h.push(new_header(b));
        for (x, per_uom) in b.doc.lines.iter().zip(&b.qty_per_uom) {
            l.push(NewLine {
                hord: ord,
                line_no: x.line_no as i32,
                item: x.item_no.clone(),
                variant: x.variant_code.clone(),
                loc: x.location_code.clone(),
                descr: x.description.clone(),
                qty: x.quantity,
                uom: x.unit_of_measure.clone(),
                per_uom: *per_uom,
                price: x.unit_price_minor.unwrap_or(0),
                disc: x.line_discount_minor,
                amount: x.amount_minor,
                sol_id: (x.shopify_order_line_id > 0).then_some(x.shopify_order_line_id),
                sol_no: x.shopify_order_no.clone(),
                ret: x.return_to_stock,
            });
        }
    }
    let rows = match documents::insert(pool, h, l, guard).await {
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
    if rows.first().is_some_and(|r| !r.ok) {
        return Ok(None);
    }
    Ok(Some(rows.into_iter().filter_map(|r| Some((r.ord?, r.no?, r.created_at))).collect()))
}

/// A built document's header row.
fn new_header(b: &Built) -> NewHeader {
    let d = &b.doc;
    // A credit memo's Shopify order goes to `refund_order_id` (see the migration
    // `posting_credit_memos`): `shopify_order_id` is the one order or invoice per order.
    let sid = (d.shopify_order_id > 0).then_some(d.shopify_order_id);
    let cm = b.dtype == "credit_memo";
    let t = tracking_cols(d.tracking.as_ref());
    NewHeader {
        dtype: b.dtype.to_owned(),
        no: d.no.clone(),
        shop: d.shop.clone(),
        sid: if cm { None } else { sid },
        sno: d.shopify_order_no.clone(),
        ext: d.external_document_no.clone(),
        sell: d.sell_to_customer_no.clone(),
        bill: d.bill_to_customer_no.clone(),
        ship_to: Json(b.ship_to.clone()),
        currency: d.currency.clone(),
        status: b.status.to_owned(),
        od: b.order_date,
        pd: b.posting_date,
        amount: d.amount_minor,
        rid: (d.shopify_refund_id > 0).then_some(d.shopify_refund_id),
        roid: if cm { sid } else { None },
        applies: d.applies_to_doc_no.clone(),
        tc: t.company,
        tn: t.number,
        tu: t.url,
    }
}

/// The documents as created, or the existing document of a Shopify order that had one.
async fn finish(
    pool: &PgPool,
    built: Vec<Result<Built>>,
    rows: Vec<Inserted>,
) -> Result<Vec<DocResult>> {
    let rows: HashMap<i64, (String, Option<DateTime<Utc>>)> =
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
                let (refund, id) = if b.dtype == "credit_memo" {
                    (true, b.doc.shopify_refund_id)
                } else {
                    (false, b.doc.shopify_order_id)
                };
                let existing = documents::no_of_shopify(pool, &b.doc.shop, refund, id).await?;
                out.push(Ok((get(pool, &existing).await?, false)));
            }
        }
    }
    Ok(out)
}
