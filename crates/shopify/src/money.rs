//! Money as Shopify sends it: a decimal string (`Decimal`/`Money` scalars, e.g. `"29.99"`)
//! with a `CurrencyCode`. Amounts are exact decimals ([`rust_decimal::Decimal`]), never
//! floats, and each currency has its own number of minor units (ISO 4217: JPY 0, EUR 2,
//! KWD 3), never an assumed two.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A currency by its ISO 4217 code (Shopify's `CurrencyCode` enum values are these codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurrencyCode([u8; 4]);

/// ISO 4217 minor units of the currencies that do not have two (ISO 4217 list one,
/// "Minor unit" column). Every other code in Shopify's `CurrencyCode` enum has two, including
/// Shopify's non-ISO codes (`JEP`, `KID`, `USDC`). `XXX` (no currency) is treated as two.
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
    ("CLF", 4),
    ("UYW", 4),
];

impl CurrencyCode {
    /// `code` must be three or four ASCII capital letters (`EUR`, `USDC`).
    pub fn new(code: &str) -> Result<Self, MoneyError> {
        let b = code.as_bytes();
        if !(3..=4).contains(&b.len()) || !b.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::Currency(code.chars().take(16).collect()));
        }
        let mut a = [0u8; 4];
        a[..b.len()].copy_from_slice(b);
        Ok(Self(a))
    }

    pub fn as_str(&self) -> &str {
        let n = if self.0[3] == 0 { 3 } else { 4 };
        // Only ASCII capitals are ever stored.
        std::str::from_utf8(&self.0[..n]).unwrap_or("XXX")
    }

    /// The number of digits after the decimal point (JPY 0, EUR 2, KWD 3).
    pub fn minor_units(&self) -> u32 {
        MINOR_UNITS.iter().find(|(c, _)| *c == self.as_str()).map_or(2, |(_, n)| *n)
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CurrencyCode {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, MoneyError> {
        Self::new(s)
    }
}

impl Serialize for CurrencyCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0:?} is not a currency code")]
    Currency(String),
    #[error("{0:?} is not a decimal amount")]
    Amount(String),
    #[error("{amount} has more decimals than {currency}'s {minor_units} minor units")]
    TooPrecise { amount: Decimal, currency: CurrencyCode, minor_units: u32 },
    #[error("{amount} {currency} does not fit in 64-bit minor units")]
    Overflow { amount: Decimal, currency: CurrencyCode },
}

/// An amount in a currency, held at exactly the currency's minor units (`1500 JPY`,
/// `29.90 EUR`, `1.250 KWD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: CurrencyCode,
}

impl Money {
    /// `amount` in `currency`; an amount with more (non-zero) decimals than the currency has
    /// minor units is an error (`0.5 JPY`), never rounded away.
    pub fn new(amount: Decimal, currency: CurrencyCode) -> Result<Self, MoneyError> {
        let minor_units = currency.minor_units();
        let normal = amount.normalize();
        if normal.scale() > minor_units {
            return Err(MoneyError::TooPrecise { amount, currency, minor_units });
        }
        let mut amount = normal;
        amount.rescale(minor_units);
        Ok(Self { amount, currency })
    }

    /// Parse Shopify's decimal string (`"29.99"`, `"1500.0"`) in `currency` (`"EUR"`).
    pub fn parse(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        let currency = CurrencyCode::new(currency)?;
        let value = Decimal::from_str(amount.trim())
            .map_err(|_| MoneyError::Amount(amount.chars().take(40).collect()))?;
        Self::new(value, currency)
    }

    /// From an integer count of minor units (`2990` EUR is 29.90 EUR, `1500` JPY is 1500 JPY).
    pub fn from_minor_units(units: i64, currency: CurrencyCode) -> Self {
        Self { amount: Decimal::new(units, currency.minor_units()), currency }
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> CurrencyCode {
        self.currency
    }

    /// The amount as an integer count of minor units (29.90 EUR is 2990, 1.250 KWD is 1250).
    pub fn minor_units(&self) -> Result<i64, MoneyError> {
        let m = self.amount.mantissa();
        i64::try_from(m)
            .map_err(|_| MoneyError::Overflow { amount: self.amount, currency: self.currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// As Shopify's `MoneyInput` / `MoneyV2`: `{"amount": "29.90", "currencyCode": "EUR"}`.
impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("MoneyV2", 2)?;
        st.serialize_field("amount", &self.amount.to_string())?;
        st.serialize_field("currencyCode", self.currency.as_str())?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct V2 {
            amount: Decimal,
            currency_code: CurrencyCode,
        }
        let v = V2::deserialize(d)?;
        Money::new(v.amount, v.currency_code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_currency_keeps_its_own_minor_units() {
        let jpy = Money::parse("1500", "JPY").unwrap();
        assert_eq!((jpy.to_string().as_str(), jpy.minor_units()), ("1500 JPY", Ok(1500)));
        // Shopify may print a zero-decimal amount with a trailing ".0".
        assert_eq!(Money::parse("1500.0", "JPY").unwrap(), jpy);
        let kwd = Money::parse("1.25", "KWD").unwrap();
        assert_eq!((kwd.to_string().as_str(), kwd.minor_units()), ("1.250 KWD", Ok(1250)));
        let eur = Money::parse("29.9", "EUR").unwrap();
        assert_eq!((eur.to_string().as_str(), eur.minor_units()), ("29.90 EUR", Ok(2990)));
        assert_eq!(Money::from_minor_units(2990, CurrencyCode::new("EUR").unwrap()), eur);
        assert_eq!(Money::from_minor_units(1250, CurrencyCode::new("KWD").unwrap()), kwd);
    }

    #[test]
    fn amounts_finer_than_the_currency_are_refused_not_rounded() {
        assert!(matches!(
            Money::parse("0.5", "JPY"),
            Err(MoneyError::TooPrecise { minor_units: 0, .. })
        ));
        assert!(matches!(Money::parse("1.2345", "KWD"), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(Money::parse("0.001", "EUR"), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(Money::parse("12,50", "EUR"), Err(MoneyError::Amount(_))));
        assert!(matches!(Money::parse("1", "eur"), Err(MoneyError::Currency(_))));
    }

    #[test]
    fn money_reads_and_writes_shopifys_moneyv2() {
        let m: Money = serde_json::from_str(r#"{"amount":"3.100","currencyCode":"KWD"}"#).unwrap();
        assert_eq!(m.minor_units(), Ok(3100));
        assert_eq!(
            serde_json::to_value(m).unwrap(),
            serde_json::json!({ "amount": "3.100", "currencyCode": "KWD" })
        );
        let bad = serde_json::from_str::<Money>(r#"{"amount":"10.5","currencyCode":"JPY"}"#);
        assert!(bad.is_err());
    }
}
