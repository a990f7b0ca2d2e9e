//! Building a sales document from a create request and the master data it refers to: every
//! check of the request, prices (the best applicable one when none is given), amounts, and
//! the document as it will be stored.

use super::refs::Refs;
use super::{doc_type_pb, doc_type_str, status_pb};
use crate::error::{ErpError, Result};
use crate::master::check_variant;
use crate::repo::documents::{CustomerForSale, ItemForSale};
use crate::util::*;
use shopsync_common::quoted;
use shopsync_proto::pb;

/// A validated document, ready to insert.
pub struct Built {
    pub doc: pb::SalesDocument,
    pub status: &'static str,
    pub dtype: &'static str,
    pub ship_to: StoredAddress,
    pub order_date: chrono::NaiveDate,
    pub posting_date: chrono::NaiveDate,
    /// Per line: base units per unit of measure.
    pub qty_per_uom: Vec<i32>,
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
        .filter(|p| {
            (p.variant_code.is_empty() || p.variant_code == variant)
                && (p.price_group.is_empty() || p.price_group == price_group)
                && p.currency == currency
                && p.minimum_quantity <= qty_base
        })
        .map(|p| p.unit_price_minor)
        .chain(list)
        .min()
        .map(|p| p.saturating_mul(qty_per_uom))
}

/// The Shopify and credit memo fields of a document: the ids and what they require of each
/// other, and the posted invoice a credit memo applies to.
fn check_links(d: &pb::SalesDocument, fd: &str, is_cm: bool, refs: &Refs) -> Result<()> {
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
    let refund = |m: &str| Err(ErpError::invalid(format!("{fd}.shopify_refund_id"), m));
    if d.shopify_refund_id < 0 {
        return refund("must be positive");
    }
    if !is_cm && d.shopify_refund_id != 0 {
        return refund("only credit memos carry a Shopify refund id");
    }
    if !is_cm && !d.applies_to_doc_no.is_empty() {
        return Err(ErpError::invalid(
            format!("{fd}.applies_to_doc_no"),
            "only credit memos apply to an invoice",
        ));
    }
    if is_cm && d.shopify_order_id > 0 && d.shopify_refund_id == 0 {
        return refund(
            "required for a credit memo of a Shopify order (one credit memo per refund)",
        );
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
    Ok(())
}

/// Who a document is for, and what follows from it.
struct Parties {
    bill_to: String,
    currency: String,
    price_group: String,
    ship_to: StoredAddress,
}

/// The sell-to and bill-to customers (existing, not blocked), the currency (the document's,
/// else the bill-to customer's), price group and ship-to address.
fn parties(d: &pb::SalesDocument, fd: &str, refs: &Refs) -> Result<Parties> {
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
    let customer = |no: &str, field: &str| -> Result<&CustomerForSale> {
        refs.customers.get(no).map(|c| &**c).ok_or_else(|| {
            ErpError::invalid(
                format!("{fd}.{field}"),
                format!("customer {} does not exist", quoted(no)),
            )
        })
    };
    let sell = customer(&d.sell_to_customer_no, "sell_to_customer_no")?;
    let bill = customer(&bill_to, "bill_to_customer_no")?;
    for c in [sell, bill] {
        if c.blocked {
            return Err(ErpError::Precondition(format!("customer {} is blocked", c.no)));
        }
    }
    Ok(Parties {
        currency: if doc_currency.is_empty() { bill.currency.clone() } else { doc_currency },
        price_group: bill.price_group.clone(),
        ship_to: match &d.ship_to {
            Some(a) => address_in(Some(a), &format!("{fd}.ship_to"))?,
            None => sell.ship_to.clone(),
        },
        bill_to,
    })
}

pub fn build(r: &pb::CreateSalesDocumentRequest, refs: &Refs, f0: &str) -> Result<Built> {
    let d = r
        .document
        .as_ref()
        .ok_or_else(|| ErpError::invalid(format!("{f0}document"), "required"))?;
    let fd = format!("{f0}document");
    let dtype = doc_type_str(d.r#type, &format!("{fd}.type"))?;
    let is_cm = dtype == "credit_memo";
    check_links(d, &fd, is_cm, refs)?;
    let tracking = match &d.tracking {
        Some(t) => {
            check_tracking(t, &format!("{fd}.tracking"))?;
            tracking_pb(tracking_cols(Some(t)))
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
    let p = parties(d, &fd, refs)?;

    let mut lines = Vec::with_capacity(d.lines.len());
    let mut qty_per_uom = Vec::with_capacity(d.lines.len());
    let mut total: i64 = 0;
    for (i, l) in d.lines.iter().enumerate() {
        let f = format!("{fd}.lines[{i}]");
        let (line, per_uom) = build_line(d, l, i, &f, refs, &p, is_cm)?;
        total = total
            .checked_add(line.amount_minor)
            .ok_or_else(|| ErpError::invalid(format!("{fd}.lines"), "amount overflows"))?;
        qty_per_uom.push(per_uom);
        lines.push(line);
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
            bill_to_customer_no: p.bill_to,
            ship_to: address_out(&p.ship_to),
            currency: p.currency,
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
        ship_to: p.ship_to,
        order_date,
        posting_date,
        qty_per_uom,
    })
}

/// The item, variant and location of line `l` (field `f`), and its unit of measure with its
/// base units per unit.
fn line_refs<'r>(l: &pb::SalesLine, f: &str, refs: &'r Refs) -> Result<(&'r ItemForSale, String)> {
    let item = refs.items.get(&l.item_no).ok_or_else(|| {
        ErpError::invalid(
            format!("{f}.item_no"),
            format!("item {} does not exist", quoted(&l.item_no)),
        )
    })?;
    if item.blocked {
        return Err(ErpError::Precondition(format!("{f}: item {} is blocked", item.no)));
    }
    check_variant(&item.variants, &item.no, &l.variant_code, || format!("{f}.variant_code"))?;
    if l.location_code.is_empty() {
        return Err(ErpError::invalid(format!("{f}.location_code"), "required"));
    }
    if !refs.locations.contains(&l.location_code) {
        return Err(ErpError::invalid(
            format!("{f}.location_code"),
            format!("location {} does not exist", quoted(&l.location_code)),
        ));
    }
    let u = if l.unit_of_measure.is_empty() { &item.base_uom } else { &l.unit_of_measure };
    Ok((item, u.clone()))
}

/// One line of document `d` (the `i`th, field `f`): checked, priced, with its base units per
/// unit of measure.
fn build_line(
    d: &pb::SalesDocument,
    l: &pb::SalesLine,
    i: usize,
    f: &str,
    refs: &Refs,
    p: &Parties,
    is_cm: bool,
) -> Result<(pb::SalesLine, i32)> {
    let (item, u) = line_refs(l, f, refs)?;
    if l.quantity <= 0 {
        return Err(ErpError::invalid(format!("{f}.quantity"), "must be positive"));
    }
    if l.line_discount_minor < 0 {
        return Err(ErpError::invalid(format!("{f}.line_discount_minor"), "must not be negative"));
    }
    if l.shopify_order_line_id < 0 {
        return Err(ErpError::invalid(format!("{f}.shopify_order_line_id"), "must be positive"));
    }
    if l.return_to_stock && !is_cm {
        return Err(ErpError::invalid(
            format!("{f}.return_to_stock"),
            "only credit memo lines return stock",
        ));
    }
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
            return Err(ErpError::invalid(format!("{f}.unit_price_minor"), "must not be negative"));
        }
        Some(p) => p,
        None => best_price(item, &l.variant_code, &p.price_group, qty_base, q_per, &p.currency)
            .ok_or_else(|| {
                ErpError::invalid(
                    format!("{f}.unit_price_minor"),
                    format!("no sales price for item {} in {}; give one", item.no, p.currency),
                )
            })?,
    };
    let amt = line_amount(l.quantity, unit_price, l.line_discount_minor, f)?;
    let description =
        if l.description.is_empty() { item.description.clone() } else { l.description.clone() };
    check_len(&description, &format!("{f}.description"), 250)?;
    let per_uom = i32::try_from(q_per)
        .map_err(|_| ErpError::invalid(format!("{f}.unit_of_measure"), "too large"))?;
    let line = pb::SalesLine {
        line_no: (i as u32 + 1) * 10000,
        item_no: item.no.clone(),
        variant_code: l.variant_code.clone(),
        location_code: l.location_code.clone(),
        description,
        quantity: l.quantity,
        unit_of_measure: u,
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
    };
    Ok((line, per_uom))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::repo::documents::PriceForSale;

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
                .map(|(v, g, c, m, p)| PriceForSale {
                    variant_code: v.into(),
                    price_group: g.into(),
                    currency: c.into(),
                    minimum_quantity: m,
                    unit_price_minor: p,
                })
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

    #[test]
    fn sales_prices_read_from_the_refs_statements_arrays() {
        let p: PriceForSale = serde_json::from_str(r#"["RED", "VIP", "EUR", 2, 900]"#).unwrap();
        assert_eq!(
            (p.variant_code.as_str(), p.minimum_quantity, p.unit_price_minor),
            ("RED", 2, 900)
        );
    }
}
