//! How inventory-sync's failures reach callers: a task's failures as retryable or not (the job
//! queue retries only the former), and the one place they become gRPC statuses. One bad
//! record never fails a run: it is reported with its reason.

use shopsync_runtime::shop::ShopContextError;
use shopsync_runtime::worker::TaskError;
use shopsync_store::errors::{DbErrorClass, classify};
use tonic::{Code, Status};

/// What stopped a run or a follower's round.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}: {1}")]
    Api(&'static str, #[source] tonic::Status),
    #[error(transparent)]
    Shopify(#[from] shopsync_shopify::ShopifyError),
    #[error("inventory database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("shop context: {0}")]
    Context(#[from] shopsync_runtime::shop::ShopContextError),
    #[error("{0}")]
    Unexpected(String),
}

impl Failure {
    /// Whether the same run later may succeed without anyone changing anything.
    pub fn retryable(&self) -> bool {
        match self {
            Failure::Api(_, s) => shopsync_runtime::worker::retryable_status(s),
            Failure::Shopify(e) => e.retryable_run(),
            Failure::Db(e) => classify(e).retryable(),
            Failure::Context(e) => e.retryable(),
            Failure::Unexpected(_) => true,
        }
    }
}

impl From<Failure> for TaskError {
    fn from(f: Failure) -> Self {
        let retryable = f.retryable();
        TaskError::Failed { source: anyhow::Error::new(f), retryable }
    }
}

/// The one place failures become statuses: an unknown shop NOT_FOUND, a shop that cannot sync
/// FAILED_PRECONDITION, what may pass UNAVAILABLE; anything else INTERNAL with a generic
/// message, its cause chain logged here, once.
impl From<Failure> for Status {
    fn from(f: Failure) -> Self {
        match &f {
            Failure::Context(ShopContextError::Unknown(_)) => Status::not_found(f.to_string()),
            Failure::Context(
                ShopContextError::Disabled(_)
                | ShopContextError::NoToken(_)
                | ShopContextError::Secret { .. },
            ) => Status::failed_precondition(f.to_string()),
            Failure::Db(e) if classify(e) == DbErrorClass::Unavailable => {
                Status::unavailable("inventory database unavailable")
            }
            Failure::Api(_, s) if s.code() == Code::Unavailable => {
                Status::unavailable(f.to_string())
            }
            Failure::Shopify(_) => Status::unavailable(f.to_string()),
            _ => {
                tracing::error!(error = ?anyhow::Error::new(f), "stock api failed");
                Status::internal("internal error")
            }
        }
    }
}
