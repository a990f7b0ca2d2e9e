//! `inventorySetQuantities` as Shopify enforces it in 2026-10: only `available` or `on_hand`,
//! `changeFromQuantity` in every element (compare-and-swap; null opts out), a required
//! `@idempotent` key (same key and input: the first outcome replayed; same key, other input:
//! IDEMPOTENCY_KEY_PARAMETER_MISMATCH), at most 250 quantities, all or nothing.

use crate::store::{AdjustmentGroup, Change, IdempotentOutcome, Shop, parse_gid};
use serde_json::{Value, json};

const REASONS: [&str; 10] = [
    "correction",
    "cycle_count_available",
    "damaged",
    "other",
    "promotion",
    "received",
    "restock",
    "shrinkage",
    "safety_stock",
    "quality_control",
];
const MAX_INPUT: usize = 250;
const MAX_QUANTITY: i64 = 1_000_000_000;

/// A top-level error: (message, code).
pub type TopError = (String, &'static str);

fn user_error(field: Value, message: impl Into<String>, code: &str) -> Value {
    json!({ "field": field, "message": message.into(), "code": code })
}

/// `inventorySetQuantities`: the adjustment group (on success) and the user errors, or a
/// top-level error.
pub fn set_quantities(
    shop: &mut Shop,
    input: &Value,
    key: Option<Value>,
) -> Result<(Option<u64>, Vec<Value>), TopError> {
    idempotent(shop, "inventorySetQuantities", input, key, "quantities", apply)
}

/// `inventoryAdjustQuantities`: deltas rather than absolute quantities, same guards.
pub fn adjust_quantities(
    shop: &mut Shop,
    input: &Value,
    key: Option<Value>,
) -> Result<(Option<u64>, Vec<Value>), TopError> {
    idempotent(shop, "inventoryAdjustQuantities", input, key, "changes", apply_adjust)
}

type Apply = fn(&mut Shop, &Value, &[Value]) -> Result<u64, Vec<Value>>;

/// The `@idempotent` contract around an inventory mutation: a key is required; the same key
/// with the same input replays the first outcome; with other input it is refused.
fn idempotent(
    shop: &mut Shop,
    mutation: &str,
    input: &Value,
    key: Option<Value>,
    list: &str,
    apply: Apply,
) -> Result<(Option<u64>, Vec<Value>), TopError> {
    let key = match key {
        Some(Value::String(k)) if !k.trim().is_empty() => k,
        Some(_) => {
            return Err((
                "The idempotency key cannot be an empty string or whitespace only.".into(),
                "BAD_REQUEST",
            ));
        }
        None => {
            return Err((
                format!(
                    "The @idempotent directive is required for {mutation} in this API version."
                ),
                "BAD_REQUEST",
            ));
        }
    };
    let quantities = input.get(list).and_then(Value::as_array).cloned().unwrap_or_default();
    if quantities.len() > MAX_INPUT {
        return Err((
            format!(
                "The input array size of {} is greater than the maximum allowed of {MAX_INPUT}.",
                quantities.len()
            ),
            "MAX_INPUT_SIZE_EXCEEDED",
        ));
    }
    let fingerprint = format!("{mutation}:{input}");
    if let Some(prev) = shop.idempotency.get(&key) {
        if prev.fingerprint != fingerprint {
            return Ok((
                None,
                vec![user_error(
                    Value::Null,
                    "The same idempotency key was used with different parameters.",
                    "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                )],
            ));
        }
        if !prev.user_errors.is_empty() {
            return Ok((
                None,
                vec![user_error(
                    Value::Null,
                    "The previous attempt with this idempotency key failed; use a new key.",
                    "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
                )],
            ));
        }
        return Ok((prev.group, Vec::new()));
    }
    let outcome = apply(shop, input, &quantities);
    let (group, errors) = match outcome {
        Ok(g) => (Some(g), Vec::new()),
        Err(e) => (None, e),
    };
    shop.idempotency
        .insert(key, IdempotentOutcome { fingerprint, group, user_errors: errors.clone() });
    Ok((group, errors))
}

/// The inventory item and location an input element names, both existing; otherwise a user
/// error at the first that does not (`at` gives its field path).
fn item_and_location(
    shop: &Shop,
    v: &Value,
    at: &dyn Fn(&str) -> Value,
    errors: &mut Vec<Value>,
) -> Option<(u64, u64)> {
    let gid_of =
        |k: &str, kind: &str| v.get(k).and_then(Value::as_str).and_then(|g| parse_gid(kind, g));
    let Some(item) =
        gid_of("inventoryItemId", "InventoryItem").filter(|i| shop.variant_of(*i).is_some())
    else {
        errors.push(user_error(
            at("inventoryItemId"),
            "The specified inventory item could not be found.",
            "INVALID_INVENTORY_ITEM",
        ));
        return None;
    };
    let Some(loc) = gid_of("locationId", "Location").filter(|l| shop.locations.contains_key(l))
    else {
        errors.push(user_error(
            at("locationId"),
            "The specified location could not be found.",
            "INVALID_LOCATION",
        ));
        return None;
    };
    Some((item, loc))
}

fn apply(shop: &mut Shop, input: &Value, quantities: &[Value]) -> Result<u64, Vec<Value>> {
    let name = input.get("name").and_then(Value::as_str).unwrap_or("");
    let reason = input.get("reason").and_then(Value::as_str).unwrap_or("");
    let mut errors = Vec::new();
    if name != "available" && name != "on_hand" {
        errors.push(user_error(
            json!(["input", "name"]),
            "The quantity name must be either 'available' or 'on_hand'.",
            "INVALID_NAME",
        ));
    }
    if !REASONS.contains(&reason) {
        errors.push(user_error(
            json!(["input", "reason"]),
            format!("The reason '{reason}' is not valid."),
            "INVALID_REASON",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut planned = Vec::new();
    for (i, q) in quantities.iter().enumerate() {
        let at = |k: &str| json!(["input", "quantities", i.to_string(), k]);
        let quantity = q.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let Some((item, loc)) = item_and_location(shop, q, &at, &mut errors) else {
            continue;
        };
        if !seen.insert((item, loc)) {
            errors.push(user_error(
                at("inventoryItemId"),
                "The combination of inventoryItemId and locationId must be unique.",
                "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
            ));
            continue;
        }
        if quantity < 0 && name == "on_hand" {
            errors.push(user_error(
                at("quantity"),
                "The quantity can't be negative.",
                "INVALID_QUANTITY_NEGATIVE",
            ));
        }
        if quantity > MAX_QUANTITY {
            errors.push(user_error(
                at("quantity"),
                "The quantity can't be higher than 1,000,000,000.",
                "INVALID_QUANTITY_TOO_HIGH",
            ));
        }
        if quantity < -MAX_QUANTITY {
            errors.push(user_error(
                at("quantity"),
                "The quantity can't be lower than -1,000,000,000.",
                "INVALID_QUANTITY_TOO_LOW",
            ));
        }
        let current = shop.levels.get(&(item, loc)).cloned().unwrap_or_default();
        let now = current.get(name).unwrap_or(0);
        match q.get("changeFromQuantity") {
            None => errors.push(user_error(
                at("changeFromQuantity"),
                "changeFromQuantity must be provided: the current quantity, or null to skip the check.",
                "CHANGE_FROM_QUANTITY_STALE",
            )),
            Some(Value::Null) => {}
            Some(v) => {
                if v.as_i64() != Some(now) {
                    errors.push(user_error(
                        at("changeFromQuantity"),
                        format!("The quantity changed from {} to {now} since you read it.", v),
                        "CHANGE_FROM_QUANTITY_STALE",
                    ));
                }
            }
        }
        planned.push((item, loc, quantity, current));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut changes = Vec::new();
    for (item, loc, quantity, mut q) in planned {
        let before_avail = q.available;
        let before_on_hand = q.on_hand();
        let delta =
            if name == "available" { quantity - q.available } else { quantity - q.on_hand() };
        q.available += delta;
        changes.push(Change {
            name: "available".into(),
            delta: q.available - before_avail,
            quantity_after: q.available,
            item_id: item,
            location_id: loc,
        });
        changes.push(Change {
            name: "on_hand".into(),
            delta: q.on_hand() - before_on_hand,
            quantity_after: q.on_hand(),
            item_id: item,
            location_id: loc,
        });
        shop.levels.insert((item, loc), q);
    }
    Ok(record_group(shop, input, reason, changes))
}

const ADJUSTABLE: [&str; 6] =
    ["available", "damaged", "quality_control", "reserved", "safety_stock", "incoming"];

fn apply_adjust(shop: &mut Shop, input: &Value, changes: &[Value]) -> Result<u64, Vec<Value>> {
    let name = input.get("name").and_then(Value::as_str).unwrap_or("");
    let reason = input.get("reason").and_then(Value::as_str).unwrap_or("");
    let mut errors = Vec::new();
    if !ADJUSTABLE.contains(&name) {
        errors.push(user_error(
            json!(["input", "name"]),
            format!("The quantity name '{name}' cannot be adjusted."),
            "INVALID_QUANTITY_NAME",
        ));
    }
    if !REASONS.contains(&reason) {
        errors.push(user_error(
            json!(["input", "reason"]),
            format!("The reason '{reason}' is not valid."),
            "INVALID_REASON",
        ));
    }
    let mut planned = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let at = |k: &str| json!(["input", "changes", i.to_string(), k]);
        let delta = c.get("delta").and_then(Value::as_i64).unwrap_or(0);
        let Some((item, loc)) = item_and_location(shop, c, &at, &mut errors) else {
            continue;
        };
        let ledger = c.get("ledgerDocumentUri").and_then(Value::as_str);
        match (name, ledger) {
            ("available", _) => {}
            (_, None) => errors.push(user_error(
                at("ledgerDocumentUri"),
                "A ledger document URI is required for this quantity name.",
                "INVALID_LEDGER_DOCUMENT",
            )),
            (_, Some(u)) if u.starts_with("gid://shopify/") => errors.push(user_error(
                at("ledgerDocumentUri"),
                "The ledger document URI cannot be a Shopify resource.",
                "INTERNAL_LEDGER_DOCUMENT",
            )),
            _ => {}
        }
        let current = shop.levels.get(&(item, loc)).cloned().unwrap_or_default();
        let now = current.get(name).unwrap_or(0);
        if let Some(v) = c.get("changeFromQuantity").filter(|v| !v.is_null())
            && v.as_i64() != Some(now)
        {
            errors.push(user_error(
                at("changeFromQuantity"),
                format!("The quantity changed from {v} to {now} since you read it."),
                "CHANGE_FROM_QUANTITY_STALE",
            ));
        }
        if (now + delta).abs() > MAX_QUANTITY {
            errors.push(user_error(
                at("delta"),
                "The quantity would be out of range.",
                "INVALID_QUANTITY_TOO_HIGH",
            ));
        }
        planned.push((item, loc, delta, current));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut out = Vec::new();
    for (item, loc, delta, mut q) in planned {
        let before_on_hand = q.on_hand();
        match name {
            "available" => q.available += delta,
            "damaged" => q.damaged += delta,
            "quality_control" => q.quality_control += delta,
            "reserved" => q.reserved += delta,
            "safety_stock" => q.safety_stock += delta,
            _ => q.incoming += delta,
        }
        out.push(Change {
            name: name.into(),
            delta,
            quantity_after: q.get(name).unwrap_or(0),
            item_id: item,
            location_id: loc,
        });
        if q.on_hand() != before_on_hand {
            out.push(Change {
                name: "on_hand".into(),
                delta: q.on_hand() - before_on_hand,
                quantity_after: q.on_hand(),
                item_id: item,
                location_id: loc,
            });
        }
        shop.levels.insert((item, loc), q);
    }
    Ok(record_group(shop, input, reason, out))
}

/// An adjustment group of `changes` with the input's reason and reference document; its id.
fn record_group(shop: &mut Shop, input: &Value, reason: &str, changes: Vec<Change>) -> u64 {
    let id = shop.next_id();
    let created_at = shop.stamp();
    let reference_document_uri =
        input.get("referenceDocumentUri").and_then(Value::as_str).map(str::to_owned);
    let group = AdjustmentGroup {
        id,
        reason: reason.to_owned(),
        reference_document_uri,
        created_at,
        changes,
    };
    shop.adjustments.insert(id, group);
    id
}
