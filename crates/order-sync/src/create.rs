//! Create sales orders (T2, reference 3.2): the imported orders become ERP sales orders (or
//! invoices, for orders already fulfilled when the shop says so) through the posting
//! service's `CreateSalesDocuments`, 100 at a time.
//!
//! Per order: the customer (a customer link, then the normalised e-mail and phone, then the
//! shop's default customer; created from the shop's template when allowed), the lines (an
//! item link by variant, then the SKU as the shop maps it, then the barcode), the shipping
//! charge (the shop's shipping charges item), the location (the shop's mapping of the
//! Shopify location), and the Shopify order id and number on header and lines. The document's
//! total is checked against Shopify's (net of tax when prices exclude it): a difference
//! within the currency's rounding (a minor unit per line) goes to a rounding line on the
//! shop's charges item when the document is short (or into the last line's discount when it
//! is over), a larger one holds the order. An order that cannot be made a document waits
//! with its reason (`held`) and is tried again when its group is retried or the order
//! changes; high-risk orders wait for a person.
//!
//! An order changed in Shopify after processing is made again when its document is not
//! posted (reopened, deleted and created from the order as it is now); a posted one stays
//! flagged for a person. `CreateSalesDocuments` is idempotent per Shopify order, so a crash
//! anywhere repeats work and never makes a second document.

use crate::mirror::{Content, Order};
use crate::repo::orders::{self as repo, Hold, HoldKind, Work};
use crate::{Failure, fail};
use shopsync_common::RunReport;
use shopsync_common::params::CreateSalesOrders;
use shopsync_common::report::RecordError;
use shopsync_common::shop::{CustomerMapping, ShopSettings, SkuMapping};
use shopsync_proto::pb;
use shopsync_runtime::shop::ShopContext;
use shopsync_runtime::worker::{RunContext, TaskError};
use sqlx::PgPool;
use std::collections::{BTreeSet, HashMap};

/// Orders per `CreateSalesDocuments` call.
pub const BATCH: i64 = 100;

/// An order's document, or why it waits.
enum Made {
    Doc(Box<pb::SalesDocument>, Content),
    Wait(Hold),
}

/// What the mappings found for one batch.
#[derive(Default)]
struct Found {
    /// Shopify customer gid -> ERP customer no.
    customer_links: HashMap<String, String>,
    by_email: HashMap<String, Vec<pb::Customer>>,
    by_phone: HashMap<String, Vec<pb::Customer>>,
    /// Variant gid -> (item no, variant code).
    item_links: HashMap<String, (String, String)>,
    by_sku: HashMap<String, Vec<pb::ItemMatch>>,
    by_barcode: HashMap<String, Vec<pb::ItemMatch>>,
}

pub async fn run(
    ctx: &RunContext,
    shop: &ShopContext,
    db: &PgPool,
    p: &CreateSalesOrders,
) -> Result<RunReport, TaskError> {
    let name = shop.shop.name.as_str();
    let mut report = RunReport::default();
    let mut after = 0i64;
    let mut done = 0u64;
    loop {
        if ctx.cancel.is_cancelled() {
            return Err(TaskError::Cancelled);
        }
        let batch = repo::work(db, name, after, BATCH).await.map_err(|e| fail(Failure::Db(e)))?;
        let Some(last) = batch.last() else { break };
        after = last.order.id;
        done += batch.len() as u64;
        process(shop, db, p, batch, &mut report).await?;
        ctx.progress.report(done, done, format!("{done} orders processed")).await;
    }
    Ok(report)
}

async fn process(
    shop: &ShopContext,
    db: &PgPool,
    p: &CreateSalesOrders,
    batch: Vec<Work>,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let name = shop.shop.name.as_str();
    let settings = &shop.shop.settings;
    let mut todo = Vec::new();
    for w in batch {
        let o = &w.order;
        if w.state == "changed" && o.cancelled {
            // Cancelled after processing: an unposted document goes with the cancellation
            // (none is made again); a posted one stays flagged for a person.
            if clear_for_update(shop, &w, report).await? {
                repo::mark_cancelled(db, name, o.id).await.map_err(|e| fail(Failure::Db(e)))?;
                report.count("cancelled_documents_deleted", 1);
            }
            continue;
        }
        if !p.financial_statuses.is_empty() && !p.financial_statuses.contains(&o.financial_status)
            || !p.fulfillment_statuses.is_empty()
                && !p.fulfillment_statuses.contains(&o.fulfillment_status)
        {
            report.count("not_selected", 1);
            continue;
        }
        if w.state == "pending" && o.cancelled {
            repo::mark_cancelled(db, name, o.id).await.map_err(|e| fail(Failure::Db(e)))?;
            report.count("cancelled", 1);
            continue;
        }
        if o.high_risk && !w.risk_released {
            let h = Hold {
                kind: HoldKind::HighRisk,
                key: "high_risk".into(),
                reason: "high risk: held until a person releases it".into(),
            };
            repo::hold(db, name, o.id, &h).await.map_err(|e| fail(Failure::Db(e)))?;
            report.count("held", 1);
            continue;
        }
        if w.state == "changed" && !clear_for_update(shop, &w, report).await? {
            continue;
        }
        todo.push(w);
    }
    if todo.is_empty() {
        return Ok(());
    }
    let found = lookups(shop, settings, &todo).await?;
    let mut docs = Vec::new();
    for w in &todo {
        let o = &w.order;
        let made = match customer(shop, settings, &found, o).await? {
            Err(h) => Made::Wait(h),
            Ok(customer_no) => document(name, settings, &found, o, customer_no),
        };
        match made {
            Made::Doc(doc, content) => docs.push((o, *doc, content)),
            Made::Wait(h) => {
                report.record_error(RecordError {
                    record: o.record(),
                    reason: h.reason.clone(),
                    retryable: false,
                });
                repo::hold(db, name, o.id, &h).await.map_err(|e| fail(Failure::Db(e)))?;
                report.count("held", 1);
            }
        }
    }
    if docs.is_empty() {
        return Ok(());
    }
    let release = p.release || settings.auto_release;
    let req = pb::CreateSalesDocumentsRequest {
        documents: docs
            .iter()
            .map(|(_, d, _)| pb::CreateSalesDocumentRequest { document: Some(d.clone()), release })
            .collect(),
    };
    let results = shop
        .erp
        .clone()
        .create_sales_documents(req)
        .await
        .map_err(|s| fail(Failure::Api("creating sales documents", s)))?
        .into_inner()
        .results;
    if results.len() != docs.len() {
        return Err(TaskError::retryable(anyhow::anyhow!(
            "CreateSalesDocuments answered {} results for {} documents",
            results.len(),
            docs.len()
        )));
    }
    for ((o, _, content), r) in docs.iter().zip(results) {
        match (r.document, r.error) {
            (Some(doc), None) => {
                let kind = if doc.r#type == pb::DocumentType::Invoice as i32 {
                    "invoice"
                } else {
                    "order"
                };
                let refunds: Vec<i64> =
                    o.refunds.iter().filter_map(|r| crate::mirror::legacy_id(&r.gid)).collect();
                repo::mark_processed(db, name, o.id, &doc.no, kind, content, &refunds)
                    .await
                    .map_err(|e| fail(Failure::Db(e)))?;
                report.count(if r.created { "created" } else { "already_created" }, 1);
            }
            (_, err) => {
                let e = err.unwrap_or_default();
                let reason = format!("the ERP refused the document: {}", e.message);
                report.record_error(RecordError {
                    record: o.record(),
                    reason: reason.clone(),
                    retryable: false,
                });
                let h = Hold { kind: HoldKind::Erp, key: erp_group(&e.message), reason };
                repo::hold(db, name, o.id, &h).await.map_err(|e| fail(Failure::Db(e)))?;
                report.count("held", 1);
            }
        }
    }
    Ok(())
}

/// The ERP's message without the batch position (`documents[3].document.lines[0].item_no:
/// ...` -> `lines[0].item_no: ...`), so the same cause groups together.
fn erp_group(message: &str) -> String {
    match message.split_once(".document.") {
        Some((_, rest)) => rest.to_owned(),
        None => message.to_owned(),
    }
}

/// A changed order: true when its document may be made again (none, or an unposted one that
/// was removed); a posted one stays changed for a person.
async fn clear_for_update(
    shop: &ShopContext,
    w: &Work,
    report: &mut RunReport,
) -> Result<bool, TaskError> {
    let name = shop.shop.name.as_str();
    let mut erp = shop.erp.clone();
    let docs = erp
        .get_documents_by_shopify_order(pb::ShopifyOrderRef {
            shop: name.to_owned(),
            shopify_order_id: w.order.id,
        })
        .await
        .map_err(|s| fail(Failure::Api("reading the order's documents", s)))?
        .into_inner();
    // Credit memos are the refunds' documents: they stay as they are.
    let credit_memo = |d: &pb::SalesDocument| d.r#type == pb::DocumentType::CreditMemo as i32;
    let posted = !docs.shipments.is_empty()
        || !docs.invoices.is_empty()
        || docs.documents.iter().filter(|d| !credit_memo(d)).any(|d| {
            d.status == pb::DocumentStatus::Posted as i32
                || d.lines.iter().any(|l| l.quantity_shipped > 0 || l.quantity_invoiced > 0)
        });
    if posted {
        // It stays changed, with what changed, for a person (the changed-orders cue).
        report.count("changed_after_posting", 1);
        return Ok(false);
    }
    for d in docs.documents.into_iter().filter(|d| !credit_memo(d)) {
        let mut version = d.version;
        if d.status == pb::DocumentStatus::Released as i32 {
            version = erp
                .reopen_sales_document(pb::DocumentRef {
                    no: d.no.clone(),
                    expected_version: version,
                })
                .await
                .map_err(|s| fail(Failure::Api("reopening the order's document", s)))?
                .into_inner()
                .version;
        }
        erp.delete_sales_document(pb::DocumentRef { no: d.no.clone(), expected_version: version })
            .await
            .map_err(|s| fail(Failure::Api("replacing the order's document", s)))?;
    }
    report.count("updated_documents", 1);
    Ok(true)
}

async fn lookups(
    shop: &ShopContext,
    settings: &ShopSettings,
    todo: &[Work],
) -> Result<Found, TaskError> {
    let name = shop.shop.name.as_str();
    let mut found = Found::default();
    let mut shops = shop.shops.clone();
    let mut erp = shop.erp.clone();
    let customers: BTreeSet<String> =
        todo.iter().filter_map(|w| w.order.customer.as_ref().map(|c| c.gid.clone())).collect();
    if !customers.is_empty() && settings.customer_mapping != CustomerMapping::DefaultCustomer {
        let links = shops
            .lookup_links(pb::LookupLinksRequest {
                shop: name.to_owned(),
                kind: pb::LinkKind::Customer as i32,
                erp_keys: Vec::new(),
                shopify_ids: customers.into_iter().collect(),
            })
            .await
            .map_err(|s| fail(Failure::Api("looking up customer links", s)))?
            .into_inner();
        for l in links.links {
            found.customer_links.insert(l.shopify_id, l.erp_id);
        }
        let emails: BTreeSet<String> = todo.iter().filter_map(|w| email_of(&w.order)).collect();
        let phones: BTreeSet<String> = todo.iter().filter_map(|w| phone_of(&w.order)).collect();
        if !emails.is_empty() || !phones.is_empty() {
            let r = erp
                .find_customers(pb::FindCustomersRequest {
                    emails: emails.into_iter().collect(),
                    phones: phones.into_iter().collect(),
                })
                .await
                .map_err(|s| fail(Failure::Api("finding customers", s)))?
                .into_inner();
            found.by_email = r.by_email.into_iter().map(|(k, v)| (k, v.customers)).collect();
            found.by_phone = r.by_phone.into_iter().map(|(k, v)| (k, v.customers)).collect();
        }
    }
    let variants: BTreeSet<String> = todo
        .iter()
        .flat_map(|w| w.order.lines.iter().filter_map(|l| l.variant_gid.clone()))
        .collect();
    if !variants.is_empty() {
        let links = shops
            .lookup_links(pb::LookupLinksRequest {
                shop: name.to_owned(),
                kind: pb::LinkKind::Item as i32,
                erp_keys: Vec::new(),
                shopify_ids: variants.into_iter().collect(),
            })
            .await
            .map_err(|s| fail(Failure::Api("looking up item links", s)))?
            .into_inner();
        for l in links.links {
            found.item_links.insert(l.shopify_id, (l.erp_id, l.erp_variant));
        }
    }
    let skus: BTreeSet<String> =
        todo.iter().flat_map(|w| w.order.lines.iter().filter_map(|l| l.sku.clone())).collect();
    let barcodes: BTreeSet<String> = if settings.barcode_fallback {
        todo.iter().flat_map(|w| w.order.lines.iter().filter_map(|l| l.barcode.clone())).collect()
    } else {
        BTreeSet::new()
    };
    if !skus.is_empty() || !barcodes.is_empty() {
        let r = erp
            .find_items(pb::FindItemsRequest {
                skus: skus.into_iter().collect(),
                barcodes: barcodes.into_iter().collect(),
            })
            .await
            .map_err(|s| fail(Failure::Api("finding items", s)))?
            .into_inner();
        found.by_sku = r.by_sku.into_iter().map(|(k, v)| (k, v.matches)).collect();
        found.by_barcode = r.by_barcode.into_iter().map(|(k, v)| (k, v.matches)).collect();
    }
    Ok(found)
}

fn email_of(o: &Order) -> Option<String> {
    o.customer
        .as_ref()
        .and_then(|c| c.email.clone())
        .or_else(|| o.email.clone())
        .filter(|e| !e.trim().is_empty())
}

fn phone_of(o: &Order) -> Option<String> {
    o.customer
        .as_ref()
        .and_then(|c| c.phone.clone())
        .or_else(|| o.phone.clone())
        .filter(|p| !p.trim().is_empty())
}

/// The order's ERP customer, created when the shop allows it; else why the order waits.
async fn customer(
    shop: &ShopContext,
    settings: &ShopSettings,
    found: &Found,
    o: &Order,
) -> Result<Result<String, Hold>, TaskError> {
    if settings.customer_mapping == CustomerMapping::DefaultCustomer {
        return Ok(settings.default_customer_no.clone().ok_or_else(|| Hold {
            kind: HoldKind::Settings,
            key: "default_customer_no".into(),
            reason: "the shop maps every order to its default customer but names none".into(),
        }));
    }
    if let Some(no) = o.customer.as_ref().and_then(|c| found.customer_links.get(&c.gid)) {
        return Ok(Ok(no.clone()));
    }
    let open = |v: Option<&Vec<pb::Customer>>| {
        v.and_then(|cs| cs.iter().find(|c| !c.blocked)).map(|c| c.no.clone())
    };
    if let Some(no) = email_of(o)
        .and_then(|e| open(found.by_email.get(&e)))
        .or_else(|| phone_of(o).and_then(|p| open(found.by_phone.get(&p))))
    {
        return Ok(Ok(no));
    }
    let Some(c) = &o.customer else {
        return Ok(settings.default_customer_no.clone().ok_or_else(|| Hold {
            kind: HoldKind::UnmappedCustomer,
            key: "guest".into(),
            reason: "a guest order (no Shopify customer) and the shop has no default customer"
                .into(),
        }));
    };
    if !settings.auto_create_customers {
        if let Some(no) = &settings.default_customer_no {
            return Ok(Ok(no.clone()));
        }
        let who = email_of(o).or_else(|| phone_of(o)).unwrap_or_else(|| c.gid.clone());
        return Ok(Err(Hold {
            kind: HoldKind::UnmappedCustomer,
            key: who.clone(),
            reason: format!(
                "no ERP customer for {who} (create or map one, or allow auto-create customers)"
            ),
        }));
    }
    create_customer(shop, settings, o, c).await.map(Ok)
}

/// Create the order's customer (idempotent: its number comes from the Shopify customer id,
/// so a retry finds the one a crashed attempt made) and link it.
async fn create_customer(
    shop: &ShopContext,
    settings: &ShopSettings,
    o: &Order,
    c: &crate::mirror::Customer,
) -> Result<String, TaskError> {
    let mut erp = shop.erp.clone();
    let legacy = c.gid.rsplit('/').next().unwrap_or_default();
    let no = format!("SC{legacy}");
    let template = match &settings.customer_template {
        Some(t) => Some(
            erp.get_customer(pb::GetRequest { no: t.clone() })
                .await
                .map_err(|s| fail(Failure::Api("reading the customer template", s)))?
                .into_inner(),
        ),
        None => None,
    };
    let name = [c.first_name.as_deref(), c.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let address = o.shipping_address.as_ref().map(|a| pb::Address {
        name: name.clone(),
        address1: a.address1.clone().unwrap_or_default(),
        city: a.city.clone().unwrap_or_default(),
        post_code: a.zip.clone().unwrap_or_default(),
        country_code: a.country_code.clone().unwrap_or_default(),
        ..Default::default()
    });
    let new = pb::Customer {
        no: no.clone(),
        name: if name.trim().is_empty() { email_of(o).unwrap_or_else(|| no.clone()) } else { name },
        email: c.email.clone().unwrap_or_default(),
        phone: c.phone.clone().unwrap_or_default(),
        bill_to: address.clone(),
        ship_to: address,
        customer_price_group: template
            .as_ref()
            .map(|t| t.customer_price_group.clone())
            .unwrap_or_default(),
        payment_terms: template.as_ref().map(|t| t.payment_terms.clone()).unwrap_or_default(),
        currency: template.as_ref().map(|t| t.currency.clone()).unwrap_or_default(),
        ..Default::default()
    };
    match erp.create_customer(new).await {
        Ok(_) => {}
        Err(s) if s.code() == tonic::Code::AlreadyExists => {}
        Err(s) => return Err(fail(Failure::Api("creating the customer", s))),
    }
    shop.shops
        .clone()
        .put_links(pb::PutLinksRequest {
            shop: shop.shop.name.clone(),
            links: vec![pb::Link {
                kind: pb::LinkKind::Customer as i32,
                erp_id: no.clone(),
                shopify_id: c.gid.clone(),
                ..Default::default()
            }],
        })
        .await
        .map_err(|s| fail(Failure::Api("linking the customer", s)))?;
    Ok(no)
}

/// The ERP item (and variant code) of one line, by link, SKU as the shop maps it, or
/// barcode.
fn item_of(
    settings: &ShopSettings,
    found: &Found,
    l: &crate::mirror::Line,
) -> Option<(String, String)> {
    if let Some(hit) = l.variant_gid.as_ref().and_then(|v| found.item_links.get(v)) {
        return Some(hit.clone());
    }
    let first = |m: Option<&Vec<pb::ItemMatch>>| {
        m.and_then(|ms| ms.iter().find(|m| m.item.as_ref().is_some_and(|i| !i.blocked)))
            .and_then(|m| Some((m.item.as_ref()?.no.clone(), m.variant_code.clone())))
    };
    let by_sku = l.sku.as_ref().and_then(|s| match settings.sku_mapping {
        SkuMapping::ItemNoVariantCode => {
            let (item, variant) = s.split_once(settings.sku_separator.as_str())?;
            first(found.by_sku.get(s)).or_else(|| Some((item.to_owned(), variant.to_owned())))
        }
        _ => first(found.by_sku.get(s)),
    });
    by_sku.or_else(|| {
        settings
            .barcode_fallback
            .then(|| l.barcode.as_ref().and_then(|b| first(found.by_barcode.get(b))))
            .flatten()
    })
}

/// The ERP location the order ships from: the shop's mapping of its first fulfillment
/// order's Shopify location, else the shop's only (or first) mapping's default.
fn location_of(settings: &ShopSettings, o: &Order) -> Option<String> {
    let code = |m: &shopsync_common::shop::LocationMapping| {
        m.default_erp_location.clone().or_else(|| m.erp_locations().next().map(str::to_owned))
    };
    let shopify = o.fulfillment_orders.iter().find_map(|f| f.location_gid.as_deref());
    shopify
        .and_then(|s| settings.locations.iter().find(|m| m.shopify_location_id == s))
        .and_then(code)
        .or_else(|| settings.locations.first().and_then(code))
}

fn document(
    shop: &str,
    settings: &ShopSettings,
    found: &Found,
    o: &Order,
    customer_no: String,
) -> Made {
    let content = o.content();
    let Some(location) = location_of(settings, o) else {
        return Made::Wait(Hold {
            kind: HoldKind::Settings,
            key: "locations".into(),
            reason: "the shop maps no Shopify location to an ERP location (settings.locations)"
                .into(),
        });
    };
    let mut lines = Vec::new();
    let mut unmapped = Vec::new();
    for l in o.lines.iter().filter(|l| l.current_quantity > 0) {
        match item_of(settings, found, l) {
            Some((item, variant)) => lines.push(pb::SalesLine {
                line_no: 0,
                item_no: item,
                variant_code: variant,
                location_code: location.clone(),
                description: l.name.clone(),
                quantity: l.current_quantity,
                unit_price_minor: Some(l.unit_price_minor),
                // Shopify allocates discounts over the line's whole quantity; the current
                // quantity keeps its share.
                line_discount_minor: if l.quantity > 0 {
                    l.discount_minor * l.current_quantity / l.quantity
                } else {
                    0
                },
                shopify_order_line_id: l.id,
                shopify_order_no: o.name.clone(),
                ..Default::default()
            }),
            None => unmapped.push(l.sku.clone().unwrap_or_else(|| format!("line {}", l.id))),
        }
    }
    if !unmapped.is_empty() {
        return Made::Wait(Hold {
            kind: HoldKind::UnmappedProduct,
            key: unmapped[0].clone(),
            reason: format!("no ERP item for SKU {}", unmapped.join(", ")),
        });
    }
    if lines.is_empty() {
        return Made::Wait(Hold {
            kind: HoldKind::Totals,
            key: "no_lines".into(),
            reason: "no line left to sell (every line removed or refunded)".into(),
        });
    }
    if content.shipping_minor > 0 {
        let Some(item) = &settings.shipping_charges_item else {
            return Made::Wait(Hold {
                kind: HoldKind::Settings,
                key: "shipping_charges_item".into(),
                reason: "the order charges shipping and the shop has no shipping charges item"
                    .into(),
            });
        };
        lines.push(pb::SalesLine {
            item_no: item.clone(),
            location_code: location.clone(),
            description: o
                .shipping_lines
                .first()
                .map(|s| s.title.clone())
                .unwrap_or_else(|| "Shipping".into()),
            quantity: 1,
            unit_price_minor: Some(content.shipping_minor),
            shopify_order_no: o.name.clone(),
            ..Default::default()
        });
    }
    // Totals: the document (net of tax unless prices include it) against Shopify's.
    let ours: i64 = lines
        .iter()
        .map(|l| l.quantity * l.unit_price_minor.unwrap_or(0) - l.line_discount_minor)
        .sum();
    let theirs = o.total_minor - if o.taxes_included { 0 } else { o.tax_minor };
    let diff = ours - theirs;
    let rounding = lines.len() as i64;
    if diff > 0 && diff <= rounding {
        // Each allocation may round by a minor unit: absorb it into the last item line.
        if let Some(l) = lines.iter_mut().rev().find(|l| l.shopify_order_line_id != 0) {
            l.line_discount_minor += diff;
        }
    } else if diff < 0
        && -diff <= rounding
        && let Some(item) = &settings.shipping_charges_item
    {
        // Shopify's total rounds its parts (tax) separately: a rounding line, on the shop's
        // charges item, makes the document's total Shopify's.
        lines.push(pb::SalesLine {
            item_no: item.clone(),
            location_code: location.clone(),
            description: "Rounding (Shopify's order total)".into(),
            quantity: 1,
            unit_price_minor: Some(-diff),
            shopify_order_no: o.name.clone(),
            ..Default::default()
        });
    } else if diff != 0 {
        return Made::Wait(Hold {
            kind: HoldKind::Totals,
            key: "totals".into(),
            reason: format!(
                "the document's total {ours} differs from Shopify's {theirs} ({} minor units, {})",
                diff, o.currency
            ),
        });
    }
    let invoice =
        settings.create_fulfilled_orders_as_invoices && o.fulfillment_status == "fulfilled";
    let ship_to = o.shipping_address.as_ref().map(|a| pb::Address {
        name: [a.first_name.as_deref(), a.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
        address1: a.address1.clone().unwrap_or_default(),
        city: a.city.clone().unwrap_or_default(),
        post_code: a.zip.clone().unwrap_or_default(),
        country_code: a.country_code.clone().unwrap_or_default(),
        ..Default::default()
    });
    let doc = pb::SalesDocument {
        r#type: if invoice { pb::DocumentType::Invoice } else { pb::DocumentType::Order } as i32,
        shop: shop.to_owned(),
        shopify_order_id: o.id,
        shopify_order_no: o.name.clone(),
        external_document_no: o.name.clone(),
        sell_to_customer_no: customer_no,
        ship_to,
        currency: o.currency.clone(),
        order_date: o.created_at.date_naive().to_string(),
        lines,
        ..Default::default()
    };
    Made::Doc(Box::new(doc), content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erp_errors_group_without_their_batch_position() {
        assert_eq!(
            erp_group("documents[3].document.lines[0].item_no: item X is blocked"),
            "lines[0].item_no: item X is blocked"
        );
        assert_eq!(erp_group("customer blocked"), "customer blocked");
    }
}
