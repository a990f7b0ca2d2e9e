//! Objects found inside the others: money, counts, mailing addresses, a fulfillment order's
//! assigned location, named inventory quantities, company contacts, customers' e-mail
//! addresses and phone numbers, media errors.

use super::{Exec, Item, Obj, listed, maybe, object};
use crate::exec::time;
use crate::store::{Address, Company, Contact, Customer, gid};
use apollo_compiler::executable::Field;
use serde_json::{Value, json};

pub(super) fn country_name(code: &str) -> &str {
    match code {
        "DK" => "Denmark",
        "SE" => "Sweden",
        "NO" => "Norway",
        "DE" => "Germany",
        "GB" => "United Kingdom",
        "US" => "United States",
        other => other,
    }
}

/// A stable id for an address without one of its own (FNV-1a of its lines).
fn address_id(a: &Address) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in [&a.first_name, &a.last_name, &a.address1, &a.city, &a.zip, &a.country_code]
        .iter()
        .flat_map(|s| s.bytes().chain([0x1f]))
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h % 10_000_000_000_000
}

/// `MailingAddress`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `address_more`.
pub(super) fn address<'a>(
    x: &mut Exec<'a>,
    a: &'a Address,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "firstName" => json!(a.first_name),
        "lastName" => json!(a.last_name),
        "name" => json!(format!("{} {}", a.first_name, a.last_name)),
        "address1" => json!(a.address1),
        "city" => json!(a.city),
        "zip" => json!(a.zip),
        "countryCodeV2" => json!(a.country_code),
        "company" | "address2" | "province" | "provinceCode" | "phone" => Value::Null,
        _ => return address_more(x, a, f, path),
    })
}

fn address_more<'a>(
    x: &mut Exec<'a>,
    a: &'a Address,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let name = format!("{} {}", a.first_name, a.last_name).trim().to_owned();
    let area = format!("{} {}", a.zip, a.city).trim().to_owned();
    Some(match f.name.as_str() {
        "id" => json!(format!("{}?model_name=Address", gid("MailingAddress", address_id(a)))),
        "coordinatesValidated" => json!(false),
        "country" => json!(country_name(&a.country_code)),
        "countryCode" => json!(a.country_code),
        "formattedArea" => json!(format!("{area}, {}", country_name(&a.country_code))),
        "formatted" => {
            let with_name = x.arg(f, "withName").as_bool().unwrap_or(false);
            let mut lines = Vec::new();
            if with_name && !name.is_empty() {
                lines.push(name);
            }
            lines.extend([a.address1.clone(), area, country_name(&a.country_code).to_owned()]);
            json!(lines.into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>())
        }
        "timeZone" => json!(if a.country_code == "DK" { Some("Europe/Copenhagen") } else { None }),
        _ => {
            return listed(x, f, path, &["latitude", "longitude", "validationResultSummary"]);
        }
    })
}

/// `FulfillmentOrderAssignedLocation`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `assigned_location_more`.
pub(super) fn assigned_location<'a>(
    x: &mut Exec<'a>,
    l: u64,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "location" => maybe(x, shop.locations.get(&l).map(Obj::Location), f, path),
        "name" => json!(shop.locations.get(&l).map(|l| l.name.clone())),
        _ => return assigned_location_more(x, l, f, path),
    })
}

fn assigned_location_more(x: &mut Exec, l: u64, f: &Field, _path: &mut [Value]) -> Option<Value> {
    // Every simulated location is in Copenhagen (see `catalog::location_address`).
    let street = format!("Nørregade {}", l % 90 + 1);
    Some(match f.name.as_str() {
        "address1" => json!(street),
        "city" => json!("Copenhagen"),
        "countryCode" => json!("DK"),
        "zip" => json!("1165"),
        "address2" | "phone" | "province" => Value::Null,
        _ => {
            let _ = x;
            return None;
        }
    })
}

/// `InventoryQuantity`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `quantity_more`.
pub(super) fn quantity<'a>(
    x: &mut Exec<'a>,
    n: &'static str,
    v: i64,
    item: u64,
    l: u64,
    f: &Field,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "name" => json!(n),
        "quantity" => json!(v),
        _ => return quantity_more(x, n, item, l, f),
    })
}

fn quantity_more(x: &mut Exec, name: &str, item: u64, l: u64, f: &Field) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(format!(
            "gid://shopify/InventoryQuantity/{l}?inventory_item_id={item}&name={name}"
        )),
        "updatedAt" => {
            json!(x.shop.variant_of(item).map(|(p, _)| time(&p.updated_at)))
        }
        _ => return None,
    })
}

/// `CompanyContact`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `contact_more`.
pub(super) fn contact<'a>(
    x: &mut Exec<'a>,
    c: &'a Company,
    k: &'a Contact,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "id" => json!(gid("CompanyContact", k.id)),
        "isMainContact" => json!(k.main),
        "company" => x.set(Obj::Company(c), &f.selection_set, path),
        "customer" => maybe(x, shop.customers.get(&k.customer_id).map(Obj::Customer), f, path),
        _ => return contact_more(x, c, k, f, path),
    })
}

fn contact_more<'a>(
    x: &mut Exec<'a>,
    c: &'a Company,
    k: &'a Contact,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let customer = x.shop.customers.get(&k.customer_id);
    Some(match f.name.as_str() {
        "createdAt" => json!(time(&c.created_at)),
        "updatedAt" => {
            json!(time(&c.updated_at.max(customer.map_or(c.updated_at, |cu| cu.updated_at))))
        }
        "lifetimeDuration" => json!(super::parties::lifetime(&c.created_at)),
        "locale" => json!("en"),
        "title" => Value::Null,
        "orders" => {
            let shop = x.shop;
            let items = shop
                .orders
                .values()
                .filter(|o| o.customer_id == Some(k.customer_id) && shop.order_visible(o))
                .map(|o| Item::by_id(Obj::Order(o), o.id))
                .collect();
            x.connection(f, items, path)
        }
        _ => return listed(x, f, path, &["draftOrders", "roleAssignments"]),
    })
}

/// `CustomerEmailAddress`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `email_more`.
pub(super) fn email<'a>(
    x: &mut Exec<'a>,
    c: &'a Customer,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "emailAddress" => json!(c.email),
        "marketingState" => json!("NOT_SUBSCRIBED"),
        _ => return email_more(x, c, f, path),
    })
}

fn email_more<'a>(
    x: &mut Exec<'a>,
    c: &'a Customer,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let domain = x.shop.domain();
    Some(match f.name.as_str() {
        "marketingUnsubscribeUrl" => {
            json!(format!("https://{domain}/pages/unsubscribe?customer_id={}&key=sim", c.id))
        }
        "openTrackingLevel" => json!("UNKNOWN"),
        "openTrackingUrl" => {
            json!(format!("https://{domain}/pages/tracking?customer_id={}&key=sim", c.id))
        }
        "validFormat" => json!(c.email.contains('@')),
        _ => {
            return listed(
                x,
                f,
                path,
                &["marketingOptInLevel", "marketingUpdatedAt", "sourceLocation"],
            );
        }
    })
}

/// `Customer.defaultPhoneNumber`: null without a phone number.
pub(super) fn phone(x: &mut Exec, c: &Customer, f: &Field, path: &[Value]) -> Value {
    if c.phone.is_empty() {
        return Value::Null;
    }
    let consent = json!({ "state": "NOT_SUBSCRIBED", "optInLevel": null, "collectedFrom": null, "sourceLocation": null, "updatedAt": null });
    object(
        x,
        path,
        json!({
            "phoneNumber": c.phone, "marketingState": "NOT_SUBSCRIBED", "marketingOptInLevel": null,
            "marketingCollectedFrom": null, "marketingUpdatedAt": null, "sourceLocation": null,
            "smsMarketingConsent": consent, "whatsAppMarketingConsent": consent,
        }),
        f,
    )
}

pub(super) fn money<'a>(
    x: &mut Exec<'a>,
    a: &'a str,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "shopMoney" | "presentmentMoney" => x.set(Obj::Money(a), &f.selection_set, path),
        "amount" => json!(a),
        "currencyCode" => json!(shop.currency),
        _ => return None,
    })
}

pub(super) fn count(n: usize, f: &Field) -> Option<Value> {
    Some(match f.name.as_str() {
        "count" => json!(n),
        "precision" => json!("EXACT"),
        _ => return None,
    })
}

pub(super) fn media_error(e: &(String, String), f: &Field) -> Option<Value> {
    Some(match f.name.as_str() {
        "code" => json!(e.0),
        "message" => json!(e.1),
        "details" => Value::Null,
        _ => return None,
    })
}
