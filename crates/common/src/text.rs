//! Free text from callers: a length limit and no NUL bytes (PostgreSQL cannot store them),
//! and error messages that quote at most a short prefix of a bad value.

use crate::error::ValidationError;

/// How much of a bad value an error message quotes.
const QUOTE_MAX: usize = 40;

/// `value` must hold no NUL byte and at most `max` bytes.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.contains('\0') {
        return Err(ValidationError::new(field, "must not contain a NUL byte"));
    }
    if value.len() > max {
        return Err(ValidationError::new(
            field,
            format!("{} bytes, at most {max} allowed ({}…)", value.len(), quote(value)),
        ));
    }
    Ok(())
}

/// `value` in quotes, cut to a short prefix on a character boundary (`"abc…"`).
pub fn quote(value: &str) -> String {
    if value.len() <= QUOTE_MAX {
        return format!("{value:?}");
    }
    let mut end = QUOTE_MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}…", &value[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_nul_and_long_values_quoting_a_prefix() {
        assert!(check_text("f", "ok", 10).is_ok());
        assert_eq!(check_text("f", "a\0b", 10).unwrap_err().field, "f");
        let long = "é".repeat(1_000_000);
        let e = check_text("created_by", &long, 256).unwrap_err();
        assert_eq!(e.field, "created_by");
        assert!(e.to_string().len() < 200, "{e}");
    }
}
