//! Errors of the ERP and posting APIs, and the one place they become gRPC statuses.

use shopsync_proto::pb;
use shopsync_store::DbErrorClass;
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

    /// How one document of a batch reports this error; Err for an error that is not the
    /// document's (the database), which fails the whole call.
    pub fn document_error(self) -> std::result::Result<pb::DocumentError, ErpError> {
        use pb::DocumentErrorCode as Code;
        let message = self.to_string();
        let (code, field) = match self {
            ErpError::Invalid { field, .. } => (Code::InvalidArgument, field),
            ErpError::Precondition(_) => (Code::FailedPrecondition, String::new()),
            ErpError::AlreadyExists(_) => (Code::AlreadyExists, String::new()),
            other => return Err(other),
        };
        Ok(pb::DocumentError { code: code as i32, field, message })
    }

    /// The database's error code (SQLSTATE), if this is a database error.
    pub fn sqlstate(&self) -> Option<String> {
        match self {
            Self::Db(sqlx::Error::Database(d)) => d.code().map(|c| c.into_owned()),
            _ => None,
        }
    }
}

impl From<shopsync_common::ValidationError> for ErpError {
    fn from(e: shopsync_common::ValidationError) -> Self {
        Self::Invalid { field: e.field, message: e.reason }
    }
}

/// The one place ERP errors become gRPC statuses. Database errors by class: unreachable is
/// UNAVAILABLE, a concurrent transaction in the way (serialization failure, deadlock) ABORTED,
/// both worth a retry; anything else INTERNAL with a generic message, its cause chain logged
/// here, once.
impl From<ErpError> for Status {
    fn from(e: ErpError) -> Self {
        match e {
            ErpError::Invalid { .. } => Status::invalid_argument(e.to_string()),
            ErpError::NotFound(m) => Status::not_found(m),
            ErpError::AlreadyExists(m) => Status::already_exists(m),
            ErpError::Stale(m) => Status::aborted(m),
            ErpError::Precondition(m) => Status::failed_precondition(m),
            ErpError::Db(err) => match shopsync_store::classify(&err) {
                DbErrorClass::Unavailable => {
                    tracing::warn!(error = ?anyhow::Error::from(err), "erp request: database unavailable");
                    Status::unavailable("database unavailable; retry later")
                }
                DbErrorClass::Conflict => {
                    tracing::info!(error = ?anyhow::Error::from(err), "erp request: concurrent write");
                    Status::aborted("a concurrent change got in the way; retry")
                }
                DbErrorClass::Other => {
                    tracing::error!(error = ?anyhow::Error::from(err), "erp request failed");
                    Status::internal("internal error")
                }
            },
        }
    }
}

pub type Result<T, E = ErpError> = std::result::Result<T, E>;

/// A lock taken with NOWAIT was held by another transaction?
pub fn is_lock_not_available(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("55P03"))
}

/// Unique violation on the named constraint?
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if d.code().as_deref() == Some("23505") && d.constraint() == Some(constraint))
}
