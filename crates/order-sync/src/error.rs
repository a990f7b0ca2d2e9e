//! How order-sync's failures reach callers: a task's failures as retryable or not (the job
//! queue retries only the former), database errors of the `Cues` API by class.

use shopsync_runtime::worker::TaskError;
use shopsync_store::errors::{DbErrorClass, classify};
use tonic::{Code, Status};

/// What stopped a run (one bad order never does: it is held with its reason).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}: {1}")]
    Api(&'static str, #[source] Status),
    #[error(transparent)]
    Shopify(#[from] shopsync_shopify::ShopifyError),
    #[error("order-sync database: {0}")]
    Db(#[source] sqlx::Error),
}

impl Failure {
    /// Whether the same run later may succeed without anyone changing anything.
    pub fn retryable(&self) -> bool {
        match self {
            Failure::Api(_, s) => !matches!(
                s.code(),
                Code::InvalidArgument | Code::PermissionDenied | Code::Unauthenticated
            ),
            Failure::Shopify(shopsync_shopify::ShopifyError::Unauthorized { .. }) => false,
            Failure::Shopify(shopsync_shopify::ShopifyError::BadUrl(_)) => false,
            Failure::Shopify(_) => true,
            Failure::Db(e) => classify(e).retryable(),
        }
    }
}

/// The run fails with `f` (retryable as [`Failure::retryable`] says).
pub fn fail(f: Failure) -> TaskError {
    let retryable = f.retryable();
    TaskError::Failed { source: anyhow::Error::new(f), retryable }
}

/// A database error of the `Cues` API: UNAVAILABLE or ABORTED when retrying may help,
/// else INTERNAL (the cause logged once, not sent).
pub fn db_status(e: &sqlx::Error) -> Status {
    match classify(e) {
        DbErrorClass::Unavailable => Status::unavailable("cues: the database is unavailable"),
        DbErrorClass::Conflict => Status::aborted("cues: a concurrent change got in the way"),
        DbErrorClass::Other => {
            tracing::error!(error = %e, "cues: database error");
            Status::internal("cues: database error")
        }
    }
}
