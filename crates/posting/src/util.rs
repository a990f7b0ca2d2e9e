//! Small checks and conversions shared by the ERP modules: dates, currencies, codes,
//! tracking, addresses, pb enums as stored, page tokens and feed cursors.

use crate::error::{ErpError, Result};
pub use crate::repo::documents::TrackingCols;
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

/// A pb enum's values and how they are stored (text), each pair written once: the value
/// stored for `v` (None for one not in the table).
pub fn stored_as<P: Copy + Into<i32>>(table: &[(P, &'static str)], v: i32) -> Option<&'static str> {
    table.iter().find(|(p, _)| (*p).into() == v).map(|(_, s)| *s)
}

/// The pb value of stored text `s` in `table` (see [`stored_as`]).
pub fn stored_pb<P: Copy>(table: &[(P, &'static str)], s: &str) -> Option<P> {
    table.iter().find(|(_, t)| *t == s).map(|(p, _)| *p)
}

/// A document's tracking as stored: all empty when it has none.
pub fn tracking_cols(t: Option<&pb::Tracking>) -> TrackingCols {
    t.map(|t| TrackingCols {
        company: t.company.clone(),
        number: t.number.clone(),
        url: t.url.clone(),
    })
    .unwrap_or_default()
}

/// Stored tracking columns as the API shows them: unset when all are empty.
pub fn tracking_pb(t: TrackingCols) -> Option<pb::Tracking> {
    (!t.company.is_empty() || !t.number.is_empty() || !t.url.is_empty()).then_some(pb::Tracking {
        company: t.company,
        number: t.number,
        url: t.url,
    })
}

/// An address as stored (jsonb, through `sqlx::types::Json`): its fields, or `{}` when none
/// was given, which reads back as an address with every field empty.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct StoredAddress {
    #[serde(flatten)]
    pub address: Option<Address>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Address {
    pub name: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub post_code: String,
    pub county: String,
    pub country_code: String,
    pub phone: String,
}

/// An address of a request, checked, as stored.
pub fn address_in(a: Option<&pb::Address>, field: &str) -> Result<StoredAddress> {
    let Some(a) = a else { return Ok(StoredAddress::default()) };
    let code_ok = a.country_code.is_empty()
        || (a.country_code.len() == 2 && a.country_code.bytes().all(|b| b.is_ascii_uppercase()));
    if !code_ok {
        return Err(ErpError::invalid(
            format!("{field}.country_code"),
            format!("{} is not an ISO 3166-1 alpha-2 code", quoted(&a.country_code)),
        ));
    }
    let address = Address {
        name: a.name.clone(),
        address1: a.address1.clone(),
        address2: a.address2.clone(),
        city: a.city.clone(),
        post_code: a.post_code.clone(),
        county: a.county.clone(),
        country_code: a.country_code.clone(),
        phone: a.phone.clone(),
    };
    Ok(StoredAddress { address: Some(address) })
}

/// A stored address as the API shows it.
pub fn address_out(s: &StoredAddress) -> Option<pb::Address> {
    let a = s.address.clone()?;
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

/// A change feed cursor whose key is a number (an entry or row id): 0 at the beginning.
pub fn parse_id_cursor(s: &str) -> Result<(i64, i64)> {
    let (xid, key) = parse_cursor(s)?;
    let id = if key.is_empty() {
        0
    } else {
        key.parse().map_err(|_| ErpError::invalid("cursor", "not a cursor of this feed"))?
    };
    Ok((xid, id))
}

/// A page token of the posted documents' lists (the last id of the page before), 0 for the
/// first page.
pub fn parse_page_token(s: &str) -> Result<i64> {
    if s.is_empty() {
        return Ok(0);
    }
    s.parse().map_err(|_| ErpError::invalid("page_token", "not a page token"))
}

/// The next page token of a page read with `LIMIT limit`: the last key of a full page, empty
/// after the last page.
pub fn next_token<R>(rows: &[R], limit: i64, key: impl Fn(&R) -> String) -> String {
    if rows.len() as i64 == limit {
        rows.last().map(key).unwrap_or_default()
    } else {
        String::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_address_is_stored_as_an_empty_object_and_reads_back_empty() {
        let none = serde_json::to_value(StoredAddress::default()).unwrap();
        assert_eq!(none, serde_json::json!({}));
        let back: StoredAddress = serde_json::from_value(none).unwrap();
        assert_eq!(address_out(&back), Some(pb::Address::default()));
        let given =
            address_in(Some(&pb::Address { city: "Oslo".into(), ..Default::default() }), "a")
                .unwrap();
        let v = serde_json::to_value(&given).unwrap();
        assert_eq!(v["city"], "Oslo");
        assert_eq!(v["name"], "");
        let back: StoredAddress = serde_json::from_value(v).unwrap();
        assert_eq!(back, given);
    }
}
