//! Refunds and cancellations (reference 3.1 "refunds"): money returned in Shopify reaches the
//! ERP. Runs after the create step (both tasks), for orders whose refunds the import recorded.
//!
//! A refund of an order whose document is posted (shipped or invoiced) becomes a credit memo:
//! its refunded lines (the order document's item, variant, location; the refund's net amount;
//! back into stock when Shopify restocked them), refunded shipping on the shop's shipping
//! charges item, and whatever was refunded beyond lines and shipping as an amount on that item
//! too. It carries the Shopify refund id, which the ERP keeps unique: a refund seen twice, or a
//! crash between creating and recording, never makes a second credit memo. A refund of lines
//! while the document is not posted yet is already in it (the import saw the lowered
//! quantities and the create step made the document again from the order as it is now); an
//! amount-only refund still becomes a credit memo. A refund that cannot be turned into a
//! document waits with its reason. An order changed after posting only by refunds that are
//! credited is accepted as it is now (no changed-order cue for it).

use crate::repo::refunds::{self as repo, OpenOrder};
use crate::{Failure, fail};
use shopsync_common::RunReport;
use shopsync_common::report::RecordError;
use shopsync_proto::pb;
use shopsync_runtime::shop::ShopContext;
use shopsync_runtime::worker::{RunContext, TaskError};
use shopsync_shopify::ops::order_refunds as or;
use shopsync_shopify::{CurrencyCode, Decimal, Money, ops};
use sqlx::PgPool;
use std::collections::BTreeMap;

/// Orders read per batch.
const BATCH: i64 = 50;

pub async fn run(
    ctx: &RunContext,
    shop: &ShopContext,
    db: &PgPool,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let name = shop.shop.name.as_str();
    let mut after = 0;
    loop {
        if ctx.cancel.is_cancelled() {
            return Err(TaskError::Cancelled);
        }
        let batch =
            repo::open_orders(db, name, after, BATCH).await.map_err(|e| fail(Failure::Db(e)))?;
        let Some(last) = batch.last() else { return Ok(()) };
        after = last.order_id;
        for o in &batch {
            order(shop, db, o, report).await?;
        }
    }
}

/// What became of one refund.
enum Became {
    Credited(String),
    Applied(String),
    Held(String),
}

async fn order(
    shop: &ShopContext,
    db: &PgPool,
    o: &OpenOrder,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let name = shop.shop.name.as_str();
    let mut erp = shop.erp.clone();
    let docs = erp
        .get_documents_by_shopify_order(pb::ShopifyOrderRef {
            shop: name.to_owned(),
            shopify_order_id: o.order_id,
        })
        .await
        .map_err(|s| fail(Failure::Api("reading the order's documents", s)))?
        .into_inner();
    let is_credit = |d: &pb::SalesDocument| d.r#type == pb::DocumentType::CreditMemo as i32;
    let main = docs.documents.iter().find(|d| !is_credit(d));
    let posted = !docs.invoices.is_empty()
        || !docs.shipments.is_empty()
        || main.is_some_and(|d| {
            d.status == pb::DocumentStatus::Posted as i32
                || d.lines.iter().any(|l| l.quantity_shipped > 0 || l.quantity_invoiced > 0)
        });
    let gid = format!("gid://shopify/Order/{}", o.order_id);
    let data = shop
        .shopify
        .run::<ops::OrderRefunds>(or::Variables { id: gid.clone() })
        .await
        .map_err(|e| fail(Failure::Shopify(e)))?;
    let Some(order) = data.order else {
        for &r in &o.refund_ids {
            let why = "the order no longer exists in Shopify";
            settle(db, name, o, r, Became::Held(why.into()), report).await?;
        }
        return Ok(());
    };
    let currency = order.currency_code;
    let mut all_done = true;
    for (i, &refund_id) in o.refund_ids.iter().enumerate() {
        let in_document = o.in_document.get(i).copied().unwrap_or(false);
        let Some(r) =
            order.refunds.iter().find(|r| crate::mirror::legacy_id(&r.id) == Some(refund_id))
        else {
            all_done = false;
            let why = format!("refund {refund_id} is not on the order in Shopify");
            settle(db, name, o, refund_id, Became::Held(why), report).await?;
            continue;
        };
        let has_lines = !r.refund_line_items.nodes.is_empty();
        let became = match main {
            // Cancelled before any document was made: nothing to undo.
            None if o.state == "cancelled" => Became::Applied(String::new()),
            None => Became::Held("the order has no ERP document".into()),
            // Its lines reach the unposted document when it is made again from the order as
            // it is now (the import saw the lowered quantities): wait for that.
            Some(_) if !in_document && !posted && has_lines => {
                all_done = false;
                report.count("refunds_waiting_for_document", 1);
                continue;
            }
            Some(d) => {
                // In the document already: only what went beyond its lines is credited.
                let part = if in_document { Part::BeyondLines } else { Part::Whole };
                let memo =
                    Memo { d, docs: &docs, refund_id, currency, part, gross: o.taxes_included };
                match credit_memo(shop, &memo, r) {
                    Err(why) => Became::Held(why),
                    Ok(None) => Became::Applied(d.no.clone()),
                    Ok(Some(memo)) => create(shop, memo).await?,
                }
            }
        };
        if matches!(became, Became::Held(_)) {
            all_done = false;
        }
        settle(db, name, o, refund_id, became, report).await?;
    }
    if all_done
        && o.state == "changed"
        && !o.cancelled
        && posted
        && only_refunds_changed(db, shop, o).await?
    {
        repo::accept_refunded(db, name, o.order_id).await.map_err(|e| fail(Failure::Db(e)))?;
        report.count("refund_changes_accepted", 1);
    }
    Ok(())
}

/// Which part of a refund a credit memo carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Lines, shipping and any other amount.
    Whole,
    /// Shipping and any other amount (the lines are in the order's document).
    BeyondLines,
}

async fn settle(
    db: &PgPool,
    shop: &str,
    o: &OpenOrder,
    refund_id: i64,
    became: Became,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let (state, doc, reason) = match &became {
        Became::Credited(no) => ("credited", Some(no.as_str()), None),
        Became::Applied(no) => ("applied", Some(no.as_str()).filter(|n| !n.is_empty()), None),
        Became::Held(why) => ("held", None, Some(why.as_str())),
    };
    report.count(&format!("refunds_{state}"), 1);
    if let Became::Held(why) = &became {
        report.record_error(RecordError {
            record: format!("refund {refund_id} of order {}", o.name),
            reason: why.clone(),
            retryable: false,
        });
    }
    repo::resolve(db, shop, refund_id, state, doc, reason).await.map_err(|e| fail(Failure::Db(e)))
}

fn minor(amount: Decimal, currency: CurrencyCode) -> Result<i64, String> {
    Money::new(amount, currency).and_then(|m| m.minor_units()).map_err(|e| e.to_string())
}

/// What a credit memo is made for.
#[derive(Clone, Copy)]
struct Memo<'a> {
    /// The order's document (its lines give items, variants, locations, prices).
    d: &'a pb::SalesDocument,
    docs: &'a pb::ShopifyOrderDocuments,
    refund_id: i64,
    currency: CurrencyCode,
    part: Part,
    /// The order's prices include tax: amounts are gross.
    gross: bool,
}

/// The credit memo for (a part of) one refund of the order's document; `None` when that part
/// returns nothing; the error is why it cannot be made. Amounts follow the document: net of
/// tax unless the shop's prices include it.
fn credit_memo(
    shop: &ShopContext,
    m: &Memo<'_>,
    r: &or::OrderRefundsOrderRefunds,
) -> Result<Option<pb::SalesDocument>, String> {
    let Memo { d, docs, refund_id, currency, part, gross } = *m;
    if r.refund_line_items.page_info.has_next_page {
        return Err("the refund has more than 100 lines".into());
    }
    let charges = shop.shop.settings.shipping_charges_item.clone();
    let mut lines = Vec::new();
    // What the lines and shipping returned, tax included (the rest of the total is "other").
    let mut accounted = 0i64;
    for l in &r.refund_line_items.nodes {
        let Some(item_id) = crate::mirror::legacy_id(&l.line_item.id) else { continue };
        let net = minor(l.subtotal_set.shop_money.amount, currency)?;
        let tax = minor(l.total_tax_set.shop_money.amount, currency)?;
        accounted += if gross { net } else { net + tax };
        if part == Part::BeyondLines {
            continue;
        }
        let Some(src) = d.lines.iter().find(|x| x.shopify_order_line_id == item_id) else {
            return Err(format!(
                "refunded line item {item_id} is not on document {} (its line was removed?)",
                d.no
            ));
        };
        // Only units the ERP shipped or invoiced are credited; the rest is still on the open
        // document, which a person lowers.
        let done = src.quantity_shipped.max(src.quantity_invoiced);
        let credited: i64 = docs
            .documents
            .iter()
            .filter(|m| m.r#type == pb::DocumentType::CreditMemo as i32)
            .flat_map(|m| &m.lines)
            .filter(|x| x.shopify_order_line_id == item_id)
            .map(|x| x.quantity)
            .sum();
        if l.quantity > done - credited {
            return Err(format!(
                "refund of {} units of line {item_id} while the ERP shipped or invoiced {done} \
                 ({credited} credited already): lower the open order, then retry",
                l.quantity
            ));
        }
        // Restocked units come back where Shopify restocked them (its location's ERP
        // location), else where the document shipped them from.
        let restocked_at = l
            .location
            .as_ref()
            .and_then(|loc| {
                shop.shop.settings.locations.iter().find(|m| m.shopify_location_id == loc.id)
            })
            .and_then(|m| {
                m.default_erp_location
                    .clone()
                    .or_else(|| m.erp_locations().next().map(str::to_owned))
            });
        let q = l.quantity.max(1);
        let unit = (net + q - 1) / q; // rounded up; the discount takes the difference
        lines.push(pb::SalesLine {
            item_no: src.item_no.clone(),
            variant_code: src.variant_code.clone(),
            location_code: restocked_at.unwrap_or_else(|| src.location_code.clone()),
            description: src.description.clone(),
            quantity: l.quantity,
            unit_of_measure: src.unit_of_measure.clone(),
            unit_price_minor: Some(unit),
            line_discount_minor: unit * l.quantity - net,
            shopify_order_line_id: item_id,
            shopify_order_no: d.shopify_order_no.clone(),
            return_to_stock: !matches!(l.restock_type, or::RefundLineItemRestockType::NO_RESTOCK),
            ..Default::default()
        });
    }
    let mut shipping = 0i64;
    for s in &r.refund_shipping_lines.nodes {
        let net = minor(s.subtotal_amount_set.shop_money.amount, currency)?;
        let tax = minor(s.tax_amount_set.shop_money.amount, currency)?;
        shipping += if gross { net + tax } else { net };
        accounted += net + tax;
    }
    let total = minor(r.total_refunded_set.shop_money.amount, currency)?;
    // Refunded beyond lines and shipping (an amount-only refund, a goodwill gesture). Less
    // than them (a restocking fee kept, a refund of nothing) is for a person to credit.
    let other = total - accounted;
    if other < 0 && part == Part::Whole && !lines.is_empty() {
        return Err(format!(
            "the refund's total is {} minor units less than its lines and shipping: credit it by hand",
            -other
        ));
    }
    let location = d.lines.first().map(|l| l.location_code.clone()).unwrap_or_default();
    for (amount, what) in [(shipping, "Refunded shipping"), (other, "Refunded amount")] {
        if amount <= 0 {
            continue;
        }
        let Some(item) = &charges else {
            return Err(format!(
                "{what} ({amount} minor units) needs the shop's shipping charges item"
            ));
        };
        lines.push(pb::SalesLine {
            item_no: item.clone(),
            location_code: location.clone(),
            description: format!("{what}, Shopify refund {refund_id}"),
            quantity: 1,
            unit_price_minor: Some(amount),
            shopify_order_no: d.shopify_order_no.clone(),
            ..Default::default()
        });
    }
    if lines.is_empty() {
        return Ok(None);
    }
    Ok(Some(pb::SalesDocument {
        r#type: pb::DocumentType::CreditMemo as i32,
        shop: d.shop.clone(),
        shopify_order_id: d.shopify_order_id,
        shopify_order_no: d.shopify_order_no.clone(),
        external_document_no: format!("refund {refund_id}"),
        sell_to_customer_no: d.sell_to_customer_no.clone(),
        bill_to_customer_no: d.bill_to_customer_no.clone(),
        currency: d.currency.clone(),
        shopify_refund_id: refund_id,
        applies_to_doc_no: docs.invoices.first().map(|i| i.no.clone()).unwrap_or_default(),
        lines,
        ..Default::default()
    }))
}

async fn create(shop: &ShopContext, memo: pb::SalesDocument) -> Result<Became, TaskError> {
    let mut erp = shop.erp.clone();
    match erp
        .create_sales_document(pb::CreateSalesDocumentRequest {
            document: Some(memo),
            release: shop.shop.settings.auto_release,
        })
        .await
    {
        Ok(r) => Ok(Became::Credited(r.into_inner().document.map(|d| d.no).unwrap_or_default())),
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::InvalidArgument
                    | tonic::Code::FailedPrecondition
                    | tonic::Code::NotFound
                    | tonic::Code::AlreadyExists
            ) =>
        {
            Ok(Became::Held(format!("the ERP refused the credit memo: {}", s.message())))
        }
        Err(s) => Err(fail(Failure::Api("creating a credit memo", s))),
    }
}

/// Whether the order's change since processing is its refunded quantities and nothing else.
async fn only_refunds_changed(
    db: &PgPool,
    shop: &ShopContext,
    o: &OpenOrder,
) -> Result<bool, TaskError> {
    let Some((before, now)) = crate::repo::orders::contents(db, &shop.shop.name, o.order_id)
        .await
        .map_err(|e| fail(Failure::Db(e)))?
    else {
        return Ok(false);
    };
    // Every difference is a lower quantity of the same line at the same price.
    let old: BTreeMap<i64, &crate::mirror::ContentLine> =
        before.lines.iter().map(|l| (l.id, l)).collect();
    Ok(now.lines.iter().all(|n| {
        old.get(&n.id)
            .is_some_and(|b| n.quantity <= b.quantity && n.unit_price_minor == b.unit_price_minor)
    }) && now.shipping_minor <= before.shipping_minor)
}
