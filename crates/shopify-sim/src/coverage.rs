//! How much of the types sync reads and writes the simulator answers, measured by running it:
//! for every field the schema declares on each type, one query selects that field (with
//! `first: 1` on connections and a plausible value for required arguments) on a shop seeded
//! with every kind of data, and the field counts as answered when the answer has no error and,
//! for a non-null field, a value. Nothing here lists what is answered; the resolvers decide.

use crate::exec::Exec;
use crate::store::{Shop, gid};
use apollo_compiler::ExecutableDocument;
use apollo_compiler::schema::ExtendedType;
use serde_json::{Map, Value, json};

/// The types sync reads and writes, and where the coverage shop has one (`%` is the probe).
const TYPES: &[(&str, &str)] = &[
    ("Order", r#"order(id: "{order}") { % }"#),
    ("LineItem", r#"order(id: "{order}") { lineItems(first: 1) { nodes { % } } }"#),
    ("ShippingLine", r#"order(id: "{order}") { shippingLine { % } }"#),
    ("TaxLine", r#"order(id: "{order}") { taxLines { % } }"#),
    ("OrderTransaction", r#"order(id: "{order}") { transactions { % } }"#),
    ("Refund", r#"order(id: "{order}") { refunds { % } }"#),
    ("FulfillmentOrder", r#"order(id: "{order}") { fulfillmentOrders(first: 1) { nodes { % } } }"#),
    (
        "FulfillmentOrderLineItem",
        r#"order(id: "{order}") { fulfillmentOrders(first: 1) { nodes { lineItems(first: 1) { nodes { % } } } } }"#,
    ),
    ("Fulfillment", r#"order(id: "{order}") { fulfillments { % } }"#),
    ("Product", r#"product(id: "{product}") { % }"#),
    ("ProductVariant", r#"product(id: "{product}") { variants(first: 1) { nodes { % } } }"#),
    (
        "MediaImage",
        r#"product(id: "{product}") { media(first: 1) { nodes { ... on MediaImage { % } } } }"#,
    ),
    (
        "Image",
        r#"product(id: "{product}") { media(first: 1) { nodes { ... on MediaImage { image { % } } } } }"#,
    ),
    (
        "InventoryItem",
        r#"product(id: "{product}") { variants(first: 1) { nodes { inventoryItem { % } } } }"#,
    ),
    (
        "InventoryLevel",
        r#"product(id: "{product}") { variants(first: 1) { nodes { inventoryItem { inventoryLevels(first: 1) { nodes { % } } } } } }"#,
    ),
    ("Location", "locations(first: 1) { nodes { % } }"),
    ("Customer", r#"customer(id: "{customer}") { % }"#),
    ("Company", r#"company(id: "{company}") { % }"#),
    ("CompanyLocation", r#"company(id: "{company}") { locations(first: 1) { nodes { % } } }"#),
    (
        "CompanyLocationCatalog",
        r#"catalog(id: "{catalog}") { ... on CompanyLocationCatalog { % } }"#,
    ),
    ("PriceList", r#"priceList(id: "{price_list}") { % }"#),
    ("ShopifyPaymentsPayout", "shopifyPaymentsAccount { payouts(first: 1) { nodes { % } } }"),
    (
        "ShopifyPaymentsBalanceTransaction",
        "shopifyPaymentsAccount { balanceTransactions(first: 1) { nodes { % } } }",
    ),
];

/// One type's coverage.
#[derive(Debug, Clone)]
pub struct Row {
    pub type_name: String,
    pub fields: usize,
    pub answered: usize,
    pub non_null: usize,
    pub non_null_answered: usize,
    /// Of the answered fields, those answered with Shopify's empty case (a shop without that
    /// feature: empty list or connection, zero, false, null) rather than from simulated data.
    pub empty_case: usize,
    /// Fields not answered, non-null ones marked with `!`.
    pub missing: Vec<String>,
}

impl Row {
    pub fn percent(&self) -> f64 {
        100.0 * self.answered as f64 / self.fields.max(1) as f64
    }

    pub fn non_null_percent(&self) -> f64 {
        100.0 * self.non_null_answered as f64 / self.non_null.max(1) as f64
    }
}

/// The names of the types measured.
pub fn type_names() -> Vec<&'static str> {
    TYPES.iter().map(|(t, _)| *t).collect()
}

/// A shop with one of everything: products with images, customers (one with a phone number
/// and an address), a company location with addresses, orders in every payment state, one fulfilled in part and refunded in part, B2B companies, catalogs and price lists,
/// and a payout.
pub fn coverage_shop() -> Shop {
    let mut shop = Shop::new("coverage", "shpat_coverage_0000", crate::bucket::Limits::PLUS);
    shop.seed(19, 4, 3);
    shop.seed_b2b(19, 2);
    let variants: Vec<u64> =
        shop.products.values().flat_map(|p| p.variants.iter().map(|v| v.id)).take(2).collect();
    let buyer =
        shop.companies.values().next().and_then(|c| c.contacts.first()).map(|k| k.customer_id);
    let lines: Vec<(u64, i64)> = variants.iter().map(|v| (*v, 2)).collect();
    if let Some(c) = buyer.and_then(|b| shop.customers.get_mut(&b)) {
        c.phone = "+4512345678".into();
        c.addresses.push(crate::store::Address {
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            address1: "Nørregade 7".into(),
            city: "Copenhagen".into(),
            zip: "1165".into(),
            country_code: "DK".into(),
        });
    }
    let at = shop.stamp();
    if let Some(l) = shop.companies.values_mut().next().and_then(|c| c.locations.first_mut()) {
        let a = crate::store::CompanyAddress {
            id: l.id + 1,
            address1: "Havnegade 3".into(),
            city: Some("Copenhagen".into()),
            zip: Some("1058".into()),
            country_code: "DK".into(),
            created_at: at,
            ..Default::default()
        };
        l.billing_address = Some(a.clone());
        l.shipping_address = Some(a);
    }
    let order = shop.place_order(buyer, &lines, "PAID").unwrap_or_default();
    shop.seed_orders(19, 4);
    if let Some(o) = shop.orders.get(&order) {
        let fo = &o.fulfillment_orders[0];
        let input = json!({ "lineItemsByFulfillmentOrder": [{
            "fulfillmentOrderId": gid("FulfillmentOrder", fo.id),
            "fulfillmentOrderLineItems": [{ "id": gid("FulfillmentOrderLineItem", fo.lines[0].id), "quantity": 1 }],
        }], "trackingInfo": { "number": "1Z999", "company": "UPS" } });
        let _ = crate::orders::fulfillment_create(&mut shop, &input);
        crate::orders::refund(&mut shop, order, 500);
    }
    shop.pay_out();
    shop
}

/// Measure every type against the coverage shop.
pub fn measure() -> Vec<Row> {
    measure_types(TYPES)
}

/// Measure the given types, each found at its place in a query (`%` is the probe;
/// `{order}`, `{product}`, `{customer}`, `{company}`, `{catalog}` and `{price_list}` name
/// objects of the coverage shop).
pub fn measure_types(types: &[(&str, &str)]) -> Vec<Row> {
    let shop = coverage_shop();
    let order = shop.orders.values().find(|o| !o.fulfillments.is_empty() && !o.refunds.is_empty());
    let vars = [
        ("{order}", order.map(|o| gid("Order", o.id))),
        ("{product}", shop.products.keys().next().map(|id| gid("Product", *id))),
        ("{customer}", order.and_then(|o| o.customer_id).map(|id| gid("Customer", id))),
        ("{company}", shop.companies.keys().next().map(|id| gid("Company", *id))),
        ("{catalog}", shop.catalogs.keys().next().map(|id| gid("CompanyLocationCatalog", *id))),
        ("{price_list}", shop.price_lists.keys().next().map(|id| gid("PriceList", *id))),
    ];
    types
        .iter()
        .map(|(ty, at)| {
            let mut at = (*at).to_owned();
            for (k, v) in &vars {
                at = at.replace(k, v.as_deref().unwrap_or(""));
            }
            measure_type(&shop, ty, &at)
        })
        .collect()
}

fn measure_type(shop: &Shop, ty: &str, at: &str) -> Row {
    let schema = crate::schema::schema();
    let mut row = Row {
        type_name: ty.to_owned(),
        fields: 0,
        answered: 0,
        non_null: 0,
        non_null_answered: 0,
        empty_case: 0,
        missing: Vec::new(),
    };
    let Some(def) = schema.get_object(ty) else { return row };
    for (name, fd) in &def.fields {
        let non_null = fd.ty.is_non_null();
        row.fields += 1;
        row.non_null += usize::from(non_null);
        let probe = probe(shop, name.as_str(), fd);
        let query = format!("{{ {} }}", at.replace('%', &probe));
        if let Some(empty) = answers(shop, &query, non_null) {
            row.answered += 1;
            row.non_null_answered += usize::from(non_null);
            row.empty_case += usize::from(empty);
        } else {
            row.missing.push(format!("{name}{}", if non_null { "!" } else { "" }));
        }
    }
    row
}

/// `probe: field(args) { … }` for one field: `__typename` under a composite type, and the
/// scalar and enum fields of an object type.
fn probe(shop: &Shop, name: &str, fd: &apollo_compiler::schema::FieldDefinition) -> String {
    let schema = crate::schema::schema();
    let mut args = Vec::new();
    for a in &fd.arguments {
        if a.name == "first" {
            args.push("first: 1".to_owned());
        } else if a.ty.is_non_null() && a.default_value.is_none() {
            args.push(format!("{}: {}", a.name, argument_value(shop, a.name.as_str(), &a.ty)));
        }
    }
    let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
    let sub = match schema.types.get(fd.ty.inner_named_type()) {
        Some(ExtendedType::Scalar(_) | ExtendedType::Enum(_)) | None => String::new(),
        // An object: its own scalar and enum fields too, so a nested object answered in part
        // does not count as answered.
        Some(ExtendedType::Object(o)) if !o.name.ends_with("Connection") => {
            let leaves: Vec<&str> = o
                .fields
                .values()
                .filter(|sf| {
                    sf.arguments.iter().all(|a| !a.ty.is_non_null() || a.default_value.is_some())
                })
                .filter(|sf| {
                    matches!(
                        schema.types.get(sf.ty.inner_named_type()),
                        Some(ExtendedType::Scalar(_) | ExtendedType::Enum(_))
                    )
                })
                .map(|sf| sf.name.as_str())
                .collect();
            format!(" {{ __typename {} }}", leaves.join(" "))
        }
        Some(_) => " { __typename }".to_owned(),
    };
    format!("probe: {name}{args}{sub}")
}

/// A plausible value for a required argument.
fn argument_value(shop: &Shop, name: &str, ty: &apollo_compiler::ast::Type) -> String {
    let named = ty.inner_named_type().as_str();
    if ty.is_list() {
        return format!(
            "[{}]",
            if name == "names" {
                "\"available\"".to_owned()
            } else {
                argument_value(shop, name, ty.item_type())
            }
        );
    }
    match (named, name) {
        ("ID", "locationId") => {
            format!("\"{}\"", gid("Location", shop.locations.keys().next().copied().unwrap_or(1)))
        }
        ("ID", "inventoryItemId") => {
            let item = shop
                .products
                .values()
                .flat_map(|p| &p.variants)
                .next()
                .map_or(1, |v| v.inventory_item_id);
            format!("\"{}\"", gid("InventoryItem", item))
        }
        ("ID", "catalogId") => format!(
            "\"{}\"",
            gid("CompanyLocationCatalog", shop.catalogs.keys().next().copied().unwrap_or(1))
        ),
        ("ID", _) => "\"gid://shopify/Collection/1\"".to_owned(),
        ("String", "locale") => "\"en\"".to_owned(),
        ("String", _) => "\"custom\"".to_owned(),
        ("Int", _) => "1".to_owned(),
        ("Boolean", _) => "false".to_owned(),
        _ => "{}".to_owned(),
    }
}

/// Whether a query answers without errors and, for a non-null probe, with a value: None when
/// it does not, else whether the probe was answered with the empty case.
fn answers(shop: &Shop, query: &str, non_null: bool) -> Option<bool> {
    let schema = crate::schema::schema();
    let doc = ExecutableDocument::parse_and_validate(&schema, query, "coverage.graphql").ok()?;
    let op = doc.operations.get(None).ok()?;
    let vars = Map::new();
    let mut exec = Exec::new(&doc, &vars, shop, 1e9);
    let data = exec.run(&op.selection_set);
    if !exec.errors.is_empty() || exec.failed_non_null {
        return None;
    }
    let v = find_probe(&data)?;
    if non_null && v.is_null() {
        return None;
    }
    Some(exec.empty_answers.iter().any(|k| k == "probe"))
}

/// The first value under a `probe` key.
fn find_probe(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(m) => m.get("probe").or_else(|| m.values().find_map(find_probe)),
        Value::Array(a) => a.iter().find_map(find_probe),
        _ => None,
    }
}

/// The coverage table (Markdown), with a total row.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| type | fields | answered | % | non-null | non-null answered | % | answered with the empty case |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let line = |r: &Row| {
        format!(
            "| {} | {} | {} | {:.1} | {} | {} | {:.1} | {} |\n",
            r.type_name,
            r.fields,
            r.answered,
            r.percent(),
            r.non_null,
            r.non_null_answered,
            r.non_null_percent(),
            r.empty_case
        )
    };
    let mut total = Row {
        type_name: "**all**".into(),
        fields: 0,
        answered: 0,
        non_null: 0,
        non_null_answered: 0,
        empty_case: 0,
        missing: Vec::new(),
    };
    for r in rows {
        out.push_str(&line(r));
        total.fields += r.fields;
        total.answered += r.answered;
        total.non_null += r.non_null;
        total.non_null_answered += r.non_null_answered;
        total.empty_case += r.empty_case;
    }
    out.push_str(&line(&total));
    out
}
