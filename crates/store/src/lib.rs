//! shopsync-store: pools for the one PostgreSQL database, and the migration runner.
//!
//! Each schema's owner keeps its migrations in its own crate (`crates/scheduler/migrations`,
//! `crates/posting/migrations`, `crates/shopify/migrations`) with its own version table inside
//! its schema (`scheduler._sqlx_migrations`; the crate's `sqlx.toml` says so for
//! `sqlx::migrate!`), and applies only those: see [`Schema`] and [`migrate`].

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// A schema and the migrations of its owner.
#[derive(Debug)]
pub struct Schema {
    pub name: &'static str,
    /// `sqlx::migrate!()` of the owner's `migrations/`; its crate's `sqlx.toml` names the
    /// version table `<name>._sqlx_migrations` (the table [`migrate`] uses).
    pub migrator: &'static Migrator,
}

impl Schema {
    /// The owner's version table.
    pub fn version_table(&self) -> String {
        format!("{}._sqlx_migrations", self.name)
    }
}

pub mod errors;
pub use errors::{DbErrorClass, classify};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database url")]
    Url(#[source] sqlx::Error),
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("adopting versions applied by an older release failed")]
    Adopt(#[source] sqlx::Error),
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
    schemas: &[&Schema],
) -> Result<PgPool, StoreError> {
    connect_with(url, max_connections, application, Plans::Auto, schemas).await
}

/// [`connect`] with a plan cache mode.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    application: &str,
    plans: Plans,
    schemas: &[&Schema],
) -> Result<PgPool, StoreError> {
    let pool = pool_with(url, max_connections, application, plans).await?;
    for s in schemas {
        migrate(&pool, s).await?;
    }
    Ok(pool)
}

/// Bring `schema` up to date with its owner's migrations, as a service does at start-up. One
/// a newer release already applied is tolerated (`ignore_missing`): during a rolling deploy the
/// replicas of the older release must keep starting, so a migration of a rolling service may
/// only add what older code can ignore (expand, then contract later). The scheduler's are the
/// exception: its Deployment is `Recreate` (ARCHITECTURE.md).
///
/// A database migrated by an older release keeps every version in `public._sqlx_migrations`;
/// the owner's versions are copied from there into its own table first, once, so nothing is
/// applied twice.
pub async fn migrate(pool: &PgPool, schema: &Schema) -> Result<(), StoreError> {
    adopt_legacy_versions(pool, schema).await.map_err(StoreError::Adopt)?;
    let mut m = Migrator::with_migrations(schema.migrator.iter().cloned().collect());
    m.dangerous_set_table_name(schema.version_table());
    m.create_schema(schema.name);
    m.set_ignore_missing(true);
    m.run(pool).await.map_err(StoreError::Migrate)
}

async fn adopt_legacy_versions(pool: &PgPool, schema: &Schema) -> Result<(), sqlx::Error> {
    let table = schema.version_table();
    let mut tx = pool.begin().await?;
    // The same lock for every owner: adoption and the legacy table are read one at a time.
    sqlx::query("SELECT pg_advisory_xact_lock(7470657)").execute(&mut *tx).await?;
    // The catalog, not to_regclass: a role without USAGE on `public` may look there too.
    let (legacy, own): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables \
                        WHERE schemaname = 'public' AND tablename = '_sqlx_migrations'), \
                EXISTS (SELECT FROM pg_catalog.pg_tables \
                        WHERE schemaname = $1 AND tablename = '_sqlx_migrations')",
    )
    .bind(schema.name)
    .fetch_one(&mut *tx)
    .await?;
    if legacy && !own {
        let versions: Vec<i64> = schema.migrator.iter().map(|m| m.version).collect();
        // Schema and table names are the owners' constants, never input.
        let ddl = format!(
            "CREATE SCHEMA IF NOT EXISTS {name}; \
             CREATE TABLE {table} (LIKE public._sqlx_migrations INCLUDING ALL)",
            name = schema.name
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl)).execute(&mut *tx).await?;
        let copy = format!(
            "INSERT INTO {table} SELECT * FROM public._sqlx_migrations WHERE version = ANY($1)"
        );
        let n = sqlx::query(sqlx::AssertSqlSafe(copy))
            .bind(&versions)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            tracing::info!(schema = schema.name, versions = n, "adopted applied migrations");
        }
    }
    tx.commit().await
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
