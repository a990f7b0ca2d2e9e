use crate::repo::RepoError;
use shopsync_common::ValidationError;
use shopsync_store::DbErrorClass;
use tonic::Status;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("entry {0} not found")]
    EntryNotFound(Uuid),
    #[error("run {0} not found")]
    RunNotFound(Uuid),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Aborted(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl RepoError {
    /// The class of a database error; anything else is [`DbErrorClass::Other`].
    pub fn class(&self) -> DbErrorClass {
        match self {
            RepoError::Db(e) => shopsync_store::classify(e),
            RepoError::Batch(e) => e.class(),
            _ => DbErrorClass::Other,
        }
    }
}

/// The one place scheduler errors become gRPC statuses. A database that cannot be reached is
/// UNAVAILABLE and a concurrent write that got in the way ABORTED (both: retry). Other
/// internal errors go out as a generic message; their cause chain is logged here, once.
impl From<ServiceError> for Status {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(v) => Status::invalid_argument(v.to_string()),
            ServiceError::EntryNotFound(_) | ServiceError::RunNotFound(_) => {
                Status::not_found(e.to_string())
            }
            ServiceError::FailedPrecondition(m) => Status::failed_precondition(m),
            ServiceError::Aborted(m) => Status::aborted(m),
            ServiceError::Repo(r) => match r.class() {
                DbErrorClass::Unavailable => {
                    tracing::warn!(error = ?anyhow::Error::from(r), "job queue request: database unavailable");
                    Status::unavailable("database unavailable; retry later")
                }
                DbErrorClass::Conflict => {
                    tracing::info!(error = ?anyhow::Error::from(r), "job queue request: concurrent write");
                    Status::aborted("a concurrent change got in the way; retry")
                }
                DbErrorClass::Other => {
                    tracing::error!(error = ?anyhow::Error::from(r), "job queue request failed");
                    Status::internal("internal error")
                }
            },
        }
    }
}
