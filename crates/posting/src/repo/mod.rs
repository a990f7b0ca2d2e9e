//! The `posting` schema's statements: every sqlx query of the service is in a module of this
//! folder, one per concept, with its typed rows and binds. The service modules validate,
//! decide and map to and from pb; they never hold SQL.

/// Parallel arrays for `unnest(...)`: `$row` is one row of them and `$cols` the columns, pushed
/// a row at a time (by field name) and bound in field order, which is the order of the
/// `unnest` beside the statement (each field's doc names its parameter).
macro_rules! unnest_columns {
    ($(#[$rm:meta])* $row:ident, $(#[$cm:meta])* $cols:ident {
        $($(#[$fm:meta])* $f:ident: $t:ty,)*
    }) => {
        $(#[$rm])*
        pub struct $row { $($(#[$fm])* pub $f: $t,)* }
        $(#[$cm])*
        #[derive(Default)]
        pub struct $cols { $($f: Vec<$t>,)* }
        impl $cols {
            pub fn push(&mut self, r: $row) {
                $(self.$f.push(r.$f);)*
            }
            #[allow(dead_code)]
            pub fn is_empty(&self) -> bool {
                [$(self.$f.is_empty()),*].into_iter().all(|e| e)
            }
            fn bind<'q, O>(self, q: $crate::repo::QueryAs<'q, O>) -> $crate::repo::QueryAs<'q, O> {
                $(let q = q.bind(self.$f);)*
                q
            }
        }
    };
}

pub mod batch;
pub mod customers;
pub mod documents;
pub mod items;
pub mod locations;
pub mod posted;
pub mod posting;
pub mod prices;
pub mod stock;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgExecutor, Postgres};

/// A `query_as` of this crate, for the typed binds (`fn bind(&self, q)`) of its inputs.
pub type QueryAs<'q, O> = sqlx::query::QueryAs<'q, Postgres, O, PgArguments>;
/// A `query` of this crate, for the typed binds of its inputs.
pub type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// `cols` (a list like `"a, b, c"`) with each column read from table alias `alias`.
pub fn qualified(cols: &str, alias: &str) -> String {
    cols.split(',').map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

/// One page of master records keyed by `no` after `after`, blocked ones only when asked,
/// filtered by a search condition on `$3`.
pub async fn list_page<R>(
    db: impl PgExecutor<'_>,
    table: &str,
    cols: &str,
    search: &str,
    r: &shopsync_proto::pb::ListRequest,
    limit: i64,
) -> sqlx::Result<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {cols} FROM {table} WHERE no > $1 AND ($2 OR NOT blocked) \
           AND ($3 = '' OR {search}) ORDER BY no LIMIT $4"
    )))
    .bind(&r.page_token)
    .bind(r.include_blocked)
    .bind(&r.search)
    .bind(limit)
    .fetch_all(db)
    .await
}
