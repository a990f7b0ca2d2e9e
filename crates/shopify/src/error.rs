use serde::Deserialize;

/// A top-level GraphQL error as Shopify sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct GraphQlError {
    pub message: String,
    #[serde(default)]
    pub extensions: Option<serde_json::Value>,
}

impl GraphQlError {
    pub fn code(&self) -> Option<&str> {
        self.extensions.as_ref()?.get("code")?.as_str()
    }
}

/// A business failure a mutation reports in `userErrors`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct UserError {
    #[serde(default)]
    pub field: Option<Vec<String>>,
    pub message: String,
    #[serde(default)]
    pub code: Option<String>,
}

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl std::fmt::Display for GraphQlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code() {
            Some(c) => write!(f, "{} ({c})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = self.field.as_ref().map(|p| p.join(".")).unwrap_or_default();
        match (&self.code, field.is_empty()) {
            (Some(c), false) => write!(f, "{field}: {} ({c})", self.message),
            (Some(c), true) => write!(f, "{} ({c})", self.message),
            (None, false) => write!(f, "{field}: {}", self.message),
            (None, true) => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShopifyError {
    #[error("{operation}: the shop refused the access token (HTTP 401)")]
    Unauthorized { operation: &'static str },
    #[error("{operation}: HTTP {status}: {body}")]
    Http { operation: &'static str, status: u16, body: String },
    #[error("{operation}: {}", list(.errors))]
    GraphQl { operation: &'static str, errors: Vec<GraphQlError> },
    #[error("{operation}: {}", list(.errors))]
    UserErrors { operation: &'static str, errors: Vec<UserError> },
    #[error(
        "{operation}: requested cost {cost} is over Shopify's single-query limit; use smaller pages or a bulk operation"
    )]
    MaxCostExceeded { operation: &'static str, cost: f64 },
    #[error("{operation}: unexpected response: {source}")]
    Decode { operation: &'static str, source: serde_json::Error },
    #[error("{operation}: gave up after {attempts} attempts: {last}")]
    GaveUp { operation: &'static str, attempts: u32, last: String },
    #[error("invalid shop address {0:?}")]
    BadUrl(String),
}
