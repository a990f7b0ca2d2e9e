//! The root fields (lookups by id, counts, introspection's placeholders), the shop, bulk
//! operations, webhook subscriptions and metafields.

use super::{Exec, Item, Obj, connection, count, gid_arg, listed, maybe};
use crate::exec::time;
use crate::store::{BulkOp, Metafield, Shop, gid, parse_gid};
use apollo_compiler::executable::Field;
use serde_json::{Value, json};

pub(super) fn field<'a>(x: &mut Exec<'a>, f: &Field, path: &mut Vec<Value>) -> Option<Value> {
    Some(match f.name.as_str() {
        // Filled in by apollo-compiler's introspection after execution (gql::introspect).
        "__schema" | "__type" => Value::Null,
        "productsCount" => {
            let n = super::catalog::products(x, f).len();
            let limit = x.arg(f, "limit").as_i64().map_or(usize::MAX, |l| l.max(0) as usize);
            let (shown, precision) = if n > limit { (limit, "AT_LEAST") } else { (n, "EXACT") };
            super::object(x, path, json!({ "count": shown, "precision": precision }), f)
        }
        "locationsCount" => {
            let n = x.items(Obj::Query, f).map_or(0, |i| i.len());
            count(x, n, f, path)
        }
        "productVariants" => connection(x, Obj::Query, f, path),
        _ => return None,
    })
}

/// `WebhookSubscription`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `subscription_more`.
pub(super) fn subscription(
    x: &mut Exec,
    w: &crate::store::Subscription,
    f: &Field,
    path: &mut [Value],
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("WebhookSubscription", w.id)),
        "topic" => json!(w.topic),
        "uri" => json!(w.uri),
        "format" => json!("JSON"),
        "createdAt" | "updatedAt" => json!(time(&w.created_at)),
        _ => return subscription_more(x, w, f, path),
    })
}

fn subscription_more(
    x: &mut Exec,
    w: &crate::store::Subscription,
    f: &Field,
    path: &mut [Value],
) -> Option<Value> {
    Some(match f.name.as_str() {
        "callbackUrl" => json!(w.uri),
        "legacyResourceId" => json!(w.id.to_string()),
        "includeFields" | "metafieldNamespaces" | "metafields" => json!([]),
        "filter" | "name" => Value::Null,
        "apiVersion" => super::object(
            x,
            path,
            json!({ "displayName": crate::schema::API_VERSION, "handle": crate::schema::API_VERSION, "supported": true }),
            f,
        ),
        "endpoint" => super::object(
            x,
            path,
            json!({ "__typename": "WebhookHttpEndpoint", "callbackUrl": w.uri }),
            f,
        ),
        _ => return None,
    })
}

const METAFIELD_EMPTY: &[&str] = &["definition", "description", "reference", "references"];

pub(super) fn metafield<'a>(
    x: &mut Exec<'a>,
    m: &'a Metafield,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("Metafield", m.id)),
        "legacyResourceId" => json!(m.id.to_string()),
        "namespace" => json!(m.namespace),
        "key" => json!(m.key),
        "type" => json!(m.kind),
        "value" => json!(m.value),
        "jsonValue" => {
            serde_json::from_str(&m.value).unwrap_or_else(|_| Value::String(m.value.clone()))
        }
        "compareDigest" => json!(m.digest()),
        "sizeInBytes" => json!(m.value.len()),
        "createdAt" => json!(time(&m.created_at)),
        "updatedAt" => json!(time(&m.updated_at)),
        "ownerType" => json!(owner_type(&m.owner)),
        "translations" => json!([]),
        "owner" => {
            let owner = owner_obj(x.shop, &m.owner)?;
            x.set(owner, &f.selection_set, path)
        }
        _ => return listed(x, f, path, METAFIELD_EMPTY),
    })
}

/// The `MetafieldOwnerType` of an owner's gid.
pub(crate) fn owner_type(owner: &str) -> &'static str {
    match owner.split('/').nth(3).unwrap_or("") {
        "Product" => "PRODUCT",
        "ProductVariant" => "PRODUCTVARIANT",
        "Customer" => "CUSTOMER",
        "Order" => "ORDER",
        "Company" => "COMPANY",
        "CompanyLocation" => "COMPANY_LOCATION",
        "Location" => "LOCATION",
        _ => "SHOP",
    }
}

/// The object a metafield owner's gid names, if the shop has it.
pub(crate) fn owner_obj<'a>(shop: &'a Shop, owner: &str) -> Option<Obj<'a>> {
    if let Some(id) = parse_gid("Product", owner) {
        return shop.products.get(&id).map(Obj::Product);
    }
    if let Some(id) = parse_gid("ProductVariant", owner) {
        return shop
            .products
            .values()
            .find_map(|p| p.variants.iter().find(|v| v.id == id).map(|v| Obj::Variant(p, v)));
    }
    if let Some(id) = parse_gid("Customer", owner) {
        return shop.customers.get(&id).map(Obj::Customer);
    }
    if let Some(id) = parse_gid("Order", owner) {
        return shop.orders.get(&id).map(Obj::Order);
    }
    if let Some(id) = parse_gid("Company", owner) {
        return shop.companies.get(&id).map(Obj::Company);
    }
    if let Some(id) = parse_gid("CompanyLocation", owner) {
        return shop.companies.values().find_map(|c| {
            c.locations.iter().find(|l| l.id == id).map(|l| Obj::CompanyLocation(c, l))
        });
    }
    None
}

/// The metafields of an owner, filtered by the field's `namespace`, `keys` or `key` arguments.
pub(crate) fn metafields_of<'a>(
    shop: &'a Shop,
    owner: &str,
    f: &Field,
    x: &Exec,
) -> Vec<&'a Metafield> {
    let namespace = x.arg(f, "namespace");
    let keys = x.arg(f, "keys");
    let key = x.arg(f, "key");
    shop.metafields
        .values()
        .filter(|m| m.owner == owner)
        .filter(|m| namespace.as_str().is_none_or(|n| m.namespace == n))
        .filter(|m| {
            keys.as_array().is_none_or(|ks| {
                ks.iter().filter_map(Value::as_str).any(|k| {
                    k == format!("{}.{}", m.namespace, m.key) || (!k.contains('.') && k == m.key)
                })
            })
        })
        .filter(|m| match key.as_str() {
            None => true,
            // `key` may carry the namespace: "erp.item_no".
            Some(k) => match k.split_once('.') {
                Some((ns, k)) if namespace.is_null() => m.namespace == ns && m.key == k,
                _ => m.key == k && (namespace.is_string() || m.namespace == DEFAULT_NAMESPACE),
            },
        })
        .collect()
}

/// The namespace of a metafield set without one (Shopify: the app's reserved namespace).
pub(crate) const DEFAULT_NAMESPACE: &str = "$app";

/// The `metafield(namespace:, key:)` field of an owner.
pub(crate) fn metafield_field<'a>(
    x: &mut Exec<'a>,
    owner: Obj<'a>,
    f: &Field,
    path: &mut Vec<Value>,
) -> Value {
    let Some(owner) = crate::exec::gid_of(&owner) else { return Value::Null };
    let shop = x.shop;
    let found = metafields_of(shop, &owner, f, x).first().copied().map(Obj::Metafield);
    maybe(x, found, f, path)
}

/// `webhookSubscriptions(topics:, uri:, callbackUrl:, format:, query:)`.
pub(crate) fn subscriptions<'a>(x: &mut Exec<'a>, f: &Field) -> Vec<crate::exec::Item<'a>> {
    let topics = x.arg(f, "topics");
    let uri = x.arg(f, "uri");
    let callback = x.arg(f, "callbackUrl");
    let format = x.arg(f, "format");
    let filter = x.search_filter(f);
    let key = x.sort_key(f);
    x.shop
        .subscriptions
        .values()
        .filter(|w| {
            topics.as_array().is_none_or(|t| t.iter().any(|t| t.as_str() == Some(w.topic.as_str())))
        })
        .filter(|w| uri.as_str().is_none_or(|u| u == w.uri))
        .filter(|w| callback.as_str().is_none_or(|u| u == w.uri))
        .filter(|_| format.as_str().is_none_or(|f| f == "JSON"))
        .filter(|w| {
            filter.as_ref().is_none_or(|e| {
                crate::search::matches(e, &|field| match field {
                    Some("id") => Some(crate::search::FieldValue::Number(w.id)),
                    Some("topic") => Some(crate::search::FieldValue::Text(w.topic.clone())),
                    Some("uri" | "address") => Some(crate::search::FieldValue::Text(w.uri.clone())),
                    Some("created_at") => Some(crate::search::FieldValue::Time(w.created_at)),
                    _ => None,
                })
            })
        })
        .map(|w| crate::exec::Item {
            obj: Obj::Subscription(w),
            sort: match key.as_str() {
                "ID" => format!("{:020}", w.id),
                _ => time(&w.created_at),
            },
            id: w.id,
        })
        .collect()
}

/// `locations(query:, includeInactive:)`: by name, id, active state; sorted by name unless
/// another sort key is asked for.
pub(crate) fn locations<'a>(x: &mut Exec<'a>, f: &Field) -> Vec<crate::exec::Item<'a>> {
    let filter = x.search_filter(f);
    let inactive = x.arg(f, "includeInactive").as_bool().unwrap_or(false);
    let key = x.arg(f, "sortKey");
    let key = key.as_str().unwrap_or("NAME");
    x.shop
        .locations
        .values()
        .filter(|l| inactive || l.active)
        .filter(|l| {
            filter.as_ref().is_none_or(|e| {
                crate::search::matches(e, &|field| match field {
                    None | Some("name") => Some(crate::search::FieldValue::Text(l.name.clone())),
                    Some("id") => Some(crate::search::FieldValue::Number(l.id)),
                    Some("active") => Some(crate::search::FieldValue::Bool(l.active)),
                    _ => None,
                })
            })
        })
        .map(|l| crate::exec::Item {
            obj: Obj::Location(l),
            sort: match key {
                "ID" => format!("{:020}", l.id),
                _ => l.name.to_lowercase(),
            },
            id: l.id,
        })
        .collect()
}

pub(super) fn query<'a>(x: &mut Exec<'a>, f: &Field, path: &mut Vec<Value>) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "shop" => x.set(Obj::Shop, &f.selection_set, path),
        "products" | "customers" => super::connection(x, Obj::Query, f, path),
        "bulkOperation" => {
            let id = gid_arg(x, f, "BulkOperation");
            maybe(x, id.and_then(|id| shop.bulk_ops.get(&id)).map(Obj::Bulk), f, path)
        }
        "orders" => super::connection(x, Obj::Query, f, path),
        "order" => {
            let id = gid_arg(x, f, "Order");
            maybe(
                x,
                id.and_then(|id| shop.orders.get(&id))
                    .filter(|o| shop.order_visible(o))
                    .map(Obj::Order),
                f,
                path,
            )
        }
        "fulfillmentOrder" => {
            let id = x.arg(f, "id");
            let found = id.as_str().and_then(|g| parse_gid("FulfillmentOrder", g)).and_then(|id| {
                shop.orders.values().find_map(|o| {
                    o.fulfillment_orders.iter().find(|fo| fo.id == id).map(|fo| (o, fo))
                })
            });
            maybe(x, found.map(|(o, fo)| Obj::Fo(o, fo)), f, path)
        }
        "companies" | "catalogs" => super::connection(x, Obj::Query, f, path),
        "company" => {
            let id = gid_arg(x, f, "Company");
            maybe(x, id.and_then(|id| shop.companies.get(&id)).map(Obj::Company), f, path)
        }
        "catalog" => {
            let id = x.arg(f, "id");
            match id
                .as_str()
                .and_then(|g| {
                    parse_gid("CompanyLocationCatalog", g).or_else(|| parse_gid("Catalog", g))
                })
                .and_then(|id| shop.catalogs.get(&id))
            {
                Some(c) => x.set(Obj::Catalog(c), &f.selection_set, path),
                None => Value::Null,
            }
        }
        "priceList" => {
            let id = gid_arg(x, f, "PriceList");
            maybe(x, id.and_then(|id| shop.price_lists.get(&id)).map(Obj::PriceList), f, path)
        }
        "shopifyPaymentsAccount" => x.set(Obj::Payments, &f.selection_set, path),
        "webhookSubscriptions" => super::connection(x, Obj::Query, f, path),
        "locations" => super::connection(x, Obj::Query, f, path),
        "location" => {
            let id = gid_arg(x, f, "Location");
            maybe(x, id.and_then(|id| shop.locations.get(&id)).map(Obj::Location), f, path)
        }
        "inventoryItem" => {
            let id = gid_arg(x, f, "InventoryItem");
            maybe(
                x,
                id.and_then(|id| shop.variant_of(id)).map(|(_, v)| Obj::InventoryItem(v)),
                f,
                path,
            )
        }
        "product" => {
            let id = gid_arg(x, f, "Product");
            maybe(x, id.and_then(|id| shop.products.get(&id)).map(Obj::Product), f, path)
        }
        "customer" => {
            let id = gid_arg(x, f, "Customer");
            maybe(x, id.and_then(|id| shop.customers.get(&id)).map(Obj::Customer), f, path)
        }
        _ => return field(x, f, path),
    })
}

pub(super) fn bulk_operation<'a>(x: &mut Exec<'a>, b: &'a BulkOp, f: &Field) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("BulkOperation", b.id)),
        "status" => json!(match (x.now >= b.ready_at, &b.error_code) {
            (false, _) => "RUNNING",
            (true, None) => "COMPLETED",
            (true, Some(_)) => "FAILED",
        }),
        "errorCode" => match &b.error_code {
            Some(code) if x.now >= b.ready_at => json!(code),
            _ => Value::Null,
        },
        "partialDataUrl" => Value::Null,
        "type" => json!("QUERY"),
        "query" => json!(b.query),
        "createdAt" => json!(time(&b.created_at)),
        "completedAt" => {
            if x.now >= b.ready_at {
                json!(time(&chrono::Utc::now()))
            } else {
                Value::Null
            }
        }
        // UnsignedInt64 is a string on the wire.
        "objectCount" => {
            json!(if x.now >= b.ready_at { b.object_count } else { 0 }.to_string())
        }
        "rootObjectCount" => {
            json!(if x.now >= b.ready_at { b.root_object_count } else { 0 }.to_string())
        }
        "fileSize" => {
            if x.now >= b.ready_at {
                json!(b.jsonl.len().to_string())
            } else {
                Value::Null
            }
        }
        "url" => {
            if x.now >= b.ready_at && b.error_code.is_none() {
                json!(b.url)
            } else {
                Value::Null
            }
        }
        _ => return None,
    })
}

pub(super) fn shop<'a>(x: &mut Exec<'a>, f: &Field) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "id" => json!(gid("Shop", 1)),
        "name" => json!(shop.name),
        "myshopifyDomain" => json!(shop.domain()),
        "currencyCode" => json!(shop.currency),
        _ => return None,
    })
}

/// The items of the connections of this module's objects.
pub(super) fn items<'a>(x: &mut Exec<'a>, obj: Obj<'a>, f: &Field) -> Option<Vec<Item<'a>>> {
    match (obj, f.name.as_str()) {
        (Obj::Query, "webhookSubscriptions") => Some(subscriptions(x, f)),
        (Obj::Query, "locations" | "locationsCount") => Some(locations(x, f)),
        _ => None,
    }
}
