//! The fields of every object type the simulator answers, resolved per domain (orders,
//! fulfilments, refunds, catalogue, stock, parties, payments, root fields, nested objects), and
//! the items of their connections; `exec.rs` walks the selection and pages connections. A field with real data behind it
//! is computed from the shop; a field the simulator has nothing for is answered with the value
//! Shopify gives a shop without that feature (`empty`), and only when it is named in the
//! type's list of such fields, so nothing is answered by accident. `crate::coverage` measures
//! what is answered by running a query per schema field.

mod catalog;
mod fulfillments;
mod nested;
mod orders;
mod parties;
mod payments;
mod refunds;
mod root;
mod stock;

pub(crate) use root::{DEFAULT_NAMESPACE, metafields_of, owner_obj};

use crate::exec::{Exec, Item, Obj, project};
use apollo_compiler::executable::{Field, Selection, SelectionSet};
use serde_json::{Map, Value, json};

/// A field of `obj` the simulator answers beyond `exec.rs`, or None when it does not.
pub(crate) fn field<'a>(
    x: &mut Exec<'a>,
    obj: Obj<'a>,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    if crate::exec::gid_of(&obj).is_some() {
        match f.name.as_str() {
            "metafield" => return Some(root::metafield_field(x, obj, f, path)),
            "metafields" => return Some(connection(x, obj, f, path)),
            _ => {}
        }
    }
    match obj {
        Obj::Query => root::query(x, f, path),
        Obj::Shop => root::shop(x, f),
        Obj::Bulk(b) => root::bulk_operation(x, b, f),
        Obj::Subscription(w) => root::subscription(x, w, f, path),
        Obj::Metafield(m) => root::metafield(x, m, f, path),
        Obj::Order(o) => orders::order(x, o, f, path),
        Obj::LineItem(o, l) => orders::line_item(x, o, l, f, path),
        Obj::ShippingLine(o) => orders::shipping_line(x, o, f, path),
        Obj::TaxLine(t) => orders::tax_line(x, t, f, path),
        Obj::Transaction(o, t) => refunds::transaction(x, o, t, f, path),
        Obj::Refund(o, r) => refunds::refund(x, o, r, f, path),
        Obj::RefundLine(o, l) => refunds::refund_line(x, o, l, f, path),
        Obj::RefundShipping(o, s) => refunds::refund_shipping(x, o, s, f, path),
        Obj::Fo(o, fo) => fulfillments::fulfillment_order(x, o, fo, f, path),
        Obj::FoLine(o, l) => fulfillments::fo_line(x, o, l, f, path),
        Obj::Fulfillment(o, fu) => fulfillments::fulfillment(x, o, fu, f, path),
        Obj::FulfillmentLine(o, li, q, id) => {
            fulfillments::fulfillment_line(x, o, li, q, id, f, path)
        }
        Obj::Tracking(fu) => fulfillments::tracking(fu, f),
        Obj::Product(p) => catalog::product(x, p, f, path),
        Obj::Variant(p, v) => catalog::variant(x, p, v, f, path),
        Obj::Media(m) => catalog::media_image(x, m, f, path),
        Obj::Image(m) => catalog::image(x, m, f, path),
        Obj::InventoryItem(v) => stock::inventory_item(x, v, f, path),
        Obj::Level(item, l, q) => stock::level(x, item, l, q, f, path),
        Obj::Location(l) => stock::location(x, l, f, path),
        Obj::Group(g) => stock::adjustment_group(x, g, f, path),
        Obj::Change(c) => stock::inventory_change(x, c, f, path),
        Obj::Customer(c) => parties::customer(x, c, f, path),
        Obj::Company(c) => parties::company(x, c, f, path),
        Obj::CompanyLocation(c, l) => parties::company_location(x, c, l, f, path),
        Obj::Catalog(c) => parties::catalog(x, c, f, path),
        Obj::PriceList(p) => parties::price_list(x, p, f, path),
        Obj::Price(v, amount) => parties::price(x, v, amount, f, path),
        Obj::Payments => payments::payments_account(x, f, path),
        Obj::BalanceTx(b) => payments::balance_transaction(x, b, f, path),
        Obj::AssocOrder(o) => payments::associated_order(o, f),
        Obj::AssocPayout(p) => payments::associated_payout(p, f),
        Obj::Payout(p) => payments::payout(x, p, f, path),
        Obj::Address(a) => nested::address(x, a, f, path),
        Obj::Assigned(l) => nested::assigned_location(x, l, f, path),
        Obj::Quantity(n, v, item, l) => nested::quantity(x, n, v, item, l, f),
        Obj::Contact(c, k) => nested::contact(x, c, k, f, path),
        Obj::Email(c) => nested::email(x, c, f, path),
        Obj::Money(a) => nested::money(x, a, f, path),
        Obj::Count(n) => nested::count(n, f),
        Obj::MediaError(e) => nested::media_error(e, f),
    }
}

/// The items of a connection this module answers.
pub(crate) fn items<'a>(x: &mut Exec<'a>, obj: Obj<'a>, f: &Field) -> Option<Vec<Item<'a>>> {
    match (obj, f.name.as_str()) {
        (Obj::Query, "productVariants") => Some(catalog::variants(x, f)),
        (_, "metafields") => {
            let owner = crate::exec::gid_of(&obj)?;
            Some(
                metafields_of(x.shop, &owner, f, x)
                    .into_iter()
                    .map(|m| Item::by_id(Obj::Metafield(m), m.id))
                    .collect(),
            )
        }
        _ => orders::items(x, obj, f)
            .or_else(|| catalog::items(x, obj, f))
            .or_else(|| parties::items(x, obj, f))
            .or_else(|| root::items(x, obj, f)),
    }
}

/// An object field: the object through the field's selection, or null when there is none.
pub(crate) fn maybe<'a>(
    x: &mut Exec<'a>,
    obj: Option<Obj<'a>>,
    f: &Field,
    path: &mut Vec<Value>,
) -> Value {
    match obj {
        Some(o) => x.set(o, &f.selection_set, path),
        None => Value::Null,
    }
}

/// The numeric id of the field's `id` argument, a gid of `kind`.
pub(crate) fn gid_arg(x: &Exec, f: &Field, kind: &str) -> Option<u64> {
    crate::store::parse_gid(kind, x.arg(f, "id").as_str()?)
}

/// A connection field answered from `items`.
pub(crate) fn connection<'a>(
    x: &mut Exec<'a>,
    obj: Obj<'a>,
    f: &Field,
    path: &mut Vec<Value>,
) -> Value {
    let items = x.items(obj, f).unwrap_or_default();
    x.connection(f, items, path)
}

/// What Shopify answers for a field with nothing in it: null when the field is nullable, an
/// empty list, an empty connection, zero money, a zero count, false or 0. None for a non-null
/// field of another type: that needs a real value.
pub(crate) fn empty<'a>(x: &mut Exec<'a>, f: &Field, path: &mut Vec<Value>) -> Option<Value> {
    x.empty_answers.push(f.response_key().to_string());
    let ty = &f.definition.ty;
    if !ty.is_non_null() {
        return Some(Value::Null);
    }
    if ty.is_list() {
        return Some(json!([]));
    }
    Some(match ty.inner_named_type().as_str() {
        n if n.ends_with("Connection") => x.connection(f, Vec::new(), path),
        "MoneyBag" => bag(x, "0.00", f),
        "MoneyV2" => money(x, "0.00", f),
        "Count" => x.set(Obj::Count(0), &f.selection_set, path),
        "Money" | "Decimal" => json!("0.0"),
        "Boolean" => json!(false),
        "Int" => json!(0),
        "Float" => json!(0.0),
        "UnsignedInt64" => json!("0"),
        _ => return None,
    })
}

/// `empty` for a field named in `list`, else None (not simulated).
pub(crate) fn listed<'a>(
    x: &mut Exec<'a>,
    f: &Field,
    path: &mut Vec<Value>,
    list: &[&str],
) -> Option<Value> {
    if list.contains(&f.name.as_str()) { empty(x, f, path) } else { None }
}

/// A plain JSON object (or list of them) answered through the field's selection. A selected
/// field the JSON does not have, or has as null though the schema says non-null, is reported
/// NOT_SIMULATED like any other field (and fails the answer when non-null).
pub(crate) fn object(x: &mut Exec, path: &[Value], v: Value, f: &Field) -> Value {
    let mut path = path.to_vec();
    checked(x, &v, &f.selection_set, &mut path)
}

fn checked(x: &mut Exec, v: &Value, set: &SelectionSet, path: &mut Vec<Value>) -> Value {
    match v {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    path.push(json!(i));
                    let out = checked(x, item, set, path);
                    path.pop();
                    out
                })
                .collect(),
        ),
        Value::Object(o) => {
            let mut out = Map::new();
            checked_into(x, o, set, path, &mut out);
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn checked_into(
    x: &mut Exec,
    o: &Map<String, Value>,
    set: &SelectionSet,
    path: &mut Vec<Value>,
    out: &mut Map<String, Value>,
) {
    for s in &set.selections {
        match s {
            Selection::Field(f) => {
                let key = f.response_key().to_string();
                path.push(json!(key));
                let v = match o.get(f.name.as_str()) {
                    _ if f.name == "__typename" => json!(
                        o.get("__typename").and_then(Value::as_str).unwrap_or(set.ty.as_str())
                    ),
                    Some(Value::Null) | None
                        if f.definition.ty.is_non_null() || !o.contains_key(f.name.as_str()) =>
                    {
                        x.not_simulated_on(set.ty.as_str(), f, path)
                    }
                    Some(inner) if !f.selection_set.selections.is_empty() => {
                        checked(x, inner, &f.selection_set, path)
                    }
                    Some(inner) => inner.clone(),
                    None => Value::Null,
                };
                path.pop();
                out.insert(key, v);
            }
            Selection::InlineFragment(i) => {
                if applies(o, set, i.type_condition.as_ref()) {
                    checked_into(x, o, &i.selection_set, path, out);
                }
            }
            Selection::FragmentSpread(sp) => {
                if let Some(fr) = x.doc.fragments.get(&sp.fragment_name)
                    && applies(o, set, Some(fr.type_condition()))
                {
                    checked_into(x, o, &fr.selection_set, path, out);
                }
            }
        }
    }
}

/// Whether a fragment's type condition holds for a plain object: its `__typename` (or the
/// selection's type) is the condition or implements it.
fn applies(
    o: &Map<String, Value>,
    set: &SelectionSet,
    cond: Option<&apollo_compiler::Name>,
) -> bool {
    let Some(cond) = cond else { return true };
    let ty = o.get("__typename").and_then(Value::as_str).unwrap_or(set.ty.as_str());
    ty == cond.as_str()
        || crate::schema::schema()
            .get_object(ty)
            .is_some_and(|t| t.implements_interfaces.iter().any(|i| i.name == *cond))
}

/// A MoneyV2 as JSON.
pub(crate) fn money_json(x: &Exec, amount: &str) -> Value {
    json!({ "amount": amount, "currencyCode": x.shop.currency })
}

/// A MoneyV2 field (the JSON has every field of MoneyV2).
pub(crate) fn money(x: &Exec, amount: &str, f: &Field) -> Value {
    project(&money_json(x, amount), &f.selection_set, x.doc)
}

/// A MoneyBag as JSON: the shop's money and the customer's (one currency here).
pub(crate) fn bag_json(x: &Exec, amount: &str) -> Value {
    let m = money_json(x, amount);
    json!({ "shopMoney": m, "presentmentMoney": m })
}

/// A MoneyBag field (the JSON has every field of MoneyBag).
pub(crate) fn bag(x: &Exec, amount: &str, f: &Field) -> Value {
    project(&bag_json(x, amount), &f.selection_set, x.doc)
}

/// A Count field with an exact count.
pub(crate) fn count<'a>(x: &mut Exec<'a>, n: usize, f: &Field, path: &mut Vec<Value>) -> Value {
    x.set(Obj::Count(n), &f.selection_set, path)
}

/// An amount in the answered shop's minor units: "12.50" → 1250 (EUR), "1500" → 1500 (JPY).
pub(crate) fn cents(amount: &str) -> i64 {
    crate::money::to_minor(amount, crate::money::current_units()).unwrap_or(0)
}

/// Minor units of the answered shop's currency as its decimal string: 1250 → "12.50" (EUR),
/// 1500 → "1500" (JPY), 1250 → "1.250" (KWD).
pub(crate) fn amount(cents: i64) -> String {
    crate::money::format(cents, crate::money::current_units())
}

/// An empty connection as JSON (inside objects answered with `object`).
pub(crate) fn empty_connection() -> Value {
    json!({
        "edges": [],
        "nodes": [],
        "pageInfo": { "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null },
    })
}
