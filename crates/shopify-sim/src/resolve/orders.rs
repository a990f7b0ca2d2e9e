//! Orders, their line items, shipping and tax lines, and the `orders` connection. Money is derived from the order's
//! transactions as Shopify documents it: received = successful sales and captures, outstanding
//! = total − received (zero once cancelled), capturable = authorized − captured, net payment =
//! received − refunded. Quantities come from the fulfillment orders: what remains there is
//! fulfillable, what fulfilments took is fulfilled.

use super::{Exec, Item, Obj, amount, bag, bag_json, cents, count, listed, maybe, money, object};
use crate::exec::time;
use crate::search::{self, FieldValue};
use crate::store::{LineItem, Order, gid};
use apollo_compiler::executable::Field;
use serde_json::{Value, json};

/// An order's money in cents, derived from its transactions.
pub(super) struct Money {
    pub(super) total: i64,
    pub(super) received: i64,
    pub(super) refunded: i64,
    pub(super) capturable: i64,
    pub(super) outstanding: i64,
}

pub(super) fn money_of(o: &Order) -> Money {
    let ok = |kind: &str| -> i64 {
        o.transactions
            .iter()
            .filter(|t| t.status == "SUCCESS" && t.kind == kind)
            .map(|t| cents(&t.amount))
            .sum()
    };
    let total = cents(&o.total);
    let received = ok("SALE") + ok("CAPTURE");
    let capturable =
        if o.cancelled { 0 } else { (ok("AUTHORIZATION") - ok("CAPTURE") - ok("VOID")).max(0) };
    let outstanding = if o.cancelled { 0 } else { (total - received).max(0) };
    Money { total, received, refunded: ok("REFUND"), capturable, outstanding }
}

/// Units of a line item fulfilled so far (across all fulfilments).
fn fulfilled(o: &Order, l: &LineItem) -> i64 {
    let fo_lines: Vec<u64> = o
        .fulfillment_orders
        .iter()
        .flat_map(|fo| &fo.lines)
        .filter(|x| x.line_item_id == l.id)
        .map(|x| x.id)
        .collect();
    o.fulfillments
        .iter()
        .flat_map(|fu| &fu.lines)
        .filter(|(line, _)| fo_lines.contains(line))
        .map(|(_, q)| q)
        .sum()
}

/// Units of a line item still to fulfil (what its fulfillment orders have left).
fn remaining(o: &Order, l: &LineItem) -> i64 {
    o.fulfillment_orders
        .iter()
        .filter(|fo| fo.status != "CANCELLED" && fo.status != "CLOSED")
        .flat_map(|fo| &fo.lines)
        .filter(|x| x.line_item_id == l.id)
        .map(|x| x.remaining)
        .sum()
}

/// Order fields answered with Shopify's value for an order without that feature (no
/// discounts, duties, tips, returns, agreements, apps, staff, POS or B2B purchase data).
const ORDER_EMPTY: &[&str] = &[
    "additionalFees",
    "agreements",
    "alerts",
    "app",
    "attribution",
    "cancellation",
    "cartDiscountAmount",
    "cartDiscountAmountSet",
    "cartToken",
    "channel",
    "channelInformation",
    "checkoutToken",
    "clientIp",
    "currentCartDiscountAmountSet",
    "currentTotalAdditionalFeesSet",
    "currentTotalDiscountsSet",
    "currentTotalDutiesSet",
    "customAttributes",
    "customerAcceptsMarketing",
    "customerJourney",
    "customerJourneySummary",
    "discountApplications",
    "discountCode",
    "discountCodes",
    "disputes",
    "dutiesIncluded",
    "edited",
    "estimatedTaxes",
    "events",
    "hasTimelineComment",
    "landingPageDisplayText",
    "landingPageUrl",
    "localizationExtensions",
    "localizedFields",
    "merchantEditableErrors",
    "merchantOfRecordApp",
    "metafieldDefinitions",
    "nonFulfillableLineItems",
    "originalTotalAdditionalFeesSet",
    "originalTotalDutiesSet",
    "paymentTerms",
    "phone",
    "physicalLocation",
    "productNetwork",
    "publication",
    "referralCode",
    "referrerDisplayText",
    "referrerUrl",
    "refundDiscrepancySet",
    "registeredSourceUrl",
    "retailLocation",
    "returns",
    "risks",
    "shopifyProtect",
    "sourceIdentifier",
    "staffMember",
    "suggestedRefund",
    "taxExempt",
    "taxesIncluded",
    "totalTipReceivedSet",
];

/// What an order's refunds returned of its lines and shipping, in minor units.
struct Refunded {
    lines: i64,
    lines_tax: i64,
    shipping: i64,
    shipping_tax: i64,
}

fn refunded(o: &Order) -> Refunded {
    let mut r = Refunded { lines: 0, lines_tax: 0, shipping: 0, shipping_tax: 0 };
    for x in &o.refunds {
        for l in &x.lines {
            r.lines += cents(&l.subtotal);
            r.lines_tax += cents(&l.total_tax);
        }
        if let Some(s) = &x.shipping {
            r.shipping += cents(&s.subtotal);
            r.shipping_tax += cents(&s.tax);
        }
    }
    r
}

/// `Order`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `order_more`.
pub(super) fn order<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "lineItems" | "fulfillmentOrders" => super::connection(x, Obj::Order(o), f, path),
        "id" => json!(gid("Order", o.id)),
        "legacyResourceId" => json!(o.id.to_string()),
        "name" => json!(o.name()),
        "email" => json!(o.email),
        "createdAt" | "processedAt" => json!(time(&o.created_at)),
        "updatedAt" => json!(time(&o.updated_at)),
        "displayFinancialStatus" => json!(o.financial_status),
        "displayFulfillmentStatus" => json!(o.fulfillment_status()),
        "fullyPaid" => json!(o.financial_status == "PAID"),
        "currencyCode" | "presentmentCurrencyCode" => json!(shop.currency),
        "tags" => json!(o.tags),
        "closed" => json!(o.closed),
        "cancelledAt" => json!(o.cancelled_time().map(|t| time(&t))),
        "test" => json!(false),
        "customer" => {
            maybe(x, o.customer_id.and_then(|c| shop.customers.get(&c)).map(Obj::Customer), f, path)
        }
        "totalPriceSet" => x.set(Obj::Money(&o.total), &f.selection_set, path),
        "subtotalPriceSet" => x.set(Obj::Money(&o.subtotal), &f.selection_set, path),
        "totalTaxSet" => x.set(Obj::Money(&o.total_tax), &f.selection_set, path),
        "totalShippingPriceSet" => x.set(Obj::Money(&o.shipping), &f.selection_set, path),
        "shippingLines" => super::connection(x, Obj::Order(o), f, path),
        "taxLines" => Value::Array(
            o.tax_lines.iter().map(|t| x.set(Obj::TaxLine(t), &f.selection_set, path)).collect(),
        ),
        "transactions" => Value::Array(
            o.transactions
                .iter()
                .map(|t| x.set(Obj::Transaction(o, t), &f.selection_set, path))
                .collect(),
        ),
        "refunds" => {
            let first = x.arg(f, "first").as_u64().map_or(usize::MAX, |n| n as usize);
            Value::Array(
                o.refunds
                    .iter()
                    .take(first)
                    .map(|r| x.set(Obj::Refund(o, r), &f.selection_set, path))
                    .collect(),
            )
        }
        "shippingAddress" | "billingAddress" => {
            maybe(x, o.address.as_ref().map(Obj::Address), f, path)
        }
        "fulfillments" => {
            let first = x.arg(f, "first").as_u64().map_or(usize::MAX, |n| n as usize);
            Value::Array(
                o.fulfillments
                    .iter()
                    .take(first)
                    .map(|fu| x.set(Obj::Fulfillment(o, fu), &f.selection_set, path))
                    .collect(),
            )
        }
        _ => return order_more(x, o, f, path),
    })
}

fn order_more<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let m = money_of(o);
    let quantity: i64 = o.line_items.iter().map(|l| l.quantity).sum();
    Some(match f.name.as_str() {
        "billingAddressMatchesShippingAddress" => json!(true),
        "canMarkAsPaid" => {
            json!(!o.cancelled && matches!(o.financial_status.as_str(), "PENDING" | "AUTHORIZED"))
        }
        "canNotifyCustomer" => json!(!o.email.is_empty()),
        "cancelReason" => {
            if o.cancelled {
                json!("OTHER")
            } else {
                Value::Null
            }
        }
        "capturable" => json!(m.capturable > 0),
        "closedAt" => json!(o.closed_time().map(|t| time(&t))),
        "confirmationNumber" => json!(confirmation(o.id)),
        "confirmed" => json!(true),
        // The current amounts leave out what refunds returned of lines and shipping (an
        // amount-only refund does not change them: it is in totalRefundedSet).
        "currentShippingPriceSet" => {
            let r = refunded(o);
            bag(x, &amount(cents(&o.shipping) - r.shipping), f)
        }
        "currentSubtotalPriceSet" => {
            let r = refunded(o);
            bag(x, &amount(cents(&o.subtotal) - r.lines), f)
        }
        "currentTotalTaxSet" => {
            let r = refunded(o);
            bag(x, &amount(cents(&o.total_tax) - r.lines_tax - r.shipping_tax), f)
        }
        "currentTotalPriceSet" => {
            let r = refunded(o);
            let back = r.lines + r.lines_tax + r.shipping + r.shipping_tax;
            bag(x, &amount(cents(&o.total) - back), f)
        }
        "currentSubtotalLineItemsQuantity" | "subtotalLineItemsQuantity" => json!(quantity),
        "currentTaxLines" => Value::Array(
            o.tax_lines.iter().map(|t| x.set(Obj::TaxLine(t), &f.selection_set, path)).collect(),
        ),
        "currentTotalWeight" => json!("0"),
        "totalWeight" => json!("0"),
        "customerLocale" => json!("en"),
        "displayAddress" => maybe(x, o.address.as_ref().map(Obj::Address), f, path),
        "fulfillable" => json!(!o.cancelled && o.line_items.iter().any(|l| remaining(o, l) > 0)),
        "fulfillmentsCount" => count(x, o.fulfillments.len(), f, path),
        "transactionsCount" => count(x, o.transactions.len(), f, path),
        "merchantBusinessEntity" => object(x, path, business_entity(x), f),
        "merchantEditable" => json!(!o.closed && !o.cancelled),
        "netPayment" => json!(amount(m.received - m.refunded)),
        "netPaymentSet" => bag(x, &amount(m.received - m.refunded), f),
        "note" => json!(o.note),
        "poNumber" => json!(o.po_number),
        "number" => json!(o.number),
        "originalTotalPriceSet" => bag(x, &o.total, f),
        "paymentCollectionDetails" => object(
            x,
            path,
            json!({ "additionalPaymentCollectionUrl": null, "vaultedPaymentMethods": [] }),
            f,
        ),
        "paymentGatewayNames" => {
            let mut names: Vec<&str> = Vec::new();
            for t in &o.transactions {
                if !names.contains(&t.gateway.as_str()) {
                    names.push(&t.gateway);
                }
            }
            json!(names)
        }
        "purchasingEntity" => {
            let found = o.customer_id.and_then(|c| x.shop.customers.get(&c)).map(Obj::Customer);
            maybe(x, found, f, path)
        }
        "refundable" => {
            json!(crate::orders::refundable_cents(o, crate::money::current_units()) > 0)
        }
        "requiresShipping" => json!(true),
        "restockable" => json!(!o.cancelled && o.line_items.iter().any(|l| remaining(o, l) > 0)),
        "returnStatus" => json!("NO_RETURN"),
        "risk" => {
            let level = o.risk_level.as_deref().unwrap_or("LOW");
            let recommendation = match level {
                "HIGH" => "CANCEL",
                "MEDIUM" => "INVESTIGATE",
                _ => "ACCEPT",
            };
            object(
                x,
                path,
                json!({ "assessments": [{ "facts": [], "provider": null, "riskLevel": level }], "recommendation": recommendation }),
                f,
            )
        }
        "riskLevel" => json!(o.risk_level.as_deref().unwrap_or("LOW")),
        "shippingLine" => x.set(Obj::ShippingLine(o), &f.selection_set, path),
        "sourceName" => json!("web"),
        // https://{shop}/{shop id}/orders/{order token}/authenticate?key=…
        "statusPageUrl" => json!(format!(
            "https://{}/1/orders/{:032x}/authenticate?key={:x}",
            x.shop.domain(),
            o.id,
            o.id.wrapping_mul(0x9e37_79b9)
        )),
        "subtotalPrice" => json!(o.subtotal),
        "totalCashRoundingAdjustment" => object(
            x,
            path,
            json!({ "paymentSet": bag_json(x, "0.00"), "refundSet": bag_json(x, "0.00") }),
            f,
        ),
        "totalCapturable" => json!(amount(m.capturable)),
        "totalCapturableSet" => bag(x, &amount(m.capturable), f),
        "totalDiscounts" => json!("0.0"),
        "totalDiscountsSet" => bag(x, "0.00", f),
        "totalOutstandingSet" => bag(x, &amount(m.outstanding), f),
        "totalPrice" => json!(amount(m.total)),
        "totalReceived" => json!(amount(m.received)),
        "totalReceivedSet" => bag(x, &amount(m.received), f),
        "totalRefunded" => json!(amount(m.refunded)),
        "totalRefundedSet" => bag(x, &amount(m.refunded), f),
        "totalShippingPrice" => json!(o.shipping),
        "totalRefundedShippingSet" => {
            let refunded: i64 = o
                .refunds
                .iter()
                .filter_map(|r| r.shipping.as_ref())
                .map(|s| cents(&s.subtotal))
                .sum();
            bag(x, &amount(refunded), f)
        }
        "currentShippingPrice" => json!(o.shipping),
        "totalTax" => json!(o.total_tax),
        "totalTipReceived" => money(x, "0.00", f),
        "unpaid" => json!(m.outstanding > 0 && m.received == 0),
        _ => return listed(x, f, path, ORDER_EMPTY),
    })
}

/// The order confirmation number customers see: nine characters, stable per order.
fn confirmation(id: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut n = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..9)
        .map(|_| {
            let c = ALPHABET[(n % 32) as usize] as char;
            n /= 32;
            c
        })
        .collect()
}

/// The shop's (single) business entity: the merchant of record.
pub(super) fn business_entity(x: &Exec) -> Value {
    json!({
        "id": gid("BusinessEntity", 1),
        "displayName": x.shop.name,
        "companyName": x.shop.name,
        "primary": true,
        "archived": false,
        "legalEntityId": null,
        "shopifyPaymentsAccount": null,
        "address": { "address1": "Nørregade 1", "address2": null, "city": "Copenhagen", "countryCode": "DK", "province": null, "zip": "1165" },
    })
}

/// `LineItem`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `line_item_more`.
pub(super) fn line_item<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    l: &'a LineItem,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "id" => json!(gid("LineItem", l.id)),
        "sku" => json!(l.sku),
        "title" | "name" => json!(l.title),
        "quantity" => json!(l.quantity),
        "currentQuantity" => json!(l.current()),
        "originalUnitPriceSet" | "discountedUnitPriceSet" => {
            x.set(Obj::Money(&l.price), &f.selection_set, path)
        }
        "variant" => {
            match l.variant_id.and_then(|v| {
                shop.products
                    .values()
                    .find_map(|p| p.variants.iter().find(|x| x.id == v).map(|x| (p, x)))
            }) {
                Some((p, v)) => x.set(Obj::Variant(p, v), &f.selection_set, path),
                None => Value::Null,
            }
        }
        _ => return line_item_more(x, o, l, f, path),
    })
}

const LINE_EMPTY: &[&str] = &[
    "contract",
    "customAttributes",
    "discountAllocations",
    "duties",
    "fulfillmentService",
    "lineItemGroup",
    "sellingPlan",
    "staffMember",
    "suggestedReturnReasonDefinitions",
    "totalDiscountSet",
    "weight",
];

fn line_item_more<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    l: &'a LineItem,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let line_total = amount(cents(&l.price) * l.current());
    let left = remaining(o, l);
    let unfulfilled_total = amount(cents(&l.price) * left);
    let shop = x.shop;
    let variant = || {
        l.variant_id.and_then(|v| {
            shop.products
                .values()
                .find_map(|p| p.variants.iter().find(|y| y.id == v).map(|y| (p, y)))
        })
    };
    Some(match f.name.as_str() {
        "canRestock" | "restockable" => json!(!o.cancelled && left > 0),
        "discountedTotal" | "originalTotal" => json!(line_total),
        "discountedTotalSet" | "originalTotalSet" => bag(x, &line_total, f),
        "discountedUnitPrice" | "originalUnitPrice" => json!(l.price),
        "discountedUnitPriceAfterAllDiscountsSet" | "priceAfterAllDiscountsBeforeTaxesSet" => {
            bag(x, &l.price, f)
        }
        "fulfillableQuantity" | "unfulfilledQuantity" => json!(left),
        "fulfillmentStatus" => json!(match (fulfilled(o, l), left) {
            (0, _) => "unfulfilled",
            (_, 0) => "fulfilled",
            _ => "partial",
        }),
        "isGiftCard" => json!(false),
        // What a cancellation or a refund of unfulfilled units took out of fulfilment.
        "nonFulfillableQuantity" => json!(if o.cancelled {
            l.quantity - fulfilled(o, l)
        } else {
            (l.ordered() - fulfilled(o, l) - left).max(0)
        }),
        "image" => {
            let found = variant()
                .and_then(|(p, _)| p.media.first())
                .filter(|m| m.status(x.now) == "READY")
                .map(Obj::Image);
            maybe(x, found, f, path)
        }
        "merchantEditable" => json!(!o.closed && !o.cancelled),
        "product" => maybe(x, variant().map(|(p, _)| Obj::Product(p)), f, path),
        "refundableQuantity" => json!(if o.cancelled { 0 } else { l.current() }),
        "requiresShipping" | "taxable" => json!(true),
        "taxLines" => {
            // The order's VAT rate applied to this line.
            let rate = o.tax_lines.first().map_or(0.0, |t| t.1);
            let tax = amount((cents(&line_total) as f64 * rate).round() as i64);
            Value::Array(
                o.tax_lines
                    .iter()
                    .map(|t| {
                        object(x, path,
                            json!({ "title": t.0, "rate": t.1, "ratePercentage": t.1 * 100.0, "priceSet": bag_json(x, &tax), "price": tax, "channelLiable": false, "source": "Shopify", "__typename": "TaxLine" }),
                            f,
                        )
                    })
                    .collect(),
            )
        }
        "totalDiscount" => json!("0.0"),
        "unfulfilledDiscountedTotal" | "unfulfilledOriginalTotal" => json!(unfulfilled_total),
        "unfulfilledDiscountedTotalSet" | "unfulfilledOriginalTotalSet" => {
            bag(x, &unfulfilled_total, f)
        }
        "variantTitle" => json!(variant().map(|(_, v)| v.title.clone())),
        "vendor" => json!(variant().map(|(p, _)| p.vendor.clone())),
        _ => return listed(x, f, path, LINE_EMPTY),
    })
}

/// `ShippingLine`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `shipping_line_more`.
pub(super) fn shipping_line<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "title" => json!("Standard"),
        "code" => json!("STANDARD"),
        "id" => json!(gid("ShippingLine", o.id)),
        "originalPriceSet" | "discountedPriceSet" => {
            x.set(Obj::Money(&o.shipping), &f.selection_set, path)
        }
        _ => return shipping_line_more(x, o, f, path),
    })
}

const SHIPPING_EMPTY: &[&str] = &[
    "carrierIdentifier",
    "deliveryCategory",
    "discountAllocations",
    "isRemoved",
    "phone",
    "requestedFulfillmentService",
    "shippingRateHandle",
    "custom",
];

fn shipping_line_more<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "currentDiscountedPriceSet" => bag(x, &o.shipping, f),
        "discountedPrice" | "originalPrice" => money(x, &o.shipping, f),
        "price" => json!(o.shipping),
        "source" => json!("shopify"),
        "taxLines" => {
            let rate = o.tax_lines.first().map_or(0.0, |t| t.1);
            let tax = amount((cents(&o.shipping) as f64 * rate).round() as i64);
            Value::Array(
                o.tax_lines
                    .iter()
                    .map(|t| {
                        object(x, path,
                            json!({ "title": t.0, "rate": t.1, "ratePercentage": t.1 * 100.0, "priceSet": bag_json(x, &tax), "price": tax, "channelLiable": false, "source": "Shopify" }),
                            f,
                        )
                    })
                    .collect(),
            )
        }
        _ => return listed(x, f, path, SHIPPING_EMPTY),
    })
}

/// `TaxLine`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `tax_line_more`.
pub(super) fn tax_line<'a>(
    x: &mut Exec<'a>,
    t: &'a (String, f64, String),
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "title" => json!(t.0),
        "rate" => json!(t.1),
        "ratePercentage" => json!(t.1 * 100.0),
        "priceSet" => x.set(Obj::Money(&t.2), &f.selection_set, path),
        _ => return tax_line_more(x, t, f, path),
    })
}

fn tax_line_more(
    x: &mut Exec,
    t: &(String, f64, String),
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "price" => json!(t.2),
        "source" => json!("Shopify"),
        "channelLiable" => json!(false),
        _ => return listed(x, f, path, &[]),
    })
}

/// The items of the connections of this module's objects.
pub(super) fn items<'a>(x: &mut Exec<'a>, obj: Obj<'a>, f: &Field) -> Option<Vec<Item<'a>>> {
    match (obj, f.name.as_str()) {
        (Obj::Query, "orders") => Some(orders(x, f)),
        (Obj::Order(o), "lineItems") => {
            Some(o.line_items.iter().map(|l| Item::by_id(Obj::LineItem(o, l), l.id)).collect())
        }
        (Obj::Order(o), "shippingLines") => Some(vec![Item::by_id(Obj::ShippingLine(o), o.id)]),
        (Obj::Order(o), "fulfillmentOrders") => {
            Some(o.fulfillment_orders.iter().map(|fo| Item::by_id(Obj::Fo(o, fo), fo.id)).collect())
        }
        (Obj::Fo(o, fo), "lineItems") => {
            Some(fo.lines.iter().map(|l| Item::by_id(Obj::FoLine(o, l), l.id)).collect())
        }
        _ => None,
    }
}

/// `orders(query:, sortKey:)`: the orders the app may see, filtered and with their sort keys.
pub(super) fn orders<'a>(x: &mut Exec<'a>, f: &Field) -> Vec<Item<'a>> {
    let filter = x.search_filter(f);
    let key = x.sort_key(f);
    let shop = x.shop;
    shop.orders
        .values()
        .filter(|o| shop.order_visible(o))
        .filter(|o| {
            filter.as_ref().is_none_or(|e| {
                search::matches(e, &|field| match field {
                    None | Some("name") => Some(FieldValue::Text(o.name())),
                    Some("id") => Some(FieldValue::Number(o.id)),
                    Some("updated_at") => Some(FieldValue::Time(o.updated_at)),
                    Some("created_at" | "processed_at") => Some(FieldValue::Time(o.created_at)),
                    Some("email") => Some(FieldValue::Text(o.email.clone())),
                    Some("tag") => Some(FieldValue::Texts(o.tags.clone())),
                    Some("sku") => Some(FieldValue::Texts(
                        o.line_items.iter().map(|l| l.sku.clone()).collect(),
                    )),
                    Some("financial_status") => Some(FieldValue::Text(o.financial_status.clone())),
                    Some("fulfillment_status") => Some(FieldValue::Text(
                        match o.fulfillment_status() {
                            "FULFILLED" => "shipped",
                            "PARTIALLY_FULFILLED" => "partial",
                            _ => "unshipped",
                        }
                        .into(),
                    )),
                    Some("status") => Some(FieldValue::Texts(vec![
                        if o.cancelled {
                            "cancelled"
                        } else if o.closed {
                            "closed"
                        } else {
                            "open"
                        }
                        .into(),
                        if o.closed { "closed" } else { "not_closed" }.into(),
                    ])),
                    Some("test") => Some(FieldValue::Bool(false)),
                    _ => None,
                })
            })
        })
        .map(|o| Item {
            obj: Obj::Order(o),
            sort: match key.as_str() {
                "UPDATED_AT" => {
                    time(&o.updated_at) + &format!("{:?}", o.updated_at.timestamp_subsec_micros())
                }
                "ID" | "ORDER_NUMBER" => format!("{:020}", o.id),
                _ => time(&o.created_at) + &format!("{:?}", o.created_at.timestamp_subsec_micros()),
            },
            id: o.id,
        })
        .collect()
}
