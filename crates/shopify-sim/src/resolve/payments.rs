//! Shopify Payments: the account, its balance transactions (each with its order and payout)
//! and payouts with their summaries by kind.

use super::{Exec, Obj, amount, cents, listed, maybe, money, money_json, object};
use crate::exec::time;
use crate::store::{BalanceTx, Order, Payout, gid};
use apollo_compiler::executable::Field;
use serde_json::{Value, json};

pub(super) fn payments_account<'a>(
    x: &mut Exec<'a>,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("ShopifyPaymentsAccount", 1)),
        "balanceTransactions" | "payouts" => super::connection(x, Obj::Payments, f, path),
        _ => return None,
    })
}

pub(super) fn balance_transaction<'a>(
    x: &mut Exec<'a>,
    b: &'a BalanceTx,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "id" => json!(gid("ShopifyPaymentsBalanceTransaction", b.id)),
        "type" | "sourceType" => json!(b.kind),
        "amount" => x.set(Obj::Money(&b.amount), &f.selection_set, path),
        "fee" => x.set(Obj::Money(&b.fee), &f.selection_set, path),
        "net" => x.set(Obj::Money(&b.net), &f.selection_set, path),
        "transactionDate" => json!(time(&b.at)),
        "test" => json!(false),
        "sourceOrderTransactionId" | "sourceId" => json!(b.id.to_string()),
        "associatedOrder" => maybe(x, shop.orders.get(&b.order_id).map(Obj::AssocOrder), f, path),
        "associatedPayout" => {
            let p = b.payout.and_then(|p| shop.payouts.get(&p));
            x.set(Obj::AssocPayout(p), &f.selection_set, path)
        }
        "adjustmentsOrders" => json!([]),
        "adjustmentReason" => Value::Null,
        _ => return None,
    })
}

pub(super) fn associated_order(o: &Order, f: &Field) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("Order", o.id)),
        "name" => json!(o.name()),
        _ => return None,
    })
}

pub(super) fn associated_payout(p: Option<&Payout>, f: &Field) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(p.map(|p| gid("ShopifyPaymentsPayout", p.id))),
        "status" => json!(p.map_or("PENDING", |p| p.status.as_str())),
        _ => return None,
    })
}

/// Sums of a payout's balance transactions by kind: (gross, fee).
fn sums(x: &Exec, p: &Payout, kind: &str) -> (i64, i64) {
    x.shop
        .balance_txs
        .values()
        .filter(|b| b.payout == Some(p.id) && b.kind == kind)
        .fold((0, 0), |(g, fee), b| (g + cents(&b.amount), fee + cents(&b.fee)))
}

/// `ShopifyPaymentsPayout`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `payout_more`.
pub(super) fn payout<'a>(
    x: &mut Exec<'a>,
    p: &'a Payout,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("ShopifyPaymentsPayout", p.id)),
        "legacyResourceId" => json!(p.id.to_string()),
        "issuedAt" => json!(time(&p.issued_at)),
        "net" => x.set(Obj::Money(&p.net), &f.selection_set, path),
        "status" => json!(p.status),
        "transactionType" => json!("DEPOSIT"),
        "externalTraceId" => Value::Null,
        _ => return payout_more(x, p, f, path),
    })
}

fn payout_more<'a>(
    x: &mut Exec<'a>,
    p: &'a Payout,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let (charges, charge_fees) = sums(x, p, "CHARGE");
    let (refunds, refund_fees) = sums(x, p, "REFUND");
    Some(match f.name.as_str() {
        "businessEntity" => object(x, path, super::orders::business_entity(x), f),
        "gross" => money(x, &amount(charges + refunds), f),
        "summary" => {
            let m = |c: i64| money_json(x, &amount(c));
            object(
                x,
                path,
                json!({
                    "chargesGross": m(charges), "chargesFee": m(charge_fees),
                    "refundsFeeGross": m(refunds), "refundsFee": m(refund_fees),
                    "adjustmentsGross": m(0), "adjustmentsFee": m(0),
                    "advanceGross": m(0), "advanceFees": m(0),
                    "reservedFundsGross": m(0), "reservedFundsFee": m(0),
                    "retriedPayoutsGross": m(0), "retriedPayoutsFee": m(0),
                    "usdcRebateCreditAmount": m(0),
                }),
                f,
            )
        }
        _ => return listed(x, f, path, &["bankAccount"]),
    })
}
