//! `priceListFixedPricesAdd`: fixed prices for variants in a B2B price list, all or nothing,
//! at most 250 at a time, in the price list's currency.

use crate::store::{Shop, parse_gid};
use serde_json::{Value, json};

/// Ok: (price list, variants set). Err(Ok): user errors. Err(Err): a top-level error.
#[allow(clippy::type_complexity)]
pub fn fixed_prices_add(
    shop: &mut Shop,
    list: &str,
    prices: &Value,
) -> Result<(u64, Vec<u64>), Result<Vec<Value>, (String, &'static str)>> {
    let prices = prices.as_array().cloned().unwrap_or_default();
    if prices.len() > 250 {
        return Err(Err((
            format!(
                "The input array size of {} is greater than the maximum allowed of 250.",
                prices.len()
            ),
            "MAX_INPUT_SIZE_EXCEEDED",
        )));
    }
    let Some(list_id) = parse_gid("PriceList", list).filter(|id| shop.price_lists.contains_key(id))
    else {
        return Err(Ok(vec![
            json!({ "field": ["priceListId"], "message": "Price list does not exist.", "code": "PRICE_LIST_NOT_FOUND" }),
        ]));
    };
    let currency = shop.price_lists[&list_id].currency.clone();
    let mut errors = Vec::new();
    let mut planned = Vec::new();
    for (i, p) in prices.iter().enumerate() {
        let at = |k: &str| json!(["prices", i.to_string(), k]);
        let variant =
            p.get("variantId").and_then(Value::as_str).and_then(|g| parse_gid("ProductVariant", g));
        let exists = variant.is_some_and(|v| {
            shop.products.values().any(|pr| pr.variants.iter().any(|x| x.id == v))
        });
        let (Some(v), true) = (variant, exists) else {
            errors.push(json!({ "field": at("variantId"), "message": "Variant not found.", "code": "VARIANT_NOT_FOUND" }));
            continue;
        };
        let amount = p.pointer("/price/amount").and_then(|a| {
            a.as_str().map(str::to_owned).or_else(|| a.as_f64().map(|x| x.to_string()))
        });
        let code = p.pointer("/price/currencyCode").and_then(Value::as_str).unwrap_or("");
        let units = crate::money::current_units();
        let Some(amount) = amount.and_then(|a| crate::money::input(&Value::String(a), units))
        else {
            errors.push(json!({ "field": at("price"), "message": "Price can't be blank.", "code": "BLANK" }));
            continue;
        };
        if code != currency {
            errors.push(json!({
                "field": at("price"),
                "message": format!("The price currency {code} does not match the price list currency {currency}."),
                "code": "PRICE_LIST_CURRENCY_MISMATCH",
            }));
            continue;
        }
        planned.push((v, amount));
    }
    if !errors.is_empty() {
        return Err(Ok(errors));
    }
    let variants = planned.iter().map(|(v, _)| *v).collect();
    if let Some(pl) = shop.price_lists.get_mut(&list_id) {
        pl.prices.extend(planned);
    }
    Ok((list_id, variants))
}
