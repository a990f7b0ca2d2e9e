//! Small conversions shared by the ERP modules: dates, currencies, addresses, page tokens.

use crate::error::{ErpError, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shopsync_common::quoted;
use shopsync_proto::pb;

/// `YYYY-MM-DD`, or `None` when empty.
pub fn parse_date(s: &str, field: &str) -> Result<Option<NaiveDate>> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| ErpError::invalid(field, format!("{} is not a date (YYYY-MM-DD)", quoted(s))))
}

pub fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// An ISO 4217 code: three capital letters.
pub fn check_currency(s: &str, field: &str) -> Result<String> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(s.to_owned())
    } else {
        Err(ErpError::invalid(
            field,
            format!("{} is not an ISO 4217 currency code (e.g. EUR)", quoted(s)),
        ))
    }
}

/// A code or number: not blank, at most `max` characters, no surrounding spaces.
pub fn check_code(s: &str, field: &str, max: usize) -> Result<()> {
    if s.trim().is_empty() {
        return Err(ErpError::invalid(field, "required"));
    }
    if s.trim() != s {
        return Err(ErpError::invalid(field, "must not start or end with spaces"));
    }
    if s.chars().count() > max {
        return Err(ErpError::invalid(field, format!("at most {max} characters")));
    }
    Ok(())
}

pub fn check_len(s: &str, field: &str, max: usize) -> Result<()> {
    if s.chars().count() > max {
        return Err(ErpError::invalid(field, format!("at most {max} characters")));
    }
    Ok(())
}

/// A shipment's tracking: lengths (company and number 255, URL 2000; the request checks
/// came first) and an http(s) URL without spaces.
pub fn check_tracking(t: &pb::Tracking, field: &str) -> Result<()> {
    check_len(&t.company, &format!("{field}.company"), 255)?;
    check_len(&t.number, &format!("{field}.number"), 255)?;
    check_len(&t.url, &format!("{field}.url"), 2000)?;
    if !t.url.is_empty() {
        let lower = t.url.to_ascii_lowercase();
        let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
        if !scheme_ok || t.url.chars().any(char::is_whitespace) {
            return Err(ErpError::invalid(
                format!("{field}.url"),
                format!("{} is not an http(s) URL", quoted(&t.url)),
            ));
        }
    }
    Ok(())
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct Addr {
    name: String,
    address1: String,
    address2: String,
    city: String,
    post_code: String,
    county: String,
    country_code: String,
    phone: String,
}

pub fn address_to_json(a: Option<&pb::Address>, field: &str) -> Result<serde_json::Value> {
    let Some(a) = a else { return Ok(serde_json::json!({})) };
    let code_ok = a.country_code.is_empty()
        || (a.country_code.len() == 2 && a.country_code.bytes().all(|b| b.is_ascii_uppercase()));
    if !code_ok {
        return Err(ErpError::invalid(
            format!("{field}.country_code"),
            format!("{} is not an ISO 3166-1 alpha-2 code", quoted(&a.country_code)),
        ));
    }
    let addr = Addr {
        name: a.name.clone(),
        address1: a.address1.clone(),
        address2: a.address2.clone(),
        city: a.city.clone(),
        post_code: a.post_code.clone(),
        county: a.county.clone(),
        country_code: a.country_code.clone(),
        phone: a.phone.clone(),
    };
    Ok(serde_json::to_value(addr).unwrap_or_default())
}

pub fn address_from_json(v: &serde_json::Value) -> Option<pb::Address> {
    let a: Addr = serde_json::from_value(v.clone()).ok()?;
    Some(pb::Address {
        name: a.name,
        address1: a.address1,
        address2: a.address2,
        city: a.city,
        post_code: a.post_code,
        county: a.county,
        country_code: a.country_code,
        phone: a.phone,
    })
}

pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> shopsync_proto::prost_types::Timestamp {
    shopsync_proto::prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Page size: 0 means 100; at most 1000.
pub fn page_size(n: u32) -> i64 {
    if n == 0 { 100 } else { i64::from(n.min(1000)) }
}

/// Parse a cursor of the change feeds: `<xid>:<key>`, or empty for the beginning.
pub fn parse_cursor(s: &str) -> Result<(i64, String)> {
    if s.is_empty() {
        return Ok((0, String::new()));
    }
    let (x, k) = s
        .split_once(':')
        .ok_or_else(|| ErpError::invalid("cursor", "not a cursor of this feed"))?;
    let x: i64 = x.parse().map_err(|_| ErpError::invalid("cursor", "not a cursor of this feed"))?;
    Ok((x, k.to_owned()))
}

pub fn cursor(xid: i64, key: &str) -> String {
    format!("{xid}:{key}")
}
