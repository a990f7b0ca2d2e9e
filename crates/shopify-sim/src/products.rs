//! Product writes: `productSet` (create or update in one call; the lists it is given replace
//! what is there, so variants left out are deleted; a product created without variants gets
//! Shopify's default variant) and `productVariantsBulkUpdate` (prices and SKUs of existing
//! variants, all or nothing).

use crate::store::{Product, Shop, Variant, parse_gid};
use serde_json::{Value, json};

fn err(field: Value, message: &str, code: &str) -> Vec<Value> {
    vec![json!({ "field": field, "message": message, "code": code })]
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// A price from a client, written with the shop's decimals.
fn money(v: &Value) -> Option<String> {
    crate::money::input(v, crate::money::current_units())
}

fn sku_of(v: &Value) -> Option<String> {
    v.pointer("/inventoryItem/sku")
        .and_then(Value::as_str)
        .or_else(|| v.get("sku").and_then(Value::as_str))
        .map(str::to_owned)
}

fn option_title(v: &Value) -> Option<String> {
    let names: Vec<&str> = v
        .get("optionValues")?
        .as_array()?
        .iter()
        .filter_map(|o| o.get("name").and_then(Value::as_str))
        .collect();
    (!names.is_empty()).then(|| names.join(" / "))
}

/// Ok: the product id. Err: user errors.
/// The option names of a product input: `productOptions[].name`, else the `optionName`s of
/// the first variant's option values.
fn option_names(input: &Value) -> Option<Vec<String>> {
    let names: Vec<String> = match input.get("productOptions").and_then(Value::as_array) {
        Some(opts) => opts.iter().filter_map(|o| text(o, "name")).collect(),
        None => input
            .pointer("/variants/0/optionValues")?
            .as_array()?
            .iter()
            .filter_map(|o| text(o, "optionName"))
            .collect(),
    };
    (!names.is_empty()).then_some(names)
}

pub fn product_set(shop: &mut Shop, identifier: &Value, input: &Value) -> Result<u64, Vec<Value>> {
    let existing = existing_product(shop, identifier)?;
    if existing.is_none() && text(input, "title").is_none_or(|t| t.trim().is_empty()) {
        return Err(err(json!(["input", "title"]), "Title can't be blank", "INVALID_PRODUCT"));
    }
    if let Some(vs) = input.get("variants").and_then(Value::as_array)
        && vs.len() > 2048
    {
        return Err(err(
            json!(["input", "variants"]),
            "A product can have at most 2048 variants",
            "INVALID_INPUT",
        ));
    }
    let at = shop.stamp();
    let id = match existing {
        Some(id) => id,
        None => new_product(shop, identifier, input, at),
    };
    // New variants need ids and inventory items: take them before borrowing the product.
    let wanted: Vec<Value> =
        input.get("variants").and_then(Value::as_array).cloned().unwrap_or_default();
    let fresh: Vec<(u64, u64)> =
        (0..wanted.len().max(1)).map(|_| (shop.next_id(), shop.next_id())).collect();
    let locations: Vec<u64> = shop.locations.keys().copied().collect();
    let mut new_items = Vec::new();
    let Some(p) = shop.products.get_mut(&id) else {
        return Err(err(json!(["input"]), "Product does not exist", "PRODUCT_DOES_NOT_EXIST"));
    };
    if let Some(t) = text(input, "title") {
        p.title = t;
    }
    if let Some(h) = text(input, "handle") {
        p.handle = h;
    }
    if let Some(d) = text(input, "descriptionHtml") {
        p.description_html = d;
    }
    if let Some(names) = option_names(input) {
        p.option_names = names;
    }
    if let Some(s) = text(input, "status") {
        p.status = s;
    }
    if let Some(v) = text(input, "vendor") {
        p.vendor = v;
    }
    if let Some(t) = text(input, "productType") {
        p.product_type = t;
    }
    if let Some(tags) = input.get("tags").and_then(Value::as_array) {
        p.tags = tags.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    }
    if input.get("variants").is_some() || p.variants.is_empty() {
        let old = std::mem::take(&mut p.variants);
        let mut next = Vec::new();
        for (i, v) in wanted.iter().enumerate() {
            let by_id =
                v.get("id").and_then(Value::as_str).and_then(|g| parse_gid("ProductVariant", g));
            let title = option_title(v).unwrap_or_else(|| "Default Title".into());
            let mut variant = match by_id
                .and_then(|id| old.iter().find(|o| o.id == id))
                .or_else(|| old.iter().find(|o| o.title == title))
            {
                Some(o) => o.clone(),
                None => {
                    let (vid, inv) = fresh[i];
                    new_items.push(inv);
                    new_variant(vid, inv, title.clone(), 0)
                }
            };
            variant.title = title;
            if let Some(p) = v.get("price").and_then(money) {
                variant.price = p;
            }
            if let Some(s) = sku_of(v) {
                variant.sku = s;
            }
            if let Some(t) = v.pointer("/inventoryItem/tracked").and_then(Value::as_bool) {
                variant.tracked = t;
            }
            barcode_and_compare_at(&mut variant, v);
            variant.position = i as u32 + 1;
            next.push(variant);
        }
        if next.is_empty() {
            // Shopify's default variant.
            let (vid, inv) = fresh[0];
            new_items.push(inv);
            next.push(new_variant(vid, inv, "Default Title".into(), 1));
        }
        p.variants = next;
    }
    p.updated_at = at;
    for inv in new_items {
        for l in &locations {
            shop.levels.entry((inv, *l)).or_default();
        }
    }
    Ok(id)
}

/// The product `productSet`'s identifier names: by id (which must exist), by handle (None
/// when no product has it: one is created), or none.
fn existing_product(shop: &Shop, identifier: &Value) -> Result<Option<u64>, Vec<Value>> {
    Ok(if let Some(id) = identifier.get("id").and_then(Value::as_str) {
        match parse_gid("Product", id).filter(|id| shop.products.contains_key(id)) {
            Some(id) => Some(id),
            None => {
                return Err(err(
                    json!(["identifier", "id"]),
                    "Product does not exist",
                    "PRODUCT_DOES_NOT_EXIST",
                ));
            }
        }
    } else if let Some(h) = identifier.get("handle").and_then(Value::as_str) {
        shop.products.values().find(|p| p.handle == h).map(|p| p.id)
    } else {
        None
    })
}

/// A new product from `productSet`'s input, without variants yet.
fn new_product(
    shop: &mut Shop,
    identifier: &Value,
    input: &Value,
    at: chrono::DateTime<chrono::Utc>,
) -> u64 {
    let id = shop.next_id();
    let title = text(input, "title").unwrap_or_default();
    let handle = identifier
        .get("handle")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| text(input, "handle"))
        .unwrap_or_else(|| title.to_lowercase().replace(' ', "-"));
    shop.products.insert(
        id,
        Product {
            id,
            title,
            handle,
            status: "ACTIVE".into(),
            vendor: String::new(),
            product_type: String::new(),
            tags: Vec::new(),
            created_at: at,
            updated_at: at,
            variants: Vec::new(),
            media: Vec::new(),
            description_html: String::new(),
            option_names: Vec::new(),
        },
    );
    id
}

/// A variant with Shopify's defaults: no SKU, no price, its stock tracked.
fn new_variant(id: u64, inventory_item_id: u64, title: String, position: u32) -> Variant {
    Variant {
        id,
        title,
        sku: String::new(),
        price: "0.00".into(),
        inventory_item_id,
        tracked: true,
        position,
        barcode: None,
        compare_at_price: None,
    }
}

/// `barcode` and `compareAtPrice` of a variant input: set when given, cleared by null.
fn barcode_and_compare_at(variant: &mut Variant, v: &Value) {
    if let Some(b) = v.get("barcode") {
        variant.barcode = b.as_str().map(str::to_owned).filter(|b| !b.is_empty());
    }
    if let Some(c) = v.get("compareAtPrice") {
        variant.compare_at_price = money(c);
    }
}

/// Ok: (product, variants updated). Err: user errors.
pub fn variants_bulk_update(
    shop: &mut Shop,
    product: &str,
    variants: &Value,
) -> Result<(u64, Vec<u64>), Vec<Value>> {
    let Some(pid) = parse_gid("Product", product).filter(|id| shop.products.contains_key(id))
    else {
        return Err(err(json!(["productId"]), "Product does not exist", "PRODUCT_DOES_NOT_EXIST"));
    };
    let items = variants.as_array().cloned().unwrap_or_default();
    let at = shop.stamp();
    let Some(p) = shop.products.get_mut(&pid) else {
        return Err(err(json!(["productId"]), "Product does not exist", "PRODUCT_DOES_NOT_EXIST"));
    };
    let mut plan = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let id = v.get("id").and_then(Value::as_str).and_then(|g| parse_gid("ProductVariant", g));
        let Some(idx) = id.and_then(|id| p.variants.iter().position(|x| x.id == id)) else {
            return Err(err(
                json!(["variants", i.to_string(), "id"]),
                "Product variant does not exist",
                "PRODUCT_VARIANT_DOES_NOT_EXIST",
            ));
        };
        if v.get("price").is_some() && v.get("price").and_then(money).is_none() {
            return Err(err(
                json!(["variants", i.to_string(), "price"]),
                "Price is invalid",
                "INVALID_INPUT",
            ));
        }
        plan.push((idx, v));
    }
    let mut ids = Vec::new();
    for (idx, v) in plan {
        let x = &mut p.variants[idx];
        if let Some(price) = v.get("price").and_then(money) {
            x.price = price;
        }
        if let Some(s) = v.pointer("/inventoryItem/sku").and_then(Value::as_str) {
            x.sku = s.to_owned();
        }
        barcode_and_compare_at(x, v);
        ids.push(x.id);
    }
    p.updated_at = at;
    Ok((pid, ids))
}
