use crate::repo::RepoError;
use shopsync_common::ValidationError;
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

/// The one place scheduler errors become gRPC statuses. Internal errors go out as a generic
/// message; their cause chain is logged here, once.
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
                tracing::error!(error = ?anyhow::Error::from(r), "job queue request failed");
                Status::internal("internal error")
            }
            ServiceError::Shops(r) => {
                tracing::error!(error = ?anyhow::Error::from(r), "shops request failed");
                Status::internal("internal error")
            }
        }
    }
}
