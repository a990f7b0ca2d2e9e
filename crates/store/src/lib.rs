//! shopsync-store: the one PostgreSQL database. Migrations for every service's schema live
//! in `migrations/` (each service owns its own schema; see ARCHITECTURE.md), applied by
//! [`MIGRATOR`] at service start-up and by `#[sqlx::test]`.

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub mod errors;
pub use errors::{DbErrorClass, classify};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database url")]
    Url(#[source] sqlx::Error),
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// How a service's pool plans its prepared statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Plans {
    /// PostgreSQL's default: custom plans first, a generic one when it is no worse.
    #[default]
    Auto,
    /// Always the generic plan (`plan_cache_mode = force_generic_plan`). For services whose
    /// hot statements are key lookups and array inserts, where re-planning every execution
    /// costs more than it gains (the posting service: planning was 18 % of PostgreSQL's CPU
    /// per created document). Its queries must not need a parameter's value to use a partial
    /// index.
    Generic,
    /// Generic plans made only of key and row-address lookups: no sequential scans, hash or
    /// merge joins where an index path exists (`enable_seqscan`, `enable_hashjoin`,
    /// `enable_mergejoin` off). For the job queue's dispatcher, whose statements reach every
    /// table by key or address, a batch at a time: a generic plan is made once, from the
    /// tables' sizes at that moment, and a queue starts empty; one made then scanned whole
    /// tables that had grown to tens of thousands of rows (a claim took 100 ms instead of 1).
    /// With these settings the plan is the same whatever the sizes.
    Keyed,
}

/// Connect a pool and bring the schema up to date.
pub async fn connect(
    url: &str,
    max_connections: u32,
    application: &str,
) -> Result<PgPool, StoreError> {
    connect_with(url, max_connections, application, Plans::Auto).await
}

/// [`connect`] with a plan cache mode.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    application: &str,
    plans: Plans,
) -> Result<PgPool, StoreError> {
    let pool = pool_with(url, max_connections, application, plans).await?;
    startup_migrator().run(&pool).await.map_err(StoreError::Migrate)?;
    Ok(pool)
}

/// The migrations as services apply them at start-up. One a newer release already applied is
/// tolerated (`ignore_missing`): during a rolling deploy the replicas of the older release must
/// keep starting, and migrations only ever add what older code can ignore (ARCHITECTURE.md).
fn startup_migrator() -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate!("./migrations");
    m.set_ignore_missing(true);
    m
}

/// One round trip on a pooled connection (`SELECT 1`): can the service reach its database?
pub async fn ping(pool: PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(&pool).await.map(|_| ())
}

/// A pool without running migrations (a second pool of a service that already migrated).
pub async fn pool(
    url: &str,
    max_connections: u32,
    application: &str,
    plans: Plans,
) -> Result<PgPool, StoreError> {
    pool_with(url, max_connections, application, plans).await
}

async fn pool_with(
    url: &str,
    max_connections: u32,
    application: &str,
    plans: Plans,
) -> Result<PgPool, StoreError> {
    let mut opts =
        PgConnectOptions::from_str(url).map_err(StoreError::Url)?.application_name(application);
    match plans {
        Plans::Auto => {}
        Plans::Generic => opts = opts.options([("plan_cache_mode", "force_generic_plan")]),
        Plans::Keyed => {
            opts = opts.options([
                ("plan_cache_mode", "force_generic_plan"),
                ("enable_seqscan", "off"),
                ("enable_hashjoin", "off"),
                ("enable_mergejoin", "off"),
            ])
        }
    }
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings every connection it hands out by default: one more round trip per
        // query. A connection that died is noticed on use instead (its error is returned
        // and the connection dropped), and idle ones are recycled below.
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(300))
        .connect_with(opts)
        .await
        .map_err(StoreError::Connect)
}
