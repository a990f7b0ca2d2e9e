//! Errors of the ERP and posting APIs and how they map to gRPC codes.

use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum ErpError {
    /// Bad input; the message starts with the field ("lines[1].quantity: must be positive").
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// `expected_version` is stale.
    #[error("{0}")]
    Stale(String),
    /// The record's state forbids the call (blocked, already posted, being posted...).
    #[error("{0}")]
    Precondition(String),
    #[error("database error")]
    Db(#[from] sqlx::Error),
}

impl ErpError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }

    /// The database's error code (SQLSTATE), if this is a database error.
    pub fn sqlstate(&self) -> Option<String> {
        match self {
            Self::Db(sqlx::Error::Database(d)) => d.code().map(|c| c.into_owned()),
            _ => None,
        }
    }
}

impl From<ErpError> for Status {
    fn from(e: ErpError) -> Self {
        match e {
            ErpError::Invalid { .. } => Status::invalid_argument(e.to_string()),
            ErpError::NotFound(m) => Status::not_found(m),
            ErpError::AlreadyExists(m) => Status::already_exists(m),
            ErpError::Stale(m) => Status::aborted(m),
            ErpError::Precondition(m) => Status::failed_precondition(m),
            ErpError::Db(err) => {
                tracing::error!(error = %err, "database error");
                Status::unavailable("database error; retry later")
            }
        }
    }
}

pub type Result<T, E = ErpError> = std::result::Result<T, E>;

/// Unique violation on the named constraint?
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if d.code().as_deref() == Some("23505") && d.constraint() == Some(constraint))
}
