//! Customers, B2B companies and their locations, catalogs, price lists and their fixed
//! prices. Order counts and amounts spent are derived from
//! the shop's orders; a company's orders are those of its contacts' customers.

use super::{Exec, Item, Obj, amount, count, listed, maybe, money, object};
use crate::exec::time;
use crate::search::{self, FieldValue};
use crate::store::{Catalog, Company, CompanyLocation, Customer, Order, PriceList, gid};
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
    orders.into_iter().map(|o| Item::by_id(Obj::Order(o), o.id)).collect()
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

/// `Customer`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `customer_more`.
pub(super) fn customer<'a>(
    x: &mut Exec<'a>,
    c: &'a Customer,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "id" => json!(gid("Customer", c.id)),
        "firstName" => json!(c.first_name),
        "lastName" => json!(c.last_name),
        "displayName" => json!(format!("{} {}", c.first_name, c.last_name)),
        "tags" => json!(c.tags),
        "createdAt" => json!(time(&c.created_at)),
        "updatedAt" => json!(time(&c.updated_at)),
        "defaultEmailAddress" => x.set(Obj::Email(c), &f.selection_set, path),
        "email" => json!(c.email),
        "phone" => {
            if c.phone.is_empty() {
                Value::Null
            } else {
                json!(c.phone)
            }
        }
        "note" => {
            if c.note.is_empty() {
                Value::Null
            } else {
                json!(c.note)
            }
        }
        "defaultAddress" => maybe(x, c.addresses.first().map(Obj::Address), f, path),
        "addresses" => Value::Array(
            c.addresses.iter().map(|a| x.set(Obj::Address(a), &f.selection_set, path)).collect(),
        ),
        _ => return customer_more(x, c, f, path),
    })
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

fn customer_more<'a>(
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
        "lastOrder" => {
            maybe(x, orders().iter().max_by_key(|o| o.created_at).copied().map(Obj::Order), f, path)
        }
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

/// `Company`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `company_more`.
pub(super) fn company<'a>(
    x: &mut Exec<'a>,
    c: &'a Company,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "locations" | "contacts" => super::connection(x, Obj::Company(c), f, path),
        "id" => json!(gid("Company", c.id)),
        "name" => json!(c.name),
        "externalId" => json!(c.external_id),
        "note" => {
            if c.note.is_empty() {
                Value::Null
            } else {
                json!(c.note)
            }
        }
        "createdAt" => json!(time(&c.created_at)),
        "updatedAt" => json!(time(&c.updated_at)),
        "mainContact" => {
            maybe(x, c.contacts.iter().find(|k| k.main).map(|k| Obj::Contact(c, k)), f, path)
        }
        _ => return company_more(x, c, f, path),
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

fn company_more<'a>(
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

/// `CompanyLocation`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `company_location_more`.
pub(super) fn company_location<'a>(
    x: &mut Exec<'a>,
    c: &'a Company,
    l: &'a CompanyLocation,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "catalogs" => super::connection(x, Obj::CompanyLocation(c, l), f, path),
        "id" => json!(gid("CompanyLocation", l.id)),
        "name" => json!(l.name),
        "externalId" => json!(l.external_id),
        "currency" => json!(shop.currency),
        "company" => x.set(Obj::Company(c), &f.selection_set, path),
        "updatedAt" => json!(time(&c.updated_at)),
        _ => return company_location_more(x, c, l, f, path),
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

fn company_location_more<'a>(
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

/// `CompanyLocationCatalog`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `catalog_more`.
pub(super) fn catalog<'a>(
    x: &mut Exec<'a>,
    c: &'a Catalog,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "companyLocations" => super::connection(x, Obj::Catalog(c), f, path),
        "id" => json!(gid("CompanyLocationCatalog", c.id)),
        "title" => json!(c.title),
        "status" => json!(c.status),
        "priceList" => maybe(
            x,
            c.price_list.and_then(|p| shop.price_lists.get(&p)).map(Obj::PriceList),
            f,
            path,
        ),
        _ => return catalog_more(x, c, f, path),
    })
}

fn catalog_more<'a>(
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

/// `PriceList`: the fields read straight off it; the derived ones and those Shopify
/// answers empty for the simulator's shops in `price_list_more`.
pub(super) fn price_list<'a>(
    x: &mut Exec<'a>,
    p: &'a PriceList,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "prices" => super::connection(x, Obj::PriceList(p), f, path),
        "id" => json!(gid("PriceList", p.id)),
        "name" => json!(p.name),
        "currency" => json!(p.currency),
        "fixedPricesCount" => json!(p.prices.len()),
        _ => return price_list_more(x, p, f, path),
    })
}

fn price_list_more<'a>(
    x: &mut Exec<'a>,
    p: &'a PriceList,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    Some(match f.name.as_str() {
        "catalog" => {
            let found =
                x.shop.catalogs.values().find(|c| c.price_list == Some(p.id)).map(Obj::Catalog);
            maybe(x, found, f, path)
        }
        "parent" => object(
            x,
            path,
            json!({ "adjustment": { "type": "PERCENTAGE_DECREASE", "value": 0.0 }, "settings": { "compareAtMode": "ADJUSTED" } }),
            f,
        ),
        _ => return listed(x, f, path, &["quantityRules"]),
    })
}

pub(super) fn price<'a>(
    x: &mut Exec<'a>,
    v: u64,
    amount: &'a str,
    f: &Field,
    path: &mut Vec<Value>,
) -> Option<Value> {
    let shop = x.shop;
    Some(match f.name.as_str() {
        "price" => x.set(Obj::Money(amount), &f.selection_set, path),
        "compareAtPrice" => Value::Null,
        "originType" => json!("FIXED"),
        "variant" => maybe(
            x,
            shop.products
                .values()
                .find_map(|p| p.variants.iter().find(|pv| pv.id == v).map(|pv| (p, pv)))
                .map(|(p, pv)| Obj::Variant(p, pv)),
            f,
            path,
        ),
        _ => return None,
    })
}

/// The items of the connections of this module's objects.
pub(super) fn items<'a>(x: &mut Exec<'a>, obj: Obj<'a>, f: &Field) -> Option<Vec<Item<'a>>> {
    match (obj, f.name.as_str()) {
        (Obj::Query, "customers") => Some(customers(x, f)),
        (Obj::Payments, "balanceTransactions") => {
            let filter = x.search_filter(f);
            Some(
                x.shop
                    .balance_txs
                    .values()
                    .filter(|b| {
                        filter.as_ref().is_none_or(|e| {
                            search::matches(e, &|field| match field {
                                Some("id") => Some(FieldValue::Number(b.id)),
                                Some("processed_at") => Some(FieldValue::Time(b.at)),
                                Some("payout_status") => Some(FieldValue::Text(
                                    if b.payout.is_some() { "paid" } else { "pending" }.into(),
                                )),
                                _ => None,
                            })
                        })
                    })
                    .map(|b| Item::by_id(Obj::BalanceTx(b), b.id))
                    .collect(),
            )
        }
        (Obj::Payments, "payouts") => {
            let filter = x.search_filter(f);
            Some(
                x.shop
                    .payouts
                    .values()
                    .filter(|p| {
                        filter.as_ref().is_none_or(|e| {
                            search::matches(e, &|field| match field {
                                Some("id") => Some(FieldValue::Number(p.id)),
                                Some("issued_at") => Some(FieldValue::Time(p.issued_at)),
                                Some("status") => Some(FieldValue::Text(p.status.clone())),
                                _ => None,
                            })
                        })
                    })
                    .map(|p| Item::by_id(Obj::Payout(p), p.id))
                    .collect(),
            )
        }
        (Obj::Query, "companies") => {
            let filter = x.search_filter(f);
            let shop = x.shop;
            Some(
                shop.companies
                    .values()
                    .filter(|c| {
                        filter.as_ref().is_none_or(|e| {
                            search::matches(e, &|field| match field {
                                None | Some("name") => Some(FieldValue::Text(c.name.clone())),
                                Some("id") => Some(FieldValue::Number(c.id)),
                                Some("external_id") => c.external_id.clone().map(FieldValue::Text),
                                Some("updated_at") => Some(FieldValue::Time(c.updated_at)),
                                _ => None,
                            })
                        })
                    })
                    .map(|c| Item::by_id(Obj::Company(c), c.id))
                    .collect(),
            )
        }
        (Obj::Query, "catalogs") => {
            let filter = x.search_filter(f);
            // Every simulated catalog is a company location catalog.
            let kind = x.arg(f, "type");
            let shop = x.shop;
            Some(
                shop.catalogs
                    .values()
                    .filter(|_| kind.as_str().is_none_or(|k| k == "COMPANY_LOCATION"))
                    .filter(|c| {
                        filter.as_ref().is_none_or(|e| {
                            search::matches(e, &|field| match field {
                                None | Some("title") => Some(FieldValue::Text(c.title.clone())),
                                Some("id") => Some(FieldValue::Number(c.id)),
                                Some("status") => Some(FieldValue::Text(c.status.clone())),
                                Some("company_id") => Some(FieldValue::Texts(
                                    c.locations.iter().map(|l| l.0.to_string()).collect(),
                                )),
                                Some("company_location_id") => Some(FieldValue::Texts(
                                    c.locations.iter().map(|l| l.1.to_string()).collect(),
                                )),
                                _ => None,
                            })
                        })
                    })
                    .map(|c| Item::by_id(Obj::Catalog(c), c.id))
                    .collect(),
            )
        }
        (Obj::Company(c), "locations") => Some(
            c.locations.iter().map(|l| Item::by_id(Obj::CompanyLocation(c, l), l.id)).collect(),
        ),
        (Obj::Company(c), "contacts") => {
            Some(c.contacts.iter().map(|k| Item::by_id(Obj::Contact(c, k), k.id)).collect())
        }
        (Obj::CompanyLocation(_, l), "catalogs") => Some(
            l.catalogs
                .iter()
                .filter_map(|id| x.shop.catalogs.get(id))
                .map(|c| Item::by_id(Obj::Catalog(c), c.id))
                .collect(),
        ),
        (Obj::Catalog(c), "companyLocations") => Some(
            c.locations
                .iter()
                .filter_map(|(co, lo)| {
                    let company = x.shop.companies.get(co)?;
                    let l = company.locations.iter().find(|l| l.id == *lo)?;
                    Some(Item::by_id(Obj::CompanyLocation(company, l), l.id))
                })
                .collect(),
        ),
        (Obj::PriceList(pl), "prices") => Some(
            pl.prices
                .iter()
                .map(|(v, p)| Item { obj: Obj::Price(*v, p), sort: format!("{v:020}"), id: *v })
                .collect(),
        ),
        _ => None,
    }
}

/// `customers(query:, sortKey:)`: the shop's customers, filtered and with their sort keys.
pub(super) fn customers<'a>(x: &mut Exec<'a>, f: &Field) -> Vec<Item<'a>> {
    let filter = x.search_filter(f);
    let key = x.sort_key(f);
    let shop = x.shop;
    shop.customers
        .values()
        .filter(|c| {
            filter.as_ref().is_none_or(|e| {
                search::matches(e, &|field| match field {
                    None => Some(FieldValue::Text(format!(
                        "{} {} {}",
                        c.first_name, c.last_name, c.email
                    ))),
                    Some("id") => Some(FieldValue::Number(c.id)),
                    Some("email") => Some(FieldValue::Text(c.email.clone())),
                    Some("updated_at") => Some(FieldValue::Time(c.updated_at)),
                    Some("created_at") => Some(FieldValue::Time(c.created_at)),
                    Some("tag") => Some(FieldValue::Texts(c.tags.clone())),
                    _ => None,
                })
            })
        })
        .map(|c| Item {
            obj: Obj::Customer(c),
            sort: match key.as_str() {
                "UPDATED_AT" => {
                    time(&c.updated_at) + &format!("{:?}", c.updated_at.timestamp_subsec_micros())
                }
                _ => format!("{:020}", c.id),
            },
            id: c.id,
        })
        .collect()
}
