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
#[non_exhaustive]
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
    /// A mutation that is not idempotent failed in a way that leaves its outcome unknown (a
    /// timeout, a 5xx, an answer cut off): the shop may or may not have applied it, so it was
    /// not sent again. `reconcile`: read the shop's state (e.g. the fulfillment orders'
    /// remaining quantities) before deciding to send it again.
    #[error(
        "{operation}: outcome unknown ({cause}); not sent again because it is not idempotent: read the shop's state to reconcile before retrying"
    )]
    Ambiguous { operation: &'static str, reconcile: bool, cause: String },
    /// A bulk operation's file did not hold the objects its `objectCount` announced.
    #[error("{operation}: bulk result {id} is short: {read} objects read, {expected} announced")]
    BulkShort { operation: &'static str, id: String, expected: u64, read: u64 },
    /// A line of a bulk result was longer than the client accepts.
    #[error("{operation}: bulk result line {line} is longer than {max} bytes")]
    BulkLineTooLong { operation: &'static str, line: u64, max: usize },
    /// A bulk operation ended in another state than COMPLETED, or could not be read.
    #[error("{operation}: bulk operation {id}: {reason}")]
    Bulk { operation: &'static str, id: String, reason: String },
    /// An answer lacked what the operation needs (e.g. the order whose lines were being read).
    #[error("{operation}: the answer has no {what}")]
    Missing { operation: &'static str, what: String },
    /// A plain list (not a connection, so it cannot be paged) came back full: it may have
    /// been cut, and a short list is never taken for the whole.
    #[error("{operation}: {what} may be cut at the list's cap")]
    Truncated { operation: &'static str, what: String },
    #[error("invalid shop address {0:?}")]
    BadUrl(String),
}

impl ShopifyError {
    /// Whether a run that failed with it may succeed later with nothing changed: not when the
    /// token is refused or the shop's URL is wrong (someone has to fix those).
    pub fn retryable_run(&self) -> bool {
        !matches!(self, ShopifyError::Unauthorized { .. } | ShopifyError::BadUrl(_))
    }

    /// The operation may have been applied: read the shop's state before sending it again.
    pub fn must_reconcile(&self) -> bool {
        matches!(self, ShopifyError::Ambiguous { reconcile: true, .. })
    }
}
