//! Customer and company writes as the ERP → Shopify syncs send them (2026-10):
//! `customerUpdate`, `customerSet` (upsert by id, email or phone), `companyCreate` (with an
//! optional main contact and first location), `companyUpdate`, `companyLocationUpdate` and
//! `companyAssignCustomerAsContact`. Business failures are user errors with the schema's codes;
//! nothing is written when any check fails.

use crate::store::{
    Address, Company, CompanyAddress, CompanyLocation, Contact, Customer, Shop, parse_gid,
};
use serde_json::{Value, json};

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(|s| s.trim().to_owned())
}

fn err(field: Value, message: &str, code: Option<&str>) -> Value {
    match code {
        Some(c) => json!({ "field": field, "message": message, "code": c }),
        None => json!({ "field": field, "message": message }),
    }
}

/// The user error for an id argument naming nothing.
fn missing(arg: &str) -> Value {
    err(json!([arg]), "Resource requested does not exist.", Some("RESOURCE_NOT_FOUND"))
}

fn email_ok(e: &str) -> bool {
    let mut parts = e.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if !a.is_empty() && b.contains('.'))
}

/// A `MailingAddressInput` as the simulator stores it (`countryCode`, or the deprecated
/// `country` when it is a code).
pub(crate) fn address(v: &Value) -> Address {
    let t = |k: &str| text(v, k).unwrap_or_default();
    Address {
        first_name: t("firstName"),
        last_name: t("lastName"),
        address1: t("address1"),
        city: t("city"),
        zip: t("zip"),
        country_code: text(v, "countryCode").or_else(|| text(v, "country")).unwrap_or_default(),
    }
}

/// Checks of the writable customer fields; `own` is the customer being changed.
fn check_customer(shop: &Shop, input: &Value, own: Option<u64>, codes: bool) -> Vec<Value> {
    let mut errs = Vec::new();
    let code = |c: &'static str| codes.then_some(c);
    if let Some(email) = text(input, "email").filter(|e| !e.is_empty()) {
        if !email_ok(&email) {
            errs.push(err(json!(["email"]), "Email is invalid", code("INVALID")));
        } else if shop
            .customers
            .values()
            .any(|c| Some(c.id) != own && c.email.eq_ignore_ascii_case(&email))
        {
            errs.push(err(json!(["email"]), "Email has already been taken", code("TAKEN")));
        }
    }
    if let Some(phone) = text(input, "phone").filter(|p| !p.is_empty()) {
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if !phone.starts_with('+') || digits < 7 {
            errs.push(err(json!(["phone"]), "Phone is invalid", code("INVALID")));
        } else if shop.customers.values().any(|c| Some(c.id) != own && c.phone == phone) {
            errs.push(err(json!(["phone"]), "Phone has already been taken", code("TAKEN")));
        }
    }
    if let Some(tags) = input.get("tags").and_then(Value::as_array)
        && tags.len() > 250
    {
        errs.push(err(json!(["tags"]), "Tags are limited to 250", code("TOO_LONG")));
    }
    errs
}

fn apply_customer(c: &mut Customer, input: &Value) {
    if let Some(v) = text(input, "firstName") {
        c.first_name = v;
    }
    if let Some(v) = text(input, "lastName") {
        c.last_name = v;
    }
    if let Some(v) = text(input, "email") {
        c.email = v.to_lowercase();
    }
    if let Some(v) = text(input, "phone") {
        c.phone = v;
    }
    if let Some(v) = text(input, "note") {
        c.note = v;
    }
    if let Some(tags) = input.get("tags").and_then(Value::as_array) {
        c.tags = tags.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    }
    // Deprecated on CustomerInput but still accepted: the list replaces the addresses.
    if let Some(list) = input.get("addresses").and_then(Value::as_array) {
        c.addresses = list.iter().map(address).collect();
    }
}

/// `customerUpdate(input: CustomerInput{id …})`.
pub fn customer_update(shop: &mut Shop, input: &Value) -> Result<u64, Vec<Value>> {
    let id = text(input, "id").and_then(|g| parse_gid("Customer", &g));
    let Some(id) = id.filter(|id| shop.customers.contains_key(id)) else {
        return Err(vec![err(json!(["id"]), "Customer does not exist", None)]);
    };
    let errs = check_customer(shop, input, Some(id), false);
    if !errs.is_empty() {
        return Err(errs);
    }
    let at = shop.stamp();
    if let Some(c) = shop.customers.get_mut(&id) {
        apply_customer(c, input);
        c.updated_at = at;
    }
    Ok(id)
}

/// `customerSet(identifier: {id | emailAddress | phoneNumber}, input)`: update the customer the
/// identifier finds, or create one. Ok: (customer, created).
pub fn customer_set(
    shop: &mut Shop,
    identifier: &Value,
    input: &Value,
) -> Result<(u64, bool), Vec<Value>> {
    let found = if let Some(g) = text(identifier, "id") {
        match parse_gid("Customer", &g).filter(|id| shop.customers.contains_key(id)) {
            Some(id) => Some(id),
            None => {
                return Err(vec![err(
                    json!(["identifier", "id"]),
                    "Customer does not exist",
                    Some("NOT_FOUND"),
                )]);
            }
        }
    } else if let Some(e) = text(identifier, "emailAddress").or_else(|| text(identifier, "email")) {
        if text(input, "email").is_some_and(|i| !i.eq_ignore_ascii_case(&e)) {
            return Err(vec![err(
                json!(["input", "email"]),
                "The email in the input must match the identifier",
                Some("INPUT_MISMATCH"),
            )]);
        }
        shop.customers.values().find(|c| c.email.eq_ignore_ascii_case(&e)).map(|c| c.id)
    } else if let Some(p) = text(identifier, "phoneNumber").or_else(|| text(identifier, "phone")) {
        shop.customers.values().find(|c| c.phone == p).map(|c| c.id)
    } else {
        None
    };
    let mut input = input.clone();
    // Creating by email or phone: the identifier supplies the value.
    if found.is_none()
        && let Some(o) = input.as_object_mut()
    {
        for (from, to) in [
            ("emailAddress", "email"),
            ("email", "email"),
            ("phoneNumber", "phone"),
            ("phone", "phone"),
        ] {
            if let Some(v) = identifier.get(from).filter(|v| v.is_string()) {
                o.entry(to).or_insert(v.clone());
            }
        }
    }
    let errs: Vec<Value> = check_customer(shop, &input, found, true)
        .into_iter()
        .map(|mut e| {
            if let Some(f) = e.get_mut("field").and_then(Value::as_array_mut) {
                f.insert(0, json!("input"));
            }
            e
        })
        .collect();
    if !errs.is_empty() {
        return Err(errs);
    }
    let at = shop.stamp();
    match found {
        Some(id) => {
            if let Some(c) = shop.customers.get_mut(&id) {
                apply_customer(c, &input);
                c.updated_at = at;
            }
            Ok((id, false))
        }
        None => {
            let blank = ["firstName", "lastName", "email", "phone"]
                .iter()
                .all(|k| text(&input, k).is_none_or(|v| v.is_empty()));
            if blank {
                return Err(vec![err(
                    json!(["input"]),
                    "A name, phone number, or email address must be present",
                    Some("MISSING_FIELD_REQUIRED"),
                )]);
            }
            let id = shop.next_id();
            let mut c = Customer { id, created_at: at, updated_at: at, ..Default::default() };
            apply_customer(&mut c, &input);
            shop.customers.insert(id, c);
            Ok((id, true))
        }
    }
}

fn company_checks(shop: &Shop, company: &Value, own: Option<u64>, field: &[&str]) -> Vec<Value> {
    let mut errs = Vec::new();
    let at = |k: &str| {
        let mut f: Vec<Value> = field.iter().map(|s| json!(s)).collect();
        f.push(json!(k));
        Value::Array(f)
    };
    if (own.is_none() || company.get("name").is_some())
        && text(company, "name").is_none_or(|n| n.is_empty())
    {
        errs.push(err(at("name"), "Name can't be blank", Some("BLANK")));
    }
    if text(company, "name").is_some_and(|n| n.chars().count() > 255) {
        errs.push(err(at("name"), "Name is too long", Some("TOO_LONG")));
    }
    if let Some(x) = text(company, "externalId").filter(|x| !x.is_empty())
        && shop
            .companies
            .values()
            .any(|c| Some(c.id) != own && c.external_id.as_deref() == Some(&x))
    {
        errs.push(err(at("externalId"), "External ID has already been taken", Some("TAKEN")));
    }
    errs
}

/// `companyCreate(input: {company, companyContact, companyLocation})`. A company always has a
/// location: without `companyLocation` one is made with the company's name, as Shopify does.
pub fn company_create(shop: &mut Shop, input: &Value) -> Result<u64, Vec<Value>> {
    let company = input.get("company").cloned().unwrap_or(Value::Null);
    let contact = input.get("companyContact").filter(|c| !c.is_null()).cloned();
    let location = input.get("companyLocation").filter(|l| !l.is_null()).cloned();
    let mut errs = company_checks(shop, &company, None, &["input", "company"]);
    if let Some(c) = &contact {
        let email = text(c, "email").unwrap_or_default();
        if !email_ok(&email) {
            errs.push(err(
                json!(["input", "companyContact", "email"]),
                "Email is invalid",
                Some("INVALID"),
            ));
        }
    }
    if let Some(l) = &location
        && let Some(x) = text(l, "externalId").filter(|x| !x.is_empty())
        && shop
            .companies
            .values()
            .flat_map(|c| &c.locations)
            .any(|l| l.external_id.as_deref() == Some(&x))
    {
        errs.push(err(
            json!(["input", "companyLocation", "externalId"]),
            "External ID has already been taken",
            Some("TAKEN"),
        ));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let id = shop.next_id();
    let at = shop.stamp();
    let name = text(&company, "name").unwrap_or_default();
    let loc_id = shop.next_id();
    let loc = location.as_ref();
    let mut address_of = |key: &str| {
        let a = loc?.get(key).filter(|a| a.is_object())?;
        Some(company_address(a, shop.next_id(), at))
    };
    let billing = address_of("billingAddress");
    let shipping = address_of("shippingAddress");
    let same_as_shipping =
        loc.and_then(|l| l.get("billingSameAsShipping")).and_then(Value::as_bool).unwrap_or(false);
    let mut contacts = Vec::new();
    if let Some(c) = &contact {
        let email = text(c, "email").unwrap_or_default().to_lowercase();
        // An existing customer with that email becomes the contact; otherwise one is created.
        let customer = match shop.customers.values().find(|x| x.email == email) {
            Some(x) => x.id,
            None => {
                let cid = shop.next_id();
                let mut cu =
                    Customer { id: cid, created_at: at, updated_at: at, ..Default::default() };
                apply_customer(&mut cu, c);
                cu.email = email;
                shop.customers.insert(cid, cu);
                cid
            }
        };
        contacts.push(Contact { id: shop.next_id(), customer_id: customer, main: true });
    }
    shop.companies.insert(
        id,
        Company {
            id,
            name: name.clone(),
            note: text(&company, "note").unwrap_or_default(),
            external_id: text(&company, "externalId").filter(|x| !x.is_empty()),
            created_at: at,
            updated_at: at,
            locations: vec![CompanyLocation {
                id: loc_id,
                name: loc.and_then(|l| text(l, "name")).filter(|n| !n.is_empty()).unwrap_or(name),
                external_id: loc.and_then(|l| text(l, "externalId")).filter(|x| !x.is_empty()),
                catalogs: Vec::new(),
                shipping_address: shipping.clone(),
                billing_address: billing.or(if same_as_shipping { shipping } else { None }),
                note: loc.and_then(|l| text(l, "note")).filter(|x| !x.is_empty()),
                phone: loc.and_then(|l| text(l, "phone")).filter(|x| !x.is_empty()),
            }],
            contacts,
        },
    );
    Ok(id)
}

/// A `CompanyAddressInput` as stored.
fn company_address(a: &Value, id: u64, at: chrono::DateTime<chrono::Utc>) -> CompanyAddress {
    let opt = |k: &str| text(a, k).filter(|x| !x.is_empty());
    CompanyAddress {
        id,
        address1: opt("address1").unwrap_or_default(),
        address2: opt("address2"),
        city: opt("city"),
        zip: opt("zip"),
        country_code: opt("countryCode").unwrap_or_default(),
        zone_code: opt("zoneCode"),
        first_name: opt("firstName"),
        last_name: opt("lastName"),
        recipient: opt("recipient"),
        phone: opt("phone"),
        created_at: at,
    }
}

/// `companyUpdate(companyId, input: CompanyInput)`.
pub fn company_update(shop: &mut Shop, company: &str, input: &Value) -> Result<u64, Vec<Value>> {
    let Some(id) = parse_gid("Company", company).filter(|id| shop.companies.contains_key(id))
    else {
        return Err(vec![missing("companyId")]);
    };
    let errs = company_checks(shop, input, Some(id), &["input"]);
    if !errs.is_empty() {
        return Err(errs);
    }
    let at = shop.stamp();
    if let Some(c) = shop.companies.get_mut(&id) {
        if let Some(n) = text(input, "name") {
            c.name = n;
        }
        if let Some(n) = text(input, "note") {
            c.note = n;
        }
        if let Some(x) = text(input, "externalId") {
            c.external_id = (!x.is_empty()).then_some(x);
        }
        c.updated_at = at;
    }
    Ok(id)
}

/// `companyLocationUpdate(companyLocationId, input)`. Ok: (company, location).
pub fn location_update(
    shop: &mut Shop,
    location: &str,
    input: &Value,
) -> Result<(u64, u64), Vec<Value>> {
    let lid = parse_gid("CompanyLocation", location);
    let Some(cid) = lid.and_then(|lid| {
        shop.companies.values().find(|c| c.locations.iter().any(|l| l.id == lid)).map(|c| c.id)
    }) else {
        return Err(vec![missing("companyLocationId")]);
    };
    let lid = lid.unwrap_or_default();
    if text(input, "name").is_some_and(|n| n.is_empty()) {
        return Err(vec![err(json!(["input", "name"]), "Name can't be blank", Some("BLANK"))]);
    }
    if let Some(x) = text(input, "externalId").filter(|x| !x.is_empty())
        && shop
            .companies
            .values()
            .flat_map(|c| &c.locations)
            .any(|l| l.id != lid && l.external_id.as_deref() == Some(&x))
    {
        return Err(vec![err(
            json!(["input", "externalId"]),
            "External ID has already been taken",
            Some("TAKEN"),
        )]);
    }
    let at = shop.stamp();
    if let Some(c) = shop.companies.get_mut(&cid) {
        if let Some(l) = c.locations.iter_mut().find(|l| l.id == lid) {
            if let Some(n) = text(input, "name") {
                l.name = n;
            }
            if let Some(x) = text(input, "externalId") {
                l.external_id = (!x.is_empty()).then_some(x);
            }
            if let Some(n) = text(input, "note") {
                l.note = (!n.is_empty()).then_some(n);
            }
            if let Some(p) = text(input, "phone") {
                l.phone = (!p.is_empty()).then_some(p);
            }
        }
        c.updated_at = at;
    }
    Ok((cid, lid))
}

/// `companyAssignCustomerAsContact(companyId, customerId)`. Ok: (company, contact).
pub fn assign_contact(
    shop: &mut Shop,
    company: &str,
    customer: &str,
) -> Result<(u64, u64), Vec<Value>> {
    let Some(cid) = parse_gid("Company", company).filter(|id| shop.companies.contains_key(id))
    else {
        return Err(vec![missing("companyId")]);
    };
    let Some(cust) = parse_gid("Customer", customer).filter(|id| shop.customers.contains_key(id))
    else {
        return Err(vec![missing("customerId")]);
    };
    if shop.companies[&cid].contacts.iter().any(|k| k.customer_id == cust) {
        return Err(vec![err(
            json!(["customerId"]),
            "Customer is already a contact of this company.",
            Some("TAKEN"),
        )]);
    }
    let contact = shop.next_id();
    let at = shop.stamp();
    if let Some(c) = shop.companies.get_mut(&cid) {
        let main = c.contacts.is_empty();
        c.contacts.push(Contact { id: contact, customer_id: cust, main });
        c.updated_at = at;
    }
    Ok((cid, contact))
}

/// `customerCreate(input:)`: a name, phone or email is required; the email must be unique.
pub(crate) fn customer_create(shop: &mut Shop, input: &Value) -> (Option<u64>, Vec<Value>) {
    let text =
        |k: &str| input.get(k).and_then(Value::as_str).map(str::trim).unwrap_or("").to_owned();
    let (first, last, email) = (text("firstName"), text("lastName"), text("email").to_lowercase());
    let mut errs = Vec::new();
    if first.is_empty() && last.is_empty() && email.is_empty() && text("phone").is_empty() {
        errs.push(json!({ "field": null, "message": "A name, phone number, or email address must be present" }));
    }
    if !email.is_empty() && (!email.contains('@') || email.starts_with('@') || email.ends_with('@'))
    {
        errs.push(json!({ "field": ["email"], "message": "Email is invalid" }));
    }
    if !email.is_empty() && shop.customers.values().any(|c| c.email == email) {
        errs.push(json!({ "field": ["email"], "message": "Email has already been taken" }));
    }
    if !errs.is_empty() {
        return (None, errs);
    }
    let id = shop.next_id();
    let at = shop.stamp();
    let tags = input
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    shop.customers.insert(
        id,
        Customer {
            id,
            first_name: first,
            last_name: last,
            email,
            tags,
            created_at: at,
            updated_at: at,
            phone: text("phone"),
            note: text("note"),
            addresses: Vec::new(),
        },
    );
    (Some(id), Vec::new())
}
