//! A mutation request: its root fields run in order, each by the handler the table names for
//! it. A handler gets a `Call` (the shop, the field's coerced arguments, the webhook events to
//! send) and answers the payload's object and user errors, or a top-level error. Business
//! failures are `userErrors` in the payload, as Shopify answers them; a mutation without a
//! handler answers a `NOT_SIMULATED` error.

use crate::exec::{Exec, PayloadObject};
use crate::inventory::TopError;
use crate::store::{self, Shop};
use crate::{Sim, bulk, catalogs, inventory, media, orders, parties, payloads, products, writes};
use apollo_compiler::ExecutableDocument;
use apollo_compiler::executable::{Field, Selection, SelectionSet};
use apollo_compiler::validation::Valid;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The payload's object and user errors.
pub type Outcome = (Option<PayloadObject>, Vec<Value>);
/// Webhook events a mutation sends: (topic, REST-shaped body).
pub type Events = Vec<(&'static str, Value)>;
/// A handler's answer: its outcome, or a top-level error (the field answers null).
type Answer = Result<Outcome, TopError>;
type Handler = fn(&mut Call) -> Answer;

/// One mutation field being run.
pub struct Call<'a> {
    pub sim: &'a Sim,
    pub shop: &'a mut Shop,
    /// The field's arguments, coerced to their declared types (null when not given).
    pub args: Map<String, Value>,
    /// The field's `@idempotent(key:)`, when the directive is there.
    pub idempotency_key: Option<Value>,
    pub events: &'a mut Events,
    /// The simulator's clock, in simulated seconds.
    pub now: f64,
    /// The address the request came to (staged upload and bulk result URLs).
    pub base_url: &'a str,
}

impl Call<'_> {
    fn arg(&self, name: &str) -> Value {
        self.args.get(name).cloned().unwrap_or(Value::Null)
    }

    /// A string argument ("" when absent or not a string).
    fn text(&self, name: &str) -> String {
        self.args.get(name).and_then(Value::as_str).unwrap_or("").to_owned()
    }
}

/// Every simulated mutation and its handler.
const TABLE: &[(&str, Handler)] = &[
    ("customerCreate", customer_create),
    ("customerUpdate", customer_update),
    ("customerSet", customer_set),
    ("companyCreate", company_create),
    ("companyUpdate", company_update),
    ("companyLocationUpdate", company_location_update),
    ("companyAssignCustomerAsContact", assign_contact),
    ("priceListFixedPricesAdd", fixed_prices_add),
    ("orderClose", order_close),
    ("orderMarkAsPaid", order_mark_as_paid),
    ("orderCancel", order_cancel),
    ("orderUpdate", |c| Ok(writes::order_update(c.shop, &c.args, c.events))),
    ("productSet", product_set),
    ("productCreate", |c| product_write(c, false)),
    ("productUpdate", |c| product_write(c, true)),
    ("stagedUploadsCreate", staged_uploads_create),
    ("productVariantsBulkUpdate", variants_bulk_update),
    ("fulfillmentCreate", fulfillment_create),
    ("inventorySetQuantities", inventory_set),
    ("inventoryAdjustQuantities", inventory_adjust),
    ("bulkOperationRunQuery", bulk_run_query),
    ("webhookSubscriptionCreate", |c| Ok(writes::subscription_create(c.shop, &c.args))),
    ("webhookSubscriptionDelete", |c| Ok(writes::subscription_delete(c.shop, &c.args))),
    ("metafieldsSet", |c| Ok(writes::metafields_set(c.shop, &c.args))),
    ("fulfillmentOrderAcceptFulfillmentRequest", |c| {
        Ok(writes::accept_fulfillment_request(c.shop, &c.args, c.events))
    }),
];

fn handler(name: &str) -> Option<Handler> {
    TABLE.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}

/// A top-level error of a root field, as Shopify writes it.
fn top_error(message: impl Into<Value>, key: &str, code: &str) -> Value {
    json!({ "message": message.into(), "path": [key], "extensions": { "code": code } })
}

/// Run a mutation's root fields in order (the `denied` ones not at all: the caller answers
/// them null with ACCESS_DENIED), then send their webhooks.
pub(crate) fn mutate(
    sim: &Sim,
    doc: &Valid<ExecutableDocument>,
    variables: &Map<String, Value>,
    shop: &mut Shop,
    set: &SelectionSet,
    base_url: &str,
    denied: &BTreeMap<String, Value>,
) -> (Value, Vec<Value>) {
    let now = sim.clock.now_secs();
    let mut failed_non_null = false;
    let mut data = Map::new();
    let mut errors = Vec::new();
    let mut events = Events::new();
    for sel in &set.selections {
        let Selection::Field(f) = sel else { continue };
        let key = f.response_key().to_string();
        if denied.contains_key(&key) {
            continue;
        }
        let Some(handler) = handler(f.name.as_str()) else {
            let message = format!("Mutation '{}' is not simulated by shopify-sim", f.name);
            errors.push(top_error(message, &key, "NOT_SIMULATED"));
            data.insert(key, Value::Null);
            continue;
        };
        let (args, idempotency_key) = arguments(doc, variables, shop, now, f);
        let mut call =
            Call { sim, shop, args, idempotency_key, events: &mut events, now, base_url };
        match handler(&mut call) {
            Ok((object, user_errors)) => {
                let mut e = Exec::new(doc, variables, shop, now);
                let payload = e.payload(f, object, &user_errors);
                failed_non_null |= e.failed_non_null;
                errors.extend(e.errors);
                data.insert(key, payload);
            }
            Err((message, code)) => {
                errors.push(top_error(message, &key, code));
                data.insert(key, Value::Null);
            }
        }
    }
    crate::webhooks::trigger(sim, shop, events);
    if failed_non_null {
        // The mutations ran; the answer fails as a query's does when a non-null field of a
        // payload's object cannot be answered.
        return (Value::Null, errors);
    }
    (Value::Object(data), errors)
}

/// A mutation field's arguments (coerced) and its `@idempotent` key.
fn arguments(
    doc: &Valid<ExecutableDocument>,
    variables: &Map<String, Value>,
    shop: &Shop,
    now: f64,
    f: &Field,
) -> (Map<String, Value>, Option<Value>) {
    let exec = Exec::new(doc, variables, shop, now);
    let args = f
        .definition
        .arguments
        .iter()
        .map(|a| (a.name.to_string(), exec.argument(f, a.name.as_str())))
        .collect();
    (args, exec.directive_argument(f, "idempotent", "key"))
}

fn customer_create(c: &mut Call) -> Answer {
    let (id, errs) = parties::customer_create(c.shop, &c.arg("input"));
    if let Some(customer) = id.and_then(|id| c.shop.customers.get(&id)) {
        c.events.push(("CUSTOMERS_CREATE", payloads::customer(customer)));
    }
    Ok((id.map(PayloadObject::Customer), errs))
}

fn customer_update(c: &mut Call) -> Answer {
    let r = parties::customer_update(c.shop, &c.arg("input")).map(|id| (id, false));
    Ok(customer_saved(c, r))
}

fn customer_set(c: &mut Call) -> Answer {
    let r = parties::customer_set(c.shop, &c.arg("identifier"), &c.arg("input"));
    Ok(customer_saved(c, r))
}

/// A customer written (and whether it was created): customers/create or customers/update.
fn customer_saved(c: &mut Call, r: Result<(u64, bool), Vec<Value>>) -> Outcome {
    match r {
        Ok((id, created)) => {
            let topic = if created { "CUSTOMERS_CREATE" } else { "CUSTOMERS_UPDATE" };
            c.events.push((topic, payloads::customer(&c.shop.customers[&id])));
            (Some(PayloadObject::Customer(id)), Vec::new())
        }
        Err(errs) => (None, errs),
    }
}

fn company_create(c: &mut Call) -> Answer {
    let r = parties::company_create(c.shop, &c.arg("input"));
    Ok(company_saved(c, r, "COMPANIES_CREATE"))
}

fn company_update(c: &mut Call) -> Answer {
    let r = parties::company_update(c.shop, &c.text("companyId"), &c.arg("input"));
    Ok(company_saved(c, r, "COMPANIES_UPDATE"))
}

fn company_saved(c: &mut Call, r: Result<u64, Vec<Value>>, topic: &'static str) -> Outcome {
    match r {
        Ok(id) => {
            c.events.push((topic, payloads::company(&c.shop.companies[&id])));
            (Some(PayloadObject::Company(id)), Vec::new())
        }
        Err(errs) => (None, errs),
    }
}

fn company_location_update(c: &mut Call) -> Answer {
    let r = parties::location_update(c.shop, &c.text("companyLocationId"), &c.arg("input"));
    Ok(match r {
        Ok((company, l)) => {
            c.events.push(("COMPANY_LOCATIONS_UPDATE", json!({ "id": l, "company_id": company })));
            (Some(PayloadObject::CompanyLocation(company, l)), Vec::new())
        }
        Err(errs) => (None, errs),
    })
}

fn assign_contact(c: &mut Call) -> Answer {
    Ok(match parties::assign_contact(c.shop, &c.text("companyId"), &c.text("customerId")) {
        Ok((company, contact)) => (Some(PayloadObject::Contact(company, contact)), Vec::new()),
        Err(errs) => (None, errs),
    })
}

fn fixed_prices_add(c: &mut Call) -> Answer {
    match catalogs::fixed_prices_add(c.shop, &c.text("priceListId"), &c.arg("prices")) {
        Ok((list, variants)) => Ok((Some(PayloadObject::Prices(list, variants)), Vec::new())),
        Err(Ok(errs)) => Ok((None, errs)),
        Err(Err(top)) => Err(top),
    }
}

fn order_close(c: &mut Call) -> Answer {
    let r = orders::close(c.shop, &c.arg("input"));
    Ok(order_saved(c, r))
}

fn order_mark_as_paid(c: &mut Call) -> Answer {
    let r = orders::mark_as_paid(c.shop, &c.arg("input"));
    Ok(order_saved(c, r))
}

/// An order written: orders/updated.
fn order_saved(c: &mut Call, r: Result<u64, Vec<Value>>) -> Outcome {
    match r {
        Ok(id) => {
            c.events.push(("ORDERS_UPDATED", payloads::order(c.shop, id)));
            (Some(PayloadObject::Order(id)), Vec::new())
        }
        Err(errs) => (None, errs),
    }
}

fn order_cancel(c: &mut Call) -> Answer {
    let restock = c.arg("restock").as_bool().unwrap_or(false);
    // `refundMethod: {originalPaymentMethodsRefund: true}` or the deprecated `refund: true`
    // refund what was paid to the original payment methods.
    let refund = c.arg("refund").as_bool().unwrap_or(false)
        || c.arg("refundMethod")
            .get("originalPaymentMethodsRefund")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let order = c.text("orderId");
    let shop = &mut *c.shop;
    let refunds_before = store::parse_gid("Order", &order)
        .and_then(|id| shop.orders.get(&id))
        .map_or(0, |o| o.refunds.len());
    Ok(match orders::cancel(shop, &order, restock, refund) {
        Ok(id) => {
            c.events.extend(payloads::refund_since(shop, id, refunds_before));
            c.events.push(("ORDERS_CANCELLED", payloads::order(shop, id)));
            let job = shop.next_id();
            (Some(PayloadObject::Job(job)), Vec::new())
        }
        Err(errs) => (None, errs),
    })
}

fn product_set(c: &mut Call) -> Answer {
    let (identifier, input) = (c.arg("identifier"), c.arg("input"));
    let files = input.get("files").cloned().unwrap_or(Value::Null);
    let target =
        identifier.get("id").and_then(Value::as_str).and_then(|g| store::parse_gid("Product", g));
    let shop = &mut *c.shop;
    let errs = media::check_files(shop, target, &files);
    let r =
        if errs.is_empty() { products::product_set(shop, &identifier, &input) } else { Err(errs) };
    Ok(match r {
        Ok(id) => {
            let p = &shop.products[&id];
            let topic =
                if p.created_at == p.updated_at { "PRODUCTS_CREATE" } else { "PRODUCTS_UPDATE" };
            media::set_files(shop, id, &files, c.now);
            c.events.push((topic, payloads::product(&shop.products[&id])));
            (Some(PayloadObject::Product(id)), Vec::new())
        }
        Err(errs) => (None, errs),
    })
}

/// `productCreate(product:, media:)` or `productUpdate(product: {id}, media:)` (the id also
/// as the `identifier`): through `productSet`, with the media attached after.
fn product_write(c: &mut Call, update: bool) -> Answer {
    let (input, media_arg) = (c.arg("product"), c.arg("media"));
    let shop = &mut *c.shop;
    let existing = if update {
        let id = input
            .get("id")
            .or_else(|| c.args.get("identifier").and_then(|i| i.get("id")))
            .and_then(Value::as_str)
            .and_then(|g| store::parse_gid("Product", g))
            .filter(|id| shop.products.contains_key(id));
        if id.is_none() {
            let e = json!({ "field": ["product", "id"], "message": "Product does not exist" });
            return Ok((None, vec![e]));
        }
        id
    } else {
        None
    };
    let mut errs = media::check(shop, existing, &media_arg, "media");
    let title = input.get("title").and_then(Value::as_str);
    if existing.is_none() && title.is_none_or(|t| t.trim().is_empty()) {
        errs.push(json!({ "field": ["product", "title"], "message": "Title can't be blank" }));
    }
    if !errs.is_empty() {
        return Ok((None, errs));
    }
    let mut fields = input.clone();
    if let Some(o) = fields.as_object_mut() {
        o.remove("id");
    }
    let identifier = match existing {
        Some(id) => json!({ "id": store::gid("Product", id) }),
        None => json!({}),
    };
    Ok(match products::product_set(shop, &identifier, &fields) {
        Ok(id) => {
            media::attach(shop, id, &media_arg, c.now);
            let topic = if update { "PRODUCTS_UPDATE" } else { "PRODUCTS_CREATE" };
            c.events.push((topic, payloads::product(&shop.products[&id])));
            (Some(PayloadObject::Product(id)), Vec::new())
        }
        Err(errs) => {
            let without_code = |mut e: Value| {
                if let Some(o) = e.as_object_mut() {
                    o.remove("code");
                }
                e
            };
            (None, errs.into_iter().map(without_code).collect())
        }
    })
}

fn staged_uploads_create(c: &mut Call) -> Answer {
    Ok(match media::staged_uploads_create(c.shop, &c.arg("input"), c.base_url) {
        Ok(targets) => (Some(PayloadObject::StagedTargets(targets)), Vec::new()),
        Err(errs) => (None, errs),
    })
}

fn variants_bulk_update(c: &mut Call) -> Answer {
    let r = products::variants_bulk_update(c.shop, &c.text("productId"), &c.arg("variants"));
    Ok(match r {
        Ok((p, ids)) => (Some(PayloadObject::Variants(p, ids)), Vec::new()),
        Err(errs) => (None, errs),
    })
}

fn fulfillment_create(c: &mut Call) -> Answer {
    Ok(match orders::fulfillment_create(c.shop, &c.arg("fulfillment")) {
        Ok((order, id)) => {
            let mut body = payloads::order(c.shop, order);
            if let Some(o) = body.as_object_mut() {
                o.insert("fulfillment_id".into(), json!(id));
            }
            c.events.push(("FULFILLMENTS_CREATE", body));
            c.events.push(("ORDERS_UPDATED", payloads::order(c.shop, order)));
            (Some(PayloadObject::Fulfillment(order, id)), Vec::new())
        }
        Err(errs) => (None, errs),
    })
}

fn inventory_set(c: &mut Call) -> Answer {
    let r = inventory::set_quantities(c.shop, &c.arg("input"), c.idempotency_key.clone())?;
    Ok(inventory_changed(c, r))
}

fn inventory_adjust(c: &mut Call) -> Answer {
    let r = inventory::adjust_quantities(c.shop, &c.arg("input"), c.idempotency_key.clone())?;
    Ok(inventory_changed(c, r))
}

/// An inventory mutation's group: inventory_levels/update for each `available` it changed.
fn inventory_changed(c: &mut Call, (group, errs): (Option<u64>, Vec<Value>)) -> Outcome {
    if let Some(g) = group.and_then(|g| c.shop.adjustments.get(&g)) {
        for change in g.changes.iter().filter(|change| change.name == "available") {
            c.events.push(("INVENTORY_LEVELS_UPDATE", payloads::level(g, change)));
        }
    }
    (group.map(PayloadObject::Group), errs)
}

fn bulk_run_query(c: &mut Call) -> Answer {
    let (id, errs) = bulk::run_query(c.sim, c.shop, &c.text("query"), c.base_url);
    Ok((id.map(PayloadObject::Bulk), errs))
}
