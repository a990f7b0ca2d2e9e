//! The Shopify order as order-sync keeps it: read from an `OrdersPage` node into plain types
//! with money in the order's minor units, checked on the way (an answer that cannot be a whole
//! order is an error for that order alone), and the part of it a sales document is made of
//! ([`Content`]), to notice an order edited after processing and to say what changed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shopsync_shopify::ops::Decimal;
use shopsync_shopify::ops::orders_page::{
    OrdersPageOrdersNodes as Node, OrdersPageOrdersNodesLineItemsNodes as LineNode,
    OrdersPageOrdersNodesRefunds as RefundNode,
    OrdersPageOrdersNodesShippingLinesNodes as ShippingLineNode,
    OrdersPageOrdersNodesTaxLines as TaxLineNode,
    OrdersPageOrdersNodesTransactions as TransactionNode,
};
use shopsync_shopify::{CurrencyCode, Money};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Shopify's numeric id.
    pub id: i64,
    pub gid: String,
    /// `#1001`.
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled: bool,
    pub closed: bool,
    /// snake_case, as the saved filters name them (`paid`, `partially_refunded`).
    pub financial_status: String,
    pub fulfillment_status: String,
    pub fully_paid: bool,
    /// The shop's currency (amounts are the shop money).
    pub currency: String,
    pub taxes_included: bool,
    pub tags: Vec<String>,
    pub source_name: Option<String>,
    pub customer: Option<Customer>,
    /// Shopify recommends cancelling, or an assessment says high.
    pub high_risk: bool,
    pub subtotal_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    pub discounts_minor: i64,
    pub total_minor: i64,
    pub tax_lines: Vec<TaxLine>,
    pub shipping_lines: Vec<ShippingLine>,
    pub lines: Vec<Line>,
    pub transactions: Vec<Transaction>,
    pub refunds: Vec<Refund>,
    pub fulfillment_orders: Vec<FulfillmentOrder>,
    pub fulfillments: Vec<Fulfillment>,
    pub shipping_address: Option<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub gid: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxLine {
    pub title: String,
    pub rate: Option<f64>,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingLine {
    pub title: String,
    pub code: Option<String>,
    pub price_minor: i64,
    /// After shipping discounts.
    pub discounted_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub gid: String,
    /// Shopify's numeric line item id (the ERP line carries it).
    pub id: i64,
    pub sku: Option<String>,
    pub name: String,
    pub quantity: i64,
    /// After edits and removals (what the document is made of).
    pub current_quantity: i64,
    pub variant_gid: Option<String>,
    pub barcode: Option<String>,
    pub unit_price_minor: i64,
    /// Every discount allocated to the line (order-level discounts included).
    pub discount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub gid: String,
    pub kind: String,
    pub status: String,
    pub gateway: Option<String>,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub gid: String,
    pub created_at: Option<DateTime<Utc>>,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentOrder {
    pub gid: String,
    pub status: String,
    pub location_gid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfillment {
    pub gid: String,
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    pub country_code: Option<String>,
}

use shopsync_shopify::pages::ORDER_CAPS;

impl Order {
    /// `order #1001 (gid://shopify/Order/42)`, as cues and run logs name it.
    pub fn record(&self) -> String {
        record(&self.name, &self.gid)
    }

    /// Read one `OrdersPage` node (its lines complete); the error is the reason the order
    /// cannot be imported.
    pub fn from_node(n: Node) -> Result<Order, String> {
        let currency = n.currency_code;
        let money = |amount: Decimal, what: &str| minor(amount, currency, what);
        check_whole(&n)?;
        let id = n
            .legacy_resource_id
            .parse::<i64>()
            .map_err(|_| format!("legacyResourceId {:?} is not a number", n.legacy_resource_id))?;
        let lines = n
            .line_items
            .nodes
            .into_iter()
            .map(|l| line(l, currency))
            .collect::<Result<Vec<_>, _>>()?;
        let high_risk = enum_str(&n.risk.recommendation) == "CANCEL"
            || n.risk.assessments.iter().any(|a| enum_str(&a.risk_level) == "HIGH");
        Ok(Order {
            id,
            name: n.name,
            email: n.email,
            phone: n.phone,
            created_at: time(&n.created_at, "createdAt")?,
            updated_at: time(&n.updated_at, "updatedAt")?,
            cancelled: n.cancelled_at.is_some(),
            closed: n.closed,
            financial_status: n
                .display_financial_status
                .as_ref()
                .map(enum_str)
                .unwrap_or_default()
                .to_ascii_lowercase(),
            fulfillment_status: enum_str(&n.display_fulfillment_status).to_ascii_lowercase(),
            fully_paid: n.fully_paid,
            currency: currency.as_str().to_owned(),
            taxes_included: n.taxes_included,
            tags: n.tags,
            source_name: n.source_name,
            customer: n.customer.map(|c| Customer {
                gid: c.id,
                email: c.default_email_address.map(|e| e.email_address),
                phone: c.default_phone_number.map(|p| p.phone_number),
                first_name: c.first_name,
                last_name: c.last_name,
            }),
            high_risk,
            // Shopify's current amounts: after edits and refunded lines and shipping.
            subtotal_minor: money(n.current_subtotal_price_set.shop_money.amount, "subtotal")?,
            shipping_minor: money(n.current_shipping_price_set.shop_money.amount, "shipping")?,
            tax_minor: money(n.current_total_tax_set.shop_money.amount, "tax")?,
            discounts_minor: n
                .total_discounts_set
                .map(|m| money(m.shop_money.amount, "discounts"))
                .transpose()?
                .unwrap_or(0),
            total_minor: money(n.current_total_price_set.shop_money.amount, "total")?,
            tax_lines: tax_lines(n.tax_lines, currency)?,
            shipping_lines: shipping_lines(n.shipping_lines.nodes, currency)?,
            lines,
            transactions: transactions(n.transactions, currency)?,
            refunds: refunds(n.refunds, currency)?,
            fulfillment_orders: n
                .fulfillment_orders
                .nodes
                .into_iter()
                .map(|f| FulfillmentOrder {
                    gid: f.id,
                    status: enum_str(&f.status),
                    location_gid: f.assigned_location.location.map(|l| l.id),
                })
                .collect(),
            fulfillments: n
                .fulfillments
                .into_iter()
                .map(|f| Fulfillment {
                    gid: f.id,
                    status: enum_str(&f.status),
                    created_at: time(&f.created_at, "fulfillment createdAt").ok(),
                })
                .collect(),
            shipping_address: n.shipping_address.map(|a| Address {
                first_name: a.first_name,
                last_name: a.last_name,
                address1: a.address1,
                city: a.city,
                zip: a.zip,
                country_code: a.country_code_v2.as_ref().map(enum_str),
            }),
            gid: n.id,
        })
    }

    /// What the sales document is made of.
    pub fn content(&self) -> Content {
        Content {
            lines: self
                .lines
                .iter()
                .filter(|l| l.current_quantity > 0)
                .map(|l| ContentLine {
                    id: l.id,
                    sku: l.sku.clone().unwrap_or_default(),
                    quantity: l.current_quantity,
                    unit_price_minor: l.unit_price_minor,
                    discount_minor: l.discount_minor,
                })
                .collect(),
            shipping_minor: self.shipping_lines.iter().map(|s| s.discounted_minor).sum(),
            cancelled: self.cancelled,
        }
    }
}

/// The numeric id at the end of a gid (`gid://shopify/Refund/42` -> 42).
pub fn legacy_id(gid: &str) -> Option<i64> {
    gid.rsplit('/').next().and_then(|s| s.parse().ok())
}

/// `order #1001 (gid://shopify/Order/42)`.
pub fn record(name: &str, gid: &str) -> String {
    format!("order {name} ({gid})")
}

/// What a sales document is made of: the lines still ordered and the shipping charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub lines: Vec<ContentLine>,
    pub shipping_minor: i64,
    /// Cancelled in Shopify (left out of the form, so of the hash, while false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentLine {
    pub id: i64,
    pub sku: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub discount_minor: i64,
}

impl Content {
    /// A stable digest (hex SHA-256 of the JSON form).
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// What changed from `before` to `self`, as a person reads it (empty: nothing).
    pub fn changes_since(&self, before: &Content) -> Vec<String> {
        let mut out = Vec::new();
        if self.cancelled && !before.cancelled {
            out.push("cancelled in Shopify".to_owned());
        }
        let name = |l: &ContentLine| {
            if l.sku.is_empty() { format!("line {}", l.id) } else { format!("SKU {}", l.sku) }
        };
        for old in &before.lines {
            match self.lines.iter().find(|l| l.id == old.id) {
                None => out.push(format!("{} removed", name(old))),
                Some(new) => {
                    if new.quantity != old.quantity {
                        out.push(format!(
                            "{} quantity {} -> {}",
                            name(new),
                            old.quantity,
                            new.quantity
                        ));
                    }
                    if new.unit_price_minor != old.unit_price_minor
                        || new.discount_minor != old.discount_minor
                    {
                        out.push(format!("{} price or discount changed", name(new)));
                    }
                }
            }
        }
        for new in &self.lines {
            if !before.lines.iter().any(|l| l.id == new.id) {
                out.push(format!("{} added (quantity {})", name(new), new.quantity));
            }
        }
        if self.shipping_minor != before.shipping_minor {
            out.push(format!(
                "shipping {} -> {} (minor units)",
                before.shipping_minor, self.shipping_minor
            ));
        }
        out
    }
}

/// An error unless the node holds the whole order: what `OrderLists` read whole came back
/// under its cap, and the paged lists were read to the end.
fn check_whole(n: &Node) -> Result<(), String> {
    let full = |len: usize, cap: usize, what: &str| {
        if len >= cap {
            Err(format!("{cap} or more {what}: more than shopsync reads of one order"))
        } else {
            Ok(())
        }
    };
    full(n.transactions.len(), ORDER_CAPS.transactions.whole, "transactions")?;
    full(n.refunds.len(), ORDER_CAPS.refunds.whole, "refunds")?;
    full(n.fulfillments.len(), ORDER_CAPS.fulfillments.whole, "fulfillments")?;
    if n.shipping_lines.page_info.has_next_page {
        return Err("more than 50 shipping lines: more than shopsync reads".into());
    }
    if n.fulfillment_orders.page_info.has_next_page {
        return Err("more than 50 fulfillment orders: more than shopsync reads".into());
    }
    if n.line_items.page_info.has_next_page {
        return Err("its lines were not read to the end".into());
    }
    Ok(())
}

/// An amount in `currency`'s minor units; the error names `what` it is.
fn minor(amount: Decimal, currency: CurrencyCode, what: &str) -> Result<i64, String> {
    Money::new(amount, currency).and_then(|m| m.minor_units()).map_err(|e| format!("{what}: {e}"))
}

fn tax_lines(nodes: Vec<TaxLineNode>, currency: CurrencyCode) -> Result<Vec<TaxLine>, String> {
    nodes
        .into_iter()
        .map(|t| {
            Ok(TaxLine {
                amount_minor: minor(t.price_set.shop_money.amount, currency, "tax line")?,
                title: t.title,
                rate: t.rate,
            })
        })
        .collect()
}

fn shipping_lines(
    nodes: Vec<ShippingLineNode>,
    currency: CurrencyCode,
) -> Result<Vec<ShippingLine>, String> {
    nodes
        .into_iter()
        .map(|s| {
            Ok(ShippingLine {
                price_minor: minor(
                    s.original_price_set.shop_money.amount,
                    currency,
                    "shipping line",
                )?,
                discounted_minor: minor(
                    s.discounted_price_set.shop_money.amount,
                    currency,
                    "shipping line",
                )?,
                title: s.title,
                code: s.code,
            })
        })
        .collect()
}

fn transactions(
    nodes: Vec<TransactionNode>,
    currency: CurrencyCode,
) -> Result<Vec<Transaction>, String> {
    nodes
        .into_iter()
        .map(|t| {
            Ok(Transaction {
                amount_minor: minor(t.amount_set.shop_money.amount, currency, "transaction")?,
                gid: t.id,
                kind: enum_str(&t.kind),
                status: enum_str(&t.status),
                gateway: t.gateway,
            })
        })
        .collect()
}

fn refunds(nodes: Vec<RefundNode>, currency: CurrencyCode) -> Result<Vec<Refund>, String> {
    nodes
        .into_iter()
        .map(|r| {
            Ok(Refund {
                amount_minor: minor(r.total_refunded_set.shop_money.amount, currency, "refund")?,
                gid: r.id,
                created_at: r.created_at.as_deref().and_then(|t| time(t, "refund createdAt").ok()),
            })
        })
        .collect()
}

fn line(l: LineNode, order_currency: CurrencyCode) -> Result<Line, String> {
    let what = format!("line {}", l.id);
    let price = l.original_unit_price_set.shop_money;
    let unit = minor(price.amount, price.currency_code, &what)?;
    if price.currency_code != order_currency {
        return Err(format!(
            "{what}: price in {} but the order is in {}",
            price.currency_code.as_str(),
            order_currency.as_str()
        ));
    }
    let mut discount = 0i64;
    for d in &l.discount_allocations {
        discount += minor(
            d.allocated_amount_set.shop_money.amount,
            order_currency,
            &format!("{what} discount"),
        )?;
    }
    let id = legacy_id(&l.id).ok_or_else(|| format!("{what}: not a line item id"))?;
    Ok(Line {
        id,
        sku: l.sku.filter(|s| !s.trim().is_empty()),
        name: l.name,
        quantity: l.quantity,
        current_quantity: l.current_quantity,
        variant_gid: l.variant.as_ref().map(|v| v.id.clone()),
        barcode: l.variant.and_then(|v| v.barcode).filter(|b| !b.trim().is_empty()),
        unit_price_minor: unit,
        discount_minor: discount,
        gid: l.id,
    })
}

fn time(s: &str, what: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{what} {s:?} is not an RFC 3339 time"))
}

/// A generated enum's GraphQL name (`PAID`, `HIGH`); an unknown value keeps Shopify's text.
fn enum_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(lines: &[(i64, &str, i64)], shipping: i64) -> Content {
        Content {
            lines: lines
                .iter()
                .map(|&(id, sku, quantity)| ContentLine {
                    id,
                    sku: sku.into(),
                    quantity,
                    unit_price_minor: 1000,
                    discount_minor: 0,
                })
                .collect(),
            shipping_minor: shipping,
            cancelled: false,
        }
    }

    #[test]
    fn changes_say_what_changed() {
        let before = content(&[(1, "A", 2), (2, "B", 1)], 500);
        assert!(before.changes_since(&before).is_empty());
        assert_eq!(before.hash(), before.clone().hash());
        let after = content(&[(1, "A", 3), (3, "C", 1)], 700);
        assert_ne!(after.hash(), before.hash());
        assert_eq!(
            after.changes_since(&before),
            [
                "SKU A quantity 2 -> 3",
                "SKU B removed",
                "SKU C added (quantity 1)",
                "shipping 500 -> 700 (minor units)"
            ]
        );
    }
}
