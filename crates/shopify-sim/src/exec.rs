//! Executes a validated query against a shop's data. The fields sync reads are simulated;
//! a field the simulator does not know yet answers null with a `NOT_SIMULATED` error naming
//! it, so a gap is visible instead of silently wrong.

use crate::search;
use crate::store::{
    Address, BalanceTx, Catalog, Company, CompanyLocation, Contact, Payout, PriceList, Refund,
    Transaction,
};
use crate::store::{
    AdjustmentGroup, BulkOp, Change, Customer, FoLine, Fulfillment, FulfillmentOrder, LineItem,
    Location, Order, Product, Quantities, Shop, Variant, gid,
};

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

impl PayloadObject {
    /// The object of the payload, found in the shop (None for the kinds answered otherwise).
    fn obj<'a>(&self, shop: &'a Shop) -> Option<Obj<'a>> {
        match self.clone() {
            PayloadObject::Customer(id) => shop.customers.get(&id).map(Obj::Customer),
            PayloadObject::Bulk(id) => shop.bulk_ops.get(&id).map(Obj::Bulk),
            PayloadObject::Group(id) => shop.adjustments.get(&id).map(Obj::Group),
            PayloadObject::Subscription(id) => shop.subscriptions.get(&id).map(Obj::Subscription),
            PayloadObject::Fulfillment(order, id) => shop.orders.get(&order).and_then(|o| {
                o.fulfillments.iter().find(|f| f.id == id).map(|f| Obj::Fulfillment(o, f))
            }),
            PayloadObject::FulfillmentOrder(order, id) => shop.orders.get(&order).and_then(|o| {
                o.fulfillment_orders.iter().find(|f| f.id == id).map(|f| Obj::Fo(o, f))
            }),
            PayloadObject::Product(id) | PayloadObject::Variants(id, _) => {
                shop.products.get(&id).map(Obj::Product)
            }
            PayloadObject::Order(id) => shop.orders.get(&id).map(Obj::Order),
            PayloadObject::Company(id) => shop.companies.get(&id).map(Obj::Company),
            PayloadObject::CompanyLocation(c, l) => shop.companies.get(&c).and_then(|c| {
                c.locations.iter().find(|x| x.id == l).map(|l| Obj::CompanyLocation(c, l))
            }),
            PayloadObject::Contact(c, k) => shop
                .companies
                .get(&c)
                .and_then(|c| c.contacts.iter().find(|x| x.id == k).map(|k| Obj::Contact(c, k))),
            PayloadObject::Prices(..)
            | PayloadObject::Job(_)
            | PayloadObject::StagedTargets(_)
            | PayloadObject::Deleted(_)
            | PayloadObject::Metafields(_) => None,
        }
    }
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

impl<'a> Item<'a> {
    /// An item sorted by its id.
    pub(crate) fn by_id(obj: Obj<'a>, id: u64) -> Self {
        Item { obj, sort: format!("{id:020}"), id }
    }
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
                    let obj = object.as_ref().and_then(|o| o.obj(self.shop));
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
        if f.name == "__typename" {
            return json!(obj.type_name());
        }
        match crate::resolve::field(self, obj, f, path) {
            Some(v) => v,
            None => self.not_simulated(&obj, f, path),
        }
    }

    /// The items of a connection field of `obj`, if the simulator knows it.
    pub(crate) fn items(&mut self, obj: Obj<'a>, f: &Field) -> Option<Vec<Item<'a>>> {
        crate::resolve::items(self, obj, f)
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
