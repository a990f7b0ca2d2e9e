//! The catalogue and stock: products, variants, media images, inventory items and levels,
//! locations. Prices, stock totals and options are derived from the variants and levels; a
//! product is published on the online store while it is ACTIVE.

use super::{Exec, Item, Obj, cents, count, listed, money_json, object};
use crate::exec::{file_name, time};
use crate::search::{self, FieldValue};
use crate::store::{
    AdjustmentGroup, Change, Location, Media, Product, Quantities, Variant, gid, parse_gid,
};
use apollo_compiler::executable::Field;
use apollo_compiler::executable::Selection;
use serde_json::{Map, Value, json};

/// The inventory quantity names Shopify knows.
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

/// `productVariants(query:)`: sku, barcode-less, product_id, title, id and time filters.
pub(super) fn variants<'a>(x: &mut Exec<'a>, f: &Field) -> Vec<Item<'a>> {
    let filter = x.search_filter(f);
    let shop = x.shop;
    shop.products
        .values()
        .flat_map(|p| p.variants.iter().map(move |v| (p, v)))
        .filter(|(p, v)| {
            filter.as_ref().is_none_or(|e| {
                search::matches(e, &|field| match field {
                    None | Some("title") => {
                        Some(FieldValue::Text(format!("{} {}", p.title, v.title)))
                    }
                    Some("id") => Some(FieldValue::Number(v.id)),
                    Some("sku") => Some(FieldValue::Text(v.sku.clone())),
                    Some("product_id") => Some(FieldValue::Number(p.id)),
                    Some("product_status") => Some(FieldValue::Text(p.status.clone())),
                    Some("vendor") => Some(FieldValue::Text(p.vendor.clone())),
                    Some("updated_at") => Some(FieldValue::Time(p.updated_at)),
                    Some("created_at") => Some(FieldValue::Time(p.created_at)),
                    Some("inventory_item_id") => Some(FieldValue::Number(v.inventory_item_id)),
                    _ => None,
                })
            })
        })
        .map(|(p, v)| Item { obj: Obj::Variant(p, v), sort: format!("{:020}", v.id), id: v.id })
        .collect()
}

/// Units available for sale across all locations.
fn available(x: &Exec, v: &Variant) -> i64 {
    x.shop
        .levels
        .range((v.inventory_item_id, 0)..=(v.inventory_item_id, u64::MAX))
        .map(|(_, q)| q.available)
        .sum()
}

fn price_range(x: &Exec, p: &Product) -> Value {
    let prices = p.variants.iter().map(|v| cents(&v.price));
    let min = prices.clone().min().unwrap_or(0);
    let max = prices.max().unwrap_or(0);
    json!({
        "minVariantPrice": money_json(x, &super::amount(min)),
        "maxVariantPrice": money_json(x, &super::amount(max)),
    })
}

/// The names of a product's options: as written, else Shopify's `Title` for a default
/// variant, else `Size` (seeded variants are sizes).
fn option_names(p: &Product) -> Vec<String> {
    if !p.option_names.is_empty() {
        return p.option_names.clone();
    }
    let default = p.variants.len() == 1 && p.variants[0].title == "Default Title";
    vec![if default { "Title" } else { "Size" }.to_owned()]
}

/// A variant's option values: its title split at " / ", one per option.
fn values_of(v: &Variant, n: usize) -> Vec<String> {
    let parts: Vec<&str> = v.title.split(" / ").collect();
    if parts.len() == n {
        parts.into_iter().map(str::to_owned).collect()
    } else {
        vec![v.title.clone()]
    }
}

fn options(p: &Product) -> Value {
    let names = option_names(p);
    let options: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut values: Vec<String> = Vec::new();
            for v in &p.variants {
                if let Some(x) = values_of(v, names.len()).get(i)
                    && !values.contains(x)
                {
                    values.push(x.clone());
                }
            }
            let option_values: Vec<Value> = values
                .iter()
                .enumerate()
                .map(|(k, value)| option_value(p.id * 1000 + (i * 100 + k) as u64, value))
                .collect();
            json!({
                "id": gid("ProductOption", p.id * 10 + i as u64),
                "name": name,
                "position": i + 1,
                "values": values,
                "optionValues": option_values,
                "linkedMetafield": null,
                "translations": [],
            })
        })
        .collect();
    Value::Array(options)
}

/// A variant's `selectedOptions`.
fn selected_options(p: &Product, v: &Variant) -> Value {
    let names = option_names(p);
    let values = values_of(v, names.len());
    Value::Array(
        names
            .iter()
            .zip(&values)
            .enumerate()
            .map(|(i, (name, value))| {
                json!({ "name": name, "value": value, "optionValue": option_value(v.id * 10 + i as u64, value) })
            })
            .collect(),
    )
}

fn option_value(id: u64, name: &str) -> Value {
    json!({ "id": gid("ProductOptionValue", id), "name": name, "hasVariants": true, "linkedMetafieldValue": null, "swatch": null, "translations": [] })
}

/// HTML reduced to its text, as Shopify's `description` is.
fn plain_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Fields of a product without bundles, collections, selling plans, gift cards, combined
/// listings or translations, and with no categories or feedback.
const PRODUCT_EMPTY: &[&str] = &[
    "bundleComponents",
    "bundleConsolidatedOptions",
    "category",
    "collections",
    "combinedListing",
    "combinedListingRole",
    "customProductType",
    "events",
    "feedback",
    "giftCardSettings",
    "giftCardTemplateSuffix",
    "hasVariantsThatRequiresComponents",
    "inCollection",
    "isGiftCard",
    "metafieldDefinitions",
    "productCategory",
    "productComponents",
    "productComponentsCount",
    "productParents",
    "requiresSellingPlan",
    "restrictedForResource",
    "sellingPlanGroupCount",
    "sellingPlanGroups",
    "sellingPlanGroupsCount",
    "standardizedProductType",
    "templateSuffix",
    "translations",
    "unpublishedChannels",
    "variantsInCollection",
    "variantsInCollectionCount",
];

fn product_more<'a>(
    x: &mut Exec<'a>,
    p: &'a Product,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let active = p.status == "ACTIVE";
    let description = plain_text(&p.description_html);
    Some(match f.name.as_str() {
        "availablePublicationsCount" | "resourcePublicationsCount" => {
            count(x, usize::from(active), f, path)
        }
        "publicationCount" => json!(usize::from(active)),
        "bodyHtml" | "descriptionHtml" => json!(p.description_html),
        "description" | "descriptionPlainSummary" => json!(description),
        "contextualPricing" => {
            let range = price_range(x, p);
            object(
                x,
                path,
                json!({ "fixedQuantityRulesCount": 0, "priceRange": range, "minVariantPricing": null, "maxVariantPricing": null }),
                f,
            )
        }
        "defaultCursor" => json!(crate::exec::cursor(&format!("{:020}", p.id), p.id)),
        "featuredImage" => match p.media.first().filter(|m| m.status(x.now) == "READY") {
            Some(m) => x.set(Obj::Image(m), &f.selection_set, path),
            None => Value::Null,
        },
        "images" => {
            let now = x.now;
            let items = p
                .media
                .iter()
                .enumerate()
                .filter(|(_, m)| m.status(now) == "READY")
                .map(|(i, m)| Item { obj: Obj::Image(m), sort: format!("{i:020}"), id: m.id })
                .collect();
            x.connection(f, items, path)
        }
        "compareAtPriceRange" => {
            let at: Vec<i64> = p
                .variants
                .iter()
                .filter_map(|v| v.compare_at_price.as_deref())
                .map(cents)
                .collect();
            match (at.iter().min(), at.iter().max()) {
                (Some(min), Some(max)) => object(
                    x,
                    path,
                    json!({
                        "minVariantCompareAtPrice": money_json(x, &super::amount(*min)),
                        "maxVariantCompareAtPrice": money_json(x, &super::amount(*max)),
                    }),
                    f,
                ),
                _ => Value::Null,
            }
        }
        "hasOnlyDefaultVariant" => {
            json!(p.variants.len() == 1 && p.variants[0].title == "Default Title")
        }
        "hasOutOfStockVariants" => json!(p.variants.iter().any(|v| available(x, v) <= 0)),
        "onlineStorePreviewUrl" => {
            json!(format!("https://{}/products/{}", x.shop.domain(), p.handle))
        }
        "onlineStoreUrl" => {
            if active {
                json!(format!("https://{}/products/{}", x.shop.domain(), p.handle))
            } else {
                Value::Null
            }
        }
        "options" => object(x, path, options(p), f),
        "priceRange" | "priceRangeV2" => object(x, path, price_range(x, p), f),
        "productPublications"
        | "publications"
        | "resourcePublications"
        | "resourcePublicationsV2"
        | "unpublishedPublications" => x.connection(f, Vec::new(), path),
        "publishedAt" => {
            if active {
                json!(time(&p.created_at))
            } else {
                Value::Null
            }
        }
        "publishedInContext"
        | "publishedOnChannel"
        | "publishedOnCurrentChannel"
        | "publishedOnCurrentPublication"
        | "publishedOnPublication" => json!(active),
        "resourcePublicationOnCurrentPublication" => Value::Null,
        // No SEO overrides: Shopify answers null and shows the title and description.
        "seo" => object(x, path, json!({ "title": null, "description": null }), f),
        "storefrontId" => json!(gid("Product", p.id)),
        "totalInventory" => json!(p.variants.iter().map(|v| available(x, v)).sum::<i64>()),
        "totalVariants" => json!(p.variants.len()),
        "tracksInventory" => json!(p.variants.iter().any(|v| v.tracked)),
        "variantsCount" => count(x, p.variants.len(), f, path),
        _ => return listed(x, f, path, PRODUCT_EMPTY),
    })
}

const VARIANT_EMPTY: &[&str] = &[
    "deliveryProfile",
    "events",
    "metafieldDefinitions",
    "productParents",
    "productVariantComponents",
    "requiresComponents",
    "sellingPlanGroupCount",
    "sellingPlanGroups",
    "sellingPlanGroupsCount",
    "showUnitPrice",
    "taxCode",
    "translations",
    "unitPrice",
    "unitPriceMeasurement",
    "presentmentPrices",
    "unpublishedChannels",
];

fn variant_more<'a>(
    x: &mut Exec<'a>,
    p: &'a Product,
    v: &'a Variant,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let active = p.status == "ACTIVE";
    let stock = available(x, v);
    Some(match f.name.as_str() {
        "availableForSale" => json!(active && (!v.tracked || stock > 0)),
        "availablePublicationsCount" | "resourcePublicationsCount" => {
            count(x, usize::from(active), f, path)
        }
        "publicationCount" => json!(usize::from(active)),
        "contextualPricing" => object(
            x,
            path,
            json!({
                "price": money_json(x, &v.price), "unitPrice": null,
                "compareAtPrice": v.compare_at_price.as_deref().map(|c| money_json(x, c)),
                "quantityPriceBreaks": super::empty_connection(),
                "quantityRule": { "minimum": 1, "maximum": null, "increment": 1, "isDefault": true, "originType": "FIXED", "productVariant": null },
            }),
            f,
        ),
        "createdAt" => json!(time(&p.created_at)),
        "updatedAt" => json!(time(&p.updated_at)),
        "defaultCursor" => json!(crate::exec::cursor(&format!("{:020}", v.id), v.id)),
        "displayName" => json!(format!("{} - {}", p.title, v.title)),
        "inventoryPolicy" => json!("DENY"),
        "inventoryQuantity" => json!(stock),
        "sellableOnlineQuantity" => json!(if active { stock.max(0) } else { 0 }),
        "legacyResourceId" => json!(v.id.to_string()),
        "media" => {
            // The product's first image stands for each variant's.
            let items = p
                .media
                .iter()
                .take(1)
                .map(|m| Item { obj: Obj::Media(m), sort: format!("{:020}", 0), id: m.id })
                .collect();
            x.connection(f, items, path)
        }
        "publishedOnChannel"
        | "publishedOnCurrentChannel"
        | "publishedOnCurrentPublication"
        | "publishedOnPublication" => json!(active),
        "resourcePublications" | "resourcePublicationsV2" | "unpublishedPublications" => {
            x.connection(f, Vec::new(), path)
        }
        "selectedOptions" => object(x, path, selected_options(p, v), f),
        "storefrontId" => json!(gid("ProductVariant", v.id)),
        "taxable" => json!(true),
        "barcode" => json!(v.barcode),
        "compareAtPrice" => json!(v.compare_at_price),
        "image" => match p.media.first().filter(|m| m.status(x.now) == "READY") {
            Some(m) => x.set(Obj::Image(m), &f.selection_set, path),
            None => Value::Null,
        },
        _ => return listed(x, f, path, VARIANT_EMPTY),
    })
}

fn media_image_more<'a>(
    x: &mut Exec<'a>,
    _m: &'a Media,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    listed(x, f, path, &["translations"])
}

fn image_more<'a>(
    x: &mut Exec<'a>,
    m: &'a Media,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let _ = m;
    // Images carry no metafields or translations of their own in the simulator.
    listed(x, f, path, &["translations", "metafield", "metafields"])
}

const ITEM_EMPTY: &[&str] = &[
    "countryCodeOfOrigin",
    "countryHarmonizedSystemCodes",
    "harmonizedSystemCode",
    "provinceCodeOfOrigin",
    "unitCost",
];

fn inventory_item_more<'a>(
    x: &mut Exec<'a>,
    v: &'a Variant,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let owner = x.shop.variant_of(v.inventory_item_id);
    Some(match f.name.as_str() {
        "createdAt" => json!(owner.map(|(p, _)| time(&p.created_at))),
        "updatedAt" => json!(owner.map(|(p, _)| time(&p.updated_at))),
        "legacyResourceId" => json!(v.inventory_item_id.to_string()),
        "duplicateSkuCount" => {
            let same = x.shop.products.values().flat_map(|p| &p.variants);
            json!(same.filter(|o| o.sku == v.sku && o.id != v.id).count())
        }
        "inventoryHistoryUrl" => json!(format!(
            "https://admin.shopify.com/store/{}/products/inventory/{}/inventory_history",
            x.shop.name, v.inventory_item_id
        )),
        "locationsCount" => {
            let n = x
                .shop
                .levels
                .range((v.inventory_item_id, 0)..=(v.inventory_item_id, u64::MAX))
                .count();
            count(x, n, f, path)
        }
        "measurement" => object(
            x,
            path,
            json!({ "id": gid("InventoryItemMeasurement", v.inventory_item_id), "weight": { "unit": "KILOGRAMS", "value": 0.0 } }),
            f,
        ),
        "requiresShipping" => json!(true),
        "trackedEditable" => object(x, path, json!({ "locked": false, "reason": null }), f),
        "variant" => match owner {
            Some((p, v)) => x.set(Obj::Variant(p, v), &f.selection_set, path),
            None => return None,
        },
        "variants" => {
            let items = owner
                .map(|(p, v)| Item {
                    obj: Obj::Variant(p, v),
                    sort: format!("{:020}", v.id),
                    id: v.id,
                })
                .into_iter()
                .collect();
            x.connection(f, items, path)
        }
        _ => return listed(x, f, path, ITEM_EMPTY),
    })
}

fn level_more<'a>(
    x: &mut Exec<'a>,
    item: u64,
    l: &'a Location,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let owner = x.shop.variant_of(item);
    Some(match f.name.as_str() {
        "canDeactivate" => {
            json!(
                x.shop
                    .levels
                    .get(&(item, l.id))
                    .is_none_or(|q| q.committed == 0 && q.incoming == 0)
            )
        }
        "createdAt" => json!(owner.map(|(p, _)| time(&p.created_at))),
        "updatedAt" => json!(owner.map(|(p, _)| time(&p.updated_at))),
        "deactivationAlert" => Value::Null,
        _ => return listed(x, f, path, &["scheduledChanges"]),
    })
}

/// The location's address: every simulated location is in Copenhagen.
fn location_address(l: &Location) -> Value {
    let street = format!("Nørregade {}", l.id % 90 + 1);
    json!({
        "address1": street, "address2": null, "city": "Copenhagen", "country": "Denmark",
        "countryCode": "DK", "province": null, "provinceCode": null, "zip": "1165", "phone": null,
        "latitude": 55.6794, "longitude": 12.5724,
        "formatted": [street, "1165 Copenhagen", "Denmark"],
    })
}

const LOCATION_EMPTY: &[&str] = &[
    "deactivatedAt",
    "fulfillmentService",
    "localPickupSettingsV2",
    "metafieldDefinitions",
    "suggestedAddresses",
];

fn location_more<'a>(
    x: &mut Exec<'a>,
    l: &'a Location,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    // Computed only for the fields that need them: a location's other fields stay cheap.
    let shop = x.shop;
    let primary = || shop.locations.keys().next() == Some(&l.id);
    let has_stock = || shop.levels.iter().any(|((_, loc), q)| *loc == l.id && q.on_hand() != 0);
    let unfulfilled = || {
        shop.orders.values().any(|o| {
            o.fulfillment_orders.iter().any(|fo| {
                fo.location_id == l.id && matches!(fo.status.as_str(), "OPEN" | "IN_PROGRESS")
            })
        })
    };
    Some(match f.name.as_str() {
        "activatable" => json!(!l.active),
        "deactivatable" => json!(l.active && !primary()),
        "deletable" => json!(!l.active),
        "address" => object(x, path, location_address(l), f),
        "addressVerified" => json!(true),
        "createdAt" | "updatedAt" => json!(time(&l.created_at)),
        "fulfillsOnlineOrders" | "shipsInventory" => json!(l.active),
        "hasActiveInventory" => json!(has_stock()),
        "hasUnfulfilledOrders" => json!(unfulfilled()),
        "isPrimary" => json!(primary()),
        "isFulfillmentService" => json!(l.fulfillment_service),
        "legacyResourceId" => json!(l.id.to_string()),
        "inventoryLevel" => {
            let item = x.arg(f, "inventoryItemId");
            let item = item.as_str().and_then(|g| crate::store::parse_gid("InventoryItem", g));
            match item.and_then(|i| x.shop.levels.get(&(i, l.id)).map(|q| (i, q))) {
                Some((i, q)) => x.set(Obj::Level(i, l, q), &f.selection_set, path),
                None => Value::Null,
            }
        }
        "inventoryLevels" => {
            let shop = x.shop;
            let items = shop
                .levels
                .iter()
                .filter(|((_, loc), _)| *loc == l.id)
                .map(|((item, _), q)| Item {
                    obj: Obj::Level(*item, l, q),
                    sort: format!("{item:020}"),
                    id: *item,
                })
                .collect();
            x.connection(f, items, path)
        }
        _ => return listed(x, f, path, LOCATION_EMPTY),
    })
}

pub(super) fn product<'a>(
    x: &mut Exec<'a>,
    p: &'a Product,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "variants" | "media" => super::connection(x, Obj::Product(p), f, path),
        "id" => json!(gid("Product", p.id)),
        "legacyResourceId" => json!(p.id.to_string()),
        "title" => json!(p.title),
        "handle" => json!(p.handle),
        "status" => json!(p.status),
        "vendor" => json!(p.vendor),
        "productType" => json!(p.product_type),
        "tags" => json!(p.tags),
        "createdAt" => json!(time(&p.created_at)),
        "updatedAt" => json!(time(&p.updated_at)),
        "mediaCount" => x.set(Obj::Count(p.media.len()), &f.selection_set, path),
        "featuredMedia" => match p.media.first() {
            Some(m) => x.set(Obj::Media(m), &f.selection_set, path),
            None => Value::Null,
        },
        _ => return product_more(x, p, f, path),
    })
}

pub(super) fn inventory_item<'a>(
    x: &mut Exec<'a>,
    v: &'a Variant,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "inventoryLevels" => super::connection(x, Obj::InventoryItem(v), f, path),
        "inventoryLevel" => {
            let loc = x.arg(f, "locationId");
            let level = loc.as_str().and_then(|g| parse_gid("Location", g)).and_then(|l| {
                Some((shop.locations.get(&l)?, shop.levels.get(&(v.inventory_item_id, l))?))
            });
            match level {
                Some((l, q)) => {
                    x.set(Obj::Level(v.inventory_item_id, l, q), &f.selection_set, path)
                }
                None => Value::Null,
            }
        }
        "id" => json!(gid("InventoryItem", v.inventory_item_id)),
        "tracked" => json!(v.tracked),
        "sku" => json!(v.sku),
        _ => return inventory_item_more(x, v, f, path),
    })
}

pub(super) fn location<'a>(
    x: &mut Exec<'a>,
    l: &'a Location,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("Location", l.id)),
        "name" => json!(l.name),
        "isActive" => json!(l.active),
        _ => return location_more(x, l, f, path),
    })
}

pub(super) fn level<'a>(
    x: &mut Exec<'a>,
    item: u64,
    l: &'a Location,
    q: &'a Quantities,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "id" => {
            json!(format!("{}?inventory_item_id={item}", gid("InventoryLevel", l.id)))
        }
        "isActive" => json!(true),
        "location" => x.set(Obj::Location(l), &f.selection_set, path),
        "item" => match shop.variant_of(item) {
            Some((_, v)) => x.set(Obj::InventoryItem(v), &f.selection_set, path),
            None => Value::Null,
        },
        "quantities" => {
            let names = x.arg(f, "names");
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
                        x.set(
                            Obj::Quantity(n, q.get(n).unwrap_or(0), item, l.id),
                            &f.selection_set,
                            path,
                        )
                    })
                    .collect(),
            )
        }
        _ => return level_more(x, item, l, f, path),
    })
}

pub(super) fn adjustment_group<'a>(
    x: &mut Exec<'a>,
    g: &'a AdjustmentGroup,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("InventoryAdjustmentGroup", g.id)),
        "reason" => json!(g.reason),
        "referenceDocumentUri" => json!(g.reference_document_uri),
        "createdAt" => json!(time(&g.created_at)),
        "changes" => Value::Array(
            g.changes.iter().map(|c| x.set(Obj::Change(c), &f.selection_set, path)).collect(),
        ),
        _ => return None,
    })
}

pub(super) fn inventory_change<'a>(
    x: &mut Exec<'a>,
    c: &'a Change,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "name" => json!(c.name),
        "delta" => json!(c.delta),
        "quantityAfterChange" => json!(c.quantity_after),
        "ledgerDocumentUri" => Value::Null,
        "item" => match shop.variant_of(c.item_id) {
            Some((_, v)) => x.set(Obj::InventoryItem(v), &f.selection_set, path),
            None => Value::Null,
        },
        "location" => match shop.locations.get(&c.location_id) {
            Some(l) => x.set(Obj::Location(l), &f.selection_set, path),
            None => Value::Null,
        },
        _ => return None,
    })
}

pub(super) fn media_image<'a>(
    x: &mut Exec<'a>,
    m: &'a crate::store::Media,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("MediaImage", m.id)),
        "alt" => json!(m.alt),
        "mediaContentType" => json!("IMAGE"),
        "status" | "fileStatus" => json!(m.status(x.now)),
        "mediaErrors" | "fileErrors" => {
            let failed = m.status(x.now) == "FAILED";
            Value::Array(
                m.error
                    .iter()
                    .filter(|_| failed)
                    .map(|e| x.set(Obj::MediaError(e), &f.selection_set, path))
                    .collect(),
            )
        }
        "mediaWarnings" => json!([]),
        "mimeType" => json!(mime_of(&m.source)),
        "createdAt" | "updatedAt" => json!(time(&m.created_at)),
        "image" => {
            if m.status(x.now) == "READY" {
                x.set(Obj::Image(m), &f.selection_set, path)
            } else {
                Value::Null
            }
        }
        "preview" => {
            let ready = m.status(x.now) == "READY";
            let mut out = Map::new();
            for s in &f.selection_set.selections {
                if let Selection::Field(pf) = s {
                    let v = match pf.name.as_str() {
                        "status" => json!(m.status(x.now)),
                        "image" if ready => x.set(Obj::Image(m), &pf.selection_set, path),
                        "__typename" => json!("MediaPreviewImage"),
                        _ => Value::Null,
                    };
                    out.insert(pf.response_key().to_string(), v);
                }
            }
            Value::Object(out)
        }
        "originalSource" => {
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
        _ => return media_image_more(x, m, f, path),
    })
}

pub(super) fn image<'a>(
    x: &mut Exec<'a>,
    m: &'a crate::store::Media,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("ImageSource", m.id)),
        "altText" => json!(m.alt),
        "url" | "src" | "originalSrc" | "transformedSrc" => json!(format!(
            "https://cdn.shopify.com/s/files/1/sim/media/{}/{}",
            m.id,
            file_name(&m.source)
        )),
        "width" | "height" => json!(1024),
        "thumbhash" => Value::Null,
        _ => return image_more(x, m, f, path),
    })
}

pub(super) fn variant<'a>(
    x: &mut Exec<'a>,
    p: &'a Product,
    v: &'a Variant,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("ProductVariant", v.id)),
        "title" => json!(v.title),
        "sku" => json!(v.sku),
        "price" => json!(v.price),
        "position" => json!(v.position),
        "product" => x.set(Obj::Product(p), &f.selection_set, path),
        "inventoryItem" => x.set(Obj::InventoryItem(v), &f.selection_set, path),
        _ => return variant_more(x, p, v, f, path),
    })
}

/// The items of the connections of this module's objects.
pub(super) fn items<'a>(x: &mut Exec<'a>, obj: Obj<'a>, f: &Field) -> Option<Vec<Item<'a>>> {
    match (obj, f.name.as_str()) {
        (Obj::Query, "products") => Some(products(x, f)),
        (Obj::InventoryItem(v), "inventoryLevels") => Some(
            x.shop
                .locations
                .values()
                .filter_map(|l| {
                    let q = x.shop.levels.get(&(v.inventory_item_id, l.id))?;
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
        _ => None,
    }
}

/// `products(query:, sortKey:)`: the shop's products, filtered and with their sort keys.
pub(super) fn products<'a>(x: &mut Exec<'a>, f: &Field) -> Vec<Item<'a>> {
    let filter = x.search_filter(f);
    let key = x.sort_key(f);
    let shop = x.shop;
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
                    Some("sku") => {
                        Some(FieldValue::Texts(p.variants.iter().map(|v| v.sku.clone()).collect()))
                    }
                    Some("gift_card") => Some(FieldValue::Bool(false)),
                    _ => None,
                })
            })
        })
        .map(|p| Item {
            obj: Obj::Product(p),
            sort: match key.as_str() {
                "UPDATED_AT" => {
                    time(&p.updated_at) + &format!("{:?}", p.updated_at.timestamp_subsec_micros())
                }
                "CREATED_AT" => {
                    time(&p.created_at) + &format!("{:?}", p.created_at.timestamp_subsec_micros())
                }
                "TITLE" => p.title.to_lowercase(),
                _ => format!("{:020}", p.id),
            },
            id: p.id,
        })
        .collect()
}
