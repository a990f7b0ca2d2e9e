//! The fields of the object types sync reads and writes, resolved per domain (orders,
//! catalogue, parties and payments, root fields). `exec.rs` keeps the fields it answered
//! first; everything else about these types is answered here. A field with real data behind it
//! is computed from the shop; a field the simulator has nothing for is answered with the value
//! Shopify gives a shop without that feature (`empty`), and only when it is named in the
//! type's list of such fields, so nothing is answered by accident. `crate::coverage` measures
//! what is answered by running a query per schema field.

mod catalog;
mod orders;
mod parties;
mod root;

pub(crate) use root::{DEFAULT_NAMESPACE, locations, metafields_of, owner_obj, subscriptions};

use crate::exec::{Exec, Item, Obj, project};
use apollo_compiler::executable::Field;
use serde_json::{Value, json};

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
        Obj::Query => root::field(x, f, path),
        Obj::Subscription(w) => root::subscription(x, w, f),
        Obj::Metafield(m) => root::metafield(x, m, f, path),
        Obj::Order(o) => orders::order(x, o, f, path),
        Obj::LineItem(o, l) => orders::line_item(x, o, l, f, path),
        Obj::ShippingLine(o) => orders::shipping_line(x, o, f, path),
        Obj::TaxLine(t) => orders::tax_line(x, t, f, path),
        Obj::Transaction(o, t) => orders::transaction(x, o, t, f, path),
        Obj::Refund(o, r) => orders::refund(x, o, r, f, path),
        Obj::Fo(o, fo) => orders::fulfillment_order(x, o, fo, f, path),
        Obj::FoLine(o, l) => orders::fo_line(x, o, l, f, path),
        Obj::Fulfillment(o, fu) => orders::fulfillment(x, o, fu, f, path),
        Obj::FulfillmentLine(o, li, q, id) => orders::fulfillment_line(x, o, li, q, id, f, path),
        Obj::Product(p) => catalog::product(x, p, f, path),
        Obj::Variant(p, v) => catalog::variant(x, p, v, f, path),
        Obj::Media(m) => catalog::media_image(x, m, f, path),
        Obj::Image(m) => catalog::image(x, m, f, path),
        Obj::InventoryItem(v) => catalog::inventory_item(x, v, f, path),
        Obj::Level(item, l, _) => catalog::level(x, item, l, f, path),
        Obj::Location(l) => catalog::location(x, l, f, path),
        Obj::Customer(c) => parties::customer(x, c, f, path),
        Obj::Company(c) => parties::company(x, c, f, path),
        Obj::CompanyLocation(c, l) => parties::company_location(x, c, l, f, path),
        Obj::Catalog(c) => parties::catalog(x, c, f, path),
        Obj::PriceList(p) => parties::price_list(x, p, f, path),
        Obj::Payout(p) => parties::payout(x, p, f, path),
        _ => None,
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
                    .map(|m| Item {
                        obj: Obj::Metafield(m),
                        sort: format!("{:020}", m.id),
                        id: m.id,
                    })
                    .collect(),
            )
        }
        _ => None,
    }
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

/// A plain JSON object answered through the field's selection.
pub(crate) fn object(x: &Exec, v: Value, f: &Field) -> Value {
    project(&v, &f.selection_set, x.doc)
}

/// A MoneyV2 as JSON.
pub(crate) fn money_json(x: &Exec, amount: &str) -> Value {
    json!({ "amount": amount, "currencyCode": x.shop.currency })
}

/// A MoneyV2 field.
pub(crate) fn money(x: &Exec, amount: &str, f: &Field) -> Value {
    object(x, money_json(x, amount), f)
}

/// A MoneyBag as JSON: the shop's money and the customer's (one currency here).
pub(crate) fn bag_json(x: &Exec, amount: &str) -> Value {
    let m = money_json(x, amount);
    json!({ "shopMoney": m, "presentmentMoney": m })
}

/// A MoneyBag field.
pub(crate) fn bag(x: &Exec, amount: &str, f: &Field) -> Value {
    object(x, bag_json(x, amount), f)
}

/// A Count field with an exact count.
pub(crate) fn count<'a>(x: &mut Exec<'a>, n: usize, f: &Field, path: &mut Vec<Value>) -> Value {
    x.set(Obj::Count(n), &f.selection_set, path)
}

/// "12.50" → 1250.
pub(crate) fn cents(amount: &str) -> i64 {
    amount.parse::<f64>().map(|a| (a * 100.0).round() as i64).unwrap_or(0)
}

/// 1250 → "12.50".
pub(crate) fn amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// An empty connection as JSON (inside objects answered with `object`).
pub(crate) fn empty_connection() -> Value {
    json!({
        "edges": [],
        "nodes": [],
        "pageInfo": { "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null },
    })
}
