//! An order's transactions and refunds: refund lines and refunded shipping, with the
//! amounts Shopify derives from them.

use super::orders::money_of;
use super::{Exec, Item, Obj, amount, bag, cents, listed, maybe, money, object};
use crate::exec::time;
use crate::store::{Order, Refund, RefundLine, RefundShipping, Transaction, gid};
use apollo_compiler::executable::Field;
use serde_json::{Value, json};

const TRANSACTION_EMPTY: &[&str] = &[
    "accountNumber",
    "amountRoundingSet",
    "authorizationExpiresAt",
    "currencyExchangeAdjustment",
    "device",
    "location",
    "parentTransaction",
    "paymentDetails",
    "paymentMethod",
    "receiptJson",
    "shopifyPaymentsSet",
    "user",
    "multiCapturable",
    "paymentIcon",
];

/// `OrderTransaction`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `transaction_more`.
pub(super) fn transaction<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    t: &'a Transaction,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("OrderTransaction", t.id)),
        "kind" => json!(t.kind),
        "status" => json!(t.status),
        "gateway" => json!(t.gateway),
        "paymentId" => json!(format!("pay_{}", t.id)),
        "createdAt" | "processedAt" => json!(time(&t.created_at)),
        "amountSet" => x.set(Obj::Money(&t.amount), &f.selection_set, path),
        _ => return transaction_more(x, o, t, f, path),
    })
}

fn transaction_more<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    t: &'a Transaction,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let authorized = t.kind == "AUTHORIZATION" && t.status == "SUCCESS";
    let capturable = authorized && money_of(o).capturable > 0;
    let refundable = if t.status == "SUCCESS" && (t.kind == "SALE" || t.kind == "CAPTURE") {
        amount(
            crate::orders::refundable_cents(o, crate::money::current_units())
                .min(cents(&t.amount))
                .max(0),
        )
    } else {
        amount(0)
    };
    Some(match f.name.as_str() {
        "amount" => json!(t.amount),
        "amountV2" => money(x, &t.amount, f),
        "authorizationCode" => {
            if authorized {
                json!(format!("{:06}", t.id % 1_000_000))
            } else {
                Value::Null
            }
        }
        "errorCode" => {
            if t.status == "FAILURE" {
                json!("GENERIC_ERROR")
            } else {
                Value::Null
            }
        }
        // Shopify Payments' processing fee of a settled charge (its balance transaction's).
        "fees" => {
            let fees: Vec<Value> = x
                .shop
                .balance_txs
                .get(&t.id)
                .filter(|b| b.kind == "CHARGE")
                .map(|b| {
                    json!({
                        "id": gid("TransactionFee", t.id), "type": "payment", "amount": super::money_json(x, &b.fee),
                        "flatFee": super::money_json(x, "0.25"), "flatFeeName": null, "rate": "0.029",
                        "rateName": null, "taxAmount": super::money_json(x, "0.00"),
                    })
                })
                .into_iter()
                .collect();
            object(x, path, Value::Array(fees), f)
        }
        "formattedGateway" => json!(match t.gateway.as_str() {
            "shopify_payments" => "Shopify Payments",
            "manual" => "Manual",
            other => other,
        }),
        "manualPaymentGateway" => json!(t.gateway == "manual"),
        "manuallyCapturable" => json!(capturable),
        "maximumRefundable" => json!(refundable),
        "maximumRefundableV2" => money(x, &refundable, f),
        "order" => x.set(Obj::Order(o), &f.selection_set, path),
        "settlementCurrency" => json!(x.shop.currency),
        "settlementCurrencyRate" => json!("1.0"),
        "test" => json!(false),
        "totalUnsettled" => json!(if capturable { t.amount.clone() } else { amount(0) }),
        "totalUnsettledSet" => bag(x, &if capturable { t.amount.clone() } else { amount(0) }, f),
        "totalUnsettledV2" => money(x, &if capturable { t.amount.clone() } else { amount(0) }, f),
        _ => return listed(x, f, path, TRANSACTION_EMPTY),
    })
}

const REFUND_EMPTY: &[&str] = &["duties", "orderAdjustments", "return", "staffMember"];

/// `Refund`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `refund_more`.
pub(super) fn refund<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    r: &'a Refund,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("Refund", r.id)),
        "createdAt" => json!(time(&r.created_at)),
        "totalRefundedSet" => x.set(Obj::Money(&r.amount), &f.selection_set, path),
        _ => return refund_more(x, o, r, f, path),
    })
}

fn refund_more<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    r: &'a Refund,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "legacyResourceId" => json!(r.id.to_string()),
        "note" => json!(r.note),
        "order" => x.set(Obj::Order(o), &f.selection_set, path),
        "processedAt" | "updatedAt" => json!(time(&r.created_at)),
        "totalRefunded" => money(x, &r.amount, f),
        "refundLineItems" => {
            let items = r.lines.iter().map(|l| Item::by_id(Obj::RefundLine(o, l), l.id)).collect();
            x.connection(f, items, path)
        }
        "refundShippingLines" => {
            let items =
                r.shipping.iter().map(|s| Item::by_id(Obj::RefundShipping(o, s), s.id)).collect();
            x.connection(f, items, path)
        }
        "transactions" => {
            // The refund's REFUND transaction (older saves: the REFUND of the same amount made
            // at the same time).
            let items = o
                .transactions
                .iter()
                .filter(|t| match r.transaction {
                    Some(id) => t.id == id,
                    None => {
                        t.kind == "REFUND" && t.created_at == r.created_at && t.amount == r.amount
                    }
                })
                .map(|t| Item::by_id(Obj::Transaction(o, t), t.id))
                .collect();
            x.connection(f, items, path)
        }
        _ => return listed(x, f, path, REFUND_EMPTY),
    })
}

/// A refunded line item.
pub(super) fn refund_line<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    l: &'a RefundLine,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("RefundLineItem", l.id)),
        "lineItem" => match o.line_items.iter().find(|li| li.id == l.line_item_id) {
            Some(li) => x.set(Obj::LineItem(o, li), &f.selection_set, path),
            None => x.not_simulated_on("RefundLineItem", f, path),
        },
        "location" => {
            let found = l.location_id.and_then(|id| x.shop.locations.get(&id)).map(Obj::Location);
            maybe(x, found, f, path)
        }
        "price" => json!(l.price),
        "priceSet" => bag(x, &l.price, f),
        "quantity" => json!(l.quantity),
        "restockType" => json!(l.restock_type),
        "restocked" => json!(l.restocked),
        "subtotal" => json!(l.subtotal),
        "subtotalSet" => bag(x, &l.subtotal, f),
        "totalTax" => json!(l.total_tax),
        "totalTaxSet" => bag(x, &l.total_tax, f),
        _ => return None,
    })
}

/// The shipping refunded with a refund.
pub(super) fn refund_shipping<'a>(
    x: &mut Exec<'a>,
    o: &'a Order,
    s: &'a RefundShipping,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("RefundShippingLine", s.id)),
        "shippingLine" => x.set(Obj::ShippingLine(o), &f.selection_set, path),
        "subtotalAmountSet" => bag(x, &s.subtotal, f),
        "taxAmountSet" => bag(x, &s.tax, f),
        _ => return None,
    })
}
