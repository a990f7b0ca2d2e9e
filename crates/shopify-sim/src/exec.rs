//! Executes a validated query against a shop's data. The fields sync reads are simulated;
//! a field the simulator does not know yet answers null with a `NOT_SIMULATED` error naming
//! it, so a gap is visible instead of silently wrong.

use crate::search::{self, FieldValue};
use crate::store::{
    Address, BalanceTx, Catalog, Company, CompanyLocation, Contact, Payout, PriceList, Refund,
    Transaction,
};
use crate::store::{
    AdjustmentGroup, BulkOp, Change, Customer, FoLine, Fulfillment, FulfillmentOrder, LineItem,
    Location, Order, Product, Quantities, Shop, Variant, gid, parse_gid,
};

const QUANTITY_NAMES: [&str; 8] = [
    "available",
    "on_hand",
    "committed",
    "reserved",
    "damaged",
    "quality_control",
    "safety_stock",
    "incoming",
];
use apollo_compiler::ExecutableDocument;
use apollo_compiler::ast::Value as AstValue;
use apollo_compiler::executable::{Field, Selection, SelectionSet};
use apollo_compiler::validation::Valid;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

pub struct Exec<'a> {
    pub doc: &'a Valid<ExecutableDocument>,
    pub variables: &'a Map<String, Value>,
    pub shop: &'a Shop,
    pub errors: Vec<Value>,
    /// The simulator's clock, in simulated seconds (bulk operation progress).
    pub now: f64,
    /// Set when a non-null field could not be answered: the whole answer is an error then,
    /// never a silent null inside `data`.
    pub failed_non_null: bool,
    /// Response keys of the fields answered with Shopify's empty case (`resolve::empty`),
    /// for the coverage measurement.
    pub empty_answers: Vec<String>,
}

/// The object a mutation's payload returns.
#[derive(Debug, Clone)]
pub enum PayloadObject {
    /// Fixed prices just set: the price list and the variants.
    Prices(u64, Vec<u64>),
    Product(u64),
    Order(u64),
    /// An asynchronous job (already done in the simulator).
    Job(u64),
    /// A product and the variants just updated.
    Variants(u64, Vec<u64>),
    Customer(u64),
    Bulk(u64),
    Group(u64),
    Subscription(u64),
    Fulfillment(u64, u64),
    /// (order, fulfillment order).
    FulfillmentOrder(u64, u64),
    /// `stagedUploadsCreate` targets, already shaped as the schema's objects.
    StagedTargets(Vec<Value>),
    Company(u64),
    /// (company, location).
    CompanyLocation(u64, u64),
    /// (company, contact).
    Contact(u64, u64),
    /// The gid of what was deleted (`deleted…Id`).
    Deleted(String),
    /// Metafields just set, in input order.
    Metafields(Vec<u64>),
}

#[derive(Clone, Copy)]
pub(crate) enum Obj<'a> {
    Query,
    Shop,
    Product(&'a Product),
    Variant(&'a Product, &'a Variant),
    InventoryItem(&'a Variant),
    Customer(&'a Customer),
    Email(&'a Customer),
    Bulk(&'a BulkOp),
    Location(&'a Location),
    Level(u64, &'a Location, &'a Quantities),
    /// (name, quantity, inventory item, location).
    Quantity(&'static str, i64, u64, u64),
    Group(&'a AdjustmentGroup),
    Change(&'a Change),
    Subscription(&'a crate::store::Subscription),
    Order(&'a Order),
    LineItem(&'a Order, &'a LineItem),
    /// A MoneyBag or MoneyV2: amount and currency.
    Money(&'a str),
    Fo(&'a Order, &'a FulfillmentOrder),
    FoLine(&'a Order, &'a FoLine),
    Assigned(u64),
    Fulfillment(&'a Order, &'a Fulfillment),
    Tracking(&'a Fulfillment),
    Transaction(&'a Order, &'a Transaction),
    Refund(&'a Order, &'a Refund),
    RefundLine(&'a Order, &'a crate::store::RefundLine),
    RefundShipping(&'a Order, &'a crate::store::RefundShipping),
    Address(&'a Address),
    ShippingLine(&'a Order),
    TaxLine(&'a (String, f64, String)),
    Payments,
    BalanceTx(&'a BalanceTx),
    Payout(&'a Payout),
    AssocOrder(&'a Order),
    AssocPayout(Option<&'a Payout>),
    Company(&'a Company),
    CompanyLocation(&'a Company, &'a CompanyLocation),
    Contact(&'a Company, &'a Contact),
    Catalog(&'a Catalog),
    PriceList(&'a PriceList),
    Price(u64, &'a str),
    Media(&'a crate::store::Media),
    Image(&'a crate::store::Media),
    MediaError(&'a (String, String)),
    Count(usize),
    Metafield(&'a crate::store::Metafield),
    /// (order, line item, quantity, fulfillment order line): a line of a fulfilment.
    FulfillmentLine(&'a Order, &'a LineItem, i64, u64),
}

impl Obj<'_> {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Obj::Query => "QueryRoot",
            Obj::Shop => "Shop",
            Obj::Product(_) => "Product",
            Obj::Variant(..) => "ProductVariant",
            Obj::InventoryItem(_) => "InventoryItem",
            Obj::Customer(_) => "Customer",
            Obj::Email(_) => "CustomerEmailAddress",
            Obj::Bulk(_) => "BulkOperation",
            Obj::Location(_) => "Location",
            Obj::Level(..) => "InventoryLevel",
            Obj::Quantity(..) => "InventoryQuantity",
            Obj::Group(_) => "InventoryAdjustmentGroup",
            Obj::Change(_) => "InventoryChange",
            Obj::Subscription(_) => "WebhookSubscription",
            Obj::Order(_) => "Order",
            Obj::LineItem(..) => "LineItem",
            Obj::Money(_) => "MoneyV2",
            Obj::Fo(..) => "FulfillmentOrder",
            Obj::FoLine(..) => "FulfillmentOrderLineItem",
            Obj::Assigned(_) => "FulfillmentOrderAssignedLocation",
            Obj::Fulfillment(..) => "Fulfillment",
            Obj::Tracking(_) => "FulfillmentTrackingInfo",
            Obj::Transaction(..) => "OrderTransaction",
            Obj::Refund(..) => "Refund",
            Obj::RefundLine(..) => "RefundLineItem",
            Obj::RefundShipping(..) => "RefundShippingLine",
            Obj::Address(_) => "MailingAddress",
            Obj::ShippingLine(_) => "ShippingLine",
            Obj::TaxLine(_) => "TaxLine",
            Obj::Payments => "ShopifyPaymentsAccount",
            Obj::BalanceTx(_) => "ShopifyPaymentsBalanceTransaction",
            Obj::Payout(_) => "ShopifyPaymentsPayout",
            Obj::AssocOrder(_) => "ShopifyPaymentsAssociatedOrder",
            Obj::AssocPayout(_) => "ShopifyPaymentsBalanceTransactionAssociatedPayout",
            Obj::Company(_) => "Company",
            Obj::CompanyLocation(..) => "CompanyLocation",
            Obj::Contact(..) => "CompanyContact",
            Obj::Catalog(_) => "CompanyLocationCatalog",
            Obj::PriceList(_) => "PriceList",
            Obj::Price(..) => "PriceListPrice",
            Obj::Media(_) => "MediaImage",
            Obj::Image(_) => "Image",
            Obj::MediaError(_) => "MediaError",
            Obj::Count(_) => "Count",
            Obj::Metafield(_) => "Metafield",
            Obj::FulfillmentLine(..) => "FulfillmentLineItem",
        }
    }
}

/// The gid of an object that has one (metafield owners, bulk parents).
pub(crate) fn gid_of(obj: &Obj) -> Option<String> {
    Exec::gid_of(obj)
}

/// One item of a connection: its object, sort key and id (the cursor).
pub(crate) struct Item<'a> {
    pub(crate) obj: Obj<'a>,
    pub(crate) sort: String,
    pub(crate) id: u64,
}

pub(crate) fn cursor(sort: &str, id: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{sort}\u{1f}{id}"))
}

fn decode_cursor(c: &str) -> Option<(String, u64)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    let (s, id) = raw.split_once('\u{1f}')?;
    Some((s.to_owned(), id.parse().ok()?))
}

pub(crate) fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl<'a> Exec<'a> {
    pub fn new(
        doc: &'a Valid<ExecutableDocument>,
        variables: &'a Map<String, Value>,
        shop: &'a Shop,
        now: f64,
    ) -> Self {
        crate::money::set_current_units(shop.units());
        Self {
            doc,
            variables,
            shop,
            errors: Vec::new(),
            now,
            failed_non_null: false,
            empty_answers: Vec::new(),
        }
    }

    pub fn run(&mut self, set: &SelectionSet) -> Value {
        self.set(Obj::Query, set, &mut Vec::new())
    }

    /// A mutation's payload after it ran: its object (a customer for now) and `userErrors`.
    pub fn payload(
        &mut self,
        f: &Field,
        object: Option<PayloadObject>,
        user_errors: &[Value],
    ) -> Value {
        let mut out = Map::new();
        let mut path = vec![json!(f.response_key().as_str())];
        for s in &f.selection_set.selections {
            let Selection::Field(pf) = s else { continue };
            let key = pf.response_key().to_string();
            let v = match pf.name.as_str() {
                "__typename" => json!(f.definition.ty.inner_named_type().as_str()),
                "customer"
                | "company"
                | "companyLocation"
                | "companyContact"
                | "bulkOperation"
                | "inventoryAdjustmentGroup"
                | "webhookSubscription"
                | "fulfillment"
                | "fulfillmentOrder"
                | "product"
                | "order" => {
                    let shop = self.shop;
                    let obj = match object.clone() {
                        Some(PayloadObject::Customer(id)) => {
                            shop.customers.get(&id).map(Obj::Customer)
                        }
                        Some(PayloadObject::Bulk(id)) => shop.bulk_ops.get(&id).map(Obj::Bulk),
                        Some(PayloadObject::Group(id)) => shop.adjustments.get(&id).map(Obj::Group),
                        Some(PayloadObject::Subscription(id)) => {
                            shop.subscriptions.get(&id).map(Obj::Subscription)
                        }
                        Some(PayloadObject::Fulfillment(order, id)) => {
                            shop.orders.get(&order).and_then(|o| {
                                o.fulfillments
                                    .iter()
                                    .find(|f| f.id == id)
                                    .map(|f| Obj::Fulfillment(o, f))
                            })
                        }
                        Some(PayloadObject::FulfillmentOrder(order, id)) => {
                            shop.orders.get(&order).and_then(|o| {
                                o.fulfillment_orders
                                    .iter()
                                    .find(|f| f.id == id)
                                    .map(|f| Obj::Fo(o, f))
                            })
                        }
                        Some(PayloadObject::Product(id) | PayloadObject::Variants(id, _)) => {
                            shop.products.get(&id).map(Obj::Product)
                        }
                        Some(PayloadObject::Order(id)) => shop.orders.get(&id).map(Obj::Order),
                        Some(PayloadObject::Company(id)) => {
                            shop.companies.get(&id).map(Obj::Company)
                        }
                        Some(PayloadObject::CompanyLocation(c, l)) => {
                            shop.companies.get(&c).and_then(|c| {
                                c.locations
                                    .iter()
                                    .find(|x| x.id == l)
                                    .map(|l| Obj::CompanyLocation(c, l))
                            })
                        }
                        Some(PayloadObject::Contact(c, k)) => {
                            shop.companies.get(&c).and_then(|c| {
                                c.contacts.iter().find(|x| x.id == k).map(|k| Obj::Contact(c, k))
                            })
                        }
                        Some(
                            PayloadObject::Prices(..)
                            | PayloadObject::Job(_)
                            | PayloadObject::StagedTargets(_)
                            | PayloadObject::Deleted(_)
                            | PayloadObject::Metafields(_),
                        )
                        | None => None,
                    };
                    match obj {
                        Some(o) => {
                            path.push(json!(key));
                            let v = self.set(o, &pf.selection_set, &mut path);
                            path.pop();
                            v
                        }
                        None => Value::Null,
                    }
                }
                "productVariants" => match &object {
                    Some(PayloadObject::Variants(pid, ids)) => match self.shop.products.get(pid) {
                        Some(p) => Value::Array(
                            p.variants
                                .iter()
                                .filter(|v| ids.contains(&v.id))
                                .map(|v| self.set(Obj::Variant(p, v), &pf.selection_set, &mut path))
                                .collect(),
                        ),
                        None => Value::Null,
                    },
                    _ => Value::Null,
                },
                "productSetOperation" => Value::Null,
                n if n.starts_with("deleted") && n.ends_with("Id") => match &object {
                    Some(PayloadObject::Deleted(g)) => json!(g),
                    _ => Value::Null,
                },
                "metafields" => match &object {
                    Some(PayloadObject::Metafields(ids)) => {
                        let shop = self.shop;
                        Value::Array(
                            ids.iter()
                                .filter_map(|id| shop.metafields.get(id))
                                .map(|m| self.set(Obj::Metafield(m), &pf.selection_set, &mut path))
                                .collect(),
                        )
                    }
                    _ => Value::Null,
                },
                "stagedTargets" => match &object {
                    Some(PayloadObject::StagedTargets(targets)) => Value::Array(
                        targets.iter().map(|t| project(t, &pf.selection_set, self.doc)).collect(),
                    ),
                    _ => Value::Null,
                },
                "job" => match &object {
                    Some(PayloadObject::Job(id)) => {
                        let mut m = Map::new();
                        for js in &pf.selection_set.selections {
                            if let Selection::Field(jf) = js {
                                let v = match jf.name.as_str() {
                                    "id" => json!(gid("Job", *id)),
                                    "done" => json!(true),
                                    "__typename" => json!("Job"),
                                    _ => Value::Null,
                                };
                                m.insert(jf.response_key().to_string(), v);
                            }
                        }
                        Value::Object(m)
                    }
                    _ => Value::Null,
                },
                "prices" => match &object {
                    Some(PayloadObject::Prices(list, variants)) => {
                        match self.shop.price_lists.get(list) {
                            Some(pl) => Value::Array(
                                variants
                                    .iter()
                                    .filter_map(|v| pl.prices.get(v).map(|p| (v, p)))
                                    .map(|(v, p)| {
                                        self.set(Obj::Price(*v, p), &pf.selection_set, &mut path)
                                    })
                                    .collect(),
                            ),
                            None => Value::Null,
                        }
                    }
                    _ => Value::Null,
                },
                "userErrors" | "orderCancelUserErrors" => Value::Array(
                    user_errors
                        .iter()
                        .map(|e| {
                            let mut m = Map::new();
                            for es in &pf.selection_set.selections {
                                if let Selection::Field(ef) = es {
                                    let v = if ef.name == "__typename" {
                                        json!("UserError")
                                    } else {
                                        e.get(ef.name.as_str()).cloned().unwrap_or(Value::Null)
                                    };
                                    m.insert(ef.response_key().to_string(), v);
                                }
                            }
                            Value::Object(m)
                        })
                        .collect(),
                ),
                _ => Value::Null,
            };
            out.insert(key, v);
        }
        Value::Object(out)
    }

    pub fn argument(&self, f: &Field, name: &str) -> Value {
        self.arg(f, name)
    }

    /// An argument of a directive on a field (`@idempotent(key:)`), if the directive is there.
    pub fn directive_argument(&self, f: &Field, directive: &str, name: &str) -> Option<Value> {
        let d = f.directives.get(directive)?;
        Some(d.specified_argument_by_name(name).map(|v| self.value(v)).unwrap_or(Value::Null))
    }

    /// An argument's value, coerced to its declared type (a single value where a list is
    /// expected becomes a list of one, at any depth of input objects).
    pub(crate) fn arg(&self, f: &Field, name: &str) -> Value {
        let def = f.definition.argument_by_name(name);
        let v = match f.specified_argument_by_name(name) {
            Some(v) => self.value(v),
            None => def
                .and_then(|d| d.default_value.as_ref())
                .map(|v| self.value(v))
                .unwrap_or(Value::Null),
        };
        match def {
            Some(d) => crate::gql::coerce_input(v, &d.ty),
            None => v,
        }
    }

    fn value(&self, v: &AstValue) -> Value {
        match v {
            AstValue::Null => Value::Null,
            AstValue::Variable(n) => self.variables.get(n.as_str()).cloned().unwrap_or(Value::Null),
            AstValue::Enum(e) => json!(e.as_str()),
            AstValue::String(s) => json!(s),
            AstValue::Boolean(b) => json!(b),
            AstValue::Int(i) => i.try_to_i32().map(|i| json!(i)).unwrap_or(Value::Null),
            AstValue::Float(x) => x.try_to_f64().map(|x| json!(x)).unwrap_or(Value::Null),
            AstValue::List(l) => Value::Array(l.iter().map(|v| self.value(v)).collect()),
            AstValue::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.to_string(), self.value(v))).collect())
            }
        }
    }

    fn applies(&self, cond: Option<&apollo_compiler::Name>, obj: &Obj) -> bool {
        match cond {
            None => true,
            Some(t) => {
                t.as_str() == obj.type_name()
                    || crate::schema::schema()
                        .get_object(obj.type_name())
                        .is_some_and(|o| o.implements_interfaces.iter().any(|i| i.name == *t))
            }
        }
    }

    pub(crate) fn set(&mut self, obj: Obj<'a>, set: &SelectionSet, path: &mut Vec<Value>) -> Value {
        let mut out = Map::new();
        self.set_into(obj, set, path, &mut out);
        Value::Object(out)
    }

    fn set_into(
        &mut self,
        obj: Obj<'a>,
        set: &SelectionSet,
        path: &mut Vec<Value>,
        out: &mut Map<String, Value>,
    ) {
        for s in &set.selections {
            match s {
                Selection::Field(f) => {
                    let key = f.response_key().to_string();
                    path.push(json!(key));
                    let v = self.field(obj, f, path);
                    path.pop();
                    out.insert(key, v);
                }
                Selection::InlineFragment(i) => {
                    if self.applies(i.type_condition.as_ref(), &obj) {
                        self.set_into(obj, &i.selection_set, path, out);
                    }
                }
                Selection::FragmentSpread(sp) => {
                    if let Some(fr) = self.doc.fragments.get(&sp.fragment_name)
                        && self.applies(Some(fr.type_condition()), &obj)
                    {
                        self.set_into(obj, &fr.selection_set, path, out);
                    }
                }
            }
        }
    }

    fn not_simulated(&mut self, obj: &Obj, f: &Field, path: &[Value]) -> Value {
        self.not_simulated_on(obj.type_name(), f, path)
    }

    /// A field of `type_name` the simulator does not answer: null with a NOT_SIMULATED error
    /// naming it; a non-null one fails the whole answer.
    pub(crate) fn not_simulated_on(&mut self, type_name: &str, f: &Field, path: &[Value]) -> Value {
        if f.definition.ty.is_non_null() {
            self.failed_non_null = true;
        }
        self.errors.push(json!({
            "message": format!("Field '{}' on type '{}' is not simulated by shopify-sim", f.name, type_name),
            "path": path,
            "extensions": { "code": "NOT_SIMULATED" },
        }));
        Value::Null
    }

    fn field(&mut self, obj: Obj<'a>, f: &Field, path: &mut Vec<Value>) -> Value {
        let name = f.name.as_str();
        if name == "__typename" {
            return json!(obj.type_name());
        }
        let shop = self.shop;
        match (obj, name) {
            (Obj::Query, "shop") => self.set(Obj::Shop, &f.selection_set, path),
            (Obj::Query, "products" | "customers") | (Obj::Product(_), "variants" | "media") => {
                let items = self.items(obj, f).unwrap_or_default();
                self.connection(f, items, path)
            }
            (Obj::Query, "bulkOperation") => {
                let id = self.arg(f, "id");
                match id
                    .as_str()
                    .and_then(|g| parse_gid("BulkOperation", g))
                    .and_then(|id| shop.bulk_ops.get(&id))
                {
                    Some(b) => self.set(Obj::Bulk(b), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Query, "orders")
            | (Obj::Order(_), "lineItems" | "fulfillmentOrders")
            | (Obj::Fo(..), "lineItems") => {
                let items = self.items(obj, f).unwrap_or_default();
                self.connection(f, items, path)
            }
            (Obj::Query, "order") => {
                let id = self.arg(f, "id");
                match id
                    .as_str()
                    .and_then(|g| parse_gid("Order", g))
                    .and_then(|id| shop.orders.get(&id))
                    .filter(|o| shop.order_visible(o))
                {
                    Some(o) => self.set(Obj::Order(o), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Query, "fulfillmentOrder") => {
                let id = self.arg(f, "id");
                let found =
                    id.as_str().and_then(|g| parse_gid("FulfillmentOrder", g)).and_then(|id| {
                        shop.orders.values().find_map(|o| {
                            o.fulfillment_orders.iter().find(|fo| fo.id == id).map(|fo| (o, fo))
                        })
                    });
                match found {
                    Some((o, fo)) => self.set(Obj::Fo(o, fo), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Order(o), "id") => json!(gid("Order", o.id)),
            (Obj::Order(o), "legacyResourceId") => json!(o.id.to_string()),
            (Obj::Order(o), "name") => json!(o.name()),
            (Obj::Order(o), "email") => json!(o.email),
            (Obj::Order(o), "createdAt" | "processedAt") => json!(time(&o.created_at)),
            (Obj::Order(o), "updatedAt") => json!(time(&o.updated_at)),
            (Obj::Order(o), "displayFinancialStatus") => json!(o.financial_status),
            (Obj::Order(o), "displayFulfillmentStatus") => json!(o.fulfillment_status()),
            (Obj::Order(o), "fullyPaid") => json!(o.financial_status == "PAID"),
            (Obj::Order(_), "currencyCode" | "presentmentCurrencyCode") => json!(shop.currency),
            (Obj::Order(o), "tags") => json!(o.tags),
            (Obj::Order(o), "closed") => json!(o.closed),
            (Obj::Order(o), "cancelledAt") => json!(o.cancelled_time().map(|t| time(&t))),
            (Obj::Order(_), "test") => json!(false),
            (Obj::Order(o), "customer") => match o.customer_id.and_then(|c| shop.customers.get(&c))
            {
                Some(c) => self.set(Obj::Customer(c), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::Order(o), "totalPriceSet") => {
                self.set(Obj::Money(&o.total), &f.selection_set, path)
            }
            (Obj::Order(o), "subtotalPriceSet") => {
                self.set(Obj::Money(&o.subtotal), &f.selection_set, path)
            }
            (Obj::Order(o), "totalTaxSet") => {
                self.set(Obj::Money(&o.total_tax), &f.selection_set, path)
            }
            (Obj::Order(o), "totalShippingPriceSet") => {
                self.set(Obj::Money(&o.shipping), &f.selection_set, path)
            }
            (Obj::Order(o), "shippingLines") => {
                let items = self.items(obj, f).unwrap_or_default();
                let _ = o;
                self.connection(f, items, path)
            }
            (Obj::Order(o), "taxLines") => Value::Array(
                o.tax_lines
                    .iter()
                    .map(|t| self.set(Obj::TaxLine(t), &f.selection_set, path))
                    .collect(),
            ),
            (Obj::Order(o), "transactions") => Value::Array(
                o.transactions
                    .iter()
                    .map(|t| self.set(Obj::Transaction(o, t), &f.selection_set, path))
                    .collect(),
            ),
            (Obj::Order(o), "refunds") => {
                let first = self.arg(f, "first").as_u64().map_or(usize::MAX, |n| n as usize);
                Value::Array(
                    o.refunds
                        .iter()
                        .take(first)
                        .map(|r| self.set(Obj::Refund(o, r), &f.selection_set, path))
                        .collect(),
                )
            }
            (Obj::Order(o), "shippingAddress" | "billingAddress") => match &o.address {
                Some(a) => self.set(Obj::Address(a), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::Query, "companies" | "catalogs")
            | (Obj::Company(_), "locations" | "contacts")
            | (Obj::CompanyLocation(..), "catalogs")
            | (Obj::Catalog(_), "companyLocations")
            | (Obj::PriceList(_), "prices") => {
                let items = self.items(obj, f).unwrap_or_default();
                self.connection(f, items, path)
            }
            (Obj::Query, "company") => {
                let id = self.arg(f, "id");
                match id
                    .as_str()
                    .and_then(|g| parse_gid("Company", g))
                    .and_then(|id| shop.companies.get(&id))
                {
                    Some(c) => self.set(Obj::Company(c), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Query, "catalog") => {
                let id = self.arg(f, "id");
                match id
                    .as_str()
                    .and_then(|g| {
                        parse_gid("CompanyLocationCatalog", g).or_else(|| parse_gid("Catalog", g))
                    })
                    .and_then(|id| shop.catalogs.get(&id))
                {
                    Some(c) => self.set(Obj::Catalog(c), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Query, "priceList") => {
                let id = self.arg(f, "id");
                match id
                    .as_str()
                    .and_then(|g| parse_gid("PriceList", g))
                    .and_then(|id| shop.price_lists.get(&id))
                {
                    Some(p) => self.set(Obj::PriceList(p), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Company(c), "id") => json!(gid("Company", c.id)),
            (Obj::Company(c), "name") => json!(c.name),
            (Obj::Company(c), "externalId") => json!(c.external_id),
            (Obj::Company(c), "note") => {
                if c.note.is_empty() {
                    Value::Null
                } else {
                    json!(c.note)
                }
            }
            (Obj::Company(c), "createdAt") => json!(time(&c.created_at)),
            (Obj::Company(c), "updatedAt") => json!(time(&c.updated_at)),
            (Obj::Company(c), "mainContact") => match c.contacts.iter().find(|k| k.main) {
                Some(k) => self.set(Obj::Contact(c, k), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::CompanyLocation(_, l), "id") => json!(gid("CompanyLocation", l.id)),
            (Obj::CompanyLocation(_, l), "name") => json!(l.name),
            (Obj::CompanyLocation(_, l), "externalId") => json!(l.external_id),
            (Obj::CompanyLocation(_, _), "currency") => json!(shop.currency),
            (Obj::CompanyLocation(c, _), "company") => {
                self.set(Obj::Company(c), &f.selection_set, path)
            }
            (Obj::CompanyLocation(c, _), "updatedAt") => json!(time(&c.updated_at)),
            (Obj::Contact(_, k), "id") => json!(gid("CompanyContact", k.id)),
            (Obj::Contact(_, k), "isMainContact") => json!(k.main),
            (Obj::Contact(c, _), "company") => self.set(Obj::Company(c), &f.selection_set, path),
            (Obj::Contact(_, k), "customer") => match shop.customers.get(&k.customer_id) {
                Some(cu) => self.set(Obj::Customer(cu), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::Catalog(c), "id") => json!(gid("CompanyLocationCatalog", c.id)),
            (Obj::Catalog(c), "title") => json!(c.title),
            (Obj::Catalog(c), "status") => json!(c.status),
            (Obj::Catalog(c), "priceList") => {
                match c.price_list.and_then(|p| shop.price_lists.get(&p)) {
                    Some(p) => self.set(Obj::PriceList(p), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::PriceList(p), "id") => json!(gid("PriceList", p.id)),
            (Obj::PriceList(p), "name") => json!(p.name),
            (Obj::PriceList(p), "currency") => json!(p.currency),
            (Obj::PriceList(p), "fixedPricesCount") => json!(p.prices.len()),
            (Obj::Price(_, amount), "price") => {
                self.set(Obj::Money(amount), &f.selection_set, path)
            }
            (Obj::Price(..), "compareAtPrice") => Value::Null,
            (Obj::Price(..), "originType") => json!("FIXED"),
            (Obj::Price(v, _), "variant") => {
                match shop
                    .products
                    .values()
                    .find_map(|p| p.variants.iter().find(|x| x.id == v).map(|x| (p, x)))
                {
                    Some((p, x)) => self.set(Obj::Variant(p, x), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Query, "shopifyPaymentsAccount") => {
                self.set(Obj::Payments, &f.selection_set, path)
            }
            (Obj::Payments, "id") => json!(gid("ShopifyPaymentsAccount", 1)),
            (Obj::Payments, "balanceTransactions" | "payouts") => {
                let items = self.items(obj, f).unwrap_or_default();
                self.connection(f, items, path)
            }
            (Obj::BalanceTx(b), "id") => json!(gid("ShopifyPaymentsBalanceTransaction", b.id)),
            (Obj::BalanceTx(b), "type" | "sourceType") => json!(b.kind),
            (Obj::BalanceTx(b), "amount") => {
                self.set(Obj::Money(&b.amount), &f.selection_set, path)
            }
            (Obj::BalanceTx(b), "fee") => self.set(Obj::Money(&b.fee), &f.selection_set, path),
            (Obj::BalanceTx(b), "net") => self.set(Obj::Money(&b.net), &f.selection_set, path),
            (Obj::BalanceTx(b), "transactionDate") => json!(time(&b.at)),
            (Obj::BalanceTx(_), "test") => json!(false),
            (Obj::BalanceTx(b), "sourceOrderTransactionId" | "sourceId") => json!(b.id.to_string()),
            (Obj::BalanceTx(b), "associatedOrder") => match shop.orders.get(&b.order_id) {
                Some(o) => self.set(Obj::AssocOrder(o), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::BalanceTx(b), "associatedPayout") => {
                let p = b.payout.and_then(|p| shop.payouts.get(&p));
                self.set(Obj::AssocPayout(p), &f.selection_set, path)
            }
            (Obj::BalanceTx(_), "adjustmentsOrders") => json!([]),
            (Obj::BalanceTx(_), "adjustmentReason") => Value::Null,
            (Obj::AssocOrder(o), "id") => json!(gid("Order", o.id)),
            (Obj::AssocOrder(o), "name") => json!(o.name()),
            (Obj::AssocPayout(p), "id") => json!(p.map(|p| gid("ShopifyPaymentsPayout", p.id))),
            (Obj::AssocPayout(p), "status") => json!(p.map_or("PENDING", |p| p.status.as_str())),
            (Obj::Payout(p), "id") => json!(gid("ShopifyPaymentsPayout", p.id)),
            (Obj::Payout(p), "legacyResourceId") => json!(p.id.to_string()),
            (Obj::Payout(p), "issuedAt") => json!(time(&p.issued_at)),
            (Obj::Payout(p), "net") => self.set(Obj::Money(&p.net), &f.selection_set, path),
            (Obj::Payout(p), "status") => json!(p.status),
            (Obj::Payout(_), "transactionType") => json!("DEPOSIT"),
            (Obj::Payout(_), "externalTraceId") => Value::Null,
            (Obj::ShippingLine(_), "title") => json!("Standard"),
            (Obj::ShippingLine(_), "code") => json!("STANDARD"),
            (Obj::ShippingLine(o), "id") => json!(gid("ShippingLine", o.id)),
            (Obj::ShippingLine(o), "originalPriceSet" | "discountedPriceSet") => {
                self.set(Obj::Money(&o.shipping), &f.selection_set, path)
            }
            (Obj::TaxLine(t), "title") => json!(t.0),
            (Obj::TaxLine(t), "rate") => json!(t.1),
            (Obj::TaxLine(t), "ratePercentage") => json!(t.1 * 100.0),
            (Obj::TaxLine(t), "priceSet") => self.set(Obj::Money(&t.2), &f.selection_set, path),
            (Obj::Transaction(_, t), "id") => json!(gid("OrderTransaction", t.id)),
            (Obj::Transaction(_, t), "kind") => json!(t.kind),
            (Obj::Transaction(_, t), "status") => json!(t.status),
            (Obj::Transaction(_, t), "gateway") => json!(t.gateway),
            (Obj::Transaction(_, t), "paymentId") => json!(format!("pay_{}", t.id)),
            (Obj::Transaction(_, t), "createdAt" | "processedAt") => json!(time(&t.created_at)),
            (Obj::Transaction(_, t), "amountSet") => {
                self.set(Obj::Money(&t.amount), &f.selection_set, path)
            }
            (Obj::Refund(_, r), "id") => json!(gid("Refund", r.id)),
            (Obj::Refund(_, r), "createdAt") => json!(time(&r.created_at)),
            (Obj::Refund(_, r), "totalRefundedSet") => {
                self.set(Obj::Money(&r.amount), &f.selection_set, path)
            }
            (Obj::Address(a), "firstName") => json!(a.first_name),
            (Obj::Address(a), "lastName") => json!(a.last_name),
            (Obj::Address(a), "name") => json!(format!("{} {}", a.first_name, a.last_name)),
            (Obj::Address(a), "address1") => json!(a.address1),
            (Obj::Address(a), "city") => json!(a.city),
            (Obj::Address(a), "zip") => json!(a.zip),
            (Obj::Address(a), "countryCodeV2") => json!(a.country_code),
            (Obj::Address(_), "company" | "address2" | "province" | "provinceCode" | "phone") => {
                Value::Null
            }
            (Obj::Order(o), "fulfillments") => {
                let first = self.arg(f, "first").as_u64().map_or(usize::MAX, |n| n as usize);
                Value::Array(
                    o.fulfillments
                        .iter()
                        .take(first)
                        .map(|fu| self.set(Obj::Fulfillment(o, fu), &f.selection_set, path))
                        .collect(),
                )
            }
            (Obj::Money(a), "shopMoney" | "presentmentMoney") => {
                self.set(Obj::Money(a), &f.selection_set, path)
            }
            (Obj::Money(a), "amount") => json!(a),
            (Obj::Money(_), "currencyCode") => json!(shop.currency),
            (Obj::LineItem(_, l), "id") => json!(gid("LineItem", l.id)),
            (Obj::LineItem(_, l), "sku") => json!(l.sku),
            (Obj::LineItem(_, l), "title" | "name") => json!(l.title),
            (Obj::LineItem(_, l), "quantity") => json!(l.quantity),
            (Obj::LineItem(_, l), "currentQuantity") => json!(l.current()),
            (Obj::LineItem(_, l), "originalUnitPriceSet" | "discountedUnitPriceSet") => {
                self.set(Obj::Money(&l.price), &f.selection_set, path)
            }
            (Obj::LineItem(_, l), "variant") => {
                match l.variant_id.and_then(|v| {
                    shop.products
                        .values()
                        .find_map(|p| p.variants.iter().find(|x| x.id == v).map(|x| (p, x)))
                }) {
                    Some((p, v)) => self.set(Obj::Variant(p, v), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Fo(_, fo), "id") => json!(gid("FulfillmentOrder", fo.id)),
            (Obj::Fo(_, fo), "status") => json!(fo.status),
            (Obj::Fo(o, _), "orderId") => json!(gid("Order", o.id)),
            (Obj::Fo(o, _), "orderName") => json!(o.name()),
            (Obj::Fo(o, _), "order") => self.set(Obj::Order(o), &f.selection_set, path),
            (Obj::Fo(_, fo), "assignedLocation") => {
                self.set(Obj::Assigned(fo.location_id), &f.selection_set, path)
            }
            (Obj::Assigned(l), "location") => match shop.locations.get(&l) {
                Some(l) => self.set(Obj::Location(l), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::Assigned(l), "name") => json!(shop.locations.get(&l).map(|l| l.name.clone())),
            (Obj::FoLine(_, l), "id") => json!(gid("FulfillmentOrderLineItem", l.id)),
            (Obj::FoLine(_, l), "totalQuantity") => json!(l.total),
            (Obj::FoLine(_, l), "remainingQuantity") => json!(l.remaining),
            (Obj::FoLine(o, l), "lineItem") => {
                match o.line_items.iter().find(|li| li.id == l.line_item_id) {
                    Some(li) => self.set(Obj::LineItem(o, li), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::FoLine(o, l), "sku") => json!(
                o.line_items.iter().find(|li| li.id == l.line_item_id).map(|li| li.sku.clone())
            ),
            (Obj::Fulfillment(_, fu), "id") => json!(gid("Fulfillment", fu.id)),
            (Obj::Fulfillment(_, fu), "name") => json!(fu.name),
            (Obj::Fulfillment(_, fu), "status") => json!(fu.status),
            (Obj::Fulfillment(_, fu), "createdAt" | "updatedAt") => json!(time(&fu.created_at)),
            (Obj::Fulfillment(_, fu), "totalQuantity") => {
                json!(fu.lines.iter().map(|l| l.1).sum::<i64>())
            }
            (Obj::Fulfillment(o, _), "order") => self.set(Obj::Order(o), &f.selection_set, path),
            (Obj::Fulfillment(_, fu), "location") => match shop.locations.get(&fu.location_id) {
                Some(l) => self.set(Obj::Location(l), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::Fulfillment(_, fu), "trackingInfo") => Value::Array(
                fu.tracking
                    .iter()
                    .map(|_| self.set(Obj::Tracking(fu), &f.selection_set, path))
                    .collect(),
            ),
            (Obj::Tracking(fu), "number") => json!(fu.tracking.as_ref().map(|t| t.0.clone())),
            (Obj::Tracking(fu), "company") => json!(fu.tracking.as_ref().map(|t| t.1.clone())),
            (Obj::Tracking(fu), "url") => json!(fu.tracking.as_ref().map(|t| t.2.clone())),
            (Obj::Subscription(w), "id") => json!(gid("WebhookSubscription", w.id)),
            (Obj::Subscription(w), "topic") => json!(w.topic),
            (Obj::Subscription(w), "uri") => json!(w.uri),
            (Obj::Subscription(_), "format") => json!("JSON"),
            (Obj::Subscription(w), "createdAt" | "updatedAt") => json!(time(&w.created_at)),
            (Obj::Query, "webhookSubscriptions") => {
                let items = self.items(obj, f).unwrap_or_default();
                self.connection(f, items, path)
            }
            (Obj::Query, "locations") | (Obj::InventoryItem(_), "inventoryLevels") => {
                let items = self.items(obj, f).unwrap_or_default();
                self.connection(f, items, path)
            }
            (Obj::Query, "location") => {
                let id = self.arg(f, "id");
                match id
                    .as_str()
                    .and_then(|g| parse_gid("Location", g))
                    .and_then(|id| shop.locations.get(&id))
                {
                    Some(l) => self.set(Obj::Location(l), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Query, "inventoryItem") => {
                let id = self.arg(f, "id");
                match id
                    .as_str()
                    .and_then(|g| parse_gid("InventoryItem", g))
                    .and_then(|id| shop.variant_of(id))
                {
                    Some((_, v)) => self.set(Obj::InventoryItem(v), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::InventoryItem(v), "inventoryLevel") => {
                let loc = self.arg(f, "locationId");
                let level = loc.as_str().and_then(|g| parse_gid("Location", g)).and_then(|l| {
                    Some((shop.locations.get(&l)?, shop.levels.get(&(v.inventory_item_id, l))?))
                });
                match level {
                    Some((l, q)) => {
                        self.set(Obj::Level(v.inventory_item_id, l, q), &f.selection_set, path)
                    }
                    None => Value::Null,
                }
            }
            (Obj::Location(l), "id") => json!(gid("Location", l.id)),
            (Obj::Location(l), "name") => json!(l.name),
            (Obj::Location(l), "isActive") => json!(l.active),
            (Obj::Level(item, l, _), "id") => {
                json!(format!("{}?inventory_item_id={item}", gid("InventoryLevel", l.id)))
            }
            (Obj::Level(..), "isActive") => json!(true),
            (Obj::Level(_, l, _), "location") => self.set(Obj::Location(l), &f.selection_set, path),
            (Obj::Level(item, _, _), "item") => match shop.variant_of(item) {
                Some((_, v)) => self.set(Obj::InventoryItem(v), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::Level(item, l, q), "quantities") => {
                let names = self.arg(f, "names");
                let wanted: Vec<&'static str> = names
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .filter_map(|n| QUANTITY_NAMES.iter().copied().find(|k| *k == n))
                            .collect()
                    })
                    .unwrap_or_default();
                Value::Array(
                    wanted
                        .into_iter()
                        .map(|n| {
                            self.set(
                                Obj::Quantity(n, q.get(n).unwrap_or(0), item, l.id),
                                &f.selection_set,
                                path,
                            )
                        })
                        .collect(),
                )
            }
            (Obj::Quantity(n, ..), "name") => json!(n),
            (Obj::Quantity(_, v, ..), "quantity") => json!(v),
            (Obj::Group(g), "id") => json!(gid("InventoryAdjustmentGroup", g.id)),
            (Obj::Group(g), "reason") => json!(g.reason),
            (Obj::Group(g), "referenceDocumentUri") => json!(g.reference_document_uri),
            (Obj::Group(g), "createdAt") => json!(time(&g.created_at)),
            (Obj::Group(g), "changes") => Value::Array(
                g.changes
                    .iter()
                    .map(|c| self.set(Obj::Change(c), &f.selection_set, path))
                    .collect(),
            ),
            (Obj::Change(c), "name") => json!(c.name),
            (Obj::Change(c), "delta") => json!(c.delta),
            (Obj::Change(c), "quantityAfterChange") => json!(c.quantity_after),
            (Obj::Change(_), "ledgerDocumentUri") => Value::Null,
            (Obj::Change(c), "item") => match shop.variant_of(c.item_id) {
                Some((_, v)) => self.set(Obj::InventoryItem(v), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::Change(c), "location") => match shop.locations.get(&c.location_id) {
                Some(l) => self.set(Obj::Location(l), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::Bulk(b), "id") => json!(gid("BulkOperation", b.id)),
            (Obj::Bulk(b), "status") => json!(match (self.now >= b.ready_at, &b.error_code) {
                (false, _) => "RUNNING",
                (true, None) => "COMPLETED",
                (true, Some(_)) => "FAILED",
            }),
            (Obj::Bulk(b), "errorCode") => match &b.error_code {
                Some(code) if self.now >= b.ready_at => json!(code),
                _ => Value::Null,
            },
            (Obj::Bulk(_), "partialDataUrl") => Value::Null,
            (Obj::Bulk(_), "type") => json!("QUERY"),
            (Obj::Bulk(b), "query") => json!(b.query),
            (Obj::Bulk(b), "createdAt") => json!(time(&b.created_at)),
            (Obj::Bulk(b), "completedAt") => {
                if self.now >= b.ready_at {
                    json!(time(&chrono::Utc::now()))
                } else {
                    Value::Null
                }
            }
            // UnsignedInt64 is a string on the wire.
            (Obj::Bulk(b), "objectCount") => {
                json!(if self.now >= b.ready_at { b.object_count } else { 0 }.to_string())
            }
            (Obj::Bulk(b), "rootObjectCount") => {
                json!(if self.now >= b.ready_at { b.root_object_count } else { 0 }.to_string())
            }
            (Obj::Bulk(b), "fileSize") => {
                if self.now >= b.ready_at {
                    json!(b.jsonl.len().to_string())
                } else {
                    Value::Null
                }
            }
            (Obj::Bulk(b), "url") => {
                if self.now >= b.ready_at && b.error_code.is_none() {
                    json!(b.url)
                } else {
                    Value::Null
                }
            }
            (Obj::Query, "product") => {
                let id = self.arg(f, "id");
                match id
                    .as_str()
                    .and_then(|g| parse_gid("Product", g))
                    .and_then(|id| shop.products.get(&id))
                {
                    Some(p) => self.set(Obj::Product(p), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Query, "customer") => {
                let id = self.arg(f, "id");
                match id
                    .as_str()
                    .and_then(|g| parse_gid("Customer", g))
                    .and_then(|id| shop.customers.get(&id))
                {
                    Some(c) => self.set(Obj::Customer(c), &f.selection_set, path),
                    None => Value::Null,
                }
            }
            (Obj::Shop, "id") => json!(gid("Shop", 1)),
            (Obj::Shop, "name") => json!(shop.name),
            (Obj::Shop, "myshopifyDomain") => json!(shop.domain()),
            (Obj::Shop, "currencyCode") => json!(shop.currency),
            (Obj::Product(p), "id") => json!(gid("Product", p.id)),
            (Obj::Product(p), "legacyResourceId") => json!(p.id.to_string()),
            (Obj::Product(p), "title") => json!(p.title),
            (Obj::Product(p), "handle") => json!(p.handle),
            (Obj::Product(p), "status") => json!(p.status),
            (Obj::Product(p), "vendor") => json!(p.vendor),
            (Obj::Product(p), "productType") => json!(p.product_type),
            (Obj::Product(p), "tags") => json!(p.tags),
            (Obj::Product(p), "createdAt") => json!(time(&p.created_at)),
            (Obj::Product(p), "updatedAt") => json!(time(&p.updated_at)),
            (Obj::Product(p), "mediaCount") => {
                self.set(Obj::Count(p.media.len()), &f.selection_set, path)
            }
            (Obj::Product(p), "featuredMedia") => match p.media.first() {
                Some(m) => self.set(Obj::Media(m), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::Count(n), "count") => json!(n),
            (Obj::Count(_), "precision") => json!("EXACT"),
            (Obj::Media(m), "id") => json!(gid("MediaImage", m.id)),
            (Obj::Media(m), "alt") => json!(m.alt),
            (Obj::Media(_), "mediaContentType") => json!("IMAGE"),
            (Obj::Media(m), "status" | "fileStatus") => json!(m.status(self.now)),
            (Obj::Media(m), "mediaErrors" | "fileErrors") => {
                let failed = m.status(self.now) == "FAILED";
                Value::Array(
                    m.error
                        .iter()
                        .filter(|_| failed)
                        .map(|e| self.set(Obj::MediaError(e), &f.selection_set, path))
                        .collect(),
                )
            }
            (Obj::Media(_), "mediaWarnings") => json!([]),
            (Obj::Media(m), "mimeType") => json!(mime_of(&m.source)),
            (Obj::Media(m), "createdAt" | "updatedAt") => json!(time(&m.created_at)),
            (Obj::Media(m), "image") => {
                if m.status(self.now) == "READY" {
                    self.set(Obj::Image(m), &f.selection_set, path)
                } else {
                    Value::Null
                }
            }
            (Obj::Media(m), "preview") => {
                let ready = m.status(self.now) == "READY";
                let mut out = Map::new();
                for s in &f.selection_set.selections {
                    if let Selection::Field(pf) = s {
                        let v = match pf.name.as_str() {
                            "status" => json!(m.status(self.now)),
                            "image" if ready => self.set(Obj::Image(m), &pf.selection_set, path),
                            "__typename" => json!("MediaPreviewImage"),
                            _ => Value::Null,
                        };
                        out.insert(pf.response_key().to_string(), v);
                    }
                }
                Value::Object(out)
            }
            (Obj::Media(m), "originalSource") => {
                let mut out = Map::new();
                for s in &f.selection_set.selections {
                    if let Selection::Field(pf) = s {
                        let v = match pf.name.as_str() {
                            "url" => json!(m.source),
                            "__typename" => json!("MediaImageOriginalSource"),
                            _ => Value::Null,
                        };
                        out.insert(pf.response_key().to_string(), v);
                    }
                }
                Value::Object(out)
            }
            (Obj::MediaError(e), "code") => json!(e.0),
            (Obj::MediaError(e), "message") => json!(e.1),
            (Obj::MediaError(_), "details") => Value::Null,
            (Obj::Image(m), "id") => json!(gid("ImageSource", m.id)),
            (Obj::Image(m), "altText") => json!(m.alt),
            (Obj::Image(m), "url" | "src" | "originalSrc" | "transformedSrc") => json!(format!(
                "https://cdn.shopify.com/s/files/1/sim/media/{}/{}",
                m.id,
                file_name(&m.source)
            )),
            (Obj::Image(_), "width" | "height") => json!(1024),
            (Obj::Image(_), "thumbhash") => Value::Null,
            (Obj::Variant(_, v), "id") => json!(gid("ProductVariant", v.id)),
            (Obj::Variant(_, v), "title") => json!(v.title),
            (Obj::Variant(_, v), "sku") => json!(v.sku),
            (Obj::Variant(_, v), "price") => json!(v.price),
            (Obj::Variant(_, v), "position") => json!(v.position),
            (Obj::Variant(p, _), "product") => self.set(Obj::Product(p), &f.selection_set, path),
            (Obj::Variant(_, v), "inventoryItem") => {
                self.set(Obj::InventoryItem(v), &f.selection_set, path)
            }
            (Obj::InventoryItem(v), "id") => json!(gid("InventoryItem", v.inventory_item_id)),
            (Obj::InventoryItem(v), "tracked") => json!(v.tracked),
            (Obj::InventoryItem(v), "sku") => json!(v.sku),
            (Obj::Customer(c), "id") => json!(gid("Customer", c.id)),
            (Obj::Customer(c), "firstName") => json!(c.first_name),
            (Obj::Customer(c), "lastName") => json!(c.last_name),
            (Obj::Customer(c), "displayName") => json!(format!("{} {}", c.first_name, c.last_name)),
            (Obj::Customer(c), "tags") => json!(c.tags),
            (Obj::Customer(c), "createdAt") => json!(time(&c.created_at)),
            (Obj::Customer(c), "updatedAt") => json!(time(&c.updated_at)),
            (Obj::Customer(c), "defaultEmailAddress") => {
                self.set(Obj::Email(c), &f.selection_set, path)
            }
            (Obj::Email(c), "emailAddress") => json!(c.email),
            (Obj::Email(_), "marketingState") => json!("NOT_SUBSCRIBED"),
            (Obj::Customer(c), "email") => json!(c.email),
            (Obj::Customer(c), "phone") => {
                if c.phone.is_empty() {
                    Value::Null
                } else {
                    json!(c.phone)
                }
            }
            (Obj::Customer(c), "note") => {
                if c.note.is_empty() {
                    Value::Null
                } else {
                    json!(c.note)
                }
            }
            (Obj::Customer(c), "defaultAddress") => match c.addresses.first() {
                Some(a) => self.set(Obj::Address(a), &f.selection_set, path),
                None => Value::Null,
            },
            (Obj::Customer(c), "addresses") => Value::Array(
                c.addresses
                    .iter()
                    .map(|a| self.set(Obj::Address(a), &f.selection_set, path))
                    .collect(),
            ),
            _ => match crate::resolve::field(self, obj, f, path) {
                Some(v) => v,
                None => self.not_simulated(&obj, f, path),
            },
        }
    }

    /// The items of a connection field of `obj`, if the simulator knows it.
    pub(crate) fn items(&mut self, obj: Obj<'a>, f: &Field) -> Option<Vec<Item<'a>>> {
        match (obj, f.name.as_str()) {
            (Obj::Query, "products") => Some(self.products(f)),
            (Obj::Query, "customers") => Some(self.customers(f)),
            (Obj::Query, "orders") => Some(self.orders(f)),
            (Obj::Order(o), "lineItems") => Some(
                o.line_items
                    .iter()
                    .map(|l| Item {
                        obj: Obj::LineItem(o, l),
                        sort: format!("{:020}", l.id),
                        id: l.id,
                    })
                    .collect(),
            ),
            (Obj::Order(o), "shippingLines") => Some(vec![Item {
                obj: Obj::ShippingLine(o),
                sort: format!("{:020}", o.id),
                id: o.id,
            }]),
            (Obj::Order(o), "fulfillmentOrders") => Some(
                o.fulfillment_orders
                    .iter()
                    .map(|fo| Item {
                        obj: Obj::Fo(o, fo),
                        sort: format!("{:020}", fo.id),
                        id: fo.id,
                    })
                    .collect(),
            ),
            (Obj::Fo(o, fo), "lineItems") => Some(
                fo.lines
                    .iter()
                    .map(|l| Item {
                        obj: Obj::FoLine(o, l),
                        sort: format!("{:020}", l.id),
                        id: l.id,
                    })
                    .collect(),
            ),
            (Obj::Payments, "balanceTransactions") => {
                let filter = self.search_filter(f);
                Some(
                    self.shop
                        .balance_txs
                        .values()
                        .filter(|b| {
                            filter.as_ref().is_none_or(|e| {
                                search::matches(e, &|field| match field {
                                    Some("id") => Some(FieldValue::Number(b.id)),
                                    Some("processed_at") => Some(FieldValue::Time(b.at)),
                                    Some("payout_status") => Some(FieldValue::Text(
                                        if b.payout.is_some() { "paid" } else { "pending" }.into(),
                                    )),
                                    _ => None,
                                })
                            })
                        })
                        .map(|b| Item {
                            obj: Obj::BalanceTx(b),
                            sort: format!("{:020}", b.id),
                            id: b.id,
                        })
                        .collect(),
                )
            }
            (Obj::Payments, "payouts") => {
                let filter = self.search_filter(f);
                Some(
                    self.shop
                        .payouts
                        .values()
                        .filter(|p| {
                            filter.as_ref().is_none_or(|e| {
                                search::matches(e, &|field| match field {
                                    Some("id") => Some(FieldValue::Number(p.id)),
                                    Some("issued_at") => Some(FieldValue::Time(p.issued_at)),
                                    Some("status") => Some(FieldValue::Text(p.status.clone())),
                                    _ => None,
                                })
                            })
                        })
                        .map(|p| Item {
                            obj: Obj::Payout(p),
                            sort: format!("{:020}", p.id),
                            id: p.id,
                        })
                        .collect(),
                )
            }
            (Obj::Query, "companies") => {
                let filter = self.search_filter(f);
                let shop = self.shop;
                Some(
                    shop.companies
                        .values()
                        .filter(|c| {
                            filter.as_ref().is_none_or(|e| {
                                search::matches(e, &|field| match field {
                                    None | Some("name") => Some(FieldValue::Text(c.name.clone())),
                                    Some("id") => Some(FieldValue::Number(c.id)),
                                    Some("external_id") => {
                                        c.external_id.clone().map(FieldValue::Text)
                                    }
                                    Some("updated_at") => Some(FieldValue::Time(c.updated_at)),
                                    _ => None,
                                })
                            })
                        })
                        .map(|c| Item {
                            obj: Obj::Company(c),
                            sort: format!("{:020}", c.id),
                            id: c.id,
                        })
                        .collect(),
                )
            }
            (Obj::Query, "catalogs") => {
                let filter = self.search_filter(f);
                // Every simulated catalog is a company location catalog.
                let kind = self.arg(f, "type");
                let shop = self.shop;
                Some(
                    shop.catalogs
                        .values()
                        .filter(|_| kind.as_str().is_none_or(|k| k == "COMPANY_LOCATION"))
                        .filter(|c| {
                            filter.as_ref().is_none_or(|e| {
                                search::matches(e, &|field| match field {
                                    None | Some("title") => Some(FieldValue::Text(c.title.clone())),
                                    Some("id") => Some(FieldValue::Number(c.id)),
                                    Some("status") => Some(FieldValue::Text(c.status.clone())),
                                    Some("company_id") => Some(FieldValue::Texts(
                                        c.locations.iter().map(|l| l.0.to_string()).collect(),
                                    )),
                                    Some("company_location_id") => Some(FieldValue::Texts(
                                        c.locations.iter().map(|l| l.1.to_string()).collect(),
                                    )),
                                    _ => None,
                                })
                            })
                        })
                        .map(|c| Item {
                            obj: Obj::Catalog(c),
                            sort: format!("{:020}", c.id),
                            id: c.id,
                        })
                        .collect(),
                )
            }
            (Obj::Company(c), "locations") => Some(
                c.locations
                    .iter()
                    .map(|l| Item {
                        obj: Obj::CompanyLocation(c, l),
                        sort: format!("{:020}", l.id),
                        id: l.id,
                    })
                    .collect(),
            ),
            (Obj::Company(c), "contacts") => Some(
                c.contacts
                    .iter()
                    .map(|k| Item {
                        obj: Obj::Contact(c, k),
                        sort: format!("{:020}", k.id),
                        id: k.id,
                    })
                    .collect(),
            ),
            (Obj::CompanyLocation(_, l), "catalogs") => Some(
                l.catalogs
                    .iter()
                    .filter_map(|id| self.shop.catalogs.get(id))
                    .map(|c| Item { obj: Obj::Catalog(c), sort: format!("{:020}", c.id), id: c.id })
                    .collect(),
            ),
            (Obj::Catalog(c), "companyLocations") => Some(
                c.locations
                    .iter()
                    .filter_map(|(co, lo)| {
                        let company = self.shop.companies.get(co)?;
                        let l = company.locations.iter().find(|l| l.id == *lo)?;
                        Some(Item {
                            obj: Obj::CompanyLocation(company, l),
                            sort: format!("{:020}", l.id),
                            id: l.id,
                        })
                    })
                    .collect(),
            ),
            (Obj::PriceList(pl), "prices") => Some(
                pl.prices
                    .iter()
                    .map(|(v, p)| Item { obj: Obj::Price(*v, p), sort: format!("{v:020}"), id: *v })
                    .collect(),
            ),
            (Obj::Query, "webhookSubscriptions") => Some(crate::resolve::subscriptions(self, f)),
            (Obj::Query, "locations" | "locationsCount") => {
                Some(crate::resolve::locations(self, f))
            }
            (Obj::InventoryItem(v), "inventoryLevels") => Some(
                self.shop
                    .locations
                    .values()
                    .filter_map(|l| {
                        let q = self.shop.levels.get(&(v.inventory_item_id, l.id))?;
                        Some(Item {
                            obj: Obj::Level(v.inventory_item_id, l, q),
                            sort: format!("{:020}", l.id),
                            id: l.id,
                        })
                    })
                    .collect(),
            ),
            (Obj::Product(p), "media") => Some(
                p.media
                    .iter()
                    .enumerate()
                    .map(|(i, m)| Item { obj: Obj::Media(m), sort: format!("{i:020}"), id: m.id })
                    .collect(),
            ),
            (Obj::Product(p), "variants") => Some(
                p.variants
                    .iter()
                    .map(|v| Item {
                        obj: Obj::Variant(p, v),
                        sort: format!("{:020}", v.position),
                        id: v.id,
                    })
                    .collect(),
            ),
            _ => crate::resolve::items(self, obj, f),
        }
    }

    fn gid_of(obj: &Obj) -> Option<String> {
        match obj {
            Obj::Product(p) => Some(gid("Product", p.id)),
            Obj::Variant(_, v) => Some(gid("ProductVariant", v.id)),
            Obj::Customer(c) => Some(gid("Customer", c.id)),
            Obj::Order(o) => Some(gid("Order", o.id)),
            Obj::Company(c) => Some(gid("Company", c.id)),
            Obj::CompanyLocation(_, l) => Some(gid("CompanyLocation", l.id)),
            Obj::LineItem(_, l) => Some(gid("LineItem", l.id)),
            Obj::Media(m) => Some(gid("MediaImage", m.id)),
            Obj::Location(l) => Some(gid("Location", l.id)),
            _ => None,
        }
    }

    /// The node selection of a connection field (`nodes { … }` or `edges { node { … } }`).
    fn node_set(f: &Field) -> Option<&SelectionSet> {
        for s in &f.selection_set.selections {
            let Selection::Field(w) = s else { continue };
            match w.name.as_str() {
                "nodes" => return Some(&w.selection_set),
                "edges" => {
                    for e in &w.selection_set.selections {
                        if let Selection::Field(n) = e
                            && n.name == "node"
                        {
                            return Some(&n.selection_set);
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// A bulk query's result as JSONL lines: every node of the top-level connection on a line
    /// of its own, each node of a nested connection on its own line after its parent, with
    /// `__parentId`. Returns the lines and the number of root objects.
    pub fn bulk_lines(&mut self, set: &SelectionSet) -> Result<(Vec<String>, u64), String> {
        let fields: Vec<&Field> = set
            .selections
            .iter()
            .filter_map(|s| if let Selection::Field(f) = s { Some(f.as_ref()) } else { None })
            .collect();
        let [top] = fields.as_slice() else {
            return Err("Bulk queries must contain exactly one top-level field.".into());
        };
        let (Some(items), Some(node_set)) = (self.items(Obj::Query, top), Self::node_set(top))
        else {
            return Err(format!(
                "Bulk queries must contain at least one connection; '{}' is not one the simulator can run in bulk.",
                top.name
            ));
        };
        let mut lines = Vec::new();
        let roots = items.len() as u64;
        for it in items {
            self.emit(it.obj, node_set, None, &mut lines);
        }
        Ok((lines, roots))
    }

    fn emit(
        &mut self,
        obj: Obj<'a>,
        set: &SelectionSet,
        parent: Option<&str>,
        lines: &mut Vec<String>,
    ) {
        let mut line = Map::new();
        let mut nested = Vec::new();
        let mut hoisted = Vec::new();
        let mut path = Vec::new();
        for s in &set.selections {
            let Selection::Field(f) = s else { continue };
            if self.items(obj, f).is_some() {
                nested.push(f);
                continue;
            }
            let mut v = self.field(obj, f, &mut path);
            // A connection inside a plain object field (`inventoryItem { inventoryLevels }`)
            // is not inlined either: its nodes follow as lines of their own.
            Self::hoist(&mut v, &f.selection_set, &mut hoisted);
            line.insert(f.response_key().to_string(), v);
        }
        if let Some(p) = parent {
            line.insert("__parentId".into(), json!(p));
        }
        lines.push(Value::Object(line).to_string());
        let me = Self::gid_of(&obj);
        for node in hoisted {
            Self::emit_value(node, me.as_deref(), lines);
        }
        for f in nested {
            let Some(node_set) = Self::node_set(f) else { continue };
            for child in self.items(obj, f).unwrap_or_default() {
                self.emit(child.obj, node_set, me.as_deref(), lines);
            }
        }
    }

    /// Take the connections out of an object field's resolved value (at any depth), keeping
    /// each node with the selection of its own nested connections.
    fn hoist<'s>(v: &mut Value, set: &'s SelectionSet, out: &mut Vec<(Value, &'s SelectionSet)>) {
        match v {
            Value::Array(items) => {
                for i in items {
                    Self::hoist(i, set, out);
                }
            }
            Value::Object(o) => {
                for s in &set.selections {
                    let Selection::Field(w) = s else { continue };
                    let key = w.response_key().to_string();
                    if let Some(node_set) = Self::node_set(w) {
                        let Some(conn) = o.remove(&key) else { continue };
                        let nodes = match (conn.get("nodes"), conn.get("edges")) {
                            (Some(Value::Array(n)), _) => n.clone(),
                            (_, Some(Value::Array(e))) => {
                                e.iter().filter_map(|e| e.get("node").cloned()).collect()
                            }
                            _ => Vec::new(),
                        };
                        out.extend(nodes.into_iter().map(|n| (n, node_set)));
                    } else if let Some(child) = o.get_mut(&key) {
                        Self::hoist(child, &w.selection_set, out);
                    }
                }
            }
            _ => {}
        }
    }

    /// A hoisted node's line (its own nested connections after it, as lines of theirs).
    fn emit_value(node: (Value, &SelectionSet), parent: Option<&str>, lines: &mut Vec<String>) {
        let (mut v, set) = node;
        let mut inner = Vec::new();
        Self::hoist(&mut v, set, &mut inner);
        let me = v.get("id").and_then(Value::as_str).map(str::to_owned);
        if let (Value::Object(o), Some(p)) = (&mut v, parent) {
            o.insert("__parentId".into(), json!(p));
        }
        lines.push(v.to_string());
        for n in inner {
            Self::emit_value(n, me.as_deref().or(parent), lines);
        }
    }

    pub(crate) fn search_filter(&mut self, f: &Field) -> Option<search::Expr> {
        let q = self.arg(f, "query");
        let q = q.as_str()?.trim();
        if q.is_empty() {
            return None;
        }
        match search::parse(q) {
            Ok(e) => Some(e),
            Err(_) => Some(search::Expr::Or(vec![])),
        }
    }

    pub(crate) fn sort_key(&self, f: &Field) -> String {
        self.arg(f, "sortKey").as_str().unwrap_or("ID").to_owned()
    }

    pub(crate) fn products(&mut self, f: &Field) -> Vec<Item<'a>> {
        let filter = self.search_filter(f);
        let key = self.sort_key(f);
        let shop = self.shop;
        shop.products
            .values()
            .filter(|p| {
                filter.as_ref().is_none_or(|e| {
                    search::matches(e, &|field| match field {
                        None | Some("title") => Some(FieldValue::Text(p.title.clone())),
                        Some("id") => Some(FieldValue::Number(p.id)),
                        Some("updated_at") => Some(FieldValue::Time(p.updated_at)),
                        Some("created_at") => Some(FieldValue::Time(p.created_at)),
                        Some("status") => Some(FieldValue::Text(p.status.clone())),
                        Some("vendor") => Some(FieldValue::Text(p.vendor.clone())),
                        Some("product_type") => Some(FieldValue::Text(p.product_type.clone())),
                        Some("handle") => Some(FieldValue::Text(p.handle.clone())),
                        Some("tag") => Some(FieldValue::Texts(p.tags.clone())),
                        Some("sku") => Some(FieldValue::Texts(
                            p.variants.iter().map(|v| v.sku.clone()).collect(),
                        )),
                        Some("gift_card") => Some(FieldValue::Bool(false)),
                        _ => None,
                    })
                })
            })
            .map(|p| Item {
                obj: Obj::Product(p),
                sort: match key.as_str() {
                    "UPDATED_AT" => {
                        time(&p.updated_at)
                            + &format!("{:?}", p.updated_at.timestamp_subsec_micros())
                    }
                    "CREATED_AT" => {
                        time(&p.created_at)
                            + &format!("{:?}", p.created_at.timestamp_subsec_micros())
                    }
                    "TITLE" => p.title.to_lowercase(),
                    _ => format!("{:020}", p.id),
                },
                id: p.id,
            })
            .collect()
    }

    fn orders(&mut self, f: &Field) -> Vec<Item<'a>> {
        let filter = self.search_filter(f);
        let key = self.sort_key(f);
        let shop = self.shop;
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
                        Some("financial_status") => {
                            Some(FieldValue::Text(o.financial_status.clone()))
                        }
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
                        time(&o.updated_at)
                            + &format!("{:?}", o.updated_at.timestamp_subsec_micros())
                    }
                    "ID" | "ORDER_NUMBER" => format!("{:020}", o.id),
                    _ => {
                        time(&o.created_at)
                            + &format!("{:?}", o.created_at.timestamp_subsec_micros())
                    }
                },
                id: o.id,
            })
            .collect()
    }

    fn customers(&mut self, f: &Field) -> Vec<Item<'a>> {
        let filter = self.search_filter(f);
        let key = self.sort_key(f);
        let shop = self.shop;
        shop.customers
            .values()
            .filter(|c| {
                filter.as_ref().is_none_or(|e| {
                    search::matches(e, &|field| match field {
                        None => Some(FieldValue::Text(format!(
                            "{} {} {}",
                            c.first_name, c.last_name, c.email
                        ))),
                        Some("id") => Some(FieldValue::Number(c.id)),
                        Some("email") => Some(FieldValue::Text(c.email.clone())),
                        Some("updated_at") => Some(FieldValue::Time(c.updated_at)),
                        Some("created_at") => Some(FieldValue::Time(c.created_at)),
                        Some("tag") => Some(FieldValue::Texts(c.tags.clone())),
                        _ => None,
                    })
                })
            })
            .map(|c| Item {
                obj: Obj::Customer(c),
                sort: match key.as_str() {
                    "UPDATED_AT" => {
                        time(&c.updated_at)
                            + &format!("{:?}", c.updated_at.timestamp_subsec_micros())
                    }
                    _ => format!("{:020}", c.id),
                },
                id: c.id,
            })
            .collect()
    }

    /// A page of a connection: sort, `reverse`, `after`/`before` cursors, `first`/`last`.
    pub(crate) fn connection(
        &mut self,
        f: &Field,
        mut items: Vec<Item<'a>>,
        path: &mut Vec<Value>,
    ) -> Value {
        items.sort_by(|a, b| (&a.sort, a.id).cmp(&(&b.sort, b.id)));
        if self.arg(f, "reverse").as_bool() == Some(true) {
            items.reverse();
        }
        let reverse = self.arg(f, "reverse").as_bool() == Some(true);
        let beyond = |it: &Item, c: &(String, u64)| {
            let k = (&it.sort, it.id);
            let c = (&c.0, c.1);
            if reverse { k < c } else { k > c }
        };
        let mut start = 0;
        let mut end = items.len();
        if let Some(c) = self.arg(f, "after").as_str().and_then(decode_cursor) {
            start = items.iter().position(|it| beyond(it, &c)).unwrap_or(items.len());
        }
        if let Some(c) = self.arg(f, "before").as_str().and_then(decode_cursor) {
            end = items
                .iter()
                .position(|it| (&it.sort, it.id) == (&c.0, c.1) || beyond(it, &c))
                .unwrap_or(items.len());
        }
        let end = end.max(start);
        let (mut lo, mut hi) = (start, end);
        if let Some(n) = self.arg(f, "first").as_i64() {
            hi = (lo + n.max(0) as usize).min(end);
        } else if let Some(n) = self.arg(f, "last").as_i64() {
            lo = end.saturating_sub(n.max(0) as usize).max(start);
        }
        let page = &items[lo..hi];
        let cursors: Vec<String> = page.iter().map(|it| cursor(&it.sort, it.id)).collect();
        let has_next = hi < items.len();
        let has_prev = lo > 0;
        let mut out = Map::new();
        for s in &f.selection_set.selections {
            let Selection::Field(w) = s else { continue };
            let key = w.response_key().to_string();
            path.push(json!(key));
            let v = match w.name.as_str() {
                "nodes" => Value::Array(
                    page.iter()
                        .enumerate()
                        .map(|(i, it)| {
                            path.push(json!(i));
                            let v = self.set(it.obj, &w.selection_set, path);
                            path.pop();
                            v
                        })
                        .collect(),
                ),
                "edges" => Value::Array(
                    page.iter()
                        .zip(&cursors)
                        .enumerate()
                        .map(|(i, (it, c))| {
                            path.push(json!(i));
                            let mut edge = Map::new();
                            for e in &w.selection_set.selections {
                                let Selection::Field(ef) = e else { continue };
                                let k = ef.response_key().to_string();
                                let v = match ef.name.as_str() {
                                    "cursor" => json!(c),
                                    "node" => {
                                        path.push(json!(k));
                                        let v = self.set(it.obj, &ef.selection_set, path);
                                        path.pop();
                                        v
                                    }
                                    "__typename" => json!(format!("{}Edge", it.obj.type_name())),
                                    _ => Value::Null,
                                };
                                edge.insert(k, v);
                            }
                            path.pop();
                            Value::Object(edge)
                        })
                        .collect(),
                ),
                "pageInfo" => {
                    let mut m = Map::new();
                    for e in &w.selection_set.selections {
                        let Selection::Field(pf) = e else { continue };
                        let v = match pf.name.as_str() {
                            "hasNextPage" => json!(has_next),
                            "hasPreviousPage" => json!(has_prev),
                            "startCursor" => json!(cursors.first()),
                            "endCursor" => json!(cursors.last()),
                            "__typename" => json!("PageInfo"),
                            _ => Value::Null,
                        };
                        m.insert(pf.response_key().to_string(), v);
                    }
                    Value::Object(m)
                }
                "__typename" => json!(f.definition.ty.inner_named_type().as_str()),
                _ => Value::Null,
            };
            path.pop();
            out.insert(key, v);
        }
        Value::Object(out)
    }
}

/// The file name at the end of a URL (without query or fragment).
pub(crate) fn file_name(source: &str) -> &str {
    let path = source.split(['?', '#']).next().unwrap_or("");
    path.rsplit('/').next().unwrap_or("image")
}

/// The MIME type an image URL's extension stands for.
fn mime_of(source: &str) -> &'static str {
    let name = file_name(source).to_ascii_lowercase();
    match name.rsplit('.').next().unwrap_or("") {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "heic" => "image/heic",
        _ => "image/jpeg",
    }
}

/// A plain JSON object answered through a selection set (aliases, `__typename`, nested lists).
pub(crate) fn project(v: &Value, set: &SelectionSet, doc: &Valid<ExecutableDocument>) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|i| project(i, set, doc)).collect()),
        Value::Object(o) => {
            let mut out = Map::new();
            for s in &set.selections {
                match s {
                    Selection::Field(f) => {
                        let v = match o.get(f.name.as_str()) {
                            Some(inner) if !f.selection_set.selections.is_empty() => {
                                project(inner, &f.selection_set, doc)
                            }
                            Some(inner) => inner.clone(),
                            None if f.name == "__typename" => json!(set.ty.as_str()),
                            None => Value::Null,
                        };
                        out.insert(f.response_key().to_string(), v);
                    }
                    Selection::InlineFragment(i) => {
                        if let Value::Object(m) = project(v, &i.selection_set, doc) {
                            out.extend(m);
                        }
                    }
                    Selection::FragmentSpread(sp) => {
                        if let Some(fr) = doc.fragments.get(&sp.fragment_name)
                            && let Value::Object(m) = project(v, &fr.selection_set, doc)
                        {
                            out.extend(m);
                        }
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}
