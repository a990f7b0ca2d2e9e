//! Money in a shop's own currency: ISO 4217 minor units (JPY and KRW 0, EUR 2, KWD 3), exact
//! integer arithmetic in those units, and amounts written with exactly that many decimals
//! (`"1500"` JPY, `"29.90"` EUR, `"1.250"` KWD), as a single-currency Shopify shop has them.

/// ISO 4217 minor units of the currencies that do not have two (ISO 4217 list one). Every
/// other code of Shopify's `CurrencyCode` enum has two.
const MINOR_UNITS: &[(&str, u32)] = &[
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
];

/// Rough units of a currency per euro, so seeded prices look like prices there (a 20 EUR
/// shirt is 3,200 JPY, 6.600 KWD). Others use 1.
const PER_EURO: &[(&str, f64)] = &[
    ("JPY", 160.0),
    ("KRW", 1450.0),
    ("ISK", 150.0),
    ("CLP", 1000.0),
    ("VND", 27000.0),
    ("KWD", 0.33),
    ("BHD", 0.4),
    ("OMR", 0.4),
    ("JOD", 0.75),
    ("TND", 3.3),
    ("USD", 1.1),
    ("GBP", 0.85),
    ("DKK", 7.45),
    ("SEK", 11.5),
];

thread_local! {
    /// The decimals of the shop whose request this thread is answering (set when the
    /// GraphQL handler locks the shop, and by `Exec::new`): the resolvers' and mutations'
    /// amount helpers work in them.
    static CURRENT_UNITS: std::cell::Cell<u32> = const { std::cell::Cell::new(2) };
}

/// Answer the rest of this request in a currency with `units` decimals.
pub fn set_current_units(units: u32) {
    CURRENT_UNITS.with(|u| u.set(units));
}

/// The decimals of the shop being answered (2 outside a request).
pub fn current_units() -> u32 {
    CURRENT_UNITS.with(|u| u.get())
}

/// A decimal amount from a client (a string or a number) written with the shop's decimals,
/// rounded half away from zero as Shopify rounds; None unless a decimal number.
pub fn input(v: &serde_json::Value, units: u32) -> Option<String> {
    let s = match v {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    to_minor(&s, units).map(|m| format(m, units))
}

/// The number of decimals of a currency.
pub fn minor_units(code: &str) -> u32 {
    MINOR_UNITS.iter().find(|(c, _)| *c == code).map_or(2, |(_, u)| *u)
}

/// Whether `code` is a value of Shopify's `CurrencyCode` enum.
pub fn is_currency(code: &str) -> bool {
    crate::schema::schema()
        .get_enum("CurrencyCode")
        .is_some_and(|e| e.values.keys().any(|v| v.as_str() == code))
}

/// A decimal string as an integer count of minor units (`"12.5"` at 2 units is 1250). More
/// decimals than `units` round half away from zero; None unless a plain decimal number.
pub fn to_minor(amount: &str, units: u32) -> Option<i64> {
    let (neg, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = 10i64.checked_pow(units)?;
    let mut minor = whole.parse::<i64>().ok()?.checked_mul(scale)?;
    let kept: String = frac.chars().chain(std::iter::repeat('0')).take(units as usize).collect();
    if !kept.is_empty() {
        minor = minor.checked_add(kept.parse::<i64>().ok()?)?;
    }
    if frac.as_bytes().get(units as usize).is_some_and(|d| *d >= b'5') {
        minor = minor.checked_add(1)?;
    }
    Some(if neg { -minor } else { minor })
}

/// Whether `amount` has at most `units` decimals (nothing would be rounded away).
pub fn exact(amount: &str, units: u32) -> bool {
    let frac = amount.split_once('.').map_or("", |(_, f)| f);
    frac.trim_end_matches('0').len() <= units as usize && to_minor(amount, units).is_some()
}

/// Minor units as a decimal string with exactly `units` decimals (`1250`, 2 → `"12.50"`).
pub fn format(minor: i64, units: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    if units == 0 {
        return format!("{sign}{m}");
    }
    let scale = 10u64.pow(units);
    format!("{sign}{}.{:0w$}", m / scale, m % scale, w = units as usize)
}

/// An amount rewritten with exactly `units` decimals (`"0.00"` JPY is `"0"`); unparsable
/// amounts are left as they are.
pub fn normalize(amount: &str, units: u32) -> String {
    to_minor(amount, units).map_or_else(|| amount.to_owned(), |m| format(m, units))
}

/// A euro figure in cents as minor units of `code`, at a rough rate (seeding only): rounded to
/// whole tens in currencies without decimals whose unit is small (JPY, KRW).
pub fn from_euro_cents(cents: i64, code: &str) -> i64 {
    let rate = PER_EURO.iter().find(|(c, _)| *c == code).map_or(1.0, |(_, r)| *r);
    let units = minor_units(code);
    let minor = cents as f64 / 100.0 * rate * 10f64.powi(units as i32);
    if units == 0 && rate >= 100.0 {
        ((minor / 10.0).round() * 10.0) as i64
    } else {
        minor.round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_per_currency() {
        assert_eq!((minor_units("JPY"), minor_units("EUR"), minor_units("KWD")), (0, 2, 3));
        assert!(is_currency("JPY") && is_currency("KWD") && !is_currency("XYZ"));
    }

    #[test]
    fn amounts_round_trip_at_the_currency_decimals() {
        assert_eq!(to_minor("12.5", 2), Some(1250));
        assert_eq!(to_minor("1500", 0), Some(1500));
        assert_eq!(to_minor("1500.0", 0), Some(1500));
        assert_eq!(to_minor("1.25", 3), Some(1250));
        assert_eq!(to_minor("0.005", 2), Some(1));
        assert_eq!(to_minor("-4.95", 2), Some(-495));
        assert_eq!(to_minor("x", 2), None);
        assert_eq!(format(1250, 3), "1.250");
        assert_eq!(format(-495, 2), "-4.95");
        assert_eq!(format(1500, 0), "1500");
        assert_eq!(normalize("0.00", 0), "0");
        assert!(exact("12.50", 2) && exact("1500.0", 0) && !exact("0.5", 0));
    }

    #[test]
    fn euro_figures_convert_to_plausible_prices() {
        assert_eq!(from_euro_cents(2000, "EUR"), 2000);
        assert_eq!(from_euro_cents(2000, "JPY"), 3200);
        assert_eq!(from_euro_cents(2000, "KWD"), 6600);
    }
}
