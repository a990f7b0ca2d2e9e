//! The scheduler's SQL: the only module that touches the `scheduler` schema, one submodule per
//! seam of the queue (entries, claim, complete, reaper, runs).
//!
//! Invariants kept by every statement here: `entries.next_run_at IS NOT NULL` exactly when an
//! entry may be claimed, and exactly then the entry has a row in `scheduler.due` (the narrow
//! queue the claims read, so that claims and completions update entries in place, HOT).
//! Claiming is one statement (free entries) or one short transaction (entries that need
//! category/resource locks); completion is one statement per batch, fenced by the attempt's
//! token so a stale attempt can never overwrite a newer one.

mod claim;
mod complete;
mod entries;
mod reaper;
mod runs;

pub use claim::{ClaimedRun, FreeClaim};
pub use complete::{Beat, CompleteResult, Completion, Heartbeat, Progress};
pub use entries::{Entry, EntryFilter, EntryState, NewEntry};
pub use runs::{RunFilter, RunRow};

use sqlx::{PgPool, Postgres, Transaction};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

pub const WAKE_CHANNEL: &str = "shopsync_scheduler";
pub const CANCEL_CHANNEL: &str = "shopsync_cancel";

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("stored entry {id} is unreadable")]
    Corrupt {
        id: Uuid,
        #[source]
        source: serde_json::Error,
    },
    /// A claim answered an attempt it could not describe (its spec row is missing, or the
    /// claim omitted a spec the claimer did not send). The claim's attempts are left to the
    /// lease's expiry, and then reaped and retried.
    #[error("claim {claim} answered attempt {run} without its spec")]
    ClaimIncomplete { claim: i64, run: Uuid },
    /// A statement that did several callers' work failed (a batch of creates, see creates.rs):
    /// each of them gets this.
    #[error("a batched statement failed")]
    Batch(#[source] std::sync::Arc<RepoError>),
}

#[derive(Clone)]
pub struct Repo {
    pool: PgPool,
    /// Claims and completions: the dispatcher's hot statements, on connections of their own
    /// that plan them as key lookups (`shopsync_store::Plans::Keyed`).
    keyed: PgPool,
    /// Specs parsed from claims, by content hash.
    specs: Arc<Mutex<claim::SpecCache>>,
}

impl Repo {
    pub fn new(pool: PgPool) -> Self {
        Self { keyed: pool.clone(), pool, specs: Arc::default() }
    }

    /// A repository whose claims and completions use `keyed` (see `dispatcher_pool`).
    pub fn with_keyed(pool: PgPool, keyed: PgPool) -> Self {
        Self { pool, keyed, specs: Arc::default() }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A query whose binds are pushed by a column struct's `bind` (in its `$n` order).
type PgQueryAs<'q, O> = sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>;

/// A lease or retention as the milliseconds the SQL multiplies an interval by.
fn ms(d: Duration) -> f64 {
    d.as_millis() as f64
}

/// A wake-up for every scheduler listening, outside any transaction.
pub async fn notify_wake(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, 'new')").bind(WAKE_CHANNEL).execute(pool).await?;
    Ok(())
}

async fn notify(
    tx: &mut Transaction<'_, Postgres>,
    channel: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(&mut **tx).await?;
    Ok(())
}

/// Make `scheduler.due` match the entries' `next_run_at` (see the migration's `sync_due`).
async fn sync_due(tx: &mut Transaction<'_, Postgres>, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT scheduler.sync_due($1)").bind(ids).execute(&mut **tx).await?;
    Ok(())
}

/// The kinds of row a statement answers with, as the one-letter text tag its first column
/// carries: an enum with each variant's letter (`tag`, for the SQL), decoded from the column
/// (an unknown letter fails the row).
macro_rules! row_kinds {
    ($(#[$m:meta])* enum $name:ident { $($(#[$vm:meta])* $var:ident = $tag:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum $name {
            $($(#[$vm])* $var,)+
        }

        impl $name {
            /// The letter the SQL writes for this kind.
            #[allow(dead_code)]
            const fn tag(self) -> &'static str {
                match self {
                    $(Self::$var => $tag,)+
                }
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                v: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                match <&str as sqlx::Decode<sqlx::Postgres>>::decode(v)? {
                    $($tag => Ok(Self::$var),)+
                    other => Err(format!("unknown row kind {other:?}").into()),
                }
            }
        }
    };
}
use row_kinds;
