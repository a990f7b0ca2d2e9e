//! How order-sync's failures reach callers: a task's failures as retryable or not (the job
//! queue retries only the former), and the `Cues` API's errors, which become gRPC statuses
//! here and nowhere else (database errors by class, the cause chain logged here, once).

use shopsync_common::ValidationError;
use shopsync_runtime::worker::TaskError;
use shopsync_store::errors::{DbErrorClass, classify};
use tonic::Status;

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
            Failure::Api(_, s) => shopsync_runtime::worker::retryable_status(s),
            Failure::Shopify(e) => e.retryable_run(),
            Failure::Db(e) => classify(e).retryable(),
        }
    }
}

/// The run fails with `f` (retryable as [`Failure::retryable`] says).
pub fn fail(f: Failure) -> TaskError {
    let retryable = f.retryable();
    TaskError::Failed { source: anyhow::Error::new(f), retryable }
}

/// What stopped a `Cues` request.
#[derive(Debug, thiserror::Error)]
pub enum CueError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("job queue: {0}")]
    Queue(Status),
    /// A request string failed its check (NUL byte, length): the message names the field.
    #[error("{0}")]
    Text(#[from] ValidationError),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("order-sync has no scheduler address (SHOPSYNC_SHOPS_URL)")]
    NoQueue,
    #[error("posting service: {0}")]
    Posting(Status),
    #[error("order-sync has no posting service address (SHOPSYNC_POSTING_URL)")]
    NoPosting,
    #[error("{0}")]
    Busy(String),
}

impl CueError {
    /// A request field that is not what it must be.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        CueError::Invalid { field, reason: reason.into() }
    }
}

/// The one place `Cues` errors become gRPC statuses. The job queue's and the posting
/// service's statuses keep their code (their message says which); a database that cannot be
/// reached is UNAVAILABLE and a concurrent write that got in the way ABORTED (both: retry);
/// other database errors go out as a generic message, their cause chain logged here, once.
impl From<CueError> for Status {
    fn from(e: CueError) -> Self {
        match e {
            CueError::Invalid { .. } | CueError::Text(_) => Status::invalid_argument(e.to_string()),
            CueError::NoQueue | CueError::NoPosting => Status::failed_precondition(e.to_string()),
            CueError::Queue(s) => Status::new(s.code(), format!("job queue: {}", s.message())),
            CueError::Posting(s) => Status::new(s.code(), format!("posting: {}", s.message())),
            CueError::Busy(m) => Status::aborted(m),
            CueError::Db(err) => db_status(err),
        }
    }
}

/// A database error of the `Cues` API by its class.
fn db_status(e: sqlx::Error) -> Status {
    match classify(&e) {
        DbErrorClass::Unavailable => {
            tracing::warn!(error = ?anyhow::Error::from(e), "cues: database unavailable");
            Status::unavailable("cues: the database is unavailable")
        }
        DbErrorClass::Conflict => {
            tracing::info!(error = ?anyhow::Error::from(e), "cues: concurrent write");
            Status::aborted("cues: a concurrent change got in the way")
        }
        DbErrorClass::Other => {
            tracing::error!(error = ?anyhow::Error::from(e), "cues: database error");
            Status::internal("cues: database error")
        }
    }
}
