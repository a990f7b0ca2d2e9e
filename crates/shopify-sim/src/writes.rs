//! Writes of webhook subscriptions, order details, metafields and fulfillment requests: each
//! gets the shop, the field's arguments (coerced to their types) and, when it sends webhooks,
//! the events, and returns the payload's object and user errors (`mutate`'s table calls them).

use crate::exec::PayloadObject;
use crate::mutate::{Events, Outcome};
use crate::store::{Metafield, Shop, gid, parse_gid};
use serde_json::{Map, Value, json};

fn text<'v>(v: &'v Value, k: &str) -> Option<&'v str> {
    v.get(k).and_then(Value::as_str)
}

fn error(field: &[&str], message: &str) -> Value {
    json!({ "field": field, "message": message })
}

/// `webhookSubscriptionCreate(topic, webhookSubscription: {uri | callbackUrl})`: older clients
/// still send the deprecated `callbackUrl`, which Shopify takes as the `uri`.
pub(crate) fn subscription_create(shop: &mut Shop, args: &Map<String, Value>) -> Outcome {
    let topic = args.get("topic").and_then(Value::as_str).unwrap_or("").to_owned();
    let input = args.get("webhookSubscription").cloned().unwrap_or(Value::Null);
    let (uri, field) = match (text(&input, "uri"), text(&input, "callbackUrl")) {
        (Some(u), _) => (u.trim().to_owned(), "uri"),
        (None, Some(c)) => (c.trim().to_owned(), "callbackUrl"),
        (None, None) => (String::new(), "uri"),
    };
    if !(uri.starts_with("https://") || uri.starts_with("http://")) {
        return (None, vec![error(&["webhookSubscription", field], "Address is invalid")]);
    }
    if shop.subscriptions.values().any(|s| s.topic == topic && s.uri == uri) {
        let message = "Address for this topic has already been taken";
        return (None, vec![error(&["webhookSubscription", field], message)]);
    }
    let id = shop.next_id();
    let created_at = shop.stamp();
    shop.subscriptions.insert(id, crate::store::Subscription { id, topic, uri, created_at });
    (Some(PayloadObject::Subscription(id)), Vec::new())
}

pub(crate) fn subscription_delete(shop: &mut Shop, args: &Map<String, Value>) -> Outcome {
    let id = args
        .get("id")
        .and_then(Value::as_str)
        .and_then(|g| parse_gid("WebhookSubscription", g))
        .filter(|id| shop.subscriptions.contains_key(id));
    match id {
        Some(id) => {
            shop.subscriptions.remove(&id);
            (Some(PayloadObject::Deleted(gid("WebhookSubscription", id))), Vec::new())
        }
        None => (None, vec![error(&["id"], "Webhook subscription does not exist")]),
    }
}

/// `fulfillmentOrderAcceptFulfillmentRequest(id, message, estimatedShippedAt)`: the app's
/// fulfillment service accepts a submitted request (the message and estimate are not kept).
pub(crate) fn accept_fulfillment_request(
    shop: &mut Shop,
    args: &Map<String, Value>,
    events: &mut Events,
) -> Outcome {
    let id = args.get("id").and_then(Value::as_str).unwrap_or("");
    match crate::orders::accept_fulfillment_request(shop, id) {
        Ok((order, fo)) => {
            events.push(("ORDERS_UPDATED", crate::payloads::order(shop, order)));
            (Some(PayloadObject::FulfillmentOrder(order, fo)), Vec::new())
        }
        Err(errors) => (None, errors),
    }
}

/// `orderUpdate(input: OrderInput)`: email, note, tags (replaced), PO number, shipping address
/// and metafields; everything is checked first; `updatedAt` moves and orders/updated is sent.
pub(crate) fn order_update(
    shop: &mut Shop,
    args: &Map<String, Value>,
    events: &mut Events,
) -> Outcome {
    let input = args.get("input").cloned().unwrap_or(Value::Null);
    let Some(id) = text(&input, "id")
        .and_then(|g| parse_gid("Order", g))
        .filter(|id| shop.orders.contains_key(id))
    else {
        return (None, vec![error(&["id"], "Order does not exist")]);
    };
    let email = text(&input, "email").map(str::trim);
    if email.is_some_and(|e| !e.is_empty() && !e.contains('@')) {
        return (None, vec![error(&["email"], "Email is invalid")]);
    }
    let metafields: Vec<Value> = input
        .get("metafields")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .map(|m| {
                    let mut m = m.clone();
                    if let Some(o) = m.as_object_mut() {
                        o.insert("ownerId".into(), json!(gid("Order", id)));
                    }
                    m
                })
                .collect()
        })
        .unwrap_or_default();
    let errs = check_metafields(shop, &metafields, "metafields");
    if !errs.is_empty() {
        return (
            None,
            errs.into_iter()
                .map(|mut e| {
                    if let Some(o) = e.as_object_mut() {
                        o.remove("code");
                        o.remove("elementIndex");
                    }
                    e
                })
                .collect(),
        );
    }
    write_metafields(shop, &metafields);
    let at = shop.stamp();
    let Some(o) = shop.orders.get_mut(&id) else { return (None, Vec::new()) };
    if let Some(e) = email {
        o.email = e.to_owned();
    }
    if let Some(n) = input.get("note").filter(|v| !v.is_null()) {
        o.note = n.as_str().map(str::to_owned).filter(|s| !s.is_empty());
    }
    if let Some(p) = input.get("poNumber").filter(|v| !v.is_null()) {
        o.po_number = p.as_str().map(str::to_owned).filter(|s| !s.is_empty());
    }
    if let Some(tags) = input.get("tags").and_then(Value::as_array) {
        o.tags = tags.iter().filter_map(Value::as_str).map(|t| t.trim().to_owned()).collect();
    }
    if let Some(a) = input.get("shippingAddress").filter(|v| v.is_object()) {
        o.address = Some(crate::parties::address(a));
    }
    o.updated_at = at;
    events.push(("ORDERS_UPDATED", crate::payloads::order(shop, id)));
    (Some(PayloadObject::Order(id)), Vec::new())
}

/// The user errors of metafield inputs (owner, key, type, value, compare digest).
fn check_metafields(shop: &Shop, inputs: &[Value], arg: &str) -> Vec<Value> {
    let mut errors = Vec::new();
    for (i, m) in inputs.iter().enumerate() {
        let at = |k: &str| json!([arg, i.to_string(), k]);
        let mut fail = |k: &str, message: &str, code: &str| {
            errors.push(
                json!({ "field": at(k), "message": message, "code": code, "elementIndex": i }),
            );
        };
        let owner = text(m, "ownerId").unwrap_or("");
        if crate::resolve::owner_obj(shop, owner).is_none() {
            fail("ownerId", "Owner does not exist.", "INVALID_VALUE");
            continue;
        }
        let key = text(m, "key").unwrap_or("").trim();
        if key.is_empty() {
            fail("key", "Key can't be blank", "BLANK");
            continue;
        }
        if key.len() < 2 {
            fail("key", "Key is too short (minimum is 2 characters)", "TOO_SHORT");
        } else if key.len() > 64 {
            fail("key", "Key is too long (maximum is 64 characters)", "TOO_LONG");
        }
        let namespace = text(m, "namespace").unwrap_or(crate::resolve::DEFAULT_NAMESPACE);
        let existing = find(shop, owner, namespace, key);
        if text(m, "type").is_none_or(|t| t.trim().is_empty()) && existing.is_none() {
            fail("type", "Type can't be blank", "BLANK");
        }
        if text(m, "value").is_none() {
            fail("value", "Value can't be blank", "BLANK");
        }
        if let (Some(d), Some(e)) = (text(m, "compareDigest"), existing)
            && d != e.digest()
        {
            fail(
                "compareDigest",
                "The resource has been updated since it was loaded. Try again with an updated `compareDigest` value.",
                "STALE_OBJECT",
            );
        }
    }
    errors
}

fn find<'s>(shop: &'s Shop, owner: &str, namespace: &str, key: &str) -> Option<&'s Metafield> {
    shop.metafields.values().find(|m| m.owner == owner && m.namespace == namespace && m.key == key)
}

/// Create or update each metafield (checked already); their ids in input order.
fn write_metafields(shop: &mut Shop, inputs: &[Value]) -> Vec<u64> {
    let mut ids = Vec::new();
    for m in inputs {
        let owner = text(m, "ownerId").unwrap_or("").to_owned();
        let namespace =
            text(m, "namespace").unwrap_or(crate::resolve::DEFAULT_NAMESPACE).to_owned();
        let key = text(m, "key").unwrap_or("").trim().to_owned();
        let value = text(m, "value").unwrap_or("").to_owned();
        let kind = text(m, "type").filter(|t| !t.trim().is_empty()).map(str::to_owned);
        let at = shop.stamp();
        let existing = find(shop, &owner, &namespace, &key).map(|m| m.id);
        let id = match existing {
            Some(id) => {
                if let Some(e) = shop.metafields.get_mut(&id) {
                    e.value = value;
                    if let Some(k) = kind {
                        e.kind = k;
                    }
                    e.updated_at = at;
                }
                id
            }
            None => {
                let id = shop.next_id();
                let kind = kind.unwrap_or_default();
                shop.metafields.insert(
                    id,
                    Metafield {
                        id,
                        owner,
                        namespace,
                        key,
                        kind,
                        value,
                        created_at: at,
                        updated_at: at,
                    },
                );
                id
            }
        };
        ids.push(id);
    }
    ids
}

/// `metafieldsSet(metafields:)`: at most 25, all or nothing, created or updated by owner,
/// namespace and key; `compareDigest` guards against lost updates.
pub(crate) fn metafields_set(shop: &mut Shop, args: &Map<String, Value>) -> Outcome {
    let inputs = args.get("metafields").and_then(Value::as_array).cloned().unwrap_or_default();
    if inputs.len() > 25 {
        let e = json!({ "field": ["metafields"], "message": "Exceeded the maximum metafields input limit of 25.", "code": "LESS_THAN_OR_EQUAL_TO", "elementIndex": null });
        return (None, vec![e]);
    }
    let errors = check_metafields(shop, &inputs, "metafields");
    if !errors.is_empty() {
        return (None, errors);
    }
    let ids = write_metafields(shop, &inputs);
    (Some(PayloadObject::Metafields(ids)), Vec::new())
}
