//! Customers, B2B companies and their locations, catalogs and price lists, and Shopify
//! Payments payouts and balance transactions. Order counts and amounts spent are derived from
//! the shop's orders; a company's orders are those of its contacts' customers.

use super::{Exec, Item, Obj, amount, cents, count, listed, money, money_json, object};
use crate::exec::time;
use crate::store::{Catalog, Company, CompanyLocation, Customer, Order, Payout, PriceList, gid};
use apollo_compiler::executable::Field;
use serde_json::{Value, json};

fn orders_of<'a>(x: &Exec<'a>, customers: &[u64]) -> Vec<&'a Order> {
    orders_in(x.shop, customers)
}

fn orders_in<'a>(shop: &'a crate::store::Shop, customers: &[u64]) -> Vec<&'a Order> {
    shop.orders
        .values()
        .filter(|o| o.customer_id.is_some_and(|c| customers.contains(&c)))
        .filter(|o| shop.order_visible(o))
        .collect()
}

/// What the orders brought in, net of refunds (cancelled orders excluded).
fn spent(orders: &[&Order]) -> String {
    let c: i64 = orders
        .iter()
        .filter(|o| !o.cancelled)
        .map(|o| crate::orders::refundable_cents(o, crate::money::current_units()))
        .sum();
    amount(c)
}

fn order_items<'a>(orders: Vec<&'a Order>) -> Vec<Item<'a>> {
    orders
        .into_iter()
        .map(|o| Item { obj: Obj::Order(o), sort: format!("{:020}", o.id), id: o.id })
        .collect()
}

/// "about 3 years", "12 days": how long something has existed, as Shopify words it.
pub(super) fn lifetime(since: &chrono::DateTime<chrono::Utc>) -> String {
    let days = (chrono::Utc::now() - *since).num_days();
    match days {
        ..=0 => "less than a day".into(),
        1 => "1 day".into(),
        2..=30 => format!("{days} days"),
        31..=364 => format!("about {} months", (days / 30).max(1)),
        _ => format!("about {} years", days / 365),
    }
}

const CUSTOMER_EMPTY: &[&str] = &[
    "dataSaleOptOut",
    "events",
    "hasTimelineComment",
    "identityProviderSubjects",
    "market",
    "metafieldDefinitions",
    "multipassIdentifier",
    "paymentMethods",
    "storeCreditAccounts",
    "subscriptionContracts",
    "taxExempt",
    "taxExemptions",
];

pub(super) fn customer<'a>(
    x: &mut Exec<'a>,
    c: &'a Customer,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    // Computed only for the fields that need them.
    let shop = x.shop;
    let orders = || orders_in(shop, &[c.id]);
    Some(match f.name.as_str() {
        "addressesV2" => {
            let items = c
                .addresses
                .iter()
                .enumerate()
                .map(|(i, a)| Item { obj: Obj::Address(a), sort: format!("{i:020}"), id: i as u64 })
                .collect();
            x.connection(f, items, path)
        }
        "amountSpent" => money(x, &spent(&orders()), f),
        "canDelete" => json!(orders().is_empty()),
        "companyContactProfiles" => {
            let contacts: Vec<(&'a Company, &'a crate::store::Contact)> = shop
                .companies
                .values()
                .flat_map(|co| {
                    co.contacts.iter().filter(|k| k.customer_id == c.id).map(move |k| (co, k))
                })
                .collect();
            Value::Array(
                contacts
                    .iter()
                    .map(|(co, k)| x.set(Obj::Contact(co, k), &f.selection_set, path))
                    .collect(),
            )
        }
        "defaultPhoneNumber" => super::nested::phone(x, c, f, path),
        // Consent as `defaultEmailAddress`/`defaultPhoneNumber` report it: not subscribed.
        "emailMarketingConsent" if !c.email.is_empty() => object(
            x,
            path,
            json!({ "marketingState": "NOT_SUBSCRIBED", "marketingOptInLevel": null, "consentUpdatedAt": null, "sourceLocation": null }),
            f,
        ),
        "smsMarketingConsent" if !c.phone.is_empty() => object(
            x,
            path,
            json!({ "marketingState": "NOT_SUBSCRIBED", "marketingOptInLevel": "SINGLE_OPT_IN", "consentUpdatedAt": null, "consentCollectedFrom": null, "sourceLocation": null }),
            f,
        ),
        "emailMarketingConsent" | "smsMarketingConsent" => Value::Null,
        "image" => {
            // Shopify's default avatar for customers without a picture.
            let url =
                format!("https://cdn.shopify.com/s/images/admin/customers/avatar-{}.png", c.id % 8);
            object(
                x,
                path,
                json!({ "id": null, "url": url, "src": url, "originalSrc": url, "transformedSrc": url, "altText": null, "width": 160, "height": 160, "thumbhash": null, "translations": [], "metafield": null, "metafields": super::empty_connection() }),
                f,
            )
        }
        "lastOrder" => match orders().iter().max_by_key(|o| o.created_at) {
            Some(o) => x.set(Obj::Order(o), &f.selection_set, path),
            None => Value::Null,
        },
        "legacyResourceId" => json!(c.id.to_string()),
        "lifetimeDuration" => json!(lifetime(&c.created_at)),
        "locale" => json!("en"),
        "mergeable" => object(
            x,
            path,
            json!({ "isMergeable": true, "errorFields": [], "mergeInProgress": null, "reason": null }),
            f,
        ),
        "numberOfOrders" => json!(orders().len().to_string()),
        "orders" => {
            let items = order_items(orders());
            x.connection(f, items, path)
        }
        "productSubscriberStatus" => json!("NEVER_SUBSCRIBED"),
        // Customers created by the shop or an app have no account until they accept an invite.
        "state" => json!("DISABLED"),
        "statistics" => object(x, path, json!({ "predictedSpendTier": null, "rfmGroup": null }), f),
        "taxSettings" => object(x, path, json!({ "taxId": null }), f),
        "unsubscribeUrl" => json!(format!(
            "https://{}/pages/unsubscribe?customer_id={}&key=sim",
            x.shop.domain(),
            c.id
        )),
        "validEmailAddress" | "verifiedEmail" => json!(c.email.contains('@')),
        _ => return listed(x, f, path, CUSTOMER_EMPTY),
    })
}

const COMPANY_EMPTY: &[&str] = &[
    "contactRoles",
    "defaultRole",
    "draftOrders",
    "events",
    "hasTimelineComment",
    "metafieldDefinitions",
];

pub(super) fn company<'a>(
    x: &mut Exec<'a>,
    c: &'a Company,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let customers: Vec<u64> = c.contacts.iter().map(|k| k.customer_id).collect();
    Some(match f.name.as_str() {
        "contactCount" => json!(c.contacts.len()),
        "contactsCount" => count(x, c.contacts.len(), f, path),
        "locationsCount" => count(x, c.locations.len(), f, path),
        "customerSince" => json!(time(&c.created_at)),
        "defaultCursor" => json!(crate::exec::cursor(&format!("{:020}", c.id), c.id)),
        "lifetimeDuration" => json!(lifetime(&c.created_at)),
        "orders" => {
            let items = order_items(orders_of(x, &customers));
            x.connection(f, items, path)
        }
        "ordersCount" => {
            let n = orders_of(x, &customers).len();
            count(x, n, f, path)
        }
        "totalSpent" => money(x, &spent(&orders_of(x, &customers)), f),
        _ => return listed(x, f, path, COMPANY_EMPTY),
    })
}

/// A company address as the schema's `CompanyAddress`.
fn company_address(a: &crate::store::CompanyAddress, company: &str, location: &str) -> Value {
    let country = super::nested::country_name(&a.country_code).to_owned();
    let area: Vec<&str> = [a.zip.as_deref(), a.city.as_deref()].into_iter().flatten().collect();
    let area = area.join(" ");
    let lines: Vec<String> = [
        Some(company.to_owned()),
        Some(a.address1.clone()),
        a.address2.clone(),
        (!area.is_empty()).then(|| area.clone()),
        Some(country.clone()),
    ]
    .into_iter()
    .flatten()
    .filter(|l| !l.is_empty())
    .collect();
    json!({
        "id": gid("CompanyAddress", a.id), "address1": a.address1, "address2": a.address2,
        "city": a.city, "zip": a.zip, "countryCode": a.country_code, "country": country,
        "zoneCode": a.zone_code, "province": a.zone_code, "firstName": a.first_name,
        "lastName": a.last_name, "recipient": a.recipient.clone().or_else(|| Some(location.to_owned())),
        "phone": a.phone, "companyName": company, "formattedAddress": lines,
        "formattedArea": (!area.is_empty()).then(|| format!("{area}, {country}")),
        "createdAt": time(&a.created_at), "updatedAt": time(&a.created_at),
    })
}

const LOCATION_EMPTY: &[&str] = &[
    "buyerExperienceConfiguration",
    "draftOrders",
    "events",
    "hasTimelineComment",
    "metafieldDefinitions",
    "roleAssignments",
    "staffMemberAssignments",
    "storeCreditAccounts",
    "taxExemptions",
    "taxRegistrationId",
];

pub(super) fn company_location<'a>(
    x: &mut Exec<'a>,
    c: &'a Company,
    l: &'a CompanyLocation,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    // The simulator does not tell a company's locations apart in orders: the first location
    // holds the company's orders.
    let first = c.locations.first().is_some_and(|f| f.id == l.id);
    let customers: Vec<u64> =
        if first { c.contacts.iter().map(|k| k.customer_id).collect() } else { Vec::new() };
    Some(match f.name.as_str() {
        "catalogsCount" => count(x, l.catalogs.len(), f, path),
        "billingAddress" | "shippingAddress" => {
            let a =
                if f.name == "billingAddress" { &l.billing_address } else { &l.shipping_address };
            match a {
                Some(a) => object(x, path, company_address(a, &c.name, &l.name), f),
                None => Value::Null,
            }
        }
        "note" => json!(l.note),
        "phone" => json!(l.phone),
        "createdAt" => json!(time(&c.created_at)),
        "defaultCursor" => json!(crate::exec::cursor(&format!("{:020}", l.id), l.id)),
        "inCatalog" => {
            let catalog = x.arg(f, "catalogId");
            let id = catalog.as_str().and_then(|g| {
                crate::store::parse_gid("CompanyLocationCatalog", g)
                    .or_else(|| crate::store::parse_gid("Catalog", g))
            });
            json!(id.is_some_and(|id| l.catalogs.contains(&id)))
        }
        "locale" => json!("en"),
        "market" => object(
            x,
            path,
            json!({ "id": gid("Market", 1), "name": "Denmark", "handle": "dk", "enabled": true, "primary": true, "status": "ACTIVE", "type": "REGION" }),
            f,
        ),
        "orderCount" => json!(orders_of(x, &customers).len()),
        "orders" => {
            let items = order_items(orders_of(x, &customers));
            x.connection(f, items, path)
        }
        "ordersCount" => {
            let n = orders_of(x, &customers).len();
            count(x, n, f, path)
        }
        "taxSettings" => object(
            x,
            path,
            json!({ "taxExempt": false, "taxExemptions": [], "taxRegistrationId": null }),
            f,
        ),
        "totalSpent" => money(x, &spent(&orders_of(x, &customers)), f),
        _ => return listed(x, f, path, LOCATION_EMPTY),
    })
}

pub(super) fn catalog<'a>(
    x: &mut Exec<'a>,
    c: &'a Catalog,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "companyLocationsCount" => count(x, c.locations.len(), f, path),
        "operations" => json!([]),
        _ => return listed(x, f, path, &["publication"]),
    })
}

pub(super) fn price_list<'a>(
    x: &mut Exec<'a>,
    p: &'a PriceList,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "catalog" => match x.shop.catalogs.values().find(|c| c.price_list == Some(p.id)) {
            Some(c) => x.set(Obj::Catalog(c), &f.selection_set, path),
            None => Value::Null,
        },
        "parent" => object(
            x,
            path,
            json!({ "adjustment": { "type": "PERCENTAGE_DECREASE", "value": 0.0 }, "settings": { "compareAtMode": "ADJUSTED" } }),
            f,
        ),
        _ => return listed(x, f, path, &["quantityRules"]),
    })
}

/// Sums of a payout's balance transactions by kind: (gross, fee).
fn sums(x: &Exec, p: &Payout, kind: &str) -> (i64, i64) {
    x.shop
        .balance_txs
        .values()
        .filter(|b| b.payout == Some(p.id) && b.kind == kind)
        .fold((0, 0), |(g, fee), b| (g + cents(&b.amount), fee + cents(&b.fee)))
}

pub(super) fn payout<'a>(
    x: &mut Exec<'a>,
    p: &'a Payout,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let (charges, charge_fees) = sums(x, p, "CHARGE");
    let (refunds, refund_fees) = sums(x, p, "REFUND");
    Some(match f.name.as_str() {
        "businessEntity" => object(x, path, super::orders::business_entity(x), f),
        "gross" => money(x, &amount(charges + refunds), f),
        "summary" => {
            let m = |c: i64| money_json(x, &amount(c));
            object(
                x,
                path,
                json!({
                    "chargesGross": m(charges), "chargesFee": m(charge_fees),
                    "refundsFeeGross": m(refunds), "refundsFee": m(refund_fees),
                    "adjustmentsGross": m(0), "adjustmentsFee": m(0),
                    "advanceGross": m(0), "advanceFees": m(0),
                    "reservedFundsGross": m(0), "reservedFundsFee": m(0),
                    "retriedPayoutsGross": m(0), "retriedPayoutsFee": m(0),
                    "usdcRebateCreditAmount": m(0),
                }),
                f,
            )
        }
        _ => return listed(x, f, path, &["bankAccount"]),
    })
}
