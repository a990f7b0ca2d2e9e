//! shopsync-store: the one PostgreSQL database. Migrations for every service's schema live
//! in `migrations/` (each service owns its own schema; see ARCHITECTURE.md), applied by
//! [`MIGRATOR`] at service start-up and by `#[sqlx::test]`.

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

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

/// Connect a pool and bring the schema up to date.
pub async fn connect(
    url: &str,
    max_connections: u32,
    application: &str,
) -> Result<PgPool, StoreError> {
    let pool = pool(url, max_connections, application).await?;
    MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
    Ok(pool)
}

/// A pool without running migrations (a second pool of a service that already migrated).
pub async fn pool(
    url: &str,
    max_connections: u32,
    application: &str,
) -> Result<PgPool, StoreError> {
    let opts =
        PgConnectOptions::from_str(url).map_err(StoreError::Url)?.application_name(application);
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
