//! The catalogue: products, variants, media images and their images, and the `products`
//! connection. Prices, stock totals and options are derived from the variants and levels; a
//! product is published on the online store while it is ACTIVE.

use super::{Exec, Item, Obj, cents, count, listed, maybe, money_json, object};
use crate::exec::{file_name, time};
use crate::search::{self, FieldValue};
use crate::store::{Media, Product, Variant, gid};
use apollo_compiler::executable::Field;
use apollo_compiler::executable::Selection;
use serde_json::{Map, Value, json};

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
        .map(|(p, v)| Item::by_id(Obj::Variant(p, v), v.id))
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

/// `Product`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `product_more`.
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
        "featuredMedia" => maybe(x, p.media.first().map(Obj::Media), f, path),
        _ => return product_more(x, p, f, path),
    })
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
        "featuredImage" => {
            let found = p.media.first().filter(|m| m.status(x.now) == "READY").map(Obj::Image);
            maybe(x, found, f, path)
        }
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

/// `ProductVariant`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `variant_more`.
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
        "image" => {
            let found = p.media.first().filter(|m| m.status(x.now) == "READY").map(Obj::Image);
            maybe(x, found, f, path)
        }
        _ => return listed(x, f, path, VARIANT_EMPTY),
    })
}

/// `MediaImage`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `media_image_more`.
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

fn media_image_more<'a>(
    x: &mut Exec<'a>,
    _m: &'a Media,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    listed(x, f, path, &["translations"])
}

/// `Image`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `image_more`.
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
                    Some(Item::by_id(Obj::Level(v.inventory_item_id, l, q), l.id))
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
