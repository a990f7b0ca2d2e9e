//! The scheduler's errors, and the one place they become gRPC statuses.

use crate::repo::RepoError;
use crate::shops::repo::ShopsRepoError;
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
    #[error("shop {0:?} not found")]
    ShopNotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error(transparent)]
    Shops(crate::shops::repo::ShopsRepoError),
}

impl ServiceError {
    /// A repository error about entry `id`: its row missing is [`ServiceError::EntryNotFound`].
    pub fn about_entry(id: Uuid) -> impl FnOnce(RepoError) -> ServiceError {
        move |e| match e {
            RepoError::Db(sqlx::Error::RowNotFound) => ServiceError::EntryNotFound(id),
            other => ServiceError::Repo(other),
        }
    }
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
            ServiceError::EntryNotFound(_)
            | ServiceError::RunNotFound(_)
            | ServiceError::ShopNotFound(_) => Status::not_found(e.to_string()),
            ServiceError::AlreadyExists(m) => Status::already_exists(m),
            ServiceError::FailedPrecondition(m) => Status::failed_precondition(m),
            ServiceError::Aborted(m) => Status::aborted(m),
            ServiceError::Repo(r) => {
                let class = r.class();
                db_status(class, anyhow::Error::from(r), "job queue request")
            }
            ServiceError::Shops(r) => {
                let class = match &r {
                    ShopsRepoError::Db(e) => shopsync_store::classify(e),
                    ShopsRepoError::Corrupt { .. } => DbErrorClass::Other,
                };
                db_status(class, anyhow::Error::from(r), "shops request")
            }
        }
    }
}

/// A database failure as a status by its class, with its cause chain logged here, once.
fn db_status(class: DbErrorClass, e: anyhow::Error, what: &str) -> Status {
    match class {
        DbErrorClass::Unavailable => {
            tracing::warn!(error = ?e, "{what}: database unavailable");
            Status::unavailable("database unavailable; retry later")
        }
        DbErrorClass::Conflict => {
            tracing::info!(error = ?e, "{what}: concurrent write");
            Status::aborted("a concurrent change got in the way; retry")
        }
        DbErrorClass::Other => {
            tracing::error!(error = ?e, "{what} failed");
            Status::internal("internal error")
        }
    }
}
