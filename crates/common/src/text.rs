//! Free text from requests: the checks every string field of every API request goes through
//! (a length limit and no NUL byte, which PostgreSQL cannot store in `text`), and how an error
//! message quotes a bad value (a short prefix, so a 1 MB value never comes back whole in a
//! status that must fit in gRPC metadata).

use crate::error::ValidationError;

/// Codes, numbers, keys, names, e-mail addresses, tokens: at most this many characters.
pub const SHORT: usize = 255;
/// Longer free text (a failure reason): at most this many characters.
pub const LONG: usize = 2000;
/// Values of a list field (`skus`, `tags`...) in one request: at most this many.
pub const LIST: usize = 1000;
/// Characters of a bad value an error message quotes.
pub const QUOTE: usize = 40;

/// What is wrong with a string, without naming the field (see [`validate_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    Nul,
    TooLong { max: usize },
}

impl TextProblem {
    pub fn reason(self) -> String {
        match self {
            TextProblem::Nul => "must not contain NUL (\\0) characters".to_owned(),
            TextProblem::TooLong { max } => format!("at most {max} characters"),
        }
    }
}

/// The problem with `value`, if any: a NUL byte, or more than `max` characters.
pub fn text_problem(value: &str, max: usize) -> Option<TextProblem> {
    if value.as_bytes().contains(&0) {
        return Some(TextProblem::Nul);
    }
    // Bytes bound characters from above: count only when the bytes could be too many.
    if value.len() > max && value.chars().count() > max {
        return Some(TextProblem::TooLong { max });
    }
    None
}

/// Check a request's string field: no NUL byte, at most `max` characters. The error names
/// `field` and never quotes the value.
pub fn validate_text(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    match text_problem(value, max) {
        None => Ok(()),
        Some(p) => Err(ValidationError::new(field, p.reason())),
    }
}

/// [`validate_text`] for every value of a list field (`field[i]`), and at most [`LIST`] of them.
pub fn validate_texts(field: &str, values: &[String], max: usize) -> Result<(), ValidationError> {
    if values.len() > LIST {
        return Err(ValidationError::new(field, format!("at most {LIST} values")));
    }
    for (i, v) in values.iter().enumerate() {
        if let Some(p) = text_problem(v, max) {
            return Err(ValidationError::new(format!("{field}[{i}]"), p.reason()));
        }
    }
    Ok(())
}

/// A value quoted for an error message: Rust string syntax (control characters escaped), at
/// most [`QUOTE`] characters of it, and `…` with the total length when it is longer.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTE) {
        None => format!("{value:?}"),
        Some((end, _)) => {
            format!("{:?}… ({} characters)", &value[..end], value.chars().count())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_length_are_refused_naming_the_field() {
        assert_eq!(validate_text("description", "fine", 10), Ok(()));
        let e = validate_text("spec.description", "a\0b", 10).unwrap_err();
        assert_eq!(e.field, "spec.description");
        assert!(e.reason.contains("NUL"), "{e}");
        let e = validate_text("created_by", &"x".repeat(1 << 20), SHORT).unwrap_err();
        assert_eq!(e.to_string(), "created_by: at most 255 characters");
        // Characters, not bytes.
        assert_eq!(validate_text("name", &"é".repeat(10), 10), Ok(()));
        let e = validate_texts("tags", &["a".into(), "b\0".into()], 10).unwrap_err();
        assert_eq!(e.field, "tags[1]");
    }

    #[test]
    fn quotes_are_short() {
        assert_eq!(quoted("ab\"c"), r#""ab\"c""#);
        let q = quoted(&"x".repeat(1 << 20));
        assert!(q.len() < 80, "{q}");
        assert!(q.ends_with("… (1048576 characters)"), "{q}");
        assert_eq!(quoted("a\0b"), r#""a\0b""#);
        // Never splits a character.
        assert!(quoted(&"é".repeat(100)).starts_with("\"éé"));
    }
}
